package analysis

// The result and event types shared by the analysis engine and the report
// package (first written by the lead as contract.go; names, fields and
// meanings kept, fields added).

import (
	"time"

	"github.com/extmetrics/extmetrics/pkg/flagger"
)

// Verdict is the final state of one canary analysis.
type Verdict string

// Verdicts of a canary analysis.
const (
	Succeeded Verdict = "Succeeded"
	Failed    Verdict = "Failed"
	Aborted   Verdict = "Aborted" // interrupted (Ctrl-C, context cancelled)
)

// Check is one run of one metric check at one step.
type Check struct {
	Metric    string        `json:"metric"`
	Step      int           `json:"step"` // 1-based analysis iteration: position in the plan (1..TotalSteps); repeats after a failed run, as Flagger does not advance then
	Run       int           `json:"run"`  // 1-based sequence number of the analysis run (every run, failed or not); unique per canary
	Weight    int           `json:"weight"`
	Time      time.Time     `json:"time"`
	Query     string        `json:"query"` // rendered query
	HasValue  bool          `json:"hasValue"`
	Value     float64       `json:"value"`
	Min       *float64      `json:"min,omitempty"`
	Max       *float64      `json:"max,omitempty"`
	Passed    bool          `json:"passed"`
	ErrorKind string        `json:"errorKind,omitempty"` // provider.ErrorKind, or "out-of-range"
	Message   string        `json:"message,omitempty"`   // why it failed; empty on pass
	Matched   int           `json:"matched"`             // items the server returned
	Latency   time.Duration `json:"latency"`
	Newest    time.Time     `json:"newest,omitzero"` // timestamp of the newest item returned (zero: none had one, or no answer)
	Age       time.Duration `json:"age,omitempty"`   // Newest's age when the check ran

	// A relative check (a gate webhook with a baseline): the baseline's
	// rendered query and value, canary ÷ baseline (nil when undefined: a
	// baseline ≤ 0) and canary − baseline.
	BaselineQuery string   `json:"baselineQuery,omitempty"`
	Baseline      *float64 `json:"baseline,omitempty"`
	Ratio         *float64 `json:"ratio,omitempty"`
	Delta         *float64 `json:"delta,omitempty"`
	// Phase is "pre-rollout" for a pre-rollout webhook's check, which runs
	// before the analysis (Step and Run 0); "" for the analysis' checks.
	Phase string `json:"phase,omitempty"`
}

// MetricResult collects every check of one metric of one canary.
type MetricResult struct {
	Name        string   `json:"name"`
	TemplateRef string   `json:"templateRef"` // namespace/name of the MetricTemplate
	Provider    string   `json:"provider"`    // provider address ("" = the cluster's aggregation layer)
	Query       string   `json:"query"`       // last rendered query
	Interval    string   `json:"interval,omitempty"`
	Min         *float64 `json:"min,omitempty"`
	Max         *float64 `json:"max,omitempty"`
	Checks      []Check  `json:"checks"`
	Failed      int      `json:"failed"` // failed checks of this metric
	// FlaggerCompat notes where real Flagger treats this metric's check
	// differently (its query: flagger.FlaggerCompat; its template's
	// connection with Flagger in a pod: flagger.FlaggerPodCompat), so its
	// verdict may differ: the texts of FlaggerCompatNotes.
	FlaggerCompat []string `json:"flaggerCompat,omitempty"`
	// FlaggerCompatNotes are the same notes with their stable codes
	// (flagger.Compat*) and the error Flagger would report.
	FlaggerCompatNotes []flagger.CompatNote `json:"flaggerCompatNotes,omitempty"`

	// Webhook is set when this is a webhook that calls an extmetrics gate,
	// run in-process with the gate's semantics (GateChecker); Name is then
	// "webhook/<name>", TemplateRef the templateRef metadata ("" with a
	// provider) and Provider the gate's named provider or the template's
	// address.
	Webhook *WebhookRef `json:"webhook,omitempty"`
	// The relative bounds of a gate webhook (canary ÷ baseline, canary −
	// baseline) and its baseline's last rendered query.
	BaselineQuery string   `json:"baselineQuery,omitempty"`
	MinRatio      *float64 `json:"minRatio,omitempty"`
	MaxRatio      *float64 `json:"maxRatio,omitempty"`
	MinDelta      *float64 `json:"minDelta,omitempty"`
	MaxDelta      *float64 `json:"maxDelta,omitempty"`
}

