package report

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/extmetrics/extmetrics/pkg/analysis"
)

// Chart geometry for the HTML report: everything is computed here as plain
// numbers and strings, and the template only places them, so the template
// stays simple and html/template escapes every label.

const (
	chartW       = 760
	chartH       = 260
	chartLeft    = 64
	chartRight   = 20
	chartTop     = 16
	chartBottom  = 52
	maxStepTicks = 16
)

type chartTick struct {
	Pos   float64 // x or y in SVG units
	Label string
	Sub   string // second line under an x tick (elapsed time)
}

type chartPoint struct {
	ID    string
	X, Y  float64
	Class string // "point pass" / "point fail" / "point fail novalue"
	Title string // tooltip
}

type chartBand struct {
	X, Y, W, H float64
	Class      string // "band", plus "open-low" / "open-high"
	Label      string
}

type chartLine struct {
	X1, Y1, X2, Y2 float64
	Class          string
	Label          string // text at the right end
}

type chart struct {
	ID, Title, Desc string
	W, H            int
	PlotX, PlotY    float64
	PlotW, PlotH    float64
	PlotR, PlotB    float64 // right and bottom edges
	XTicks, YTicks  []chartTick
	XLabel, YLabel  string
	Band            *chartBand
	Bounds          []chartLine
	Path            string // the value line; "" when fewer than two values
	Points          []chartPoint
	// A relative check's baseline: its line and points ("" and nil
	// without a baseline value).
	BaselinePath   string
	BaselinePoints []chartPoint
	NoValue        []chartPoint // checks without a value, marked on the x axis
	Empty          bool         // no checks at all
}

func (c *chart) px(x float64) string { return strconv.FormatFloat(x, 'f', 1, 64) }

