// Package connflags holds the connection flags shared by every command that
// talks to an External Metrics API server: --server, --kubeconfig, --context,
// --token, --token-file, --ca-file, --client-cert, --client-key,
// --insecure-skip-tls-verify and --timeout, each with an EXTMETRICS_*
// environment default. BaseConfig loads the base rest.Config the way kubectl
// does (clientcmd loading rules: --kubeconfig, then KUBECONFIG, then
// ~/.kube/config, with --context; in-cluster in a pod); Spec and Options turn
// the rest into a provider.Spec (address, insecure, token as the Secret's
// token) and provider.Options (timeout, token/CA/client-certificate files).
// Tokens are never shown: not in help defaults, not in Describe, not in errors.
package connflags

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/extmetrics/extmetrics/pkg/provider"
)

// Environment variables that give the flags their defaults.
const (
	EnvServer     = "EXTMETRICS_SERVER"
	EnvKubeconfig = "EXTMETRICS_KUBECONFIG"
	EnvContext    = "EXTMETRICS_CONTEXT"
	EnvToken      = "EXTMETRICS_TOKEN"
	EnvTokenFile  = "EXTMETRICS_TOKEN_FILE"
	EnvCAFile     = "EXTMETRICS_CA_FILE"
	EnvClientCert = "EXTMETRICS_CLIENT_CERT"
	EnvClientKey  = "EXTMETRICS_CLIENT_KEY"
	EnvInsecure   = "EXTMETRICS_INSECURE_SKIP_TLS_VERIFY"
	EnvTimeout    = "EXTMETRICS_TIMEOUT"
)

// DefaultTimeout is the per-query timeout (retries included) when neither
// --timeout nor EXTMETRICS_TIMEOUT is given.
const DefaultTimeout = provider.DefaultTimeout

// Flags are the connection settings: --server, --kubeconfig, --context,
// --token, --token-file, --ca-file, --client-cert, --client-key,
// --insecure-skip-tls-verify, --timeout, with EXTMETRICS_* environment defaults.
type Flags struct {
	Server     string
	Kubeconfig string
	Context    string
	Token      string
	TokenFile  string
	CAFile     string
	ClientCert string
	ClientKey  string
	Insecure   bool
	Timeout    time.Duration
	// AllowCredentialsOverHTTP is --allow-credentials-over-http
	// (provider.Options.AllowCredentialsOverHTTP).
	AllowCredentialsOverHTTP bool
	// MultiItem is set by the command, not a connection flag: what a query
	// without aggregate= does when several items match (see provider.Options).
	MultiItem provider.MultiItem

	fs      *pflag.FlagSet
	fromEnv map[string]string // flag name -> environment variable that set its default
	envErr  error             // a malformed EXTMETRICS_* value
	// base says where BaseConfig found the base config (Origin "" before
	// BaseConfig ran, "none" when there was none).
	base provider.Source
}

// originNone marks "no base config" in Flags.base.
const originNone provider.Origin = "none"

// AddFlags registers the flags on fs (defaults from EXTMETRICS_* variables).
func (f *Flags) AddFlags(fs *pflag.FlagSet) {
	f.fs = fs
	f.fromEnv = map[string]string{}
	str := func(p *string, name, env, usage string) {
		def := os.Getenv(env)
		if def != "" {
			f.fromEnv[name] = env
		}
		fs.StringVar(p, name, def, usage+" (env "+env+")")
	}
	str(&f.Server, "server", EnvServer, "External Metrics API server URL; default: the kubeconfig's server (the kube-apiserver aggregation layer)")
	str(&f.Kubeconfig, "kubeconfig", EnvKubeconfig, "kubeconfig file; default: KUBECONFIG, then ~/.kube/config, then in-cluster")
	str(&f.Context, "context", EnvContext, "kubeconfig context to use")
	str(&f.Token, "token", EnvToken, "bearer token; wins over every token of the kubeconfig or pod")
	// Never show a token as a flag default in help output.
	fs.Lookup("token").DefValue = ""
	str(&f.TokenFile, "token-file", EnvTokenFile, "file holding the bearer token, re-read on every request (rotated tokens)")
	str(&f.CAFile, "ca-file", EnvCAFile, "PEM CA bundle to verify the server with")
	str(&f.ClientCert, "client-cert", EnvClientCert, "PEM client certificate for mutual TLS (with --client-key)")
	str(&f.ClientKey, "client-key", EnvClientKey, "PEM client key for mutual TLS (with --client-cert)")

	insecure := false
	if v := os.Getenv(EnvInsecure); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			f.envErr = errors.Join(f.envErr, fmt.Errorf("%s=%q: not a boolean (true/false)", EnvInsecure, v))
		} else {
			insecure = b
			f.fromEnv["insecure-skip-tls-verify"] = EnvInsecure
		}
	}
	fs.BoolVar(&f.Insecure, "insecure-skip-tls-verify", insecure,
		"do not verify the server certificate (ignored when --ca-file or a CA is given) (env "+EnvInsecure+")")

	fs.BoolVar(&f.AllowCredentialsOverHTTP, "allow-credentials-over-http", false,
		"send credentials over plain http:// to a host that is not loopback (refused otherwise: anyone on the path could read them)")

	timeout := DefaultTimeout
	if v := os.Getenv(EnvTimeout); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			f.envErr = errors.Join(f.envErr, fmt.Errorf("%s=%q: not a positive duration such as 5s or 1m", EnvTimeout, v))
		} else {
			timeout = d
			f.fromEnv["timeout"] = EnvTimeout
		}
	}
	fs.DurationVar(&f.Timeout, "timeout", timeout, "time budget per request, retries included (env "+EnvTimeout+")")
}

