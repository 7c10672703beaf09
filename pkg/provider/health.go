package provider

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

const (
	groupName  = "external.metrics.k8s.io"
	apiVersion = "v1beta1"
)

// HealthResult describes the server as discovery sees it.
type HealthResult struct {
	Online           bool          `json:"online"`
	Server           string        `json:"server"`
	Latency          time.Duration `json:"latency"`
	GroupVersion     string        `json:"groupVersion,omitempty"`     // "external.metrics.k8s.io/v1beta1" when served
	Versions         []string      `json:"versions,omitempty"`         // versions of external.metrics.k8s.io the server lists
	PreferredVersion string        `json:"preferredVersion,omitempty"` // the group's preferred version
	Detail           string        `json:"detail"`                     // one line for humans
	Conn             ConnInfo      `json:"connection"`                 // identity and TLS settings used
	// KubeAPIServer is true when the server is a kube-apiserver (its
	// discovery lists apiregistration.k8s.io): external metrics then come
	// from an APIService's backend through the aggregation layer.
	KubeAPIServer bool `json:"kubeAPIServer,omitempty"`
}

// Health asks the server's discovery whether it serves
// external.metrics.k8s.io/v1beta1 (GET /apis, falling back to
// /apis/external.metrics.k8s.io when /apis is not served), then reads the
// version's resource list (GET /apis/external.metrics.k8s.io/v1beta1),
// which a kube-apiserver does not answer itself but proxies to the
// APIService's backend: a backend that is down is found here (503), not
// only when queries fail. Online is true only when both answer; otherwise
// the error (wrapping one sentinel: ErrUnavailable when the server or the
// backend is down or the group is not served, ErrUnauthorized on 401, ...)
// says why, with the APIService's Available condition when this identity
// may read it. Unlike Flagger's check it does not query a dummy metric, so
// servers that answer unknown metrics with 500 (the Datadog Cluster Agent)
// are not reported as down.
func (p *Provider) Health(ctx context.Context) (HealthResult, error) {
	start := time.Now()
	hr := HealthResult{Server: p.server, Conn: p.info}
	versions, preferred, kube, err := p.discover(ctx)
	if err == nil {
		err = p.reachBackend(ctx, kube)
	}
	hr.Latency = time.Since(start)
	hr.Versions, hr.PreferredVersion, hr.KubeAPIServer = versions, preferred, kube
	if err == nil {
		hr.Online = true
		hr.GroupVersion = GroupVersion
		hr.Detail = fmt.Sprintf("%s serves %s (latency %s)", p.server, GroupVersion, hr.Latency.Round(time.Millisecond))
	} else {
		hr.Detail = err.Error()
	}
	p.metrics.healthCheck(hr.Online)
	return hr, err
}

// apiregistrationGroup is served by kube-apiserver's aggregator only.
const apiregistrationGroup = "apiregistration.k8s.io"

// ExternalMetricsAPIService is the APIService that registers
// external.metrics.k8s.io/v1beta1 with kube-apiserver's aggregation layer.
const ExternalMetricsAPIService = "v1beta1.external.metrics.k8s.io"

func (p *Provider) discover(ctx context.Context) (versions []string, preferred string, kube bool, err error) {
	st := &attemptStats{}
	body, e := p.get(ctx, "health", "", p.server+"/apis", st)
	if e == nil {
		defer putBuffer(body)
		var groups metav1.APIGroupList
		if err := json.Unmarshal(body.Bytes(), &groups); err != nil || (groups.Kind != "" && groups.Kind != "APIGroupList") {
			return nil, "", false, p.healthError(fmt.Sprintf("GET /apis: not an APIGroupList (body starts %q)", p.redactor().redact(snippet(body.Bytes(), 80))), err)
		}
		for _, g := range groups.Groups {
			kube = kube || g.Name == apiregistrationGroup
		}
		for _, g := range groups.Groups {
			if g.Name == groupName {
				versions, preferred, err = p.checkGroup(g)
				return versions, preferred, kube, err
			}
		}
		names := make([]string, 0, len(groups.Groups))
		for _, g := range groups.Groups {
			names = append(names, g.Name)
		}
		msg := fmt.Sprintf("the server does not serve %s (groups: %s)", groupName, listOrNone(names))
		if kube {
			msg = fmt.Sprintf("kube-apiserver does not serve %s: no APIService %s is registered", groupName, ExternalMetricsAPIService)
		}
		return nil, "", kube, p.healthError(msg, nil)
	}
	if e.StatusCode != http.StatusNotFound {
		return nil, "", false, e
	}
	// No /apis (a bare metrics server): ask the group directly.
	body, e = p.get(ctx, "health", "", p.server+"/apis/"+groupName, st)
	if e != nil {
		if e.StatusCode == http.StatusNotFound {
			return nil, "", false, p.healthError(fmt.Sprintf("the server does not serve %s (404 on /apis and /apis/%s)", groupName, groupName), nil)
		}
		return nil, "", false, e
	}
	defer putBuffer(body)
	var g metav1.APIGroup
	if err := json.Unmarshal(body.Bytes(), &g); err != nil || g.Name != groupName {
		return nil, "", false, p.healthError(fmt.Sprintf("GET /apis/%s: not an APIGroup for %s", groupName, groupName), err)
	}
	versions, preferred, err = p.checkGroup(g)
	return versions, preferred, false, err
}

