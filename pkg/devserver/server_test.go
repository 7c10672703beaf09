package devserver_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/extmetrics/extmetrics/internal/certgen"
	"github.com/extmetrics/extmetrics/internal/testutil"
	"github.com/extmetrics/extmetrics/pkg/devserver"
	"github.com/extmetrics/extmetrics/pkg/devserver/devservertest"
)

func TestReloadOnFileChange(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "scenario.yaml")
	write := func(content string) {
		t.Helper()
		// Write beside and rename over, as editors do.
		tmp := path + ".tmp"
		if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, path); err != nil {
			t.Fatal(err)
		}
	}
	write("metrics:\n  - name: m\n    value: 1\n")
	var logs testutil.Buffer
	s := devservertest.New(t, devserver.Config{ScenarioFile: path, ReloadInterval: 20 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	value := func() string {
		r := do(t, s, "GET", nsPath+"default/m", devservertest.Token, "")
		if r.code != 200 {
			return r.status(t).Message
		}
		return string(r.body)
	}
	if v := value(); !strings.Contains(v, `"value":"1"`) {
		t.Fatalf("initial: %s", v)
	}

	// Requests keep being answered while the file changes.
	stop := make(chan struct{})
	var failures atomic.Int64
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		c := devservertest.HTTPClient(s)
		defer c.CloseIdleConnections()
		for {
			select {
			case <-stop:
				return
			default:
			}
			req, _ := http.NewRequest("GET", s.URL()+nsPath+"default/m", http.NoBody)
			req.Header.Set("Authorization", "Bearer "+devservertest.Token)
			resp, err := c.Do(req)
			if err != nil || resp.StatusCode != 200 {
				failures.Add(1)
			}
			if err == nil {
				resp.Body.Close()
			}
		}
	}()

	write("metrics:\n  - name: m\n    value: 2.5\n")
	testutil.Eventually(t, 20*time.Second, "reload to 2500m", func() bool { return strings.Contains(value(), `"value":"2500m"`) })

	// A bad file is refused and the previous scenario stays.
	write("metrics:\n  - name: m\n    value: {ramp: nonsense}\n")
	testutil.Eventually(t, 20*time.Second, "the bad reload to be logged", func() bool {
		return strings.Contains(logs.String(), "scenario reload failed")
	})
	if v := value(); !strings.Contains(v, `"value":"2500m"`) {
		t.Errorf("after bad reload: %s", v)
	}
	if !strings.Contains(logs.String(), "scenario.yaml:3") {
		t.Errorf("reload error without file:line:\n%s", logs.String())
	}
	if err := s.Reload(); err == nil {
		t.Error("Reload of a bad file succeeded")
	}

	write("metrics:\n  - name: m\n    value: 4\n")
	testutil.Eventually(t, 20*time.Second, "reload to 4", func() bool { return strings.Contains(value(), `"value":"4"`) })
	close(stop)
	wg.Wait()
	if n := failures.Load(); n != 0 {
		t.Errorf("%d requests failed during reloads", n)
	}
	m := do(t, s, "GET", "/metrics", devservertest.Token, "")
	if !strings.Contains(string(m.body), `extmetrics_devserver_scenario_reloads_total{result="error"}`) {
		t.Errorf("reload metrics missing")
	}
}

