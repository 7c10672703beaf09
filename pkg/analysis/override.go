package analysis

import (
	"fmt"
	"net/url"
	"strings"
)

// AddressOverride replaces a MetricTemplate's spec.provider.address: From
// matches either the whole address (scheme://host:port, a trailing slash
// ignored) or, without a scheme, its host:port; To is the address used
// instead (without a scheme the template's scheme is kept). It lets one run
// templates that name a fixed address (examples name 127.0.0.1:8443)
// against a server elsewhere without editing YAML. The template's secret
// (token, CA) still applies: only give addresses you trust.
type AddressOverride struct {
	From, To string
}

// ParseAddressOverride reads "OLD=NEW", e.g. "127.0.0.1:8443=127.0.0.1:9443"
// or "https://metrics.example:443=https://127.0.0.1:9443".
func ParseAddressOverride(s string) (AddressOverride, error) {
	from, to, ok := strings.Cut(s, "=")
	from, to = strings.TrimSpace(from), strings.TrimSpace(to)
	if !ok || from == "" || to == "" {
		return AddressOverride{}, fmt.Errorf("%q: want OLD=NEW, e.g. 127.0.0.1:8443=127.0.0.1:9443", s)
	}
	for _, a := range []string{from, to} {
		if strings.Contains(a, "://") {
			u, err := url.Parse(a)
			if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
				return AddressOverride{}, fmt.Errorf("%q: %q is not an http(s)://host:port address", s, a)
			}
		} else if strings.ContainsAny(a, "/?#@ ") {
			return AddressOverride{}, fmt.Errorf("%q: %q is not a host:port", s, a)
		}
	}
	return AddressOverride{From: from, To: to}, nil
}

// apply returns the address after the first override that matches it.
func applyOverrides(address string, overrides []AddressOverride) string {
	if address == "" {
		return address
	}
	addr := strings.TrimRight(address, "/")
	u, err := url.Parse(addr)
	if err != nil {
		return address
	}
	for _, o := range overrides {
		from := strings.TrimRight(o.From, "/")
		hasScheme := strings.Contains(from, "://")
		if (hasScheme && strings.EqualFold(from, addr)) || (!hasScheme && strings.EqualFold(from, u.Host)) {
			if strings.Contains(o.To, "://") {
				return o.To
			}
			return u.Scheme + "://" + o.To
		}
	}
	return address
}
