// Package argoctl builds the real Argo Rollouts controller
// (cmd/rollouts-controller) from the module proxy for tests, caches it
// outside the repository keyed by version and build recipe, and finds
// Argo's CRD manifests in the module cache.
package argoctl

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
	"strings"
	"syscall"
	"time"
)

// Module and Version of Argo Rollouts built (v1.10.2 needs a newer Go).
const (
	Module  = "github.com/argoproj/argo-rollouts"
	Version = "v1.10.1"
	Command = Module + "/cmd/rollouts-controller"
)

// CacheDir is ${XDG_CACHE_HOME:-$HOME/.cache}/extmetrics/argo.
func CacheDir() (string, error) {
	base := os.Getenv("XDG_CACHE_HOME")
	if base == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("no cache directory: %w", err)
		}
		base = filepath.Join(home, ".cache")
	}
	return filepath.Join(base, "extmetrics", "argo"), nil
}

// GoMod is the build module's go.mod: Argo at Version with the k8s.io
// replace block of the plugin module (pluginGoMod's content), so the
// controller is built against the same Kubernetes libraries as the plugin
// and the integrator's kube-apiserver.
func GoMod(pluginGoMod []byte) (string, error) {
	var b strings.Builder
	b.WriteString("module argoctlbuild\n\ngo 1.26.1\n\nrequire " + Module + " " + Version + "\n\nreplace (\n")
	n := 0
	in := false
	for _, line := range strings.Split(string(pluginGoMod), "\n") {
		t := strings.TrimSpace(line)
		switch {
		case t == "replace (":
			in = true
		case in && t == ")":
			in = false
		case in && strings.HasPrefix(t, "k8s.io/"):
			b.WriteString("\t" + t + "\n")
			n++
		}
	}
	b.WriteString(")\n")
	if n == 0 {
		return "", errors.New("argoctl: no k8s.io replace directives found in the plugin's go.mod")
	}
	return b.String(), nil
}

// Build returns the path of the rollouts-controller binary, building it
// (once per recipe, under a file lock so parallel test processes wait for
// one build) into CacheDir()/rollouts-controller-<Version>-<hash>/. The hash
// covers the generated go.mod and the Go version. logf reports progress.
func Build(ctx context.Context, pluginGoMod []byte, logf func(string, ...any)) (string, error) {
	gomod, err := GoMod(pluginGoMod)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256([]byte(gomod + "\n" + runtime.Version()))
	cache, err := CacheDir()
	if err != nil {
		return "", err
	}
	dir := filepath.Join(cache, "rollouts-controller-"+Version+"-"+hex.EncodeToString(sum[:6]))
	bin := filepath.Join(dir, "rollouts-controller")
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
	src := filepath.Join(dir, "src")
	if err := os.MkdirAll(src, 0o755); err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(src, "go.mod"), []byte(gomod), 0o644); err != nil {
		return "", err
	}
	logf("argoctl: building %s@%s into %s (first time only; several minutes on 2 cores)", Command, Version, dir)
	start := time.Now()
	tmp := bin + ".tmp"
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", tmp,
		"-ldflags", "-X "+Module+"/utils/version.version="+strings.TrimPrefix(Version, "v"), Command)
	cmd.Dir = src
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOWORK=off", "CGO_ENABLED=0")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("argoctl: go build %s: %v\n%s", Command, err, tail(out.String(), 4000))
	}
	if err := os.Rename(tmp, bin); err != nil {
		return "", err
	}
	logf("argoctl: built rollouts-controller in %s", time.Since(start).Round(time.Second))
	return bin, nil
}

// ModuleDir is Argo Rollouts' directory in the module cache (downloading
// the module when needed); CRDs are in its manifests/crds.
func ModuleDir(ctx context.Context) (string, error) {
	cmd := exec.CommandContext(ctx, "go", "mod", "download", "-json", Module+"@"+Version)
	cmd.Env = append(os.Environ(), "GOWORK=off")
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("argoctl: go mod download %s@%s: %v: %s", Module, Version, err, tail(errOut.String()+out.String(), 2000))
	}
	var info struct{ Dir, Error string }
	if err := json.Unmarshal(out.Bytes(), &info); err != nil || info.Dir == "" {
		return "", fmt.Errorf("argoctl: go mod download: no directory (%v %s)", err, info.Error)
	}
	return info.Dir, nil
}

// CRDFiles are the CRD manifests of Argo Rollouts (AnalysisRun,
// AnalysisTemplate, ClusterAnalysisTemplate, Experiment, Rollout).
func CRDFiles(ctx context.Context) ([]string, error) {
	dir, err := ModuleDir(ctx)
	if err != nil {
		return nil, err
	}
	files, err := filepath.Glob(filepath.Join(dir, "manifests", "crds", "*-crd.yaml"))
	if err != nil || len(files) == 0 {
		return nil, fmt.Errorf("argoctl: no CRDs in %s/manifests/crds (%v)", dir, err)
	}
	return files, nil
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
			// Closing the file releases the lock too; unlocking first only
			// hands it over sooner.
			return func() { _ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("argoctl: lock %s: %w", path, err)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("argoctl: waiting for the build lock %s: %w", path, ctx.Err())
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

// PluginGoMod reads the go.mod of the module the current directory is in
// (the plugin module, for tests run from its packages).
func PluginGoMod(ctx context.Context) ([]byte, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return nil, fmt.Errorf("argoctl: go env GOMOD: %v", err)
	}
	path := strings.TrimSpace(string(out))
	if path == "" || path == os.DevNull {
		return nil, errors.New("argoctl: not inside a Go module")
	}
	return os.ReadFile(path)
}