// Validate reports malformed EXTMETRICS_* values and inconsistent flags.
// Its errors are usage errors (bad configuration), never secret-bearing.
func (f *Flags) Validate() error {
	if f.envErr != nil {
		return f.envErr
	}
	if f.Timeout <= 0 {
		return fmt.Errorf("--timeout must be positive, got %s", f.Timeout)
	}
	if (f.ClientCert == "") != (f.ClientKey == "") {
		return errors.New("--client-cert and --client-key go together")
	}
	if f.Token != "" && f.TokenFile != "" {
		return errors.New("--token and --token-file are exclusive; give one")
	}
	if f.Server != "" && !strings.HasPrefix(f.Server, "https://") && !strings.HasPrefix(f.Server, "http://") {
		return fmt.Errorf("--server %q: want a URL such as https://127.0.0.1:8443", f.Server)
	}
	for _, p := range []struct{ flag, path string }{
		{"--token-file", f.TokenFile}, {"--ca-file", f.CAFile}, {"--client-cert", f.ClientCert}, {"--client-key", f.ClientKey},
	} {
		if p.path == "" {
			continue
		}
		if st, err := os.Stat(p.path); err != nil {
			return fmt.Errorf("%s: %v", p.flag, err)
		} else if st.IsDir() {
			return fmt.Errorf("%s: %s is a directory", p.flag, p.path)
		}
	}
	return nil
}

// LoadingRules are kubectl's: --kubeconfig (explicit path), else KUBECONFIG,
// else ~/.kube/config.
func (f *Flags) LoadingRules() *clientcmd.ClientConfigLoadingRules {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = f.Kubeconfig
	return rules
}

// ClientConfig is the deferred kubectl-style client config the flags select.
func (f *Flags) ClientConfig() clientcmd.ClientConfig {
	return clientcmd.NewNonInteractiveDeferredLoadingClientConfig(f.LoadingRules(),
		&clientcmd.ConfigOverrides{CurrentContext: f.Context})
}

// BaseConfig loads the base rest.Config like kubectl (kubeconfig, KUBECONFIG,
// context, in-cluster). It returns (nil, nil) when --server is set and no
// kubeconfig can be found, since the provider then needs none.
func (f *Flags) BaseConfig() (*rest.Config, error) {
	if err := f.Validate(); err != nil {
		return nil, err
	}
	cfg, err := f.ClientConfig().ClientConfig()
	switch {
	case err == nil && cfg != nil:
		f.base = f.baseSource()
		return cfg, nil
	case (err == nil || clientcmd.IsEmptyConfig(err)) && f.Server != "":
		f.base = provider.Source{Origin: originNone}
		return nil, nil
	case err == nil || clientcmd.IsEmptyConfig(err):
		return nil, errors.New("no server: give --server (or " + EnvServer + "), or a kubeconfig (--kubeconfig, KUBECONFIG, ~/.kube/config), or run in a pod")
	default:
		return nil, fmt.Errorf("kubeconfig: %v", err)
	}
}

// baseSource says where the loaded base config came from: a kubeconfig and
// context, or the pod's service account.
func (f *Flags) baseSource() provider.Source {
	raw, err := f.ClientConfig().RawConfig()
	if err != nil || len(raw.Contexts) == 0 {
		return provider.Source{Origin: provider.OriginInCluster}
	}
	ctx := f.Context
	if ctx == "" {
		ctx = raw.CurrentContext
	}
	files := f.LoadingRules().GetLoadingPrecedence()
	if f.Kubeconfig != "" {
		files = []string{f.Kubeconfig}
	}
	return provider.Source{Origin: provider.OriginKubeconfig, Path: strings.Join(files, string(os.PathListSeparator)), Name: ctx}
}

