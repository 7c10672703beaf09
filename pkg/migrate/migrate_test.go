package migrate

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/extmetrics/extmetrics/pkg/flagger"
	"github.com/extmetrics/extmetrics/pkg/scenario"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the output (go test -update rewrites it); got:\n%s", path, got)
	}
}

func loadGolden(t *testing.T) *Input {
	t.Helper()
	in, err := Load([]string{"testdata/istio/templates.yaml", "testdata/istio/canaries.yaml"}, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return in
}

func TestMigrateGolden(t *testing.T) {
	res, err := Migrate(loadGolden(t), Options{})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := res.WriteYAML(&out, ""); err != nil {
		t.Fatal(err)
	}
	golden(t, "out.yaml", out.Bytes())

	var sc bytes.Buffer
	if err := res.WriteScenario(&sc); err != nil {
		t.Fatal(err)
	}
	golden(t, "scenario.yaml", sc.Bytes())
	parsed, err := scenario.Parse("scenario.yaml", sc.Bytes())
	if err != nil {
		t.Fatalf("the scenario does not parse: %v", err)
	}
	if len(parsed.Metrics) != len(res.DatadogMetrics) {
		t.Errorf("%d series for %d DatadogMetrics", len(parsed.Metrics), len(res.DatadogMetrics))
	}

	// What the golden files show, said once more in code.
	names := map[string]*DatadogMetric{}
	for _, d := range res.DatadogMetrics {
		names[d.Ref()] = d
		if !IsValidName(d.Name) {
			t.Errorf("invalid name %q", d.Name)
		}
	}
	if len(names) != 6 {
		t.Errorf("want 6 DatadogMetrics (3 canaries × 2 Datadog metrics), got %d: %v", len(names), slices.Sorted(maps.Keys(names)))
	}
	for ref, window := range map[string]string{
		"shop/checkout-success-rate": "10m0s",
		"shop/checkout-latency-p99":  "20m0s",
		"shop/cart-success-rate":     "5m0s",
		"payments/payments-reconciliation-worker-eu-central-1-success-rate": "10m0s",
	} {
		if d := names[ref]; d == nil || d.TimeWindow.String() != window {
			t.Errorf("%s: %+v, want timeWindow %s", ref, d, window)
		}
	}
	if d := names["shop/checkout-latency-p99"]; d == nil || !strings.Contains(d.Query, "destination_service_name:checkout-svc") || !strings.HasSuffix(d.Query, ".rollup(max, 2m)") {
		t.Errorf("latency query not rendered with service and interval: %+v", d)
	}
	var queue *DatadogMetric
	for _, d := range res.DatadogMetrics {
		if d.Metric.Name == "oldest-message-age-seconds" {
			queue = d
		}
	}
	if queue == nil || !queue.Shortened || len(queue.Name) > MaxNameLength || !strings.Contains(queue.Query, "queuename:reconciliation-eu-central-1,env:prod") {
		t.Errorf("queue metric: %+v", queue)
	}
	if len(res.Templates) != 3 {
		t.Fatalf("want 3 templates, got %d", len(res.Templates))
	}
	for _, tm := range res.Templates {
		wantVar := tm.Source.Name == "dd-queue-age"
		if tm.ByVariable != wantVar {
			t.Errorf("%s: ByVariable %v", tm.Key(), tm.ByVariable)
		}
	}
	if len(res.Canaries) != 3 {
		t.Errorf("want 3 rewritten canaries, got %d", len(res.Canaries))
	}
	if !strings.Contains(strings.Join(res.Notes, "\n"), `spec.analysis.metrics[2]: left as it is: not a templateRef metric`) {
		t.Errorf("no note about the builtin check: %q", res.Notes)
	}
}

func TestMigrateOutDir(t *testing.T) {
	res, err := Migrate(loadGolden(t), Options{Address: "https://datadog-cluster-agent-metrics-api.datadog.svc:8443", SecretName: "dca-token"})
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "out")
	paths, err := res.WriteDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{filepath.Join(dir, "istio-system.yaml"), filepath.Join(dir, "payments.yaml"), filepath.Join(dir, "shop.yaml")}
	if strings.Join(paths, " ") != strings.Join(want, " ") {
		t.Fatalf("wrote %v, want %v", paths, want)
	}
	// Every file loads back, and each object sits in its file's namespace.
	total := 0
	for _, p := range paths {
		set, err := flagger.Load([]string{p}, flagger.Options{AcceptDatadog: true})
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		ns := strings.TrimSuffix(filepath.Base(p), ".yaml")
		for _, tm := range set.Templates {
			total++
			if tm.Namespace != ns || tm.Spec.Provider.Address != "https://datadog-cluster-agent-metrics-api.datadog.svc:8443" || tm.Spec.Provider.SecretRef.Name != "dca-token" {
				t.Errorf("%s: template %+v", p, tm)
			}
		}
		for _, c := range set.Canaries {
			total++
			if c.Namespace != ns {
				t.Errorf("%s: canary %s", p, c.Key())
			}
		}
	}
	if total != 6 {
		t.Errorf("want 3 templates and 3 canaries in the files, got %d objects", total)
	}
}

