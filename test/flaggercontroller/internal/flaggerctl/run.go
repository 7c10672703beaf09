package flaggerctl

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/extmetrics/extmetrics/internal/ctlproc"
)

// Options of a controller run.
type Options struct {
	// Kubeconfig is the controller's -kubeconfig (its identity and the
	// rest.Config its externalmetrics provider starts from).
	Kubeconfig string
	// Namespace, when set, is the only namespace watched (-namespace).
	Namespace string
	// WorkDir holds the log, controller.log.
	WorkDir string
	// ControlLoop is -control-loop-interval (default 1s).
	ControlLoop time.Duration
	// Args are appended to the defaults.
	Args []string
}

// Controller is a running Flagger controller process (Stop, Exited, Log,
// LogPath, LogTail from ctlproc.Process).
type Controller struct{ *ctlproc.Process }

// Start runs the controller binary with the kubernetes mesh provider
// (blue/green through the Kubernetes Services alone), debug logging (the
// rendered metric queries are logged) and a short control loop, and waits
// until its /healthz answers (Flagger starts its HTTP server after its
// informers synced).
func Start(ctx context.Context, bin string, o Options) (*Controller, error) {
	port, err := ctlproc.FreePort()
	if err != nil {
		return nil, err
	}
	if o.ControlLoop <= 0 {
		o.ControlLoop = time.Second
	}
	args := []string{
		"-kubeconfig=" + o.Kubeconfig,
		"-mesh-provider=kubernetes",
		"-control-loop-interval=" + o.ControlLoop.String(),
		"-log-level=debug",
		"-zap-encoding=json",
		"-port=" + strconv.Itoa(port),
		// No Prometheus here: a closed loopback port instead of the
		// default http://prometheus:9090 (a DNS lookup at every start).
		"-metrics-server=http://127.0.0.1:1",
		"-threadiness=4",
	}
	if o.Namespace != "" {
		args = append(args, "-namespace="+o.Namespace)
	}
	args = append(args, o.Args...)
	p, err := ctlproc.Start(ctx, ctlproc.Spec{
		Name:      "flaggerctl",
		Bin:       bin,
		Args:      args,
		Env:       os.Environ(),
		Dir:       o.WorkDir,
		LogPath:   filepath.Join(o.WorkDir, "controller.log"),
		HealthURL: fmt.Sprintf("http://127.0.0.1:%d/healthz", port),
	})
	if err != nil {
		return nil, err
	}
	return &Controller{p}, nil
}
