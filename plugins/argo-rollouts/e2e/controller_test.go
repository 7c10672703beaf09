// Package e2e runs the real Argo Rollouts controller (rollouts-controller
// v1.10.1, built from the module proxy) with the extmetrics plugin against
// a real kube-apiserver (test/e2e/harness), whose aggregation layer proxies
// external.metrics.k8s.io to the development server. Standalone
// AnalysisRuns (no pods needed) must end Successful, Failed and Error as
// Argo's rules say.
package e2e_test

import (
	"context"
	"encoding/base64"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/extmetrics/extmetrics/internal/ctlbuild"
	"github.com/extmetrics/extmetrics/pkg/devserver"
	"github.com/extmetrics/extmetrics/test/e2e/harness"

	"github.com/extmetrics/extmetrics/plugins/argo-rollouts/internal/argoctl"
	"github.com/extmetrics/extmetrics/plugins/argo-rollouts/internal/plugintest"
	"github.com/extmetrics/extmetrics/plugins/argo-rollouts/metricplugin"
)

var (
	shared = harness.NewShared(harness.Options{})

	controllerBin, pluginBin string
	prepErr                  error
)

// TestMain builds the plugin and the controller (cached) before the tests'
// timeout starts, like the harness does for kube-apiserver, and within go
// test's -timeout (ctlbuild.Budget).
func TestMain(m *testing.M) {
	flag.Parse()
	if !testing.Short() {
		start := time.Now()
		prepErr = ctlbuild.WithinTimeout(2*time.Minute, "the plugin and rollouts-controller were not built",
			"raise -timeout; what was compiled stays in the Go build cache",
			func(ctx context.Context) (err error) {
				if pluginBin, err = plugintest.BuildBinary(); err != nil {
					return err
				}
				gomod, err := argoctl.PluginGoMod(ctx)
				if err != nil {
					return err
				}
				controllerBin, err = argoctl.Build(ctx, gomod, func(f string, a ...any) { fmt.Fprintf(os.Stderr, f+"\n", a...) })
				return err
			})
		if d := time.Since(start); d > 10*time.Second {
			fmt.Fprintf(os.Stderr, "e2e: plugin and rollouts-controller ready in %s\n", d.Round(time.Second))
		}
	}
	code := shared.Main(m)
	plugintest.Cleanup()
	os.Exit(code)
}

var analysisRunGVR = schema.GroupVersionResource{Group: "argoproj.io", Version: "v1alpha1", Resource: "analysisruns"}

const ns = "shop"

