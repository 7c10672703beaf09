package scenario

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/utils/clock"
)

const selectorScenario = `metrics:
  - name: http_requests
    labels: {app: web, track: primary, env: prod}
    value: 1
  - name: http_requests
    labels: {app: web, track: canary, env: prod}
    value: 2
  - name: http_requests
    labels: {app: api, track: primary}
    value: 3
  - name: http_requests
    namespace: shop
    labels: {app: web, track: primary}
    value: 4
  - name: Mixed_Case
    value: 5
  - name: datadogmetric@default:checkout-error-rate
    value: 6
`

func lookupValues(t *testing.T, s *Store, ns, metric, selector string) ([]float64, bool) {
	t.Helper()
	sel, err := labels.Parse(selector)
	if err != nil {
		t.Fatalf("selector %q: %v", selector, err)
	}
	vals, known := s.Lookup(ns, metric, sel)
	out := make([]float64, 0, len(vals))
	for _, v := range vals {
		out = append(out, v.Value)
	}
	return out, known
}

func TestLookupSelectors(t *testing.T) {
	s, _ := storeWith(t, selectorScenario)
	for _, c := range []struct {
		ns, metric, sel string
		want            []float64
		known           bool
	}{
		{"default", "http_requests", "", []float64{1, 2, 3}, true},
		{"", "http_requests", "", []float64{1, 2, 3, 4}, true},
		{"shop", "http_requests", "", []float64{4}, true},
		{"default", "http_requests", "app=web", []float64{1, 2}, true},
		{"default", "http_requests", "app==web,track=canary", []float64{2}, true},
		{"default", "http_requests", "track!=canary", []float64{1, 3}, true},
		{"default", "http_requests", "track in (canary, primary),app=web", []float64{1, 2}, true},
		{"default", "http_requests", "app notin (web)", []float64{3}, true},
		{"default", "http_requests", "env", []float64{1, 2}, true},
		{"default", "http_requests", "!env", []float64{3}, true},
		{"default", "http_requests", "app=nothing", []float64{}, true},
		{"", "http_requests", "app=web,track=primary", []float64{1, 4}, true},
		{"other", "http_requests", "", []float64{}, false},
		{"default", "no_such_metric", "", []float64{}, false},
		// Names compare exactly (the devserver lowercases requests itself for
		// the datadog profile, as the Cluster Agent does).
		{"default", "HTTP_REQUESTS", "app=api", []float64{}, false},
		{"default", "mixed_case", "", []float64{}, false},
		{"default", "Mixed_Case", "", []float64{5}, true},
		{"", "DatadogMetric@default:Checkout-Error-Rate", "", []float64{}, false},
		{"", "datadogmetric@default:checkout-error-rate", "", []float64{6}, true},
	} {
		got, known := lookupValues(t, s, c.ns, c.metric, c.sel)
		if known != c.known || fmt.Sprint(got) != fmt.Sprint(c.want) {
			t.Errorf("%s/%s?%s: got %v known=%v, want %v known=%v", c.ns, c.metric, c.sel, got, known, c.want, c.known)
		}
		// AppendLookup with a prepared Matcher, into a reused array, agrees.
		sel, _ := labels.Parse(c.sel)
		dst := make([]Value, 1, 8)
		vals, known := s.AppendLookup(dst, c.ns, c.metric, NewMatcher(sel))
		got = got[:0]
		for _, v := range vals[1:] {
			got = append(got, v.Value)
		}
		if known != c.known || fmt.Sprint(got) != fmt.Sprint(c.want) || len(vals) > 1 && &vals[0] != &dst[0] {
			t.Errorf("AppendLookup %s/%s?%s: got %v known=%v, want %v known=%v (or a new array)", c.ns, c.metric, c.sel, got, known, c.want, c.known)
		}
	}
	vals, _ := s.Lookup("default", "Mixed_Case", nil)
	if len(vals) != 1 || vals[0].Metric != "Mixed_Case" || vals[0].Labels == nil {
		t.Errorf("name as written and non-nil labels: %+v", vals)
	}
	if got := s.MetricNames(); fmt.Sprint(got) != "[Mixed_Case datadogmetric@default:checkout-error-rate http_requests]" {
		t.Errorf("MetricNames: %v", got)
	}
}

