package provider

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/client-go/rest"
)

// ConnInfo is structured: where every setting came from, worded by String.

func TestConnInfoStructured(t *testing.T) {
	ca := newCA(t, "info CA")
	client := makeCert(t, "info-bot", &ca, false)
	dir := t.TempDir()
	crt, key, caFile, tokFile := filepath.Join(dir, "c.crt"), filepath.Join(dir, "c.key"), filepath.Join(dir, "ca.crt"), filepath.Join(dir, "tok")
	for p, b := range map[string][]byte{crt: client.cert, key: client.key, caFile: ca.cert, tokFile: []byte("t\n")} {
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	kube := Source{Origin: OriginKubeconfig, Path: "/home/u/.kube/config", Name: "dev"}
	flag := func(name string) Source { return Source{Origin: OriginFlag, Name: name} }

	for _, tc := range []struct {
		name     string
		base     *rest.Config
		spec     Spec
		opts     Options
		check    func(ConnInfo) bool
		identity string
		tls      string
	}{{
		name:     "secret token and CA",
		spec:     Spec{Address: "https://x:1", SecretData: map[string][]byte{SecretKeyToken: []byte("s"), SecretKeyCA: ca.cert}},
		check:    func(c ConnInfo) bool { return c.Auth.From.Origin == OriginSecret && c.TLS.CA.Origin == OriginSecret },
		identity: "bearer token (secret)",
		tls:      "verify with CA from secret ca.crt",
	}, {
		name:     "flag token is the flag's, not a secret's",
		spec:     Spec{Address: "https://x:1", SecretData: map[string][]byte{SecretKeyToken: []byte("s")}, TokenFrom: flag("--token")},
		check:    func(c ConnInfo) bool { return c.Auth.Method == AuthToken && c.Auth.From == flag("--token") },
		identity: "bearer token (flag --token)",
		tls:      "verify with system roots",
	}, {
		name: "labelled files",
		spec: Spec{Address: "https://x:1", InsecureSkipVerify: true},
		opts: Options{TokenFile: tokFile, CAFile: caFile, ClientCert: crt, ClientKey: key,
			Sources: Sources{TokenFile: Source{Origin: OriginEnv, Name: "EXTMETRICS_TOKEN_FILE"}, CAFile: flag("--ca-file"), ClientCert: flag("--client-cert")}},
		check: func(c ConnInfo) bool {
			return c.Auth.Method == AuthTokenFile && c.Auth.File == tokFile && c.Auth.Reread &&
				c.ClientCert != nil && c.ClientCert.Subject == "CN=info-bot" && c.ClientCert.File == crt &&
				c.TLS.CAFile == caFile && c.TLS.InsecureIgnored
		},
		identity: "bearer token file " + tokFile + " (env EXTMETRICS_TOKEN_FILE) (re-read per request) + client certificate (files " + crt + ", flag --client-cert)",
		tls:      "verify with CA from CA file " + caFile + " (flag --ca-file) (insecureSkipVerify ignored because a CA was given)",
	}, {
		name: "kubeconfig base",
		base: &rest.Config{Host: "https://k:6443", BearerToken: "b", TLSClientConfig: rest.TLSClientConfig{CAData: ca.cert, CertData: client.cert, KeyData: client.key}},
		opts: Options{Sources: Sources{Base: kube}},
		check: func(c ConnInfo) bool {
			return c.Auth.From == kube && c.ClientCert.From == kube && c.ClientCert.Subject == "CN=info-bot" && c.TLS.CA == kube
		},
		identity: `bearer token (kubeconfig /home/u/.kube/config, context "dev") + client certificate (kubeconfig /home/u/.kube/config, context "dev")`,
		tls:      `verify with CA from kubeconfig /home/u/.kube/config, context "dev"`,
	}, {
		name:     "base certificate file, unlabelled base",
		base:     &rest.Config{Host: "https://k:6443", TLSClientConfig: rest.TLSClientConfig{CertFile: crt, KeyFile: key, Insecure: true}},
		check:    func(c ConnInfo) bool { return c.Auth.Method == AuthNone && c.ClientCert.Subject == "CN=info-bot" },
		identity: "client certificate (base config)",
		tls:      "insecure: certificate verification disabled",
	}, {
		name:     "in-cluster token file",
		base:     &rest.Config{Host: "https://10.0.0.1:443", BearerTokenFile: tokFile},
		opts:     Options{Sources: Sources{Base: Source{Origin: OriginInCluster}}},
		check:    func(c ConnInfo) bool { return c.Auth.Method == AuthTokenFile && !c.Auth.Reread },
		identity: "bearer token file " + tokFile + " (in-cluster service account)",
		tls:      "verify with system roots",
	}, {
		name:     "plain http, anonymous",
		spec:     Spec{Address: "http://127.0.0.1:1"},
		check:    func(c ConnInfo) bool { return c.TLS.Mode == TLSPlainHTTP && c.ClientCert == nil },
		identity: "anonymous",
		tls:      "none (plain HTTP)",
	}} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := New(tc.base, tc.spec, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			c := p.Info()
			if !tc.check(c) {
				t.Errorf("fields: %#v", c)
			}
			if got := c.Identity(); got != tc.identity {
				t.Errorf("Identity() = %q\nwant         %q", got, tc.identity)
			}
			if got := c.TLS.String(); got != tc.tls {
				t.Errorf("TLS.String() = %q\nwant           %q", got, tc.tls)
			}
			if s := c.String(); !strings.Contains(s, tc.identity) || !strings.Contains(s, p.Server()) {
				t.Errorf("String() = %q", s)
			}
			b, err := json.Marshal(c)
			if err != nil || strings.Contains(string(b), `"s"`) || strings.Contains(string(b), "BEGIN") {
				t.Errorf("JSON %s (%v) holds secret material", b, err)
			}
		})
	}
}

// The build cache keys on the labels too: the same connection labelled
// differently is described differently.
func TestConnInfoLabelsNotCachedAcross(t *testing.T) {
	spec := Spec{Address: "https://cache-label:1", SecretData: map[string][]byte{SecretKeyToken: []byte("s")}}
	a, err := New(nil, spec, Options{})
	if err != nil {
		t.Fatal(err)
	}
	spec.TokenFrom = Source{Origin: OriginEnv, Name: "EXTMETRICS_TOKEN"}
	b, err := New(nil, spec, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if a.Info().Auth.From.Origin != OriginSecret || b.Info().Auth.From != spec.TokenFrom {
		t.Fatalf("labels: %+v / %+v", a.Info().Auth, b.Info().Auth)
	}
}
