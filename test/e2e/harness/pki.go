package harness

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/extmetrics/extmetrics/internal/certgen"
)

// certValidity is how long every generated certificate is valid: long
// enough for any test run, short enough not to matter if one leaks.
const certValidity = 24 * time.Hour

// CA is a certificate authority generated for one cluster. It signs the
// kube-apiserver's serving certificate, client certificates and the serving
// certificates of aggregated backends (Issue). Certificates are made by
// internal/certgen, the project's one generator.
type CA struct {
	Cert    *x509.Certificate
	CertPEM []byte
	pair    *certgen.Pair
}

// newCA makes a self-signed ECDSA P-256 CA named cn.
func newCA(cn string) (*CA, error) {
	p, err := certgen.New(certgen.Options{CommonName: cn, Organization: []string{"extmetrics e2e"}, CA: true, Validity: certValidity})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", cn, err)
	}
	return &CA{Cert: p.Cert, CertPEM: p.CertPEM, pair: p}, nil
}

// CertRequest describes a leaf certificate to issue.
type CertRequest struct {
	CommonName   string
	Organization []string // groups, for client certificates
	DNSNames     []string
	IPs          []net.IP
	Client       bool // client authentication instead of server authentication
}

// KeyPair is an issued certificate (its chain is the leaf only; trust the CA)
// and its private key, both PEM.
type KeyPair struct {
	CertPEM []byte
	KeyPEM  []byte
}

// Issue signs a new ECDSA P-256 leaf certificate.
func (ca *CA) Issue(req CertRequest) (KeyPair, error) {
	p, err := certgen.New(certgen.Options{
		CommonName: req.CommonName, Organization: req.Organization,
		DNSNames: req.DNSNames, IPAddresses: req.IPs,
		Client: req.Client, Server: !req.Client,
		Parent: ca.pair, Validity: certValidity,
	})
	if err != nil {
		return KeyPair{}, fmt.Errorf("issue certificate for %s: %w", req.CommonName, err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(p.Key)
	if err != nil {
		return KeyPair{}, err
	}
	return KeyPair{CertPEM: p.CertPEM, KeyPEM: pemBlock("PRIVATE KEY", keyDER)}, nil
}

// Write stores the pair as <dir>/<name>.crt and <dir>/<name>.key (0600)
// and returns both paths.
func (kp KeyPair) Write(dir, name string) (certFile, keyFile string, err error) {
	certFile = filepath.Join(dir, name+".crt")
	keyFile = filepath.Join(dir, name+".key")
	if err := os.WriteFile(certFile, kp.CertPEM, 0o644); err != nil {
		return "", "", err
	}
	if err := os.WriteFile(keyFile, kp.KeyPEM, 0o600); err != nil {
		return "", "", err
	}
	return certFile, keyFile, nil
}

// serviceAccountKeys makes the key pair kube-apiserver signs and verifies
// service-account tokens with (ES256), as PEM.
func serviceAccountKeys() (pub, priv []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	privDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	pubDER, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return nil, nil, err
	}
	return pemBlock("PUBLIC KEY", pubDER), pemBlock("PRIVATE KEY", privDER), nil
}

func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

// randomToken is a 32-byte random bearer token, hex encoded.
func randomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%x", b)
}
