package analysis

// CONTRACT FILE (written by the lead): the result and event types shared by
// the analysis engine and the report package. The engine owner may add fields
// and methods but keeps these names, fields and meanings.

import "time"

// Verdict is the final state of one canary analysis.
type Verdict string

const (
	Succeeded Verdict = "Succeeded"
	Failed    Verdict = "Failed"
	Aborted   Verdict = "Aborted" // interrupted (Ctrl-C, context cancelled)
)

// Check is one run of one metric check at one step.
type Check struct {
	Metric    string        `json:"metric"`
	Step      int           `json:"step"` // 1-based analysis iteration
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
}

// CanaryResult is the outcome of one canary's analysis.
type CanaryResult struct {
	Name         string         `json:"name"`
	Namespace    string         `json:"namespace"`
	Source       string         `json:"source,omitempty"` // file it came from
	Strategy     string         `json:"strategy"`         // "canary" (weights) or "iterations"
	Verdict      Verdict        `json:"verdict"`
	Reason       string         `json:"reason"`
	Steps        int            `json:"steps"`        // steps run
	TotalSteps   int            `json:"totalSteps"`   // steps needed to succeed
	Weight       int            `json:"weight"`       // last canary weight (0 for iterations)
	FailedChecks int            `json:"failedChecks"` // accumulated failed checks
	Threshold    int            `json:"threshold"`    // analysis.threshold
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

const (
	EventStarted EventType = "started" // a canary's analysis began
	EventCheck   EventType = "check"   // one check ran (Check is set)
	EventStep    EventType = "step"    // a step finished (weight/iteration advanced)
	EventVerdict EventType = "verdict" // the canary finished (Verdict is set)
)

// Event is a progress notification; observers must not block for long.
type Event struct {
	Time         time.Time
	Type         EventType
	Canary       string // namespace/name
	Step         int
	TotalSteps   int
	Weight       int
	FailedChecks int
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
