package gate_test

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/extmetrics/extmetrics/pkg/gate"
)

var checkValueLine = regexp.MustCompile(`(?m)^extmetrics_gate_check_value\{[^}]*\} \S+$`)

func checkValueSeries(t *testing.T, g *testGate) []string {
	t.Helper()
	return checkValueLine.FindAllString(g.metrics(t), -1)
}

// extmetrics_gate_check_value: one series per canary, check and side, with
// the last value read; gone after 3 analysis intervals (at least 5m)
// without a check; never more than gate.MaxCheckValueSeries.
func TestCheckValueGauge(t *testing.T) {
	clk := &clock{t: time.Now()}
	s, g := devGate(t, time.Second, clk.Now)
	s.SetSeries("default", "error_rate", map[string]string{"app": "web-canary"}, "1500m")
	s.SetSeries("default", "error_rate", map[string]string{"app": "web-primary"}, "1")
	md := map[string]string{"provider": "dev", "query": canaryQ, "baseline": primaryQ, "maxRatio": "2", "interval": "1m"}
	if a := g.flagger(t, "default", "web", md); a.status != 200 {
		t.Fatalf("%d %s", a.status, a.body)
	}
	check := `check="provider dev: default/error_rate?labelSelector=app=web-canary"`
	got := strings.Join(checkValueSeries(t, g), "\n")
	for _, want := range []string{
		`extmetrics_gate_check_value{canary="web",` + check + `,namespace="default",side="canary"} 1.5`,
		`extmetrics_gate_check_value{canary="web",` + check + `,namespace="default",side="baseline"} 1`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("metrics lack %s; have:\n%s", want, got)
		}
	}
	// A check with a 10m interval keeps its series 30m.
	if a := g.flagger(t, "default", "slow", map[string]string{"provider": "dev", "query": canaryQ, "max": "2", "interval": "10m"}); a.status != 200 {
		t.Fatalf("%d %s", a.status, a.body)
	}
	if n := len(checkValueSeries(t, g)); n != 3 {
		t.Fatalf("%d series, want 3", n)
	}
	clk.Add(5 * time.Minute)
	if got := checkValueSeries(t, g); len(got) != 1 || !strings.Contains(got[0], `canary="slow"`) {
		t.Fatalf("after 5m: %q, want only the 10m-interval canary's", got)
	}
	clk.Add(25 * time.Minute)
	if got := checkValueSeries(t, g); len(got) != 0 {
		t.Fatalf("after 30m: %q", got)
	}

	// Bounded: checks of more canaries than the cap add no more series.
	two := 2.0
	for i := 0; i < gate.MaxCheckValueSeries+50; i++ {
		if r := g.Check(context.Background(), gate.Request{Endpoint: "check", Provider: "dev", Query: canaryQ + "&maxAge=2h", Namespace: "default", Name: fmt.Sprintf("c%d", i), Max: &two}); r.Verdict != "pass" {
			t.Fatalf("%+v", r)
		}
	}
	if n := len(checkValueSeries(t, g)); n != gate.MaxCheckValueSeries {
		t.Fatalf("%d series, want the cap %d", n, gate.MaxCheckValueSeries)
	}
	clk.Add(5 * time.Minute)
	if n := len(checkValueSeries(t, g)); n != 0 {
		t.Fatalf("%d series after they expired", n)
	}
}
