package devserver

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/extmetrics/extmetrics/internal/certgen"
)

// certValidity is how long generated certificates are valid.
const certValidity = 365 * 24 * time.Hour

// generatedCerts is a fresh CA and a serving certificate it signed.
type generatedCerts struct {
	caPEM []byte
	leaf  tls.Certificate
}

// generateCerts makes a self-signed ECDSA P-256 CA and a P-256 serving
// certificate for localhost, 127.0.0.1, ::1 and extraHost (when it is a
// specific host name or address).
func generateCerts(now time.Time, extraHost string) (*generatedCerts, error) {
	notBefore := now.Add(-time.Hour)
	ca, err := certgen.New(certgen.Options{
		CommonName: "extmetrics devserver CA", Organization: []string{"extmetrics"},
		CA: true, NotBefore: notBefore, Validity: certValidity,
	})
	if err != nil {
		return nil, fmt.Errorf("CA: %w", err)
	}
	leaf := certgen.Loopback(certgen.Options{
		CommonName: "localhost", Organization: []string{"extmetrics"},
		Server: true, Parent: ca, NotBefore: notBefore, Validity: certValidity,
	})
	if extraHost != "" {
		if ip := net.ParseIP(extraHost); ip != nil {
			if !ip.IsUnspecified() && !ip.IsLoopback() {
				leaf.IPAddresses = append(leaf.IPAddresses, ip)
			}
		} else if extraHost != "localhost" {
			leaf.DNSNames = append(leaf.DNSNames, extraHost)
		}
	}
	serving, err := certgen.New(leaf)
	if err != nil {
		return nil, fmt.Errorf("serving certificate: %w", err)
	}
	return &generatedCerts{caPEM: ca.CertPEM, leaf: serving.TLSCertificate(ca)}, nil
}

// loadCertPool reads a PEM bundle of CA certificates.
func loadCertPool(path string) (*x509.CertPool, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		return nil, fmt.Errorf("%s: no PEM certificate found", path)
	}
	return pool, nil
}

// writeFileAtomic writes data to path through a temporary file and a rename,
// so a reader never sees a half-written CA.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	if path == "" {
		return errors.New("empty path")
	}
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, werr := f.Write(data)
	cerr := f.Close()
	if werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Chmod(tmp, perm)
	}
	if werr == nil {
		werr = os.Rename(tmp, path)
	}
	if werr != nil {
		_ = os.Remove(tmp)
		return werr
	}
	return nil
}
