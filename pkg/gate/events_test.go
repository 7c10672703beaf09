package gate_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/extmetrics/extmetrics/pkg/devserver"
	"github.com/extmetrics/extmetrics/pkg/devserver/devservertest"
	"github.com/extmetrics/extmetrics/pkg/gate"
)

// eventLog is a gate.EventRecorder that keeps what it is given (the
// Kubernetes side is package kubeevents' and test/e2e/gate's).
type eventLog struct {
	mu     sync.Mutex
	events []gate.Event
}

func (l *eventLog) Record(e gate.Event) {
	l.mu.Lock()
	l.events = append(l.events, e)
	l.mu.Unlock()
}

// take returns the events recorded since the last take.
func (l *eventLog) take() []gate.Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := l.events
	l.events = nil
	return out
}

const eventCanaries = `
apiVersion: flagger.app/v1beta1
kind: Canary
metadata: {name: web, namespace: default}
spec:
  targetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
  analysis: {interval: 1m, threshold: 1}
---
apiVersion: flagger.app/v1beta1
kind: Canary
metadata: {name: slow, namespace: default}
spec:
  targetRef: {apiVersion: apps/v1, kind: Deployment, name: slow}
  analysis: {interval: 10m, threshold: 1}
`

func eventGate(t *testing.T, clk *clock, opts gate.Options) (*devserver.Server, *testGate, *eventLog) {
	t.Helper()
	s := devservertest.New(t, devserver.Config{})
	caFile, tokenFile := providerFiles(t, s, devservertest.Token)
	objs := objects(t, eventCanaries)
	for _, name := range []string{"web", "slow"} {
		c, err := objs.Canary("default", name)
		if err != nil {
			t.Fatal(err)
		}
		c.UID = "uid-" + name // as kubesource keeps metadata.uid
	}
	log := &eventLog{}
	opts.Objects, opts.Events, opts.Now = objs, log, clk.Now
	if opts.Config == nil {
		opts.Config = &gate.Config{Providers: []gate.ProviderConfig{{Name: "dev", Address: s.URL(), CAFile: caFile, TokenFile: tokenFile}}}
	}
	g := newGate(t, opts)
	return s, g, log
}

func oneEvent(t *testing.T, what string, got []gate.Event) gate.Event {
	t.Helper()
	if len(got) != 1 {
		t.Fatalf("%s: %d events, want 1: %+v", what, len(got), got)
	}
	return got[0]
}

