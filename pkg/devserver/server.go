package devserver

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"runtime/debug"
	"sync"
	"time"

	"k8s.io/utils/clock"

	"github.com/extmetrics/extmetrics/pkg/scenario"
)

// Profiles name the real servers the devserver imitates.
const (
	ProfilePrometheusAdapter = "prometheus-adapter" // unknown metric -> 404 NotFound Status
	ProfileCMA               = "cma"                // unknown metric -> 200 with items: []
	ProfileDatadog           = "datadog"            // Datadog Cluster Agent behaviour
)

// Profiles lists the valid profile names.
var Profiles = []string{ProfilePrometheusAdapter, ProfileCMA, ProfileDatadog}

// Defaults.
const (
	DefaultAddr           = "127.0.0.1:8443"
	DefaultReloadInterval = time.Second
	// DefaultDatadogMaxAge is the Cluster Agent's default
	// external_metrics_provider.max_age: older DatadogMetrics are stale.
	DefaultDatadogMaxAge = 120 * time.Second
	// MaxAdminBodyBytes bounds admin API request bodies.
	MaxAdminBodyBytes = 1 << 20
	// MaxHeaderBytes bounds request headers.
	MaxHeaderBytes = 64 << 10
)

// Config configures a Server. The zero value plus Addr is a usable HTTPS
// server with a generated self-signed certificate and no authentication.
type Config struct {
	Addr         string              // default "127.0.0.1:8443"; tests use "127.0.0.1:0"
	Profile      string              // default ProfilePrometheusAdapter
	Scenario     *scenario.Scenario  // nil means an empty scenario
	ScenarioFile string              // when set (and Scenario nil) loaded from here, and watched for reloads; with Scenario set too, Scenario is taken as its already parsed content
	Tokens       map[string][]string // bearer token -> allowed namespaces ("*" = all); empty map = no auth
	AdminToken   string              // when set, the admin API needs exactly this token
	InsecureHTTP bool                // plain HTTP instead of HTTPS
	TLSCertFile  string
	TLSKeyFile   string
	ClientCAFile string       // turns on mTLS
	WriteCAFile  string       // where to write the CA (PEM) that signed the serving certificate
	Clock        clock.Clock  // default clock.RealClock{}
	Logger       *slog.Logger // default discards

	// Seed seeds the random source of fault probabilities and jitter; 0 picks a random seed.
	Seed uint64
	// ReloadInterval is how often ScenarioFile is checked for changes
	// (size, modification time, inode); default 1s, negative turns polling off
	// (Reload still works).
	ReloadInterval time.Duration
	// DatadogMaxAge is the age past which the datadog profile calls a
	// metric stale; default DefaultDatadogMaxAge.
	DatadogMaxAge time.Duration
	// ReleaseMemory, when set, runs a garbage collection and returns the
	// freed memory to the operating system (debug.FreeOSMemory) once Start
	// has loaded the scenario and after every successful reload, so that
	// the garbage of parsing the scenario does not stay resident. It stops
	// the whole process for about a millisecond: meant for a process that
	// runs one server (the devserver command), not for tests.
	ReleaseMemory bool

	// RequestHeader turns on front-proxy authentication, for serving
	// behind kube-apiserver's aggregation layer: the identity in
	// X-Remote-User/X-Remote-Group is trusted from clients with a verified
	// front-proxy certificate, logged (who=<user>) and matched against the
	// "user:"/"group:" rules of Tokens. See docs/devserver.md.
	RequestHeader RequestHeaderConfig
}

// Server is a running development External Metrics API server.
type Server struct {
	cfg     Config
	clk     clock.Clock
	log     *slog.Logger
	store   *scenario.Store
	auth    *authenticator
	metrics *serverMetrics
	sels    selectorCache

	rngMu sync.Mutex
	rng   *rand.Rand

	url    string
	caPEM  []byte
	caPool *x509.CertPool
	caFile string

	srv      *http.Server
	ln       net.Listener
	stop     context.CancelFunc
	wg       sync.WaitGroup
	closeMu  sync.Mutex
	closed   bool
	closeErr error

	reloadMu sync.Mutex
}

