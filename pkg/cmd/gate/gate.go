// Package gate is the `extmetrics gate` command: it wires flags to package
// gate (the HTTP service) and package gate/kubesource (informers), logs JSON
// with slog, and shuts down gracefully on SIGTERM, finishing checks in flight.
package gate

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/extmetrics/extmetrics/pkg/analysis"
	"github.com/extmetrics/extmetrics/pkg/cmd/cmdutil"
	"github.com/extmetrics/extmetrics/pkg/gate"
	"github.com/extmetrics/extmetrics/pkg/gate/kubeevents"
	"github.com/extmetrics/extmetrics/pkg/gate/kubesource"
	"github.com/extmetrics/extmetrics/pkg/provider"
)

type options struct {
	listen          string
	kubeconfig      string
	kubeContext     string
	noCluster       bool
	config          string
	namespaces      []string
	cacheTTL        time.Duration
	maxAge          string
	allowHTTPCreds  bool
	timeout         time.Duration
	authTokenFile   string
	tlsCert         string
	tlsKey          string
	clientCA        string
	logLevel        string
	shutdownTimeout time.Duration
	syncTimeout     time.Duration
	events          bool
}

// NewCommand returns the gate command.
func NewCommand() *cobra.Command {
	o := &options{}
	cmd := &cobra.Command{
		Use:   "gate",
		Short: "Serve metric checks to Flagger (webhook) and Argo Rollouts (web provider) in the cluster",
		Long: `Run the extmetrics gate: an HTTP service that Flagger's rollout webhooks and
Argo Rollouts' web metric provider call during a rollout. It reads
MetricTemplates, Canaries and Secrets through informers, runs the query with
the extmetrics provider (named providers of --config, or the template's own
address and secretRef), coalesces and caches identical checks, and answers a
verdict. Endpoints: POST /v1/check, POST /flagger/v1/check,
GET /argo/v1/value, /healthz, /readyz, /metrics. See docs/gate.md.

With a cluster it records each check as a Kubernetes Event on its Canary
(Flagger) or on the AnalysisRun an Argo request names (analysisRun=):
Normal for a pass, Warning for a fail or an error, at most one per check,
verdict and analysis interval (--events=false turns it off).

Without a cluster (no kubeconfig, not in a pod, or --no-cluster) it serves
the named providers of --config only, and says so in its first log line.`,
		Example: `  extmetrics gate --listen :8080 --config /etc/extmetrics/gate.yaml
  extmetrics gate --kubeconfig ~/.kube/config --namespaces shop,payments --cache-ttl 15s`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return run(cmd.Context(), o, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.listen, "listen", ":8080", "address to listen on (host:port)")
	f.StringVar(&o.kubeconfig, "kubeconfig", "", "kubeconfig file (default: in-cluster config in a pod, else KUBECONFIG or ~/.kube/config)")
	f.StringVar(&o.kubeContext, "context", "", "kubeconfig context")
	f.BoolVar(&o.noCluster, "no-cluster", false, "do not use a cluster: serve the named providers of --config only")
	f.StringVar(&o.config, "config", "", "YAML file of named providers (name, address, caFile, tokenFile, clientCertFile, clientKeyFile, insecureSkipVerify, timeout)")
	f.StringSliceVar(&o.namespaces, "namespaces", nil, "namespaces whose MetricTemplates, Canaries and Secrets are watched (default: all)")
	f.DurationVar(&o.cacheTTL, "cache-ttl", gate.DefaultCacheTTL, "how long a successful answer is reused (0 disables; errors are never cached)")
	f.StringVar(&o.maxAge, "max-age", "auto", "bound on the age of data a check may pass on when its query names no maxAge=: auto (3 analysis intervals, at least 5m), 0 (off) or a duration")
	f.BoolVar(&o.allowHTTPCreds, "allow-credentials-over-http", false, "let MetricTemplates' providers send their Secret's token over plain http:// to a host that is not loopback (refused otherwise; named providers: allowCredentialsOverHTTP in --config)")
	f.DurationVar(&o.timeout, "timeout", provider.DefaultTimeout, "per-query budget, retries included")
	f.StringVar(&o.authTokenFile, "auth-token-file", "", "require this bearer token (file) on the check endpoints")
	f.StringVar(&o.tlsCert, "tls-cert-file", "", "serve HTTPS with this certificate (PEM); needs --tls-key-file")
	f.StringVar(&o.tlsKey, "tls-key-file", "", "private key of --tls-cert-file")
	f.StringVar(&o.clientCA, "client-ca-file", "", "require client certificates signed by this CA on the check endpoints (mTLS; needs --tls-cert-file)")
	f.StringVar(&o.logLevel, "log-level", "info", "log level: debug, info, warn or error (JSON on stderr; info logs one line per check)")
	f.DurationVar(&o.shutdownTimeout, "shutdown-timeout", 30*time.Second, "on SIGTERM, how long to wait for checks in flight")
	f.DurationVar(&o.syncTimeout, "cluster-probe-timeout", 5*time.Second, "how long to wait for the cluster at start before serving named providers only")
	f.BoolVar(&o.events, "events", true, "with a cluster, record each check as a Kubernetes Event on its Canary (Flagger) or AnalysisRun (analysisRun=), at most one per check, verdict and analysis interval (needs create and patch on events)")
	return cmd
}

// clusterConfig loads the gate's own cluster config: --kubeconfig, else
// in-cluster, else kubectl's default rules. nil (and a reason) when none.
func (o *options) clusterConfig() (*rest.Config, string, error) {
	if o.noCluster {
		return nil, "--no-cluster", nil
	}
	if o.kubeconfig == "" && o.kubeContext == "" {
		if cfg, err := rest.InClusterConfig(); err == nil {
			return cfg, "in-cluster service account", nil
		}
	}
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = o.kubeconfig
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: o.kubeContext})
	cfg, err := cc.ClientConfig()
	if err != nil {
		if o.kubeconfig != "" || o.kubeContext != "" {
			return nil, "", fmt.Errorf("--kubeconfig: %w", err)
		}
		if clientcmd.IsEmptyConfig(err) {
			return nil, "no kubeconfig and not running in a pod", nil
		}
		return nil, "", fmt.Errorf("kubeconfig: %w", err)
	}
	where := "kubeconfig"
	if o.kubeconfig != "" {
		where = "kubeconfig " + o.kubeconfig
	}
	return cfg, where, nil
}

