package analyze

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/extmetrics/extmetrics/internal/testenv"
	"github.com/extmetrics/extmetrics/internal/testutil"
	"github.com/extmetrics/extmetrics/pkg/analysis"
	"github.com/extmetrics/extmetrics/pkg/cmd/cmdutil"
	"github.com/extmetrics/extmetrics/pkg/devserver"
	"github.com/extmetrics/extmetrics/pkg/devserver/devservertest"
)

// The command end to end: files on disk, the real devserver over HTTPS.

func writeObjects(t *testing.T, s *devserver.Server, max string) string {
	t.Helper()
	ca := strings.ReplaceAll(strings.TrimSpace(string(s.CAPEM())), "\n", "\n    ")
	objects := fmt.Sprintf(`apiVersion: flagger.app/v1beta1
kind: MetricTemplate
metadata: {name: error-rate, namespace: ci}
spec:
  provider:
    type: externalmetrics
    address: %s
    secretRef: {name: devserver}
  query: "{{ namespace }}/errors?labelSelector=app={{ target }}"
---
apiVersion: v1
kind: Secret
metadata: {name: devserver, namespace: ci}
stringData:
  token: %s
  ca.crt: |
    %s
---
apiVersion: flagger.app/v1beta1
kind: Canary
metadata: {name: web, namespace: ci}
spec:
  targetRef: {kind: Deployment, name: web}
  analysis:
    interval: 1m
    stepWeight: 25
    threshold: 2
    metrics:
      - name: error-rate
        templateRef: {name: error-rate}
        thresholdRange: {max: %s}
`, s.URL(), devservertest.Token, ca, max)
	path := filepath.Join(t.TempDir(), "canary.yaml")
	if err := os.WriteFile(path, []byte(objects), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func execute(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	cmd := NewCommand()
	var out, errb bytes.Buffer
	cmd.SetArgs(args)
	cmd.SetIn(strings.NewReader(stdin))
	cmd.SetOut(&out)
	cmd.SetErr(&errb)
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	err := cmd.ExecuteContext(ctx)
	if err != nil && err.Error() != "" && !strings.HasPrefix(err.Error(), "exit ") {
		errb.WriteString("Error: " + err.Error() + "\n")
	}
	return cmdutil.Code(err), out.String(), errb.String()
}

func server(t *testing.T, value string) *devserver.Server {
	s := devservertest.New(t, devserver.Config{})
	if err := s.SetSeries("ci", "errors", map[string]string{"app": "web"}, value); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestAnalyzeSucceeds(t *testing.T) {
	s := server(t, "0.5")
	file := writeObjects(t, s, "1")
	dir := t.TempDir()
	junit, html := filepath.Join(dir, "junit.xml"), filepath.Join(dir, "report.html")
	code, stdout, stderr := execute(t, "", "-f", file, "--interval", "1ms", "-o", "json", "--junit", junit, "--report", html)
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	var rep analysis.Report
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatalf("JSON: %v\n%s", err, stdout)
	}
	if len(rep.Canaries) != 1 || rep.Canaries[0].Verdict != analysis.Succeeded || rep.Canaries[0].Runs != 4 {
		t.Fatalf("report %+v", rep.Canaries)
	}
	var suites struct {
		XMLName xml.Name `xml:"testsuites"`
	}
	data, err := os.ReadFile(junit)
	if err != nil || xml.Unmarshal(data, &suites) != nil {
		t.Fatalf("junit: %v\n%s", err, data)
	}
	page, err := os.ReadFile(html)
	if err != nil || !bytes.Contains(page, []byte("<svg")) {
		t.Fatalf("html report: %v", err)
	}
	if !strings.Contains(stderr, "wrote "+junit) {
		t.Errorf("stderr:\n%s", stderr)
	}
}

func TestAnalyzeFailsExit1(t *testing.T) {
	s := server(t, "3")
	code, stdout, stderr := execute(t, "", "-f", writeObjects(t, s, "1"), "--interval", "1ms")
	if code != 1 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	if !strings.Contains(stdout, "Failed") || !strings.Contains(stdout, "ci/web") {
		t.Errorf("summary:\n%s", stdout)
	}
}

func TestAnalyzeOnceFromStdin(t *testing.T) {
	s := server(t, "0.25")
	data, err := os.ReadFile(writeObjects(t, s, "1"))
	if err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := execute(t, string(data), "-f", "-", "--once", "-o", "json", "-q")
	if code != 0 || stderr != "" {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	var rep analysis.Report
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatal(err)
	}
	c := rep.Canaries[0]
	if c.Mode != analysis.ModeOnce || c.Runs != 1 || c.Metrics[0].Checks[0].Value != 0.25 || c.Metrics[0].Query != "ci/errors?labelSelector=app=web" {
		t.Fatalf("once %+v", c)
	}
}

func TestAnalyzeConfigErrorsExit2(t *testing.T) {
	s := server(t, "0")
	file := writeObjects(t, s, "1")
	data, _ := os.ReadFile(file)
	broken := filepath.Join(t.TempDir(), "broken.yaml")
	os.WriteFile(broken, bytes.Replace(data, []byte("templateRef: {name: error-rate}"), []byte("templateRef: {name: errors}"), 1), 0o600)
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"-f", broken}, `broken.yaml: document 3: spec.analysis.metrics[0].templateRef: MetricTemplate "errors" not found in namespace "ci"`},
		{[]string{}, "give the Canary and MetricTemplate files with -f"},
		{[]string{"-f", file, "-o", "xml"}, `--output "xml": want text (or table), json or yaml`},
		{[]string{"-f", filepath.Join(t.TempDir(), "missing.yaml")}, "missing.yaml: no such file or directory"},
	}
	for _, tt := range tests {
		code, _, stderr := execute(t, "", tt.args...)
		if code != 2 || !strings.Contains(stderr, tt.want) {
			t.Errorf("%v: exit %d, stderr:\n%s\nwant %q", tt.args, code, stderr, tt.want)
		}
	}
}

