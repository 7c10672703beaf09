package report

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"golang.org/x/term"

	"github.com/extmetrics/extmetrics/pkg/analysis"
)

// IsTerminal reports whether f is a terminal (false for nil, pipes, files).
func IsTerminal(f *os.File) bool {
	if f == nil {
		return false
	}
	return term.IsTerminal(int(f.Fd()))
}

// NewProgressTo is NewProgress redrawing in place when w is a terminal
// (an *os.File for which IsTerminal holds) and logging lines otherwise.
func NewProgressTo(w io.Writer) *Progress {
	f, _ := w.(*os.File)
	return NewProgress(w, IsTerminal(f))
}

// Progress is an analysis.Observer that shows the analysis as it runs.
//
// On a terminal it keeps one line per canary (in the order the canaries
// started) and redraws that block in place on every event with ANSI cursor
// movement: step/total, canary weight, failed checks vs threshold, the latest
// value of every metric against its range, and finally the verdict. Colours
// are dropped when NO_COLOR is set; TERM=dumb falls back to the log form.
//
// Otherwise it writes one log line per event:
//
//	2026-11-27T18:20:03.000Z demo/podinfo check metric=error-rate step=3 weight=30 value=0.42 range=[0,1] age=12s result=pass
//
// Observe is safe for concurrent use; each event is written with a single
// Write call while holding a mutex. Names and messages are stripped of control
// characters so a hostile metric name cannot drive the terminal.
type Progress struct {
	mu       sync.Mutex
	w        io.Writer
	live     bool
	color    bool
	width    int // 0: ask the terminal (if w is one), else no limit
	now      func() time.Time
	order    []*canaryState
	byName   map[string]*canaryState
	drawn    int
	err      error
	scratch  bytes.Buffer
	segments []segment
}

type canaryState struct {
	name       string
	step       int
	run        int
	total      int
	weight     int
	weightSeen bool
	failed     int
	threshold  int
	metrics    []string
	last       map[string]analysis.Check
	verdict    analysis.Verdict
	reason     string
}

// NewProgress returns a progress observer writing to w; isTTY selects the
// in-place terminal form (use IsTerminal(os.Stderr) or similar).
func NewProgress(w io.Writer, isTTY bool) *Progress {
	live := isTTY && os.Getenv("TERM") != "dumb"
	return &Progress{
		w:      w,
		live:   live,
		color:  live && os.Getenv("NO_COLOR") == "",
		now:    time.Now,
		byName: map[string]*canaryState{},
	}
}

// SetWidth sets the terminal width lines are cut to (0: ask the terminal
// when the writer is one, else do not cut).
func (p *Progress) SetWidth(cols int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.width = cols
}

// Err returns the first error writing to the output, if any.
func (p *Progress) Err() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// Observe implements analysis.Observer.
func (p *Progress) Observe(e analysis.Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	st := p.byName[e.Canary]
	if st == nil {
		st = &canaryState{name: clean(e.Canary), last: map[string]analysis.Check{}}
		p.byName[e.Canary] = st
		p.order = append(p.order, st)
	}
	st.update(e)
	p.scratch.Reset()
	if p.live {
		p.redraw(&p.scratch)
	} else {
		p.logLine(&p.scratch, e, st)
	}
	if _, err := p.w.Write(p.scratch.Bytes()); err != nil && p.err == nil {
		p.err = err
	}
}

func (st *canaryState) update(e analysis.Event) {
	if e.Run >= st.run {
		st.step = e.Step // a step repeats after a failed run: follow the latest run
	}
	st.run = max(st.run, e.Run)
	if e.TotalSteps > 0 {
		st.total = e.TotalSteps
	}
	if e.Threshold > 0 {
		st.threshold = e.Threshold
	}
	st.failed = max(st.failed, e.FailedChecks)
	if e.Weight > 0 || e.Type == analysis.EventStep {
		st.weight = e.Weight
		st.weightSeen = st.weightSeen || e.Weight > 0
	}
	if e.Check != nil {
		name := e.Check.Metric
		if _, ok := st.last[name]; !ok {
			st.metrics = append(st.metrics, name)
		}
		if prev, ok := st.last[name]; !ok || !checkBefore(e.Check, &prev) {
			st.last[name] = *e.Check
		}
	}
	if e.Type == analysis.EventVerdict || e.Verdict != "" {
		st.step = e.Step // steps passed
		st.verdict = e.Verdict
		st.reason = e.Reason
	}
}

