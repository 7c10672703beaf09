package loadtest

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/extmetrics/extmetrics/pkg/devserver"
	"github.com/extmetrics/extmetrics/pkg/scenario"
)

// BenchmarkDevserverList loads an in-process devserver (1000 series, 8
// clients on 8 HTTP/2 connections, or multiplexed on 1) with b.N list
// requests, so that `go test -bench DevserverList -cpuprofile cpu.out`
// profiles the server (together with the client; pprof -focus=devserver
// separates them).
func BenchmarkDevserverList(b *testing.B) {
	for _, conns := range []int{8, 1} {
		b.Run(fmt.Sprintf("conns=%d", conns), func(b *testing.B) { benchmarkDevserverList(b, conns) })
	}
}

func benchmarkDevserverList(b *testing.B, conns int) {
	ctx := context.Background()
	data, paths := GenerateScenario(DefaultSeries, DefaultMetricNames, "default")
	sc, err := scenario.Parse("generated.yaml", data)
	if err != nil {
		b.Fatal(err)
	}
	srv, err := devserver.Start(ctx, devserver.Config{Addr: "127.0.0.1:0", Scenario: sc, Tokens: map[string][]string{"bench-token": {"*"}}})
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	urls := make([]string, len(paths))
	for i, p := range paths {
		urls[i] = strings.TrimSuffix(srv.URL(), "/") + p
	}
	b.ResetTimer()
	res, err := Run(ctx, Config{
		URLs: urls, Concurrency: DefaultConcurrency, Connections: conns, Requests: int64(b.N), Duration: MaxDuration,
		Token: "bench-token", CAPEM: srv.CAPEM(), RequireHTTP2: true,
	})
	if err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	if res.Errors != 0 {
		b.Fatalf("%d errors: %v %v", res.Errors, res.Status, res.TransportErrors)
	}
	b.ReportMetric(res.RequestsPerSec, "req/s")
	b.ReportMetric(res.Latency.P50*1000, "p50-µs")
	b.ReportMetric(res.Latency.P99*1000, "p99-µs")
}
