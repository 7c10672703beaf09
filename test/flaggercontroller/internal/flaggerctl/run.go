package flaggerctl

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

// Controller is a running Flagger controller process.
type Controller struct {
	cmd     *exec.Cmd
	logPath string
	done    chan struct{}
	waitErr error
	stop    sync.Once
}

// Start runs the controller binary with the kubernetes mesh provider
// (blue/green through the Kubernetes Services alone), debug logging (the
// rendered metric queries are logged) and a short control loop, and waits
// until its /healthz answers (Flagger starts its HTTP server after its
// informers synced).
func Start(ctx context.Context, bin string, o Options) (*Controller, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	if o.ControlLoop <= 0 {
		o.ControlLoop = time.Second
	}
	logPath := filepath.Join(o.WorkDir, "controller.log")
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
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
	cmd := exec.Command(bin, args...)
	cmd.Dir = o.WorkDir
	cmd.Env = os.Environ()
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	fmt.Fprintf(logf, "# %s %v\n", bin, args)
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("flaggerctl: start %s: %w", bin, err)
	}
	c := &Controller{cmd: cmd, logPath: logPath, done: make(chan struct{})}
	go func() {
		c.waitErr = cmd.Wait()
		logf.Close()
		close(c.done)
	}()
	url := fmt.Sprintf("http://127.0.0.1:%d/healthz", port)
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
			return nil, fmt.Errorf("flaggerctl: controller exited (%v) before it was healthy:\n%s", c.waitErr, c.LogTail(4000))
		case <-ctx.Done():
			c.Stop()
			return nil, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			c.Stop()
			return nil, fmt.Errorf("flaggerctl: controller not healthy at %s after 2m:\n%s", url, c.LogTail(4000))
		}
	}
}

// Stop ends the controller (SIGTERM, SIGKILL after 10 s).
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
	})
}

// Exited reports whether the process has ended.
func (c *Controller) Exited() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// LogPath is the controller's log file.
func (c *Controller) LogPath() string { return c.logPath }

// Log is the controller's whole log so far.
func (c *Controller) Log() string {
	b, _ := os.ReadFile(c.logPath)
	return string(b)
}

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
