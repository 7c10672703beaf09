package flagger

import (
	"fmt"
	"maps"
	"strconv"
	"strings"
)

// Resolved is a Canary with every metric check resolved to its template,
// secret and rendered query.
type Resolved struct {
	Canary *Canary
	Checks []Check
	// GateChecks are the canary's rollout and pre-rollout webhooks that
	// call an extmetrics gate (Webhook.IsGateCheck), in spec order: run
	// in-process with the gate's semantics (package gate).
	GateChecks []*Webhook
}

// Check is one metric of a canary, ready to run.
type Check struct {
	Index    int    // position in spec.analysis.metrics
	Field    string // e.g. "spec.analysis.metrics[1]"
	Metric   *Metric
	Template *MetricTemplate
	Secret   *Secret // the provider's secretRef, nil when none
	Query    string  // rendered query
	// Compat says where real Flagger treats this check differently: its
	// rendered query (FlaggerCompat), then its template's connection with
	// Flagger v1.43–v1.44 in a pod (FlaggerPodCompat); nil when it does not.
	Compat []CompatNote
}

// TemplateRef is the template's "namespace/name".
func (c *Check) TemplateRef() string { return c.Template.Key() }

// SecretData is a copy of the provider secret's data (nil without a secretRef).
func (c *Check) SecretData() map[string][]byte {
	if c.Secret == nil {
		return nil
	}
	out := make(map[string][]byte, len(c.Secret.Data))
	for k, v := range c.Secret.Data {
		out[k] = append([]byte(nil), v...)
	}
	return out
}

// Resolve resolves every canary's checks as Flagger does (templateRef.namespace,
// else the canary's namespace; the secretRef in the template's namespace),
// validates them and renders their queries. It returns every error found,
// joined, each located at the canary's file, document and field. Notes about
// what extmetrics does not run (webhooks) are appended to s.Notes.
func (s *Set) Resolve() ([]*Resolved, error) {
	var out []*Resolved
	var errs []error
	s.Notes = append([]string(nil), s.parseNotes...) // Resolve may be called again
	for _, c := range s.Canaries {
		r, cerrs := s.resolveCanary(c)
		errs = append(errs, cerrs...)
		if len(cerrs) == 0 {
			out = append(out, r)
		}
	}
	return out, joinErrors(errs)
}

