package flaggercontroller

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/extmetrics/extmetrics/pkg/analysis"
	"github.com/extmetrics/extmetrics/pkg/cmd"
	"github.com/extmetrics/extmetrics/pkg/devserver"
	"github.com/extmetrics/extmetrics/pkg/flagger"
	"github.com/extmetrics/extmetrics/pkg/scenario"
	"github.com/extmetrics/extmetrics/test/e2e/harness"
)

// parityCase is one scenario run twice: by the real controller and by
// `extmetrics analyze`'s library (analysis.Load and Runner) on the same
// YAML, each against its own devserver serving the same series (so
// per-poll sequences are not shared).
type parityCase struct {
	name       string
	value      string // the series' value in scenario syntax
	labels     string // the series' labels (default {app: podinfo})
	query      string // default errQuery
	bounds     string // the metric's thresholdRange
	interval   string // the metric's interval ("" = unset)
	iterations int
	threshold  int
	down       bool // the template's address is a closed port
	want       string
}

const errQuery = "{{ namespace }}/http_requests_error_rate?labelSelector=app%3D{{ target }}"

var parityCases = []parityCase{
	{name: "pass", value: "0.5", bounds: "{max: 1}", iterations: 2, threshold: 1, want: "Succeeded"},
	{name: "fail", value: "2", bounds: "{max: 1}", iterations: 2, threshold: 1, want: "Failed"},
	{name: "flap", value: "{sequence: [0.5, 2], repeat: true}", bounds: "{max: 1}", iterations: 2, threshold: 2, want: "Failed"},
	{name: "threshold1", value: "{sequence: [2, 0.5]}", bounds: "{max: 1}", iterations: 2, threshold: 1, want: "Failed"},
	{name: "threshold2", value: "{sequence: [2, 0.5]}", bounds: "{max: 1}", iterations: 2, threshold: 2, want: "Succeeded"},
	{name: "no-values", value: "0.5", labels: "{app: other}", bounds: "{max: 1}", iterations: 1, threshold: 1, want: "Failed"},
	{name: "server-down", value: "0.5", bounds: "{max: 1}", iterations: 1, threshold: 1, down: true, want: "Failed"},
	{name: "min-max", value: "0.5", bounds: "{min: 0.4, max: 0.6}", iterations: 1, threshold: 1, want: "Succeeded"},
	{name: "below-min", value: "0.3", bounds: "{min: 0.4, max: 0.6}", iterations: 1, threshold: 1, want: "Failed"},
	{name: "at-max", value: "1", bounds: "{max: 1}", iterations: 1, threshold: 1, want: "Succeeded"},
	{name: "interval", value: "0.5", labels: "{app: podinfo, window: 30s}", query: errQuery + ",window%3D{{ interval }}",
		bounds: "{max: 1}", interval: "30s", iterations: 1, threshold: 1, want: "Succeeded"},
	// No metric interval: Flagger renders {{ interval }} empty (its "1m"
	// default is applied to a copy in the builtin checks only), so the
	// selector asks for window="" and finds nothing.
	{name: "interval-unset", value: "0.5", labels: "{app: podinfo, window: 1m}", query: errQuery + ",window%3D{{ interval }}",
		bounds: "{max: 1}", iterations: 1, threshold: 1, want: "Failed"},
}

// paritySeries is the scenario both devservers serve.
func paritySeries() string {
	var b strings.Builder
	b.WriteString("metrics:\n")
	for _, pc := range parityCases {
		labels := pc.labels
		if labels == "" {
			labels = "{app: podinfo}"
		}
		fmt.Fprintf(&b, "  - {name: http_requests_error_rate, namespace: parity-%s, labels: %s, value: %s}\n", pc.name, labels, pc.value)
	}
	return b.String()
}

