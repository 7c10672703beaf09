package report

import (
	"bytes"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/extmetrics/extmetrics/internal/testutil"
	"github.com/extmetrics/extmetrics/pkg/analysis"
)

// screen is a tiny terminal emulator: it understands exactly what Progress
// may emit in live mode (text, \n, \r, ESC[nA cursor up, ESC[2K clear line,
// SGR colours) and fails on anything else.
type screen struct {
	lines []string
	row   int
}

var csi = regexp.MustCompile(`^\x1b\[([0-9;]*)([A-Za-z])`)

func (s *screen) feed(t *testing.T, out string) {
	t.Helper()
	for out != "" {
		if m := csi.FindStringSubmatch(out); m != nil {
			switch m[2] {
			case "A":
				n, _ := strconv.Atoi(m[1])
				s.row -= n
				if s.row < 0 {
					t.Fatalf("cursor moved above the first line")
				}
			case "K":
				if m[1] != "2" {
					t.Fatalf("unexpected erase %q", m[0])
				}
				s.set("")
			case "m": // colour: ignore
			default:
				t.Fatalf("unexpected escape %q", m[0])
			}
			out = out[len(m[0]):]
			continue
		}
		switch out[0] {
		case '\n':
			s.row++
		case '\r':
		case 0x1b:
			t.Fatalf("unparsed escape in %q", out)
		default:
			i := strings.IndexAny(out, "\n\r\x1b")
			if i < 0 {
				i = len(out)
			}
			s.set(s.get() + out[:i])
			out = out[i:]
			continue
		}
		out = out[1:]
	}
}

func (s *screen) get() string {
	if s.row < len(s.lines) {
		return s.lines[s.row]
	}
	return ""
}

func (s *screen) set(v string) {
	for len(s.lines) <= s.row {
		s.lines = append(s.lines, "")
	}
	s.lines[s.row] = v
}

func sampleEvents() []analysis.Event {
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	return []analysis.Event{
		{Time: at(0), Type: analysis.EventStarted, Canary: "demo/podinfo", TotalSteps: 5, Weight: 10, Threshold: 2},
		{Time: at(0), Type: analysis.EventStarted, Canary: "shop/checkout", TotalSteps: 5, Weight: 10, Threshold: 2},
		{Time: at(30), Type: analysis.EventCheck, Canary: "demo/podinfo", Step: 1, Run: 1, TotalSteps: 5, Weight: 10, Threshold: 2,
			Check: &analysis.Check{Metric: "error-rate", Step: 1, Run: 1, Weight: 10, HasValue: true, Value: 0.42, Min: fp(0), Max: fp(1), Passed: true}},
		{Time: at(30), Type: analysis.EventCheck, Canary: "shop/checkout", Step: 1, Run: 1, TotalSteps: 5, Weight: 10, Threshold: 2, FailedChecks: 1,
			Check: &analysis.Check{Metric: "latency", Step: 1, Run: 1, Weight: 10, HasValue: true, Value: 812, Max: fp(500),
				ErrorKind: "out-of-range", Message: "value 812 is above the maximum 500"}},
		{Time: at(30), Type: analysis.EventStep, Canary: "demo/podinfo", Step: 1, Run: 1, Advanced: true, TotalSteps: 5, Weight: 10, Threshold: 2},
		{Time: at(30), Type: analysis.EventStep, Canary: "shop/checkout", Step: 1, Run: 1, TotalSteps: 5, Weight: 10, Threshold: 2, FailedChecks: 1},
		{Time: at(60), Type: analysis.EventCheck, Canary: "shop/checkout", Step: 1, Run: 2, TotalSteps: 5, Weight: 10, Threshold: 2, FailedChecks: 2,
			Check: &analysis.Check{Metric: "latency", Step: 1, Run: 2, Weight: 10, Max: fp(500), ErrorKind: "no-data", Message: "no values"}},
		{Time: at(60), Type: analysis.EventVerdict, Canary: "shop/checkout", Step: 0, Run: 2, TotalSteps: 5, Weight: 10, Threshold: 2, FailedChecks: 2,
			Verdict: analysis.Failed, Reason: "failed checks (2) reached the threshold (2)"},
		{Time: at(60), Type: analysis.EventCheck, Canary: "demo/podinfo", Step: 2, Run: 2, TotalSteps: 5, Weight: 20, Threshold: 2,
			Check: &analysis.Check{Metric: "error-rate", Step: 2, Run: 2, Weight: 20, HasValue: true, Value: 0.12, Min: fp(0), Max: fp(1), Passed: true}},
		{Time: at(60), Type: analysis.EventStep, Canary: "demo/podinfo", Step: 2, Run: 2, Advanced: true, TotalSteps: 5, Weight: 20, Threshold: 2},
	}
}

