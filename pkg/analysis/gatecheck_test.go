package analysis

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	testingclock "k8s.io/utils/clock/testing"

	"github.com/extmetrics/extmetrics/pkg/flagger"
)

// Flagger's webhook semantics for gate webhooks, with a fake GateChecker
// (the real gate in-process is proven in pkg/cmd/analyze against the
// devserver).

type fakeGate struct {
	mu      sync.Mutex
	calls   map[string]int
	pass    func(hook string, call int) bool
	invalid error
}

func (f *fakeGate) ValidateWebhook(*flagger.Canary, *flagger.Webhook) error { return f.invalid }

func (f *fakeGate) CheckWebhook(_ context.Context, _ *flagger.Canary, w *flagger.Webhook) GateCheck {
	f.mu.Lock()
	if f.calls == nil {
		f.calls = map[string]int{}
	}
	f.calls[w.Name]++
	n := f.calls[w.Name]
	f.mu.Unlock()
	if f.pass(w.Name, n) {
		return GateCheck{Passed: true, Status: 200, HasValue: true, Value: 1, Query: "q"}
	}
	return GateCheck{Status: 422, HasValue: true, Value: 9, ErrorKind: KindOutOfRange, Message: "extmetrics gate: value 9 outside max 1"}
}

func gateCanary(analysis string) string {
	return canaryYAML("app", analysis+`
    webhooks:
      - {name: pre, type: pre-rollout, url: "http://gate/flagger/v1/check", metadata: {templateRef: t, max: "1"}}
      - {name: roll, url: "http://gate/flagger/v1/check", metadata: {templateRef: t, max: "1"}}
      - {name: other, type: confirm-rollout, url: "http://gate/flagger/v1/check"}
      - {name: load, url: "http://loadtester/"}`, "errors:5")
}

func runGate(t *testing.T, g GateChecker, r []*flagger.Resolved, once bool) (*Report, error) {
	t.Helper()
	fc := testingclock.NewFakeClock(t0)
	autoStep(t, fc, 30*time.Second)
	e := New(Options{Factory: factoryOf(&fakeQuerier{fn: func(string, int) (float64, error) { return 1, nil }}), Clock: fc, Gate: g})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if once {
		return e.Once(ctx, r)
	}
	return e.Run(ctx, r)
}

func TestGateWebhooksFlaggerSemantics(t *testing.T) {
	r := resolve(t, gateCanary("    stepWeight: 50\n    threshold: 3"))
	if len(r[0].GateChecks) != 2 {
		t.Fatalf("gate checks %+v", r[0].GateChecks)
	}
	// The pre-rollout webhook fails once: one failed check, retried an
	// interval later; then the analysis runs metric and rollout webhook
	// together, and a failing rollout webhook fails the run.
	g := &fakeGate{pass: func(h string, n int) bool { return !(h == "pre" && n == 1) && !(h == "roll" && n == 2) }}
	rep, err := runGate(t, g, r, false)
	if err != nil {
		t.Fatal(err)
	}
	c := rep.Canaries[0]
	if c.Verdict != Succeeded || c.FailedChecks != 2 || c.Runs != 3 || len(c.Metrics) != 3 {
		t.Fatalf("%+v", c)
	}
	pre, roll := c.Metrics[1], c.Metrics[2]
	if pre.Name != "webhook/pre" || len(pre.Checks) != 2 || pre.Checks[0].Passed || !pre.Checks[1].Passed || pre.Checks[0].Phase != "pre-rollout" ||
		pre.Checks[0].Run != 0 || pre.Webhook.Type != "pre-rollout" {
		t.Errorf("pre-rollout %+v", pre)
	}
	if roll.Name != "webhook/roll" || len(roll.Checks) != 3 || roll.Checks[1].Passed || roll.Checks[1].Run != 2 || roll.Webhook.Type != "rollout" ||
		roll.Checks[1].Message != "extmetrics gate: value 9 outside max 1" {
		t.Errorf("rollout %+v", roll)
	}
	if !pre.Checks[1].Time.After(pre.Checks[0].Time) {
		t.Errorf("the pre-rollout retry must wait an interval: %v %v", pre.Checks[0].Time, pre.Checks[1].Time)
	}

	// Reaching the threshold before the analysis fails the canary.
	g = &fakeGate{pass: func(h string, _ int) bool { return h != "pre" }}
	rep, _ = runGate(t, g, resolve(t, gateCanary("    stepWeight: 50\n    threshold: 2")), false)
	if c := rep.Canaries[0]; c.Verdict != Failed || c.Runs != 0 || c.FailedChecks != 2 ||
		!strings.Contains(c.Reason, "(2/2) before the analysis started (pre-rollout webhooks); last failure: webhook/pre: extmetrics gate: value 9 outside max 1") {
		t.Errorf("%+v", c)
	}

	// --once runs every check, the pre-rollout webhook's too.
	g = &fakeGate{pass: func(h string, _ int) bool { return h != "roll" }}
	rep, _ = runGate(t, g, resolve(t, gateCanary("    stepWeight: 50")), true)
	if c := rep.Canaries[0]; c.Verdict != Failed || len(c.Metrics[1].Checks) != 1 || len(c.Metrics[2].Checks) != 1 {
		t.Errorf("once %+v", c)
	}

	// An invalid webhook, or none to run it, is a configuration error.
	if _, err := runGate(t, &fakeGate{invalid: errors.New("bad metadata")}, r, true); err == nil ||
		!strings.Contains(err.Error(), `spec.analysis.webhooks[0].metadata: webhook "pre" (http://gate/flagger/v1/check): bad metadata`) {
		t.Errorf("invalid: %v", err)
	}
	if _, err := runGate(t, nil, r, true); err == nil || !strings.Contains(err.Error(), "no gate is configured") {
		t.Errorf("no gate: %v", err)
	}
}
