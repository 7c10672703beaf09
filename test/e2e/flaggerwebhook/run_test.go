// Package flaggerwebhook_test runs the tests of the nested module
// test/flaggerwebhook (Flagger v1.36.1's own webhook client against
// `extmetrics gate`), so that the main module's `go test ./...` covers them.
// The nested module keeps Flagger's k8s.io v0.27 dependency tree out of the
// main module.
package flaggerwebhook_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
	"time"
)

func TestFlaggerWebhookModule(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the nested module builds Flagger and its k8s.io v0.27 dependencies")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		if ci, _ := strconv.ParseBool(os.Getenv("CI")); ci {
			t.Fatalf("go not on PATH (CI=true, so this fails): %v", err)
		}
		t.Skipf("go not on PATH: %v", err)
	}
	_, file, _, _ := runtime.Caller(0)
	dir := filepath.Join(filepath.Dir(file), "..", "..", "flaggerwebhook")
	// Leave room under go test's default 10-minute timeout for a cold build.
	ctx, cancel := context.WithTimeout(context.Background(), 9*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, goBin, "test", "-count=1", "./...")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOWORK=off")
	start := time.Now()
	out, err := cmd.CombinedOutput()
	t.Logf("cd test/flaggerwebhook && go test ./... (%s):\n%s", time.Since(start).Round(time.Second), out)
	if err != nil {
		t.Fatalf("nested module test/flaggerwebhook: %v", err)
	}
}
