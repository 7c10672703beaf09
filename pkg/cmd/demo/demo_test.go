package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/extmetrics/extmetrics/examples"
	"github.com/extmetrics/extmetrics/pkg/analysis"
	"github.com/extmetrics/extmetrics/pkg/cmd/cmdutil"
)

// execute runs the demo command in-process with ctx and returns its exit
// code and output.
func execute(t *testing.T, ctx context.Context, o *options, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	cmd := newCommand(o)
	var out, errb bytes.Buffer
	cmd.SetArgs(args)
	cmd.SetOut(&out)
	cmd.SetErr(&errb)
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	err := cmd.ExecuteContext(ctx)
	if err != nil && err.Error() != "" {
		errb.WriteString("Error: " + err.Error() + "\n")
	}
	return cmdutil.Code(err), out.String(), errb.String()
}

func readReport(t *testing.T, dir string) map[string]analysis.CanaryResult {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, FileJSON))
	if err != nil {
		t.Fatal(err)
	}
	var rep analysis.Report
	if err := json.Unmarshal(data, &rep); err != nil {
		t.Fatalf("report.json does not decode into analysis.Report: %v", err)
	}
	byName := map[string]analysis.CanaryResult{}
	for _, c := range rep.Canaries {
		byName[c.Namespace+"/"+c.Name] = c
	}
	if len(byName) != 2 {
		t.Fatalf("report has %d canaries, want 2: %+v", len(rep.Canaries), rep.Canaries)
	}
	return byName
}

type junitSuites struct {
	XMLName xml.Name `xml:"testsuites"`
	Suites  []struct {
		Name     string `xml:"name,attr"`
		Failures int    `xml:"failures,attr"`
		Cases    []struct {
			Name    string    `xml:"name,attr"`
			Failure *struct{} `xml:"failure"`
		} `xml:"testcase"`
	} `xml:"testsuite"`
}

// The demo end to end with a short interval: both devservers, both
// canaries, the scripted verdicts, the three reports.
func TestDemoCompletes(t *testing.T) {
	out := filepath.Join(t.TempDir(), "reports")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	code, stdout, stderr := execute(t, ctx, &options{}, "--interval", "20ms", "--out", out)
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	for _, want := range []string{
		"test/podinfo", "shop/checkout", "prometheus-adapter, https://127.0.0.1:", "Datadog Cluster Agent, https://127.0.0.1:",
		"Verdicts as the scenarios script them: test/podinfo Succeeded, shop/checkout Failed.",
		filepath.Join(out, FileJSON), filepath.Join(out, FileJUnit), filepath.Join(out, FileHTML),
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, stdout)
		}
	}
	// Progress (log form: stderr is not a terminal) shows both canaries' verdicts.
	for _, want := range []string{"test/podinfo verdict verdict=Succeeded", "shop/checkout verdict verdict=Failed"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}

	got := readReport(t, out)
	ok := got["test/podinfo"]
	if ok.Verdict != analysis.Succeeded || ok.Runs != 5 || ok.FailedChecks != 0 || ok.Weight != 50 || len(ok.Metrics) != 3 {
		t.Errorf("test/podinfo: %s runs=%d failed=%d weight=%d metrics=%d: %s", ok.Verdict, ok.Runs, ok.FailedChecks, ok.Weight, len(ok.Metrics), ok.Reason)
	}
	bad := got["shop/checkout"]
	if bad.Verdict != analysis.Failed || bad.Runs != 5 || bad.Steps != 3 || bad.FailedChecks != 2 || bad.Weight != 80 {
		t.Errorf("shop/checkout: %s runs=%d steps=%d failed=%d weight=%d: %s", bad.Verdict, bad.Runs, bad.Steps, bad.FailedChecks, bad.Weight, bad.Reason)
	}
	for _, m := range bad.Metrics {
		if m.Name != "error-rate" {
			continue
		}
		var values []float64
		for _, c := range m.Checks {
			values = append(values, c.Value)
		}
		if want := []float64{0.4, 0.7, 1.6, 3.9, 7.2}; !equal(values, want) {
			t.Errorf("shop/checkout error-rate values %v, want the scenario's %v", values, want)
		}
		if m.Query != "shop/datadogmetric@shop:checkout-error-rate" {
			t.Errorf("rendered query %q", m.Query)
		}
	}

	data, err := os.ReadFile(filepath.Join(out, FileJUnit))
	if err != nil {
		t.Fatal(err)
	}
	var suites junitSuites
	if err := xml.Unmarshal(data, &suites); err != nil {
		t.Fatalf("junit.xml: %v\n%s", err, data)
	}
	failures := map[string]int{}
	for _, s := range suites.Suites {
		failures[s.Name] = s.Failures
	}
	// shop/checkout: two failed error-rate checks plus the verdict test case.
	if len(suites.Suites) != 2 || failures["test/podinfo"] != 0 || failures["shop/checkout"] != 3 {
		t.Errorf("junit failures per suite %v", failures)
	}
	page, err := os.ReadFile(filepath.Join(out, FileHTML))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"<svg", "shop/checkout", "test/podinfo", "datadogmetric@shop:checkout-error-rate"} {
		if !bytes.Contains(page, []byte(want)) {
			t.Errorf("report.html lacks %q", want)
		}
	}
}

