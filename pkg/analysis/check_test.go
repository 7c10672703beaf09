package analysis

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/extmetrics/extmetrics/pkg/provider"
)

// querierFunc is a function as a Querier.
type querierFunc func(ctx context.Context, q string) (*provider.Result, error)

func (f querierFunc) Query(ctx context.Context, q string) (*provider.Result, error) { return f(ctx, q) }

func result(v float64, stamps ...time.Time) querierFunc {
	return func(_ context.Context, q string) (*provider.Result, error) {
		r := &provider.Result{Query: q, Value: v, Aggregate: "first", Matched: len(stamps)}
		for _, ts := range stamps {
			r.Items = append(r.Items, provider.Item{Value: v, Timestamp: ts})
		}
		return r, nil
	}
}

// RunCheck: one verdict per situation, never a pass on an error.
func TestRunCheck(t *testing.T) {
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	fresh, old := now.Add(-time.Minute), now.Add(-time.Hour)
	max1 := &Bounds{Max: fp(1)}
	for _, c := range []struct {
		name    string
		q       Querier
		query   string
		bounds  *Bounds
		stale   Staleness
		verdict CheckVerdict
		kind    string
		msg     string
	}{
		{"pass at the bound", result(1, fresh), "m", max1, Staleness{}, VerdictPass, "", ""},
		{"fail above", result(1.5, fresh), "m", max1, Staleness{}, VerdictFail, KindOutOfRange, "1.5 > max 1"},
		{"deprecated threshold", result(6, fresh), "m", &Bounds{Max: fp(5), Threshold: true}, Staleness{}, VerdictFail, KindOutOfRange, "6 > threshold 5 (deprecated threshold)"},
		{"NaN fails", result(math.NaN(), fresh), "m", &Bounds{}, Staleness{}, VerdictFail, KindOutOfRange, "NaN"},
		{"no bounds: measured", result(2.5, fresh), "m", nil, Staleness{}, VerdictMeasured, "", ""},
		{"stale by default", result(0.5, old), "m", max1, Staleness{}, VerdictError, "stale", "maxAge 5m0s (default bound"},
		{"stale by max-age", result(0.5, now.Add(-2*time.Minute)), "m", max1, Staleness{MaxAge: time.Minute}, VerdictError, "stale", "max-age 1m0s"},
		{"default bound grows with the interval", result(0.5, now.Add(-10*time.Minute)), "m", max1, Staleness{Interval: 5 * time.Minute}, VerdictPass, "", ""},
		{"max-age off", result(0.5, old), "m", max1, Staleness{MaxAge: NoMaxAge}, VerdictPass, "", ""},
		{"the query's own maxAge wins", result(0.5, old), "m?maxAge=2h", max1, Staleness{}, VerdictPass, "", ""},
		{"query error", querierFunc(func(context.Context, string) (*provider.Result, error) {
			return nil, &provider.Error{Kind: provider.ErrAmbiguous, Op: "query", Message: "2 items matched"}
		}), "m", max1, Staleness{}, VerdictError, "ambiguous", "2 items matched"},
		{"plain error", querierFunc(func(context.Context, string) (*provider.Result, error) { return nil, errors.New("boom") }), "m", max1, Staleness{}, VerdictError, "error", "boom"},
		{"nil result", querierFunc(func(context.Context, string) (*provider.Result, error) { return nil, nil }), "m", max1, Staleness{}, VerdictError, "error", "no result"},
		{"panic", querierFunc(func(context.Context, string) (*provider.Result, error) { panic("oops") }), "m", max1, Staleness{}, VerdictError, "error", "query panicked: oops"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := RunCheck(context.Background(), c.q, CheckSpec{Query: c.query, Bounds: c.bounds, Staleness: c.stale, Now: clock})
			if r.Verdict != c.verdict || r.ErrorKind != c.kind || !strings.Contains(r.Message, c.msg) || r.Passed() != (c.verdict == VerdictPass) {
				t.Fatalf("%+v; want %s %q %q", r, c.verdict, c.kind, c.msg)
			}
			if (c.verdict == VerdictError) == r.HasValue {
				t.Errorf("HasValue %v with verdict %s", r.HasValue, r.Verdict)
			}
		})
	}
	// Newest and Age are reported with the value.
	r := RunCheck(context.Background(), result(1, fresh, old), CheckSpec{Query: "m?maxAge=2h", Now: clock})
	if !r.Newest.Equal(fresh) || r.Age != time.Minute || r.Matched != 2 || len(r.Items) != 2 {
		t.Errorf("newest %v age %v matched %d", r.Newest, r.Age, r.Matched)
	}
}

func TestParseMaxAge(t *testing.T) {
	for in, want := range map[string]time.Duration{"": 0, "auto": 0, "AUTO": 0, "0": NoMaxAge, "0s": NoMaxAge, "0m": NoMaxAge, "90s": 90 * time.Second, " 10m ": 10 * time.Minute} {
		if got, err := ParseMaxAge(in); err != nil || got != want {
			t.Errorf("ParseMaxAge(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"-1m", "soon", "5"} {
		if _, err := ParseMaxAge(in); err == nil {
			t.Errorf("ParseMaxAge(%q): no error", in)
		}
	}
}

func TestBounds(t *testing.T) {
	if err := (Bounds{Min: fp(2), Max: fp(1)}).Validate(); err == nil || !strings.Contains(err.Error(), "no value can pass") {
		t.Errorf("min > max: %v", err)
	}
	if err := (Bounds{Max: fp(math.Inf(1))}).Validate(); err == nil {
		t.Error("infinite max: no error")
	}
	for b, want := range map[*Bounds]string{{Min: fp(0), Max: fp(1)}: "[0, 1]", {Min: fp(10)}: "min 10", {Max: fp(1)}: "max 1", {Max: fp(5), Threshold: true}: "threshold 5", {}: "no limit"} {
		if got := b.String(); got != want {
			t.Errorf("%+v: %q, want %q", *b, got, want)
		}
	}
}