// Spec is the provider spec the flags describe (--server, --token,
// --insecure-skip-tls-verify). The token travels as the spec's token, labelled
// with its origin (TokenFrom: the flag or variable), not as a secret's.
func (f *Flags) Spec() provider.Spec {
	s := provider.Spec{Address: f.Server, InsecureSkipVerify: f.Insecure}
	if f.Token != "" {
		s.SecretData = map[string][]byte{provider.SecretKeyToken: []byte(f.Token)}
		s.TokenFrom = f.SourceOf("token")
	}
	return s
}

// Options are the provider options the flags describe (--timeout,
// --token-file, --ca-file, ...), with their origins (and the base config's,
// once BaseConfig ran) in Sources.
func (f *Flags) Options() provider.Options {
	o := provider.Options{
		Timeout:    f.Timeout,
		TokenFile:  f.TokenFile,
		CAFile:     f.CAFile,
		ClientCert: f.ClientCert,
		ClientKey:  f.ClientKey,
		MultiItem:  f.MultiItem,

		AllowCredentialsOverHTTP: f.AllowCredentialsOverHTTP,
	}
	if f.TokenFile != "" {
		o.Sources.TokenFile = f.SourceOf("token-file")
	}
	if f.CAFile != "" {
		o.Sources.CAFile = f.SourceOf("ca-file")
	}
	if f.ClientCert != "" {
		o.Sources.ClientCert = f.SourceOf("client-cert")
	}
	if f.base.Origin != "" && f.base.Origin != originNone {
		o.Sources.Base = f.base
	}
	return o
}

// NewProvider validates the flags, loads the base config and builds a provider.
func (f *Flags) NewProvider() (*provider.Provider, error) {
	base, err := f.BaseConfig()
	if err != nil {
		return nil, err
	}
	return provider.New(base, f.Spec(), f.Options())
}

// SourceOf says where a flag's value came from: provider.OriginFlag (Name
// "--name"), provider.OriginEnv (Name the variable), or provider.OriginOptions
// when it was set programmatically (or is unset).
func (f *Flags) SourceOf(name string) provider.Source {
	if f.fs != nil {
		if fl := f.fs.Lookup(name); fl != nil && fl.Changed {
			return provider.Source{Origin: provider.OriginFlag, Name: "--" + name}
		}
	}
	if env, ok := f.fromEnv[name]; ok {
		return provider.Source{Origin: provider.OriginEnv, Name: env}
	}
	return provider.Source{Origin: provider.OriginOptions}
}

// Source words SourceOf: "flag --name", "env VAR", or "" when the value was
// not set by a flag or variable.
func (f *Flags) Source(name string) string {
	if s := f.SourceOf(name); s.Origin != provider.OriginOptions {
		return s.String()
	}
	return ""
}

// Info is a secret-free account of the connection settings, for status
// output: where the base config came from and where the token, CA and client
// certificate come from.
type Info struct {
	Base       string `json:"base"`                 // "kubeconfig <files>, context \"x\"", "in-cluster service account", "none"
	Server     string `json:"serverSource"`         // "flag --server", "env EXTMETRICS_SERVER", "base config"
	Token      string `json:"tokenSource"`          // "flag --token", "env EXTMETRICS_TOKEN", "file /path (flag --token-file)", "base config"
	CA         string `json:"caSource"`             // "file /path (flag --ca-file)", "base config", "system roots"
	ClientCert string `json:"clientCert,omitempty"` // "file /path (flag --client-cert)"
	Insecure   bool   `json:"insecureSkipTLSVerify"`
}

// Describe describes the settings; call it after BaseConfig.
func (f *Flags) Describe() Info {
	d := Info{Insecure: f.Insecure}
	switch f.base.Origin {
	case "":
		d.Base = "not loaded"
	case originNone:
		d.Base = "none"
	default:
		d.Base = f.base.String()
	}
	d.Server = "base config"
	if src := f.Source("server"); src != "" {
		d.Server = src
	}
	// Where each setting came from, worded from SourceOf (the same
	// origins the provider's ConnInfo carries).
	origin := func(name string) string {
		if s := f.Source(name); s != "" {
			return s
		}
		return "set programmatically"
	}
	file := func(path, name string) string { return "file " + path + " (" + origin(name) + ")" }
	switch {
	case f.Token != "":
		d.Token = origin("token")
	case f.TokenFile != "":
		d.Token = file(f.TokenFile, "token-file")
	default:
		d.Token = "base config"
	}
	switch {
	case f.CAFile != "":
		d.CA = file(f.CAFile, "ca-file")
	default:
		d.CA = "base config or system roots"
	}
	if f.ClientCert != "" {
		d.ClientCert = file(f.ClientCert, "client-cert")
	}
	return d
}
