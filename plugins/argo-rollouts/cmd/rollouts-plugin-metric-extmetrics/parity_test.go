package main_test

// One check, one connection rule (issue 18): the same input through every
// surface — analyze (analysis.Runner), the gate (/v1/check and
// /argo/v1/value, in-process over HTTP) and the built plugin binary called
// through Argo's plugin client — gives the same verdict and the same error
// kind, with the same message.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/argoproj/argo-rollouts/pkg/apis/rollouts/v1alpha1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"

	"github.com/extmetrics/extmetrics/internal/testutil"
	"github.com/extmetrics/extmetrics/pkg/analysis"
	"github.com/extmetrics/extmetrics/pkg/devserver"
	"github.com/extmetrics/extmetrics/pkg/devserver/devservertest"
	"github.com/extmetrics/extmetrics/pkg/flagger"
	"github.com/extmetrics/extmetrics/pkg/gate"
	"github.com/extmetrics/extmetrics/pkg/gate/gatetest"
	"github.com/extmetrics/extmetrics/pkg/provider"
	"github.com/extmetrics/extmetrics/pkg/scenario"
	"github.com/extmetrics/extmetrics/plugins/argo-rollouts/internal/plugintest"
	"github.com/extmetrics/extmetrics/plugins/argo-rollouts/metricplugin"
)

// parityObjects is a Canary and a MetricTemplate without address (the
// caller's cluster: the devserver) whose query is "parity/errors?" + params.
func parityObjects(t *testing.T, params, max string) []string {
	t.Helper()
	objects := fmt.Sprintf(`apiVersion: flagger.app/v1beta1
kind: MetricTemplate
metadata: {name: errors, namespace: parity}
spec:
  provider: {type: externalmetrics}
  query: "parity/errors?%s"
---
apiVersion: flagger.app/v1beta1
kind: Canary
metadata: {name: web, namespace: parity}
spec:
  targetRef: {kind: Deployment, name: web}
  analysis:
    interval: 1m
    iterations: 1
    threshold: 1
    metrics:
      - name: errors
        templateRef: {name: errors}
        thresholdRange: {max: %s}
`, params, max)
	path := filepath.Join(t.TempDir(), "objects.yaml")
	if err := os.WriteFile(path, []byte(objects), 0o600); err != nil {
		t.Fatal(err)
	}
	return []string{path}
}

// verdicts is what each surface answered.
type verdicts struct {
	analyze     analysis.Check
	gateCheck   gate.Result
	gateArgo    gate.Result
	plugin      v1alpha1.Measurement
	gateLog     string
	gateMetrics string
}

type parity struct {
	t       *testing.T
	s       *devserver.Server
	cluster *rest.Config
	plugin  *plugintest.Plugin
}

func newParity(t *testing.T) *parity {
	s := devservertest.New(t, devserver.Config{})
	return &parity{t: t, s: s, cluster: devservertest.RESTConfig(s, devservertest.Token), plugin: startFor(t, s)}
}

