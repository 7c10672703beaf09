package analysis

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/utils/clock"

	"github.com/extmetrics/extmetrics/pkg/flagger"
	"github.com/extmetrics/extmetrics/pkg/provider"
	"github.com/extmetrics/extmetrics/pkg/query"
)

// KindOutOfRange is Check.ErrorKind for a value outside the metric's range
// (and for NaN or infinite values, which never pass).
const KindOutOfRange = "out-of-range"

// KindFlaggerCompat is Check.ErrorKind for a check failed by
// FlaggerCompatStrict because real Flagger would treat its query differently.
const KindFlaggerCompat = "flagger-compat"

// FlaggerCompat says what to do with checks whose query Flagger treats
// differently (flagger.FlaggerCompat notes).
type FlaggerCompat string

const (
	// FlaggerCompatWarn (the default, also "") runs the check as extmetrics
	// does and records the notes (MetricResult.FlaggerCompat).
	FlaggerCompatWarn FlaggerCompat = "warn"
	// FlaggerCompatStrict fails such checks (kind "flagger-compat") without
	// running their query.
	FlaggerCompatStrict FlaggerCompat = "strict"
)

// ParseFlaggerCompat reads a FlaggerCompat: "warn" (or "") and "strict".
func ParseFlaggerCompat(s string) (FlaggerCompat, error) {
	switch FlaggerCompat(strings.ToLower(strings.TrimSpace(s))) {
	case "", FlaggerCompatWarn:
		return FlaggerCompatWarn, nil
	case FlaggerCompatStrict:
		return FlaggerCompatStrict, nil
	}
	return "", fmt.Errorf("%q: want warn (note where Flagger differs) or strict (fail those checks)", s)
}

// Querier runs one query; *provider.Provider implements it.
type Querier interface {
	Query(ctx context.Context, query string) (*provider.Result, error)
}

// ProviderFactory builds the Querier for one MetricTemplate's provider:
// spec holds spec.provider.address and insecureSkipVerify and the data of
// the provider's secretRef (nil without one).
type ProviderFactory func(spec provider.Spec) (Querier, error)

// NewProviderFactory is the default factory: Connection{Base: base,
// Options: opts}.Factory(). The base rest.Config (the aggregation layer; may
// be nil when every template has an address) is used only for templates
// without spec.provider.address — see Connection for the rule.
func NewProviderFactory(base *rest.Config, opts provider.Options) ProviderFactory {
	c := Connection{Options: opts}
	if base != nil {
		c.Base = func() (*rest.Config, error) { return base, nil }
	}
	return c.Factory()
}

// Options configure an Engine.
type Options struct {
	// Factory builds a Querier per MetricTemplate (required).
	Factory ProviderFactory
	// Clock times the analysis interval and stamps results (default: the real clock).
	Clock clock.Clock
	// Interval, when > 0, replaces every canary's analysis interval (CI, demo).
	Interval time.Duration
	// Observer receives progress events (optional).
	Observer Observer
	// MaxAge bounds the age of the data a check may pass on when its query
	// names no maxAge= (the query's own bound wins): 0 means the default,
	// DefaultMaxAge of the canary's analysis interval; NoMaxAge (any
	// negative value) turns the bound off. Stale data fails the check with
	// error kind "stale".
	MaxAge time.Duration
	// FlaggerCompat: FlaggerCompatWarn (default) or FlaggerCompatStrict.
	FlaggerCompat FlaggerCompat
}

// NoMaxAge turns the default staleness bound off (Options.MaxAge).
const NoMaxAge time.Duration = -1

// MinDefaultMaxAge is the smallest default staleness bound.
const MinDefaultMaxAge = 5 * time.Minute

// DefaultMaxAge is the staleness bound of a check whose query names no
// maxAge=: 3 analysis intervals, at least MinDefaultMaxAge (External Metrics
// servers cache values for a while; the Cluster Agent refreshes every 30s).
func DefaultMaxAge(interval time.Duration) time.Duration {
	return max(MinDefaultMaxAge, 3*interval)
}

// Engine runs canary analyses. It is safe to run several at once.
type Engine struct {
	factory  ProviderFactory
	clock    clock.Clock
	interval time.Duration
	observer Observer
	maxAge   time.Duration
	strict   bool
}

