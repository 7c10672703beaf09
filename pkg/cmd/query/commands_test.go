package query_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/extmetrics/extmetrics/internal/certgen"
	"github.com/extmetrics/extmetrics/internal/testenv"
	"github.com/extmetrics/extmetrics/internal/testutil"
	"github.com/extmetrics/extmetrics/pkg/cmd"
	"github.com/extmetrics/extmetrics/pkg/cmd/connflags"
	cmdquery "github.com/extmetrics/extmetrics/pkg/cmd/query"
	"github.com/extmetrics/extmetrics/pkg/devserver"
	"github.com/extmetrics/extmetrics/pkg/devserver/devservertest"
	"github.com/extmetrics/extmetrics/pkg/provider"
	"github.com/extmetrics/extmetrics/pkg/scenario"
)

// isolate keeps the machine's kubeconfig, a pod's service account and
// EXTMETRICS_* variables out of the test.
func isolate(t *testing.T) { testenv.Isolate(t) }

type env struct {
	s      *devserver.Server
	caFile string
}

func start(t *testing.T, cfg devserver.Config) *env {
	t.Helper()
	isolate(t)
	s := devservertest.New(t, cfg)
	return &env{s: s, caFile: testutil.WriteCA(t, s.CAPEM())}
}

// conn are the flags that reach e's server with the test token over verified TLS.
func (e *env) conn() []string {
	return []string{"--server", e.s.URL(), "--ca-file", e.caFile, "--token", devservertest.Token, "--timeout", "20s"}
}

func run(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = cmd.Main(args, &out, &errb)
	return code, out.String(), errb.String()
}

func mustSet(t *testing.T, s *devserver.Server, ns, metric string, labels map[string]string, value string) {
	t.Helper()
	if err := s.SetSeries(ns, metric, labels, value); err != nil {
		t.Fatal(err)
	}
}

func TestQueryTable(t *testing.T) {
	e := start(t, devserver.Config{})
	mustSet(t, e.s, "default", "requests", map[string]string{"app": "web"}, "1500m")
	code, out, errs := run(t, append([]string{"query", "requests?labelSelector=app%3Dweb"}, e.conn()...)...)
	if code != 0 {
		t.Fatalf("exit %d, stderr %s", code, errs)
	}
	for _, want := range []string{"QUERY: default/requests?labelSelector=app=web", "METRIC", "LABELS", "AGE",
		"requests", "app=web", "1.5", "VALUE: 1.5 (first of 1 item, latency"} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout lacks %q:\n%s", want, out)
		}
	}
	if errs != "" {
		t.Errorf("stderr: %s", errs)
	}
}

func TestQueryOutputs(t *testing.T) {
	e := start(t, devserver.Config{})
	mustSet(t, e.s, "prod", "latency", map[string]string{"app": "web", "zone": "a"}, "250m")

	code, out, errs := run(t, append([]string{"query", "-o", "value", "prod/latency"}, e.conn()...)...)
	if code != 0 || out != "0.25\n" {
		t.Fatalf("-o value: exit %d, stdout %q, stderr %s", code, out, errs)
	}

	code, out, errs = run(t, append([]string{"query", "-o", "json", "prod/latency"}, e.conn()...)...)
	if code != 0 {
		t.Fatalf("-o json: exit %d, stderr %s", code, errs)
	}
	var r cmdquery.ResultOutput
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("-o json: %v\n%s", err, out)
	}
	if r.Query != "prod/latency" || r.Value != 0.25 || r.Matched != 1 || r.Aggregate != "first" || len(r.Items) != 1 ||
		r.Items[0].Quantity != "250m" || r.Items[0].Labels["zone"] != "a" || r.Items[0].Timestamp.IsZero() || r.Latency == "" {
		t.Fatalf("-o json: %+v", r)
	}

	code, out, errs = run(t, append([]string{"query", "-o", "yaml", "prod/latency"}, e.conn()...)...)
	if code != 0 || !strings.Contains(out, "value: 0.25") || !strings.Contains(out, "query: prod/latency") {
		t.Fatalf("-o yaml: exit %d, stdout %s, stderr %s", code, out, errs)
	}

	// Several queries: JSON is a list, value prints one line each.
	code, out, _ = run(t, append([]string{"query", "-o", "json", "prod/latency", "prod/latency?aggregate=count"}, e.conn()...)...)
	var rs []cmdquery.ResultOutput
	if code != 0 || json.Unmarshal([]byte(out), &rs) != nil || len(rs) != 2 || rs[1].Value != 1 || rs[1].Aggregate != "count" {
		t.Fatalf("two queries -o json: exit %d, %s", code, out)
	}
	code, out, _ = run(t, append([]string{"query", "-o", "value", "prod/latency", "prod/latency?aggregate=count"}, e.conn()...)...)
	if code != 0 || out != "0.25\n1\n" {
		t.Fatalf("two queries -o value: exit %d, %q", code, out)
	}
}

