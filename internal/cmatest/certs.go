package cmatest

import (
	"fmt"
	"time"

	"github.com/extmetrics/extmetrics/internal/certgen"
)

// certs is a fresh CA (PEM) and a serving certificate and key it signed.
type certs struct {
	caPEM, certPEM, keyPEM []byte
}

// newCerts makes an ECDSA P-256 CA and a serving certificate for
// localhost, 127.0.0.1 and ::1, valid for a day (internal/certgen).
func newCerts(now time.Time) (*certs, error) {
	notBefore := now.Add(-time.Hour)
	ca, err := certgen.New(certgen.Options{CommonName: "cmatest CA", CA: true, NotBefore: notBefore})
	if err != nil {
		return nil, fmt.Errorf("CA: %w", err)
	}
	leaf, err := certgen.New(certgen.Loopback(certgen.Options{CommonName: "localhost", Server: true, Parent: ca, NotBefore: notBefore}))
	if err != nil {
		return nil, fmt.Errorf("serving certificate: %w", err)
	}
	return &certs{caPEM: ca.CertPEM, certPEM: leaf.CertPEM, keyPEM: leaf.KeyPEM}, nil
}
