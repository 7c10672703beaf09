package provider

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/rest"
)

// podConfig is what rest.InClusterConfig returns in a pod: the service
// account token file and the cluster CA.
func podConfig(t *testing.T, host string, caPEM []byte, saToken string) *rest.Config {
	t.Helper()
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte(saToken), 0o600); err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(dir, "ca.crt")
	if err := os.WriteFile(caFile, caPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return &rest.Config{
		Host:            host,
		BearerTokenFile: tokenFile,
		TLSClientConfig: rest.TLSClientConfig{CAFile: caFile},
	}
}

func mustQuery(t *testing.T, p *Provider, q string) *Result {
	t.Helper()
	res, err := p.Query(context.Background(), q)
	if err != nil {
		t.Fatalf("Query(%q): %v", q, err)
	}
	return res
}

func TestSecretTokenBeatsPodTokenFile(t *testing.T) {
	fs := newFakeServer(t, nil)
	base := podConfig(t, fs.URL, fs.caPEM(), "service-account-token")

	// Control: without a secret token client-go sends the SA token.
	p, err := New(base, Spec{}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	mustQuery(t, p, "default/requests")
	if got := fs.lastAuth(); got != "Bearer service-account-token" {
		t.Fatalf("control: server saw %q", got)
	}

	// The defect: the secret's token must win over BearerTokenFile.
	p, err = New(base, Spec{Address: fs.URL, SecretData: map[string][]byte{"token": []byte("secret-token\n")}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	mustQuery(t, p, "default/requests")
	if got := fs.lastAuth(); got != "Bearer secret-token" {
		t.Fatalf("server saw %q, want the secret token", got)
	}
	if base.BearerTokenFile == "" || base.BearerToken != "" {
		t.Fatal("New modified the base config")
	}
	if a := p.Info().Auth; !strings.Contains(a.String(), "secret") || a.Method != AuthToken || a.From.Origin != OriginSecret {
		t.Errorf("Info().Auth = %+v (%s)", a, a)
	}
}

func TestTokenFileOptionRereadAndLosesToSecret(t *testing.T) {
	fs := newFakeServer(t, nil)
	base := podConfig(t, fs.URL, fs.caPEM(), "service-account-token")
	tf := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tf, []byte("rotating-1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p, err := New(base, Spec{}, Options{TokenFile: tf})
	if err != nil {
		t.Fatal(err)
	}
	mustQuery(t, p, "requests")
	if got := fs.lastAuth(); got != "Bearer rotating-1" {
		t.Fatalf("server saw %q", got)
	}
	// Rotate: a new token (different size and mtime) is used on the next request.
	if err := os.WriteFile(tf, []byte("rotating-22\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	future := time.Now().Add(time.Minute)
	os.Chtimes(tf, future, future)
	mustQuery(t, p, "requests")
	if got := fs.lastAuth(); got != "Bearer rotating-22" {
		t.Fatalf("after rotation server saw %q", got)
	}

	// A secret token wins over the token file.
	p, err = New(base, Spec{SecretData: map[string][]byte{"token": []byte("secret-token")}}, Options{TokenFile: tf})
	if err != nil {
		t.Fatal(err)
	}
	mustQuery(t, p, "requests")
	if got := fs.lastAuth(); got != "Bearer secret-token" {
		t.Fatalf("server saw %q", got)
	}

	// An unreadable token file is an unauthorized error, not a crash.
	p, err = New(base, Spec{}, Options{TokenFile: tf})
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(tf)
	_, err = p.Query(context.Background(), "requests")
	if !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("err = %v, want ErrUnauthorized", err)
	}
}

func TestInsecureWithInheritedCA(t *testing.T) {
	fs := newFakeServer(t, nil)
	other := newCA(t, "some other cluster CA")
	base := podConfig(t, fs.URL, other.cert, "sa")
	base.CAData = other.cert // both CAFile and CAData, as some kubeconfigs have

	// Without insecure the inherited (wrong) CA fails verification.
	p, err := New(base, Spec{}, Options{MaxRetries: -1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Query(context.Background(), "requests"); !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "TLS") {
		t.Fatalf("err = %v, want a TLS ErrUnavailable", err)
	}

	// client-go refuses CA + insecure; ours drops the inherited CA.
	p, err = New(base, Spec{InsecureSkipVerify: true}, Options{})
	if err != nil {
		t.Fatalf("New with insecure and an inherited CA: %v", err)
	}
	mustQuery(t, p, "requests")
	if tl := p.Info().TLS; !strings.Contains(tl.String(), "insecure") || tl.Mode != TLSInsecure {
		t.Errorf("Info().TLS = %+v (%s)", tl, tl)
	}

	// Prove the premise: client-go itself refuses the combination.
	raw := rest.CopyConfig(base)
	raw.Insecure = true
	if _, err := rest.TransportFor(raw); err == nil {
		t.Log("note: client-go accepted CA + insecure; the fix is then harmless")
	}
}

func TestCustomCAMakesInsecureUnnecessary(t *testing.T) {
	fs := newFakeServer(t, nil)
	// No CA at all: the server's certificate is untrusted.
	p, err := New(nil, Spec{Address: fs.URL}, Options{MaxRetries: -1})
	if err != nil {
		t.Fatal(err)
	}
	_, err = p.Query(context.Background(), "requests")
	if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "ca.crt") {
		t.Fatalf("err = %v, want an untrusted-certificate ErrUnavailable with a hint", err)
	}
	// The secret's ca.crt verifies the server.
	p, err = New(nil, Spec{Address: fs.URL, SecretData: map[string][]byte{"ca.crt": fs.caPEM()}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	mustQuery(t, p, "requests")
	// Options.CAFile does the same.
	caFile := filepath.Join(t.TempDir(), "ca.crt")
	os.WriteFile(caFile, fs.caPEM(), 0o600)
	p, err = New(nil, Spec{Address: fs.URL}, Options{CAFile: caFile})
	if err != nil {
		t.Fatal(err)
	}
	mustQuery(t, p, "requests")
	if tl := p.Info().TLS; !strings.Contains(tl.String(), caFile) || tl.Mode != TLSVerify || tl.CAFile != caFile || tl.CA.Origin != OriginOptions {
		t.Errorf("Info().TLS = %+v (%s)", tl, tl)
	}
}

func TestExplicitCAWinsOverInsecure(t *testing.T) {
	fs := newFakeServer(t, nil)
	wrong := newCA(t, "wrong")
	p, err := New(nil, Spec{Address: fs.URL, InsecureSkipVerify: true, SecretData: map[string][]byte{"ca.crt": wrong.cert}}, Options{MaxRetries: -1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Query(context.Background(), "requests"); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("a given CA must keep verification on; err = %v", err)
	}
	if tl := p.Info().TLS; !strings.Contains(tl.String(), "ignored") || !tl.InsecureIgnored || tl.CA.Origin != OriginSecret {
		t.Errorf("Info().TLS = %+v (%s)", tl, tl)
	}
}

func TestClientCertificate(t *testing.T) {
	ca := newCA(t, "client CA")
	client := makeCert(t, "canary-bot", &ca, false)
	pool := x509.NewCertPool()
	pool.AddCert(ca.x509)
	var seenCN string
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if len(r.TLS.PeerCertificates) > 0 {
			seenCN = r.TLS.PeerCertificates[0].Subject.CommonName
		}
		valuesHandler(itemJSON("m", nil, "7", time.Now()))(w, r)
	}))
	srv.TLS = &tls.Config{ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert}
	srv.StartTLS()
	defer srv.Close()
	fsCA := pemOf(srv.Certificate())

	p, err := New(nil, Spec{Address: srv.URL, SecretData: map[string][]byte{"ca.crt": fsCA, "tls.crt": client.cert, "tls.key": client.key}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	res := mustQuery(t, p, "m")
	if res.Value != 7 || seenCN != "canary-bot" {
		t.Fatalf("value %v, client CN %q", res.Value, seenCN)
	}
	// The same through files.
	dir := t.TempDir()
	crt, key := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	os.WriteFile(crt, client.cert, 0o600)
	os.WriteFile(key, client.key, 0o600)
	p, err = New(nil, Spec{Address: srv.URL, SecretData: map[string][]byte{"ca.crt": fsCA}}, Options{ClientCert: crt, ClientKey: key})
	if err != nil {
		t.Fatal(err)
	}
	mustQuery(t, p, "m")
	// Without a client certificate the handshake fails: unavailable.
	p, _ = New(nil, Spec{Address: srv.URL, SecretData: map[string][]byte{"ca.crt": fsCA}}, Options{MaxRetries: -1})
	if _, err := p.Query(context.Background(), "m"); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("err = %v", err)
	}
}

func TestNewRejectsBadSpecs(t *testing.T) {
	ca := newCA(t, "x")
	for name, tc := range map[string]struct {
		base *rest.Config
		spec Spec
		opts Options
		want string
	}{
		"no server":       {spec: Spec{}, want: "no server"},
		"base sans host":  {base: &rest.Config{}, want: "no host"},
		"empty token":     {spec: Spec{Address: "https://x", SecretData: map[string][]byte{"token": []byte(" \n")}}, want: `"token" is empty`},
		"cert sans key":   {spec: Spec{Address: "https://x", SecretData: map[string][]byte{"tls.crt": ca.cert}}, want: "both"},
		"bad key pair":    {spec: Spec{Address: "https://x", SecretData: map[string][]byte{"tls.crt": ca.cert, "tls.key": []byte("nope")}}, want: "tls.crt/tls.key"},
		"empty ca":        {spec: Spec{Address: "https://x", SecretData: map[string][]byte{"ca.crt": nil}}, want: `"ca.crt" is empty`},
		"bad ca":          {spec: Spec{Address: "https://x", SecretData: map[string][]byte{"ca.crt": []byte("garbage")}}, want: "transport"},
		"missing ca file": {spec: Spec{Address: "https://x"}, opts: Options{CAFile: "/nonexistent/ca"}, want: "CA file"},
		"missing token":   {spec: Spec{Address: "https://x"}, opts: Options{TokenFile: "/nonexistent/t"}, want: "token file"},
		"key only":        {spec: Spec{Address: "https://x"}, opts: Options{ClientKey: "/k"}, want: "both"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := New(tc.base, tc.spec, tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tc.want)
			}
		})
	}
}

func pemOf(c *x509.Certificate) []byte {
	return pemEncode(c.Raw)
}
