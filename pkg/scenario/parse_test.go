package scenario

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/labels"
	clocktesting "k8s.io/utils/clock/testing"
)

func TestParseFull(t *testing.T) {
	src := `apiVersion: extmetrics.dev/v1alpha1
kind: Scenario
faults:
  - latency: 50ms
    jitter: 10ms
  - metric: http_errors
    status: 503
    probability: 0.2
    retryAfter: 2s
metrics:
  - name: http_requests_per_second
    labels: {app: web, env: prod, "example.com/tier": "1"}
    windowSeconds: 60
    timestampOffset: -2m
    value: {constant: 42}
  - name: q
    namespace: shop
    value: {constant: "1500m"}
  - name: bare
    value: 2k
  - name: steps
    value: {steps: [{after: 0s, value: 1}, {after: 30s, value: 5}]}
  - name: ramp
    value: {ramp: {from: 0, to: 10, over: 60s, after: 5s}}
  - name: sine
    value: {sine: {base: 10, amplitude: 2, period: 60s, phase: 15s}}
  - name: noise
    value: {noise: {base: 10, amplitude: 1, seed: 42, interval: 5s}}
  - name: seq
    value: {sequence: [1, "2", 3e0], repeat: true}
  - name: empty-label
    labels: {app: }
    value: 0x10
`
	sc, err := Parse("s.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if got := len(sc.Metrics); got != 9 {
		t.Fatalf("metrics: got %d", got)
	}
	m := sc.Metrics[0]
	if m.Namespace != "default" || m.Labels["env"] != "prod" || m.Labels["example.com/tier"] != "1" ||
		*m.WindowSeconds != 60 || m.TimestampOffset != -2*time.Minute || m.Generator != Constant(42) || m.Line != 11 {
		t.Errorf("metric 0: %+v", m)
	}
	want := []Generator{
		Constant(42),
		Constant(1.5),
		Constant(2000),
		Steps{{0, 1}, {30 * time.Second, 5}},
		Ramp{From: 0, To: 10, Over: time.Minute, After: 5 * time.Second},
		Sine{Base: 10, Amplitude: 2, Period: time.Minute, Phase: 15 * time.Second},
		Noise{Base: 10, Amplitude: 1, Seed: 42, Interval: 5 * time.Second},
	}
	for i, g := range want {
		if got := sc.Metrics[i].Generator; !equalGen(got, g) {
			t.Errorf("metric %d generator: got %#v, want %#v", i, got, g)
		}
	}
	if s, ok := sc.Metrics[7].Generator.(Sequence); !ok || !s.Repeat || len(s.Values) != 3 || s.Values[1] != 2 || s.Values[2] != 3 {
		t.Errorf("sequence: %#v", sc.Metrics[7].Generator)
	}
	if v, ok := sc.Metrics[8].Labels["app"]; !ok || v != "" {
		t.Errorf("empty label: %#v", sc.Metrics[8].Labels)
	}
	if sc.Metrics[8].Generator != Constant(16) {
		t.Errorf("hex int: %#v", sc.Metrics[8].Generator)
	}
	if g := sc.Faults[""]; g != (Fault{Latency: 50 * time.Millisecond, Jitter: 10 * time.Millisecond}) {
		t.Errorf("global fault %+v", g)
	}
	if f := sc.Faults["http_errors"]; f != (Fault{Status: 503, Probability: 0.2, RetryAfter: 2 * time.Second}) {
		t.Errorf("fault %+v", f)
	}
	if err := sc.Validate(); err != nil {
		t.Errorf("Validate of a parsed scenario: %v", err)
	}
}

func equalGen(a, b Generator) bool {
	sa, oka := a.(Steps)
	sb, okb := b.(Steps)
	if oka || okb {
		if !oka || !okb || len(sa) != len(sb) {
			return false
		}
		for i := range sa {
			if sa[i] != sb[i] {
				return false
			}
		}
		return true
	}
	return a == b
}

func TestParseEmpty(t *testing.T) {
	for _, src := range []string{"", "\n# nothing\n", "---\n", "~\n", "metrics:\nfaults:\n", "metrics: []\n"} {
		sc, err := Parse("e.yaml", []byte(src))
		if err != nil || sc == nil || len(sc.Metrics) != 0 {
			t.Errorf("%q: %v %v", src, sc, err)
		}
	}
}