func startScenarioDevserver(t *testing.T, c *harness.Cluster, sc *scenario.Scenario) *devserver.Server {
	t.Helper()
	certFile, keyFile, err := c.BackendCert(t.TempDir(), "", "")
	if err != nil {
		t.Fatal(err)
	}
	s, err := devserver.Start(context.Background(), devserver.Config{Addr: "127.0.0.1:0", Tokens: map[string][]string{devToken: {devserver.AllNamespaces}},
		TLSCertFile: certFile, TLSKeyFile: keyFile, Scenario: sc})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// parityRow is one line of the table.
type parityRow struct {
	name                         string
	flaggerPhase, analyzeVerdict string
	flaggerFailed, analyzeFailed int
	flaggerChecks, analyzeChecks int
	flaggerQuery, analyzeQuery   string
	flaggerRun                   time.Duration
}

// parityTable collects a test's rows and logs them, at the end, as the
// Markdown table of docs/testing-real-controllers.md; checks names the
// counted checks.
type parityTable struct {
	checks string
	mu     sync.Mutex
	rows   []parityRow
}

func newParityTable(t *testing.T, checks string) *parityTable {
	pt := &parityTable{checks: checks}
	t.Cleanup(func() { t.Log(pt.String()) })
	return pt
}

// add records r and, unless difference (the documented reason analyze
// differs) is given, fails t where analyze's verdict, failed checks or
// number of checks differ from Flagger's; reason is analyze's.
func (pt *parityTable) add(t *testing.T, r parityRow, reason, difference string) {
	t.Helper()
	pt.mu.Lock()
	pt.rows = append(pt.rows, r)
	pt.mu.Unlock()
	if difference != "" {
		t.Logf("analyze %s (failed checks %d, %s %d), Flagger %s (%d, %d): %s", r.analyzeVerdict, r.analyzeFailed, pt.checks, r.analyzeChecks,
			r.flaggerPhase, r.flaggerFailed, r.flaggerChecks, difference)
		return
	}
	if r.analyzeVerdict != r.flaggerPhase {
		t.Errorf("verdict: analyze %s, Flagger %s (analyze's reason: %s)", r.analyzeVerdict, r.flaggerPhase, reason)
	}
	if r.analyzeFailed != r.flaggerFailed {
		t.Errorf("failed checks: analyze %d, Flagger %d", r.analyzeFailed, r.flaggerFailed)
	}
	if r.analyzeChecks != r.flaggerChecks {
		t.Errorf("%s: analyze %d, Flagger %d", pt.checks, r.analyzeChecks, r.flaggerChecks)
	}
}

func (pt *parityTable) String() string {
	pt.mu.Lock()
	defer pt.mu.Unlock()
	rows := slices.Clone(pt.rows)
	slices.SortFunc(rows, func(a, b parityRow) int { return strings.Compare(a.name, b.name) })
	var b strings.Builder
	fmt.Fprintf(&b, "\n| scenario | Flagger v1.44.0 | failed checks | %[1]s | analyze | failed checks | %[1]s | rendered query (both) | Flagger run |\n|---|---|---|---|---|---|---|---|---|\n", pt.checks)
	for _, r := range rows {
		q := r.flaggerQuery
		if q == "" {
			q = r.analyzeQuery
		}
		fmt.Fprintf(&b, "| %s | %s | %d | %d | %s | %d | %d | `%s` | %s |\n", r.name, r.flaggerPhase, r.flaggerFailed, r.flaggerChecks,
			r.analyzeVerdict, r.analyzeFailed, r.analyzeChecks, q, r.flaggerRun.Round(time.Second))
	}
	return b.String()
}

// analyzeCommand runs `extmetrics analyze` (the command, in-process) on
// objs with args added, and returns its JSON report's only canary.
func analyzeCommand(t *testing.T, objs string, args ...string) analysis.CanaryResult {
	t.Helper()
	file := filepath.Join(t.TempDir(), "canary.yaml")
	if err := os.WriteFile(file, []byte(objs), 0o600); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	root := cmd.NewRoot()
	root.SetArgs(append([]string{"analyze", "-f", file, "-q", "-o", "json"}, args...))
	root.SetOut(&stdout)
	root.SetErr(&stderr)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := root.ExecuteContext(ctx) // exit status 1 for a failed canary
	var rep analysis.Report
	if jerr := json.Unmarshal(stdout.Bytes(), &rep); jerr != nil || len(rep.Canaries) != 1 {
		t.Fatalf("analyze %s: %v (JSON: %v)\nstdout: %s\nstderr: %s", strings.Join(args, " "), err, jerr, stdout.String(), stderr.String())
	}
	return rep.Canaries[0]
}

// TestParity: analyze reaches the real controller's verdict, with the same
// number of failed checks, the same number of metric checks (blue/green:
// iterations+1 when all pass) and the same rendered query, scenario by
// scenario.
func TestParity(t *testing.T) {
	t.Parallel()
	c, ctl := sharedController(t)
	sc, err := scenario.Parse("parity.yaml", []byte(paritySeries()))
	if err != nil {
		t.Fatal(err)
	}
	forFlagger := startScenarioDevserver(t, c, sc)
	forAnalyze := startScenarioDevserver(t, c, sc)
	fu, _ := url.Parse(forFlagger.URL())
	au, _ := url.Parse(forAnalyze.URL())
	closed := closedPort(t)

	table := newParityTable(t, "metric checks")

	for _, pc := range parityCases {
		t.Run(pc.name, func(t *testing.T) {
			t.Parallel()
			ns := "parity-" + pc.name
			addr := forFlagger.URL()
			if pc.down {
				addr = "https://" + closed
			}
			query := pc.query
			if query == "" {
				query = errQuery
			}
			metric := fmt.Sprintf("- name: error-rate\n  templateRef: {name: error-rate}\n  thresholdRange: %s", pc.bounds)
			if pc.interval != "" {
				metric += "\n  interval: " + pc.interval
			}
			objs := templateYAML(ns, addr, query, string(c.CAPEM())) + canaryYAML(ns, pc.iterations, pc.threshold, metric, "")

			// extmetrics analyze, on the same YAML (the Deployment is not
			// part of analyze's input).
			file := filepath.Join(t.TempDir(), "canary.yaml")
			if err := os.WriteFile(file, []byte(objs), 0o600); err != nil {
				t.Fatal(err)
			}
			resolved, _, err := analysis.Load([]string{file}, flagger.Options{})
			if err != nil {
				t.Fatal(err)
			}
			r := analysis.Runner{Interval: 20 * time.Millisecond,
				Connection: analysis.Connection{Overrides: []analysis.AddressOverride{{From: fu.Host, To: au.Host}}}}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			rep, err := r.Run(ctx, resolved)
			if err != nil {
				t.Fatal(err)
			}
			cr := rep.Canaries[0]
			var aChecks []analysis.Check
			for _, m := range cr.Metrics {
				aChecks = append(aChecks, m.Checks...)
			}

			// The real controller.
			o := runCanary(t, c, ctl, ns, objs, 4*time.Minute)
			assertPhase(t, o, pc.want)

			row := parityRow{name: pc.name, flaggerPhase: o.Phase, analyzeVerdict: string(cr.Verdict),
				flaggerFailed: o.FailedChecks, analyzeFailed: cr.FailedChecks,
				flaggerChecks: len(o.Queries), analyzeChecks: len(aChecks), flaggerRun: o.Run}
			if len(o.Queries) > 0 {
				row.flaggerQuery = o.Queries[0]
			}
			if len(aChecks) > 0 {
				row.analyzeQuery = aChecks[0].Query
			}
			table.add(t, row, cr.Reason, "")
			for i, q := range o.Queries {
				if i < len(aChecks) && aChecks[i].Query != q {
					t.Errorf("check %d: analyze rendered %q, Flagger %q", i+1, aChecks[i].Query, q)
				}
			}
		})
	}
}

// closedPort is a loopback host:port nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}
