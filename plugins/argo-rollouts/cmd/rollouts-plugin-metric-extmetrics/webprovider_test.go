package main_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	"github.com/argoproj/argo-rollouts/metricproviders/webmetric"
	"github.com/argoproj/argo-rollouts/pkg/apis/rollouts/v1alpha1"
	"github.com/sirupsen/logrus"

	"github.com/extmetrics/extmetrics/pkg/devserver"
	"github.com/extmetrics/extmetrics/pkg/devserver/devservertest"
	"github.com/extmetrics/extmetrics/pkg/gate"
)

// The gate's /argo/v1/value with a baseline, read by Argo Rollouts' own web
// metric provider (v1.10.1's webmetric package, as the controller runs it)
// with jsonPath "{$}": successCondition result.ratio <= 1.2 fails a canary
// 1.5× its baseline and passes one 1.1×; with a zero baseline the ratio is
// null, so the condition cannot pass (Error), and a condition on
// result.delta decides.
func TestGateArgoWebProviderRelative(t *testing.T) {
	s := devservertest.New(t, devserver.Config{})
	dir := t.TempDir()
	caFile, tokenFile := filepath.Join(dir, "ca.crt"), filepath.Join(dir, "token")
	if os.WriteFile(caFile, s.CAPEM(), 0o600) != nil || os.WriteFile(tokenFile, []byte(devservertest.Token), 0o600) != nil {
		t.Fatal("writing the provider's files")
	}
	cfg := &gate.Config{Providers: []gate.ProviderConfig{{Name: "dev", Address: s.URL(), CAFile: caFile, TokenFile: tokenFile}}}
	g, err := gate.New(gate.Options{Config: cfg, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(g.Handler())
	t.Cleanup(srv.Close)
	set := func(canary, primary string) {
		t.Helper()
		for app, v := range map[string]string{"web-canary": canary, "web-primary": primary} {
			if err := s.SetSeries("default", "error_rate", map[string]string{"app": app}, v); err != nil {
				t.Fatal(err)
			}
		}
	}
	u := srv.URL + "/argo/v1/value?" + url.Values{"provider": {"dev"},
		"query":    {"default/error_rate?labelSelector=app=web-canary"},
		"baseline": {"default/error_rate?labelSelector=app=web-primary"}}.Encode()
	measure := func(success string) v1alpha1.Measurement {
		t.Helper()
		m := v1alpha1.Metric{Name: "error-rate-vs-primary", SuccessCondition: success,
			Provider: v1alpha1.MetricProvider{Web: &v1alpha1.WebMetric{URL: u, JSONPath: "{$}", TimeoutSeconds: 10}}}
		client, err := webmetric.NewWebMetricHttpClient(m)
		if err != nil {
			t.Fatal(err)
		}
		parser, err := webmetric.NewWebMetricJsonParser(m)
		if err != nil {
			t.Fatal(err)
		}
		l := logrus.New()
		l.SetOutput(io.Discard)
		return webmetric.NewWebMetricProvider(*logrus.NewEntry(l), client, parser).Run(&v1alpha1.AnalysisRun{}, m)
	}
	expect := func(m v1alpha1.Measurement, want v1alpha1.AnalysisPhase) map[string]any {
		t.Helper()
		if m.Phase != want {
			t.Fatalf("phase %s (message %q, value %s), want %s", m.Phase, m.Message, m.Value, want)
		}
		var v map[string]any
		if m.Value != "" {
			if err := json.Unmarshal([]byte(m.Value), &v); err != nil {
				t.Fatalf("value %q: %v", m.Value, err)
			}
		}
		return v
	}
	set("1500m", "1")
	v := expect(measure("result.ratio <= 1.2"), v1alpha1.AnalysisPhaseFailed)
	if v["ratio"] != 1.5 || v["baseline"] != 1.0 || v["value"] != 1.5 || v["delta"] != 0.5 {
		t.Errorf("value %v", v)
	}
	set("1100m", "1")
	expect(measure("result.ratio <= 1.2"), v1alpha1.AnalysisPhaseSuccessful)

	set("100m", "0")
	expect(measure("result.ratio <= 1.2"), v1alpha1.AnalysisPhaseError)
	expect(measure("result.delta <= 0.5"), v1alpha1.AnalysisPhaseSuccessful)
	expect(measure("result.ratio == nil ? result.delta <= 0.5 : result.ratio <= 1.2"), v1alpha1.AnalysisPhaseSuccessful)
	expect(measure("result.ratio == nil ? result.delta <= 0.05 : result.ratio <= 1.2"), v1alpha1.AnalysisPhaseFailed)

	// A baseline that cannot be read: the gate answers non-2xx, an Error.
	s.DeleteSeries("default", "error_rate", map[string]string{"app": "web-primary"})
	expect(measure("result.delta <= 100"), v1alpha1.AnalysisPhaseError)
}
