package devserver

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"
	apiversion "k8s.io/apimachinery/pkg/version"

	"github.com/extmetrics/extmetrics/pkg/scenario"
	"github.com/extmetrics/extmetrics/pkg/version"
)

const (
	apisPrefix      = "/apis"
	groupPath       = "/apis/" + GroupName
	versionPath     = groupPath + "/" + Version
	namespacesPath  = versionPath + "/namespaces/"
	adminPrefix     = "/admin/v1/"
	kubeMinor       = "32"
	kubeGitVersion  = "v1." + kubeMinor + ".0"
	datadogPrefix   = "datadogmetric@"
	maxSelectorSize = 16 << 10 // as query.MaxLength: the longest query a client of ours sends
)

// Static discovery bodies, marshalled once.
var (
	groupBody     = mustJSON(apiGroup())
	groupListBody = mustJSON(metav1.APIGroupList{TypeMeta: metav1.TypeMeta{Kind: "APIGroupList", APIVersion: "v1"}, Groups: []metav1.APIGroup{apiGroup()}})
	// /api with no versions: there is no core group, and discovery clients
	// (kubectl api-resources) skip it; an advertised v1 with no resources
	// would make them fail with "received empty response for: v1".
	apiVersionsBody = mustJSON(metav1.APIVersions{
		TypeMeta:                   metav1.TypeMeta{Kind: "APIVersions"},
		Versions:                   []string{},
		ServerAddressByClientCIDRs: []metav1.ServerAddressByClientCIDR{},
	})
	versionBody = mustJSON(versionInfo())
)

func apiGroup() metav1.APIGroup {
	gv := metav1.GroupVersionForDiscovery{GroupVersion: GroupVersion, Version: Version}
	return metav1.APIGroup{
		TypeMeta:         metav1.TypeMeta{Kind: "APIGroup", APIVersion: "v1"},
		Name:             GroupName,
		Versions:         []metav1.GroupVersionForDiscovery{gv},
		PreferredVersion: gv,
	}
}

func versionInfo() apiversion.Info {
	v := version.Get()
	commit := v.Revision
	state := "clean"
	if v.Modified {
		state = "dirty"
	}
	if commit == "" {
		state = ""
	}
	return apiversion.Info{
		Major:        "1",
		Minor:        kubeMinor,
		GitVersion:   kubeGitVersion + "+extmetrics-" + strings.TrimPrefix(v.Version, "v"),
		GitCommit:    commit,
		GitTreeState: state,
		GoVersion:    runtime.Version(),
		Compiler:     runtime.Compiler,
		Platform:     runtime.GOOS + "/" + runtime.GOARCH,
	}
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return append(b, '\n')
}

// ServeHTTP answers every request: discovery, metric values, the admin API,
// health and /metrics. Errors are metav1.Status JSON.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	kind, who := kindFor(r.URL.Path), ""
	code := 0
	defer func() {
		if p := recover(); p != nil {
			if err, ok := p.(error); ok && errors.Is(err, http.ErrAbortHandler) { // connection reset fault on HTTP/2
				s.finish(r, kind, codeReset, who, start)
				panic(p)
			}
			s.log.Error("panic serving request", "path", r.URL.Path, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			code = writeStatus(w, statusForCode(http.StatusInternalServerError, "Internal error occurred: panic while serving the request"))
		}
		s.finish(r, kind, code, who, start)
	}()
	kind, code, who = s.route(w, r)
}

func (s *Server) finish(r *http.Request, kind string, code int, who string, start time.Time) {
	d := time.Since(start)
	s.metrics.observe(kind, code, d)
	if s.log.Enabled(r.Context(), slog.LevelDebug) {
		s.log.LogAttrs(r.Context(), slog.LevelDebug, "request",
			slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.Int("code", code),
			slog.String("kind", kind), slog.String("who", who), slog.Duration("duration", d))
	}
}