// maxAgeOption turns --max-age into gate.Options.MaxAge
// (analysis.ParseMaxAge, as every max-age flag and field).
func (o *options) maxAgeOption() (time.Duration, error) {
	d, err := analysis.ParseMaxAge(o.maxAge)
	if err != nil {
		return 0, fmt.Errorf("--max-age %v", err)
	}
	return d, nil
}

func (o *options) validate() error {
	if _, err := o.maxAgeOption(); err != nil {
		return err
	}
	if o.cacheTTL < 0 {
		return errors.New("--cache-ttl: must not be negative")
	}
	if o.timeout <= 0 {
		return errors.New("--timeout: must be positive")
	}
	if _, _, err := net.SplitHostPort(o.listen); err != nil {
		return fmt.Errorf("--listen %q: want host:port: %v", o.listen, err)
	}
	if (o.tlsCert == "") != (o.tlsKey == "") {
		return errors.New("--tls-cert-file and --tls-key-file must be given together")
	}
	if o.clientCA != "" && o.tlsCert == "" {
		return errors.New("--client-ca-file needs --tls-cert-file (mTLS is TLS)")
	}
	for _, ns := range o.namespaces {
		if strings.TrimSpace(ns) == "" {
			return errors.New("--namespaces: empty namespace name")
		}
	}
	return nil
}