func TestReloadExplicit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.yaml")
	if err := os.WriteFile(path, []byte("metrics: [{name: m, value: 1}]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// ReleaseMemory (what the command sets) runs after the start and the reload.
	s := devservertest.New(t, devserver.Config{ScenarioFile: path, ReloadInterval: -1, ReleaseMemory: true})
	if err := os.WriteFile(path, []byte("metrics: [{name: m, value: 2}, {name: n, value: 3}]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := s.Reload(); err != nil {
		t.Fatal(err)
	}
	if r := do(t, s, "GET", nsPath+"default/n", devservertest.Token, ""); r.code != 200 {
		t.Errorf("after Reload: %d %s", r.code, r.body)
	}
	s2 := devservertest.New(t, devserver.Config{})
	if err := s2.Reload(); err == nil {
		t.Error("Reload without a file succeeded")
	}
}

func TestStartErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("metrics:\n  - name: m\n    value: {steps: 3}\n"), 0o644)
	for _, tc := range []struct {
		name string
		cfg  devserver.Config
		msg  string
	}{
		{"profile", devserver.Config{Profile: "nope"}, "unknown profile"},
		{"scenario", devserver.Config{ScenarioFile: bad}, "bad.yaml:3"},
		{"missing scenario", devserver.Config{ScenarioFile: filepath.Join(dir, "none.yaml")}, "none.yaml"},
		{"empty token", devserver.Config{Tokens: map[string][]string{"": {"*"}}}, "empty token"},
		{"token namespaces", devserver.Config{Tokens: map[string][]string{"x": {}}}, "no namespaces"},
		{"token with space", devserver.Config{Tokens: map[string][]string{"a b": {"*"}}}, "space"},
		{"cert without key", devserver.Config{TLSCertFile: "x.crt"}, "together"},
		{"insecure with CA", devserver.Config{InsecureHTTP: true, WriteCAFile: filepath.Join(dir, "ca")}, "plain HTTP"},
		{"client CA missing", devserver.Config{ClientCAFile: filepath.Join(dir, "none.pem")}, "client CA"},
		{"address", devserver.Config{Addr: "not an address"}, "address"},
	} {
		cfg := tc.cfg
		if cfg.Addr == "" {
			cfg.Addr = "127.0.0.1:0"
		}
		s, err := devserver.Start(context.Background(), cfg)
		if err == nil {
			s.Close()
			t.Errorf("%s: started", tc.name)
			continue
		}
		if !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s: error %q does not contain %q", tc.name, err, tc.msg)
		}
		if strings.Contains(err.Error(), "a b") {
			t.Errorf("%s: error shows the token: %v", tc.name, err)
		}
	}
}

func TestWriteCA(t *testing.T) {
	caFile := filepath.Join(t.TempDir(), "ca.crt")
	s := devservertest.New(t, devserver.Config{WriteCAFile: caFile})
	if s.CAFile() != caFile {
		t.Errorf("CAFile %q", s.CAFile())
	}
	data, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		t.Fatalf("not PEM: %s", data)
	}
	ca, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if !ca.IsCA || ca.PublicKeyAlgorithm != x509.ECDSA {
		t.Errorf("CA: IsCA %v, key %v", ca.IsCA, ca.PublicKeyAlgorithm)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(data)
	for _, host := range []string{"127.0.0.1", "localhost", "[::1]"} {
		addr := strings.Replace(s.URL(), "127.0.0.1", host, 1)
		if host == "[::1]" {
			// The server listens on 127.0.0.1 only; check the name in the certificate instead.
			conn, err := tls.Dial("tcp", s.Addr(), &tls.Config{RootCAs: pool, ServerName: "::1"})
			if err != nil {
				t.Errorf("::1: %v", err)
			} else {
				conn.Close()
			}
			continue
		}
		c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true}, Timeout: 30 * time.Second}
		resp, err := c.Get(addr + "/healthz")
		if err != nil {
			t.Errorf("%s: %v", host, err)
			continue
		}
		resp.Body.Close()
		if resp.ProtoMajor != 2 {
			t.Errorf("%s: %s, want HTTP/2", host, resp.Proto)
		}
	}
	// A client without the CA refuses the server.
	if _, err := http.Get(s.URL() + "/healthz"); err == nil {
		t.Error("system roots accepted the generated certificate")
	}
}

func TestMTLS(t *testing.T) {
	dir := t.TempDir()
	ca := makeCA(t)
	caFile := filepath.Join(dir, "client-ca.pem")
	os.WriteFile(caFile, ca.CertPEM, 0o644)
	s := devservertest.New(t, devserver.Config{ClientCAFile: caFile, Scenario: testScenario()})

	clientCert := makeClientCert(t, ca)
	withCert := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: s.CAPool(), Certificates: []tls.Certificate{clientCert}}}, Timeout: 30 * time.Second}
	req, _ := http.NewRequest("GET", s.URL()+listPath, http.NoBody)
	req.Header.Set("Authorization", "Bearer "+devservertest.Token)
	resp, err := withCert.Do(req)
	if err != nil {
		t.Fatalf("with client certificate: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("with client certificate: %d", resp.StatusCode)
	}

	if _, err := devservertest.HTTPClient(s).Get(s.URL() + "/healthz"); err == nil {
		t.Error("without a client certificate: accepted")
	}
	otherCA := makeCA(t)
	wrong := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: s.CAPool(), Certificates: []tls.Certificate{makeClientCert(t, otherCA)}}}, Timeout: 30 * time.Second}
	if _, err := wrong.Get(s.URL() + "/healthz"); err == nil {
		t.Error("client certificate from another CA: accepted")
	}
}

