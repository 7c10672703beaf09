package doctor

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/extmetrics/extmetrics/pkg/flagger"
)

func TestParseVersion(t *testing.T) {
	for in, want := range map[string]string{"1.44.0": "v1.44.0", "v1.43.2": "v1.43.2", "1.36.1-rc.1": "v1.36.1", "1.45": "v1.45.0"} {
		v, ok := ParseVersion(in)
		if !ok || v.String() != want {
			t.Errorf("ParseVersion(%q) = %v, %v; want %s", in, v, ok, want)
		}
	}
	if _, ok := ParseVersion("latest"); ok {
		t.Error("latest parsed")
	}
	for in, want := range map[string][2]bool{"1.36.1": {false, false}, "1.43.0": {true, true}, "1.44.9": {true, true}, "1.45.0": {true, false}, "2.0.0": {true, false}} {
		v, _ := ParseVersion(in)
		if got := [2]bool{v.HasExternalMetrics(), v.HasPodDefects()}; got != want {
			t.Errorf("%s: externalmetrics, pod defects = %v, want %v", in, got, want)
		}
	}
}

// Every note of the shared rule has a finding ID.
func TestPodFindingsCoverRule(t *testing.T) {
	for _, code := range []string{flagger.CompatPodInsecureSkipVerify, flagger.CompatPodSecretTokenIgnored, flagger.CompatPodTokenLeak,
		flagger.CompatPodSecretCAIgnored, flagger.CompatPodClientCertIgnored, flagger.CompatPodSecretIgnored} {
		if !strings.HasPrefix(code, podCompatPrefix) {
			t.Errorf("%s lacks the prefix %s", code, podCompatPrefix)
		}
		if _, ok := podFindings[code]; !ok {
			t.Errorf("no finding for %s", code)
		}
	}
}

func TestClassify(t *testing.T) {
	for want, words := range map[ServerKind][]string{
		ServerDatadog:    {"datadog-cluster-agent-metrics-api", "datadog"},
		ServerKEDA:       {"keda-operator-metrics-apiserver", "keda"},
		ServerPromAdapt:  {"prometheus-adapter", "monitoring"},
		ServerExtmetrics: {"extmetrics-backend"},
		"":               {"custom-metrics", "kube-system"},
	} {
		if got := classify(words...); got != want {
			t.Errorf("classify(%v) = %q, want %q", words, got, want)
		}
	}
}

func TestGateTarget(t *testing.T) {
	for raw, want := range map[string]string{
		"http://extmetrics-gate.extmetrics/argo/v1/value?template=a":             "extmetrics/extmetrics-gate/80/http",
		"https://extmetrics-gate.extmetrics.svc:8443/argo/v1/value":              "extmetrics/extmetrics-gate/8443/https",
		"http://gate/argo/v1/value":                                              "shop/gate/80/http",
		"http://extmetrics-gate.extmetrics/flagger/v1/check":                     "",
		"http://10.0.0.1/argo/v1/value":                                          "",
		"https://api.example.com/v1/query?x=/argo/v1/value":                      "",
		"http://extmetrics-gate.extmetrics.svc.cluster.local:80/argo/v1/value?x": "extmetrics/extmetrics-gate/80/http",
	} {
		got, _ := gateTarget(raw, "shop")
		if got != want {
			t.Errorf("gateTarget(%q) = %q, want %q", raw, got, want)
		}
	}
}

func TestDatadogRef(t *testing.T) {
	ns, name, ok := datadogRef("datadogmetric@Shop:orders-rps")
	if !ok || ns != "shop" || name != "orders-rps" {
		t.Errorf("%q %q %v", ns, name, ok)
	}
	for _, bad := range []string{"s0-prometheus", "datadogmetric@shop", "datadogmetric@:x", "datadogmetric@x:"} {
		if _, _, ok := datadogRef(bad); ok {
			t.Errorf("%q parsed", bad)
		}
	}
}