func TestParseErrors(t *testing.T) {
	cases := []struct {
		name, src string
		want      string // one line of the error
	}{
		{"bad duration", `metrics:
  - name: a
    value: {constant: 1}
  - name: b
    value: {constant: 1}
  - name: c
    value:
      steps:
        - after: 5x
          value: 1
`, `scenario.yaml:9: metrics[2].value.steps[0].after: invalid duration "5x"`},
		{"duration without unit", "metrics:\n  - name: a\n    value: {ramp: {from: 0, to: 1, over: 30}}\n",
			`scenario.yaml:3: metrics[0].value.ramp.over: invalid duration "30" (add a unit, e.g. "30s")`},
		{"unknown top field", "metric:\n  - name: a\n",
			`scenario.yaml:1: metric: unknown field "metric" (allowed: apiVersion, kind, faults, metrics)`},
		{"unknown metric field", "metrics:\n  - name: a\n    valu: 1\n",
			`scenario.yaml:3: metrics[0].valu: unknown field "valu" (allowed: name, namespace, labels, windowSeconds, timestampOffset, value)`},
		{"missing value", "metrics:\n  - name: a\n",
			`scenario.yaml:2: metrics[0].value: required (one of constant, steps, ramp, sine, noise, sequence)`},
		{"missing name", "metrics:\n  - value: 1\n", `scenario.yaml:2: metrics[0].name: required`},
		{"two generators", "metrics:\n  - name: a\n    value:\n      constant: 1\n      ramp: {from: 0, to: 1, over: 1s}\n",
			`scenario.yaml:5: metrics[0].value: exactly one generator allowed, found constant and ramp`},
		{"no generator", "metrics:\n  - name: a\n    value: {}\n",
			`scenario.yaml:3: metrics[0].value: one generator required: constant, steps, ramp, sine, noise, sequence`},
		{"unknown generator", "metrics:\n  - name: a\n    value: {linear: 1}\n",
			`scenario.yaml:3: metrics[0].value.linear: unknown field "linear" (allowed: constant, steps, ramp, sine, noise, sequence, repeat)`},
		{"bad quantity", "metrics:\n  - name: a\n    value: {constant: 12xyz}\n",
			`scenario.yaml:3: metrics[0].value.constant: invalid value "12xyz": want a number or a quantity such as "1500m"`},
		{"infinite", "metrics:\n  - name: a\n    value: .inf\n",
			`scenario.yaml:3: metrics[0].value: invalid value ".inf": not a finite number`},
		{"duplicate series", "metrics:\n  - name: a\n    labels: {x: y}\n    value: 1\n  - name: a\n    labels: {x: y}\n    value: 2\n",
			`scenario.yaml:5: metrics[1]: duplicate series: same namespace, name and labels as metrics[0] (line 2)`},
		{"bad namespace", "metrics:\n  - name: a\n    namespace: Default\n    value: 1\n",
			`scenario.yaml:3: metrics[0].namespace: invalid namespace "Default": a lowercase RFC 1123 label`},
		{"bad label key", "metrics:\n  - name: a\n    labels: {\"-x\": y}\n    value: 1\n",
			`scenario.yaml:3: metrics[0].labels.-x: invalid label key "-x"`},
		{"bad label value", "metrics:\n  - name: a\n    labels:\n      x: \"has space\"\n    value: 1\n",
			`scenario.yaml:4: metrics[0].labels.x: invalid value "has space" for label "x"`},
		{"bad metric name", "metrics:\n  - name: a/b\n    value: 1\n",
			`scenario.yaml:2: metrics[0].name: invalid metric name "a/b": character '/' not allowed`},
		{"steps not from zero", "metrics:\n  - name: a\n    value:\n      steps:\n        - {after: 1s, value: 1}\n",
			`scenario.yaml:5: metrics[0].value.steps[0].after: the first step must start at 0s`},
		{"steps out of order", "metrics:\n  - name: a\n    value:\n      steps:\n        - {after: 0s, value: 1}\n        - {after: 10s, value: 2}\n        - {after: 5s, value: 3}\n",
			`scenario.yaml:7: metrics[0].value.steps[2].after: steps must be in increasing order of after: 5s is not after 10s`},
		{"ramp over zero", "metrics:\n  - name: a\n    value:\n      ramp:\n        from: 0\n        to: 1\n        over: 0s\n",
			`scenario.yaml:7: metrics[0].value.ramp.over: must be positive, got 0s`},
		{"ramp missing to", "metrics:\n  - name: a\n    value: {ramp: {from: 0, over: 1s}}\n",
			`scenario.yaml:3: metrics[0].value.ramp.to: required`},
		{"empty sequence", "metrics:\n  - name: a\n    value: {sequence: []}\n",
			`scenario.yaml:3: metrics[0].value.sequence: needs at least one value`},
		{"repeat without sequence", "metrics:\n  - name: a\n    value: {constant: 1, repeat: true}\n",
			`scenario.yaml:3: metrics[0].value.repeat: only applies to sequence`},
		{"repeat not bool", "metrics:\n  - name: a\n    value: {sequence: [1], repeat: yes}\n",
			`scenario.yaml:3: metrics[0].value.repeat: want true or false, got the string "yes"`},
		{"window", "metrics:\n  - name: a\n    windowSeconds: 0\n    value: 1\n",
			`scenario.yaml:3: metrics[0].windowSeconds: must be positive, got 0`},
		{"window not int", "metrics:\n  - name: a\n    windowSeconds: 1m\n    value: 1\n",
			`scenario.yaml:3: metrics[0].windowSeconds: want an integer, got the string "1m"`},
		{"offset too large", "metrics:\n  - name: a\n    timestampOffset: -9000h\n    value: 1\n",
			`scenario.yaml:3: metrics[0].timestampOffset: at most 8760h0m0s either way, got -9000h0m0s`},
		{"duplicate key", "metrics:\n  - name: a\n    value: 1\n    value: 2\n",
			`scenario.yaml:4: metrics[0].value: duplicate key (first at line 3)`},
		{"syntax", "apiVersion: a\nkind: d: e\n", `scenario.yaml:2: invalid YAML: mapping values are not allowed in this context`},
		{"syntax flow", "metrics:\n  - name: a\n    value: [1,\n", `scenario.yaml:3: invalid YAML: did not find expected node content`},
		{"two documents", "metrics: []\n---\nmetrics: []\n", `scenario.yaml:2: only one YAML document is allowed`},
		{"alias", "x: &v 1\n", `scenario.yaml:1: x: unknown field "x"`},
		{"alias use", "metrics:\n  - name: a\n    value: &v 1\n  - name: b\n    value: *v\n",
			`scenario.yaml:5: metrics[1].value: YAML aliases (*v) are not supported: write the value out`},
		{"alias label", "metrics:\n  - name: a\n    labels: {x: &l y}\n    value: 1\n  - name: b\n    labels: {x: *l}\n    value: 1\n",
			`scenario.yaml:6: metrics[1].labels.x: YAML aliases (*l) are not supported: write the value out`},
		{"merge key", "<<: {metrics: []}\n", `scenario.yaml:1: merge keys (<<) are not supported: write the fields out`},
		{"merge key in metric", "metrics:\n  - <<: {name: a}\n    value: 1\n",
			`scenario.yaml:2: metrics[0]: merge keys (<<) are not supported: write the fields out`},
		{"metrics not list", "metrics: {name: a}\n", `scenario.yaml:1: metrics: want a list, got a mapping`},
		{"apiVersion", "apiVersion: v2\n", `scenario.yaml:1: apiVersion: unsupported apiVersion "v2" (want "extmetrics.dev/v1alpha1")`},
		{"kind", "kind: Pod\n", `scenario.yaml:1: kind: unsupported kind "Pod" (want "Scenario")`},
		{"fault unknown key", "faults:\n  - metric: a\n    delay: 1s\n",
			`scenario.yaml:3: faults[0].delay: unknown field "delay" (allowed: metric, latency, jitter, status, probability, retryAfter, reset, malformed, truncate, staleBy)`},
		{"fault bad status", "faults:\n  - metric: a\n    status: 200\n",
			`scenario.yaml:3: faults[0].status: must be an HTTP error status 400-599, got 200`},
		{"fault probability", "faults:\n  - status: 500\n    probability: 1.5\n",
			`scenario.yaml:3: faults[0].probability: must be between 0 and 1, got 1.5`},
		{"fault two effects", "faults:\n  - status: 500\n    reset: true\n",
			`scenario.yaml:3: faults[0].reset: cannot be combined with status`},
		{"fault retryAfter alone", "faults:\n  - retryAfter: 1s\n",
			`scenario.yaml:2: faults[0].retryAfter: only applies with status`},
		{"fault duplicate", "faults:\n  - latency: 1s\n  - metric: \"*\"\n    latency: 2s\n",
			`scenario.yaml:3: faults[1]: duplicate fault for the global fault (first at line 2)`},
		{"fault empty", "faults:\n  - metric: a\n", `scenario.yaml:2: faults[0]: injects nothing`},
		{"fault negative", "faults:\n  - latency: -1s\n", `scenario.yaml:2: faults[0].latency: must not be negative, got -1s`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sc, err := Parse("scenario.yaml", []byte(tc.src))
			if err == nil {
				t.Fatalf("no error; got %+v", sc)
			}
			if sc != nil {
				t.Errorf("scenario returned with an error")
			}
			var list ErrorList
			if !errors.As(err, &list) || len(list) == 0 {
				t.Fatalf("error is not an ErrorList: %T %v", err, err)
			}
			if !strings.HasPrefix(err.Error(), tc.want) {
				t.Errorf("got  %s\nwant %s...", err, tc.want)
			}
		})
	}
}

