package report

import (
	"math"
	"strings"
	"testing"

	"github.com/extmetrics/extmetrics/pkg/analysis"
)

func TestNiceAxis(t *testing.T) {
	for _, tc := range []struct {
		lo, hi   float64
		labels   string
		nlo, nhi float64
	}{
		{0, 1, "0 0.2 0.4 0.6 0.8 1.0", 0, 1},
		{0, 530, "0 200 400 600", 0, 600},
		{0, 0.081, "0 0.02 0.04 0.06 0.08 0.10", 0, 0.1},
		{-1, 7, "-2 0 2 4 6 8", -2, 8},
		{0, 50, "0 10 20 30 40 50", 0, 50},
		{0, 2.4, "0 0.5 1.0 1.5 2.0 2.5", 0, 2.5},
		{0, 11, "0 2.5 5.0 7.5 10.0 12.5", 0, 12.5},
		{1e6, 5e6, "1e+06 2e+06 3e+06 4e+06 5e+06", 1e6, 5e6},
	} {
		ticks, nlo, nhi := niceAxis(tc.lo, tc.hi, 5)
		var labels []string
		for _, tk := range ticks {
			labels = append(labels, tk.Label)
		}
		if got := strings.Join(labels, " "); got != tc.labels || math.Abs(nlo-tc.nlo) > 1e-9 || math.Abs(nhi-tc.nhi) > 1e-9 {
			t.Errorf("niceAxis(%g, %g) = %q [%g, %g], want %q [%g, %g]", tc.lo, tc.hi, got, nlo, nhi, tc.labels, tc.nlo, tc.nhi)
		}
	}
}

func TestChartGeometry(t *testing.T) {
	r := sampleReport()
	c := &r.Canaries[1]
	ch := buildChart("x", c, &c.Metrics[0]) // dd-error-rate: ≤ 0.05, values up to 0.081, run 4 without value
	if ch.Band == nil || ch.Band.Class != "band open-low" {
		t.Fatalf("band = %+v", ch.Band)
	}
	// The band runs from the max line down to the bottom of the plot.
	if math.Abs(ch.Band.Y+ch.Band.H-ch.PlotB) > 0.01 || ch.Band.Y <= ch.PlotY {
		t.Errorf("band %+v not between max and plot bottom %g", ch.Band, ch.PlotB)
	}
	if len(ch.Bounds) != 1 || ch.Bounds[0].Class != "bound max" || math.Abs(ch.Bounds[0].Y1-ch.Band.Y) > 0.01 {
		t.Errorf("bounds = %+v", ch.Bounds)
	}
	// Points: inside the plot, x increasing with the run, the failed one above the band.
	lastX := 0.0
	for _, p := range ch.Points {
		if p.X <= lastX || p.X < ch.PlotX || p.X > ch.PlotR || p.Y < ch.PlotY || p.Y > ch.PlotB {
			t.Errorf("point %+v outside the plot or out of order", p)
		}
		lastX = p.X
	}
	if fail := ch.Points[2]; fail.Class != "point fail" || fail.Y >= ch.Band.Y {
		t.Errorf("failed point %+v should sit above the band top %g", fail, ch.Band.Y)
	}
	if len(ch.NoValue) != 1 || ch.NoValue[0].Y != ch.PlotB || ch.NoValue[0].X <= lastX {
		t.Errorf("no-value mark %+v should be on the x axis after the last point", ch.NoValue)
	}
	if !strings.HasPrefix(ch.Path, "M") || strings.Count(ch.Path, "L") != 2 {
		t.Errorf("path %q: want one segment through three values", ch.Path)
	}

	// A gap in the values breaks the line.
	m := analysis.MetricResult{Name: "gap", Checks: []analysis.Check{
		{Step: 1, Run: 1, HasValue: true, Value: 1, Passed: true},
		{Step: 2, Run: 2, ErrorKind: "unavailable"},
		{Step: 2, Run: 3, HasValue: true, Value: 2, Passed: true},
		{Step: 3, Run: 4, HasValue: true, Value: 3, Passed: true},
	}}
	ch = buildChart("g", c, &m)
	if strings.Count(ch.Path, "M") != 2 || ch.Band != nil {
		t.Errorf("path %q band %+v: want two segments and no band", ch.Path, ch.Band)
	}
	// Constant values and no checks at all still give a usable axis.
	m = analysis.MetricResult{Name: "flat", Checks: []analysis.Check{{Step: 1, HasValue: true, Value: 5, Passed: true}}}
	if ch = buildChart("f", c, &m); len(ch.YTicks) < 2 || ch.Empty {
		t.Errorf("flat: ticks %+v", ch.YTicks)
	}
	m = analysis.MetricResult{Name: "none", Min: fp(1)}
	if ch = buildChart("n", c, &m); !ch.Empty || len(ch.YTicks) < 2 || ch.Band == nil {
		t.Errorf("empty: %+v", ch)
	}
	// NaN / Inf values do not break the geometry.
	m = analysis.MetricResult{Name: "nan", Checks: []analysis.Check{
		{Step: 1, HasValue: true, Value: math.NaN()}, {Step: 2, HasValue: true, Value: math.Inf(1)},
	}}
	ch = buildChart("nan", c, &m)
	for _, p := range ch.Points {
		if math.IsNaN(p.Y) || math.IsInf(p.Y, 0) {
			t.Errorf("point %+v has no finite position", p)
		}
	}
}