func (s *Set) resolveCanary(c *Canary) (*Resolved, []error) {
	var errs []error
	fail := func(field string, line int, format string, a ...any) {
		errs = append(errs, &Error{Source: c.Source, Field: field, Line: line, Msg: fmt.Sprintf(format, a...)})
	}
	note := func(field string, line int, format string, a ...any) {
		s.Notes = append(s.Notes, (&Error{Source: c.Source, Field: field, Line: line, Msg: fmt.Sprintf(format, a...)}).Error())
	}
	a := c.Spec.Analysis
	switch {
	case c.Spec.SkipAnalysis:
		fail("spec.skipAnalysis", c.Source.Line, "is true: Flagger promotes this canary without analysis, so there is nothing to check")
		return nil, errs
	case a == nil:
		fail("spec.analysis", c.Source.Line, "required: a canary without analysis has nothing to check")
		return nil, errs
	}
	r := &Resolved{Canary: c}
	notRun, hookNames := 0, map[string]int{}
	for i := range a.Webhooks {
		h := &a.Webhooks[i]
		if !h.IsGateCheck() || s.datadog {
			notRun++
			continue
		}
		switch h.HookType() {
		case HookRollout, HookPreRollout:
		default:
			note(h.Field, h.Line, "%s webhook %q calls the extmetrics gate but is not run: extmetrics runs the gate's rollout and pre-rollout checks%s", h.Type, h.Name, flaggerHookUse(h.Type))
			continue
		}
		if j, dup := hookNames[h.Name]; dup {
			fail(h.Field+".name", h.Line, "duplicate webhook name %q (also %s)", h.Name, a.Webhooks[j].Field)
			continue
		}
		hookNames[h.Name] = i
		if h.Name == "" {
			fail(h.Field+".name", h.Line, "required")
			continue
		}
		r.GateChecks = append(r.GateChecks, h)
	}
	if len(r.GateChecks) > 0 {
		// The one place analyze and Flagger can judge these differently:
		// Flagger calls the url, analyze never does.
		names := make([]string, len(r.GateChecks))
		for i, h := range r.GateChecks {
			names[i] = strconv.Quote(h.Name)
		}
		note(c.Spec.AnalysisField+".webhooks", a.Line, "webhook(s) %s run in-process with the gate's code, not by calling their url: "+
			"Flagger fails such a check when it cannot reach the gate (or the gate answers from its own --config, cache or cluster objects), which analyze cannot see",
			strings.Join(names, ", "))
	}
	if notRun > 0 {
		note(c.Spec.AnalysisField+".webhooks", a.Line, "%d webhook(s) not run: extmetrics runs metric checks and the rollout/pre-rollout webhooks that call an extmetrics gate (%s)", notRun, GateCheckPath)
	}
	if len(a.Metrics) == 0 && len(r.GateChecks) == 0 {
		fail(c.Spec.AnalysisField+".metrics", a.Line, "no metrics: extmetrics judges a canary by its metric checks (templateRef to a MetricTemplate with provider type %q) and by rollout/pre-rollout webhooks that call an extmetrics gate (%s)", ProviderExternal, GateCheckPath)
		return nil, errs
	}
	names := map[string]int{}
	for i := range a.Metrics {
		m := &a.Metrics[i]
		field := index(c.Spec.AnalysisField+".metrics", i)
		if j, dup := names[m.Name]; dup {
			fail(field+".name", m.Line, "duplicate metric name %q (also %s)", m.Name, index(c.Spec.AnalysisField+".metrics", j))
			continue
		}
		names[m.Name] = i
		if s.datadog && (m.Query != "" || m.TemplateRef == nil) {
			note(field, m.Line, "left as it is: not a templateRef metric")
			continue
		}
		if m.Query != "" {
			fail(field+".query", m.Line, "inline queries are not supported: reference a MetricTemplate with templateRef (%s)", supportedProviderMs)
			continue
		}
		if m.TemplateRef == nil {
			if m.Name == BuiltinSuccessRate || m.Name == BuiltinDuration {
				fail(field, m.Line, "Flagger's builtin check %q (Prometheus) is not supported: reference a MetricTemplate with templateRef (%s)", m.Name, supportedProviderMs)
			} else {
				fail(field+".templateRef", m.Line, "required: extmetrics runs metrics that reference a MetricTemplate (%s)", supportedProviderMs)
			}
			continue
		}
		if m.TemplateRef.Name == "" {
			fail(field+".templateRef.name", m.Line, "required")
			continue
		}
		if tr := m.ThresholdRange; tr != nil {
			if tr.Min == nil && tr.Max == nil {
				fail(field+".thresholdRange", m.Line, "neither min nor max is set: every value would pass")
				continue
			}
			if tr.Min != nil && tr.Max != nil && *tr.Min > *tr.Max {
				fail(field+".thresholdRange", m.Line, "min %v is greater than max %v: no value can pass", *tr.Min, *tr.Max)
				continue
			}
		} else if !m.HasThreshold {
			note(field, m.Line, "no thresholdRange and no threshold: as in Flagger the deprecated threshold 0 applies, so any value above 0 fails")
		}
		ns := c.Namespace
		if m.TemplateRef.Namespace != "" {
			ns = m.TemplateRef.Namespace
		}
		t := s.Template(ns, m.TemplateRef.Name)
		if t == nil {
			hint := ""
			if others := s.templateNamespaces(m.TemplateRef.Name); len(others) > 0 {
				hint = fmt.Sprintf(" (there is one in namespace %q: set templateRef.namespace)", others[0])
			}
			fail(field+".templateRef", m.Line, "MetricTemplate %q not found in namespace %q%s", m.TemplateRef.Name, ns, hint)
			continue
		}
		where := fmt.Sprintf("MetricTemplate %s (%s)", t.Key(), t.Source)
		if typ := t.Spec.Provider.Type; typ != ProviderExternal && !(s.datadog && typ == ProviderDatadog) {
			if typ == "" {
				typ = "prometheus" // Flagger's default
			}
			if s.datadog {
				note(field, m.Line, "left as it is: %s has provider type %q", where, typ)
				continue
			}
			hint := ""
			if typ == ProviderDatadog {
				hint = `; run "extmetrics migrate datadog" to move it to DatadogMetric objects read through the externalmetrics provider`
			}
			fail(field+".templateRef", m.Line, "%s: spec.provider.type %q is not supported: %s%s", where, typ, supportedProviderMs, hint)
			continue
		}
		if strings.TrimSpace(t.Spec.Query) == "" {
			fail(field+".templateRef", m.Line, "%s: spec.query is empty", where)
			continue
		}
		check := Check{Index: i, Field: field, Metric: m, Template: t}
		if ref := t.Spec.Provider.SecretRef; ref != nil && !s.datadog {
			sec := s.Secret(t.Namespace, ref.Name)
			if sec == nil {
				fail(field+".templateRef", m.Line, "%s: spec.provider.secretRef: Secret %q not found in namespace %q (the template's namespace)", where, ref.Name, t.Namespace)
				continue
			}
			check.Secret = sec
		}
		model := c.Model(m)
		q, err := Render(t.Key(), t.Spec.Query, model)
		if err != nil {
			fail(field+".templateRef", m.Line, "%s: spec.query: %v (Flagger fails the same way, but at run time: it renders the query at every check, so every check fails and the canary rolls back)", where, err)
			continue
		}
		if m.Interval == "" && strings.Contains(t.Spec.Query, "interval") {
			note(field+".interval", m.Line, "not set: {{ interval }} renders empty, as in Flagger")
		}
		check.Query = strings.TrimSpace(q)
		check.Compat = FlaggerCompat(q)
		if !s.datadog { // the Secret is read only then
			check.Compat = append(check.Compat, FlaggerPodCompat(t, check.Secret)...)
		}
		r.Checks = append(r.Checks, check)
	}
	return r, errs
}

