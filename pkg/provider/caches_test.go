package provider

import (
	"fmt"
	"testing"
)

func TestCachesBoundedAndSeparate(t *testing.T) {
	c := NewCaches(CacheLimits{Builds: 3, Transports: 2})
	tenant := NewCaches(CacheLimits{})
	spec := func(i int) Spec {
		return Spec{Address: fmt.Sprintf("https://tenant-%d.example:443", i), SecretData: map[string][]byte{SecretKeyToken: []byte("t")}}
	}
	for i := range 5 {
		if _, err := New(nil, spec(i), Options{Caches: c}); err != nil {
			t.Fatal(err)
		}
		builds, transports := c.Len()
		if builds > 3 || transports > 2 {
			t.Fatalf("after %d providers: %d builds, %d transports; limits 3 and 2", i+1, builds, transports)
		}
	}
	if b, tr := tenant.Len(); b != 0 || tr != 0 {
		t.Fatalf("a separate Caches was filled: %d, %d", b, tr)
	}
	// The same inputs share the transport (and so the connections).
	p1, _ := New(nil, spec(9), Options{Caches: tenant})
	p2, _ := New(nil, spec(9), Options{Caches: tenant})
	if p1.entry != p2.entry {
		t.Error("same inputs, different transports")
	}
	// Another Caches never shares it.
	p3, _ := New(nil, spec(9), Options{Caches: c})
	if p3.entry == p1.entry {
		t.Error("transport shared across Caches")
	}
	c.SetLimits(CacheLimits{Builds: 1, Transports: 1})
	if _, err := New(nil, spec(10), Options{Caches: c}); err != nil {
		t.Fatal(err)
	}
	if b, tr := c.Len(); b > 1 || tr > 1 {
		t.Errorf("after SetLimits(1, 1): %d builds, %d transports", b, tr)
	}
	if DefaultCaches() == nil || DefaultCaches() == c {
		t.Error("DefaultCaches")
	}
}
