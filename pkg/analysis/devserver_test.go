package analysis_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/extmetrics/extmetrics/pkg/analysis"
	"github.com/extmetrics/extmetrics/pkg/devserver"
	"github.com/extmetrics/extmetrics/pkg/devserver/devservertest"
	"github.com/extmetrics/extmetrics/pkg/flagger"
	"github.com/extmetrics/extmetrics/pkg/provider"
	"github.com/extmetrics/extmetrics/pkg/scenario"
)

// Whole analyses: Canary and MetricTemplate YAML loaded from files, the real
// provider, the real devserver over HTTPS on 127.0.0.1 with a bearer token
// and its CA from the template's Secret.

// files writes the canary, templates and secret for server s and returns the directory.
// analysisYAML is indented under spec.analysis; token goes into the Secret.
func files(t *testing.T, s *devserver.Server, token, analysisYAML string) string {
	t.Helper()
	ca := strings.ReplaceAll(strings.TrimSpace(string(s.CAPEM())), "\n", "\n    ")
	templates := fmt.Sprintf(`apiVersion: flagger.app/v1beta1
kind: MetricTemplate
metadata:
  name: error-rate
  namespace: flagger-system
spec:
  provider:
    type: externalmetrics
    address: %[1]s
    secretRef:
      name: devserver
  query: |
    {{ namespace }}/http_errors_ratio?labelSelector=app={{ target }},direction={{ variables.direction }}&maxAge={{ interval }}
---
apiVersion: flagger.app/v1beta1
kind: MetricTemplate
metadata:
  name: latency
  namespace: flagger-system
spec:
  provider:
    type: externalmetrics
    address: %[1]s
    secretRef:
      name: devserver
  query: "{{ namespace }}/latency_p99_ms?labelSelector=service={{ service }}&aggregate=max"
---
apiVersion: v1
kind: Secret
metadata:
  name: devserver
  namespace: flagger-system
stringData:
  token: %[2]s
  ca.crt: |
    %[3]s
`, s.URL(), token, ca)
	canary := `apiVersion: flagger.app/v1beta1
kind: Canary
metadata:
  name: podinfo
  namespace: test
spec:
  targetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: podinfo
  service:
    name: podinfo-svc
    port: 9898
  analysis:
` + analysisYAML + `
    metrics:
      - name: error-rate
        templateRef:
          name: error-rate
          namespace: flagger-system
        templateVariables:
          direction: inbound
        thresholdRange:
          max: 1
        interval: 1m
      - name: latency
        templateRef:
          name: latency
          namespace: flagger-system
        thresholdRange:
          min: 0
          max: 500
`
	dir := t.TempDir()
	for name, content := range map[string]string{"templates.yaml": templates, "canary.yaml": canary} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func load(t *testing.T, dir string) []*flagger.Resolved {
	t.Helper()
	set, err := flagger.Load([]string{dir}, flagger.Options{})
	if err != nil {
		t.Fatal(err)
	}
	r, err := set.Resolve()
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// healthy sets both series inside their ranges.
func healthy(t *testing.T, s *devserver.Server) {
	t.Helper()
	if err := s.SetSeries("test", "http_errors_ratio", map[string]string{"app": "podinfo", "direction": "inbound"}, "500m"); err != nil {
		t.Fatal(err)
	}
	for _, pod := range []string{"a", "b"} {
		if err := s.SetSeries("test", "latency_p99_ms", map[string]string{"service": "podinfo-svc", "pod": pod}, map[string]string{"a": "120", "b": "180"}[pod]); err != nil {
			t.Fatal(err)
		}
	}
}

func engine(obs analysis.Observer) *analysis.Engine {
	return analysis.New(analysis.Options{
		Factory:  analysis.Connection{Options: provider.Options{Timeout: 10 * time.Second, MaxRetries: -1}}.Factory(),
		Interval: time.Millisecond, // --interval for CI: the canary says 30s
		Observer: obs,
	})
}

func run(t *testing.T, e *analysis.Engine, r []*flagger.Resolved) analysis.CanaryResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rep, err := e.Run(ctx, r)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Canaries) != 1 {
		t.Fatalf("%d canaries", len(rep.Canaries))
	}
	return rep.Canaries[0]
}

