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
// clients on 8 HTTP/2 connections or multiplexed on 1, with net/http or the
// framer client) with b.N list
// requests, so that `go test -bench DevserverList -cpuprofile cpu.out`
// profiles the server (together with the client; pprof -focus=devserver
// separates them).
func BenchmarkDevserverList(b *testing.B) {
	for _, c := range []struct {
		client string
		conns  int
	}{{ClientNetHTTP, 8}, {ClientNetHTTP, 1}, {ClientFramer, 8}} {
		name := fmt.Sprintf("client=%s/conns=%d", strings.ReplaceAll(c.client, "/", ""), c.conns)
		b.Run(name, func(b *testing.B) { benchmarkDevserverList(b, c.client, c.conns) })
	}
}

func benchmarkDevserverList(b *testing.B, client string, conns int) {
	ctx := context.Background()
	data, paths := generateScenario(DefaultSeries, DefaultMetricNames, "default")
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
		Client: client, URLs: urls, Concurrency: DefaultConcurrency, Connections: conns, Requests: int64(b.N), Duration: MaxDuration,
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

// BenchmarkParseGeneratedScenario measures parsing the --spawn scenario
// (1000 series), which dominates the devserver's start-up time.
func BenchmarkParseGeneratedScenario(b *testing.B) {
	data, _ := generateScenario(DefaultSeries, DefaultMetricNames, "default")
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := scenario.Parse("generated.yaml", data); err != nil {
			b.Fatal(err)
		}
	}
}
