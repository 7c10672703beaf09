package report

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/extmetrics/extmetrics/pkg/analysis"
)

func TestCheckOutputs(t *testing.T) {
	dir := t.TempDir()
	existing := filepath.Join(dir, "old.xml")
	if err := os.WriteFile(existing, []byte("keep"), 0o600); err != nil {
		t.Fatal(err)
	}
	ok := []Output{{"--json", filepath.Join(dir, "r.json")}, {"--junit", existing}, {"--report", ""}}
	if err := CheckOutputs(ok...); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(existing); string(b) != "keep" {
		t.Fatalf("existing file changed: %q", b)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Fatalf("probe left files behind: %v", entries)
	}

	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	err := CheckOutputs(
		Output{"--junit", "/nonexistent/dir/j.xml"},
		Output{"--report", dir},
		Output{"--json", filepath.Join(file, "x.json")},
		Output{"--a", filepath.Join(dir, "same")},
		Output{"--b", filepath.Join(dir, ".", "same")},
	)
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{
		"--junit /nonexistent/dir/j.xml: directory /nonexistent/dir does not exist",
		"--report " + dir + ": is a directory",
		"is not a directory",
		"same file as --a",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if os.Geteuid() != 0 { // root writes anywhere
		ro := filepath.Join(dir, "ro")
		if err := os.Mkdir(ro, 0o500); err != nil {
			t.Fatal(err)
		}
		if err := CheckOutputs(Output{"--json", filepath.Join(ro, "r.json")}); err == nil || !strings.Contains(err.Error(), "not writable") {
			t.Errorf("read-only directory: %v", err)
		}
	}
}

// --once has no weight (HTML shows "—", not 0%); JSON keeps '&' readable.
func TestOnceWeightAndJSONAmpersand(t *testing.T) {
	rep := &analysis.Report{Canaries: []analysis.CanaryResult{{Name: "web", Namespace: "ci", Strategy: analysis.StrategyCanary,
		Mode: analysis.ModeOnce, Verdict: analysis.Succeeded, Metrics: []analysis.MetricResult{{Name: "e", Query: "ci/e?labelSelector=a=b&aggregate=sum",
			Checks: []analysis.Check{{Metric: "e", Step: 1, Run: 1, HasValue: true, Value: 1, Passed: true, Query: "ci/e?labelSelector=a=b&aggregate=sum"}}}}}}}
	var html, js strings.Builder
	if err := WriteHTML(&html, rep); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(html.String(), "0%</") {
		t.Errorf("--once report shows a weight")
	}
	if err := WriteJSON(&js, rep); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(js.String(), `\u0026`) || !strings.Contains(js.String(), "a=b&aggregate=sum") {
		t.Errorf("JSON escapes &:\n%s", js.String())
	}
}
