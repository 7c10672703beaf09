package gate_test

import (
	"encoding/pem"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/client-go/rest"

	"github.com/extmetrics/extmetrics/pkg/devserver"
	"github.com/extmetrics/extmetrics/pkg/devserver/devservertest"
	"github.com/extmetrics/extmetrics/pkg/gate"
)

// upstream is a real HTTPS External Metrics endpoint that records the
// Authorization header of every request and counts connections.
type upstream struct {
	*httptest.Server
	ln   *countingListener
	mu   sync.Mutex
	auth []string
}

func newUpstream(t *testing.T) *upstream {
	u := &upstream{}
	u.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.mu.Lock()
		u.auth = append(u.auth, r.Header.Get("Authorization"))
		u.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"kind":"ExternalMetricValueList","apiVersion":"external.metrics.k8s.io/v1beta1","metadata":{},"items":[{"metricName":"m","metricLabels":{},"timestamp":"` + time.Now().UTC().Format(time.RFC3339) + `","value":"1"}]}`))
	}))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u.ln = &countingListener{Listener: ln}
	u.Server.Listener = u.ln
	u.StartTLS()
	t.Cleanup(u.Close)
	return u
}

func (u *upstream) caPEM() string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: u.Certificate().Raw}))
}

func (u *upstream) seen() []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]string(nil), u.auth...)
}

// No SSRF: nothing in a request can make the gate connect anywhere that is
// not a named provider or a MetricTemplate's address.
func TestNoSSRF(t *testing.T) {
	named, victim := newUpstream(t), newUpstream(t)
	g := newGate(t, gate.Options{
		Config:  &gate.Config{Providers: []gate.ProviderConfig{{Name: "named", Address: named.URL, InsecureSkipVerify: true}}},
		Objects: objects(t, ""),
	})
	victimURL := url.QueryEscape(victim.URL)
	for _, c := range []struct {
		method, path, body, msg string
	}{
		{"POST", "/v1/check", `{"provider":"nosuch","query":"default/m","max":1}`, `unknown provider`},
		{"POST", "/v1/check", `{"provider":"` + victim.URL + `","query":"default/m","max":1}`, `unknown provider`},
		{"POST", "/v1/check", `{"address":"` + victim.URL + `","query":"default/m","max":1}`, "raw address is refused"},
		{"POST", "/v1/check", `{"provider":"named","address":"` + victim.URL + `","query":"default/m","max":1}`, "raw address is refused"},
		{"POST", "/flagger/v1/check", `{"name":"web","namespace":"default","metadata":{"address":"` + victim.URL + `","query":"default/m","max":"1"}}`, "raw address is refused"},
		{"POST", "/flagger/v1/check", `{"name":"web","namespace":"default","metadata":{"provider":"nosuch","query":"default/m","max":"1"}}`, `unknown provider`},
		{"GET", "/argo/v1/value?address=" + victimURL + "&query=default/m", ``, "raw address is refused"},
		{"GET", "/argo/v1/value?server=" + victimURL + "&query=default/m", ``, "raw address is refused"},
		{"GET", "/argo/v1/value?provider=nosuch&query=default/m", ``, "unknown provider"},
		{"GET", "/argo/v1/value?template=default/nosuch", ``, "not found"},
	} {
		a := g.do(t, c.method, c.path, c.body)
		if a.status != 400 || !strings.Contains(a.body, c.msg) {
			t.Errorf("%s %s %s: %d %s; want 400 %q", c.method, c.path, c.body, a.status, a.body, c.msg)
		}
	}
	if n := victim.ln.n.Load() + named.ln.n.Load(); n != 0 {
		t.Fatalf("%d outbound connections for refused requests", n)
	}
	// Control: a named provider does connect (the counter works).
	if a := g.check(t, map[string]any{"provider": "named", "query": "default/m", "max": 1}); a.status != 200 {
		t.Fatalf("%d %s", a.status, a.body)
	}
	if named.ln.n.Load() != 1 || victim.ln.n.Load() != 0 {
		t.Fatalf("connections: named %d, victim %d", named.ln.n.Load(), victim.ln.n.Load())
	}
}

// The gate's own credentials stay home: a MetricTemplate's address receives
// only the template's secretRef credentials.
func TestCredentialsStayHome(t *testing.T) {
	const gateToken = "gate-service-account-token"
	cluster, attacker := newUpstream(t), newUpstream(t)
	clusterCfg := &rest.Config{Host: cluster.URL, BearerToken: gateToken,
		TLSClientConfig: rest.TLSClientConfig{CAData: []byte(cluster.caPEM())}}
	objs := objects(t, fmtf(`
apiVersion: flagger.app/v1beta1
kind: MetricTemplate
metadata: {name: no-secret, namespace: team}
spec:
  provider: {type: externalmetrics, address: %[1]s, insecureSkipVerify: true}
  query: default/m
---
apiVersion: flagger.app/v1beta1
kind: MetricTemplate
metadata: {name: own-secret, namespace: team}
spec:
  provider: {type: externalmetrics, address: %[1]s, secretRef: {name: creds}}
  query: default/m
