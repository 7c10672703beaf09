package e2e_test

import (
	"crypto/tls"
	"crypto/x509"
	"log/slog"

	"github.com/extmetrics/extmetrics/internal/testutil"
	"github.com/extmetrics/extmetrics/test/e2e/harness"
)

// newLogger logs at debug level (one line per request, with who=) into w.
func newLogger(w *testutil.Buffer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// tlsTrusting is a TLS config trusting the cluster CA (which signs the
// backends' serving certificates).
func tlsTrusting(c *harness.Cluster) *tls.Config {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(c.CAPEM())
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
}
