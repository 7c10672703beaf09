package flagger

import (
	"errors"
	"strings"
	"testing"
)

// A canary mixing a Datadog template, an externalmetrics template, a
// Prometheus template and Flagger's builtin check.
const mixedCanary = `apiVersion: flagger.app/v1beta1
kind: Canary
metadata: {name: web, namespace: shop}
spec:
  targetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
  analysis:
    interval: 1m
    metrics:
      - name: request-success-rate
        thresholdRange: {min: 99}
        interval: 1m
      - name: dd-errors
        templateRef: {name: dd-errors, namespace: istio-system}
        thresholdRange: {max: 1}
        interval: 2m
      - name: prom-latency
        templateRef: {name: prom-latency}
        thresholdRange: {max: 500}
      - name: em-queue
        templateRef: {name: em-queue}
        thresholdRange: {max: 10}
---
apiVersion: flagger.app/v1beta1
kind: MetricTemplate
metadata: {name: dd-errors, namespace: istio-system}
spec:
  provider:
    type: datadog
    address: https://api.datadoghq.eu
    secretRef: {name: datadog}
  query: sum:errors{kube_namespace:{{ namespace }},app:{{ target }}}.as_count()
---
apiVersion: flagger.app/v1beta1
kind: MetricTemplate
metadata: {name: prom-latency, namespace: shop}
spec:
  provider: {type: prometheus, address: http://prometheus:9090}
  query: histogram_quantile(0.99, rate(x[{{ interval }}]))
---
apiVersion: flagger.app/v1beta1
kind: MetricTemplate
metadata: {name: em-queue, namespace: shop}
spec:
  provider: {type: externalmetrics, secretRef: {name: not-in-the-files}}
  query: shop/queue_depth
`

func TestResolveRefusesDatadogWithHint(t *testing.T) {
	s := NewSet(Options{})
	s.Parse("mixed.yaml", []byte(mixedCanary))
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	_, err := s.Resolve()
	if err == nil {
		t.Fatal("Resolve accepted a datadog template")
	}
	msg := err.Error()
	for _, want := range []string{
		`mixed.yaml: document 1: spec.analysis.metrics[1].templateRef: MetricTemplate istio-system/dd-errors (mixed.yaml: document 2): spec.provider.type "datadog" is not supported`,
		`run "extmetrics migrate datadog"`,
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q:\n%s", want, msg)
		}
	}
	if strings.Count(msg, "migrate datadog") != 1 {
		t.Errorf("the migrate hint belongs to the datadog metric only:\n%s", msg)
	}
}

func TestResolveAcceptDatadog(t *testing.T) {
	s := NewSet(Options{AcceptDatadog: true})
	s.Parse("mixed.yaml", []byte(mixedCanary))
	rs, err := s.Resolve()
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 1 || len(rs[0].Checks) != 2 {
		t.Fatalf("want one canary with the datadog and externalmetrics checks, got %+v", rs)
	}
	dd, em := rs[0].Checks[0], rs[0].Checks[1]
	if dd.Index != 1 || dd.Template.Spec.Provider.Type != ProviderDatadog || dd.Secret != nil {
		t.Errorf("datadog check: %+v", dd)
	}
	if dd.Query != "sum:errors{kube_namespace:shop,app:web}.as_count()" {
		t.Errorf("datadog query rendered as %q", dd.Query)
	}
	if em.Index != 3 || em.Secret != nil {
		t.Errorf("externalmetrics check: %+v (no secret is read in this mode)", em)
	}
	notes := strings.Join(s.Notes, "\n")
	for _, want := range []string{
		"spec.analysis.metrics[0]: left as it is: not a templateRef metric",
		`spec.analysis.metrics[2]: left as it is: MetricTemplate shop/prom-latency (mixed.yaml: document 3) has provider type "prometheus"`,
	} {
		if !strings.Contains(notes, want) {
			t.Errorf("notes lack %q:\n%s", want, notes)
		}
	}
}

func TestResolveCanaryPartial(t *testing.T) {
	s := NewSet(Options{AcceptDatadog: true})
	s.Parse("p.yaml", []byte(strings.Replace(mixedCanary, "app:{{ target }}", "app:{{ variables.app }}", 1)))
	r, errs := s.ResolveCanary(s.Canaries[0])
	if r == nil || len(r.Checks) != 1 || r.Checks[0].Index != 3 {
		t.Fatalf("want the externalmetrics check resolved, got %+v", r)
	}
	if len(errs) != 1 {
		t.Fatalf("want one error, got %v", errs)
	}
	var e *Error
	if !asError(errs[0], &e) || e.Field != "spec.analysis.metrics[1].templateRef" || !strings.Contains(e.Msg, `{{ variables.app }}: no templateVariables key "app"`) {
		t.Errorf("error: %v", errs[0])
	}
}

func asError(err error, target **Error) bool {
	var e *Error
	ok := errors.As(err, &e)
	if ok {
		*target = e
	}
	return ok
}
