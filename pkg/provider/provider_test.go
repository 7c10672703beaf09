package provider

import (
	"context"
	"errors"
	"fmt"
	"k8s.io/apimachinery/pkg/api/resource"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	clocktesting "k8s.io/utils/clock/testing"
)

func TestQueryDecodesItemsAndAggregates(t *testing.T) {
	now := time.Now().Truncate(time.Second)
	fs := newFakeServer(t, valuesHandler(
		itemJSON("requests", map[string]string{"pod": "a"}, "1500m", now),
		itemJSON("requests", map[string]string{"pod": "b"}, "3", now),
		itemJSON("requests", map[string]string{"pod": "c"}, "4500m", now),
	))
	p := newTestProvider(t, fs, Options{MultiItem: MultiItemFirst})
	for agg, want := range map[string]float64{"": 1.5, "first": 1.5, "sum": 9, "avg": 3, "min": 1.5, "max": 4.5, "count": 3} {
		q := "prod/requests?labelSelector=app%3Dweb"
		if agg != "" {
			q += "&aggregate=" + agg
		}
		res := mustQuery(t, p, q)
		wantAgg := agg
		if agg == "" {
			wantAgg = "first"
		}
		if res.Value != want || res.Aggregate != wantAgg || res.Matched != 3 || len(res.Items) != 3 {
			t.Errorf("%s: %+v", agg, res)
		}
	}
	res := mustQuery(t, p, "prod/requests")
	it := res.Items[0]
	if it.MetricName != "requests" || it.Labels["pod"] != "a" || it.Quantity != "1500m" || it.Value != 1.5 ||
		!it.Timestamp.Equal(now) || it.WindowSeconds == nil || *it.WindowSeconds != 60 {
		t.Fatalf("item %+v", it)
	}
	if res.Query != "prod/requests" || res.Latency <= 0 {
		t.Fatalf("result %+v", res)
	}
}

func TestQueryAmbiguousFailsUnlessAggregateOrFirst(t *testing.T) {
	now := time.Now()
	fs := newFakeServer(t, valuesHandler(
		itemJSON("errors", map[string]string{"app": "web", "track": "primary"}, "530m", now),
		itemJSON("errors", map[string]string{"app": "web", "track": "canary"}, "12", now),
		itemJSON("errors", map[string]string{"app": "web", "track": "shadow"}, "1", now),
		itemJSON("errors", map[string]string{"app": "web", "track": "mirror"}, "2", now),
	))
	q := "prod/errors?labelSelector=app%3Dweb"
	for _, mi := range []MultiItem{"", MultiItemFail} {
		p := newTestProvider(t, fs, Options{MultiItem: mi})
		res, err := p.Query(context.Background(), q)
		if res != nil || !errors.Is(err, ErrAmbiguous) || ErrorKind(err) != "ambiguous" {
			t.Fatalf("%q: %+v %v", mi, res, err)
		}
		msg := err.Error()
		for _, want := range []string{"4 items matched", "{track=primary}=530m", "{track=canary}=12", "and 1 more",
			"narrow the labelSelector", "aggregate=first|sum|avg|min|max", "Flagger would take the first item, 530m"} {
			if !strings.Contains(msg, want) {
				t.Errorf("%q: message lacks %q: %s", mi, want, msg)
			}
		}
		if _, list, _ := strings.Cut(msg, "matched"); strings.Contains(list, "app=web") {
			t.Errorf("labels common to every item should be left out: %s", msg)
		}
		if v, err := p.RunQuery(q); v != 0 || !errors.Is(err, ErrAmbiguous) {
			t.Errorf("RunQuery: %v %v", v, err)
		}
		if res := mustQuery(t, p, q+"&aggregate=max"); res.Value != 12 {
			t.Errorf("max: %+v", res)
		}
	}
	p := newTestProvider(t, fs, Options{MultiItem: MultiItemFirst})
	if res := mustQuery(t, p, q); res.Value != 0.53 || res.Matched != 4 || res.Aggregate != "first" {
		t.Errorf("first: %+v", res)
	}
	for in, want := range map[string]MultiItem{"": MultiItemFail, "fail": MultiItemFail, " First ": MultiItemFirst} {
		if got, err := ParseMultiItem(in); got != want || err != nil {
			t.Errorf("ParseMultiItem(%q) = %q, %v", in, got, err)
		}
	}
	if _, err := ParseMultiItem("sum"); err == nil || !strings.Contains(err.Error(), "want fail") {
		t.Errorf("ParseMultiItem(sum): %v", err)
	}
}

