package harness

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/extmetrics/extmetrics/internal/ctlbuild"
)

// InCI reports whether the environment says this is a CI run (CI=true or
// another true value). There a harness that cannot start fails the test;
// elsewhere it skips it with the reason.
func InCI() bool {
	v, err := strconv.ParseBool(os.Getenv("CI"))
	return err == nil && v
}

// Unavailable ends a test that needs the harness when it cannot be had:
// t.Fatal in CI, t.Skip elsewhere; the message carries the reason.
func Unavailable(t testing.TB, reason error) {
	t.Helper()
	if InCI() {
		t.Fatalf("e2e harness unavailable (CI=true, so this fails): %v", reason)
	}
	t.Skipf("e2e harness unavailable (skipped outside CI; with CI=true this fails): %v", reason)
}

// StartT starts a cluster for one test: it is stopped when the test ends,
// and its control-plane logs are printed when the test fails. When the
// cluster cannot start, see Unavailable.
func StartT(t testing.TB, opts Options) *Cluster {
	t.Helper()
	if testing.Short() {
		t.Skip("e2e: a real kube-apiserver is not started with -short")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	if opts.Log == nil {
		opts.Log = testWriter{t}
	}
	c, err := Start(ctx, opts)
	if err != nil {
		Unavailable(t, err)
	}
	t.Cleanup(func() {
		if err := c.Stop(); err != nil {
			t.Errorf("stop cluster: %v", err)
		}
	})
	c.LogOnFailure(t)
	return c
}

// LogOnFailure prints the last lines of the control-plane logs when t
// fails (register it after anything that stops the cluster in the same
// test, so it runs first).
func (c *Cluster) LogOnFailure(t testing.TB) {
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("control-plane logs (directory %s):\n%s", c.dir, c.logTails(60))
		}
	})
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Logf("%s", p)
	return len(p), nil
}

// Shared is one cluster for all tests of a package, started on first use
// and stopped after the last test:
//
//	var cluster = harness.NewShared(harness.Options{})
//
//	func TestMain(m *testing.M) { os.Exit(cluster.Main(m)) }
//
//	func TestX(t *testing.T) {
//		c := cluster.Get(t)
//		...
//	}
//
// Main builds or unpacks the binaries before m.Run, so a cold build does
// not count against the test timeout. Tests that change cluster-wide state
// (the external metrics APIService, ClusterRoles) must not run in parallel
// with tests that depend on it.
type Shared struct {
	opts    Options
	prepErr error

	once     sync.Once
	c        *Cluster
	startErr error

	onStopMu sync.Mutex
	onStop   []func()
}

// OnStop registers f to run after the tests and before the cluster stops
// (in reverse order of registration): for processes started against the
// shared cluster that hold watches open (controllers), which would keep
// kube-apiserver from stopping within its grace period.
func (s *Shared) OnStop(f func()) {
	s.onStopMu.Lock()
	defer s.onStopMu.Unlock()
	s.onStop = append(s.onStop, f)
}

// NewShared prepares a shared cluster; nothing starts yet.
func NewShared(opts Options) *Shared { return &Shared{opts: opts} }

// Main is for TestMain: it ensures the binaries (not in -short mode), runs
// the tests, stops the cluster and returns m.Run's exit code (1 when the
// cluster failed to stop and the tests passed).
func (s *Shared) Main(m *testing.M) int {
	flag.Parse()
	if !testing.Short() {
		// Stop a cold build inside go test's -timeout, with a reason, rather
		// than be killed (ctlbuild.Budget). The Go build cache keeps what was
		// compiled, so the next run goes on from there.
		start := time.Now()
		var bins Binaries
		err := ctlbuild.WithinTimeout(30*time.Second, "the binaries were not ready",
			"run `go run ./test/e2e/cmd/e2e-binaries` once, or raise -timeout; what was compiled stays in the Go build cache",
			func(ctx context.Context) (err error) {
				bins, err = EnsureBinaries(ctx, s.opts.BinaryOptions)
				return err
			})
		if err != nil {
			s.prepErr = err
		} else {
			s.opts.KubeAPIServerVersion = bins.KubeAPIServerVersion
			if d := time.Since(start); d > 5*time.Second {
				fmt.Fprintf(os.Stderr, "harness: binaries ready in %s\n", d.Round(time.Second))
			}
		}
	}
	code := m.Run()
	if err := s.Stop(); err != nil {
		fmt.Fprintf(os.Stderr, "harness: %v\n", err)
		if code == 0 {
			code = 1
		}
	}
	return code
}

// Get returns the shared cluster, starting it on first use, and arranges
// for the control-plane logs to be printed if t fails. When the cluster
// cannot be had it ends t (see Unavailable).
func (s *Shared) Get(t testing.TB) *Cluster {
	t.Helper()
	if testing.Short() {
		t.Skip("e2e: a real kube-apiserver is not started with -short")
	}
	if s.prepErr != nil {
		Unavailable(t, s.prepErr)
	}
	s.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Minute)
		defer cancel()
		s.c, s.startErr = Start(ctx, s.opts)
	})
	if s.startErr != nil {
		Unavailable(t, s.startErr)
	}
	s.c.LogOnFailure(t)
	return s.c
}

// Stop runs the OnStop functions and stops the cluster if it was started.
func (s *Shared) Stop() error {
	s.onStopMu.Lock()
	fs := s.onStop
	s.onStop = nil
	s.onStopMu.Unlock()
	for i := len(fs) - 1; i >= 0; i-- {
		fs[i]()
	}
	if s.c == nil {
		return nil
	}
	return s.c.Stop()
}