// ---- terminal form ----

const (
	ansiReset = "\x1b[0m"
	ansiBold  = "\x1b[1m"
	ansiDim   = "\x1b[2m"
	ansiRed   = "\x1b[31m"
	ansiGreen = "\x1b[32m"
	ansiYell  = "\x1b[33m"
)

type segment struct {
	text  string
	style string
}

func (p *Progress) redraw(b *bytes.Buffer) {
	if p.drawn > 0 {
		fmt.Fprintf(b, "\x1b[%dA", p.drawn)
	}
	width := p.width
	if width == 0 {
		if f, ok := p.w.(*os.File); ok {
			if cols, _, err := term.GetSize(int(f.Fd())); err == nil {
				width = cols
			}
		}
	}
	for _, st := range p.order {
		b.WriteString("\r\x1b[2K")
		p.segments = st.line(p.segments[:0])
		p.writeSegments(b, p.segments, width-1)
		b.WriteByte('\n')
	}
	p.drawn = len(p.order)
}

// line lays out one canary's status as styled segments.
func (st *canaryState) line(segs []segment) []segment {
	add := func(text, style string) { segs = append(segs, segment{text, style}) }
	switch st.verdict {
	case analysis.Succeeded:
		add("✓ ", ansiGreen+ansiBold)
	case analysis.Failed:
		add("✗ ", ansiRed+ansiBold)
	case "":
		add("▸ ", ansiDim)
	default:
		add("■ ", ansiYell+ansiBold)
	}
	add(st.name, ansiBold)
	steps := "step " + strconv.Itoa(st.step)
	if st.verdict != "" {
		steps = "passed " + strconv.Itoa(st.step) // the verdict event carries the steps passed
	}
	if st.total > 0 {
		steps += "/" + strconv.Itoa(st.total)
	}
	if st.run > 0 && st.run != st.step {
		steps += " (run " + strconv.Itoa(st.run) + ")"
	}
	add("  "+steps, "")
	if st.weightSeen {
		add("  weight "+strconv.Itoa(st.weight)+"%", "")
	}
	failed := "  failed " + strconv.Itoa(st.failed)
	if st.threshold > 0 {
		failed += "/" + strconv.Itoa(st.threshold)
	}
	style := ""
	if st.failed > 0 {
		style = ansiRed
	}
	add(failed, style)
	for _, name := range st.metrics {
		c := st.last[name]
		if c.Passed {
			add("  ✓ ", ansiGreen)
		} else {
			add("  ✗ ", ansiRed)
		}
		text := clean(name) + " " + clean(outcomeText(&c, c.Min, c.Max))
		if !c.Newest.IsZero() {
			text += " (age " + FormatAge(c.Age) + ")"
		}
		add(text, "")
	}
	if st.verdict != "" {
		v := "  " + string(st.verdict)
		if st.reason != "" {
			v += ": " + st.reason
		}
		var vs string
		switch st.verdict {
		case analysis.Succeeded:
			vs = ansiGreen + ansiBold
		case analysis.Failed:
			vs = ansiRed + ansiBold
		default:
			vs = ansiYell + ansiBold
		}
		add(clean(v), vs)
	}
	return segs
}

