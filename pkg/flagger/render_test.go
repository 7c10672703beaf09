package flagger

import (
	"fmt"
	"strings"
	"testing"
)

func testCanary() *Canary {
	return &Canary{
		Name:      "podinfo",
		Namespace: "test",
		Spec: CanarySpec{
			TargetRef: ObjectRef{Kind: "Deployment", Name: "podinfo-deploy"},
		},
	}
}

// Each function renders what Flagger's toMetricModel gives it.
func TestRenderFunctions(t *testing.T) {
	m := &Metric{Name: "errors", Interval: "1m", TemplateVariables: map[string]string{"direction": "inbound", "cluster": "dev"}}
	c := testCanary()
	tests := []struct {
		name  string
		edit  func(*Canary)
		query string
		want  string
	}{
		{"name", nil, "{{ name }}", "podinfo"},
		{"namespace", nil, "{{ namespace }}", "test"},
		{"target", nil, "{{ target }}", "podinfo-deploy"},
		{"service defaults to target", nil, "{{ service }}", "podinfo-deploy"},
		{"service from spec.service.name", func(c *Canary) { c.Spec.Service.Name = "podinfo-svc" }, "{{ service }}", "podinfo-svc"},
		{"ingress defaults to target", nil, "{{ ingress }}", "podinfo-deploy"},
		{"ingress from ingressRef", func(c *Canary) { c.Spec.IngressRef = &ObjectRef{Name: "podinfo-ing"} }, "{{ ingress }}", "podinfo-ing"},
		{"route defaults to target", nil, "{{ route }}", "podinfo-deploy"},
		{"route from routeRef", func(c *Canary) { c.Spec.RouteRef = &ObjectRef{Name: "podinfo-route"} }, "{{ route }}", "podinfo-route"},
		{"interval", nil, "{{ interval }}", "1m"},
		{"variables", nil, "{{ variables.direction }}/{{ variables.cluster }}", "inbound/dev"},
		{"no spaces", nil, "{{target}}", "podinfo-deploy"},
		{"extmetrics query", nil, `{{ namespace }}/errors?labelSelector=app={{ target }},dir={{ variables.direction }}&maxAge={{ interval }}`,
			"test/errors?labelSelector=app=podinfo-deploy,dir=inbound&maxAge=1m"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cc := *c
			if tt.edit != nil {
				tt.edit(&cc)
			}
			got, err := Render("t", tt.query, cc.Model(m))
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// A metric without interval renders {{ interval }} empty, as Flagger's
// runMetricChecks passes metric.Interval unchanged to the model.
func TestRenderEmptyInterval(t *testing.T) {
	got, err := Render("t", "x?maxAge={{ interval }}", testCanary().Model(&Metric{Name: "m"}))
	if err != nil || got != "x?maxAge=" {
		t.Fatalf("got %q, %v", got, err)
	}
}

func TestRenderErrors(t *testing.T) {
	model := testCanary().Model(&Metric{Name: "m", TemplateVariables: map[string]string{"cluster": "dev"}})
	noVars := testCanary().Model(&Metric{Name: "m"})
	tests := []struct {
		name, query string
		model       Model
		want        string
	}{
		{"missing variable key", "{{ variables.consumer_group }}", model, `line 1, column 3: {{ variables.consumer_group }}: no templateVariables key "consumer_group" (the metric's templateVariables are: cluster)`},
		{"variables without templateVariables", "{{ variables.cluster }}", noVars, `no templateVariables key "cluster" (the metric has no templateVariables)`},
		{"unknown function", "x/{{ deployment }}", model, `line 1: unknown template variable "deployment"; valid: name, namespace, target, service, ingress, route, interval, variables.<key>`},
		{"data field", "{{ .Name }}", model, `unknown template variable {{ .Name }}: a query template has no data fields; valid: name, namespace,`},
		{"typo", "{{ .Nmespace }}/x", model, `line 1, column 3: unknown template variable {{ .Nmespace }}`},
		{"syntax", "{{ target ", model, `unclosed action`},
		{"too long", explode(8), model, `rendered query longer than 65536 bytes`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Render("t", tt.query, tt.model)
			if err == nil {
				t.Fatalf("rendered %d bytes, want an error", len(got))
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %q does not contain %q", err, tt.want)
			}
		})
	}
}

// explode is a template whose output grows 4^levels times.
func explode(levels int) string {
	var b strings.Builder
	b.WriteString(`{{ define "t0" }}{{ target }}{{ end }}`)
	for i := 1; i <= levels; i++ {
		fmt.Fprintf(&b, `{{ define "t%d" }}`, i)
		for range 4 {
			fmt.Fprintf(&b, `{{ template "t%d" }}`, i-1)
		}
		b.WriteString(`{{ end }}`)
	}
	fmt.Fprintf(&b, `{{ template "t%d" }}`, levels)
	return b.String()
}

// The model must not share the metric's variables map.
func TestModelCopiesVariables(t *testing.T) {
	m := &Metric{TemplateVariables: map[string]string{"a": "1"}}
	model := testCanary().Model(m)
	model.Variables["a"] = "2"
	if m.TemplateVariables["a"] != "1" {
		t.Fatal("model shares the metric's map")
	}
}

// Rendering never panics, and a rendered query never contains an unrendered action.
func FuzzRender(f *testing.F) {
	for _, s := range []string{"{{ target }}", "{{ variables.a }}", "{{ .X }}", "{{ template \"x\" }}", "{{ define \"x\" }}{{ end }}",
		"{{ range $i := variables }}{{ $i }}{{ end }}", "{{ printf \"%d\" 3 }}", "{{ if eq (name) \"app\" }}x{{ end }}", "{{"} {
		f.Add(s)
	}
	model := testCanary().Model(&Metric{Name: "m", Interval: "1m", TemplateVariables: map[string]string{"a": "b"}})
	f.Fuzz(func(t *testing.T, q string) {
		out, err := Render("fuzz", q, model)
		if err == nil && len(out) > 10*len(q)+1000 {
			t.Fatalf("rendered %d bytes from %d", len(out), len(q))
		}
	})
}

func BenchmarkLoadResolve(b *testing.B) {
	data := []byte(goodCanary + "---\n" + goodTemplates)
	for b.Loop() {
		set := NewSet(Options{})
		set.Parse("bench.yaml", data)
		if _, err := set.Resolve(); err != nil {
			b.Fatal(err)
		}
	}
}
