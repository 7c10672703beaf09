package scenario

// CONTRACT FILE (written by the lead). The scenario owner replaces and extends
// it but keeps these exported names and fields.

import "time"

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