// New returns an engine.
func New(opts Options) *Engine {
	e := &Engine{factory: opts.Factory, clock: opts.Clock, interval: opts.Interval, observer: opts.Observer, maxAge: opts.MaxAge,
		strict: opts.FlaggerCompat == FlaggerCompatStrict}
	if e.clock == nil {
		e.clock = clock.RealClock{}
	}
	return e
}

// canaryRun is the state of one canary's analysis.
type canaryRun struct {
	r       *flagger.Resolved
	plan    Plan
	res     *CanaryResult
	metrics []*metricRun
}

type metricRun struct {
	check *flagger.Check
	q     Querier
	res   *MetricResult
}

// prepare builds plans and providers; every problem found is returned
// (joined): these are configuration errors, found before any query runs.
func (e *Engine) prepare(canaries []*flagger.Resolved, once bool) ([]*canaryRun, error) {
	if e.factory == nil {
		return nil, errors.New("analysis: no provider factory")
	}
	if len(canaries) == 0 {
		return nil, errors.New("no canary to analyse")
	}
	var errs []error
	queriers := map[string]Querier{} // per MetricTemplate
	runs := make([]*canaryRun, 0, len(canaries))
	for _, r := range canaries {
		c := r.Canary
		plan, err := NewPlan(c)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if e.interval > 0 {
			plan.Interval = e.interval
		}
		if len(r.Checks) == 0 {
			errs = append(errs, &flagger.Error{Source: c.Source, Field: c.Spec.AnalysisField + ".metrics", Msg: "no metric checks"})
			continue
		}
		cr := &canaryRun{r: r, plan: plan, res: &CanaryResult{
			Name:       c.Name,
			Namespace:  c.Namespace,
			Source:     c.Source.String(),
			Strategy:   plan.Strategy,
			Mode:       plan.Mode,
			TotalSteps: plan.TotalSteps(),
			Threshold:  plan.Threshold,
			Interval:   plan.Interval,
			Metrics:    make([]MetricResult, len(r.Checks)),
		}}
		if plan.Strategy == StrategyCanary {
			cr.res.Weights = append([]int(nil), plan.Weights...)
		}
		if once {
			cr.res.Mode, cr.res.TotalSteps, cr.res.Weights = ModeOnce, 1, nil
		}
		for i := range r.Checks {
			ch := &r.Checks[i]
			t := ch.Template
			q, ok := queriers[t.Key()]
			if !ok {
				spec := provider.Spec{
					Address:            t.Spec.Provider.Address,
					InsecureSkipVerify: t.Spec.Provider.InsecureSkipVerify,
					SecretData:         ch.SecretData(),
				}
				var err error
				q, err = e.factory(spec)
				if err != nil {
					errs = append(errs, &flagger.Error{Source: t.Source, Field: "spec.provider", Line: t.Source.Line,
						Msg: fmt.Sprintf("MetricTemplate %s: %v", t.Key(), err)})
					queriers[t.Key()] = nil
					continue
				}
				queriers[t.Key()] = q
			}
			if q == nil {
				continue // already reported
			}
			min, max := bounds(ch.Metric)
			cr.res.Metrics[i] = MetricResult{
				Name:          ch.Metric.Name,
				TemplateRef:   t.Key(),
				Provider:      t.Spec.Provider.Address,
				Query:         ch.Query,
				Interval:      ch.Metric.Interval,
				Min:           min,
				Max:           max,
				Checks:        []Check{},
				FlaggerCompat: flagger.CompatTexts(ch.Compat),
			}
			cr.res.Metrics[i].FlaggerCompatNotes = append([]flagger.CompatNote(nil), ch.Compat...)
			cr.metrics = append(cr.metrics, &metricRun{check: ch, q: q, res: &cr.res.Metrics[i]})
		}
		runs = append(runs, cr)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return runs, nil
}

// Run analyses every canary concurrently, each as Flagger would (see the
// package documentation), and returns the report. It returns an error only
// for configuration problems found before any query ran (an invalid plan, a
// provider that cannot be built); everything that happens while running —
// query errors included — is a check result. When ctx is cancelled the
// canaries still running end Aborted and the partial report is returned.
func (e *Engine) Run(ctx context.Context, canaries []*flagger.Resolved) (*Report, error) {
	return e.run(ctx, canaries, false)
}

// Once renders and runs every check of every canary once, without the loop
// (a lint for templates): a canary Succeeds when all its checks pass.
func (e *Engine) Once(ctx context.Context, canaries []*flagger.Resolved) (*Report, error) {
	return e.run(ctx, canaries, true)
}

func (e *Engine) run(ctx context.Context, canaries []*flagger.Resolved, once bool) (*Report, error) {
	runs, err := e.prepare(canaries, once)
	if err != nil {
		return nil, err
	}
	rep := &Report{Started: e.clock.Now(), Canaries: make([]CanaryResult, len(runs))}
	var wg sync.WaitGroup
	for _, cr := range runs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if once {
				e.once(ctx, cr)
			} else {
				e.loop(ctx, cr)
			}
		}()
	}
	wg.Wait()
	for i, cr := range runs {
		rep.Canaries[i] = *cr.res
	}
	rep.Finished = e.clock.Now()
	return rep, nil
}

