package testenv

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Isolate unsets every EXTMETRICS_* variable, points KUBECONFIG at a file
// that does not exist and clears KUBERNETES_SERVICE_HOST/PORT, for the rest
// of t (restored afterwards, as t.Setenv does; t must not be parallel).
func Isolate(t testing.TB) {
	t.Helper()
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, "EXTMETRICS_") {
			t.Setenv(name, "")
			os.Unsetenv(name)
		}
	}
	t.Setenv("KUBECONFIG", filepath.Join(t.TempDir(), "absent"))
	t.Setenv("KUBERNETES_SERVICE_HOST", "")
	t.Setenv("KUBERNETES_SERVICE_PORT", "")
}
