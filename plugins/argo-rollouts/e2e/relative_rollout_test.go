package e2e_test

import (
	"strconv"
	"strings"
	"testing"

	"github.com/argoproj/argo-rollouts/utils/hash"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/extmetrics/extmetrics/pkg/devserver"

	"github.com/extmetrics/extmetrics/plugins/argo-rollouts/metricplugin"
)

// A relative check in a real Rollout (issue 20, docs/relative-checks.md):
// the plugin's baseline + compare: ratio, the canary's and the stable
// ReplicaSet's series selected by the hashes the Rollout passes with
// valueFrom.podTemplateHashValue Latest and Stable. In a cluster those
// series come from the pods, labelled rollouts-pod-template-hash; here the
// devserver must hold them before the step's AnalysisRun measures, so the
// canary's hash is computed as the controller computes it (Argo's own
// hash.ComputePodTemplateHash over the Rollout's pod template), checked
// against the controller's stableRS for v1 and its currentPodHash for v2.

// latencyMetric is the relative cases' metric.
const latencyMetric = "http_latency_p99"

// predictedHash is the rollouts-pod-template-hash the controller gives the
// ReplicaSet of the Rollout manifest m (no hash collision yet).
func predictedHash(t *testing.T, m string) string {
	t.Helper()
	var ro struct {
		Spec struct {
			Template corev1.PodTemplateSpec `json:"template"`
		} `json:"spec"`
	}
	if err := yaml.Unmarshal([]byte(m), &ro); err != nil {
		t.Fatal(err)
	}
	return hash.ComputePodTemplateHash(&ro.Spec.Template, nil)
}

// setRelativeSeries sets the stable ReplicaSet's series (baseline) and the
// v2 ReplicaSet's (value) on s, before the Rollout is updated to v2, and
// returns the v2 hash.
func (tc rolloutCase) setRelativeSeries(t *testing.T, s *devserver.Server, stableHash string) string {
	t.Helper()
	if got := predictedHash(t, tc.rollout(1)); got != stableHash {
		t.Fatalf("Argo's pod-template hash of v1 computed here is %q, the controller's stableRS %q: the test cannot label the canary's series in advance", got, stableHash)
	}
	canaryHash := predictedHash(t, tc.rollout(2))
	for h, v := range map[string]string{stableHash: tc.baseline, canaryHash: tc.value} {
		if err := s.SetSeries(tc.name, latencyMetric, map[string]string{"rollouts-pod-template-hash": h}, v); err != nil {
			t.Fatal(err)
		}
	}
	return canaryHash
}

// checkRelativeMeasurements checks every measurement's metadata (both raw
// values, the ratio and delta, the two queries with the ReplicaSets'
// hashes Argo filled in) and returns the value each must carry: the ratio.
func (tc rolloutCase) checkRelativeMeasurements(t *testing.T, ms []any, canaryHash, stableHash string) string {
	t.Helper()
	canary, baseline := parseQuantity(t, tc.value), parseQuantity(t, tc.baseline)
	f := func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
	want := map[string]string{
		metricplugin.MetaCanary:        f(canary),
		metricplugin.MetaBaseline:      f(baseline),
		metricplugin.MetaRatio:         f(canary / baseline),
		metricplugin.MetaDelta:         f(canary - baseline),
		metricplugin.MetaItems:         "1",
		metricplugin.MetaBaselineItems: "1",
	}
	for i := range ms {
		md := nestedMap(ms[i], "metadata")
		for k, v := range want {
			if md[k] != v {
				t.Errorf("measurement %d: metadata %s = %q, want %q (metadata %v)", i, k, md[k], v, md)
			}
		}
		for k, h := range map[string]string{metricplugin.MetaQuery: canaryHash, metricplugin.MetaBaselineQuery: stableHash} {
			if q := md[k]; !strings.Contains(q, tc.name+"/"+latencyMetric) || !strings.Contains(q, "rollouts-pod-template-hash="+h) {
				t.Errorf("measurement %d: metadata %s = %q, want the %s series of ReplicaSet %s", i, k, q, latencyMetric, h)
			}
		}
	}
	if len(ms) > 0 {
		t.Logf("relative measurement metadata: %v", nestedMap(ms[0], "metadata"))
	}
	return want[metricplugin.MetaRatio]
}
