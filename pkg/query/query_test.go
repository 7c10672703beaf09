package query

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/labels"
)

// Flagger's own cases for its externalmetrics parser
// (fluxcd/flagger pkg/metrics/providers/externalmetrics_test.go, ParseQuery and
// RunQuery), restated as a table: each must hold unchanged here.
func TestFlaggerCompatibility(t *testing.T) {
	cases := []struct {
		name, query, ns, metric, selector string
		wantErr                           bool
	}{
		{name: "general case", query: "default/myMetric?labelSelector=label1%3Dvalue1",
			ns: "default", metric: "myMetric", selector: labels.Set{"label1": "value1"}.AsSelector().String()},
		{name: "without labelSelector", query: "default/myMetric",
			ns: "default", metric: "myMetric", selector: labels.Everything().String()},
		{name: "no namespace uses default", query: "/metric_only",
			ns: "default", metric: "metric_only", selector: labels.Everything().String()},
		{name: "missing metric name, namespace only", query: "namespaceonly/", wantErr: true},
		{name: "missing metric name, slash only", query: "/", wantErr: true},
		{name: "missing metric name, empty", query: "", wantErr: true},
		// RunQuery cases
		{name: "namespace and metric", query: "namespace/myMetric", ns: "namespace", metric: "myMetric"},
		{name: "metric only", query: "myMetric", ns: "default", metric: "myMetric"},
		// Flagger's parser rejects more than two path segments.
		{name: "too many slashes", query: "a/b/c", wantErr: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			q, err := Parse(c.query)
			if c.wantErr {
				if err == nil {
					t.Fatalf("Parse(%q) = %+v, want error", c.query, q)
				}
				if !errors.Is(err, ErrInvalid) {
					t.Fatalf("error %v does not wrap ErrInvalid", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse(%q): %v", c.query, err)
			}
			if q.Namespace != c.ns || q.Metric != c.metric || q.Selector != c.selector {
				t.Fatalf("Parse(%q) = %+v, want ns=%q metric=%q selector=%q", c.query, q, c.ns, c.metric, c.selector)
			}
		})
	}
}

func TestParse(t *testing.T) {
	cases := []struct {
		in   string
		want Query
		str  string // canonical form
	}{
		{"m", Query{Namespace: "default", Metric: "m"}, "default/m"},
		{"  prod/requests \n", Query{Namespace: "prod", Metric: "requests"}, "prod/requests"},
		{"prod/requests?labelSelector=app%3Dweb\n", Query{Namespace: "prod", Metric: "requests", Selector: "app=web"}, "prod/requests?labelSelector=app=web"},
		{"/x?labelSelector=env=prod,app=web", Query{Namespace: "default", Metric: "x", Selector: "app=web,env=prod"}, "default/x?labelSelector=app=web,env=prod"},
		{"x?labelSelector=env%3Dprod%2Capp%3Dweb", Query{Namespace: "default", Metric: "x", Selector: "app=web,env=prod"}, "default/x?labelSelector=app=web,env=prod"},
		{"x?labelSelector=env in (b,a)", Query{Namespace: "default", Metric: "x", Selector: "env in (a,b)"}, "default/x?labelSelector=env in (a,b)"},
		{"x?labelSelector=env+in+%28a%2Cb%29", Query{Namespace: "default", Metric: "x", Selector: "env in (a,b)"}, "default/x?labelSelector=env in (a,b)"},
		{"x?labelSelector=env!=dev,!canary,tier", Query{Namespace: "default", Metric: "x", Selector: "!canary,env!=dev,tier"}, "default/x?labelSelector=!canary,env!=dev,tier"},
		{"x?labelSelector=", Query{Namespace: "default", Metric: "x"}, "default/x"},
		{"x?", Query{Namespace: "default", Metric: "x"}, "default/x"},
		{"datadog/datadogmetric@istio-system:request-count", Query{Namespace: "datadog", Metric: "datadogmetric@istio-system:request-count"}, "datadog/datadogmetric@istio-system:request-count"},
		{"my%3Ametric", Query{Namespace: "default", Metric: "my:metric"}, "default/my:metric"},
		{"job:http_requests:rate5m?aggregate=sum", Query{Namespace: "default", Metric: "job:http_requests:rate5m", Aggregate: Sum}, "default/job:http_requests:rate5m?aggregate=sum"},
		{"x?aggregate=first", Query{Namespace: "default", Metric: "x", Aggregate: First}, "default/x?aggregate=first"},
		{"x?aggregate=AVG", Query{Namespace: "default", Metric: "x", Aggregate: Avg}, "default/x?aggregate=avg"},
		{"x?maxAge=90s&aggregate=max&labelSelector=a=b", Query{Namespace: "default", Metric: "x", Selector: "a=b", Aggregate: Max, MaxAge: 90 * time.Second},
			"default/x?labelSelector=a=b&aggregate=max&maxAge=1m30s"},
		{"x?maxAge=5m&aggregate=count", Query{Namespace: "default", Metric: "x", Aggregate: Count, MaxAge: 5 * time.Minute}, "default/x?aggregate=count&maxAge=5m0s"},
	}
	for _, c := range cases {
		q, err := Parse(c.in)
		if err != nil {
			t.Errorf("Parse(%q): %v", c.in, err)
			continue
		}
		if q != c.want {
			t.Errorf("Parse(%q) = %+v, want %+v", c.in, q, c.want)
		}
		if s := q.String(); s != c.str {
			t.Errorf("Parse(%q).String() = %q, want %q", c.in, s, c.str)
		}
		if q2, err := Parse(q.String()); err != nil || q2 != q {
			t.Errorf("round trip of %q: %+v, %v", c.in, q2, err)
		}
	}
}

func TestParseErrors(t *testing.T) {
	cases := []struct {
		in      string
		part    string   // Error.Part
		mention []string // substrings the message must contain
	}{
		{"", "query", []string{"empty", "<metricName>"}},
		{" \n\t", "query", []string{"empty"}},
		{"/", "metric name", []string{"empty"}},
		{"ns/", "metric name", []string{"empty"}},
		{"ns/?labelSelector=a=b", "metric name", []string{"empty"}},
		{"a/b/c", "path", []string{"3 path segments", "at most 2"}},
		{"//m", "path", []string{"3 path segments"}},
		{"Prod/m", "namespace", []string{`"Prod"`, "RFC 1123"}},
		{"my_ns/m", "namespace", []string{`"my_ns"`}},
		{strings.Repeat("n", 64) + "/m", "namespace", []string{"63"}},
		{"ns/my metric", "metric name", []string{`' '`, "allowed"}},
		{"ns/..", "metric name", []string{`".."`}},
		{"ns/a%2Fb", "metric name", []string{`'/'`}},
		{"ns/a%zz", "metric name", []string{"escape"}},
		{"m#frag", "query", []string{"'#'", "fragment"}},
		{"m?labelselector=a=b", "parameters", []string{`"labelselector"`, "did you mean labelSelector", "allowed: labelSelector, aggregate, maxAge"}},
		{"m?foo=bar", "parameters", []string{`"foo"`, "allowed: labelSelector, aggregate, maxAge"}},
		{"m?labelSelector=a=b&labelSelector=c=d", "labelSelector", []string{"more than once"}},
		{"m?aggregate=sum&aggregate=sum", "aggregate", []string{"more than once"}},
		{"m?labelSelector", "labelSelector", []string{"no value"}},
		{"m?labelSelector=a%3", "labelSelector", []string{"escape"}},
		{"m?labelSelector=a==b==c", "labelSelector", []string{"not a label selector"}},
		{"m?labelSelector=env in (a", "labelSelector", []string{"not a label selector"}},
		{"m?labelSelector=" + strings.Repeat("x", 64) + "=v", "labelSelector", []string{"not a label selector"}},
		{"m?aggregate=median", "aggregate", []string{`"median"`, "first (default), sum, avg, min, max, count"}},
		{"m?aggregate=", "aggregate", []string{"not an aggregation"}},
		{"m?maxAge=5", "maxAge", []string{`"5"`, "duration"}},
		{"m?maxAge=-1m", "maxAge", []string{"positive"}},
		{"m?maxAge=0s", "maxAge", []string{"positive"}},
		{"m?" + strings.Repeat("&", MaxLength), "query", []string{"at most"}},
	}
	for _, c := range cases {
		q, err := Parse(c.in)
		if err == nil {
			t.Errorf("Parse(%q) = %+v, want error", c.in, q)
			continue
		}
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("Parse(%q): %v does not wrap ErrInvalid", c.in, err)
		}
		var pe *Error
		if !errors.As(err, &pe) {
			t.Errorf("Parse(%q): %T is not *Error", c.in, err)
			continue
		}
		if pe.Part != c.part {
			t.Errorf("Parse(%q): part %q, want %q (%v)", c.in, pe.Part, c.part, err)
		}
		for _, m := range c.mention {
			if !strings.Contains(err.Error(), m) {
				t.Errorf("Parse(%q): %q does not mention %q", c.in, err, m)
			}
		}
		if q != (Query{}) {
			t.Errorf("Parse(%q) returned %+v with an error", c.in, q)
		}
	}
}

