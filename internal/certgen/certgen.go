package certgen

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// Options describe a certificate. Zero values: valid from an hour ago for
// a day, self-signed, not a CA, usable for server and client authentication.
type Options struct {
	CommonName   string
	Organization []string
	DNSNames     []string
	IPAddresses  []net.IP
	// CA makes a certificate authority (may sign others, path length 0).
	CA bool
	// Server and Client restrict the extended key usage; neither means both.
	Server, Client bool
	// Parent signs the certificate; nil means self-signed.
	Parent *Pair
	// NotBefore defaults to an hour ago; Validity to 24h.
	NotBefore time.Time
	Validity  time.Duration
}

// Pair is a certificate with its private key, parsed and as PEM.
type Pair struct {
	Cert    *x509.Certificate
	Key     *ecdsa.PrivateKey
	DER     []byte
	CertPEM []byte // CERTIFICATE
	KeyPEM  []byte // EC PRIVATE KEY
}

// New makes a certificate.
func New(o Options) (*Pair, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate key: %w", err)
	}
	notBefore := o.NotBefore
	if notBefore.IsZero() {
		notBefore = time.Now().Add(-time.Hour)
	}
	validity := o.Validity
	if validity <= 0 {
		validity = 24 * time.Hour
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: o.CommonName, Organization: o.Organization},
		NotBefore:    notBefore,
		NotAfter:     notBefore.Add(time.Hour + validity),
		DNSNames:     o.DNSNames,
		IPAddresses:  o.IPAddresses,
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	if o.CA {
		tmpl.IsCA, tmpl.BasicConstraintsValid, tmpl.MaxPathLenZero = true, true, true
		tmpl.KeyUsage |= x509.KeyUsageCertSign | x509.KeyUsageCRLSign
	}
	switch {
	case o.Server && !o.Client:
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	case o.Client && !o.Server:
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	default:
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
	}
	parent, parentKey := tmpl, key
	if o.Parent != nil {
		parent, parentKey = o.Parent.Cert, o.Parent.Key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		return nil, fmt.Errorf("create certificate %q: %w", o.CommonName, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("parse certificate: %w", err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, err
	}
	return &Pair{
		Cert:    cert,
		Key:     key,
		DER:     der,
		CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		KeyPEM:  pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}),
	}, nil
}

// TB is the part of testing.TB Must uses.
type TB interface {
	Helper()
	Fatal(args ...any)
}

// Must is New for tests: an error fails t.
func Must(t TB, o Options) *Pair {
	t.Helper()
	p, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// Loopback is the serving certificate's names for localhost: DNS
// "localhost", IPs 127.0.0.1 and ::1.
func Loopback(o Options) Options {
	o.DNSNames = append(o.DNSNames, "localhost")
	o.IPAddresses = append(o.IPAddresses, net.IPv4(127, 0, 0, 1), net.IPv6loopback)
	return o
}

// TLSCertificate is the pair for a tls.Config, with chain (the parent's
// certificate appended when given).
func (p *Pair) TLSCertificate(chain ...*Pair) tls.Certificate {
	c := tls.Certificate{Certificate: [][]byte{p.DER}, PrivateKey: p.Key, Leaf: p.Cert}
	for _, q := range chain {
		c.Certificate = append(c.Certificate, q.DER)
	}
	return c
}

// Pool is a certificate pool holding p.
func (p *Pair) Pool() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(p.Cert)
	return pool
}

// WriteFiles writes tls.crt (0644) and tls.key (0600) into dir.
func (p *Pair) WriteFiles(dir string) (certFile, keyFile string, err error) {
	certFile, keyFile = filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	if err := os.WriteFile(certFile, p.CertPEM, 0o644); err != nil {
		return "", "", err
	}
	if err := os.WriteFile(keyFile, p.KeyPEM, 0o600); err != nil {
		return "", "", err
	}
	return certFile, keyFile, nil
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil { // crypto/rand does not fail on supported platforms
		return big.NewInt(time.Now().UnixNano())
	}
	return n.Add(n, big.NewInt(1))
}
