package analysis

import (
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/extmetrics/extmetrics/pkg/flagger"
)

func planCanary(a flagger.Analysis, provider string) *flagger.Canary {
	return &flagger.Canary{
		Source: flagger.Source{File: "c.yaml", Document: 1},
		Name:   "app", Namespace: "ns",
		Spec: flagger.CanarySpec{Provider: provider, TargetRef: flagger.ObjectRef{Name: "app"}, Analysis: &a, AnalysisField: "spec.analysis"},
	}
}

// Step counting follows Flagger's scheduler: see the package documentation.
func TestPlanSteps(t *testing.T) {
	tests := []struct {
		name     string
		a        flagger.Analysis
		provider string
		strategy string
		mode     string
		weights  []int
	}{
		{"stepWeight up to maxWeight", flagger.Analysis{StepWeight: 10, MaxWeight: 50}, "", StrategyCanary, ModeCanary, []int{10, 20, 30, 40, 50}},
		{"stepWeight overshoots maxWeight", flagger.Analysis{StepWeight: 20, MaxWeight: 50}, "", StrategyCanary, ModeCanary, []int{20, 40, 60}},
		{"maxWeight defaults to 100", flagger.Analysis{StepWeight: 25}, "", StrategyCanary, ModeCanary, []int{25, 50, 75, 100}},
		{"weight capped at 100", flagger.Analysis{StepWeight: 40, MaxWeight: 100}, "", StrategyCanary, ModeCanary, []int{40, 80, 100}},
		{"stepWeights", flagger.Analysis{StepWeights: []int{1, 10, 50, 80}}, "", StrategyCanary, ModeCanary, []int{1, 10, 50, 80}},
		{"stepWeights ignore maxWeight", flagger.Analysis{StepWeights: []int{5, 30}, MaxWeight: 90}, "", StrategyCanary, ModeCanary, []int{5, 30}},
		{"stepWeight wins over stepWeights, maxWeight from stepWeights", flagger.Analysis{StepWeight: 10, StepWeights: []int{5, 30}, MaxWeight: 90}, "", StrategyCanary, ModeCanary, []int{10, 20, 30}},
		{"mirror adds a run at weight 0", flagger.Analysis{StepWeight: 50, Mirror: true}, "istio", StrategyCanary, ModeCanaryMirror, []int{0, 50, 100}},
		{"A/B", flagger.Analysis{Iterations: 3, Match: 1}, "", StrategyIterations, ModeAB, []int{0, 0, 0}},
		{"blue/green", flagger.Analysis{Iterations: 3}, "", StrategyIterations, ModeBlueGreen, []int{0, 0, 0, 0}},
		{"iterations win over stepWeight", flagger.Analysis{Iterations: 1, StepWeight: 10}, "", StrategyIterations, ModeBlueGreen, []int{0, 0}},
		{"kubernetes provider: blue/green with 10", flagger.Analysis{StepWeight: 10}, "kubernetes", StrategyIterations, ModeBlueGreen, make([]int, 11)},
		{"kubernetes provider: no A/B", flagger.Analysis{Iterations: 2, Match: 1}, "kubernetes", StrategyIterations, ModeBlueGreen, make([]int, 3)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := NewPlan(planCanary(tt.a, tt.provider))
			if err != nil {
				t.Fatal(err)
			}
			if p.Strategy != tt.strategy || p.Mode != tt.mode || !reflect.DeepEqual(p.Weights, tt.weights) || p.TotalSteps() != len(tt.weights) {
				t.Fatalf("got %s %s %v, want %s %s %v", p.Strategy, p.Mode, p.Weights, tt.strategy, tt.mode, tt.weights)
			}
		})
	}
}

