package provider

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"strings"

	"k8s.io/client-go/rest"
)

// Secret data keys read from Spec.SecretData (a Flagger provider's secretRef).
const (
	SecretKeyToken      = "token"
	SecretKeyCA         = "ca.crt"
	SecretKeyClientCert = "tls.crt"
	SecretKeyClientKey  = "tls.key"
)

// ConnInfo says which server, identity and TLS settings a Provider uses. It
// never contains secret material, only where it came from.
type ConnInfo struct {
	Server string `json:"server"` // base URL, e.g. https://127.0.0.1:8443
	Auth   string `json:"auth"`   // e.g. "bearer token (secret)", "bearer token file /path (re-read per request)"
	TLS    string `json:"tls"`    // e.g. "verify with CA from secret ca.crt", "insecure: verification disabled"
}

// resolved is the outcome of applying a Spec and Options to a base config.
type resolved struct {
	cfg       *rest.Config
	tokenFile string // Options.TokenFile, served by our own per-request reader
	info      ConnInfo
}

// buildConfig derives the rest.Config a provider uses. Precedence, highest first:
// Spec.SecretData, Options files, the base config.
func buildConfig(base *rest.Config, spec Spec, opts Options) (*resolved, error) {
	var cfg *rest.Config
	switch {
	case base != nil:
		cfg = rest.CopyConfig(base)
	case spec.Address != "":
		cfg = &rest.Config{}
	default:
		return nil, errors.New("no server: set the provider address or give a base config (kubeconfig or in-cluster)")
	}
	res := &resolved{cfg: cfg}
	authFrom, tlsFrom := "base config", "base config"

	if spec.Address != "" {
		if cfg.Host != spec.Address {
			// The base's ServerName belonged to the base's server.
			cfg.ServerName = ""
		}
		cfg.Host = strings.TrimRight(spec.Address, "/")
	}
	if cfg.Host == "" {
		return nil, errors.New("no server: the base config has no host and no provider address is set")
	}

	// Credentials. A token replaces every other credential source of the base
	// config: in a pod, client-go would otherwise keep sending the service
	// account token from BearerTokenFile (Flagger's defect).
	secretToken, hasSecretToken := spec.SecretData[SecretKeyToken]
	switch {
	case hasSecretToken:
		tok := strings.TrimSpace(string(secretToken))
		if tok == "" {
			return nil, fmt.Errorf("secret key %q is empty", SecretKeyToken)
		}
		clearTokenAuth(cfg)
		cfg.BearerToken = tok
		authFrom = "secret"
	case opts.TokenFile != "":
		if _, err := os.Stat(opts.TokenFile); err != nil {
			return nil, fmt.Errorf("token file: %w", err)
		}
		clearTokenAuth(cfg)
		res.tokenFile = opts.TokenFile
		authFrom = "token file"
	}

	// Client certificate: secret, then files, then base.
	crt, hasCrt := spec.SecretData[SecretKeyClientCert]
	key, hasKey := spec.SecretData[SecretKeyClientKey]
	certFrom := ""
	switch {
	case hasCrt || hasKey:
		if !hasCrt || !hasKey || len(bytes.TrimSpace(crt)) == 0 || len(bytes.TrimSpace(key)) == 0 {
			return nil, fmt.Errorf("secret must hold both %q and %q for a client certificate", SecretKeyClientCert, SecretKeyClientKey)
		}
		if _, err := tls.X509KeyPair(crt, key); err != nil {
			return nil, fmt.Errorf("secret %s/%s: %v", SecretKeyClientCert, SecretKeyClientKey, err)
		}
		cfg.CertData, cfg.KeyData, cfg.CertFile, cfg.KeyFile = crt, key, "", ""
		certFrom = "secret tls.crt/tls.key"
	case opts.ClientCert != "" || opts.ClientKey != "":
		if opts.ClientCert == "" || opts.ClientKey == "" {
			return nil, errors.New("a client certificate needs both a certificate file and a key file")
		}
		c, err := os.ReadFile(opts.ClientCert)
		if err != nil {
			return nil, fmt.Errorf("client certificate: %w", err)
		}
		k, err := os.ReadFile(opts.ClientKey)
		if err != nil {
			return nil, fmt.Errorf("client key: %w", err)
		}
		if _, err := tls.X509KeyPair(c, k); err != nil {
			return nil, fmt.Errorf("client certificate %s / key %s: %v", opts.ClientCert, opts.ClientKey, err)
		}
		cfg.CertData, cfg.KeyData, cfg.CertFile, cfg.KeyFile = c, k, "", ""
		certFrom = "files " + opts.ClientCert
	case len(cfg.CertData) > 0 || cfg.CertFile != "":
		certFrom = "base config"
	}

	// CA: secret, then file, then base. An explicitly given CA wins over
	// insecureSkipVerify (verification stays on); an inherited one is dropped
	// when insecureSkipVerify is set (client-go refuses CA + insecure).
	explicitCA := false
	if ca, ok := spec.SecretData[SecretKeyCA]; ok {
		if len(bytes.TrimSpace(ca)) == 0 {
			return nil, fmt.Errorf("secret key %q is empty", SecretKeyCA)
		}
		cfg.CAData, cfg.CAFile = ca, ""
		explicitCA, tlsFrom = true, "secret ca.crt"
	} else if opts.CAFile != "" {
		ca, err := os.ReadFile(opts.CAFile)
		if err != nil {
			return nil, fmt.Errorf("CA file: %w", err)
		}
		cfg.CAData, cfg.CAFile = ca, ""
		explicitCA, tlsFrom = true, "CA file "+opts.CAFile
	}
	if explicitCA {
		cfg.Insecure = false
	} else if spec.InsecureSkipVerify {
		cfg.Insecure = true
		cfg.CAData, cfg.CAFile = nil, ""
	}

	u, _, err := rest.DefaultServerUrlFor(cfg)
	if err != nil {
		return nil, fmt.Errorf("server address %q: %v", cfg.Host, err)
	}
	u.RawQuery, u.Fragment = "", ""
	res.info.Server = strings.TrimRight(u.String(), "/")

	// Describe what we use, never the material itself.
	switch {
	case authFrom == "secret":
		res.info.Auth = "bearer token (secret)"
	case authFrom == "token file":
		res.info.Auth = "bearer token file " + opts.TokenFile + " (re-read per request)"
	case cfg.BearerToken != "" && cfg.BearerTokenFile != "":
		res.info.Auth = "bearer token file " + cfg.BearerTokenFile + " (base config)"
	case cfg.BearerTokenFile != "":
		res.info.Auth = "bearer token file " + cfg.BearerTokenFile + " (base config)"
	case cfg.BearerToken != "":
		res.info.Auth = "bearer token (base config)"
	case cfg.ExecProvider != nil:
		res.info.Auth = "exec plugin " + cfg.ExecProvider.Command + " (base config)"
	case cfg.AuthProvider != nil:
		res.info.Auth = "auth provider " + cfg.AuthProvider.Name + " (base config)"
	case cfg.Username != "":
		res.info.Auth = "basic auth as " + cfg.Username + " (base config)"
	}
	if certFrom != "" {
		if res.info.Auth != "" {
			res.info.Auth += " + "
		}
		res.info.Auth += "client certificate (" + certFrom + ")"
	}
	if res.info.Auth == "" {
		res.info.Auth = "anonymous"
	}
	switch {
	case u.Scheme == "http":
		res.info.TLS = "none (plain HTTP)"
	case cfg.Insecure:
		res.info.TLS = "insecure: certificate verification disabled"
	case len(cfg.CAData) > 0 || cfg.CAFile != "":
		res.info.TLS = "verify with CA from " + tlsFrom
		if explicitCA && spec.InsecureSkipVerify {
			res.info.TLS += " (insecureSkipVerify ignored because a CA was given)"
		}
	default:
		res.info.TLS = "verify with system roots"
	}
	return res, nil
}

// clearTokenAuth removes every credential of the base config that would
// compete with (or, in client-go, override) an explicit token.
func clearTokenAuth(cfg *rest.Config) {
	cfg.BearerToken = ""
	cfg.BearerTokenFile = ""
	cfg.Username, cfg.Password = "", ""
	cfg.ExecProvider = nil
	cfg.AuthProvider = nil
	cfg.AuthConfigPersister = nil
}
