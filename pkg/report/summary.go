package report

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/extmetrics/extmetrics/pkg/analysis"
)

// WriteSummary writes the end-of-run table, one row per metric, the canary
// columns filled on its first row only:
//
//	CANARY         VERDICT    STEPS  WEIGHT  FAILED  METRIC         LAST       RANGE   REASON
//	demo/podinfo   Succeeded  5/5    50%     1/2     error-rate     ✓ 0.22     [0, 1]  all 5 steps passed
//	                                                 latency        ✓ 248      ≤ 500
//	shop/checkout  Failed     2/5    30%     2/2     dd-error-rate  ✗ no-data  ≤ 0.05  failed checks (2) reached the threshold (2)
//	                                                 throughput     ✓ 31       ≥ 10
//
// STEPS is steps passed / steps needed, FAILED is failed checks / threshold,
// LAST the latest check of the metric (its value, the violated bound, or the
// error kind).
// A canary without metrics still gets its row. Text is stripped of control
// characters.
func WriteSummary(w io.Writer, r *analysis.Report) error {
	if r == nil {
		return errors.New("report: nil report")
	}
	var buf bytes.Buffer
	tw := tabwriter.NewWriter(&buf, 0, 4, 2, ' ', 0)
	row := func(cols ...string) {
		for i, c := range cols {
			cols[i] = strings.ReplaceAll(clean(c), "\t", " ")
		}
		fmt.Fprintln(tw, strings.Join(cols, "\t"))
	}
	row("CANARY", "VERDICT", "STEPS", "WEIGHT", "FAILED", "METRIC", "LAST", "RANGE", "REASON")
	for ci := range r.Canaries {
		c := &r.Canaries[ci]
		weight := "-"
		if c.Strategy != "iterations" {
			weight = strconv.Itoa(c.Weight) + "%"
		}
		head := []string{
			canaryID(c),
			verdictText(c.Verdict),
			strconv.Itoa(c.Steps) + "/" + strconv.Itoa(c.TotalSteps),
			weight,
			strconv.Itoa(c.FailedChecks) + "/" + strconv.Itoa(c.Threshold),
		}
		if len(c.Metrics) == 0 {
			row(append(head, "-", "-", "-", c.Reason)...)
			continue
		}
		for mi := range c.Metrics {
			m := &c.Metrics[mi]
			last, rng := "-", boundsText(m.Min, m.Max, m)
			if lc := lastCheck(m); lc != nil {
				min, max := checkBounds(lc, m)
				rng = boundsText(min, max, m)
				mark := "✓ "
				if !lc.Passed {
					mark = "✗ "
				}
				last = mark + lastValueText(lc, min, max)
				if bt := baselineText(lc); bt != "" {
					last += " (" + bt + ")"
				}
			}
			reason := ""
			if mi == 0 {
				reason = c.Reason
			} else {
				head = []string{"", "", "", "", ""}
			}
			row(append(head, m.Name, last, rng, reason)...)
		}
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("report: writing summary: %w", err)
	}
	// Rows whose last cells are empty would end in padding: trim it.
	var out strings.Builder
	for _, line := range strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n") {
		out.WriteString(strings.TrimRight(line, " "))
		out.WriteByte('\n')
	}
	writeCompat(&out, r)
	if _, err := io.WriteString(w, out.String()); err != nil {
		return fmt.Errorf("report: writing summary: %w", err)
	}
	return nil
}

// writeCompat writes the Flagger compatibility notes after a table ("" when
// there are none): each distinct note once, with the templates it applies to
// (each template once, named with the first canary and metric using it).
func writeCompat(w io.Writer, r *analysis.Report) {
	type group struct {
		note      string
		templates []string
		seen      map[string]bool
	}
	var groups []*group
	byNote := map[string]*group{}
	for ci := range r.Canaries {
		c := &r.Canaries[ci]
		for mi := range c.Metrics {
			m := &c.Metrics[mi]
			for _, n := range m.CompatNotes() {
				g := byNote[n.String()]
				if g == nil {
					g = &group{note: n.String(), seen: map[string]bool{}}
					byNote[g.note] = g
					groups = append(groups, g)
				}
				if g.seen[m.TemplateRef] {
					continue
				}
				g.seen[m.TemplateRef] = true
				g.templates = append(g.templates, fmt.Sprintf("%s (%s, metric %s)", clean(m.TemplateRef), clean(canaryID(c)), clean(m.Name)))
			}
		}
	}
	if len(groups) == 0 {
		return
	}
	fmt.Fprintln(w, "\nFlagger compatibility (real Flagger would treat these templates differently):")
	for _, g := range groups {
		what := "MetricTemplate"
		if len(g.templates) > 1 {
			what = "MetricTemplates"
		}
		fmt.Fprintf(w, "  %s %s: %s\n", what, strings.Join(g.templates, ", "), clean(g.note))
	}
}

// WriteChecks writes one row per check, for `analyze --once` (a lint of
// templates): the rendered query, the value, the range and the outcome, with
// the error message of a failed check.
//
//	CANARY         METRIC      QUERY                                   VALUE  AGE  RANGE  RESULT
//	shop/checkout  error-rate  datadogmetric@shop:checkout-error-rate  0.4    12s  ≤ 2    ✓ pass
//	shop/checkout  latency     shop/p99?labelSelector=app%3Dcheckout   -      -    ≤ 500  ✗ not-found: metric not found ...
//
// AGE is the age of the newest item the server returned.
func WriteChecks(w io.Writer, r *analysis.Report) error {
	if r == nil {
		return errors.New("report: nil report")
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	row := func(cols ...string) {
		for i, c := range cols {
			cols[i] = strings.ReplaceAll(clean(c), "\t", " ")
		}
		fmt.Fprintln(tw, strings.Join(cols, "\t"))
	}
	row("CANARY", "METRIC", "QUERY", "VALUE", "AGE", "RANGE", "RESULT")
	for ci := range r.Canaries {
		c := &r.Canaries[ci]
		for mi := range c.Metrics {
			m := &c.Metrics[mi]
			for ki := range m.Checks {
				k := &m.Checks[ki]
				min, max := checkBounds(k, m)
				value := "-"
				if k.HasValue {
					value = analysis.FormatValue(k.Value)
				}
				if bt := baselineText(k); bt != "" {
					value += " (" + bt + ")"
				}
				result := "✓ pass"
				if !k.Passed {
					kind := k.ErrorKind
					if kind == "" {
						kind = "failed"
					}
					result = "✗ " + kind
					if k.Message != "" {
						result += ": " + k.Message
					}
				}
				query := k.Query
				if query == "" {
					query = m.Query
				}
				age := "-"
				if !k.Newest.IsZero() {
					age = FormatAge(k.Age)
				}
				row(canaryID(c), m.Name, query, value, age, boundsText(min, max, m), result)
			}
		}
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("report: writing checks: %w", err)
	}
	var notes strings.Builder
	writeCompat(&notes, r)
	if _, err := io.WriteString(w, notes.String()); err != nil {
		return fmt.Errorf("report: writing checks: %w", err)
	}
	return nil
}

// lastValueText is the value (with the violated bound on a failure) or the
// error kind; the range has its own column.
func lastValueText(c *analysis.Check, min, max *float64) string {
	if !c.HasValue || c.Passed {
		s := outcomeText(c, nil, nil)
		return strings.TrimSuffix(s, " any")
	}
	return outcomeText(c, min, max)
}
