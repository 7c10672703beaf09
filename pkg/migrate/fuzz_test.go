package migrate

import (
	"bytes"
	"os"
	"testing"

	"github.com/extmetrics/extmetrics/pkg/flagger"
	"github.com/extmetrics/extmetrics/pkg/scenario"
)

// FuzzMigrate: any input is migrated or refused, never a crash; what is
// written loads back (Canaries, templates) and the scenario parses; every
// DatadogMetric name is valid.
func FuzzMigrate(f *testing.F) {
	for _, p := range []string{"testdata/istio/templates.yaml", "testdata/istio/canaries.yaml"} {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	both, _ := os.ReadFile("testdata/istio/templates.yaml")
	canaries, _ := os.ReadFile("testdata/istio/canaries.yaml")
	f.Add(append(append(both, []byte("\n---\n")...), canaries...))
	f.Add([]byte(refuseTemplates))
	f.Fuzz(func(t *testing.T, data []byte) {
		in, err := NewInput("fuzz", map[string][]byte{"f.yaml": data})
		if err != nil {
			return
		}
		res, err := Migrate(in, Options{SkipUnsupported: true})
		if err != nil {
			return
		}
		for _, d := range res.DatadogMetrics {
			if !IsValidName(d.Name) {
				t.Fatalf("invalid name %q", d.Name)
			}
		}
		var out, sc bytes.Buffer
		if err := res.WriteYAML(&out, ""); err != nil {
			t.Fatal(err)
		}
		if err := res.WriteScenario(&sc); err != nil {
			t.Fatal(err)
		}
		if len(res.DatadogMetrics) == 0 {
			return
		}
		set := flagger.NewSet(flagger.Options{AcceptDatadog: true})
		set.Parse("out.yaml", out.Bytes())
		if err := set.Err(); err != nil {
			t.Fatalf("output does not load: %v\n%s", err, out.Bytes())
		}
		if _, err := scenario.Parse("sc.yaml", sc.Bytes()); err != nil {
			t.Fatalf("scenario does not parse: %v\n%s", err, sc.Bytes())
		}
	})
}
