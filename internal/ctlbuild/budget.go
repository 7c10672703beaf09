package ctlbuild

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"time"
)

// MaxBudget is the longest a TestMain spends building before its tests.
const MaxBudget = 60 * time.Minute

// Budget is how long a TestMain (its flags parsed) may spend building the
// binaries its tests need: MaxBudget, or go test's -timeout less margin
// (at least a minute) when that is shorter. go test kills a test binary one
// minute after its -timeout, TestMain included; a cold build that stops
// within the budget ends with a reason instead.
func Budget(margin time.Duration) time.Duration {
	budget := MaxBudget
	if f := flag.Lookup("test.timeout"); f != nil {
		if g, ok := f.Value.(flag.Getter); ok {
			if d, ok := g.Get().(time.Duration); ok && d > 0 && d-margin < budget {
				budget = max(d-margin, time.Minute)
			}
		}
	}
	return budget
}

// WithinTimeout runs build with a context that ends after Budget(margin).
// When build fails after the budget ran out, its error says so:
// "<failed> within <budget>, inside go test's timeout (<hint>): <err>";
// hint tells how to build ahead or to raise -timeout.
func WithinTimeout(margin time.Duration, failed, hint string, build func(context.Context) error) error {
	return withinBudget(Budget(margin), failed, hint, build)
}

func withinBudget(budget time.Duration, failed, hint string, build func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(context.Background(), budget)
	defer cancel()
	err := build(ctx)
	if err != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
		err = fmt.Errorf("%s within %s, inside go test's timeout (%s): %w", failed, budget.Round(time.Second), hint, err)
	}
	return err
}
