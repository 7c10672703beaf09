package analysis

import (
	"fmt"
	"time"

	"github.com/extmetrics/extmetrics/pkg/flagger"
)

// Flagger's defaults (pkg/apis/flagger/v1beta1/canary.go, pkg/controller/scheduler.go).
const (
	DefaultInterval  = 60 * time.Second // analysis.interval unset
	MinInterval      = 10 * time.Second // Flagger raises shorter intervals to 10s
	DefaultThreshold = 1                // analysis.threshold unset or 0
	TotalWeight      = 100              // maxWeight unset (without stepWeights)
	// KubernetesIterations is what Flagger sets iterations to when
	// spec.provider is "kubernetes" and no iterations are given.
	KubernetesIterations = 10
)

// Strategies (CanaryResult.Strategy).
const (
	StrategyCanary     = "canary"     // progressive traffic weights
	StrategyIterations = "iterations" // A/B testing or blue/green
)

// Modes (CanaryResult.Mode).
const (
	ModeCanary       = "canary"
	ModeCanaryMirror = "canary+mirror"
	ModeAB           = "A/B"
	ModeBlueGreen    = "blue/green"
	ModeOnce         = "once"
)

// Plan is the sequence of analysis steps Flagger would run for a canary.
type Plan struct {
	Strategy  string
	Mode      string
	Interval  time.Duration // analysis interval (Flagger's default and minimum applied)
	Threshold int           // failed checks that fail the canary
	// Weights is the canary weight at each step; its length is the number of
	// analysis runs that must pass to succeed. For iterations every weight is 0.
	Weights   []int
	MaxWeight int // Strategy canary: promotion once the weight reaches it
}

// TotalSteps is the number of passing analysis runs needed to succeed.
func (p Plan) TotalSteps() int { return len(p.Weights) }

// NewPlan computes the plan of a canary's analysis as Flagger's scheduler
// runs it. Errors are *flagger.Error located at the analysis field.
func NewPlan(c *flagger.Canary) (Plan, error) {
	a := c.Spec.Analysis
	field := c.Spec.AnalysisField
	fail := func(sub, format string, args ...any) (Plan, error) {
		return Plan{}, &flagger.Error{Source: c.Source, Field: field + sub, Line: a.Line, Msg: fmt.Sprintf(format, args...)}
	}
	if a == nil {
		return Plan{}, &flagger.Error{Source: c.Source, Field: "spec.analysis", Line: c.Source.Line, Msg: "required"}
	}
	p := Plan{Interval: DefaultInterval, Threshold: a.Threshold}
	if a.Interval != "" {
		d, err := time.ParseDuration(a.Interval)
		if err != nil || d <= 0 {
			// Flagger silently falls back to 60s; a lint should not.
			return fail(".interval", "invalid duration %q (want e.g. 30s or 1m)", a.Interval)
		}
		p.Interval = max(d, MinInterval)
	}
	if p.Threshold <= 0 {
		p.Threshold = DefaultThreshold
	}

	iterations := a.Iterations
	match := a.Match
	if c.Spec.Provider == "kubernetes" {
		// Flagger: A/B is not supported by the kubernetes provider, and
		// without iterations it falls back to blue/green with 10.
		match = 0
		if iterations < 1 {
			iterations = KubernetesIterations
		}
	}
	switch {
	case match > 0 && iterations > 0:
		// runAB: each passing run increments status.iterations; the run at
		// iterations == N is followed by promotion: N runs.
		p.Strategy, p.Mode = StrategyIterations, ModeAB
		p.Weights = make([]int, iterations)
	case iterations > 0:
		// runBlueGreen: after the run at iterations == N Flagger routes all
		// traffic to the canary and increments once more; the run at N+1 is
		// followed by promotion: N+1 runs.
		p.Strategy, p.Mode = StrategyIterations, ModeBlueGreen
		p.Weights = make([]int, iterations+1)
	default:
		p.Strategy, p.Mode = StrategyCanary, ModeCanary
		weights, maxWeight, err := canaryWeights(a)
		if err != nil {
			return fail(err.field, "%s", err.msg)
		}
		p.MaxWeight = maxWeight
		if a.Mirror {
			// runCanary with mirror: the first advance mirrors traffic at
			// weight 0 and the next run is analysed before any weight shift.
			p.Mode = ModeCanaryMirror
			weights = append([]int{0}, weights...)
		}
		p.Weights = weights
	}
	return p, nil
}

type planError struct{ field, msg string }

// canaryWeights follows Flagger's maxWeight and nextStepWeight: the first
// tick shifts traffic to the first weight without an analysis, then every
// tick analyses the current weight and, if it passed, adds the next step
// (capped at 100) while the weight is below maxWeight; the run at a weight
// >= maxWeight is followed by promotion. The returned weights are the ones
// analysed, in order.
func canaryWeights(a *flagger.Analysis) ([]int, int, *planError) {
	sw := a.StepWeights
	maxWeight := TotalWeight
	switch {
	case len(sw) > 0:
		maxWeight = min(TotalWeight, sw[len(sw)-1])
	case a.MaxWeight > 0:
		maxWeight = a.MaxWeight
	}
	next := func(w int) int {
		if a.StepWeight > 0 || len(sw) == 0 {
			return a.StepWeight
		}
		maxStep := TotalWeight - w
		if maxStep == 0 {
			return 1
		}
		if w == 0 {
			return min(maxStep, sw[0])
		}
		for i := 0; i < len(sw)-1; i++ {
			if sw[i] == w {
				return min(maxStep, sw[i+1]-w)
			}
		}
		return maxStep
	}
	if a.StepWeight == 0 && len(sw) == 0 {
		return nil, 0, &planError{"", "set stepWeight, stepWeights or iterations: without them Flagger never shifts traffic to the canary and never runs the analysis"}
	}
	if len(sw) == 0 && a.MaxWeight > TotalWeight {
		return nil, 0, &planError{".maxWeight", fmt.Sprintf("%d is above %d: Flagger would never reach it and never promote", a.MaxWeight, TotalWeight)}
	}
	var weights []int
	w := 0
	for w < maxWeight && len(weights) <= TotalWeight {
		n := next(w)
		if n <= 0 {
			return nil, 0, &planError{".stepWeights", fmt.Sprintf("must be strictly increasing: Flagger would stay at weight %d forever (%v)", w, sw)}
		}
		w = min(w+n, TotalWeight)
		weights = append(weights, w)
	}
	return weights, maxWeight, nil
}
