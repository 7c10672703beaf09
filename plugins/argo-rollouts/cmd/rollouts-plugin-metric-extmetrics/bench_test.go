package main_test

// A measurement through the plugin's RPC (as the Argo controller takes it)
// against a direct provider.Query on the same devserver; docs/performance.md.
//
//	cd plugins/argo-rollouts && go test -run '^$' -bench . -benchtime 2000x -count 5 ./cmd/rollouts-plugin-metric-extmetrics

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/argoproj/argo-rollouts/pkg/apis/rollouts/v1alpha1"
	"k8s.io/client-go/rest"

	"github.com/extmetrics/extmetrics/pkg/devserver"
	"github.com/extmetrics/extmetrics/pkg/devserver/devservertest"
	"github.com/extmetrics/extmetrics/pkg/loadtest"
	"github.com/extmetrics/extmetrics/pkg/provider"
	"github.com/extmetrics/extmetrics/plugins/argo-rollouts/internal/plugintest"
	"github.com/extmetrics/extmetrics/plugins/argo-rollouts/metricplugin"
)

// cpu is this process's user+system CPU, plus the plugin process's (pid > 0;
// from /proc, clock ticks of 10 ms).
func cpu(pids ...int) time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	d := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	for _, pid := range pids {
		if pid <= 0 {
			continue
		}
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err == nil {
			s := string(b)
			f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
			ut, _ := strconv.ParseInt(f[11], 10, 64)
			st, _ := strconv.ParseInt(f[12], 10, 64)
			d += time.Duration(ut+st) * 10 * time.Millisecond
		}
	}
	return d
}

// reportCPU adds cpu-ns/op: CPU of the test process (client and
// devserver) and of the plugin process per iteration.
func reportCPU(b *testing.B, start time.Duration, pids ...int) {
	b.ReportMetric(float64(cpu(pids...)-start)/float64(b.N), "cpu-ns/op")
}

func benchServer(b *testing.B) *devserver.Server {
	s := devservertest.New(b, devserver.Config{})
	if err := s.SetSeries("default", "error_rate", map[string]string{"app": "web"}, "250m"); err != nil {
		b.Fatal(err)
	}
	return s
}

const benchQuery = "default/error_rate?labelSelector=app%3Dweb"

// The baseline: one provider, one query per iteration.
func BenchmarkProviderQuery(b *testing.B) {
	s := benchServer(b)
	p, err := provider.New(devservertest.RESTConfig(s, devservertest.Token), provider.Spec{}, provider.Options{})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	c0 := cpu(0)
	defer func() { reportCPU(b, c0) }()
	for b.Loop() {
		if res, err := p.Query(ctx, benchQuery); err != nil || res.Value != 0.25 {
			b.Fatal(res, err)
		}
	}
}

// The plugin in process: config parsing, provider lookup, Argo's evaluation.
func BenchmarkPluginRunInProcess(b *testing.B) {
	s := benchServer(b)
	p := metricplugin.New(metricplugin.Options{RESTConfig: func() (*rest.Config, error) { return devservertest.RESTConfig(s, devservertest.Token), nil }})
	run, mt := analysisRun(), metric(b, map[string]any{"query": benchQuery}, "result < 1", "")
	b.ReportAllocs()
	c0 := cpu(0)
	defer func() { reportCPU(b, c0) }()
	for b.Loop() {
		if m := p.Run(run, mt); m.Phase != v1alpha1.AnalysisPhaseSuccessful {
			b.Fatal(m)
		}
	}
}

// The plugin binary through Argo's RPC client: what the controller pays.
func BenchmarkPluginRunRPC(b *testing.B) {
	s := benchServer(b)
	p := startFor(b, s)
	run, mt := analysisRun(), metric(b, map[string]any{"query": benchQuery}, "result < 1", "")
	b.ReportAllocs()
	pid := p.Client.ReattachConfig().Pid
	c0 := cpu(pid)
	defer func() { reportCPU(b, c0, pid) }()
	for b.Loop() {
		if m := p.Run(run, mt); m.Phase != v1alpha1.AnalysisPhaseSuccessful {
			b.Fatal(m)
		}
	}
}

