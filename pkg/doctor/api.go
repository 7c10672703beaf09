package doctor

import (
	"context"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/extmetrics/extmetrics/pkg/query"
)

// ServerKind is what serves the External Metrics API.
type ServerKind string

// Server kinds, recognised from names, labels and images.
const (
	ServerDatadog    ServerKind = "datadog-cluster-agent"
	ServerKEDA       ServerKind = "keda"
	ServerPromAdapt  ServerKind = "prometheus-adapter"
	ServerExtmetrics ServerKind = "extmetrics-devserver"
	ServerOther      ServerKind = "other"
)

// classify recognises a server kind from words: names, label keys and
// values, annotation values, container images. "" when nothing matches.
func classify(words ...string) ServerKind {
	text := strings.ToLower(strings.Join(words, " "))
	switch {
	case strings.Contains(text, "keda"):
		return ServerKEDA
	case strings.Contains(text, "datadog") || strings.Contains(text, "cluster-agent"):
		return ServerDatadog
	case strings.Contains(text, "prometheus-adapter") || strings.Contains(text, "k8s-prometheus-adapter"):
		return ServerPromAdapt
	case strings.Contains(text, "extmetrics"):
		return ServerExtmetrics
	}
	return ""
}

func labelWords(m map[string]string) []string {
	out := make([]string, 0, 2*len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		out = append(out, k, m[k])
	}
	return out
}

func deploymentWords(d *appsv1.Deployment) []string {
	w := append([]string{d.Name}, labelWords(d.Labels)...)
	return append(w, images(d)...)
}

// apiInfo is what the API check learnt about the server behind the APIService.
type apiInfo struct {
	present   bool
	available bool
	kind      ServerKind // "" unknown
	service   string     // namespace/name
}

var apiObject = Object{Kind: "APIService", Name: APIServiceName}

