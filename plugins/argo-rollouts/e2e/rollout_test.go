package e2e_test

// Real Argo Rollouts: the rollouts-controller v1.10.1 with every controller
// (Rollouts, AnalysisRuns, ...) runs canary Rollouts to their end state,
// judged through extmetrics — the metric plugin, and extmetrics gate's
// /argo/v1/value behind Argo's own web provider. The only fake is package
// standin, which marks ReplicaSets available (no kubelet can run here).

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/extmetrics/extmetrics/pkg/devserver"
	"github.com/extmetrics/extmetrics/pkg/gate"
	"github.com/extmetrics/extmetrics/test/e2e/harness"

	"github.com/extmetrics/extmetrics/plugins/argo-rollouts/internal/argoctl"
	"github.com/extmetrics/extmetrics/plugins/argo-rollouts/internal/standin"
	"github.com/extmetrics/extmetrics/plugins/argo-rollouts/metricplugin"
)

// gateToken is the bearer token the gate requires (as --auth-token-file);
// AnalysisTemplates send it from a Secret.
const gateToken = "argo-to-gate-token"

var rolloutGVR = schema.GroupVersionResource{Group: "argoproj.io", Version: "v1alpha1", Resource: "rollouts"}

// rolloutCase is one Rollout in its own namespace.
type rolloutCase struct {
	name     string // also the namespace
	provider string // "plugin" or "web" (extmetrics gate)
	value    string // the canary's error rate; "" = the backend is stopped
	// baseline, when set, makes the case relative (docs/relative-checks.md):
	// the plugin reads the canary's and the stable ReplicaSet's latency
	// series, selected by rollouts-pod-template-hash, with compare: ratio,
	// and value is the canary's latency.
	baseline string
	want     string // "Healthy" or "Degraded"
	runPhase string // the step's AnalysisRun: Successful, Failed, Error
}

// rolloutTiming is what the test measured for one Rollout.
type rolloutTiming struct {
	name            string
	first, update   time.Duration
	phase, runPhase string
	measurements    int
	canarySizes     []int32
}