// route dispatches by path. It returns the kind of path, the status code
// written, and who made the request (an identity name, never a token).
func (s *Server) route(w http.ResponseWriter, r *http.Request) (kind string, code int, who string) {
	path := r.URL.Path
	switch path {
	case "/healthz", "/readyz", "/livez":
		if !isRead(r.Method) {
			return kindHealth, methodNotAllowed(w, "GET, HEAD"), ""
		}
		return kindHealth, writeText(w, "ok"), ""
	case "/version", "/version/":
		if !isRead(r.Method) {
			return kindDiscovery, methodNotAllowed(w, "GET, HEAD"), ""
		}
		return kindDiscovery, writeJSON(w, versionBody), ""
	}

	if strings.HasPrefix(path, adminPrefix) {
		code, who := s.serveAdmin(w, r, path[len(adminPrefix):])
		return kindAdmin, code, who
	}

	id := s.auth.authenticate(r)
	if id == nil {
		w.Header()["Www-Authenticate"] = []string{`Bearer realm="extmetrics devserver"`}
		return kindFor(path), writeStatus(w, statusUnauthorized()), anonymous.name // not authenticated
	}
	who = id.name
	if !isRead(r.Method) {
		return kindFor(path), methodNotAllowed(w, "GET, HEAD"), who
	}

	if rest, ok := strings.CutPrefix(path, namespacesPath); ok {
		// An empty namespace (namespaces//metric) reaches the provider as
		// "" in the real servers: every namespace.
		ns, metric, ok := strings.Cut(rest, "/")
		if !ok || metric == "" || strings.Contains(metric, "/") {
			return kindOther, writeStatus(w, statusNotFoundPath()), who
		}
		return kindList, s.serveList(w, r, id, ns, metric), who
	}
	switch strings.TrimSuffix(path, "/") {
	case apisPrefix:
		return kindDiscovery, writeJSON(w, groupListBody), who
	case groupPath:
		return kindDiscovery, writeJSON(w, groupBody), who
	case versionPath:
		return kindDiscovery, s.serveResources(w), who
	case "/api":
		return kindDiscovery, writeJSON(w, apiVersionsBody), who
	case "/metrics":
		s.metrics.handler.ServeHTTP(w, r)
		return kindMetrics, http.StatusOK, who
	}
	return kindOther, writeStatus(w, statusNotFoundPath()), who
}

func kindFor(path string) string {
	switch {
	case strings.HasPrefix(path, namespacesPath):
		return kindList
	case path == "/metrics":
		return kindMetrics
	case path == "/api" || strings.HasPrefix(path, "/api/") || path == apisPrefix || strings.HasPrefix(path, apisPrefix+"/"):
		return kindDiscovery
	}
	return kindOther
}

func isRead(method string) bool { return method == http.MethodGet || method == http.MethodHead }

func methodNotAllowed(w http.ResponseWriter, allow string) int {
	w.Header()["Allow"] = []string{allow}
	return writeStatus(w, statusMethodNotAllowed())
}

func writeText(w http.ResponseWriter, body string) int {
	h := w.Header()
	h["Content-Type"] = contentTypeText
	h["X-Content-Type-Options"] = noSniff
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte(body))
	return http.StatusOK
}

func writeJSON(w http.ResponseWriter, body []byte) int {
	h := w.Header()
	h["Content-Type"] = contentTypeJSON
	h["X-Content-Type-Options"] = noSniff
	h["Content-Length"] = []string{strconv.Itoa(len(body))}
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
	return http.StatusOK
}

// serveResources answers the APIResourceList: one namespaced resource per
// metric name served.
func (s *Server) serveResources(w http.ResponseWriter) int {
	names := s.store.MetricNames()
	list := metav1.APIResourceList{
		TypeMeta:     metav1.TypeMeta{Kind: "APIResourceList", APIVersion: "v1"},
		GroupVersion: GroupVersion,
		APIResources: make([]metav1.APIResource, 0, len(names)),
	}
	for _, n := range names {
		n = s.metricName(n)
		list.APIResources = append(list.APIResources, metav1.APIResource{
			Name:       n,
			Namespaced: true,
			Kind:       "ExternalMetricValueList",
			Verbs:      metav1.Verbs{"get"},
		})
	}
	return writeJSON(w, mustJSON(list))
}

