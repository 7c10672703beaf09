package gate_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/extmetrics/extmetrics/pkg/devserver"
	"github.com/extmetrics/extmetrics/pkg/devserver/devservertest"
	"github.com/extmetrics/extmetrics/pkg/gate"
	"github.com/extmetrics/extmetrics/pkg/loadtest"
)

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchGate is a gate with the production logger (JSON, one line per
// check) writing to io.Discard, on a devserver; events, when given,
// records the checks' Events.
func benchGate(b *testing.B, events ...gate.EventRecorder) (*gate.Gate, *devserver.Server) {
	s := devservertest.New(b, devserver.Config{})
	s.SetSeries("default", "rate", map[string]string{"app": "web"}, "250m")
	caFile, tokenFile := providerFiles(b, s, devservertest.Token)
	objs := objects(b, `
apiVersion: flagger.app/v1beta1
kind: MetricTemplate
metadata: {name: rate, namespace: default}
spec:
  provider: {type: externalmetrics, address: `+s.URL()+`, insecureSkipVerify: true, secretRef: {name: tok}}
  query: '{{ namespace }}/rate?labelSelector=app%3D{{ target }}'
---
apiVersion: v1
kind: Secret
metadata: {name: tok, namespace: default}
stringData: {token: `+devservertest.Token+`}
---
apiVersion: flagger.app/v1beta1
kind: Canary
metadata: {name: web, namespace: default}
spec:
  targetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
  analysis: {interval: 1m, metrics: [{name: rate, templateRef: {name: rate}, thresholdRange: {max: 1}}]}
`)
	opts := gate.Options{CacheTTL: time.Hour, Objects: objs, Logger: slog.New(slog.NewJSONHandler(io.Discard, nil)),
		Config: &gate.Config{Providers: []gate.ProviderConfig{{Name: "dev", Address: s.URL(), CAFile: caFile, TokenFile: tokenFile}}}}
	if len(events) > 0 {
		opts.Events = events[0]
	}
	g, err := gate.New(opts)
	if err != nil {
		b.Fatal(err)
	}
	return g, s
}

// BenchmarkCachedCheck measures the gate's own cost of a check answered
// from the cache: CPU per check (cpu-µs/op, user+system of the process)
// next to wall time.
func BenchmarkCachedCheck(b *testing.B) {
	g, _ := benchGate(b)
	// The same gate recording Events (to a recorder that keeps nothing):
	// after the first, every check of the interval is de-duplicated — the
	// steady state of a canary's webhook.
	ge, _ := benchGate(b, discardEvents{})
	max := 1.0
	cases := []struct {
		name string
		run  func() int
	}{
		{"library/provider+query", func() int {
			r := g.Check(context.Background(), gate.Request{Endpoint: "check", Provider: "dev", Query: "default/rate?labelSelector=app%3Dweb", Max: &max, NeedRange: true})
			return map[bool]int{true: 200, false: 500}[r.Passed]
		}},
		// What the benchmark itself costs per request (building the
		// request, the recorder): subtract it from the http/ cases.
		{"http/baseline-noop-handler", serve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body)
			w.WriteHeader(200)
		}), "POST", "/flagger/v1/check", `{"name":"web","namespace":"default","phase":"Progressing","checksum":"x","metadata":{"templateRef":"rate","max":"1"}}`)},
		{"http/v1-check", serve(g.Handler(), "POST", "/v1/check", `{"provider":"dev","query":"default/rate?labelSelector=app%3Dweb","max":1}`)},
		{"http/flagger-templateRef", serve(g.Handler(), "POST", "/flagger/v1/check", `{"name":"web","namespace":"default","phase":"Progressing","checksum":"x","metadata":{"templateRef":"rate","max":"1"}}`)},
		{"http/argo", serve(g.Handler(), "GET", "/argo/v1/value?provider=dev&query="+url.QueryEscape("default/rate?labelSelector=app=web"), "")},
		{"http/flagger-templateRef+events", serve(ge.Handler(), "POST", "/flagger/v1/check", `{"name":"web","namespace":"default","phase":"Progressing","checksum":"x","metadata":{"templateRef":"rate","max":"1"}}`)},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			if code := c.run(); code != 200 {
				b.Fatalf("warm-up: %d", code)
			}
			b.ReportAllocs()
			cpu0 := cpuTime()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if code := c.run(); code != 200 {
					b.Fatalf("status %d", code)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(cpuTime()-cpu0)/float64(time.Microsecond)/float64(b.N), "cpu-µs/op")
		})
	}
}

type discardEvents struct{}

func (discardEvents) Record(gate.Event) {}

func serve(h http.Handler, method, path, body string) func() int {
	return func() int {
		req := httptest.NewRequest(method, path, strings.NewReader(body))
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		return w.Code
	}
}

// TestLoad: 200 concurrent clients against the gate over loopback for a
// few seconds (EXTMETRICS_GATE_LOAD_DURATION, e.g. 30s, for the
// docs/performance.md run): no errors, no goroutine left behind, one
// upstream request per TTL window.
func TestLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	dur := 3 * time.Second
	if v := strings.TrimSpace(getenv("EXTMETRICS_GATE_LOAD_DURATION")); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatal(err)
		}
		dur = d
	}
	const ttl = time.Second
	s, g := devGate(t, ttl, nil)
	s.SetSeries("default", "rate", map[string]string{"app": "web"}, "250m")
	// Warm up: the gate's connection to the devserver (and its goroutines)
	// is part of the steady state.
	if a := g.do(t, "GET", "/argo/v1/value?provider=dev&query=default/rate", ""); a.status != 200 {
		t.Fatalf("%d %s", a.status, a.body)
	}
	http.DefaultClient.CloseIdleConnections()
	g.srv.CloseClientConnections()
	time.Sleep(100 * time.Millisecond)
	base := upstreamCount(t, s)
	before := runtime.NumGoroutine()

	res, err := loadtest.Run(context.Background(), loadtest.Config{
		URLs:        []string{g.srv.URL + "/argo/v1/value?provider=dev&query=" + url.QueryEscape("default/rate?labelSelector=app=web")},
		Concurrency: 200, Duration: dur, Timeout: 10 * time.Second,
		MetricsURL: g.srv.URL + "/metrics",
	})
	if err != nil {
		t.Fatal(err)
	}
	upstream := upstreamCount(t, s) - base
	windows := int(res.ElapsedSec/ttl.Seconds()) + 2
	rss := uint64(0)
	if res.Server != nil {
		rss = res.Server.RSSBytes
	}
	t.Logf("200 clients x %s: %d requests (%.0f/s), %d errors, p50 %.2f ms, p99 %.2f ms, upstream requests %d (TTL %s), process RSS %.1f MiB (gate, devserver and clients in one test process)",
		dur, res.Requests, res.RequestsPerSec, res.Errors, res.Latency.P50, res.Latency.P99, upstream, ttl, float64(rss)/(1<<20))
	if res.Errors != 0 || res.OK == 0 {
		t.Fatalf("errors: %d of %d (status %v, transport %v)", res.Errors, res.Requests, res.Status, res.TransportErrors)
	}
	if upstream < 1 || upstream > windows {
		t.Fatalf("%d upstream requests in %.1fs with TTL %s; want at most %d", upstream, res.ElapsedSec, ttl, windows)
	}
	// Goroutines come back to where they were (keep-alive connections of the
	// load clients close with the run).
	deadline := time.Now().Add(30 * time.Second)
	for {
		g.srv.CloseClientConnections()
		after := runtime.NumGoroutine()
		if after <= before+5 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("goroutines: %d before, %d after the load", before, after)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
