package report

import (
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/extmetrics/extmetrics/pkg/analysis"
)

func fp(v float64) *float64 { return &v }

var t0 = time.Date(2026, 11, 27, 18, 0, 0, 0, time.UTC)

// sampleReport is what `extmetrics demo` produces: one healthy canary and
// one whose error rate ramps past its range until the threshold is reached.
func sampleReport() *analysis.Report {
	const interval = 30 * time.Second
	healthy := analysis.CanaryResult{
		Name: "podinfo", Namespace: "demo", Source: "examples/demo/canary.yaml",
		Strategy: "canary", Mode: "canary", Verdict: analysis.Succeeded, Reason: "all 5 steps passed",
		Steps: 5, TotalSteps: 5, Runs: 6, Weights: []int{10, 20, 30, 40, 50}, Weight: 50,
		FailedChecks: 1, Threshold: 2,
		Interval: interval, Started: t0, Finished: t0.Add(6 * interval),
	}
	errRate := analysis.MetricResult{
		Name: "error-rate", TemplateRef: "demo/error-rate", Provider: "https://127.0.0.1:6443",
		Query: "demo/requests-error-rate?labelSelector=app%3Dpodinfo", Interval: "1m",
		Min: fp(0), Max: fp(1),
	}
	latency := analysis.MetricResult{
		Name: "latency", TemplateRef: "demo/latency", Provider: "https://127.0.0.1:6443",
		Query: "demo/request-duration-p99?labelSelector=app%3Dpodinfo", Interval: "1m",
		Max: fp(500),
	}
	errVals := []float64{0.12, 0.31, 0.27, 0.42, 0.18, 0.22}
	latVals := []float64{212, 240, 530, 305, 260, 248}
	steps := []int{1, 2, 3, 3, 4, 5} // run 3 failed: step 3 repeats
	for i := range 6 {
		step, run := steps[i], i+1
		at := t0.Add(time.Duration(run) * interval)
		errRate.Checks = append(errRate.Checks, analysis.Check{
			Metric: "error-rate", Step: step, Run: run, Weight: 10 * step, Time: at, Query: errRate.Query,
			HasValue: true, Value: errVals[i], Min: fp(0), Max: fp(1), Passed: true, Matched: 1,
			Latency: 3*time.Millisecond + time.Duration(i)*time.Millisecond,
		})
		c := analysis.Check{
			Metric: "latency", Step: step, Run: run, Weight: 10 * step, Time: at, Query: latency.Query,
			HasValue: true, Value: latVals[i], Max: fp(500), Passed: latVals[i] <= 500, Matched: 1,
			Latency: 4 * time.Millisecond,
		}
		if !c.Passed {
			c.ErrorKind, c.Message = "out-of-range", "value 530 is above the maximum 500"
			latency.Failed++
		}
		latency.Checks = append(latency.Checks, c)
	}
	healthy.Metrics = []analysis.MetricResult{errRate, latency}

	failing := analysis.CanaryResult{
		Name: "checkout", Namespace: "shop", Source: "examples/datadog/canary.yaml",
		Strategy: "canary", Mode: "canary", Verdict: analysis.Failed,
		Reason: "failed checks (2) reached the threshold (2)",
		Steps:  2, TotalSteps: 5, Runs: 4, Weights: []int{10, 20, 30, 40, 50}, Weight: 30,
		FailedChecks: 2, Threshold: 2,
		Interval: interval, Started: t0, Finished: t0.Add(4 * interval),
	}
	ddErr := analysis.MetricResult{
		Name: "dd-error-rate", TemplateRef: "datadog/error-rate", Provider: "https://127.0.0.1:6443",
		Query: "shop/datadogmetric@shop:checkout-errors", Interval: "1m", Max: fp(0.05),
	}
	ddVals := []float64{0.01, 0.024, 0.081}
	for i, v := range ddVals {
		step := i + 1
		c := analysis.Check{
			Metric: ddErr.Name, Step: step, Run: step, Weight: 10 * step, Time: t0.Add(time.Duration(step) * interval),
			Query: ddErr.Query, HasValue: true, Value: v, Max: fp(0.05), Passed: v <= 0.05, Matched: 1,
			Latency: 5 * time.Millisecond,
		}
		if !c.Passed {
			c.ErrorKind, c.Message = "out-of-range", fmt.Sprintf("value %g is above the maximum 0.05", v)
			ddErr.Failed++
		}
		ddErr.Checks = append(ddErr.Checks, c)
	}
	ddErr.Checks = append(ddErr.Checks, analysis.Check{
		Metric: ddErr.Name, Step: 3, Run: 4, Weight: 30, Time: t0.Add(4 * interval), Query: ddErr.Query,
		Max: fp(0.05), ErrorKind: "no-data",
		Message: `no values for "datadogmetric@shop:checkout-errors" in namespace "shop"`,
		Latency: 2 * time.Millisecond,
	})
	ddErr.Failed++
	throughput := analysis.MetricResult{
		Name: "throughput", TemplateRef: "datadog/throughput", Provider: "https://127.0.0.1:6443",
		Query: "shop/datadogmetric@shop:checkout-rps", Interval: "1m", Min: fp(10),
	}
	for i, v := range []float64{42, 38, 35, 31} {
		step, run := min(i+1, 3), i+1
		throughput.Checks = append(throughput.Checks, analysis.Check{
			Metric: throughput.Name, Step: step, Run: run, Weight: 10 * step, Time: t0.Add(time.Duration(run) * interval),
			Query: throughput.Query, HasValue: true, Value: v, Min: fp(10), Passed: true, Matched: 1,
			Latency: 4 * time.Millisecond,
		})
	}
	failing.Metrics = []analysis.MetricResult{ddErr, throughput}

	return &analysis.Report{
		Started:  t0,
		Finished: t0.Add(6*interval + 200*time.Millisecond),
		Canaries: []analysis.CanaryResult{healthy, failing},
	}
}

