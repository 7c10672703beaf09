package report

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/extmetrics/extmetrics/pkg/analysis"
)

// A gate webhook's relative check in every form: both values, the ratio
// ("undefined" for a zero baseline) and the delta, the relative bounds.
func relativeReport() *analysis.Report {
	m := analysis.MetricResult{
		Name: "webhook/err", Provider: "dev", Query: "ci/errors?labelSelector=app=web-canary",
		BaselineQuery: "ci/errors?labelSelector=app=web-primary", MaxRatio: fp(1.2), MaxDelta: fp(0.5),
		Webhook: &analysis.WebhookRef{Name: "err", Type: "rollout", URL: "http://gate/flagger/v1/check"},
		Checks: []analysis.Check{
			{Metric: "webhook/err", Step: 1, Run: 1, Time: t0, Query: "ci/errors?labelSelector=app=web-canary", HasValue: true, Value: 1.5,
				Baseline: fp(1), Ratio: fp(1.5), Delta: fp(0.5), BaselineQuery: "ci/errors?labelSelector=app=web-primary",
				ErrorKind: analysis.KindOutOfRange, Message: "extmetrics gate: provider dev: canary 1.5, baseline 1, ratio 1.5, delta 0.5: ratio 1.5 > maxRatio 1.2"},
			{Metric: "webhook/err", Step: 1, Run: 2, Time: t0.Add(60e9), HasValue: true, Value: 0.1, Baseline: fp(0), Delta: fp(0.1), Passed: true},
		},
		Failed: 1,
	}
	return &analysis.Report{Started: t0, Finished: t0.Add(120e9), Canaries: []analysis.CanaryResult{{
		Name: "web", Namespace: "ci", Strategy: "canary", Verdict: analysis.Succeeded, Mode: "canary", Threshold: 2, Runs: 2,
		Started: t0, Finished: t0.Add(120e9), Metrics: []analysis.MetricResult{m},
	}}}
}

func TestRelativeCheckForms(t *testing.T) {
	r := relativeReport()
	var b bytes.Buffer
	if err := WriteChecks(&b, r); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"1.5 (baseline 1, ratio 1.5, delta 0.5)", "0.1 (baseline 0, ratio undefined, delta 0.1)", "maxRatio 1.2, maxDelta 0.5"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("--once table lacks %q:\n%s", want, b.String())
		}
	}
	b.Reset()
	p := NewProgress(&b, false)
	c := r.Canaries[0].Metrics[0].Checks[1]
	p.Observe(analysis.Event{Type: analysis.EventCheck, Canary: "ci/web", Check: &c})
	if !strings.Contains(b.String(), "baseline=0 ratio=undefined delta=0.1") {
		t.Errorf("progress: %s", b.String())
	}
	b.Reset()
	if err := WriteJSON(&b, r); err != nil {
		t.Fatal(err)
	}
	var back analysis.Report
	if err := json.Unmarshal(b.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	bm := back.Canaries[0].Metrics[0]
	if bm.Webhook == nil || bm.Webhook.Type != "rollout" || *bm.MaxRatio != 1.2 || bm.Checks[1].Ratio != nil || *bm.Checks[0].Ratio != 1.5 ||
		*bm.Checks[1].Baseline != 0 || bm.BaselineQuery == "" || !strings.Contains(b.String(), `"range": "maxRatio 1.2, maxDelta 0.5"`) {
		t.Errorf("JSON round trip: %+v\n%s", bm, b.String())
	}
	b.Reset()
	if err := WriteHTML(&b, r); err != nil {
		t.Fatal(err)
	}
	h := b.String()
	for _, want := range []string{`class="line baseline"`, `class="point baseline"`, "canary 0.1, baseline 0, ratio undefined, delta 0.1", "gate webhook <span class=\"mono\">err (rollout)</span>"} {
		if !strings.Contains(h, want) {
			t.Errorf("HTML lacks %q", want)
		}
	}
	b.Reset()
	if err := WriteJUnit(&b, r); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "relative: baseline 1, ratio 1.5, delta 0.5") || !strings.Contains(b.String(), "baseline query: ci/errors?labelSelector=app=web-primary") {
		t.Errorf("JUnit:\n%s", b.String())
	}
}
