package scenario

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"time"
)

// Fault describes misbehaviour injected into responses. In JSON and in
// scenario files durations are strings such as "250ms" (Go duration syntax)
// and zero fields are left out. Validate states which combinations make sense.
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

// MaxFaultDuration bounds every duration of a Fault.
const MaxFaultDuration = time.Hour

// FaultKeys lists the JSON/YAML keys of a Fault.
func FaultKeys() []string { return slices.Clone(faultKeys) }

// faultKeys are the JSON / YAML keys of a Fault, in documentation order.
var faultKeys = []string{"latency", "jitter", "status", "probability", "retryAfter", "reset", "malformed", "truncate", "staleBy"}

// IsZero reports whether f injects nothing.
func (f Fault) IsZero() bool { return f == Fault{} }

// Validate checks f and names the offending key in its error ("status: ...").
// Durations are between 0 and MaxFaultDuration; status is an HTTP error
// status (400-599); probability is in [0, 1]; at most one of status, reset,
// malformed and truncate is set; retryAfter needs status; probability needs
// one of status, reset, malformed or truncate.
func (f Fault) Validate() error {
	if key, msg := f.check(); key != "" {
		return fmt.Errorf("%s: %s", key, msg)
	}
	return nil
}

// check returns the offending key and what is wrong, or "" when f is valid.
func (f Fault) check() (key, msg string) {
	for _, d := range []struct {
		key string
		v   time.Duration
	}{{"latency", f.Latency}, {"jitter", f.Jitter}, {"retryAfter", f.RetryAfter}, {"staleBy", f.StaleBy}} {
		if d.v < 0 {
			return d.key, fmt.Sprintf("must not be negative, got %s", d.v)
		}
		if d.v > MaxFaultDuration {
			return d.key, fmt.Sprintf("at most %s, got %s", MaxFaultDuration, d.v)
		}
	}
	if f.Status != 0 && (f.Status < 400 || f.Status > 599) {
		return "status", fmt.Sprintf("must be an HTTP error status 400-599, got %d", f.Status)
	}
	if math.IsNaN(f.Probability) || f.Probability < 0 || f.Probability > 1 {
		return "probability", fmt.Sprintf("must be between 0 and 1, got %v", f.Probability)
	}
	var effects []string
	if f.Status != 0 {
		effects = append(effects, "status")
	}
	if f.Reset {
		effects = append(effects, "reset")
	}
	if f.Malformed {
		effects = append(effects, "malformed")
	}
	if f.Truncate {
		effects = append(effects, "truncate")
	}
	if len(effects) > 1 {
		return effects[1], fmt.Sprintf("cannot be combined with %s (at most one of status, reset, malformed, truncate)", effects[0])
	}
	if f.RetryAfter != 0 && f.Status == 0 {
		return "retryAfter", "only applies with status"
	}
	if f.Probability != 0 && len(effects) == 0 {
		return "probability", "only applies with status, reset, malformed or truncate"
	}
	return "", ""
}

// MarshalJSON writes durations as strings ("250ms") and leaves zero fields out.
func (f Fault) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	sep := func(key string) {
		if b.Len() > 1 {
			b.WriteByte(',')
		}
		b.WriteByte('"')
		b.WriteString(key)
		b.WriteString(`":`)
	}
	dur := func(key string, d time.Duration) {
		if d != 0 {
			sep(key)
			b.WriteByte('"')
			b.WriteString(d.String())
			b.WriteByte('"')
		}
	}
	flag := func(key string, v bool) {
		if v {
			sep(key)
			b.WriteString("true")
		}
	}
	dur("latency", f.Latency)
	dur("jitter", f.Jitter)
	if f.Status != 0 {
		sep("status")
		fmt.Fprintf(&b, "%d", f.Status)
	}
	if f.Probability != 0 {
		p, err := json.Marshal(f.Probability)
		if err != nil {
			return nil, fmt.Errorf("probability: %w", err)
		}
		sep("probability")
		b.Write(p)
	}
	dur("retryAfter", f.RetryAfter)
	flag("reset", f.Reset)
	flag("malformed", f.Malformed)
	flag("truncate", f.Truncate)
	dur("staleBy", f.StaleBy)
	b.WriteByte('}')
	return b.Bytes(), nil
}

// UnmarshalJSON reads the keys latency, jitter, status, probability,
// retryAfter, reset, malformed, truncate and staleBy; durations are strings
// such as "250ms". Unknown keys, wrong types and invalid faults (see
// Validate) are errors naming the key. null leaves f unchanged.
func (f *Fault) UnmarshalJSON(data []byte) error {
	if bytes.Equal(bytes.TrimSpace(data), []byte("null")) {
		return nil
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return fmt.Errorf("fault: want a JSON object: %w", err)
	}
	keys := slices.Sorted(maps.Keys(raw)) // deterministic error for several bad keys
	var out Fault
	for _, k := range keys {
		v := raw[k]
		var err error
		switch k {
		case "latency":
			out.Latency, err = jsonDuration(v)
		case "jitter":
			out.Jitter, err = jsonDuration(v)
		case "retryAfter":
			out.RetryAfter, err = jsonDuration(v)
		case "staleBy":
			out.StaleBy, err = jsonDuration(v)
		case "status":
			err = json.Unmarshal(v, &out.Status)
		case "probability":
			err = json.Unmarshal(v, &out.Probability)
		case "reset":
			err = json.Unmarshal(v, &out.Reset)
		case "malformed":
			err = json.Unmarshal(v, &out.Malformed)
		case "truncate":
			err = json.Unmarshal(v, &out.Truncate)
		default:
			return fmt.Errorf("fault: unknown field %q (allowed: %s)", k, strings.Join(faultKeys, ", "))
		}
		if err != nil {
			return fmt.Errorf("fault: %s: %v", k, cleanJSONError(err))
		}
	}
	if err := out.Validate(); err != nil {
		return fmt.Errorf("fault: %w", err)
	}
	*f = out
	return nil
}

func jsonDuration(v json.RawMessage) (time.Duration, error) {
	var s string
	if err := json.Unmarshal(v, &s); err != nil {
		return 0, fmt.Errorf("want a duration string such as \"250ms\", got %s", truncateForError(string(v)))
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("invalid duration %q", s)
	}
	return d, nil
}

func cleanJSONError(err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Errorf("want %s, got %s", te.Type, te.Value)
	}
	return err
}

func truncateForError(s string) string {
	const max = 40
	if len(s) > max {
		return s[:max] + "..."
	}
	return s
}