func TestQuerySeveralItems(t *testing.T) {
	e := start(t, devserver.Config{})
	mustSet(t, e.s, "default", "rps", map[string]string{"pod": "a"}, "1")
	mustSet(t, e.s, "default", "rps", map[string]string{"pod": "b"}, "3")

	code, out, errs := run(t, append([]string{"query", "rps"}, e.conn()...)...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if !strings.Contains(errs, "Warning: default/rps: 2 items matched and aggregate is first") {
		t.Fatalf("no warning on stderr: %q", errs)
	}
	if !strings.Contains(out, "pod=a") || !strings.Contains(out, "pod=b") || !strings.Contains(out, "(first of 2 items") {
		t.Fatalf("stdout: %s", out)
	}

	code, out, errs = run(t, append([]string{"query", "-o", "value", "rps?aggregate=sum"}, e.conn()...)...)
	if code != 0 || out != "4\n" || errs != "" {
		t.Fatalf("sum: exit %d, stdout %q, stderr %q", code, out, errs)
	}
	code, out, _ = run(t, append([]string{"query", "-o", "value", "rps?aggregate=avg&labelSelector=pod+in+(a,b)"}, e.conn()...)...)
	if code != 0 || out != "2\n" {
		t.Fatalf("avg: exit %d, stdout %q", code, out)
	}
}

func TestQueryErrors(t *testing.T) {
	e := start(t, devserver.Config{})
	mustSet(t, e.s, "default", "requests", nil, "1")

	// Metric not found (prometheus-adapter profile: 404): exit 1, typed message.
	code, out, errs := run(t, append([]string{"query", "default/foo"}, e.conn()...)...)
	if code != 1 || out != "" || !strings.HasPrefix(errs, "Error: default/foo: metric not found") {
		t.Fatalf("not found: exit %d, stdout %q, stderr %q", code, out, errs)
	}
	// One failing query among good ones: the good one prints, exit is 1.
	code, out, errs = run(t, append([]string{"query", "-o", "value", "requests", "default/foo"}, e.conn()...)...)
	if code != 1 || out != "1\n" || !strings.Contains(errs, "default/foo: metric not found") {
		t.Fatalf("mixed: exit %d, stdout %q, stderr %q", code, out, errs)
	}
	// Stale data.
	e.s.SetFault("requests", scenario.Fault{StaleBy: time.Hour})
	code, _, errs = run(t, append([]string{"query", "requests?maxAge=1m"}, e.conn()...)...)
	if code != 1 || !strings.Contains(errs, "stale") {
		t.Fatalf("stale: exit %d, stderr %q", code, errs)
	}
	// A server that keeps failing: unavailable after the retries, exit 1, within the budget.
	e.s.SetFault("requests", scenario.Fault{Status: 503})
	begin := time.Now()
	code, out, errs = run(t, "query", "-o", "value", "requests", "--server", e.s.URL(), "--ca-file", e.caFile,
		"--token", devservertest.Token, "--timeout", "3s")
	if code != 1 || out != "" || !strings.Contains(errs, "server unavailable") {
		t.Fatalf("503: exit %d, stdout %q, stderr %q", code, out, errs)
	}
	if d := time.Since(begin); d > 30*time.Second {
		t.Fatalf("503 took %s with a 3s budget", d)
	}
	e.s.SetFault("requests", scenario.Fault{})

	// Wrong token: 401, exit 1, the token is not echoed.
	code, _, errs = run(t, "query", "requests", "--server", e.s.URL(), "--ca-file", e.caFile, "--token", "wrong-token-xyz")
	if code != 1 || !strings.Contains(errs, "unauthorized") || strings.Contains(errs, "wrong-token-xyz") {
		t.Fatalf("401: exit %d, stderr %q", code, errs)
	}
	// Untrusted certificate (no CA given): unavailable, exit 1.
	code, _, errs = run(t, "query", "requests", "--server", e.s.URL(), "--token", devservertest.Token, "--timeout", "10s")
	if code != 1 || !strings.Contains(errs, "server unavailable") {
		t.Fatalf("untrusted: exit %d, stderr %q", code, errs)
	}
	// ... and --insecure-skip-tls-verify accepts it.
	code, out, errs = run(t, "query", "-o", "value", "requests", "--server", e.s.URL(), "--token", devservertest.Token, "--insecure-skip-tls-verify")
	if code != 0 || out != "1\n" {
		t.Fatalf("insecure: exit %d, stdout %q, stderr %q", code, out, errs)
	}
}

func TestUsageErrors(t *testing.T) {
	e := start(t, devserver.Config{})
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"query"}, "give a query: [<namespace>/]<metricName>"},
		{append([]string{"query", "a/b/c"}, e.conn()...), "invalid query"},
		{append([]string{"query", "m?aggregate=median"}, e.conn()...), "allowed: first (default), sum"},
		{append([]string{"query", "-o", "xml", "m"}, e.conn()...), `unknown format "xml"`},
		{[]string{"query", "m", "--timeout", "soon"}, "invalid argument"},
		{[]string{"query", "m", "--server", e.s.URL(), "--client-cert", e.caFile}, "--client-key"},
		{[]string{"query", "m"}, "no server"},
		{[]string{"list", "extra"}, "unknown command"},
		{[]string{"status", "-o", "xml", "--server", e.s.URL()}, `unknown format "xml"`},
		{[]string{"list", "--kubeconfig", filepath.Join(t.TempDir(), "missing")}, "missing"},
	}
	for _, c := range cases {
		code, _, errs := run(t, c.args...)
		if code != 2 || !strings.Contains(errs, c.want) {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q", c.args, code, errs, c.want)
		}
	}
	t.Setenv(connflags.EnvTimeout, "forever")
	if code, _, errs := run(t, append([]string{"query", "m"}, e.conn()[:4]...)...); code != 2 || !strings.Contains(errs, connflags.EnvTimeout) {
		t.Errorf("bad EXTMETRICS_TIMEOUT: exit %d, %q", code, errs)
	}
}

