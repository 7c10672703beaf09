package devserver_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/extmetrics/extmetrics/pkg/devserver"
	"github.com/extmetrics/extmetrics/pkg/devserver/devservertest"
	"github.com/extmetrics/extmetrics/pkg/scenario"
)

// benchScenario has 1 000 series: 100 metrics of 10 label sets each.
func benchScenario() *scenario.Scenario {
	sc := &scenario.Scenario{}
	for m := range 100 {
		for l := range 10 {
			sc.Metrics = append(sc.Metrics, scenario.Metric{
				Name:      fmt.Sprintf("metric_%03d", m),
				Namespace: "default",
				Labels:    map[string]string{"app": fmt.Sprintf("app-%d", l), "env": "prod"},
				Generator: scenario.Constant(1.5 + float64(l)),
			})
		}
	}
	return sc
}

// BenchmarkListHandler measures the list endpoint's handler alone (no
// network): 1 000 series in 100 metrics of 10 label sets each.
func BenchmarkListHandler(b *testing.B) {
	s, err := devserver.New(devserver.Config{Scenario: benchScenario(), Tokens: map[string][]string{"bench-token": {"*"}}})
	if err != nil {
		b.Fatal(err)
	}
	h := s.Handler()
	for _, bc := range []struct{ name, query string }{
		{"one-series", "labelSelector=app%3Dapp-3"},
		{"ten-series", ""},
		{"set-selector", "labelSelector=app+in+(app-1,app-2),env!=dev"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			req := &http.Request{Method: "GET", URL: &url.URL{Path: "/apis/external.metrics.k8s.io/v1beta1/namespaces/default/metric_042", RawQuery: bc.query},
				Header: http.Header{"Authorization": {"Bearer bench-token"}}}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != 200 {
					b.Fatalf("%d %s", rec.Code, rec.Body)
				}
			}
		})
	}
}

// BenchmarkListHTTP2 measures whole requests over HTTPS + HTTP/2 on
// loopback, client included, with GOMAXPROCS goroutines sharing one
// connection (b.RunParallel). The load tool measures the server alone.
func BenchmarkListHTTP2(b *testing.B) {
	s := devservertest.New(b, devserver.Config{Scenario: benchScenario()})
	c := devservertest.HTTPClient(s)
	u := s.URL() + "/apis/external.metrics.k8s.io/v1beta1/namespaces/default/metric_042?labelSelector=app%3Dapp-3"
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req, _ := http.NewRequest("GET", u, http.NoBody)
			req.Header.Set("Authorization", "Bearer "+devservertest.Token)
			resp, err := c.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				b.Errorf("status %d", resp.StatusCode)
				return
			}
		}
	})
}
