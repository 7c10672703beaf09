package provider_test

// Benchmarks against the development server over HTTPS on 127.0.0.1.
// Reproduce (numbers in docs/performance.md):
//
//	go test -run '^$' -bench . -benchtime 2s -count 3 ./pkg/provider/
//
// (a) per check: BenchmarkNewProviderPerCheck (Flagger's pattern with our
// pool) vs BenchmarkReusedProvider vs BenchmarkNewForConfigPerCheck (a new
// k8s.io/metrics clientset per check); construction alone:
// BenchmarkNewProvider vs BenchmarkNewForConfig. (b) BenchmarkReusedProvider
// vs BenchmarkRawHTTPGet of the same URL on the same server (and
// BenchmarkRawHTTPGetDecode, the same plus JSON decoding). (c) allocations
// everywhere (b.ReportAllocs).

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"syscall"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/metrics/pkg/apis/external_metrics/v1beta1"
	externalmetrics "k8s.io/metrics/pkg/client/external_metrics"

	"github.com/extmetrics/extmetrics/pkg/devserver"
	"github.com/extmetrics/extmetrics/pkg/devserver/devservertest"
	"github.com/extmetrics/extmetrics/pkg/provider"
)

const benchQuery = "default/requests?labelSelector=app%3Dweb"

func benchServer(b testing.TB) *devserver.Server {
	b.Helper()
	s := devservertest.New(b, devserver.Config{})
	if err := s.SetSeries("default", "requests", map[string]string{"app": "web", "pod": "a"}, "1500m"); err != nil {
		b.Fatal(err)
	}
	return s
}

func benchSpec(s *devserver.Server) provider.Spec {
	return provider.Spec{Address: s.URL(), SecretData: map[string][]byte{
		"token": []byte(devservertest.Token), "ca.crt": s.CAPEM()}}
}

// cpuTime is the process's user+system CPU time. Benchmarks report it per
// op ("cpu-ns/op", client and in-process server together) next to wall time,
// because wall time on a shared, loaded machine includes waiting for a CPU.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// run runs op b.N times and reports allocations and CPU per op.
func run(b *testing.B, op func()) {
	b.ReportAllocs()
	b.ResetTimer()
	start := cpuTime()
	for b.Loop() {
		op()
	}
	b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op")
}

func BenchmarkRawHTTPGet(b *testing.B) {
	s := benchServer(b)
	c := devservertest.HTTPClient(s)
	url := s.URL() + "/apis/external.metrics.k8s.io/v1beta1/namespaces/default/requests?labelSelector=app%3Dweb"
	get := func() {
		req, _ := http.NewRequest(http.MethodGet, url, http.NoBody)
		req.Header.Set("Authorization", "Bearer "+devservertest.Token)
		resp, err := c.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		_, err = io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 {
			b.Fatal(resp.StatusCode, err)
		}
	}
	get()
	run(b, get)
}

// BenchmarkRawHTTPGetDecode is BenchmarkRawHTTPGet plus json.Unmarshal into
// v1beta1.ExternalMetricValueList: the floor for any client that returns values.
func BenchmarkRawHTTPGetDecode(b *testing.B) {
	s := benchServer(b)
	c := devservertest.HTTPClient(s)
	url := s.URL() + "/apis/external.metrics.k8s.io/v1beta1/namespaces/default/requests?labelSelector=app%3Dweb"
	run(b, func() {
		req, _ := http.NewRequest(http.MethodGet, url, http.NoBody)
		req.Header.Set("Authorization", "Bearer "+devservertest.Token)
		resp, err := c.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		var list v1beta1.ExternalMetricValueList
		if err != nil || resp.StatusCode != 200 || json.Unmarshal(body, &list) != nil || len(list.Items) != 1 {
			b.Fatal(resp.StatusCode, err)
		}
	})
}

func BenchmarkReusedProvider(b *testing.B) {
	s := benchServer(b)
	p, err := provider.New(nil, benchSpec(s), provider.Options{})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if _, err := p.Query(ctx, benchQuery); err != nil {
		b.Fatal(err)
	}
	run(b, func() {
		if _, err := p.Query(ctx, benchQuery); err != nil {
			b.Fatal(err)
		}
	})
}

func BenchmarkNewProviderPerCheck(b *testing.B) {
	s := benchServer(b)
	spec := benchSpec(s)
	ctx := context.Background()
	run(b, func() {
		p, err := provider.New(nil, spec, provider.Options{})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := p.Query(ctx, benchQuery); err != nil {
			b.Fatal(err)
		}
	})
}

func BenchmarkNewForConfigPerCheck(b *testing.B) {
	s := benchServer(b)
	cfg := devservertest.RESTConfig(s, devservertest.Token)
	sel := labels.SelectorFromSet(labels.Set{"app": "web"})
	run(b, func() {
		c, err := externalmetrics.NewForConfig(cfg)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := c.NamespacedMetrics("default").List("requests", sel); err != nil {
			b.Fatal(err)
		}
	})
}

// Construction alone: what Flagger pays per check before any request.
func BenchmarkNewProvider(b *testing.B) {
	s := benchServer(b)
	spec := benchSpec(s)
	if _, err := provider.New(nil, spec, provider.Options{}); err != nil {
		b.Fatal(err)
	}
	run(b, func() {
		if _, err := provider.New(nil, spec, provider.Options{}); err != nil {
			b.Fatal(err)
		}
	})
}

func BenchmarkNewForConfig(b *testing.B) {
	s := benchServer(b)
	cfg := devservertest.RESTConfig(s, devservertest.Token)
	run(b, func() {
		if _, err := externalmetrics.NewForConfig(cfg); err != nil {
			b.Fatal(err)
		}
	})
}
