package gate

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

func promhttpHandler(reg *prometheus.Registry) http.Handler {
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
}

// CheckBody is the JSON body of POST /v1/check.
type CheckBody struct {
	Provider    string            `json:"provider,omitempty"`
	Query       string            `json:"query,omitempty"`
	TemplateRef string            `json:"templateRef,omitempty"`
	Namespace   string            `json:"namespace,omitempty"`
	Name        string            `json:"name,omitempty"`
	Target      string            `json:"target,omitempty"`
	Service     string            `json:"service,omitempty"`
	Ingress     string            `json:"ingress,omitempty"`
	Route       string            `json:"route,omitempty"`
	Interval    string            `json:"interval,omitempty"`
	Variables   map[string]string `json:"variables,omitempty"`
	Min         *float64          `json:"min,omitempty"`
	Max         *float64          `json:"max,omitempty"`

	// A relative check: baseline (a query template) or baselineTemplateRef,
	// and at least one of the relative bounds.
	Baseline            string   `json:"baseline,omitempty"`
	BaselineTemplateRef string   `json:"baselineTemplateRef,omitempty"`
	MinRatio            *float64 `json:"minRatio,omitempty"`
	MaxRatio            *float64 `json:"maxRatio,omitempty"`
	MinDelta            *float64 `json:"minDelta,omitempty"`
	MaxDelta            *float64 `json:"maxDelta,omitempty"`

	// AnalysisRun names the Argo AnalysisRun (in Namespace) the check is
	// recorded on as a Kubernetes Event (Options.Events).
	AnalysisRun string `json:"analysisRun,omitempty"`

	// Address is refused: the gate never sends a request to an address a
	// caller chose (no SSRF). Present only to say so clearly.
	Address *json.RawMessage `json:"address,omitempty"`
}

// FlaggerPayload is the body Flagger POSTs to a webhook
// (flagger.app/v1beta1 CanaryWebhookPayload).
type FlaggerPayload struct {
	Name      string            `json:"name"`
	Namespace string            `json:"namespace"`
	Phase     string            `json:"phase"`
	Checksum  string            `json:"checksum"`
	Metadata  map[string]string `json:"metadata,omitempty"`
}

// flaggerVerdict is the 200 answer of the Flagger endpoint: the Result
// without its items.
type flaggerVerdict struct {
	Verdict  string   `json:"verdict"`
	Passed   bool     `json:"passed"`
	Template string   `json:"template,omitempty"`
	Provider string   `json:"provider,omitempty"`
	Canary   string   `json:"canary,omitempty"`
	Query    string   `json:"query"`
	Value    *float64 `json:"value"`
	Min      *float64 `json:"min,omitempty"`
	Max      *float64 `json:"max,omitempty"`
	Matched  int      `json:"matched"`

	Relative
	Ratio *float64 `json:"ratio,omitempty"`

	Cached    bool   `json:"cached"`
	Coalesced bool   `json:"coalesced,omitempty"`
	Latency   string `json:"latency"`
}

// param is one parameter of a check request: a key of the Flagger
// webhook's metadata and/or a query parameter of the Argo endpoint. One
// table serves both (the endpoints differ only in which keys they take).
type param struct {
	key           string
	flagger, argo bool
	set           func(r *Request, v string) error
}

