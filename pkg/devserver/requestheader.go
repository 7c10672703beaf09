package devserver

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"net/textproto"
	"slices"
	"strings"
)

// RequestHeaderConfig is front-proxy authentication, the way an aggregated
// API server trusts kube-apiserver: a request whose TLS client certificate
// is signed by ClientCAFile (and, when AllowedNames is set, has one of
// those common names) is made by the user named in its UsernameHeaders,
// with the groups of its GroupHeaders. The headers of any other request are
// ignored. The names are those of kube-apiserver's and
// custom-metrics-apiserver's --requestheader-* flags.
type RequestHeaderConfig struct {
	ClientCAFile        string   // --requestheader-client-ca-file; empty turns request-header authentication off
	AllowedNames        []string // --requestheader-allowed-names; empty allows any name the CA signed
	UsernameHeaders     []string // --requestheader-username-headers; default X-Remote-User
	GroupHeaders        []string // --requestheader-group-headers; default X-Remote-Group
	ExtraHeaderPrefixes []string // --requestheader-extra-headers-prefix; default X-Remote-Extra- (accepted, not used)
}

// Default request headers, those custom-metrics-apiserver uses.
var (
	DefaultUsernameHeaders     = []string{"X-Remote-User"}
	DefaultGroupHeaders        = []string{"X-Remote-Group"}
	DefaultExtraHeaderPrefixes = []string{"X-Remote-Extra-"}
)

// Enabled reports whether request-header authentication is on.
func (c RequestHeaderConfig) Enabled() bool { return c.ClientCAFile != "" }

// requestHeaderAuth verifies front-proxy certificates and reads identities
// from request headers.
type requestHeaderAuth struct {
	roots        *x509.CertPool
	allowedNames []string
	userHeaders  []string // canonical
	groupHeaders []string // canonical
}

func newRequestHeaderAuth(c RequestHeaderConfig) (*requestHeaderAuth, error) {
	canon := func(flag string, hs, def []string) ([]string, error) {
		if len(hs) == 0 {
			hs = def
		}
		out := make([]string, 0, len(hs))
		for _, h := range hs {
			h = strings.TrimSpace(h)
			if h == "" || strings.ContainsAny(h, " \t\r\n:") {
				return nil, fmt.Errorf("%s: invalid header name %q", flag, h)
			}
			out = append(out, textproto.CanonicalMIMEHeaderKey(h))
		}
		return out, nil
	}
	a := &requestHeaderAuth{}
	var err error
	for _, n := range c.AllowedNames {
		if n = strings.TrimSpace(n); n != "" {
			a.allowedNames = append(a.allowedNames, n)
		}
	}
	if a.userHeaders, err = canon("username headers", c.UsernameHeaders, DefaultUsernameHeaders); err != nil {
		return nil, err
	}
	if a.groupHeaders, err = canon("group headers", c.GroupHeaders, DefaultGroupHeaders); err != nil {
		return nil, err
	}
	if _, err = canon("extra headers prefix", c.ExtraHeaderPrefixes, DefaultExtraHeaderPrefixes); err != nil {
		return nil, err
	}
	if a.roots, err = loadCertPool(c.ClientCAFile); err != nil {
		return nil, fmt.Errorf("request-header client CA: %w", err)
	}
	return a, nil
}

var errNoFrontProxy = errors.New("no front-proxy certificate")

// authenticate returns the user and groups the front proxy vouches for.
// It returns errNoFrontProxy when the request has no verified front-proxy
// certificate (its headers are then not looked at), and an error when the
// certificate is the front proxy's but names no user.
func (a *requestHeaderAuth) authenticate(r *http.Request) (user string, groups []string, err error) {
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		return "", nil, errNoFrontProxy
	}
	leaf := r.TLS.PeerCertificates[0]
	inter := x509.NewCertPool()
	for _, c := range r.TLS.PeerCertificates[1:] {
		inter.AddCert(c)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{
		Roots:         a.roots,
		Intermediates: inter,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}); err != nil {
		return "", nil, errNoFrontProxy
	}
	if len(a.allowedNames) > 0 && !slices.Contains(a.allowedNames, leaf.Subject.CommonName) {
		return "", nil, errNoFrontProxy
	}
	for _, h := range a.userHeaders {
		if v := strings.TrimSpace(firstValue(r.Header[h])); v != "" {
			user = v
			break
		}
	}
	if user == "" {
		return "", nil, fmt.Errorf("front-proxy certificate %q without a user header", leaf.Subject.CommonName)
	}
	for _, h := range a.groupHeaders {
		for _, v := range r.Header[h] {
			if v = strings.TrimSpace(v); v != "" {
				groups = append(groups, v)
			}
		}
	}
	return user, groups, nil
}

func firstValue(vs []string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}
