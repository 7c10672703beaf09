package gate_test

// The gate in-process against the real development server (package
// devserver) over HTTPS on loopback, for every profile, every endpoint and
// every fault: nothing but a good value in range is ever a 200 pass.

import (
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/extmetrics/extmetrics/pkg/devserver"
	"github.com/extmetrics/extmetrics/pkg/devserver/devservertest"
	"github.com/extmetrics/extmetrics/pkg/gate"
	"github.com/extmetrics/extmetrics/pkg/scenario"
)

const teamAToken = "team-a-secret-token"

// fixture is a devserver of one profile and a gate with named providers
// and objects pointing at it.
type fixture struct {
	s  *devserver.Server
	g  *testGate
	ok string // a metric with value 1.5 (1500m)
}

func newFixture(t *testing.T, profile string, ttl time.Duration) *fixture {
	s := devservertest.New(t, devserver.Config{Profile: profile, Tokens: map[string][]string{
		devservertest.Token: {devserver.AllNamespaces},
		teamAToken:          {"team-a"},
	}})
	ok := metricFor(profile, "requests")
	if err := s.SetSeries("default", ok, map[string]string{"app": "web"}, "1500m"); err != nil {
		t.Fatal(err)
	}
	caFile, tokenFile := providerFiles(t, s, devservertest.Token)
	_, wrongToken := providerFiles(t, s, "wrong-token")
	_, teamA := providerFiles(t, s, teamAToken)
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := closed.Addr().String()
	closed.Close()

	// A server answering a value that is not a number.
	nan := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"kind":"ExternalMetricValueList","apiVersion":"external.metrics.k8s.io/v1beta1","metadata":{},"items":[{"metricName":"m","metricLabels":{},"timestamp":"2026-01-01T00:00:00Z","value":"NaN"}]}`))
	}))
	t.Cleanup(nan.Close)

	cfg := &gate.Config{Providers: []gate.ProviderConfig{
		{Name: "dev", Address: s.URL(), CAFile: caFile, TokenFile: tokenFile},
		{Name: "wrongtoken", Address: s.URL(), CAFile: caFile, TokenFile: wrongToken},
		{Name: "teama", Address: s.URL(), CAFile: caFile, TokenFile: teamA},
		{Name: "untrusted", Address: s.URL(), TokenFile: tokenFile},
		{Name: "refused", Address: "https://" + closedAddr, CAFile: caFile, TokenFile: tokenFile},
		{Name: "nan", Address: nan.URL, InsecureSkipVerify: true},
	}}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	objs := objects(t, fmtf(`
apiVersion: flagger.app/v1beta1
kind: MetricTemplate
metadata: {name: requests, namespace: default}
spec:
  provider:
    type: externalmetrics
    address: %s
    secretRef: {name: devserver}
  query: |
    {{ namespace }}/{{ variables.metric }}?labelSelector=app%%3D{{ target }}
