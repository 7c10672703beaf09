// Package examples holds the example Canaries, MetricTemplates, Secrets and
// development-server scenarios of this directory, embedded so that
// `extmetrics demo` runs the very files people read, and describes each
// example: the devserver profile it imitates, the address its templates
// name and the verdict its scenario scripts. Each directory's README.md has
// the commands to run it with `extmetrics devserver` and `extmetrics
// analyze`; the package's tests run every example that way and check the
// documented verdict.
package examples

import (
	"embed"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"

	"github.com/extmetrics/extmetrics/pkg/analysis"
	"github.com/extmetrics/extmetrics/pkg/scenario"
)

// FS holds the example directories (their YAML files and README.md).
//
//go:embed prometheus-adapter datadog keda
var FS embed.FS

// ScenarioFile is the name of each example's devserver scenario; every other
// .yaml file of an example holds Flagger objects (Canary, MetricTemplate,
// Secret).
const ScenarioFile = "scenario.yaml"

// Example describes one example directory.
type Example struct {
	Dir         string           // directory under examples/ and in FS, e.g. "datadog"
	Title       string           // the server it shows, e.g. "Datadog Cluster Agent"
	Profile     string           // devserver profile imitating that server
	Address     string           // spec.provider.address of its MetricTemplates
	Canary      string           // namespace/name of its Canary
	Verdict     analysis.Verdict // the verdict its scenario scripts
	Description string           // one line on what happens
}

// Examples are the examples, in the order examples/README.md lists them.
var Examples = []Example{
	{
		Dir: "prometheus-adapter", Title: "prometheus-adapter", Profile: "prometheus-adapter",
		Address: "https://127.0.0.1:8443", Canary: "test/podinfo", Verdict: analysis.Succeeded,
		Description: "error rate, p99 latency and request rate from external rules stay in range: promoted after 5 runs (weights 10..50)",
	},
	{
		Dir: "datadog", Title: "Datadog Cluster Agent", Profile: "datadog",
		Address: "https://127.0.0.1:8444", Canary: "shop/checkout", Verdict: analysis.Failed,
		Description: "datadogmetric@shop:checkout-error-rate climbs past 2 %: 3 runs pass, runs 4 and 5 fail at weight 80, threshold 2 reached",
	},
	{
		Dir: "keda", Title: "KEDA metrics adapter", Profile: "cma",
		Address: "https://127.0.0.1:8445", Canary: "jobs/orders-worker", Verdict: analysis.Succeeded,
		Description: "blue/green worker judged on its ScaledObject's s0-rabbitmq-orders and s1-prometheus: promoted after 4 iterations + 1",
	},
}

// Lookup returns the example in dir.
func Lookup(dir string) (Example, bool) {
	for _, e := range Examples {
		if e.Dir == dir {
			return e, true
		}
	}
	return Example{}, false
}

// File is one embedded file.
type File struct {
	Path string // e.g. "examples/datadog/canary.yaml", as in the repository
	Data []byte
}

// Objects returns the example's Flagger object files (every .yaml file but
// the scenario), in name order, as `extmetrics analyze -f examples/<dir>`
// reads them.
func (e Example) Objects() ([]File, error) {
	entries, err := fs.ReadDir(FS, e.Dir)
	if err != nil {
		return nil, fmt.Errorf("example %q: %w", e.Dir, err)
	}
	var names []string
	for _, en := range entries {
		if !en.IsDir() && strings.HasSuffix(en.Name(), ".yaml") && en.Name() != ScenarioFile {
			names = append(names, en.Name())
		}
	}
	sort.Strings(names)
	if len(names) == 0 {
		return nil, fmt.Errorf("example %q: no Flagger object files", e.Dir)
	}
	files := make([]File, 0, len(names))
	for _, n := range names {
		data, err := FS.ReadFile(path.Join(e.Dir, n))
		if err != nil {
			return nil, err
		}
		files = append(files, File{Path: path.Join("examples", e.Dir, n), Data: data})
	}
	return files, nil
}

// Scenario parses the example's devserver scenario (scenario.yaml).
func (e Example) Scenario() (*scenario.Scenario, error) {
	data, err := FS.ReadFile(path.Join(e.Dir, ScenarioFile))
	if err != nil {
		return nil, fmt.Errorf("example %q: %w", e.Dir, err)
	}
	return scenario.Parse(path.Join("examples", e.Dir, ScenarioFile), data)
}
