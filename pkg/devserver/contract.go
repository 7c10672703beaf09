package devserver

// CONTRACT FILE (written by the lead so other packages can compile against the
// devserver API while it is being built). The devserver owner replaces the
// bodies and may move these declarations to other files, but must keep every
// exported name and signature below (adding more is fine).

import (
	"context"
	"crypto/x509"
	"log/slog"
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

// Config configures a Server. The zero value plus Addr is a usable HTTPS
// server with a generated self-signed certificate and no authentication.
type Config struct {
	Addr         string              // default "127.0.0.1:8443"; tests use "127.0.0.1:0"
	Profile      string              // default ProfilePrometheusAdapter
	Scenario     *scenario.Scenario  // nil means an empty scenario
	ScenarioFile string              // when set (and Scenario nil) loaded from here, and watched for reloads
	Tokens       map[string][]string // bearer token -> allowed namespaces ("*" = all); empty map = no auth
	AdminToken   string              // when set, the admin API needs exactly this token
	InsecureHTTP bool                // plain HTTP instead of HTTPS
	TLSCertFile  string
	TLSKeyFile   string
	ClientCAFile string       // turns on mTLS
	WriteCAFile  string       // where to write the CA (PEM) that signed the serving certificate
	Clock        clock.Clock  // default clock.RealClock{}
	Logger       *slog.Logger // default discards
}

// Server is a running development External Metrics API server.
type Server struct{}

// Start listens and serves in the background until ctx is done or Close is called.
func Start(ctx context.Context, cfg Config) (*Server, error) { panic("devserver: not implemented") }

// URL is the base URL, e.g. "https://127.0.0.1:41234".
func (s *Server) URL() string { panic("not implemented") }

// CAPEM is the PEM of the CA that signed the serving certificate (nil with InsecureHTTP).
func (s *Server) CAPEM() []byte { panic("not implemented") }

// CAPool is CAPEM as a pool, ready for a tls.Config.
func (s *Server) CAPool() *x509.CertPool { panic("not implemented") }

// CAFile is the path the CA was written to ("" when not written).
func (s *Server) CAFile() string { panic("not implemented") }

// SetSeries creates or replaces a constant series (same as the admin API PUT).
// value is a number or a quantity string such as "1500m".
func (s *Server) SetSeries(namespace, metric string, labels map[string]string, value string) error {
	panic("not implemented")
}

// DeleteSeries removes a series; it reports whether one existed.
func (s *Server) DeleteSeries(namespace, metric string, labels map[string]string) bool {
	panic("not implemented")
}

// SetFault sets a fault for one metric name, or globally when metric is "".
// A zero Fault clears it.
func (s *Server) SetFault(metric string, f scenario.Fault) { panic("not implemented") }

// Close stops the server and waits for it.
func (s *Server) Close() error { panic("not implemented") }

var _ = time.Second
