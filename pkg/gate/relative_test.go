package gate_test

import (
	"encoding/json"
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

// Relative checks (a canary against its baseline) through every endpoint,
// against the real devserver.

const (
	canaryQ  = "default/error_rate?labelSelector=app=web-canary"
	primaryQ = "default/error_rate?labelSelector=app=web-primary"
)

func argoValue(t *testing.T, g *testGate, params url.Values) (answer, map[string]any) {
	t.Helper()
	a := g.do(t, "GET", "/argo/v1/value?"+params.Encode(), "")
	var m map[string]any
	if err := json.Unmarshal([]byte(a.body), &m); err != nil {
		t.Fatalf("%d %s: %v", a.status, a.body, err)
	}
	return a, m
}

func TestRelativeCheckEndpoints(t *testing.T) {
	for _, profile := range []string{devserver.ProfilePrometheusAdapter, devserver.ProfileCMA} {
		t.Run(profile, func(t *testing.T) {
			t.Parallel()
			s := devservertest.New(t, devserver.Config{Profile: profile})
			caFile, tokenFile := providerFiles(t, s, devservertest.Token)
			g := newGate(t, gate.Options{CacheTTL: 0, Config: &gate.Config{Providers: []gate.ProviderConfig{
				{Name: "dev", Address: s.URL(), CAFile: caFile, TokenFile: tokenFile}}}})
			set := func(canary, primary string) {
				t.Helper()
				for app, v := range map[string]string{"web-canary": canary, "web-primary": primary} {
					if err := s.SetSeries("default", "error_rate", map[string]string{"app": app}, v); err != nil {
						t.Fatal(err)
					}
				}
			}
			set("1500m", "1")
			// A canary 1.5× its baseline fails maxRatio 1.2 ...
			a := g.check(t, map[string]any{"provider": "dev", "query": canaryQ, "baseline": primaryQ, "maxRatio": 1.2})
			if a.status != 422 || a.res.Verdict != "fail" || a.res.ErrorKind != "out-of-range" || *a.res.Value != 1.5 || *a.res.Baseline != 1 ||
				*a.res.Delta != 0.5 || a.res.BaselineQuery != "default/error_rate?labelSelector=app=web-primary" || a.res.BaselineMatched != 1 || len(a.res.BaselineItems) != 1 {
				t.Fatalf("maxRatio 1.2: %d %s", a.status, a.body)
			}
			var raw map[string]any
			json.Unmarshal([]byte(a.body), &raw)
			if raw["ratio"] != 1.5 {
				t.Fatalf("ratio %v: %s", raw["ratio"], a.body)
			}
			// ... and passes maxRatio 2, on every endpoint.
			if a := g.check(t, map[string]any{"provider": "dev", "query": canaryQ, "baseline": primaryQ, "maxRatio": 2}); a.status != 200 || !a.res.Passed {
				t.Fatalf("maxRatio 2: %d %s", a.status, a.body)
			}
			md := map[string]string{"provider": "dev", "query": "{{ namespace }}/error_rate?labelSelector=app={{ target }}-canary",
				"baseline": "{{ namespace }}/error_rate?labelSelector=app={{ target }}-primary", "maxRatio": "1.2", "target": "web"}
			a = g.flagger(t, "default", "web", md)
			want := `extmetrics gate: provider dev: canary 1.5, baseline 1, ratio 1.5, delta 0.5: ratio 1.5 > maxRatio 1.2 (query "default/error_rate?labelSelector=app=web-canary", baseline "default/error_rate?labelSelector=app=web-primary")`
			if a.status != 422 || strings.TrimSpace(a.body) != want {
				t.Fatalf("flagger maxRatio 1.2: %d %s\nwant %s", a.status, a.body, want)
			}
			md["maxRatio"] = "2"
			if a := g.flagger(t, "default", "web", md); a.status != 200 || !strings.Contains(a.body, `"ratio":1.5`) || !strings.Contains(a.body, `"baseline":1`) {
				t.Fatalf("flagger maxRatio 2: %d %s", a.status, a.body)
			}
			// Argo: measured, with baseline, ratio and delta for successCondition.
			_, m := argoValue(t, g, url.Values{"provider": {"dev"}, "query": {canaryQ}, "baseline": {primaryQ}})
			if m["value"] != 1.5 || m["baseline"] != 1.0 || m["ratio"] != 1.5 || m["delta"] != 0.5 || m["verdict"] != "measured" {
				t.Fatalf("argo: %v", m)
			}

			// A zero baseline: the ratio is undefined; a ratio bound fails with
			// the reason, a delta bound decides.
			set("100m", "0")
			md["maxRatio"] = "1.2"
			a = g.flagger(t, "default", "web", md)
			if a.status != 422 || !strings.Contains(a.body, "canary 0.1, baseline 0, ratio undefined, delta 0.1: ratio undefined: baseline 0 is not > 0, so maxRatio 1.2 cannot be judged") {
				t.Fatalf("zero baseline, maxRatio: %d %s", a.status, a.body)
			}
			md["maxDelta"] = "0.5"
			if a := g.flagger(t, "default", "web", md); a.status != 200 {
				t.Fatalf("zero baseline, maxDelta: %d %s", a.status, a.body)
			}
			if a := g.check(t, map[string]any{"provider": "dev", "query": canaryQ, "baseline": primaryQ, "maxDelta": 0.05}); a.status != 422 || !strings.Contains(a.res.Error, "delta 0.1 > maxDelta 0.05") {
				t.Fatalf("zero baseline, maxDelta 0.05: %d %s", a.status, a.body)
			}
			a, m = argoValue(t, g, url.Values{"provider": {"dev"}, "query": {canaryQ}, "baseline": {primaryQ}})
			if r, ok := m["ratio"]; !ok || r != nil || m["delta"] != 0.1 || a.status != 200 {
				t.Fatalf("argo, zero baseline: ratio must be null: %s", a.body)
			}
			// Without a baseline the answer has no ratio at all.
			if _, m := argoValue(t, g, url.Values{"provider": {"dev"}, "query": {canaryQ}}); m["ratio"] != nil || hasKey(m, "ratio") || hasKey(m, "baseline") {
				t.Fatalf("absolute check with ratio: %v", m)
			}

			// A missing or ambiguous baseline fails closed and says so.
			md = map[string]string{"provider": "dev", "query": canaryQ, "baseline": "default/error_rate?labelSelector=app=nothing", "maxDelta": "1"}
			if a := g.flagger(t, "default", "web", md); a.status != 424 || !strings.Contains(a.body, "no-values: baseline: ") {
				t.Fatalf("missing baseline: %d %s", a.status, a.body)
			}
			if a := g.check(t, map[string]any{"provider": "dev", "query": canaryQ, "baseline": "default/error_rate", "maxDelta": 1}); a.status != 502 ||
				a.res.ErrorKind != "ambiguous" || a.res.Side != "baseline" || !strings.HasPrefix(a.res.Error, "baseline: ") || a.res.Passed {
				t.Fatalf("ambiguous baseline: %d %s", a.status, a.body)
			}
			a, m = argoValue(t, g, url.Values{"provider": {"dev"}, "query": {canaryQ}, "baseline": {"default/nothing"}})
			if a.status != 502 || (m["errorKind"] != "not-found" && m["errorKind"] != "no-values") || !strings.HasPrefix(m["error"].(string), "baseline: ") || hasKey(m, "ratio") {
				t.Fatalf("argo, missing baseline: %d %s", a.status, a.body)
			}
			// The canary's failure is said as the canary's.
			if a := g.check(t, map[string]any{"provider": "dev", "query": "default/nothing", "baseline": primaryQ, "maxDelta": 1}); a.status != 502 || a.res.Side != "canary" || !strings.HasPrefix(a.res.Error, "canary: ") {
				t.Fatalf("missing canary: %d %s", a.status, a.body)
			}
		})
	}
}

func hasKey(m map[string]any, k string) bool { _, ok := m[k]; return ok }

// A stale baseline fails closed, on the same staleness rule as the canary.
func TestRelativeStaleBaseline(t *testing.T) {
	s, g := devGate(t, time.Minute, nil)
	s.SetSeries("default", "rate", nil, "1")
	s.SetSeries("default", "rate_primary", nil, "1")
	s.SetFault("rate_primary", scenario.Fault{StaleBy: 10 * time.Minute})
	md := map[string]string{"provider": "dev", "query": "default/rate", "baseline": "default/rate_primary", "maxRatio": "2"}
	a := g.flagger(t, "default", "web", md)
	if a.status != 424 || !strings.Contains(a.body, "stale: baseline: ") {
		t.Fatalf("stale baseline: %d %s", a.status, a.body)
	}
	// The baseline's own maxAge= applies to it.
	md["baseline"] = "default/rate_primary?maxAge=11m"
	if a := g.flagger(t, "default", "web", md); a.status != 200 {
		t.Fatalf("baseline with its own maxAge: %d %s", a.status, a.body)
	}
	if !strings.Contains(g.log.String(), `"side":"baseline"`) || !strings.Contains(g.log.String(), `"baseline":1`) {
		t.Errorf("log lacks the baseline: %s", g.log.String())
	}
}

// Bounds and baselines are validated before any request, with clear 400s.
func TestRelativeBadRequests(t *testing.T) {
	s, g := devGate(t, time.Minute, nil)
	base := upstreamCount(t, s)
	for _, tt := range []struct {
		md   map[string]string
		want string
	}{
		{map[string]string{"provider": "dev", "query": "default/a", "maxRatio": "1.2"}, "maxRatio 1.2: a relative bound needs a baseline"},
		{map[string]string{"provider": "dev", "query": "default/a", "baseline": "default/b", "max": "1"}, "a baseline needs a relative bound"},
		{map[string]string{"provider": "dev", "query": "default/a", "baseline": "default/b"}, "no range"},
		{map[string]string{"provider": "dev", "query": "default/a", "baseline": "default/b", "minRatio": "2", "maxRatio": "1"}, "minRatio 2 is greater than maxRatio 1"},
		{map[string]string{"provider": "dev", "query": "default/a", "baseline": "default/b", "maxDelta": "NaN"}, "maxDelta must be a finite number"},
		{map[string]string{"provider": "dev", "query": "default/a", "baseline": "default/b", "maxDelta": "x"}, `metadata.maxDelta: "x" is not a number`},
		{map[string]string{"provider": "dev", "query": "default/a", "baseline": "default/b", "baselineTemplateRef": "t", "maxDelta": "1"}, "either baseline"},
		{map[string]string{"provider": "dev", "query": "default/a", "baseline": "{{ nope }}", "maxDelta": "1"}, "rendering the baseline query"},
		{map[string]string{"provider": "dev", "query": "default/a", "baseline": "default/b?x=1", "maxDelta": "1"}, "invalid-query"},
		{map[string]string{"provider": "dev", "query": "default/a", "baselineTemplateRef": "t", "maxDelta": "1"}, "no cluster"},
		{map[string]string{"provider": "dev", "query": "default/a", "baseline": "default/b", "maxratio": "1"}, `unknown metadata key(s) "maxratio"`},
	} {
		a := g.flagger(t, "default", "web", tt.md)
		if a.status != 400 || !strings.Contains(a.body, tt.want) {
			t.Errorf("%v: %d %s, want 400 %q", tt.md, a.status, a.body, tt.want)
		}
	}
	if a := g.check(t, map[string]any{"provider": "dev", "query": "default/a", "maxRatio": 1.2}); a.status != 400 || !strings.Contains(a.res.Error, "needs a baseline") {
		t.Errorf("/v1/check: %d %s", a.status, a.body)
	}
	// The Argo endpoint takes a baseline but no bounds (Argo judges).
	if a := g.do(t, "GET", "/argo/v1/value?provider=dev&query=default/a&baseline=default/b&maxRatio=1", ""); a.status != 400 || !strings.Contains(a.body, `unknown parameter(s) \"maxRatio\"`) {
		t.Errorf("argo with a bound: %d %s", a.status, a.body)
	}
	if got := upstreamCount(t, s) - base; got != 0 {
		t.Errorf("%d upstream requests for refused checks; want none", got)
	}
}

// baselineTemplateRef: a MetricTemplate of the same provider; another
// provider is refused.
func TestRelativeBaselineTemplateRef(t *testing.T) {
	s := devservertest.New(t, devserver.Config{})
	s.SetSeries("shop", "error_rate", map[string]string{"app": "web-canary"}, "1500m")
	s.SetSeries("shop", "error_rate", map[string]string{"app": "web-primary"}, "1")
	tmpl := func(name, secret, selector string) string {
		return fmtf(`apiVersion: flagger.app/v1beta1
kind: MetricTemplate
metadata: {name: %s, namespace: shop}
spec:
  provider: {type: externalmetrics, address: %s, secretRef: {name: %s}}
  query: "{{ namespace }}/error_rate?labelSelector=app%%3D%s"
---
`, name, s.URL(), secret, selector)
	}
	secret := func(name, token string) string {
		return fmtf("apiVersion: v1\nkind: Secret\nmetadata: {name: %s, namespace: shop}\nstringData:\n  token: %s\n  ca.crt: |\n%s\n---\n", name, token, indent(string(s.CAPEM()), "    "))
	}
	objs := objects(t, tmpl("error-rate", "dev", "{{ target }}-canary")+tmpl("error-rate-primary", "dev", "{{ target }}-primary")+
		tmpl("error-rate-other", "other", "{{ target }}-primary")+secret("dev", devservertest.Token)+secret("other", "another-token"))
	g := newGate(t, gate.Options{Objects: objs, CacheTTL: time.Minute})
	md := map[string]string{"templateRef": "error-rate", "baselineTemplateRef": "error-rate-primary", "maxRatio": "1.2", "target": "web"}
	a := g.flagger(t, "shop", "web", md)
	if a.status != 422 || !strings.Contains(a.body, "extmetrics gate: shop/error-rate: canary 1.5, baseline 1, ratio 1.5, delta 0.5: ratio 1.5 > maxRatio 1.2") {
		t.Fatalf("baselineTemplateRef: %d %s", a.status, a.body)
	}
	md["maxRatio"] = "2"
	if a := g.flagger(t, "shop", "web", md); a.status != 200 || !strings.Contains(a.body, `"baselineTemplate":"shop/error-rate-primary"`) {
		t.Fatalf("baselineTemplateRef, maxRatio 2: %d %s", a.status, a.body)
	}
	// A baseline query template with a templateRef: the template's provider.
	delete(md, "baselineTemplateRef")
	md["baseline"] = "{{ namespace }}/error_rate?labelSelector=app={{ target }}-primary"
	if a := g.flagger(t, "shop", "web", md); a.status != 200 {
		t.Fatalf("templateRef + baseline: %d %s", a.status, a.body)
	}
	delete(md, "baseline")
	md["baselineTemplateRef"] = "error-rate-other"
	if a := g.flagger(t, "shop", "web", md); a.status != 400 || !strings.Contains(a.body, "reads another provider") {
		t.Fatalf("another provider: %d %s", a.status, a.body)
	}
	md["baselineTemplateRef"] = "missing"
	if a := g.flagger(t, "shop", "web", md); a.status != 400 || !strings.Contains(a.body, `baselineTemplateRef: MetricTemplate "missing" not found`) {
		t.Fatalf("missing baseline template: %d %s", a.status, a.body)
	}
}

// A relative check costs at most one extra upstream request per TTL window:
// 200 concurrent identical relative checks through every endpoint make two
// requests (the canary's and the baseline's), counted on the devserver's
// /metrics; after an absolute check of the same canary, exactly one more.
func TestRelativeCoalescing(t *testing.T) {
	clk := &clock{t: time.Now()}
	s, g := devGate(t, 10*time.Second, clk.Now)
	s.SetSeries("default", "error_rate", map[string]string{"app": "web-canary"}, "1500m")
	s.SetSeries("default", "error_rate", map[string]string{"app": "web-primary"}, "1")
	s.SetFault("error_rate", scenario.Fault{Latency: 300 * time.Millisecond})

	base := upstreamCount(t, s)
	if a := g.check(t, map[string]any{"provider": "dev", "query": canaryQ, "max": 2}); a.status != 200 {
		t.Fatalf("%d %s", a.status, a.body)
	}
	if got := upstreamCount(t, s) - base; got != 1 {
		t.Fatalf("absolute check: %d upstream requests", got)
	}
	const n = 200
	var wg sync.WaitGroup
	answers := make([]answer, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			switch i % 3 {
			case 0:
				answers[i] = g.check(t, map[string]any{"provider": "dev", "query": canaryQ, "baseline": primaryQ, "maxRatio": 2})
			case 1:
				answers[i] = g.flagger(t, "default", "web", map[string]string{"provider": "dev", "query": canaryQ, "baseline": primaryQ, "maxRatio": "2"})
			default:
				answers[i] = g.do(t, "GET", "/argo/v1/value?"+url.Values{"provider": {"dev"}, "query": {canaryQ}, "baseline": {primaryQ}}.Encode(), "")
			}
		}(i)
	}
	wg.Wait()
	for i, a := range answers {
		if a.status != 200 {
			t.Fatalf("answer %d: %d %s", i, a.status, a.body)
		}
	}
	if got := upstreamCount(t, s) - base; got != 2 {
		t.Fatalf("%d upstream requests for an absolute check and %d relative ones on the same canary; want 2 (one extra for the baseline)", got, n)
	}
	if a := g.check(t, map[string]any{"provider": "dev", "query": canaryQ, "baseline": primaryQ, "maxRatio": 2}); !a.res.Cached {
		t.Fatalf("not cached: %s", a.body)
	}
	// The next TTL window: two requests, however many checks.
	clk.Add(10 * time.Second)
	for i := 0; i < 20; i++ {
		if a := g.check(t, map[string]any{"provider": "dev", "query": canaryQ, "baseline": primaryQ, "maxRatio": 2}); a.status != 200 {
			t.Fatalf("%d %s", a.status, a.body)
		}
	}
	if got := upstreamCount(t, s) - base; got != 4 {
		t.Fatalf("%d upstream requests after the TTL; want 4", got)
	}
}
