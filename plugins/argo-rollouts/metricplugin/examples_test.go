package metricplugin

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/argoproj/argo-rollouts/pkg/apis/rollouts/v1alpha1"
	"sigs.k8s.io/yaml"
)

// Every plugin configuration in examples/argo-rollouts (AnalysisTemplates
// and the AnalysisRun) is valid once Argo has substituted its args.
func TestExamples(t *testing.T) {
	files, err := filepath.Glob("../../../examples/argo-rollouts/analysis*.yaml")
	if err != nil || len(files) < 4 {
		t.Fatalf("examples: %v %v", files, err)
	}
	arg := regexp.MustCompile(`\{\{\s*args\.[a-z-]+\s*\}\}`)
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var metrics []v1alpha1.Metric
		if strings.Contains(string(data), "kind: AnalysisRun\n") {
			var ar v1alpha1.AnalysisRun
			err = yaml.UnmarshalStrict(data, &ar)
			metrics = ar.Spec.Metrics
		} else {
			var at v1alpha1.AnalysisTemplate
			err = yaml.UnmarshalStrict(data, &at)
			metrics = at.Spec.Metrics
		}
		if err != nil || len(metrics) == 0 {
			t.Fatalf("%s: %v (%d metrics)", f, err, len(metrics))
		}
		for _, m := range metrics {
			raw, ok := m.Provider.Plugin[PluginName]
			if !ok {
				t.Fatalf("%s: metric %s does not use %s", f, m.Name, PluginName)
			}
			rendered := arg.ReplaceAll(raw, []byte("x"))
			if _, err := ParseConfig(rendered); err != nil {
				t.Errorf("%s: metric %s: %v", f, m.Name, err)
			}
		}
	}
}
