package analysis

import (
	"context"
	"fmt"
	"time"

	"github.com/extmetrics/extmetrics/pkg/flagger"
)

// GateChecker runs a canary's webhooks that call an extmetrics gate
// (flagger.Webhook.IsGateCheck) in-process, with the gate's semantics:
// *gate.Gate implements it (the same code path as the gate's Flagger
// endpoint), so analyze previews and lints Canaries that use the gate.
type GateChecker interface {
	// ValidateWebhook says what is wrong with the webhook before any query
	// runs (its metadata, a named provider the gate does not have); nil
	// when it can run.
	ValidateWebhook(c *flagger.Canary, w *flagger.Webhook) error
	// CheckWebhook answers the webhook as the gate answers Flagger's call.
	CheckWebhook(ctx context.Context, c *flagger.Canary, w *flagger.Webhook) GateCheck
}

// GateCheck is the gate's answer to one webhook call.
type GateCheck struct {
	Passed   bool   // the gate answered 2xx: Flagger counts it as passed
	Status   int    // the HTTP status the gate answers
	Message  string // the one-line reason Flagger records on a failure ("" on a pass)
	Template string // the MetricTemplate (namespace/name), or
	Provider string // the named provider

	Query, BaselineQuery   string // rendered
	HasValue               bool
	Value                  float64
	Baseline, Ratio, Delta *float64
	Bounds                 Bounds
	Matched                int
	Latency                time.Duration
	Newest                 time.Time
	Age                    time.Duration
	ErrorKind              string
}

// GateCheckName is the report's name of a gate webhook's check:
// "webhook/<name>".
func GateCheckName(w *flagger.Webhook) string { return "webhook/" + w.Name }

// analysed are the checks of every analysis run: the metrics and the
// rollout webhooks (Flagger's runAnalysis).
func (cr *canaryRun) analysed() []*metricRun {
	out := make([]*metricRun, 0, len(cr.metrics))
	for _, m := range cr.metrics {
		if !m.preRollout() {
			out = append(out, m)
		}
	}
	return out
}

// preRollout runs the pre-rollout webhooks as Flagger does on the first
// tick, before any traffic reaches the canary: all pass, and the analysis
// starts (true); any fails, and the tick counts one failed check and is
// retried one interval later, until the failed checks reach the threshold
// (the canary is Failed: false) or ctx ends (Aborted: false).
func (e *Engine) preRollout(ctx context.Context, cr *canaryRun) bool {
	var hooks []*metricRun
	for _, m := range cr.metrics {
		if m.preRollout() {
			hooks = append(hooks, m)
		}
	}
	if len(hooks) == 0 {
		return true
	}
	res := cr.res
	for attempt := 0; ; attempt++ {
		if attempt > 0 && !e.wait(ctx, cr.plan.Interval) {
			e.abort(ctx, cr, 0)
			return false
		}
		checks := e.runChecks(ctx, hooks, 0, 0, 0)
		if ctx.Err() != nil {
			e.abort(ctx, cr, 0)
			return false
		}
		failed := e.record(cr, hooks, checks)
		if failed == nil {
			return true
		}
		res.FailedChecks++
		e.emit(cr, Event{Type: EventStep})
		if res.FailedChecks >= res.Threshold {
			e.finish(cr, Failed, fmt.Sprintf("failed checks threshold reached (%d/%d) before the analysis started (pre-rollout webhooks); last failure: %s",
				res.FailedChecks, res.Threshold, failed))
			return false
		}
	}
}

// runGateCheck runs one gate webhook's check in-process (GateChecker) and
// records it as the report's Check; the MetricResult takes the check's
// query, template or provider and bounds (each metricRun is written by one
// goroutine at a time, and read after the run).
func (e *Engine) runGateCheck(ctx context.Context, m *metricRun, step, run, weight int) Check {
	c := Check{Metric: m.res.Name, Step: step, Run: run, Weight: weight, Time: e.clock.Now()}
	if m.preRollout() {
		c.Phase = flagger.HookPreRollout
	}
	g := e.gate.CheckWebhook(ctx, m.canary, m.hook)
	c.Query, c.BaselineQuery = g.Query, g.BaselineQuery
	c.HasValue, c.Value = g.HasValue, g.Value
	c.Baseline, c.Ratio, c.Delta = g.Baseline, g.Ratio, g.Delta
	c.Min, c.Max = g.Bounds.Min, g.Bounds.Max
	c.Passed, c.ErrorKind, c.Message = g.Passed, g.ErrorKind, g.Message
	c.Matched, c.Latency, c.Newest, c.Age = g.Matched, g.Latency, g.Newest, g.Age
	r := m.res
	r.TemplateRef, r.Provider = g.Template, g.Provider
	if g.Query != "" {
		r.Query = g.Query
	}
	if g.BaselineQuery != "" {
		r.BaselineQuery = g.BaselineQuery
	}
	b := g.Bounds
	if b.Min != nil || b.Max != nil || b.Relative() {
		r.Min, r.Max, r.MinRatio, r.MaxRatio, r.MinDelta, r.MaxDelta = b.Min, b.Max, b.MinRatio, b.MaxRatio, b.MinDelta, b.MaxDelta
	}
	return c
}
