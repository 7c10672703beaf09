package migrate

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/extmetrics/extmetrics/pkg/cmd/cmdutil"
	"github.com/extmetrics/extmetrics/pkg/devserver"
	"github.com/extmetrics/extmetrics/pkg/devserver/devservertest"
	"github.com/extmetrics/extmetrics/pkg/scenario"
)

const input = "../../migrate/testdata/istio"

func runCmd(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	c := NewCommand()
	var out, errb bytes.Buffer
	c.SetArgs(args)
	c.SetIn(strings.NewReader(stdin))
	c.SetOut(&out)
	c.SetErr(&errb)
	c.SilenceUsage, c.SilenceErrors = true, true
	err := c.ExecuteContext(context.Background())
	if err != nil {
		errb.WriteString("Error: " + err.Error())
	}
	return cmdutil.Code(err), out.String(), errb.String()
}

func TestDatadogStdoutAndScenario(t *testing.T) {
	sc := filepath.Join(t.TempDir(), "sc.yaml")
	code, out, errOut := runCmd(t, "", "datadog", "-f", input, "--scenario", sc)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if strings.Count(out, "kind: DatadogMetric") != 6 || strings.Count(out, "kind: Canary") != 3 {
		t.Errorf("stdout:\n%s", out)
	}
	if !strings.Contains(errOut, "migrated 6 metric(s) of 3 canary(ies)") {
		t.Errorf("stderr:\n%s", errOut)
	}
	if _, err := scenario.LoadFile(sc); err != nil {
		t.Errorf("scenario: %v", err)
	}
}

func TestDatadogOutDirFromStdin(t *testing.T) {
	var all bytes.Buffer
	for _, f := range []string{"templates.yaml", "canaries.yaml"} {
		b, err := os.ReadFile(filepath.Join(input, f))
		if err != nil {
			t.Fatal(err)
		}
		all.Write(b)
		all.WriteString("\n---\n")
	}
	dir := t.TempDir()
	code, out, errOut := runCmd(t, all.String(), "datadog", "-f", "-", "--out", dir, "--address", "https://dca.datadog.svc:8443", "--secret", "dca")
	if code != 0 || out != "" {
		t.Fatalf("exit %d, stdout %q: %s", code, out, errOut)
	}
	b, err := os.ReadFile(filepath.Join(dir, "shop.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "kind: Canary") || strings.Contains(string(b), "kind: MetricTemplate") {
		t.Errorf("shop.yaml:\n%s", b)
	}
	b, err = os.ReadFile(filepath.Join(dir, "istio-system.yaml"))
	if err != nil || !strings.Contains(string(b), "address: https://dca.datadog.svc:8443") || !strings.Contains(string(b), "name: dca\n") {
		t.Errorf("istio-system.yaml (%v):\n%s", err, b)
	}
}

func TestDatadogErrors(t *testing.T) {
	refused := filepath.Join(t.TempDir(), "r.yaml")
	if err := os.WriteFile(refused, []byte(`apiVersion: flagger.app/v1beta1
kind: MetricTemplate
metadata: {name: t}
spec: {provider: {type: datadog}, query: "sum:a{*} by {pod}"}
---
apiVersion: flagger.app/v1beta1
kind: Canary
metadata: {name: c}
spec:
  targetRef: {name: c}
  analysis:
    metrics: [{name: m, templateRef: {name: t}, thresholdRange: {max: 1}, interval: 1m}]
`), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"datadog"}, cmdutil.ExitUsage, "give the Canary and MetricTemplate files"},
		{[]string{"datadog", "-f", input, "--address", "dca:8443"}, cmdutil.ExitUsage, "want an http(s) URL"},
		{[]string{"datadog", "-f", input, "--secret", "Bad_Name"}, cmdutil.ExitUsage, `secret name "Bad_Name"`},
		{[]string{"datadog", "-f", refused}, cmdutil.ExitUsage, `spec.analysis.metrics[0] (m): MetricTemplate default/t: it groups "by {...}"`},
		{[]string{"datadog", "-f", refused, "--skip-unsupported"}, cmdutil.ExitUsage, "skipped: " + refused},
		{[]string{"datadog", "-f", input, "--out", "/proc/nope"}, cmdutil.ExitFailure, "/proc/nope"},
		{[]string{"datadog", "-f", input, "--check", "--out", "x"}, cmdutil.ExitUsage, "--check writes nothing"},
		{[]string{"datadog", "-f", input, "--check", "--stale-after", "0s"}, cmdutil.ExitUsage, "--stale-after 0s: must be positive"},
		{[]string{"datadog", "-f", input, "--check", "--kubeconfig", "/nonexistent"}, cmdutil.ExitUsage, "kubeconfig"},
	} {
		code, _, errOut := runCmd(t, "", tc.args...)
		if code != tc.code || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d (want %d), stderr:\n%s\nwant %q", tc.args, code, tc.code, errOut, tc.want)
		}
	}
}

// --check against a real server that has no DatadogMetric API (the
// devserver): every DatadogMetric is "not found", the queries run through the
// kubeconfig's server, the table says so and the exit status is 1.
func TestDatadogCheckNothingApplied(t *testing.T) {
	s := devservertest.New(t, devserver.Config{Profile: devserver.ProfileDatadog})
	kc := devservertest.WriteKubeconfig(t, s, devservertest.Token)
	code, out, errOut := runCmd(t, "", "datadog", "-f", input, "--check", "--kubeconfig", kc)
	if code != cmdutil.ExitFailure {
		t.Fatalf("exit %d, want %d: %s\n%s", code, cmdutil.ExitFailure, out, errOut)
	}
	for _, want := range []string{"shop       checkout-success-rate", "0 of 6 DatadogMetrics ready", "shop/checkout-success-rate: not found", "error (not-found)"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}
