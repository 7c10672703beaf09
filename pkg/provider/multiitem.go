package provider

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// MultiItem says what a query that names no aggregate= does when the server
// returns more than one item.
type MultiItem string

const (
	// MultiItemFail (the default, also for "") fails the query with
	// ErrAmbiguous: several series where one was meant must not pass a
	// canary on whichever the server happened to list first.
	MultiItemFail MultiItem = "fail"
	// MultiItemFirst takes the first item, exactly as Flagger's
	// externalmetrics provider does.
	MultiItemFirst MultiItem = "first"
)

// ParseMultiItem reads a MultiItem from a flag or setting: "fail" (or "")
// and "first".
func ParseMultiItem(s string) (MultiItem, error) {
	switch MultiItem(strings.ToLower(strings.TrimSpace(s))) {
	case "", MultiItemFail:
		return MultiItemFail, nil
	case MultiItemFirst:
		return MultiItemFirst, nil
	}
	return "", fmt.Errorf("%q: want fail (several items without aggregate= fail the query) or first (take the first item, as Flagger)", s)
}

// ambiguity describes several items matched by a query without aggregate=:
// how many, their label sets (only the labels that tell them apart, at most
// a few, shortened) and the two ways out.
func ambiguity(items []Item) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d items matched and the query names no aggregate=: ", len(items))
	keys := distinguishingLabels(items)
	const shown = 3
	for i, it := range items {
		if i == shown {
			fmt.Fprintf(&b, ", and %d more", len(items)-shown)
			break
		}
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(labelSet(it.Labels, keys))
		b.WriteString("=")
		b.WriteString(it.Quantity)
	}
	b.WriteString("; narrow the labelSelector until one series matches, or say how to combine them with " +
		"&aggregate=first|sum|avg|min|max (Flagger would take the first item")
	if items[0].Quantity != "" {
		b.WriteString(", " + items[0].Quantity)
	}
	b.WriteString(")")
	return b.String()
}

// distinguishingLabels are the label keys whose values are not the same on
// every item (nil when there are none: then every label is shown).
func distinguishingLabels(items []Item) map[string]bool {
	all := map[string]bool{}
	for _, it := range items {
		for k := range it.Labels {
			all[k] = true
		}
	}
	diff := map[string]bool{}
	for k := range all {
		v0, ok0 := items[0].Labels[k]
		for _, it := range items[1:] {
			if v, ok := it.Labels[k]; ok != ok0 || v != v0 {
				diff[k] = true
				break
			}
		}
	}
	if len(diff) == 0 {
		return nil
	}
	return diff
}

// labelSet writes {k=v,...} with the keys in keys (all when nil), sorted,
// each value and the whole set shortened.
func labelSet(labels map[string]string, keys map[string]bool) string {
	const maxValue, maxSet = 40, 120
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		if keys != nil && !keys[k] {
			continue
		}
		parts = append(parts, shorten(k, maxValue)+"="+shorten(labels[k], maxValue))
	}
	return "{" + shorten(strings.Join(parts, ","), maxSet) + "}"
}

// shorten cuts s to at most n runes, marking the cut with "…", and drops
// control characters.
func shorten(s string, n int) string {
	s = snippet([]byte(s), len(s))
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