// reachBackend reads the resource list of external.metrics.k8s.io/v1beta1,
// which goes as far as the server that holds the metrics: kube-apiserver
// proxies it to the APIService's backend. When kube-apiserver answers that
// the backend is unavailable, the APIService's Available condition (if this
// identity may read it) says why.
func (p *Provider) reachBackend(ctx context.Context, kube bool) error {
	body, e := p.get(ctx, "health", "", p.server+"/apis/"+GroupVersion, &attemptStats{})
	if e == nil {
		putBuffer(body)
		return nil
	}
	switch {
	case e.StatusCode == http.StatusNotFound:
		e.Kind = ErrUnavailable
		e.Message = "the server lists " + GroupVersion + " but does not serve it: " + e.Message
	case kube && errors.Is(e, ErrUnavailable):
		e.Message = "kube-apiserver cannot reach the backend of APIService " + ExternalMetricsAPIService + ": " + e.Message
		if cond := p.apiServiceCondition(ctx); cond != "" {
			e.Message += "; " + cond
		}
	}
	return e
}

// apiServiceCondition describes the external metrics APIService's
// Available condition ("" when it cannot be read, e.g. not allowed).
func (p *Provider) apiServiceCondition(ctx context.Context) string {
	body, e := p.get(ctx, "health", "", p.server+"/apis/apiregistration.k8s.io/v1/apiservices/"+ExternalMetricsAPIService, &attemptStats{})
	if e != nil {
		return ""
	}
	defer putBuffer(body)
	var svc struct {
		Status struct {
			Conditions []struct {
				Type, Status, Reason, Message string
			} `json:"conditions"`
		} `json:"status"`
	}
	if json.Unmarshal(body.Bytes(), &svc) != nil {
		return ""
	}
	for _, c := range svc.Status.Conditions {
		if c.Type == "Available" {
			return fmt.Sprintf("APIService %s Available=%s: %s: %s", ExternalMetricsAPIService, c.Status, c.Reason,
				p.redactor().redact(snippet([]byte(c.Message), 300)))
		}
	}
	return ""
}

func (p *Provider) checkGroup(g metav1.APIGroup) ([]string, string, error) {
	var versions []string
	served := false
	for _, v := range g.Versions {
		versions = append(versions, v.Version)
		if v.Version == apiVersion {
			served = true
		}
	}
	if !served {
		return versions, g.PreferredVersion.Version, p.healthError(fmt.Sprintf("the server lists %s but not version %s (versions: %s)", groupName, apiVersion, listOrNone(versions)), nil)
	}
	return versions, g.PreferredVersion.Version, nil
}

func (p *Provider) healthError(msg string, cause error) *Error {
	return &Error{Kind: ErrUnavailable, Op: "health", Message: msg, Err: cause}
}

func listOrNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}

// List returns the metric names the server advertises in discovery
// (GET /apis/external.metrics.k8s.io/v1beta1), sorted and without
// duplicates. Servers differ: prometheus-adapter and the Datadog Cluster
// Agent list their metrics, KEDA lists a single "externalmetrics" resource,
// and some list nothing, so an empty list is not an error.
func (p *Provider) List(ctx context.Context) ([]string, error) {
	st := &attemptStats{}
	body, e := p.get(ctx, "list", "", p.server+"/apis/"+GroupVersion, st)
	if e != nil {
		if e.StatusCode == http.StatusNotFound {
			e.Kind = ErrUnavailable
			e.Message = "the server does not serve " + GroupVersion + ": " + e.Message
		}
		return nil, e
	}
	defer putBuffer(body)
	var rl metav1.APIResourceList
	if err := json.Unmarshal(body.Bytes(), &rl); err != nil || (rl.Kind != "" && rl.Kind != "APIResourceList") {
		return nil, &Error{Kind: ErrUnavailable, Op: "list", StatusCode: http.StatusOK, Retries: st.retries,
			Message: fmt.Sprintf("malformed discovery document (body starts %q)", p.redactor().redact(snippet(body.Bytes(), 80))), Err: err}
	}
	seen := make(map[string]bool, len(rl.APIResources))
	names := make([]string, 0, len(rl.APIResources))
	for _, r := range rl.APIResources {
		if r.Name == "" || strings.Contains(r.Name, "/") || seen[r.Name] {
			continue
		}
		seen[r.Name] = true
		names = append(names, r.Name)
	}
	sort.Strings(names)
	return names, nil
}
