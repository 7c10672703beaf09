package flaggerctl

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	"github.com/extmetrics/extmetrics/internal/ctlbuild"
)

// Module, Version and Command of the Flagger controller built. v1.44.0 is
// the second release with the externalmetrics provider (added in v1.43.0,
// unchanged since).
const (
	Module  = "github.com/fluxcd/flagger"
	Version = "v1.44.0"
	Command = Module + "/cmd/flagger"
)

// recipe is what the cached binary depends on: the version, the Go
// toolchain, the platform and the build flags.
func recipe() string {
	return fmt.Sprintf("%s@%s go=%s %s/%s CGO_ENABLED=0 -trimpath", Command, Version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

// spec builds Command with `go install Command@Version` (Flagger's own
// go.mod) into ${XDG_CACHE_HOME:-$HOME/.cache}/extmetrics/flagger/flagger-<Version>-<hash of recipe>/.
func spec() ctlbuild.Spec {
	return ctlbuild.Spec{
		Name:    "flaggerctl",
		Cache:   "flagger",
		Binary:  "flagger",
		Package: Command,
		Version: Version,
		Recipe:  recipe(),
	}
}

// BinaryPath is where Build puts (or finds) the controller.
func BinaryPath() (string, error) { return spec().Path() }

// Build returns the path of the controller binary, building it the first
// time (under a file lock, so parallel test processes wait for one build).
// logf reports progress; a cold build takes minutes on 2 cores.
func Build(ctx context.Context, logf func(string, ...any)) (string, error) {
	return ctlbuild.Build(ctx, spec(), logf)
}

// ModuleDir is Flagger's directory in the module cache (downloaded when
// needed).
func ModuleDir(ctx context.Context) (string, error) {
	dir, err := ctlbuild.ModuleDir(ctx, Module, Version)
	if err != nil {
		return "", fmt.Errorf("flaggerctl: %w", err)
	}
	return dir, nil
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
