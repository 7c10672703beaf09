package analysis

import (
	"strings"
	"testing"
)

func TestAddressOverrides(t *testing.T) {
	var ov []AddressOverride
	for _, s := range []string{"127.0.0.1:8443=127.0.0.1:9443", "https://metrics.example/=https://127.0.0.1:7000"} {
		o, err := ParseAddressOverride(s)
		if err != nil {
			t.Fatal(err)
		}
		ov = append(ov, o)
	}
	for in, want := range map[string]string{
		"https://127.0.0.1:8443":  "https://127.0.0.1:9443",
		"https://127.0.0.1:8443/": "https://127.0.0.1:9443",
		"https://127.0.0.1:8444":  "https://127.0.0.1:8444",
		"https://metrics.example": "https://127.0.0.1:7000",
		"http://metrics.example":  "http://metrics.example",
		"":                        "",
	} {
		if got := applyOverrides(in, ov); got != want {
			t.Errorf("%q: got %q, want %q", in, got, want)
		}
	}
	for _, bad := range []string{"", "x", "=y", "a=", "ftp://x:1=y:2", "a/b=c:1"} {
		if _, err := ParseAddressOverride(bad); err == nil || !strings.Contains(err.Error(), "want OLD=NEW") && !strings.Contains(err.Error(), "is not") {
			t.Errorf("%q: %v", bad, err)
		}
	}
}
