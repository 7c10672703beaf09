package devserver_test

import (
	"crypto/tls"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/extmetrics/extmetrics/internal/certgen"
	"github.com/extmetrics/extmetrics/internal/testutil"
	"github.com/extmetrics/extmetrics/pkg/devserver"
	"github.com/extmetrics/extmetrics/pkg/devserver/devservertest"
)

func clientCertCN(t *testing.T, ca *certgen.Pair, cn string) tls.Certificate {
	t.Helper()
	return certgen.Must(t, certgen.Options{CommonName: cn, Client: true, Parent: ca}).TLSCertificate()
}

// writeCA writes ca's certificate to dir/name and returns the path.
func writeCA(t *testing.T, ca *certgen.Pair, name string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, ca.CertPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// asProxy sends a GET with an optional client certificate, bearer token and
// X-Remote-* headers.
func asProxy(t *testing.T, s *devserver.Server, cert *tls.Certificate, token, user string, groups ...string) (int, string) {
	t.Helper()
	cfg := &tls.Config{RootCAs: s.CAPool()}
	if cert != nil {
		cfg.Certificates = []tls.Certificate{*cert}
	}
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}, Timeout: 30 * time.Second}
	defer c.CloseIdleConnections()
	return asProxyPath(t, c, s.URL()+nsPath+"team-a/queue_depth", token, user, groups...)
}

func asProxyPath(t *testing.T, c *http.Client, url, token, user string, groups ...string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, http.NoBody)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if user != "" {
		req.Header.Set("X-Remote-User", user)
	}
	for _, g := range groups {
		req.Header.Add("X-Remote-Group", g)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestRequestHeaderAuth: the identity in X-Remote-User/X-Remote-Group is
// trusted only from a verified front-proxy certificate with an allowed
// name; it is logged and its user/group rules decide the namespaces.
func TestRequestHeaderAuth(t *testing.T) {
	proxyCA := makeCA(t)
	caFile := writeCA(t, proxyCA, "front-proxy-ca.pem")
	logs := &testutil.Buffer{}
	s := devservertest.New(t, devserver.Config{
		Scenario: testScenario(),
		Tokens: map[string][]string{
			"ci-token":           {"*"},
			"user:alice":         {"team-a"},
			"group:team-b-users": {"team-b"},
		},
		RequestHeader: devserver.RequestHeaderConfig{ClientCAFile: caFile, AllowedNames: []string{"front-proxy-client"}},
		Logger:        slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if got := s.Authentication(); !strings.Contains(got, "front-proxy request headers X-Remote-User (certificate front-proxy-client)") || !strings.Contains(got, "bearer tokens (1)") {
		t.Errorf("Authentication() = %q", got)
	}
	proxy := clientCertCN(t, proxyCA, "front-proxy-client")

	// The front proxy vouches for alice: her rule allows team-a.
	if code, body := asProxy(t, s, &proxy, "", "alice"); code != 200 {
		t.Errorf("alice via the front proxy: %d %s", code, body)
	}
	if !strings.Contains(logs.String(), "who=alice") {
		t.Errorf("log without who=alice:\n%s", logs)
	}
	// bob has no rule of his own; his group has one for team-b only.
	if code, body := asProxy(t, s, &proxy, "", "bob", "team-b-users", "system:authenticated"); code != 403 || !strings.Contains(body, `User \"bob\" cannot list resource`) {
		t.Errorf("bob in team-a: %d %s", code, body)
	}
	// The front proxy without a user: not authenticated.
	if code, _ := asProxy(t, s, &proxy, "", ""); code != 401 {
		t.Errorf("front proxy without X-Remote-User: %d, want 401", code)
	}
	// Headers from anyone else are ignored: no certificate, a certificate
	// of another CA, or of the right CA with a name not allowed.
	forged := clientCertCN(t, makeCA(t), "front-proxy-client")
	wrongName := clientCertCN(t, proxyCA, "someone-else")
	for name, cert := range map[string]*tls.Certificate{"no certificate": nil, "another CA": &forged, "name not allowed": &wrongName} {
		if code, _ := asProxy(t, s, cert, "", "alice"); code != 401 {
			t.Errorf("%s claiming alice: %d, want 401", name, code)
		}
		// A token still works, as itself, not as the claimed user.
		if code, _ := asProxy(t, s, cert, "ci-token", "mallory"); code != 200 {
			t.Errorf("%s with a token: %d, want 200", name, code)
		}
	}
	if strings.Contains(logs.String(), "who=mallory") {
		t.Errorf("a header from an untrusted client became the identity:\n%s", logs)
	}
	// "user:alice" is a rule, never a bearer token.
	if code, _ := asProxy(t, s, nil, "user:alice", ""); code != 401 {
		t.Errorf("the rule key as a bearer token: %d, want 401", code)
	}
}

// TestRequestHeaderWithoutRules: with no user or group rule the front
// proxy's users may read every namespace (kube-apiserver's RBAC decided),
// and, with no tokens either, nobody else may read anything.
func TestRequestHeaderWithoutRules(t *testing.T) {
	proxyCA := makeCA(t)
	caFile := writeCA(t, proxyCA, "front-proxy-ca.pem")
	s := devservertest.New(t, devserver.Config{
		Scenario:      testScenario(),
		Tokens:        map[string][]string{},
		ClientCAFile:  caFile, // as behind kube-apiserver: the front-proxy CA for both
		RequestHeader: devserver.RequestHeaderConfig{ClientCAFile: caFile},
	})
	proxy := clientCertCN(t, proxyCA, "front-proxy-client")
	if code, body := asProxy(t, s, &proxy, "", "system:serviceaccount:flagger:flagger"); code != 200 {
		t.Errorf("via the front proxy: %d %s", code, body)
	}
	if code, _ := asProxy(t, s, &proxy, "", ""); code != 401 {
		t.Errorf("front-proxy certificate without a user: %d, want 401", code)
	}
}

// TestClientCertIdentity: with only --client-ca the certificate's common
// name is the identity (logged), and user rules apply to it.
func TestClientCertIdentity(t *testing.T) {
	ca := makeCA(t)
	caFile := writeCA(t, ca, "client-ca.pem")
	logs := &testutil.Buffer{}
	s := devservertest.New(t, devserver.Config{
		Scenario:     testScenario(),
		Tokens:       map[string][]string{"user:ci-runner": {"team-a"}},
		ClientCAFile: caFile,
		Logger:       slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	runner := clientCertCN(t, ca, "ci-runner")
	if code, body := asProxy(t, s, &runner, "", ""); code != 200 {
		t.Errorf("ci-runner: %d %s", code, body)
	}
	if !strings.Contains(logs.String(), "who=ci-runner") {
		t.Errorf("log without who=ci-runner:\n%s", logs)
	}
	other := clientCertCN(t, ca, "someone")
	if code, _ := asProxy(t, s, &other, "", ""); code != 403 {
		t.Errorf("a certificate without a rule: %d, want 403", code)
	}
}