const refuseTemplates = `apiVersion: flagger.app/v1beta1
kind: MetricTemplate
metadata: {name: grouped, namespace: web}
spec:
  provider: {type: datadog}
  query: avg:http.errors{service:{{ target }}} by {pod}
---
apiVersion: flagger.app/v1beta1
kind: MetricTemplate
metadata: {name: two, namespace: web}
spec:
  provider: {type: datadog}
  query: sum:a{app:{{ target }}}, sum:b{app:{{ target }}}
---
apiVersion: flagger.app/v1beta1
kind: MetricTemplate
metadata: {name: vars, namespace: web}
spec:
  provider: {type: datadog}
  query: sum:a{app:{{ target }},zone:{{ variables.zone }}}
---
apiVersion: flagger.app/v1beta1
kind: MetricTemplate
metadata: {name: agentvar, namespace: web}
spec:
  provider: {type: datadog}
  query: sum:a{app:{{ target }},cluster:%%env_CLUSTER%%}
---
apiVersion: flagger.app/v1beta1
kind: MetricTemplate
metadata: {name: ok, namespace: web}
spec:
  provider: {type: datadog}
  query: sum:ok{app:{{ target }}}
---
apiVersion: flagger.app/v1beta1
kind: Canary
metadata: {name: web, namespace: web}
spec:
  targetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
  analysis:
    metrics:
      - {name: grouped, templateRef: {name: grouped}, thresholdRange: {max: 1}, interval: 1m}
      - {name: two, templateRef: {name: two}, thresholdRange: {max: 1}, interval: 1m}
      - {name: vars, templateRef: {name: vars}, thresholdRange: {max: 1}, interval: 1m}
      - {name: agentvar, templateRef: {name: agentvar}, thresholdRange: {max: 1}, interval: 1m}
      - {name: no-interval, templateRef: {name: ok}, thresholdRange: {max: 1}}
      - {name: reserved, templateRef: {name: ok}, thresholdRange: {max: 1}, interval: 1m, templateVariables: {datadogMetric: x}}
      - {name: missing, templateRef: {name: nope}, thresholdRange: {max: 1}, interval: 1m}
      - {name: fine, templateRef: {name: ok}, thresholdRange: {max: 1}, interval: 1m}
`