var params = []param{
	{"templateRef", true, false, func(r *Request, v string) error { r.TemplateRef = strings.TrimSpace(v); return nil }},
	{"template", false, true, func(r *Request, v string) error { r.TemplateRef = strings.TrimSpace(v); return nil }},
	{"provider", true, true, func(r *Request, v string) error { r.Provider = strings.TrimSpace(v); return nil }},
	{"query", true, true, func(r *Request, v string) error { r.Query = v; return nil }},
	{"baseline", true, true, func(r *Request, v string) error { r.Baseline = v; return nil }},
	{"baselineTemplateRef", true, false, func(r *Request, v string) error { r.BaselineTemplateRef = strings.TrimSpace(v); return nil }},
	{"min", true, false, func(r *Request, v string) (err error) { r.Min, err = parseBound("min", v); return err }},
	{"max", true, false, func(r *Request, v string) (err error) { r.Max, err = parseBound("max", v); return err }},
	{"minRatio", true, false, func(r *Request, v string) (err error) { r.MinRatio, err = parseBound("minRatio", v); return err }},
	{"maxRatio", true, false, func(r *Request, v string) (err error) { r.MaxRatio, err = parseBound("maxRatio", v); return err }},
	{"minDelta", true, false, func(r *Request, v string) (err error) { r.MinDelta, err = parseBound("minDelta", v); return err }},
	{"maxDelta", true, false, func(r *Request, v string) (err error) { r.MaxDelta, err = parseBound("maxDelta", v); return err }},
	{"namespace", false, true, func(r *Request, v string) error { r.Namespace = v; return nil }},
	{"name", false, true, func(r *Request, v string) error { r.Name = v; return nil }},
	{"interval", true, true, func(r *Request, v string) error { r.Interval = v; return nil }},
	{"target", true, true, func(r *Request, v string) error { r.Target = v; return nil }},
	{"service", true, true, func(r *Request, v string) error { r.Service = v; return nil }},
	{"ingress", true, true, func(r *Request, v string) error { r.Ingress = v; return nil }},
	{"route", true, true, func(r *Request, v string) error { r.Route = v; return nil }},
	{"analysisRun", false, true, func(r *Request, v string) error { r.AnalysisRun = strings.TrimSpace(v); return nil }},
}

// variablePrefix introduces a template variable: variables.<key>.
const variablePrefix = "variables."

// knownParams lists the keys an endpoint takes, for error messages.
func knownParams(flagger bool) string {
	var keys []string
	for _, p := range params {
		if p.flagger && flagger || p.argo && !flagger {
			keys = append(keys, p.key)
		}
	}
	return strings.Join(append(keys, variablePrefix+"<key>"), ", ")
}

// setParam applies one key of the Flagger metadata (flagger) or of the
// Argo query to req; ok is false for a key the endpoint does not take.
func setParam(req *Request, flagger bool, k, v string) (ok bool, err error) {
	switch {
	case k == "address" || k == "server" || k == "url":
		what := "parameter " + k
		if flagger {
			what = "metadata." + k
		}
		return true, badRequest(what + ": " + rawAddressMsg)
	case strings.HasPrefix(k, variablePrefix) && len(k) > len(variablePrefix):
		if req.Variables == nil {
			req.Variables = map[string]string{}
		}
		req.Variables[strings.TrimPrefix(k, variablePrefix)] = v
		return true, nil
	}
	for _, p := range params {
		if p.key == k && (p.flagger && flagger || p.argo && !flagger) {
			return true, p.set(req, v)
		}
	}
	return false, nil
}

const rawAddressMsg = "a raw address is refused: the gate only queries providers named in its --config and the addresses of MetricTemplates in the cluster"

func (g *Gate) serveCheck(w http.ResponseWriter, r *http.Request) {
	if !allow(w, r, http.MethodPost) {
		return
	}
	var body CheckBody
	if err := decodeJSON(w, r, &body, true); err != nil {
		g.writeResult(w, g.refuse("check", err))
		return
	}
	if body.Address != nil {
		g.writeResult(w, g.refuse("check", badRequest(rawAddressMsg)))
		return
	}
	res := g.Check(r.Context(), Request{
		Endpoint: "check", Provider: body.Provider, Query: body.Query, TemplateRef: body.TemplateRef,
		Name: body.Name, Namespace: body.Namespace, Target: body.Target, Service: body.Service,
		Ingress: body.Ingress, Route: body.Route, Interval: body.Interval, Variables: body.Variables,
		Min: body.Min, Max: body.Max, NeedRange: true,
		Baseline: body.Baseline, BaselineTemplateRef: body.BaselineTemplateRef,
		MinRatio: body.MinRatio, MaxRatio: body.MaxRatio, MinDelta: body.MinDelta, MaxDelta: body.MaxDelta, ReadCanary: body.Name != "" && body.TemplateRef != "",
		AnalysisRun: body.AnalysisRun,
	})
	g.writeResult(w, res)
}