// buildChart lays out the chart for one metric of one canary.
func buildChart(id string, canary *analysis.CanaryResult, m *analysis.MetricResult) *chart {
	ch := &chart{
		ID:     id,
		W:      chartW,
		H:      chartH,
		PlotX:  chartLeft,
		PlotY:  chartTop,
		PlotW:  chartW - chartLeft - chartRight,
		PlotH:  chartH - chartTop - chartBottom,
		YLabel: "value",
	}
	ch.PlotR = ch.PlotX + ch.PlotW
	ch.PlotB = ch.PlotY + ch.PlotH
	ch.Title = clean(fmt.Sprintf("%s: value of each check, allowed range %s", m.Name, boundsText(m.Min, m.Max, m)))

	// y domain: every finite value and both bounds.
	lo, hi := math.Inf(1), math.Inf(-1)
	include := func(v float64) {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return
		}
		lo, hi = math.Min(lo, v), math.Max(hi, v)
	}
	if m.Min != nil {
		include(*m.Min)
	}
	if m.Max != nil {
		include(*m.Max)
	}
	// x is the analysis run (unique per canary; a step repeats after a failed
	// run), or the step for results that do not number runs.
	useRun := len(m.Checks) > 0
	for i := range m.Checks {
		useRun = useRun && m.Checks[i].Run > 0
	}
	xKey := func(c *analysis.Check) int {
		if useRun {
			return c.Run
		}
		return c.Step
	}
	if !useRun {
		ch.XLabel = "analysis step"
	} else {
		ch.XLabel = "analysis run"
	}
	stepLo, stepHi := math.MaxInt, math.MinInt
	failed, missing := 0, 0
	for i := range m.Checks {
		c := &m.Checks[i]
		if c.Baseline != nil {
			include(*c.Baseline)
		}
		if c.HasValue {
			include(c.Value)
		} else {
			missing++
		}
		if !c.Passed {
			failed++
		}
		stepLo, stepHi = min(stepLo, xKey(c)), max(stepHi, xKey(c))
	}
	if len(m.Checks) == 0 {
		ch.Empty = true
		stepLo, stepHi = 1, max(1, canary.TotalSteps)
	}
	ch.Desc = fmt.Sprintf("%d checks, %d failed, %d without a value.", len(m.Checks), failed, missing)
	if math.IsInf(lo, 1) { // nothing to scale by
		lo, hi = 0, 1
	}
	// Start the axis at zero when the data sit not far above (or below) it,
	// so that differences are not exaggerated.
	if lo > 0 && lo < hi*0.5 {
		lo = 0
	} else if hi < 0 && hi > lo*0.5 {
		hi = 0
	}
	if lo == hi {
		pad := math.Abs(lo) * 0.1
		if pad == 0 {
			pad = 1
		}
		lo, hi = lo-pad, hi+pad
	}
	ch.YTicks, lo, hi = niceAxis(lo, hi, 5)
	yOf := func(v float64) float64 {
		v = math.Max(lo, math.Min(hi, v))
		return ch.PlotB - (v-lo)/(hi-lo)*ch.PlotH
	}
	for i := range ch.YTicks {
		ch.YTicks[i].Pos = yOf(ch.YTicks[i].Pos)
	}

	// x: one slot per step, points centred in their slot.
	n := stepHi - stepLo + 1
	slot := ch.PlotW / float64(n)
	xOf := func(step int) float64 {
		return ch.PlotX + (float64(step-stepLo)+0.5)*slot
	}
	every := 1
	if n > maxStepTicks {
		every = int(niceStep(float64(n)/maxStepTicks, true))
	}
	stepTime := map[int]time.Time{}
	for i := range m.Checks {
		c := &m.Checks[i]
		if t, ok := stepTime[xKey(c)]; !ok || c.Time.Before(t) {
			stepTime[xKey(c)] = c.Time
		}
	}
	for s := stepLo; s <= stepHi; s++ {
		if (s-stepLo)%every != 0 && s != stepLo {
			continue
		}
		t := chartTick{Pos: xOf(s), Label: strconv.Itoa(s)}
		if at := stepTime[s]; n <= 12 && !at.IsZero() && !canary.Started.IsZero() && !at.Before(canary.Started) {
			t.Sub = "+" + FormatDuration(at.Sub(canary.Started).Round(time.Second))
		}
		ch.XTicks = append(ch.XTicks, t)
	}
	if len(ch.XTicks) > 0 && ch.XTicks[0].Sub != "" {
		ch.XLabel += " (time since start)"
	}

	// threshold band and bound lines.
	if m.Min != nil || m.Max != nil {
		top, bottom := ch.PlotY, ch.PlotB
		class := "band"
		if m.Max != nil {
			top = yOf(*m.Max)
		} else {
			class += " open-high"
		}
		if m.Min != nil {
			bottom = yOf(*m.Min)
		} else {
			class += " open-low"
		}
		ch.Band = &chartBand{X: ch.PlotX, Y: top, W: ch.PlotW, H: math.Max(bottom-top, 1), Class: class,
			Label: "allowed range " + rangeText(m.Min, m.Max)}
		if m.Max != nil {
			y := yOf(*m.Max)
			ch.Bounds = append(ch.Bounds, chartLine{ch.PlotX, y, ch.PlotR, y, "bound max", "max " + analysis.FormatValue(*m.Max)})
		}
		if m.Min != nil {
			y := yOf(*m.Min)
			ch.Bounds = append(ch.Bounds, chartLine{ch.PlotX, y, ch.PlotR, y, "bound min", "min " + analysis.FormatValue(*m.Min)})
		}
	}

	// the value line (broken where a check had no value) and the points.
	var path strings.Builder
	pen := false
	for i := range m.Checks {
		c := &m.Checks[i]
		x := xOf(xKey(c))
		min, max := checkBounds(c, m)
		title := fmt.Sprintf("step %d", c.Step)
		if c.Run > 0 {
			title = fmt.Sprintf("run %d, step %d", c.Run, c.Step)
		}
		if c.Weight > 0 {
			title += fmt.Sprintf(" (weight %d%%)", c.Weight)
		}
		if !c.Time.IsZero() {
			title += " at " + c.Time.UTC().Format("15:04:05")
		}
		pid := fmt.Sprintf("%s-check-%d", id, i)
		if !c.HasValue || math.IsNaN(c.Value) {
			pen = false
			ch.NoValue = append(ch.NoValue, chartPoint{ID: pid, X: x, Y: ch.PlotB, Class: "point fail novalue",
				Title: clean(title + ": no value — " + failureText(c))})
			continue
		}
		if math.IsNaN(c.Value) || math.IsInf(c.Value, 0) {
			pen = false
		} else {
			if pen {
				path.WriteString(" L")
			} else {
				if path.Len() > 0 {
					path.WriteString(" ")
				}
				path.WriteString("M")
			}
			path.WriteString(ch.px(x) + " " + ch.px(yOf(c.Value)))
			pen = true
		}
		p := chartPoint{ID: pid, X: x, Y: yOf(c.Value)}
		if c.Passed {
			p.Class = "point pass"
			p.Title = fmt.Sprintf("%s: %s — passed", title, outcomeText(c, min, max))
		} else {
			p.Class = "point fail"
			p.Title = clean(fmt.Sprintf("%s: %s — %s", title, outcomeText(c, min, max), failureText(c)))
		}
		ch.Points = append(ch.Points, p)
	}
	ch.Path = path.String()
	ch.BaselinePath, ch.BaselinePoints = baselineSeries(ch, id, m, xKey, xOf, yOf)
	return ch
}

