package analysis

import (
	"context"

	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/extmetrics/extmetrics/pkg/provider"
)

// sideQuerier answers each query from a table: a value with a timestamp
// age old, or an error. It records the queries it ran and how many ran at
// once.
type sideQuerier struct {
	now     time.Time
	answers map[string]sideAnswer
	mu      sync.Mutex
	ran     []string
	active  atomic.Int32
	maxConc atomic.Int32
	hold    time.Duration
}

type sideAnswer struct {
	v   float64
	age time.Duration
	err error
}

func (s *sideQuerier) Query(ctx context.Context, q string) (*provider.Result, error) {
	n := s.active.Add(1)
	defer s.active.Add(-1)
	for {
		m := s.maxConc.Load()
		if n <= m || s.maxConc.CompareAndSwap(m, n) {
			break
		}
	}
	s.mu.Lock()
	s.ran = append(s.ran, q)
	s.mu.Unlock()
	time.Sleep(s.hold)
	a, ok := s.answers[q]
	if !ok {
		return nil, &provider.Error{Kind: provider.ErrNotFound, Op: "query", Query: q, Message: "no such metric"}
	}
	if a.err != nil {
		return nil, a.err
	}
	return &provider.Result{Query: q, Value: a.v, Matched: 1, Items: []provider.Item{{MetricName: "m", Timestamp: s.now.Add(-a.age), Value: a.v}}}, nil
}

func f(v float64) *float64 { return &v }