// New builds a Server without listening: its Handler can be used directly
// (benchmarks, httptest). Start is New plus a listener.
func New(cfg Config) (*Server, error) {
	if cfg.Addr == "" {
		cfg.Addr = DefaultAddr
	}
	if cfg.Profile == "" {
		cfg.Profile = ProfilePrometheusAdapter
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.RealClock{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.ReloadInterval == 0 {
		cfg.ReloadInterval = DefaultReloadInterval
	}
	if cfg.DatadogMaxAge <= 0 {
		cfg.DatadogMaxAge = DefaultDatadogMaxAge
	}
	if cfg.Seed == 0 {
		cfg.Seed = rand.Uint64()
	}
	auth, err := newAuthenticator(cfg.Tokens, cfg.AdminToken)
	if err != nil {
		return nil, fmt.Errorf("tokens: %w", err)
	}
	if cfg.RequestHeader.Enabled() && !cfg.InsecureHTTP { // Validate refused plain HTTP
		if auth.rh, err = newRequestHeaderAuth(cfg.RequestHeader); err != nil {
			return nil, err
		}
	}
	auth.certs = cfg.ClientCAFile != "" && !cfg.InsecureHTTP
	s := &Server{
		cfg:     cfg,
		clk:     cfg.Clock,
		log:     cfg.Logger,
		auth:    auth,
		metrics: newServerMetrics(),
		rng:     rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15)),
	}
	s.store = scenario.NewStore(cfg.Clock)
	switch {
	case cfg.Scenario != nil:
		s.store.Load(cfg.Scenario)
		s.cfg.Scenario = nil // the store copied what it needs
	case cfg.ScenarioFile != "":
		sc, err := scenario.LoadFile(cfg.ScenarioFile)
		if err != nil {
			return nil, err
		}
		s.store.Load(sc)
	}
	return s, nil
}

func validProfile(p string) bool {
	for _, q := range Profiles {
		if p == q {
			return true
		}
	}
	return false
}

// Start listens and serves in the background until ctx is done or Close is called.
func Start(ctx context.Context, cfg Config) (*Server, error) {
	s, err := New(cfg)
	if err != nil {
		return nil, err
	}
	cfg = s.cfg // validated by New

	host, _, err := net.SplitHostPort(cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("address %q: %w", cfg.Addr, err)
	}

	var tlsConfig *tls.Config
	if !cfg.InsecureHTTP {
		tlsConfig = &tls.Config{MinVersion: tls.VersionTLS12}
		if cfg.TLSCertFile != "" {
			cert, err := tls.LoadX509KeyPair(cfg.TLSCertFile, cfg.TLSKeyFile)
			if err != nil {
				return nil, fmt.Errorf("TLS certificate: %w", err)
			}
			tlsConfig.Certificates = []tls.Certificate{cert}
		} else {
			gen, err := generateCerts(time.Now(), host)
			if err != nil {
				return nil, err
			}
			tlsConfig.Certificates = []tls.Certificate{gen.leaf}
			s.caPEM = gen.caPEM
			s.caPool = x509.NewCertPool()
			s.caPool.AppendCertsFromPEM(gen.caPEM)
		}
		switch {
		case cfg.ClientCAFile != "":
			pool, err := loadCertPool(cfg.ClientCAFile)
			if err != nil {
				return nil, fmt.Errorf("client CA: %w", err)
			}
			if cfg.RequestHeader.Enabled() && cfg.RequestHeader.ClientCAFile != cfg.ClientCAFile {
				// The front proxy's certificate must pass the handshake too.
				data, err := os.ReadFile(cfg.RequestHeader.ClientCAFile)
				if err != nil {
					return nil, fmt.Errorf("request-header client CA: %w", err)
				}
				pool.AppendCertsFromPEM(data)
			}
			tlsConfig.ClientCAs = pool
			tlsConfig.ClientAuth = tls.RequireAndVerifyClientCert
		case cfg.RequestHeader.Enabled():
			// Ask for a certificate, verify it in the request-header
			// authenticator; clients without one may still use a token.
			tlsConfig.ClientAuth = tls.RequestClientCert
		}
	}
	if cfg.WriteCAFile != "" {
		if err := writeFileAtomic(cfg.WriteCAFile, s.caPEM, 0o644); err != nil {
			return nil, fmt.Errorf("write CA: %w", err)
		}
		s.caFile = cfg.WriteCAFile
	}

	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, err
	}
	s.ln = ln
	s.url = baseURL(!cfg.InsecureHTTP, ln.Addr())
	var runCtx context.Context
	runCtx, s.stop = context.WithCancel(ctx)
	s.srv = &http.Server{
		Handler:           s,
		TLSConfig:         tlsConfig,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		// Injected latency is bounded by scenario.MaxFaultDuration (one
		// hour); the write timeout must not cut it short.
		WriteTimeout:   scenario.MaxFaultDuration + 2*scenario.MaxFaultDuration/60,
		IdleTimeout:    2 * time.Minute,
		MaxHeaderBytes: MaxHeaderBytes,
		ErrorLog:       slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
		// Requests end (injected latency included) when the server stops.
		BaseContext: func(net.Listener) context.Context { return runCtx },
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		var err error
		if tlsConfig != nil {
			err = s.srv.ServeTLS(ln, "", "")
		} else {
			err = s.srv.Serve(ln)
		}
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("devserver stopped serving", "error", err)
		}
	}()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		<-runCtx.Done()
		s.shutdown()
	}()
	if cfg.ScenarioFile != "" && cfg.ReloadInterval > 0 {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.watch(runCtx)
		}()
	}
	if cfg.ReleaseMemory {
		debug.FreeOSMemory()
	}
	s.log.Info("devserver listening", "url", s.url, "profile", cfg.Profile, "auth", s.auth.describe(),
		"admin_token", s.auth.hasAdmin, "mtls", cfg.ClientCAFile != "", "ca_file", s.caFile)
	return s, nil
}