func makeCA(t *testing.T) *certgen.Pair {
	return certgen.Must(t, certgen.Options{CommonName: "test client CA", CA: true})
}

func makeClientCert(t *testing.T, ca *certgen.Pair) tls.Certificate {
	return certgen.Must(t, certgen.Options{CommonName: "client", Client: true, Parent: ca}).TLSCertificate()
}

func TestOwnCertificate(t *testing.T) {
	ca := makeCA(t)
	leaf := certgen.Must(t, certgen.Options{CommonName: "localhost", DNSNames: []string{"localhost"}, Server: true, Parent: ca})
	certFile, keyFile, err := leaf.WriteFiles(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	s := devservertest.New(t, devserver.Config{TLSCertFile: certFile, TLSKeyFile: keyFile})
	if s.CAPEM() != nil || s.CAPool() != nil {
		t.Error("CA reported for a certificate the server did not make")
	}
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool()}}, Timeout: 30 * time.Second}
	resp, err := c.Get(strings.Replace(s.URL(), "127.0.0.1", "localhost", 1) + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
}

func TestInsecureHTTP(t *testing.T) {
	s := devservertest.New(t, devserver.Config{InsecureHTTP: true, Scenario: testScenario()})
	if !strings.HasPrefix(s.URL(), "http://") || s.CAPEM() != nil {
		t.Fatalf("URL %s", s.URL())
	}
	req, _ := http.NewRequest("GET", s.URL()+listPath, http.NoBody)
	req.Header.Set("Authorization", "Bearer "+devservertest.Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("%d", resp.StatusCode)
	}
}

func TestPathsAndMethods(t *testing.T) {
	s := devservertest.New(t, devserver.Config{Scenario: testScenario()})
	tok := devservertest.Token
	for _, tc := range []struct {
		method, path, token string
		code                int
		kind                string // "" for Status
	}{
		{"GET", "/healthz", "", 200, "text"},
		{"GET", "/readyz", "", 200, "text"},
		{"GET", "/livez", "", 200, "text"},
		{"GET", "/version", "", 200, ""},
		{"POST", "/healthz", "", 405, "Status"},
		{"GET", "/apis", "", 401, "Status"},
		{"GET", "/apis", "nope", 401, "Status"},
		{"GET", "/apis", tok, 200, "APIGroupList"},
		{"GET", "/apis/", tok, 200, "APIGroupList"},
		{"GET", "/apis/external.metrics.k8s.io", tok, 200, "APIGroup"},
		{"GET", "/apis/external.metrics.k8s.io/v1beta1", tok, 200, "APIResourceList"},
		{"GET", "/api", tok, 200, "APIVersions"},
		{"GET", "/openapi/v2", tok, 404, "Status"},
		{"GET", "/nothing", tok, 404, "Status"},
		{"GET", "/nothing", "", 401, "Status"},
		{"GET", nsPath + "default", tok, 404, "Status"},
		{"GET", nsPath + "default/http_requests/extra", tok, 404, "Status"},
		{"GET", nsPath + "/http_requests", tok, 200, "ExternalMetricValueList"},
		{"POST", listPath, tok, 405, "Status"},
		{"DELETE", "/apis", tok, 405, "Status"},
		{"HEAD", listPath, tok, 200, ""},
		{"GET", "/metrics", "", 401, "Status"},
	} {
		r := do(t, s, tc.method, tc.path, tc.token, "")
		if r.code != tc.code {
			t.Errorf("%s %s: %d %s, want %d", tc.method, tc.path, r.code, r.body, tc.code)
			continue
		}
		switch tc.kind {
		case "Status":
			r.status(t)
			if tc.code == 405 && r.header.Get("Allow") == "" {
				t.Errorf("%s %s: 405 without Allow", tc.method, tc.path)
			}
			if tc.code == 401 && r.header.Get("Www-Authenticate") == "" {
				t.Errorf("%s %s: 401 without WWW-Authenticate", tc.method, tc.path)
			}
		case "text":
			if string(r.body) != "ok" {
				t.Errorf("%s: %q", tc.path, r.body)
			}
		case "":
		default:
			if !strings.Contains(string(r.body), `"kind":"`+tc.kind+`"`) {
				t.Errorf("%s %s: %s, want kind %s", tc.method, tc.path, r.body, tc.kind)
			}
		}
	}
}

