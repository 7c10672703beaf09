package flaggercontroller

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/extmetrics/extmetrics/internal/testutil"
	"github.com/extmetrics/extmetrics/pkg/analysis"
	"github.com/extmetrics/extmetrics/pkg/cmd"
	"github.com/extmetrics/extmetrics/pkg/devserver"
	"github.com/extmetrics/extmetrics/test/e2e/harness"
)

// startGate runs `extmetrics gate` (the command, in-process) with the
// admin's kubeconfig and a named provider "dev" for srv; it returns the
// gate's URL and a function that stops it.
func startGate(t *testing.T, c *harness.Cluster, srv *devserver.Server) (string, func()) {
	t.Helper()
	url, _, stop := startGateConfig(t, c, srv)
	return url, stop
}

// startGateConfig is startGate that also returns the path of the gate's
// --config file (for analyze --gate-config).
func startGateConfig(t *testing.T, c *harness.Cluster, srv *devserver.Server) (string, string, func()) {
	t.Helper()
	dir := t.TempDir()
	tok := filepath.Join(dir, "token")
	cfg := filepath.Join(dir, "gate.yaml")
	if err := os.WriteFile(tok, []byte(devToken), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf("providers:\n  - name: dev\n    address: %s\n    caFile: %s\n    tokenFile: %s\n", srv.URL(), c.CAFile(), tok)), 0o600); err != nil {
		t.Fatal(err)
	}
	root := cmd.NewRoot()
	root.SetArgs([]string{"gate", "--listen", "127.0.0.1:0", "--kubeconfig", c.AdminKubeconfig(), "--config", cfg, "--cache-ttl", "0"})
	g := testutil.StartCommand(t, root)
	m := regexp.MustCompile(`listening on (\S+)`).FindStringSubmatch(g.Line)
	if m == nil {
		t.Fatalf("gate: line %q", g.Line)
	}
	url := m[1]
	testutil.Eventually(t, 30*time.Second, "the gate's /readyz", func() (bool, string) {
		resp, err := http.Get(url + "/readyz")
		if err != nil {
			return false, err.Error() + "\n" + g.Stderr.String()
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, resp.Status + "\n" + g.Stderr.String()
	})
	return url, cfg, func() { _ = g.Stop() }
}

// TestGateWebhook: `extmetrics gate` as Flagger's rollout webhook, the
// canary having no Flagger metrics at all: with templateRef and with
// provider + query, healthy → Succeeded, unhealthy → Failed with the gate's
// one-line reason in the Canary's events; a stopped gate → Failed, never
// Succeeded.
//
// Parity: `extmetrics analyze --gate-config` (the gate's --config) on the
// same YAML reaches the same verdict and failed checks, except for the
// stopped gate: analyze runs the check in-process and never calls the
// webhook's url, so it judges the metric (Succeeded) and notes that it
// cannot see a gate Flagger cannot reach.
func TestGateWebhook(t *testing.T) {
	t.Parallel()
	c, ctl := sharedController(t)
	srv := startDevserver(t, c, devserver.ProfilePrometheusAdapter, nil)
	gateURL, gateConfig, _ := startGateConfig(t, c, srv)
	calls := countCalls(t, gateURL)
	url := calls.URL
	stoppedURL, stop := startGate(t, c, srv)
	stop()

	table := newParityTable(t, "gate checks")

	const query = "{{ namespace }}/http_requests_error_rate?labelSelector=app%3D{{ target }}"
	webhook := gateWebhook
	for _, tc := range []struct {
		name, value, want string
		objs              func(ns string) string
		hook              func(ns string) string
		event             string
	}{
		{"tref-ok", "500m", "Succeeded",
			func(ns string) string { return templateYAML(ns, srv.URL(), query, string(c.CAPEM())) },
			func(string) string { return webhook(url, `{templateRef: error-rate, max: "1"}`) }, ""},
		{"tref-bad", "2", "Failed",
			func(ns string) string { return templateYAML(ns, srv.URL(), query, string(c.CAPEM())) },
			func(string) string { return webhook(url, `{templateRef: error-rate, max: "1"}`) },
			"external check gate failed extmetrics gate: %[1]s/error-rate: value 2 outside max 1 (query \"%[1]s/http_requests_error_rate?labelSelector=app=podinfo\")"},
		{"query-ok", "500m", "Succeeded",
			func(string) string { return "" },
			func(string) string { return webhook(url, fmt.Sprintf(`{provider: dev, query: %q, max: "1"}`, query)) }, ""},
		{"query-bad", "2", "Failed",
			func(string) string { return "" },
			func(string) string { return webhook(url, fmt.Sprintf(`{provider: dev, query: %q, max: "1"}`, query)) },
			"external check gate failed extmetrics gate: provider dev: value 2 outside max 1"},
		{"stopped", "500m", "Failed",
			func(ns string) string { return templateYAML(ns, srv.URL(), query, string(c.CAPEM())) },
			func(string) string { return webhook(stoppedURL, `{templateRef: error-rate, max: "1"}`) },
			"external check gate failed POST " + stoppedURL + "/flagger/v1/check giving up after 1 attempt(s): Post \"" + stoppedURL + "/flagger/v1/check\": dial tcp " + strings.TrimPrefix(stoppedURL, "http://") + ": connect: connection refused"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ns := "gate-" + tc.name
			if err := srv.SetSeries(ns, "http_requests_error_rate", map[string]string{"app": "podinfo"}, tc.value); err != nil {
				t.Fatal(err)
			}
			objs := tc.objs(ns) + canaryYAML(ns, 1, 1, "", tc.hook(ns))
			ar := analyzeCommand(t, objs, "--gate-config", gateConfig, "--interval", "20ms")
			o := runCanary(t, c, ctl, ns, objs, 3*time.Minute)
			assertPhase(t, o, tc.want)
			analyzeChecks := 0
			for _, m := range ar.Metrics {
				analyzeChecks += len(m.Checks)
			}
			row := parityRow{name: tc.name, flaggerPhase: o.Phase, analyzeVerdict: string(ar.Verdict),
				flaggerFailed: o.FailedChecks, analyzeFailed: ar.FailedChecks, flaggerChecks: calls.calls(ns), analyzeChecks: analyzeChecks,
				analyzeQuery: ar.Metrics[0].Query, flaggerRun: o.Run}
			difference := ""
			if tc.name == "stopped" {
				// The known difference: analyze never calls the gate, so
				// it judges the metric (and notes that it cannot see this).
				row.flaggerChecks = countEvents(o, "external check gate failed")
				difference = "analyze runs the check in-process and never calls the webhook's url"
				if ar.Verdict != analysis.Succeeded || ar.FailedChecks != 0 {
					t.Errorf("analyze: %s with %d failed checks (%s), want Succeeded with 0 (the gate's check of a healthy metric)", ar.Verdict, ar.FailedChecks, ar.Reason)
				}
			}
			table.add(t, row, ar.Reason, difference)
			if len(o.Queries) != 0 {
				t.Errorf("Flagger ran metric checks of its own: %q", o.Queries)
			}
			if tc.event != "" {
				want := fmt.Sprintf("Halt podinfo.%s advancement ", ns) + strings.ReplaceAll(tc.event, "%[1]s", ns)
				if countEvents(o, want) == 0 {
					t.Errorf("no event containing %q in:\n  %s", want, strings.Join(o.Events, "\n  "))
				}
				t.Logf("event: %s", checkEvent(o.Events, want))
			}
		})
	}
}
