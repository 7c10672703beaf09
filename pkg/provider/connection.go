package provider

import (
	"errors"
	"fmt"
	"maps"
	"sync"

	"k8s.io/client-go/rest"
)

// AllowCredentialsOverHTTPName is the name of the opt-in to send
// credentials over plain http:// to a host that is not loopback, as every
// surface spells it: the field allowCredentialsOverHTTP (gate --config,
// Argo plugin configuration) and the flag --allow-credentials-over-http.
const AllowCredentialsOverHTTPName = "allowCredentialsOverHTTP (--allow-credentials-over-http)"

// ErrPlainHTTPCredentials is wrapped by the error New returns when
// credentials would travel over plain http:// to a host that is not
// loopback without Options.AllowCredentialsOverHTTP.
var ErrPlainHTTPCredentials = errors.New("credentials over plain http://")

// PlainHTTPError is New's refusal to send credentials over plain http:// to
// a host that is not loopback. Its message is the same on every surface.
type PlainHTTPError struct {
	Method AuthMethod // the credential that would be sent
	Host   string     // host:port of the address
}

func (e *PlainHTTPError) Error() string {
	return fmt.Sprintf("refusing to send credentials (%s) over plain http:// to %s, a host that is not loopback: anyone on the path could read them; use https://, or opt in with %s",
		e.Method, e.Host, AllowCredentialsOverHTTPName)
}

// Unwrap makes errors.Is(err, ErrPlainHTTPCredentials) true.
func (e *PlainHTTPError) Unwrap() error { return ErrPlainHTTPCredentials }

// Connection is THE connection rule: which server and which credentials the
// provider of a spec (a MetricTemplate's spec.provider with its secretRef
// data, an Argo metric's configuration) uses. Every entry point builds its
// template providers with it: analyze and migrate --check (through
// analysis.Connection), the gate (Registry) and the Argo Rollouts plugin.
//
//   - A spec with an address is self-contained: the address, its
//     insecureSkipVerify and only the Secret's data (token, ca.crt,
//     tls.crt/tls.key). Neither the base config nor Default nor the
//     credential files of Options (TokenFile, ClientCert, ClientKey) are
//     used for it: no credential of the caller ever reaches an address a
//     template chose. Options.CAFile (trust, not a credential) still
//     verifies it when the Secret has no ca.crt.
//   - A spec without an address is the caller's own server: Default.Address
//     when set (e.g. --server), else the base config's server (the
//     cluster's aggregation layer), with the base config's credentials and
//     Options' files; the spec's Secret data (its token) wins over them,
//     then Default's token (e.g. --token). The spec's insecureSkipVerify is
//     ignored (a template does not turn off the verification of the
//     caller's own server); Default.InsecureSkipVerify applies.
//   - Everywhere: credentials over plain http:// to a host that is not
//     loopback are refused (*PlainHTTPError) unless
//     Options.AllowCredentialsOverHTTP is set.
//
// A Connection is a value; Factory returns the function that applies it.
type Connection struct {
	// Base loads the caller's base rest.Config (kubeconfig or in-cluster)
	// for specs without an address; nil means there is none. It is called
	// when first needed and until it succeeds.
	Base func() (*rest.Config, error)
	// Default is the caller's own connection for specs without an address:
	// Address, InsecureSkipVerify and SecretData["token"] (with TokenFrom).
	// Other fields are ignored.
	Default Spec
	// Options apply to every provider; their credential files only to
	// specs without an address.
	Options Options
}

// Factory returns a function building the provider of a spec by the rule.
// It is safe for concurrent use; the base config is loaded once.
func (c Connection) Factory() func(Spec) (*Provider, error) {
	var (
		mu     sync.Mutex
		loaded bool
		base   *rest.Config
	)
	loadBase := func() (*rest.Config, error) {
		mu.Lock()
		defer mu.Unlock()
		if loaded || c.Base == nil {
			return base, nil
		}
		b, err := c.Base()
		if err != nil {
			return nil, err
		}
		base, loaded = b, true
		return base, nil
	}
	return func(spec Spec) (*Provider, error) {
		b, spec, opts, err := c.apply(spec, loadBase)
		if err != nil {
			return nil, err
		}
		return New(b, spec, opts)
	}
}

// apply is the rule: the base config, spec and options New gets for spec.
func (c Connection) apply(spec Spec, loadBase func() (*rest.Config, error)) (*rest.Config, Spec, Options, error) {
	opts := c.Options
	if spec.Address != "" {
		// Self-contained: only the Secret's credentials. Options.CAFile,
		// a trust anchor and no credential, still verifies the server.
		opts.TokenFile, opts.ClientCert, opts.ClientKey = "", "", ""
		opts.Sources = Sources{CAFile: opts.Sources.CAFile}
		return nil, spec, opts, nil
	}
	base, err := loadBase()
	if err != nil {
		return nil, spec, opts, fmt.Errorf("no address, so the cluster's aggregation layer is used, and there is no cluster configuration: %w", err)
	}
	spec.Address = c.Default.Address
	spec.InsecureSkipVerify = c.Default.InsecureSkipVerify
	if tok, ok := c.Default.SecretData[SecretKeyToken]; ok {
		if _, has := spec.SecretData[SecretKeyToken]; !has {
			data := make(map[string][]byte, len(spec.SecretData)+1)
			maps.Copy(data, spec.SecretData)
			data[SecretKeyToken] = tok
			spec.SecretData = data
			spec.TokenFrom = c.Default.TokenFrom
		}
	}
	return base, spec, opts, nil
}
