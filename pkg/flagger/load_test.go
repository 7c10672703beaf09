package flagger

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation/field"
)

const goodCanary = `apiVersion: flagger.app/v1beta1
kind: Canary
metadata:
  name: podinfo
  namespace: test
spec:
  provider: istio
  targetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: podinfo
  service:
    name: podinfo-svc
    port: 9898
    portDiscovery: true
  autoscalerRef:
    apiVersion: autoscaling/v2
    kind: HorizontalPodAutoscaler
    name: podinfo
  analysis:
    interval: 30s
    threshold: 2
    maxWeight: 50
    stepWeight: 10
    webhooks:
      - name: load-test
        url: http://flagger-loadtester.test/
    metrics:
      - name: error-rate
        templateRef:
          name: error-rate
          namespace: flagger-system
        templateVariables:
          direction: inbound
        thresholdRange:
          max: 5
        interval: 1m
      - name: latency
        templateRef:
          name: latency
        threshold: 500
`

const goodTemplates = `apiVersion: flagger.app/v1beta1
kind: MetricTemplate
metadata:
  name: error-rate
  namespace: flagger-system
spec:
  provider:
    type: externalmetrics
    address: https://metrics.example:8443
    secretRef:
      name: metrics-auth
  query: |
    {{ namespace }}/errors?labelSelector=app={{ service }},direction={{ variables.direction }}&maxAge={{ interval }}
---
apiVersion: v1
kind: Secret
metadata:
  name: metrics-auth
  namespace: flagger-system
data:
  token: c2VjcmV0LXRva2Vu
stringData:
  ca.crt: PEM
---
apiVersion: flagger.app/v1alpha1
kind: MetricTemplate
metadata:
  name: latency
  namespace: test
spec:
  provider:
    type: externalmetrics
  query: latency_p99?labelSelector=deployment={{ target }}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: unrelated
`

