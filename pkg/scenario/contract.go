package scenario

// CONTRACT FILE (written by the lead). The scenario owner replaces and extends
// it but keeps these exported names and fields.

import (
	"time"

	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/utils/clock"
)

// Fault describes misbehaviour injected into responses.
type Fault struct {
	Latency     time.Duration `json:"latency,omitempty"`     // added before answering
	Jitter      time.Duration `json:"jitter,omitempty"`      // uniform extra 0..Jitter
	Status      int           `json:"status,omitempty"`      // answer with this HTTP status (500, 503, 429, ...)
	Probability float64       `json:"probability,omitempty"` // chance of Status/Reset/Malformed/Truncate; 0 means 1 (always)
	RetryAfter  time.Duration `json:"retryAfter,omitempty"`  // Retry-After header (whole seconds) with Status
	Reset       bool          `json:"reset,omitempty"`       // close the TCP connection without answering
	Malformed   bool          `json:"malformed,omitempty"`   // 200 with a body that is not JSON
	Truncate    bool          `json:"truncate,omitempty"`    // 200 with the JSON body cut short
	StaleBy     time.Duration `json:"staleBy,omitempty"`     // timestamps this far in the past
}

// Scenario is a parsed scenario file.
type Scenario struct{}

// Value is one series' current value, ready to become an ExternalMetricValue.
type Value struct {
	Metric        string
	Labels        map[string]string
	Value         float64
	Timestamp     time.Time // already includes the series' timestamp offset and any StaleBy
	WindowSeconds *int64
}

// Parse parses a scenario document; name (a file name) prefixes errors,
// which carry line numbers and field paths, e.g.
// `scenario.yaml:12: metrics[2].value.steps[0].after: invalid duration "5x"`.
func Parse(name string, data []byte) (*Scenario, error) { panic("not implemented") }

// LoadFile reads and parses a scenario file.
func LoadFile(path string) (*Scenario, error) { panic("not implemented") }

// Store holds the live series (from a scenario plus admin changes) and faults.
// It is safe for concurrent use; time comes from the clock given to NewStore.
type Store struct{}

// NewStore returns an empty store; elapsed time for generators counts from now.
func NewStore(clk clock.PassiveClock) *Store { panic("not implemented") }

// Load atomically replaces the scenario's series and faults (admin-set series
// are replaced too). The generators' start time is kept across reloads.
func (s *Store) Load(sc *Scenario) { panic("not implemented") }

// Lookup returns the values of metric in namespace whose labels match sel,
// each generator advanced one poll. namespace "" matches every namespace.
// known reports whether the metric name exists at all (in any namespace when
// namespace is "", else in that namespace). Metric names compare case-insensitively.
func (s *Store) Lookup(namespace, metric string, sel labels.Selector) (values []Value, known bool) {
	panic("not implemented")
}

// MetricNames lists the distinct metric names served (sorted, as written).
func (s *Store) MetricNames() []string { panic("not implemented") }

// Set creates or replaces a constant series; value is a number or a quantity string ("1500m").
func (s *Store) Set(namespace, metric string, lbls map[string]string, value string) error {
	panic("not implemented")
}

// Delete removes a series (exact label match) and reports whether it existed.
func (s *Store) Delete(namespace, metric string, lbls map[string]string) bool {
	panic("not implemented")
}

// Fault returns the fault in force for metric: the metric's own, else the global one.
func (s *Store) Fault(metric string) Fault { panic("not implemented") }

// SetFault sets the fault of one metric, or the global one when metric is "". A zero Fault clears it.
func (s *Store) SetFault(metric string, f Fault) { panic("not implemented") }

// State is a JSON-ready snapshot of every series (with current values) and fault, for the admin API.
func (s *Store) State() any { panic("not implemented") }