// run asks every surface: analyze --once with maxAge, the gate with maxAge
// (/v1/check with max, /argo/v1/value without a range) and the plugin with
// the same query, its maxAge field and successCondition result <= max.
func (p *parity) run(params, max, maxAge string) verdicts {
	t := p.t
	t.Helper()
	d, err := analysis.ParseMaxAge(maxAge)
	if err != nil {
		t.Fatal(err)
	}
	paths := parityObjects(t, params, max)
	var v verdicts

	resolved, _, err := analysis.Load(paths, flagger.Options{})
	if err != nil {
		t.Fatal(err)
	}
	runner := analysis.Runner{Once: true, MaxAge: d, Connection: analysis.Connection{
		Base: func() (*rest.Config, error) { return p.cluster, nil }, Options: provider.Options{MaxRetries: -1}}}
	rep, err := runner.Run(context.Background(), resolved)
	if err != nil {
		t.Fatalf("analyze: %v", err)
	}
	v.analyze = rep.Canaries[0].Metrics[0].Checks[0]

	objs, err := gatetest.LoadStaticObjects(paths...)
	if err != nil {
		t.Fatal(err)
	}
	var logs testutil.Buffer
	g, err := gate.New(gate.Options{Cluster: p.cluster, Objects: objs, MaxAge: d, Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(g.Handler())
	defer srv.Close()
	v.gateCheck = postJSON(t, srv.URL+"/v1/check", fmt.Sprintf(`{"templateRef":"parity/errors","namespace":"parity","max":%s}`, max))
	v.gateArgo = getJSON(t, srv.URL+"/argo/v1/value?template=parity/errors&namespace=parity")
	v.gateLog = logs.String()
	v.gateMetrics = getText(t, srv.URL+"/metrics")

	cfg := map[string]any{"query": "parity/errors?" + params}
	if maxAge != "" {
		cfg["maxAge"] = maxAge
	}
	v.plugin = p.plugin.Run(analysisRun(), metric(t, cfg, "result <= "+max, ""))
	return v
}

func postJSON(t *testing.T, url, body string) gate.Result {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	return decodeResult(t, resp)
}

func getJSON(t *testing.T, url string) gate.Result {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	return decodeResult(t, resp)
}

func decodeResult(t *testing.T, resp *http.Response) gate.Result {
	t.Helper()
	defer resp.Body.Close()
	var r gate.Result
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		t.Fatalf("%s: %v", resp.Request.URL, err)
	}
	return r
}

func getText(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// twoSeries adds two series matching the query, the primary's first (the
// devserver lists series in the order they were added).
func (p *parity) twoSeries() {
	for _, sv := range [][2]string{{"primary", "0.53"}, {"canary", "12"}} {
		if err := p.s.SetSeries("parity", "errors", map[string]string{"app": "web", "track": sv[0]}, sv[1]); err != nil {
			p.t.Fatal(err)
		}
	}
}

// An explicit aggregate=first is not ambiguous anywhere (the plugin used to
// answer Error "ambiguous"); the value is the first item's.
func TestParityExplicitFirst(t *testing.T) {
	p := newParity(t)
	p.twoSeries()
	v := p.run("labelSelector=app%3Dweb&aggregate=first", "1", "")
	if !v.analyze.Passed || v.analyze.Value != 0.53 || v.analyze.Matched != 2 {
		t.Errorf("analyze: %+v", v.analyze)
	}
	if v.gateCheck.Verdict != gate.VerdictPass || *v.gateCheck.Value != 0.53 {
		t.Errorf("gate /v1/check: %+v", v.gateCheck)
	}
	if v.gateArgo.Verdict != gate.VerdictMeasured || v.gateArgo.Passed || *v.gateArgo.Value != 0.53 {
		t.Errorf("gate /argo/v1/value: %+v", v.gateArgo)
	}
	expectPhase(t, v.plugin, v1alpha1.AnalysisPhaseSuccessful, "")
	if v.plugin.Value != "0.53" {
		t.Errorf("plugin value %q", v.plugin.Value)
	}
}

// Without aggregate=, two series are ambiguous everywhere, with the
// provider's one message.
func TestParityAmbiguous(t *testing.T) {
	p := newParity(t)
	p.twoSeries()
	v := p.run("labelSelector=app%3Dweb", "1", "")
	const msg = "2 items matched and the query names no aggregate=: {track=primary}=530m, {track=canary}=12; narrow the labelSelector"
	if v.analyze.Passed || v.analyze.ErrorKind != "ambiguous" || !strings.Contains(v.analyze.Message, msg) {
		t.Errorf("analyze: %+v", v.analyze)
	}
	for name, r := range map[string]gate.Result{"/v1/check": v.gateCheck, "/argo/v1/value": v.gateArgo} {
		if r.Verdict != gate.VerdictError || r.ErrorKind != "ambiguous" || !strings.Contains(r.Error, msg) {
			t.Errorf("gate %s: %+v", name, r)
		}
	}
	expectPhase(t, v.plugin, v1alpha1.AnalysisPhaseError, msg)
}

// Data an hour old: the default bound (3 intervals, at least 5m) fails it
// everywhere with kind stale; max-age 0 (and 0s) turns the bound off
// everywhere.
func TestParityMaxAge(t *testing.T) {
	p := newParity(t)
	if err := p.s.SetSeries("parity", "errors", nil, "0.5"); err != nil {
		t.Fatal(err)
	}
	p.s.SetFault("errors", scenario.Fault{StaleBy: time.Hour})
	const msg = "maxAge 5m0s (default bound: 3 analysis intervals, at least 5m0s"
	v := p.run("", "1", "")
	if v.analyze.Passed || v.analyze.ErrorKind != "stale" || !strings.Contains(v.analyze.Message, msg) {
		t.Errorf("analyze: %+v", v.analyze)
	}
	for name, r := range map[string]gate.Result{"/v1/check": v.gateCheck, "/argo/v1/value": v.gateArgo} {
		if r.Verdict != gate.VerdictError || r.ErrorKind != "stale" || !strings.Contains(r.Error, msg) {
			t.Errorf("gate %s: %+v", name, r)
		}
	}
	expectPhase(t, v.plugin, v1alpha1.AnalysisPhaseError, msg)

	for _, off := range []string{"0", "0s"} {
		v := p.run("", "1", off)
		if !v.analyze.Passed || v.analyze.Value != 0.5 {
			t.Errorf("analyze max-age %s: %+v", off, v.analyze)
		}
		if v.gateCheck.Verdict != gate.VerdictPass || v.gateArgo.Verdict != gate.VerdictMeasured {
			t.Errorf("gate max-age %s: %+v %+v", off, v.gateCheck, v.gateArgo)
		}
		expectPhase(t, v.plugin, v1alpha1.AnalysisPhaseSuccessful, "")
	}
}

// The range is inclusive and judged by the one check: the same value at the
// bound passes everywhere, above it fails everywhere with the same message.
func TestParityRange(t *testing.T) {
	p := newParity(t)
	if err := p.s.SetSeries("parity", "errors", nil, "1"); err != nil {
		t.Fatal(err)
	}
	v := p.run("", "1", "")
	if !v.analyze.Passed || v.gateCheck.Verdict != gate.VerdictPass || !v.gateCheck.Passed {
		t.Errorf("at the bound: analyze %+v gate %+v", v.analyze, v.gateCheck)
	}
	expectPhase(t, v.plugin, v1alpha1.AnalysisPhaseSuccessful, "")

	if err := p.s.SetSeries("parity", "errors", nil, "1.5"); err != nil {
		t.Fatal(err)
	}
	v = p.run("", "1", "")
	if v.analyze.Passed || v.analyze.ErrorKind != analysis.KindOutOfRange || v.analyze.Message != "1.5 > max 1" {
		t.Errorf("above: analyze %+v", v.analyze)
	}
	if v.gateCheck.Verdict != gate.VerdictFail || v.gateCheck.ErrorKind != analysis.KindOutOfRange {
		t.Errorf("above: gate %+v", v.gateCheck)
	}
	expectPhase(t, v.plugin, v1alpha1.AnalysisPhaseFailed, "")
}

// The gate's Argo endpoint has no range: its answer, its log line and its
// metric say "measured", never "pass" (a template reading {$.passed} must
// not promote everything).
func TestParityArgoEndpointMeasured(t *testing.T) {
	p := newParity(t)
	if err := p.s.SetSeries("parity", "errors", nil, "2.5"); err != nil {
		t.Fatal(err)
	}
	v := p.run("", "1", "")
	if v.gateArgo.Verdict != "measured" || v.gateArgo.Passed || v.gateArgo.Value == nil || *v.gateArgo.Value != 2.5 {
		t.Errorf("answer: %+v", v.gateArgo)
	}
	if !strings.Contains(v.gateLog, `"endpoint":"argo","verdict":"measured"`) || strings.Contains(v.gateLog, `"endpoint":"argo","verdict":"pass"`) {
		t.Errorf("log:\n%s", v.gateLog)
	}
	if !strings.Contains(v.gateMetrics, `extmetrics_gate_checks_total{endpoint="argo",error_kind="",verdict="measured"} 1`) ||
		strings.Contains(v.gateMetrics, `endpoint="argo",error_kind="",verdict="pass"`) {
		t.Errorf("metrics:\n%s", v.gateMetrics)
	}
	expectPhase(t, v.plugin, v1alpha1.AnalysisPhaseFailed, "")
}

// A token over plain http:// to a host that is not loopback is refused on
// every surface with the one message, naming the one opt-in. The token
// comes from the template's Secret (client-go itself drops a kubeconfig's
// token for an http:// server, so the controller's own identity cannot
// travel that way); the plugin reads Secrets from the cluster, which the
// devserver is not, so it runs in-process here with the Secret given.
func TestParityTokenOverPlainHTTP(t *testing.T) {
	const remote = "http://metrics.example.invalid:8080"
	const msg = "over plain http:// to metrics.example.invalid:8080, a host that is not loopback: anyone on the path could read them; use https://, or opt in with allowCredentialsOverHTTP (--allow-credentials-over-http)"
	objects := `apiVersion: flagger.app/v1beta1
kind: MetricTemplate
metadata: {name: errors, namespace: parity}
spec:
  provider: {type: externalmetrics, address: "` + remote + `", secretRef: {name: metrics}}
  query: "parity/errors"
---
apiVersion: v1
kind: Secret
metadata: {name: metrics, namespace: parity}
stringData: {token: s3cret-token}
---
apiVersion: flagger.app/v1beta1
kind: Canary
metadata: {name: web, namespace: parity}
spec:
  targetRef: {kind: Deployment, name: web}
  analysis:
    interval: 1m
    iterations: 1
    metrics:
      - name: errors
        templateRef: {name: errors}
        thresholdRange: {max: 1}
`
	path := filepath.Join(t.TempDir(), "objects.yaml")
	if err := os.WriteFile(path, []byte(objects), 0o600); err != nil {
		t.Fatal(err)
	}
	refused := func(what string, err error, method string) {
		t.Helper()
		if err == nil || !strings.Contains(err.Error(), "refusing to send credentials ("+method+") "+msg) || strings.Contains(err.Error(), "s3cret") {
			t.Errorf("%s: %v", what, err)
		}
	}

	// analyze
	resolved, _, err := analysis.Load([]string{path}, flagger.Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = (&analysis.Runner{Once: true}).Run(context.Background(), resolved)
	refused("analyze", err, "token")
	_, err = (&analysis.Runner{Once: true, Connection: analysis.Connection{Options: provider.Options{AllowCredentialsOverHTTP: true, Timeout: 2 * time.Second}}}).Run(context.Background(), resolved)
	if err != nil {
		t.Errorf("analyze with the opt-in: %v", err)
	}

	// gate: the template ...
	objs, err := gatetest.LoadStaticObjects(path)
	if err != nil {
		t.Fatal(err)
	}
	g, err := gate.New(gate.Options{Objects: objs})
	if err != nil {
		t.Fatal(err)
	}
	res := g.Check(context.Background(), gate.Request{Endpoint: "check", TemplateRef: "parity/errors", Namespace: "parity", Max: ptr(1)})
	if res.Verdict != gate.VerdictError || res.ErrorKind != gate.KindBadRequest {
		t.Errorf("gate template: %+v", res)
	}
	refused("gate template", errors.New(res.Error), "token")
	g, err = gate.New(gate.Options{Objects: objs, AllowCredentialsOverHTTP: true, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if res := g.Check(context.Background(), gate.Request{Endpoint: "check", TemplateRef: "parity/errors", Namespace: "parity", Max: ptr(1)}); res.ErrorKind != "unavailable" {
		t.Errorf("gate template with --allow-credentials-over-http: %+v", res)
	}
	// ... and a named provider of --config.
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte("s3cret-token"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := &gate.Config{Providers: []gate.ProviderConfig{{Name: "remote", Address: remote, TokenFile: tokenFile}}}
	_, err = gate.New(gate.Options{Config: cfg})
	refused("gate --config", err, "token-file")
	cfg.Providers[0].AllowCredentialsOverHTTP = true
	if _, err := gate.New(gate.Options{Config: cfg}); err != nil {
		t.Errorf("gate --config with allowCredentialsOverHTTP: %v", err)
	}

	// plugin
	pl := metricplugin.New(metricplugin.Options{
		RESTConfig: func() (*rest.Config, error) { return nil, errors.New("no cluster") },
		Secrets:    secretMap{"parity/metrics": {"token": []byte("s3cret-token")}},
	})
	cfgFor := func(extra map[string]any) map[string]any {
		c := map[string]any{"query": "parity/errors", "address": remote, "secretRef": map[string]any{"name": "metrics"}, "timeout": "2s"}
		for k, v := range extra {
			c[k] = v
		}
		return c
	}
	run := &v1alpha1.AnalysisRun{ObjectMeta: metav1.ObjectMeta{Name: "r", Namespace: "parity"}}
	m := pl.Run(run, metric(t, cfgFor(nil), "result <= 1", ""))
	if m.Phase != v1alpha1.AnalysisPhaseError {
		t.Errorf("plugin: %+v", m)
	}
	refused("plugin", errors.New(m.Message), "token")
	m = pl.Run(run, metric(t, cfgFor(map[string]any{"allowCredentialsOverHTTP": true}), "result <= 1", ""))
	if m.Phase != v1alpha1.AnalysisPhaseError || strings.Contains(m.Message, "refusing") || !strings.Contains(m.Message, "unavailable") {
		t.Errorf("plugin with allowCredentialsOverHTTP: %+v", m)
	}
}

// secretMap is a metricplugin.SecretGetter over fixed data.
type secretMap map[string]map[string][]byte

func (s secretMap) SecretData(_ context.Context, namespace, name string) (map[string][]byte, error) {
	d, ok := s[namespace+"/"+name]
	if !ok {
		return nil, fmt.Errorf("%w: %s/%s", metricplugin.ErrSecretNotFound, namespace, name)
	}
	return d, nil
}

func ptr(f float64) *float64 { return &f }
