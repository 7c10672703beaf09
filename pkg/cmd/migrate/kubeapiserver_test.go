package migrate

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/extmetrics/extmetrics/pkg/cmd/cmdutil"
	"github.com/extmetrics/extmetrics/pkg/devserver"
	"github.com/extmetrics/extmetrics/pkg/migrate"
	"github.com/extmetrics/extmetrics/pkg/scenario"
	"github.com/extmetrics/extmetrics/test/e2e/harness"
)

const (
	example = "../../../examples/datadog-migration/before"
	crds    = "../../migrate/testdata/crds.yaml"
)

// Against a real kube-apiserver (the e2e harness): the migrated YAML
// applies (server-side dry run, then for real, with the DatadogMetric CRD
// from testdata's minimal schema), and --check reads the DatadogMetrics'
// status from it and runs the new templates through its aggregation layer,
// where a devserver with the Datadog profile stands in for the Cluster
// Agent: not found, then ready / invalid / stale / no status, then all ready.
func TestKubeAPIServer(t *testing.T) {
	c := harness.StartT(t, harness.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	kubectl := func(args ...string) string {
		t.Helper()
		out, stderr, err := c.Kubectl(ctx, args...)
		if err != nil {
			t.Fatalf("kubectl %s: %v\n%s%s", strings.Join(args, " "), err, out, stderr)
		}
		return out
	}
	kubectl("apply", "-f", crds)
	kubectl("wait", "--for", "condition=established", "--timeout", "60s",
		"crd/datadogmetrics.datadoghq.com", "crd/metrictemplates.flagger.app", "crd/canaries.flagger.app")
	for _, ns := range []string{"test", "web", "istio-system"} {
		kubectl("create", "namespace", ns)
	}
	// What runs today: the Datadog templates and the Canaries using them.
	kubectl("apply", "-f", example)

	dir := t.TempDir()
	out := filepath.Join(dir, "migrated")
	if code, _, errOut := runCmd(t, "", "datadog", "-f", example, "--out", out); code != 0 {
		t.Fatalf("migrate: exit %d: %s", code, errOut)
	}

	// 1. Everything applies: kube-apiserver validates each object against its CRD.
	dry := kubectl("apply", "--dry-run=server", "-f", out)
	for _, want := range []string{
		"datadogmetric.datadoghq.com/podinfo-request-success-rate created (server dry run)",
		"datadogmetric.datadoghq.com/frontend-request-duration created (server dry run)",
		"metrictemplate.flagger.app/datadog-request-success-rate-externalmetrics created (server dry run)",
		"canary.flagger.app/podinfo configured (server dry run)",
		"canary.flagger.app/frontend configured (server dry run)",
	} {
		if !strings.Contains(dry, want) {
			t.Errorf("dry run lacks %q:\n%s", want, dry)
		}
	}
	if n := strings.Count(dry, "(server dry run)"); n != 8 {
		t.Errorf("%d objects in the dry run, want 4 DatadogMetrics, 2 MetricTemplates, 2 Canaries:\n%s", n, dry)
	}

	// A devserver (Datadog profile) behind the aggregation layer.
	certFile, keyFile, err := c.BackendCert(dir, "", "")
	if err != nil {
		t.Fatal(err)
	}
	values := map[string]float64{
		"datadogmetric@test:podinfo-request-success-rate": 99.7,
		"datadogmetric@test:podinfo-request-duration":     180,
		"datadogmetric@web:frontend-request-success-rate": 99.9,
	}
	sc := &scenario.Scenario{}
	for name, v := range values {
		ns := strings.SplitN(strings.TrimPrefix(name, "datadogmetric@"), ":", 2)[0]
		sc.Metrics = append(sc.Metrics, scenario.Metric{Name: name, Namespace: ns, Generator: scenario.Constant(v)})
	}
	s, err := devserver.Start(ctx, devserver.Config{
		Addr: "127.0.0.1:0", Profile: devserver.ProfileDatadog, Scenario: sc,
		Tokens:      map[string][]string{}, // the aggregator authenticates with its front-proxy client certificate
		TLSCertFile: certFile, TLSKeyFile: keyFile, ClientCAFile: c.FrontProxyCAFile(),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	_, port, _ := strings.Cut(s.Addr(), "127.0.0.1:")
	if err := c.RegisterExternalMetrics(ctx, harness.Backend{Port: atoi(t, port)}); err != nil {
		t.Fatal(err)
	}

	check := func(wantCode int, wants ...string) {
		t.Helper()
		code, stdout, errOut := runCmd(t, "", "datadog", "-f", example, "--check", "--kubeconfig", c.AdminKubeconfig())
		if code != wantCode {
			t.Errorf("--check: exit %d, want %d\n%s%s", code, wantCode, stdout, errOut)
		}
		for _, w := range wants {
			if !strings.Contains(stdout, w) {
				t.Errorf("--check output lacks %q:\n%s", w, stdout)
			}
		}
		t.Logf("--check:\n%s", stdout)
	}

	// 2. Nothing applied yet.
	check(cmdutil.ExitFailure, "0 of 4 DatadogMetrics ready", "test/podinfo-request-success-rate: not found")

	// 3. Apply the DatadogMetrics and templates only (the label), as the docs say.
	applied := kubectl("apply", "-f", out, "-l", migrate.MigrationLabel+"="+migrate.MigrationLabelValue)
	if n := strings.Count(applied, "created"); n != 6 {
		t.Errorf("%d objects created by the labelled apply, want 6:\n%s", n, applied)
	}
	canary := kubectl("get", "canary", "podinfo", "-n", "test", "-o", "jsonpath={.spec.analysis.metrics[0].templateRef.name}")
	if canary != "datadog-request-success-rate" {
		t.Errorf("the labelled apply switched the Canary already: templateRef %q", canary)
	}

	// The Cluster Agent's part: status on the DatadogMetrics.
	now := time.Now()
	setStatus := func(ns, name, valid, value string, updated time.Time, errMsg string) {
		t.Helper()
		st := harness.DatadogMetricStatus{Valid: valid == "True", Value: value, Updated: updated, Error: errMsg}
		if err := c.SetDatadogMetricStatus(ctx, ns, name, st); err != nil {
			t.Fatal(err)
		}
	}
	setStatus("test", "podinfo-request-success-rate", "True", "99.7", now, "")
	setStatus("test", "podinfo-request-duration", "True", "180", now.Add(-10*time.Minute), "")
	setStatus("web", "frontend-request-success-rate", "False", "0", now, "Datadog API error: Error parsing query")
	// web/frontend-request-duration: no status, as before the Cluster Agent sees it.

	// kubectl shows the columns --check reads.
	cols := kubectl("get", "datadogmetric", "-n", "test")
	if !strings.Contains(cols, "ACTIVE") || !strings.Contains(cols, "podinfo-request-success-rate   True     True    99.7") {
		t.Errorf("kubectl get datadogmetric:\n%s", cols)
	}

	// 4. Ready, stale, invalid, no status.
	check(cmdutil.ExitFailure,
		"1 of 4 DatadogMetrics ready",
		"test       podinfo-request-success-rate   True    True   99.7",
		"pass 99.7",
		"test/podinfo-request-duration: stale: updated 10m",
		"web/frontend-request-success-rate: invalid query: Datadog API error: Error parsing query",
		"web/frontend-request-duration: no status yet",
	)

	// 5. Fixed: everything ready; the switch can happen.
	setStatus("test", "podinfo-request-duration", "True", "180", time.Now(), "")
	setStatus("web", "frontend-request-success-rate", "True", "99.9", time.Now(), "")
	setStatus("web", "frontend-request-duration", "True", "120", time.Now(), "")
	if err := s.SetSeries("web", "datadogmetric@web:frontend-request-duration", nil, "120"); err != nil {
		t.Fatal(err)
	}
	check(0, "4 of 4 DatadogMetrics ready", "pass 120")

	// 6. The switch.
	kubectl("apply", "-f", out)
	canary = kubectl("get", "canary", "podinfo", "-n", "test", "-o", "jsonpath={.spec.analysis.metrics[0].templateRef.name}")
	if canary != "datadog-request-success-rate-externalmetrics" {
		t.Errorf("after the switch: templateRef %q", canary)
	}
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	n := 0
	for _, r := range s {
		if r < '0' || r > '9' {
			t.Fatalf("not a port: %q", s)
		}
		n = n*10 + int(r-'0')
	}
	return n
}