func TestParseReportsSeveralErrors(t *testing.T) {
	src := "metrics:\n  - name: a\n    value: x1\n  - name: b\n    value: {constant: 1}\n  - name: c/d\n    value: 1\n"
	_, err := Parse("s.yaml", []byte(src))
	var list ErrorList
	if !errors.As(err, &list) || len(list) != 2 || list[0].Line != 3 || list[1].Line != 6 || list[1].Path != "metrics[2].name" {
		t.Fatalf("got %v", err)
	}
	var many strings.Builder
	many.WriteString("metrics:\n")
	for range 50 {
		many.WriteString("  - {name: a, value: zz}\n")
	}
	_, err = Parse("s.yaml", []byte(many.String()))
	if !errors.As(err, &list) || len(list) != maxErrors+1 || !strings.Contains(err.Error(), "and 30 more errors") {
		t.Fatalf("got %d errors: %v", len(list), err)
	}
}

func TestLoadFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(p, []byte("metrics:\n  - name: a\n    value: {steps: [{after: 5x, value: 1}]}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := LoadFile(p)
	if err == nil || !strings.HasPrefix(err.Error(), p+":3: metrics[0].value.steps[0].after: invalid duration \"5x\"") {
		t.Fatalf("got %v", err)
	}
	if _, err := LoadFile(filepath.Join(dir, "missing.yaml")); err == nil {
		t.Fatal("missing file accepted")
	}
	if _, err := LoadFile(dir); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Fatalf("directory: %v", err)
	}
}

