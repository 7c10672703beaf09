package gate

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/extmetrics/extmetrics/pkg/analysis"
	"github.com/extmetrics/extmetrics/pkg/flagger"
	"github.com/extmetrics/extmetrics/pkg/gate/coalesce"
	"github.com/extmetrics/extmetrics/pkg/provider"
	"github.com/extmetrics/extmetrics/pkg/query"
)

// Request is one check, whichever endpoint it came from. Exactly one of
// TemplateRef or Provider+Query is set. There is no address: the gate only
// talks to named providers and MetricTemplates' addresses.
type Request struct {
	Endpoint string // "check", "flagger" or "argo" (metrics and logs)

	Provider    string // a named provider of --config
	Query       string // with Provider: a query template
	TemplateRef string // "[namespace/]name" of a MetricTemplate

	// Template variables. Namespace is also the default templateRef
	// namespace (Flagger's rule: the canary's namespace).
	Name, Namespace                 string
	Target, Service, Ingress, Route string
	Interval                        string
	Variables                       map[string]string
	// ReadCanary reads the Canary Namespace/Name (when there is a cluster)
	// for target, service, ingress, route, and the interval and
	// templateVariables of its metric that uses the same template.
	ReadCanary bool

	// Baseline (a query template, rendered like Query, read with the same
	// provider) or BaselineTemplateRef (a MetricTemplate of the same
	// provider): the series the canary is compared with, typically the
	// primary's. The relative bounds need one.
	Baseline            string
	BaselineTemplateRef string

	Min, Max           *float64
	MinRatio, MaxRatio *float64 // canary ÷ baseline, inclusive
	MinDelta, MaxDelta *float64 // canary − baseline, inclusive
	// NeedRange refuses a request without any bound (a check that every
	// value passes is a mistake).
	NeedRange bool

	// Where the check is recorded as an Event (Options.Events):
	// CanaryEvents on the Canary Namespace/Name (the Flagger endpoint; only
	// a Canary the gate knows), AnalysisRun on the Argo AnalysisRun of that
	// name in Namespace (parameter analysisRun=).
	CanaryEvents bool
	AnalysisRun  string
}

// bounds are the request's bounds as the one check takes them.
func (r *Request) bounds() analysis.Bounds {
	return analysis.Bounds{Min: r.Min, Max: r.Max, MinRatio: r.MinRatio, MaxRatio: r.MaxRatio, MinDelta: r.MinDelta, MaxDelta: r.MaxDelta}
}

func (r *Request) hasBaseline() bool { return r.Baseline != "" || r.BaselineTemplateRef != "" }

// Result is the outcome of a check.
type Result struct {
	Provider  string          `json:"provider,omitempty"`
	Template  string          `json:"template,omitempty"`
	Canary    string          `json:"canary,omitempty"`
	Query     string          `json:"query,omitempty"` // rendered, canonical when it parsed
	Value     *float64        `json:"value,omitempty"`
	Aggregate string          `json:"aggregate,omitempty"`
	Matched   int             `json:"matched,omitempty"`
	Items     []provider.Item `json:"items,omitempty"`
	Min       *float64        `json:"min,omitempty"`
	Max       *float64        `json:"max,omitempty"`

	Relative
	BaselineMatched int             `json:"baselineMatched,omitempty"`
	BaselineItems   []provider.Item `json:"baselineItems,omitempty"`
	Side            string          `json:"side,omitempty"` // the side whose read failed: canary or baseline

	Passed    bool   `json:"passed"`
	Verdict   string `json:"verdict"` // pass, fail, measured (a value and no range: the caller judges) or error
	ErrorKind string `json:"errorKind,omitempty"`
	Error     string `json:"error,omitempty"`
	Latency   string `json:"latency"`
	Cached    bool   `json:"cached"`
	Coalesced bool   `json:"coalesced,omitempty"`

	err      error
	interval time.Duration // the analysis interval the check ran with (0: unknown)
}