// WebhookRef names the Flagger webhook a MetricResult ran.
type WebhookRef struct {
	Name string `json:"name"`
	Type string `json:"type"` // rollout or pre-rollout
	URL  string `json:"url"`
}

// Bounds are the metric's bounds: Min, Max and the relative ones.
func (m *MetricResult) Bounds() Bounds {
	return Bounds{Min: m.Min, Max: m.Max, MinRatio: m.MinRatio, MaxRatio: m.MaxRatio, MinDelta: m.MinDelta, MaxDelta: m.MaxDelta}
}

// CompatNotes returns FlaggerCompatNotes, or for a report decoded from a
// version that wrote only FlaggerCompat, those texts without codes.
func (m *MetricResult) CompatNotes() []flagger.CompatNote {
	if len(m.FlaggerCompatNotes) > 0 || len(m.FlaggerCompat) == 0 {
		return m.FlaggerCompatNotes
	}
	out := make([]flagger.CompatNote, len(m.FlaggerCompat))
	for i, t := range m.FlaggerCompat {
		out[i] = flagger.CompatNote{Text: t}
	}
	return out
}

// CanaryResult is the outcome of one canary's analysis.
type CanaryResult struct {
	Name         string         `json:"name"`
	Namespace    string         `json:"namespace"`
	Source       string         `json:"source,omitempty"` // file it came from
	Strategy     string         `json:"strategy"`         // "canary" (weights) or "iterations"
	Verdict      Verdict        `json:"verdict"`
	Reason       string         `json:"reason"`
	Steps        int            `json:"steps"`             // steps run and passed (== TotalSteps when Succeeded)
	TotalSteps   int            `json:"totalSteps"`        // steps needed to succeed
	Runs         int            `json:"runs"`              // analysis runs made (passed and failed); 0 means no check ran
	Mode         string         `json:"mode"`              // "canary", "canary+mirror", "A/B", "blue/green" or "once"
	Weights      []int          `json:"weights,omitempty"` // canary weight at each step of the plan (Strategy "canary")
	Weight       int            `json:"weight"`            // last canary weight (0 for iterations)
	FailedChecks int            `json:"failedChecks"`      // accumulated failed checks
	Threshold    int            `json:"threshold"`         // analysis.threshold
	Interval     time.Duration  `json:"interval"`
	Started      time.Time      `json:"started"`
	Finished     time.Time      `json:"finished"`
	Metrics      []MetricResult `json:"metrics"`
}

// Report is the result of one run of the engine over one or more canaries.
type Report struct {
	Started  time.Time      `json:"started"`
	Finished time.Time      `json:"finished"`
	Canaries []CanaryResult `json:"canaries"`
}

// EventType says what an Event reports.
type EventType string

// Event types.
const (
	EventStarted EventType = "started" // a canary's analysis began
	EventCheck   EventType = "check"   // one check ran (Check is set)
	EventStep    EventType = "step"    // an analysis run finished; Advanced says whether the weight/iteration advanced (a run with a failed check does not)
	EventVerdict EventType = "verdict" // the canary finished (Verdict is set)
)

// Event is a progress notification; observers must not block for long.
type Event struct {
	Time         time.Time
	Type         EventType
	Canary       string // namespace/name
	Step         int    // position in the plan (1..TotalSteps) the event is about: the step run (EventCheck, EventStep) or passed (EventVerdict); 0 for EventStarted
	Run          int    // analysis run number (0 for EventStarted)
	Advanced     bool   // EventStep: the run passed and the analysis moved to the next step
	TotalSteps   int
	Weight       int // canary weight of that step (for EventStarted: of the first step)
	FailedChecks int // failed checks accumulated so far
	Threshold    int
	Check        *Check
	Verdict      Verdict
	Reason       string
}

// Observer receives events; the engine calls it from several goroutines,
// so implementations must be safe for concurrent use.
type Observer interface {
	Observe(Event)
}
