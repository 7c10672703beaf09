package loadtest

import (
	"context"
	"encoding/pem"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/extmetrics/extmetrics/pkg/scenario"
)

// The test binary doubles as a fake devserver for Spawn's unit tests when
// this variable is set; the real devserver is exercised by TestSpawnRealDevserver.
const fakeEnv = "EXTMETRICS_LOADTEST_FAKE_DEVSERVER"

func TestMain(m *testing.M) {
	if mode := os.Getenv(fakeEnv); mode != "" {
		os.Exit(fakeDevserver(mode, os.Args[1:]))
	}
	os.Exit(m.Run())
}

func fakeDevserver(mode string, args []string) int {
	if mode == "exit" {
		fmt.Fprintln(os.Stderr, "devserver: scenario.yaml:3: metrics[0].value: boom")
		return 3
	}
	if len(args) == 0 || args[0] != "devserver" {
		fmt.Fprintln(os.Stderr, "fake: want the devserver subcommand, got", args)
		return 2
	}
	fs := flag.NewFlagSet("devserver", flag.ContinueOnError)
	addr := fs.String("addr", "", "")
	caFile := fs.String("write-ca", "", "")
	token := fs.String("token", "", "")
	scenarioFile := fs.String("scenario", "", "")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	if *addr != "127.0.0.1:0" || *caFile == "" || len(*token) < 32 {
		fmt.Fprintf(os.Stderr, "fake: bad flags addr=%q ca=%q token length %d\n", *addr, *caFile, len(*token))
		return 2
	}
	if _, err := scenario.LoadFile(*scenarioFile); err != nil {
		fmt.Fprintln(os.Stderr, "fake:", err)
		return 2
	}
	ts := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+*token {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		if r.URL.Path == "/readyz" {
			w.Write([]byte("ok"))
			return
		}
		w.Write([]byte(listBody))
	}))
	ts.EnableHTTP2 = true
	ts.Config.ErrorLog = log.New(io.Discard, "", 0)
	ts.StartTLS()
	defer ts.Close()
	if err := os.WriteFile(*caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ts.Certificate().Raw}), 0o600); err != nil {
		return 1
	}
	if mode == "silent" {
		time.Sleep(time.Minute)
		return 0
	}
	fmt.Printf("extmetrics devserver listening on %s (CA %s)\n", ts.URL, *caFile)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	<-ctx.Done()
	return 0
}

func spawnFake(t *testing.T, mode string, cfg SpawnConfig) (*Devserver, error) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cfg.Executable = exe
	cfg.Env = append(cfg.Env, fakeEnv+"="+mode)
	return Spawn(context.Background(), cfg)
}