// Relative is what a relative check adds to its answer: the baseline's
// template (baselineTemplateRef) or rendered query, its value, the relative
// bounds, canary ÷ baseline (Ratio: nil when undefined, a baseline ≤ 0) and
// canary − baseline.
type Relative struct {
	BaselineTemplate string   `json:"baselineTemplate,omitempty"`
	BaselineQuery    string   `json:"baselineQuery,omitempty"`
	Baseline         *float64 `json:"baseline,omitempty"`
	Ratio            *float64 `json:"-"` // each answer words it (Result.MarshalJSON: null when undefined)
	Delta            *float64 `json:"delta,omitempty"`
	MinRatio         *float64 `json:"minRatio,omitempty"`
	MaxRatio         *float64 `json:"maxRatio,omitempty"`
	MinDelta         *float64 `json:"minDelta,omitempty"`
	MaxDelta         *float64 `json:"maxDelta,omitempty"`
}

// MarshalJSON writes the Result, with "ratio" present (null when
// undefined) whenever both sides were read, so that an Argo
// successCondition such as result.ratio <= 1.2 sees null — and errors —
// rather than a missing ratio when the baseline is 0.
func (r Result) MarshalJSON() ([]byte, error) {
	type plain Result
	var v any = plain(r)
	if r.Baseline != nil && r.Value != nil {
		v = struct {
			plain
			Ratio *float64 `json:"ratio"`
		}{plain(r), r.Ratio}
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false) // messages hold "<" and ">"
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

func (r *Result) bounds() analysis.Bounds {
	return analysis.Bounds{Min: r.Min, Max: r.Max, MinRatio: r.MinRatio, MaxRatio: r.MaxRatio, MinDelta: r.MinDelta, MaxDelta: r.MaxDelta}
}

// Verdicts: analysis.RunCheck's.
const (
	VerdictPass     = string(analysis.VerdictPass)
	VerdictFail     = string(analysis.VerdictFail)
	VerdictMeasured = string(analysis.VerdictMeasured) // a value, no range: never a pass
	VerdictError    = string(analysis.VerdictError)
)

// Reason is the one-line explanation of a failed or erroneous check, as
// Flagger shows it in the Canary's events.
func (r *Result) Reason() string {
	return oneLine("extmetrics gate: "+r.summary()+r.querySuffix(), MaxReasonBytes)
}

// summary words the check and its verdict: the subject (template or
// provider), the values and the bounds, or the error.
func (r *Result) summary() string {
	subject := r.Template
	if subject == "" && r.Provider != "" {
		subject = "provider " + r.Provider
	}
	var b strings.Builder
	if subject != "" {
		b.WriteString(subject)
		b.WriteString(": ")
	}
	bounds := r.bounds()
	switch {
	case r.Verdict != VerdictError && r.Baseline != nil:
		// Both values, the ratio and the delta, then the bounds.
		both := fmt.Sprintf("canary %s, baseline %s", analysis.FormatValue(*r.Value), analysis.FormatValue(*r.Baseline))
		fmt.Fprintf(&b, "%s, ratio %s, delta %s", both, formatOpt(r.Ratio, "undefined"), formatOpt(r.Delta, "undefined"))
		switch r.Verdict {
		case VerdictPass:
			fmt.Fprintf(&b, " within %s", bounds)
		case VerdictFail:
			// The one check's message without the values said above.
			fmt.Fprintf(&b, ": %s", strings.TrimSuffix(r.Error, " ("+both+")"))
		default:
			b.WriteString(" measured (no bounds: the caller judges them)")
		}
	case r.Verdict == VerdictPass:
		fmt.Fprintf(&b, "value %s within %s", analysis.FormatValue(*r.Value), bounds)
	case r.Verdict == VerdictFail:
		fmt.Fprintf(&b, "value %s outside %s", analysis.FormatValue(*r.Value), bounds)
	case r.Verdict == VerdictMeasured:
		fmt.Fprintf(&b, "value %s measured (no range: the caller judges it)", analysis.FormatValue(*r.Value))
	default:
		b.WriteString(r.ErrorKind)
		b.WriteString(": ")
		b.WriteString(r.Error)
	}
	return b.String()
}

// querySuffix is ` (query "…", baseline "…")` for a check that read.
func (r *Result) querySuffix() string {
	if r.Query == "" || r.Verdict == VerdictError {
		return ""
	}
	s := fmt.Sprintf(" (query %q", r.Query)
	if r.BaselineQuery != "" {
		s += fmt.Sprintf(", baseline %q", r.BaselineQuery)
	}
	return s + ")"
}

func formatOpt(v *float64, none string) string {
	if v == nil {
		return none
	}
	return analysis.FormatValue(*v)
}

// MaxReasonBytes bounds Reason.
const MaxReasonBytes = 1024

var canaryFuncs = regexp.MustCompile(`\b(target|service|ingress|route)\b`)

// Check runs one check. It never panics on bad input and never passes on an
// error: every failure is a Result with Verdict "error" and an ErrorKind.
func (g *Gate) Check(ctx context.Context, req Request) *Result {
	start := time.Now()
	res := &Result{Min: req.Min, Max: req.Max, Relative: Relative{MinRatio: req.MinRatio, MaxRatio: req.MaxRatio, MinDelta: req.MinDelta, MaxDelta: req.MaxDelta}}
	err := g.check(ctx, &req, res)
	if err != nil {
		res.err = err
		res.Verdict, res.Passed = VerdictError, false
		res.ErrorKind, res.Error = errorKind(err), oneLine(g.redact(errorMessage(err)), MaxReasonBytes)
	}
	d := time.Since(start)
	res.Latency = d.String()
	g.metrics.check(req.Endpoint, res, d)
	g.metrics.values.record(req.Namespace, req.Name, res, res.interval)
	g.recordEvent(&req, res)
	if g.log.Enabled(ctx, slog.LevelInfo) {
		attrs := []slog.Attr{
			slog.String("endpoint", req.Endpoint),
			slog.String("verdict", res.Verdict),
			slog.Duration("duration", d),
			slog.Bool("cached", res.Cached),
		}
		if res.Canary != "" {
			attrs = append(attrs, slog.String("canary", res.Canary))
		}
		if res.Template != "" {
			attrs = append(attrs, slog.String("template", res.Template))
		}
		if res.Provider != "" {
			attrs = append(attrs, slog.String("provider", res.Provider))
		}
		if res.Query != "" {
			attrs = append(attrs, slog.String("query", res.Query))
		}
		if res.Value != nil {
			attrs = append(attrs, slog.Float64("value", *res.Value))
		}
		if res.Min != nil {
			attrs = append(attrs, slog.Float64("min", *res.Min))
		}
		if res.Max != nil {
			attrs = append(attrs, slog.Float64("max", *res.Max))
		}
		if res.BaselineQuery != "" {
			attrs = append(attrs, slog.String("baselineQuery", res.BaselineQuery))
		}
		for _, f := range []struct {
			k string
			v *float64
		}{{"baseline", res.Baseline}, {"ratio", res.Ratio}, {"delta", res.Delta}, {"minRatio", res.MinRatio},
			{"maxRatio", res.MaxRatio}, {"minDelta", res.MinDelta}, {"maxDelta", res.MaxDelta}} {
			if f.v != nil {
				attrs = append(attrs, slog.Float64(f.k, *f.v))
			}
		}
		if res.Side != "" {
			attrs = append(attrs, slog.String("side", res.Side))
		}
		if res.ErrorKind != "" {
			attrs = append(attrs, slog.String("errorKind", res.ErrorKind), slog.String("error", res.Error))
		}
		g.log.LogAttrs(ctx, slog.LevelInfo, "check", attrs...)
	}
	return res
}

func (g *Gate) check(ctx context.Context, req *Request, res *Result) error {
	if err := validateAnalysisRun(req); err != nil {
		return err
	}
	bounds := req.bounds()
	if err := req.validate(); err != nil {
		return err
	}
	if req.Namespace != "" {
		res.Canary = req.Namespace + "/" + req.Name
		if req.Name == "" {
			res.Canary = ""
		}
	}
	var (
		p        analysis.Querier
		identity string
		text     string
		name     string
		tmpl     *flagger.MetricTemplate
		err      error
	)
	switch {
	case req.TemplateRef != "" && (req.Provider != "" || req.Query != ""):
		return badRequest("give either templateRef or provider and query, not both")
	case req.TemplateRef != "":
		tmpl, p, identity, err = g.templateProvider(req, req.TemplateRef)
		if err != nil {
			return err
		}
		res.Template = tmpl.Key()
		text, name = tmpl.Spec.Query, tmpl.Key()
	case req.Provider != "":
		res.Provider = req.Provider
		if req.Query == "" {
			return badRequest("provider " + strconv.Quote(req.Provider) + " needs a query")
		}
		p, identity, err = g.registry.Named(req.Provider)
		if err != nil {
			return err
		}
		text, name = req.Query, "query"
	case req.Query != "":
		return badRequest("a query needs a provider (one of " + strings.Join(g.registry.Names(), ", ") + ")")
	default:
		return badRequest("give templateRef, or provider and query")
	}
	if len(text) > query.MaxLength {
		return badRequest(fmt.Sprintf("query longer than %d bytes", query.MaxLength))
	}
	// The baseline: a query template read with the same provider, or a
	// MetricTemplate whose provider is the same one (same identity).
	var baseText, baseName string
	switch {
	case req.Baseline != "":
		baseText, baseName = req.Baseline, name+" (baseline)"
	case req.BaselineTemplateRef != "":
		bt, _, bid, err := g.templateProvider(req, req.BaselineTemplateRef)
		if err != nil {
			return prefixed("baselineTemplateRef: ", err)
		}
		if bid != identity {
			return badRequest(fmt.Sprintf("baselineTemplateRef %s reads another provider than the canary's %s: a baseline is read with the same provider (same address and Secret)", bt.Key(), name))
		}
		res.BaselineTemplate = bt.Key()
		baseText, baseName = bt.Spec.Query, bt.Key()
	}
	if len(baseText) > query.MaxLength {
		return badRequest(fmt.Sprintf("baseline query longer than %d bytes", query.MaxLength))
	}

	model, analysisInterval, err := g.model(req, tmpl, text+"\n"+baseText)
	if err != nil {
		return err
	}
	rendered, err := g.renders.render(name, text, model)
	if err != nil {
		return badRequest(fmt.Sprintf("rendering the query of %s: %v", name, err))
	}
	rendered = strings.TrimSpace(rendered)
	res.Query = rendered
	var baseRendered string
	if baseText != "" {
		baseRendered, err = g.renders.render(baseName, baseText, model)
		if err != nil {
			return badRequest(fmt.Sprintf("rendering the baseline query of %s: %v", name, err))
		}
		baseRendered = strings.TrimSpace(baseRendered)
		if baseRendered == "" {
			return badRequest(fmt.Sprintf("the baseline query of %s is empty", name))
		}
		res.BaselineQuery = baseRendered
		if _, err := query.Parse(baseRendered); err != nil {
			// Found before any request, as the canary's grammar errors are.
			return &sideError{kind: provider.ErrorKind(provider.ErrInvalidQuery), msg: "baseline: " + err.Error()}
		}
	}

	// The one check (analysis.RunCheck) runs the query through the
	// coalescing cache: the provider identity and the canonical query are
	// the key; a cached answer is served only while it is fresh by the
	// query's maxAge=, else by the staleness rule's bound.
	res.interval = analysisInterval
	stale := analysis.Staleness{MaxAge: g.maxAge, Interval: analysisInterval}
	q := &cachedQuerier{g: g, p: p, identity: identity, bound: stale.Bound(), bounds: bounds}
	var spec *analysis.Bounds
	if req.Min != nil || req.Max != nil || bounds.Relative() {
		spec = &q.bounds // allocated with q
	}
	c := analysis.RunCheck(ctx, q, analysis.CheckSpec{Query: rendered, Baseline: baseRendered, Bounds: spec, Staleness: stale, Now: g.now})
	res.Query = c.Query
	res.Cached, res.Coalesced = q.outcomes.cached(), q.outcomes.anyCoalesced()
	if c.Baseline != nil {
		bv := c.Baseline.Value
		res.BaselineQuery, res.Baseline, res.BaselineMatched, res.BaselineItems = c.Baseline.Query, &bv, c.Baseline.Matched, c.Baseline.Items
	}
	if c.Verdict == analysis.VerdictError {
		res.Side = c.Side
		if c.Side != "" {
			// The message says which side failed ("baseline: ...").
			return &sideError{kind: c.ErrorKind, msg: c.Message, err: c.Err}
		}
		if c.Err != nil {
			return c.Err
		}
		return errors.New(c.Message)
	}
	v := c.Value
	res.Value, res.Aggregate, res.Matched, res.Items = &v, c.Aggregate, c.Matched, c.Items
	res.Ratio, res.Delta = c.Ratio, c.Delta
	res.Verdict, res.Passed, res.ErrorKind = string(c.Verdict), c.Passed(), c.ErrorKind
	if c.Verdict == analysis.VerdictFail && c.Baseline != nil {
		res.Error = oneLine(c.Message, MaxReasonBytes)
	}
	return nil
}

// validate finds what is wrong with the request's bounds and baseline
// before anything is read.
func (r *Request) validate() error {
	bounds := r.bounds()
	if err := bounds.Validate(); err != nil {
		return badRequest(err.Error())
	}
	if r.Baseline != "" && r.BaselineTemplateRef != "" {
		return badRequest("give either baseline (a query template) or baselineTemplateRef, not both")
	}
	if r.NeedRange && r.Min == nil && r.Max == nil && !bounds.Relative() {
		return badRequest("no range: give min and/or max (inclusive), or with a baseline maxRatio, minRatio, maxDelta or minDelta")
	}
	if r.NeedRange || bounds.Relative() {
		// The one check's rule: relative bounds need a baseline, a baseline
		// with bounds needs a relative one (the rendered query comes later).
		spec := analysis.CheckSpec{Bounds: &bounds}
		if r.hasBaseline() {
			spec.Baseline = "baseline"
		}
		if err := spec.Validate(); err != nil {
			return badRequest(err.Error())
		}
	}
	return nil
}

// sideError is a relative check's read error: the provider's kind, the
// one check's message naming the side.
type sideError struct {
	kind, msg string
	err       error
}

func (e *sideError) Error() string { return e.msg }
func (e *sideError) Unwrap() error { return e.err }

// outcomeSet collects the cache outcomes of a check's reads: cached when
// every read was served from the cache, coalesced when any waited on
// another caller's.
type outcomeSet struct {
	mu                     sync.Mutex
	reads, hits, coalesced int // counters: no allocation per read
}

func (o *outcomeSet) add(x coalesce.Outcome) {
	o.mu.Lock()
	o.reads++
	switch x {
	case coalesce.Hit:
		o.hits++
	case coalesce.Coalesced:
		o.coalesced++
	}
	o.mu.Unlock()
}

func (o *outcomeSet) cached() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.reads > 0 && o.hits == o.reads
}