func TestMigrateRefuses(t *testing.T) {
	in, err := NewInput("", map[string][]byte{"r.yaml": []byte(refuseTemplates)})
	if err != nil {
		t.Fatal(err)
	}
	_, err = Migrate(in, Options{})
	if !errors.Is(err, ErrRefused) {
		t.Fatalf("want ErrRefused, got %v", err)
	}
	msg := err.Error()
	for _, want := range []string{
		`7 metric(s) cannot be migrated faithfully (listed below; --skip-unsupported migrates the rest and lists them)`,
		`r.yaml: document 6: Canary web/web: spec.analysis.metrics[0] (grouped): MetricTemplate web/grouped: it groups "by {...}"`,
		`spec.analysis.metrics[1] (two): MetricTemplate web/two: a comma outside parentheses and braces makes it several queries`,
		`spec.analysis.metrics[2] (vars): templateRef: MetricTemplate web/vars (r.yaml: document 3): spec.query: line 1, column 31: {{ variables.zone }}: no templateVariables key "zone"`,
		`spec.analysis.metrics[3] (agentvar): MetricTemplate web/agentvar: the query holds %%...%%`,
		`spec.analysis.metrics[4] (no-interval): no interval: Flagger's datadog provider cannot run this metric`,
		`spec.analysis.metrics[5] (reserved): templateVariables.datadogMetric is reserved by the migration`,
		`spec.analysis.metrics[6] (missing): templateRef: MetricTemplate "nope" not found in namespace "web"`,
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q:\n%s", want, msg)
		}
	}
	if strings.Contains(msg, "(fine)") {
		t.Errorf("the good metric is refused:\n%s", msg)
	}

	res, err := Migrate(in, Options{SkipUnsupported: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Skipped) != 7 || len(res.DatadogMetrics) != 1 || res.DatadogMetrics[0].Name != "web-fine" {
		t.Fatalf("skipped %d, migrated %+v", len(res.Skipped), res.DatadogMetrics)
	}
	var out bytes.Buffer
	if err := res.WriteYAML(&out, ""); err != nil {
		t.Fatal(err)
	}
	// The canary is rewritten for the migrated metric only.
	if strings.Count(out.String(), "ok-externalmetrics") != 3 || !strings.Contains(out.String(), "name: grouped\n") {
		t.Errorf("output:\n%s", out.String())
	}
}

func TestMigrateCollisionsAndJSON(t *testing.T) {
	// Canary "a-b" metric "c" and canary "a" metric "b-c" want the same
	// name; input in JSON (flow style) comes out as block YAML.
	in, err := NewInput("team", map[string][]byte{"c.json": []byte(`{"apiVersion":"v1","kind":"List","items":[
	{"apiVersion":"flagger.app/v1beta1","kind":"MetricTemplate","metadata":{"name":"t"},
	 "spec":{"provider":{"type":"datadog"},"query":"sum:x{app:{{ target }}}"}},
	{"apiVersion":"flagger.app/v1beta1","kind":"Canary","metadata":{"name":"a-b"},
	 "spec":{"targetRef":{"name":"ab"},"analysis":{"metrics":[{"name":"c","templateRef":{"name":"t"},"thresholdRange":{"max":1},"interval":"1m"}]}}},
	{"apiVersion":"flagger.app/v1beta1","kind":"Canary","metadata":{"name":"a"},
	 "spec":{"targetRef":{"name":"a"},"analysis":{"metrics":[{"name":"b-c","templateRef":{"name":"t"},"thresholdRange":{"max":1},"interval":"1m"}]}}}]}`)})
	if err != nil {
		t.Fatal(err)
	}
	res, err := Migrate(in, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.DatadogMetrics) != 2 || res.DatadogMetrics[0].Name == res.DatadogMetrics[1].Name {
		t.Fatalf("names: %+v", res.DatadogMetrics)
	}
	if !res.Templates[0].ByVariable {
		t.Error("a shortened name needs the variable")
	}
	var out bytes.Buffer
	if err := res.WriteYAML(&out, ""); err != nil {
		t.Fatal(err)
	}
	s := out.String()
	if strings.Contains(s, "{") && !strings.Contains(s, "{{") {
		t.Errorf("flow style left in the output:\n%s", s)
	}
	set, err := flagger.Load([]string{"-"}, flagger.Options{Stdin: &out})
	if err != nil {
		t.Fatal(err)
	}
	rs, err := set.Resolve()
	if err != nil {
		t.Fatalf("migrated objects do not resolve for analyze: %v", err)
	}
	got := map[string]bool{}
	for _, r := range rs {
		got[r.Checks[0].Query] = true
		if r.Canary.Namespace != "team" {
			t.Errorf("canary namespace %q", r.Canary.Namespace)
		}
	}
	for _, d := range res.DatadogMetrics {
		if !got["team/"+d.ExternalMetricName()] {
			t.Errorf("no check reads %s: %v", d.ExternalMetricName(), got)
		}
	}
}

