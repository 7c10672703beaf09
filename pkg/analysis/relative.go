package analysis

import (
	"fmt"
	"math"
	"strings"
)

// Comparison is a canary's value against its baseline's.
type Comparison struct {
	// Ratio is canary ÷ baseline; nil when undefined: a baseline of 0 (or
	// below: a ratio of negative values has no "worse" direction) or a
	// value that is not finite.
	Ratio *float64
	// Delta is canary − baseline; nil when either value is not finite.
	Delta *float64
}

// Compare computes the ratio and the delta of a canary's value and its
// baseline's.
func Compare(canary, baseline float64) Comparison {
	var c Comparison
	if !finite(canary) || !finite(baseline) {
		return c
	}
	if d := canary - baseline; finite(d) {
		c.Delta = &d
	}
	if baseline > 0 {
		if r := canary / baseline; finite(r) {
			c.Ratio = &r
		}
	}
	return c
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// Relative reports whether the bounds have a relative bound (a ratio or a
// delta bound), which needs a baseline.
func (b Bounds) Relative() bool {
	return b.MinRatio != nil || b.MaxRatio != nil || b.MinDelta != nil || b.MaxDelta != nil
}

func (b Bounds) hasRatio() bool { return b.MinRatio != nil || b.MaxRatio != nil }
func (b Bounds) hasDelta() bool { return b.MinDelta != nil || b.MaxDelta != nil }

// relativeString words the relative bounds: "maxRatio 1.2, maxDelta 0.5"
// ("" when there are none).
func (b Bounds) relativeString() string {
	var parts []string
	for _, nb := range b.relative() {
		if nb.v != nil {
			parts = append(parts, nb.name+" "+FormatValue(*nb.v))
		}
	}
	return strings.Join(parts, ", ")
}

type namedBound struct {
	name string
	v    *float64
}

func (b Bounds) relative() []namedBound {
	return []namedBound{{"minRatio", b.MinRatio}, {"maxRatio", b.MaxRatio}, {"minDelta", b.MinDelta}, {"maxDelta", b.MaxDelta}}
}

func (b Bounds) validateRelative() error {
	for _, nb := range b.relative() {
		if nb.v != nil && !finite(*nb.v) {
			return fmt.Errorf("%s must be a finite number", nb.name)
		}
	}
	if b.MinRatio != nil && b.MaxRatio != nil && *b.MinRatio > *b.MaxRatio {
		return fmt.Errorf("minRatio %s is greater than maxRatio %s: no value can pass", FormatValue(*b.MinRatio), FormatValue(*b.MaxRatio))
	}
	if b.MinDelta != nil && b.MaxDelta != nil && *b.MinDelta > *b.MaxDelta {
		return fmt.Errorf("minDelta %s is greater than maxDelta %s: no value can pass", FormatValue(*b.MinDelta), FormatValue(*b.MaxDelta))
	}
	return nil
}

// JudgeRelative applies every bound — absolute on the canary's value,
// ratio on canary ÷ baseline, delta on canary − baseline, all inclusive —
// and passes only when all hold. A value or baseline that is not finite
// fails. When the ratio is undefined (baseline ≤ 0) the ratio bounds cannot
// be applied: with a delta bound the delta bounds decide (the ratio bounds
// are skipped, the message says so when the check fails); without one the
// check fails with that reason. The message lists every bound that failed,
// with both values.
func (b Bounds) JudgeRelative(canary, baseline float64) (passed bool, message string) {
	both := fmt.Sprintf("canary %s, baseline %s", FormatValue(canary), FormatValue(baseline))
	switch {
	case math.IsNaN(baseline):
		return false, "baseline value is NaN (not a number) (" + both + ")"
	case math.IsInf(baseline, 0):
		return false, "baseline value " + FormatValue(baseline) + " is not finite (" + both + ")"
	}
	var fails []string
	if ok, msg := b.judgeAbsolute(canary); !ok {
		if !finite(canary) {
			return false, msg + " (" + both + ")"
		}
		fails = append(fails, msg)
	}
	cmp := Compare(canary, baseline)
	if b.hasRatio() {
		switch {
		case cmp.Ratio != nil:
			r := *cmp.Ratio
			if b.MinRatio != nil && r < *b.MinRatio {
				fails = append(fails, fmt.Sprintf("ratio %s < minRatio %s", FormatValue(r), FormatValue(*b.MinRatio)))
			}
			if b.MaxRatio != nil && r > *b.MaxRatio {
				fails = append(fails, fmt.Sprintf("ratio %s > maxRatio %s", FormatValue(r), FormatValue(*b.MaxRatio)))
			}
		case !b.hasDelta():
			fails = append(fails, fmt.Sprintf("ratio undefined: baseline %s is not > 0, so %s cannot be judged (add maxDelta/minDelta to decide when the baseline is 0)",
				FormatValue(baseline), ratioBounds(b)))
		}
	}
	if b.hasDelta() {
		if cmp.Delta == nil {
			fails = append(fails, "delta is not finite")
		} else {
			d := *cmp.Delta
			if b.MinDelta != nil && d < *b.MinDelta {
				fails = append(fails, fmt.Sprintf("delta %s < minDelta %s", FormatValue(d), FormatValue(*b.MinDelta)))
			}
			if b.MaxDelta != nil && d > *b.MaxDelta {
				fails = append(fails, fmt.Sprintf("delta %s > maxDelta %s", FormatValue(d), FormatValue(*b.MaxDelta)))
			}
			if len(fails) > 0 && b.hasRatio() && cmp.Ratio == nil {
				fails = append(fails, fmt.Sprintf("ratio undefined (baseline %s), %s skipped: the delta decides", FormatValue(baseline), ratioBounds(b)))
			}
		}
	}
	if len(fails) > 0 {
		return false, strings.Join(fails, "; ") + " (" + both + ")"
	}
	return true, ""
}

func ratioBounds(b Bounds) string {
	var parts []string
	if b.MinRatio != nil {
		parts = append(parts, "minRatio "+FormatValue(*b.MinRatio))
	}
	if b.MaxRatio != nil {
		parts = append(parts, "maxRatio "+FormatValue(*b.MaxRatio))
	}
	return strings.Join(parts, ", ")
}