func TestErrorTruncatesLongQueries(t *testing.T) {
	_, err := Parse("m?aggregate=" + strings.Repeat("z", 500))
	if err == nil || len(err.Error()) > 400 {
		t.Fatalf("error %d bytes long: %v", len(err.Error()), err)
	}
}

func TestStringOfZeroAndHandBuiltQueries(t *testing.T) {
	if s := (Query{Metric: "m"}).String(); s != "default/m" {
		t.Fatalf("got %q", s)
	}
	q := Query{Namespace: "ns", Metric: "m", Aggregate: First}
	if s := q.String(); s != "ns/m?aggregate=first" {
		t.Fatalf("explicit first is kept (it is not ambiguous): %q", s)
	}
}

func TestCacheBoundedAndEquivalent(t *testing.T) {
	for i := range cacheSize + 10 {
		s := fmt.Sprintf("ns/m%d?labelSelector=a%%3D%d", i, i)
		q, err := Parse(s)
		if err != nil || q.Metric != fmt.Sprintf("m%d", i) || q.Selector != fmt.Sprintf("a=%d", i) {
			t.Fatalf("Parse(%q) = %+v, %v", s, q, err)
		}
		if q2, c, _ := ParseCanonical(s); q2 != q || c != q.String() {
			t.Fatalf("cached %+v %q != %+v %q", q2, c, q, q.String())
		}
	}
	cache.RLock()
	n := len(cache.m)
	cache.RUnlock()
	if n > cacheSize {
		t.Fatalf("cache holds %d entries, bound %d", n, cacheSize)
	}
	// Errors are not cached, and still reported on the second call.
	for range 2 {
		if _, err := Parse("ns/"); !errors.Is(err, ErrInvalid) {
			t.Fatalf("error: %v", err)
		}
	}
}