func (g *Gate) writeResult(w http.ResponseWriter, res *Result) {
	status := http.StatusOK
	if res.Verdict != VerdictPass && res.Verdict != VerdictMeasured {
		status = statusFor(res.ErrorKind, false)
	}
	writeJSON(w, status, res)
}

// refuse is a Result for a request that never became a check (bad body),
// counted and logged like one.
func (g *Gate) refuse(endpoint string, err error) *Result {
	res := &Result{Verdict: VerdictError, ErrorKind: errorKind(err), Error: oneLine(errorMessage(err), MaxReasonBytes), Latency: "0s"}
	g.metrics.check(endpoint, res, 0)
	g.log.Info("check", "endpoint", endpoint, "verdict", res.Verdict, "errorKind", res.ErrorKind, "error", res.Error)
	return res
}

func (g *Gate) serveFlagger(w http.ResponseWriter, r *http.Request) {
	if !allow(w, r, http.MethodPost) {
		return
	}
	var p FlaggerPayload
	if err := decodeJSON(w, r, &p, false); err != nil {
		res := g.refuse("flagger", err)
		writeText(w, statusFor(res.ErrorKind, true), res.Reason())
		return
	}
	a := g.FlaggerCheck(r.Context(), &p)
	if a.Status == http.StatusOK {
		// Flagger reads only the status of a 2xx answer: a short verdict.
		res := a.Result
		writeJSON(w, http.StatusOK, flaggerVerdict{Verdict: res.Verdict, Passed: res.Passed, Template: res.Template,
			Provider: res.Provider, Canary: res.Canary, Query: res.Query, Value: res.Value, Min: res.Min, Max: res.Max,
			Matched: res.Matched, Relative: res.Relative, Ratio: res.Ratio, Cached: res.Cached, Coalesced: res.Coalesced, Latency: res.Latency})
		return
	}
	writeText(w, a.Status, a.Reason)
}

// FlaggerAnswer is the gate's answer to one Flagger webhook call.
type FlaggerAnswer struct {
	Result *Result
	// Status is the HTTP status: 200 on a pass, else a 4xx
	// (statusFor): Flagger counts anything but 2xx as a failed check.
	Status int
	// Reason is the one-line body of a failure, which Flagger records in
	// the Canary's events ("" on a pass).
	Reason string
}

// FlaggerCheck answers Flagger's webhook payload: the one code path of
// POST /flagger/v1/check and of analyze, which runs gate webhooks
// in-process (CheckWebhook).
func (g *Gate) FlaggerCheck(ctx context.Context, p *FlaggerPayload) FlaggerAnswer {
	req, err := flaggerRequest(p)
	var res *Result
	if err != nil {
		res = g.refuse("flagger", err)
		// A refused webhook is a failed check too; recorded as one check
		// per canary whatever the metadata (parsed in map order).
		g.recordEvent(&Request{Endpoint: "flagger", Name: p.Name, Namespace: p.Namespace, CanaryEvents: true}, res)
	} else {
		res = g.Check(ctx, req)
	}
	if res.Verdict == VerdictPass {
		return FlaggerAnswer{Result: res, Status: http.StatusOK}
	}
	return FlaggerAnswer{Result: res, Status: statusFor(res.ErrorKind, true), Reason: res.Reason()}
}

// flaggerRequest turns Flagger's payload into a Request; unknown metadata
// keys are refused (a typo must not turn a check off).
func flaggerRequest(p *FlaggerPayload) (Request, error) {
	req := Request{Endpoint: "flagger", Name: p.Name, Namespace: p.Namespace, ReadCanary: true, NeedRange: true, CanaryEvents: true}
	if p.Name == "" || p.Namespace == "" {
		return req, badRequest("the payload needs name and namespace (Flagger sends them)")
	}
	pr := paramReader{req: &req, flagger: true}
	for k, v := range p.Metadata {
		if err := pr.set(k, v); err != nil {
			return req, err
		}
	}
	return req, pr.done()
}

