package e2e_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/extmetrics/extmetrics/pkg/analysis"
	"github.com/extmetrics/extmetrics/pkg/devserver"
)

// TestCLIWithKubeconfig: query, list and status with --kubeconfig and no
// --server go through kube-apiserver's aggregation layer.
func TestCLIWithKubeconfig(t *testing.T) {
	c := cluster.Get(t)
	isolate(t)
	a := startAggregated(t, c, devserver.ProfilePrometheusAdapter)
	a.set(t, "shop", "http_requests_error_rate", map[string]string{"app": "checkout"}, "0.75")
	kc := []string{"--kubeconfig", c.AdminKubeconfig(), "--timeout", "20s"}

	code, out, errOut := runCLI(t, append([]string{"query", "shop/http_requests_error_rate?labelSelector=app=checkout", "-o", "json"}, kc...)...)
	if code != 0 {
		t.Fatalf("query: exit %d\n%s\n%s", code, out, errOut)
	}
	var q struct {
		Value   float64 `json:"value"`
		Matched int     `json:"matched"`
	}
	if err := json.Unmarshal([]byte(out), &q); err != nil {
		t.Fatalf("query -o json: %v\n%s", err, out)
	}
	if q.Value != 0.75 || q.Matched != 1 {
		t.Errorf("query value %v (%d items), want 0.75 (1)\n%s", q.Value, q.Matched, out)
	}

	code, out, errOut = runCLI(t, append([]string{"list"}, kc...)...)
	if code != 0 || !strings.Contains(out, "http_requests_error_rate") {
		t.Errorf("list: exit %d\n%s\n%s", code, out, errOut)
	}

	code, out, errOut = runCLI(t, append([]string{"status"}, kc...)...)
	if code != 0 || !strings.Contains(out, "online") || !strings.Contains(out, c.URL()) {
		t.Errorf("status: exit %d\n%s\n%s", code, out, errOut)
	}
	if !strings.Contains(out, "kubeconfig") {
		t.Errorf("status does not say the base config came from the kubeconfig:\n%s", out)
	}
}

// canaryObjects is a Canary and a MetricTemplate without provider address:
// the query goes to the kubeconfig's cluster, the aggregation path Flagger
// uses most.
func canaryObjects(t *testing.T, max string) string {
	t.Helper()
	objects := fmt.Sprintf(`apiVersion: flagger.app/v1beta1
kind: MetricTemplate
metadata: {name: error-rate, namespace: shop}
spec:
  provider:
    type: externalmetrics
  query: "{{ namespace }}/http_requests_error_rate?labelSelector=app={{ target }}"
---
apiVersion: flagger.app/v1beta1
kind: Canary
metadata: {name: checkout, namespace: shop}
spec:
  targetRef: {kind: Deployment, name: checkout}
  analysis:
    interval: 1m
    stepWeight: 50
    maxWeight: 50
    threshold: 1
    metrics:
      - name: error-rate
        templateRef: {name: error-rate}
        thresholdRange: {max: %s}
`, max)
	path := filepath.Join(t.TempDir(), "canary.yaml")
	if err := os.WriteFile(path, []byte(objects), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestAnalyzeEmptyAddress: extmetrics analyze on a MetricTemplate with an
// empty address reaches the right verdict through kube-apiserver, both ways.
func TestAnalyzeEmptyAddress(t *testing.T) {
	c := cluster.Get(t)
	isolate(t)
	a := startAggregated(t, c, devserver.ProfilePrometheusAdapter)
	a.set(t, "shop", "http_requests_error_rate", map[string]string{"app": "checkout"}, "0.75")

	for _, tc := range []struct {
		max     string
		code    int
		verdict string
	}{
		{"1", 0, "Succeeded"},
		{"0.5", 1, "Failed"},
	} {
		t.Run("max="+tc.max, func(t *testing.T) {
			code, out, errOut := runCLI(t, "analyze", "-f", canaryObjects(t, tc.max), "--interval", "100ms", "-o", "json", "-q",
				"--kubeconfig", c.AdminKubeconfig(), "--timeout", "20s")
			if code != tc.code {
				t.Fatalf("exit %d, want %d\n%s\n%s", code, tc.code, out, errOut)
			}
			var rep analysis.Report
			if err := json.Unmarshal([]byte(out), &rep); err != nil {
				t.Fatalf("report: %v\n%s", err, out)
			}
			if len(rep.Canaries) != 1 || string(rep.Canaries[0].Verdict) != tc.verdict {
				t.Fatalf("verdict: %s", out)
			}
			m := rep.Canaries[0].Metrics[0]
			if m.Provider != "" || len(m.Checks) == 0 || !m.Checks[0].HasValue || m.Checks[0].Value != 0.75 {
				t.Errorf("the check did not read 0.75 through the aggregation layer: %+v", m)
			}
		})
	}
}
