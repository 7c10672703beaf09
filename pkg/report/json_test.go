package report

import (
	"bytes"
	"encoding/json"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/extmetrics/extmetrics/pkg/analysis"
)

func TestJSONRoundTrip(t *testing.T) {
	for name, r := range map[string]*analysis.Report{"sample": sampleReport(), "hostile": hostileReport()} {
		t.Run(name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := WriteJSON(&buf, r); err != nil {
				t.Fatal(err)
			}
			var back analysis.Report
			dec := json.NewDecoder(bytes.NewReader(buf.Bytes()))
			if err := dec.Decode(&back); err != nil {
				t.Fatalf("decoding our own output: %v\n%s", err, buf.String())
			}
			want := *r
			// nil lists are written as [] so that consumers never see null.
			for ci := range want.Canaries {
				for mi := range want.Canaries[ci].Metrics {
					if want.Canaries[ci].Metrics[mi].Checks == nil {
						want.Canaries[ci].Metrics[mi].Checks = []analysis.Check{}
					}
				}
			}
			if !reflect.DeepEqual(&want, &back) {
				t.Fatalf("round trip changed the report:\nwant %+v\ngot  %+v", want, back)
			}
		})
	}
}

func TestJSONReadableAndStable(t *testing.T) {
	r := sampleReport()
	var a, b bytes.Buffer
	if err := WriteJSON(&a, r); err != nil {
		t.Fatal(err)
	}
	if err := WriteJSON(&b, r); err != nil {
		t.Fatal(err)
	}
	if a.String() != b.String() {
		t.Fatal("two writes of the same report differ")
	}
	out := a.String()
	for _, want := range []string{
		"\n  \"started\": \"2026-11-27T18:00:00Z\"",
		`"interval": "30s"`,
		`"duration": "3m0s"`,
		`"run": 4`,
		`"duration": "2m0s"`,
		`"latency": "3ms"`,
		`"range": "[0, 1]"`,
		`"range": "≤ 500"`,
		`"errorKind": "no-data"`,
		`"verdict": "Failed"`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("JSON lacks %s", want)
		}
	}
	for _, gone := range []string{"intervalText", "latencyText", "30000000000"} {
		if strings.Contains(out, gone) {
			t.Errorf("JSON has %s: durations have one readable form", gone)
		}
	}
	// It decodes back into analysis.Report, durations included.
	var back analysis.Report
	if err := json.Unmarshal(a.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if back.Canaries[0].Interval != r.Canaries[0].Interval || back.Canaries[0].Metrics[0].Checks[0].Latency != r.Canaries[0].Metrics[0].Checks[0].Latency {
		t.Errorf("round trip: interval %v latency %v", back.Canaries[0].Interval, back.Canaries[0].Metrics[0].Checks[0].Latency)
	}
	// The generic form has the same top-level keys in a fixed order.
	var generic map[string]any
	if err := json.Unmarshal(a.Bytes(), &generic); err != nil {
		t.Fatal(err)
	}
	if got := len(generic["canaries"].([]any)); got != 2 {
		t.Fatalf("canaries = %d, want 2", got)
	}
}

func TestJSONEmptyAndInvalid(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteJSON(&buf, &analysis.Report{}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), `"canaries": []`) {
		t.Errorf("empty report should list no canaries as []: %s", buf.String())
	}
	if err := WriteJSON(&buf, nil); err == nil {
		t.Error("nil report: want an error")
	}
	r := sampleReport()
	r.Canaries[1].Metrics[0].Checks[2].Value = math.NaN()
	err := WriteJSON(&buf, r)
	if err == nil || !strings.Contains(err.Error(), `shop/checkout metric "dd-error-rate" step 3`) {
		t.Errorf("NaN value: want an error naming the check, got %v", err)
	}
	r = sampleReport()
	r.Canaries[0].Metrics[0].Max = fp(math.Inf(1))
	if err := WriteJSON(&buf, r); err == nil || !strings.Contains(err.Error(), "error-rate") {
		t.Errorf("Inf bound: want an error naming the metric, got %v", err)
	}
}
