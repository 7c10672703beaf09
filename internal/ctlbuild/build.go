package ctlbuild

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"time"
)

// CacheDir is ${XDG_CACHE_HOME:-$HOME/.cache}/extmetrics/name.
func CacheDir(name string) (string, error) {
	base := os.Getenv("XDG_CACHE_HOME")
	if base == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("no cache directory: set XDG_CACHE_HOME or HOME: %w", err)
		}
		base = filepath.Join(home, ".cache")
	}
	return filepath.Join(base, "extmetrics", name), nil
}

// Spec says what to build and where to cache it.
type Spec struct {
	// Name prefixes errors and progress lines ("argoctl", "flaggerctl").
	Name string
	// Cache is the folder under ${XDG_CACHE_HOME:-$HOME/.cache}/extmetrics
	// ("argo", "flagger").
	Cache string
	// Binary is the binary's file name, and the first part of its folder's.
	Binary string
	// Package is the main package built, Version its module's version.
	Package string
	Version string
	// Recipe is everything else the binary depends on (the Go version, the
	// platform, a generated go.mod): the first 6 bytes of its SHA-256 name
	// the folder, <Binary>-<Version>-<hex>, so a changed recipe builds anew.
	// It is written to the folder's "recipe" file after a build.
	Recipe string
	// GoMod, when set, is the go.mod of a throwaway module in which
	// `go build` builds Package (the upstream module at versions chosen
	// here). When "", `go install Package@Version` builds it outside any
	// module, with the upstream module's own go.mod, as released.
	GoMod string
	// LDFlags are passed to the build as -ldflags when set.
	LDFlags string
}

// Path is where Build puts (or finds) the binary.
func (s Spec) Path() (string, error) {
	cache, err := CacheDir(s.Cache)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256([]byte(s.Recipe))
	return filepath.Join(cache, s.Binary+"-"+s.Version+"-"+hex.EncodeToString(sum[:6]), s.Binary), nil
}

// Build returns the path of the binary, building it the first time (with
// -trimpath and CGO_ENABLED=0, under a file lock in its folder, so parallel
// test processes wait for one build). logf reports progress.
func Build(ctx context.Context, s Spec, logf func(string, ...any)) (string, error) {
	bin, err := s.Path()
	if err != nil {
		return "", fmt.Errorf("%s: %w", s.Name, err)
	}
	if built(bin) {
		return bin, nil
	}
	dir := filepath.Dir(bin)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	unlock, err := Lock(ctx, filepath.Join(dir, ".lock"), nil)
	if err != nil {
		return "", fmt.Errorf("%s: %w", s.Name, err)
	}
	defer unlock()
	if built(bin) { // built while we waited
		return bin, nil
	}
	work, err := os.MkdirTemp(dir, ".build-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(work)
	var ldflags []string
	if s.LDFlags != "" {
		ldflags = []string{"-ldflags", s.LDFlags}
	}
	var cmd *exec.Cmd
	var out string
	if s.GoMod != "" {
		if err := os.WriteFile(filepath.Join(work, "go.mod"), []byte(s.GoMod), 0o644); err != nil {
			return "", err
		}
		out = filepath.Join(work, s.Binary)
		args := append(append([]string{"build", "-trimpath", "-o", out}, ldflags...), s.Package)
		cmd = exec.CommandContext(ctx, "go", args...)
		// GOFLAGS replaces any setting in go env: the throwaway module
		// has no go.sum until the build writes it.
		cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOWORK=off", "CGO_ENABLED=0")
	} else {
		out = filepath.Join(work, path.Base(s.Package))
		args := append(append([]string{"install", "-trimpath"}, ldflags...), s.Package+"@"+s.Version)
		cmd = exec.CommandContext(ctx, "go", args...)
		cmd.Env = append(os.Environ(), "GOBIN="+work, "GOWORK=off", "CGO_ENABLED=0", "GOFLAGS=-buildvcs=false")
	}
	cmd.Dir = work // outside any module of the caller's
	var log bytes.Buffer
	cmd.Stdout, cmd.Stderr = &log, &log
	logf("%s: building %s@%s into %s (first time only; minutes on 2 cores)", s.Name, s.Package, s.Version, dir)
	start := time.Now()
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%s: go %s %s@%s: %v\n%s", s.Name, cmd.Args[1], s.Package, s.Version, err, Tail(log.String(), 4000))
	}
	took := time.Since(start).Round(time.Second)
	if err := os.Rename(out, bin); err != nil {
		return "", err
	}
	_ = os.WriteFile(filepath.Join(dir, "recipe"), []byte(s.Recipe+"\nbuilt in "+took.String()+"\n"), 0o644)
	logf("%s: built %s in %s", s.Name, s.Binary, took)
	return bin, nil
}

// built reports whether bin is a non-empty regular file.
func built(bin string) bool {
	fi, err := os.Stat(bin)
	return err == nil && fi.Mode().IsRegular() && fi.Size() > 0
}

// ModuleDir is module@version's directory in the module cache, downloaded
// when needed (outside any module, so the caller's go.mod is not touched).
func ModuleDir(ctx context.Context, module, version string) (string, error) {
	tmp, err := os.MkdirTemp("", "ctlbuild-mod-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	cmd := exec.CommandContext(ctx, "go", "mod", "download", "-json", module+"@"+version)
	cmd.Dir = tmp
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod")
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go mod download %s@%s: %v: %s", module, version, err, Tail(errOut.String()+out.String(), 2000))
	}
	var info struct{ Dir, Error string }
	if err := json.Unmarshal(out.Bytes(), &info); err != nil || info.Dir == "" {
		return "", fmt.Errorf("go mod download %s@%s: no directory (%v %s)", module, version, err, info.Error)
	}
	return info.Dir, nil
}

// Tail is the last n bytes of s, marked with "…" when cut.
func Tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}
