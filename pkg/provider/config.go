package provider

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
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

// resolved is the outcome of applying a Spec and Options to a base config.
type resolved struct {
	cfg       *rest.Config
	tokenFile string // Options.TokenFile, served by our own per-request reader
	info      ConnInfo
}

// isLoopback reports whether host (no port) is localhost or a loopback IP.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
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
	baseFrom := opts.Sources.Base
	if baseFrom.Origin == "" {
		baseFrom.Origin = OriginBase
	}
	orOptions := func(s Source) Source {
		if s.Origin == "" {
			s.Origin = OriginOptions
		}
		return s
	}
	var auth *Auth // set when the secret or options give the credential

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
		from := spec.TokenFrom
		if from.Origin == "" {
			from.Origin = OriginSecret
		}
		auth = &Auth{Method: AuthToken, From: from}
	case opts.TokenFile != "":
		if _, err := os.Stat(opts.TokenFile); err != nil {
			return nil, fmt.Errorf("token file: %w", err)
		}
		clearTokenAuth(cfg)
		res.tokenFile = opts.TokenFile
		auth = &Auth{Method: AuthTokenFile, From: orOptions(opts.Sources.TokenFile), File: opts.TokenFile, Reread: true}
	}

	// Client certificate: secret, then files, then base.
	crt, hasCrt := spec.SecretData[SecretKeyClientCert]
	key, hasKey := spec.SecretData[SecretKeyClientKey]
	var cert *ClientCert
	switch {
	case hasCrt || hasKey:
		if !hasCrt || !hasKey || len(bytes.TrimSpace(crt)) == 0 || len(bytes.TrimSpace(key)) == 0 {
			return nil, fmt.Errorf("secret must hold both %q and %q for a client certificate", SecretKeyClientCert, SecretKeyClientKey)
		}
		if _, err := tls.X509KeyPair(crt, key); err != nil {
			return nil, fmt.Errorf("secret %s/%s: %v", SecretKeyClientCert, SecretKeyClientKey, err)
		}
		cfg.CertData, cfg.KeyData, cfg.CertFile, cfg.KeyFile = crt, key, "", ""
		cert = &ClientCert{From: Source{Origin: OriginSecret}, Subject: certSubject(crt)}
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
		cert = &ClientCert{From: orOptions(opts.Sources.ClientCert), File: opts.ClientCert, Subject: certSubject(c)}
	case len(cfg.CertData) > 0:
		cert = &ClientCert{From: baseFrom, Subject: certSubject(cfg.CertData)}
	case cfg.CertFile != "":
		// client-go reads the file when it builds the transport; read it
		// here only to describe it.
		subject := ""
		if data, err := os.ReadFile(cfg.CertFile); err == nil {
			subject = certSubject(data)
		}
		cert = &ClientCert{From: baseFrom, Subject: subject}
	}

	// CA: secret, then file, then base. An explicitly given CA wins over
	// insecureSkipVerify (verification stays on); an inherited one is dropped
	// when insecureSkipVerify is set (client-go refuses CA + insecure).
	explicitCA := false
	tlsInfo := TLS{CA: baseFrom}
	if ca, ok := spec.SecretData[SecretKeyCA]; ok {
		if len(bytes.TrimSpace(ca)) == 0 {
			return nil, fmt.Errorf("secret key %q is empty", SecretKeyCA)
		}
		cfg.CAData, cfg.CAFile = ca, ""
		explicitCA = true
		tlsInfo.CA = Source{Origin: OriginSecret}
	} else if opts.CAFile != "" {
		ca, err := os.ReadFile(opts.CAFile)
		if err != nil {
			return nil, fmt.Errorf("CA file: %w", err)
		}
		cfg.CAData, cfg.CAFile = ca, ""
		explicitCA = true
		tlsInfo.CA, tlsInfo.CAFile = orOptions(opts.Sources.CAFile), opts.CAFile
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
	case auth != nil:
		res.info.Auth = *auth
	case cfg.BearerTokenFile != "":
		res.info.Auth = Auth{Method: AuthTokenFile, From: baseFrom, File: cfg.BearerTokenFile}
	case cfg.BearerToken != "":
		res.info.Auth = Auth{Method: AuthToken, From: baseFrom}
	case cfg.ExecProvider != nil:
		res.info.Auth = Auth{Method: AuthExec, From: baseFrom, Plugin: cfg.ExecProvider.Command}
	case cfg.AuthProvider != nil:
		res.info.Auth = Auth{Method: AuthAuthProvider, From: baseFrom, Plugin: cfg.AuthProvider.Name}
	case cfg.Username != "":
		res.info.Auth = Auth{Method: AuthBasic, From: baseFrom, User: cfg.Username}
	default:
		res.info.Auth = Auth{Method: AuthNone}
	}
	res.info.ClientCert = cert
	if u.Scheme == "http" {
		if explicitCA {
			where := "the secret's " + SecretKeyCA
			if tlsInfo.CAFile != "" {
				where = "CA file " + tlsInfo.CAFile
			}
			return nil, fmt.Errorf("%s is given but the address %s is plain http://, so no TLS and no CA would be used: use https:// (or drop the CA)", where, res.info.Server)
		}
		if res.info.Auth.Method != AuthNone && res.info.Auth.Method != "" && !isLoopback(u.Hostname()) {
			if !opts.AllowCredentialsOverHTTP {
				return nil, &PlainHTTPError{Method: res.info.Auth.Method, Host: u.Host}
			}
			res.info.Warning = fmt.Sprintf("credentials (%s) are sent over plain http:// to %s, a host that is not loopback (%s is set): anyone on the path can read them; use https://", res.info.Auth.Method, u.Host, AllowCredentialsOverHTTPName)
		}
	}
	switch {
	case u.Scheme == "http":
		tlsInfo = TLS{Mode: TLSPlainHTTP}
	case cfg.Insecure:
		tlsInfo = TLS{Mode: TLSInsecure}
	case len(cfg.CAData) > 0 || cfg.CAFile != "":
		tlsInfo.Mode = TLSVerify
		tlsInfo.InsecureIgnored = explicitCA && spec.InsecureSkipVerify
	default:
		tlsInfo = TLS{Mode: TLSVerify, CA: Source{Origin: OriginSystem}}
	}
	res.info.TLS = tlsInfo
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