func (e *Engine) emit(cr *canaryRun, ev Event) {
	if e.observer == nil {
		return
	}
	ev.Time = e.clock.Now()
	ev.Canary = cr.r.Canary.Key()
	ev.TotalSteps = cr.res.TotalSteps
	ev.FailedChecks = cr.res.FailedChecks
	ev.Threshold = cr.res.Threshold
	e.observer.Observe(ev)
}

// wait waits d on the engine's clock; false when ctx ended first.
func (e *Engine) wait(ctx context.Context, d time.Duration) bool {
	if err := ctx.Err(); err != nil {
		return false
	}
	t := e.clock.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C():
		return true
	}
}

// loop is Flagger's scheduler for one canary: the first tick shifts traffic
// to the first step without an analysis; then every interval all checks run;
// a run with any failed check adds one failed check and does not advance;
// reaching the threshold fails the canary; passing the last step succeeds.
func (e *Engine) loop(ctx context.Context, cr *canaryRun) {
	res, weights := cr.res, cr.plan.Weights
	res.Started = e.clock.Now()
	res.Weight = weights[0]
	e.emit(cr, Event{Type: EventStarted, Weight: weights[0]})
	step := 0 // index of the step being analysed
	for step < len(weights) {
		if !e.wait(ctx, cr.plan.Interval) {
			e.abort(ctx, cr, step)
			return
		}
		run := res.Runs + 1
		checks := e.runChecks(ctx, cr, step+1, run, weights[step])
		if ctx.Err() != nil {
			// Checks cut short by the interruption say nothing about the canary.
			e.abort(ctx, cr, step)
			return
		}
		res.Runs = run
		res.Weight = weights[step]
		failed := e.record(cr, checks)
		if failed != nil {
			res.FailedChecks++
			e.emit(cr, Event{Type: EventStep, Step: step + 1, Run: run, Weight: weights[step]})
			if res.FailedChecks >= res.Threshold {
				e.finish(cr, Failed, fmt.Sprintf("failed checks threshold reached (%d/%d) at step %d/%d%s; last failure: %s",
					res.FailedChecks, res.Threshold, step+1, len(weights), weightText(cr, weights[step]), failed))
				return
			}
			continue
		}
		step++
		res.Steps = step
		e.emit(cr, Event{Type: EventStep, Step: step, Run: run, Weight: weights[step-1], Advanced: true})
	}
	reason := fmt.Sprintf("all %d steps passed", len(weights))
	switch cr.plan.Mode {
	case ModeCanary, ModeCanaryMirror:
		reason += fmt.Sprintf(" (canary weight %d, maxWeight %d)", weights[len(weights)-1], cr.plan.MaxWeight)
	case ModeBlueGreen:
		reason += fmt.Sprintf(" (blue/green: %d iterations plus the run after routing all traffic to the canary)", len(weights)-1)
	case ModeAB:
		reason += fmt.Sprintf(" (A/B: %d iterations)", len(weights))
	}
	if res.FailedChecks > 0 {
		reason += fmt.Sprintf("; %d failed check(s), below the threshold %d", res.FailedChecks, res.Threshold)
	}
	e.finish(cr, Succeeded, reason)
}

