package doctor

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	"github.com/extmetrics/extmetrics/internal/testenv"
	"github.com/extmetrics/extmetrics/pkg/cmd/cmdutil"
	"github.com/extmetrics/extmetrics/pkg/devserver"
	"github.com/extmetrics/extmetrics/pkg/doctor"
	"github.com/extmetrics/extmetrics/pkg/migrate"
	"github.com/extmetrics/extmetrics/pkg/scenario"
	"github.com/extmetrics/extmetrics/test/e2e/harness"
)

const (
	crds        = "../../migrate/testdata/crds.yaml" // DatadogMetric, MetricTemplate (v1.44's enum), Canary
	flagger1361 = "../../doctor/testdata/flagger-v1.36.1-metrictemplates-crd.yaml"
	argoCRDs    = "../../doctor/testdata/argo-crds.yaml"
)

func runCmd(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	c := NewCommand()
	var out, errb bytes.Buffer
	c.SetArgs(args)
	c.SetOut(&out)
	c.SetErr(&errb)
	c.SilenceUsage, c.SilenceErrors = true, true
	err := c.ExecuteContext(context.Background())
	if err != nil {
		errb.WriteString("Error: " + err.Error())
	}
	return cmdutil.Code(err), out.String(), errb.String()
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// Against a real kube-apiserver (the e2e harness), every check meets the
// broken state it exists for, then the same cluster fixed gives exit 0:
//   - api: a devserver with the Datadog profile serves the APIService as the
//     Cluster Agent's Service, and KEDA's metrics server is installed too
//     (a second owner); a template uses a KEDA metric name;
//   - flagger: v1.44.0's Deployment, Flagger v1.36.1's MetricTemplate CRD,
//     a service account without RBAC, a template with insecureSkipVerify and
//     a Secret with token and ca.crt for a direct address;
//   - templates: each rendered for its Canary and queried once (the same
//     Runner as analyze);
//   - datadog: a DatadogMetric without the always-active annotation, one
//     Invalid with Datadog's error, one missing;
//   - argo: an AnalysisTemplate using the plugin without argo-rollouts-config,
//     one calling the gate's web endpoint without its Service.
func TestDoctorKubeAPIServer(t *testing.T) {
	testenv.Isolate(t)
	c := harness.StartT(t, harness.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	apply := func(manifest string) {
		t.Helper()
		if err := c.ApplyYAML(ctx, manifest); err != nil {
			t.Fatal(err)
		}
	}
	dyn, err := dynamic.NewForConfig(c.AdminConfig())
	if err != nil {
		t.Fatal(err)
	}
	crdGVR := schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
	waitCRD := func(names ...string) {
		t.Helper()
		for _, n := range names {
			deadline := time.Now().Add(60 * time.Second)
			for {
				crd, err := dyn.Resource(crdGVR).Get(ctx, n, metav1.GetOptions{})
				if err == nil {
					conds, _, _ := unstructured.NestedSlice(crd.Object, "status", "conditions")
					if slices.ContainsFunc(conds, func(c any) bool {
						m, _ := c.(map[string]any)
						return m["type"] == "Established" && m["status"] == "True"
					}) {
						break
					}
				}
				if time.Now().After(deadline) {
					t.Fatalf("CRD %s not established: %v", n, err)
				}
				time.Sleep(100 * time.Millisecond)
			}
		}
	}
	apply(readFile(t, crds))
	apply(readFile(t, argoCRDs))
	waitCRD("datadogmetrics.datadoghq.com", "metrictemplates.flagger.app", "canaries.flagger.app", "analysistemplates.argoproj.io", "clusteranalysistemplates.argoproj.io")
	time.Sleep(2 * time.Second) // discovery of the new groups

	dir := t.TempDir()
	// The "Cluster Agent": a devserver with the Datadog profile behind the
	// aggregation layer, as Service datadog/datadog-cluster-agent-metrics-api.
	const svc, svcNS = "datadog-cluster-agent-metrics-api", "datadog"
	certFile, keyFile, err := c.BackendCert(dir, svc, svcNS)
	if err != nil {
		t.Fatal(err)
	}
	sc := &scenario.Scenario{Metrics: []scenario.Metric{
		{Name: "datadogmetric@shop:orders-error-rate", Namespace: "shop", Generator: scenario.Constant(0.5)},
		{Name: "datadogmetric@shop:orders-latency", Namespace: "shop", Generator: scenario.Constant(120)},
		{Name: "datadogmetric@shop:orders-rps", Namespace: "shop", Generator: scenario.Constant(40)},
	}}
	agent, err := devserver.Start(ctx, devserver.Config{
		Addr: "127.0.0.1:0", Profile: devserver.ProfileDatadog, Scenario: sc,
		Tokens: map[string][]string{}, TLSCertFile: certFile, TLSKeyFile: keyFile, ClientCAFile: c.FrontProxyCAFile(),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = agent.Close() })
	if err := c.RegisterExternalMetrics(ctx, harness.Backend{Port: port(t, agent.Addr()), Service: svc, Namespace: svcNS}); err != nil {
		t.Fatal(err)
	}
	// A server a template addresses directly, with its own token and CA.
	const directToken = "direct-secret-token"
	direct, err := devserver.Start(ctx, devserver.Config{Addr: "127.0.0.1:0", Tokens: map[string][]string{directToken: {"shop"}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = direct.Close() })
	if err := direct.SetSeries("shop", "orders_per_second", map[string]string{"app": "orders"}, "7"); err != nil {
		t.Fatal(err)
	}

	b64 := func(s []byte) string { return base64.StdEncoding.EncodeToString(s) }
	apply(fmt.Sprintf(`apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: v1
kind: Namespace
metadata: {name: flagger-system}
---
apiVersion: v1
kind: Namespace
metadata: {name: keda}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: flagger, namespace: flagger-system}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: flagger, namespace: flagger-system}
spec:
  selector: {matchLabels: {app: flagger}}
  template:
    metadata: {labels: {app: flagger}}
    spec:
      serviceAccountName: flagger
      containers: [{name: flagger, image: "ghcr.io/fluxcd/flagger:1.44.0"}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: keda-operator-metrics-apiserver, namespace: keda}
spec:
  selector: {matchLabels: {app: keda-operator-metrics-apiserver}}
  template:
    metadata: {labels: {app: keda-operator-metrics-apiserver}}
    spec:
      containers: [{name: keda-operator-metrics-apiserver, image: "ghcr.io/kedacore/keda-metrics-apiserver:2.16.0"}]
---
apiVersion: v1
kind: Secret
metadata: {name: direct, namespace: shop}
data: {token: %[1]s, ca.crt: %[2]s}
---
apiVersion: flagger.app/v1beta1
kind: MetricTemplate
metadata: {name: error-rate, namespace: shop}
spec:
  provider: {type: externalmetrics}
  query: "{{ namespace }}/datadogmetric@{{ namespace }}:{{ target }}-error-rate"
---
apiVersion: flagger.app/v1beta1
kind: MetricTemplate
metadata: {name: latency, namespace: shop}
spec:
  provider: {type: externalmetrics}
  query: "{{ namespace }}/datadogmetric@{{ namespace }}:{{ target }}-latency"
---
apiVersion: flagger.app/v1beta1
kind: MetricTemplate
metadata: {name: rps, namespace: shop}
spec:
  provider: {type: externalmetrics}
  query: "{{ namespace }}/s0-prometheus-http_requests_total?labelSelector=scaledobject.keda.sh/name={{ target }}"
---
apiVersion: flagger.app/v1beta1
kind: MetricTemplate
metadata: {name: direct-orders, namespace: shop}
spec:
  provider: {type: externalmetrics, address: %[3]q, secretRef: {name: direct}}
  query: "{{ namespace }}/orders_per_second?labelSelector=app={{ target }}"
---
apiVersion: flagger.app/v1beta1
kind: MetricTemplate
metadata: {name: direct-insecure, namespace: shop}
spec:
  provider: {type: externalmetrics, address: %[3]q, insecureSkipVerify: true, secretRef: {name: direct}}
  query: "{{ namespace }}/orders_per_second?labelSelector=app={{ target }}"
---
apiVersion: flagger.app/v1beta1
kind: Canary
metadata: {name: orders, namespace: shop}
spec:
  targetRef: {apiVersion: apps/v1, kind: Deployment, name: orders}
  analysis:
    interval: 1m
    threshold: 2
    stepWeight: 20
    maxWeight: 60
    metrics:
      - {name: error-rate, templateRef: {name: error-rate}, thresholdRange: {max: 1}, interval: 1m}
      - {name: latency, templateRef: {name: latency}, thresholdRange: {max: 500}, interval: 1m}
      - {name: rps, templateRef: {name: rps}, thresholdRange: {min: 1}, interval: 1m}
      - {name: orders, templateRef: {name: direct-orders}, thresholdRange: {min: 1}, interval: 1m}
      - {name: orders-insecure, templateRef: {name: direct-insecure}, thresholdRange: {min: 1}, interval: 1m}
---
apiVersion: datadoghq.com/v1alpha1
kind: DatadogMetric
metadata: {name: orders-error-rate, namespace: shop}
spec: {query: "sum:trace.http.request.errors{service:orders}.as_rate()"}
---
apiVersion: datadoghq.com/v1alpha1
kind: DatadogMetric
metadata: {name: orders-latency, namespace: shop, annotations: {external-metrics.datadoghq.com/always-active: "true"}}
spec: {query: "avg:trace.http.request.duration{service:orders"}
---
apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: {name: orders-plugin, namespace: shop}
spec:
  metrics:
    - name: error-rate
      successCondition: result <= 1
      provider:
        plugin:
          extmetrics/external-metrics: {query: "datadogmetric@shop:orders-error-rate"}
---
apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: {name: orders-gate, namespace: shop}
spec:
  metrics:
    - name: error-rate
      successCondition: result <= 1
      provider:
        web:
          url: "http://extmetrics-gate.extmetrics/argo/v1/value?template=shop/error-rate&namespace=shop&name=orders"
          jsonPath: "{$.value}"
`, b64([]byte(directToken)), b64(direct.CAPEM()), direct.URL()))

	ddGVR := migrate.DatadogMetricResource
	setStatus := func(name, valid, errMsg string) {
		t.Helper()
		st := harness.DatadogMetricStatus{Valid: valid == "True", Value: "1", Updated: time.Now(), Error: errMsg}
		if err := c.SetDatadogMetricStatus(ctx, "shop", name, st); err != nil {
			t.Fatal(err)
		}
	}
	setStatus("orders-error-rate", "True", "")
	setStatus("orders-latency", "False", "Datadog API error: Error parsing query: unbalanced braces")

	// Flagger v1.36.1's CRD: externalmetrics is not in its enum (the
	// templates above were created under v1.44's).
	apply(readFile(t, flagger1361))
	waitCRD("metrictemplates.flagger.app")

	doctorJSON := func(wantCode int, args ...string) *doctor.Report {
		t.Helper()
		code, stdout, stderr := runCmd(t, append([]string{"--kubeconfig", c.AdminKubeconfig(), "-o", "json"}, args...)...)
		if code != wantCode {
			t.Errorf("doctor %v: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", args, code, wantCode, stdout, stderr)
		}
		var rep doctor.Report
		if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
			t.Fatalf("-o json: %v\n%s", err, stdout)
		}
		if rep.APIVersion != doctor.SchemaVersion {
			t.Errorf("apiVersion %q", rep.APIVersion)
		}
		_, table, _ := runCmd(t, append([]string{"--kubeconfig", c.AdminKubeconfig()}, args...)...)
		t.Logf("doctor %v:\n%s", args, table)
		return &rep
	}
	type want struct {
		id, sev, object, text string
	}
	expect := func(rep *doctor.Report, wants ...want) {
		t.Helper()
		for _, w := range wants {
			found := slices.ContainsFunc(rep.Findings, func(f doctor.Finding) bool {
				return f.ID == w.id && string(f.Severity) == w.sev && (w.object == "" || f.Object.String() == w.object) &&
					strings.Contains(f.Message+" "+fmt.Sprint(f.Details), w.text)
			})
			if !found {
				t.Errorf("no finding %s (%s) on %q with %q", w.id, w.sev, w.object, w.text)
			}
		}
	}

	// 1. Broken.
	rep := doctorJSON(cmdutil.ExitFailure, "-n", "shop")
	expect(rep,
		want{"api.server", "info", "APIService v1beta1.external.metrics.k8s.io", "datadog/datadog-cluster-agent-metrics-api (datadog-cluster-agent)"},
		want{"api.second-server", "error", "Deployment keda/keda-operator-metrics-apiserver", "(keda) is installed"},
		want{"api.metric-name-mismatch", "error", "MetricTemplate shop/rps", "this is a KEDA metric name"},
		want{"flagger.found", "info", "Deployment flagger-system/flagger", "Flagger v1.44.0"},
		want{"flagger.crd-no-externalmetrics", "error", "CustomResourceDefinition metrictemplates.flagger.app", "enum: prometheus, influxdb"},
		want{"flagger.rbac", "error", "ServiceAccount flagger-system/flagger", "may not list external metrics shop/datadogmetric@shop:orders-error-rate"},
		want{"flagger.insecure-skip-verify", "error", "MetricTemplate shop/direct-insecure", "insecureSkipVerify: true"},
		want{"flagger.token-ignored", "error", "MetricTemplate shop/direct-orders", "credential leak"},
		want{"flagger.ca-ignored", "error", "MetricTemplate shop/direct-orders", "the Secret's ca.crt"},
		want{"template.ok", "info", "MetricTemplate shop/direct-insecure", "values 7..7"},
		want{"template.ok", "info", "MetricTemplate shop/direct-orders", "values 7..7"},
		want{"template.ok", "info", "MetricTemplate shop/error-rate", "values 0.5..0.5"},
		want{"template.not-found", "error", "MetricTemplate shop/rps", "shop/orders"},
		want{"datadog.not-always-active", "warning", "DatadogMetric shop/orders-error-rate", "always-active"},
		want{"datadog.invalid", "error", "DatadogMetric shop/orders-latency", "unbalanced braces"},
		want{"argo.plugin-not-configured", "error", "ConfigMap argo-rollouts/argo-rollouts-config", "does not exist"},
		want{"argo.gate-missing", "error", "Service extmetrics/extmetrics-gate", "does not exist"},
		want{"flagger.dummy-metric-event", "info", "APIService v1beta1.external.metrics.k8s.io", "answers 404 for kube-system/dummy-metric"},
	)
	// Flagger before v1.43 has no externalmetrics; its pod defects are not v1.36's.
	old := doctorJSON(cmdutil.ExitFailure, "-n", "shop", "--flagger-version", "1.36.1")
	expect(old, want{"flagger.too-old", "error", "Deployment flagger-system/flagger", "Flagger v1.36.1 has no externalmetrics provider"})
	if slices.ContainsFunc(old.Findings, func(f doctor.Finding) bool { return f.ID == "flagger.token-ignored" }) {
		t.Errorf("v1.36.1 reported with v1.43-v1.44's defects")
	}
	// Only Datadog names are served: the KEDA-style name has no DatadogMetric.
	if slices.ContainsFunc(rep.Findings, func(f doctor.Finding) bool { return f.ID == "datadog.not-found" }) {
		t.Errorf("datadog.not-found for a template that names no DatadogMetric")
	}
	// Read-only: the broken objects are still there.
	if _, err := dyn.Resource(ddGVR).Namespace("shop").Get(ctx, "orders-latency", metav1.GetOptions{}); err != nil {
		t.Fatal(err)
	}

	// 2. A DatadogMetric a template names that does not exist; Flagger's
	// service account gets its RBAC; a missing template.
	apply(`apiVersion: flagger.app/v1beta1
kind: MetricTemplate
metadata: {name: rps, namespace: shop}
spec:
  provider: {type: externalmetrics}
  query: "{{ namespace }}/datadogmetric@{{ namespace }}:{{ target }}-rps"
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: flagger-external-metrics}
rules:
  - apiGroups: [external.metrics.k8s.io]
    resources: ["*"]
    verbs: [get, list]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: flagger-external-metrics}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: flagger-external-metrics}
subjects: [{kind: ServiceAccount, name: flagger, namespace: flagger-system}]
`)
	// A second series matching the direct templates' selector: ambiguous.
	if err := direct.SetSeries("shop", "orders_per_second", map[string]string{"app": "orders", "zone": "b"}, "9"); err != nil {
		t.Fatal(err)
	}
	rep = doctorJSON(cmdutil.ExitFailure, "-n", "shop")
	expect(rep,
		want{"datadog.not-found", "error", "DatadogMetric shop/orders-rps", "does not exist"},
		want{"template.ambiguous", "error", "MetricTemplate shop/direct-orders", "shop/orders"},
	)
	direct.DeleteSeries("shop", "orders_per_second", map[string]string{"app": "orders", "zone": "b"})
	for _, gone := range []string{"flagger.rbac", "api.metric-name-mismatch", "template.not-found"} {
		if slices.ContainsFunc(rep.Findings, func(f doctor.Finding) bool { return f.ID == gone }) {
			t.Errorf("%s still reported after the fix", gone)
		}
	}

	// 3. Fixed: one External Metrics server, v1.44's CRD, the DatadogMetrics
	// annotated, valid and present, the direct template called through the
	// gate (a webhook) instead of Flagger's provider, Argo configured.
	if err := dyn.Resource(schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}).Namespace("keda").Delete(ctx, "keda-operator-metrics-apiserver", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	apply(readFile(t, crds))
	waitCRD("metrictemplates.flagger.app")
	apply(`apiVersion: datadoghq.com/v1alpha1
kind: DatadogMetric
metadata: {name: orders-error-rate, namespace: shop, annotations: {external-metrics.datadoghq.com/always-active: "true"}}
spec: {query: "sum:trace.http.request.errors{service:orders}.as_rate()"}
---
apiVersion: datadoghq.com/v1alpha1
kind: DatadogMetric
metadata: {name: orders-latency, namespace: shop, annotations: {external-metrics.datadoghq.com/always-active: "true"}}
spec: {query: "avg:trace.http.request.duration{service:orders}"}
---
apiVersion: datadoghq.com/v1alpha1
kind: DatadogMetric
metadata: {name: orders-rps, namespace: shop, annotations: {external-metrics.datadoghq.com/always-active: "true"}}
spec: {query: "sum:trace.http.request.hits{service:orders}.as_rate()"}
---
apiVersion: flagger.app/v1beta1
kind: Canary
metadata: {name: orders, namespace: shop}
spec:
  targetRef: {apiVersion: apps/v1, kind: Deployment, name: orders}
  analysis:
    interval: 1m
    threshold: 2
    stepWeight: 20
    maxWeight: 60
    metrics:
      - {name: error-rate, templateRef: {name: error-rate}, thresholdRange: {max: 1}, interval: 1m}
      - {name: latency, templateRef: {name: latency}, thresholdRange: {max: 500}, interval: 1m}
      - {name: rps, templateRef: {name: rps}, thresholdRange: {min: 1}, interval: 1m}
    webhooks:
      - name: orders
        type: rollout
        url: http://extmetrics-gate.extmetrics/flagger/v1/check
        metadata: {templateRef: shop/direct-orders, min: "1"}
      - name: orders-insecure
        type: rollout
        url: http://extmetrics-gate.extmetrics/flagger/v1/check
        metadata: {templateRef: direct-insecure, min: "1"}
---
apiVersion: v1
kind: Namespace
metadata: {name: argo-rollouts}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: argo-rollouts-config, namespace: argo-rollouts}
data:
  metricProviderPlugins: |-
    - name: "extmetrics/external-metrics"
      location: "file:///plugins/rollouts-plugin-metric-extmetrics"
      sha256: "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
---
apiVersion: v1
kind: Namespace
metadata: {name: extmetrics}
---
apiVersion: v1
kind: Service
metadata: {name: extmetrics-gate, namespace: extmetrics}
spec:
  ports: [{name: http, port: 80, targetPort: 8080}]
  selector: {app: extmetrics-gate}
`)
	for _, name := range []string{"orders-error-rate", "orders-latency", "orders-rps"} {
		setStatus(name, "True", "")
	}
	rep = doctorJSON(0, "-n", "shop")
	expect(rep,
		want{"template.ok", "info", "MetricTemplate shop/direct-orders", "values 7..7"},
		want{"template.ok", "info", "MetricTemplate shop/rps", "values 40..40"},
		want{"template.ok", "info", "MetricTemplate shop/direct-insecure", "values 7..7"},
		want{"argo.plugin", "info", "ConfigMap argo-rollouts/argo-rollouts-config", "sha256 set"},
		want{"argo.gate", "info", "Service extmetrics/extmetrics-gate", "exists"},
	)
	// --probe-services asks the gate's /readyz through kube-apiserver's
	// service proxy: no pod backs the Service here (no kubelet), so the
	// proxy has no endpoint to go to.
	probed := doctorJSON(cmdutil.ExitFailure, "-n", "shop", "--probe-services")
	expect(probed, want{"argo.gate-not-ready", "error", "Service extmetrics/extmetrics-gate", "GET /readyz through the API server's service proxy failed"})
	for _, f := range rep.Findings {
		if f.Severity != doctor.SeverityInfo {
			t.Errorf("fixed cluster: %s %s on %s: %s", f.Severity, f.ID, f.Object, f.Message)
		}
	}
	// -f: a Canary and template not applied yet, checked against this
	// cluster: its DatadogMetric does not exist.
	local := filepath.Join(dir, "local")
	if err := os.MkdirAll(local, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(local, "canary.yaml"), []byte(`apiVersion: flagger.app/v1beta1
kind: MetricTemplate
metadata: {name: checkout-errors, namespace: shop}
spec:
  provider: {type: externalmetrics}
  query: "{{ namespace }}/datadogmetric@{{ namespace }}:{{ target }}-errors"
---
apiVersion: flagger.app/v1beta1
kind: Canary
metadata: {name: checkout, namespace: shop}
spec:
  targetRef: {apiVersion: apps/v1, kind: Deployment, name: checkout}
  analysis:
    stepWeight: 50
    metrics:
      - {name: errors, templateRef: {name: checkout-errors}, thresholdRange: {max: 1}}
      - {name: error-rate, templateRef: {name: error-rate}, thresholdRange: {max: 1}}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	rep = doctorJSON(cmdutil.ExitFailure, "-n", "shop", "-f", local)
	expect(rep,
		want{"datadog.not-found", "error", "DatadogMetric shop/checkout-errors", "does not exist"},
		want{"template.not-found", "error", "MetricTemplate shop/checkout-errors", "shop/checkout"},
		// The cluster's template, rendered for the local Canary.
		want{"template.not-found", "error", "MetricTemplate shop/error-rate", "datadogmetric@shop:checkout-error-rate"},
	)
	if slices.ContainsFunc(rep.Findings, func(f doctor.Finding) bool { return f.Object.Name == "orders" }) {
		t.Errorf("-f checks the cluster's Canaries too")
	}

	// -A sees the same; a namespace without canaries has nothing to say about templates.
	doctorJSON(0, "-A")
	rep = doctorJSON(0, "-n", "flagger-system")
	if slices.ContainsFunc(rep.Findings, func(f doctor.Finding) bool { return strings.HasPrefix(f.ID, "template.") }) {
		t.Errorf("-n flagger-system reports templates: %+v", rep.Findings)
	}

	// 4. The Cluster Agent goes down: the APIService is unavailable, and
	// the templates read through it fail.
	_ = agent.Close()
	if err := c.WaitExternalMetrics(ctx, false, 90*time.Second); err != nil {
		t.Fatal(err)
	}
	rep = doctorJSON(cmdutil.ExitFailure, "-n", "shop")
	expect(rep,
		want{"api.unavailable", "error", "APIService v1beta1.external.metrics.k8s.io", "Available=False"},
		want{"template.unavailable", "error", "MetricTemplate shop/error-rate", "shop/orders"},
		want{"template.ok", "info", "MetricTemplate shop/direct-orders", "values 7..7"}, // its own address
	)
}

func port(t *testing.T, addr string) int {
	t.Helper()
	_, p, ok := strings.Cut(addr, "127.0.0.1:")
	n, err := strconv.Atoi(p)
	if !ok || err != nil {
		t.Fatalf("not a loopback address: %q", addr)
	}
	return n
}

// A cluster that does not answer: exit 2 (could not run), not 1.
func TestDoctorCannotRun(t *testing.T) {
	testenv.Isolate(t)
	kc := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(kc, []byte(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: u, user: {token: x}}]
contexts: [{name: c, context: {cluster: c, user: u}}]
current-context: c
`), 0o600); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := runCmd(t, "--kubeconfig", kc, "-A")
	if code != cmdutil.ExitUsage || !strings.Contains(stderr, "doctor could not run") || !strings.Contains(stderr, "cannot reach the cluster") || stdout != "" {
		t.Errorf("exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	for _, args := range [][]string{{"-n", "a", "-A"}, {"-o", "yaml"}} {
		if code, _, stderr := runCmd(t, append([]string{"--kubeconfig", kc}, args...)...); code != cmdutil.ExitUsage {
			t.Errorf("%v: exit %d: %s", args, code, stderr)
		}
	}
}
