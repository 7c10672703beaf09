package argoctl

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/extmetrics/extmetrics/internal/ctlproc"
)

// Namespace is the controller's own namespace (POD_NAMESPACE): where it
// reads the argo-rollouts-config ConfigMap.
const Namespace = "argo-rollouts"

// ConfigMap returns the argo-rollouts-config ConfigMap registering the
// plugin binary at pluginPath (file://) as name, with args.
func ConfigMap(name, pluginPath string, args ...string) string {
	a := ""
	if len(args) > 0 {
		a = "\n      args:"
		for _, x := range args {
			a += "\n        - " + strconv.Quote(x)
		}
	}
	return fmt.Sprintf(`apiVersion: v1
kind: Namespace
metadata:
  name: %[1]s
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: argo-rollouts-config
  namespace: %[1]s
data:
  metricProviderPlugins: |-
    - name: %[2]q
      location: %[3]q%[4]s
`, Namespace, name, "file://"+pluginPath, a)
}

// Controller is a running rollouts-controller process (Stop, Log,
// LogPath, LogTail from ctlproc.Process).
type Controller struct{ *ctlproc.Process }

// Start runs the controller binary (analysis controller only: AnalysisRuns
// need nothing else) against kubeconfig, in workDir (where it copies its
// plugins, plugin-bin/), logging to workDir/controller.log, and waits until
// its /healthz answers. The plugin process inherits the environment, with
// KUBECONFIG set to kubeconfig.
func Start(ctx context.Context, bin, kubeconfig, workDir string) (*Controller, error) {
	return start(ctx, bin, kubeconfig, workDir, "--controllers", "analysis")
}

// StartAll is Start with every controller Argo runs by default (Rollouts,
// Experiments, Services, Ingresses, AnalysisRuns, notifications), as in a
// real installation: what a Rollout needs.
func StartAll(ctx context.Context, bin, kubeconfig, workDir string) (*Controller, error) {
	return start(ctx, bin, kubeconfig, workDir)
}

func start(ctx context.Context, bin, kubeconfig, workDir string, extra ...string) (*Controller, error) {
	metricsPort, err := ctlproc.FreePort()
	if err != nil {
		return nil, err
	}
	healthzPort, err := ctlproc.FreePort()
	if err != nil {
		return nil, err
	}
	args := append([]string{
		"--kubeconfig", kubeconfig,
		"--leader-elect=false",
		"--metricsPort", strconv.Itoa(metricsPort),
		"--healthzPort", strconv.Itoa(healthzPort),
		"--loglevel", "info",
		"--qps", "100", "--burst", "200",
	}, extra...)
	p, err := ctlproc.Start(ctx, ctlproc.Spec{
		Name:      "argoctl",
		Bin:       bin,
		Args:      args,
		Env:       append(os.Environ(), "POD_NAMESPACE="+Namespace, "KUBECONFIG="+kubeconfig),
		Dir:       workDir, // the controller copies its plugins to plugin-bin/ here
		LogPath:   filepath.Join(workDir, "controller.log"),
		HealthURL: fmt.Sprintf("http://127.0.0.1:%d/healthz", healthzPort),
	})
	if err != nil {
		return nil, err
	}
	return &Controller{p}, nil
}