func TestParseConcurrent(t *testing.T) {
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				s := fmt.Sprintf("m%d?aggregate=sum&maxAge=%ds", i%50, g+1)
				if q, err := Parse(s); err != nil || q.MaxAge != time.Duration(g+1)*time.Second {
					t.Errorf("Parse(%q) = %+v, %v", s, q, err)
					return
				}
			}
		}()
	}
	wg.Wait()
}

func TestMustParsePanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("no panic")
		}
	}()
	MustParse("/")
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"", "/", "ns/", "m", "/m", "a/b/c", "default/myMetric?labelSelector=label1%3Dvalue1",
		"x?labelSelector=env in (a,b)&aggregate=sum&maxAge=1m30s", "x?labelSelector=!a,b!=c,d notin (e)",
		"datadog/datadogmetric@istio-system:request-count\n", "m?labelSelector=a%3", "m?foo=1", "m#x",
		"m?maxAge=1h&maxAge=2h", "m?aggregate=COUNT", "x?labelSelector=example.com/tier=a", "x?labelSelector=a+in+(b)",
		"n/%41%42", "m?labelSelector=a=%20b", "m?labelSelector=a%2Bb=c",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		q, err := parse(s)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("Parse(%q): error %v does not wrap ErrInvalid", s, err)
			}
			return
		}
		if q.Namespace == "" || q.Metric == "" {
			t.Fatalf("Parse(%q) = %+v: empty namespace or metric", s, q)
		}
		if cq, cerr := Parse(s); cerr != nil || cq != q {
			t.Fatalf("cached Parse(%q) = %+v, %v; uncached %+v", s, cq, cerr, q)
		}
		c := q.String()
		q2, err := parse(c)
		if err != nil {
			t.Fatalf("Parse(%q) = %+v; its String %q does not parse: %v", s, q, c, err)
		}
		if q2 != q {
			t.Fatalf("Parse(%q) = %+v; Parse(%q) = %+v", s, q, c, q2)
		}
		if c2 := q2.String(); c2 != c {
			t.Fatalf("String not stable: %q then %q", c, c2)
		}
	})
}

var sink Query

var benchQueries = []struct{ name, q string }{
	{"metric", "requests"},
	{"flagger", "default/myMetric?labelSelector=label1%3Dvalue1"},
	{"full", "prod/datadogmetric@istio-system:request-count?labelSelector=app%3Dweb%2Cenv+in+%28a%2Cb%29&aggregate=sum&maxAge=2m"},
}

// BenchmarkParse is the cached path: the same query parsed again, as every
// interval of a canary analysis does.
func BenchmarkParse(b *testing.B) {
	for _, bc := range benchQueries {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				q, err := Parse(bc.q)
				if err != nil {
					b.Fatal(err)
				}
				sink = q
			}
		})
	}
}

// BenchmarkParseUncached is the full parse (parse, without the cache), selector validation included.
func BenchmarkParseUncached(b *testing.B) {
	for _, bc := range benchQueries {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				q, err := parse(bc.q)
				if err != nil {
					b.Fatal(err)
				}
				sink = q
			}
		})
	}
}

func BenchmarkString(b *testing.B) {
	q := MustParse("prod/requests?labelSelector=app=web,env in (a,b)&aggregate=sum&maxAge=2m")
	b.ReportAllocs()
	var s string
	for b.Loop() {
		s = q.String()
	}
	_ = s
}

// Positions and characters in errors are runes, not bytes.
func TestErrorsCountRunes(t *testing.T) {
	for q, want := range map[string]string{
		"mé":       `"mé" has 'é' at character 2`,
		"ns/été x": `has 'é' at character 1`,
		"é#x":      `'#' at character 2`,
	} {
		_, err := Parse(q)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", q, err, want)
		}
	}
}
