package gate

import (
	"bytes"
	"context"
	"crypto/subtle"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/client-go/rest"

	"github.com/extmetrics/extmetrics/pkg/analysis"
	"github.com/extmetrics/extmetrics/pkg/gate/coalesce"
	"github.com/extmetrics/extmetrics/pkg/provider"
)

// DefaultCacheTTL is --cache-ttl's default.
const DefaultCacheTTL = 10 * time.Second

// MaxBodyBytes bounds request bodies of the check endpoints.
const MaxBodyBytes = 64 << 10

// Options configure a Gate.
type Options struct {
	Config  *Config      // named providers; nil: none
	Cluster *rest.Config // the gate's cluster (kubeconfig or in-cluster); nil: none
	Objects Objects      // MetricTemplates, Secrets, Canaries; nil: templateRef is refused
	// Ready reports readiness and a detail for /readyz (e.g. informers
	// synced); nil: always ready.
	Ready func() (bool, string)
	// CacheTTL: how long a successful answer is reused; 0 turns caching
	// off (identical concurrent checks still share one request).
	CacheTTL time.Duration
	// Timeout is the per-query budget of providers, retries included
	// (default provider.DefaultTimeout).
	Timeout time.Duration
	// AuthToken, when set, is the bearer token every check endpoint
	// requires. RequireClientCert requires a verified TLS client
	// certificate (mTLS; the server's tls.Config must verify it).
	AuthToken         string
	RequireClientCert bool
	Logger            *slog.Logger // default discards
	// Collectors are served on /metrics too (e.g. the informers').
	Collectors []prometheus.Collector
	// MaxAge bounds the age of the data a check may pass on when its
	// query names no maxAge= (the query's own bound wins):
	// analysis.Staleness.MaxAge, read by analysis.ParseMaxAge — 0 means
	// analysis.DefaultMaxAge of the canary's analysis interval (5m when
	// unknown), analysis.NoMaxAge turns the bound off.
	MaxAge time.Duration
	// AllowCredentialsOverHTTP lets MetricTemplates' providers send
	// credentials over plain http:// to a host that is not loopback
	// (provider.Options.AllowCredentialsOverHTTP; named providers have
	// their own field in --config).
	AllowCredentialsOverHTTP bool
	// Events, when set, records each check that names its object as a
	// Kubernetes Event: the Flagger endpoint on its Canary (one the gate
	// knows), /argo/v1/value and /v1/check on the AnalysisRun their
	// analysisRun parameter names — at most one per (object, check,
	// verdict) per analysis interval (package kubeevents: client-go's
	// event recorder). nil: no events.
	Events EventRecorder
	// Now is the clock of the cache, of the staleness bound and of the
	// events' de-duplication; default time.Now.
	Now func() time.Time
	// Factory, when set, builds the providers of MetricTemplates and of a
	// "cluster" provider without an address (RegistryOptions.Factory):
	// analyze runs gate webhooks in-process with its own connection rule.
	Factory analysis.ProviderFactory
}

// Gate answers checks over HTTP. It is safe for concurrent use.
type Gate struct {
	registry    *Registry
	objects     Objects
	ready       func() (bool, string)
	cache       *coalesce.Cache[*provider.Result]
	renders     renderCache
	events      EventRecorder
	eventDedupe *eventDedupe
	metrics     *gateMetrics
	log         *slog.Logger
	token       []byte
	mtls        bool
	maxAge      time.Duration
	now         func() time.Time
	mux         *http.ServeMux
}

// New builds a gate: every named provider is built now.
func New(opts Options) (*Gate, error) {
	g := &Gate{objects: opts.Objects, ready: opts.Ready, log: opts.Logger, mtls: opts.RequireClientCert, maxAge: opts.MaxAge, now: opts.Now}
	if g.now == nil {
		g.now = time.Now
	}
	g.metrics = newGateMetrics(g.now)
	g.events, g.eventDedupe = opts.Events, newEventDedupe(g.now, MaxEventKeys)
	if g.log == nil {
		g.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if opts.CacheTTL < 0 {
		return nil, errors.New("cache TTL must not be negative")
	}
	if opts.AuthToken != "" {
		g.token = []byte(opts.AuthToken)
	}
	for _, c := range opts.Collectors {
		if err := g.metrics.reg.Register(c); err != nil {
			return nil, fmt.Errorf("metrics: %w", err)
		}
	}
	reg, err := NewRegistry(opts.Config, opts.Cluster, RegistryOptions{Timeout: opts.Timeout, Metrics: g.metrics.provider, AllowCredentialsOverHTTP: opts.AllowCredentialsOverHTTP, Factory: opts.Factory})
	if err != nil {
		return nil, err
	}
	g.registry = reg
	g.cache = coalesce.New[*provider.Result](coalesce.Options{TTL: opts.CacheTTL, Now: opts.Now})
	g.mux = http.NewServeMux()
	g.mux.HandleFunc("/v1/check", g.authed(g.serveCheck))
	g.mux.HandleFunc("/flagger/v1/check", g.authed(g.serveFlagger))
	g.mux.HandleFunc("/argo/v1/value", g.authed(g.serveArgo))
	g.mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok\n") })
	g.mux.HandleFunc("/readyz", g.serveReady)
	g.mux.Handle("/metrics", promhttpHandler(g.metrics.reg))
	return g, nil
}

// Registry is the gate's provider registry.
func (g *Gate) Registry() *Registry { return g.registry }

// Handler serves /v1/check, /flagger/v1/check, /argo/v1/value, /healthz,
// /readyz and /metrics.
func (g *Gate) Handler() http.Handler { return g.mux }

// ReadAuthTokenFile reads a bearer token file (whitespace trimmed, not empty).
func ReadAuthTokenFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	tok := string(bytes.TrimSpace(b))
	if tok == "" {
		return "", fmt.Errorf("%s is empty", path)
	}
	return tok, nil
}