func TestProgressTerminal(t *testing.T) {
	t.Setenv("NO_COLOR", "")
	t.Setenv("TERM", "xterm-256color")
	var out bytes.Buffer
	p := NewProgress(&out, true)
	var scr screen
	for _, e := range sampleEvents() {
		out.Reset()
		p.Observe(e)
		scr.feed(t, out.String())
		if scr.row != len(scr.lines) || scr.row > 2 {
			t.Fatalf("after %s of %s the cursor is on row %d of %d lines", e.Type, e.Canary, scr.row, len(scr.lines))
		}
	}
	if p.Err() != nil {
		t.Fatal(p.Err())
	}
	want := []string{
		"▸ demo/podinfo  step 2/5  weight 20%  failed 0/2  ✓ error-rate 0.12 [0, 1]",
		"✗ shop/checkout  passed 0/5 (run 2)  weight 10%  failed 2/2  ✗ latency no-data  Failed: failed checks (2) reached the threshold (2)",
	}
	if strings.Join(scr.lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("screen:\n%s\nwant:\n%s", strings.Join(scr.lines, "\n"), strings.Join(want, "\n"))
	}
	if !strings.Contains(out.String(), "\x1b[32m") {
		t.Error("expected colour on a terminal without NO_COLOR")
	}
}

func TestProgressOutOfRangeAndWidth(t *testing.T) {
	t.Setenv("NO_COLOR", "1")
	t.Setenv("TERM", "xterm")
	var out bytes.Buffer
	p := NewProgress(&out, true)
	evs := sampleEvents()
	p.Observe(evs[1])
	p.Observe(evs[3])
	var scr screen
	scr.feed(t, out.String())
	if got := scr.lines[0]; got != "▸ shop/checkout  step 1/5  weight 10%  failed 1/2  ✗ latency 812 > 500" {
		t.Errorf("line = %q", got)
	}
	if strings.Contains(out.String(), "\x1b[3") || strings.Contains(out.String(), "\x1b[1m") {
		t.Error("NO_COLOR set but colours written")
	}
	// A narrow terminal: lines are cut so they never wrap.
	p.SetWidth(30)
	out.Reset()
	p.Observe(evs[5])
	scr.feed(t, out.String())
	if got := scr.lines[0]; len([]rune(got)) != 29 || !strings.HasSuffix(got, "…") {
		t.Errorf("cut line = %q (%d runes)", got, len([]rune(got)))
	}
}