func TestRolloutCanary(t *testing.T) {
	c := shared.Get(t)
	if prepErr != nil {
		harness.Unavailable(t, prepErr)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	begin := time.Now()
	dyn, kube, rsStandIn := rolloutCluster(t, ctx, c)

	cases := []rolloutCase{
		{name: "plugin-healthy", provider: "plugin", value: "500m", want: "Healthy", runPhase: "Successful"},
		{name: "plugin-unhealthy", provider: "plugin", value: "3", want: "Degraded", runPhase: "Failed"},
		{name: "plugin-backend-down", provider: "plugin", want: "Degraded", runPhase: "Error"},
		{name: "gate-healthy", provider: "web", value: "500m", want: "Healthy", runPhase: "Successful"},
		{name: "gate-unhealthy", provider: "web", value: "3", want: "Degraded", runPhase: "Failed"},
		{name: "gate-backend-down", provider: "web", want: "Degraded", runPhase: "Error"},
		// Relative (issue 20): the canary 1.1× or 1.5× its stable ReplicaSet.
		{name: "plugin-relative-pass", provider: "plugin", value: "1100m", baseline: "1", want: "Healthy", runPhase: "Successful"},
		{name: "plugin-relative-fail", provider: "plugin", value: "1500m", baseline: "1", want: "Degraded", runPhase: "Failed"},
	}

	// The plugin reads the devserver through the aggregation layer; the
	// plugin's backend-down case has a server of its own, reached with
	// address + secretRef, so that stopping it leaves the other cases alone.
	agg := aggregatedDevserver(t, ctx, c, devserver.ProfilePrometheusAdapter)
	pluginDown := startDevserver(t, ctx, "plugin-down-token")
	// extmetrics gate, in-process on loopback, with two named providers:
	// "dev" and "down" (stopped by its case).
	gateDev := startDevserver(t, ctx, "gate-dev-token")
	gateDown := startDevserver(t, ctx, "gate-down-token")
	for _, tc := range cases {
		if tc.value == "" || tc.baseline != "" { // relative series: once the hashes are known
			continue
		}
		s := agg
		if tc.provider == "web" {
			s = gateDev
		}
		if err := s.SetSeries(tc.name, "checkout_error_rate", map[string]string{"app": "web"}, tc.value); err != nil {
			t.Fatal(err)
		}
	}
	// Until they are stopped, the backend-down servers hold a good value.
	for ns, s := range map[string]*devserver.Server{"plugin-backend-down": pluginDown, "gate-backend-down": gateDown} {
		if err := s.SetSeries(ns, "checkout_error_rate", map[string]string{"app": "web"}, "500m"); err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	cfg := &gate.Config{Providers: []gate.ProviderConfig{
		providerFor(t, dir, "dev", gateDev, "gate-dev-token"),
		providerFor(t, dir, "down", gateDown, "gate-down-token"),
	}}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	g, err := gate.New(gate.Options{Config: cfg, Timeout: 2 * time.Second, AuthToken: gateToken})
	if err != nil {
		t.Fatal(err)
	}
	gateSrv := httptest.NewServer(g.Handler())
	t.Cleanup(gateSrv.Close)

	// Namespaces, AnalysisTemplates (and the backend-down Secret), then the
	// controller with every controller on.
	if err := c.ApplyYAML(ctx, argoctl.ConfigMap(metricplugin.PluginName, pluginBin, "--log-level=debug")); err != nil {
		t.Fatal(err)
	}
	for _, tc := range cases {
		if err := c.ApplyYAML(ctx, tc.objects(gateSrv.URL, pluginDown)); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
	}
	if err := c.ApplyYAML(ctx, relativeObjects()); err != nil {
		t.Fatal(err)
	}
	ctrlStart := time.Now()
	startController(t, ctx, c, true)
	t.Logf("rollouts-controller (all controllers) healthy in %s; setup before it %s", time.Since(ctrlStart).Round(time.Millisecond), ctrlStart.Sub(begin).Round(time.Millisecond))

	var (
		mu      sync.Mutex
		timings []rolloutTiming
	)
	stopped := map[string]*devserver.Server{"plugin-backend-down": pluginDown, "gate-backend-down": gateDown}
	t.Run("rollouts", func(t *testing.T) {
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				tm := tc.run(t, ctx, c, dyn, kube, stopped[tc.name], agg)
				mu.Lock()
				timings = append(timings, tm)
				mu.Unlock()
			})
		}
		// Relative checks (issue 20): standalone AnalysisRuns on the gate's
		// /argo/v1/value with a baseline, alongside the Rollouts.
		for _, rc := range relativeCases {
			t.Run("relative-"+rc.name, func(t *testing.T) {
				t.Parallel()
				rc.run(t, ctx, c, dyn, gateSrv.URL, gateDev)
			})
		}
	})
	// Why nothing may stand between Argo and the gate (docs/gate.md): Argo's
	// web provider takes a 2xx body that is not JSON as Successful, without
	// evaluating successCondition. When Argo changes that, this fails.
	t.Run("Argo's web provider passes a 2xx body that is not JSON", func(t *testing.T) {
		html := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			io.WriteString(w, "<html>please log in</html>")
		}))
		defer html.Close()
		if err := c.ApplyYAML(ctx, fmt.Sprintf(`apiVersion: argoproj.io/v1alpha1
kind: AnalysisRun
metadata:
  name: web-not-json
  namespace: gate-healthy
spec:
  metrics:
    - name: m
      count: 1
      successCondition: result <= 1
      provider:
        web:
          url: %q
          jsonPath: "{$.value}"
`, html.URL)); err != nil {
			t.Fatal(err)
		}
		var st map[string]any
		waitFor(t, ctx, "AnalysisRun web-not-json completed", func() (bool, string) {
			u, err := dyn.Resource(analysisRunGVR).Namespace("gate-healthy").Get(ctx, "web-not-json", metav1.GetOptions{})
			if err != nil {
				return false, err.Error()
			}
			st, _, _ = unstructured.NestedMap(u.Object, "status")
			p := nestedString(st, "phase")
			return p != "" && p != "Pending" && p != "Running", p
		})
		if nestedString(st, "phase") != "Successful" || nestedString(st, "metricResults", 0, "measurements", 0, "value") != "<html>please log in</html>" {
			t.Errorf("Argo's web provider no longer passes a non-JSON body (update docs/gate.md): status %v", st)
		}
	})

	slices.SortFunc(timings, func(a, b rolloutTiming) int { return strings.Compare(a.name, b.name) })
	var b strings.Builder
	fmt.Fprintf(&b, "%-20s %-9s %-11s %5s %-14s %11s %13s\n", "rollout", "phase", "analysis", "meas.", "canary sizes", "v1 Healthy", "v2 end state")
	for _, tm := range timings {
		fmt.Fprintf(&b, "%-20s %-9s %-11s %5d %-14s %11s %13s\n", tm.name, tm.phase, tm.runPhase, tm.measurements, fmt.Sprint(tm.canarySizes), tm.first.Round(10*time.Millisecond), tm.update.Round(10*time.Millisecond))
	}
	t.Logf("time per Rollout (cases in parallel; %d ReplicaSet statuses written by the stand-in; whole test %s):\n%s", rsStandIn.Updates(), time.Since(begin).Round(100*time.Millisecond), b.String())
}

