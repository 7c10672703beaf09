package provider

import (
	"os"
	"path/filepath"
	"testing"

	"k8s.io/client-go/rest"
)

func TestBuildCache(t *testing.T) {
	base := &rest.Config{Host: "https://10.0.0.1:6443", BearerTokenFile: "/var/run/secrets/token", TLSClientConfig: rest.TLSClientConfig{CAData: newCA(t, "cluster").cert}}
	spec := Spec{Address: "https://127.0.0.1:1", InsecureSkipVerify: true, SecretData: map[string][]byte{"token": []byte("a")}}
	p1, err := New(base, spec, Options{})
	if err != nil {
		t.Fatal(err)
	}
	p2, _ := New(rest.CopyConfig(base), Spec{Address: spec.Address, InsecureSkipVerify: true, SecretData: map[string][]byte{"token": []byte("a"), "unrelated": []byte("x")}}, Options{Timeout: 1})
	if p1.entry != p2.entry || p1.info != p2.info {
		t.Fatal("equal inputs must share a build")
	}
	// Any input that matters changes the build.
	changes := []func(b *rest.Config, s *Spec, o *Options){
		func(b *rest.Config, s *Spec, o *Options) { s.SecretData = map[string][]byte{"token": []byte("b")} },
		func(b *rest.Config, s *Spec, o *Options) { s.Address = "https://127.0.0.1:2" },
		func(b *rest.Config, s *Spec, o *Options) { s.InsecureSkipVerify = false },
		func(b *rest.Config, s *Spec, o *Options) { b.Host = "https://10.0.0.2:6443"; s.Address = "" },
		func(b *rest.Config, s *Spec, o *Options) {
			s.SecretData = nil
			b.BearerTokenFile = ""
			b.BearerToken = "base-token"
		},
	}
	for i, change := range changes {
		b, s, o := rest.CopyConfig(base), spec, Options{}
		change(b, &s, &o)
		p, err := New(b, s, o)
		if err != nil {
			t.Fatalf("change %d: %v", i, err)
		}
		if p.entry == p1.entry {
			t.Errorf("change %d shares the first build's transport", i)
		}
	}
	// Files are read on every New: a changed CA file is noticed.
	dir := t.TempDir()
	ca := newCA(t, "one")
	caFile := filepath.Join(dir, "ca.crt")
	os.WriteFile(caFile, ca.cert, 0o600)
	p3, err := New(nil, Spec{Address: "https://127.0.0.1:1"}, Options{CAFile: caFile})
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(caFile, newCA(t, "two").cert, 0o600)
	p4, err := New(nil, Spec{Address: "https://127.0.0.1:1"}, Options{CAFile: caFile})
	if err != nil {
		t.Fatal(err)
	}
	if p3.entry == p4.entry {
		t.Fatal("a rewritten CA file must give a new transport")
	}
}