func weightText(cr *canaryRun, w int) string {
	if cr.plan.Strategy == StrategyCanary {
		return fmt.Sprintf(" (weight %d)", w)
	}
	return ""
}

func (e *Engine) once(ctx context.Context, cr *canaryRun) {
	res := cr.res
	res.Started = e.clock.Now()
	e.emit(cr, Event{Type: EventStarted})
	checks := e.runChecks(ctx, cr, 1, 1, 0)
	if ctx.Err() != nil {
		e.abort(ctx, cr, 0)
		return
	}
	res.Runs = 1
	failed := 0
	for _, c := range checks {
		if !c.Passed {
			failed++
		}
	}
	first := e.record(cr, checks)
	e.emit(cr, Event{Type: EventStep, Step: 1, Run: 1, Advanced: first == nil})
	if first != nil {
		res.FailedChecks = 1
		e.finish(cr, Failed, fmt.Sprintf("%d of %d checks failed; first: %s", failed, len(checks), first))
		return
	}
	res.Steps = 1
	e.finish(cr, Succeeded, fmt.Sprintf("all %d checks passed", len(checks)))
}

func (e *Engine) abort(ctx context.Context, cr *canaryRun, step int) {
	cause := context.Cause(ctx)
	if cause == nil {
		cause = context.Canceled
	}
	e.finish(cr, Aborted, fmt.Sprintf("interrupted after %d of %d steps (%d runs): %v", step, cr.res.TotalSteps, cr.res.Runs, cause))
}

func (e *Engine) finish(cr *canaryRun, v Verdict, reason string) {
	cr.res.Verdict, cr.res.Reason = v, reason
	cr.res.Finished = e.clock.Now()
	e.emit(cr, Event{Type: EventVerdict, Step: cr.res.Steps, Run: cr.res.Runs, Weight: cr.res.Weight, Verdict: v, Reason: reason})
}

// record appends a run's checks to their metrics, emits them, and returns a
// description of the first failed check (nil when all passed).
func (e *Engine) record(cr *canaryRun, checks []Check) fmt.Stringer {
	var first fmt.Stringer
	for i, c := range checks {
		m := cr.metrics[i].res
		m.Checks = append(m.Checks, c)
		if !c.Passed {
			m.Failed++
			if first == nil {
				first = failure{c}
			}
		}
	}
	for i := range checks {
		c := checks[i]
		e.emit(cr, Event{Type: EventCheck, Step: c.Step, Run: c.Run, Weight: c.Weight, Check: &c})
	}
	return first
}

type failure struct{ c Check }

func (f failure) String() string { return f.c.Metric + ": " + f.c.Message }

// staleBound is the default staleness bound for a canary's checks (0: none).
func (e *Engine) staleBound(cr *canaryRun) time.Duration {
	switch {
	case e.maxAge < 0:
		return 0
	case e.maxAge > 0:
		return e.maxAge
	}
	return DefaultMaxAge(cr.plan.Interval)
}

// runChecks runs every check of the canary concurrently.
func (e *Engine) runChecks(ctx context.Context, cr *canaryRun, step, run, weight int) []Check {
	checks := make([]Check, len(cr.metrics))
	bound := e.staleBound(cr)
	var wg sync.WaitGroup
	for i, m := range cr.metrics {
		wg.Add(1)
		go func() {
			defer wg.Done()
			checks[i] = e.runCheck(ctx, m, step, run, weight, bound)
		}()
	}
	wg.Wait()
	return checks
}