func TestRolloutsControllerWithPlugin(t *testing.T) {
	c := shared.Get(t)
	if prepErr != nil {
		harness.Unavailable(t, prepErr)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if out, err := exec.CommandContext(ctx, controllerBin, "--version").CombinedOutput(); err != nil || !strings.Contains(string(out), strings.TrimPrefix(argoctl.Version, "v")) {
		t.Fatalf("%s --version: %s %v", controllerBin, out, err)
	}

	// Argo's CRDs, from the module's manifests/crds.
	dyn := installArgoCRDs(t, ctx, c)

	// The devserver behind the aggregation layer: serving certificate from
	// the cluster CA; no bearer tokens (kube-apiserver forwards none; the
	// devserver only listens on 127.0.0.1).
	backend := aggregatedDevserver(t, ctx, c, devserver.ProfilePrometheusAdapter)
	for metric, v := range map[string]string{"checkout_error_rate": "500m", "payments_error_rate": "3"} {
		if err := backend.SetSeries(ns, metric, map[string]string{"app": "web"}, v); err != nil {
			t.Fatal(err)
		}
	}

	// A second server reached directly (address + secretRef): its own token.
	direct := devserverWithToken(t, ctx, "shop-metrics-token")
	if err := direct.SetSeries(ns, "queue_backlog", nil, "42"); err != nil {
		t.Fatal(err)
	}

	// The plugin in argo-rollouts-config, then the controller (it copies
	// plugins at start-up).
	if err := c.ApplyYAML(ctx, argoctl.ConfigMap(metricplugin.PluginName, pluginBin, "--log-level=debug")); err != nil {
		t.Fatal(err)
	}
	if err := c.ApplyYAML(ctx, fmt.Sprintf(`apiVersion: v1
kind: Namespace
metadata:
  name: %[1]s
---
apiVersion: v1
kind: Secret
metadata:
  name: queue-metrics
  namespace: %[1]s
data:
  api-token: %[2]s
  ca.crt: %[3]s
`, ns, base64.StdEncoding.EncodeToString([]byte("shop-metrics-token")), base64.StdEncoding.EncodeToString(direct.CAPEM()))); err != nil {
		t.Fatal(err)
	}
	// The controller runs as Argo's service account with Argo's own
	// ClusterRole, plus examples/argo-rollouts/rbac.yaml for the External
	// Metrics API: the permissions docs/argo-rollouts.md tells users to grant.
	startController(t, ctx, c, false)

	t.Run("in range: Successful", func(t *testing.T) {
		st := runAnalysis(t, ctx, c, dyn, "in-range", `successCondition: result <= 1`, `query: "shop/checkout_error_rate?labelSelector=app%3Dweb"`)
		expect(t, st, "Successful", "Successful", "0.5")
		md := nestedMap(st, "metricResults", 0, "measurements", 0, "metadata")
		if md[metricplugin.MetaQuery] != "shop/checkout_error_rate?labelSelector=app=web" || md[metricplugin.MetaItems] != "1" || md[metricplugin.MetaServer] != c.URL() {
			t.Errorf("measurement metadata %v (cluster %s)", md, c.URL())
		}
	})
	t.Run("out of range: Failed", func(t *testing.T) {
		st := runAnalysis(t, ctx, c, dyn, "out-of-range", `successCondition: result <= 1`, `query: "shop/payments_error_rate"`)
		expect(t, st, "Failed", "Failed", "3")
	})
	t.Run("address and secretRef: Successful", func(t *testing.T) {
		st := runAnalysis(t, ctx, c, dyn, "secret-ref", `successCondition: result < 100`, fmt.Sprintf(`query: "shop/queue_backlog"
          address: %q
          secretRef: {name: queue-metrics, key: api-token}`, direct.URL()))
		expect(t, st, "Successful", "Successful", "42")
	})
	t.Run("missing secret: Error naming the field", func(t *testing.T) {
		st := runAnalysis(t, ctx, c, dyn, "missing-secret", `successCondition: result < 100`, fmt.Sprintf(`query: "shop/queue_backlog"
          address: %q
          secretRef: {name: nosuch}`, direct.URL()))
		expect(t, st, "Error", "Error", "")
		if msg := nestedString(st, "metricResults", 0, "measurements", 0, "message"); !strings.Contains(msg, `secretRef.name: secret "nosuch" not found`) {
			t.Errorf("measurement message %q", msg)
		}
	})

	// The APIService now points at a devserver imitating the Datadog
	// Cluster Agent (the one before is stopped).
	backend.Close()
	backend = aggregatedDevserver(t, ctx, c, devserver.ProfileDatadog)
	if err := backend.SetSeries(ns, "datadogmetric@shop:checkout-error-rate", nil, "250m"); err != nil {
		t.Fatal(err)
	}
	t.Run("Datadog Cluster Agent profile: Successful", func(t *testing.T) {
		st := runAnalysis(t, ctx, c, dyn, "datadog", `successCondition: result <= 1`, `query: "datadogmetric@shop:checkout-error-rate"`)
		expect(t, st, "Successful", "Successful", "0.25")
	})
	t.Run("backend stopped: Error", func(t *testing.T) {
		backend.Close()
		st := runAnalysis(t, ctx, c, dyn, "backend-stopped", `successCondition: result <= 1`, `query: "datadogmetric@shop:checkout-error-rate"`)
		expect(t, st, "Error", "Error", "")
		msg := nestedString(st, "metricResults", 0, "measurements", 0, "message")
		if !strings.Contains(msg, "server unavailable") {
			t.Errorf("measurement message %q", msg)
		}
		t.Logf("measurement message: %s; run message: %s", msg, nestedString(st, "message"))
	})
	t.Run("backend stopped, consecutiveErrorLimit 1: Error after two errors", func(t *testing.T) {
		// Argo retries an errored measurement after its error retry
		// interval (10 s) and ends the run when the limit is exceeded.
		st := runAnalysisLimit(t, ctx, c, dyn, "backend-stopped-limit", `successCondition: result <= 1`, `query: "datadogmetric@shop:checkout-error-rate"`, 1)
		expect(t, st, "Error", "Error", "")
		if n, _ := nested(st, "metricResults", 0, "consecutiveError").(int64); n != 2 {
			t.Errorf("consecutiveError %v, want 2; status %v", nested(st, "metricResults", 0, "consecutiveError"), st)
		}
		if got := nestedString(st, "metricResults", 0, "measurements", 1, "phase"); got != "Error" {
			t.Errorf("second measurement phase %q", got)
		}
	})
}

// runAnalysis creates a standalone AnalysisRun with one metric (count 1;
// the first error ends it: consecutiveErrorLimit 0) and waits for it to
// complete, returning its status.
func runAnalysis(t *testing.T, ctx context.Context, c *harness.Cluster, dyn dynamic.Interface, name, condition, pluginCfg string) map[string]any {
	t.Helper()
	return runAnalysisLimit(t, ctx, c, dyn, name, condition, pluginCfg, 0)
}

// runAnalysisLimit is runAnalysis with a consecutiveErrorLimit.
func runAnalysisLimit(t *testing.T, ctx context.Context, c *harness.Cluster, dyn dynamic.Interface, name, condition, pluginCfg string, errorLimit int) map[string]any {
	t.Helper()
	manifest := fmt.Sprintf(`apiVersion: argoproj.io/v1alpha1
kind: AnalysisRun
metadata:
  name: %s
  namespace: %s
spec:
  metrics:
    - name: m
      count: 1
      consecutiveErrorLimit: %d
      %s
      provider:
        plugin:
          %s:
%s
`, name, ns, errorLimit, condition, metricplugin.PluginName, indent(pluginCfg))
	if err := c.ApplyYAML(ctx, manifest); err != nil {
		t.Fatalf("create AnalysisRun: %v\n%s", err, manifest)
	}
	return waitAnalysisRun(t, ctx, dyn, ns, name)
}

// waitAnalysisRun waits until the AnalysisRun namespace/name has completed
// (Successful, Failed, Error or Inconclusive) and returns its status.
func waitAnalysisRun(t *testing.T, ctx context.Context, dyn dynamic.Interface, namespace, name string) map[string]any {
	t.Helper()
	var status map[string]any
	waitFor(t, ctx, "AnalysisRun "+namespace+"/"+name+" completed", func() (bool, string) {
		u, err := dyn.Resource(analysisRunGVR).Namespace(namespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		status, _, _ = unstructured.NestedMap(u.Object, "status")
		phase, _ := status["phase"].(string)
		switch phase {
		case "Successful", "Failed", "Error", "Inconclusive":
			return true, ""
		}
		return false, fmt.Sprintf("phase %q, status %v", phase, status)
	})
	return status
}

// indent puts the plugin configuration under its key.
func indent(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	for i, l := range lines {
		lines[i] = "            " + strings.TrimSpace(l)
	}
	return strings.Join(lines, "\n")
}

func expect(t *testing.T, st map[string]any, runPhase, measurementPhase, value string) {
	t.Helper()
	if got := nestedString(st, "phase"); got != runPhase {
		t.Errorf("AnalysisRun phase %q, want %q; status %v", got, runPhase, st)
	}
	if got := nestedString(st, "metricResults", 0, "measurements", 0, "phase"); got != measurementPhase {
		t.Errorf("measurement phase %q, want %q; status %v", got, measurementPhase, st)
	}
	if value != "" {
		if got := nestedString(st, "metricResults", 0, "measurements", 0, "value"); got != value {
			t.Errorf("measurement value %q, want %q", got, value)
		}
	}
}

// nested walks maps (string keys) and slices (int keys).
func nested(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, _ := v.(map[string]any)
			v = m[k]
		case int:
			s, _ := v.([]any)
			if k >= len(s) {
				return nil
			}
			v = s[k]
		}
	}
	return v
}

