package flaggercontroller

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/extmetrics/extmetrics/pkg/devserver"
)

// TestGateRelativeMissingBaseline: a relative gate webhook whose baseline
// (the primary's series) has no values fails closed on the real Flagger —
// Failed with one failed check, Flagger's event carrying the gate's reason
// (the baseline side named), the gate's Warning CheckError in kubectl
// describe canary and never a CheckPassed — and analyze, running the same
// webhook in-process, agrees.
func TestGateRelativeMissingBaseline(t *testing.T) {
	t.Parallel()
	c, ctl := sharedController(t)
	srv := startDevserver(t, c, devserver.ProfilePrometheusAdapter, nil)
	url, gateConfig, _ := startGateConfig(t, c, srv)

	const (
		ns       = "rel-missing-baseline"
		metric   = "http_request_duration_p99"
		query    = "{{ namespace }}/" + metric + "?labelSelector=app%3D{{ target }}"
		baseline = "{{ namespace }}/" + metric + "?labelSelector=app%3D{{ target }}-primary"
	)
	// Only the canary's series: the primary's has no values.
	if err := srv.SetSeries(ns, metric, map[string]string{"app": "podinfo"}, "1"); err != nil {
		t.Fatal(err)
	}
	meta := fmt.Sprintf(`{provider: dev, query: %q, baseline: %q, maxRatio: "2", maxDelta: "1"}`, query, baseline)
	objs := canaryYAML(ns, 1, 1, "", gateHook("gate", "rollout", url, meta))

	ar := analyzeCommand(t, objs, "--gate-config", gateConfig, "--interval", "20ms")
	if ar.Verdict != "Failed" || !strings.Contains(ar.Reason, "no-values: baseline: ") {
		t.Errorf("analyze: verdict %s, reason %q; want Failed naming the baseline", ar.Verdict, ar.Reason)
	}

	o := runCanary(t, c, ctl, ns, objs, 3*time.Minute)
	assertPhase(t, o, "Failed")
	if o.FailedChecks != 1 {
		t.Errorf("failed checks %d, want 1 (threshold 1)", o.FailedChecks)
	}
	if ar.FailedChecks != o.FailedChecks {
		t.Errorf("failed checks: analyze %d, Flagger %d", ar.FailedChecks, o.FailedChecks)
	}
	want := fmt.Sprintf("Halt podinfo.%s advancement external check gate failed extmetrics gate: ", ns)
	ev := checkEvent(o.Events, want)
	if ev == "" || !strings.Contains(ev, "no-values: baseline: ") {
		t.Fatalf("no Flagger event %q naming the baseline in:\n  %s", want, strings.Join(o.Events, "\n  "))
	}
	t.Logf("Flagger's event: %s", ev)
	t.Logf("analyze's reason: %s", ar.Reason)

	line := regexp.MustCompile(`(?m)^\s*Warning\s+CheckError\s+.*\sextmetrics-gate\s+provider dev: no-values: baseline: .*; bounds maxRatio 2, maxDelta 1; cached: false$`)
	d := describeCanary(t, c, ns, line)
	if m := line.FindString(d); m == "" {
		t.Errorf("kubectl describe canary podinfo -n %s shows no Warning CheckError of extmetrics-gate naming the baseline:\n%s", ns, d)
	} else {
		t.Logf("kubectl describe canary: %s", strings.TrimSpace(m))
	}
	if strings.Contains(d, "CheckPassed") {
		t.Errorf("kubectl describe canary podinfo -n %s shows a CheckPassed event:\n%s", ns, d)
	}
}
