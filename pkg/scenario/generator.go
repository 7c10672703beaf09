package scenario

import (
	"fmt"
	"math"
	"sort"
	"time"
)

// Generator produces a series' value. elapsed is the time since the Store
// started (never negative) and poll counts the earlier lookups that returned
// the series (0 on the first). Implementations must be safe for concurrent
// use and must not modify themselves: the Store calls them from many
// goroutines at once.
type Generator interface {
	Value(elapsed time.Duration, poll uint64) float64
	// Kind names the generator as in the scenario file ("constant", "steps", ...).
	Kind() string
}

// Constant always returns the same value.
type Constant float64

// Kind implements Generator.
func (Constant) Kind() string { return "constant" }

// Value implements Generator.
func (c Constant) Value(time.Duration, uint64) float64 { return float64(c) }

// Step is one entry of Steps: from After on, the value is Value.
type Step struct {
	After time.Duration `json:"after"`
	Value float64       `json:"value"`
}

// Steps changes value at offsets from the start. The steps are sorted by
// After, strictly increasing, and the first has After 0 (Parse checks this;
// a Steps built in code that starts later returns its first value before it).
type Steps []Step

// Kind implements Generator.
func (Steps) Kind() string { return "steps" }

// Value implements Generator.
func (s Steps) Value(elapsed time.Duration, _ uint64) float64 {
	if len(s) == 0 {
		return 0
	}
	// index of the first step that starts after elapsed; the one before it is in force.
	i := sort.Search(len(s), func(i int) bool { return s[i].After > elapsed })
	if i == 0 {
		return s[0].Value
	}
	return s[i-1].Value
}

// Ramp moves linearly from From to To during Over, starting After the
// store's start; it holds From before and To after.
type Ramp struct {
	From  float64       `json:"from"`
	To    float64       `json:"to"`
	Over  time.Duration `json:"over"`
	After time.Duration `json:"after,omitempty"`
}

// Kind implements Generator.
func (Ramp) Kind() string { return "ramp" }

// Value implements Generator.
func (r Ramp) Value(elapsed time.Duration, _ uint64) float64 {
	t := elapsed - r.After
	switch {
	case t <= 0:
		return r.From
	case r.Over <= 0 || t >= r.Over:
		return r.To
	}
	f := float64(t) / float64(r.Over)
	return r.From + (r.To-r.From)*f
}

// Sine oscillates around Base: Base + Amplitude*sin(2π(elapsed+Phase)/Period).
type Sine struct {
	Base      float64       `json:"base"`
	Amplitude float64       `json:"amplitude"`
	Period    time.Duration `json:"period"`
	Phase     time.Duration `json:"phase,omitempty"`
}

// Kind implements Generator.
func (Sine) Kind() string { return "sine" }

// Value implements Generator.
func (s Sine) Value(elapsed time.Duration, _ uint64) float64 {
	if s.Period <= 0 {
		return s.Base
	}
	t := (elapsed%s.Period + s.Phase%s.Period) % s.Period // small, exact, no overflow
	return s.Base + s.Amplitude*math.Sin(2*math.Pi*float64(t)/float64(s.Period))
}

// Noise is Base plus a uniform pseudo-random offset in [-Amplitude, +Amplitude).
// It is deterministic: the offset is a function of Seed and, when Interval is
// zero, the poll count (a new value every poll), else the number of whole
// Intervals elapsed (a new value every Interval).
type Noise struct {
	Base      float64       `json:"base"`
	Amplitude float64       `json:"amplitude"`
	Seed      int64         `json:"seed"`
	Interval  time.Duration `json:"interval,omitempty"`
}

// Kind implements Generator.
func (Noise) Kind() string { return "noise" }

