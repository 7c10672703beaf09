package flagger

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
)

// MaxSkipNotes is how many "skipped" notes SummarizeNotes keeps one by one.
const MaxSkipNotes = 5

var skippedRE = regexp.MustCompile(`skipped (?:(\S+) (\S+):|: no kind)`)

// SummarizeNotes keeps every note, except that "skipped" notes (objects of
// other kinds, as in `kubectl get all -o yaml`) beyond the first
// MaxSkipNotes become one summary line counting them by kind, so a large
// input does not print thousands of lines.
func SummarizeNotes(notes []string) []string {
	out := make([]string, 0, len(notes))
	shown, rest := 0, 0
	kinds := map[string]int{}
	for _, n := range notes {
		m := skippedRE.FindStringSubmatch(n)
		if m == nil {
			out = append(out, n)
			continue
		}
		if shown < MaxSkipNotes {
			out = append(out, n)
			shown++
			continue
		}
		rest++
		kind := "no kind"
		if m[2] != "" {
			kind = m[1] + " " + m[2]
		}
		kinds[kind]++
	}
	if rest > 0 {
		var parts []string
		for _, k := range slices.Sorted(maps.Keys(kinds)) {
			parts = append(parts, fmt.Sprintf("%s ×%d", k, kinds[k]))
		}
		out = append(out, fmt.Sprintf("skipped %d more objects that are not Canary, MetricTemplate or Secret (%s)", rest, strings.Join(parts, ", ")))
	}
	return out
}