// A template without spec.provider.address follows analysis.Connection's
// rule: --server/--token/--ca-file, else the kubeconfig's cluster.
func TestAnalyzeTemplateWithoutAddress(t *testing.T) {
	testenv.Isolate(t)
	s := server(t, "0.5")
	// The usual objects, minus the template's address and secretRef.
	data, err := os.ReadFile(writeObjects(t, s, "1"))
	if err != nil {
		t.Fatal(err)
	}
	objects := strings.Replace(string(data), "    address: "+s.URL()+"\n    secretRef: {name: devserver}\n", "", 1)
	if strings.Contains(objects, "address:") {
		t.Fatal("the template still has an address")
	}
	dir := t.TempDir()
	file, caFile := filepath.Join(dir, "canary.yaml"), testutil.WriteCA(t, s.CAPEM())
	if err := os.WriteFile(file, []byte(objects), 0o600); err != nil {
		t.Fatal(err)
	}
	check := func(name string, wantCode int, args ...string) {
		t.Helper()
		code, stdout, stderr := execute(t, "", append([]string{"-f", file, "--once", "-o", "json", "-q"}, args...)...)
		if code != wantCode {
			t.Fatalf("%s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", name, code, wantCode, stdout, stderr)
		}
		if wantCode != 0 {
			return
		}
		var rep analysis.Report
		if err := json.Unmarshal([]byte(stdout), &rep); err != nil || rep.Canaries[0].Metrics[0].Checks[0].Value != 0.5 {
			t.Fatalf("%s: %v\n%s", name, err, stdout)
		}
	}
	check("--server", 0, "--server", s.URL(), "--token", devservertest.Token, "--ca-file", caFile)
	check("wrong --token", 1, "--server", s.URL(), "--token", "wrong", "--ca-file", caFile)
	check("kubeconfig", 0, "--kubeconfig", devservertest.WriteKubeconfig(t, s, devservertest.Token))
	check("no server at all", 2)
}