func TestSetDelete(t *testing.T) {
	s, clk := storeWith(t, `metrics:
  - name: m
    labels: {app: web}
    windowSeconds: 30
    timestampOffset: -1m
    value: {sequence: [1, 2, 3]}
`)
	one(t, s, "m")
	// Replace: value changes, window and offset stay, polls restart.
	if err := s.Set("default", "m", map[string]string{"app": "web"}, "1500m"); err != nil {
		t.Fatal(err)
	}
	v := one(t, s, "m")
	if v.Value != 1.5 || v.Metric != "m" || *v.WindowSeconds != 30 || !v.Timestamp.Equal(clk.Now().Add(-time.Minute)) {
		t.Errorf("replaced: %+v", v)
	}
	// Add a second series and a new metric.
	if err := s.Set("default", "m", map[string]string{"app": "api"}, "2.5"); err != nil {
		t.Fatal(err)
	}
	if err := s.Set("shop", "new_metric", nil, "-3e2"); err != nil {
		t.Fatal(err)
	}
	if got, _ := lookupValues(t, s, "default", "m", ""); fmt.Sprint(got) != "[1.5 2.5]" {
		t.Errorf("after add: %v", got)
	}
	if got, known := lookupValues(t, s, "shop", "new_metric", ""); !known || fmt.Sprint(got) != "[-300]" {
		t.Errorf("new metric: %v %v", got, known)
	}
	if got := s.MetricNames(); fmt.Sprint(got) != "[m new_metric]" {
		t.Errorf("names: %v", got)
	}
	// Bad input is refused, naming what was wrong.
	for _, c := range []struct {
		ns, name string
		lbls     map[string]string
		value    string
		want     string
	}{
		{"default", "m", nil, "abc", `invalid value "abc": want a number or a quantity such as "1500m"`},
		{"default", "m", nil, "NaN", `invalid value "NaN": not a finite number`},
		{"default", "m", nil, "1e300", `invalid value "1e300": magnitude above`},
		{"Bad_NS", "m", nil, "1", `invalid namespace "Bad_NS"`},
		{"default", "a b", nil, "1", `invalid metric name "a b"`},
		{"default", "m", map[string]string{"app": "a b"}, "1", `invalid value "a b" for label "app"`},
		{"default", "m", map[string]string{"": "x"}, "1", `invalid label key ""`},
	} {
		err := s.Set(c.ns, c.name, c.lbls, c.value)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Set(%q,%q,%v,%q): %v, want %q", c.ns, c.name, c.lbls, c.value, err, c.want)
		}
	}
	// Delete: exact labels only.
	if s.Delete("default", "m", map[string]string{}) {
		t.Error("deleted with wrong labels")
	}
	if !s.Delete("default", "m", map[string]string{"app": "web"}) {
		t.Error("delete failed")
	}
	if s.Delete("default", "m", map[string]string{"app": "web"}) {
		t.Error("deleted twice")
	}
	if s.Delete("shop", "NEW_METRIC", nil) {
		t.Error("deleted a metric written in another case")
	}
	if !s.Delete("shop", "new_metric", nil) {
		t.Error("delete with nil labels failed")
	}
	if _, known := s.Lookup("", "new_metric", nil); known {
		t.Error("deleted metric still known")
	}
	if got := s.MetricNames(); fmt.Sprint(got) != "[m]" {
		t.Errorf("names after delete: %v", got)
	}
	st := s.Snapshot()
	if len(st.Series) != 1 || st.Series[0].Source != "admin" || st.Series[0].Value != "2500m" {
		t.Errorf("state: %+v", st)
	}
	// Load replaces admin series too and restarts polls; start time stays.
	start := s.Start()
	sc, err := Parse("x", []byte("metrics:\n  - name: x\n    value: {sequence: [7, 8]}\n"))
	if err != nil {
		t.Fatal(err)
	}
	s.Load(sc)
	if _, known := s.Lookup("", "m", nil); known || one(t, s, "x").Value != 7 || !s.Start().Equal(start) {
		t.Error("Load did not replace")
	}
	s.Load(nil)
	if len(s.MetricNames()) != 0 {
		t.Error("Load(nil) did not empty")
	}
}

