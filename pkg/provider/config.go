package provider

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
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

// buildConfig derives the rest.Config a provider uses. Precedence, highest
// first: Spec.SecretData, Options files, the base config. Its steps: the
// server, the token, the client certificate, the CA and TLS verification,
// then what is used (ConnInfo) and the plain-http rules.
func buildConfig(base *rest.Config, spec Spec, opts Options) (*resolved, error) {
	cfg, err := serverConfig(base, spec)
	if err != nil {
		return nil, err
	}
	res := &resolved{cfg: cfg}
	baseFrom := opts.Sources.Base
	if baseFrom.Origin == "" {
		baseFrom.Origin = OriginBase
	}
	auth, err := applyToken(res, spec, opts)
	if err != nil {
		return nil, err
	}
	cert, err := applyClientCert(cfg, spec, opts, baseFrom)
	if err != nil {
		return nil, err
	}
	tlsInfo, explicitCA, err := applyCA(cfg, spec, opts, baseFrom)
	if err != nil {
		return nil, err
	}

	u, _, err := rest.DefaultServerUrlFor(cfg)
	if err != nil {
		return nil, fmt.Errorf("server address %q: %v", cfg.Host, err)
	}
	u.RawQuery, u.Fragment = "", ""
	res.info.Server = strings.TrimRight(u.String(), "/")
	res.info.Auth = describeAuth(cfg, auth, baseFrom)
	res.info.ClientCert = cert
	if u.Scheme == "http" {
		if err := checkPlainHTTP(&res.info, u, explicitCA, tlsInfo.CAFile, opts); err != nil {
			return nil, err
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

// serverConfig starts from a copy of the base config (or an empty one when
// the spec has an address) and sets the server.
func serverConfig(base *rest.Config, spec Spec) (*rest.Config, error) {
	var cfg *rest.Config
	switch {
	case base != nil:
		cfg = rest.CopyConfig(base)
	case spec.Address != "":
		cfg = &rest.Config{}
	default:
		return nil, errors.New("no server: set the provider address or give a base config (kubeconfig or in-cluster)")
	}
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
	return cfg, nil
}

// orOptions labels a source the options gave without saying where from.
func orOptions(s Source) Source {
	if s.Origin == "" {
		s.Origin = OriginOptions
	}
	return s
}

// applyToken sets the token: the secret's, else the options' token file.
// A token replaces every other credential source of the base config: in a
// pod, client-go would otherwise keep sending the service account token
// from BearerTokenFile (Flagger's defect). nil: the base config's
// credentials stay.
func applyToken(res *resolved, spec Spec, opts Options) (*Auth, error) {
	cfg := res.cfg
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
		return &Auth{Method: AuthToken, From: from}, nil
	case opts.TokenFile != "":
		if _, err := os.Stat(opts.TokenFile); err != nil {
			return nil, fmt.Errorf("token file: %w", err)
		}
		clearTokenAuth(cfg)
		res.tokenFile = opts.TokenFile
		return &Auth{Method: AuthTokenFile, From: orOptions(opts.Sources.TokenFile), File: opts.TokenFile, Reread: true}, nil
	}
	return nil, nil
}

// applyClientCert sets the client certificate: the secret's, then the
// options' files, then the base config's (described only).
func applyClientCert(cfg *rest.Config, spec Spec, opts Options, baseFrom Source) (*ClientCert, error) {
	crt, hasCrt := spec.SecretData[SecretKeyClientCert]
	key, hasKey := spec.SecretData[SecretKeyClientKey]
	switch {
	case hasCrt || hasKey:
		if !hasCrt || !hasKey || len(bytes.TrimSpace(crt)) == 0 || len(bytes.TrimSpace(key)) == 0 {
			return nil, fmt.Errorf("secret must hold both %q and %q for a client certificate", SecretKeyClientCert, SecretKeyClientKey)
		}
		if _, err := tls.X509KeyPair(crt, key); err != nil {
			return nil, fmt.Errorf("secret %s/%s: %v", SecretKeyClientCert, SecretKeyClientKey, err)
		}
		cfg.CertData, cfg.KeyData, cfg.CertFile, cfg.KeyFile = crt, key, "", ""
		return &ClientCert{From: Source{Origin: OriginSecret}, Subject: certSubject(crt)}, nil
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
		return &ClientCert{From: orOptions(opts.Sources.ClientCert), File: opts.ClientCert, Subject: certSubject(c)}, nil
	case len(cfg.CertData) > 0:
		return &ClientCert{From: baseFrom, Subject: certSubject(cfg.CertData)}, nil
	case cfg.CertFile != "":
		// client-go reads the file when it builds the transport; read it
		// here only to describe it.
		subject := ""
		if data, err := os.ReadFile(cfg.CertFile); err == nil {
			subject = certSubject(data)
		}
		return &ClientCert{From: baseFrom, Subject: subject}, nil
	}
	return nil, nil
}

// applyCA sets the CA: the secret's, then the options' file, then the
// base's. An explicitly given CA wins over insecureSkipVerify
// (verification stays on); an inherited one is dropped when
// insecureSkipVerify is set (client-go refuses CA + insecure).
func applyCA(cfg *rest.Config, spec Spec, opts Options, baseFrom Source) (info TLS, explicitCA bool, err error) {
	info = TLS{CA: baseFrom}
	if ca, ok := spec.SecretData[SecretKeyCA]; ok {
		if len(bytes.TrimSpace(ca)) == 0 {
			return info, false, fmt.Errorf("secret key %q is empty", SecretKeyCA)
		}
		cfg.CAData, cfg.CAFile = ca, ""
		explicitCA = true
		info.CA = Source{Origin: OriginSecret}
	} else if opts.CAFile != "" {
		ca, err := os.ReadFile(opts.CAFile)
		if err != nil {
			return info, false, fmt.Errorf("CA file: %w", err)
		}
		cfg.CAData, cfg.CAFile = ca, ""
		explicitCA = true
		info.CA, info.CAFile = orOptions(opts.Sources.CAFile), opts.CAFile
	}
	if explicitCA {
		cfg.Insecure = false
	} else if spec.InsecureSkipVerify {
		cfg.Insecure = true
		cfg.CAData, cfg.CAFile = nil, ""
	}
	return info, explicitCA, nil
}

// describeAuth says which credential is used, never the material itself.
func describeAuth(cfg *rest.Config, auth *Auth, baseFrom Source) Auth {
	switch {
	case auth != nil:
		return *auth
	case cfg.BearerTokenFile != "":
		return Auth{Method: AuthTokenFile, From: baseFrom, File: cfg.BearerTokenFile}
	case cfg.BearerToken != "":
		return Auth{Method: AuthToken, From: baseFrom}
	case cfg.ExecProvider != nil:
		return Auth{Method: AuthExec, From: baseFrom, Plugin: cfg.ExecProvider.Command}
	case cfg.AuthProvider != nil:
		return Auth{Method: AuthAuthProvider, From: baseFrom, Plugin: cfg.AuthProvider.Name}
	case cfg.Username != "":
		return Auth{Method: AuthBasic, From: baseFrom, User: cfg.Username}
	}
	return Auth{Method: AuthNone}
}

// checkPlainHTTP applies the rules of a plain http:// address: no CA (it
// would be ignored), and no credentials to a host that is not loopback
// unless Options.AllowCredentialsOverHTTP (then info.Warning says so).
func checkPlainHTTP(info *ConnInfo, u *url.URL, explicitCA bool, caFile string, opts Options) error {
	if explicitCA {
		where := "the secret's " + SecretKeyCA
		if caFile != "" {
			where = "CA file " + caFile
		}
		return fmt.Errorf("%s is given but the address %s is plain http://, so no TLS and no CA would be used: use https:// (or drop the CA)", where, info.Server)
	}
	if info.Auth.Method == AuthNone || info.Auth.Method == "" || isLoopback(u.Hostname()) {
		return nil
	}
	if !opts.AllowCredentialsOverHTTP {
		return &PlainHTTPError{Method: info.Auth.Method, Host: u.Host}
	}
	info.Warning = fmt.Sprintf("credentials (%s) are sent over plain http:// to %s, a host that is not loopback (%s is set): anyone on the path can read them; use https://", info.Auth.Method, u.Host, AllowCredentialsOverHTTPName)
	return nil
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