// Every example scenario parses and validates.
func TestExamples(t *testing.T) {
	files, err := filepath.Glob("../../examples/scenarios/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no examples: %v", err)
	}
	for _, f := range files {
		sc, err := LoadFile(f)
		if err != nil {
			t.Errorf("%v", err)
			continue
		}
		if len(sc.Metrics) == 0 {
			t.Errorf("%s: no metrics", f)
		}
		if err := sc.Validate(); err != nil {
			t.Errorf("%s: Validate: %v", f, err)
		}
	}
}

func TestValidateCodeScenario(t *testing.T) {
	w := int64(0)
	sc := &Scenario{
		Metrics: []Metric{
			{Name: "ok", Generator: Constant(1)},
			{Name: "ok", Namespace: "default", Generator: Constant(2)},
			{Name: "bad name", Generator: Ramp{From: 0, To: 1}},
			{Name: "w", WindowSeconds: &w},
		},
		Faults: map[string]Fault{"": {Status: 200}},
	}
	err := sc.Validate()
	for _, want := range []string{
		"metrics[1]: duplicate series: same namespace, name and labels as metrics[0]",
		"metrics[2].name: invalid metric name",
		"metrics[2].value.ramp.over: must be positive",
		"metrics[3].windowSeconds: must be positive",
		"metrics[3].value: no generator",
		"faults[*].status: must be an HTTP error status",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in:\n%v", want, err)
		}
	}
}