func (g *Gate) authed(h http.HandlerFunc) http.HandlerFunc {
	if g.token == nil && !g.mtls {
		return h
	}
	return func(w http.ResponseWriter, r *http.Request) {
		if g.mtls && (r.TLS == nil || len(r.TLS.VerifiedChains) == 0) {
			g.deny(w, r, "a verified TLS client certificate is required")
			return
		}
		if g.token != nil {
			got, ok := bearer(r)
			if !ok || subtle.ConstantTimeCompare([]byte(got), g.token) != 1 {
				g.deny(w, r, "a valid bearer token is required (Authorization: Bearer ...)")
				return
			}
		}
		h(w, r)
	}
}

func bearer(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	const p = "Bearer "
	if len(h) <= len(p) || !strings.EqualFold(h[:len(p)], p) {
		return "", false
	}
	return h[len(p):], true
}

func (g *Gate) deny(w http.ResponseWriter, r *http.Request, msg string) {
	g.metrics.checks.WithLabelValues(endpointOf(r.URL.Path), VerdictError, KindUnauthenticated).Inc()
	g.log.Warn("unauthenticated request", "path", r.URL.Path, "remote", r.RemoteAddr)
	w.Header().Set("WWW-Authenticate", `Bearer realm="extmetrics-gate"`)
	if endpointOf(r.URL.Path) == "flagger" {
		writeText(w, http.StatusUnauthorized, "extmetrics gate: unauthenticated: "+msg)
		return
	}
	writeJSON(w, http.StatusUnauthorized, &Result{Verdict: VerdictError, ErrorKind: KindUnauthenticated, Error: msg})
}

func endpointOf(path string) string {
	switch path {
	case "/flagger/v1/check":
		return "flagger"
	case "/argo/v1/value":
		return "argo"
	}
	return "check"
}

func (g *Gate) serveReady(w http.ResponseWriter, _ *http.Request) {
	ok, detail := true, "ready"
	if g.ready != nil {
		ok, detail = g.ready()
	}
	if !ok {
		writeText(w, http.StatusServiceUnavailable, "not ready: "+detail)
		return
	}
	writeText(w, http.StatusOK, "ok: "+detail)
}

var secretish = regexp.MustCompile(`(?i)\b(bearer\s+)([A-Za-z0-9._~+/=\-]+)`)

// redact removes anything that looks like a bearer token (defence in depth:
// provider errors are redacted already).
func (g *Gate) redact(s string) string {
	s = secretish.ReplaceAllString(s, "${1}[REDACTED]")
	if g.token != nil {
		s = string(bytes.ReplaceAll([]byte(s), g.token, []byte("[REDACTED]")))
	}
	return s
}

// ServeOptions configure Serve.
type ServeOptions struct {
	// ShutdownTimeout bounds the wait for checks in flight after ctx ends
	// (default 30s).
	ShutdownTimeout time.Duration
	// TLSConfig serves HTTPS when set.
	TLSConfig *tls.Config
}

// Serve serves the gate on ln until ctx ends, then stops accepting and
// waits for checks in flight (graceful shutdown).
func (g *Gate) Serve(ctx context.Context, ln net.Listener, opts ServeOptions) error {
	srv := &http.Server{
		Handler:           g.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      2 * time.Minute,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(g.log.Handler(), slog.LevelWarn),
	}
	if opts.TLSConfig != nil {
		srv.TLSConfig = opts.TLSConfig
		ln = tls.NewListener(ln, opts.TLSConfig)
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	timeout := opts.ShutdownTimeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	sctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	err := srv.Shutdown(sctx)
	if serveErr := <-errc; err == nil && !errors.Is(serveErr, http.ErrServerClosed) {
		err = serveErr // Serve ends with ErrServerClosed once Shutdown ran
	}
	return err
}
