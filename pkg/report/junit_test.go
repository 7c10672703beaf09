package report

import (
	"bytes"
	"encoding/xml"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// Written here from the JUnit XML schema used by Jenkins / Ant and by
// go-junit-report's formatter: the shape CI consumers decode.
type xTestsuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    *int         `xml:"tests,attr"`
	Failures *int         `xml:"failures,attr"`
	Errors   *int         `xml:"errors,attr"`
	Time     string       `xml:"time,attr"`
	Suites   []xTestsuite `xml:"testsuite"`
}

type xTestsuite struct {
	Name       string  `xml:"name,attr"`
	Tests      *int    `xml:"tests,attr"`
	Failures   *int    `xml:"failures,attr"`
	Errors     *int    `xml:"errors,attr"`
	Skipped    *int    `xml:"skipped,attr"`
	ID         *int    `xml:"id,attr"`
	Package    *string `xml:"package,attr"`
	Hostname   string  `xml:"hostname,attr"`
	Time       string  `xml:"time,attr"`
	Timestamp  string  `xml:"timestamp,attr"`
	Properties *struct {
		Property []struct {
			Name  string `xml:"name,attr"`
			Value string `xml:"value,attr"`
		} `xml:"property"`
	} `xml:"properties"`
	Testcases []xTestcase `xml:"testcase"`
	SystemOut *string     `xml:"system-out"`
	SystemErr *string     `xml:"system-err"`
}

type xTestcase struct {
	Name      string   `xml:"name,attr"`
	Classname string   `xml:"classname,attr"`
	Time      string   `xml:"time,attr"`
	Failure   *xResult `xml:"failure"`
	Error     *xResult `xml:"error"`
	Skipped   *xResult `xml:"skipped"`
	SystemOut string   `xml:"system-out"`
}

type xResult struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Data    string `xml:",chardata"`
}