// Value implements Generator.
func (n Noise) Value(elapsed time.Duration, poll uint64) float64 {
	idx := poll
	if n.Interval > 0 {
		idx = uint64(elapsed / n.Interval)
	}
	u := float64(splitmix64(uint64(n.Seed)^(idx*0x9e3779b97f4a7c15+0x632be59bd9b4e019))>>11) / (1 << 53) // [0,1)
	return n.Base + n.Amplitude*(2*u-1)
}

// splitmix64 is a small, well-mixed hash (Steele, Lea, Flood 2014).
func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// Sequence returns Values[0] on the first poll, Values[1] on the next, and so
// on; after the last it holds the last value, or starts again when Repeat.
type Sequence struct {
	Values []float64 `json:"values"`
	Repeat bool      `json:"repeat,omitempty"`
}

// Kind implements Generator.
func (Sequence) Kind() string { return "sequence" }

// Value implements Generator.
func (s Sequence) Value(_ time.Duration, poll uint64) float64 {
	n := uint64(len(s.Values))
	switch {
	case n == 0:
		return 0
	case poll < n:
		return s.Values[poll]
	case s.Repeat:
		return s.Values[poll%n]
	}
	return s.Values[n-1]
}

// The check methods report the first invalid field of a generator (its key in
// the scenario file) and what is wrong with it, or "" when it is valid.

func (c Constant) check() (string, string) { return valueCheck("", float64(c)) }

func (s Steps) check() (string, string) {
	if len(s) == 0 {
		return "", "needs at least one step"
	}
	for i, st := range s {
		idx := fmt.Sprintf("[%d]", i)
		switch {
		case i == 0 && st.After != 0:
			return idx + ".after", fmt.Sprintf("the first step must start at 0s (the value from the start), got %s", st.After)
		case i > 0 && st.After <= s[i-1].After:
			return idx + ".after", fmt.Sprintf("steps must be in increasing order of after: %s is not after %s", st.After, s[i-1].After)
		}
		if f, m := valueCheck(idx+".value", st.Value); f != "" {
			return f, m
		}
	}
	return "", ""
}

func (r Ramp) check() (string, string) {
	if f, m := valueCheck("from", r.From); f != "" {
		return f, m
	}
	if f, m := valueCheck("to", r.To); f != "" {
		return f, m
	}
	if r.Over <= 0 {
		return "over", fmt.Sprintf("must be positive, got %s", r.Over)
	}
	if r.After < 0 {
		return "after", fmt.Sprintf("must not be negative, got %s", r.After)
	}
	return "", ""
}

func (s Sine) check() (string, string) {
	if f, m := valueCheck("base", s.Base); f != "" {
		return f, m
	}
	if f, m := valueCheck("amplitude", s.Amplitude); f != "" {
		return f, m
	}
	if s.Period <= 0 {
		return "period", fmt.Sprintf("must be positive, got %s", s.Period)
	}
	return "", ""
}

func (n Noise) check() (string, string) {
	if f, m := valueCheck("base", n.Base); f != "" {
		return f, m
	}
	if f, m := valueCheck("amplitude", n.Amplitude); f != "" {
		return f, m
	}
	if n.Interval < 0 {
		return "interval", fmt.Sprintf("must not be negative, got %s", n.Interval)
	}
	return "", ""
}

func (s Sequence) check() (string, string) {
	if len(s.Values) == 0 {
		return "", "needs at least one value"
	}
	for i, v := range s.Values {
		if f, m := valueCheck(fmt.Sprintf("[%d]", i), v); f != "" {
			return f, m
		}
	}
	return "", ""
}

func valueCheck(field string, v float64) (string, string) {
	if err := checkValue(v); err != nil {
		return field, fmt.Sprintf("invalid value %v: %s", v, err)
	}
	return "", ""
}

// checkGenerator validates the generators of this package; others are trusted.
func checkGenerator(g Generator) (string, string) {
	if c, ok := g.(interface{ check() (string, string) }); ok {
		return c.check()
	}
	if g == nil {
		return "", "no generator"
	}
	return "", ""
}