func TestDevserverHealthySucceeds(t *testing.T) {
	s := devservertest.New(t, devserver.Config{Profile: devserver.ProfilePrometheusAdapter})
	healthy(t, s)
	c := run(t, engine(nil), load(t, files(t, s, devservertest.Token, "    interval: 30s\n    stepWeight: 20\n    maxWeight: 60\n    threshold: 2")))
	if c.Verdict != analysis.Succeeded || c.Steps != 3 || c.Runs != 3 || c.FailedChecks != 0 || c.Weight != 60 {
		t.Fatalf("%s: %s %+v", c.Verdict, c.Reason, c)
	}
	er, lat := c.Metrics[0], c.Metrics[1]
	if er.Query != "test/http_errors_ratio?labelSelector=app=podinfo,direction=inbound&maxAge=1m" || er.Provider != s.URL() {
		t.Errorf("error-rate %q via %q", er.Query, er.Provider)
	}
	for _, ch := range er.Checks {
		if !ch.Passed || ch.Value != 0.5 || ch.Matched != 1 || ch.Latency <= 0 {
			t.Errorf("error-rate check %+v", ch)
		}
	}
	for _, ch := range lat.Checks {
		if !ch.Passed || ch.Value != 180 || ch.Matched != 2 { // aggregate=max over two pods
			t.Errorf("latency check %+v", ch)
		}
	}
}

// The error rate ramps past its range after step 2: each later run is a
// failed check and the canary fails when the threshold is reached.
func TestDevserverRampFailsAtThreshold(t *testing.T) {
	s := devservertest.New(t, devserver.Config{Profile: devserver.ProfilePrometheusAdapter})
	healthy(t, s)
	obs := observerFunc(func(ev analysis.Event) {
		if ev.Type == analysis.EventStep && ev.Advanced && ev.Step == 2 {
			if err := s.SetSeries("test", "http_errors_ratio", map[string]string{"app": "podinfo", "direction": "inbound"}, "2.5"); err != nil {
				t.Error(err)
			}
		}
	})
	c := run(t, engine(obs), load(t, files(t, s, devservertest.Token, "    stepWeight: 10\n    maxWeight: 50\n    threshold: 3")))
	if c.Verdict != analysis.Failed || c.Steps != 2 || c.Runs != 5 || c.FailedChecks != 3 || c.Weight != 30 {
		t.Fatalf("%s: %s %+v", c.Verdict, c.Reason, c)
	}
	last := c.Metrics[0].Checks[4]
	if last.Passed || last.ErrorKind != analysis.KindOutOfRange || last.Value != 2.5 || last.Step != 3 || last.Message != "2.5 > max 1" {
		t.Errorf("last check %+v", last)
	}
	if !strings.Contains(c.Reason, "failed checks threshold reached (3/3) at step 3/5 (weight 30); last failure: error-rate: 2.5 > max 1") {
		t.Errorf("reason %q", c.Reason)
	}
	for _, ch := range c.Metrics[1].Checks {
		if !ch.Passed {
			t.Errorf("latency should pass: %+v", ch)
		}
	}
}

