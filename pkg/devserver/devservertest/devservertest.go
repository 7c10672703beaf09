// Package devservertest starts a real development External Metrics API
// server (package devserver) for a test: HTTPS on 127.0.0.1 with a fresh CA,
// a bearer token, and cleanup when the test ends. It also writes kubeconfig
// files and client-go rest.Configs that point at it, so tests can use kubectl,
// the k8s.io/metrics clientset or any client verifying TLS properly.
package devservertest

import (
	"bytes"
	"context"
	"crypto/tls"
	"net/http"
	"os"
	"os/exec"
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
	return WriteKubeconfigFor(t, s.URL(), s.CAPEM(), token)
}

// WriteKubeconfigFor writes a kubeconfig for any server (URL, CA PEM, token)
// in a temporary directory of t and returns its path.
func WriteKubeconfigFor(t testing.TB, server string, caPEM []byte, token string) string {
	t.Helper()
	cfg := clientcmdapi.NewConfig()
	cluster := clientcmdapi.NewCluster()
	cluster.Server = server
	cluster.CertificateAuthorityData = caPEM
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

// KubectlPath finds the real kubectl: $KUBECTL, else kubectl on the PATH.
// It skips the test when there is none.
func KubectlPath(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("KUBECTL"); p != "" {
		return p
	}
	p, err := exec.LookPath("kubectl")
	if err != nil {
		t.Skip("kubectl not found (set $KUBECTL or put it on the PATH)")
	}
	return p
}

// Kubectl runs the real kubectl with the kubeconfig, a private HOME and
// cache directory, and a 60 s limit; it returns stdout, stderr and the error.
func Kubectl(t testing.TB, kubeconfig string, args ...string) (string, string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	home := t.TempDir()
	args = append([]string{"--kubeconfig", kubeconfig, "--cache-dir", filepath.Join(home, "cache")}, args...)
	cmd := exec.CommandContext(ctx, KubectlPath(t), args...)
	cmd.Env = append(os.Environ(), "HOME="+home, "KUBECONFIG="+kubeconfig)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	return out.String(), errOut.String(), err
}
