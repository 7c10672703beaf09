package flagger

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"text/template"
)

// Model is what a MetricTemplate query is rendered with, as Flagger's
// MetricTemplateModel: every field is a template function ({{ target }}),
// and variables returns the metric's templateVariables ({{ variables.key }}).
type Model struct {
	Name      string // canary metadata.name
	Namespace string // canary metadata.namespace
	Target    string // spec.targetRef.name
	Service   string // spec.service.name, else spec.targetRef.name
	Ingress   string // spec.ingressRef.name, else spec.targetRef.name
	Route     string // spec.routeRef.name, else spec.targetRef.name
	Interval  string // the metric's interval, "" when unset (renders empty, as in Flagger)
	Variables map[string]string
}

// Model builds the template model for one of the canary's metrics, as
// Flagger's toMetricModel does.
func (c *Canary) Model(m *Metric) Model {
	target := c.Spec.TargetRef.Name
	model := Model{
		Name:      c.Name,
		Namespace: c.Namespace,
		Target:    target,
		Service:   target,
		Ingress:   target,
		Route:     target,
		Interval:  m.Interval,
		Variables: maps.Clone(m.TemplateVariables),
	}
	if c.Spec.Service.Name != "" {
		model.Service = c.Spec.Service.Name
	}
	if c.Spec.IngressRef != nil {
		model.Ingress = c.Spec.IngressRef.Name
	}
	if c.Spec.RouteRef != nil {
		model.Route = c.Spec.RouteRef.Name
	}
	return model
}

// Funcs returns one template function per model field.
func (m Model) Funcs() template.FuncMap {
	vars := maps.Clone(m.Variables)
	if vars == nil {
		vars = map[string]string{}
	}
	return template.FuncMap{
		"name":      func() string { return m.Name },
		"namespace": func() string { return m.Namespace },
		"target":    func() string { return m.Target },
		"service":   func() string { return m.Service },
		"ingress":   func() string { return m.Ingress },
		"route":     func() string { return m.Route },
		"interval":  func() string { return m.Interval },
		"variables": func() map[string]string { return vars },
	}
}

// Render renders a query template with Go text/template, the model's
// functions, no data and missingkey=error, the options of Flagger's
// RenderQuery (pkg/metrics/observers/render.go, v1.36 to v1.44): an unknown
// function is a parse error, {{ variables.missing }} and {{ .Field }} are
// execution errors, and {{ index variables "missing" }} renders "" (as in
// Flagger). The difference is when: Flagger renders at every check, so a
// broken template fails every check at run time and rolls the canary back;
// extmetrics renders once while resolving and reports a configuration
// error. name names the template in errors.
func Render(name, query string, m Model) (string, error) {
	t, err := template.New(name).Option("missingkey=error").Funcs(m.Funcs()).Parse(query)
	if err != nil {
		return "", explainRender(err, m)
	}
	b := &limitedBuilder{max: MaxQueryLength}
	if err := t.Execute(b, nil); err != nil {
		return "", explainRender(err, m)
	}
	return b.String(), nil
}

// Variables lists what a query template can use, for error messages.
const Variables = "name, namespace, target, service, ingress, route, interval, variables.<key> " +
	"(functions, written {{ namespace }} or {{ variables.key }})"

var (
	renderPosRE  = regexp.MustCompile(`^template: [^\n]*?:(\d+)(?::(\d+))?: `)
	noFuncRE     = regexp.MustCompile(`function "([^"]*)" not defined`)
	noDataKeyRE  = regexp.MustCompile(`at <\.([^>]*)>: nil data; no entry for key "([^"]*)"`)
	noVariableRE = regexp.MustCompile(`map has no entry for key "([^"]*)"`)
	dataFieldRE  = regexp.MustCompile(`at <(\.[^>]*)>`)
)

// explainRender rewords text/template's errors about names (an unknown
// function, a data field, a missing templateVariables key) so they name the
// bad variable and list the valid ones; other errors are kept as they are.
// The position (line:column) is kept.
func explainRender(err error, m Model) error {
	msg := err.Error()
	pos := ""
	if p := renderPosRE.FindStringSubmatch(msg); p != nil {
		pos = "line " + p[1] + ": "
		if p[2] != "" {
			pos = "line " + p[1] + ", column " + p[2] + ": "
		}
	}
	switch {
	case noFuncRE.MatchString(msg):
		f := noFuncRE.FindStringSubmatch(msg)[1]
		return fmt.Errorf("%sunknown template variable %q; valid: %s", pos, f, Variables)
	case noDataKeyRE.MatchString(msg):
		k := noDataKeyRE.FindStringSubmatch(msg)[2]
		return fmt.Errorf("%sunknown template variable {{ .%s }}: a query template has no data fields; valid: %s", pos, k, Variables)
	case noVariableRE.MatchString(msg) && strings.Contains(msg, "<variables>"):
		k := noVariableRE.FindStringSubmatch(msg)[1]
		have := "the metric has no templateVariables"
		if len(m.Variables) > 0 {
			have = "the metric's templateVariables are: " + strings.Join(slices.Sorted(maps.Keys(m.Variables)), ", ")
		}
		return fmt.Errorf("%s{{ variables.%s }}: no templateVariables key %q (%s)", pos, k, k, have)
	case dataFieldRE.MatchString(msg) && strings.Contains(msg, "nil"):
		f := dataFieldRE.FindStringSubmatch(msg)[1]
		return fmt.Errorf("%sunknown template variable {{ %s }}: a query template has no data fields; valid: %s", pos, f, Variables)
	}
	return err
}

// MaxQueryLength bounds a rendered query (a template that loops or recurses
// cannot make an unbounded one).
const MaxQueryLength = 64 << 10

type limitedBuilder struct {
	strings.Builder
	max int
}

func (b *limitedBuilder) Write(p []byte) (int, error) {
	if b.Len()+len(p) > b.max {
		return 0, fmt.Errorf("rendered query longer than %d bytes", b.max)
	}
	return b.Builder.Write(p)
}
