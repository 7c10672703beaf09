// Package devserver is the `extmetrics devserver` command: it wires flags to
// package devserver, prints one line with the server's URL and CA file once
// it listens (so scripts can wait for it), reloads the scenario on SIGHUP and
// stops on SIGINT/SIGTERM (the command's context).
package devserver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/extmetrics/extmetrics/pkg/cmd/cmdutil"
	"github.com/extmetrics/extmetrics/pkg/devserver"
	"github.com/extmetrics/extmetrics/pkg/scenario"
)

// options are the command's flags.
type options struct {
	addr           string
	scenarioFile   string
	profile        string
	tokens         []string
	tokensFile     string
	adminToken     string
	writeCA        string
	tlsCert        string
	tlsKey         string
	clientCA       string
	requestHeader  devserver.RequestHeaderConfig
	insecureHTTP   bool
	logFormat      string
	logLevel       string
	seed           uint64
	reloadInterval time.Duration
	datadogMaxAge  time.Duration
}

// NewCommand returns the devserver command.
func NewCommand() *cobra.Command {
	o := &options{}
	cmd := &cobra.Command{
		Use:   "devserver",
		Short: "Run a development External Metrics API server (external.metrics.k8s.io/v1beta1)",
		Long: `Run a development Kubernetes External Metrics API server that serves the series
of a scenario file over HTTPS, imitating prometheus-adapter, the
custom-metrics-apiserver test adapter (cma) or the Datadog Cluster Agent.

Once listening it prints exactly one line to stdout:

  extmetrics devserver listening on https://127.0.0.1:8443 (profile prometheus-adapter, CA /tmp/.../ca.crt, authentication: bearer tokens (1))

The CA file verifies the generated certificate (give --write-ca to choose
where it goes). SIGHUP, or a change of the scenario file, reloads the
scenario; a bad file keeps the previous one. See docs/devserver.md.`,
		Example: `  extmetrics devserver --scenario examples/scenarios/demo.yaml --token s3cret --write-ca ca.crt
  kubectl get --raw /apis/external.metrics.k8s.io/v1beta1/namespaces/default/http_requests_per_second`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return run(cmd.Context(), o, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.addr, "addr", devserver.DefaultAddr, "address to listen on (host:port; port 0 picks a free port)")
	f.StringVar(&o.scenarioFile, "scenario", "", "scenario file (YAML, see docs/scenario.md); without it no series are served until the admin API adds some")
	f.StringVar(&o.profile, "profile", devserver.ProfilePrometheusAdapter, "server to imitate: "+strings.Join(devserver.Profiles, ", "))
	f.StringArrayVar(&o.tokens, "token", nil, "accept this bearer token for every namespace (repeatable); prefer --tokens-file, command lines are visible to other users")
	f.StringVar(&o.tokensFile, "tokens-file", "", "YAML file mapping each bearer token to the namespaces it may read ('*' for all)")
	f.StringVar(&o.adminToken, "admin-token", "", "token the admin API requires (default: any accepted token)")
	f.StringVar(&o.writeCA, "write-ca", "", "write the generated CA certificate (PEM) to this file (default: a temporary file, removed on exit)")
	f.StringVar(&o.tlsCert, "tls-cert", "", "serving certificate (PEM) instead of a generated one; needs --tls-key")
	f.StringVar(&o.tlsKey, "tls-key", "", "private key (PEM) of --tls-cert")
	f.StringVar(&o.clientCA, "client-ca", "", "require client certificates signed by this CA bundle (mTLS)")
	f.StringVar(&o.requestHeader.ClientCAFile, "requestheader-client-ca-file", "", "trust the user in the request headers of clients with a certificate of this CA (kube-apiserver's front-proxy CA): serving behind the aggregation layer")
	f.StringSliceVar(&o.requestHeader.AllowedNames, "requestheader-allowed-names", nil, "common names the front-proxy certificate may have (default: any the CA signed)")
	f.StringSliceVar(&o.requestHeader.UsernameHeaders, "requestheader-username-headers", devserver.DefaultUsernameHeaders, "request headers holding the user name")
	f.StringSliceVar(&o.requestHeader.GroupHeaders, "requestheader-group-headers", devserver.DefaultGroupHeaders, "request headers holding the groups")
	f.StringSliceVar(&o.requestHeader.ExtraHeaderPrefixes, "requestheader-extra-headers-prefix", devserver.DefaultExtraHeaderPrefixes, "prefixes of request headers with extra user information (accepted, not used)")
	f.BoolVar(&o.insecureHTTP, "insecure-http", false, "serve plain HTTP instead of HTTPS")
	f.StringVar(&o.logFormat, "log-format", "text", "log format on stderr: text or json")
	f.StringVar(&o.logLevel, "log-level", "info", "log level: debug (one line per request), info, warn or error")
	f.Uint64Var(&o.seed, "seed", 0, "seed of fault probabilities and jitter (0: random)")
	f.DurationVar(&o.reloadInterval, "reload-interval", devserver.DefaultReloadInterval, "how often to check the scenario file for changes (0 turns checking off; SIGHUP still reloads)")
	f.DurationVar(&o.datadogMaxAge, "datadog-max-age", devserver.DefaultDatadogMaxAge, "datadog profile: metrics older than this are stale (the Cluster Agent's external_metrics_provider.max_age)")
	return cmd
}

// config checks the flags and turns them into a devserver.Config. Errors
// are usage errors.
func (o *options) config(logger *slog.Logger) (devserver.Config, error) {
	cfg := devserver.Config{
		Addr:          o.addr,
		Profile:       o.profile,
		ScenarioFile:  o.scenarioFile,
		AdminToken:    o.adminToken,
		InsecureHTTP:  o.insecureHTTP,
		TLSCertFile:   o.tlsCert,
		TLSKeyFile:    o.tlsKey,
		ClientCAFile:  o.clientCA,
		RequestHeader: o.requestHeader,
		WriteCAFile:   o.writeCA,
		Logger:        logger,
		Seed:          o.seed,
		DatadogMaxAge: o.datadogMaxAge,
		// One server per process: give the scenario parse's garbage back
		// to the OS after start and reloads (see docs/performance.md).
		ReleaseMemory: true,
	}
	if o.reloadInterval < 0 {
		return cfg, fmt.Errorf("--reload-interval: must not be negative")
	}
	cfg.ReloadInterval = o.reloadInterval
	if o.reloadInterval == 0 {
		cfg.ReloadInterval = -1
	}
	if o.datadogMaxAge <= 0 {
		return cfg, fmt.Errorf("--datadog-max-age: must be positive")
	}
	if _, _, err := net.SplitHostPort(o.addr); err != nil {
		return cfg, fmt.Errorf("--addr %q: want host:port: %v", o.addr, err)
	}
	tokens := map[string][]string{}
	if o.tokensFile != "" {
		fromFile, err := devserver.LoadTokensFile(o.tokensFile)
		if err != nil {
			return cfg, fmt.Errorf("--tokens-file: %w", err)
		}
		tokens = fromFile
	}
	for i, tok := range o.tokens {
		if tok == "" || strings.ContainsAny(tok, " \t\r\n") {
			return cfg, fmt.Errorf("--token #%d: empty or contains white space", i+1)
		}
		tokens[tok] = []string{devserver.AllNamespaces}
	}
	cfg.Tokens = tokens
	// The library's rules (profile, TLS settings, no authentication only on
	// loopback), worded with the flags.
	if err := cfg.Validate(); err != nil {
		return cfg, flagErrors(err)
	}
	return cfg, nil
}

// configFlags are the flags that set each devserver.Config field.
var configFlags = map[string]string{
	"Profile":       "--profile",
	"Addr":          "--addr",
	"InsecureHTTP":  "--insecure-http",
	"TLSCertFile":   "--tls-cert/--tls-key",
	"WriteCAFile":   "--write-ca",
	"RequestHeader": "--requestheader-client-ca-file",
}

// flagErrors words devserver.Config.Validate's errors with the flags.
func flagErrors(err error) error {
	var out []error
	for _, e := range unjoin(err) {
		var ce *devserver.ConfigError
		switch {
		case errors.As(e, &ce) && errors.Is(ce, devserver.ErrUnauthenticatedNonLoopback):
			out = append(out, fmt.Errorf("--addr: %s; give --token, --tokens-file, --client-ca or --requestheader-client-ca-file", ce.Msg))
		case errors.As(e, &ce) && configFlags[ce.Field] != "":
			out = append(out, fmt.Errorf("%s: %s", configFlags[ce.Field], ce.Msg))
		default:
			out = append(out, e)
		}
	}
	return errors.Join(out...)
}

func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

func newLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level: %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lvl}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format: %q: want text or json", format)
}

