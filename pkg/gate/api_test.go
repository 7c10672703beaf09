package gate_test

import (
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/extmetrics/extmetrics/pkg/devserver"
	"github.com/extmetrics/extmetrics/pkg/gate"
)

func TestBadRequests(t *testing.T) {
	fx := newFixture(t, devserver.ProfilePrometheusAdapter, 0)
	g := fx.g
	big := `{"provider":"dev","query":"` + strings.Repeat("a", gate.MaxBodyBytes) + `"}`
	for _, c := range []struct {
		name, method, path, body string
		status                   int
		msg                      string
	}{
		{"not json", "POST", "/v1/check", `{"provider":`, 400, "invalid JSON"},
		{"empty", "POST", "/v1/check", ``, 400, "empty request body"},
		{"unknown field", "POST", "/v1/check", `{"provider":"dev","query":"m","max":1,"maxx":2}`, 400, `unknown field "maxx"`},
		{"wrong type", "POST", "/v1/check", `{"provider":"dev","query":"m","max":"1"}`, 400, `field "max"`},
		{"two values", "POST", "/v1/check", `{"provider":"dev","query":"m","max":1} {}`, 400, "more than one"},
		{"too big", "POST", "/v1/check", big, 400, "larger than 65536 bytes"},
		{"no range", "POST", "/v1/check", `{"provider":"dev","query":"default/requests"}`, 400, "no range"},
		{"min above max", "POST", "/v1/check", `{"provider":"dev","query":"m","min":2,"max":1}`, 400, "no value can pass"},
		{"both", "POST", "/v1/check", `{"provider":"dev","query":"m","templateRef":"a/b","max":1}`, 400, "not both"},
		{"nothing", "POST", "/v1/check", `{"max":1}`, 400, "give templateRef"},
		{"query without provider", "POST", "/v1/check", `{"query":"m","max":1}`, 400, "needs a provider"},
		{"bad template", "POST", "/v1/check", `{"provider":"dev","query":"{{ nosuch }}","max":1}`, 400, "rendering"},
		{"missing variable", "POST", "/v1/check", `{"provider":"dev","query":"{{ variables.x }}","max":1}`, 400, "rendering"},
		{"missing template", "POST", "/v1/check", `{"templateRef":"default/nosuch","max":1}`, 400, `MetricTemplate "nosuch" not found in namespace "default"`},
		{"template without namespace", "POST", "/v1/check", `{"templateRef":"requests","max":1}`, 400, "no namespace"},
		{"other provider type", "POST", "/v1/check", `{"templateRef":"default/prom","max":1}`, 400, `"prometheus"`},
		{"GET check", "GET", "/v1/check", ``, 405, "use POST"},
		{"POST argo", "POST", "/argo/v1/value", `{}`, 405, "use GET"},
		{"argo unknown param", "GET", "/argo/v1/value?provider=dev&query=m&qeury=x", ``, 400, `unknown parameter(s) "qeury"`},
		{"argo twice", "GET", "/argo/v1/value?provider=dev&provider=x&query=m", ``, 400, "given 2 times"},
		{"flagger not json", "POST", "/flagger/v1/check", `nope`, 400, "invalid JSON"},
		{"flagger no name", "POST", "/flagger/v1/check", `{"namespace":"default","metadata":{"provider":"dev","query":"m","max":"1"}}`, 400, "name and namespace"},
		{"flagger unknown key", "POST", "/flagger/v1/check", `{"name":"web","namespace":"default","metadata":{"templateRef":"requests","mx":"1"}}`, 400, `unknown metadata key(s) "mx"`},
		{"flagger bad max", "POST", "/flagger/v1/check", `{"name":"web","namespace":"default","metadata":{"templateRef":"requests","max":"one"}}`, 400, `metadata.max: "one" is not a number`},
		{"flagger no range", "POST", "/flagger/v1/check", `{"name":"web","namespace":"default","metadata":{"templateRef":"requests"}}`, 400, "no range"},
		{"flagger missing template", "POST", "/flagger/v1/check", `{"name":"web","namespace":"default","metadata":{"templateRef":"nosuch","max":"1"}}`, 400, `MetricTemplate "nosuch" not found in namespace "default"`},
		{"flagger canary missing", "POST", "/flagger/v1/check", `{"name":"nosuch","namespace":"default","metadata":{"templateRef":"requests","max":"1","variables.metric":"requests"}}`, 400, "Canary default/nosuch not found"},
	} {
		t.Run(c.name, func(t *testing.T) {
			a := g.do(t, c.method, c.path, c.body)
			text := a.body
			if a.res.Error != "" {
				text = a.res.Error
			}
			if a.status != c.status || !strings.Contains(text, c.msg) {
				t.Fatalf("%d %s; want %d with %q", a.status, a.body, c.status, c.msg)
			}
			if c.status == 400 && strings.HasPrefix(c.path, "/flagger") && strings.Contains(a.body, "\n") {
				t.Fatalf("not one line: %q", a.body)
			}
			if c.status == 400 && !strings.HasPrefix(c.path, "/flagger") && (a.res.ErrorKind != "bad-request" && a.res.ErrorKind != "invalid-query" || a.res.Passed) {
				t.Fatalf("errorKind: %s", a.body)
			}
		})
	}
	// A Flagger payload may carry fields a newer Flagger adds.
	a := g.do(t, "POST", "/flagger/v1/check", `{"name":"web","namespace":"default","phase":"Progressing","checksum":"x","buildId":"7","metadata":{"templateRef":"requests","max":"2"}}`)
	if a.status != 200 {
		t.Fatalf("%d %s", a.status, a.body)
	}
}

