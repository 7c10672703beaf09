package e2e_test

import (
	"context"
	"testing"
	"time"

	"k8s.io/client-go/rest"

	"github.com/extmetrics/extmetrics/pkg/devserver"
	"github.com/extmetrics/extmetrics/pkg/provider"
	"github.com/extmetrics/extmetrics/test/e2e/harness"
)

// BenchmarkQueryPath compares one query through kube-apiserver's
// aggregation layer with the same query straight to the backend, in the
// same run against the same devserver (numbers in docs/performance.md):
//
//	go test -run '^$' -bench QueryPath -benchtime 2000x ./test/e2e/
func BenchmarkQueryPath(b *testing.B) {
	c := cluster.Get(b)
	ctx := context.Background()
	certFile, keyFile, err := c.BackendCert(b.TempDir(), "", "")
	if err != nil {
		b.Fatal(err)
	}
	const token = "bench-token"
	s, err := devserver.Start(ctx, devserver.Config{
		Addr:          "127.0.0.1:0",
		Tokens:        map[string][]string{token: {devserver.AllNamespaces}},
		TLSCertFile:   certFile,
		TLSKeyFile:    keyFile,
		RequestHeader: devserver.RequestHeaderConfig{ClientCAFile: c.FrontProxyCAFile(), AllowedNames: []string{harness.FrontProxyClientName}},
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() })
	if err := s.SetSeries("shop", "orders_per_second", map[string]string{"app": "checkout"}, "12"); err != nil {
		b.Fatal(err)
	}
	if err := c.RegisterExternalMetrics(ctx, harness.Backend{Port: portOfAddr(b, s.Addr())}); err != nil {
		b.Fatal(err)
	}
	direct := &rest.Config{Host: s.URL(), BearerToken: token, TLSClientConfig: rest.TLSClientConfig{CAData: c.CAPEM()}}
	for _, bc := range []struct {
		name string
		cfg  *rest.Config
	}{
		{"direct", direct},
		{"kube-apiserver", c.AdminConfig()},
	} {
		b.Run(bc.name, func(b *testing.B) {
			p, err := provider.New(bc.cfg, provider.Spec{}, provider.Options{Timeout: 10 * time.Second})
			if err != nil {
				b.Fatal(err)
			}
			if _, err := p.Query(ctx, orderQuery); err != nil { // warm the connection
				b.Fatal(err)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := p.Query(ctx, orderQuery); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkHarnessStart measures a warm start: binaries cached, a fresh PKI,
// etcd and kube-apiserver up to a ready /readyz.
//
//	go test -run '^$' -bench HarnessStart -benchtime 3x ./test/e2e/
func BenchmarkHarnessStart(b *testing.B) {
	var total time.Duration
	for i := 0; i < b.N; i++ {
		c, err := harness.Start(context.Background(), harness.Options{})
		if err != nil {
			b.Fatal(err)
		}
		total += c.StartupTime()
		if err := c.Stop(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(total.Seconds()/float64(b.N), "ready-s/op")
}