func (o *outcomeSet) anyCoalesced() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.coalesced > 0
}

// templateProvider finds the MetricTemplate ref names, its Secret and its
// provider (identity for the cache).
func (g *Gate) templateProvider(req *Request, ref string) (*flagger.MetricTemplate, analysis.Querier, string, error) {
	tmpl, err := g.template(req, ref)
	if err != nil {
		return nil, nil, "", err
	}
	var secret *flagger.Secret
	if sref := tmpl.Spec.Provider.SecretRef; sref != nil {
		// Flagger's rule: the Secret lives in the template's namespace.
		sec, err := g.objects.Secret(tmpl.Namespace, sref.Name)
		if err != nil && !errors.Is(err, ErrNotFound) {
			return nil, nil, "", badRequest(fmt.Sprintf("MetricTemplate %s: spec.provider.secretRef: %v", tmpl.Key(), err))
		}
		if err != nil {
			return nil, nil, "", badRequest(fmt.Sprintf("MetricTemplate %s: spec.provider.secretRef: Secret %q not found in namespace %q (the template's namespace)", tmpl.Key(), sref.Name, tmpl.Namespace))
		}
		secret = sec
	}
	p, identity, err := g.registry.ForTemplateObjects(tmpl, secret)
	if err != nil {
		return nil, nil, "", err
	}
	return tmpl, p, identity, nil
}