// objects are the case's Namespace, AnalysisTemplate and, for the plugin's
// backend-down case, the Secret with the direct server's token and CA.
func (tc rolloutCase) objects(gateURL string, pluginDown *devserver.Server) string {
	var provider, templateArgs string
	switch {
	case tc.baseline != "":
		// docs/relative-checks.md: the canary's and the stable ReplicaSet's
		// series, selected by the hashes the Rollout passes as args.
		provider = fmt.Sprintf(`plugin:
          %s:
            query: "{{args.namespace}}/http_latency_p99?labelSelector=rollouts-pod-template-hash%%3D{{args.canary-hash}}"
            baseline: "{{args.namespace}}/http_latency_p99?labelSelector=rollouts-pod-template-hash%%3D{{args.stable-hash}}"
            compare: ratio`, metricplugin.PluginName)
		templateArgs = `
    - name: canary-hash
    - name: stable-hash`
	case tc.provider == "web":
		gp := "dev"
		if tc.value == "" {
			gp = "down"
		}
		// The namespace is the Rollout's, an Argo argument; the rest of the
		// query is URL-encoded once.
		u := gateURL + "/argo/v1/value?provider=" + gp + "&query={{args.namespace}}" + url.QueryEscape("/checkout_error_rate?labelSelector=app=web")
		provider = fmt.Sprintf(`web:
          url: %q
          jsonPath: "{$.value}"
          timeoutSeconds: 5
          headers:
            - key: Authorization
              value: "Bearer {{args.gate-token}}"`, u)
	case tc.value == "":
		provider = fmt.Sprintf(`plugin:
          %s:
            query: "{{args.namespace}}/checkout_error_rate?labelSelector=app%%3Dweb"
            address: %q
            secretRef: {name: metrics-direct}`, metricplugin.PluginName, pluginDown.URL())
	default:
		provider = fmt.Sprintf(`plugin:
          %s:
            query: "{{args.namespace}}/checkout_error_rate?labelSelector=app%%3Dweb"`, metricplugin.PluginName)
	}
	if tc.provider == "web" {
		// The gate's bearer token (--auth-token-file), from a Secret of the
		// namespace: Argo resolves secretKeyRef arguments itself.
		templateArgs = `
    - name: gate-token
      valueFrom:
        secretKeyRef: {name: extmetrics-gate, key: token}`
	}
	condition := "result <= 1"
	if tc.baseline != "" {
		condition = "result <= 1.2"
	}
	out := fmt.Sprintf(`apiVersion: v1
kind: Namespace
metadata:
  name: %[1]s
---
apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata:
  name: error-rate
  namespace: %[1]s
spec:
  args:
    - name: namespace%[3]s
  metrics:
    - name: error-rate
      interval: 2s
      count: 2
      failureLimit: 0
      consecutiveErrorLimit: 1
      successCondition: %[4]s
      provider:
        %[2]s
`, tc.name, provider, templateArgs, condition)
	if tc.provider == "web" {
		out += "---\n" + gateTokenSecret(tc.name)
	}
	if tc.provider == "plugin" && tc.value == "" {
		out += fmt.Sprintf(`---
apiVersion: v1
kind: Secret
metadata:
  name: metrics-direct
  namespace: %s
stringData:
  token: plugin-down-token
  ca.crt: %q
`, tc.name, pluginDown.CAPEM())
	}
	return out
}