// ResolveCanary resolves one canary of the set like Resolve, but returns the
// checks that resolved together with the errors of the others (each names
// its metric's field), so a caller can act per metric: `extmetrics migrate
// datadog` (with Options.AcceptDatadog) migrates what it can and refuses
// the rest with the reason. The Resolved is nil only when the canary has no
// analysis to resolve.
func (s *Set) ResolveCanary(c *Canary) (*Resolved, []error) { return s.resolveCanary(c) }

// Variables returns a copy of a metric's templateVariables.
func (m *Metric) Variables() map[string]string { return maps.Clone(m.TemplateVariables) }

// flaggerHookUse says what Flagger v1.44.0 does with a webhook type that
// analyze does not run (pkg/controller/scheduler_hooks.go), for its note.
func flaggerHookUse(typ string) string {
	switch typ {
	case "confirm-rollout":
		return " (Flagger holds the new revision in phase Waiting while it answers non-2xx, without counting a failed check)"
	case "confirm-promotion":
		return " (Flagger holds promotion in phase WaitingPromotion while it answers non-2xx, without counting a failed check; the analysis goes on)"
	case "confirm-traffic-increase":
		return " (Flagger holds the next traffic increase while it answers non-2xx, without counting a failed check)"
	case "rollback":
		return " (Flagger rolls the canary back when it answers 2xx: a passing check would roll back)"
	case "post-rollout":
		return " (Flagger calls it after the canary finished and only records its answer as an event)"
	}
	return ""
}
