package e2e_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/extmetrics/extmetrics/pkg/gate"
	"github.com/extmetrics/extmetrics/pkg/gate/kubeevents"
	"github.com/extmetrics/extmetrics/test/e2e/harness"

	"github.com/extmetrics/extmetrics/plugins/argo-rollouts/internal/argoctl"
	"github.com/extmetrics/extmetrics/plugins/argo-rollouts/metricplugin"
)

// TestGateEventsOnRolloutAnalysisRun: the AnalysisTemplate of docs/gate.md
// builds the analysisRun= parameter from Argo's args (the Rollout's name,
// the pod-template hash, the revision annotation and the step), and the
// real rollouts-controller v1.10.1 names the step's AnalysisRun the same:
// the gate's Event is on that AnalysisRun — one for the run's two
// measurements (one per check, verdict and interval).
func TestGateEventsOnRolloutAnalysisRun(t *testing.T) {
	c := shared.Get(t)
	if prepErr != nil {
		harness.Unavailable(t, prepErr)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	const evNS = "gate-events"
	dyn, kube, _ := rolloutCluster(t, ctx, c)

	up := startDevserver(t, ctx, "gate-events-token")
	if err := up.SetSeries(evNS, "checkout_error_rate", map[string]string{"app": "web"}, "500m"); err != nil {
		t.Fatal(err)
	}
	cfg := &gate.Config{Providers: []gate.ProviderConfig{providerFor(t, t.TempDir(), "dev", up, "gate-events-token")}}
	rec, err := kubeevents.New(c.AdminConfig(), kubeevents.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rec.Shutdown)
	g, err := gate.New(gate.Options{Config: cfg, Timeout: 2 * time.Second, Events: rec})
	if err != nil {
		t.Fatal(err)
	}
	gateSrv := httptest.NewServer(g.Handler())
	t.Cleanup(gateSrv.Close)

	// docs/gate.md's AnalysisTemplate, on this gate.
	u := gateSrv.URL + "/argo/v1/value?provider=dev&namespace={{args.namespace}}&query={{args.namespace}}" +
		url.QueryEscape("/checkout_error_rate?labelSelector=app=web") +
		"&analysisRun={{args.rollout}}-{{args.hash}}-{{args.revision}}{{args.step}}"
	if err := c.ApplyYAML(ctx, fmt.Sprintf(`apiVersion: v1
kind: Namespace
metadata: {name: %[1]s}
---
apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: {name: error-rate, namespace: %[1]s}
spec:
  args:
    - name: namespace
    - name: rollout
    - name: hash
    - name: revision
    - name: step
      value: ""
  metrics:
    - name: error-rate
      interval: 2s
      count: 2
      failureLimit: 0
      successCondition: result <= 1
      provider:
        web:
          url: %[2]q
          jsonPath: "{$.value}"
          timeoutSeconds: 5
`, evNS, u)); err != nil {
		t.Fatal(err)
	}
	// The Rollout of TestRolloutCanary, with the args the template needs.
	rollout := func(v int) string {
		return rolloutManifest(evNS, v, `
              - {name: namespace, valueFrom: {fieldRef: {fieldPath: metadata.namespace}}}
              - {name: rollout, valueFrom: {fieldRef: {fieldPath: metadata.name}}}
              - {name: hash, valueFrom: {podTemplateHashValue: Latest}}
              - {name: revision, valueFrom: {fieldRef: {fieldPath: "metadata.annotations['rollout.argoproj.io/revision']"}}}
              - {name: step, value: "-1"}`)
	}
	if err := c.ApplyYAML(ctx, argoctl.ConfigMap(metricplugin.PluginName, pluginBin, "--log-level=debug")); err != nil {
		t.Fatal(err)
	}
	startController(t, ctx, c, true)

	ri := dyn.Resource(rolloutGVR).Namespace(evNS)
	if err := c.ApplyYAML(ctx, rollout(1)); err != nil {
		t.Fatal(err)
	}
	waitRollout(t, ctx, ri, kube, "registry.example/web:1")
	if err := c.ApplyYAML(ctx, rollout(2)); err != nil {
		t.Fatal(err)
	}
	ro := waitRollout(t, ctx, ri, kube, "registry.example/web:2")
	if phase := nestedString(ro, "status", "phase"); phase != "Healthy" {
		t.Fatalf("v2: phase %q, want Healthy: %v", phase, ro["status"])
	}

	ars, err := dyn.Resource(analysisRunGVR).Namespace(evNS).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(ars.Items) != 1 {
		t.Fatalf("%d AnalysisRuns, want 1", len(ars.Items))
	}
	run := ars.Items[0]
	ms, _ := nested(run.Object, "status", "metricResults", 0, "measurements").([]any)
	if nestedString(run.Object, "status", "phase") != "Successful" || len(ms) != 2 {
		t.Fatalf("AnalysisRun %s: %v", run.GetName(), run.Object["status"])
	}
	var evs []corev1.Event
	waitFor(t, ctx, "the gate's Event on AnalysisRun "+run.GetName(), func() (bool, string) {
		l, err := kube.CoreV1().Events(evNS).List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.kind=AnalysisRun,involvedObject.name=" + run.GetName()})
		if err != nil {
			return false, err.Error()
		}
		evs = evs[:0]
		for i := range l.Items {
			if l.Items[i].Source.Component == kubeevents.Component {
				evs = append(evs, l.Items[i])
			}
		}
		all, _ := kube.CoreV1().Events(evNS).List(ctx, metav1.ListOptions{})
		var names []string
		for i := range all.Items {
			names = append(names, all.Items[i].InvolvedObject.Kind+"/"+all.Items[i].InvolvedObject.Name)
		}
		return len(evs) > 0, "events in the namespace are on " + strings.Join(names, ", ")
	})
	if e := &evs[0]; len(evs) != 1 || e.Type != "Normal" || e.Reason != "CheckMeasured" || e.Count != 1 ||
		!strings.HasPrefix(e.Message, "provider dev: value 0.5 measured") || e.InvolvedObject.APIVersion != "argoproj.io/v1alpha1" {
		t.Fatalf("two measurements, want one CheckMeasured event (count 1) on %s: %+v", run.GetName(), evs)
	}
	t.Logf("AnalysisRun %s (the name the template built): %s %s x%d: %s", run.GetName(), evs[0].Type, evs[0].Reason, evs[0].Count, evs[0].Message)
}
