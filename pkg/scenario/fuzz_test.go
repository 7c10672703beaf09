package scenario

import (
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/labels"
	clocktesting "k8s.io/utils/clock/testing"
)

// FuzzParse: any input yields a valid scenario or an ErrorList, never a panic;
// what parses also passes Validate and serves finite values.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("../../examples/scenarios/*.yaml")
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	for _, s := range []string{
		"", "~", "metrics: []", selectorScenario,
		"metrics:\n  - name: a\n    value: {steps: [{after: 0s, value: 1}, {after: 5x, value: 2}]}\n",
		"metrics:\n  - name: a\n    value: {sequence: [1, 2], repeat: true}\n",
		"metrics:\n  - name: a\n    value: {noise: {base: 1, amplitude: 1e15, seed: -9223372036854775808, interval: 1ns}}\n",
		"metrics:\n  - name: a\n    value: {sine: {base: 1, amplitude: 1, period: 1ns, phase: -2562047h}}\n",
		"metrics:\n  - name: a\n    timestampOffset: 2562047h\n    value: {ramp: {from: -1e15, to: 1e15, over: 1ns, after: 2562047h}}\n",
		"faults:\n  - metric: '*'\n    status: 429\n    retryAfter: 1s\n    probability: 0.5\n",
		"a: &x [*x]\n", "metrics: &m\n  - *m\n", "<<: {a: 1}\n", "metrics:\n- {name: a, value: !!binary aGVsbG8=}\n",
		"metrics:\n  - name: a\n    labels: {? [x]: y}\n    value: 1\n", "--- a\n--- b\n", "\t", "{", "[", "'",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		sc, err := Parse("fuzz.yaml", data)
		if err != nil {
			if sc != nil {
				t.Fatal("scenario and error")
			}
			var list ErrorList
			if !errors.As(err, &list) || len(list) == 0 {
				t.Fatalf("not an ErrorList: %T %v", err, err)
			}
			for _, e := range list {
				if e.File != "fuzz.yaml" || e.Msg == "" || strings.Contains(e.Msg, "internal error") {
					t.Fatalf("bad error: %#v", e)
				}
			}
			return
		}
		if err := sc.Validate(); err != nil {
			t.Fatalf("parsed but invalid: %v", err)
		}
		clk := clocktesting.NewFakeClock(time.Unix(1e9, 0))
		s := NewStore(clk)
		s.Load(sc)
		for _, step := range []time.Duration{0, time.Second, 90 * time.Second, 1000 * time.Hour} {
			clk.Step(step)
			for _, name := range s.MetricNames() {
				vals, known := s.Lookup("", name, labels.Everything())
				if !known {
					t.Fatalf("%s not known", name)
				}
				for _, v := range vals {
					if math.IsNaN(v.Value) || math.IsInf(v.Value, 0) || math.Abs(v.Value) > 2*MaxValue {
						t.Fatalf("%s: value %v", name, v.Value)
					}
				}
			}
		}
		if _, err := json.Marshal(s.Snapshot()); err != nil {
			t.Fatalf("state: %v", err)
		}
	})
}