// paramReader applies keys to a request (setParam) and refuses the unknown
// ones, all named at once.
type paramReader struct {
	req     *Request
	flagger bool
	unknown []string
}

func (p *paramReader) set(k, v string) error {
	ok, err := setParam(p.req, p.flagger, k, v)
	if err == nil && !ok {
		p.unknown = append(p.unknown, k)
	}
	return err
}

func (p *paramReader) done() error {
	if len(p.unknown) == 0 {
		return nil
	}
	sort.Strings(p.unknown)
	what := "parameter(s)"
	if p.flagger {
		what = "metadata key(s)"
	}
	return badRequest(fmt.Sprintf("unknown %s %s (known: %s)", what, strings.Join(quoteAll(p.unknown), ", "), knownParams(p.flagger)))
}

func quoteAll(s []string) []string {
	out := make([]string, len(s))
	for i, v := range s {
		out[i] = strconv.Quote(v)
	}
	return out
}

func parseBound(k, v string) (*float64, error) {
	f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
	if err != nil {
		return nil, badRequest(fmt.Sprintf("metadata.%s: %q is not a number", k, v))
	}
	return &f, nil
}

func (g *Gate) serveArgo(w http.ResponseWriter, r *http.Request) {
	if !allow(w, r, http.MethodGet) {
		return
	}
	req, err := argoRequest(r.URL.Query())
	if err != nil {
		res := g.refuse("argo", err)
		q := r.URL.Query()
		if ev := (Request{Endpoint: "argo", Namespace: q.Get("namespace"), AnalysisRun: strings.TrimSpace(q.Get("analysisRun"))}); validateAnalysisRun(&ev) == nil {
			g.recordEvent(&ev, res)
		}
		g.writeResult(w, res)
		return
	}
	res := g.Check(r.Context(), req)
	if res.Value == nil || res.Verdict == VerdictError {
		g.writeResult(w, res)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

func argoRequest(q url.Values) (Request, error) {
	req := Request{Endpoint: "argo"}
	pr := paramReader{req: &req}
	for k, vs := range q {
		if len(vs) != 1 {
			return req, badRequest(fmt.Sprintf("parameter %q given %d times", k, len(vs)))
		}
		if err := pr.set(k, vs[0]); err != nil {
			return req, err
		}
	}
	return req, pr.done()
}

func allow(w http.ResponseWriter, r *http.Request, method string) bool {
	if r.Method == method {
		return true
	}
	w.Header().Set("Allow", method)
	writeText(w, http.StatusMethodNotAllowed, "method "+r.Method+" not allowed: use "+method)
	return false
}

// decodeJSON reads at most MaxBodyBytes of JSON into v.
func decodeJSON(w http.ResponseWriter, r *http.Request, v any, strict bool) error {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return badRequest(fmt.Sprintf("request body larger than %d bytes", MaxBodyBytes))
		}
		return badRequest("reading the request body: " + err.Error())
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return badRequest("empty request body: want a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if strict {
		dec.DisallowUnknownFields()
	}
	if err := dec.Decode(v); err != nil {
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &se):
			return badRequest(fmt.Sprintf("request body: invalid JSON at byte %d: %v", se.Offset, err))
		case errors.Is(err, io.ErrUnexpectedEOF):
			return badRequest("request body: invalid JSON: it ends early")
		case errors.As(err, &te):
			return badRequest(fmt.Sprintf("request body: field %q: want %s, got JSON %s", te.Field, te.Type, te.Value))
		}
		return badRequest("request body: " + err.Error())
	}
	if dec.More() {
		return badRequest("request body: more than one JSON value")
	}
	return nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		writeText(w, http.StatusInternalServerError, "encoding the answer: "+err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	w.Write(b.Bytes())
}

func writeText(w http.ResponseWriter, status int, s string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	io.WriteString(w, oneLine(s, MaxReasonBytes+64))
}