var junitTimestamp = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$`)

func parseJUnit(t *testing.T, data []byte) xTestsuites {
	t.Helper()
	if !bytes.HasPrefix(data, []byte(`<?xml version="1.0" encoding="UTF-8"?>`)) {
		t.Errorf("missing XML declaration")
	}
	var doc xTestsuites
	if err := xml.Unmarshal(data, &doc); err != nil {
		t.Fatalf("parsing JUnit: %v\n%s", err, data)
	}
	// Schema checks: required attributes and elements, and counts that add up.
	total := [3]int{}
	for _, s := range doc.Suites {
		if s.Name == "" || s.Tests == nil || s.Failures == nil || s.Errors == nil || s.ID == nil ||
			s.Package == nil || s.Hostname == "" || s.Properties == nil || s.SystemOut == nil || s.SystemErr == nil {
			t.Errorf("suite %q lacks a required attribute or element: %+v", s.Name, s)
			continue
		}
		if !junitTimestamp.MatchString(s.Timestamp) {
			t.Errorf("suite %q timestamp %q is not an ISO 8601 time without zone", s.Name, s.Timestamp)
		}
		if _, err := strconv.ParseFloat(s.Time, 64); err != nil {
			t.Errorf("suite %q time %q: %v", s.Name, s.Time, err)
		}
		f, e := 0, 0
		for _, c := range s.Testcases {
			if c.Name == "" || c.Classname == "" {
				t.Errorf("suite %q: test case without name or classname: %+v", s.Name, c)
			}
			if _, err := strconv.ParseFloat(c.Time, 64); err != nil {
				t.Errorf("test case %q time %q: %v", c.Name, c.Time, err)
			}
			if c.Failure != nil {
				f++
			}
			if c.Error != nil {
				e++
			}
		}
		if *s.Tests != len(s.Testcases) || *s.Failures != f || *s.Errors != e {
			t.Errorf("suite %q counts tests=%d failures=%d errors=%d, cases say %d/%d/%d",
				s.Name, *s.Tests, *s.Failures, *s.Errors, len(s.Testcases), f, e)
		}
		total[0] += len(s.Testcases)
		total[1] += f
		total[2] += e
	}
	if doc.Tests == nil || doc.Failures == nil || doc.Errors == nil ||
		*doc.Tests != total[0] || *doc.Failures != total[1] || *doc.Errors != total[2] {
		t.Errorf("testsuites counts do not add up to %v", total)
	}
	return doc
}

func TestJUnit(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteJUnit(&buf, sampleReport()); err != nil {
		t.Fatal(err)
	}
	doc := parseJUnit(t, buf.Bytes())
	if len(doc.Suites) != 2 {
		t.Fatalf("suites = %d, want 2", len(doc.Suites))
	}
	ok, bad := doc.Suites[0], doc.Suites[1]
	if ok.Name != "demo/podinfo" || bad.Name != "shop/checkout" {
		t.Errorf("suite names %q, %q", ok.Name, bad.Name)
	}
	// 12 checks + verdict; one check failed (latency step 3) but the canary succeeded.
	if *ok.Tests != 13 || *ok.Failures != 1 || *ok.Errors != 0 {
		t.Errorf("podinfo counts %d/%d/%d", *ok.Tests, *ok.Failures, *ok.Errors)
	}
	// 8 checks + verdict; two failed checks and the failed verdict.
	if *bad.Tests != 9 || *bad.Failures != 3 {
		t.Errorf("checkout counts %d/%d", *bad.Tests, *bad.Failures)
	}
	cases := map[string]xTestcase{}
	for _, c := range bad.Testcases {
		if c.Classname != "shop.checkout" {
			t.Errorf("classname %q", c.Classname)
		}
		cases[c.Name] = c
	}
	if c := cases["dd-error-rate step 1"]; c.Failure != nil || c.Time != "0.005" {
		t.Errorf("step 1 should pass in 0.005 s: %+v", c)
	}
	c := cases["dd-error-rate step 3"]
	if c.Failure == nil || c.Failure.Type != "out-of-range" ||
		c.Failure.Message != "out-of-range: value 0.081 is above the maximum 0.05" ||
		!strings.Contains(c.Failure.Data, "query:   shop/datadogmetric@shop:checkout-errors") ||
		!strings.Contains(c.Failure.Data, "range:   ≤ 0.05") {
		t.Errorf("step 3 failure: %+v", c.Failure)
	}
	c = cases["dd-error-rate step 3 (run 4)"]
	if c.Failure == nil || c.Failure.Type != "no-data" || !strings.HasPrefix(c.Failure.Message, "no-data: no values for") ||
		!strings.Contains(c.Failure.Data, "value:   none") {
		t.Errorf("step 4 failure: %+v", c.Failure)
	}
	v := cases["verdict"]
	if v.Failure == nil || v.Failure.Type != "Failed" || !strings.Contains(v.Failure.Message, "reached the threshold") {
		t.Errorf("verdict case: %+v", v)
	}
	if okv := ok.Testcases[len(ok.Testcases)-1]; okv.Name != "verdict" || okv.Failure != nil || okv.Error != nil {
		t.Errorf("succeeded verdict case: %+v", okv)
	}
	if ok.Timestamp != "2026-11-27T18:00:00" || ok.Time != "180.000" {
		t.Errorf("podinfo timestamp %q time %q", ok.Timestamp, ok.Time)
	}
}

func TestJUnitHostileAndAborted(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteJUnit(&buf, hostileReport()); err != nil {
		t.Fatal(err)
	}
	doc := parseJUnit(t, buf.Bytes())
	s := doc.Suites[0]
	// 3 checks (2 failed) + verdict as an error (Aborted is never green).
	if *s.Tests != 4 || *s.Failures != 2 || *s.Errors != 1 {
		t.Errorf("counts %d/%d/%d", *s.Tests, *s.Failures, *s.Errors)
	}
	if v := s.Testcases[3]; v.Error == nil || v.Error.Type != "Aborted" {
		t.Errorf("aborted verdict: %+v", v)
	}
	if got := s.Testcases[1].Name; got != hostileName+" step 2" {
		t.Errorf("name did not survive escaping: %q", got)
	}
	if strings.Contains(buf.String(), "<script>") || strings.Contains(buf.String(), "\x1b") ||
		strings.Contains(buf.String(), "\x00") {
		t.Error("markup or control characters written raw")
	}
}
