package e2e_test

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"log/slog"
	"sync"

	"github.com/extmetrics/extmetrics/test/e2e/harness"
)

// syncBuffer is a bytes.Buffer safe for the devserver's concurrent logging.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// newLogger logs at debug level (one line per request, with who=) into w.
func newLogger(w *syncBuffer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// tlsTrusting is a TLS config trusting the cluster CA (which signs the
// backends' serving certificates).
func tlsTrusting(c *harness.Cluster) *tls.Config {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(c.CAPEM())
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
}
