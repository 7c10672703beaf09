package report

import (
	"bytes"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/extmetrics/extmetrics/pkg/analysis"
)

func TestSummary(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteSummary(&buf, sampleReport()); err != nil {
		t.Fatal(err)
	}
	got := buf.String()
	t.Logf("\n%s", got)
	want := `CANARY         VERDICT    STEPS  WEIGHT  FAILED  METRIC         LAST       RANGE   REASON
demo/podinfo   Succeeded  5/5    50%     1/2     error-rate     ✓ 0.22     [0, 1]  all 5 steps passed
                                                 latency        ✓ 248      ≤ 500
shop/checkout  Failed     2/5    30%     2/2     dd-error-rate  ✗ no-data  ≤ 0.05  failed checks (2) reached the threshold (2)
                                                 throughput     ✓ 31       ≥ 10
`
	if got != want {
		t.Errorf("summary:\n%s\nwant:\n%s", got, want)
	}
	// Columns line up: every cell of a column starts at the same rune offset.
	lines := strings.Split(strings.TrimSuffix(got, "\n"), "\n")
	col := func(line, cell string) int {
		i := strings.Index(line, cell)
		return utf8.RuneCountInString(line[:i])
	}
	for _, l := range lines[1:] {
		if strings.Contains(l, "✓") || strings.Contains(l, "✗") {
			mark := "✓"
			if strings.Contains(l, "✗") {
				mark = "✗"
			}
			if col(l, mark) != col(lines[0], "LAST") {
				t.Errorf("LAST column misaligned in %q", l)
			}
		}
	}
}

func TestSummaryOddCases(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteSummary(&buf, hostileReport()); err != nil {
		t.Fatal(err)
	}
	got := buf.String()
	t.Logf("\n%s", got)
	if strings.ContainsAny(got, "\x1b\x00\t") {
		t.Errorf("control characters in summary: %q", got)
	}
	for _, want := range []string{"Aborted", "1/10", "  -  ", "2/5", "✗ unavailable<script>", "[-1, 1]", "never-ran", "any"} {
		if !strings.Contains(got, want) {
			t.Errorf("summary lacks %q", want)
		}
	}
	buf.Reset()
	r := &analysis.Report{Canaries: []analysis.CanaryResult{{Name: "bare", Verdict: analysis.Failed, Reason: "no metrics"}}}
	if err := WriteSummary(&buf, r); err != nil {
		t.Fatal(err)
	}
	if lines := strings.Split(strings.TrimSpace(buf.String()), "\n"); len(lines) != 2 || !strings.Contains(lines[1], "no metrics") {
		t.Errorf("canary without metrics: %q", buf.String())
	}
}

func TestWriteChecks(t *testing.T) {
	lo, hi := 0.0, 1.0
	r := &analysis.Report{Canaries: []analysis.CanaryResult{{
		Name: "podinfo", Namespace: "demo", Verdict: analysis.Failed,
		Metrics: []analysis.MetricResult{
			{Name: "error-rate", Query: "demo/errors?labelSelector=app%3Dpodinfo", Min: &lo, Max: &hi, Checks: []analysis.Check{
				{Metric: "error-rate", Query: "demo/errors?labelSelector=app%3Dpodinfo", HasValue: true, Value: 0.25, Min: &lo, Max: &hi, Passed: true},
			}},
			{Name: "latency", Query: "demo/p99", Max: &hi, Checks: []analysis.Check{
				{Metric: "latency", Query: "demo/p99", Max: &hi, ErrorKind: "not-found", Message: "metric not found: p99\x1b[31m"},
			}},
		},
	}}}
	var b strings.Builder
	if err := WriteChecks(&b, r); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 {
		t.Fatalf("want header + 2 rows, got:\n%s", out)
	}
	for _, want := range []string{"QUERY", "demo/errors?labelSelector=app%3Dpodinfo", "0.25", "✓ pass", "demo/p99", "✗ not-found: metric not found: p99"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "\x1b") {
		t.Errorf("control characters reach the terminal:\n%q", out)
	}
	if err := WriteChecks(&b, nil); err == nil {
		t.Error("nil report: no error")
	}
}