func equal(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if d := a[i] - b[i]; d > 1e-9 || d < -1e-9 {
			return false
		}
	}
	return true
}

// Ctrl-C: the canaries end Aborted, the partial reports are written, exit 1.
// The interval is an hour, so no run can complete before the cancellation,
// whenever it lands: the outcome does not depend on the machine's speed.
func TestDemoInterrupted(t *testing.T) {
	out := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	timer := time.AfterFunc(300*time.Millisecond, cancel)
	defer timer.Stop()
	code, stdout, stderr := execute(t, ctx, &options{}, "--interval", "1h", "--out", out, "-q")
	if code != 1 || !strings.Contains(stderr, "demo interrupted") {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	for name, c := range readReport(t, out) {
		if c.Verdict != analysis.Aborted || c.Runs != 0 {
			t.Errorf("%s: %s after %d runs, want Aborted", name, c.Verdict, c.Runs)
		}
	}
	for _, f := range []string{FileJUnit, FileHTML} {
		if st, err := os.Stat(filepath.Join(out, f)); err != nil || st.Size() == 0 {
			t.Errorf("%s: %v", f, err)
		}
	}
}

// A verdict other than the scripted one is exit 1, naming the canary.
func TestDemoVerdictDiffers(t *testing.T) {
	var exs []examples.Example
	for _, dir := range DemoExamples {
		ex, ok := examples.Lookup(dir)
		if !ok {
			t.Fatalf("example %s missing", dir)
		}
		if dir == "datadog" {
			ex.Verdict = analysis.Succeeded // the scenario scripts Failed
		}
		exs = append(exs, ex)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	code, stdout, stderr := execute(t, ctx, &options{examples: exs}, "--interval", "10ms", "--out", t.TempDir(), "-q")
	want := "verdicts differ from the scenarios: shop/checkout ended Failed, the scenario scripts Succeeded"
	if code != 1 || !strings.Contains(stderr, want) || strings.Contains(stderr, "test/podinfo ended") {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
}

func TestDemoFlags(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--interval", "0s"}, "--interval 0s: must be positive"},
		{[]string{"--interval", "-1s"}, "--interval -1s: must be positive"},
		{[]string{"--out", ""}, "--out: give a directory"},
	} {
		code, _, stderr := execute(t, context.Background(), &options{}, tt.args...)
		if code != cmdutil.ExitUsage || !strings.Contains(stderr, tt.want) {
			t.Errorf("%v: exit %d, stderr %q, want %q", tt.args, code, stderr, tt.want)
		}
	}
	// --out naming a file, not a directory.
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := execute(t, context.Background(), &options{}, "--out", file)
	if code != cmdutil.ExitUsage || !strings.Contains(stderr, "--out:") {
		t.Errorf("--out file: exit %d, stderr %q", code, stderr)
	}
}