func TestMetricsEndpoint(t *testing.T) {
	s := devservertest.New(t, devserver.Config{Scenario: testScenario()})
	for range 3 {
		do(t, s, "GET", listPath, devservertest.Token, "")
	}
	do(t, s, "GET", nsPath+"default/none", devservertest.Token, "")
	r := do(t, s, "GET", "/metrics", devservertest.Token, "")
	body := string(r.body)
	for _, want := range []string{
		`extmetrics_devserver_requests_total{code="200",kind="list"} 3`,
		`extmetrics_devserver_requests_total{code="404",kind="list"} 1`,
		`extmetrics_devserver_request_duration_seconds_bucket{kind="list",le="+Inf"} 4`,
		"process_resident_memory_bytes ",
		"go_goroutines ",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

// TestTokensNotLogged runs requests with debug logging and checks no token
// reaches the logs.
func TestTokensNotLogged(t *testing.T) {
	var logs testutil.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	const secret, admin = "s3cr3t-reader-token", "s3cr3t-admin-token"
	s := devservertest.New(t, devserver.Config{Scenario: testScenario(), Logger: log, AdminToken: admin,
		Tokens: map[string][]string{secret: {"default"}}})
	do(t, s, "GET", listPath, secret, "")
	do(t, s, "GET", listPath, "wrong-"+secret, "")
	do(t, s, "GET", nsPath+"team-a/queue_depth", secret, "")
	do(t, s, "PUT", "/admin/v1/namespaces/default/metrics/m", admin, `{"value":1}`)
	do(t, s, "PUT", "/admin/v1/faults", admin, `{"latency":"1ms"}`)
	do(t, s, "PUT", "/admin/v1/faults", secret, `{"latency":"1ms"}`)
	out := logs.String()
	if strings.Contains(out, "s3cr3t") {
		t.Errorf("a token reached the logs:\n%s", out)
	}
	for _, want := range []string{`"who":"token#1"`, `"who":"admin-token"`, `"code":403`} {
		if !strings.Contains(out, want) {
			t.Errorf("logs lack %s:\n%s", want, out)
		}
	}
}

func TestTokensFile(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "tokens.yaml")
	os.WriteFile(good, []byte("ci-token: ['*']\nteam-a-token: [team-a, team-a-canary]\n"), 0o600)
	tokens, err := devserver.LoadTokensFile(good)
	if err != nil {
		t.Fatal(err)
	}
	if len(tokens) != 2 || len(tokens["team-a-token"]) != 2 {
		t.Errorf("tokens: %d", len(tokens))
	}
	for content, msg := range map[string]string{
		"secret-value: team-a\n":   "syntax or type error",
		"a: [b]\n  c: d\n":         "syntax or type error at line",
		"":                         "no tokens",
		"secret-value: []\n":       "no namespaces",
		"secret value: ['*']\n":    "space",
		"- secret-value\n":         "want a mapping",
		"secret-value: [a/b]\n":    "invalid namespace",
		"secret-value: [{x: y}]\n": "syntax or type error",
	} {
		p := filepath.Join(dir, "bad.yaml")
		os.WriteFile(p, []byte(content), 0o600)
		_, err := devserver.LoadTokensFile(p)
		if err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("%q: error %v, want %q", content, err, msg)
		}
		if err != nil && strings.Contains(err.Error(), "secret") {
			t.Errorf("%q: error shows the token: %v", content, err)
		}
	}
}
