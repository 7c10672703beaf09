package report

import (
	_ "embed"
	"errors"
	"fmt"
	"html/template"
	"io"
	"sort"
	"strconv"
	"time"

	"github.com/extmetrics/extmetrics/pkg/analysis"
)

//go:embed report.html.tmpl
var htmlSource string

var htmlTemplate = template.Must(template.New("report").Funcs(template.FuncMap{
	"f":   func(x float64) string { return strconv.FormatFloat(x, 'f', 1, 64) },
	"add": func(a, b float64) float64 { return a + b },
	"mul": func(a, b float64) float64 { return a * b },
}).Parse(htmlSource))

type htmlPage struct {
	Title     string
	Started   string
	Finished  string
	Duration  string
	Total     int
	Succeeded int
	Failed    int
	Aborted   int
	Running   int
	Canaries  []htmlCanary
}

type htmlCanary struct {
	Anchor       string
	Name         string
	Namespace    string
	Source       string
	Strategy     string
	Mode         string
	Runs         int
	Verdict      string
	VerdictClass string
	Icon         string
	Reason       string
	Steps        string
	Weight       string
	FailedChecks string
	Threshold    int
	OverLimit    bool
	Interval     string
	Duration     string
	Started      string
	Metrics      []htmlMetric
	Checks       []htmlCheck
}

type htmlMetric struct {
	Anchor      string
	Name        string
	TemplateRef string
	Provider    string
	Interval    string
	Range       string
	Query       string
	Last        string
	LastPassed  bool
	Failed      int
	Total       int
	Chart       *chart
	Compat      []htmlCompat // Flagger compatibility notes
	Webhook     string       // a gate webhook's name and type
	Baseline    string       // a relative check's baseline query
}

// htmlCompat is one Flagger compatibility note: its text and stable code.
type htmlCompat struct {
	Code string
	Text string
}

type htmlCheck struct {
	Metric  string
	Step    int
	Run     int
	order   analysis.Check
	Time    string
	TimeISO string
	Weight  string
	Value   string
	Range   string
	Passed  bool
	Kind    string
	Message string
	Matched int
	Latency string
	Age     string // age of the newest item, "—" when unknown
	Newest  string // its timestamp (ISO), for the title
}

