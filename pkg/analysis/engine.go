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

	"k8s.io/utils/clock"

	"github.com/extmetrics/extmetrics/pkg/flagger"
	"github.com/extmetrics/extmetrics/pkg/provider"
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
	// Gate runs the canaries' webhooks that call an extmetrics gate
	// (flagger.Resolved.GateChecks) in-process; a canary with such a
	// webhook and no Gate is a configuration error.
	Gate GateChecker
}

// Engine runs canary analyses. It is safe to run several at once.
type Engine struct {
	factory  ProviderFactory
	clock    clock.Clock
	interval time.Duration
	observer Observer
	maxAge   time.Duration
	strict   bool
	gate     GateChecker
	now      func() time.Time // e.clock.Now, bound once
}

// New returns an engine.
func New(opts Options) *Engine {
	e := &Engine{factory: opts.Factory, clock: opts.Clock, interval: opts.Interval, observer: opts.Observer, maxAge: opts.MaxAge,
		strict: opts.FlaggerCompat == FlaggerCompatStrict, gate: opts.Gate}
	if e.clock == nil {
		e.clock = clock.RealClock{}
	}
	e.now = e.clock.Now
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
	check  *flagger.Check
	q      Querier
	res    *MetricResult
	bounds Bounds // MetricBounds(check.Metric), read-only
	stale  Staleness

	hook   *flagger.Webhook // a gate webhook instead of a metric (check and q nil)
	canary *flagger.Canary  // the hook's
}

// preRollout says whether the run is a pre-rollout webhook's.
func (m *metricRun) preRollout() bool {
	return m.hook != nil && m.hook.HookType() == flagger.HookPreRollout
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
		if len(r.Checks) == 0 && len(r.GateChecks) == 0 {
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
			Metrics:    make([]MetricResult, len(r.Checks)+len(r.GateChecks)),
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
			b := MetricBounds(ch.Metric)
			cr.res.Metrics[i] = MetricResult{
				Name:          ch.Metric.Name,
				TemplateRef:   t.Key(),
				Provider:      t.Spec.Provider.Address,
				Query:         ch.Query,
				Interval:      ch.Metric.Interval,
				Min:           b.Min,
				Max:           b.Max,
				Checks:        []Check{},
				FlaggerCompat: flagger.CompatTexts(ch.Compat),
			}
			cr.res.Metrics[i].FlaggerCompatNotes = append([]flagger.CompatNote(nil), ch.Compat...)
			cr.metrics = append(cr.metrics, &metricRun{check: ch, q: q, res: &cr.res.Metrics[i], bounds: b, stale: Staleness{MaxAge: e.maxAge, Interval: plan.Interval}})
		}
		for j, h := range r.GateChecks {
			if e.gate == nil {
				errs = append(errs, &flagger.Error{Source: c.Source, Field: h.Field, Line: h.Line,
					Msg: fmt.Sprintf("webhook %q calls an extmetrics gate, and no gate is configured to run it in-process", h.Name)})
				continue
			}
			if err := e.gate.ValidateWebhook(c, h); err != nil {
				errs = append(errs, &flagger.Error{Source: c.Source, Field: h.Field + ".metadata", Line: h.Line,
					Msg: fmt.Sprintf("webhook %q (%s): %v", h.Name, h.URL, err)})
				continue
			}
			m := &cr.res.Metrics[len(r.Checks)+j]
			*m = MetricResult{Name: GateCheckName(h), Interval: h.Metadata["interval"], Checks: []Check{},
				Webhook: &WebhookRef{Name: h.Name, Type: h.HookType(), URL: h.URL}}
			cr.metrics = append(cr.metrics, &metricRun{hook: h, canary: c, res: m})
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
	if !e.preRollout(ctx, cr) {
		return
	}
	step := 0 // index of the step being analysed
	analysed := cr.analysed()
	for step < len(weights) {
		if !e.wait(ctx, cr.plan.Interval) {
			e.abort(ctx, cr, step)
			return
		}
		run := res.Runs + 1
		checks := e.runChecks(ctx, analysed, step+1, run, weights[step])
		if ctx.Err() != nil {
			// Checks cut short by the interruption say nothing about the canary.
			e.abort(ctx, cr, step)
			return
		}
		res.Runs = run
		res.Weight = weights[step]
		failed := e.record(cr, analysed, checks)
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
	checks := e.runChecks(ctx, cr.metrics, 1, 1, 0)
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
	first := e.record(cr, cr.metrics, checks)
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

// record appends a run's checks to their metrics (ms, in the order
// runChecks ran them), emits them, and returns a description of the first
// failed check (nil when all passed).
func (e *Engine) record(cr *canaryRun, ms []*metricRun, checks []Check) fmt.Stringer {
	var first fmt.Stringer
	for i, c := range checks {
		m := ms[i].res
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

// runChecks runs the checks ms of a canary concurrently (a gate webhook's
// in-process, through the GateChecker).
func (e *Engine) runChecks(ctx context.Context, ms []*metricRun, step, run, weight int) []Check {
	checks := make([]Check, len(ms))
	var wg sync.WaitGroup
	for i, m := range ms {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if m.hook != nil {
				checks[i] = e.runGateCheck(ctx, m, step, run, weight)
				return
			}
			checks[i] = e.runCheck(ctx, m, step, run, weight, m.stale)
		}()
	}
	wg.Wait()
	return checks
}

// runCheck runs one check (RunCheck) and records it as the report's Check;
// with FlaggerCompatStrict a check whose query Flagger treats differently
// fails without running.
func (e *Engine) runCheck(ctx context.Context, m *metricRun, step, run, weight int, stale Staleness) Check {
	b := &m.bounds
	c := Check{
		Metric: m.check.Metric.Name,
		Step:   step,
		Run:    run,
		Weight: weight,
		Time:   e.clock.Now(),
		Query:  m.check.Query,
		Min:    b.Min,
		Max:    b.Max,
	}
	if e.strict && len(m.check.Compat) > 0 {
		c.ErrorKind = KindFlaggerCompat
		c.Message = "not run (--flagger-compat=strict): Flagger would differ: " + flagger.JoinCompat(m.check.Compat)
		return c
	}
	r := RunCheck(ctx, m.q, CheckSpec{Query: m.check.Query, Bounds: b, Staleness: stale, Now: e.now})
	c.Matched, c.Latency, c.Newest, c.Age = r.Matched, r.Latency, r.Newest, r.Age
	c.HasValue, c.Value = r.HasValue, r.Value
	c.Passed, c.ErrorKind, c.Message = r.Passed(), r.ErrorKind, r.Message
	return c
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
