package loadtest

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
)

// WriteText prints a result for people.
func WriteText(w io.Writer, r *Result) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(k, format string, a ...any) { fmt.Fprintf(tw, "%s\t"+format+"\n", append([]any{k}, a...)...) }

	target := r.Target
	if r.Paths > 1 {
		target += fmt.Sprintf(" (and %d more paths, in turn)", r.Paths-1)
	}
	row("target", "%s", target)
	first := fmt.Sprintf("first answer %d", r.FirstStatus)
	if r.FirstKind != "" {
		first += fmt.Sprintf(" %s with %d item(s)", r.FirstKind, r.FirstItems)
	}
	row("protocol", "%s via %s, %d clients on %d connections; %s", r.Protocol, r.Client, r.Concurrency, r.Connections, first)
	limit := fmt.Sprintf("limit %s", fmtSeconds(r.DurationSec))
	if r.RequestLimit > 0 {
		limit += fmt.Sprintf(" or %d requests", r.RequestLimit)
	}
	if r.Interrupted {
		limit += ", INTERRUPTED"
	}
	row("duration", "%s (%s)", fmtSeconds(r.ElapsedSec), limit)
	row("throughput", "%.0f req/s (%d requests, %d ok, %d errors)", r.RequestsPerSec, r.Requests, r.OK, r.Errors)
	l := r.Latency
	row("latency", "p50 %s  p90 %s  p99 %s  p99.9 %s  max %s  (mean %s)", fmtMs(l.P50), fmtMs(l.P90), fmtMs(l.P99), fmtMs(l.P999), fmtMs(l.Max), fmtMs(l.Mean))
	row("status", "%s", fmtCounts(r.Status))
	if len(r.TransportErrors) > 0 {
		row("errors", "%s", fmtCounts(r.TransportErrors))
	}
	per := 0.0
	if r.Responses > 0 {
		per = float64(r.BytesReceived) / float64(r.Responses)
	}
	row("received", "%s in bodies (%.0f B per response)", fmtBytes(r.BytesReceived), per)
	if s := r.Server; s != nil {
		var parts []string
		if s.RSSBytes > 0 {
			parts = append(parts, "RSS "+fmtBytes(s.RSSBytes))
		}
		if s.AnonRSSBytes > 0 || s.FileRSSBytes > 0 {
			parts[len(parts)-1] += fmt.Sprintf(" (anon %s + file %s)", fmtBytes(s.AnonRSSBytes), fmtBytes(s.FileRSSBytes))
		}
		if s.PeakRSSBytes > 0 {
			parts = append(parts, "peak "+fmtBytes(s.PeakRSSBytes))
		}
		if s.IdleRSSBytes > 0 {
			parts = append(parts, "before load "+fmtBytes(s.IdleRSSBytes))
		}
		if s.CPUSeconds > 0 {
			parts = append(parts, fmt.Sprintf("CPU %.2f s", s.CPUSeconds))
		}
		if s.Note != "" {
			parts = append(parts, s.Note)
		}
		row("server", "%s (from %s)", strings.Join(parts, ", "), s.Source)
	}
	row("client", "CPU %.2f s", r.ClientCPUSeconds)
	if rd := r.Ready; rd != nil {
		row("ready", "%s after exec (listening line after %s)", fmtMs(rd.ReadyMs), fmtMs(rd.ListeningMs))
	}
	row("load average", "%.2f %.2f %.2f at start, %.2f %.2f %.2f at end",
		r.LoadAvgStart[0], r.LoadAvgStart[1], r.LoadAvgStart[2], r.LoadAvgEnd[0], r.LoadAvgEnd[1], r.LoadAvgEnd[2])
	return tw.Flush()
}

func fmtSeconds(s float64) string { return strconv.FormatFloat(s, 'f', 2, 64) + " s" }

func fmtMs(v float64) string {
	switch {
	case v < 1:
		return fmt.Sprintf("%.0f µs", v*1000)
	case v < 10:
		return fmt.Sprintf("%.2f ms", v)
	case v < 100:
		return fmt.Sprintf("%.1f ms", v)
	}
	return fmt.Sprintf("%.0f ms", v)
}

func fmtBytes(b uint64) string {
	switch {
	case b >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(b)/(1<<30))
	case b >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20))
	case b >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(b)/(1<<10))
	}
	return fmt.Sprintf("%d B", b)
}

func fmtCounts(m map[string]uint64) string {
	if len(m) == 0 {
		return "none"
	}
	keys := slices.Sorted(maps.Keys(m))
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s: %d", k, m[k])
	}
	return strings.Join(parts, ", ")
}