func TestMigrateAliasBomb(t *testing.T) {
	// Each level doubles: 2^30 nodes once expanded.
	var b strings.Builder
	b.WriteString("apiVersion: flagger.app/v1beta1\nkind: MetricTemplate\nmetadata: {name: t, namespace: ns}\nspec: {provider: {type: datadog}, query: 'sum:x{app:{{ target }}}'}\n---\n")
	b.WriteString("apiVersion: flagger.app/v1beta1\nkind: Canary\nmetadata: {name: c, namespace: ns}\nspec:\n  targetRef: {name: c}\n  x0: &x0 [a, a]\n")
	for i := 1; i <= 30; i++ {
		fmt.Fprintf(&b, "  x%d: &x%d [*x%d, *x%d]\n", i, i, i-1, i-1)
	}
	b.WriteString("  analysis:\n    metrics: [{name: m, templateRef: {name: t}, thresholdRange: {max: 1}, interval: 1m}]\n")
	in, err := NewInput("", map[string][]byte{"bomb.yaml": []byte(b.String())})
	if err != nil {
		t.Fatal(err)
	}
	_, err = Migrate(in, Options{})
	if err == nil || !strings.Contains(err.Error(), "expands to more than 65536 YAML nodes") {
		t.Fatalf("want the expansion refused, got %v", err)
	}
}

// Migrating again with the new templates in the input: refused per metric,
// never a second template of the same name.
func TestMigrateNewTemplateNameTaken(t *testing.T) {
	in, err := NewInput("ns", map[string][]byte{"a.yaml": []byte(`apiVersion: flagger.app/v1beta1
kind: MetricTemplate
metadata: {name: t}
spec: {provider: {type: datadog}, query: "sum:x{app:{{ target }}}"}
---
apiVersion: flagger.app/v1beta1
kind: MetricTemplate
metadata: {name: t-externalmetrics}
spec: {provider: {type: externalmetrics}, query: "{{ namespace }}/datadogmetric@{{ namespace }}:{{ name }}-m"}
---
apiVersion: flagger.app/v1beta1
kind: Canary
metadata: {name: c}
spec:
  targetRef: {name: c}
  analysis:
    metrics: [{name: m, templateRef: {name: t}, thresholdRange: {max: 1}, interval: 1m}]
`)})
	if err != nil {
		t.Fatal(err)
	}
	_, err = Migrate(in, Options{})
	if err == nil || !strings.Contains(err.Error(), "spec.analysis.metrics[0] (m): MetricTemplate ns/t: the new template's name ns/t-externalmetrics is already taken in the input (migrated already?)") {
		t.Fatalf("got %v", err)
	}
	res, err := Migrate(in, Options{SkipUnsupported: true})
	if err != nil || len(res.DatadogMetrics) != 0 || len(res.Templates) != 0 || len(res.Canaries) != 0 || len(res.Skipped) != 1 {
		t.Fatalf("res %+v, err %v", res, err)
	}
}

// Load reads paths with flagger.Load and keeps each file's content; a file
// given twice, a missing file and a directory without YAML are errors
// naming the path, and stdin is read for "-".
func TestLoadPaths(t *testing.T) {
	const tmpl = "testdata/istio/templates.yaml"
	_, err := Load([]string{tmpl, tmpl}, LoadOptions{})
	if err == nil || !strings.Contains(err.Error(), tmpl+": given more than once") {
		t.Fatalf("a file twice: %v", err)
	}
	dir := t.TempDir()
	_, err = Load([]string{filepath.Join(dir, "none.yaml"), dir}, LoadOptions{})
	if err == nil || !strings.Contains(err.Error(), "none.yaml: no such file or directory") ||
		!strings.Contains(err.Error(), dir+": directory has no .yaml, .yml or .json files") {
		t.Fatalf("missing file and empty directory: %v", err)
	}
	want, err := os.ReadFile("testdata/istio/canaries.yaml")
	if err != nil {
		t.Fatal(err)
	}
	in, err := Load([]string{tmpl, "-"}, LoadOptions{Stdin: bytes.NewReader(want)})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(in.files["<stdin>"], want) || len(in.files) != 2 || len(in.Set.Canaries) == 0 {
		t.Fatalf("files kept %v, canaries %d", slices.Sorted(maps.Keys(in.files)), len(in.Set.Canaries))
	}
	if _, err := Migrate(in, Options{}); err != nil {
		t.Fatalf("migrating what was read from stdin: %v", err)
	}
}