// WriteHTML writes r as one self-contained HTML page: inline CSS, inline SVG,
// no script and no external asset. Every string from the report is escaped by
// html/template. Stable hooks for tests and styling: each canary is a
// <section class="canary" id="canary-N"> with a banner of class
// "verdict verdict-<succeeded|failed|aborted>"; each metric chart is an
// <svg class="chart" id="chart-N-M"> with a "band" rect (plus "open-low" /
// "open-high" when a bound is missing), a "line" path, points of class
// "point pass" / "point fail", and "point fail novalue" marks on the x axis
// for checks that returned no value.
func WriteHTML(w io.Writer, r *analysis.Report) error {
	if r == nil {
		return errors.New("report: nil report")
	}
	page := htmlPage{
		Started:  stamp(r.Started),
		Finished: stamp(r.Finished),
		Duration: FormatDuration(span(r.Started, r.Finished)),
		Total:    len(r.Canaries),
	}
	for ci := range r.Canaries {
		c := &r.Canaries[ci]
		hc := htmlCanary{
			Anchor:       fmt.Sprintf("canary-%d", ci),
			Name:         clean(c.Name),
			Namespace:    clean(c.Namespace),
			Source:       clean(c.Source),
			Strategy:     clean(c.Strategy),
			Mode:         clean(c.Mode),
			Runs:         c.Runs,
			Verdict:      verdictText(c.Verdict),
			Reason:       clean(c.Reason),
			Steps:        fmt.Sprintf("%d / %d", c.Steps, c.TotalSteps),
			Weight:       "—",
			FailedChecks: fmt.Sprintf("%d / %d", c.FailedChecks, c.Threshold),
			Threshold:    c.Threshold,
			OverLimit:    c.Threshold > 0 && c.FailedChecks >= c.Threshold,
			Interval:     FormatDuration(c.Interval),
			Duration:     FormatDuration(span(c.Started, c.Finished)),
			Started:      stamp(c.Started),
		}
		if hasWeights(c) {
			hc.Weight = fmt.Sprintf("%d%%", c.Weight)
		}
		switch c.Verdict {
		case analysis.Succeeded:
			hc.VerdictClass, hc.Icon = "succeeded", "✓"
			page.Succeeded++
		case analysis.Failed:
			hc.VerdictClass, hc.Icon = "failed", "✗"
			page.Failed++
		case analysis.Aborted:
			hc.VerdictClass, hc.Icon = "aborted", "■"
			page.Aborted++
		default:
			hc.VerdictClass, hc.Icon = "running", "…"
			page.Running++
		}
		for mi := range c.Metrics {
			m := &c.Metrics[mi]
			hm := htmlMetric{
				Anchor:      fmt.Sprintf("metric-%d-%d", ci, mi),
				Name:        clean(m.Name),
				TemplateRef: clean(m.TemplateRef),
				Provider:    clean(m.Provider),
				Interval:    clean(m.Interval),
				Range:       boundsText(m.Min, m.Max, m),
				Query:       clean(m.Query),
				Total:       len(m.Checks),
				Chart:       buildChart(fmt.Sprintf("chart-%d-%d", ci, mi), c, m),
			}
			for _, n := range m.CompatNotes() {
				hm.Compat = append(hm.Compat, htmlCompat{Code: clean(n.Code), Text: clean(n.Text)})
			}
			for k := range m.Checks {
				if !m.Checks[k].Passed {
					hm.Failed++
				}
			}
			if last := lastCheck(m); last != nil {
				min, max := checkBounds(last, m)
				hm.Last = clean(outcomeText(last, min, max))
				if bt := baselineText(last); bt != "" {
					hm.Last += " (" + clean(bt) + ")"
				}
				hm.LastPassed = last.Passed
			}
			if m.Webhook != nil {
				hm.Webhook = clean(m.Webhook.Name + " (" + m.Webhook.Type + ")")
				hm.Baseline = clean(m.BaselineQuery)
				switch {
				case m.Provider != "":
					hm.Provider = clean(m.Provider + " (the gate's --config)")
				default:
					hm.Provider = "the template's"
				}
			}
			if hm.Provider == "" {
				hm.Provider = "cluster (aggregation layer)"
			}
			hc.Metrics = append(hc.Metrics, hm)
			for k := range m.Checks {
				ch := &m.Checks[k]
				min, max := checkBounds(ch, m)
				row := htmlCheck{
					Metric:  clean(m.Name),
					Step:    ch.Step,
					Run:     ch.Run,
					order:   *ch,
					Time:    clock(ch.Time),
					TimeISO: stamp(ch.Time),
					Weight:  "—",
					Value:   "—",
					Range:   boundsText(min, max, m),
					Passed:  ch.Passed,
					Kind:    clean(ch.ErrorKind),
					Message: clean(ch.Message),
					Matched: ch.Matched,
					Latency: FormatDuration(ch.Latency),
					Age:     "—",
				}
				if !ch.Newest.IsZero() {
					row.Age, row.Newest = FormatAge(ch.Age), stamp(ch.Newest)
				}
				if hasWeights(c) {
					row.Weight = fmt.Sprintf("%d%%", ch.Weight)
				}
				if ch.HasValue {
					row.Value = analysis.FormatValue(ch.Value)
				}
				if bt := baselineText(ch); bt != "" {
					row.Value += " (" + bt + ")"
				}
				hc.Checks = append(hc.Checks, row)
			}
		}
		sort.SliceStable(hc.Checks, func(i, j int) bool { return checkBefore(&hc.Checks[i].order, &hc.Checks[j].order) })
		page.Canaries = append(page.Canaries, hc)
	}
	page.Title = "extmetrics canary report"
	switch {
	case page.Total == 0:
		page.Title += ": no canaries"
	case page.Failed+page.Aborted+page.Running == 0:
		page.Title += ": all succeeded"
	default:
		page.Title += fmt.Sprintf(": %d of %d not succeeded", page.Total-page.Succeeded, page.Total)
	}
	if err := htmlTemplate.Execute(w, page); err != nil {
		return fmt.Errorf("report: writing HTML: %w", err)
	}
	return nil
}

// hasWeights: the canary shifted traffic by weight (not iterations, and not
// a --once lint, which has no weight at all).
func hasWeights(c *analysis.CanaryResult) bool {
	return c.Strategy != analysis.StrategyIterations && c.Mode != analysis.ModeOnce
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02 15:04:05 UTC")
}

func clock(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format("15:04:05")
}
