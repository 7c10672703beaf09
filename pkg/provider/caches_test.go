package provider

import (
	"fmt"
	"testing"
)

func TestCachesBoundedAndSeparate(t *testing.T) {
	c := newCaches(3, 2)
	tenant := newCaches(buildCacheSize, transportCacheSize)
	spec := func(i int) Spec {
		return Spec{Address: fmt.Sprintf("https://tenant-%d.example:443", i), SecretData: map[string][]byte{SecretKeyToken: []byte("t")}}
	}
	for i := range 5 {
		if _, err := New(nil, spec(i), Options{caches: c}); err != nil {
			t.Fatal(err)
		}
		builds, transports := c.len()
		if builds > 3 || transports > 2 {
			t.Fatalf("after %d providers: %d builds, %d transports; limits 3 and 2", i+1, builds, transports)
		}
	}
	if b, tr := tenant.len(); b != 0 || tr != 0 {
		t.Fatalf("a separate Caches was filled: %d, %d", b, tr)
	}
	// The same inputs share the transport (and so the connections).
	p1, _ := New(nil, spec(9), Options{caches: tenant})
	p2, _ := New(nil, spec(9), Options{caches: tenant})
	if p1.entry != p2.entry {
		t.Error("same inputs, different transports")
	}
	// Another Caches never shares it.
	p3, _ := New(nil, spec(9), Options{caches: c})
	if p3.entry == p1.entry {
		t.Error("transport shared across Caches")
	}
	if defaultCaches == c || defaultCaches == tenant {
		t.Error("defaultCaches")
	}
}
