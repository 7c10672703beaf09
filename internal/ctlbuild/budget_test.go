package ctlbuild

import (
	"context"
	"errors"
	"flag"
	"testing"
	"time"
)

// Budget follows go test's -timeout: the timeout less the margin, at least
// a minute, at most MaxBudget; no timeout (0) is MaxBudget.
func TestBudget(t *testing.T) {
	f := flag.Lookup("test.timeout")
	if f == nil {
		t.Fatal("no test.timeout flag")
	}
	old := f.Value.String()
	t.Cleanup(func() { _ = f.Value.Set(old) })
	for _, c := range []struct {
		timeout, margin, want time.Duration
	}{
		{10 * time.Minute, 30 * time.Second, 9*time.Minute + 30*time.Second},
		{30 * time.Minute, 2 * time.Minute, 28 * time.Minute},
		{90 * time.Second, 2 * time.Minute, time.Minute},
		{2 * time.Hour, 2 * time.Minute, MaxBudget},
		{0, 2 * time.Minute, MaxBudget},
	} {
		if err := f.Value.Set(c.timeout.String()); err != nil {
			t.Fatal(err)
		}
		if got := Budget(c.margin); got != c.want {
			t.Errorf("-timeout %s, margin %s: budget %s, want %s", c.timeout, c.margin, got, c.want)
		}
	}
}

// A build that outlives its budget fails with the budget and the hint; one
// that fails in time keeps its own error.
func TestWithinBudget(t *testing.T) {
	cause := errors.New("go build: signal: killed")
	err := withinBudget(20*time.Millisecond, "the thing was not built", "build it first", func(ctx context.Context) error {
		<-ctx.Done()
		return cause
	})
	const want = "the thing was not built within 0s, inside go test's timeout (build it first): go build: signal: killed"
	if err == nil || err.Error() != want || !errors.Is(err, cause) {
		t.Fatalf("late build: %v, want %q", err, want)
	}
	if err := withinBudget(time.Minute, "x", "y", func(context.Context) error { return cause }); !errors.Is(err, cause) || err.Error() != cause.Error() {
		t.Fatalf("failed in time: %v", err)
	}
	if err := withinBudget(time.Minute, "x", "y", func(context.Context) error { return nil }); err != nil {
		t.Fatalf("built: %v", err)
	}
}