func run(ctx context.Context, o *options, stdout, stderr io.Writer) error {
	if ctx == nil {
		ctx = context.Background()
	}
	logger, err := newLogger(stderr, o.logFormat, o.logLevel)
	if err != nil {
		return cmdutil.Usage(err)
	}
	cfg, err := o.config(logger)
	if err != nil {
		return cmdutil.Usage(err)
	}
	if cfg.ScenarioFile != "" {
		// Parse first, so a bad file is a usage error naming file:line.
		sc, err := scenario.LoadFile(cfg.ScenarioFile)
		if err != nil {
			return cmdutil.Usage(fmt.Errorf("--scenario: %w", err))
		}
		cfg.Scenario = sc // parsed once; the file is still watched and reloaded
	} else {
		logger.Info("no --scenario given: serving no series until the admin API adds some")
	}
	if !cfg.InsecureHTTP && cfg.TLSCertFile == "" && cfg.WriteCAFile == "" {
		dir, err := os.MkdirTemp("", "extmetrics-devserver-")
		if err != nil {
			return cmdutil.Failure(fmt.Errorf("temporary directory for the CA: %w", err))
		}
		defer os.RemoveAll(dir)
		cfg.WriteCAFile = filepath.Join(dir, "ca.crt")
	}

	// Catch SIGHUP before announcing the server: a script may send it as
	// soon as it reads the line.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	ctx, stop := context.WithCancel(ctx)
	defer stop()
	s, err := devserver.Start(ctx, cfg)
	if err != nil {
		return cmdutil.Usage(err)
	}
	cfg.Scenario = nil // the server's store has its own copy
	defer s.Close()

	security := "plain HTTP"
	switch {
	case s.CAFile() != "":
		security = "CA " + s.CAFile()
	case cfg.TLSCertFile != "":
		security = "certificate " + cfg.TLSCertFile
	}
	if _, err := fmt.Fprintf(stdout, "extmetrics devserver listening on %s (profile %s, %s, authentication: %s)\n", s.URL(), s.Profile(), security, s.Authentication()); err != nil {
		return cmdutil.Failure(err)
	}
	if len(cfg.Tokens) == 0 && cfg.ClientCAFile == "" && !cfg.RequestHeader.Enabled() {
		logger.Warn("no --token, --tokens-file, --client-ca or --requestheader-client-ca-file: every request is accepted without authentication")
	}

	for {
		select {
		case <-ctx.Done():
			logger.Info("devserver stopping")
			if err := s.Close(); err != nil {
				return cmdutil.Failure(err)
			}
			return nil
		case <-hup:
			if cfg.ScenarioFile == "" {
				logger.Warn("SIGHUP: no --scenario file to reload")
				continue
			}
			_ = s.ReloadFor("SIGHUP") // logs success or why it failed
		}
	}
}
