package provider

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/client-go/rest"
)

// The one connection rule, case by case (ConnInfo says what was used).
func TestConnectionRule(t *testing.T) {
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte("file-token"), 0o600); err != nil {
		t.Fatal(err)
	}
	base := &rest.Config{Host: "https://cluster.example:6443", BearerToken: "kube-token"}
	conn := Connection{
		Base:    func() (*rest.Config, error) { return base, nil },
		Options: Options{TokenFile: tokenFile},
	}
	build := conn.Factory()

	// With an address: only the Secret's data; no base token, no token file.
	p, err := build(Spec{Address: "https://metrics.example"})
	if err != nil {
		t.Fatal(err)
	}
	if info := p.Info(); info.Server != "https://metrics.example" || info.Auth.Method != AuthNone {
		t.Errorf("address without secret: %+v", info)
	}
	p, err = build(Spec{Address: "https://metrics.example", SecretData: map[string][]byte{SecretKeyToken: []byte("t")}})
	if err != nil {
		t.Fatal(err)
	}
	if info := p.Info(); info.Auth.Method != AuthToken || info.Auth.From.Origin != OriginSecret {
		t.Errorf("address with secret: %+v", info)
	}

	// Without an address: the base config's server, the options' token
	// file; the template's insecureSkipVerify is ignored.
	p, err = build(Spec{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	if info := p.Info(); info.Server != base.Host || info.Auth.Method != AuthTokenFile || info.TLS.Mode == TLSInsecure {
		t.Errorf("no address: %+v", info)
	}

	// Default (--server, --token, --insecure-skip-tls-verify): its token
	// unless the template's secret has one.
	conn.Default = Spec{Address: "https://own.example", InsecureSkipVerify: true, SecretData: map[string][]byte{SecretKeyToken: []byte("flag")}, TokenFrom: Source{Origin: OriginFlag, Name: "--token"}}
	conn.Options = Options{}
	build = conn.Factory()
	p, err = build(Spec{})
	if err != nil {
		t.Fatal(err)
	}
	if info := p.Info(); info.Server != "https://own.example" || info.Auth.From.Origin != OriginFlag || info.TLS.Mode != TLSInsecure {
		t.Errorf("default: %+v", info)
	}
	p, err = build(Spec{SecretData: map[string][]byte{SecretKeyToken: []byte("secret")}})
	if err != nil {
		t.Fatal(err)
	}
	if info := p.Info(); info.Auth.From.Origin != OriginSecret {
		t.Errorf("secret over default token: %+v", info)
	}

	// No base config and no address.
	if _, err := (Connection{}).Factory()(Spec{}); err == nil {
		t.Error("no server: no error")
	}
	// A failing base config is retried on the next call.
	calls := 0
	flaky := Connection{Base: func() (*rest.Config, error) {
		calls++
		if calls == 1 {
			return nil, errors.New("not yet")
		}
		return base, nil
	}}.Factory()
	if _, err := flaky(Spec{}); err == nil || !strings.Contains(err.Error(), "not yet") {
		t.Errorf("first: %v", err)
	}
	if _, err := flaky(Spec{}); err != nil {
		t.Errorf("second: %v", err)
	}
}

// Credentials over plain http:// to a host that is not loopback: refused
// without the opt-in, also after a build with the opt-in (the build cache
// must not serve one for the other), and allowed to loopback.
func TestPlainHTTPCredentials(t *testing.T) {
	spec := Spec{Address: "http://metrics.example:8080", SecretData: map[string][]byte{SecretKeyToken: []byte("t0ken")}}
	if _, err := New(nil, spec, Options{AllowCredentialsOverHTTP: true}); err != nil {
		t.Fatal(err)
	}
	_, err := New(nil, spec, Options{})
	var phe *PlainHTTPError
	if !errors.As(err, &phe) || !errors.Is(err, ErrPlainHTTPCredentials) || phe.Method != AuthToken || phe.Host != "metrics.example:8080" {
		t.Fatalf("got %v", err)
	}
	for _, host := range []string{"127.0.0.1:8080", "localhost:8080", "[::1]:8080"} {
		if _, err := New(nil, Spec{Address: "http://" + host, SecretData: spec.SecretData}, Options{}); err != nil {
			t.Errorf("%s: %v", host, err)
		}
	}
	// The base config's credentials too.
	if _, err := New(&rest.Config{Host: "http://cluster.example", Username: "u", Password: "p"}, Spec{}, Options{}); !errors.Is(err, ErrPlainHTTPCredentials) {
		t.Errorf("basic auth over http://: %v", err)
	}
}
