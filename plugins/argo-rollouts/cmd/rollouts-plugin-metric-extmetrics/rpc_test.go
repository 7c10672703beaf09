package main_test

// The built plugin binary, started and called exactly the way the Argo
// Rollouts controller does (go-plugin, Argo's handshake, Argo's RPC client),
// against the real development External Metrics server for every profile.

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/argoproj/argo-rollouts/pkg/apis/rollouts/v1alpha1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/extmetrics/extmetrics/pkg/devserver"
	"github.com/extmetrics/extmetrics/pkg/devserver/devservertest"
	"github.com/extmetrics/extmetrics/pkg/scenario"
	"github.com/extmetrics/extmetrics/plugins/argo-rollouts/internal/plugintest"
	"github.com/extmetrics/extmetrics/plugins/argo-rollouts/metricplugin"
)

func TestMain(m *testing.M) {
	code := m.Run()
	plugintest.Cleanup()
	os.Exit(code)
}

var profiles = []string{devserver.ProfilePrometheusAdapter, devserver.ProfileCMA, devserver.ProfileDatadog}

// metricFor is a metric name the profile serves (the Cluster Agent only
// knows datadogmetric@<namespace>:<name>).
func metricFor(profile, name string) string {
	if profile == devserver.ProfileDatadog {
		return "datadogmetric@default:" + name
	}
	return name
}

func analysisRun() *v1alpha1.AnalysisRun {
	return &v1alpha1.AnalysisRun{ObjectMeta: metav1.ObjectMeta{Name: "canary-1", Namespace: "default"}}
}

// metric is an AnalysisTemplate metric using the plugin with cfg.
func metric(t testing.TB, cfg map[string]any, success, failure string) v1alpha1.Metric {
	t.Helper()
	raw, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return v1alpha1.Metric{
		Name:             "m",
		SuccessCondition: success,
		FailureCondition: failure,
		Provider:         v1alpha1.MetricProvider{Plugin: map[string]json.RawMessage{metricplugin.PluginName: raw}},
	}
}

// startFor starts the plugin binary with a kubeconfig pointing at s (the
// "cluster" whose aggregation layer serves external metrics).
func startFor(t testing.TB, s *devserver.Server) *plugintest.Plugin {
	t.Helper()
	kubeconfig := devservertest.WriteKubeconfig(t, s, devservertest.Token)
	return plugintest.Start(t, plugintest.Binary(t), nil, "--kubeconfig", kubeconfig, "--log-level", "error")
}

func expectPhase(t *testing.T, got v1alpha1.Measurement, want v1alpha1.AnalysisPhase, msg string) {
	t.Helper()
	if got.Phase != want {
		t.Fatalf("phase %q (message %q, value %q), want %q", got.Phase, got.Message, got.Value, want)
	}
	if msg != "" && !strings.Contains(got.Message, msg) {
		t.Errorf("message %q lacks %q", got.Message, msg)
	}
	if got.StartedAt == nil || got.FinishedAt == nil {
		t.Errorf("startedAt %v finishedAt %v: want both", got.StartedAt, got.FinishedAt)
	}
	if strings.Contains(got.Message, devservertest.Token) {
		t.Fatalf("token in message %q", got.Message)
	}
}

