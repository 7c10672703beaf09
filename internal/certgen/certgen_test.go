package certgen

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"
)

// A CA, a serving certificate for loopback and a client certificate work
// together in a real mutual-TLS handshake on 127.0.0.1.
func TestMutualTLS(t *testing.T) {
	ca := Must(t, Options{CommonName: "test CA", CA: true})
	server := Must(t, Loopback(Options{CommonName: "localhost", Server: true, Parent: ca}))
	client := Must(t, Options{CommonName: "bot", Organization: []string{"team"}, Client: true, Parent: ca})

	if !ca.Cert.IsCA || server.Cert.IsCA || client.Cert.Subject.String() != "CN=bot,O=team" {
		t.Fatalf("CA %v, server CA %v, client %s", ca.Cert.IsCA, server.Cert.IsCA, client.Cert.Subject)
	}
	if len(server.Cert.IPAddresses) != 2 || !server.Cert.IPAddresses[0].Equal(net.IPv4(127, 0, 0, 1)) || server.Cert.DNSNames[0] != "localhost" {
		t.Errorf("serving names %v %v", server.Cert.DNSNames, server.Cert.IPAddresses)
	}
	if d := time.Until(server.Cert.NotAfter); d < 23*time.Hour || d > 25*time.Hour {
		t.Errorf("valid for %v more", d)
	}

	var seen string
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = r.TLS.PeerCertificates[0].Subject.CommonName
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{server.TLSCertificate(ca)}, ClientCAs: ca.Pool(), ClientAuth: tls.RequireAndVerifyClientCert}
	srv.StartTLS()
	defer srv.Close()
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool(), Certificates: []tls.Certificate{client.TLSCertificate()}}}}
	resp, err := c.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if seen != "bot" {
		t.Errorf("server saw client %q", seen)
	}

	// A certificate from another CA is refused.
	other := Must(t, Options{CommonName: "other", CA: true})
	stranger := Must(t, Options{CommonName: "x", Client: true, Parent: other})
	c.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool(), Certificates: []tls.Certificate{stranger.TLSCertificate()}}}
	if resp, err := c.Get(srv.URL); err == nil {
		resp.Body.Close()
		t.Error("a client certificate from another CA was accepted")
	}
}

func TestWriteFiles(t *testing.T) {
	p := Must(t, Options{CommonName: "f"})
	crt, key, err := p.WriteFiles(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tls.LoadX509KeyPair(crt, key); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(key); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v, %v", st.Mode(), err)
	}
	if _, err := x509.ParseCertificate(p.DER); err != nil {
		t.Fatal(err)
	}
}
