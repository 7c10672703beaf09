package examples_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/extmetrics/extmetrics/pkg/analysis"
	"github.com/extmetrics/extmetrics/pkg/cmd/analyze"
	"github.com/extmetrics/extmetrics/pkg/cmd/cmdutil"
	"github.com/extmetrics/extmetrics/pkg/devserver"
	"github.com/extmetrics/extmetrics/pkg/devserver/devservertest"
	"github.com/extmetrics/extmetrics/pkg/scenario"
)

// examples/gate-analyze run as its README says: a devserver with the
// example's scenario, the gate's config pointed at it, `extmetrics analyze
// --gate-config`: Succeeded after the pre-rollout check and 2 runs, the
// relative check with both values.
func TestGateAnalyzeExample(t *testing.T) {
	const dir = "gate-analyze"
	sc, err := scenario.LoadFile(filepath.Join(dir, "scenario.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	srv := devservertest.New(t, devserver.Config{Profile: devserver.ProfilePrometheusAdapter, Scenario: sc,
		Tokens: map[string][]string{"dev-token": {devserver.AllNamespaces}}})
	tmp := t.TempDir()
	ca, tok := filepath.Join(tmp, "ca.crt"), filepath.Join(tmp, "token")
	os.WriteFile(ca, srv.CAPEM(), 0o600)
	os.WriteFile(tok, []byte("dev-token"), 0o600)
	conf, err := os.ReadFile(filepath.Join(dir, "gate.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	conf = []byte(strings.NewReplacer("https://127.0.0.1:8447", srv.URL(), "/tmp/extmetrics-gate-analyze-ca.crt", ca,
		"/tmp/extmetrics-gate-analyze-token", tok).Replace(string(conf)))
	gateConf := filepath.Join(tmp, "gate.yaml")
	os.WriteFile(gateConf, conf, 0o600)

	run := func(args ...string) (int, string, string) {
		cmd := analyze.NewCommand()
		var stdout, stderr bytes.Buffer
		cmd.SetArgs(append([]string{"-f", filepath.Join(dir, "canary.yaml"), "--gate-config", gateConf}, args...))
		cmd.SetOut(&stdout)
		cmd.SetErr(&stderr)
		cmd.SilenceUsage, cmd.SilenceErrors = true, true
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		return cmdutil.Code(cmd.ExecuteContext(ctx)), stdout.String(), stderr.String()
	}
	code, out, stderr := run("--once")
	if code != 0 || !strings.Contains(out, "0.4 (baseline 0.3, ratio 1.33333, delta 0.1)") || !strings.Contains(out, "≤ 5, maxRatio 1.5, maxDelta 0.5") {
		t.Fatalf("--once: exit %d\n%s\n%s", code, out, stderr)
	}
	code, out, stderr = run("--interval", "10ms", "-o", "json")
	var rep analysis.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("exit %d: %v\n%s", code, err, stderr)
	}
	c := rep.Canaries[0]
	if code != 0 || c.Verdict != analysis.Succeeded || c.Runs != 2 || len(c.Metrics) != 2 || len(c.Metrics[0].Checks) != 1 || len(c.Metrics[1].Checks) != 2 ||
		c.Metrics[1].Checks[0].Baseline == nil || *c.Metrics[1].Checks[0].Baseline != 0.3 {
		t.Fatalf("exit %d %+v\n%s", code, c, stderr)
	}
}