func TestPluginRPCProfiles(t *testing.T) {
	for _, profile := range profiles {
		t.Run(profile, func(t *testing.T) {
			s := devservertest.New(t, devserver.Config{Profile: profile})
			p := startFor(t, s)
			run := analysisRun()
			ok := metricFor(profile, "error-rate")
			if err := s.SetSeries("default", ok, map[string]string{"app": "web"}, "1500m"); err != nil {
				t.Fatal(err)
			}
			q := map[string]any{"query": "default/" + ok}

			// In range, out of range, neither.
			m := p.Run(run, metric(t, q, "result <= 2", ""))
			expectPhase(t, m, v1alpha1.AnalysisPhaseSuccessful, "")
			if m.Value != "1.5" || m.Metadata[metricplugin.MetaQuery] != "default/"+ok || m.Metadata[metricplugin.MetaItems] != "1" || m.Metadata[metricplugin.MetaServer] != s.URL() {
				t.Errorf("value %q metadata %v", m.Value, m.Metadata)
			}
			expectPhase(t, p.Run(run, metric(t, q, "result <= 1", "")), v1alpha1.AnalysisPhaseFailed, "")
			expectPhase(t, p.Run(run, metric(t, q, "", "result > 1")), v1alpha1.AnalysisPhaseFailed, "")
			expectPhase(t, p.Run(run, metric(t, q, "result < 1", "result > 2")), v1alpha1.AnalysisPhaseInconclusive, "")
			expectPhase(t, p.Run(run, metric(t, map[string]any{"query": "default/" + ok + "?labelSelector=app%3Dweb", "timeout": "3s"}, "result == 1.5", "")), v1alpha1.AnalysisPhaseSuccessful, "")

			// Every devserver fault is an Error, even under a condition any number passes.
			faults := []struct {
				name  string
				fault scenario.Fault
				msg   string
			}{
				{"503", scenario.Fault{Status: 503}, "503"},
				{"502", scenario.Fault{Status: 502}, "502"},
				{"429", scenario.Fault{Status: 429, RetryAfter: time.Second}, "429"},
				{"500", scenario.Fault{Status: 500}, "500"},
				{"404", scenario.Fault{Status: 404}, "not found"},
				{"reset", scenario.Fault{Reset: true}, "unavailable"},
				{"malformed", scenario.Fault{Malformed: true}, "malformed"},
				{"truncated", scenario.Fault{Truncate: true}, "malformed"},
				{"timeout", scenario.Fault{Latency: 3 * time.Second}, "timed out after 1s"},
			}
			for _, f := range faults {
				name := metricFor(profile, "fault-"+f.name)
				if err := s.SetSeries("default", name, nil, "7"); err != nil {
					t.Fatal(err)
				}
				s.SetFault(name, f.fault)
				t.Run(f.name, func(t *testing.T) {
					m := p.Run(run, metric(t, map[string]any{"query": "default/" + name, "timeout": "1s"}, "result >= 0", ""))
					expectPhase(t, m, v1alpha1.AnalysisPhaseError, f.msg)
				})
			}

			// No such metric.
			expectPhase(t, p.Run(run, metric(t, map[string]any{"query": "default/" + metricFor(profile, "nosuch")}, "result >= 0", "")), v1alpha1.AnalysisPhaseError, "")

			// Stale: the Cluster Agent refuses old metrics itself, the others by maxAge.
			stale := metricFor(profile, "stale")
			if err := s.SetSeries("default", stale, nil, "7"); err != nil {
				t.Fatal(err)
			}
			s.SetFault(stale, scenario.Fault{StaleBy: 5 * time.Minute})
			if profile == devserver.ProfileDatadog {
				expectPhase(t, p.Run(run, metric(t, map[string]any{"query": "default/" + stale}, "result >= 0", "")), v1alpha1.AnalysisPhaseError, "stale")
			} else {
				expectPhase(t, p.Run(run, metric(t, map[string]any{"query": "default/" + stale, "maxAge": "1m"}, "result >= 0", "")), v1alpha1.AnalysisPhaseError, "maxAge 1m")
				expectPhase(t, p.Run(run, metric(t, map[string]any{"query": "default/" + stale + "?maxAge=10m"}, "result == 7", "")), v1alpha1.AnalysisPhaseSuccessful, "")
			}

			// Several series where one was meant: Error, unless aggregated.
			// (The Cluster Agent serves one value per DatadogMetric.)
			if profile == devserver.ProfileDatadog {
				return
			}
			multi := metricFor(profile, "multi")
			s.SetSeries("default", multi, map[string]string{"pod": "a"}, "1")
			s.SetSeries("default", multi, map[string]string{"pod": "b"}, "3")
			expectPhase(t, p.Run(run, metric(t, map[string]any{"query": "default/" + multi}, "result >= 0", "")), v1alpha1.AnalysisPhaseError, "ambiguous")
			m = p.Run(run, metric(t, map[string]any{"query": "default/" + multi, "aggregate": "max"}, "result == 3", ""))
			expectPhase(t, m, v1alpha1.AnalysisPhaseSuccessful, "")
			if m.Metadata[metricplugin.MetaItems] != "2" || m.Metadata[metricplugin.MetaQuery] != "default/"+multi+"?aggregate=max" {
				t.Errorf("metadata %v", m.Metadata)
			}
		})
	}
}

