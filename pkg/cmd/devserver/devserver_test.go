package devserver

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/extmetrics/extmetrics/internal/testutil"
	"github.com/extmetrics/extmetrics/pkg/cmd/cmdutil"
)

var lineRE = regexp.MustCompile(`^extmetrics devserver listening on (https?://127\.0\.0\.1:\d+) \(profile ([a-z-]+), (CA (\S+)|plain HTTP), authentication: (.+)\)$`)

type started struct {
	*testutil.Command
	url, profile, caFile, auth string
}

// start runs the command in-process and waits for its first stdout line.
func start(t *testing.T, args ...string) *started {
	t.Helper()
	cmd := NewCommand()
	cmd.SetArgs(append([]string{"--addr", "127.0.0.1:0"}, args...))
	cmd.SilenceUsage = true
	st := &started{Command: testutil.StartCommand(t, cmd)}
	m := lineRE.FindStringSubmatch(st.Line)
	if m == nil {
		t.Fatalf("first line %q does not match %s", st.Line, lineRE)
	}
	st.url, st.profile, st.caFile, st.auth = m[1], m[2], m[4], m[5]
	return st
}

func get(t *testing.T, st *started, path, token string) (int, string) {
	t.Helper()
	tr := &http.Transport{ForceAttemptHTTP2: true}
	if st.caFile != "" {
		pem, err := os.ReadFile(st.caFile)
		if err != nil {
			t.Fatal(err)
		}
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(pem)
		tr.TLSClientConfig = &tls.Config{RootCAs: pool}
	}
	c := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	defer c.CloseIdleConnections()
	req, _ := http.NewRequest("GET", st.url+path, http.NoBody)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

const listPath = "/apis/external.metrics.k8s.io/v1beta1/namespaces/default/"

func TestCommandServes(t *testing.T) {
	dir := t.TempDir()
	sc := filepath.Join(dir, "scenario.yaml")
	os.WriteFile(sc, []byte("metrics:\n  - name: requests\n    labels: {app: web}\n    value: 1.5\n"), 0o644)
	tokens := filepath.Join(dir, "tokens.yaml")
	os.WriteFile(tokens, []byte("team-token: [team-a]\n"), 0o600)
	caFile := filepath.Join(dir, "ca.crt")
	st := start(t, "--scenario", sc, "--token", "cli-token", "--tokens-file", tokens, "--write-ca", caFile,
		"--profile", "cma", "--log-format", "json", "--log-level", "debug", "--seed", "3", "--reload-interval", "50ms")
	if st.caFile != caFile || st.profile != "cma" || !strings.HasPrefix(st.url, "https://") || st.auth != "bearer tokens (2)" {
		t.Errorf("line: %+v", st)
	}
	code, body := get(t, st, listPath+"requests?labelSelector=app%3Dweb", "cli-token")
	if code != 200 || !strings.Contains(body, `"value":"1500m"`) {
		t.Fatalf("%d %s", code, body)
	}
	if code, _ := get(t, st, listPath+"requests", "team-token"); code != 403 {
		t.Errorf("team token in default: %d", code)
	}
	if code, _ := get(t, st, listPath+"requests", ""); code != 401 {
		t.Errorf("no token: %d", code)
	}
	if code, body := get(t, st, listPath+"unknown", "cli-token"); code != 200 || !strings.Contains(body, `"items":[]`) {
		t.Errorf("cma unknown metric: %d %s", code, body)
	}

	// SIGHUP reloads (the file watcher would too; this checks the signal path).
	os.WriteFile(sc, []byte("metrics:\n  - name: requests\n    labels: {app: web}\n    value: 2\n"), 0o644)
	syscall.Kill(os.Getpid(), syscall.SIGHUP)
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, body := get(t, st, listPath+"requests", "cli-token")
		if strings.Contains(body, `"value":"2"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not reloaded: %s\n%s", body, st.Stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}

	// The reload is logged after the new scenario is in place (and after the
	// memory release), so wait for the line rather than read the logs at once.
	for !strings.Contains(st.Stderr.String(), `"msg":"scenario reloaded"`) {
		if time.Now().After(deadline) {
			t.Fatalf("reload not logged:\n%s", st.Stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}

	// Logs are JSON lines without tokens.
	logs := st.Stderr.String()
	for _, l := range strings.Split(strings.TrimSpace(logs), "\n") {
		if !json.Valid([]byte(l)) {
			t.Errorf("log line not JSON: %s", l)
		}
	}
	if strings.Contains(logs, "cli-token") || strings.Contains(logs, "team-token") {
		t.Errorf("token in logs:\n%s", logs)
	}
	if !strings.Contains(logs, `"msg":"scenario reloaded"`) {
		t.Errorf("reload not logged:\n%s", logs)
	}

	if err := st.Stop(); err != nil {
		t.Errorf("command ended with %v", err)
	}
}

func TestCommandDefaults(t *testing.T) {
	st := start(t)
	if st.profile != "prometheus-adapter" || st.caFile == "" {
		t.Fatalf("%+v", st)
	}
	if code, body := get(t, st, listPath+"anything", ""); code != 404 || !strings.Contains(body, `"kind":"Status"`) {
		t.Errorf("%d %s", code, body)
	}
	ca := st.caFile
	_ = st.Stop()
	if _, err := os.Stat(ca); !os.IsNotExist(err) {
		t.Errorf("temporary CA %s left behind: %v", ca, err)
	}
}

func TestCommandInsecure(t *testing.T) {
	st := start(t, "--insecure-http", "--profile", "datadog")
	if !strings.HasPrefix(st.url, "http://") || st.caFile != "" {
		t.Fatalf("%+v", st)
	}
	if code, body := get(t, st, listPath+"datadogmetric@default:x", ""); code != 500 || !strings.Contains(body, "DatadogMetric not found") {
		t.Errorf("%d %s", code, body)
	}
}

func TestCommandUsageErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("metrics:\n  - name: m\n    value: {constant: x}\n"), 0o644)
	badTokens := filepath.Join(dir, "tokens.yaml")
	os.WriteFile(badTokens, []byte("tok: []\n"), 0o600)
	for _, tc := range []struct {
		args []string
		msg  string
	}{
		{[]string{"--profile", "nope"}, "--profile"},
		{[]string{"--scenario", bad}, "bad.yaml:3"},
		{[]string{"--scenario", filepath.Join(dir, "missing.yaml")}, "missing.yaml"},
		{[]string{"--addr", "nonsense"}, "--addr"},
		{[]string{"--addr", "0.0.0.0:0"}, "refusing to serve without authentication"},
		{[]string{"--addr", "0.0.0.0:0"}, "--client-ca"},
		{[]string{"--profile", "nope"}, `unknown profile "nope"`},
		{[]string{"--tokens-file", badTokens}, "--tokens-file"},
		{[]string{"--tokens-file", filepath.Join(dir, "none")}, "--tokens-file"},
		{[]string{"--token", ""}, "--token"},
		{[]string{"--log-format", "xml"}, "--log-format"},
		{[]string{"--log-level", "loud"}, "--log-level"},
		{[]string{"--tls-cert", "x"}, "together"},
		{[]string{"--insecure-http", "--write-ca", "x"}, "--insecure-http"},
		{[]string{"--client-ca", filepath.Join(dir, "none.pem")}, "client CA"},
		{[]string{"--requestheader-client-ca-file", filepath.Join(dir, "none.pem")}, "request-header client CA"},
		{[]string{"--insecure-http", "--requestheader-client-ca-file", bad}, "needs HTTPS"},
		{[]string{"--requestheader-client-ca-file", bad, "--requestheader-username-headers", "X Bad"}, "invalid header name"},
		{[]string{"--datadog-max-age", "0s"}, "--datadog-max-age"},
		{[]string{"--reload-interval", "-1s"}, "--reload-interval"},
		{[]string{"extra-arg"}, "unknown command"},
	} {
		cmd := NewCommand()
		cmd.SetArgs(append([]string{"--addr", "127.0.0.1:0"}, tc.args...))
		var out, errOut bytes.Buffer
		cmd.SetOut(&out)
		cmd.SetErr(&errOut)
		cmd.SilenceUsage, cmd.SilenceErrors = true, true
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		err := cmd.ExecuteContext(ctx)
		cancel()
		if err == nil {
			t.Errorf("%v: no error", tc.args)
			continue
		}
		if !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%v: error %q does not contain %q", tc.args, err, tc.msg)
		}
		if tc.msg != "unknown command" && cmdutil.Code(err) != cmdutil.ExitUsage {
			t.Errorf("%v: exit code %d, want 2", tc.args, cmdutil.Code(err))
		}
		if out.Len() != 0 {
			t.Errorf("%v: printed %q though it did not start", tc.args, out.String())
		}
	}
}

// A client certificate is authentication: --client-ca alone may serve off
// loopback (checked on the configuration, without listening there).
func TestConfigClientCAIsAuthentication(t *testing.T) {
	o := &options{addr: "0.0.0.0:8443", profile: "cma", clientCA: "ca.pem", datadogMaxAge: 2 * time.Minute}
	if _, err := o.config(nil); err != nil {
		t.Fatalf("--client-ca off loopback: %v", err)
	}
	o.clientCA = ""
	if _, err := o.config(nil); err == nil || !strings.Contains(err.Error(), "--addr: 0.0.0.0:8443 is not a loopback address") {
		t.Fatalf("no authentication off loopback: %v", err)
	}
}
