package analysis

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"
)

// JSON: durations (CanaryResult.Interval, Check.Latency, Check.Age) are
// written in one readable form, Go duration strings such as "2s" or
// "12.5ms", never as nanosecond integers. Decoding accepts those strings and,
// for documents written before, nanosecond numbers.

// jsonDuration decodes a Go duration string or a number of nanoseconds.
type jsonDuration time.Duration

func (d *jsonDuration) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		v, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("duration %q: %v", s, err)
		}
		*d = jsonDuration(v)
		return nil
	}
	n, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil {
		return fmt.Errorf("duration %s: want a string such as \"2s\" or nanoseconds", b)
	}
	*d = jsonDuration(n)
	return nil
}

// MarshalJSON writes Interval as a duration string.
func (c CanaryResult) MarshalJSON() ([]byte, error) {
	type plain CanaryResult
	return json.Marshal(struct {
		plain
		Interval string `json:"interval"`
	}{plain(c), c.Interval.String()})
}

// UnmarshalJSON reads Interval as a duration string or nanoseconds.
func (c *CanaryResult) UnmarshalJSON(b []byte) error {
	type plain CanaryResult
	aux := struct {
		*plain
		Interval jsonDuration `json:"interval"`
	}{plain: (*plain)(c)}
	if err := json.Unmarshal(b, &aux); err != nil {
		return err
	}
	c.Interval = time.Duration(aux.Interval)
	return nil
}

// MarshalJSON writes Latency and Age as duration strings (Age only when
// Newest is set).
func (c Check) MarshalJSON() ([]byte, error) {
	type plain Check
	age := ""
	if !c.Newest.IsZero() {
		age = c.Age.String()
	}
	return json.Marshal(struct {
		plain
		Latency string `json:"latency"`
		Age     string `json:"age,omitempty"`
	}{plain(c), c.Latency.String(), age})
}

// UnmarshalJSON reads Latency and Age as duration strings or nanoseconds.
func (c *Check) UnmarshalJSON(b []byte) error {
	type plain Check
	aux := struct {
		*plain
		Latency jsonDuration `json:"latency"`
		Age     jsonDuration `json:"age"`
	}{plain: (*plain)(c)}
	if err := json.Unmarshal(b, &aux); err != nil {
		return err
	}
	c.Latency, c.Age = time.Duration(aux.Latency), time.Duration(aux.Age)
	return nil
}