func baseURL(https bool, addr net.Addr) string {
	scheme := "http"
	if https {
		scheme = "https"
	}
	tcp, ok := addr.(*net.TCPAddr)
	if !ok {
		return scheme + "://" + addr.String()
	}
	host := "127.0.0.1"
	if !tcp.IP.IsUnspecified() {
		host = tcp.IP.String()
	}
	return fmt.Sprintf("%s://%s", scheme, net.JoinHostPort(host, fmt.Sprint(tcp.Port)))
}

// shutdownGrace is how long in-flight requests get when the server stops.
// Answers take well under a millisecond and injected latency ends with the
// server's context, so this mostly bounds the wait for HTTP/2 clients to go
// (net/http would otherwise give them a second after GOAWAY).
const shutdownGrace = 250 * time.Millisecond

// shutdown stops the HTTP server: in-flight requests get shutdownGrace, then
// connections are closed.
func (s *Server) shutdown() {
	s.closeMu.Lock()
	defer s.closeMu.Unlock()
	if s.closed {
		return
	}
	s.closed = true
	ctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	if err := s.srv.Shutdown(ctx); err != nil {
		if cerr := s.srv.Close(); cerr != nil {
			s.closeErr = cerr
		}
	}
}

// URL is the base URL, e.g. "https://127.0.0.1:41234".
func (s *Server) URL() string { return s.url }

// Addr is the address listened on, e.g. "127.0.0.1:41234" ("" before Start).
func (s *Server) Addr() string {
	if s.ln == nil {
		return ""
	}
	return s.ln.Addr().String()
}

// Authentication says which authentication is in force, in one phrase:
// "bearer tokens (2)", "front-proxy request headers X-Remote-User
// (certificate front-proxy-client)", "client certificates", or "none: every
// request is accepted without authentication".
func (s *Server) Authentication() string { return s.auth.describe() }

// Profile is the profile served.
func (s *Server) Profile() string { return s.cfg.Profile }

// CAPEM is the PEM of the CA that signed the serving certificate (nil with InsecureHTTP).
func (s *Server) CAPEM() []byte { return s.caPEM }

// CAPool is CAPEM as a pool, ready for a tls.Config.
func (s *Server) CAPool() *x509.CertPool { return s.caPool }

// CAFile is the path the CA was written to ("" when not written).
func (s *Server) CAFile() string { return s.caFile }

// Handler is the server's HTTP handler (the Server itself).
func (s *Server) Handler() http.Handler { return s }

// SetSeries creates or replaces a constant series (same as the admin API PUT).
// value is a number or a quantity string such as "1500m".
func (s *Server) SetSeries(namespace, metric string, labels map[string]string, value string) error {
	return s.store.Set(namespace, metric, labels, value)
}

// DeleteSeries removes a series; it reports whether one existed.
func (s *Server) DeleteSeries(namespace, metric string, labels map[string]string) bool {
	return s.store.Delete(namespace, metric, labels)
}

// SetFault sets a fault for one metric name, or globally when metric is "".
// A zero Fault clears it.
func (s *Server) SetFault(metric string, f scenario.Fault) { s.store.SetFault(metric, f) }

// Close stops the server and waits for it.
func (s *Server) Close() error {
	if s.stop == nil { // built by New, never started
		return nil
	}
	s.stop()
	s.wg.Wait()
	s.closeMu.Lock()
	defer s.closeMu.Unlock()
	return s.closeErr
}

// float64 returns a random number in [0, 1) from the seeded source.
func (s *Server) float64() float64 {
	s.rngMu.Lock()
	defer s.rngMu.Unlock()
	return s.rng.Float64()
}

// int64n returns a random number in [0, n) from the seeded source.
func (s *Server) int64n(n int64) int64 {
	if n <= 0 {
		return 0
	}
	s.rngMu.Lock()
	defer s.rngMu.Unlock()
	return s.rng.Int64N(n)
}
