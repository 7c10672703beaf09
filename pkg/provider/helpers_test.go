package provider

import (
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/extmetrics/extmetrics/internal/certgen"
)

// fakeServer is an httptest TLS server speaking just enough of the External
// Metrics API for unit tests. Integration tests use the devserver.
type fakeServer struct {
	*httptest.Server
	mu      sync.Mutex
	auths   []string // Authorization headers seen on metric requests
	hits    int      // metric requests
	metric  http.HandlerFunc
	noGroup bool // /apis without external.metrics.k8s.io
}

func newFakeServer(t testing.TB, metric http.HandlerFunc) *fakeServer {
	t.Helper()
	fs := &fakeServer{metric: metric}
	mux := http.NewServeMux()
	mux.HandleFunc("/apis", func(w http.ResponseWriter, r *http.Request) {
		groups := `{"kind":"APIGroupList","apiVersion":"v1","groups":[{"name":"apps","versions":[{"groupVersion":"apps/v1","version":"v1"}],"preferredVersion":{"groupVersion":"apps/v1","version":"v1"}}`
		if !fs.noGroup {
			groups += `,{"name":"external.metrics.k8s.io","versions":[{"groupVersion":"external.metrics.k8s.io/v1beta1","version":"v1beta1"}],"preferredVersion":{"groupVersion":"external.metrics.k8s.io/v1beta1","version":"v1beta1"}}`
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, groups+`]}`)
	})
	mux.HandleFunc("/apis/external.metrics.k8s.io/v1beta1", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"kind":"APIResourceList","apiVersion":"v1","groupVersion":"external.metrics.k8s.io/v1beta1","resources":[{"name":"requests","namespaced":true,"kind":"ExternalMetricValueList","verbs":["get"]},{"name":"errors","namespaced":true,"kind":"ExternalMetricValueList","verbs":["get"]},{"name":"requests","namespaced":true,"kind":"ExternalMetricValueList","verbs":["get"]}]}`)
	})
	mux.HandleFunc("/apis/external.metrics.k8s.io/v1beta1/namespaces/", func(w http.ResponseWriter, r *http.Request) {
		fs.mu.Lock()
		fs.auths = append(fs.auths, r.Header.Get("Authorization"))
		fs.hits++
		h := fs.metric
		fs.mu.Unlock()
		if h == nil {
			h = valuesHandler(itemJSON("requests", nil, "1500m", time.Now()))
		}
		h(w, r)
	})
	fs.Server = httptest.NewTLSServer(mux)
	t.Cleanup(fs.Close)
	return fs
}

func (fs *fakeServer) setMetric(h http.HandlerFunc) {
	fs.mu.Lock()
	fs.metric = h
	fs.mu.Unlock()
}

func (fs *fakeServer) lastAuth() string {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if len(fs.auths) == 0 {
		return ""
	}
	return fs.auths[len(fs.auths)-1]
}

func (fs *fakeServer) hitCount() int {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return fs.hits
}

// caPEM is the PEM of the server's self-signed certificate (its own CA).
func (fs *fakeServer) caPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: fs.Certificate().Raw})
}

func itemJSON(metric string, labels map[string]string, value string, ts time.Time) string {
	lb, _ := json.Marshal(labels)
	if labels == nil {
		lb = []byte("{}")
	}
	return fmt.Sprintf(`{"metricName":%q,"metricLabels":%s,"timestamp":%q,"window":60,"value":%q}`, metric, lb, ts.UTC().Format(time.RFC3339), value)
}

func valuesHandler(items ...string) http.HandlerFunc {
	body := `{"kind":"ExternalMetricValueList","apiVersion":"external.metrics.k8s.io/v1beta1","metadata":{},"items":[` + strings.Join(items, ",") + `]}`
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, body)
	}
}

func statusHandler(code int, message string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		b, _ := json.Marshal(map[string]any{"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": message, "code": code})
		w.Write(b)
	}
}

// certPair is a PEM certificate and key.
type certPair struct {
	cert, key []byte
	x509      *x509.Certificate
	priv      *ecdsa.PrivateKey
	pair      *certgen.Pair
}

// newCA makes a self-signed CA; makeCert issues a certificate from parent
// (self-signed when nil). Both come from internal/certgen.
func newCA(t testing.TB, cn string) certPair {
	t.Helper()
	return makeCert(t, cn, nil, true)
}

func makeCert(t testing.TB, cn string, parent *certPair, isCA bool) certPair {
	t.Helper()
	o := certgen.Options{CommonName: cn, CA: isCA}
	if parent != nil {
		o.Parent = parent.pair
	}
	p := certgen.Must(t, o)
	return certPair{cert: p.CertPEM, key: p.KeyPEM, x509: p.Cert, priv: p.Key, pair: p}
}

func pemEncode(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}
