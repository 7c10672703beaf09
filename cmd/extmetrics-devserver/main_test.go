package main

import (
	"bufio"
	"context"
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestStandaloneBinary builds the binary and checks it starts the devserver
// with the same flags and first line as `extmetrics devserver`, with and
// without the "devserver" word, and refuses bad flags with exit 2.
func TestStandaloneBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a binary")
	}
	bin := filepath.Join(t.TempDir(), "extmetrics-devserver")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	for _, prefix := range [][]string{nil, {"devserver"}} {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		args := append(append([]string{}, prefix...), "--addr", "127.0.0.1:0", "--token", "t", "--write-ca", filepath.Join(t.TempDir(), "ca.crt"))
		cmd := exec.CommandContext(ctx, bin, args...)
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		line, err := bufio.NewReader(stdout).ReadString('\n')
		if err != nil || !strings.HasPrefix(line, "extmetrics devserver listening on https://127.0.0.1:") {
			t.Errorf("args %v: first line %q, %v", args, line, err)
		}
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		cancel()
	}
	err := exec.Command(bin, "--no-such-flag").Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 2 {
		t.Errorf("bad flag: %v, want exit 2", err)
	}
}
