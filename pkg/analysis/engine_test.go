package analysis

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	testingclock "k8s.io/utils/clock/testing"

	"github.com/extmetrics/extmetrics/pkg/flagger"
	"github.com/extmetrics/extmetrics/pkg/provider"
)

// Unit tests with a fake Querier and a fake clock; the same semantics are
// proven against the real devserver in devserver_test.go.

const tmpl = `apiVersion: flagger.app/v1beta1
kind: MetricTemplate
metadata: {name: %[1]s, namespace: ns}
spec:
  provider: {type: externalmetrics, address: "https://metrics.test"}
  query: "{{ namespace }}/%[1]s?labelSelector=app={{ target }}"
---
`

// canaryYAML is a canary named name with analysis (indented YAML lines) and
// one metric per entry of metrics ("name:max").
func canaryYAML(name, analysis string, metrics ...string) string {
	var b strings.Builder
	for _, m := range metrics {
		n, _, _ := strings.Cut(m, ":")
		fmt.Fprintf(&b, tmpl, n)
	}
	fmt.Fprintf(&b, "apiVersion: flagger.app/v1beta1\nkind: Canary\nmetadata: {name: %s, namespace: ns}\nspec:\n  targetRef: {name: %s}\n  analysis:\n%s\n    metrics:\n", name, name, analysis)
	for _, m := range metrics {
		n, max, _ := strings.Cut(m, ":")
		fmt.Fprintf(&b, "      - name: %s\n        templateRef: {name: %s}\n        thresholdRange: {max: %s}\n", n, n, max)
	}
	return b.String()
}

func resolve(t testing.TB, docs ...string) []*flagger.Resolved {
	t.Helper()
	set := flagger.NewSet(flagger.Options{})
	for i, d := range docs {
		set.Parse(fmt.Sprintf("c%d.yaml", i), []byte(d))
	}
	if err := set.Err(); err != nil {
		t.Fatal(err)
	}
	r, err := set.Resolve()
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// fakeQuerier answers with fn(query, call number starting at 1).
type fakeQuerier struct {
	mu    sync.Mutex
	calls map[string]int
	fn    func(q string, call int) (float64, error)
}

func (f *fakeQuerier) Query(ctx context.Context, q string) (*provider.Result, error) {
	f.mu.Lock()
	if f.calls == nil {
		f.calls = map[string]int{}
	}
	f.calls[q]++
	n := f.calls[q]
	f.mu.Unlock()
	v, err := f.fn(q, n)
	if err != nil {
		return nil, err
	}
	return &provider.Result{Query: q, Value: v, Matched: 1, Latency: time.Millisecond}, nil
}

func factoryOf(q Querier) ProviderFactory {
	return func(provider.Spec) (Querier, error) { return q, nil }
}

// events records every event.
type events struct {
	mu  sync.Mutex
	all []Event
}

func (e *events) Observe(ev Event) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.all = append(e.all, ev)
}

func (e *events) of(canary string, typ EventType) []Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []Event
	for _, ev := range e.all {
		if ev.Canary == canary && ev.Type == typ {
			out = append(out, ev)
		}
	}
	return out
}

