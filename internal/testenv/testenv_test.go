package testenv

import (
	"os"
	"testing"
)

func TestIsolate(t *testing.T) {
	t.Setenv("EXTMETRICS_TOKEN", "x")
	t.Setenv("EXTMETRICS_SOMETHING_NEW", "y")
	t.Run("isolated", func(t *testing.T) {
		Isolate(t)
		for _, v := range []string{"EXTMETRICS_TOKEN", "EXTMETRICS_SOMETHING_NEW"} {
			if _, set := os.LookupEnv(v); set {
				t.Errorf("%s still set", v)
			}
		}
		if _, err := os.Stat(os.Getenv("KUBECONFIG")); !os.IsNotExist(err) || os.Getenv("KUBERNETES_SERVICE_HOST") != "" {
			t.Errorf("KUBECONFIG %q, KUBERNETES_SERVICE_HOST %q", os.Getenv("KUBECONFIG"), os.Getenv("KUBERNETES_SERVICE_HOST"))
		}
	})
	if os.Getenv("EXTMETRICS_TOKEN") != "x" {
		t.Error("not restored")
	}
}