func TestRelativeCheck(t *testing.T) {
	now := time.Date(2026, 12, 6, 21, 0, 0, 0, time.UTC)
	const canary, baseline = "ns/error_rate?labelSelector=app=web-canary", "ns/error_rate?labelSelector=app=web-primary"
	q := func(c, b sideAnswer) *sideQuerier {
		return &sideQuerier{now: now, hold: 20 * time.Millisecond, answers: map[string]sideAnswer{canary: c, baseline: b}}
	}
	noValues := &provider.Error{Kind: provider.ErrNoValuesFound, Op: "query", Query: baseline, Message: "no items"}
	ambiguous := &provider.Error{Kind: provider.ErrAmbiguous, Op: "query", Query: baseline, Message: "2 items matched"}
	tests := []struct {
		name    string
		q       *sideQuerier
		bounds  *Bounds
		verdict CheckVerdict
		kind    string
		msg     string // substring
		ratio   *float64
		delta   *float64
	}{
		{"1.5x fails maxRatio 1.2", q(sideAnswer{v: 1.5}, sideAnswer{v: 1}), &Bounds{MaxRatio: f(1.2)}, VerdictFail, KindOutOfRange,
			"ratio 1.5 > maxRatio 1.2 (canary 1.5, baseline 1)", f(1.5), f(0.5)},
		{"1.5x passes maxRatio 2", q(sideAnswer{v: 1.5}, sideAnswer{v: 1}), &Bounds{MaxRatio: f(2)}, VerdictPass, "", "", f(1.5), f(0.5)},
		{"ratio bound is inclusive", q(sideAnswer{v: 3}, sideAnswer{v: 2}), &Bounds{MinRatio: f(1.5), MaxRatio: f(1.5)}, VerdictPass, "", "", f(1.5), f(1)},
		{"minRatio", q(sideAnswer{v: 50}, sideAnswer{v: 100}), &Bounds{MinRatio: f(0.8)}, VerdictFail, KindOutOfRange, "ratio 0.5 < minRatio 0.8", f(0.5), f(-50)},
		{"maxDelta", q(sideAnswer{v: 2}, sideAnswer{v: 1}), &Bounds{MaxDelta: f(0.5)}, VerdictFail, KindOutOfRange, "delta 1 > maxDelta 0.5 (canary 2, baseline 1)", f(2), f(1)},
		{"delta bound is inclusive", q(sideAnswer{v: 1.5}, sideAnswer{v: 1}), &Bounds{MaxDelta: f(0.5), MinDelta: f(0.5)}, VerdictPass, "", "", f(1.5), f(0.5)},
		{"minDelta", q(sideAnswer{v: 80}, sideAnswer{v: 100}), &Bounds{MinDelta: f(-10)}, VerdictFail, KindOutOfRange, "delta -20 < minDelta -10", f(0.8), f(-20)},
		{"absolute max also holds", q(sideAnswer{v: 1.5}, sideAnswer{v: 1}), &Bounds{Max: f(1), MaxRatio: f(2)}, VerdictFail, KindOutOfRange, "1.5 > max 1 (canary 1.5, baseline 1)", f(1.5), f(0.5)},
		{"every failed bound is said", q(sideAnswer{v: 3}, sideAnswer{v: 1}), &Bounds{Max: f(1), MaxRatio: f(2), MaxDelta: f(1)}, VerdictFail, KindOutOfRange,
			"3 > max 1; ratio 3 > maxRatio 2; delta 2 > maxDelta 1 (canary 3, baseline 1)", f(3), f(2)},
		{"zero baseline fails a ratio bound", q(sideAnswer{v: 0.1}, sideAnswer{v: 0}), &Bounds{MaxRatio: f(1.2)}, VerdictFail, KindOutOfRange,
			"ratio undefined: baseline 0 is not > 0, so maxRatio 1.2 cannot be judged", nil, f(0.1)},
		{"zero baseline, zero canary still fails a ratio bound", q(sideAnswer{v: 0}, sideAnswer{v: 0}), &Bounds{MaxRatio: f(1.2)}, VerdictFail, KindOutOfRange,
			"ratio undefined", nil, f(0)},
		{"zero baseline passes with maxDelta", q(sideAnswer{v: 0.1}, sideAnswer{v: 0}), &Bounds{MaxRatio: f(1.2), MaxDelta: f(0.5)}, VerdictPass, "", "", nil, f(0.1)},
		{"zero baseline, the delta decides a fail", q(sideAnswer{v: 1}, sideAnswer{v: 0}), &Bounds{MaxRatio: f(1.2), MaxDelta: f(0.5)}, VerdictFail, KindOutOfRange,
			"delta 1 > maxDelta 0.5; ratio undefined (baseline 0), maxRatio 1.2 skipped: the delta decides", nil, f(1)},
		{"negative baseline: ratio undefined", q(sideAnswer{v: -1}, sideAnswer{v: -2}), &Bounds{MaxRatio: f(1.2)}, VerdictFail, KindOutOfRange, "baseline -2 is not > 0", nil, f(1)},
		{"with a defined ratio both hold", q(sideAnswer{v: 1.1}, sideAnswer{v: 1}), &Bounds{MaxRatio: f(1.2), MaxDelta: f(0.05)}, VerdictFail, KindOutOfRange, "delta 0.1", f(1.1), nil},
		{"no bounds: measured with ratio and delta", q(sideAnswer{v: 1.5}, sideAnswer{v: 1}), nil, VerdictMeasured, "", "", f(1.5), f(0.5)},
		{"no bounds, zero baseline: ratio nil", q(sideAnswer{v: 1.5}, sideAnswer{v: 0}), nil, VerdictMeasured, "", "", nil, f(1.5)},

		{"stale baseline fails closed", q(sideAnswer{v: 1}, sideAnswer{v: 1, age: time.Hour}), &Bounds{MaxRatio: f(2)}, VerdictError, "stale", "baseline: ", nil, nil},
		{"stale canary fails closed", q(sideAnswer{v: 1, age: time.Hour}, sideAnswer{v: 1}), &Bounds{MaxRatio: f(2)}, VerdictError, "stale", "canary: ", nil, nil},
		{"missing baseline fails closed", &sideQuerier{now: now, answers: map[string]sideAnswer{canary: {v: 1}}}, &Bounds{MaxRatio: f(2)}, VerdictError, "not-found", "baseline: ", nil, nil},
		{"baseline without values", q(sideAnswer{v: 1}, sideAnswer{err: noValues}), &Bounds{MaxDelta: f(2)}, VerdictError, "no-values", "baseline: ", nil, nil},
		{"ambiguous baseline", q(sideAnswer{v: 1}, sideAnswer{err: ambiguous}), &Bounds{MaxDelta: f(2)}, VerdictError, "ambiguous", "baseline: ", nil, nil},
		{"both sides fail: both said, the canary's kind", &sideQuerier{now: now, answers: map[string]sideAnswer{}}, &Bounds{MaxDelta: f(2)}, VerdictError, "not-found", "; baseline: ", nil, nil},
		{"stale baseline with no bounds is an error too", q(sideAnswer{v: 1}, sideAnswer{v: 1, age: time.Hour}), nil, VerdictError, "stale", "baseline: ", nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := RunCheck(context.Background(), tt.q, CheckSpec{Query: canary, Baseline: baseline, Bounds: tt.bounds,
				Staleness: Staleness{Interval: time.Minute}, Now: func() time.Time { return now }})
			if c.Verdict != tt.verdict || c.ErrorKind != tt.kind || !strings.Contains(c.Message, tt.msg) {
				t.Fatalf("verdict %s kind %q message %q; want %s %q containing %q", c.Verdict, c.ErrorKind, c.Message, tt.verdict, tt.kind, tt.msg)
			}
			if tt.verdict == VerdictPass && c.Message != "" {
				t.Errorf("a pass has a message: %q", c.Message)
			}
			if !sameFloat(c.Ratio, tt.ratio) || (tt.delta != nil && !sameFloat(c.Delta, tt.delta)) {
				t.Errorf("ratio %v delta %v, want %v %v", deref(c.Ratio), deref(c.Delta), deref(tt.ratio), deref(tt.delta))
			}
			if tt.verdict == VerdictError {
				if c.HasValue || c.Passed() || c.Ratio != nil || c.Delta != nil {
					t.Errorf("an error carries a verdict value: %+v", c)
				}
				side := "canary"
				if strings.HasPrefix(tt.msg, "baseline") {
					side = "baseline"
				}
				if c.Side != side {
					t.Errorf("side %q, want %q", c.Side, side)
				}
				return
			}
			if c.Baseline == nil || c.Baseline.Query != baseline || c.Side != "" {
				t.Fatalf("baseline %+v side %q", c.Baseline, c.Side)
			}
			if len(tt.q.ran) != 2 {
				t.Errorf("queries %q, want the canary's and the baseline's once each", tt.q.ran)
			}
		})
	}
}

