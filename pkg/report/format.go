package report

import (
	"math"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/extmetrics/extmetrics/pkg/analysis"
)

// rangeText describes a threshold range: "[0, 1]", "≤ 500", "≥ 0.5", or
// "any" when neither bound is set.
func rangeText(min, max *float64) string {
	switch {
	case min != nil && max != nil:
		return "[" + analysis.FormatValue(*min) + ", " + analysis.FormatValue(*max) + "]"
	case max != nil:
		return "≤ " + analysis.FormatValue(*max)
	case min != nil:
		return "≥ " + analysis.FormatValue(*min)
	default:
		return "any"
	}
}

// rangeASCII is the range for plain-text logs, as an interval that needs no
// quoting: "[0,1]", "[-inf,500]", "[0.5,+inf]".
func rangeASCII(min, max *float64) string {
	lo, hi := "-inf", "+inf"
	if min != nil {
		lo = analysis.FormatValue(*min)
	}
	if max != nil {
		hi = analysis.FormatValue(*max)
	}
	return "[" + lo + "," + hi + "]"
}

// checkBounds returns the bounds a check was judged against, falling back to
// the metric's bounds when the check does not carry its own.
func checkBounds(c *analysis.Check, m *analysis.MetricResult) (min, max *float64) {
	min, max = c.Min, c.Max
	if min == nil && max == nil && m != nil {
		min, max = m.Min, m.Max
	}
	return min, max
}

// outcomeText is the short, human form of one check's result:
// "0.42 [0, 1]" on a pass, "812 > 500" or "0.1 < 0.5" when out of range, and
// the error kind ("no-data", "unavailable", ...) when there is no value.
func outcomeText(c *analysis.Check, min, max *float64) string {
	if !c.HasValue {
		kind := c.ErrorKind
		if kind == "" {
			kind = "no value"
		}
		return kind
	}
	v := analysis.FormatValue(c.Value)
	if !c.Passed {
		switch {
		case max != nil && c.Value > *max:
			return v + " > " + analysis.FormatValue(*max)
		case min != nil && c.Value < *min:
			return v + " < " + analysis.FormatValue(*min)
		case math.IsNaN(c.Value):
			return v
		}
		if c.ErrorKind != "" {
			return v + " (" + c.ErrorKind + ")"
		}
		return v + " " + rangeText(min, max)
	}
	return v + " " + rangeText(min, max)
}

// relativeText words a metric's relative bounds ("maxRatio 1.2, maxDelta
// 0.5"; "" without any).
func relativeText(m *analysis.MetricResult) string {
	if m == nil {
		return ""
	}
	b := analysis.Bounds{MinRatio: m.MinRatio, MaxRatio: m.MaxRatio, MinDelta: m.MinDelta, MaxDelta: m.MaxDelta}
	if !b.Relative() {
		return ""
	}
	return b.String()
}

// boundsText is rangeText plus the metric's relative bounds: "≤ 5,
// maxRatio 1.2", or only "maxRatio 1.2" without an absolute bound.
func boundsText(min, max *float64, m *analysis.MetricResult) string {
	rel := relativeText(m)
	switch {
	case rel == "":
		return rangeText(min, max)
	case min == nil && max == nil:
		return rel
	}
	return rangeText(min, max) + ", " + rel
}

// baselineText is a relative check's other side: "baseline 1, ratio 1.5,
// delta 0.5" ("" without a baseline value; the ratio "undefined" for a
// baseline ≤ 0).
func baselineText(c *analysis.Check) string {
	if c.Baseline == nil {
		return ""
	}
	s := "baseline " + analysis.FormatValue(*c.Baseline) + ", ratio "
	if c.Ratio != nil {
		s += analysis.FormatValue(*c.Ratio)
	} else {
		s += "undefined"
	}
	if c.Delta != nil {
		s += ", delta " + analysis.FormatValue(*c.Delta)
	}
	return s
}