// The demo scenario serves what README and the demo rely on.
func TestDemoScenario(t *testing.T) {
	sc, err := LoadFile("../../examples/scenarios/demo.yaml")
	if err != nil {
		t.Fatal(err)
	}
	clk := clocktesting.NewFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	s := NewStore(clk)
	s.Load(sc)
	dd := func() float64 { return one(t, s, "datadogmetric@default:checkout-error-rate").Value }
	if v := dd(); v != 0.5 {
		t.Errorf("datadog at start: %v", v)
	}
	clk.Step(30 * time.Second)
	if v := dd(); !near(v, 6.25) {
		t.Errorf("datadog at 30s: %v", v)
	}
	clk.Step(time.Hour)
	if v := dd(); v != 12 {
		t.Errorf("datadog after the ramp: %v", v)
	}
	sel, _ := labels.Parse("app=web")
	for range 20 {
		vals, known := s.Lookup("default", "http_requests_error_rate", sel)
		if !known || len(vals) != 1 || vals[0].Value < 0.4 || vals[0].Value > 0.6 {
			t.Fatalf("error rate: %+v", vals)
		}
		vals, _ = s.Lookup("default", "http_request_duration_p99_ms", sel)
		if len(vals) != 1 || vals[0].Value < 165 || vals[0].Value > 195 {
			t.Fatalf("p99: %+v", vals)
		}
		clk.Step(7 * time.Second)
	}
}

// Decode then validate once: a file and the same scenario built in code get
// the same problems (path and message) from the same rules.
func TestParseAndValidateShareRules(t *testing.T) {
	src := "metrics:\n  - name: a/b\n    namespace: Default\n    labels: {\"-x\": y}\n    windowSeconds: 0\n    value: {ramp: {from: 0, to: 1, over: 0s}}\n" +
		"faults:\n  - metric: \"c/d\"\n    status: 200\n"
	_, err := Parse("s.yaml", []byte(src))
	var parsed ErrorList
	if !errors.As(err, &parsed) {
		t.Fatalf("Parse: %v", err)
	}
	w := int64(0)
	sc := &Scenario{
		Metrics: []Metric{{Name: "a/b", Namespace: "Default", Labels: map[string]string{"-x": "y"}, WindowSeconds: &w, Generator: Ramp{From: 0, To: 1}}},
		Faults:  map[string]Fault{"c/d": {Status: 200}},
	}
	var validated ErrorList
	if !errors.As(sc.Validate(), &validated) {
		t.Fatal("Validate: no ErrorList")
	}
	msgs := func(l ErrorList, faultPath string) []string {
		var out []string
		for _, e := range l {
			out = append(out, strings.Replace(e.Path, faultPath, "faults[?]", 1)+": "+e.Msg)
		}
		return out
	}
	p, v := msgs(parsed, "faults[0]"), msgs(validated, "faults[c/d]")
	if strings.Join(p, "\n") != strings.Join(v, "\n") || len(p) != 7 {
		t.Errorf("Parse:\n  %s\nValidate:\n  %s", strings.Join(p, "\n  "), strings.Join(v, "\n  "))
	}
	if parsed[0].Line != 2 || parsed[1].Line != 3 || parsed[2].Line != 4 || parsed[3].Line != 5 || parsed[4].Line != 6 {
		t.Errorf("Parse lines: %v", err)
	}
	// A fault injecting nothing is refused in code as in files.
	sc = &Scenario{Faults: map[string]Fault{"m": {}}}
	if err := sc.Validate(); err == nil || !strings.Contains(err.Error(), "faults[m]: injects nothing") {
		t.Errorf("zero fault: %v", err)
	}
}