// The RPC hop alone: Type() round trip to the plugin process.
func BenchmarkRPCHop(b *testing.B) {
	s := benchServer(b)
	p := startFor(b, s)
	b.ReportAllocs()
	pid := p.Client.ReattachConfig().Pid
	c0 := cpu(pid)
	defer func() { reportCPU(b, c0, pid) }()
	for b.Loop() {
		if p.Type() != metricplugin.ProviderType {
			b.Fatal("type")
		}
	}
}

// Run through RPC with a configuration error: the RPC and gob cost of a
// Run (arguments and measurement) without any HTTP request.
func BenchmarkPluginRunRPCNoQuery(b *testing.B) {
	s := benchServer(b)
	p := startFor(b, s)
	run, mt := analysisRun(), metric(b, map[string]any{"query": benchQuery, "unknown": 1}, "result < 1", "")
	b.ReportAllocs()
	pid := p.Client.ReattachConfig().Pid
	c0 := cpu(pid)
	defer func() { reportCPU(b, c0, pid) }()
	for b.Loop() {
		if m := p.Run(run, mt); m.Phase != v1alpha1.AnalysisPhaseError {
			b.Fatal(m)
		}
	}
}

// The same two measurements with the devserver in its own process
// (extmetrics-devserver, as in production the metrics server is never in
// the caller's process): cpu-ns/op counts the test process, the devserver
// and, for RPC, the plugin.

var devserverBin struct {
	once sync.Once
	path string
	err  error
}

func spawnDevserver(b *testing.B) *loadtest.Devserver {
	b.Helper()
	devserverBin.once.Do(func() {
		dir, err := os.MkdirTemp("", "extmetrics-devserver-bin-")
		if err != nil {
			devserverBin.err = err
			return
		}
		devserverBin.path = filepath.Join(dir, "extmetrics-devserver")
		// Built in the main module (its go.sum), which replace points at.
		root, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/extmetrics/extmetrics").Output()
		if err != nil {
			devserverBin.err = fmt.Errorf("locate the main module: %v", err)
			return
		}
		cmd := exec.Command("go", "build", "-o", devserverBin.path, "./cmd/extmetrics-devserver")
		cmd.Dir = strings.TrimSpace(string(root))
		out, err := cmd.CombinedOutput()
		if err != nil {
			devserverBin.err = fmt.Errorf("build extmetrics-devserver: %v\n%s", err, out)
		}
	})
	if devserverBin.err != nil {
		b.Fatal(devserverBin.err)
	}
	d, err := loadtest.Spawn(context.Background(), loadtest.SpawnConfig{Executable: devserverBin.path, Series: 1, MetricNames: 1})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { d.Stop() })
	return d
}

const remoteQuery = "default/loadtest-metric-00"

func remoteConfig(b *testing.B, d *loadtest.Devserver) *rest.Config {
	ca, err := os.ReadFile(d.CAFile)
	if err != nil {
		b.Fatal(err)
	}
	return &rest.Config{Host: d.URL, BearerToken: d.Token, TLSClientConfig: rest.TLSClientConfig{CAData: ca}, QPS: -1}
}

func BenchmarkRemoteProviderQuery(b *testing.B) {
	d := spawnDevserver(b)
	p, err := provider.New(remoteConfig(b, d), provider.Spec{}, provider.Options{})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if _, err := p.Query(ctx, remoteQuery); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	c0 := cpu(d.PID)
	defer func() { reportCPU(b, c0, d.PID) }()
	for b.Loop() {
		if _, err := p.Query(ctx, remoteQuery); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRemotePluginRunRPC(b *testing.B) {
	d := spawnDevserver(b)
	cfg := remoteConfig(b, d)
	kubeconfig := devservertest.WriteKubeconfigFor(b, cfg.Host, cfg.CAData, cfg.BearerToken)
	p := plugintest.Start(b, plugintest.Binary(b), nil, "--kubeconfig", kubeconfig, "--log-level", "error")
	run, mt := analysisRun(), metric(b, map[string]any{"query": remoteQuery}, "result >= 0", "")
	if m := p.Run(run, mt); m.Phase != v1alpha1.AnalysisPhaseSuccessful {
		b.Fatal(m)
	}
	b.ReportAllocs()
	pid := p.Client.ReattachConfig().Pid
	c0 := cpu(pid, d.PID)
	defer func() { reportCPU(b, c0, pid, d.PID) }()
	for b.Loop() {
		if m := p.Run(run, mt); m.Phase != v1alpha1.AnalysisPhaseSuccessful {
			b.Fatal(m)
		}
	}
}
