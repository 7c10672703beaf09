package flaggerctl

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"syscall"
	"time"
)

// Module, Version and Command of the Flagger controller built. v1.44.0 is
// the second release with the externalmetrics provider (added in v1.43.0,
// unchanged since).
const (
	Module  = "github.com/fluxcd/flagger"
	Version = "v1.44.0"
	Command = Module + "/cmd/flagger"
)

// CacheDir is ${XDG_CACHE_HOME:-$HOME/.cache}/extmetrics/flagger.
func CacheDir() (string, error) {
	base := os.Getenv("XDG_CACHE_HOME")
	if base == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("flaggerctl: no cache directory: %w", err)
		}
		base = filepath.Join(home, ".cache")
	}
	return filepath.Join(base, "extmetrics", "flagger"), nil
}

// recipe is what the cached binary depends on: the version, the Go
// toolchain, the platform and the build flags.
func recipe() string {
	return fmt.Sprintf("%s@%s go=%s %s/%s CGO_ENABLED=0 -trimpath", Command, Version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

// BinaryPath is where Build puts (or finds) the controller.
func BinaryPath() (string, error) {
	cache, err := CacheDir()
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256([]byte(recipe()))
	return filepath.Join(cache, "flagger-"+Version+"-"+hex.EncodeToString(sum[:6]), "flagger"), nil
}

// Build returns the path of the controller binary, building it the first
// time (under a file lock, so parallel test processes wait for one build).
// logf reports progress; a cold build takes minutes on 2 cores.
func Build(ctx context.Context, logf func(string, ...any)) (string, error) {
	bin, err := BinaryPath()
	if err != nil {
		return "", err
	}
	dir := filepath.Dir(bin)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	unlock, err := lock(ctx, filepath.Join(dir, ".lock"))
	if err != nil {
		return "", err
	}
	defer unlock()
	if fi, err := os.Stat(bin); err == nil && fi.Mode().IsRegular() && fi.Size() > 0 {
		return bin, nil
	}
	gobin, err := os.MkdirTemp(dir, ".build-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(gobin)
	logf("flaggerctl: building %s@%s into %s (first time only; minutes on 2 cores)", Command, Version, dir)
	start := time.Now()
	cmd := exec.CommandContext(ctx, "go", "install", "-trimpath", Command+"@"+Version)
	cmd.Dir = gobin // outside any module: go install pkg@version uses Flagger's go.mod
	cmd.Env = append(os.Environ(), "GOBIN="+gobin, "GOWORK=off", "CGO_ENABLED=0", "GOFLAGS=-buildvcs=false")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("flaggerctl: go install %s@%s: %v\n%s", Command, Version, err, tail(out.String(), 4000))
	}
	if err := os.Rename(filepath.Join(gobin, "flagger"), bin); err != nil {
		return "", err
	}
	_ = os.WriteFile(filepath.Join(dir, "recipe"), []byte(recipe()+"\nbuilt in "+time.Since(start).Round(time.Second).String()+"\n"), 0o644)
	logf("flaggerctl: built flagger in %s", time.Since(start).Round(time.Second))
	return bin, nil
}

// ModuleDir is Flagger's directory in the module cache (downloaded when
// needed).
func ModuleDir(ctx context.Context) (string, error) {
	tmp, err := os.MkdirTemp("", "flaggerctl-mod-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	cmd := exec.CommandContext(ctx, "go", "mod", "download", "-json", Module+"@"+Version)
	cmd.Dir = tmp // outside any module
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod")
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("flaggerctl: go mod download %s@%s: %v: %s", Module, Version, err, tail(errOut.String()+out.String(), 2000))
	}
	var info struct{ Dir, Error string }
	if err := json.Unmarshal(out.Bytes(), &info); err != nil || info.Dir == "" {
		return "", fmt.Errorf("flaggerctl: go mod download: no directory (%v %s)", err, info.Error)
	}
	return info.Dir, nil
}

// CRDs is Flagger's CRD manifest (artifacts/flagger/crd.yaml: Canary,
// MetricTemplate, AlertProvider).
func CRDs(ctx context.Context) (string, error) {
	dir, err := ModuleDir(ctx)
	if err != nil {
		return "", err
	}
	b, err := os.ReadFile(filepath.Join(dir, "artifacts", "flagger", "crd.yaml"))
	if err != nil {
		return "", fmt.Errorf("flaggerctl: %w", err)
	}
	return string(b), nil
}

// lock takes an exclusive flock on path, polling until ctx ends.
func lock(ctx context.Context, path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() { _ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			f.Close()
			return nil, fmt.Errorf("flaggerctl: lock %s: %w", path, err)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("flaggerctl: waiting for the build lock %s: %w", path, ctx.Err())
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}
