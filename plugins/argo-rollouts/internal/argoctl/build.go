// Package argoctl builds the real Argo Rollouts controller
// (cmd/rollouts-controller) from the module proxy for tests, caches it
// outside the repository keyed by version and build recipe, and finds
// Argo's CRD manifests in the module cache.
package argoctl

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/extmetrics/extmetrics/internal/ctlbuild"
)

// Module and Version of Argo Rollouts built (v1.10.2 needs a newer Go).
const (
	Module  = "github.com/argoproj/argo-rollouts"
	Version = "v1.10.1"
	Command = Module + "/cmd/rollouts-controller"
)

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
// one build) into
// ${XDG_CACHE_HOME:-$HOME/.cache}/extmetrics/argo/rollouts-controller-<Version>-<hash>/.
// The hash covers the generated go.mod and the Go version. logf reports
// progress.
func Build(ctx context.Context, pluginGoMod []byte, logf func(string, ...any)) (string, error) {
	gomod, err := GoMod(pluginGoMod)
	if err != nil {
		return "", err
	}
	return ctlbuild.Build(ctx, spec(gomod), logf)
}

func spec(gomod string) ctlbuild.Spec {
	return ctlbuild.Spec{
		Name:    "argoctl",
		Cache:   "argo",
		Binary:  "rollouts-controller",
		Package: Command,
		Version: Version,
		Recipe:  gomod + "\n" + runtime.Version(),
		GoMod:   gomod,
		LDFlags: "-X " + Module + "/utils/version.version=" + strings.TrimPrefix(Version, "v"),
	}
}

// ModuleDir is Argo Rollouts' directory in the module cache (downloading
// the module when needed); CRDs are in its manifests/crds.
func ModuleDir(ctx context.Context) (string, error) {
	dir, err := ctlbuild.ModuleDir(ctx, Module, Version)
	if err != nil {
		return "", fmt.Errorf("argoctl: %w", err)
	}
	return dir, nil
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