func TestQuerySendsPathAndSelector(t *testing.T) {
	var path, sel string
	fs := newFakeServer(t, func(w http.ResponseWriter, r *http.Request) {
		path, sel = r.URL.EscapedPath(), r.URL.Query().Get("labelSelector")
		valuesHandler(itemJSON("x", nil, "1", time.Now()))(w, r)
	})
	p := newTestProvider(t, fs, Options{})
	mustQuery(t, p, "istio-system/datadogmetric@istio-system:request-count?labelSelector=env in (a,b),app=web")
	if path != "/apis/external.metrics.k8s.io/v1beta1/namespaces/istio-system/datadogmetric@istio-system:request-count" {
		t.Errorf("path %q", path)
	}
	if sel != "app=web,env in (a,b)" {
		t.Errorf("selector %q", sel)
	}
	mustQuery(t, p, "/requests")
	if !strings.Contains(path, "/namespaces/default/requests") {
		t.Errorf("default namespace: path %q", path)
	}
}

func TestInvalidQueryNeverReachesServer(t *testing.T) {
	fs := newFakeServer(t, nil)
	p := newTestProvider(t, fs, Options{})
	for _, q := range []string{"", "/", "ns/", "a/b/c", "requests?aggregate=median", "requests?bogus=1"} {
		_, err := p.Query(context.Background(), q)
		if !errors.Is(err, ErrInvalidQuery) || ErrorKind(err) != "invalid-query" {
			t.Errorf("%q: %v", q, err)
		}
	}
	if fs.hitCount() != 0 {
		t.Fatalf("invalid queries reached the server %d times", fs.hitCount())
	}
}

func TestErrorMapping(t *testing.T) {
	for _, tc := range []struct {
		name    string
		h       http.HandlerFunc
		want    error
		message string
	}{
		{"empty", valuesHandler(), ErrNoValuesFound, `no items for metric "requests"`},
		{"404", statusHandler(404, `the server could not find the metric requests for namespaces`), ErrNotFound, "could not find"},
		{"dca not found", statusHandler(500, `Internal error occurred: DatadogMetric not found for metric name: requests, datadogmetricid: datadog/dcaautogen-abc`), ErrNotFound, "DatadogMetric not found"},
		{"dca stale", statusHandler(500, `Internal error occurred: DatadogMetric is invalid, err: Global error (all queries) from backend, metric is stale`), ErrStale, "is stale"},
		{"500 other", statusHandler(500, "boom"), ErrUnavailable, "500 Internal Server Error: boom"},
		{"401", statusHandler(401, "Unauthorized"), ErrUnauthorized, "401"},
		{"403", statusHandler(403, `externalmetrics.external.metrics.k8s.io "requests" is forbidden: User "bob" cannot list`), ErrForbidden, "is forbidden"},
		{"400", statusHandler(400, "unable to parse requirement"), ErrInvalidQuery, "unable to parse"},
		{"text 502", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(502)
			fmt.Fprint(w, "<html>bad gateway</html>")
		}, ErrUnavailable, "<html>bad gateway"},
		{"malformed", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "this is not json") }, ErrUnavailable, "malformed response body"},
		{"truncated", func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprint(w, `{"kind":"ExternalMetricValueList","items":[{"metricName":"requests","val`)
		}, ErrUnavailable, "malformed"},
		{"short body", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", "500")
			fmt.Fprint(w, `{"kind":"ExternalMetricValueList","items":[`)
		}, ErrUnavailable, "truncated"},
		{"wrong kind", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, `{"kind":"PodList","items":[]}`) }, ErrUnavailable, "unexpected response kind"},
		{"redirect", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "https://example.invalid/", http.StatusFound)
		}, ErrUnavailable, "302"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs := newFakeServer(t, tc.h)
			p := newTestProvider(t, fs, Options{MaxRetries: 1})
			res, err := p.Query(context.Background(), "requests")
			if res != nil || !errors.Is(err, tc.want) {
				t.Fatalf("res %v, err %v, want %v", res, err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.message) {
				t.Fatalf("message %q lacks %q", err, tc.message)
			}
			n := 0
			for _, k := range kinds {
				if errors.Is(err, k.err) {
					n++
				}
			}
			if n != 1 {
				t.Fatalf("error wraps %d sentinels", n)
			}
			if v, ferr := p.RunQuery("requests"); v != 0 || ferr == nil {
				t.Fatalf("RunQuery = %v, %v", v, ferr)
			}
		})
	}
}