func TestPlanDefaults(t *testing.T) {
	p, err := NewPlan(planCanary(flagger.Analysis{StepWeight: 10}, ""))
	if err != nil {
		t.Fatal(err)
	}
	if p.Interval != 60*time.Second || p.Threshold != 1 || p.MaxWeight != 100 {
		t.Fatalf("defaults: %+v", p)
	}
	p, _ = NewPlan(planCanary(flagger.Analysis{StepWeight: 10, Interval: "2s", Threshold: 5}, ""))
	if p.Interval != 10*time.Second || p.Threshold != 5 {
		t.Fatalf("interval below Flagger's minimum: %+v", p)
	}
	p, _ = NewPlan(planCanary(flagger.Analysis{StepWeight: 10, Interval: "1m30s"}, ""))
	if p.Interval != 90*time.Second {
		t.Fatalf("interval %v", p.Interval)
	}
}

func TestPlanErrors(t *testing.T) {
	tests := []struct {
		a    flagger.Analysis
		want string
	}{
		{flagger.Analysis{}, "c.yaml: document 1: spec.analysis: set stepWeight, stepWeights or iterations"},
		{flagger.Analysis{StepWeights: []int{10, 10, 20}}, "spec.analysis.stepWeights: must be strictly increasing: Flagger would stay at weight 10 forever"},
		{flagger.Analysis{StepWeights: []int{30, 20, 50}}, "spec.analysis.stepWeights: must be strictly increasing"},
		{flagger.Analysis{StepWeights: []int{0, 50}}, "spec.analysis.stepWeights: must be strictly increasing: Flagger would stay at weight 0"},
		{flagger.Analysis{StepWeight: 10, MaxWeight: 150}, "spec.analysis.maxWeight: 150 is above 100"},
		{flagger.Analysis{StepWeight: 10, Interval: "1x"}, `spec.analysis.interval: invalid duration "1x"`},
		{flagger.Analysis{StepWeight: 10, Interval: "-1m"}, `spec.analysis.interval: invalid duration "-1m"`},
	}
	for _, tt := range tests {
		_, err := NewPlan(planCanary(tt.a, ""))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%+v: got %v, want %q", tt.a, err, tt.want)
		}
	}
}

func fp(v float64) *float64 { return &v }

func TestJudge(t *testing.T) {
	rng := func(min, max *float64) *flagger.Metric {
		return &flagger.Metric{ThresholdRange: &flagger.ThresholdRange{Min: min, Max: max}}
	}
	tests := []struct {
		v    float64
		m    *flagger.Metric
		pass bool
		msg  string
	}{
		{1, rng(fp(1), fp(5)), true, ""}, // inclusive min
		{5, rng(fp(1), fp(5)), true, ""}, // inclusive max
		{3, rng(fp(1), fp(5)), true, ""},
		{0.999, rng(fp(1), fp(5)), false, "0.999 < min 1"},
		{5.0001, rng(fp(1), fp(5)), false, "5.0001 > max 5"},
		{-100, rng(nil, fp(5)), true, ""},
		{1e9, rng(fp(0), nil), true, ""},
		{-1, rng(fp(0), nil), false, "-1 < min 0"},
		{5, &flagger.Metric{Threshold: 5, HasThreshold: true}, true, ""}, // legacy: value > threshold fails
		{5.5, &flagger.Metric{Threshold: 5, HasThreshold: true}, false, "5.5 > threshold 5 (deprecated threshold)"},
		{0.1, &flagger.Metric{}, false, "0.1 > threshold 0"},
		{0, &flagger.Metric{}, true, ""},
		{math.NaN(), rng(fp(0), nil), false, "NaN"},
		{math.NaN(), &flagger.Metric{Threshold: 5}, false, "NaN"},
		{math.Inf(1), rng(fp(0), nil), false, "+Inf is not finite"},
		{math.Inf(-1), rng(nil, fp(5)), false, "-Inf is not finite"},
	}
	for _, tt := range tests {
		pass, msg := MetricBounds(tt.m).Judge(tt.v)
		if pass != tt.pass || !strings.Contains(msg, tt.msg) || (pass && msg != "") {
			t.Errorf("Judge(%v) = %v %q, want %v %q", tt.v, pass, msg, tt.pass, tt.msg)
		}
	}
}