---
apiVersion: flagger.app/v1beta1
kind: MetricTemplate
metadata: {name: prom, namespace: default}
spec:
  provider: {type: prometheus, address: http://prometheus:9090}
  query: up
---
apiVersion: v1
kind: Secret
metadata: {name: devserver, namespace: default}
stringData:
  token: %s
  ca.crt: |
%s
---
apiVersion: flagger.app/v1beta1
kind: Canary
metadata: {name: web, namespace: default}
spec:
  targetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
  service: {port: 80}
  analysis:
    interval: 1m
    threshold: 1
    metrics:
      - name: requests
        templateRef: {name: requests}
        templateVariables: {metric: "%s"}
        thresholdRange: {max: 2}
`, s.URL(), devservertest.Token, indent(string(s.CAPEM()), "    "), ok))
	g := newGate(t, gate.Options{Config: cfg, Objects: objs, CacheTTL: ttl, Timeout: 3 * time.Second})
	return &fixture{s: s, g: g, ok: ok}
}

func indent(s, pre string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i := range lines {
		lines[i] = pre + lines[i]
	}
	return strings.Join(lines, "\n")
}

func TestDevserverProfiles(t *testing.T) {
	for _, profile := range profiles {
		t.Run(profile, func(t *testing.T) {
			t.Parallel()
			fx := newFixture(t, profile, gate.DefaultCacheTTL)
			g, ok := fx.g, "default/"+fx.ok

			// /v1/check: pass, out of range, full result.
			a := g.check(t, map[string]any{"provider": "dev", "query": ok, "max": 2})
			if a.status != 200 || !a.res.Passed || a.res.Verdict != "pass" || a.res.Value == nil || *a.res.Value != 1.5 || len(a.res.Items) != 1 || a.res.Latency == "" {
				t.Fatalf("pass: %d %s", a.status, a.body)
			}
			a = g.check(t, map[string]any{"provider": "dev", "query": ok, "min": 0, "max": 1})
			if a.status != 422 || a.res.Passed || a.res.Verdict != "fail" || a.res.ErrorKind != "out-of-range" || *a.res.Value != 1.5 || !a.res.Cached {
				t.Fatalf("out of range: %d %s", a.status, a.body)
			}
			// Bounds are inclusive.
			if a = g.check(t, map[string]any{"provider": "dev", "query": ok, "min": 1.5, "max": 1.5}); a.status != 200 {
				t.Fatalf("inclusive: %d %s", a.status, a.body)
			}

			// Flagger: templateRef rendered with the Canary's variables.
			a = g.flagger(t, "default", "web", map[string]string{"templateRef": "requests", "max": "2"})
			if a.status != 200 || a.res.Verdict != "pass" || a.res.Template != "default/requests" || !strings.Contains(a.res.Query, "app=web") {
				t.Fatalf("flagger pass: %d %s", a.status, a.body)
			}
			a = g.flagger(t, "default", "web", map[string]string{"templateRef": "default/requests", "max": "1"})
			if a.status != 422 || strings.Contains(a.body, "\n") || !strings.Contains(a.body, "value 1.5 outside max 1") || !strings.Contains(a.body, "default/requests") {
				t.Fatalf("flagger fail: %d %q", a.status, a.body)
			}
			a = g.flagger(t, "default", "web", map[string]string{"provider": "dev", "query": "{{ namespace }}/" + fx.ok, "min": "1"})
			if a.status != 200 {
				t.Fatalf("flagger provider+query: %d %q", a.status, a.body)
			}

			// Argo: the value for jsonPath {$.value}.
			a = g.do(t, "GET", "/argo/v1/value?provider=dev&query="+url.QueryEscape(ok), "")
			if a.status != 200 || a.res.Value == nil || *a.res.Value != 1.5 || !strings.Contains(a.body, `"value":1.5`) {
				t.Fatalf("argo: %d %s", a.status, a.body)
			}
			a = g.do(t, "GET", "/argo/v1/value?template=default/requests&namespace=default&name=web&variables.metric="+url.QueryEscape(fx.ok), "")
			if a.status != 200 || *a.res.Value != 1.5 {
				t.Fatalf("argo template: %d %s", a.status, a.body)
			}

			// Every fault: never a 200 pass, on any endpoint.
			type fault struct {
				name     string
				provider string
				query    string
				kind     string
			}
			var faults []fault
			for _, fl := range []struct {
				name  string
				fault scenario.Fault
				kind  string
			}{
				{"503", scenario.Fault{Status: 503}, "unavailable"},
				{"502", scenario.Fault{Status: 502}, "unavailable"},
				{"500", scenario.Fault{Status: 500}, "unavailable"},
				{"429", scenario.Fault{Status: 429}, "unavailable"},
				{"404", scenario.Fault{Status: 404}, "not-found"},
				{"reset", scenario.Fault{Reset: true}, "unavailable"},
				{"malformed", scenario.Fault{Malformed: true}, "unavailable"},
				{"truncated", scenario.Fault{Truncate: true}, "unavailable"},
				{"timeout", scenario.Fault{Latency: 8 * time.Second}, "unavailable"},
			} {
				m := metricFor(profile, "fault-"+fl.name)
				if err := fx.s.SetSeries("default", m, nil, "1"); err != nil {
					t.Fatal(err)
				}
				fx.s.SetFault(m, fl.fault)
				faults = append(faults, fault{fl.name, "dev", "default/" + m, fl.kind})
			}
			stale := metricFor(profile, "stale")
			fx.s.SetSeries("default", stale, nil, "1")
			fx.s.SetFault(stale, scenario.Fault{StaleBy: 5 * time.Minute})
			if profile == devserver.ProfileDatadog {
				faults = append(faults, fault{"stale", "dev", "default/" + stale, "stale"})
			} else {
				faults = append(faults, fault{"stale", "dev", "default/" + stale + "?maxAge=1m", "stale"})
			}
			empty := map[string]string{devserver.ProfilePrometheusAdapter: "not-found", devserver.ProfileCMA: "no-values", devserver.ProfileDatadog: "not-found"}[profile]
			fx.s.SetSeries("team-b", metricFor(profile, "requests"), nil, "1")
			multi := metricFor(profile, "multi")
			fx.s.SetSeries("default", multi, map[string]string{"pod": "a"}, "1")
			fx.s.SetSeries("default", multi, map[string]string{"pod": "b"}, "1")
			faults = append(faults,
				fault{"empty", "dev", "default/" + metricFor(profile, "nosuch"), empty},
				fault{"401", "wrongtoken", ok, "unauthorized"},
				fault{"403", "teama", ok, "forbidden"},
				fault{"untrusted-cert", "untrusted", ok, "unavailable"},
				fault{"refused", "refused", ok, "unavailable"},
				fault{"nan", "nan", "default/m", "unavailable"},
				fault{"invalid-query", "dev", "default/bad metric", "invalid-query"},
			)
			if profile != devserver.ProfileDatadog { // the Cluster Agent serves one item per name and ignores selectors
				faults = append(faults,
					fault{"ambiguous", "dev", "default/" + multi, "ambiguous"},
					fault{"empty-selector", "dev", ok + "?labelSelector=app%3Dnone", "no-values"})
			}
			t.Run("faults", func(t *testing.T) {
				for _, fl := range faults {
					t.Run(fl.name, func(t *testing.T) {
						t.Parallel()
						start := time.Now()
						a := g.check(t, map[string]any{"provider": fl.provider, "query": fl.query, "min": -1e9, "max": 1e9})
						if a.status < 400 || a.res.Passed || a.res.Verdict != "error" || a.res.ErrorKind != fl.kind || a.res.Error == "" {
							t.Fatalf("/v1/check: %d %s; want errorKind %s", a.status, a.body, fl.kind)
						}
						fa := g.flagger(t, "default", "web", map[string]string{"provider": fl.provider, "query": fl.query, "min": "-1e9", "max": "1e9"})
						if fa.status < 400 || fa.status >= 500 || fa.status == 429 || strings.Contains(fa.body, "\n") || !strings.Contains(fa.body, fl.kind) {
							t.Fatalf("flagger: %d %q; want a 4xx (not 429) one-line reason with %s", fa.status, fa.body, fl.kind)
						}
						aa := g.do(t, "GET", "/argo/v1/value?provider="+fl.provider+"&query="+url.QueryEscape(fl.query), "")
						if aa.status < 400 || aa.res.ErrorKind != fl.kind || aa.res.Value != nil {
							t.Fatalf("argo: %d %s", aa.status, aa.body)
						}
						if d := time.Since(start); d > 20*time.Second {
							t.Errorf("took %v", d)
						}
					})
				}

			})

			// Nothing the gate said or logged holds a token.
			all := g.log.String() + g.metrics(t)
			for _, tok := range []string{devservertest.Token, teamAToken, "wrong-token"} {
				if strings.Contains(all, tok) {
					t.Fatalf("token %q in logs or metrics", tok)
				}
			}
			if !strings.Contains(g.log.String(), `"msg":"check"`) || !strings.Contains(g.log.String(), `"canary":"default/web"`) {
				t.Fatalf("no check log lines: %s", g.log.String())
			}
		})
	}
}

// Two series where one was meant: an explicit aggregate is accepted.
func TestAggregateResolvesAmbiguity(t *testing.T) {
	fx := newFixture(t, devserver.ProfilePrometheusAdapter, 0)
	fx.s.SetSeries("default", "multi", map[string]string{"pod": "a"}, "1")
	fx.s.SetSeries("default", "multi", map[string]string{"pod": "b"}, "3")
	a := fx.g.check(t, map[string]any{"provider": "dev", "query": "default/multi?aggregate=sum", "max": 4})
	if a.status != 200 || *a.res.Value != 4 || a.res.Matched != 2 {
		t.Fatalf("%d %s", a.status, a.body)
	}
}

func TestTLSInsecureNamedProvider(t *testing.T) {
	// insecureSkipVerify on a named provider: explicit, from the config.
	s := devservertest.New(t, devserver.Config{})
	s.SetSeries("default", "m", nil, "2")
	_, tokenFile := providerFiles(t, s, devservertest.Token)
	g := newGate(t, gate.Options{Config: &gate.Config{Providers: []gate.ProviderConfig{{Name: "dev", Address: s.URL(), TokenFile: tokenFile, InsecureSkipVerify: true}}}})
	if a := g.check(t, map[string]any{"provider": "dev", "query": "m", "max": 2}); a.status != 200 {
		t.Fatalf("%d %s", a.status, a.body)
	}
}
