package ctlbuild

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestCacheDir(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", "/x/cache")
	if d, err := CacheDir("argo"); err != nil || d != "/x/cache/extmetrics/argo" {
		t.Fatalf("with XDG_CACHE_HOME: %q %v", d, err)
	}
	t.Setenv("XDG_CACHE_HOME", "")
	t.Setenv("HOME", "/x/home")
	if d, err := CacheDir("e2e"); err != nil || d != "/x/home/.cache/extmetrics/e2e" {
		t.Fatalf("with HOME: %q %v", d, err)
	}
}

// The folder is <binary>-<version>-<first 6 bytes of the recipe's SHA-256>:
// the key every cache already built is found by.
func TestPath(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", "/c")
	s := Spec{Cache: "flagger", Binary: "flagger", Version: "v1.44.0", Recipe: "r"}
	sum := sha256.Sum256([]byte("r"))
	want := "/c/extmetrics/flagger/flagger-v1.44.0-" + hex.EncodeToString(sum[:6]) + "/flagger"
	if p, err := s.Path(); err != nil || p != want {
		t.Fatalf("Path %q %v, want %q", p, err, want)
	}
	s.Recipe = "r2"
	if p, _ := s.Path(); p == want {
		t.Fatal("another recipe, the same folder")
	}
}

func TestLock(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", ".lock")
	unlock, err := Lock(context.Background(), path, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 700*time.Millisecond)
	defer cancel()
	waited := 0
	if _, err := Lock(ctx, path, func() { waited++ }); err == nil || !strings.Contains(err.Error(), "waiting for the lock") || waited != 1 {
		t.Fatalf("second Lock while held: %v, waiting called %d times", err, waited)
	}
	unlock()
	unlock2, err := Lock(context.Background(), path, func() { t.Error("waited for a free lock") })
	if err != nil {
		t.Fatal(err)
	}
	unlock2()
}

// A cached binary is returned without building (this Package does not
// exist, so a build would fail).
func TestBuildCached(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	s := Spec{Name: "t", Cache: "t", Binary: "bin", Package: "example.com/none", Version: "v1.0.0", Recipe: "r", GoMod: "module x\n"}
	want, _ := s.Path()
	if err := os.MkdirAll(filepath.Dir(want), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(want, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	got, err := Build(context.Background(), s, func(f string, a ...any) { t.Errorf("built: "+f, a...) })
	if err != nil || got != want {
		t.Fatalf("Build %q %v, want %q", got, err, want)
	}
}

// go build in a throwaway module: the binary lands in the folder with its
// recipe; the second call finds it; a failed build says what and leaves
// nothing behind.
func TestBuild(t *testing.T) {
	// The Go build cache stays where it is (by default it follows
	// XDG_CACHE_HOME, and a cold one makes this test slow).
	gocache, err := exec.Command("go", "env", "GOCACHE").Output()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("GOCACHE", strings.TrimSpace(string(gocache)))
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	s := Spec{Name: "t", Cache: "t", Binary: "gofmt", Package: "cmd/gofmt", Version: "std", Recipe: "gofmt recipe",
		GoMod: "module x\n\ngo 1.26.0\n", LDFlags: "-X main.unused=1"}
	var logged []string
	logf := func(f string, a ...any) { logged = append(logged, f) }
	bin, err := Build(context.Background(), s, logf)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(bin); err != nil || fi.Mode()&0o111 == 0 || len(logged) != 2 {
		t.Fatalf("binary %s: %v %v, logged %q", bin, fi, err, logged)
	}
	if r, err := os.ReadFile(filepath.Join(filepath.Dir(bin), "recipe")); err != nil || !strings.HasPrefix(string(r), "gofmt recipe\nbuilt in ") {
		t.Fatalf("recipe file %q %v", r, err)
	}
	if left, _ := filepath.Glob(filepath.Join(filepath.Dir(bin), ".build-*")); len(left) != 0 {
		t.Fatalf("work folders left: %v", left)
	}
	if again, err := Build(context.Background(), s, logf); err != nil || again != bin || len(logged) != 2 {
		t.Fatalf("second Build %q %v, logged %q", again, err, logged)
	}

	s.Package, s.Binary = "nosuch/cmd", "nosuch"
	_, err = Build(context.Background(), s, logf)
	if err == nil || !strings.Contains(err.Error(), "t: go build nosuch/cmd@std") || !strings.Contains(err.Error(), "nosuch/cmd") {
		t.Fatalf("failed build: %v", err)
	}
	p, _ := s.Path()
	if _, err := os.Stat(p); err == nil {
		t.Fatal("a failed build left a binary")
	}
}

func TestTail(t *testing.T) {
	if Tail("abc", 5) != "abc" || Tail("abcdef", 2) != "…ef" {
		t.Fatal(Tail("abcdef", 2))
	}
}