// checkAPI: the APIService of external.metrics.k8s.io, whether it is
// Available, which Service serves it and what that is, and whether another
// External Metrics server is installed that cannot own the group too.
func (r *run) checkAPI(ctx context.Context) {
	info := &apiInfo{}
	r.api = info
	inv := r.inv
	var main *unstructured.Unstructured
	var others []string
	for i := range inv.apiServices {
		a := &inv.apiServices[i]
		if a.GetName() == APIServiceName {
			main = a
		} else {
			others = append(others, a.GetName())
		}
	}
	if len(others) > 0 {
		r.add(Finding{
			ID: "api.multiple-apiservices", Severity: SeverityError, Object: apiObject,
			Message: fmt.Sprintf("more APIServices serve group %s: %s", ExternalGroup, strings.Join(others, ", ")),
			Rollout: "the aggregator picks one version by priority; templates written for the other server query the wrong one and fail",
			Fix:     "keep one External Metrics server per cluster (KEDA #4415): delete the extra APIService or uninstall its server",
		})
	}
	if main == nil {
		r.add(Finding{
			ID: "api.missing", Severity: SeverityError, Object: apiObject,
			Message: "no APIService " + APIServiceName + ": nothing serves the External Metrics API in this cluster",
			Rollout: "every externalmetrics check without spec.provider.address fails (not found), so every such canary rolls back",
			Fix:     "install an External Metrics server (Datadog Cluster Agent with the external metrics provider, KEDA, prometheus-adapter), or give templates an address",
		})
		return
	}
	info.present = true
	status, reason, message := "Unknown", "NoCondition", "the APIService has no Available condition yet"
	conds, _, _ := unstructured.NestedSlice(main.Object, "status", "conditions")
	for _, c := range conds {
		m, ok := c.(map[string]any)
		if !ok || m["type"] != "Available" {
			continue
		}
		status, _ = m["status"].(string)
		reason, _ = m["reason"].(string)
		message, _ = m["message"].(string)
	}
	info.available = status == "True"

	svcName, _, _ := unstructured.NestedString(main.Object, "spec", "service", "name")
	svcNS, _, _ := unstructured.NestedString(main.Object, "spec", "service", "namespace")
	words := append([]string{main.GetName()}, labelWords(main.GetLabels())...)
	ownerHint := classify(append(labelWords(main.GetLabels()), labelWords(main.GetAnnotations())...)...)
	details := map[string]string{"available": status, "reason": reason}
	var deps []appsv1.Deployment
	if svcName == "" {
		details["service"] = "none (served by kube-apiserver itself)"
	} else {
		info.service = svcNS + "/" + svcName
		details["service"] = info.service
		words = append(words, svcNS, svcName)
		svc, err := r.kube.CoreV1().Services(svcNS).Get(ctx, svcName, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			r.add(Finding{
				ID: "api.service-missing", Severity: SeverityError, Object: Object{Kind: "Service", Namespace: svcNS, Name: svcName},
				Message: fmt.Sprintf("APIService %s points at Service %s, which does not exist", APIServiceName, info.service),
				Rollout: "every externalmetrics check through the aggregation layer fails (service unavailable); canaries roll back",
				Fix:     "reinstall the External Metrics server, or delete the stale APIService",
			})
		case err != nil:
			r.cannotRead("Service "+info.service, Object{Kind: "Service", Namespace: svcNS, Name: svcName}, err)
		default:
			words = append(words, labelWords(svc.Labels)...)
			if svc.Spec.Type == corev1.ServiceTypeExternalName {
				details["externalName"] = svc.Spec.ExternalName
			}
			deps = inv.deploymentsMatching(svcNS, svc.Spec.Selector)
			for i := range deps {
				words = append(words, deploymentWords(&deps[i])...)
				details["deployment"] = deps[i].Namespace + "/" + deps[i].Name
				details["image"] = strings.Join(images(&deps[i]), ",")
			}
		}
	}
	info.kind = classify(words...)
	if info.kind == "" {
		info.kind = ServerOther
	}
	details["server"] = string(info.kind)
	r.add(Finding{
		ID: "api.server", Severity: SeverityInfo, Object: apiObject,
		Message: fmt.Sprintf("%s is served by %s (%s)", APIServiceName, dash(info.service), info.kind),
		Details: details,
	})
	if !info.available {
		r.add(Finding{
			ID: "api.unavailable", Severity: SeverityError, Object: apiObject,
			Message: fmt.Sprintf("Available=%s (%s): %s", status, reason, oneLine(message)),
			Rollout: "every externalmetrics check through the aggregation layer fails (service unavailable); canaries roll back",
			Fix:     fmt.Sprintf("make %s answer (is it running, does its certificate match the APIService's caBundle?): kubectl get apiservice %s -o yaml", dash(info.service), APIServiceName),
			Details: map[string]string{"reason": reason},
		})
	}
	if ownerHint != "" && ownerHint != info.kind && info.kind != ServerOther {
		r.add(Finding{
			ID: "api.owner-conflict", Severity: SeverityError, Object: apiObject,
			Message: fmt.Sprintf("the APIService's labels or annotations say %s installed it, but it points at %s (%s): two installations fight over it", ownerHint, dash(info.service), info.kind),
			Rollout: "whichever installation reconciles last owns the API; templates written for the other server fail with not-found mid-rollout",
			Fix:     "only one APIService can serve external.metrics.k8s.io (KEDA #4415): uninstall or disable the other server's External Metrics API",
		})
	}
	// Other External Metrics servers installed beside the one serving.
	for i := range inv.deployments {
		d := &inv.deployments[i]
		kind, strong := serverDeployment(d)
		if kind == "" || kind == info.kind || slices.ContainsFunc(deps, func(x appsv1.Deployment) bool { return x.Namespace == d.Namespace && x.Name == d.Name }) {
			continue
		}
		sev := SeverityError
		if !strong {
			sev = SeverityWarning // prometheus-adapter often serves custom metrics only
		}
		r.add(Finding{
			ID: "api.second-server", Severity: sev, Object: Object{Kind: "Deployment", Namespace: d.Namespace, Name: d.Name},
			Message: fmt.Sprintf("%s (%s) is installed, but %s is served by %s (%s)", d.Namespace+"/"+d.Name, kind, APIServiceName, dash(info.service), info.kind),
			Rollout: fmt.Sprintf("only one server can own external.metrics.k8s.io (KEDA #4415): templates written for %s query %s and fail (not found), and the next upgrade of either may take the APIService over", kind, info.kind),
			Fix:     "run one External Metrics server per cluster: disable the other's external metrics API (KEDA: do not install its metrics server; Cluster Agent: externalMetrics.enabled=false), or move its metrics to the one serving",
			Details: map[string]string{"image": strings.Join(images(d), ",")},
		})
	}
}

