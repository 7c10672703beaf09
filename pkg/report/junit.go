package report

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/extmetrics/extmetrics/pkg/analysis"
)

// JUnit XML in the shape most CI systems read (Jenkins, GitLab, GitHub
// test-reporter actions, go-junit-report's schema): <testsuites> holding one
// <testsuite> per canary, one <testcase> per metric check, plus one
// "verdict" test case per canary so that an analysis that failed or was
// aborted without any failed check (no steps run, threshold of checks never
// reached before Ctrl-C) still shows up red.

type junitTestsuites struct {
	XMLName  xml.Name         `xml:"testsuites"`
	Name     string           `xml:"name,attr"`
	Tests    int              `xml:"tests,attr"`
	Failures int              `xml:"failures,attr"`
	Errors   int              `xml:"errors,attr"`
	Time     string           `xml:"time,attr"`
	Suites   []junitTestsuite `xml:"testsuite"`
}

type junitTestsuite struct {
	Name       string          `xml:"name,attr"`
	Tests      int             `xml:"tests,attr"`
	Failures   int             `xml:"failures,attr"`
	Errors     int             `xml:"errors,attr"`
	Skipped    int             `xml:"skipped,attr"`
	ID         int             `xml:"id,attr"`
	Package    string          `xml:"package,attr"`
	Hostname   string          `xml:"hostname,attr"`
	Time       string          `xml:"time,attr"`
	Timestamp  string          `xml:"timestamp,attr"`
	Properties []junitProperty `xml:"properties>property"`
	Testcases  []junitTestcase `xml:"testcase"`
	SystemOut  string          `xml:"system-out"`
	SystemErr  string          `xml:"system-err"`
}

type junitProperty struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

type junitTestcase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Time      string        `xml:"time,attr"`
	Failure   *junitProblem `xml:"failure,omitempty"`
	Error     *junitProblem `xml:"error,omitempty"`
	SystemOut string        `xml:"system-out,omitempty"`
}

type junitProblem struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Text    string `xml:",chardata"`
}

// junitHostname is the testsuite hostname attribute (required by the
// Ant/Jenkins schema).
var junitHostname = func() string {
	if h, err := os.Hostname(); err == nil && h != "" {
		return h
	}
	return "localhost"
}

