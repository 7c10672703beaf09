package loadtest

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/pem"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/extmetrics/extmetrics/pkg/cmd/cmdutil"
	lt "github.com/extmetrics/extmetrics/pkg/loadtest"
)

func run(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	c := NewCommand()
	var out, errOut bytes.Buffer
	c.SetOut(&out)
	c.SetErr(&errOut)
	c.SetArgs(args)
	c.SilenceUsage, c.SilenceErrors = true, true
	err := c.ExecuteContext(context.Background())
	if err != nil {
		errOut.WriteString(err.Error())
	}
	return out.String(), errOut.String(), cmdutil.Code(err)
}

func TestUsageErrors(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{nil, "give the URL(s) to load, or --spawn"},
		{[]string{"--spawn", "https://127.0.0.1/"}, "give no URL"},
		{[]string{"--spawn", "--token", "x"}, "--token cannot be used with --spawn"},
		{[]string{"--series", "5", "https://127.0.0.1/"}, "--series needs --spawn"},
		{[]string{"-o", "yaml", "https://127.0.0.1/"}, "unknown format"},
		{[]string{"https://10.0.0.1:8443/apis"}, "refusing to send load to \"10.0.0.1\""},
		{[]string{"--duration", "1h", "https://127.0.0.1/"}, "at most 5m0s"},
		{[]string{"--spawn", "--duration", "1h"}, "at most 5m0s"},
		{[]string{"--spawn", "--series", "0"}, "must be positive"},
		{[]string{"--spawn", "--series", "2000000"}, "series 2000000"},
		{[]string{"--spawn", "--spawn-env", "GOGC"}, "want NAME=VALUE"},
		{[]string{"--spawn-env", "GOGC=5", "https://127.0.0.1/"}, "--spawn-env needs --spawn"},
		{[]string{"--token-file", "/nonexistent/token", "https://127.0.0.1/"}, "--token-file"},
		{[]string{"--client", "curl", "https://127.0.0.1/"}, `client "curl"`},
		{[]string{"--spawn", "--client", "framer", "--connections", "1"}, "connections must equal concurrency"},
	} {
		_, stderr, code := run(t, c.args...)
		if code != cmdutil.ExitUsage || !strings.Contains(stderr, c.want) {
			t.Errorf("%v: exit %d, %q; want exit 2 with %q", c.args, code, stderr, c.want)
		}
	}
}

func TestRunAgainstHTTP2ServerJSON(t *testing.T) {
	ts := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer tok-from-file" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.Write([]byte(`{"kind":"ExternalMetricValueList","items":[]}`))
	}))
	ts.EnableHTTP2 = true
	ts.Config.ErrorLog = log.New(io.Discard, "", 0)
	ts.StartTLS()
	defer ts.Close()
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	tok := filepath.Join(dir, "token")
	os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ts.Certificate().Raw}), 0o600)
	os.WriteFile(tok, []byte("tok-from-file\n"), 0o600)

	stdout, stderr, code := run(t, "-o", "json", "-c", "2", "-n", "50", "--ca-file", ca, "--token-file", tok, "--pid", "0",
		ts.URL+"/apis/external.metrics.k8s.io/v1beta1/namespaces/default/m")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var res lt.Result
	if err := json.Unmarshal([]byte(stdout), &res); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, stdout)
	}
	if res.Requests != 50 || res.OK != 50 || res.Protocol != "HTTP/2.0" || res.FirstItems != 0 || res.Latency.P99 <= 0 {
		t.Errorf("result %+v", res)
	}
	if strings.Contains(stdout, "tok-from-file") {
		t.Error("output shows the token")
	}

	// The framer client.
	stdout, stderr, code = run(t, "-o", "json", "-c", "2", "-n", "30", "--client", "framer", "--ca-file", ca, "--token-file", tok, ts.URL+"/x")
	if code != 0 || json.Unmarshal([]byte(stdout), &res) != nil || res.OK != 30 || res.Client != "framer" || res.Protocol != "HTTP/2.0" {
		t.Errorf("framer run: exit %d %s\n%s", code, stderr, stdout)
	}

	// Text output, and a wrong token fails with exit 1 before any load.
	stdout, _, code = run(t, "-n", "10", "--ca-file", ca, "--token", "tok-from-file", ts.URL+"/x")
	if code != 0 || !strings.Contains(stdout, "req/s") || !strings.Contains(stdout, "HTTP/2.0") {
		t.Errorf("text run: exit %d\n%s", code, stdout)
	}
	_, stderr, code = run(t, "-n", "10", "--ca-file", ca, "--token", "wrong", ts.URL+"/x")
	if code != cmdutil.ExitFailure || !strings.Contains(stderr, "401") || strings.Contains(stderr, "wrong") {
		t.Errorf("wrong token: exit %d, %q", code, stderr)
	}
}

// --spawn is a switch: its help must not read as if it took an argument.
func TestSpawnHelpIsASwitch(t *testing.T) {
	c := NewCommand()
	usage := c.Flags().FlagUsages()
	if strings.Contains(usage, "--spawn extmetrics") || !strings.Contains(usage, `--spawn                      start "extmetrics devserver"`) {
		t.Errorf("usage:\n%s", usage)
	}
}