// serverDeployment recognises a Deployment that registers an External
// Metrics API server; strong means it always claims the group.
func serverDeployment(d *appsv1.Deployment) (ServerKind, bool) {
	imgs := strings.ToLower(strings.Join(images(d), " "))
	switch {
	case strings.Contains(imgs, "keda-metrics-apiserver") || strings.Contains(d.Name, "keda-operator-metrics-apiserver") || strings.Contains(d.Name, "keda-metrics-apiserver"):
		return ServerKEDA, true
	case strings.Contains(imgs, "cluster-agent") && strings.Contains(imgs, "datadog"):
		for _, c := range d.Spec.Template.Spec.Containers {
			for _, e := range c.Env {
				if e.Name == "DD_EXTERNAL_METRICS_PROVIDER_ENABLED" && strings.EqualFold(e.Value, "true") {
					return ServerDatadog, true
				}
			}
		}
	case strings.Contains(imgs, "prometheus-adapter"):
		return ServerPromAdapt, false
	}
	return "", false
}

var kedaName = regexp.MustCompile(`^s\d+-`)

// checkMetricNames: do the metric names of templates read through the
// aggregation layer fit the server that serves it?
func (r *run) checkMetricNames() {
	if r.api == nil || !r.api.present || r.tmpl == nil {
		return
	}
	kind := r.api.kind
	for _, ti := range r.tmpl.sorted() {
		if ti.t.Spec.Provider.Address != "" || len(ti.queries) == 0 {
			continue
		}
		var id, msg, fix string
		for _, qs := range slices.Sorted(maps.Keys(ti.queries)) {
			q, err := query.Parse(qs)
			if err != nil {
				continue
			}
			name := q.Metric
			dd, keda := strings.HasPrefix(name, "datadogmetric@"), kedaName.MatchString(name)
			switch {
			case kind == ServerDatadog && !dd:
				id, msg = "api.metric-name-mismatch", fmt.Sprintf("query %q names metric %q, but the server is the Datadog Cluster Agent, which serves DatadogMetrics as datadogmetric@<namespace>:<name>", qs, name)
				fix = "reference a DatadogMetric (datadogmetric@<namespace>:<name>), e.g. with `extmetrics migrate datadog`"
				if keda {
					msg += " (this is a KEDA metric name)"
				}
			case kind != ServerDatadog && kind != ServerOther && kind != ServerExtmetrics && dd:
				id, msg = "api.metric-name-mismatch", fmt.Sprintf("query %q names a DatadogMetric, but the server is %s, not the Datadog Cluster Agent", qs, kind)
				fix = "query a metric this server serves, or serve the API with the Cluster Agent (only one server can own it)"
			case kind == ServerKEDA && !keda:
				id, msg = "api.metric-name-mismatch", fmt.Sprintf("query %q names metric %q, but KEDA names its metrics s<N>-<scaler>-<metric>", qs, name)
				fix = "use the metric name KEDA shows in the ScaledObject's status.externalMetricNames, with labelSelector=scaledobject.keda.sh/name=<name>"
			case kind == ServerKEDA && !strings.Contains(q.Selector, "scaledobject.keda.sh/name"):
				id, msg = "api.keda-selector-missing", fmt.Sprintf("query %q has no labelSelector=scaledobject.keda.sh/name=<ScaledObject>: KEDA needs it to find the scaler", qs)
				fix = "add ?labelSelector=scaledobject.keda.sh/name=<ScaledObject name> to the query"
			case kind == ServerPromAdapt && keda:
				id, msg = "api.metric-name-mismatch", fmt.Sprintf("query %q names a KEDA metric, but the server is prometheus-adapter", qs)
				fix = "query a metric of prometheus-adapter's externalRules"
			default:
				continue
			}
			break
		}
		if id == "" {
			continue
		}
		r.add(Finding{
			ID: id, Severity: SeverityError, Object: ti.object(),
			Message: msg,
			Rollout: "every check of this template fails (not found or no values): the canaries using it roll back",
			Fix:     fix,
			Details: map[string]string{"server": string(kind), "canaries": listNames(ti.canaryNames())},
		})
	}
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