// WriteJUnit writes r as JUnit XML. Each canary is a <testsuite> named
// "<namespace>/<name>"; each metric check a <testcase> named
// "<metric> step <n>" with classname "<namespace>.<name>", time = the query's
// latency in seconds, and a <failure message="<errorKind>: <message>"
// type="<errorKind>"> when the check failed. A final test case "verdict"
// fails when the canary's verdict is Failed and errors when it is Aborted.
func WriteJUnit(w io.Writer, r *analysis.Report) error {
	if r == nil {
		return errors.New("report: nil report")
	}
	host := junitHostname()
	doc := junitTestsuites{
		Name: "extmetrics",
		Time: seconds(span(r.Started, r.Finished)),
	}
	for ci := range r.Canaries {
		c := &r.Canaries[ci]
		class := c.Name
		if c.Namespace != "" {
			class = c.Namespace + "." + c.Name
		}
		started := c.Started
		if started.IsZero() {
			started = r.Started
		}
		s := junitTestsuite{
			Name:      canaryID(c),
			ID:        ci,
			Package:   c.Namespace,
			Hostname:  host,
			Time:      seconds(span(c.Started, c.Finished)),
			Timestamp: started.UTC().Format("2006-01-02T15:04:05"),
			Properties: []junitProperty{
				{"verdict", verdictText(c.Verdict)},
				{"reason", c.Reason},
				{"strategy", c.Strategy},
				{"mode", c.Mode},
				{"steps", strconv.Itoa(c.Steps) + "/" + strconv.Itoa(c.TotalSteps)},
				{"runs", strconv.Itoa(c.Runs)},
				{"weight", strconv.Itoa(c.Weight)},
				{"failedChecks", strconv.Itoa(c.FailedChecks)},
				{"threshold", strconv.Itoa(c.Threshold)},
				{"interval", FormatDuration(c.Interval)},
				{"source", c.Source},
			},
		}
		var out strings.Builder
		for mi := range c.Metrics {
			m := &c.Metrics[mi]
			src := "template " + m.TemplateRef
			if m.Webhook != nil {
				src = fmt.Sprintf("gate webhook %s (%s), ", m.Webhook.Name, m.Webhook.Type)
				if m.TemplateRef != "" {
					src += "template " + m.TemplateRef
				} else {
					src += "provider " + m.Provider
				}
			}
			fmt.Fprintf(&out, "metric %s: %s, range %s, query %s\n", m.Name, src, boundsText(m.Min, m.Max, m), m.Query)
			if m.BaselineQuery != "" {
				fmt.Fprintf(&out, "metric %s: baseline query %s\n", m.Name, m.BaselineQuery)
			}
			for k := range m.Checks {
				ch := &m.Checks[k]
				tc := junitTestcase{
					Name:      checkName(m.Name, ch),
					Classname: class,
					Time:      seconds(ch.Latency),
				}
				if at := ageText(ch); at != "" {
					tc.SystemOut = "data " + at
				}
				if !ch.Passed {
					tc.Failure = &junitProblem{
						Message: failureText(ch),
						Type:    failureType(ch),
						Text:    checkDetail(ch, m),
					}
					s.Failures++
				}
				s.Testcases = append(s.Testcases, tc)
			}
		}
		verdict := junitTestcase{
			Name:      "verdict",
			Classname: class,
			Time:      s.Time,
			SystemOut: fmt.Sprintf("%s: %s", verdictText(c.Verdict), c.Reason),
		}
		problem := &junitProblem{
			Message: fmt.Sprintf("canary %s: %s", verdictText(c.Verdict), c.Reason),
			Type:    verdictText(c.Verdict),
			Text: fmt.Sprintf("steps %d/%d in %d runs, weight %d, failed checks %d of threshold %d\n",
				c.Steps, c.TotalSteps, c.Runs, c.Weight, c.FailedChecks, c.Threshold),
		}
		switch c.Verdict {
		case analysis.Succeeded:
		case analysis.Failed:
			verdict.Failure = problem
			s.Failures++
		default: // Aborted, or a verdict this writer does not know: never green
			verdict.Error = problem
			s.Errors++
		}
		s.Testcases = append(s.Testcases, verdict)
		s.Tests = len(s.Testcases)
		s.SystemOut = out.String()
		doc.Tests += s.Tests
		doc.Failures += s.Failures
		doc.Errors += s.Errors
		doc.Suites = append(doc.Suites, s)
	}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return fmt.Errorf("report: writing JUnit: %w", err)
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return fmt.Errorf("report: writing JUnit: %w", err)
	}
	if _, err := io.WriteString(w, "\n"); err != nil {
		return fmt.Errorf("report: writing JUnit: %w", err)
	}
	return nil
}

func failureType(c *analysis.Check) string {
	if c.ErrorKind != "" {
		return c.ErrorKind
	}
	return "failed"
}

// checkDetail is the body of a <failure>: everything needed to reproduce.
func checkDetail(c *analysis.Check, m *analysis.MetricResult) string {
	min, max := checkBounds(c, m)
	var b strings.Builder
	fmt.Fprintf(&b, "metric:  %s\n", m.Name)
	fmt.Fprintf(&b, "step:    %d (run %d, weight %d)\n", c.Step, c.Run, c.Weight)
	if !c.Time.IsZero() {
		fmt.Fprintf(&b, "time:    %s\n", c.Time.UTC().Format(time.RFC3339Nano))
	}
	fmt.Fprintf(&b, "query:   %s\n", c.Query)
	if c.HasValue {
		fmt.Fprintf(&b, "value:   %s\n", analysis.FormatValue(c.Value))
	} else {
		fmt.Fprintf(&b, "value:   none\n")
	}
	if c.BaselineQuery != "" {
		fmt.Fprintf(&b, "baseline query: %s\n", c.BaselineQuery)
	}
	if bt := baselineText(c); bt != "" {
		fmt.Fprintf(&b, "relative: %s\n", bt)
	}
	fmt.Fprintf(&b, "range:   %s\n", boundsText(min, max, m))
	fmt.Fprintf(&b, "matched: %d\n", c.Matched)
	if at := ageText(c); at != "" {
		fmt.Fprintf(&b, "data:    %s\n", at)
	}
	fmt.Fprintf(&b, "result:  %s\n", failureText(c))
	return b.String()
}

func seconds(d time.Duration) string {
	return strconv.FormatFloat(d.Seconds(), 'f', 3, 64)
}