// autoStep advances the fake clock by d whenever the engine waits on it.
func autoStep(t *testing.T, fc *testingclock.FakeClock, d time.Duration) {
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		for {
			select {
			case <-done:
				return
			default:
			}
			if fc.HasWaiters() {
				fc.Step(d)
			} else {
				time.Sleep(50 * time.Microsecond)
			}
		}
	}()
	t.Cleanup(func() { close(done); <-stopped })
}

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func runEngine(t *testing.T, q Querier, obs Observer, canaries []*flagger.Resolved) *Report {
	t.Helper()
	fc := testingclock.NewFakeClock(t0)
	autoStep(t, fc, 30*time.Second)
	e := New(Options{Factory: factoryOf(q), Clock: fc, Observer: obs})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rep, err := e.Run(ctx, canaries)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func steps(checks []Check) (s, r, w []int) {
	for _, c := range checks {
		s, r, w = append(s, c.Step), append(r, c.Run), append(w, c.Weight)
	}
	return
}

func TestRunHealthy(t *testing.T) {
	r := resolve(t, canaryYAML("app", "    interval: 30s\n    stepWeight: 10\n    maxWeight: 50", "errors:5", "latency:500"))
	q := &fakeQuerier{fn: func(q string, n int) (float64, error) { return 1, nil }}
	var ev events
	rep := runEngine(t, q, &ev, r)
	c := rep.Canaries[0]
	if c.Verdict != Succeeded || c.Steps != 5 || c.TotalSteps != 5 || c.Runs != 5 || c.FailedChecks != 0 || c.Weight != 50 {
		t.Fatalf("result %+v", c)
	}
	if !strings.Contains(c.Reason, "all 5 steps passed") || c.Strategy != StrategyCanary || c.Threshold != 1 || c.Interval != 30*time.Second {
		t.Errorf("result %+v", c)
	}
	if len(c.Metrics) != 2 || c.Metrics[0].Query != "ns/errors?labelSelector=app=app" || c.Metrics[0].TemplateRef != "ns/errors" || c.Metrics[0].Provider != "https://metrics.test" {
		t.Fatalf("metrics %+v", c.Metrics)
	}
	for _, m := range c.Metrics {
		s, runs, w := steps(m.Checks)
		if fmt.Sprint(s, runs, w) != "[1 2 3 4 5] [1 2 3 4 5] [10 20 30 40 50]" {
			t.Errorf("%s: steps %v runs %v weights %v", m.Name, s, runs, w)
		}
		for i, ch := range m.Checks {
			// Flagger's first tick only shifts traffic: the first run comes one interval after the start.
			if want := t0.Add(time.Duration(i+1) * 30 * time.Second); !ch.Time.Equal(want) {
				t.Errorf("check %d at %v, want %v", i, ch.Time, want)
			}
			if !ch.Passed || !ch.HasValue || ch.Value != 1 || ch.ErrorKind != "" || ch.Message != "" || ch.Matched != 1 {
				t.Errorf("check %+v", ch)
			}
		}
	}
	if !c.Started.Equal(t0) || !c.Finished.Equal(t0.Add(150*time.Second)) {
		t.Errorf("started %v finished %v", c.Started, c.Finished)
	}
	if n := len(ev.of("ns/app", EventCheck)); n != 10 {
		t.Errorf("%d check events", n)
	}
	st := ev.of("ns/app", EventStep)
	if len(st) != 5 || !st[4].Advanced || st[4].Step != 5 || st[4].Weight != 50 {
		t.Errorf("step events %+v", st)
	}
	if v := ev.of("ns/app", EventVerdict); len(v) != 1 || v[0].Verdict != Succeeded {
		t.Errorf("verdict events %+v", v)
	}
	if s := ev.of("ns/app", EventStarted); len(s) != 1 || s[0].Weight != 10 || s[0].TotalSteps != 5 {
		t.Errorf("started events %+v", s)
	}
}

// A failed run adds one failed check and repeats the same step; below the
// threshold the canary still succeeds.
func TestRunFailedChecksDoNotAdvance(t *testing.T) {
	r := resolve(t, canaryYAML("app", "    stepWeight: 25\n    threshold: 3", "errors:5", "latency:500"))
	q := &fakeQuerier{fn: func(q string, n int) (float64, error) {
		if n == 2 || n == 4 { // both metrics fail in run 2 (still one failed check); errors alone in run 4
			if strings.Contains(q, "latency") && n == 4 {
				return 1, nil
			}
			return 1000, nil
		}
		return 1, nil
	}}
	rep := runEngine(t, q, nil, r)
	c := rep.Canaries[0]
	if c.Verdict != Succeeded || c.FailedChecks != 2 || c.Runs != 6 || c.Steps != 4 || c.TotalSteps != 4 {
		t.Fatalf("result %+v", c)
	}
	s, runs, w := steps(c.Metrics[0].Checks)
	if fmt.Sprint(s, runs, w) != "[1 2 2 3 3 4] [1 2 3 4 5 6] [25 50 50 75 75 100]" {
		t.Errorf("steps %v runs %v weights %v", s, runs, w)
	}
	if c.Metrics[0].Failed != 2 || c.Metrics[1].Failed != 1 {
		t.Errorf("failed per metric %d %d", c.Metrics[0].Failed, c.Metrics[1].Failed)
	}
	bad := c.Metrics[0].Checks[1]
	if bad.Passed || bad.ErrorKind != KindOutOfRange || bad.Message != "1000 > max 5" || bad.Max == nil || *bad.Max != 5 {
		t.Errorf("failed check %+v", bad)
	}
}

func TestRunThresholdReached(t *testing.T) {
	r := resolve(t, canaryYAML("app", "    stepWeight: 10\n    threshold: 2", "errors:5"))
	q := &fakeQuerier{fn: func(string, int) (float64, error) { return 7.5, nil }}
	var ev events
	rep := runEngine(t, q, &ev, r)
	c := rep.Canaries[0]
	if c.Verdict != Failed || c.FailedChecks != 2 || c.Runs != 2 || c.Steps != 0 || c.Weight != 10 {
		t.Fatalf("result %+v", c)
	}
	if !strings.Contains(c.Reason, "failed checks threshold reached (2/2) at step 1/10 (weight 10); last failure: errors: 7.5 > max 5") {
		t.Errorf("reason %q", c.Reason)
	}
	st := ev.of("ns/app", EventStep)
	if len(st) != 2 || st[0].Advanced || st[1].FailedChecks != 2 {
		t.Errorf("step events %+v", st)
	}
}

// Every query error is a failed check with its kind, never a pass.
func TestRunQueryErrorsFailClosed(t *testing.T) {
	for _, sentinel := range []error{provider.ErrNoValuesFound, provider.ErrNotFound, provider.ErrStale, provider.ErrUnauthorized,
		provider.ErrForbidden, provider.ErrUnavailable, provider.ErrInvalidQuery, errors.New("something else")} {
		t.Run(sentinel.Error(), func(t *testing.T) {
			r := resolve(t, canaryYAML("app", "    stepWeight: 50\n    threshold: 1", "errors:5"))
			q := &fakeQuerier{fn: func(string, int) (float64, error) { return 0, fmt.Errorf("query: %w", sentinel) }}
			c := runEngine(t, q, nil, r).Canaries[0]
			ch := c.Metrics[0].Checks
			if c.Verdict != Failed || len(ch) != 1 || ch[0].Passed || ch[0].HasValue {
				t.Fatalf("result %+v", c)
			}
			if want := provider.ErrorKind(sentinel); ch[0].ErrorKind != want || !strings.Contains(ch[0].Message, sentinel.Error()) {
				t.Errorf("kind %q (want %q), message %q", ch[0].ErrorKind, want, ch[0].Message)
			}
		})
	}
}

type panicQuerier struct{}

func (panicQuerier) Query(context.Context, string) (*provider.Result, error) { panic("boom") }

type nilQuerier struct{}

func (nilQuerier) Query(context.Context, string) (*provider.Result, error) { return nil, nil }

func TestRunBrokenQueriersFail(t *testing.T) {
	for _, q := range []Querier{panicQuerier{}, nilQuerier{}} {
		r := resolve(t, canaryYAML("app", "    stepWeight: 50", "errors:5"))
		c := runEngine(t, q, nil, r).Canaries[0]
		if c.Verdict != Failed || c.Metrics[0].Checks[0].Passed || c.Metrics[0].Checks[0].ErrorKind != "error" {
			t.Errorf("%T: %+v", q, c)
		}
	}
}

func TestRunIterations(t *testing.T) {
	ab := canaryYAML("ab", "    iterations: 3\n    match:\n      - headers: {x-canary: {exact: insider}}", "errors:5")
	bg := canaryYAML("bg", "    iterations: 3", "latency:5")
	q := &fakeQuerier{fn: func(string, int) (float64, error) { return 0, nil }}
	rep := runEngine(t, q, nil, resolve(t, ab, bg))
	a, b := rep.Canaries[0], rep.Canaries[1]
	if a.Name != "ab" || a.Verdict != Succeeded || a.Runs != 3 || a.Mode != ModeAB || a.Strategy != StrategyIterations || a.Weight != 0 {
		t.Errorf("A/B %+v", a)
	}
	if b.Name != "bg" || b.Verdict != Succeeded || b.Runs != 4 || b.Mode != ModeBlueGreen {
		t.Errorf("blue/green %+v", b)
	}
}

// Two canaries run concurrently, each to its own verdict.
func TestRunSeveralCanaries(t *testing.T) {
	good := canaryYAML("good", "    stepWeight: 20", "ok:5")
	bad := canaryYAML("bad", "    stepWeight: 20\n    threshold: 3", "ko:5")
	q := &fakeQuerier{fn: func(q string, n int) (float64, error) {
		if strings.Contains(q, "/ko") {
			return 9, nil
		}
		return 1, nil
	}}
	rep := runEngine(t, q, nil, resolve(t, good, bad))
	if len(rep.Canaries) != 2 || rep.Canaries[0].Verdict != Succeeded || rep.Canaries[1].Verdict != Failed || rep.Canaries[1].Runs != 3 {
		t.Fatalf("%+v", rep.Canaries)
	}
}

// Cancelling the context aborts with the runs completed so far.
func TestRunAborted(t *testing.T) {
	r := resolve(t, canaryYAML("app", "    stepWeight: 10", "errors:5"))
	fc := testingclock.NewFakeClock(t0)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	q := &fakeQuerier{fn: func(_ string, n int) (float64, error) {
		if n == 3 {
			cancel() // Ctrl-C while the third run is in flight
		}
		return 1, nil
	}}
	autoStep(t, fc, time.Minute)
	rep, err := New(Options{Factory: factoryOf(q), Clock: fc}).Run(ctx, r)
	if err != nil {
		t.Fatal(err)
	}
	c := rep.Canaries[0]
	if c.Verdict != Aborted || c.Runs != 2 || c.Steps != 2 || len(c.Metrics[0].Checks) != 2 {
		t.Fatalf("result %+v", c)
	}
	if !strings.Contains(c.Reason, "interrupted after 2 of 10 steps (2 runs): context canceled") {
		t.Errorf("reason %q", c.Reason)
	}

	// Cancelled while waiting for the next interval.
	ctx2, cancel2 := context.WithCancel(context.Background())
	fc2 := testingclock.NewFakeClock(t0)
	done := make(chan *Report)
	go func() {
		rep, _ := New(Options{Factory: factoryOf(q), Clock: fc2}).Run(ctx2, r)
		done <- rep
	}()
	for !fc2.HasWaiters() {
		time.Sleep(time.Millisecond)
	}
	cancel2()
	select {
	case rep := <-done:
		if c := rep.Canaries[0]; c.Verdict != Aborted || c.Runs != 0 {
			t.Fatalf("result %+v", c)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}

func TestOnce(t *testing.T) {
	r := resolve(t, canaryYAML("app", "    stepWeight: 10", "errors:5", "latency:500", "saturation:1"))
	q := &fakeQuerier{fn: func(q string, _ int) (float64, error) {
		switch {
		case strings.Contains(q, "latency"):
			return 600, nil
		case strings.Contains(q, "saturation"):
			return 0, fmt.Errorf("no items: %w", provider.ErrNoValuesFound)
		}
		return 1, nil
	}}
	rep, err := New(Options{Factory: factoryOf(q)}).Once(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	c := rep.Canaries[0]
	if c.Verdict != Failed || c.Mode != ModeOnce || c.Runs != 1 || c.TotalSteps != 1 || len(c.Metrics) != 3 {
		t.Fatalf("result %+v", c)
	}
	if !strings.Contains(c.Reason, "2 of 3 checks failed") {
		t.Errorf("reason %q", c.Reason)
	}
	if m := c.Metrics; !m[0].Checks[0].Passed || m[1].Checks[0].ErrorKind != KindOutOfRange || m[2].Checks[0].ErrorKind != "no-values" {
		t.Errorf("checks %+v", m)
	}
}

func TestRunConfigErrors(t *testing.T) {
	r := resolve(t, canaryYAML("app", "    stepWeights: [10, 5, 50]", "errors:5"))
	_, err := New(Options{Factory: factoryOf(&fakeQuerier{})}).Run(context.Background(), r)
	if err == nil || !strings.Contains(err.Error(), "c0.yaml: document 2: spec.analysis.stepWeights: must be strictly increasing") {
		t.Fatalf("got %v", err)
	}
	r = resolve(t, canaryYAML("app", "    stepWeight: 10", "errors:5"))
	_, err = New(Options{Factory: func(provider.Spec) (Querier, error) { return nil, errors.New("bad CA") }}).Run(context.Background(), r)
	if err == nil || !strings.Contains(err.Error(), "c0.yaml: document 1: spec.provider: MetricTemplate ns/errors: bad CA") {
		t.Fatalf("got %v", err)
	}
	if _, err := New(Options{}).Run(context.Background(), r); err == nil {
		t.Fatal("no error without a factory")
	}
}

// BenchmarkOnce measures the engine's own cost per run of 10 checks (fake
// querier: no network).
func BenchmarkOnce(b *testing.B) {
	var metrics []string
	for i := range 10 {
		metrics = append(metrics, fmt.Sprintf("m%d:5", i))
	}
	r := resolve(b, canaryYAML("app", "    stepWeight: 10", metrics...))
	e := New(Options{Factory: factoryOf(&fakeQuerier{fn: func(string, int) (float64, error) { return 1, nil }})})
	for b.Loop() {
		rep, err := e.Once(context.Background(), r)
		if err != nil || rep.Canaries[0].Verdict != Succeeded {
			b.Fatal(err)
		}
	}
}