func nestedString(v any, path ...any) string {
	s, _ := nested(v, path...).(string)
	return s
}

func nestedMap(v any, path ...any) map[string]string {
	m, _ := nested(v, path...).(map[string]any)
	out := map[string]string{}
	for k, x := range m {
		out[k], _ = x.(string)
	}
	return out
}

func waitFor(t *testing.T, ctx context.Context, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	last := ""
	for {
		ok, why := cond()
		if ok {
			return
		}
		last = why
		if time.Now().After(deadline) || ctx.Err() != nil {
			t.Fatalf("waiting for %s: %s", what, last)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func devserverWithToken(t *testing.T, ctx context.Context, token string) *devserver.Server {
	t.Helper()
	s, err := devserver.Start(ctx, devserver.Config{Addr: "127.0.0.1:0", Tokens: map[string][]string{token: {ns}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func port(t *testing.T, addr string) int {
	t.Helper()
	var p int
	if _, err := fmt.Sscanf(addr[strings.LastIndexByte(addr, ':')+1:], "%d", &p); err != nil {
		t.Fatalf("address %q: %v", addr, err)
	}
	return p
}

// startController runs the rollouts-controller as controllerIdentity:
// only its AnalysisRun controller, or (all) every controller Argo runs by
// default, as a Rollout needs. It is stopped when the test ends, and the
// tail of its log is printed when the test failed. A controller that does
// not start fails the test in CI (CI=true) and skips it elsewhere.
func startController(t *testing.T, ctx context.Context, c *harness.Cluster, all bool) {
	t.Helper()
	work := t.TempDir()
	start, what := argoctl.Start, "rollouts-controller"
	if all {
		start, what = argoctl.StartAll, "rollouts-controller (every controller)"
	}
	ctrl, err := start(ctx, controllerBin, controllerIdentity(t, ctx, c, work), work)
	if err != nil {
		if harness.InCI() {
			t.Fatalf("%s did not start (CI=true, so this fails): %v", what, err)
		}
		t.Skipf("%s did not start (skipped outside CI; with CI=true this fails): %v", what, err)
	}
	t.Cleanup(ctrl.Stop)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("%s log (tail):\n%s", what, ctrl.LogTail(20000))
		}
	})
}

// controllerIdentity applies Argo's ClusterRole (from the module's
// manifests/role), binds it and the example's External Metrics reader role to
// the service account argo-rollouts/argo-rollouts, and writes a kubeconfig
// with a token of that service account.
func controllerIdentity(t *testing.T, ctx context.Context, c *harness.Cluster, dir string) string {
	t.Helper()
	mod, err := argoctl.ModuleDir(ctx)
	if err != nil {
		t.Fatal(err)
	}
	role, err := os.ReadFile(filepath.Join(mod, "manifests", "role", "argo-rollouts-clusterrole.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	rbac, err := os.ReadFile(filepath.Join("..", "..", "..", "examples", "argo-rollouts", "rbac.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	token, err := c.ServiceAccountToken(ctx, argoctl.Namespace, "argo-rollouts", 0)
	if err != nil {
		t.Fatal(err)
	}
	binding := `apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: argo-rollouts
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: argo-rollouts
subjects:
  - kind: ServiceAccount
    name: argo-rollouts
    namespace: ` + argoctl.Namespace + "\n"
	for _, m := range []string{string(role), binding, string(rbac)} {
		if err := c.ApplyYAML(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(dir, "kubeconfig")
	if err := c.WriteKubeconfig(path, "argo-rollouts", token); err != nil {
		t.Fatal(err)
	}
	return path
}

// aggregatedDevserver starts a devserver with profile behind the aggregation
// layer (serving certificate from the cluster CA; no bearer tokens:
// kube-apiserver forwards none, and the devserver only listens on
// 127.0.0.1) and points the external metrics APIService at it. It is
// closed when the test ends (closing twice is harmless).
func aggregatedDevserver(t *testing.T, ctx context.Context, c *harness.Cluster, profile string) *devserver.Server {
	t.Helper()
	certFile, keyFile, err := c.BackendCert(t.TempDir(), "", "")
	if err != nil {
		t.Fatal(err)
	}
	s, err := devserver.Start(ctx, devserver.Config{
		Addr: "127.0.0.1:0", Profile: profile,
		Tokens: map[string][]string{}, TLSCertFile: certFile, TLSKeyFile: keyFile,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := c.RegisterExternalMetrics(ctx, harness.Backend{Port: port(t, s.Addr())}); err != nil {
		t.Fatal(err)
	}
	return s
}