// gateTokenSecret is the Secret extmetrics-gate in ns holding the gate's
// bearer token (key token), which AnalysisTemplates read with secretKeyRef.
func gateTokenSecret(ns string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Secret
metadata:
  name: extmetrics-gate
  namespace: %s
stringData:
  token: %s
`, ns, gateToken)
}

// rollout is the Rollout at image version v: 4 replicas, canary steps
// setWeight 25, the analysis, setWeight 75, then full promotion.
func (tc rolloutCase) rollout(v int) string {
	args := `
              - name: namespace
                valueFrom:
                  fieldRef: {fieldPath: metadata.namespace}`
	if tc.baseline != "" { // docs/relative-checks.md
		args += `
              - name: canary-hash
                valueFrom: {podTemplateHashValue: Latest}
              - name: stable-hash
                valueFrom: {podTemplateHashValue: Stable}`
	}
	return rolloutManifest(tc.name, v, args)
}

// rolloutManifest is the Rollout web of namespace ns at image version v: 4
// replicas, canary steps setWeight 25, an analysis with the
// AnalysisTemplate error-rate and args (YAML list items, each on its own
// line at the args' indentation), setWeight 75, then full promotion.
func rolloutManifest(ns string, v int, args string) string {
	return fmt.Sprintf(`apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata:
  name: web
  namespace: %s
spec:
  replicas: 4
  revisionHistoryLimit: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
        - name: web
          image: registry.example/web:%d
  strategy:
    canary:
      steps:
        - setWeight: 25
        - analysis:
            templates:
              - templateName: error-rate
            args:%s
        - setWeight: 75
`, ns, v, args)
}

// run creates the Rollout at v1 (no analysis: Argo promotes a first
// revision at once), waits until it is Healthy, stops the backend for the
// backend-down cases (for relative cases it sets the two ReplicaSets'
// series on series), updates the Rollout to v2 and waits for its end state.
func (tc rolloutCase) run(t *testing.T, ctx context.Context, c *harness.Cluster, dyn dynamic.Interface, kube kubernetes.Interface, backend, series *devserver.Server) rolloutTiming {
	tm := rolloutTiming{name: tc.name}
	ri := dyn.Resource(rolloutGVR).Namespace(tc.name)
	start := time.Now()
	if err := c.ApplyYAML(ctx, tc.rollout(1)); err != nil {
		t.Fatal(err)
	}
	v1 := waitRollout(t, ctx, ri, kube, "registry.example/web:1")
	tm.first = time.Since(start)
	if phase := nestedString(v1, "status", "phase"); phase != "Healthy" {
		t.Fatalf("v1: phase %q, want Healthy; status %v", phase, v1["status"])
	}
	stableV1 := nestedString(v1, "status", "stableRS")
	if stableV1 == "" || stableV1 != nestedString(v1, "status", "currentPodHash") {
		t.Fatalf("v1: stableRS %q, currentPodHash %q", stableV1, nestedString(v1, "status", "currentPodHash"))
	}
	if backend != nil {
		backend.Close()
	}
	canaryHash := ""
	if tc.baseline != "" {
		canaryHash = tc.setRelativeSeries(t, series, stableV1)
	}

	// Every size the ReplicaSets go through from here on (a watch sees each
	// write): the canary must go 1 (setWeight 25 of 4; its AnalysisRun only
	// starts once that step is done) and then 3, 4 when promoted, or back to
	// 0 when aborted — nothing else in between.
	sizes, stopWatch, err := watchSizes(ctx, kube, tc.name)
	if err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	defer stopWatch()
	if err := c.ApplyYAML(ctx, tc.rollout(2)); err != nil {
		t.Fatal(err)
	}
	ro := waitRollout(t, ctx, ri, kube, "registry.example/web:2")
	tm.update = time.Since(start)
	st, _ := ro["status"].(map[string]any)
	tm.phase = nestedString(st, "phase")
	current := nestedString(st, "currentPodHash")
	stable := nestedString(st, "stableRS")
	t.Logf("v2: phase %s (%s) after %s; stableRS %s, currentPodHash %s, abort %v", tm.phase, nestedString(st, "message"), tm.update.Round(time.Millisecond), stable, current, st["abort"])
	if tm.phase != tc.want {
		t.Errorf("phase %q, want %q; status %v", tm.phase, tc.want, st)
	}
	if current == stableV1 {
		t.Errorf("currentPodHash %q did not change with the template", current)
	}
	if canaryHash != "" && current != canaryHash {
		t.Errorf("currentPodHash %q, but the canary's series was set for the predicted hash %q", current, canaryHash)
	}

	// ReplicaSets: the stable one carries all 4 replicas, the other none,
	// and each is marked available. (After an abort Argo may scale the
	// canary down in the reconcile after the one that set Degraded.)
	keep, drop, image := stable, stableV1, "registry.example/web:2"
	if tc.want == "Degraded" {
		keep, drop, image = stableV1, current, "registry.example/web:1"
	}
	waitFor(t, ctx, "ReplicaSets scaled", func() (bool, string) {
		rss, err := kube.AppsV1().ReplicaSets(tc.name).List(ctx, metav1.ListOptions{LabelSelector: standin.RolloutLabel})
		if err != nil {
			return false, err.Error()
		}
		var got []string
		ok := len(rss.Items) == 2
		for i := range rss.Items {
			rs := &rss.Items[i]
			hash, n := rs.Labels[standin.RolloutLabel], ptrVal(rs.Spec.Replicas)
			img := rs.Spec.Template.Spec.Containers[0].Image
			got = append(got, fmt.Sprintf("%s %s: %d replicas, status %+v", hash, img, n, rs.Status))
			switch hash {
			case keep:
				ok = ok && n == 4 && img == image
			case drop:
				ok = ok && n == 0
			default:
				ok = false
			}
			ok = ok && standin.Available(rs)
		}
		return ok, fmt.Sprintf("want %s (%s) with 4 replicas and %s with 0, all available; have %s", keep, image, drop, strings.Join(got, "; "))
	})
	stopWatch()
	tm.canarySizes = sizes()[current]
	got := tm.canarySizes
	for len(got) > 0 && got[0] == 0 { // Argo may create it at 0 and scale it next
		got = got[1:]
	}
	switch tc.want {
	case "Degraded": // 1 during the analysis, then 0
		if !slices.Equal(got, []int32{1, 0}) {
			t.Errorf("canary ReplicaSet sizes %v, want 1 then 0", tm.canarySizes)
		}
	default: // 1 during the analysis, then up (maxSurge may add a stop on the way) through 3 to 4
		if len(got) < 3 || got[0] != 1 || !slices.IsSorted(got) || !slices.Contains(got, 3) || got[len(got)-1] != 4 {
			t.Errorf("canary ReplicaSet sizes %v, want 1, then up through 3 to 4", tm.canarySizes)
		}
	}
	switch tc.want {
	case "Healthy":
		if stable != current {
			t.Errorf("promoted: stableRS %q, want the new ReplicaSet %q", stable, current)
		}
		if ab, _ := st["abort"].(bool); ab {
			t.Errorf("aborted: %v", st)
		}
	case "Degraded":
		if stable != stableV1 {
			t.Errorf("aborted: stableRS %q, want the old ReplicaSet %q", stable, stableV1)
		}
		if ab, _ := st["abort"].(bool); !ab || !strings.Contains(nestedString(st, "message"), "RolloutAborted") {
			t.Errorf("not aborted: abort %v, message %q", st["abort"], nestedString(st, "message"))
		}
	}

	// The step's AnalysisRun.
	ars, err := dyn.Resource(analysisRunGVR).Namespace(tc.name).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(ars.Items) != 1 {
		t.Fatalf("%d AnalysisRuns, want 1", len(ars.Items))
	}
	ar := ars.Items[0].Object
	tm.runPhase = nestedString(ar, "status", "phase")
	mr := nested(ar, "status", "metricResults", 0)
	ms, _ := nested(mr, "measurements").([]any)
	tm.measurements = len(ms)
	var summary []string
	for i := range ms {
		summary = append(summary, nestedString(ms[i], "phase")+" "+nestedString(ms[i], "value")+nestedString(ms[i], "message"))
	}
	t.Logf("AnalysisRun %s: %s (%s); measurements: %s", ars.Items[0].GetName(), tm.runPhase, nestedString(ar, "status", "message"), strings.Join(summary, "; "))
	if tm.runPhase != tc.runPhase {
		t.Errorf("AnalysisRun phase %q, want %q", tm.runPhase, tc.runPhase)
	}
	want := map[string]string{"Successful": "0.5", "Failed": "3"}[tc.runPhase]
	if tc.baseline != "" {
		want = tc.checkRelativeMeasurements(t, ms, current, stableV1)
	}
	switch tc.runPhase {
	case "Successful": // count 2, both in range
		if len(ms) != 2 || nestedString(ms[0], "phase") != "Successful" || nestedString(ms[1], "phase") != "Successful" || nestedString(ms[1], "value") != want {
			t.Errorf("measurements %v, want two Successful with value %s", ms, want)
		}
	case "Failed": // failureLimit 0: the first failure ends it
		if len(ms) != 1 || nestedString(ms[0], "phase") != "Failed" || nestedString(ms[0], "value") != want {
			t.Errorf("measurements %v, want one Failed with value %s", ms, want)
		}
	case "Error": // consecutiveErrorLimit 1: two errors in a row end it
		n, _ := nested(mr, "consecutiveError").(int64)
		if n != 2 || len(ms) != 2 || nestedString(ms[0], "phase") != "Error" || nestedString(ms[1], "phase") != "Error" {
			t.Errorf("consecutiveError %v, measurements %v: want two errors", nested(mr, "consecutiveError"), ms)
		}
		want := "server unavailable" // the plugin's error kind
		if tc.provider == "web" {
			want = "received non 2xx response code: 503" // Argo's web provider; the gate's unavailable
		}
		if msg := nestedString(ms[0], "message"); !strings.Contains(msg, want) {
			t.Errorf("measurement message %q, want %q", msg, want)
		}
	}
	return tm
}

// waitRollout waits until the controller has observed the Rollout's
// current generation (Argo bumps it itself once after creation, so the
// number is not ours to predict), its current ReplicaSet runs image and
// its phase is an end state (Healthy or Degraded).
func waitRollout(t *testing.T, ctx context.Context, ri dynamic.ResourceInterface, kube kubernetes.Interface, image string) map[string]any {
	t.Helper()
	var obj map[string]any
	waitFor(t, ctx, "Rollout with "+image+" at its end state", func() (bool, string) {
		u, err := ri.Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		obj = u.Object
		st, _, _ := unstructured.NestedMap(u.Object, "status")
		if observed := nestedString(st, "observedGeneration"); observed != strconv.FormatInt(u.GetGeneration(), 10) {
			return false, fmt.Sprintf("generation %d, observed %q", u.GetGeneration(), observed)
		}
		hash := nestedString(st, "currentPodHash")
		rss, err := kube.AppsV1().ReplicaSets(u.GetNamespace()).List(ctx, metav1.ListOptions{LabelSelector: standin.RolloutLabel + "=" + hash})
		if err != nil || len(rss.Items) != 1 || rss.Items[0].Spec.Template.Spec.Containers[0].Image != image {
			return false, fmt.Sprintf("current ReplicaSet (hash %q) is not the one with %s yet (%v)", hash, image, err)
		}
		switch phase := nestedString(st, "phase"); phase {
		case "Healthy", "Degraded":
			return true, ""
		default:
			return false, fmt.Sprintf("phase %q (%s), status %v", phase, nestedString(st, "message"), st)
		}
	})
	return obj
}

// watchSizes records, per rollouts-pod-template-hash, every distinct
// spec.replicas the namespace's ReplicaSets take from now on, in order.
// sizes returns a copy; stop ends the watch.
func watchSizes(ctx context.Context, kube kubernetes.Interface, ns string) (sizes func() map[string][]int32, stop func(), err error) {
	opts := metav1.ListOptions{LabelSelector: standin.RolloutLabel}
	list, err := kube.AppsV1().ReplicaSets(ns).List(ctx, opts)
	if err != nil {
		return nil, nil, err
	}
	opts.ResourceVersion = list.ResourceVersion
	w, err := kube.AppsV1().ReplicaSets(ns).Watch(ctx, opts)
	if err != nil {
		return nil, nil, err
	}
	var mu sync.Mutex
	seen := map[string][]int32{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ev := range w.ResultChan() {
			rs, ok := ev.Object.(*appsv1.ReplicaSet)
			if !ok {
				continue
			}
			hash, n := rs.Labels[standin.RolloutLabel], ptrVal(rs.Spec.Replicas)
			mu.Lock()
			if s := seen[hash]; len(s) == 0 || s[len(s)-1] != n {
				seen[hash] = append(s, n)
			}
			mu.Unlock()
		}
	}()
	sizes = func() map[string][]int32 {
		mu.Lock()
		defer mu.Unlock()
		out := map[string][]int32{}
		for k, v := range seen {
			out[k] = slices.Clone(v)
		}
		return out
	}
	var once sync.Once
	stop = func() { once.Do(func() { w.Stop(); <-done }) }
	return sizes, stop, nil
}

func ptrVal(p *int32) int32 {
	if p == nil {
		return 1
	}
	return *p
}

// rolloutCluster prepares the cluster for Rollouts: Argo's CRDs, an admin
// clientset and the stand-in for the ReplicaSet controller and the
// kubelets (stopped when the test ends).
func rolloutCluster(t *testing.T, ctx context.Context, c *harness.Cluster) (dynamic.Interface, kubernetes.Interface, *standin.ReplicaSets) {
	t.Helper()
	dyn := installArgoCRDs(t, ctx, c)
	kube, err := kubernetes.NewForConfig(c.AdminConfig())
	if err != nil {
		t.Fatal(err)
	}
	rsStandIn, err := standin.Start(ctx, kube, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rsStandIn.Stop)
	return dyn, kube, rsStandIn
}

// installArgoCRDs applies Argo's CRDs from the module's manifests/crds and
// waits until they are served.
func installArgoCRDs(t *testing.T, ctx context.Context, c *harness.Cluster) dynamic.Interface {
	t.Helper()
	crds, err := argoctl.CRDFiles(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range crds {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.ApplyYAML(ctx, string(b)); err != nil {
			t.Fatalf("%s: %v", filepath.Base(f), err)
		}
	}
	dyn, err := dynamic.NewForConfig(c.AdminConfig())
	if err != nil {
		t.Fatal(err)
	}
	for _, gvr := range []schema.GroupVersionResource{analysisRunGVR, rolloutGVR} {
		waitFor(t, ctx, gvr.Resource+" served", func() (bool, string) {
			_, err := dyn.Resource(gvr).Namespace(ns).List(ctx, metav1.ListOptions{})
			return err == nil, fmt.Sprint(err)
		})
	}
	return dyn
}

// startDevserver starts a devserver (HTTPS, its own CA) accepting token in
// every namespace; it is closed when the test ends.
func startDevserver(t *testing.T, ctx context.Context, token string) *devserver.Server {
	t.Helper()
	s, err := devserver.Start(ctx, devserver.Config{Addr: "127.0.0.1:0", Tokens: map[string][]string{token: {devserver.AllNamespaces}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// providerFor is a gate named provider for s: its CA and token in files.
func providerFor(t *testing.T, dir, name string, s *devserver.Server, token string) gate.ProviderConfig {
	t.Helper()
	ca, tok := filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".token")
	if err := os.WriteFile(ca, s.CAPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(tok, []byte(token), 0o600); err != nil {
		t.Fatal(err)
	}
	return gate.ProviderConfig{Name: name, Address: s.URL(), CAFile: ca, TokenFile: tok}
}
