package devserver

import (
	"errors"
	"fmt"
	"net"
	"strings"
)

// ErrUnauthenticatedNonLoopback is wrapped by Validate's error when a
// server without authentication would listen off loopback.
var ErrUnauthenticatedNonLoopback = errors.New("refusing to serve without authentication on a non-loopback address")

// ConfigError is one problem Validate found: the Config field and what is
// wrong with it. Error is the message alone; callers (the devserver command)
// word the field their own way, e.g. as the flag that sets it.
type ConfigError struct {
	Field string // the Config field, e.g. "Profile", "Addr", "TLSCertFile"
	Msg   string
	Err   error // a sentinel such as ErrUnauthenticatedNonLoopback, or nil
}

func (e *ConfigError) Error() string { return e.Msg }

// Unwrap returns the sentinel, if any.
func (e *ConfigError) Unwrap() error { return e.Err }

// Validate checks the configuration without touching files or the network;
// New and Start enforce it, so a library caller gets the same rules as the
// command. Empty fields mean their defaults. The rules:
//
//   - Profile is one of Profiles; Addr is host:port.
//   - TLS: certificate and key go together; plain HTTP takes no TLS
//     certificate, client CA or write-CA; WriteCAFile only with the generated
//     certificate.
//   - Authentication: a server that authenticates nobody — no Tokens, no
//     ClientCAFile and no RequestHeader (a client certificate or a front
//     proxy's identity is authentication; AdminToken only guards the admin
//     API) — listens on loopback only (127.0.0.0/8, ::1, "localhost").
//     Request-header authentication needs HTTPS.
//
// The error joins one *ConfigError per problem.
func (c Config) Validate() error {
	var errs []error
	add := func(field string, sentinel error, format string, a ...any) {
		errs = append(errs, &ConfigError{Field: field, Msg: fmt.Sprintf(format, a...), Err: sentinel})
	}
	if c.Profile != "" && !validProfile(c.Profile) {
		add("Profile", nil, "unknown profile %q (want one of %s)", c.Profile, strings.Join(Profiles, ", "))
	}
	addr := c.Addr
	if addr == "" {
		addr = DefaultAddr
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		add("Addr", nil, "address %q: %v", addr, err)
	}
	if c.InsecureHTTP && (c.TLSCertFile != "" || c.TLSKeyFile != "" || c.ClientCAFile != "" || c.WriteCAFile != "") {
		add("InsecureHTTP", nil, "plain HTTP cannot be combined with TLS certificate, client CA or write-CA settings")
	}
	if c.InsecureHTTP && c.RequestHeader.Enabled() {
		add("RequestHeader", nil, "request-header authentication needs HTTPS (the front proxy's client certificate)")
	}
	if (c.TLSCertFile == "") != (c.TLSKeyFile == "") {
		add("TLSCertFile", nil, "TLS certificate and key must be given together")
	}
	if !c.InsecureHTTP && c.WriteCAFile != "" && c.TLSCertFile != "" {
		add("WriteCAFile", nil, "write CA: the CA is only known for the generated certificate; with your own certificate give clients your own CA")
	}
	// Behind kube-apiserver no token arrives (it strips Authorization):
	// the front proxy's request headers authenticate there.
	authenticated := len(c.Tokens) > 0 || (c.ClientCAFile != "" && !c.InsecureHTTP) || (c.RequestHeader.Enabled() && !c.InsecureHTTP)
	if err == nil && !authenticated && !isLoopback(host) {
		add("Addr", ErrUnauthenticatedNonLoopback, "%s is not a loopback address: refusing to serve without authentication (give tokens, a client CA or a request-header client CA)", addr)
	}
	return errors.Join(errs...)
}

// isLoopback reports a loopback IP or "localhost".
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
