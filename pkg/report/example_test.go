package report_test

import (
	"os"
	"time"

	"github.com/extmetrics/extmetrics/pkg/analysis"
	"github.com/extmetrics/extmetrics/pkg/report"
)

func ExampleWriteSummary() {
	max := 0.05
	r := &analysis.Report{Canaries: []analysis.CanaryResult{{
		Name: "checkout", Namespace: "shop", Strategy: "canary", Verdict: analysis.Failed,
		Reason: "failed checks (1) reached the threshold (1)",
		Steps:  1, TotalSteps: 5, Runs: 2, Weight: 10, FailedChecks: 1, Threshold: 1, Interval: time.Minute,
		Metrics: []analysis.MetricResult{{
			Name: "error-rate", Max: &max,
			Checks: []analysis.Check{
				{Metric: "error-rate", Step: 1, Run: 1, HasValue: true, Value: 0.01, Max: &max, Passed: true},
				{Metric: "error-rate", Step: 2, Run: 2, HasValue: true, Value: 0.2, Max: &max, ErrorKind: "out-of-range"},
			},
		}},
	}}}
	report.WriteSummary(os.Stdout, r)
	// Output:
	// CANARY         VERDICT  STEPS  WEIGHT  FAILED  METRIC      LAST          RANGE   REASON
	// shop/checkout  Failed   1/5    10%     1/1     error-rate  ✗ 0.2 > 0.05  ≤ 0.05  failed checks (1) reached the threshold (1)
}

func ExampleNewProgress() {
	p := report.NewProgress(os.Stdout, false) // not a terminal: one log line per event
	p.Observe(analysis.Event{
		Time: time.Date(2026, 11, 27, 18, 0, 30, 0, time.UTC), Type: analysis.EventCheck, Canary: "shop/checkout",
		Step: 1, Run: 1, TotalSteps: 5, Weight: 10, Threshold: 1,
		Check: &analysis.Check{Metric: "error-rate", Step: 1, Run: 1, Weight: 10, HasValue: true, Value: 0.01, Max: new(0.05), Passed: true},
	})
	// Output:
	// 2026-11-27T18:00:30.000Z shop/checkout check metric=error-rate step=1 run=1 weight=10 value=0.01 range=[-inf,0.05] result=pass failed=0/1
}