// baselineSeries lays out a relative check's baseline values: a line
// (broken where a check had none) and a point per value, titled with both
// values, the ratio and the delta.
func baselineSeries(ch *chart, id string, m *analysis.MetricResult, xKey func(*analysis.Check) int, xOf func(int) float64, yOf func(float64) float64) (string, []chartPoint) {
	var path strings.Builder
	var points []chartPoint
	pen := false
	for i := range m.Checks {
		c := &m.Checks[i]
		if c.Baseline == nil || math.IsNaN(*c.Baseline) || math.IsInf(*c.Baseline, 0) {
			pen = false
			continue
		}
		x, y := xOf(xKey(c)), yOf(*c.Baseline)
		switch {
		case pen:
			path.WriteString(" L")
		case path.Len() > 0:
			path.WriteString(" M")
		default:
			path.WriteString("M")
		}
		path.WriteString(ch.px(x) + " " + ch.px(y))
		pen = true
		title := fmt.Sprintf("step %d", c.Step)
		if c.Run > 0 {
			title = fmt.Sprintf("run %d, step %d", c.Run, c.Step)
		}
		if c.HasValue {
			title += ": canary " + analysis.FormatValue(c.Value) + ", "
		} else {
			title += ": "
		}
		points = append(points, chartPoint{ID: fmt.Sprintf("%s-baseline-%d", id, i), X: x, Y: y, Class: "point baseline", Title: clean(title + baselineText(c))})
	}
	return path.String(), points
}

// niceAxis picks about n ticks at 1/2/2.5/5×10^k spacing covering [lo, hi]
// and widens the domain to the outer ticks.
func niceAxis(lo, hi float64, n int) (ticks []chartTick, nlo, nhi float64) {
	step := niceStep((hi-lo)/float64(n), false)
	nlo = math.Floor(lo/step) * step
	nhi = math.Ceil(hi/step) * step
	if nhi == nlo {
		nhi = nlo + step
	}
	decimals := 0
	for decimals < 12 {
		if f := step * math.Pow(10, float64(decimals)); math.Abs(f-math.Round(f)) < 1e-6*f {
			break
		}
		decimals++
	}
	for i := 0; ; i++ {
		v := nlo + float64(i)*step
		if v > nhi+step*1e-6 || i > 50 {
			break
		}
		ticks = append(ticks, chartTick{Pos: v, Label: tickLabel(v, step, decimals)})
	}
	return ticks, nlo, nhi
}

func tickLabel(v, step float64, decimals int) string {
	if math.Abs(v) < step*1e-6 {
		return "0"
	}
	a := math.Abs(v)
	if a >= 1e6 || a < 1e-4 {
		return strconv.FormatFloat(v, 'g', 3, 64)
	}
	return strconv.FormatFloat(v, 'f', decimals, 64)
}

// niceStep rounds x up to 1, 2, 2.5 (not for integers), 5 or 10 × 10^k.
func niceStep(x float64, integer bool) float64 {
	if x <= 0 || math.IsNaN(x) || math.IsInf(x, 0) {
		return 1
	}
	exp := math.Floor(math.Log10(x))
	base := math.Pow(10, exp)
	f := x / base
	var nf float64
	switch {
	case f <= 1:
		nf = 1
	case f <= 2:
		nf = 2
	case f <= 2.5 && !integer:
		nf = 2.5
	case f <= 5:
		nf = 5
	default:
		nf = 10
	}
	s := nf * base
	if integer && s < 1 {
		s = 1
	}
	return s
}
