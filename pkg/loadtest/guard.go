package loadtest

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
)

// Resolver looks up a host name; *net.Resolver satisfies it.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// NotLoopbackError reports a target the load tool refuses to load.
type NotLoopbackError struct {
	Host   string
	Addrs  []netip.Addr // what the host resolved to (empty when it did not resolve)
	Reason string
}

func (e *NotLoopbackError) Error() string {
	return fmt.Sprintf("refusing to send load to %q: %s; only loopback targets (127.0.0.0/8, ::1) are allowed", e.Host, e.Reason)
}

// checkLoopback resolves host (a name, an IPv4 address or an IPv6 address with
// or without brackets) and returns its addresses when every one of them is a
// loopback address. Anything else, including a name that does not resolve,
// is a *NotLoopbackError. A nil resolver means net.DefaultResolver.
func checkLoopback(ctx context.Context, r Resolver, host string) ([]netip.Addr, error) {
	h := strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if h == "" {
		return nil, &NotLoopbackError{Host: host, Reason: "the host is empty"}
	}
	if i := strings.IndexByte(h, '%'); i >= 0 { // zone, as in fe80::1%eth0
		h = h[:i]
	}
	if a, err := netip.ParseAddr(h); err == nil {
		if !isLoopback(a) {
			return nil, &NotLoopbackError{Host: host, Addrs: []netip.Addr{a}, Reason: a.String() + " is not a loopback address"}
		}
		return []netip.Addr{a.Unmap()}, nil
	}
	if r == nil {
		r = net.DefaultResolver
	}
	addrs, err := r.LookupNetIP(ctx, "ip", h)
	if err != nil {
		return nil, &NotLoopbackError{Host: host, Reason: "it does not resolve (" + err.Error() + ")"}
	}
	if len(addrs) == 0 {
		return nil, &NotLoopbackError{Host: host, Reason: "it resolves to no address"}
	}
	out := make([]netip.Addr, 0, len(addrs))
	for _, a := range addrs {
		if !isLoopback(a) {
			return nil, &NotLoopbackError{Host: host, Addrs: addrs, Reason: "it resolves to " + a.String() + ", which is not a loopback address"}
		}
		out = append(out, a.Unmap())
	}
	return out, nil
}

func isLoopback(a netip.Addr) bool {
	a = a.Unmap()
	if a.Is4() {
		return a.As4()[0] == 127
	}
	return a == netip.IPv6Loopback()
}

// loopbackDialer dials only loopback addresses: it resolves and checks the
// host at every dial, so a name cannot be re-pointed elsewhere mid-run.
type loopbackDialer struct {
	resolver Resolver
	dialer   net.Dialer
}

func (d *loopbackDialer) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(address)
	if err != nil {
		return nil, err
	}
	addrs, err := checkLoopback(ctx, d.resolver, host)
	if err != nil {
		return nil, err
	}
	var firstErr error
	for _, a := range addrs {
		c, err := d.dialer.DialContext(ctx, network, net.JoinHostPort(a.String(), port))
		if err == nil {
			return c, nil
		}
		if firstErr == nil {
			firstErr = err
		}
	}
	return nil, firstErr
}
