package migrate_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"k8s.io/client-go/rest"

	"github.com/extmetrics/extmetrics/pkg/analysis"
	"github.com/extmetrics/extmetrics/pkg/devserver"
	"github.com/extmetrics/extmetrics/pkg/devserver/devservertest"
	"github.com/extmetrics/extmetrics/pkg/flagger"
	"github.com/extmetrics/extmetrics/pkg/migrate"
	"github.com/extmetrics/extmetrics/pkg/scenario"
)

const (
	exampleBefore   = "examples/datadog-migration/before"
	exampleAfter    = "examples/datadog-migration/after"
	exampleScenario = "examples/datadog-migration/rehearsal-scenario.yaml"
)

// migrateExample migrates examples/datadog-migration/before from the
// repository root (so sources read as in the committed files) into a
// temporary directory; it checks the output against the committed after/
// and rehearsal-scenario.yaml.
func migrateExample(t *testing.T) (*migrate.Result, string) {
	t.Chdir("../..")
	in, err := migrate.Load([]string{exampleBefore}, migrate.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	res, err := migrate.Migrate(in, migrate.Options{})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	paths, err := res.WriteDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	committed, _ := filepath.Glob(filepath.Join(exampleAfter, "*.yaml"))
	if len(committed) != len(paths) {
		t.Errorf("%s holds %d files, the migration writes %d", exampleAfter, len(committed), len(paths))
	}
	for _, p := range paths {
		same(t, filepath.Join(exampleAfter, filepath.Base(p)), p)
	}
	var sc bytes.Buffer
	if err := res.WriteScenario(&sc); err != nil {
		t.Fatal(err)
	}
	sp := filepath.Join(dir, "scenario")
	if err := os.WriteFile(sp, sc.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	same(t, exampleScenario, sp)
	return res, dir
}

func same(t *testing.T, committed, generated string) {
	t.Helper()
	want, err := os.ReadFile(committed)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(generated)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s is not what the migration writes now (regenerate: go run ./cmd/extmetrics migrate datadog -f %s --out %s --scenario %s):\n%s",
			committed, exampleBefore, exampleAfter, exampleScenario, got)
	}
}

// End to end: migrate -> scenario -> devserver (Datadog profile) -> analysis
// of the migrated YAML gives, for the same values, the verdict each original
// canary gets from Flagger's rule (analysis.MetricBounds on the original metric).
func TestRehearsalMatchesOriginalVerdicts(t *testing.T) {
	res, dir := migrateExample(t)

	original := flagger.NewSet(flagger.Options{AcceptDatadog: true})
	original.AddPath(exampleBefore)
	if err := original.Err(); err != nil {
		t.Fatal(err)
	}
	origMetric := func(canary, metric string) *flagger.Metric {
		for _, c := range original.Canaries {
			if c.Key() == canary {
				for i := range c.Spec.Analysis.Metrics {
					if c.Spec.Analysis.Metrics[i].Name == metric {
						return &c.Spec.Analysis.Metrics[i]
					}
				}
			}
		}
		t.Fatalf("no metric %s in canary %s", metric, canary)
		return nil
	}

	// The migrated YAML resolves for analyze, as it is.
	migrated, err := flagger.Load([]string{dir}, flagger.Options{})
	if err != nil {
		t.Fatal(err)
	}
	resolved, err := migrated.Resolve()
	if err != nil {
		t.Fatalf("migrated YAML does not resolve: %v", err)
	}

	type values map[string]float64 // external metric name -> value
	sets := map[string]values{"generated (passing)": {}}
	edge, failing := values{}, values{}
	for _, d := range res.DatadogMetrics {
		m := d.Metric
		sets["generated (passing)"][d.ExternalMetricName()] = migrate.PassingValue(m)
		tr := m.ThresholdRange
		switch {
		case tr.Min != nil: // success rate: at the bound passes, just under fails
			edge[d.ExternalMetricName()] = *tr.Min
			failing[d.ExternalMetricName()] = *tr.Min - 0.5
		default: // latency: at the bound passes, just over fails
			edge[d.ExternalMetricName()] = *tr.Max
			failing[d.ExternalMetricName()] = *tr.Max + 1
		}
	}
	sets["at the bounds"] = edge
	sets["all out of range"] = failing
	mixed := values{}
	for i, d := range res.DatadogMetrics {
		if i%2 == 0 {
			mixed[d.ExternalMetricName()] = edge[d.ExternalMetricName()]
		} else {
			mixed[d.ExternalMetricName()] = failing[d.ExternalMetricName()]
		}
	}
	sets["mixed"] = mixed

	generated, err := scenario.LoadFile(exampleScenario)
	if err != nil {
		t.Fatal(err)
	}
	for name, vals := range sets {
		t.Run(name, func(t *testing.T) {
			sc := &scenario.Scenario{}
			for _, m := range generated.Metrics {
				v, ok := vals[m.Name]
				if !ok {
					t.Fatalf("scenario series %s has no DatadogMetric", m.Name)
				}
				m.Generator = scenario.Constant(v)
				sc.Metrics = append(sc.Metrics, m)
			}
			s := devservertest.New(t, devserver.Config{Profile: devserver.ProfileDatadog, Scenario: sc})
			engine := analysis.New(analysis.Options{Factory: analysis.Connection{Base: func() (*rest.Config, error) { return devservertest.RESTConfig(s, devservertest.Token), nil }}.Factory()})
			rep, err := engine.Once(context.Background(), resolved)
			if err != nil {
				t.Fatal(err)
			}
			checks := 0
			for _, cr := range rep.Canaries {
				want := analysis.Succeeded
				for _, mr := range cr.Metrics {
					orig := origMetric(cr.Namespace+"/"+cr.Name, mr.Name)
					for _, ch := range mr.Checks {
						checks++
						v := vals[ch.Query[len(cr.Namespace)+1:]]
						pass, why := analysis.MetricBounds(orig).Judge(v)
						if !ch.HasValue || ch.Value != v || ch.Passed != pass {
							t.Errorf("%s/%s %s: value %v (has %v), passed %v; the original metric with %v: passed %v (%s) [%s]",
								cr.Namespace, cr.Name, mr.Name, ch.Value, ch.HasValue, ch.Passed, v, pass, why, ch.Message)
						}
						if !pass {
							want = analysis.Failed
						}
					}
				}
				if cr.Verdict != want {
					t.Errorf("%s/%s: verdict %s, the original canary's %s", cr.Namespace, cr.Name, cr.Verdict, want)
				}
			}
			if checks != len(res.DatadogMetrics) {
				t.Errorf("%d checks ran for %d DatadogMetrics", checks, len(res.DatadogMetrics))
			}
		})
	}
}