// Fail closed: an error, no data, stale data, an unknown metric, a wrong
// token — each is a failed check with its kind, and the canary fails.
func TestDevserverFailClosed(t *testing.T) {
	tests := []struct {
		name    string
		profile string
		token   string
		setup   func(t *testing.T, s *devserver.Server)
		kind    string
	}{
		{"server error", devserver.ProfilePrometheusAdapter, devservertest.Token, func(t *testing.T, s *devserver.Server) {
			healthy(t, s)
			s.SetFault("http_errors_ratio", scenario.Fault{Status: 503})
		}, "unavailable"},
		{"no data", devserver.ProfilePrometheusAdapter, devservertest.Token, func(t *testing.T, s *devserver.Server) {
			healthy(t, s)
			// The metric exists, but not for this canary's labels.
			if !s.DeleteSeries("test", "http_errors_ratio", map[string]string{"app": "podinfo", "direction": "inbound"}) {
				t.Fatal("series not deleted")
			}
			if err := s.SetSeries("test", "http_errors_ratio", map[string]string{"app": "other", "direction": "inbound"}, "0"); err != nil {
				t.Fatal(err)
			}
		}, "no-values"},
		{"no data (cma: unknown metric is an empty list)", devserver.ProfileCMA, devservertest.Token, func(t *testing.T, s *devserver.Server) {
			healthy(t, s)
			s.DeleteSeries("test", "http_errors_ratio", map[string]string{"app": "podinfo", "direction": "inbound"})
		}, "no-values"},
		{"stale", devserver.ProfilePrometheusAdapter, devservertest.Token, func(t *testing.T, s *devserver.Server) {
			healthy(t, s)
			s.SetFault("http_errors_ratio", scenario.Fault{StaleBy: time.Hour}) // the query says maxAge=1m
		}, "stale"},
		{"not found", devserver.ProfilePrometheusAdapter, devservertest.Token, func(t *testing.T, s *devserver.Server) {
			healthy(t, s)
			s.DeleteSeries("test", "http_errors_ratio", map[string]string{"app": "podinfo", "direction": "inbound"})
		}, "not-found"},
		{"unauthorized", devserver.ProfilePrometheusAdapter, "wrong-token", healthy, "unauthorized"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := devservertest.New(t, devserver.Config{Profile: tt.profile})
			tt.setup(t, s)
			c := run(t, engine(nil), load(t, files(t, s, tt.token, "    stepWeight: 50\n    threshold: 2")))
			if c.Verdict != analysis.Failed || c.Runs != 2 || c.Steps != 0 || c.FailedChecks != 2 {
				t.Fatalf("%s: %s %+v", c.Verdict, c.Reason, c)
			}
			for _, ch := range c.Metrics[0].Checks {
				if ch.Passed || ch.HasValue || ch.ErrorKind != tt.kind || ch.Message == "" {
					t.Errorf("check %+v, want a failed check of kind %q", ch, tt.kind)
				}
				if strings.Contains(ch.Message, devservertest.Token) || strings.Contains(ch.Message, "wrong-token") {
					t.Errorf("token in message %q", ch.Message)
				}
			}
		})
	}
}

// Ctrl-C (context cancelled) mid-analysis: Aborted, with the runs made so far.
func TestDevserverCancelAborts(t *testing.T) {
	s := devservertest.New(t, devserver.Config{})
	healthy(t, s)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	obs := observerFunc(func(ev analysis.Event) {
		if ev.Type == analysis.EventStep && ev.Step == 2 {
			cancel()
		}
	})
	rep, err := engine(obs).Run(ctx, load(t, files(t, s, devservertest.Token, "    stepWeight: 10")))
	if err != nil {
		t.Fatal(err)
	}
	c := rep.Canaries[0]
	if c.Verdict != analysis.Aborted || c.Steps != 2 || c.Runs != 2 || len(c.Metrics[0].Checks) != 2 {
		t.Fatalf("%s: %s %+v", c.Verdict, c.Reason, c)
	}
}

// --once against the devserver: one run of every check.
func TestDevserverOnce(t *testing.T) {
	s := devservertest.New(t, devserver.Config{})
	healthy(t, s)
	s.SetFault("latency_p99_ms", scenario.Fault{Status: 500})
	rep, err := engine(nil).Once(context.Background(), load(t, files(t, s, devservertest.Token, "    stepWeight: 10")))
	if err != nil {
		t.Fatal(err)
	}
	c := rep.Canaries[0]
	if c.Verdict != analysis.Failed || c.Runs != 1 || !c.Metrics[0].Checks[0].Passed || c.Metrics[1].Checks[0].ErrorKind != "unavailable" {
		t.Fatalf("%s: %s %+v", c.Verdict, c.Reason, c)
	}
}

type observerFunc func(analysis.Event)

var obsMu sync.Mutex

func (f observerFunc) Observe(ev analysis.Event) {
	obsMu.Lock()
	defer obsMu.Unlock()
	f(ev)
}