func TestStatusErrorIsAPIStatus(t *testing.T) {
	fs := newFakeServer(t, statusHandler(404, "nope"))
	p := newTestProvider(t, fs, Options{})
	_, err := p.Query(context.Background(), "requests")
	if !apierrors.IsNotFound(err) {
		t.Fatalf("apierrors.IsNotFound(%v) = false", err)
	}
}

func TestStaleness(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	clk := clocktesting.NewFakePassiveClock(now)
	fresh := itemJSON("m", map[string]string{"i": "1"}, "1", now.Add(-10*time.Second))
	old := itemJSON("m", map[string]string{"i": "2"}, "2", now.Add(-(3*time.Minute + 12*time.Second)))
	future := itemJSON("m", map[string]string{"i": "3"}, "3", now.Add(30*time.Second))
	for _, tc := range []struct {
		name  string
		items []string
		q     string
		want  string // "" = ok
	}{
		{"fresh", []string{fresh}, "m?maxAge=1m", ""},
		{"no maxAge", []string{old}, "m", ""},
		{"all stale", []string{old}, "m?maxAge=1m", "newest item is 3m12s old, maxAge 1m0s"},
		{"some stale", []string{fresh, old}, "m?maxAge=1m&aggregate=sum", "1 of 2 items are older than maxAge 1m0s (oldest is 3m12s old)"},
		{"future is fresh", []string{future}, "m?maxAge=1s", ""},
		{"undated", []string{`{"metricName":"m","value":"1"}`}, "m?maxAge=1m", "no item has a timestamp"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs := newFakeServer(t, valuesHandler(tc.items...))
			p := newTestProvider(t, fs, Options{Clock: clk})
			res, err := p.Query(context.Background(), tc.q)
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if res != nil || !errors.Is(err, ErrStale) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want ErrStale with %q", err, tc.want)
			}
		})
	}
}