// prefixed puts prefix before a gate error's message, keeping its kind.
func prefixed(prefix string, err error) error {
	var ce *CheckError
	if errors.As(err, &ce) {
		return &CheckError{Kind: ce.Kind, Msg: prefix + ce.Msg}
	}
	return err
}

// cachedQuerier runs a check's reads (the canary's and the baseline's,
// concurrently) through the gate's coalescing cache: the provider identity
// and the canonical query are the key; a cached answer is served only while
// it is fresh by the query's maxAge=, else by the staleness rule's bound.
// One per check, holding what the check needs (one allocation).
type cachedQuerier struct {
	g        *Gate
	p        analysis.Querier
	identity string
	bound    time.Duration   // the staleness rule's, for queries without maxAge=
	bounds   analysis.Bounds // the check's
	outcomes outcomeSet
}

// Query implements analysis.Querier.
func (c *cachedQuerier) Query(ctx context.Context, text string) (*provider.Result, error) {
	pq, canonical, err := query.ParseCanonical(text)
	if err != nil {
		return c.p.Query(ctx, text) // the provider words grammar errors, without a request
	}
	maxAge := pq.MaxAge
	if maxAge == 0 {
		maxAge = c.bound
	}
	r, o, err := c.g.cache.Do(ctx, c.identity+"\x00"+canonical,
		func(v *provider.Result, now time.Time) bool { return fresh(v, maxAge, now) },
		func(ctx context.Context) (*provider.Result, error) {
			t0 := time.Now()
			r, err := c.p.Query(ctx, text)
			c.g.metrics.upstream(errorKind(err), time.Since(t0))
			return r, err
		})
	c.outcomes.add(o)
	c.g.metrics.cache(o)
	if err != nil && ctx.Err() != nil && errors.Is(err, ctx.Err()) {
		return nil, &provider.Error{Kind: provider.ErrUnavailable, Op: "query", Query: canonical, Message: "the caller went away: " + err.Error()}
	}
	return r, err
}