// runCheck runs one query and judges it. Every error is a failed check with
// its kind; a value passes only when it is a finite number inside the range
// and, unless the query has its own maxAge=, no older than bound (0: no
// bound).
func (e *Engine) runCheck(ctx context.Context, m *metricRun, step, run, weight int, bound time.Duration) Check {
	min, max := bounds(m.check.Metric)
	c := Check{
		Metric: m.check.Metric.Name,
		Step:   step,
		Run:    run,
		Weight: weight,
		Time:   e.clock.Now(),
		Query:  m.check.Query,
		Min:    min,
		Max:    max,
	}
	if e.strict && len(m.check.Compat) > 0 {
		c.ErrorKind = KindFlaggerCompat
		c.Message = "not run (--flagger-compat=strict): Flagger would differ: " + flagger.JoinCompat(m.check.Compat)
		return c
	}
	res, err := safeQuery(ctx, m.q, m.check.Query)
	if err != nil {
		c.ErrorKind = provider.ErrorKind(err)
		if c.ErrorKind == "" {
			c.ErrorKind = "error"
		}
		c.Message = err.Error()
		if res != nil {
			c.Latency = res.Latency
		}
		return c
	}
	if res == nil {
		c.ErrorKind, c.Message = "error", "provider returned no result and no error"
		return c
	}
	c.Matched, c.Latency = res.Matched, res.Latency
	now := e.clock.Now()
	if newest, age, ok := res.Newest(now); ok {
		c.Newest, c.Age = newest, age
	}
	if bound > 0 && !hasOwnMaxAge(m.check.Query) {
		hint := fmt.Sprintf("default bound of 3 analysis intervals, at least %s; set &maxAge= in the query, or --max-age (0 turns it off)", MinDefaultMaxAge)
		if err := provider.CheckMaxAge(res, bound, now, hint); err != nil {
			c.ErrorKind, c.Message = provider.ErrorKind(err), err.Error()
			return c
		}
	}
	c.HasValue, c.Value = true, res.Value
	c.Passed, c.Message = Judge(res.Value, m.check.Metric)
	if !c.Passed {
		c.ErrorKind = KindOutOfRange
	}
	return c
}

// hasOwnMaxAge reports whether a query sets maxAge= (then the provider has
// applied it and the default bound does not).
func hasOwnMaxAge(q string) bool {
	pq, err := query.Parse(q)
	return err == nil && pq.MaxAge > 0
}

// safeQuery turns a panicking Querier into an error: a check never crashes
// the run and never passes by accident.
func safeQuery(ctx context.Context, q Querier, query string) (res *provider.Result, err error) {
	defer func() {
		if p := recover(); p != nil {
			res, err = nil, fmt.Errorf("query panicked: %v", p)
		}
	}()
	return q.Query(ctx, query)
}

// bounds are the limits a metric is judged against: thresholdRange, else the
// deprecated threshold as a maximum.
func bounds(m *flagger.Metric) (min, max *float64) {
	if tr := m.ThresholdRange; tr != nil {
		return clonef(tr.Min), clonef(tr.Max)
	}
	t := m.Threshold
	return nil, &t
}

func clonef(p *float64) *float64 {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}

// Judge applies Flagger's check to a value: with a thresholdRange it fails
// when value < min or value > max (bounds inclusive); without one, the
// deprecated threshold fails values > threshold. Unlike Flagger, NaN and
// infinite values always fail (Flagger's comparisons would pass NaN). The
// message says why it failed ("" when it passed).
func Judge(v float64, m *flagger.Metric) (passed bool, message string) {
	if math.IsNaN(v) {
		return false, "value is NaN (not a number)"
	}
	if math.IsInf(v, 0) {
		return false, fmt.Sprintf("value %s is not finite", FormatValue(v))
	}
	if tr := m.ThresholdRange; tr != nil {
		if tr.Min != nil && v < *tr.Min {
			return false, fmt.Sprintf("%s < min %s", FormatValue(v), FormatValue(*tr.Min))
		}
		if tr.Max != nil && v > *tr.Max {
			return false, fmt.Sprintf("%s > max %s", FormatValue(v), FormatValue(*tr.Max))
		}
		return true, ""
	}
	if v > m.Threshold {
		return false, fmt.Sprintf("%s > threshold %s (deprecated threshold)", FormatValue(v), FormatValue(m.Threshold))
	}
	return true, ""
}

// FormatValue formats a metric value compactly for people: six significant
// digits, no trailing zeros ("0.42", "812", "1.5e+06"), "NaN", "+Inf",
// "-Inf", and 0 for -0. Check messages and every report use it.
func FormatValue(v float64) string {
	switch {
	case math.IsNaN(v):
		return "NaN"
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	}
	if v == 0 {
		return "0" // also turns -0 into 0
	}
	return strconv.FormatFloat(v, 'g', 6, 64)
}
