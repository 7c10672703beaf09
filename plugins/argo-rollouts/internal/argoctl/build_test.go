package argoctl

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"
)

func TestGoMod(t *testing.T) {
	m, err := GoMod([]byte("module x\n\nreplace a => ../..\n\nreplace (\n\tk8s.io/api => k8s.io/api v0.37.2\n\tk8s.io/kubernetes => k8s.io/kubernetes v1.37.2\n)\n"))
	if err != nil || !strings.Contains(m, "require "+Module+" "+Version) || !strings.Contains(m, "\tk8s.io/api => k8s.io/api v0.37.2\n") ||
		!strings.Contains(m, "k8s.io/kubernetes => k8s.io/kubernetes v1.37.2") || strings.Contains(m, "../..") {
		t.Fatalf("%s %v", m, err)
	}
	if _, err := GoMod([]byte("module x\n")); err == nil {
		t.Fatal("want an error without replace directives")
	}
}

// The real controller builds from the module proxy with the plugin's
// replace block (cached after the first build) and reports its version.
func TestBuildController(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 55*time.Minute)
	defer cancel()
	gomod, err := PluginGoMod(ctx)
	if err != nil {
		t.Fatal(err)
	}
	bin, err := Build(ctx, gomod, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.CommandContext(ctx, bin, "--version").CombinedOutput()
	if err != nil || !strings.Contains(string(out), strings.TrimPrefix(Version, "v")) {
		t.Fatalf("%s --version: %s %v", bin, out, err)
	}
	crds, err := CRDFiles(ctx)
	if err != nil || len(crds) != 5 {
		t.Fatalf("CRDs %v %v", crds, err)
	}
}
