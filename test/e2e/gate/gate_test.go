package gate_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"sigs.k8s.io/yaml"

	"github.com/extmetrics/extmetrics/internal/testutil"
	"github.com/extmetrics/extmetrics/pkg/cmd"
	"github.com/extmetrics/extmetrics/pkg/devserver"
	"github.com/extmetrics/extmetrics/pkg/gate"
	"github.com/extmetrics/extmetrics/pkg/gate/kubesource"
	"github.com/extmetrics/extmetrics/test/e2e/harness"
)

var cluster = harness.NewShared(harness.Options{})

func TestMain(m *testing.M) { os.Exit(cluster.Main(m)) }

func repoRoot(t testing.TB) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..")
}

// moduleFile reads a file of a Go module (downloaded through the Go module
// proxy into the module cache): Flagger's and Argo Rollouts' CRDs.
func moduleFile(t testing.TB, module, file string) string {
	t.Helper()
	gomod := exec.Command("go", "mod", "download", "-json", module)
	gomod.Dir = t.TempDir() // outside any module: go.mod stays untouched
	gomod.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GO111MODULE=on")
	out, err := gomod.Output()
	if err != nil {
		harness.Unavailable(t, fmt.Errorf("go mod download %s: %v", module, err))
	}
	var mod struct{ Dir string }
	if err := json.Unmarshal(out, &mod); err != nil || mod.Dir == "" {
		t.Fatalf("go mod download: %v: %s", err, out)
	}
	b, err := os.ReadFile(filepath.Join(mod.Dir, file))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// flaggerCRDs is artifacts/flagger/crd.yaml of the Flagger module.
func flaggerCRDs(t testing.TB) string {
	return moduleFile(t, "github.com/fluxcd/flagger@v1.36.1", filepath.Join("artifacts", "flagger", "crd.yaml"))
}

// kustomize renders deploy/ with the real kubectl.
func kustomize(t testing.TB) string {
	t.Helper()
	bin, err := harness.KubectlPath()
	if err != nil {
		harness.Unavailable(t, err)
	}
	out, err := exec.Command(bin, "kustomize", filepath.Join(repoRoot(t), "deploy")).Output()
	if err != nil {
		t.Fatalf("kubectl kustomize deploy/: %v", err)
	}
	return string(out)
}

// TestManifests decodes every object of deploy/ strictly into the
// Kubernetes API types and checks what the issue asks of them.
func TestManifests(t *testing.T) {
	docs := strings.Split(kustomize(t), "\n---\n")
	kinds := map[string]int{}
	for _, doc := range docs {
		var meta struct{ Kind string }
		if err := yaml.Unmarshal([]byte(doc), &meta); err != nil {
			t.Fatal(err)
		}
		kinds[meta.Kind]++
		strict := func(v any) {
			if err := yaml.UnmarshalStrict([]byte(doc), v); err != nil {
				t.Fatalf("%s: %v", meta.Kind, err)
			}
		}
		switch meta.Kind {
		case "Deployment":
			var d appsv1.Deployment
			strict(&d)
			ps := d.Spec.Template.Spec
			c := ps.Containers[0]
			switch {
			case d.Spec.Replicas == nil || *d.Spec.Replicas != 2:
				t.Error("replicas: want 2")
			case ps.SecurityContext == nil || ps.SecurityContext.RunAsNonRoot == nil || !*ps.SecurityContext.RunAsNonRoot:
				t.Error("runAsNonRoot")
			case c.SecurityContext == nil || c.SecurityContext.ReadOnlyRootFilesystem == nil || !*c.SecurityContext.ReadOnlyRootFilesystem:
				t.Error("readOnlyRootFilesystem")
			case c.SecurityContext.AllowPrivilegeEscalation == nil || *c.SecurityContext.AllowPrivilegeEscalation:
				t.Error("allowPrivilegeEscalation")
			case c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero():
				t.Error("resource requests")
			case c.LivenessProbe == nil || c.LivenessProbe.HTTPGet.Path != "/healthz" || c.ReadinessProbe == nil || c.ReadinessProbe.HTTPGet.Path != "/readyz":
				t.Error("probes")
			case ps.ServiceAccountName != "extmetrics-gate":
				t.Error("serviceAccountName")
			}
		case "ClusterRole":
			var r rbacv1.ClusterRole
			strict(&r)
			// Read-only, except create and patch on core events (the
			// checks' Events) and nothing else.
			for _, rule := range r.Rules {
				writesEvents := len(rule.APIGroups) == 1 && rule.APIGroups[0] == "" && len(rule.Resources) == 1 && rule.Resources[0] == "events"
				for _, v := range rule.Verbs {
					switch {
					case writesEvents && (v == "create" || v == "patch"):
					case writesEvents:
						t.Errorf("ClusterRole %s: verb %q on events (want create and patch only)", r.Name, v)
					case v != "get" && v != "list" && v != "watch":
						t.Errorf("ClusterRole %s: verb %q is not read-only", r.Name, v)
					}
				}
				for _, res := range rule.Resources {
					if !map[string]bool{"metrictemplates": true, "canaries": true, "secrets": true, "events": writesEvents, "*": rule.APIGroups[0] == "external.metrics.k8s.io"}[res] {
						t.Errorf("ClusterRole %s: resource %q", r.Name, res)
					}
				}
			}
		case "NetworkPolicy":
			var n networkingv1.NetworkPolicy
			strict(&n)
			if len(n.Spec.Ingress) == 0 || n.Spec.PodSelector.MatchLabels["app.kubernetes.io/name"] != "extmetrics-gate" {
				t.Error("NetworkPolicy")
			}
		case "PodDisruptionBudget":
			var p policyv1.PodDisruptionBudget
			strict(&p)
		case "Service":
			var s corev1.Service
			strict(&s)
		case "ConfigMap":
			var cm corev1.ConfigMap
			strict(&cm)
			if _, err := gate.ParseConfig([]byte(cm.Data["gate.yaml"])); err != nil {
				t.Errorf("gate.yaml: %v", err)
			}
		case "Namespace", "ServiceAccount", "ClusterRoleBinding":
		default:
			t.Errorf("unexpected kind %q", meta.Kind)
		}
	}
	for _, k := range []string{"Namespace", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Deployment", "Service", "PodDisruptionBudget", "NetworkPolicy", "ConfigMap"} {
		if kinds[k] == 0 {
			t.Errorf("deploy/ has no %s", k)
		}
	}
}

// deployGate applies Flagger's CRDs and deploy/ (after a server-side dry
// run) and returns a token of the deployed gate's service account and a
// kubeconfig with it: the gate's identity and RBAC, as in a cluster.
func deployGate(t *testing.T, ctx context.Context, c *harness.Cluster) (token, kubeconfig string) {
	t.Helper()
	root := repoRoot(t)
	if err := c.ApplyYAML(ctx, flaggerCRDs(t)); err != nil {
		t.Fatalf("Flagger CRDs: %v", err)
	}
	testutil.Eventually(t, 30*time.Second, "Flagger CRDs established", func() (bool, string) {
		out, _, err := c.Kubectl(ctx, "get", "--raw", "/apis/flagger.app/v1beta1")
		return err == nil && strings.Contains(out, "metrictemplates"), out
	})

	// The manifests are valid for a real API server (a server-side dry run
	// cannot create the namespace its other objects go to, so it exists).
	if err := c.ApplyYAML(ctx, "apiVersion: v1\nkind: Namespace\nmetadata: {name: extmetrics}\n"); err != nil {
		t.Fatal(err)
	}
	if out, stderr, err := c.Kubectl(ctx, "apply", "--dry-run=server", "-k", filepath.Join(root, "deploy")); err != nil {
		t.Fatalf("kubectl apply --dry-run=server -k deploy/: %v\n%s\n%s", err, out, stderr)
	}
	// ... and applied for real, they give the gate its identity and RBAC.
	if out, stderr, err := c.Kubectl(ctx, "apply", "-k", filepath.Join(root, "deploy")); err != nil {
		t.Fatalf("kubectl apply -k deploy/: %v\n%s\n%s", err, out, stderr)
	}
	token, err := c.ServiceAccountToken(ctx, "extmetrics", "extmetrics-gate", 0)
	if err != nil {
		t.Fatal(err)
	}
	kubeconfig = filepath.Join(t.TempDir(), "gate-kubeconfig")
	if err := c.WriteKubeconfig(kubeconfig, "extmetrics-gate", token); err != nil {
		t.Fatal(err)
	}
	return token, kubeconfig
}

func portOf(t testing.TB, addr string) int {
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	n, _ := strconv.Atoi(p)
	return n
}

// TestGateAgainstKubeAPIServer: the deploy/ manifests pass server-side dry
// run; with Flagger's CRDs, the gate's own ServiceAccount and ClusterRoles
// from deploy/, real MetricTemplates, Canaries and Secrets reach the gate
// through informers; a template with an address uses its Secret, one
// without goes through the aggregation layer with the gate's token.
func TestGateAgainstKubeAPIServer(t *testing.T) {
	c := cluster.Get(t)
	ctx := context.Background()
	token, kc := deployGate(t, ctx, c)
	gateCfg := c.TokenConfig(token)
	for _, verb := range []string{"create secrets -n shop", "delete metrictemplates.flagger.app -n shop", "update canaries.flagger.app -n shop", "list pods -n shop",
		"delete events -n shop", "update events -n shop", "list events -n shop"} {
		out, _, _ := c.KubectlWithKubeconfig(ctx, kc, append([]string{"auth", "can-i"}, strings.Fields(verb)...)...)
		if strings.TrimSpace(out) != "no" {
			t.Errorf("the gate's service account may %s: %q", verb, out)
		}
	}
	for _, verb := range []string{"create events -n shop", "patch events -n shop"} {
		out, _, _ := c.KubectlWithKubeconfig(ctx, kc, append([]string{"auth", "can-i"}, strings.Fields(verb)...)...)
		if strings.TrimSpace(out) != "yes" {
			t.Errorf("the gate's service account may not %s (its Events): %q", verb, out)
		}
	}

	// Upstreams: a devserver reached directly (template with address and
	// secretRef) and one behind the aggregation layer (no address).
	direct, err := devserver.Start(ctx, devserver.Config{Addr: "127.0.0.1:0", Tokens: map[string][]string{"template-token": {"*"}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { direct.Close() })
	direct.SetSeries("shop", "error_rate", map[string]string{"app": "podinfo"}, "500m")

	certFile, keyFile, err := c.BackendCert(t.TempDir(), "", "")
	if err != nil {
		t.Fatal(err)
	}
	agg, err := devserver.Start(ctx, devserver.Config{Addr: "127.0.0.1:0", Tokens: map[string][]string{},
		TLSCertFile: certFile, TLSKeyFile: keyFile, ClientCAFile: c.FrontProxyCAFile()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { agg.Close() })
	agg.SetSeries("shop", "latency_p99", map[string]string{"app": "podinfo"}, "180")
	if err := c.RegisterExternalMetrics(ctx, harness.Backend{Port: portOf(t, agg.Addr())}); err != nil {
		t.Fatal(err)
	}

	objs := fmt.Sprintf(`
apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: v1
kind: Secret
metadata: {name: devserver, namespace: shop}
stringData:
  token: template-token
  ca.crt: |
%s
---
apiVersion: flagger.app/v1beta1
kind: MetricTemplate
metadata:
  name: error-rate
  namespace: shop
  annotations: {extmetrics.dev/provider-type: externalmetrics}
spec:
  provider:
    type: prometheus
    address: %s
    secretRef: {name: devserver}
  query: |
    {{ namespace }}/error_rate?labelSelector=app%%3D{{ target }}
---
apiVersion: flagger.app/v1beta1
kind: MetricTemplate
metadata:
  name: latency
  namespace: shop
  annotations: {extmetrics.dev/provider-type: externalmetrics}
spec:
  provider: {type: prometheus}
  query: '{{ namespace }}/{{ variables.metric }}?labelSelector=app%%3D{{ target }}'
---
apiVersion: flagger.app/v1beta1
kind: Canary
metadata: {name: podinfo, namespace: shop}
spec:
  targetRef: {apiVersion: apps/v1, kind: Deployment, name: podinfo}
  service: {port: 9898}
  analysis:
    interval: 1m
    threshold: 5
    maxWeight: 50
    stepWeight: 10
    metrics:
      - name: latency
        templateRef: {name: latency}
        templateVariables: {metric: latency_p99}
        thresholdRange: {max: 500}
    webhooks:
      - name: error-rate
        type: rollout
        url: http://extmetrics-gate.extmetrics/flagger/v1/check
        metadata: {templateRef: error-rate, max: "1"}
`, indent(string(direct.CAPEM()), "    "), direct.URL())
	if err := c.ApplyYAML(ctx, objs); err != nil {
		t.Fatal(err)
	}
	// Flagger v1.36.1's CRD refuses spec.provider.type externalmetrics (its
	// enum predates it): hence the annotation above (docs/gate.md).
	err = c.ApplyYAML(ctx, "apiVersion: flagger.app/v1beta1\nkind: MetricTemplate\nmetadata: {name: typed, namespace: shop}\nspec:\n  provider: {type: externalmetrics}\n  query: shop/m\n")
	if err == nil || !strings.Contains(err.Error(), `Unsupported value: "externalmetrics"`) {
		t.Errorf("Flagger v1.36.1's CRD and type externalmetrics: %v (did the CRD change? update docs/gate.md)", err)
	}
	// A template of another type without the annotation is refused by the gate.
	if err := c.ApplyYAML(ctx, "apiVersion: flagger.app/v1beta1\nkind: MetricTemplate\nmetadata: {name: prom, namespace: shop}\nspec:\n  provider: {type: prometheus, address: http://prometheus:9090}\n  query: up\n"); err != nil {
		t.Fatal(err)
	}

	// The gate, with the service account's identity and informers.
	src, err := kubesource.New(gateCfg, kubesource.Options{Namespaces: []string{"shop"}})
	if err != nil {
		t.Fatal(err)
	}
	g, err := gate.New(gate.Options{Cluster: gateCfg, Objects: src, Ready: src.Ready, Collectors: src.Collectors(),
		Config: &gate.Config{Providers: []gate.ProviderConfig{{Name: "cluster"}}}})
	if err != nil {
		t.Fatal(err)
	}
	sctx, cancel := context.WithCancel(ctx)
	t.Cleanup(cancel)
	src.Start(sctx)
	srv := httptest.NewServer(g.Handler())
	t.Cleanup(srv.Close)
	testutil.Eventually(t, 30*time.Second, "/readyz", func() (bool, string) {
		code, body := call(t, "GET", srv.URL+"/readyz", "")
		return code == 200, body
	})

	flagger := func(md string) (int, string) {
		return call(t, "POST", srv.URL+"/flagger/v1/check", `{"name":"podinfo","namespace":"shop","phase":"Progressing","checksum":"x","metadata":`+md+`}`)
	}
	// Template with address: its Secret's token and CA; {{ target }} from the Canary.
	if code, body := flagger(`{"templateRef":"error-rate","max":"1"}`); code != 200 || !strings.Contains(body, `"value":0.5`) || !strings.Contains(body, "app=podinfo") {
		t.Fatalf("error-rate: %d %s", code, body)
	}
	// Template without address: the aggregation layer, the gate's token,
	// the Canary's templateVariables.
	if code, body := flagger(`{"templateRef":"shop/latency","max":"500"}`); code != 200 || !strings.Contains(body, `"value":180`) {
		t.Fatalf("latency: %d %s", code, body)
	}
	if code, body := flagger(`{"templateRef":"latency","max":"100"}`); code != 422 || !strings.Contains(body, "value 180 outside max 100") {
		t.Fatalf("latency out of range: %d %s", code, body)
	}
	if code, body := flagger(`{"templateRef":"prom","max":"1"}`); code != 400 || !strings.Contains(body, `spec.provider.type "prometheus"`) {
		t.Fatalf("prometheus template: %d %s", code, body)
	}
	// The named "cluster" provider: the same aggregation layer.
	if code, body := call(t, "POST", srv.URL+"/v1/check", `{"provider":"cluster","query":"shop/latency_p99","max":200}`); code != 200 {
		t.Fatalf("cluster provider: %d %s", code, body)
	}

	// Informers follow changes: a new threshold in the cluster is the next answer.
	if err := c.ApplyYAML(ctx, `
apiVersion: flagger.app/v1beta1
kind: MetricTemplate
metadata:
  name: error-rate
  namespace: shop
  annotations: {extmetrics.dev/provider-type: externalmetrics}
spec:
  provider: {type: prometheus, address: `+direct.URL()+`, secretRef: {name: devserver}}
  query: 'shop/error_rate?labelSelector=app%3Dmissing'
`); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 30*time.Second, "the updated template", func() (bool, string) {
		code, body := flagger(`{"templateRef":"error-rate","max":"1"}`)
		return code == 424 && strings.Contains(body, "no-values"), fmt.Sprint(code, body)
	})
	// A deleted Secret fails closed.
	if _, _, err := c.Kubectl(ctx, "delete", "secret", "-n", "shop", "devserver"); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 30*time.Second, "the deleted secret", func() (bool, string) {
		code, body := flagger(`{"templateRef":"error-rate","max":"1"}`)
		return code == 400 && strings.Contains(body, `Secret "devserver" not found`), fmt.Sprint(code, body)
	})
	// A namespace that is not watched.
	if code, body := call(t, "POST", srv.URL+"/flagger/v1/check", `{"name":"x","namespace":"default","metadata":{"templateRef":"error-rate","max":"1"}}`); code != 400 || !strings.Contains(body, "not watched") {
		t.Fatalf("unwatched namespace: %d %s", code, body)
	}
	// The command itself, with the service account's kubeconfig.
	url, stop := runCommand(t, "gate", "--listen", "127.0.0.1:0", "--kubeconfig", kc, "--namespaces", "shop")
	testutil.Eventually(t, 30*time.Second, "the command's /readyz", func() (bool, string) {
		code, body := call(t, "GET", url+"/readyz", "")
		return code == 200 && strings.Contains(body, "informers synced"), body
	})
	if code, body := call(t, "POST", url+"/flagger/v1/check", `{"name":"podinfo","namespace":"shop","metadata":{"templateRef":"latency","max":"500"}}`); code != 200 {
		t.Fatalf("command: %d %s", code, body)
	}
	if logs := stop(); !strings.Contains(logs, "cluster from kubeconfig "+kc) || !strings.Contains(logs, `"msg":"check"`) || strings.Contains(logs, token) {
		t.Fatalf("command logs: %s", logs)
	}

	_, m := call(t, "GET", srv.URL+"/metrics", "")
	for _, want := range []string{`extmetrics_gate_informer_synced{resource="metrictemplates"} 1`, "extmetrics_gate_informer_lag_seconds_count"} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	if strings.Contains(m, token) || strings.Contains(m, "template-token") {
		t.Fatal("token in metrics")
	}
}

// runCommand runs the extmetrics command line in-process; it returns the
// URL of its listening line and a stop function (SIGTERM's context cancel)
// that returns its stderr.
func runCommand(t *testing.T, args ...string) (string, func() string) {
	t.Helper()
	root := cmd.NewRoot()
	root.SetArgs(args)
	c := testutil.StartCommand(t, root)
	m := regexp.MustCompile(`listening on (\S+)`).FindStringSubmatch(c.Line)
	if m == nil {
		t.Fatalf("line %q", c.Line)
	}
	return m[1], func() string {
		_ = c.Stop()
		return c.Stderr.String()
	}
}

func call(t testing.TB, method, url, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func indent(s, pre string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i := range lines {
		lines[i] = pre + lines[i]
	}
	return strings.Join(lines, "\n")
}
