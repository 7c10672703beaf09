package argoctl

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"path/filepath"
	"runtime"
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

// The cache folder is named by the version and a hash of the generated
// go.mod and the Go version: this key finds the caches already built, so it
// must not change by accident.
func TestCachePath(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("XDG_CACHE_HOME", dir)
	gomod := "module argoctlbuild\n"
	p, err := spec(gomod).Path()
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(gomod + "\n" + runtime.Version()))
	want := filepath.Join(dir, "extmetrics", "argo", "rollouts-controller-"+Version+"-"+hex.EncodeToString(sum[:6]), "rollouts-controller")
	if p != want {
		t.Fatalf("cache path %q, want %q", p, want)
	}
}

// The recipe is read from this module's go.mod, and Argo's CRDs are in the
// module cache. (The build itself runs in the e2e package's TestMain, before
// the test timeout starts; e2e then runs the binary.)
func TestPluginGoModAndCRDs(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	gomod, err := PluginGoMod(ctx)
	if err != nil {
		t.Fatal(err)
	}
	m, err := GoMod(gomod)
	if err != nil || strings.Count(m, "k8s.io/") < 30 || !strings.Contains(m, "k8s.io/kubernetes => k8s.io/kubernetes v1.37.2") {
		t.Fatalf("recipe from the plugin's go.mod:\n%s\n%v", m, err)
	}
	crds, err := CRDFiles(ctx)
	if err != nil || len(crds) != 5 {
		t.Fatalf("CRDs %v %v", crds, err)
	}
}