// metricName is the one name rule per profile: names compare exactly,
// except that the datadog profile lowercases them first, as the Datadog
// Cluster Agent does with the metric names it serves.
func (s *Server) metricName(name string) string {
	if s.cfg.Profile == ProfileDatadog {
		return strings.ToLower(name)
	}
	return name
}

// serveList answers GET .../namespaces/{ns}/{metric}.
func (s *Server) serveList(w http.ResponseWriter, r *http.Request, id *identity, ns, metric string) int {
	if !id.allows(ns) {
		return writeStatus(w, statusForbidden(id.name, metric, ns))
	}
	match, err := s.sels.get(r.URL.RawQuery)
	if err != nil {
		return writeAPIError(w, apierrors.NewBadRequest(err.Error()))
	}
	metric = s.metricName(metric)

	fault := s.store.Fault(metric)
	var act faultAction
	if fault != (scenario.Fault{}) {
		var done bool
		var code int
		act, done, code = s.applyFault(w, r, fault)
		if done {
			return code
		}
	}

	e := getEncoder()
	defer putEncoder(e)
	var code int
	if s.cfg.Profile == ProfileDatadog {
		if code = s.datadogList(w, e, metric); code != http.StatusOK {
			return code
		}
	} else {
		values, known := s.store.AppendLookup(e.vals[:0], ns, metric, match)
		e.vals = values // keep the (maybe grown) array for the next request
		values, known = s.exactName(values, known, metric)
		if !known && s.cfg.Profile == ProfilePrometheusAdapter {
			return writeStatus(w, statusMetricNotFound(metric))
		}
		e.appendListHead()
		for i := range values {
			if i > 0 {
				e.buf = append(e.buf, ',')
			}
			v := &values[i]
			e.appendItem(item{name: metric, labels: v.Labels, ts: v.Timestamp, window: v.WindowSeconds, value: v.Value})
		}
		e.appendListTail()
	}
	return s.writeList(w, e.buf, act)
}

// exactName keeps the values whose metric name is written exactly as
// requested, as prometheus-adapter and custom-metrics-apiserver providers
// match them. The store compares names exactly as well, so this is a
// safeguard; a metric known only in another case is unknown.
func (s *Server) exactName(values []scenario.Value, known bool, metric string) ([]scenario.Value, bool) {
	n := 0
	for i := range values {
		if values[i].Metric == metric {
			values[n] = values[i]
			n++
		}
	}
	if n == len(values) && n > 0 {
		return values, known
	}
	if known && n == 0 {
		known = slices.Contains(s.store.MetricNames(), metric)
	}
	return values[:n], known
}

// datadogList imitates the Datadog Cluster Agent: the metric name names a
// DatadogMetric (datadogmetric@<namespace>:<name>), the URL namespace and the
// selector are ignored, and every problem is a 500 InternalError.
func (s *Server) datadogList(w http.ResponseWriter, e *encoder, metric string) int {
	rest, ok := strings.CutPrefix(metric, datadogPrefix)
	if !ok {
		return writeAPIError(w, apierrors.NewInternalError(fmt.Errorf("DatadogMetric not found for metric name: %s", metric)))
	}
	dns, dname, ok := strings.Cut(rest, ":")
	if !ok || dns == "" || dname == "" {
		return writeAPIError(w, apierrors.NewInternalError(fmt.Errorf("ExternalMetric does not follow DatadogMetric format: %s", metric)))
	}
	values, _ := s.store.Lookup("", metric, labels.Everything())
	if len(values) == 0 {
		return writeAPIError(w, apierrors.NewInternalError(fmt.Errorf("DatadogMetric not found for metric name: %s, datadogmetricid: %s/%s", metric, dns, dname)))
	}
	v := &values[0]
	if age := s.clk.Since(v.Timestamp); age > s.cfg.DatadogMaxAge {
		return writeAPIError(w, apierrors.NewInternalError(fmt.Errorf("DatadogMetric is stale, last updated: %s", v.Timestamp.UTC().Format(time.RFC3339))))
	}
	e.appendListHead()
	e.appendItem(item{name: metric, nullLabel: true, ts: v.Timestamp, window: v.WindowSeconds, value: v.Value})
	e.appendListTail()
	return http.StatusOK
}