// The enum is read from Flagger v1.36.1's CRD (testdata): externalmetrics is not in it.
func TestProviderTypeEnum(t *testing.T) {
	b, err := os.ReadFile("testdata/flagger-v1.36.1-metrictemplates-crd.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := yaml.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	enum, ok := providerTypeEnum(&unstructured.Unstructured{Object: m})
	if !ok || len(enum) != 8 || enum[0] != "prometheus" || strings.Contains(strings.Join(enum, ","), "externalmetrics") {
		t.Errorf("enum %v, %v", enum, ok)
	}
}

func TestGateWebhookMetrics(t *testing.T) {
	set := flagger.NewSet(flagger.Options{})
	set.Parse("c.yaml", []byte(`
apiVersion: flagger.app/v1beta1
kind: Canary
metadata: {name: web, namespace: shop}
spec:
  targetRef: {name: web}
  analysis:
    webhooks:
      - name: load
        url: http://loadtester.test/
        metadata: {mx: "1"}
      - name: err
        url: http://extmetrics-gate.extmetrics/flagger/v1/check
        metadata: {templateRef: other/error-rate, max: "1", interval: 2m, variables.region: eu}
      - name: named
        url: http://extmetrics-gate.extmetrics/flagger/v1/check
        metadata: {provider: datadog, query: "x", max: "1"}
      - name: typo
        url: http://extmetrics-gate.extmetrics/flagger/v1/check
        metadata: {templateRef: error-rate, mx: "1"}
`))
	if err := set.Err(); err != nil {
		t.Fatal(err)
	}
	got, bad := gateWebhookMetrics(set.Canaries[0])
	if len(got) != 1 {
		t.Fatalf("%d metrics, want 1: %+v", len(got), got)
	}
	g := got[0]
	if g.Name != "webhook err" || g.TemplateRef.Namespace != "other" || g.TemplateRef.Name != "error-rate" || g.Interval != "2m" ||
		g.ThresholdRange == nil || g.ThresholdRange.Min != nil || *g.ThresholdRange.Max != 1 || g.TemplateVariables["region"] != "eu" {
		t.Errorf("%+v", g)
	}
	// The gate's own reading: an unknown key is refused, as the gate would.
	if len(bad) != 1 || bad["typo"] == nil || !strings.Contains(bad["typo"].Error(), `unknown metadata key(s) "mx"`) {
		t.Errorf("bad %v", bad)
	}
}

func TestOutput(t *testing.T) {
	rep := &Report{APIVersion: SchemaVersion, Cluster: "https://127.0.0.1:6443", Namespaces: []string{"shop"}, Findings: []Finding{
		{ID: "template.ok", Severity: SeverityInfo, Object: Object{Kind: "MetricTemplate", Namespace: "shop", Name: "a"}, Message: "fine", Details: map[string]string{"value": "1"}},
		{ID: "api.unavailable", Severity: SeverityError, Object: Object{Kind: "APIService", Name: APIServiceName}, Message: "Available=False\n(x)", Rollout: "fails", Fix: "fix it"},
		{ID: "datadog.not-always-active", Severity: SeverityWarning, Object: Object{Kind: "DatadogMetric", Namespace: "shop", Name: "b"}, Message: "no annotation"},
	}}
	rep.finish()
	if rep.Summary != (Summary{Errors: 1, Warnings: 1, Info: 1}) || !rep.HasErrors() || rep.Findings[0].ID != "api.unavailable" || rep.Findings[2].ID != "template.ok" {
		t.Errorf("%+v", rep)
	}
	var tb bytes.Buffer
	if err := WriteTable(&tb, rep); err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"ERROR   api.unavailable  APIService v1beta1.external.metrics.k8s.io\n        Available=False (x)\n        rollout: fails\n        fix: fix it\n",
		"INFO    template.ok  MetricTemplate shop/a\n        fine\n        value=1\n",
		"1 error(s), 1 warning(s), 1 info (https://127.0.0.1:6443, namespace shop)\n"} {
		if !strings.Contains(tb.String(), w) {
			t.Errorf("table lacks %q:\n%s", w, tb.String())
		}
	}
	var jb bytes.Buffer
	if err := WriteJSON(&jb, rep); err != nil {
		t.Fatal(err)
	}
	var back map[string]any
	if err := json.Unmarshal(jb.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	fs := back["findings"].([]any)
	f0 := fs[0].(map[string]any)
	for _, k := range []string{"id", "severity", "object", "message", "rollout", "fix"} {
		if _, ok := f0[k]; !ok {
			t.Errorf("finding JSON lacks %q: %s", k, jb.String())
		}
	}
	if back["apiVersion"] != SchemaVersion || back["summary"].(map[string]any)["errors"] != 1.0 {
		t.Errorf("%s", jb.String())
	}
	empty := &Report{APIVersion: SchemaVersion}
	empty.finish()
	jb.Reset()
	_ = WriteJSON(&jb, empty)
	if !strings.Contains(jb.String(), `"findings": []`) {
		t.Errorf("no findings must be an empty array: %s", jb.String())
	}
}
