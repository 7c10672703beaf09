package migrate

import (
	"strings"
	"testing"
)

func TestNamer(t *testing.T) {
	n := NewNamer()
	long := strings.Repeat("very-long-service-name-", 3) + "api"
	cases := []struct {
		canary, metric string
		want           string
		short          bool
	}{
		{"checkout", "error-rate", "checkout-error-rate", false},
		{"checkout", "error-rate", "checkout-error-rate", false}, // asked again: same name
		{"checkout", "404s percentage", "checkout-404s-percentage-", true},
		{"checkout", "Error-Rate", "checkout-error-rate-", true},
		{"a-b", "c", "a-b-c", false},
		{"a", "b-c", "a-b-c-", true}, // same plain name as a-b × c
		{long, "p99-latency", "very-long-service-name-very-long-service-name-very-lon-", true},
		{"web.v2", "latency", "web-v2-latency-", true},
		{"x", "---", "x-", true},
		{"-", "_", "m-", true},
	}
	seen := map[string]string{}
	for _, c := range cases {
		got, short, err := n.Name(c.canary, c.metric)
		if err != nil {
			t.Fatal(err)
		}
		if short != c.short || !strings.HasPrefix(got, c.want) || !IsValidName(got) {
			t.Errorf("Name(%q, %q) = %q, %v; want prefix %q, shortened %v, valid", c.canary, c.metric, got, short, c.want, c.short)
		}
		if short && len(got) != len(strings.TrimSuffix(c.want, "-"))+1+hashLen && len(got) != MaxNameLength {
			t.Errorf("Name(%q, %q) = %q: want the prefix and an %d-digit hash", c.canary, c.metric, got, hashLen)
		}
		key := c.canary + "/" + c.metric
		if other, ok := seen[got]; ok && other != key {
			t.Errorf("%q given to %s and %s", got, other, key)
		}
		seen[got] = key
	}
	// Stable across Namers: a hash, not a counter.
	a, _, _ := NewNamer().Name(long, "p99-latency")
	b, _, _ := n.Name(long, "p99-latency")
	if a != b || len(a) != MaxNameLength {
		t.Errorf("not stable or not 63 characters: %q vs %q", a, b)
	}
}

// FuzzNamer: every name is a valid DNS-1123 label, no two pairs share one,
// and the same pair always gets the same name.
func FuzzNamer(f *testing.F) {
	f.Add("checkout", "error-rate", "checkout-error", "rate")
	f.Add("a-b", "c", "a", "b-c")
	f.Add(strings.Repeat("x", 80), "m", strings.Repeat("x", 80), "n")
	f.Add("Ünïcode", "☃", "", "")
	f.Fuzz(func(t *testing.T, c1, m1, c2, m2 string) {
		n := NewNamer()
		pairs := [][2]string{{c1, m1}, {c2, m2}, {c1, m2}, {c2, m1}, {c1 + "-" + m1, m2}}
		names := map[string][2]string{}
		for _, p := range pairs {
			name, _, err := n.Name(p[0], p[1])
			if err != nil {
				t.Fatal(err)
			}
			if !IsValidName(name) {
				t.Fatalf("Name(%q, %q) = %q: not a DNS-1123 label", p[0], p[1], name)
			}
			if other, ok := names[name]; ok && other != p {
				t.Fatalf("%q given to %q and %q", name, other, p)
			}
			names[name] = p
			again, _, _ := n.Name(p[0], p[1])
			if again != name {
				t.Fatalf("Name(%q, %q) gave %q then %q", p[0], p[1], name, again)
			}
		}
	})
}