func TestEnvironmentTokenFileAndKubeconfig(t *testing.T) {
	e := start(t, devserver.Config{})
	mustSet(t, e.s, "default", "requests", nil, "7")

	t.Run("environment", func(t *testing.T) {
		t.Setenv(connflags.EnvServer, e.s.URL())
		t.Setenv(connflags.EnvCAFile, e.caFile)
		t.Setenv(connflags.EnvToken, devservertest.Token)
		code, out, errs := run(t, "query", "-o", "value", "requests")
		if code != 0 || out != "7\n" {
			t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errs)
		}
		code, out, _ = run(t, "status")
		if code != 0 || !strings.Contains(out, "env "+connflags.EnvToken) || strings.Contains(out, devservertest.Token) {
			t.Fatalf("status: exit %d\n%s", code, out)
		}
	})
	t.Run("token file", func(t *testing.T) {
		tf := filepath.Join(t.TempDir(), "token")
		if err := os.WriteFile(tf, []byte(devservertest.Token+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		code, out, errs := run(t, "query", "-o", "value", "requests", "--server", e.s.URL(), "--ca-file", e.caFile, "--token-file", tf)
		if code != 0 || out != "7\n" {
			t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errs)
		}
	})
	t.Run("kubeconfig", func(t *testing.T) {
		kc := devservertest.WriteKubeconfig(t, e.s, devservertest.Token)
		code, out, errs := run(t, "query", "-o", "value", "requests", "--kubeconfig", kc)
		if code != 0 || out != "7\n" {
			t.Fatalf("--kubeconfig: exit %d, stdout %q, stderr %q", code, out, errs)
		}
		t.Setenv("KUBECONFIG", kc)
		code, out, errs = run(t, "status")
		if code != 0 || !strings.Contains(out, `bearer token (kubeconfig `+kc+`, context "devserver")`) ||
			!strings.Contains(out, `verify with CA from kubeconfig `+kc) ||
			strings.Contains(out, devservertest.Token) {
			t.Fatalf("status via KUBECONFIG: exit %d, stdout %s, stderr %s", code, out, errs)
		}
		// A --token wins over the kubeconfig's token: a wrong one fails.
		code, _, errs = run(t, "query", "requests", "--token", "not-the-token")
		if code != 1 || !strings.Contains(errs, "unauthorized") {
			t.Fatalf("--token over kubeconfig: exit %d, %q", code, errs)
		}
	})
}