// writeSegments writes segs, cutting the visible text at limit runes (no
// cut when limit < 1) so that a line never wraps and the cursor arithmetic
// of the next redraw stays right.
func (p *Progress) writeSegments(b *bytes.Buffer, segs []segment, limit int) {
	used := 0
	for _, s := range segs {
		text := s.text
		if limit > 0 {
			n := utf8.RuneCountInString(text)
			if used+n > limit {
				keep := limit - used - 1
				if keep < 0 {
					keep = 0
				}
				text = truncateRunes(text, keep) + "…"
				n = keep + 1
			}
			used += n
		}
		if p.color && s.style != "" {
			b.WriteString(s.style)
			b.WriteString(text)
			b.WriteString(ansiReset)
		} else {
			b.WriteString(text)
		}
		if limit > 0 && used >= limit {
			return
		}
	}
}

func truncateRunes(s string, n int) string {
	i := 0
	for pos := range s {
		if i == n {
			return s[:pos]
		}
		i++
	}
	return s
}

// ---- log form ----

func (p *Progress) logLine(b *bytes.Buffer, e analysis.Event, st *canaryState) {
	t := e.Time
	if t.IsZero() {
		t = p.now()
	}
	b.WriteString(t.UTC().Format("2006-01-02T15:04:05.000Z07:00"))
	b.WriteByte(' ')
	b.WriteString(logValue(e.Canary))
	b.WriteByte(' ')
	typ := string(e.Type)
	if typ == "" {
		typ = "event"
	}
	b.WriteString(logValue(typ))
	kv := func(k, v string) {
		b.WriteByte(' ')
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(logValue(v))
	}
	frac := func(a, total int) string {
		if total > 0 {
			return strconv.Itoa(a) + "/" + strconv.Itoa(total)
		}
		return strconv.Itoa(a)
	}
	switch {
	case e.Check != nil:
		c := e.Check
		kv("metric", c.Metric)
		kv("step", strconv.Itoa(c.Step))
		if c.Run > 0 {
			kv("run", strconv.Itoa(c.Run))
		}
		if st.weightSeen || c.Weight > 0 {
			kv("weight", strconv.Itoa(c.Weight))
		}
		if c.HasValue {
			kv("value", analysis.FormatValue(c.Value))
		} else {
			kv("value", "none")
		}
		kv("range", rangeASCII(c.Min, c.Max))
		if c.Baseline != nil {
			kv("baseline", analysis.FormatValue(*c.Baseline))
			ratio := "undefined"
			if c.Ratio != nil {
				ratio = analysis.FormatValue(*c.Ratio)
			}
			kv("ratio", ratio)
			if c.Delta != nil {
				kv("delta", analysis.FormatValue(*c.Delta))
			}
		}
		if !c.Newest.IsZero() {
			kv("age", FormatAge(c.Age))
		}
		if c.Passed {
			kv("result", "pass")
		} else {
			kv("result", "fail")
			if c.ErrorKind != "" {
				kv("kind", c.ErrorKind)
			}
			if c.Message != "" {
				kv("message", c.Message)
			}
		}
		kv("failed", frac(st.failed, st.threshold))
	case e.Type == analysis.EventVerdict || e.Verdict != "":
		kv("verdict", string(e.Verdict))
		kv("passed", frac(st.step, st.total))
		if st.run > 0 {
			kv("runs", strconv.Itoa(st.run))
		}
		kv("failed", frac(st.failed, st.threshold))
		if e.Reason != "" {
			kv("reason", e.Reason)
		}
	default:
		kv("step", frac(st.step, st.total))
		if e.Run > 0 {
			kv("run", strconv.Itoa(e.Run))
		}
		if e.Type == analysis.EventStep {
			kv("advanced", strconv.FormatBool(e.Advanced))
		}
		if st.weightSeen {
			kv("weight", strconv.Itoa(st.weight))
		}
		kv("failed", frac(st.failed, st.threshold))
		if e.Reason != "" {
			kv("reason", e.Reason)
		}
	}
	b.WriteByte('\n')
}

// logValue quotes v when it is empty or holds spaces, quotes, '=' or control
// characters, so that every log line stays one parseable line.
func logValue(v string) string {
	if v == "" {
		return `""`
	}
	if strings.ContainsAny(v, " \"=\\") || strings.IndexFunc(v, isControl) >= 0 || !utf8.ValidString(v) {
		return strconv.Quote(v)
	}
	return v
}
