package migrate_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	"k8s.io/client-go/rest"

	"github.com/extmetrics/extmetrics/pkg/analysis"
	"github.com/extmetrics/extmetrics/pkg/devserver"
	"github.com/extmetrics/extmetrics/pkg/devserver/devservertest"
	"github.com/extmetrics/extmetrics/pkg/migrate"
	"github.com/extmetrics/extmetrics/pkg/scenario"
)

func datadogMetricObject(query, ns, name, active, valid, value string, updated time.Time, errMsg string) *unstructured.Unstructured {
	conds := []any{
		map[string]any{"type": "Active", "status": active},
		map[string]any{"type": "Valid", "status": valid},
		map[string]any{"type": "Updated", "status": "True", "lastUpdateTime": updated.UTC().Format(time.RFC3339)},
	}
	if errMsg != "" {
		conds = append(conds, map[string]any{"type": "Error", "status": "True", "message": errMsg})
	}
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": migrate.DatadogMetricAPIVersion, "kind": migrate.KindDatadogMetric,
		"metadata": map[string]any{"name": name, "namespace": ns},
		"spec":     map[string]any{"query": query},
		"status":   map[string]any{"currentValue": value, "conditions": conds},
	}}
}

// Check against a fake API server for the DatadogMetrics (a unit test: the
// real kube-apiserver test is in the e2e harness) and the real devserver
// (Datadog profile) for the queries.
func TestCheck(t *testing.T) {
	res, _ := migrateExample(t)
	query := map[string]string{}
	for _, d := range res.DatadogMetrics {
		query[d.Ref()] = d.Query
	}
	now := time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)
	objs := []runtime.Object{
		datadogMetricObject(query["test/podinfo-request-success-rate"], "test", "podinfo-request-success-rate", "True", "True", "99.4", now.Add(-30*time.Second), ""),
		datadogMetricObject(query["test/podinfo-request-duration"], "test", "podinfo-request-duration", "True", "False", "0", now.Add(-30*time.Second), `Datadog API error: Error parsing query: unable to parse p99:istio.mesh.request.duration.milliseconds{: Rule 'scope_expr' didn't match`),
		datadogMetricObject(query["web/frontend-request-success-rate"], "web", "frontend-request-success-rate", "True", "True", "99.9", now.Add(-10*time.Minute), ""),
		datadogMetricObject("avg:something.else{*}", "web", "frontend-request-duration", "True", "True", "1", now, ""),
	}
	client := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(),
		map[schema.GroupVersionResource]string{migrate.DatadogMetricResource: "DatadogMetricList"}, objs...)

	s := devservertest.New(t, devserver.Config{Profile: devserver.ProfileDatadog, Scenario: &scenario.Scenario{Metrics: []scenario.Metric{
		{Name: "datadogmetric@test:podinfo-request-success-rate", Namespace: "test", Generator: scenario.Constant(99.4)},
		{Name: "datadogmetric@web:frontend-request-success-rate", Namespace: "web", Generator: scenario.Constant(98)},
	}}})
	factory := analysis.Connection{Base: func() (*rest.Config, error) { return devservertest.RESTConfig(s, devservertest.Token), nil }}.Factory()
	sts, err := res.Check(context.Background(), migrate.CheckOptions{Client: client, Factory: factory, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]migrate.Status{}
	for _, st := range sts {
		got[st.DatadogMetric.Ref()] = st
	}
	for ref, want := range map[string]struct {
		ready          bool
		reason, result string
	}{
		"test/podinfo-request-success-rate": {true, "", "pass 99.4"},
		"test/podinfo-request-duration":     {false, "invalid query: Datadog API error: Error parsing query", "error (not-found)"},
		"web/frontend-request-success-rate": {false, "stale: updated 10m0s ago (more than 2m0s)", "out of range: 98 < min 99.5"},
		"web/frontend-request-duration":     {false, "exists with another spec.query", "error (not-found)"},
	} {
		st, ok := got[ref]
		if !ok {
			t.Errorf("%s: no status", ref)
			continue
		}
		if st.Ready != want.ready || !strings.HasPrefix(st.Reason, want.reason) || !strings.HasPrefix(st.Result, want.result) {
			t.Errorf("%s: ready %v, reason %q, result %q; want %v, %q, %q", ref, st.Ready, st.Reason, st.Result, want.ready, want.reason, want.result)
		}
	}
	var out bytes.Buffer
	if err := migrate.WriteCheckTable(&out, sts, now); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"NAMESPACE  DATADOGMETRIC", "podinfo-request-success-rate   True    True   99.4", "1 of 4 DatadogMetrics ready", "web/frontend-request-duration: exists with another spec.query", "test/podinfo-request-duration: query test/datadogmetric@test:podinfo-request-duration: error (not-found): query"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, out.String())
		}
	}
	t.Logf("\n%s", out.String())
}

// With --address and --secret the templates read a Cluster Agent directly:
// Check reads the Secret (token, ca.crt) from the cluster, in the template's
// namespace, and no base config is used.
func TestCheckDirectAddressWithSecret(t *testing.T) {
	t.Chdir("../..")
	in, err := migrate.Load([]string{exampleBefore}, migrate.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	s := devservertest.New(t, devserver.Config{Profile: devserver.ProfileDatadog, Tokens: map[string][]string{"dca-token": {"*"}}, Scenario: &scenario.Scenario{Metrics: []scenario.Metric{
		{Name: "datadogmetric@test:podinfo-request-success-rate", Namespace: "test", Generator: scenario.Constant(99.9)},
	}}})
	res, err := migrate.Migrate(in, migrate.Options{Address: s.URL(), SecretName: "dca"})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	secret := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "Secret",
		"metadata": map[string]any{"name": "dca", "namespace": "istio-system"},
		"data": map[string]any{
			"token":  base64.StdEncoding.EncodeToString([]byte("dca-token")),
			"ca.crt": base64.StdEncoding.EncodeToString(s.CAPEM()),
		},
	}}
	client := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(),
		map[schema.GroupVersionResource]string{migrate.DatadogMetricResource: "DatadogMetricList", {Version: "v1", Resource: "secrets"}: "SecretList"},
		secret, datadogMetricObject(res.DatadogMetrics[1].Query, "test", "podinfo-request-success-rate", "True", "True", "99.9", now, ""))
	factory := analysis.Connection{}.Factory()
	sts, err := res.Check(context.Background(), migrate.CheckOptions{Client: client, Factory: factory})
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range sts {
		ref := st.DatadogMetric.Ref()
		switch {
		case ref == "test/podinfo-request-success-rate":
			if !st.Ready || st.Result != "pass 99.9" {
				t.Errorf("%s: %+v", ref, st)
			}
		case st.Ready || st.Reason != "not found":
			t.Errorf("%s: %+v", ref, st)
		}
	}

	// Without the Secret in the cluster the query cannot run, and says why.
	client = dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(),
		map[schema.GroupVersionResource]string{migrate.DatadogMetricResource: "DatadogMetricList", {Version: "v1", Resource: "secrets"}: "SecretList"})
	sts, err = res.Check(context.Background(), migrate.CheckOptions{Client: client, Factory: factory})
	if err != nil {
		t.Fatal(err)
	}
	if st := sts[0]; st.Ready || !strings.Contains(st.Result, `Secret istio-system/dca: secrets "dca" not found`) {
		t.Errorf("%+v", st)
	}
}