func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestLoadAndResolve(t *testing.T) {
	dir := writeFiles(t, map[string]string{"canary.yaml": goodCanary, "templates.yml": goodTemplates, "README.md": "not yaml"})
	set, err := Load([]string{dir}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(set.Canaries) != 1 || len(set.Templates) != 2 || len(set.Secrets) != 1 {
		t.Fatalf("loaded %d canaries, %d templates, %d secrets", len(set.Canaries), len(set.Templates), len(set.Secrets))
	}
	resolved, err := set.Resolve()
	if err != nil {
		t.Fatal(err)
	}
	if len(resolved) != 1 || len(resolved[0].Checks) != 2 {
		t.Fatalf("resolved %+v", resolved)
	}
	c := resolved[0].Canary
	if c.Key() != "test/podinfo" || c.Spec.Analysis.StepWeight != 10 || c.Spec.Analysis.MaxWeight != 50 || c.Spec.Analysis.Threshold != 2 {
		t.Fatalf("canary %+v analysis %+v", c, c.Spec.Analysis)
	}
	er := resolved[0].Checks[0]
	if er.TemplateRef() != "flagger-system/error-rate" {
		t.Errorf("templateRef.namespace not honoured: %s", er.TemplateRef())
	}
	if want := "test/errors?labelSelector=app=podinfo-svc,direction=inbound&maxAge=1m"; er.Query != want {
		t.Errorf("query %q, want %q", er.Query, want)
	}
	if er.Metric.ThresholdRange == nil || *er.Metric.ThresholdRange.Max != 5 || er.Metric.ThresholdRange.Min != nil {
		t.Errorf("thresholdRange %+v", er.Metric.ThresholdRange)
	}
	data := er.SecretData()
	if string(data["token"]) != "secret-token" || string(data["ca.crt"]) != "PEM" {
		t.Errorf("secret data keys %v", slices.Sorted(maps.Keys(data)))
	}
	lat := resolved[0].Checks[1]
	// No templateRef.namespace: the canary's namespace (test), as Flagger.
	if lat.TemplateRef() != "test/latency" || lat.Secret != nil || lat.Template.APIVersion != TemplateV1alpha1 {
		t.Errorf("latency resolved to %s (secret %v)", lat.TemplateRef(), lat.Secret)
	}
	if !lat.Metric.HasThreshold || lat.Metric.Threshold != 500 || lat.Query != "latency_p99?labelSelector=deployment=podinfo" {
		t.Errorf("latency %+v query %q", lat.Metric, lat.Query)
	}
	notes := strings.Join(set.Notes, "\n")
	for _, want := range []string{"skipped v1 ConfigMap", "1 webhook(s) not run"} {
		if !strings.Contains(notes, want) {
			t.Errorf("notes lack %q:\n%s", want, notes)
		}
	}
	if strings.Contains(notes, "secret-token") || strings.Contains(set.Secrets[0].String(), "secret-token") {
		t.Error("a secret value leaked")
	}
}

func TestLoadStdinAndList(t *testing.T) {
	list := `{"apiVersion": "v1", "kind": "List", "items": [
	  {"apiVersion": "flagger.app/v1beta1", "kind": "MetricTemplate", "metadata": {"name": "latency"},
	   "spec": {"provider": {"type": "externalmetrics"}, "query": "latency"}},
	  {"apiVersion": "flagger.app/v1beta1", "kind": "Canary", "metadata": {"name": "app"},
	   "spec": {"targetRef": {"name": "app"}, "analysis": {"iterations": 3, "metrics": [
	     {"name": "latency", "templateRef": {"name": "latency"}, "thresholdRange": {"min": 0, "max": 100}}]}}}
	]}`
	set, err := Load([]string{"-"}, Options{Stdin: strings.NewReader(list), DefaultNamespace: "dev"})
	if err != nil {
		t.Fatal(err)
	}
	r, err := set.Resolve()
	if err != nil {
		t.Fatal(err)
	}
	if len(r) != 1 || r[0].Canary.Namespace != "dev" || r[0].Checks[0].TemplateRef() != "dev/latency" {
		t.Fatalf("got %+v", r)
	}
	if src := r[0].Canary.Source.String(); src != "<stdin>: document 1: items[1]" {
		t.Errorf("source %q", src)
	}
}

// Every error names file, document, field and line.
func TestLoadErrors(t *testing.T) {
	canaryWith := func(metrics string) string {
		return `apiVersion: flagger.app/v1beta1
kind: Canary
metadata:
  name: app
  namespace: istio-system
spec:
  targetRef:
    name: app
  analysis:
    stepWeight: 10
    metrics:
` + metrics
	}
	template := func(name, ns, provider, extra string) string {
		return `apiVersion: flagger.app/v1beta1
kind: MetricTemplate
metadata:
  name: ` + name + `
  namespace: ` + ns + `
spec:
  provider:
    type: ` + provider + extra + `
  query: "{{ namespace }}/` + name + `"
`
	}
	okMetric := `      - name: ok
        templateRef:
          name: ok
        thresholdRange:
          max: 1
`
	tests := []struct {
		name  string
		files map[string]string
		want  []string // substrings of the error
	}{
		{
			name: "template not found",
			files: map[string]string{"canary.yaml": template("ok", "istio-system", "externalmetrics", "") + "---\n" + canaryWith(okMetric+`      - name: errors
        templateRef:
          name: errors
        thresholdRange:
          max: 1
`) + "---\n" + template("errors", "default", "externalmetrics", "")},
			want: []string{`canary.yaml: document 2: spec.analysis.metrics[1].templateRef: MetricTemplate "errors" not found in namespace "istio-system" (there is one in namespace "default": set templateRef.namespace) (line 27)`},
		},
		{
			name: "bad number",
			files: map[string]string{"c.yaml": canaryWith(`      - name: m
        templateRef: {name: ok}
        thresholdRange:
          min: abc
`)},
			want: []string{`c.yaml: document 1: spec.analysis.metrics[0].thresholdRange.min: want a number, got the string "abc" (line 15)`},
		},
		{
			name: "typo in metric",
			files: map[string]string{"c.yaml": canaryWith(`      - name: m
        templateRef: {name: ok}
        thresholdRnage:
          max: 1
`)},
			want: []string{`c.yaml: document 1: spec.analysis.metrics[0].thresholdRnage: unknown field "thresholdRnage" (allowed: name, interval, threshold, thresholdRange, query, templateRef, templateVariables) (line 14)`},
		},
		{
			name:  "other provider",
			files: map[string]string{"c.yaml": template("ok", "istio-system", "prometheus", "\n    address: http://prom:9090") + "---\n" + canaryWith(okMetric)},
			want:  []string{`c.yaml: document 2: spec.analysis.metrics[0].templateRef: MetricTemplate istio-system/ok (c.yaml: document 1): spec.provider.type "prometheus" is not supported: only MetricTemplates with spec.provider.type "externalmetrics" are supported`},
		},
		{
			name: "builtin and inline query",
			files: map[string]string{"c.yaml": canaryWith(`      - name: request-success-rate
        interval: 1m
        thresholdRange:
          min: 99
      - name: custom
        query: sum(rate(http_requests_total[1m]))
        threshold: 5
`)},
			want: []string{
				`spec.analysis.metrics[0]: Flagger's builtin check "request-success-rate" (Prometheus) is not supported: reference a MetricTemplate with templateRef (only MetricTemplates with spec.provider.type "externalmetrics" are supported) (line 12)`,
				`spec.analysis.metrics[1].query: inline queries are not supported`,
			},
		},
		{
			name: "secret in the canary namespace, not the template's",
			files: map[string]string{"c.yaml": template("ok", "flagger", "externalmetrics", "\n    secretRef:\n      name: auth") +
				"---\napiVersion: v1\nkind: Secret\nmetadata: {name: auth, namespace: istio-system}\nstringData: {token: t}\n---\n" +
				canaryWith(`      - name: ok
        templateRef: {name: ok, namespace: flagger}
        thresholdRange: {max: 1}
`)},
			want: []string{`spec.provider.secretRef: Secret "auth" not found in namespace "flagger" (the template's namespace)`},
		},
		{
			name: "missing template variable",
			files: map[string]string{"c.yaml": `apiVersion: flagger.app/v1beta1
kind: MetricTemplate
metadata: {name: ok, namespace: istio-system}
spec:
  provider: {type: externalmetrics}
  query: "{{ variables.cluster }}/errors"
---
` + canaryWith(okMetric)},
			want: []string{`spec.analysis.metrics[0].templateRef: MetricTemplate istio-system/ok (c.yaml: document 1): spec.query: line 1, column 3: {{ variables.cluster }}: no templateVariables key "cluster"`,
				"(Flagger fails the same way, but at run time", "(line 19)"},
		},
		{
			name:  "invalid yaml",
			files: map[string]string{"c.yaml": "kind: Secret\n---\nkind: [\n"},
			want:  []string{`c.yaml: document 2: invalid YAML: line 3`},
		},
		{
			name:  "unsupported Canary version",
			files: map[string]string{"c.yaml": "apiVersion: flagger.app/v1alpha3\nkind: Canary\nmetadata: {name: x}\n"},
			want:  []string{`c.yaml: document 1: apiVersion: Canary flagger.app/v1alpha3 is not supported (want flagger.app/v1beta1) (line 1)`},
		},
		{
			name:  "duplicate",
			files: map[string]string{"a.yaml": template("ok", "ns", "externalmetrics", ""), "b.yaml": template("ok", "ns", "externalmetrics", "")},
			want:  []string{`b.yaml: document 1: metadata.name: MetricTemplate ns/ok is already defined at `, `a.yaml: document 1 (line 1)`},
		},
		{
			name:  "missing name and target",
			files: map[string]string{"c.yaml": "apiVersion: flagger.app/v1beta1\nkind: Canary\nmetadata: {namespace: x}\nspec: {analysis: {}}\n"},
			want:  []string{`c.yaml: document 1: metadata.name: required (line 3)`, `c.yaml: document 1: spec.targetRef.name: required (line 4)`},
		},
		{
			name:  "bad base64 does not echo the value",
			files: map[string]string{"s.yaml": "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\ndata:\n  token: not*base64*supersecret\n"},
			want:  []string{`s.yaml: document 1: data.token: not valid base64 (use stringData for plain text) (line 5)`},
		},
		{
			name: "unquoted template variable",
			files: map[string]string{"c.yaml": canaryWith(`      - name: m
        templateRef: {name: ok}
        threshold: 1
        templateVariables:
          port: 8080
`)},
			want: []string{`spec.analysis.metrics[0].templateVariables.port: want a string, got the number 8080 (quote it: "8080") (line 16)`},
		},
		{
			name: "empty range and inverted range",
			files: map[string]string{"c.yaml": template("ok", "istio-system", "externalmetrics", "") + "---\n" + canaryWith(`      - name: a
        templateRef: {name: ok}
        thresholdRange: {}
      - name: b
        templateRef: {name: ok}
        thresholdRange: {min: 5, max: 1}
`)},
			want: []string{
				`spec.analysis.metrics[0].thresholdRange: neither min nor max is set: every value would pass`,
				`spec.analysis.metrics[1].thresholdRange: min 5 is greater than max 1: no value can pass`,
			},
		},
		{
			name:  "no metrics",
			files: map[string]string{"c.yaml": canaryWith("      []\n")},
			want:  []string{`c.yaml: document 1: spec.analysis.metrics: no metrics`},
		},
		{
			name:  "wrong shape",
			files: map[string]string{"c.yaml": canaryWith("      name: x\n")},
			want:  []string{`spec.analysis.metrics: want a list, got a mapping (line 12)`},
		},
		{
			name:  "not an object",
			files: map[string]string{"c.yaml": "- a\n- b\n"},
			want:  []string{`c.yaml: document 1: want a Kubernetes object (a mapping with apiVersion and kind), got a list (line 1)`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := writeFiles(t, tt.files)
			var paths []string
			for _, name := range slices.Sorted(maps.Keys(tt.files)) {
				paths = append(paths, filepath.Join(dir, name))
			}
			set, err := Load(paths, Options{})
			if err == nil {
				_, err = set.Resolve()
			}
			if err == nil {
				t.Fatal("no error")
			}
			msg := strings.ReplaceAll(err.Error(), dir+string(filepath.Separator), "")
			for _, want := range tt.want {
				if !strings.Contains(msg, want) {
					t.Errorf("error lacks\n  %s\ngot\n  %s", want, msg)
				}
			}
			if strings.Contains(msg, "supersecret") {
				t.Error("secret value in error")
			}
		})
	}
}

func TestLoadNotes(t *testing.T) {
	src := `apiVersion: flagger.app/v1beta1
kind: Canary
metadata: {name: app}
spec:
  targetRef: {name: app}
  analysis:
    stepweight: 10
    stepWeight: 20
    metrics:
      - name: m
        templateRef: {name: t}
    webhooks:
      - {name: gate, type: rollout, url: "http://gate/flagger/v1/check", metadata: {templateRef: t, max: "1"}}
      - {name: pre, type: pre-rollout, url: "http://gate/flagger/v1/check", metadata: {templateRef: t, max: "1"}}
      - {name: promo, type: confirm-promotion, url: "http://gate/flagger/v1/check", metadata: {templateRef: t, max: "1"}}
---
apiVersion: flagger.app/v1beta1
kind: MetricTemplate
metadata: {name: t}
spec:
  provider: {type: externalmetrics}
  query: "m?maxAge={{ interval }}"
`
	set := NewSet(Options{})
	set.Parse("c.yaml", []byte(src))
	if err := set.Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := set.Resolve(); err != nil {
		t.Fatal(err)
	}
	notes := strings.Join(set.Notes, "\n")
	for _, want := range []string{
		`c.yaml: document 1: spec.analysis.stepweight: unknown field ignored (Flagger has no such analysis field; a typo?) (line 7)`,
		`spec.analysis.metrics[0]: no thresholdRange and no threshold`,
		`spec.analysis.metrics[0].interval: not set: {{ interval }} renders empty, as in Flagger`,
		// The difference from Flagger analyze cannot see (the Flagger
		// parity tests' stopped gate).
		`spec.analysis.webhooks[2]: confirm-promotion webhook "promo" calls the extmetrics gate but is not run: extmetrics runs the gate's rollout and pre-rollout checks (Flagger holds promotion in phase WaitingPromotion while it answers non-2xx, without counting a failed check; the analysis goes on)`,
		`spec.analysis.webhooks: webhook(s) "gate", "pre" run in-process with the gate's code, not by calling their url: Flagger fails such a check when it cannot reach the gate`,
	} {
		if !strings.Contains(notes, want) {
			t.Errorf("notes lack %q:\n%s", want, notes)
		}
	}
}

func TestLoadPathErrors(t *testing.T) {
	dir := t.TempDir()
	_, err := Load([]string{filepath.Join(dir, "nope.yaml"), dir}, Options{})
	if err == nil || !strings.Contains(err.Error(), "nope.yaml: no such file or directory") ||
		!strings.Contains(err.Error(), "directory has no .yaml, .yml or .json files") {
		t.Fatalf("got %v", err)
	}
	if _, err := Load(nil, Options{}); err == nil {
		t.Fatal("no error for no paths")
	}
}

// Options.Read sees every file read (files, a directory's, stdin) with its
// content before it is parsed; its error is recorded under the file's name
// and the file is left unparsed.
func TestLoadReadHook(t *testing.T) {
	dir := t.TempDir()
	tmpl := "apiVersion: flagger.app/v1beta1\nkind: MetricTemplate\nmetadata: {name: %s, namespace: shop}\nspec:\n  provider: {type: externalmetrics}\n  query: \"shop/m\"\n"
	for _, n := range []string{"a", "b"} {
		if err := os.WriteFile(filepath.Join(dir, n+".yaml"), []byte(fmt.Sprintf(tmpl, n)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	seen := map[string]string{}
	read := func(name string, data []byte) error {
		seen[filepath.Base(name)] = string(data)
		if filepath.Base(name) == "b.yaml" {
			return errors.New("refused")
		}
		return nil
	}
	set, err := Load([]string{dir, "-"}, Options{Stdin: strings.NewReader(fmt.Sprintf(tmpl, "c")), Read: read})
	if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "b.yaml")+": refused") {
		t.Fatalf("error %v, want b.yaml refused", err)
	}
	if len(seen) != 3 || seen["a.yaml"] != fmt.Sprintf(tmpl, "a") || seen["<stdin>"] != fmt.Sprintf(tmpl, "c") {
		t.Fatalf("Read saw %q", seen)
	}
	var names []string
	for _, m := range set.Templates {
		names = append(names, m.Name)
	}
	if strings.Join(names, ",") != "a,c" {
		t.Fatalf("templates parsed %v, want a,c (b refused)", names)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(goodCanary))
	f.Add([]byte(goodTemplates))
	f.Add([]byte("a: &a [*a, *a]\nb: *a\n"))
	f.Add([]byte("apiVersion: v1\nkind: List\nitems: [{apiVersion: v1, kind: List, items: [{}]}]\n"))
	f.Add([]byte("apiVersion: flagger.app/v1beta1\nkind: Canary\nmetadata: {name: x}\nspec: {targetRef: {name: y}, analysis: {metrics: [{name: m, templateRef: {name: t}, thresholdRange: {min: .nan}}]}}\n"))
	f.Add([]byte("---\n---\n{}\n"))
	f.Add([]byte("apiVersion: flagger.app/v1beta1\nkind: Canary\nmetadata: {name: x}\nspec: {targetRef: {name: y}, analysis: {webhooks: [{name: g, type: pre-rollout, url: 'http://gate/flagger/v1/check?x#y', metadata: {templateRef: t, max: '1'}}, {name: h, url: http://l/, retries: 2, muteAlert: true}]}}\n"))
	f.Add([]byte("apiVersion: flagger.app/v1beta1\nkind: Canary\nmetadata: {name: x}\nspec: {targetRef: {name: y}, analysis: {webhooks: [{name: g, url: /flagger/v1/check, metadata: {max: 1}}, {name: g, url: /flagger/v1/check}]}}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		set := NewSet(Options{})
		set.Parse("fuzz.yaml", data)
		_ = set.Err()
		r, _ := set.Resolve()
		for _, c := range r {
			if len(c.Checks) == 0 && len(c.GateChecks) == 0 {
				t.Fatal("resolved canary without checks")
			}
			for _, h := range c.GateChecks {
				if !h.IsGateCheck() || (h.HookType() != HookRollout && h.HookType() != HookPreRollout) || h.Name == "" {
					t.Fatalf("gate check %+v", h)
				}
			}
		}
	})
}

// One rule for aliases and merge keys (internal/yamlwalk): refused where
// used, never silently dropped; the same in pkg/scenario.
func TestLoadRefusesAliasesAndMergeKeys(t *testing.T) {
	canary := func(analysis string) string {
		return "apiVersion: flagger.app/v1beta1\nkind: Canary\nmetadata: {name: app}\nspec:\n  targetRef: {name: app}\n  analysis:\n" + analysis
	}
	for name, tc := range map[string]struct{ src, want string }{
		"merge key under spec.analysis": {canary("    <<: {interval: 30s}\n    threshold: 2\n"),
			"c.yaml: document 1: spec.analysis: merge keys (<<) are not supported: write the fields out (line 7)"},
		"alias": {canary("    interval: &i 30s\n    metrics:\n      - name: m\n        interval: *i\n"),
			"c.yaml: document 1: spec.analysis.metrics[0].interval: YAML aliases (*i) are not supported: write the value out (line 10)"},
		"aliased mapping": {"x: &m {a: 1}\n---\n" + canary("    match: *m\n"),
			"c.yaml: document 2: spec.analysis.match: YAML aliases (*m) are not supported"},
		"duplicate key": {canary("    threshold: 1\n    threshold: 2\n"),
			"c.yaml: document 1: spec.analysis.threshold: duplicate key (first at line 7) (line 8)"},
	} {
		t.Run(name, func(t *testing.T) {
			dir := writeFiles(t, map[string]string{"c.yaml": tc.src})
			_, err := Load([]string{filepath.Join(dir, "c.yaml")}, Options{})
			if err == nil {
				t.Fatal("no error")
			}
			msg := strings.ReplaceAll(err.Error(), dir+string(filepath.Separator), "")
			if !strings.Contains(msg, tc.want) {
				t.Errorf("error lacks\n  %s\ngot\n  %s", tc.want, msg)
			}
			var fe *field.Error
			if !errors.As(err, &fe) || fe.Field == "" {
				t.Errorf("not a *field.Error: %T", err)
			}
		})
	}
	// An anchor nothing refers to is harmless.
	dir := writeFiles(t, map[string]string{"c.yaml": canary("    interval: &i 30s\n")})
	if set, err := Load([]string{filepath.Join(dir, "c.yaml")}, Options{}); err != nil || len(set.Canaries) != 1 || set.Canaries[0].Spec.Analysis.Interval != "30s" {
		t.Fatalf("unused anchor: %v", err)
	}
}