// queryParam finds the first value of key in a raw query string the way
// kube-apiserver reads it (url.ParseQuery, then Get): pairs that do not
// unescape, or hold a semicolon, are dropped, not errors. It returns the
// value still escaped (the selector cache key) and unescaped, without
// building a url.Values map.
func queryParam(raw, key string) (escaped, value string, found bool) {
	for raw != "" {
		var part string
		part, raw, _ = strings.Cut(raw, "&")
		if part == "" || strings.IndexByte(part, ';') >= 0 {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		if strings.ContainsAny(k, "%+") {
			uk, err := url.QueryUnescape(k)
			if err != nil {
				continue
			}
			k = uk
		}
		if k != key {
			continue
		}
		if !strings.ContainsAny(v, "%+") {
			return v, v, true
		}
		uv, err := url.QueryUnescape(v)
		if err != nil {
			continue
		}
		return v, uv, true
	}
	return "", "", false
}

func clip(s string) string {
	const max = 200
	if len(s) > max {
		return s[:max] + "..."
	}
	return s
}

// selectorCache keeps parsed label selectors (they are immutable) by the
// raw, still escaped, query value, so a repeated selector costs one map
// lookup. Only selectors up to maxCachedSelector bytes are kept (a canary's
// selectors are short; a client sending distinct huge ones must not grow
// the server), and it stops growing at maxSelectors entries or
// maxSelectorBytes of selector text, whichever comes first.
type selectorCache struct {
	m     sync.Map // escaped labelSelector value -> *scenario.Matcher
	n     atomic.Int64
	bytes atomic.Int64
}

const (
	maxSelectors      = 4096
	maxCachedSelector = 1 << 10 // bytes of escaped selector text
	maxSelectorBytes  = 1 << 20 // all cached selector text
)

// matchEverything is the matcher of a request without a labelSelector.
var matchEverything = scenario.NewMatcher(labels.Everything())

// get returns the selector of a request's raw query, prepared for
// Store.AppendLookup (everything when it has no labelSelector); errors are
// for a 400 answer.
func (c *selectorCache) get(rawQuery string) (*scenario.Matcher, error) {
	escaped, raw, ok := queryParam(rawQuery, "labelSelector")
	if !ok || raw == "" {
		return matchEverything, nil
	}
	if v, ok := c.m.Load(escaped); ok {
		return v.(*scenario.Matcher), nil
	}
	sel, err := c.parse(raw)
	if err != nil {
		return nil, err
	}
	m := scenario.NewMatcher(sel)
	if len(escaped) <= maxCachedSelector && c.n.Load() < maxSelectors && c.bytes.Load()+int64(len(escaped)) <= maxSelectorBytes {
		if _, loaded := c.m.LoadOrStore(escaped, m); !loaded {
			c.n.Add(1)
			c.bytes.Add(int64(len(escaped)))
		}
	}
	return m, nil
}

func (c *selectorCache) parse(raw string) (labels.Selector, error) {
	if raw == "" {
		return labels.Everything(), nil
	}
	if len(raw) > maxSelectorSize {
		return nil, fmt.Errorf("invalid labelSelector: longer than %d bytes", maxSelectorSize)
	}
	sel, err := labels.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("invalid labelSelector %q: %v", clip(raw), err)
	}
	return sel, nil
}

// validNamespace reports whether ns is a DNS-1123 label, as Kubernetes
// namespaces are.
func validNamespace(ns string) bool { return len(validation.IsDNS1123Label(ns)) == 0 }
