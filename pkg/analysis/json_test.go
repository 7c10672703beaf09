package analysis

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// Durations are written as Go duration strings and read back from strings
// or (older documents) nanoseconds.
func TestJSONDurations(t *testing.T) {
	now := time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)
	c := CanaryResult{Name: "web", Interval: 2 * time.Second, Metrics: []MetricResult{{Name: "m", Checks: []Check{
		{Metric: "m", Latency: 1500 * time.Microsecond, Newest: now, Age: time.Minute},
		{Metric: "m", Latency: time.Millisecond},
	}}}}
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for _, want := range []string{`"interval":"2s"`, `"latency":"1.5ms"`, `"age":"1m0s"`} {
		if !strings.Contains(s, want) {
			t.Errorf("lacks %s: %s", want, s)
		}
	}
	if strings.Contains(s, "2000000000") || strings.Count(s, `"age"`) != 1 {
		t.Errorf("nanoseconds, or age without newest: %s", s)
	}
	var back CanaryResult
	if err := json.Unmarshal(b, &back); err != nil || back.Interval != c.Interval || back.Metrics[0].Checks[0].Age != time.Minute ||
		back.Metrics[0].Checks[0].Latency != 1500*time.Microsecond {
		t.Fatalf("round trip: %+v %v", back, err)
	}
	var old CanaryResult
	if err := json.Unmarshal([]byte(`{"name":"web","interval":2000000000,"metrics":[{"name":"m","checks":[{"latency":3000000}]}]}`), &old); err != nil ||
		old.Interval != 2*time.Second || old.Metrics[0].Checks[0].Latency != 3*time.Millisecond {
		t.Fatalf("nanoseconds: %+v %v", old, err)
	}
	if err := json.Unmarshal([]byte(`{"interval":"soon"}`), &old); err == nil || !strings.Contains(err.Error(), `duration "soon"`) {
		t.Errorf("bad duration: %v", err)
	}
}
