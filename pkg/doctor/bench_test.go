package doctor_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/extmetrics/extmetrics/internal/testenv"
	"github.com/extmetrics/extmetrics/pkg/devserver"
	"github.com/extmetrics/extmetrics/pkg/doctor"
	"github.com/extmetrics/extmetrics/pkg/scenario"
	"github.com/extmetrics/extmetrics/test/e2e/harness"
)

// BenchmarkDoctor200Canaries: doctor -A on a real kube-apiserver (the e2e
// harness) holding 200 Canaries with 2 metrics each over 50 externalmetrics
// MetricTemplates, every query answered by a devserver behind the
// aggregation layer: 400 checks, one run of every check per iteration.
//
//	flock /tmp/extmetrics-heavy.lock go test -run '^$' -bench BenchmarkDoctor200Canaries -benchtime 5x ./pkg/doctor
func BenchmarkDoctor200Canaries(b *testing.B) {
	const canaries, templates = 200, 50
	testenv.Isolate(b)
	c := harness.StartT(b, harness.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	crds, err := os.ReadFile("../migrate/testdata/crds.yaml")
	if err != nil {
		b.Fatal(err)
	}
	if err := c.ApplyYAML(ctx, string(crds)); err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	certFile, keyFile, err := c.BackendCert(dir, "", "")
	if err != nil {
		b.Fatal(err)
	}
	sc := &scenario.Scenario{}
	for i := range canaries {
		for _, m := range []int{i % templates, (i + 1) % templates} {
			sc.Metrics = append(sc.Metrics, scenario.Metric{Name: fmt.Sprintf("metric_%d", m), Namespace: "bench",
				Labels: map[string]string{"app": fmt.Sprintf("app-%d", i)}, Generator: scenario.Constant(float64(m))})
		}
	}
	s, err := devserver.Start(ctx, devserver.Config{Addr: "127.0.0.1:0", Scenario: sc, Tokens: map[string][]string{},
		TLSCertFile: certFile, TLSKeyFile: keyFile, ClientCAFile: c.FrontProxyCAFile()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() })
	_, port, _ := strings.Cut(s.Addr(), "127.0.0.1:")
	p, _ := strconv.Atoi(port)
	if err := c.RegisterExternalMetrics(ctx, harness.Backend{Port: p}); err != nil {
		b.Fatal(err)
	}
	var y strings.Builder
	y.WriteString("apiVersion: v1\nkind: Namespace\nmetadata: {name: bench}\n")
	for i := range templates {
		fmt.Fprintf(&y, `---
apiVersion: flagger.app/v1beta1
kind: MetricTemplate
metadata: {name: t-%d, namespace: bench}
spec:
  provider: {type: externalmetrics}
  query: "{{ namespace }}/metric_%d?labelSelector=app={{ target }}"
`, i, i)
	}
	for i := range canaries {
		fmt.Fprintf(&y, `---
apiVersion: flagger.app/v1beta1
kind: Canary
metadata: {name: c-%d, namespace: bench}
spec:
  targetRef: {apiVersion: apps/v1, kind: Deployment, name: app-%d}
  analysis:
    interval: 1m
    stepWeight: 10
    metrics:
      - {name: a, templateRef: {name: t-%d}, thresholdRange: {max: 1000}}
      - {name: b, templateRef: {name: t-%d}, thresholdRange: {max: 1000}}
`, i, i, i%templates, (i+1)%templates)
	}
	if err := c.ApplyYAML(ctx, y.String()); err != nil {
		b.Fatal(err)
	}
	opts := doctor.Options{Config: c.AdminConfig()}
	b.ResetTimer()
	for b.Loop() {
		rep, err := doctor.Run(ctx, opts)
		if err != nil {
			b.Fatal(err)
		}
		passed := 0
		for _, f := range rep.Findings {
			if f.ID == "template.ok" {
				n, _ := strconv.Atoi(f.Details["checks"])
				passed += n
			}
			if f.Severity == doctor.SeverityError {
				b.Fatalf("%s on %s: %s", f.ID, f.Object, f.Message)
			}
		}
		if passed != 2*canaries {
			b.Fatalf("%d checks passed, want %d", passed, 2*canaries)
		}
	}
	b.ReportMetric(float64(2*canaries), "checks/op")
}