func TestList(t *testing.T) {
	e := start(t, devserver.Config{})
	mustSet(t, e.s, "default", "requests", nil, "1")
	mustSet(t, e.s, "prod", "latency", nil, "1")
	code, out, errs := run(t, append([]string{"list"}, e.conn()...)...)
	if code != 0 || out != "latency\nrequests\n" {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errs)
	}
	code, out, _ = run(t, append([]string{"list", "-o", "json"}, e.conn()...)...)
	var l cmdquery.ListOutput
	if code != 0 || json.Unmarshal([]byte(out), &l) != nil || l.Server != e.s.URL() || len(l.Metrics) != 2 {
		t.Fatalf("-o json: exit %d, %s", code, out)
	}
	code, _, errs = run(t, "list", "--server", e.s.URL(), "--ca-file", e.caFile, "--token", "bad")
	if code != 1 || !strings.Contains(errs, "unauthorized") {
		t.Fatalf("401: exit %d, %q", code, errs)
	}
}

func TestStatus(t *testing.T) {
	for _, profile := range devserver.Profiles {
		t.Run(profile, func(t *testing.T) {
			e := start(t, devserver.Config{Profile: profile})
			code, out, errs := run(t, append([]string{"status"}, e.conn()...)...)
			if code != 0 {
				t.Fatalf("exit %d, stdout %s, stderr %s", code, out, errs)
			}
			for _, want := range []string{"Server:", e.s.URL(), "online", "Latency:", "Identity:", "bearer token (flag --token)",
				"TLS:", "verify with CA from CA file " + e.caFile + " (flag --ca-file)", "Base config:  none"} {
				if !strings.Contains(out, want) {
					t.Errorf("stdout lacks %q:\n%s", want, out)
				}
			}
			if strings.Contains(out+errs, devservertest.Token) {
				t.Fatalf("token printed:\n%s%s", out, errs)
			}
		})
	}
}

func TestStatusJSONAndClientCert(t *testing.T) {
	e := start(t, devserver.Config{})
	crt, key := clientCert(t, "canary-judge")
	code, out, errs := run(t, append([]string{"status", "-o", "json", "--client-cert", crt, "--client-key", key}, e.conn()...)...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var st cmdquery.StatusOutput
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatal(err)
	}
	if !st.Online || st.Server != e.s.URL() || st.ClientCertSubject != "CN=canary-judge,O=extmetrics" ||
		!strings.Contains(st.Identity, "client certificate") || st.Connection.Token != "flag --token" ||
		!strings.Contains(st.Connection.ClientCert, crt) || st.Connection.Insecure {
		t.Fatalf("status: %+v", st)
	}
	// The structured account: --token is the flag's, not a secret's; the
	// certificate's subject and origin come from the provider.
	ci := st.ConnInfo
	if ci.Auth.Method != provider.AuthToken || ci.Auth.From != (provider.Source{Origin: provider.OriginFlag, Name: "--token"}) ||
		ci.ClientCert == nil || ci.ClientCert.Subject != st.ClientCertSubject || ci.ClientCert.File != crt ||
		ci.ClientCert.From != (provider.Source{Origin: provider.OriginFlag, Name: "--client-cert"}) ||
		ci.TLS.Mode != provider.TLSVerify || ci.TLS.CAFile != e.caFile || strings.Contains(st.Identity, "secret") {
		t.Fatalf("status connInfo: %+v", ci)
	}
}

func TestStatusOffline(t *testing.T) {
	e := start(t, devserver.Config{})
	// 401 is offline.
	code, out, _ := run(t, "status", "--server", e.s.URL(), "--ca-file", e.caFile, "--token", "nope")
	if code != 1 || !strings.Contains(out, "OFFLINE") || !strings.Contains(out, "unauthorized") {
		t.Fatalf("401: exit %d\n%s", code, out)
	}
	// A server that is gone is offline.
	url := e.s.URL()
	if err := e.s.Close(); err != nil {
		t.Fatal(err)
	}
	code, out, _ = run(t, "status", "-o", "json", "--server", url, "--ca-file", e.caFile, "--token", devservertest.Token, "--timeout", "3s")
	var st cmdquery.StatusOutput
	if code != 1 || json.Unmarshal([]byte(out), &st) != nil || st.Online || st.ErrorKind != "unavailable" {
		t.Fatalf("down: exit %d\n%s", code, out)
	}
}

