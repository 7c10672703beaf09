package flaggercontroller

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	neturl "net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/extmetrics/extmetrics/pkg/devserver"
	"github.com/extmetrics/extmetrics/test/e2e/harness"
)

// gateWebhook is a rollout webhook (YAML list item) calling the gate at url
// with metadata (a YAML flow map).
func gateWebhook(url, metadata string) string {
	return gateHook("gate", "rollout", url, metadata)
}

// gateHook is a webhook (YAML list item) of type typ named name, calling
// the gate at url with metadata (a YAML flow map).
func gateHook(name, typ, url, metadata string) string {
	return fmt.Sprintf("- name: %s\n  type: %s\n  url: %s/flagger/v1/check\n  timeout: 10s\n  metadata: %s", name, typ, url, metadata)
}

// callCounter is a reverse proxy in front of the gate that counts the
// webhook calls it forwards, by the canary's namespace in Flagger's payload:
// how many checks the real controller asked for.
type callCounter struct {
	URL string
	mu  sync.Mutex
	n   map[string]int
}

func countCalls(t *testing.T, gateURL string) *callCounter {
	t.Helper()
	target, err := neturl.Parse(gateURL)
	if err != nil {
		t.Fatal(err)
	}
	cc := &callCounter{n: map[string]int{}}
	proxy := httputil.NewSingleHostReverseProxy(target)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		var payload struct {
			Namespace string `json:"namespace"`
		}
		_ = json.Unmarshal(b, &payload)
		cc.mu.Lock()
		cc.n[payload.Namespace]++
		cc.mu.Unlock()
		r.Body = io.NopCloser(bytes.NewReader(b))
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	cc.URL = srv.URL
	return cc
}

// calls is the number of webhook calls for canaries in ns.
func (cc *callCounter) calls(ns string) int {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	return cc.n[ns]
}