func (o *options) tlsConfig() (*tls.Config, error) {
	if o.tlsCert == "" {
		return nil, nil
	}
	cert, err := tls.LoadX509KeyPair(o.tlsCert, o.tlsKey)
	if err != nil {
		return nil, fmt.Errorf("--tls-cert-file/--tls-key-file: %w", err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12, NextProtos: []string{"h2", "http/1.1"}}
	if o.clientCA != "" {
		pem, err := os.ReadFile(o.clientCA)
		if err != nil {
			return nil, fmt.Errorf("--client-ca-file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--client-ca-file %s: no PEM certificate", o.clientCA)
		}
		cfg.ClientCAs = pool
		// Probes (/healthz, /readyz) come without a certificate; the
		// check endpoints refuse requests without a verified one.
		cfg.ClientAuth = tls.VerifyClientCertIfGiven
	}
	return cfg, nil
}

func run(ctx context.Context, o *options, stdout, stderr io.Writer) error {
	if ctx == nil {
		ctx = context.Background()
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(o.logLevel)); err != nil {
		return cmdutil.Usagef("--log-level: %q: want debug, info, warn or error", o.logLevel)
	}
	log := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: lvl}))
	if err := o.validate(); err != nil {
		return cmdutil.Usage(err)
	}
	var cfg *gate.Config
	if o.config != "" {
		c, err := gate.LoadConfig(o.config)
		if err != nil {
			return cmdutil.Usage(fmt.Errorf("--config: %w", err))
		}
		cfg = c
	}
	tlsCfg, err := o.tlsConfig()
	if err != nil {
		return cmdutil.Usage(err)
	}
	token := ""
	if o.authTokenFile != "" {
		if token, err = gate.ReadAuthTokenFile(o.authTokenFile); err != nil {
			return cmdutil.Usage(fmt.Errorf("--auth-token-file: %w", err))
		}
	}
	cluster, where, err := o.clusterConfig()
	if err != nil {
		return cmdutil.Usage(err)
	}
	if cluster != nil {
		if reason := probe(ctx, cluster, o.syncTimeout); reason != "" {
			where += " (" + reason + ")"
			cluster = nil
		}
	}

	maxAge, _ := o.maxAgeOption()
	gopts := gate.Options{
		Config: cfg, Cluster: cluster, CacheTTL: o.cacheTTL, Timeout: o.timeout, MaxAge: maxAge,
		AllowCredentialsOverHTTP: o.allowHTTPCreds,
		AuthToken:                token, RequireClientCert: o.clientCA != "", Logger: log,
	}
	var src *kubesource.Source
	mode := ""
	if cluster == nil {
		mode = "no cluster: " + where + "; serving the named providers of --config only (templateRef is refused)"
		gopts.Ready = func() (bool, string) { return true, mode }
	} else {
		src, err = kubesource.New(cluster, kubesource.Options{Namespaces: o.namespaces, Logger: log})
		if err != nil {
			return cmdutil.Failure(fmt.Errorf("informers: %w", err))
		}
		mode = "cluster from " + where + " at " + cluster.Host
		gopts.Objects, gopts.Ready, gopts.Collectors = src, src.Ready, src.Collectors()
		if o.events {
			rec, err := kubeevents.New(cluster, kubeevents.Options{})
			if err != nil {
				return cmdutil.Failure(fmt.Errorf("events: %w", err))
			}
			// After Serve: the checks in flight have recorded theirs.
			defer rec.Shutdown()
			gopts.Events = rec
		}
	}
	g, err := gate.New(gopts)
	if err != nil {
		return cmdutil.Usage(err)
	}

	ln, err := net.Listen("tcp", o.listen)
	if err != nil {
		return cmdutil.Failure(fmt.Errorf("--listen: %w", err))
	}
	scheme := "http"
	if tlsCfg != nil {
		scheme = "https"
	}
	auth := "none (guard the Service with the NetworkPolicy of deploy/)"
	switch {
	case token != "" && o.clientCA != "":
		auth = "bearer token and client certificate"
	case token != "":
		auth = "bearer token"
	case o.clientCA != "":
		auth = "client certificate"
	}
	log.Info("extmetrics gate starting", "url", scheme+"://"+ln.Addr().String(), "mode", mode,
		"providers", g.Registry().Names(), "namespaces", nsList(o.namespaces), "cacheTTL", o.cacheTTL.String(), "auth", auth,
		"events", gopts.Events != nil)
	fmt.Fprintf(stdout, "extmetrics gate listening on %s://%s (%s)\n", scheme, ln.Addr(), mode)

	ictx, stopInformers := context.WithCancel(context.Background())
	defer stopInformers()
	if src != nil {
		src.Start(ictx)
	}
	err = g.Serve(ctx, ln, gate.ServeOptions{ShutdownTimeout: o.shutdownTimeout, TLSConfig: tlsCfg})
	log.Info("extmetrics gate stopped")
	if err != nil {
		return cmdutil.Failure(err)
	}
	return nil
}

func nsList(ns []string) string {
	if len(ns) == 0 {
		return "all"
	}
	return strings.Join(ns, ",")
}

// probe asks the cluster for its version; "" when it answers.
func probe(ctx context.Context, cfg *rest.Config, timeout time.Duration) string {
	c := rest.CopyConfig(cfg)
	c.Timeout = timeout
	dc, err := discovery.NewDiscoveryClientForConfig(c)
	if err != nil {
		return "unusable: " + err.Error()
	}
	done := make(chan error, 1)
	go func() { _, err := dc.ServerVersion(); done <- err }()
	select {
	case err := <-done:
		if err != nil {
			return "unreachable: " + err.Error()
		}
		return ""
	case <-ctx.Done():
		return "canceled"
	}
}