const (
	hostileName  = `<script>alert("name")</script>`
	hostileQuery = `ns/m?labelSelector=a"><img src=x onerror=alert(1)><script>alert('q')</script>`
	hostileMsg   = "bad \x1b[2J\x1b[31mred\x00 </title><script>alert(2)</script> & more"
)

// hostileReport carries markup, quotes, ANSI escapes and NUL in every string
// a user or a server controls; it also covers Aborted, iterations and a
// metric that never ran.
func hostileReport() *analysis.Report {
	m := analysis.MetricResult{
		Name: hostileName, TemplateRef: "x/<b>t</b>", Provider: `https://evil"><script>`,
		Query: hostileQuery, Min: fp(-1), Max: fp(1),
		Checks: []analysis.Check{
			{Metric: hostileName, Step: 1, Time: t0, Query: hostileQuery, HasValue: true, Value: 0.5,
				Min: fp(-1), Max: fp(1), Passed: true, Matched: 1},
			{Metric: hostileName, Step: 2, Time: t0.Add(time.Minute), Query: hostileQuery, HasValue: true, Value: 7,
				Min: fp(-1), Max: fp(1), ErrorKind: "out-of-range", Message: hostileMsg, Matched: 1},
			{Metric: hostileName, Step: 3, Time: t0.Add(2 * time.Minute), Query: hostileQuery,
				Min: fp(-1), Max: fp(1), ErrorKind: "unavailable<script>", Message: hostileMsg},
		},
		Failed: 2,
	}
	never := analysis.MetricResult{Name: "never-ran", Query: "ns/never"}
	return &analysis.Report{
		Started: t0, Finished: t0.Add(3 * time.Minute),
		Canaries: []analysis.CanaryResult{{
			Name: hostileName, Namespace: "ns<i>", Source: "<script>.yaml", Strategy: "iterations", Mode: "A/B<b>",
			Verdict: analysis.Aborted, Reason: "interrupted " + hostileMsg,
			Steps: 1, TotalSteps: 10, Runs: 3, FailedChecks: 2, Threshold: 5, Interval: time.Minute,
			Started: t0, Finished: t0.Add(3 * time.Minute),
			Metrics: []analysis.MetricResult{m, never},
		}},
	}
}

var analysisReportZero analysis.Report

func createTemp(t *testing.T) (*os.File, error) {
	f, err := os.CreateTemp(t.TempDir(), "out")
	if err == nil {
		t.Cleanup(func() { f.Close() })
	}
	return f, err
}
