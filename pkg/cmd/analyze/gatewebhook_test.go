package analyze

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/extmetrics/extmetrics/pkg/analysis"
	"github.com/extmetrics/extmetrics/pkg/devserver"
	"github.com/extmetrics/extmetrics/pkg/devserver/devservertest"
	"github.com/extmetrics/extmetrics/pkg/flagger"
	"github.com/extmetrics/extmetrics/pkg/gate"
	"github.com/extmetrics/extmetrics/pkg/scenario"
)

// Gate webhooks run in-process by analyze (issue 20): a Canary whose
// rollout/pre-rollout webhooks call the gate, against the real devserver
// over HTTPS, and the same webhook judged by the real gate over HTTP.

// gateFixture is a devserver with the canary's and the primary's series,
// a gate config naming it (provider "dev") and a MetricTemplate for it.
type gateFixture struct {
	s          *devserver.Server
	gateConfig string
	dir        string
}

func newGateFixture(t *testing.T) *gateFixture {
	t.Helper()
	s := devservertest.New(t, devserver.Config{})
	dir := t.TempDir()
	ca, tok := filepath.Join(dir, "ca.crt"), filepath.Join(dir, "token")
	for p, b := range map[string][]byte{ca: s.CAPEM(), tok: []byte(devservertest.Token)} {
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	conf := filepath.Join(dir, "gate.yaml")
	if err := os.WriteFile(conf, fmt.Appendf(nil, "providers:\n  - name: dev\n    address: %s\n    caFile: %s\n    tokenFile: %s\n", s.URL(), ca, tok), 0o600); err != nil {
		t.Fatal(err)
	}
	return &gateFixture{s: s, gateConfig: conf, dir: dir}
}

func (f *gateFixture) set(t *testing.T, metric, app, v string) {
	t.Helper()
	if err := f.s.SetSeries("ci", metric, map[string]string{"app": app}, v); err != nil {
		t.Fatal(err)
	}
}

// canary writes a Canary (stepWeight 50, so 2 steps; threshold 1) whose
// webhooks are hooks ("type: metadata-yaml" pairs), with the MetricTemplate
// error-rate (type prometheus plus the gate's annotation: a template only
// the gate reads) and its Secret.
func (f *gateFixture) canary(t *testing.T, hooks ...string) string {
	t.Helper()
	ca := strings.ReplaceAll(strings.TrimSpace(string(f.s.CAPEM())), "\n", "\n    ")
	var wh strings.Builder
	for i := 0; i+1 < len(hooks); i += 2 {
		fmt.Fprintf(&wh, "      - name: check-%d\n        type: %s\n        url: http://extmetrics-gate.extmetrics/flagger/v1/check\n        metadata:\n", i/2, hooks[i])
		for _, kv := range strings.Split(hooks[i+1], ";") {
			k, v, _ := strings.Cut(kv, "=")
			fmt.Fprintf(&wh, "          %s: %q\n", k, v)
		}
	}
	objects := fmt.Sprintf(`apiVersion: flagger.app/v1beta1
kind: MetricTemplate
metadata:
  name: error-rate
  namespace: ci
  annotations: {extmetrics.dev/provider-type: externalmetrics}
spec:
  provider:
    type: prometheus
    address: %s
    secretRef: {name: devserver}
  query: "{{ namespace }}/errors?labelSelector=app={{ target }}-canary"
---
apiVersion: v1
kind: Secret
metadata: {name: devserver, namespace: ci}
stringData:
  token: %s
  ca.crt: |
    %s
---
apiVersion: flagger.app/v1beta1
kind: Canary
metadata: {name: web, namespace: ci}
spec:
  targetRef: {kind: Deployment, name: web}
  analysis:
    interval: 1m
    stepWeight: 50
    threshold: 1
    webhooks:
      - name: load-test
        url: http://flagger-loadtester.test/
        metadata: {cmd: "hey http://web.ci/"}
%s`, f.s.URL(), devservertest.Token, ca, wh.String())
	path := filepath.Join(t.TempDir(), "canary.yaml")
	if err := os.WriteFile(path, []byte(objects), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

const (
	relQuery = "query={{ namespace }}/errors?labelSelector=app={{ target }}-canary;baseline={{ namespace }}/errors?labelSelector=app={{ target }}-primary;provider=dev"
)

func onceChecks(t *testing.T, f *gateFixture, file string, extra ...string) (int, analysis.MetricResult, string) {
	t.Helper()
	args := append([]string{"-f", file, "--once", "-o", "json", "-q", "--gate-config", f.gateConfig}, extra...)
	code, stdout, stderr := execute(t, "", args...)
	rep := decodeReport(t, stdout)
	if len(rep.Canaries) != 1 || len(rep.Canaries[0].Metrics) != 1 || len(rep.Canaries[0].Metrics[0].Checks) != 1 {
		t.Fatalf("exit %d: %s\n%s", code, stdout, stderr)
	}
	return code, rep.Canaries[0].Metrics[0], stderr
}

func TestAnalyzeGateWebhookAbsolute(t *testing.T) {
	f := newGateFixture(t)
	f.set(t, "errors", "web-canary", "0.5")
	file := f.canary(t, "rollout", "templateRef=error-rate;max=1")
	code, m, stderr := onceChecks(t, f, file)
	c := m.Checks[0]
	if code != 0 || !c.Passed || c.Value != 0.5 || m.Name != "webhook/check-0" || m.Webhook == nil || m.Webhook.Type != "rollout" ||
		m.TemplateRef != "ci/error-rate" || *m.Max != 1 || c.Query != "ci/errors?labelSelector=app=web-canary" {
		t.Fatalf("pass: exit %d %+v\n%s", code, m, stderr)
	}
	file = f.canary(t, "rollout", "templateRef=error-rate;max=0.25")
	code, m, _ = onceChecks(t, f, file)
	c = m.Checks[0]
	want := `extmetrics gate: ci/error-rate: value 0.5 outside max 0.25 (query "ci/errors?labelSelector=app=web-canary")`
	if code != 1 || c.Passed || c.ErrorKind != "out-of-range" || c.Message != want {
		t.Fatalf("fail: exit %d %+v\nwant %s", code, c, want)
	}

	// The loop: a rollout webhook runs at every analysis run (2 steps).
	file = f.canary(t, "", "templateRef=error-rate;max=1")
	code, stdout, stderr := execute(t, "", "-f", file, "--interval", "1ms", "-o", "json", "--gate-config", f.gateConfig)
	rep := decodeReport(t, stdout)
	if code != 0 || rep.Canaries[0].Verdict != analysis.Succeeded || len(rep.Canaries[0].Metrics[0].Checks) != 2 {
		t.Fatalf("loop: exit %d %s\n%s", code, stdout, stderr)
	}
	if !strings.Contains(stderr, "metric=webhook/check-0 step=1 run=1") || !strings.Contains(stderr, "1 webhook(s) not run") {
		t.Errorf("progress:\n%s", stderr)
	}
}

func TestAnalyzeGateWebhookRelative(t *testing.T) {
	f := newGateFixture(t)
	f.set(t, "errors", "web-canary", "1.5")
	f.set(t, "errors", "web-primary", "1")
	dir := t.TempDir()
	junit, html := filepath.Join(dir, "j.xml"), filepath.Join(dir, "r.html")

	// 1.5× the baseline fails maxRatio 1.2 ...
	file := f.canary(t, "rollout", relQuery+";target=web;maxRatio=1.2")
	code, stdout, stderr := execute(t, "", "-f", file, "--once", "-o", "json", "--gate-config", f.gateConfig, "--junit", junit, "--report", html)
	rep := decodeReport(t, stdout)
	m := rep.Canaries[0].Metrics[0]
	c := m.Checks[0]
	want := `extmetrics gate: provider dev: canary 1.5, baseline 1, ratio 1.5, delta 0.5: ratio 1.5 > maxRatio 1.2 (query "ci/errors?labelSelector=app=web-canary", baseline "ci/errors?labelSelector=app=web-primary")`
	if code != 1 || c.Passed || c.Message != want || *c.Baseline != 1 || *c.Ratio != 1.5 || *c.Delta != 0.5 ||
		c.BaselineQuery != "ci/errors?labelSelector=app=web-primary" || *m.MaxRatio != 1.2 || m.Provider != "dev" {
		t.Fatalf("maxRatio 1.2: exit %d %+v\n%s", code, c, stderr)
	}
	for _, w := range []string{`"baseline": 1`, `"ratio": 1.5`, `"delta": 0.5`, `"maxRatio": 1.2`, `"webhook": {`} {
		if !strings.Contains(stdout, w) {
			t.Errorf("JSON lacks %s:\n%s", w, stdout)
		}
	}
	if !strings.Contains(stderr, "baseline=1 ratio=1.5 delta=0.5") {
		t.Errorf("progress lacks both values:\n%s", stderr)
	}
	j := readFile(t, junit)
	if strings.Count(j, "<testcase ") != 2 || !strings.Contains(j, `<testcase name="webhook/check-0 step 1"`) || !strings.Contains(j, "relative: baseline 1, ratio 1.5, delta 0.5") || !strings.Contains(j, "ratio 1.5 &gt; maxRatio 1.2") {
		t.Errorf("JUnit:\n%s", j)
	}
	h := readFile(t, html)
	if !strings.Contains(h, `class="line baseline"`) || !strings.Contains(h, "baseline 1") {
		t.Errorf("HTML lacks the baseline series")
	}

	// ... and passes maxRatio 2.
	file = f.canary(t, "rollout", relQuery+";target=web;maxRatio=2")
	code, out, stderr := execute(t, "", "-f", file, "--once", "--gate-config", f.gateConfig)
	if code != 0 || !strings.Contains(out, "1.5 (baseline 1, ratio 1.5, delta 0.5)") || !strings.Contains(out, "maxRatio 2") {
		t.Fatalf("maxRatio 2: exit %d\n%s\n%s", code, out, stderr)
	}

	// A zero baseline: a ratio bound fails with the reason, maxDelta decides.
	f.set(t, "errors", "web-canary", "0.1")
	f.set(t, "errors", "web-primary", "0")
	file = f.canary(t, "rollout", relQuery+";target=web;maxRatio=1.2")
	code, m, _ = onceChecks(t, f, file)
	if c := m.Checks[0]; code != 1 || c.Passed || c.Ratio != nil || !strings.Contains(c.Message, "canary 0.1, baseline 0, ratio undefined, delta 0.1: ratio undefined: baseline 0 is not > 0, so maxRatio 1.2 cannot be judged") {
		t.Fatalf("zero baseline, maxRatio: exit %d %+v", code, c)
	}
	file = f.canary(t, "rollout", relQuery+";target=web;maxRatio=1.2;maxDelta=0.5")
	if code, m, _ = onceChecks(t, f, file); code != 0 || !m.Checks[0].Passed {
		t.Fatalf("zero baseline, maxDelta: exit %d %+v", code, m.Checks[0])
	}

	// A missing baseline and a stale one fail closed, naming the side.
	file = f.canary(t, "rollout", "provider=dev;query=ci/errors?labelSelector=app=web-canary;baseline=ci/errors?labelSelector=app=nothing;maxDelta=1")
	if code, m, _ = onceChecks(t, f, file); code != 1 || m.Checks[0].Passed || !strings.Contains(m.Checks[0].Message, "no-values: baseline: ") {
		t.Fatalf("missing baseline: exit %d %+v", code, m.Checks[0])
	}
	f.set(t, "errors_primary", "web-primary", "0")
	f.s.SetFault("errors_primary", scenario.Fault{StaleBy: time.Hour})
	file = f.canary(t, "rollout", "provider=dev;query=ci/errors?labelSelector=app=web-canary;baseline=ci/errors_primary?labelSelector=app=web-primary;maxDelta=1")
	if code, m, _ = onceChecks(t, f, file); code != 1 || m.Checks[0].Passed || m.Checks[0].ErrorKind != "stale" || !strings.Contains(m.Checks[0].Message, "stale: baseline: ") {
		t.Fatalf("stale baseline: exit %d %+v", code, m.Checks[0])
	}
}

func TestAnalyzeGateWebhookPreRollout(t *testing.T) {
	f := newGateFixture(t)
	f.set(t, "errors", "web-canary", "2")
	// A failing pre-rollout webhook is a failed check before the analysis:
	// threshold 1 fails the canary without an analysis run.
	file := f.canary(t, "pre-rollout", "templateRef=error-rate;max=1")
	code, stdout, stderr := execute(t, "", "-f", file, "--interval", "1ms", "-o", "json", "--gate-config", f.gateConfig)
	rep := decodeReport(t, stdout)
	cr := rep.Canaries[0]
	if code != 1 || cr.Verdict != analysis.Failed || cr.Runs != 0 || cr.FailedChecks != 1 || !strings.Contains(cr.Reason, "before the analysis started (pre-rollout webhooks)") ||
		cr.Metrics[0].Checks[0].Phase != "pre-rollout" {
		t.Fatalf("exit %d %+v\n%s", code, cr, stderr)
	}
	// Passing: it runs once, then the analysis (2 runs).
	f.set(t, "errors", "web-canary", "0.5")
	code, stdout, stderr = execute(t, "", "-f", file, "--interval", "1ms", "-o", "json", "--gate-config", f.gateConfig)
	rep = decodeReport(t, stdout)
	cr = rep.Canaries[0]
	if code != 0 || cr.Verdict != analysis.Succeeded || len(cr.Metrics[0].Checks) != 1 || cr.Runs != 2 {
		t.Fatalf("exit %d %+v\n%s", code, cr, stderr)
	}
}

func TestAnalyzeGateWebhookConfigErrors(t *testing.T) {
	f := newGateFixture(t)
	file := f.canary(t, "rollout", relQuery+";maxRatio=1.2")
	// No --gate-config: the webhook and the provider are named.
	code, _, stderr := execute(t, "", "-f", file, "--once")
	if code != 2 || !strings.Contains(stderr, `spec.analysis.webhooks[1].metadata`) || !strings.Contains(stderr, `webhook "check-0"`) ||
		!strings.Contains(stderr, `metadata.provider "dev"`) || !strings.Contains(stderr, "--gate-config FILE") {
		t.Fatalf("no --gate-config: exit %d\n%s", code, stderr)
	}
	for _, md := range []string{"templateRef=error-rate;mx=1", "templateRef=nothing;max=1", "templateRef=error-rate", "templateRef=error-rate;maxRatio=2", "templateRef=error-rate;max=x"} {
		file := f.canary(t, "rollout", md)
		if code, _, stderr := execute(t, "", "-f", file, "--once", "--gate-config", f.gateConfig); code != 2 || !strings.Contains(stderr, `webhook "check-0"`) {
			t.Errorf("%s: exit %d\n%s", md, code, stderr)
		}
	}
}

// The same Canary and webhook judged by analyze in-process and by the real
// gate over HTTP: the same verdict and message.
func TestAnalyzeGateWebhookParity(t *testing.T) {
	f := newGateFixture(t)
	f.set(t, "errors", "web-canary", "1.5")
	f.set(t, "errors", "web-primary", "1")
	cfg, err := gate.LoadConfig(f.gateConfig)
	if err != nil {
		t.Fatal(err)
	}
	for _, md := range []string{
		relQuery + ";target=web;maxRatio=1.2",
		relQuery + ";target=web;maxRatio=2",
		"templateRef=error-rate;max=1",
		"templateRef=error-rate;max=2;min=1.6",
		"provider=dev;query=ci/errors?labelSelector=app=none;max=1",
	} {
		file := f.canary(t, "rollout", md)
		set, err := flagger.Load([]string{file}, flagger.Options{})
		if err != nil {
			t.Fatal(err)
		}
		g, err := gate.New(gate.Options{Config: cfg, Objects: gate.NewSetObjects(set)})
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(g.Handler())
		hook := set.Canaries[0].Spec.Analysis.Webhooks[1]
		body, _ := json.Marshal(gate.FlaggerPayload{Name: "web", Namespace: "ci", Phase: "Progressing", Metadata: hook.Metadata})
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		req, _ := http.NewRequestWithContext(ctx, "POST", srv.URL+flagger.GateCheckPath, bytes.NewReader(body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		cancel()
		srv.Close()
		httpPassed, httpMsg := resp.StatusCode/100 == 2, strings.TrimSpace(string(b))
		if httpPassed {
			httpMsg = ""
		}
		code, m, stderr := onceChecks(t, f, file)
		c := m.Checks[0]
		if c.Passed != httpPassed || c.Message != httpMsg || (code == 0) != httpPassed {
			t.Errorf("%s: analyze passed=%v %q (exit %d), gate HTTP %d %q\n%s", md, c.Passed, c.Message, code, resp.StatusCode, httpMsg, stderr)
		}
	}
}
