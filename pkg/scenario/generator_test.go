package scenario

import (
	"math"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/labels"
	clocktesting "k8s.io/utils/clock/testing"
)

const eps = 1e-9

func near(a, b float64) bool { return math.Abs(a-b) < eps }

// storeWith loads one scenario source into a store on a fake clock.
func storeWith(t *testing.T, src string) (*Store, *clocktesting.FakeClock) {
	t.Helper()
	sc, err := Parse("t.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	clk := clocktesting.NewFakeClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	s := NewStore(clk)
	s.Load(sc)
	return s, clk
}

// one looks a single series up and returns its value.
func one(t *testing.T, s *Store, metric string) Value {
	t.Helper()
	vals, known := s.Lookup("", metric, labels.Everything())
	if !known || len(vals) != 1 {
		t.Fatalf("%s: known=%v values=%v", metric, known, vals)
	}
	return vals[0]
}

func TestStepsBoundaries(t *testing.T) {
	s, clk := storeWith(t, `metrics:
  - name: m
    value: {steps: [{after: 0s, value: 1}, {after: 30s, value: 5}, {after: 1m, value: "2500m"}]}
`)
	for _, c := range []struct {
		at   time.Duration
		want float64
	}{{0, 1}, {29*time.Second + 999*time.Millisecond, 1}, {30 * time.Second, 5}, {59 * time.Second, 5}, {time.Minute, 2.5}, {time.Hour, 2.5}} {
		clk.SetTime(s.Start().Add(c.at))
		if got := one(t, s, "m").Value; got != c.want {
			t.Errorf("at %s: got %v, want %v", c.at, got, c.want)
		}
	}
}

func TestRamp(t *testing.T) {
	s, clk := storeWith(t, `metrics:
  - name: plain
    value: {ramp: {from: 0.5, to: 12, over: 60s}}
  - name: delayed
    value: {ramp: {from: 10, to: 0, over: 10s, after: 20s}}
`)
	for _, c := range []struct {
		at             time.Duration
		plain, delayed float64
	}{{0, 0.5, 10}, {15 * time.Second, 0.5 + 11.5/4, 10}, {25 * time.Second, 0.5 + 11.5*25/60, 5}, {30 * time.Second, 6.25, 0}, {60 * time.Second, 12, 0}, {10 * time.Minute, 12, 0}} {
		clk.SetTime(s.Start().Add(c.at))
		if got := one(t, s, "plain").Value; !near(got, c.plain) {
			t.Errorf("plain at %s: got %v, want %v", c.at, got, c.plain)
		}
		if got := one(t, s, "delayed").Value; !near(got, c.delayed) {
			t.Errorf("delayed at %s: got %v, want %v", c.at, got, c.delayed)
		}
	}
	// A clock stepped back before the start counts as elapsed 0.
	clk.SetTime(s.Start().Add(-time.Hour))
	if got := one(t, s, "plain").Value; got != 0.5 {
		t.Errorf("before start: %v", got)
	}
}

func TestSine(t *testing.T) {
	s, clk := storeWith(t, `metrics:
  - name: m
    value: {sine: {base: 10, amplitude: 2, period: 60s}}
  - name: shifted
    value: {sine: {base: 0, amplitude: 1, period: 4s, phase: 1s}}
`)
	for _, c := range []struct {
		at         time.Duration
		m, shifted float64
	}{{0, 10, 1}, {15 * time.Second, 12, 0}, {30 * time.Second, 10, -1}, {45 * time.Second, 8, 0}, {60 * time.Second, 10, 1}, {24*time.Hour + 15*time.Second, 12, 0}} {
		clk.SetTime(s.Start().Add(c.at))
		if got := one(t, s, "m").Value; !near(got, c.m) {
			t.Errorf("at %s: got %v, want %v", c.at, got, c.m)
		}
		if got := one(t, s, "shifted").Value; !near(got, c.shifted) {
			t.Errorf("shifted at %s: got %v, want %v", c.at, got, c.shifted)
		}
	}
}

func TestNoiseDeterministic(t *testing.T) {
	src := `metrics:
  - name: per-poll
    value: {noise: {base: 10, amplitude: 1, seed: 42}}
  - name: per-interval
    value: {noise: {base: 10, amplitude: 1, seed: 42, interval: 5s}}
  - name: other-seed
    value: {noise: {base: 10, amplitude: 1, seed: 43}}
`
	run := func() (perPoll, perInterval, other []float64) {
		s, clk := storeWith(t, src)
		for i := range 20 {
			clk.SetTime(s.Start().Add(time.Duration(i) * time.Second))
			perPoll = append(perPoll, one(t, s, "per-poll").Value)
			perInterval = append(perInterval, one(t, s, "per-interval").Value)
			other = append(other, one(t, s, "other-seed").Value)
		}
		return
	}
	a1, b1, c1 := run()
	a2, b2, c2 := run()
	distinct := map[float64]bool{}
	for i := range a1 {
		if a1[i] != a2[i] || b1[i] != b2[i] || c1[i] != c2[i] {
			t.Fatalf("poll %d: not deterministic", i)
		}
		for _, v := range []float64{a1[i], b1[i], c1[i]} {
			if v < 9 || v >= 11 {
				t.Errorf("poll %d: %v outside [9, 11)", i, v)
			}
		}
		distinct[a1[i]] = true
		if b1[i] != b1[i/5*5] {
			t.Errorf("per-interval changed within an interval at %ds", i)
		}
	}
	if len(distinct) < 15 {
		t.Errorf("per-poll noise barely varies: %v", a1)
	}
	if b1[0] == b1[5] && b1[5] == b1[10] && b1[10] == b1[15] {
		t.Errorf("per-interval noise never changes: %v", b1)
	}
	same := 0
	for i := range a1 {
		if a1[i] == c1[i] {
			same++
		}
	}
	if same > 2 {
		t.Errorf("seeds 42 and 43 agree on %d of 20 polls", same)
	}
	// Statistical sanity: the mean of many draws is near base.
	n := Noise{Base: 0, Amplitude: 1, Seed: 7}
	sum := 0.0
	for i := range uint64(10000) {
		sum += n.Value(0, i)
	}
	if mean := sum / 10000; math.Abs(mean) > 0.05 {
		t.Errorf("mean %v", mean)
	}
}

func TestSequence(t *testing.T) {
	s, _ := storeWith(t, `metrics:
  - name: hold
    value: {sequence: [1, 2, 3]}
  - name: again
    value: {sequence: [1, 2, 3], repeat: true}
`)
	var hold, again []float64
	for range 7 {
		hold = append(hold, one(t, s, "hold").Value)
		again = append(again, one(t, s, "again").Value)
	}
	if want := []float64{1, 2, 3, 3, 3, 3, 3}; !equalFloats(hold, want) {
		t.Errorf("hold: %v, want %v", hold, want)
	}
	if want := []float64{1, 2, 3, 1, 2, 3, 1}; !equalFloats(again, want) {
		t.Errorf("repeat: %v, want %v", again, want)
	}
	// Polls count per series: a lookup that does not return a series does not advance it.
	if _, known := s.Lookup("other", "hold", nil); known {
		t.Error("hold known in namespace other")
	}
	if st := s.Snapshot(); st.Series[0].Polls != 7 || st.Series[0].Value != "3" {
		t.Errorf("state %+v", st.Series[0])
	}
}

func TestConstantAndZeroGenerators(t *testing.T) {
	if (Steps{}).Value(time.Second, 0) != 0 || (Sequence{}).Value(0, 3) != 0 || (Sine{Base: 4}).Value(time.Second, 0) != 4 {
		t.Error("empty generators must not panic and return a base value")
	}
	if (Ramp{From: 1, To: 2}).Value(time.Second, 0) != 2 {
		t.Error("ramp with no duration jumps to To")
	}
	if Constant(3).Value(time.Hour, 9) != 3 {
		t.Error("constant")
	}
}

func equalFloats(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestTimestampOffsetAndWindow(t *testing.T) {
	s, clk := storeWith(t, `metrics:
  - name: fresh
    windowSeconds: 30
    value: 1
  - name: stale
    timestampOffset: -2m
    value: 1
`)
	clk.Step(10 * time.Second)
	now := clk.Now()
	f := one(t, s, "fresh")
	if !f.Timestamp.Equal(now) || f.WindowSeconds == nil || *f.WindowSeconds != 30 {
		t.Errorf("fresh: %+v", f)
	}
	st := one(t, s, "stale")
	if !st.Timestamp.Equal(now.Add(-2*time.Minute)) || st.WindowSeconds != nil {
		t.Errorf("stale: %+v", st)
	}
	// A StaleBy fault adds to the offset.
	s.SetFault("stale", Fault{StaleBy: time.Minute})
	if got := one(t, s, "stale").Timestamp; !got.Equal(now.Add(-3 * time.Minute)) {
		t.Errorf("stale with fault: %v", got)
	}
	if got := one(t, s, "fresh").Timestamp; !got.Equal(now) {
		t.Errorf("fresh must not get another metric's StaleBy: %v", got)
	}
}
