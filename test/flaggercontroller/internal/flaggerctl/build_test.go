package flaggerctl

import (
	"path/filepath"
	"strings"
	"testing"
)

// The binary is cached outside the repository, under XDG_CACHE_HOME, in a
// directory named by the version and a hash of the build recipe.
func TestBinaryPath(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("XDG_CACHE_HOME", dir)
	p, err := BinaryPath()
	if err != nil {
		t.Fatal(err)
	}
	want := filepath.Join(dir, "extmetrics", "flagger") + string(filepath.Separator) + "flagger-" + Version + "-"
	if !strings.HasPrefix(p, want) || filepath.Base(p) != "flagger" {
		t.Fatalf("BinaryPath %q, want %s<hash>/flagger", p, want)
	}
	if !strings.Contains(recipe(), Command+"@"+Version) || !strings.Contains(recipe(), "-trimpath") {
		t.Fatalf("recipe %q", recipe())
	}
}