// The token must never appear in any error, whatever the server echoes.
func TestErrorsNeverContainTheToken(t *testing.T) {
	const token = "sEcReT-t0ken.value_123"
	echo := func(code int, asStatus bool) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			msg := fmt.Sprintf("request headers: Authorization: %s; raw token=%s; json {\"token\":%q} bare %s",
				r.Header.Get("Authorization"), token, token, token)
			if asStatus {
				statusHandler(code, msg)(w, r)
				return
			}
			w.WriteHeader(code)
			fmt.Fprint(w, msg)
		}
	}
	modes := map[string]http.HandlerFunc{}
	for _, code := range []int{200, 400, 401, 403, 404, 429, 500, 503} {
		modes[fmt.Sprintf("status %d", code)] = echo(code, true)
		modes[fmt.Sprintf("text %d", code)] = echo(code, false)
	}
	for name, h := range modes {
		fs := newFakeServer(t, h)
		for _, via := range []string{"secret", "token file"} {
			spec := Spec{Address: fs.URL, SecretData: map[string][]byte{"ca.crt": fs.caPEM()}}
			opts := Options{MaxRetries: 1, RetryBackoff: time.Millisecond}
			if via == "secret" {
				spec.SecretData["token"] = []byte(token)
			} else {
				opts.TokenFile = writeTemp(t, token+"\n")
			}
			p, err := New(nil, spec, opts)
			if err != nil {
				t.Fatal(err)
			}
			_, err = p.Query(context.Background(), "requests")
			if err == nil {
				t.Fatalf("%s: no error", name)
			}
			for e := error(err); e != nil; {
				if strings.Contains(e.Error(), token) || strings.Contains(fmt.Sprintf("%+v", e), token) {
					t.Fatalf("%s via %s: token in error %q", name, via, e)
				}
				if m, ok := e.(interface{ Unwrap() []error }); ok {
					for _, c := range m.Unwrap() {
						if strings.Contains(c.Error(), token) {
							t.Fatalf("%s via %s: token in wrapped error %q", name, via, c)
						}
					}
					break
				}
				e = errors.Unwrap(e)
			}
		}
	}
}

func TestRedactPatterns(t *testing.T) {
	r := redactor{}
	for in, want := range map[string]string{
		"Authorization: Bearer abc.def-ghi": "Authorization: Bearer [REDACTED]",
		`{"token":"abcdef"}`:                `{"token":"[REDACTED]"}`,
		"token=abcdef&x=1":                  "token=[REDACTED]&x=1",
		"token expired":                     "token expired",
		"metric is stale":                   "metric is stale",
	} {
		if got := r.redact(in); got != want {
			t.Errorf("redact(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestErrorKind(t *testing.T) {
	if ErrorKind(nil) != "" || ErrorKind(errors.New("x")) != "error" {
		t.Fatal("nil or foreign")
	}
	for _, k := range kinds {
		if got := ErrorKind(fmt.Errorf("wrapped: %w", k.err)); got != k.name {
			t.Errorf("%v: %q", k.err, got)
		}
		if got := ErrorKind(&Error{Kind: k.err, Op: "query"}); got != k.name {
			t.Errorf("%v: %q", k.err, got)
		}
	}
}

func TestQueryMetrics(t *testing.T) {
	fs := newFakeServer(t, nil)
	m := NewMetrics("x")
	p := newTestProvider(t, fs, Options{Metrics: m})
	mustQuery(t, p, "requests")
	p.Query(context.Background(), "a/b/c")
	if got := counterValue(t, m, "x_provider_queries_total"); got != 2 {
		t.Fatalf("queries_total %v", got)
	}
	// The zero value and nil record nothing and do not panic.
	var zero Metrics
	zero.query("ok", time.Second)
	var nilm *Metrics
	nilm.retry("503")
}

func writeTemp(t *testing.T, content string) string {
	t.Helper()
	f := t.TempDir() + "/token"
	if err := os.WriteFile(f, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

func TestZeroProviderDoesNotPanic(t *testing.T) {
	var p Provider
	if v, err := p.RunQuery("requests"); v != 0 || !errors.Is(err, ErrUnavailable) {
		t.Fatalf("%v %v", v, err)
	}
	if ok, err := p.IsOnline(); ok || !errors.Is(err, ErrUnavailable) {
		t.Fatalf("%v %v", ok, err)
	}
}

func TestQuantityFloatIsExact(t *testing.T) {
	for in, want := range map[string]float64{
		"700m": 0.7, "1500m": 1.5, "42": 42, "2k": 2000, "-300m": -0.3, "1e3": 1000, "100u": 0.0001, "1Ki": 1024, "0": 0,
	} {
		q := resource.MustParse(in)
		if got := quantityFloat(&q); got != want {
			t.Errorf("quantityFloat(%s) = %v, want %v", in, got, want)
		}
	}
}