func TestFaultPrecedence(t *testing.T) {
	s, _ := storeWith(t, `faults:
  - latency: 50ms
  - metric: HTTP_Errors
    status: 503
    probability: 0.2
metrics:
  - name: http_errors
    value: 1
`)
	global := Fault{Latency: 50 * time.Millisecond}
	own := Fault{Status: 503, Probability: 0.2}
	if f := s.Fault("HTTP_Errors"); f != own {
		t.Errorf("own fault: %+v", f)
	}
	// Another case is another metric: it must not get HTTP_Errors' fault.
	if f := s.Fault("http_errors"); f != global {
		t.Errorf("other case: %+v", f)
	}
	if f := s.Fault("other"); f != global {
		t.Errorf("global: %+v", f)
	}
	s.SetFault("other", Fault{Reset: true})
	if f := s.Fault("other"); f != (Fault{Reset: true}) {
		t.Errorf("set: %+v", f)
	}
	if f := s.Fault("Other"); f != global {
		t.Errorf("set, other case: %+v", f)
	}
	s.SetFault("other", Fault{})
	if f := s.Fault("other"); f != global {
		t.Errorf("cleared metric fault falls back to global: %+v", f)
	}
	s.SetFault("", Fault{})
	if f := s.Fault("other"); !f.IsZero() {
		t.Errorf("cleared global: %+v", f)
	}
	s.SetFault("*", Fault{Truncate: true})
	if f := s.Fault("x"); f != (Fault{Truncate: true}) {
		t.Errorf(`"*" is global: %+v`, f)
	}
	// State lists faults with names as written, "*" for global, durations as strings.
	b, err := json.Marshal(s.Snapshot())
	if err != nil {
		t.Fatal(err)
	}
	var st struct {
		Series []map[string]any
		Faults map[string]map[string]any
	}
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatal(err)
	}
	if st.Faults["*"]["truncate"] != true || st.Faults["HTTP_Errors"]["status"] != 503.0 || len(st.Faults) != 2 {
		t.Errorf("faults in state: %s", b)
	}
	if len(st.Series) != 1 || st.Series[0]["value"] != "1" || st.Series[0]["generator"] != "constant" {
		t.Errorf("series in state: %s", b)
	}
}

func TestStateDoesNotAdvance(t *testing.T) {
	s, clk := storeWith(t, `metrics:
  - name: seq
    labels: {a: b}
    windowSeconds: 10
    value: {sequence: [1, 2]}
  - name: ramp
    timestampOffset: -30s
    value: {ramp: {from: 0, to: 10, over: 10s}}
`)
	clk.Step(5 * time.Second)
	for range 3 {
		st := s.Snapshot()
		if st.Series[0].Value != "1" || st.Series[0].Polls != 0 || st.Series[1].Value != "5" || st.Elapsed != "5s" {
			t.Fatalf("state: %+v", st)
		}
	}
	st := s.Snapshot()
	if !st.Series[1].Timestamp.Equal(clk.Now().Add(-30*time.Second)) || *st.Series[0].WindowSeconds != 10 || st.Series[0].Labels["a"] != "b" {
		t.Errorf("state: %+v", st)
	}
	st.Series[0].Labels["a"] = "changed" // a copy: the store is unaffected
	if one(t, s, "seq").Labels["a"] != "b" {
		t.Error("state shares labels with the store")
	}
	if _, err := json.Marshal(s.Snapshot()); err != nil {
		t.Fatal(err)
	}
}

