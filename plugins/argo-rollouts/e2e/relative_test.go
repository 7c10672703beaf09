package e2e_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/client-go/dynamic"

	"github.com/extmetrics/extmetrics/pkg/devserver"
	"github.com/extmetrics/extmetrics/test/e2e/harness"
)

// relativeNS holds the relative AnalysisRuns and their series.
const relativeNS = "gate-relative"

// relativeCase is one AnalysisRun judging a canary against its baseline
// (issue 20) through the gate's /argo/v1/value?…&baseline=… and Argo's web
// provider (jsonPath "{$}": the whole answer is the result).
type relativeCase struct {
	name             string
	canary, baseline string // the two series' values
	condition        string // successCondition
	phase            string // the AnalysisRun's and its measurement's phase
}

var relativeCases = []relativeCase{
	{"ratio-pass", "1100m", "1", "result.ratio <= 1.2", "Successful"},
	{"ratio-fail", "1500m", "1", "result.ratio <= 1.2", "Failed"},
	// A zero baseline: the ratio is null and Argo's expr cannot compare it:
	// an Error measurement, never Successful.
	{"zero-ratio", "200m", "0", "result.ratio <= 1.2", "Error"},
	{"zero-delta", "200m", "0", "result.delta <= 0.5", "Successful"},
}

// relativeObjects are the namespace and the Secret holding the gate's token.
func relativeObjects() string {
	return "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: " + relativeNS + "\n---\n" + gateTokenSecret(relativeNS)
}

// run sets the case's two series on dev (the gate's provider "dev"),
// creates a standalone AnalysisRun (count 1, the first error ends it) and
// checks what the real controller made of the gate's answer.
func (rc relativeCase) run(t *testing.T, ctx context.Context, c *harness.Cluster, dyn dynamic.Interface, gateURL string, dev *devserver.Server) {
	for track, v := range map[string]string{"canary": rc.canary, "stable": rc.baseline} {
		if err := dev.SetSeries(relativeNS, "latency_p99", map[string]string{"case": rc.name, "track": track}, v); err != nil {
			t.Fatal(err)
		}
	}
	q := func(track string) string {
		return relativeNS + "/latency_p99?labelSelector=case=" + rc.name + ",track=" + track
	}
	u := gateURL + "/argo/v1/value?" + url.Values{"provider": {"dev"}, "query": {q("canary")}, "baseline": {q("stable")}}.Encode()
	manifest := fmt.Sprintf(`apiVersion: argoproj.io/v1alpha1
kind: AnalysisRun
metadata:
  name: %s
  namespace: %s
spec:
  args:
    - name: gate-token
      valueFrom:
        secretKeyRef: {name: extmetrics-gate, key: token}
  metrics:
    - name: latency-vs-stable
      count: 1
      consecutiveErrorLimit: 0
      successCondition: %q
      provider:
        web:
          url: %q
          jsonPath: "{$}"
          timeoutSeconds: 5
          headers:
            - key: Authorization
              value: "Bearer {{args.gate-token}}"
`, rc.name, relativeNS, rc.condition, u)
	start := time.Now()
	if err := c.ApplyYAML(ctx, manifest); err != nil {
		t.Fatalf("create AnalysisRun: %v\n%s", err, manifest)
	}
	st := waitAnalysisRun(t, ctx, dyn, relativeNS, rc.name)
	m := nested(st, "metricResults", 0, "measurements", 0)
	t.Logf("AnalysisRun %s: %s after %s (%s); measurement %s, value %s, message %q", rc.name, nestedString(st, "phase"),
		time.Since(start).Round(10*time.Millisecond), rc.condition, nestedString(m, "phase"), nestedString(m, "value"), nestedString(m, "message"))
	if got := nestedString(st, "phase"); got != rc.phase {
		t.Errorf("AnalysisRun phase %q, want %q; status %v", got, rc.phase, st)
	}
	if got := nestedString(m, "phase"); got != rc.phase {
		t.Errorf("measurement phase %q, want %q", got, rc.phase)
	}
	if rc.phase == "Error" {
		// Argo's expr cannot compare null: the measurement says so and
		// carries no value.
		want := fmt.Sprintf("could not evaluate successCondition %q", rc.condition)
		if msg := nestedString(m, "message"); !strings.Contains(msg, want) || nestedString(m, "value") != "" {
			t.Errorf("measurement message %q (want %q), value %q (want none)", msg, want, nestedString(m, "value"))
		}
		return
	}
	// The measurement's value is the gate's whole answer: both values,
	// the ratio (null when undefined) and the delta.
	var v map[string]any
	if err := json.Unmarshal([]byte(nestedString(m, "value")), &v); err != nil {
		t.Fatalf("measurement value %q: %v", nestedString(m, "value"), err)
	}
	// ratio and delta as the one check computes them (analysis.Compare):
	// the ratio only for a baseline > 0.
	canary, baseline := parseQuantity(t, rc.canary), parseQuantity(t, rc.baseline)
	var ratio any
	if baseline > 0 {
		ratio = canary / baseline
	}
	r, hasRatio := v["ratio"]
	if v["value"] != canary || v["baseline"] != baseline || v["delta"] != canary-baseline || !hasRatio || r != ratio ||
		v["query"] != q("canary") || v["baselineQuery"] != q("stable") || v["verdict"] != "measured" {
		t.Errorf("measurement value %v: want value %v, baseline %v, ratio %v, delta %v, query %q, baselineQuery %q, verdict measured",
			v, canary, baseline, ratio, canary-baseline, q("canary"), q("stable"))
	}
}

// parseQuantity is the value a Kubernetes quantity stands for, read as
// the providers read it (its exact decimal, then ParseFloat).
func parseQuantity(t *testing.T, s string) float64 {
	t.Helper()
	q, err := resource.ParseQuantity(s)
	if err != nil {
		t.Fatal(err)
	}
	f, err := strconv.ParseFloat(q.AsDec().String(), 64)
	if err != nil {
		t.Fatal(err)
	}
	return f
}