func TestProgressLog(t *testing.T) {
	var out bytes.Buffer
	p := NewProgress(&out, false)
	for _, e := range sampleEvents() {
		p.Observe(e)
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != len(sampleEvents()) {
		t.Fatalf("%d lines for %d events:\n%s", len(lines), len(sampleEvents()), out.String())
	}
	want := map[int]string{
		0: "2026-11-27T18:00:00.000Z demo/podinfo started step=0/5 weight=10 failed=0/2",
		2: "2026-11-27T18:00:30.000Z demo/podinfo check metric=error-rate step=1 run=1 weight=10 value=0.42 range=[0,1] result=pass failed=0/2",
		3: `2026-11-27T18:00:30.000Z shop/checkout check metric=latency step=1 run=1 weight=10 value=812 range=[-inf,500] result=fail kind=out-of-range message="value 812 is above the maximum 500" failed=1/2`,
		5: "2026-11-27T18:00:30.000Z shop/checkout step step=1/5 run=1 advanced=false weight=10 failed=1/2",
		6: "2026-11-27T18:01:00.000Z shop/checkout check metric=latency step=1 run=2 weight=10 value=none range=[-inf,500] result=fail kind=no-data message=\"no values\" failed=2/2",
		7: `2026-11-27T18:01:00.000Z shop/checkout verdict verdict=Failed passed=0/5 runs=2 failed=2/2 reason="failed checks (2) reached the threshold (2)"`,
	}
	for i, w := range want {
		if lines[i] != w {
			t.Errorf("line %d:\n got %s\nwant %s", i, lines[i], w)
		}
	}
	if strings.Contains(out.String(), "\x1b") {
		t.Error("escape sequences in log output")
	}
}

func TestProgressHostileNames(t *testing.T) {
	ev := analysis.Event{Type: analysis.EventCheck, Canary: "ns/x\x1b[2J", Step: 1, Run: 1,
		Check: &analysis.Check{Metric: "m\x1b]0;pwned\x07\nfake line", Step: 1, Run: 1, ErrorKind: "unavailable",
			Message: "boom\r\n\x1b[31mred"}}
	for _, tty := range []bool{true, false} {
		var out bytes.Buffer
		p := NewProgress(&out, tty)
		p.Observe(ev)
		s := out.String()
		if strings.Contains(s, "\x1b[2J") || strings.Contains(s, "\x1b]0") || strings.Contains(s, "\x07") ||
			strings.Contains(s, "\x1b[31mred") {
			t.Errorf("tty=%v: control sequence from input reached the output: %q", tty, s)
		}
		if strings.Count(s, "\n") != 1 {
			t.Errorf("tty=%v: one event must stay one line: %q", tty, s)
		}
	}
}

// TestProgressConcurrent runs Observe from many goroutines (meaningful under
// -race) and checks that no line was torn.
func TestProgressConcurrent(t *testing.T) {
	const goroutines, each = 8, 150
	for _, tty := range []bool{false, true} {
		t.Run(fmt.Sprintf("tty=%v", tty), func(t *testing.T) {
			t.Setenv("TERM", "xterm")
			var out testutil.Buffer
			p := NewProgress(&out, tty)
			var wg sync.WaitGroup
			for g := range goroutines {
				wg.Add(1)
				go func() {
					defer wg.Done()
					canary := fmt.Sprintf("ns/canary-%d", g%4)
					for i := 1; i <= each; i++ {
						p.Observe(analysis.Event{Type: analysis.EventCheck, Canary: canary, Step: i, Run: i, TotalSteps: each,
							Check: &analysis.Check{Metric: fmt.Sprintf("m%d", g), Step: i, Run: i, HasValue: true, Value: float64(i), Passed: true}})
					}
				}()
			}
			wg.Wait()
			s := out.String()
			if !tty {
				lines := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
				if len(lines) != goroutines*each {
					t.Fatalf("lines = %d, want %d", len(lines), goroutines*each)
				}
				line := regexp.MustCompile(`^\S+ ns/canary-\d check metric=m\d step=\d+ run=\d+ value=\d+ range=\[-inf,\+inf\] result=pass failed=0$`)
				for _, l := range lines {
					if !line.MatchString(l) {
						t.Fatalf("torn or malformed line %q", l)
					}
				}
				return
			}
			var scr screen
			scr.feed(t, s)
			if len(scr.lines) != 4 || scr.row != 4 {
				t.Fatalf("want a block of 4 canary lines, got %q (row %d)", scr.lines, scr.row)
			}
			for _, l := range scr.lines {
				if !strings.Contains(l, "step 150/150") {
					t.Errorf("final line should show the last step: %q", l)
				}
			}
		})
	}
}

func TestIsTerminal(t *testing.T) {
	if IsTerminal(nil) {
		t.Error("nil is not a terminal")
	}
	f, err := createTemp(t)
	if err != nil {
		t.Fatal(err)
	}
	if IsTerminal(f) {
		t.Error("a regular file is not a terminal")
	}
}