// fresh says whether a cached result may still be served: every item must
// be younger than the query's maxAge (when it has one).
func fresh(r *provider.Result, maxAge time.Duration, now time.Time) bool {
	if maxAge <= 0 {
		return true
	}
	for _, it := range r.Items {
		if it.Timestamp.IsZero() || now.Sub(it.Timestamp) > maxAge {
			return false
		}
	}
	return true
}

// template finds the MetricTemplate ref ("[namespace/]name"): its
// namespace, else the request's (the canary's) namespace, as Flagger does.
func (g *Gate) template(req *Request, ref string) (*flagger.MetricTemplate, error) {
	if g.objects == nil {
		return nil, &CheckError{Kind: KindBadRequest, Msg: "templateRef " + strconv.Quote(ref) + ": the gate has no cluster to read MetricTemplates from; name a provider of --config and a query instead"}
	}
	ns, name, ok := strings.Cut(ref, "/")
	if !ok {
		ns, name = req.Namespace, ref
	}
	if ns == "" {
		return nil, badRequest("templateRef " + strconv.Quote(ref) + " has no namespace and the request names none")
	}
	if !dnsLabel.MatchString(ns) || !dnsSubdomain.MatchString(name) {
		return nil, badRequest("templateRef " + strconv.Quote(ref) + ": want [namespace/]name")
	}
	t, err := g.objects.MetricTemplate(ns, name)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return nil, badRequest("templateRef " + strconv.Quote(ref) + ": " + err.Error())
	}
	if err != nil {
		return nil, badRequest(fmt.Sprintf("MetricTemplate %q not found in namespace %q", name, ns))
	}
	if t.Spec.Provider.Type != flagger.ProviderExternal {
		typ := t.Spec.Provider.Type
		if typ == "" {
			typ = "prometheus"
		}
		return nil, badRequest(fmt.Sprintf("MetricTemplate %s has spec.provider.type %q: the gate runs %q templates only", t.Key(), typ, flagger.ProviderExternal))
	}
	if strings.TrimSpace(t.Spec.Query) == "" {
		return nil, badRequest(fmt.Sprintf("MetricTemplate %s: spec.query is empty", t.Key()))
	}
	return t, nil
}