// failureText is "<errorKind>: <message>" (either part may be missing).
func failureText(c *analysis.Check) string {
	kind, msg := c.ErrorKind, c.Message
	switch {
	case kind != "" && msg != "":
		return kind + ": " + msg
	case kind != "":
		return kind
	case msg != "":
		return msg
	default:
		return "check failed"
	}
}

// FormatDuration renders a duration for people, compactly: "850µs",
// "12.3ms", "1.5s", "2m30s".
func FormatDuration(d time.Duration) string {
	switch {
	case d == 0:
		return "0s"
	case d < 0:
		return "-" + FormatDuration(-d)
	case d < time.Millisecond:
		return d.Round(time.Microsecond).String()
	case d < time.Second:
		return d.Round(100 * time.Microsecond).String()
	case d < time.Minute:
		return d.Round(10 * time.Millisecond).String()
	default:
		return d.Round(time.Second).String()
	}
}

// FormatAge renders the age of data: whole seconds from one second on
// ("12s", "1h0m5s"), milliseconds below.
func FormatAge(d time.Duration) string {
	if d >= time.Second {
		return d.Round(time.Second).String()
	}
	return d.Round(time.Millisecond).String()
}

// ageText is "age 12s (newest 2026-11-27T18:20:03Z)", or "" when the check
// has no item timestamp.
func ageText(c *analysis.Check) string {
	if c.Newest.IsZero() {
		return ""
	}
	return "age " + FormatAge(c.Age) + " (newest " + c.Newest.UTC().Format(time.RFC3339) + ")"
}

// span is the duration between two instants, zero when either is unset or
// they are out of order.
func span(start, end time.Time) time.Duration {
	if start.IsZero() || end.IsZero() || end.Before(start) {
		return 0
	}
	return end.Sub(start)
}

// clean replaces control characters (ANSI escapes, newlines, NUL, ...) so
// that names and messages coming from YAML or a server cannot rewrite a
// terminal or break a line-oriented log.
func clean(s string) string {
	if strings.IndexFunc(s, isControl) < 0 {
		return s
	}
	return strings.Map(func(r rune) rune {
		switch {
		case r == '\n' || r == '\r' || r == '\t':
			return ' '
		case isControl(r):
			return '\uFFFD'
		}
		return r
	}, s)
}

func isControl(r rune) bool {
	return unicode.IsControl(r) || r == '\u2028' || r == '\u2029'
}

// verdictText is the verdict, or "Running" while the analysis goes on.
func verdictText(v analysis.Verdict) string {
	if v == "" {
		return "Running"
	}
	return string(v)
}

// lastCheck returns the latest check of a metric (by run, step, then time),
// or nil.
func lastCheck(m *analysis.MetricResult) *analysis.Check {
	var last *analysis.Check
	for i := range m.Checks {
		if c := &m.Checks[i]; last == nil || !checkBefore(c, last) {
			last = c
		}
	}
	return last
}

// checkBefore orders checks by run, then step, then time.
func checkBefore(a, b *analysis.Check) bool {
	switch {
	case a.Run != b.Run:
		return a.Run < b.Run
	case a.Step != b.Step:
		return a.Step < b.Step
	default:
		return a.Time.Before(b.Time)
	}
}

// checkName is the JUnit / table name of a check: "<metric> step <n>", with
// the run number when it differs from the step (a step repeats after a
// failed run, so the run keeps names unique).
func checkName(metric string, c *analysis.Check) string {
	name := metric
	if name == "" {
		name = c.Metric
	}
	name += " step " + strconv.Itoa(c.Step)
	if c.Run > 0 && c.Run != c.Step {
		name += " (run " + strconv.Itoa(c.Run) + ")"
	}
	return name
}

// canaryID is "namespace/name" (or just the name without namespace).
func canaryID(c *analysis.CanaryResult) string {
	if c.Namespace == "" {
		return c.Name
	}
	return c.Namespace + "/" + c.Name
}