---
apiVersion: flagger.app/v1beta1
kind: MetricTemplate
metadata: {name: cluster, namespace: team}
spec:
  provider: {type: externalmetrics}
  query: default/m
---
apiVersion: flagger.app/v1beta1
kind: MetricTemplate
metadata: {name: cluster-secret, namespace: team}
spec:
  provider: {type: externalmetrics, secretRef: {name: creds}}
  query: default/m
---
apiVersion: flagger.app/v1beta1
kind: MetricTemplate
metadata: {name: shared, namespace: shared}
spec:
  provider: {type: externalmetrics, address: %[1]s, secretRef: {name: creds}}
  query: default/m
---
apiVersion: v1
kind: Secret
metadata: {name: creds, namespace: team}
stringData:
  token: template-token
  ca.crt: |
%[2]s
`, attacker.URL, indent(attacker.caPEM(), "    ")))
	g := newGate(t, gate.Options{Cluster: clusterCfg, Objects: objs,
		Config: &gate.Config{Providers: []gate.ProviderConfig{{Name: "cluster"}}}})

	for _, c := range []struct {
		ref    string
		status int
	}{
		{"no-secret", 200}, {"own-secret", 200}, {"cluster", 200}, {"cluster-secret", 200},
		// Secrets come from the template's namespace (Flagger's rule), not the caller's.
		{"shared/shared", 400},
	} {
		a := g.flagger(t, "team", "web", map[string]string{"templateRef": c.ref, "max": "1", "target": "web"})
		if a.status != c.status {
			t.Fatalf("%s: %d %s", c.ref, a.status, a.body)
		}
	}
	if a := g.check(t, map[string]any{"provider": "cluster", "query": "default/m", "max": 1}); a.status != 200 {
		t.Fatalf("named cluster: %d %s", a.status, a.body)
	}
	got := attacker.seen()
	if len(got) != 2 || got[0] != "" || got[1] != "Bearer template-token" {
		t.Fatalf("the template's address received %q; want no credential, then only the template's token", got)
	}
	got = cluster.seen()
	if len(got) != 3 || got[0] != "Bearer "+gateToken || got[1] != "Bearer template-token" || got[2] != "Bearer "+gateToken {
		t.Fatalf("the cluster received %q", got)
	}
	if a := g.flagger(t, "team", "web", map[string]string{"templateRef": "shared/shared", "max": "1"}); !strings.Contains(a.body, `Secret "creds" not found in namespace "shared"`) {
		t.Fatalf("%s", a.body)
	}
	if strings.Contains(g.log.String()+g.metrics(t), "template-token") || strings.Contains(g.log.String(), gateToken) {
		t.Fatal("token in logs or metrics")
	}
}

// A template without an address cannot turn off the verification of the
// gate's own cluster (where the gate's token goes).
func TestTemplateCannotDisableClusterTLS(t *testing.T) {
	cluster, other := devservertest.New(t, devserver.Config{}), devservertest.New(t, devserver.Config{})
	cluster.SetSeries("default", "m", nil, "1")
	// The cluster config trusts another CA: every request to the cluster fails verification.
	clusterCfg := devservertest.RESTConfig(cluster, devservertest.Token)
	clusterCfg.CAData = other.CAPEM()
	objs := objects(t, `
apiVersion: flagger.app/v1beta1
kind: MetricTemplate
metadata: {name: insecure, namespace: team}
spec:
  provider: {type: externalmetrics, insecureSkipVerify: true}
  query: default/m
`)
	g := newGate(t, gate.Options{Cluster: clusterCfg, Objects: objs})
	a := g.flagger(t, "team", "web", map[string]string{"templateRef": "insecure", "max": "1"})
	if a.status != 424 || !strings.Contains(a.body, "certificate") {
		t.Fatalf("%d %s", a.status, a.body)
	}
	if n := upstreamCount(t, cluster); n != 0 {
		t.Fatalf("the gate's token went over unverified TLS (%d requests)", n)
	}
}

// Without a cluster the gate serves named providers only and says why
// templates fail.
func TestNoCluster(t *testing.T) {
	named := newUpstream(t)
	g := newGate(t, gate.Options{Config: &gate.Config{Providers: []gate.ProviderConfig{
		{Name: "named", Address: named.URL, InsecureSkipVerify: true}, {Name: "cluster"}}}})
	if a := g.check(t, map[string]any{"provider": "named", "query": "default/m", "max": 1}); a.status != 200 {
		t.Fatalf("%d %s", a.status, a.body)
	}
	a := g.check(t, map[string]any{"templateRef": "default/t", "max": 1})
	if a.status != 400 || !strings.Contains(a.res.Error, "no cluster") {
		t.Fatalf("%d %s", a.status, a.body)
	}
	a = g.check(t, map[string]any{"provider": "cluster", "query": "default/m", "max": 1})
	if a.status != 503 || !strings.Contains(a.res.Error, "no cluster configuration") {
		t.Fatalf("%d %s", a.status, a.body)
	}
}
