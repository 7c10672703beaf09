package argoctl

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"
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

// Controller is a running rollouts-controller process.
type Controller struct {
	cmd     *exec.Cmd
	logPath string
	done    chan struct{}
	waitErr error
	stop    sync.Once
}

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
	metricsPort, err := freePort()
	if err != nil {
		return nil, err
	}
	healthzPort, err := freePort()
	if err != nil {
		return nil, err
	}
	logPath := filepath.Join(workDir, "controller.log")
	logf, err := os.Create(logPath)
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
	cmd := exec.Command(bin, args...)
	cmd.Dir = workDir
	cmd.Env = append(os.Environ(), "POD_NAMESPACE="+Namespace, "KUBECONFIG="+kubeconfig)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // the plugin child goes with it
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("argoctl: start %s: %w", bin, err)
	}
	c := &Controller{cmd: cmd, logPath: logPath, done: make(chan struct{})}
	go func() {
		c.waitErr = cmd.Wait()
		logf.Close()
		close(c.done)
	}()
	url := fmt.Sprintf("http://127.0.0.1:%d/healthz", healthzPort)
	deadline := time.Now().Add(2 * time.Minute)
	for {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return c, nil
			}
		}
		select {
		case <-c.done:
			return nil, fmt.Errorf("argoctl: controller exited (%v) before it was healthy:\n%s", c.waitErr, c.LogTail(4000))
		case <-ctx.Done():
			c.Stop()
			return nil, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			c.Stop()
			return nil, fmt.Errorf("argoctl: controller not healthy at %s after 2m:\n%s", url, c.LogTail(4000))
		}
	}
}

// Stop ends the controller and its plugin processes (SIGTERM to the
// process group, SIGKILL after 10s).
func (c *Controller) Stop() {
	c.stop.Do(func() {
		pgid := c.cmd.Process.Pid
		_ = syscall.Kill(-pgid, syscall.SIGTERM)
		select {
		case <-c.done:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
			<-c.done
		}
		// The plugin may linger in the group after the controller exits.
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
	})
}

// LogPath is the controller's log file.
func (c *Controller) LogPath() string { return c.logPath }

// LogTail is the last n bytes of the controller's log.
func (c *Controller) LogTail(n int) string {
	b, _ := os.ReadFile(c.logPath)
	if len(b) > n {
		b = b[len(b)-n:]
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			b = b[i+1:]
		}
	}
	return string(b)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
