package doctor

import (
	"slices"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/extmetrics/extmetrics/pkg/flagger"
)

func ids(fs []Finding) []string {
	out := make([]string, 0, len(fs))
	for _, f := range fs {
		out = append(out, f.ID+"/"+string(f.Severity))
	}
	slices.Sort(out)
	return out
}

// DatadogMetric status to findings (the e2e test covers not-found, invalid
// and the annotation against a real kube-apiserver).
func TestDatadogFindings(t *testing.T) {
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	dm := func(annotated bool, conds ...map[string]any) *unstructured.Unstructured {
		u := &unstructured.Unstructured{Object: map[string]any{"metadata": map[string]any{"name": "m", "namespace": "shop"}}}
		if annotated {
			u.SetAnnotations(map[string]string{"external-metrics.datadoghq.com/always-active": "true"})
		}
		cs := make([]any, len(conds))
		for i, c := range conds {
			cs[i] = c
		}
		u.Object["status"] = map[string]any{"currentValue": "1", "conditions": cs}
		return u
	}
	cond := func(typ, status string, at time.Time) map[string]any {
		return map[string]any{"type": typ, "status": status, "lastUpdateTime": at.Format(time.RFC3339)}
	}
	fresh := []map[string]any{cond("Active", "True", now), cond("Valid", "True", now), cond("Updated", "True", now.Add(-30*time.Second))}
	for name, c := range map[string]struct {
		obj  *unstructured.Unstructured
		want []string
	}{
		"ready":                {dm(true, fresh...), []string{}},
		"ready, no annotation": {dm(false, fresh...), []string{"datadog.not-always-active/warning"}},
		"inactive":             {dm(true, cond("Active", "False", now), cond("Valid", "True", now), cond("Updated", "True", now)), []string{"datadog.inactive/error"}},
		"no status":            {dm(true), []string{"datadog.no-status/error"}},
		"stale":                {dm(true, cond("Active", "True", now), cond("Valid", "True", now), cond("Updated", "True", now.Add(-10*time.Minute))), []string{"datadog.stale/error"}},
		"error condition":      {dm(true, append(fresh, map[string]any{"type": "Error", "status": "True", "message": "rate limited"})...), []string{"datadog.invalid/error"}},
	} {
		r := &run{opts: &Options{StaleAfter: 2 * time.Minute}}
		r.datadogFindings(Object{Kind: "DatadogMetric", Namespace: "shop", Name: "m"}, c.obj, map[string]string{}, now)
		if got := ids(r.findings); !slices.Equal(got, c.want) {
			t.Errorf("%s: %v, want %v", name, got, c.want)
		}
	}
}

// Metric names against the server kind serving the APIService.
func TestCheckMetricNames(t *testing.T) {
	for name, c := range map[string]struct {
		kind  ServerKind
		query string
		want  []string
	}{
		"datadog ok":             {ServerDatadog, "shop/datadogmetric@shop:orders", []string{}},
		"keda name on datadog":   {ServerDatadog, "shop/s0-prometheus-x?labelSelector=scaledobject.keda.sh/name=web", []string{"api.metric-name-mismatch/error"}},
		"datadog name on keda":   {ServerKEDA, "shop/datadogmetric@shop:orders", []string{"api.metric-name-mismatch/error"}},
		"keda without selector":  {ServerKEDA, "shop/s1-cron-x", []string{"api.keda-selector-missing/error"}},
		"keda ok":                {ServerKEDA, "shop/s1-cron-x?labelSelector=scaledobject.keda.sh/name=web", []string{}},
		"prometheus-adapter":     {ServerPromAdapt, "shop/http_requests", []string{}},
		"keda on adapter":        {ServerPromAdapt, "shop/s0-prometheus-x", []string{"api.metric-name-mismatch/error"}},
		"other server, anything": {ServerOther, "shop/datadogmetric@shop:orders", []string{}},
	} {
		ti := &tmplInfo{t: &flagger.MetricTemplate{Name: "t", Namespace: "shop"}, queries: map[string]bool{c.query: true}, canaries: map[string]bool{"shop/web": true}}
		r := &run{api: &apiInfo{present: true, kind: c.kind}, tmpl: &templateResults{byKey: map[string]*tmplInfo{"shop/t": ti}}}
		r.checkMetricNames()
		if got := ids(r.findings); !slices.Equal(got, c.want) {
			t.Errorf("%s: %v, want %v", name, got, c.want)
		}
	}
}

func TestCheckSecretKeys(t *testing.T) {
	for name, c := range map[string]struct {
		address string
		keys    []string
		want    []string
	}{
		"token":                     {"https://x", []string{"token"}, []string{}},
		"token and ca, aggregation": {"", []string{"token", "ca.crt"}, []string{}},
		"nothing usable":            {"", []string{"password"}, []string{"template.secret-keys/error"}},
		"half a client cert":        {"https://x", []string{"token", "tls.crt"}, []string{"template.secret-keys/error"}},
		"address without token":     {"https://x", []string{"ca.crt"}, []string{"template.secret-keys/warning"}},
	} {
		data := map[string][]byte{}
		for _, k := range c.keys {
			data[k] = []byte("x")
		}
		ti := &tmplInfo{t: &flagger.MetricTemplate{Name: "t", Namespace: "shop", Spec: flagger.MetricTemplateSpec{Provider: flagger.MetricProvider{Address: c.address}}},
			secret: &flagger.Secret{Name: "s", Namespace: "shop", Data: data}}
		r := &run{}
		r.checkSecretKeys(ti)
		if got := ids(r.findings); !slices.Equal(got, c.want) {
			t.Errorf("%s: %v, want %v", name, got, c.want)
		}
	}
}
