package ctlproc

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// Spec says how to run one controller process.
type Spec struct {
	// Name prefixes every error ("flaggerctl", "argoctl").
	Name string
	// Bin and Args are the command; Env is its whole environment.
	Bin  string
	Args []string
	Env  []string
	// Dir is the working directory; LogPath receives stdout and stderr.
	Dir     string
	LogPath string
	// HealthURL answers 200 once the controller is ready.
	HealthURL string
	// Timeout bounds the wait for HealthURL (default 2 minutes).
	Timeout time.Duration
}

// Process is a running controller.
type Process struct {
	cmd     *exec.Cmd
	logPath string
	done    chan struct{}
	waitErr error
	stop    sync.Once
}

// Start runs the controller in its own process group (children such as
// Argo's plugin go with it) and waits until its health URL answers 200.
func Start(ctx context.Context, s Spec) (*Process, error) {
	if s.Timeout <= 0 {
		s.Timeout = 2 * time.Minute
	}
	logf, err := os.Create(s.LogPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(s.Bin, s.Args...)
	cmd.Dir = s.Dir
	cmd.Env = s.Env
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	fmt.Fprintf(logf, "# %s %v\n", s.Bin, s.Args)
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("%s: start %s: %w", s.Name, s.Bin, err)
	}
	p := &Process{cmd: cmd, logPath: s.LogPath, done: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		logf.Close()
		close(p.done)
	}()
	deadline := time.Now().Add(s.Timeout)
	for {
		resp, err := http.Get(s.HealthURL)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p, nil
			}
		}
		select {
		case <-p.done:
			return nil, fmt.Errorf("%s: controller exited (%v) before it was healthy:\n%s", s.Name, p.waitErr, p.LogTail(4000))
		case <-ctx.Done():
			p.Stop()
			return nil, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			p.Stop()
			return nil, fmt.Errorf("%s: controller not healthy at %s after %v:\n%s", s.Name, s.HealthURL, s.Timeout, p.LogTail(4000))
		}
	}
}

// Stop ends the process group: SIGTERM, SIGKILL after 10 s, and SIGKILL
// again for children that linger after the controller exited.
func (p *Process) Stop() {
	p.stop.Do(func() {
		pgid := p.cmd.Process.Pid
		_ = syscall.Kill(-pgid, syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
			<-p.done
		}
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
	})
}

// Exited reports whether the controller has ended.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// LogPath is the controller's log file.
func (p *Process) LogPath() string { return p.logPath }

// Log is the controller's whole log so far.
func (p *Process) Log() string {
	b, _ := os.ReadFile(p.logPath)
	return string(b)
}

// LogTail is the last n bytes of the log, from a line start.
func (p *Process) LogTail(n int) string {
	b, _ := os.ReadFile(p.logPath)
	if len(b) > n {
		b = b[len(b)-n:]
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			b = b[i+1:]
		}
	}
	return string(b)
}

// FreePort is a loopback TCP port free at the time of the call.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