var (
	dnsLabel     = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$`)
	dnsSubdomain = regexp.MustCompile(`^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$`)
)

// model builds Flagger's template model for the request.
func (g *Gate) model(req *Request, tmpl *flagger.MetricTemplate, text string) (flagger.Model, time.Duration, error) {
	var interval time.Duration
	if req.Interval != "" {
		d, err := time.ParseDuration(req.Interval)
		if err != nil || d <= 0 {
			return flagger.Model{}, 0, badRequest(fmt.Sprintf("interval %q: want a positive duration such as 1m", req.Interval))
		}
		interval = d
	}
	target := req.Target
	if target == "" {
		target = req.Name
	}
	m := flagger.Model{
		Name: req.Name, Namespace: req.Namespace, Target: target,
		Service: target, Ingress: target, Route: target,
		Interval: req.Interval, Variables: maps.Clone(req.Variables),
	}
	if req.Service != "" {
		m.Service = req.Service
	}
	if req.Ingress != "" {
		m.Ingress = req.Ingress
	}
	if req.Route != "" {
		m.Route = req.Route
	}
	if !req.ReadCanary || req.Name == "" || req.Namespace == "" {
		return m, interval, nil
	}
	var c *flagger.Canary
	if g.objects != nil {
		var err error
		c, err = g.objects.Canary(req.Namespace, req.Name)
		if err != nil && !errors.Is(err, ErrNotFound) {
			return m, 0, badRequest(err.Error())
		}
	}
	if c == nil {
		if canaryFuncs.MatchString(text) && req.Target == "" {
			return m, 0, badRequest(fmt.Sprintf("Canary %s/%s not found: the query uses its spec (target, service, ingress or route)", req.Namespace, req.Name))
		}
		return m, interval, nil
	}
	// The canary's metric that uses this template gives interval and
	// templateVariables, as in analysis; the request's values win.
	metric := &flagger.Metric{}
	if a := c.Spec.Analysis; a != nil && tmpl != nil {
		for i := range a.Metrics {
			ref := a.Metrics[i].TemplateRef
			if ref == nil || ref.Name != tmpl.Name {
				continue
			}
			ns := ref.Namespace
			if ns == "" {
				ns = c.Namespace
			}
			if ns == tmpl.Namespace {
				metric = &a.Metrics[i]
				break
			}
		}
	}
	cm := c.Model(metric)
	if req.Interval != "" {
		cm.Interval = req.Interval
	}
	if cm.Interval == "" && c.Spec.Analysis != nil {
		cm.Interval = c.Spec.Analysis.Interval
	}
	if cm.Variables == nil {
		cm.Variables = map[string]string{}
	}
	maps.Copy(cm.Variables, req.Variables)
	if interval == 0 && c.Spec.Analysis != nil {
		// The canary's analysis interval (Flagger's default 1m).
		interval = time.Minute
		if d, err := time.ParseDuration(c.Spec.Analysis.Interval); err == nil && d > 0 {
			interval = d
		}
	}
	return cm, interval, nil
}
