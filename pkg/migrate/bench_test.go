package migrate

import (
	"bytes"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"
)

// cpuTime is the process's user+system CPU time: wall time on a shared,
// loaded machine includes waiting for a CPU.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchInput is a large organisation: 200 canaries in 10 namespaces, 3
// Datadog metrics each (600 DatadogMetrics), sharing 3 templates.
func benchInput(b *testing.B) map[string][]byte {
	b.Helper()
	var t, c strings.Builder
	for _, name := range []string{"success-rate", "latency-p99", "saturation"} {
		fmt.Fprintf(&t, `---
apiVersion: flagger.app/v1beta1
kind: MetricTemplate
metadata: {name: dd-%s, namespace: istio-system}
spec:
  provider: {type: datadog, secretRef: {name: datadog}}
  query: |
    sum:istio.mesh.request.count{reporter:destination,destination_workload_namespace:{{ namespace }},destination_workload:{{ target }},metric:%s}.as_count()
`, name, name)
	}
	for i := 0; i < 200; i++ {
		fmt.Fprintf(&c, `---
apiVersion: flagger.app/v1beta1
kind: Canary
metadata: {name: service-%03d, namespace: team-%d}
spec:
  targetRef: {apiVersion: apps/v1, kind: Deployment, name: service-%03d}
  analysis:
    interval: 1m
    threshold: 5
    maxWeight: 50
    stepWeight: 10
    metrics:
      - {name: success-rate, templateRef: {name: dd-success-rate, namespace: istio-system}, thresholdRange: {min: 99}, interval: 1m}
      - {name: latency-p99, templateRef: {name: dd-latency-p99, namespace: istio-system}, thresholdRange: {max: 500}, interval: 1m}
      - {name: saturation, templateRef: {name: dd-saturation, namespace: istio-system}, thresholdRange: {max: 80}, interval: 1m}
`, i, i%10, i)
	}
	return map[string][]byte{"templates.yaml": []byte(t.String()), "canaries.yaml": []byte(c.String())}
}

// BenchmarkMigrate: load, migrate and write 200 canaries × 3 metrics.
func BenchmarkMigrate(b *testing.B) {
	files := benchInput(b)
	b.ReportAllocs()
	var out bytes.Buffer
	start := cpuTime()
	for b.Loop() {
		in, err := NewInput("", files, "templates.yaml", "canaries.yaml")
		if err != nil {
			b.Fatal(err)
		}
		res, err := Migrate(in, Options{})
		if err != nil {
			b.Fatal(err)
		}
		if len(res.DatadogMetrics) != 600 {
			b.Fatalf("%d DatadogMetrics", len(res.DatadogMetrics))
		}
		out.Reset()
		if err := res.WriteYAML(&out, ""); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op")
	b.ReportMetric(float64(out.Len()), "output-bytes")
}
