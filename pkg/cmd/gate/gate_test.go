package gate

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/extmetrics/extmetrics/internal/testutil"
	"github.com/extmetrics/extmetrics/pkg/analysis"
	"github.com/extmetrics/extmetrics/pkg/cmd/cmdutil"
	"github.com/extmetrics/extmetrics/pkg/devserver"
	"github.com/extmetrics/extmetrics/pkg/devserver/devservertest"
	"github.com/extmetrics/extmetrics/pkg/scenario"
)

// start runs the command with args and returns its URL, stderr and a stop
// function that cancels it (SIGTERM) and returns its error.
func start(t *testing.T, args ...string) (string, *testutil.Buffer, func() error) {
	t.Helper()
	t.Setenv("KUBECONFIG", filepath.Join(t.TempDir(), "none"))
	t.Setenv("HOME", t.TempDir())
	t.Setenv("KUBERNETES_SERVICE_HOST", "")
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	stderr := &testutil.Buffer{}
	done := make(chan error, 1)
	go func() {
		cmd := NewCommand()
		cmd.SetArgs(args)
		cmd.SetOut(pw)
		cmd.SetErr(stderr)
		cmd.SilenceUsage, cmd.SilenceErrors = true, true
		done <- cmd.ExecuteContext(ctx)
		pw.Close()
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	go io.Copy(io.Discard, pr)
	if err != nil {
		cancel()
		t.Fatalf("no listening line: %v; stderr %s; exit %v", err, stderr, <-done)
	}
	m := regexp.MustCompile(`listening on (\S+)`).FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("line %q", line)
	}
	stopped := false
	stop := func() error {
		if stopped {
			return nil
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(30 * time.Second):
			t.Fatal("did not stop")
			return nil
		}
	}
	t.Cleanup(func() { stop() })
	return m[1], stderr, stop
}

func TestServeNamedProvidersWithoutClusterAndShutDownGracefully(t *testing.T) {
	s := devservertest.New(t, devserver.Config{})
	s.SetSeries("default", "slow", nil, "1")
	s.SetFault("slow", scenario.Fault{Latency: time.Second})
	dir := t.TempDir()
	ca, tok, cfg := filepath.Join(dir, "ca.crt"), filepath.Join(dir, "token"), filepath.Join(dir, "gate.yaml")
	os.WriteFile(ca, s.CAPEM(), 0o600)
	os.WriteFile(tok, []byte(devservertest.Token), 0o600)
	os.WriteFile(cfg, []byte("providers:\n- name: dev\n  address: "+s.URL()+"\n  caFile: "+ca+"\n  tokenFile: "+tok+"\n"), 0o600)

	url, stderr, stop := start(t, "--listen", "127.0.0.1:0", "--config", cfg)
	first := strings.SplitN(stderr.String(), "\n", 2)[0]
	if !strings.Contains(first, "no cluster") || !strings.Contains(first, "named providers of --config only") {
		t.Fatalf("first log line %q", first)
	}
	resp, err := http.Get(url + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(b), "no cluster") {
		t.Fatalf("readyz %d %s", resp.StatusCode, b)
	}

	// A check in flight when SIGTERM comes is answered.
	type result struct {
		code int
		err  error
	}
	got := make(chan result, 1)
	go func() {
		resp, err := http.Post(url+"/v1/check", "application/json", strings.NewReader(`{"provider":"dev","query":"default/slow","max":1}`))
		if err != nil {
			got <- result{0, err}
			return
		}
		resp.Body.Close()
		got <- result{resp.StatusCode, nil}
	}()
	time.Sleep(300 * time.Millisecond)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	r := <-got
	if r.err != nil || r.code != 200 {
		t.Fatalf("in-flight check: %d %v", r.code, r.err)
	}
	if !strings.Contains(stderr.String(), `"msg":"check"`) || strings.Contains(stderr.String(), devservertest.Token) {
		t.Fatalf("logs: %s", stderr)
	}
}

func TestUsageErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("providers:\n- name: x\n  adress: https://a\n"), 0o600)
	for _, c := range []struct {
		args []string
		msg  string
	}{
		{[]string{"--config", bad, "--no-cluster"}, `providers[0]: unknown field "adress"`},
		{[]string{"--config", filepath.Join(dir, "none.yaml"), "--no-cluster"}, "no such file"},
		{[]string{"--cache-ttl", "-1s"}, "--cache-ttl"},
		{[]string{"--max-age", "soon"}, "--max-age"},
		{[]string{"--max-age", "-1m"}, "must not be negative"},
		{[]string{"--listen", "8080"}, "--listen"},
		{[]string{"--client-ca-file", "x"}, "needs --tls-cert-file"},
		{[]string{"--tls-cert-file", "x"}, "together"},
		{[]string{"--no-cluster", "--auth-token-file", filepath.Join(dir, "none")}, "--auth-token-file"},
		{[]string{"--kubeconfig", filepath.Join(dir, "none")}, "--kubeconfig"},
	} {
		cmd := NewCommand()
		cmd.SetArgs(c.args)
		cmd.SetOut(io.Discard)
		cmd.SetErr(io.Discard)
		err := cmd.Execute()
		if err == nil || cmdutil.Code(err) != cmdutil.ExitUsage || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%v: %v (code %d); want usage error with %q", c.args, err, cmdutil.Code(err), c.msg)
		}
	}
}

// --max-age reads as every max-age flag and field (analysis.ParseMaxAge):
// 0 and 0s both turn the bound off (0s used to be an error here).
func TestMaxAgeFlag(t *testing.T) {
	for in, want := range map[string]time.Duration{"auto": 0, "": 0, "0": analysis.NoMaxAge, "0s": analysis.NoMaxAge, "10m": 10 * time.Minute} {
		o := &options{maxAge: in}
		got, err := o.maxAgeOption()
		if err != nil || got != want {
			t.Errorf("--max-age %q: %v %v, want %v", in, got, err, want)
		}
	}
}