func TestRelativeReadsConcurrently(t *testing.T) {
	now := time.Now()
	q := &sideQuerier{now: now, hold: 100 * time.Millisecond, answers: map[string]sideAnswer{"ns/a": {v: 1}, "ns/b": {v: 1}}}
	c := RunCheck(context.Background(), q, CheckSpec{Query: "ns/a", Baseline: "ns/b", Bounds: &Bounds{MaxRatio: f(1)}})
	if !c.Passed() {
		t.Fatalf("%+v", c)
	}
	if q.maxConc.Load() != 2 {
		t.Errorf("the two reads ran %d at once, want 2 (the same time)", q.maxConc.Load())
	}
}

func TestRelativeSpecValidate(t *testing.T) {
	for _, tt := range []struct {
		spec CheckSpec
		want string
	}{
		{CheckSpec{Query: "ns/a", Bounds: &Bounds{MaxRatio: f(1.2)}}, "maxRatio 1.2: a relative bound needs a baseline"},
		{CheckSpec{Query: "ns/a", Baseline: "ns/b", Bounds: &Bounds{Max: f(1)}}, "a baseline needs a relative bound"},
		{CheckSpec{Query: "ns/a", Baseline: "ns/b", Bounds: &Bounds{MinRatio: f(2), MaxRatio: f(1)}}, "minRatio 2 is greater than maxRatio 1"},
		{CheckSpec{Query: "ns/a", Baseline: "ns/b", Bounds: &Bounds{MinDelta: f(2), MaxDelta: f(1)}}, "minDelta 2 is greater than maxDelta 1"},
		{CheckSpec{Query: "ns/a", Baseline: "ns/b", Bounds: &Bounds{MaxDelta: f(posInf())}}, "maxDelta must be a finite number"},
	} {
		err := tt.spec.Validate()
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%+v: %v, want %q", tt.spec.Bounds, err, tt.want)
		}
		q := &sideQuerier{answers: map[string]sideAnswer{}}
		c := RunCheck(context.Background(), q, tt.spec)
		if c.Verdict != VerdictError || c.ErrorKind != KindInvalidCheck || len(q.ran) != 0 {
			t.Errorf("RunCheck of an invalid spec: %s %s, %d queries", c.Verdict, c.ErrorKind, len(q.ran))
		}
	}
	if err := (CheckSpec{Query: "ns/a", Baseline: "ns/b"}).Validate(); err != nil {
		t.Errorf("a baseline without bounds (measured): %v", err)
	}
	// Judge alone never passes relative bounds.
	if ok, msg := (Bounds{MaxRatio: f(2)}).Judge(1); ok || !strings.Contains(msg, "need a baseline") {
		t.Errorf("Judge with a relative bound: %v %q", ok, msg)
	}
}

func TestRelativeNonFinite(t *testing.T) {
	nan := posInf() - posInf()
	for _, tt := range []struct {
		c, b float64
		want string
	}{
		{1, nan, "baseline value is NaN"},
		{1, posInf(), "baseline value +Inf is not finite"},
		{nan, 1, "value is NaN"},
		{posInf(), 1, "not finite"},
	} {
		ok, msg := (Bounds{MaxDelta: f(1e300), MaxRatio: f(1e300)}).JudgeRelative(tt.c, tt.b)
		if ok || !strings.Contains(msg, tt.want) {
			t.Errorf("%v vs %v: %v %q, want %q", tt.c, tt.b, ok, msg, tt.want)
		}
	}
	// An overflowing delta fails rather than passing.
	if ok, msg := (Bounds{MaxDelta: f(1)}).JudgeRelative(-1.7e308, 1.7e308); ok || !strings.Contains(msg, "delta is not finite") {
		t.Errorf("overflow: %v %q", ok, msg)
	}
}

func TestBoundsString(t *testing.T) {
	for b, want := range map[*Bounds]string{
		{Max: f(1)}:        "max 1",
		{MaxRatio: f(1.2)}: "maxRatio 1.2",
		{Max: f(5), MaxRatio: f(1.2), MaxDelta: f(0.5)}: "max 5, maxRatio 1.2, maxDelta 0.5",
		{Min: f(0), Max: f(1), MinDelta: f(-1)}:         "[0, 1], minDelta -1",
	} {
		if got := b.String(); got != want {
			t.Errorf("%q, want %q", got, want)
		}
	}
}

func posInf() float64 { v := 1e308; return v * 10 }

func sameFloat(a, b *float64) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	d := *a - *b
	return d < 1e-12 && d > -1e-12
}

func deref(p *float64) any {
	if p == nil {
		return nil
	}
	return *p
}