// Each check of the Flagger endpoint is an Event on its Canary (with the
// Canary's UID): Normal for a pass, Warning for a fail and for an error,
// with the values, the bounds and whether the answer was cached; repeats
// of the same check and verdict within the canary's analysis interval
// record nothing more.
func TestEventsOnCanary(t *testing.T) {
	clk := &clock{t: time.Now()}
	s, g, log := eventGate(t, clk, gate.Options{CacheTTL: time.Hour})
	s.SetSeries("default", "error_rate", map[string]string{"app": "web-canary"}, "1500m")
	s.SetSeries("default", "error_rate", map[string]string{"app": "web-primary"}, "1")
	canaryObj := gate.EventObject{APIVersion: "flagger.app/v1beta1", Kind: "Canary", Namespace: "default", Name: "web", UID: "uid-web"}
	rel := func(maxRatio string) map[string]string {
		return map[string]string{"provider": "dev", "query": canaryQ + "&maxAge=24h", "baseline": primaryQ + "&maxAge=24h", "maxRatio": maxRatio}
	}

	// A pass, then 20 repeats: one Normal event.
	for i := 0; i < 21; i++ {
		if a := g.flagger(t, "default", "web", rel("2")); a.status != 200 {
			t.Fatalf("%d %s", a.status, a.body)
		}
	}
	e := oneEvent(t, "pass", log.take())
	want := gate.Event{Object: canaryObj, Type: "Normal", Reason: "CheckPassed",
		Message: `provider dev: canary 1.5, baseline 1, ratio 1.5, delta 0.5 within maxRatio 2; cached: false (query "default/error_rate?labelSelector=app=web-canary&maxAge=24h0m0s", baseline "default/error_rate?labelSelector=app=web-primary&maxAge=24h0m0s")`}
	if e != want {
		t.Fatalf("pass:\n got %+v\nwant %+v", e, want)
	}

	// A fail (another check: another bound): one Warning event.
	for i := 0; i < 20; i++ {
		if a := g.flagger(t, "default", "web", rel("1.2")); a.status != 422 {
			t.Fatalf("%d %s", a.status, a.body)
		}
	}
	e = oneEvent(t, "fail", log.take())
	if e.Object != canaryObj || e.Type != "Warning" || e.Reason != "CheckFailed" ||
		!strings.HasPrefix(e.Message, "provider dev: canary 1.5, baseline 1, ratio 1.5, delta 0.5: ratio 1.5 > maxRatio 1.2; cached: true (query ") {
		t.Fatalf("fail: %+v", e)
	}

	// An absolute check and an error (no data): Warning, with the bounds.
	abs := map[string]string{"provider": "dev", "query": "default/error_rate?labelSelector=app=web-canary&maxAge=24h", "max": "1"}
	if a := g.flagger(t, "default", "web", abs); a.status != 422 {
		t.Fatalf("%d %s", a.status, a.body)
	}
	e = oneEvent(t, "absolute fail", log.take())
	if e.Reason != "CheckFailed" || !strings.HasPrefix(e.Message, "provider dev: value 1.5 outside max 1; cached: true (query ") {
		t.Fatalf("absolute fail: %+v", e)
	}
	missing := map[string]string{"provider": "dev", "query": "default/error_rate?labelSelector=app=gone", "min": "0", "max": "1"}
	for i := 0; i < 5; i++ {
		if a := g.flagger(t, "default", "web", missing); a.status != 424 {
			t.Fatalf("%d %s", a.status, a.body)
		}
	}
	e = oneEvent(t, "no data", log.take())
	if e.Type != "Warning" || e.Reason != "CheckError" || !strings.HasPrefix(e.Message, "provider dev: no-values: ") ||
		!strings.HasSuffix(e.Message, "; bounds [0, 1]; cached: false") {
		t.Fatalf("no data: %+v", e)
	}
	// A refused webhook (a typo in its metadata) is a Warning too.
	if a := g.flagger(t, "default", "web", map[string]string{"provider": "dev", "query": canaryQ, "mx": "1"}); a.status != 400 {
		t.Fatalf("%d %s", a.status, a.body)
	}
	e = oneEvent(t, "refused", log.take())
	if e.Object != canaryObj || e.Reason != "CheckError" || !strings.Contains(e.Message, `bad-request: unknown metadata key(s) "mx"`) {
		t.Fatalf("refused: %+v", e)
	}

	// The verdict changes: recorded at once. The canary's series falls to
	// 1.1: maxRatio 1.2 now passes (a new verdict of that check).
	s.SetSeries("default", "error_rate", map[string]string{"app": "web-canary"}, "1100m")
	clk.Add(2 * time.Hour) // past the cache TTL: both sides are read again
	if a := g.flagger(t, "default", "web", rel("1.2")); a.status != 200 {
		t.Fatalf("%d %s", a.status, a.body)
	}
	e = oneEvent(t, "new verdict", log.take())
	if e.Reason != "CheckPassed" || !strings.Contains(e.Message, "ratio 1.1") {
		t.Fatalf("new verdict: %+v", e)
	}
	// Within the interval (1m) nothing more; one interval later, again.
	clk.Add(59 * time.Second)
	g.flagger(t, "default", "web", rel("1.2"))
	if got := log.take(); len(got) != 0 {
		t.Fatalf("within the interval: %+v", got)
	}
	clk.Add(time.Second)
	g.flagger(t, "default", "web", rel("1.2"))
	if e := oneEvent(t, "next interval", log.take()); e.Reason != "CheckPassed" || !strings.Contains(e.Message, "cached: true") {
		t.Fatalf("next interval: %+v", e)
	}

	// The window is the Canary's own interval (10m here), or the
	// request's interval= when it gives one.
	slow := rel("2")
	g.flagger(t, "default", "slow", slow)
	if e := oneEvent(t, "slow", log.take()); e.Object.Name != "slow" || e.Object.UID != "uid-slow" {
		t.Fatalf("slow: %+v", e)
	}
	clk.Add(9 * time.Minute)
	g.flagger(t, "default", "slow", slow)
	if got := log.take(); len(got) != 0 {
		t.Fatalf("slow canary within 10m: %+v", got)
	}
	clk.Add(time.Minute)
	g.flagger(t, "default", "slow", slow)
	oneEvent(t, "slow after 10m", log.take())

	// A Canary the gate does not know gets no event: a caller cannot make
	// the gate write events about any name.
	if a := g.flagger(t, "default", "nosuch", rel("2")); a.status != 200 {
		t.Fatalf("%d %s", a.status, a.body)
	}
	if got := log.take(); len(got) != 0 {
		t.Fatalf("unknown canary: %+v", got)
	}
	m := g.metrics(t)
	for _, want := range []string{
		`extmetrics_gate_events_total{outcome="deduplicated",type="Normal"} 22`,
		`extmetrics_gate_events_total{outcome="deduplicated",type="Warning"} 23`,
		`extmetrics_gate_events_total{outcome="no-object",type="Normal"} 1`,
		`extmetrics_gate_events_total{outcome="recorded",type="Normal"} 5`,
		`extmetrics_gate_events_total{outcome="recorded",type="Warning"} 4`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// The Argo endpoint and /v1/check record on the AnalysisRun their
// analysisRun parameter names, in the request's namespace (no UID: the
// gate may not read AnalysisRuns); without it, no event.
func TestEventsOnAnalysisRun(t *testing.T) {
	clk := &clock{t: time.Now()}
	s, g, log := eventGate(t, clk, gate.Options{CacheTTL: time.Hour})
	s.SetSeries("default", "error_rate", map[string]string{"app": "web-canary"}, "1500m")
	s.SetSeries("default", "error_rate", map[string]string{"app": "web-primary"}, "1")
	run := gate.EventObject{APIVersion: "argoproj.io/v1alpha1", Kind: "AnalysisRun", Namespace: "default", Name: "web-6d4f-2-1"}

	p := url.Values{"provider": {"dev"}, "query": {canaryQ}, "baseline": {primaryQ}, "namespace": {"default"}}
	if a, _ := argoValue(t, g, p); a.status != 200 {
		t.Fatalf("%d %s", a.status, a.body)
	}
	if got := log.take(); len(got) != 0 {
		t.Fatalf("no analysisRun, yet: %+v", got)
	}
	p.Set("analysisRun", run.Name)
	for i := 0; i < 10; i++ {
		if a, _ := argoValue(t, g, p); a.status != 200 {
			t.Fatalf("%d %s", a.status, a.body)
		}
	}
	e := oneEvent(t, "argo", log.take())
	if e.Object != run || e.Type != "Normal" || e.Reason != "CheckMeasured" ||
		!strings.HasPrefix(e.Message, "provider dev: canary 1.5, baseline 1, ratio 1.5, delta 0.5 measured (no bounds: the caller judges them); cached: true (query ") {
		t.Fatalf("argo: %+v", e)
	}
	// An error on the Argo endpoint: Warning. interval= sets the window.
	q := url.Values{"provider": {"dev"}, "query": {"default/error_rate?labelSelector=app=gone"}, "namespace": {"default"}, "analysisRun": {run.Name}, "interval": {"30s"}}
	for i := 0; i < 3; i++ {
		if a, _ := argoValue(t, g, q); a.status != 502 {
			t.Fatalf("%d %s", a.status, a.body)
		}
	}
	if e := oneEvent(t, "argo error", log.take()); e.Object != run || e.Type != "Warning" || e.Reason != "CheckError" || !strings.Contains(e.Message, "no-values") {
		t.Fatalf("argo error: %+v", e)
	}
	clk.Add(30 * time.Second)
	argoValue(t, g, q)
	oneEvent(t, "argo error after 30s", log.take())
	// A refused request still names its AnalysisRun.
	if a, _ := argoValue(t, g, url.Values{"provider": {"dev"}, "namespace": {"default"}, "analysisRun": {run.Name}, "bogus": {"1"}}); a.status != 400 {
		t.Fatalf("%d %s", a.status, a.body)
	}
	if e := oneEvent(t, "argo refused", log.take()); e.Object != run || e.Reason != "CheckError" || !strings.Contains(e.Message, `unknown parameter(s) "bogus"`) {
		t.Fatalf("argo refused: %+v", e)
	}

	// /v1/check: the body's analysisRun.
	a := g.check(t, map[string]any{"provider": "dev", "query": canaryQ, "baseline": primaryQ, "maxRatio": 2, "namespace": "default", "analysisRun": run.Name})
	if a.status != 200 {
		t.Fatalf("%d %s", a.status, a.body)
	}
	if e := oneEvent(t, "/v1/check", log.take()); e.Object != run || e.Reason != "CheckPassed" || !strings.Contains(e.Message, "within maxRatio 2") {
		t.Fatalf("/v1/check: %+v", e)
	}

	// analysisRun needs a namespace and a valid name: refused, not ignored.
	for _, c := range []map[string]any{
		{"provider": "dev", "query": canaryQ, "max": 2, "analysisRun": run.Name},
		{"provider": "dev", "query": canaryQ, "max": 2, "namespace": "default", "analysisRun": "Not_A_Name"},
	} {
		if a := g.check(t, c); a.status != 400 || !strings.Contains(a.res.Error, "analysisRun") {
			t.Fatalf("%v: %d %s", c, a.status, a.body)
		}
	}
	if got := log.take(); len(got) != 0 {
		t.Fatalf("invalid analysisRun recorded: %+v", got)
	}
	// The Flagger endpoint does not take it (Flagger names the Canary).
	if a := g.flagger(t, "default", "web", map[string]string{"provider": "dev", "query": canaryQ, "max": "2", "analysisRun": "x"}); a.status != 400 {
		t.Fatalf("%d %s", a.status, a.body)
	}
}

// Never a token in an event: not the gate's own bearer token (even when a
// caller puts it in a query), not a provider's.
func TestEventsCarryNoToken(t *testing.T) {
	clk := &clock{t: time.Now()}
	const gateToken = "gate-secret-token-4f9a"
	s := devservertest.New(t, devserver.Config{})
	caFile, _ := providerFiles(t, s, devservertest.Token)
	wrong := filepath.Join(t.TempDir(), "wrong-token")
	const providerToken = "provider-secret-token-77c1"
	if err := os.WriteFile(wrong, []byte(providerToken), 0o600); err != nil {
		t.Fatal(err)
	}
	_, g, log := eventGate(t, clk, gate.Options{AuthToken: gateToken, Config: &gate.Config{Providers: []gate.ProviderConfig{
		{Name: "dev", Address: s.URL(), CAFile: caFile, TokenFile: wrong}}}})
	auth := []string{"Authorization", "Bearer " + gateToken}
	for _, md := range []map[string]string{
		{"provider": "dev", "query": "default/m?labelSelector=app%3D" + gateToken, "max": "1"},
		{"provider": "dev", "query": "default/m", "max": "1", "variables.x": "Bearer " + providerToken},
		{"provider": "dev", "query": "default/m?labelSelector=app%3D{{ variables.x }}", "max": "1", "variables.x": gateToken},
	} {
		b := fmtf(`{"name":"web","namespace":"default","metadata":%s}`, mustJSON(t, md))
		if a := g.do(t, "POST", "/flagger/v1/check", b, auth...); a.status < 400 {
			t.Fatalf("%d %s", a.status, a.body)
		}
		clk.Add(time.Hour)
	}
	events := log.take()
	if len(events) != 3 {
		t.Fatalf("%d events, want 3: %+v", len(events), events)
	}
	for _, e := range events {
		if strings.Contains(e.Message, gateToken) || strings.Contains(e.Message, providerToken) || strings.Contains(e.Message, devservertest.Token) {
			t.Fatalf("a token in an event: %+v", e)
		}
		if e.Type != "Warning" {
			t.Fatalf("%+v", e)
		}
	}
}

// The de-duplication memory is bounded: beyond gate.MaxEventKeys distinct
// (object, check, verdict) within their interval, new ones are dropped
// (counted), and once they expire there is room again.
func TestEventDedupeBound(t *testing.T) {
	clk := &clock{t: time.Now()}
	s, g, log := eventGate(t, clk, gate.Options{CacheTTL: time.Hour})
	s.SetSeries("default", "error_rate", map[string]string{"app": "web-canary"}, "1")
	two := 2.0
	check := func(i int) *gate.Result {
		return g.Check(context.Background(), gate.Request{Endpoint: "argo", Provider: "dev", Query: canaryQ + "&maxAge=3h", Namespace: "default",
			AnalysisRun: fmt.Sprintf("run-%d", i), Max: &two})
	}
	for i := 0; i < gate.MaxEventKeys+50; i++ {
		if r := check(i); r.Verdict != "pass" {
			t.Fatalf("%+v", r)
		}
	}
	if n := len(log.take()); n != gate.MaxEventKeys {
		t.Fatalf("%d events, want the cap %d", n, gate.MaxEventKeys)
	}
	if m := g.metrics(t); !strings.Contains(m, `extmetrics_gate_events_total{outcome="dropped",type="Normal"} 50`) {
		t.Fatalf("dropped not counted")
	}
	// The interval (1m, the default) passes: the entries expire and new
	// checks are recorded again, still within the cap.
	clk.Add(time.Minute)
	for i := gate.MaxEventKeys; i < gate.MaxEventKeys+50; i++ {
		check(i)
	}
	if n := len(log.take()); n != 50 {
		t.Fatalf("after expiry: %d events, want 50", n)
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