func TestSpawnFake(t *testing.T) {
	d, err := spawnFake(t, "serve", SpawnConfig{Series: 40, MetricNames: 8})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Stop()
	if !strings.HasPrefix(d.URL, "https://127.0.0.1:") || len(d.Paths) != 40 || d.PID == 0 {
		t.Fatalf("URL %q, %d paths, pid %d", d.URL, len(d.Paths), d.PID)
	}
	if d.Ready.ListeningMs <= 0 || d.Ready.ReadyMs < d.Ready.ListeningMs {
		t.Errorf("ready times %+v", d.Ready)
	}
	res, err := Run(context.Background(), Config{URLs: d.Paths, Concurrency: 2, Requests: 100, Token: d.Token, CAFile: d.CAFile, PID: d.PID, RequireHTTP2: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.OK != 100 || res.Server == nil || res.Server.RSSBytes == 0 || res.Server.PeakRSSBytes < res.Server.RSSBytes {
		t.Errorf("ok %d, server %+v", res.OK, res.Server)
	}
	dir := filepath.Dir(d.CAFile)
	if err := d.Stop(); err != nil {
		t.Errorf("stop: %v", err)
	}
	if exited, _ := d.Exited(); !exited {
		t.Error("still running after Stop")
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("temporary directory %s left behind (%v)", dir, err)
	}
}

func TestSpawnFailures(t *testing.T) {
	_, err := spawnFake(t, "exit", SpawnConfig{})
	if err == nil || !strings.Contains(err.Error(), "exited before listening") || !strings.Contains(err.Error(), "metrics[0].value: boom") {
		t.Errorf("exit: got %v, want the exit and its stderr", err)
	}
	_, err = spawnFake(t, "silent", SpawnConfig{StartWait: 500 * time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), "no listening line") {
		t.Errorf("silent: got %v", err)
	}
	_, err = Spawn(context.Background(), SpawnConfig{Executable: filepath.Join(t.TempDir(), "missing")})
	if err == nil || !strings.Contains(err.Error(), "starting") {
		t.Errorf("missing binary: got %v", err)
	}
	if _, err := Spawn(context.Background(), SpawnConfig{Series: -1}); err == nil {
		t.Error("negative series accepted")
	}
	t.Setenv(childEnv, "1")
	if _, err := spawnFake(t, "serve", SpawnConfig{}); err == nil || !strings.Contains(err.Error(), "itself spawned") {
		t.Errorf("spawn from a spawned process: got %v", err)
	}
}

func TestGenerateScenarioParses(t *testing.T) {
	data, paths := generateScenario(1000, 50, "bench")
	sc, err := scenario.Parse("generated.yaml", data)
	if err != nil {
		t.Fatal(err)
	}
	if len(sc.Metrics) != 1000 || len(paths) != 1000 {
		t.Fatalf("%d metrics, %d paths", len(sc.Metrics), len(paths))
	}
	names := map[string]int{}
	seen := map[string]bool{}
	for _, m := range sc.Metrics {
		names[m.Name]++
		key := m.Name + "/" + m.Labels["app"]
		if seen[key] || m.Namespace != "bench" {
			t.Fatalf("series %s in %q repeated or misplaced", key, m.Namespace)
		}
		seen[key] = true
	}
	if len(names) != 50 || names["loadtest-metric-00"] != 20 {
		t.Errorf("metric names: %d, first has %d series", len(names), names["loadtest-metric-00"])
	}
	u, err := url.Parse(paths[51])
	if err != nil {
		t.Fatal(err)
	}
	if u.Path != "/apis/external.metrics.k8s.io/v1beta1/namespaces/bench/loadtest-metric-01" || u.Query().Get("labelSelector") != "app=app-001" {
		t.Errorf("path 51 = %s", paths[51])
	}
	if _, p := generateScenario(3, 50, "default"); len(p) != 3 {
		t.Errorf("3 series gave %d paths", len(p))
	}
}

// TestSpawnRealDevserver builds the real extmetrics binary and runs the
// one-command benchmark briefly (1 s) against its devserver.
func TestSpawnRealDevserver(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the extmetrics binary")
	}
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "..")
	bin := filepath.Join(t.TempDir(), "extmetrics")
	build := exec.Command("go", "build", "-o", bin, "./cmd/extmetrics")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Skipf("cannot build the extmetrics binary, so the real devserver is not tested: %v\n%s", err, out)
	}
	d, err := Spawn(context.Background(), SpawnConfig{Executable: bin, Series: 200})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Stop()
	res, err := Run(context.Background(), Config{
		URLs: d.Paths, Concurrency: 2, Duration: time.Second,
		Token: d.Token, CAFile: d.CAFile, PID: d.PID, RequireHTTP2: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Protocol != "HTTP/2.0" || res.OK == 0 || res.Errors != 0 {
		t.Errorf("protocol %s, ok %d, errors %d (%v %v)", res.Protocol, res.OK, res.Errors, res.Status, res.TransportErrors)
	}
	if res.FirstKind != "ExternalMetricValueList" || res.FirstItems != 1 {
		t.Errorf("first answer: %q with %d items, want one series", res.FirstKind, res.FirstItems)
	}
	if res.Server == nil || res.Server.RSSBytes == 0 {
		t.Errorf("server stats: %+v", res.Server)
	}
	if d.Ready.ReadyMs <= 0 {
		t.Errorf("ready %+v", d.Ready)
	}
	// The framer client against the same server.
	res, err = Run(context.Background(), Config{
		Client: ClientFramer, URLs: d.Paths, Concurrency: 2, Requests: 500,
		Token: d.Token, CAFile: d.CAFile, PID: d.PID,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.OK != 500 || res.Protocol != "HTTP/2.0" || res.FirstItems != 1 || res.BytesReceived < 500*100 {
		t.Errorf("framer: ok %d, protocol %s, first items %d, bytes %d", res.OK, res.Protocol, res.FirstItems, res.BytesReceived)
	}
	if err := d.Stop(); err != nil {
		t.Errorf("stop: %v", err)
	}
}
