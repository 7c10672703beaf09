// Package devservertest starts a real development External Metrics API
// server (package devserver) for a test: HTTPS on 127.0.0.1 with a fresh CA,
// a bearer token, and cleanup when the test ends. It also writes kubeconfig
// files and client-go rest.Configs that point at it, so tests can use kubectl,
// the k8s.io/metrics clientset or any client verifying TLS properly.
package devservertest

import (
	"context"
	"crypto/tls"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/extmetrics/extmetrics/pkg/devserver"
)

// Token is the bearer token New accepts (for every namespace) when the
// Config has no Tokens.
const Token = "test-token"

// New starts a server for t on 127.0.0.1:0 (HTTPS unless cfg.InsecureHTTP).
// cfg.Tokens nil becomes {Token: ["*"]}; pass an empty map for no auth. The
// server is closed when the test ends. Start errors fail the test.
func New(t testing.TB, cfg devserver.Config) *devserver.Server {
	t.Helper()
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	if cfg.Tokens == nil {
		cfg.Tokens = map[string][]string{Token: {devserver.AllNamespaces}}
	}
	s, err := devserver.Start(context.Background(), cfg)
	if err != nil {
		t.Fatalf("devservertest: start devserver: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("devservertest: close devserver: %v", err)
		}
	})
	return s
}

// RESTConfig is a client-go config for s with token (none when "") that
// verifies the server against its CA.
func RESTConfig(s *devserver.Server, token string) *rest.Config {
	return &rest.Config{
		Host:            s.URL(),
		BearerToken:     token,
		TLSClientConfig: rest.TLSClientConfig{CAData: s.CAPEM()},
		Timeout:         30 * time.Second,
		QPS:             -1, // no client-side rate limit
	}
}

// HTTPClient is an HTTP client that trusts s's CA (HTTP/2 when the server
// offers it). It sends no token: set the Authorization header yourself.
func HTTPClient(s *devserver.Server) *http.Client {
	tr := &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: s.CAPool(), MinVersion: tls.VersionTLS12},
		ForceAttemptHTTP2: true,
	}
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

// WriteKubeconfig writes a kubeconfig for s (its URL, CA and token) in a
// temporary directory of t and returns its path.
func WriteKubeconfig(t testing.TB, s *devserver.Server, token string) string {
	t.Helper()
	cfg := clientcmdapi.NewConfig()
	cluster := clientcmdapi.NewCluster()
	cluster.Server = s.URL()
	cluster.CertificateAuthorityData = s.CAPEM()
	cfg.Clusters["devserver"] = cluster
	user := clientcmdapi.NewAuthInfo()
	user.Token = token
	cfg.AuthInfos["devserver"] = user
	kctx := clientcmdapi.NewContext()
	kctx.Cluster = "devserver"
	kctx.AuthInfo = "devserver"
	kctx.Namespace = "default"
	cfg.Contexts["devserver"] = kctx
	cfg.CurrentContext = "devserver"
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatalf("devservertest: write kubeconfig: %v", err)
	}
	return path
}
