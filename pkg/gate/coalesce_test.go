package gate_test

import (
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/extmetrics/extmetrics/pkg/devserver"
	"github.com/extmetrics/extmetrics/pkg/devserver/devservertest"
	"github.com/extmetrics/extmetrics/pkg/gate"
	"github.com/extmetrics/extmetrics/pkg/scenario"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func devGate(t testing.TB, ttl time.Duration, now func() time.Time) (*devserver.Server, *testGate) {
	s := devservertest.New(t, devserver.Config{})
	caFile, tokenFile := providerFiles(t, s, devservertest.Token)
	g := newGate(t, gate.Options{CacheTTL: ttl, Now: now, Config: &gate.Config{Providers: []gate.ProviderConfig{
		{Name: "dev", Address: s.URL(), CAFile: caFile, TokenFile: tokenFile}}}})
	return s, g
}

// 200 concurrent identical checks (through every endpoint, with different
// but equivalent query texts) become one upstream request per TTL window,
// counted on the devserver's own /metrics.
func TestCoalescing(t *testing.T) {
	clk := &clock{t: time.Now()}
	s, g := devGate(t, 10*time.Second, clk.Now)
	s.SetSeries("default", "rate", map[string]string{"app": "web"}, "250m")
	s.SetFault("rate", scenario.Fault{Latency: 500 * time.Millisecond}) // keep the first request in flight
	base := upstreamCount(t, s)

	queries := []string{"default/rate?labelSelector=app%3Dweb", "default/rate?labelSelector=app=web", " default/rate?labelSelector=app%3Dweb "}
	const n = 200
	var wg sync.WaitGroup
	answers := make([]answer, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			q := queries[i%len(queries)]
			switch i % 3 {
			case 0:
				answers[i] = g.check(t, map[string]any{"provider": "dev", "query": q, "max": 1})
			case 1:
				answers[i] = g.flagger(t, "default", "web", map[string]string{"provider": "dev", "query": q, "max": "1"})
			default:
				answers[i] = g.do(t, "GET", "/argo/v1/value?provider=dev&query="+url.QueryEscape(q), "")
			}
		}(i)
	}
	wg.Wait()
	coalesced := 0
	for i, a := range answers {
		if a.status != 200 || a.res.Value == nil || *a.res.Value != 0.25 {
			t.Fatalf("answer %d: %d %s", i, a.status, a.body)
		}
		if a.res.Coalesced || a.res.Cached {
			coalesced++
		}
	}
	if got := upstreamCount(t, s) - base; got != 1 {
		t.Fatalf("%d upstream requests for %d concurrent identical checks; want 1", got, n)
	}
	if coalesced != n-1 {
		t.Fatalf("%d answers shared or cached; want %d", coalesced, n-1)
	}

	// Within the TTL: cached. After it: one more request.
	clk.Add(9 * time.Second)
	if a := g.check(t, map[string]any{"provider": "dev", "query": queries[0], "max": 1}); !a.res.Cached {
		t.Fatalf("not cached: %s", a.body)
	}
	clk.Add(time.Second)
	if a := g.check(t, map[string]any{"provider": "dev", "query": queries[0], "max": 1}); a.res.Cached || a.status != 200 {
		t.Fatalf("cached past the TTL: %s", a.body)
	}
	if got := upstreamCount(t, s) - base; got != 2 {
		t.Fatalf("%d upstream requests after the TTL; want 2", got)
	}
	m := g.metrics(t)
	for _, want := range []string{`extmetrics_gate_cache_requests_total{result="miss"} 2`, `extmetrics_gate_upstream_duration_seconds_count{outcome="ok"} 2`} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

// Errors are never cached; a cached answer is never served once its data
// is older than the query's maxAge.
func TestCacheNeverServesErrorsOrStaleData(t *testing.T) {
	clk := &clock{t: time.Now()}
	s, g := devGate(t, time.Hour, clk.Now)
	s.SetSeries("default", "flaky", nil, "1")
	s.SetFault("flaky", scenario.Fault{Status: 500})
	base := upstreamCount(t, s)
	for i := 0; i < 2; i++ {
		if a := g.check(t, map[string]any{"provider": "dev", "query": "default/flaky", "max": 1}); a.status != 503 || a.res.Cached {
			t.Fatalf("%d %s", a.status, a.body)
		}
	}
	if got := upstreamCount(t, s) - base; got < 2 {
		t.Fatalf("error served from cache (%d upstream requests)", got)
	}
	s.SetFault("flaky", scenario.Fault{})
	if a := g.check(t, map[string]any{"provider": "dev", "query": "default/flaky", "max": 1}); a.status != 200 {
		t.Fatalf("recovered: %d %s", a.status, a.body)
	}

	// Items 30 s old, maxAge 40 s: fresh now, not 15 s later.
	s.SetSeries("default", "aging", nil, "1")
	s.SetFault("aging", scenario.Fault{StaleBy: 30 * time.Second})
	q := map[string]any{"provider": "dev", "query": "default/aging?maxAge=40s", "max": 1}
	if a := g.check(t, q); a.status != 200 || a.res.Cached {
		t.Fatalf("%d %s", a.status, a.body)
	}
	if a := g.check(t, q); !a.res.Cached {
		t.Fatalf("not cached: %s", a.body)
	}
	before := upstreamCount(t, s)
	clk.Add(15 * time.Second)
	if a := g.check(t, q); a.res.Cached {
		t.Fatalf("served from cache past maxAge: %s", a.body)
	}
	if upstreamCount(t, s) != before+1 {
		t.Fatal("no new upstream request")
	}
}

// Data older than the default bound (3 analysis intervals, at least 5m)
// fails closed unless the query or the gate says otherwise.
func TestDefaultStalenessBound(t *testing.T) {
	s, g := devGate(t, time.Minute, nil)
	s.SetSeries("default", "old", nil, "1")
	s.SetFault("old", scenario.Fault{StaleBy: 10 * time.Minute})
	q := map[string]any{"provider": "dev", "query": "default/old", "max": 1}
	a := g.check(t, q)
	if a.status != 502 || a.res.ErrorKind != "stale" || !strings.Contains(a.res.Error, "maxAge 5m0s") || !strings.Contains(a.res.Error, "default bound") {
		t.Fatalf("%d %s", a.status, a.body)
	}
	// The same cached answer passes for a caller whose interval allows it...
	q["interval"] = "5m"
	if a := g.check(t, q); a.status != 200 || !a.res.Cached {
		t.Fatalf("interval 5m: %d %s", a.status, a.body)
	}
	// ... and for a query with its own maxAge.
	if a := g.check(t, map[string]any{"provider": "dev", "query": "default/old?maxAge=11m", "max": 1}); a.status != 200 {
		t.Fatalf("own maxAge: %d %s", a.status, a.body)
	}
	// Flagger: the canary's metric interval is unknown here, so 5m.
	if a := g.flagger(t, "default", "web", map[string]string{"provider": "dev", "query": "default/old", "max": "1"}); a.status != 424 || !strings.Contains(a.body, "stale") {
		t.Fatalf("flagger: %d %s", a.status, a.body)
	}
	// --max-age -1: off.
	off := newGate(t, gate.Options{MaxAge: -1, Config: g.Registry().Config()})
	if a := off.check(t, map[string]any{"provider": "dev", "query": "default/old", "max": 1}); a.status != 200 {
		t.Fatalf("bound off: %d %s", a.status, a.body)
	}
}