func TestCompletion(t *testing.T) {
	e := start(t, devserver.Config{})
	mustSet(t, e.s, "default", "requests", nil, "1")
	mustSet(t, e.s, "default", "replicas", nil, "1")
	mustSet(t, e.s, "default", "latency", nil, "1")

	code, out, errs := run(t, append([]string{"__complete", "query"}, append(e.conn(), "re")...)...)
	if code != 0 || !strings.Contains(out, "replicas\n") || !strings.Contains(out, "requests\n") || strings.Contains(out, "latency") ||
		!strings.Contains(out, ":4\n") {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errs)
	}
	code, out, _ = run(t, append([]string{"__complete", "query"}, append(e.conn(), "prod/la")...)...)
	if code != 0 || !strings.Contains(out, "prod/latency\n") {
		t.Fatalf("namespace prefix: %q", out)
	}
	// Unreachable server: no suggestions, no file names, no error.
	code, out, _ = run(t, "__complete", "query", "--server", "https://127.0.0.1:1", "--timeout", "2s", "re")
	if code != 0 || !strings.HasPrefix(out, ":4") {
		t.Fatalf("unreachable: exit %d, %q", code, out)
	}
	// Shell scripts come from cobra's completion command.
	code, out, _ = run(t, "completion", "bash")
	if code != 0 || !strings.Contains(out, "__start_extmetrics") {
		t.Fatalf("completion bash: exit %d", code)
	}
}

// clientCert writes a self-signed client certificate and key for cn.
func clientCert(t *testing.T, cn string) (crtPath, keyPath string) {
	t.Helper()
	p := certgen.Must(t, certgen.Options{CommonName: cn, Organization: []string{"extmetrics"}, Client: true})
	crtPath, keyPath, err := p.WriteFiles(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return crtPath, keyPath
}

// http:// to the HTTPS devserver says so; a token over plain http:// to a
// remote host is refused, and a loud warning with the opt-in; --ca-file
// with http:// is an error.
func TestQueryPlainHTTP(t *testing.T) {
	e := start(t, devserver.Config{})
	plain := "http://" + strings.TrimPrefix(e.s.URL(), "https://")
	code, _, errs := run(t, "query", "rps", "--server", plain, "--token", devservertest.Token, "--timeout", "20s")
	if code != 1 || !strings.Contains(errs, "the server speaks HTTPS: use "+e.s.URL()) || strings.Contains(errs, "invalid query") {
		t.Fatalf("exit %d: %s", code, errs)
	}
	code, _, errs = run(t, "query", "rps", "--server", plain, "--ca-file", e.caFile, "--token", devservertest.Token)
	if code != 2 || !strings.Contains(errs, "is plain http://") {
		t.Fatalf("--ca-file with http://: exit %d: %s", code, errs)
	}
	code, _, errs = run(t, "query", "rps", "--server", "http://metrics.invalid", "--token", "s3cret-token", "--timeout", "2s")
	if code != 2 || !strings.Contains(errs, "refusing to send credentials (token) over plain http:// to metrics.invalid") ||
		!strings.Contains(errs, "--allow-credentials-over-http") || strings.Contains(errs, "s3cret-token") {
		t.Fatalf("token over http:// to a remote host not refused: exit %d: %s", code, errs)
	}
	_, _, errs = run(t, "query", "rps", "--server", "http://metrics.invalid", "--token", "s3cret-token", "--timeout", "2s", "--allow-credentials-over-http")
	if !strings.Contains(errs, "WARNING: credentials (token) are sent over plain http:// to metrics.invalid") || strings.Contains(errs, "s3cret-token") {
		t.Fatalf("no warning: %s", errs)
	}
	_, out, _ := run(t, "status", "--server", "http://metrics.invalid", "--token", "s3cret-token", "--timeout", "2s", "--allow-credentials-over-http")
	if !strings.Contains(out, "WARNING:") || !strings.Contains(out, "sent over plain http:// to metrics.invalid") || strings.Contains(out, "s3cret-token") {
		t.Fatalf("status shows no warning: %s", out)
	}
}

func TestQueryCLIEdges(t *testing.T) {
	e := start(t, devserver.Config{})
	mustSet(t, e.s, "default", "rps", nil, "1")
	if code, _, errs := run(t, "query"); code != 2 || !strings.Contains(errs, "give a query: [<namespace>/]<metricName>") {
		t.Errorf("no argument: exit %d %s", code, errs)
	}
	if code, out, errs := run(t, append([]string{"query", "rps", "-o", "text"}, e.conn()...)...); code != 0 || !strings.Contains(out, "VALUE: 1") {
		t.Errorf("-o text: exit %d %s %s", code, out, errs)
	}
	for _, c := range []string{"list", "status"} {
		if _, out, _ := run(t, c, "--help"); !strings.Contains(out, "Examples:") {
			t.Errorf("%s --help has no examples:\n%s", c, out)
		}
	}
}
