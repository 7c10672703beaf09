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
