package provider

import (
	"context"
	"net/http/httptrace"
	"testing"
)

func TestPoolReusesTransportAndConnections(t *testing.T) {
	fs := newFakeServer(t, nil)
	spec := Spec{Address: fs.URL, SecretData: map[string][]byte{"token": []byte("tok-a"), "ca.crt": fs.caPEM()}}
	p1, err := New(nil, spec, Options{})
	if err != nil {
		t.Fatal(err)
	}
	mustQuery(t, p1, "requests")

	// Flagger's pattern: a new provider per check, same address and credentials.
	p2, err := New(nil, Spec{Address: fs.URL, SecretData: map[string][]byte{"token": []byte("tok-a"), "ca.crt": fs.caPEM()}}, Options{Timeout: 3e9})
	if err != nil {
		t.Fatal(err)
	}
	if p1.entry != p2.entry {
		t.Fatal("same address and credentials must share the pooled transport")
	}
	var reused, got bool
	ctx := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{
		GotConn: func(info httptrace.GotConnInfo) { got, reused = true, info.Reused },
	})
	if _, err := p2.Query(ctx, "requests"); err != nil {
		t.Fatal(err)
	}
	if !got || !reused {
		t.Fatalf("second provider's query: GotConn called %v, reused %v; want a reused connection", got, reused)
	}

	// A different token is a different identity: a different entry.
	p3, err := New(nil, Spec{Address: fs.URL, SecretData: map[string][]byte{"token": []byte("tok-b"), "ca.crt": fs.caPEM()}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if p3.entry == p1.entry {
		t.Fatal("a different token must not share the pooled entry")
	}
	mustQuery(t, p3, "requests")
	if got := fs.lastAuth(); got != "Bearer tok-b" {
		t.Fatalf("server saw %q", got)
	}
	// Different TLS settings: different entry too.
	p4, err := New(nil, Spec{Address: fs.URL, InsecureSkipVerify: true, SecretData: map[string][]byte{"token": []byte("tok-a")}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if p4.entry == p1.entry {
		t.Fatal("insecure and CA-verified must not share an entry")
	}
}

func TestPoolIsBounded(t *testing.T) {
	pool := newTransportPool(3)
	var first *transportEntry
	for i := 0; i < 10; i++ {
		r, err := buildConfig(nil, Spec{Address: "https://127.0.0.1:1", SecretData: map[string][]byte{"token": []byte("token-" + string(rune('a'+i)))}}, Options{})
		if err != nil {
			t.Fatal(err)
		}
		e, err := pool.get(r)
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			first = e
		}
	}
	if n := pool.len(); n != 3 {
		t.Fatalf("pool holds %d entries, want 3", n)
	}
	r, _ := buildConfig(nil, Spec{Address: "https://127.0.0.1:1", SecretData: map[string][]byte{"token": []byte("token-a")}}, Options{})
	if e, _ := pool.get(r); e == first {
		t.Fatal("the least recently used entry should have been evicted")
	}
}