func TestPluginRPCConfigErrors(t *testing.T) {
	s := devservertest.New(t, devserver.Config{})
	s.SetSeries("default", "requests", nil, "1")
	p := startFor(t, s)
	run := analysisRun()
	for _, c := range []struct {
		name string
		cfg  map[string]any
		msg  string
	}{
		{"unknown key", map[string]any{"query": "requests", "qurey": "x"}, `qurey: unknown key`},
		{"bad query", map[string]any{"query": "default/requests?labelSelector=app in (a"}, "query:"},
		{"no query", map[string]any{"address": s.URL()}, "query: missing"},
		{"unrendered arg", map[string]any{"query": "{{args.namespace}}/requests"}, "template expression"},
		{"bad maxAge", map[string]any{"query": "requests", "maxAge": "soon"}, "maxAge:"},
		{"bad timeout", map[string]any{"query": "requests", "timeout": "1h"}, "timeout:"},
		{"bad aggregate", map[string]any{"query": "requests", "aggregate": "median"}, "aggregate:"},
		{"bad type", map[string]any{"query": "requests", "insecureSkipVerify": "yes"}, "insecureSkipVerify: want true or false"},
		{"secretRef without name", map[string]any{"query": "requests", "secretRef": map[string]any{"key": "t"}}, "secretRef.name: missing"},
		{"missing secret", map[string]any{"query": "requests", "secretRef": map[string]any{"name": "nosuch"}}, `secretRef.name: secret "nosuch" not found in namespace "default"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := p.Run(run, metric(t, c.cfg, "true", ""))
			expectPhase(t, m, v1alpha1.AnalysisPhaseError, c.msg)
			if !strings.Contains(m.Message, metricplugin.PluginName) {
				t.Errorf("message %q does not name the plugin", m.Message)
			}
		})
	}
	// A condition Argo cannot evaluate is an Error too.
	expectPhase(t, p.Run(run, metric(t, map[string]any{"query": "requests"}, "result >>> 1", "")), v1alpha1.AnalysisPhaseError, "successCondition")
}

// With an address, the controller's credentials stay home: a second server
// that accepts the controller's token sees none and answers 401.
func TestPluginRPCNoCredentialForwarding(t *testing.T) {
	cluster := devservertest.New(t, devserver.Config{})
	other := devservertest.New(t, devserver.Config{})
	other.SetSeries("default", "requests", nil, "1")
	p := startFor(t, cluster)
	m := p.Run(analysisRun(), metric(t, map[string]any{"query": "requests", "address": other.URL(), "insecureSkipVerify": true}, "result >= 0", ""))
	expectPhase(t, m, v1alpha1.AnalysisPhaseError, "unauthorized")
}

func TestPluginRPCLifecycle(t *testing.T) {
	s := devservertest.New(t, devserver.Config{})
	s.SetSeries("default", "requests", nil, "250m")
	p := startFor(t, s)
	run := analysisRun()
	mt := metric(t, map[string]any{"query": "requests"}, "result < 1", "")

	if got := p.Type(); got != metricplugin.ProviderType {
		t.Errorf("Type = %q", got)
	}
	if md := p.GetMetadata(mt); md[metricplugin.MetaQuery] != "default/requests" || !strings.Contains(md[metricplugin.MetaServer], "aggregation layer") {
		t.Errorf("GetMetadata = %v", md)
	}
	done := p.Run(run, mt)
	expectPhase(t, done, v1alpha1.AnalysisPhaseSuccessful, "")

	// Resume: a completed measurement comes back as it was; an incomplete
	// one is measured again, keeping its start time.
	if got := p.Resume(run, mt, done); got.Phase != done.Phase || got.Value != done.Value || !got.FinishedAt.Equal(done.FinishedAt) {
		t.Errorf("Resume(completed) = %+v", got)
	}
	started := metav1.NewTime(time.Now().Add(-time.Minute).Truncate(time.Second))
	running := v1alpha1.Measurement{Phase: v1alpha1.AnalysisPhaseRunning, StartedAt: &started}
	got := p.Resume(run, mt, running)
	expectPhase(t, got, v1alpha1.AnalysisPhaseSuccessful, "")
	if !got.StartedAt.Equal(&started) || got.Value != "0.25" {
		t.Errorf("Resume(running) = %+v", got)
	}

	// Terminate: completed unchanged; incomplete is Inconclusive, never Successful.
	if got := p.Terminate(run, mt, done); got.Phase != v1alpha1.AnalysisPhaseSuccessful {
		t.Errorf("Terminate(completed) = %+v", got)
	}
	got = p.Terminate(run, mt, running)
	expectPhase(t, got, v1alpha1.AnalysisPhaseInconclusive, "terminated")

	if e := p.GarbageCollect(run, mt, 10); e.HasError() {
		t.Errorf("GarbageCollect: %v", e)
	}

	// A nil AnalysisRun is an Error, not a crash; the plugin keeps serving.
	expectPhase(t, p.Run(nil, mt), v1alpha1.AnalysisPhaseError, "no AnalysisRun")
	expectPhase(t, p.Run(run, mt), v1alpha1.AnalysisPhaseSuccessful, "")
	if p.Client.Exited() {
		t.Fatal("plugin exited")
	}
}

// A canary against its baseline through Argo's plugin client: the measured
// value is the ratio or the delta, the metadata carries both raw values,
// and a baseline that cannot be read fails closed (Error).
func TestPluginRPCRelative(t *testing.T) {
	s := devservertest.New(t, devserver.Config{})
	p := startFor(t, s)
	run := analysisRun()
	set := func(canary, primary string) {
		t.Helper()
		for app, v := range map[string]string{"web-canary": canary, "web-primary": primary} {
			if err := s.SetSeries("default", "error_rate", map[string]string{"app": app}, v); err != nil {
				t.Fatal(err)
			}
		}
	}
	cfg := func(compare string) map[string]any {
		return map[string]any{"query": "default/error_rate?labelSelector=app%3Dweb-canary",
			"baseline": "default/error_rate?labelSelector=app%3Dweb-primary", "compare": compare}
	}
	set("1500m", "1")
	// A canary 1.5× its baseline fails result <= 1.2 and passes result <= 2.
	m := p.Run(run, metric(t, cfg("ratio"), "result <= 1.2", ""))
	expectPhase(t, m, v1alpha1.AnalysisPhaseFailed, "")
	if m.Value != "1.5" || m.Metadata[metricplugin.MetaCanary] != "1.5" || m.Metadata[metricplugin.MetaBaseline] != "1" ||
		m.Metadata[metricplugin.MetaRatio] != "1.5" || m.Metadata[metricplugin.MetaDelta] != "0.5" ||
		m.Metadata[metricplugin.MetaBaselineQuery] != "default/error_rate?labelSelector=app=web-primary" || m.Metadata[metricplugin.MetaBaselineItems] != "1" {
		t.Errorf("value %q metadata %v", m.Value, m.Metadata)
	}
	expectPhase(t, p.Run(run, metric(t, cfg("ratio"), "result <= 2", "")), v1alpha1.AnalysisPhaseSuccessful, "")
	m = p.Run(run, metric(t, cfg("delta"), "result <= 0.5", ""))
	expectPhase(t, m, v1alpha1.AnalysisPhaseSuccessful, "")
	if m.Value != "0.5" {
		t.Errorf("delta value %q", m.Value)
	}
	expectPhase(t, p.Run(run, metric(t, cfg("delta"), "result <= 0.4", "")), v1alpha1.AnalysisPhaseFailed, "")

	// A zero baseline: no ratio (Error, never a pass), the delta decides.
	set("100m", "0")
	m = p.Run(run, metric(t, cfg("ratio"), "result <= 1.2", ""))
	expectPhase(t, m, v1alpha1.AnalysisPhaseError, "ratio undefined: baseline 0 is not > 0")
	expectPhase(t, p.Run(run, metric(t, cfg("delta"), "result <= 0.5", "")), v1alpha1.AnalysisPhaseSuccessful, "")

	// A missing or stale baseline: Error, saying it was the baseline.
	missing := cfg("delta")
	missing["baseline"] = "default/error_rate?labelSelector=app%3Dnothing"
	expectPhase(t, p.Run(run, metric(t, missing, "result <= 100", "")), v1alpha1.AnalysisPhaseError, "baseline: ")
	s.SetSeries("default", "primary_rate", nil, "1")
	s.SetFault("primary_rate", scenario.Fault{StaleBy: 10 * time.Minute})
	stale := cfg("delta")
	stale["baseline"] = "default/primary_rate"
	expectPhase(t, p.Run(run, metric(t, stale, "result <= 100", "")), v1alpha1.AnalysisPhaseError, "baseline: ")
	// A configuration error names the key.
	expectPhase(t, p.Run(run, metric(t, map[string]any{"query": "default/error_rate", "baseline": "default/x"}, "result <= 1", "")), v1alpha1.AnalysisPhaseError, "compare")
}
