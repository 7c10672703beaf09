package scenario

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
)

func TestParseValue(t *testing.T) {
	for in, want := range map[string]float64{
		"1.5": 1.5, "-2": -2, "1e3": 1000, "1500m": 1.5, "2k": 2000, "1Mi": 1 << 20, "0": 0, "+3": 3, "250u": 0.00025, "1e15": 1e15,
	} {
		got, err := ParseValue(in)
		if err != nil || math.Abs(got-want) > 1e-12 {
			t.Errorf("%q: %v %v, want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "abc", "1.5.5", "NaN", "Inf", "-inf", "1e16", "2E", "1 k"} {
		if v, err := ParseValue(in); err == nil {
			t.Errorf("%q accepted as %v", in, v)
		} else if !strings.Contains(err.Error(), `invalid value "`+in+`"`) {
			t.Errorf("%q: error does not name the value: %v", in, err)
		}
	}
}

func TestAppendQuantityMatchesResource(t *testing.T) {
	for _, v := range []float64{0, 1, 1.5, -1.5, 42, 0.0005, 0.0004, 1000, 1500, 1e6, 1.5e6, 123456.789, -0.25, 1e15, -1e15, 2e15, math.NaN(), 12.000001} {
		if got, want := FormatQuantity(v), Quantity(v).String(); got != want {
			t.Errorf("%v: got %s, want %s", v, got, want)
		}
	}
	if FormatQuantity(1.5) != "1500m" || FormatQuantity(42) != "42" || FormatQuantity(3000) != "3k" {
		t.Error("canonical forms")
	}
	if n := testing.AllocsPerRun(100, func() {
		var buf [32]byte
		_ = AppendQuantity(buf[:0], 1.5)
	}); n != 0 {
		t.Errorf("AppendQuantity allocates %v times", n)
	}
}

func FuzzAppendQuantity(f *testing.F) {
	for _, v := range []float64{0, 1.5, -2, 1e6, 0.001, 999.999} {
		f.Add(v)
	}
	f.Fuzz(func(t *testing.T, v float64) {
		got := FormatQuantity(v)
		want := resource.NewMilliQuantity(milli(v), resource.DecimalSI).String()
		if got != want {
			t.Fatalf("%v: got %s, want %s", v, got, want)
		}
		if _, err := resource.ParseQuantity(got); err != nil {
			t.Fatalf("%v: %s does not parse: %v", v, got, err)
		}
	})
}

func TestFaultJSON(t *testing.T) {
	f := Fault{Latency: 250 * time.Millisecond, Jitter: time.Second, Status: 429, Probability: 0.5, RetryAfter: 2 * time.Second, StaleBy: time.Minute}
	b, err := json.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"latency":"250ms","jitter":"1s","status":429,"probability":0.5,"retryAfter":"2s","staleBy":"1m0s"}`; string(b) != want {
		t.Errorf("got %s\nwant %s", b, want)
	}
	var back Fault
	if err := json.Unmarshal(b, &back); err != nil || back != f {
		t.Errorf("round trip: %+v %v", back, err)
	}
	if b, _ := json.Marshal(Fault{}); string(b) != "{}" {
		t.Errorf("zero: %s", b)
	}
	if b, _ := json.Marshal(Fault{Reset: true}); string(b) != `{"reset":true}` {
		t.Errorf("reset: %s", b)
	}
	var inStruct struct{ F *Fault }
	if err := json.Unmarshal([]byte(`{"F": {"malformed": true, "probability": 1}}`), &inStruct); err != nil || *inStruct.F != (Fault{Malformed: true, Probability: 1}) {
		t.Errorf("nested: %+v %v", inStruct.F, err)
	}
	for in, want := range map[string]string{
		`{"latency": 250}`:                  `fault: latency: want a duration string such as "250ms", got 250`,
		`{"latency": "5x"}`:                 `fault: latency: invalid duration "5x"`,
		`{"delay": "1s"}`:                   `fault: unknown field "delay" (allowed: latency, jitter, status, probability, retryAfter, reset, malformed, truncate, staleBy)`,
		`{"status": "503"}`:                 `fault: status: want int, got string`,
		`{"status": 200}`:                   `fault: status: must be an HTTP error status 400-599, got 200`,
		`{"status": 503, "probability": 2}`: `fault: probability: must be between 0 and 1, got 2`,
		`{"probability": 0.5}`:              `fault: probability: only applies with status, reset, malformed or truncate`,
		`{"reset": true, "truncate": true}`: `fault: truncate: cannot be combined with reset`,
		`{"retryAfter": "1s"}`:              `fault: retryAfter: only applies with status`,
		`{"jitter": "-1s"}`:                 `fault: jitter: must not be negative, got -1s`,
		`{"latency": "2h"}`:                 `fault: latency: at most 1h0m0s, got 2h0m0s`,
		`[1]`:                               `fault: want a JSON object`,
		`{"reset": "yes"}`:                  `fault: reset: want bool, got string`,
	} {
		var f Fault
		err := json.Unmarshal([]byte(in), &f)
		if err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("%s: got %v, want %s", in, err, want)
		}
	}
}