// Lookups, Sets, Deletes, Loads and SetFaults at once; run with -race.
func TestConcurrent(t *testing.T) {
	s, clk := storeWith(t, selectorScenario)
	sel, _ := labels.Parse("app=web")
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				vals, known := s.Lookup("", "http_requests", sel)
				if !known || len(vals) < 2 {
					t.Errorf("reader %d: %v %v", g, vals, known)
					return
				}
				_ = s.Fault("http_requests")
				_ = s.MetricNames()
				if i%50 == 0 {
					_ = s.Snapshot()
				}
			}
		}()
	}
	sc, _ := Parse("c", []byte(selectorScenario))
	for i := range 300 {
		lbls := map[string]string{"app": "web", "n": fmt.Sprint(i % 7)}
		if err := s.Set("default", "http_requests", lbls, fmt.Sprint(i)); err != nil {
			t.Fatal(err)
		}
		if i%3 == 0 {
			s.Delete("default", "http_requests", lbls)
		}
		s.SetFault("http_requests", Fault{Latency: time.Duration(i)})
		if i%100 == 0 {
			s.Load(sc)
		}
		clk.Step(time.Millisecond)
	}
	close(stop)
	wg.Wait()
}

// BenchmarkLookup: 1000 series over 100 metric names and 10 namespaces; each
// lookup selects one series of one metric in one namespace.
func BenchmarkLookup(b *testing.B) {
	s := NewStore(clock.RealClock{}) // the fake clock's mutex would dominate
	sc := &Scenario{}
	for i := range 1000 {
		sc.Metrics = append(sc.Metrics, Metric{
			Name:      fmt.Sprintf("http_requests_%d", i%100),
			Namespace: fmt.Sprintf("ns%d", i/100),
			Labels:    map[string]string{"app": "web", "track": []string{"primary", "canary"}[i%2], "n": fmt.Sprint(i)},
			Generator: Noise{Base: 10, Amplitude: 1, Seed: int64(i)},
		})
	}
	if err := sc.Validate(); err != nil {
		b.Fatal(err)
	}
	s.Load(sc)
	sel, err := labels.Parse("app=web,track in (canary)")
	if err != nil {
		b.Fatal(err)
	}
	b.Run("selector", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if vals, known := s.Lookup("ns3", "http_requests_31", sel); !known || len(vals) != 1 {
					b.Fatalf("got %v", vals)
				}
			}
		})
	})
	b.Run("selector-serial", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if vals, known := s.Lookup("ns3", "http_requests_31", sel); !known || len(vals) != 1 {
				b.Fatalf("got %v", vals)
			}
		}
	})
	b.Run("all-namespaces", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if vals, _ := s.Lookup("", "HTTP_Requests_7", nil); len(vals) != 10 {
				b.Fatalf("got %d", len(vals))
			}
		}
	})
	b.Run("unknown", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, known := s.Lookup("ns1", "nope", sel); known {
				b.Fatal("known")
			}
		}
	})
	names := s.MetricNames()
	if !sort.StringsAreSorted(names) || len(names) != 100 {
		b.Fatal("names")
	}
}

// abc and ABC are two metrics: both load, each has its own value and
// fault, and a fault of one never reaches the other.
func TestNamesDifferingInCase(t *testing.T) {
	s, _ := storeWith(t, `faults:
  - metric: ABC
    status: 503
metrics:
  - name: abc
    value: 1
  - name: ABC
    value: 2
`)
	if v := one(t, s, "abc"); v.Value != 1 {
		t.Errorf("abc: %+v", v)
	}
	if v := one(t, s, "ABC"); v.Value != 2 {
		t.Errorf("ABC: %+v", v)
	}
	if f := s.Fault("abc"); f != (Fault{}) {
		t.Errorf("abc got ABC's fault: %+v", f)
	}
	if f := s.Fault("ABC"); f.Status != 503 {
		t.Errorf("ABC fault: %+v", f)
	}
}