func TestHealthReadyMetrics(t *testing.T) {
	ready, detail := false, "informers not synced"
	g := newGate(t, gate.Options{Ready: func() (bool, string) { return ready, detail }})
	if a := g.do(t, "GET", "/healthz", ""); a.status != 200 {
		t.Fatal(a.status)
	}
	if a := g.do(t, "GET", "/readyz", ""); a.status != 503 || !strings.Contains(a.body, "informers not synced") {
		t.Fatal(a.status, a.body)
	}
	ready, detail = true, "synced"
	if a := g.do(t, "GET", "/readyz", ""); a.status != 200 || !strings.Contains(a.body, "synced") {
		t.Fatal(a.status, a.body)
	}
	g.check(t, map[string]any{"provider": "nosuch", "query": "m", "max": 1})
	m := g.metrics(t)
	for _, want := range []string{
		`extmetrics_gate_checks_total{endpoint="check",error_kind="unknown-provider",verdict="error"} 1`,
		`extmetrics_gate_cache_requests_total{result="hit"} 0`,
		"extmetrics_gate_check_duration_seconds_bucket",
		"process_resident_memory_bytes",
	} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

func TestAuthToken(t *testing.T) {
	const tok = "gate-client-token-1234"
	g := newGate(t, gate.Options{AuthToken: tok})
	body := `{"provider":"nosuch","query":"m","max":1}`
	for _, h := range [][]string{nil, {"Authorization", "Bearer wrong"}, {"Authorization", "Basic " + tok}} {
		if a := g.do(t, "POST", "/v1/check", body, h...); a.status != 401 || a.res.ErrorKind != "unauthenticated" {
			t.Fatalf("%v: %d %s", h, a.status, a.body)
		}
	}
	if a := g.do(t, "POST", "/flagger/v1/check", `{}`); a.status != 401 || strings.Contains(a.body, "\n") {
		t.Fatalf("%d %q", a.status, a.body)
	}
	if a := g.do(t, "GET", "/argo/v1/value", ""); a.status != 401 {
		t.Fatalf("%d", a.status)
	}
	// Right token: the request is judged (unknown provider).
	if a := g.do(t, "POST", "/v1/check", body, "Authorization", "bearer "+tok); a.status != 400 || a.res.ErrorKind != "unknown-provider" {
		t.Fatalf("%d %s", a.status, a.body)
	}
	// Probes and metrics stay open.
	if a := g.do(t, "GET", "/healthz", ""); a.status != 200 {
		t.Fatal(a.status)
	}
	if strings.Contains(g.log.String()+g.metrics(t), tok) {
		t.Fatal("token in logs or metrics")
	}
}

func TestAuthMTLS(t *testing.T) {
	g, err := gate.New(gate.Options{RequireClientCert: true})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(g.Handler())
	srv.TLS = &tls.Config{ClientAuth: tls.VerifyClientCertIfGiven}
	srv.StartTLS()
	defer srv.Close()
	// The test server's certificate doubles as a client certificate signed by itself.
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	srv.TLS.ClientCAs = pool
	body := strings.NewReader(`{"provider":"nosuch","query":"m","max":1}`)
	resp, err := srv.Client().Post(srv.URL+"/v1/check", "application/json", body)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Fatalf("without a client certificate: %d", resp.StatusCode)
	}
	// /healthz answers without one (kubelet probes).
	resp, err = srv.Client().Get(srv.URL + "/healthz")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatal(resp, err)
	}
	resp.Body.Close()
}

// Whatever the body, the check endpoints answer (no panic), never pass
// without a provider to ask, and Flagger's answers stay one line.
func FuzzEndpoints(f *testing.F) {
	g, err := gate.New(gate.Options{})
	if err != nil {
		f.Fatal(err)
	}
	h := g.Handler()
	f.Add("/v1/check", `{"provider":"dev","query":"default/m","max":1}`)
	f.Add("/flagger/v1/check", `{"name":"web","namespace":"default","metadata":{"templateRef":"t","max":"1","variables.x":"y"}}`)
	f.Add("/argo/v1/value?provider=a&query=b", ``)
	f.Add("/v1/check", `{"templateRef":"a/b","min":1e308,"max":-1e308}`)
	f.Add("/v1/check", `{"provider":"dev","query":"default/m","baseline":"default/b","maxRatio":1.2,"minDelta":-1}`)
	f.Add("/flagger/v1/check", `{"name":"web","namespace":"default","metadata":{"templateRef":"t","baselineTemplateRef":"u","maxRatio":"1.2","maxDelta":"NaN"}}`)
	f.Add("/flagger/v1/check", `{"name":"web","namespace":"default","metadata":{"provider":"p","query":"q","baseline":"{{ target }}","minRatio":"2","maxRatio":"1"}}`)
	f.Add("/argo/v1/value?provider=a&query=b&baseline=c", ``)
	f.Fuzz(func(t *testing.T, path, body string) {
		if !strings.HasPrefix(path, "/") {
			path = "/" + path
		}
		method := "POST"
		if strings.HasPrefix(path, "/argo") {
			method = "GET"
		}
		req, err := http.NewRequest(method, "http://gate"+path, strings.NewReader(body))
		if err != nil {
			return
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code == 200 && (strings.HasPrefix(req.URL.Path, "/v1/") || strings.HasPrefix(req.URL.Path, "/flagger/") || strings.HasPrefix(req.URL.Path, "/argo/")) {
			t.Fatalf("%s %q: 200 without any provider: %s", path, body, w.Body)
		}
		if strings.HasPrefix(req.URL.Path, "/flagger/") && strings.ContainsAny(strings.TrimSuffix(w.Body.String(), "\n"), "\r\n") {
			t.Fatalf("flagger answer not one line: %q", w.Body)
		}
	})
}