// TestGateRelative: the real controller runs canaries whose only check is a
// relative gate webhook (issue 20): the canary's series against the
// primary's, read by `extmetrics gate` with a named provider. A canary 1.5×
// its primary fails maxRatio 1.2 and passes maxRatio 2; a zero baseline
// fails a ratio bound alone (the ratio is undefined) and passes with
// maxDelta; a failing pre-rollout webhook fails the canary before any
// rollout check, a passing one lets the rollout webhook decide. Flagger records the gate's one-line reason, both values
// and the ratio, in the Canary's events.
//
// Parity: `extmetrics analyze --gate-config` (the gate's own --config file)
// runs the same Canary YAML and must reach the same phase, the same number
// of failed checks and the same number of webhook checks per type as the
// real controller (whose calls are counted by a proxy in front of the
// gate).
func TestGateRelative(t *testing.T) {
	t.Parallel()
	c, ctl := sharedController(t)
	srv := startDevserver(t, c, devserver.ProfilePrometheusAdapter, nil)
	url, gateConfig, _ := startGateConfig(t, c, srv)
	rollout, pre := countCalls(t, url), countCalls(t, url)

	table := newParityTable(t, "gate checks")

	const (
		metric   = "http_request_duration_p99"
		query    = "{{ namespace }}/" + metric + "?labelSelector=app%3D{{ target }}"
		baseline = "{{ namespace }}/" + metric + "?labelSelector=app%3D{{ target }}-primary"
	)
	for _, tc := range []struct {
		name            string
		canary, primary string // the two series' values
		bounds          string // metadata: the relative bounds
		preRollout      bool   // bounds on a pre-rollout webhook (gate-pre), the rollout webhook with maxRatio 2
		want            string
		values          string // what the gate read: both values, the ratio and the delta
		reason          string // why it failed ("" for a pass)
	}{
		{"ratio-fail", "1500m", "1", `maxRatio: "1.2"`, false, "Failed",
			"canary 1.5, baseline 1, ratio 1.5, delta 0.5", "ratio 1.5 > maxRatio 1.2"},
		{"ratio-pass", "1500m", "1", `maxRatio: "2"`, false, "Succeeded",
			"canary 1.5, baseline 1, ratio 1.5, delta 0.5", ""},
		{"zero-ratio", "200m", "0", `maxRatio: "1.2"`, false, "Failed",
			"canary 0.2, baseline 0, ratio undefined, delta 0.2", "ratio undefined: baseline 0 is not > 0, so maxRatio 1.2 cannot be judged (add maxDelta/minDelta to decide when the baseline is 0)"},
		{"zero-delta", "200m", "0", `maxRatio: "1.2", maxDelta: "0.5"`, false, "Succeeded",
			"canary 0.2, baseline 0, ratio undefined, delta 0.2", ""},
		{"pre-rollout-fail", "1500m", "1", `maxRatio: "1.2"`, true, "Failed",
			"canary 1.5, baseline 1, ratio 1.5, delta 0.5", "ratio 1.5 > maxRatio 1.2"},
		{"pre-rollout-pass", "1500m", "1", `maxRatio: "2"`, true, "Succeeded",
			"canary 1.5, baseline 1, ratio 1.5, delta 0.5", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ns := "rel-" + tc.name
			for app, v := range map[string]string{"podinfo": tc.canary, "podinfo-primary": tc.primary} {
				if err := srv.SetSeries(ns, metric, map[string]string{"app": app}, v); err != nil {
					t.Fatal(err)
				}
			}
			meta := func(bounds string) string {
				return fmt.Sprintf(`{provider: dev, query: %q, baseline: %q, %s}`, query, baseline, bounds)
			}
			hook, failing := gateHook("gate", "rollout", rollout.URL, meta(tc.bounds)), "external check gate"
			if tc.preRollout {
				hook = gateHook("gate-pre", "pre-rollout", pre.URL, meta(tc.bounds)) + "\n" + gateHook("gate", "rollout", rollout.URL, meta(`maxRatio: "2"`))
				failing = "pre-rollout check gate-pre"
			}
			objs := canaryYAML(ns, 1, 1, "", hook)

			// extmetrics analyze on the same YAML, with the gate's --config
			// (the webhooks run in-process; the same devserver, whose
			// series are constant).
			ar := analyzeCommand(t, objs, "--gate-config", gateConfig, "--interval", "20ms")

			o := runCanary(t, c, ctl, ns, objs, 3*time.Minute)
			assertPhase(t, o, tc.want)
			if len(o.Queries) != 0 {
				t.Errorf("Flagger ran metric checks of its own: %q", o.Queries)
			}

			// Parity: phase, failed checks, checks per webhook type.
			aChecks := map[string]int{}
			var aQuery string
			for _, m := range ar.Metrics {
				aChecks[m.Name] += len(m.Checks)
				if aQuery == "" && len(m.Checks) > 0 {
					aQuery = m.Checks[0].Query
				}
			}
			row := parityRow{name: tc.name, flaggerPhase: o.Phase, analyzeVerdict: string(ar.Verdict),
				flaggerFailed: o.FailedChecks, analyzeFailed: ar.FailedChecks,
				flaggerChecks: rollout.calls(ns) + pre.calls(ns), analyzeChecks: aChecks["webhook/gate"] + aChecks["webhook/gate-pre"],
				analyzeQuery: aQuery, flaggerRun: o.Run}
			if tc.preRollout {
				row.name += fmt.Sprintf(" (pre-rollout checks %d/%d, rollout %d/%d)", pre.calls(ns), aChecks["webhook/gate-pre"], rollout.calls(ns), aChecks["webhook/gate"])
			}
			table.add(t, row, ar.Reason, "")
			if a, f := aChecks["webhook/gate"], rollout.calls(ns); a != f {
				t.Errorf("rollout webhook checks: analyze %d, Flagger %d", a, f)
			}
			if a, f := aChecks["webhook/gate-pre"], pre.calls(ns); a != f {
				t.Errorf("pre-rollout webhook checks: analyze %d, Flagger %d", a, f)
			}
			if tc.reason != "" && !strings.Contains(ar.Reason, tc.reason) {
				t.Errorf("analyze's reason %q does not say %q", ar.Reason, tc.reason)
			}

			// The gate's own Event on the Canary (Normal CheckPassed for a
			// pass, Warning CheckFailed for a fail) with the values, as the
			// real kubectl describe canary shows it.
			typ, reason, other := "Normal", "CheckPassed", "CheckFailed"
			if tc.want == "Failed" {
				typ, reason, other = "Warning", "CheckFailed", "CheckPassed"
			}
			line := regexp.MustCompile(`(?m)^\s*` + typ + `\s+` + reason + `\s+.*\sextmetrics-gate\s+provider dev: ` + regexp.QuoteMeta(tc.values) + `\b.*$`)
			d := describeCanary(t, c, ns, line)
			if m := line.FindString(d); m == "" {
				t.Errorf("kubectl describe canary podinfo -n %s shows no %s %s event of extmetrics-gate with %q:\n%s", ns, typ, reason, tc.values, d)
			} else {
				t.Logf("kubectl describe canary: %s", strings.TrimSpace(m))
			}
			if strings.Contains(d, other) {
				t.Errorf("kubectl describe canary podinfo -n %s shows a %s event:\n%s", ns, other, d)
			}
			if tc.want == "Succeeded" {
				if o.FailedChecks != 0 {
					t.Errorf("failed checks %d, want 0", o.FailedChecks)
				}
				// The gate read both sides for this canary (its gauge).
				for side, v := range map[string]string{"canary": tc.canary, "baseline": tc.primary} {
					q := resource.MustParse(v)
					want := strconv.FormatFloat(q.AsApproximateFloat64(), 'g', -1, 64)
					if got := checkValue(t, url, ns, side); got != want {
						t.Errorf("extmetrics_gate_check_value{side=%q}: %q, want %q", side, got, want)
					}
				}
				return
			}
			if o.FailedChecks != 1 {
				t.Errorf("failed checks %d, want 1 (threshold 1)", o.FailedChecks)
			}
			// Flagger's own event: the gate's one-line answer.
			why := tc.values + ": " + tc.reason
			want := fmt.Sprintf("Halt podinfo.%[1]s advancement %[4]s failed extmetrics gate: provider dev: %[2]s (query \"%[1]s/%[3]s?labelSelector=app=podinfo\", baseline \"%[1]s/%[3]s?labelSelector=app=podinfo-primary\")", ns, why, metric, failing)
			if countEvents(o, want) == 0 {
				t.Errorf("no event containing %q in:\n  %s", want, strings.Join(o.Events, "\n  "))
			}
			t.Logf("Flagger's event: %s", checkEvent(o.Events, want))
			// Flagger logs what it records: the same line in its own log,
			// and kubectl describe canary lists that event too.
			if !strings.Contains(controllerLines(ctl, ns, 1000), why) {
				t.Errorf("the controller's log does not mention %q:\n%s", why, controllerLines(ctl, ns, 20))
			}
			if !strings.Contains(d, why) {
				t.Errorf("kubectl describe canary podinfo -n %s does not show %q:\n%s", ns, why, d)
			}
		})
	}
}

// checkValue is the gate's extmetrics_gate_check_value for the canary
// podinfo in ns and side, as exposed on /metrics ("" when absent).
func checkValue(t *testing.T, url, ns, side string) string {
	t.Helper()
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "extmetrics_gate_check_value{") && strings.Contains(l, `canary="podinfo"`) &&
			strings.Contains(l, `namespace="`+ns+`"`) && strings.Contains(l, `side="`+side+`"`) {
			return l[strings.LastIndexByte(l, ' ')+1:]
		}
	}
	return ""
}

// describeCanary is `kubectl describe canary podinfo -n ns`, by the real
// kubectl, once its output matches want (the gate writes its Events
// asynchronously) or after 15 s.
func describeCanary(t *testing.T, c *harness.Cluster, ns string, want *regexp.Regexp) string {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		out, stderr, err := c.Kubectl(context.Background(), "describe", "canary", "podinfo", "-n", ns)
		if err != nil {
			t.Fatalf("kubectl describe canary: %v: %s", err, stderr)
		}
		if want.MatchString(out) || time.Now().After(deadline) {
			return out
		}
		time.Sleep(500 * time.Millisecond)
	}
}
