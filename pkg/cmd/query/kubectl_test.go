package query_test

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/extmetrics/extmetrics/pkg/devserver"
	"github.com/extmetrics/extmetrics/pkg/devserver/devservertest"
)

// TestKubectlPlugin builds the binary as kubectl-extmetrics into a directory
// on PATH and runs it through the real kubectl (/usr/bin/kubectl).
func TestKubectlPlugin(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a binary")
	}
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		t.Skip("kubectl not installed")
	}
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go tool not found")
	}
	e := start(t, devserver.Config{})
	mustSet(t, e.s, "default", "requests", nil, "42")

	dir := t.TempDir()
	build := exec.Command(gobin, "build", "-o", filepath.Join(dir, "kubectl-extmetrics"), "github.com/extmetrics/extmetrics/cmd/extmetrics")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))

	kc := func(args ...string) (string, int) {
		t.Helper()
		c := exec.Command(kubectl, args...)
		out, err := c.CombinedOutput()
		code := 0
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatalf("kubectl %v: %v", args, err)
		}
		return string(out), code
	}

	if out, code := kc("plugin", "list"); code != 0 || !strings.Contains(out, filepath.Join(dir, "kubectl-extmetrics")) {
		t.Fatalf("kubectl plugin list: exit %d\n%s", code, out)
	}
	if out, code := kc("extmetrics", "version"); code != 0 || out == "" {
		t.Fatalf("kubectl extmetrics version: exit %d\n%s", code, out)
	}
	if out, code := kc("extmetrics", "--help"); code != 0 || !strings.Contains(out, "kubectl extmetrics [command]") {
		t.Fatalf("kubectl extmetrics --help: exit %d\n%s", code, out)
	}
	out, code := kc("extmetrics", "query", "-o", "value", "requests",
		"--server", e.s.URL(), "--ca-file", e.caFile, "--token", devservertest.Token)
	if code != 0 || out != "42\n" {
		t.Fatalf("kubectl extmetrics query: exit %d\n%s", code, out)
	}
	// Exit codes pass through kubectl: 1 on a query error, 2 on a usage error.
	if out, code := kc("extmetrics", "query", "missing", "--server", e.s.URL(), "--ca-file", e.caFile, "--token", devservertest.Token); code != 1 ||
		!strings.Contains(out, "metric not found") {
		t.Fatalf("query error: exit %d\n%s", code, out)
	}
	if out, code := kc("extmetrics", "query", "a/b/c"); code != 2 {
		t.Fatalf("usage error: exit %d\n%s", code, out)
	}
}
