package scenario

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation/field"
)

// The semantic rules of a scenario, checked once: Parse decodes the shape of
// a file and calls them on what it decoded (locating each problem at its
// node), Validate calls them on a scenario built in code (locating each
// problem at its metric's line).

// reporter receives one problem of an item (a metric or a fault): at is the
// field below the item, as path elements ("labels", "app", "value", "ramp",
// "over"; "[2]" for an index), nil for the item itself.
type reporter func(at []string, format string, args ...any)

// checkMetric reports every problem of one decoded metric; ok is false when
// there was one.
func checkMetric(m *Metric, report reporter) (ok bool) {
	ok = true
	bad := func(at []string, format string, args ...any) {
		report(at, format, args...)
		ok = false
	}
	if err := ValidateMetricName(m.Name); err != nil {
		bad([]string{"name"}, "%v", err)
	}
	ns := m.Namespace
	if ns == "" {
		ns = DefaultNamespace
	}
	if err := ValidateNamespace(ns); err != nil {
		bad([]string{"namespace"}, "%v", err)
	}
	if !labelsValid(m.Labels) { // sorted only to report, in a stable order
		for _, k := range slices.Sorted(maps.Keys(m.Labels)) {
			if err := validateLabel(k, m.Labels[k]); err != nil {
				bad([]string{"labels", k}, "%v", err)
			}
		}
	}
	if m.WindowSeconds != nil && *m.WindowSeconds <= 0 {
		bad([]string{"windowSeconds"}, "must be positive, got %d", *m.WindowSeconds)
	}
	if m.TimestampOffset > MaxTimestampOffset || m.TimestampOffset < -MaxTimestampOffset {
		bad([]string{"timestampOffset"}, "at most %s either way, got %s", MaxTimestampOffset, m.TimestampOffset)
	}
	if sub, msg := checkGenerator(m.Generator); msg != "" {
		at := []string{"value"}
		if m.Generator != nil {
			at = append(at, m.Generator.Kind())
		}
		bad(append(at, splitSub(sub)...), "%s", msg)
	}
	return ok
}

func labelsValid(lbls map[string]string) bool {
	for k, v := range lbls {
		if validateLabel(k, v) != nil {
			return false
		}
	}
	return true
}

// checkSeriesUnique reports every metric that repeats the namespace, name
// and labels of an earlier one (names compare case-insensitively, as the
// store does).
func checkSeriesUnique(metrics []Metric, report func(i, first int)) {
	seen := make(map[string]int, len(metrics))
	for i := range metrics {
		m := &metrics[i]
		ns := m.Namespace
		if ns == "" {
			ns = DefaultNamespace
		}
		k := seriesKey(ns, m.Name, m.Labels)
		if first, dup := seen[k]; dup {
			report(i, first)
			continue
		}
		seen[k] = i
	}
}

// duplicateSeries is the message for metrics[i] repeating metrics[first]
// (line > 0 says where that one is).
func duplicateSeries(first, line int) string {
	msg := fmt.Sprintf("duplicate series: same namespace, name and labels as metrics[%d]", first)
	if line > 0 {
		msg += fmt.Sprintf(" (line %d)", line)
	}
	return msg
}

// checkFault reports the problems of the fault for metric name ("" or "*":
// every metric).
func checkFault(name string, f Fault, report reporter) (ok bool) {
	ok = true
	if name != "" && name != "*" {
		if err := ValidateMetricName(name); err != nil {
			report([]string{"metric"}, "%v", err)
			ok = false
		}
	}
	if key, msg := f.check(); key != "" {
		report([]string{key}, "%s", msg)
		return false
	}
	if f.IsZero() {
		report(nil, "injects nothing: set at least one of %s", strings.Join(faultKeys, ", "))
		return false
	}
	return ok
}

// splitSub splits a generator check's field ("over", "[2].after", "[1]")
// into path elements.
func splitSub(sub string) []string {
	var out []string
	for sub != "" {
		if sub[0] == '[' {
			end := strings.IndexByte(sub, ']')
			if end < 0 {
				return append(out, sub)
			}
			out = append(out, sub[:end+1])
			sub = strings.TrimPrefix(sub[end+1:], ".")
			continue
		}
		i := strings.IndexAny(sub, ".[")
		if i < 0 {
			return append(out, sub)
		}
		out = append(out, sub[:i])
		sub = strings.TrimPrefix(sub[i:], ".")
	}
	return out
}

// appendPath appends path elements to p ("[2]" is an index).
func appendPath(p *field.Path, at []string) *field.Path {
	for _, e := range at {
		if strings.HasPrefix(e, "[") && strings.HasSuffix(e, "]") {
			if i, err := strconv.Atoi(e[1 : len(e)-1]); err == nil {
				p = p.Index(i)
				continue
			}
		}
		p = p.Child(e)
	}
	return p
}
