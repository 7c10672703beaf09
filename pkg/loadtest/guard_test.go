package loadtest

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
)

type fakeResolver map[string][]string

func (f fakeResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	ips, ok := f[host]
	if !ok {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	var out []netip.Addr
	for _, s := range ips {
		out = append(out, netip.MustParseAddr(s))
	}
	return out, nil
}

func TestCheckLoopbackAccepts(t *testing.T) {
	ctx := context.Background()
	for _, host := range []string{"127.0.0.1", "127.5.6.7", "::1", "[::1]", "::ffff:127.0.0.1", "localhost"} {
		// localhost goes through the real resolver (/etc/hosts).
		addrs, err := checkLoopback(ctx, nil, host)
		if err != nil {
			t.Errorf("%s: refused: %v", host, err)
			continue
		}
		for _, a := range addrs {
			if !a.IsLoopback() {
				t.Errorf("%s: returned non-loopback %v", host, a)
			}
		}
	}
	if _, err := checkLoopback(ctx, fakeResolver{"bench.local": {"127.0.0.1", "::1"}}, "bench.local"); err != nil {
		t.Errorf("a name resolving only to loopback was refused: %v", err)
	}
}

func TestCheckLoopbackRefuses(t *testing.T) {
	ctx := context.Background()
	fake := fakeResolver{
		"example.com": {"93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"},
		"mixed.test":  {"127.0.0.1", "10.0.0.1"},
		"empty.test":  {},
	}
	for host, want := range map[string]string{
		"10.0.0.1":     "10.0.0.1 is not a loopback address",
		"0.0.0.0":      "0.0.0.0 is not a loopback address",
		"::":           "is not a loopback address",
		"[fe80::1%lo]": "is not a loopback address",
		"192.168.1.1":  "not a loopback",
		"example.com":  "resolves to 93.184.215.14, which is not a loopback address",
		"mixed.test":   "resolves to 10.0.0.1",
		"empty.test":   "resolves to no address",
		"nowhere.test": "does not resolve",
		"":             "empty",
	} {
		_, err := checkLoopback(ctx, fake, host)
		var nl *NotLoopbackError
		if !errors.As(err, &nl) {
			t.Errorf("%q: got %v, want a NotLoopbackError", host, err)
			continue
		}
		if !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "only loopback targets") {
			t.Errorf("%q: error %q does not say %q", host, err, want)
		}
	}
	// With the real resolver example.com is refused whether or not it resolves here.
	if _, err := checkLoopback(ctx, nil, "example.com"); err == nil {
		t.Error("example.com accepted")
	}
}

// rebinding answers loopback the first time and a public address afterwards.
type rebinding struct{ calls atomic.Int32 }

func (r *rebinding) LookupNetIP(context.Context, string, string) ([]netip.Addr, error) {
	if r.calls.Add(1) == 1 {
		return []netip.Addr{netip.MustParseAddr("127.0.0.1")}, nil
	}
	return []netip.Addr{netip.MustParseAddr("203.0.113.7")}, nil
}

func TestDialerChecksAtEveryDial(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	d := &loopbackDialer{resolver: &rebinding{}}
	c, err := d.DialContext(context.Background(), "tcp", net.JoinHostPort("rebind.test", port))
	if err != nil {
		t.Fatalf("first dial (loopback): %v", err)
	}
	c.Close()
	_, err = d.DialContext(context.Background(), "tcp", net.JoinHostPort("rebind.test", port))
	var nl *NotLoopbackError
	if !errors.As(err, &nl) {
		t.Fatalf("second dial (re-pointed to 203.0.113.7): got %v, want a refusal", err)
	}
}

func TestRunRefusesNonLoopbackBeforeSending(t *testing.T) {
	for _, u := range []string{"https://10.0.0.1:8443/apis", "https://example.com/apis", "http://192.0.2.1/"} {
		_, err := Run(context.Background(), Config{URLs: []string{u}, Duration: 1, Resolver: fakeResolver{"example.com": {"93.184.215.14"}}})
		var nl *NotLoopbackError
		if !errors.As(err, &nl) {
			t.Errorf("%s: got %v, want a NotLoopbackError", u, err)
		}
	}
}
