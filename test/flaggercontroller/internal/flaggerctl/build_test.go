package flaggerctl

import (
	"crypto/sha256"
	"encoding/hex"
	"path/filepath"
	"runtime"
	"testing"
)

// The binary is cached outside the repository, under XDG_CACHE_HOME, in a
// directory named by the version and a hash of the build recipe: this key
// finds the caches already built, so it must not change by accident.
func TestBinaryPath(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("XDG_CACHE_HOME", dir)
	p, err := BinaryPath()
	if err != nil {
		t.Fatal(err)
	}
	r := Command + "@" + Version + " go=" + runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH + " CGO_ENABLED=0 -trimpath"
	if recipe() != r {
		t.Fatalf("recipe %q, want %q", recipe(), r)
	}
	sum := sha256.Sum256([]byte(r))
	want := filepath.Join(dir, "extmetrics", "flagger", "flagger-"+Version+"-"+hex.EncodeToString(sum[:6]), "flagger")
	if p != want {
		t.Fatalf("BinaryPath %q, want %q", p, want)
	}
	if s := spec(); s.GoMod != "" || s.Package != Command {
		t.Fatalf("not go install %s@%s with Flagger's own go.mod: %+v", Command, Version, s)
	}
}
