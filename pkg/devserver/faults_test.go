package devserver_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"k8s.io/metrics/pkg/apis/external_metrics/v1beta1"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/extmetrics/extmetrics/internal/testutil"
	"github.com/extmetrics/extmetrics/pkg/devserver"
	"github.com/extmetrics/extmetrics/pkg/devserver/devservertest"
	"github.com/extmetrics/extmetrics/pkg/scenario"
)

const listPath = nsPath + "default/http_requests"

func TestFaultStatus(t *testing.T) {
	s := devservertest.New(t, devserver.Config{Scenario: testScenario()})
	for _, tc := range []struct {
		fault      scenario.Fault
		code       int
		reason     string
		retryAfter string
	}{
		{scenario.Fault{Status: 503}, 503, "ServiceUnavailable", ""},
		{scenario.Fault{Status: 500}, 500, "InternalError", ""},
		{scenario.Fault{Status: 429}, 429, "TooManyRequests", "1"},
		{scenario.Fault{Status: 429, RetryAfter: 2500 * time.Millisecond}, 429, "TooManyRequests", "3"},
		{scenario.Fault{Status: 503, RetryAfter: 7 * time.Second}, 503, "ServiceUnavailable", "7"},
	} {
		s.SetFault("http_requests", tc.fault)
		r := do(t, s, "GET", listPath, devservertest.Token, "")
		if r.code != tc.code {
			t.Fatalf("%+v: got %d %s", tc.fault, r.code, r.body)
		}
		if st := r.status(t); string(st.Reason) != tc.reason {
			t.Errorf("%+v: reason %q", tc.fault, st.Reason)
		}
		if got := r.header.Get("Retry-After"); got != tc.retryAfter {
			t.Errorf("%+v: Retry-After %q, want %q", tc.fault, got, tc.retryAfter)
		}
		// Other metrics and discovery are untouched by a per-metric fault.
		if r := do(t, s, "GET", nsPath+"team-a/queue_depth", devservertest.Token, ""); r.code != 200 {
			t.Errorf("other metric: %d %s", r.code, r.body)
		}
	}
	// A global fault hits every metric but not discovery; the metric's own
	// fault wins over the global one.
	s.SetFault("http_requests", scenario.Fault{})
	s.SetFault("", scenario.Fault{Status: 503})
	if r := do(t, s, "GET", nsPath+"team-a/queue_depth", devservertest.Token, ""); r.code != 503 {
		t.Errorf("global fault: %d", r.code)
	}
	if r := do(t, s, "GET", "/apis/external.metrics.k8s.io/v1beta1", devservertest.Token, ""); r.code != 200 {
		t.Errorf("discovery under a global fault: %d", r.code)
	}
	s.SetFault("http_requests", scenario.Fault{Latency: time.Millisecond})
	if r := do(t, s, "GET", listPath, devservertest.Token, ""); r.code != 200 {
		t.Errorf("metric fault over global: %d", r.code)
	}
	s.SetFault("", scenario.Fault{})
}

func TestFaultProbabilitySeeded(t *testing.T) {
	count := func(seed uint64) (n int) {
		s := devservertest.New(t, devserver.Config{Scenario: testScenario(), Seed: seed})
		s.SetFault("http_requests", scenario.Fault{Status: 503, Probability: 0.3})
		c := devservertest.HTTPClient(s)
		defer c.CloseIdleConnections()
		for range 200 {
			req, _ := http.NewRequest("GET", s.URL()+listPath, http.NoBody)
			req.Header.Set("Authorization", "Bearer "+devservertest.Token)
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			switch resp.StatusCode {
			case 503:
				n++
			case 200:
			default:
				t.Fatalf("unexpected %d", resp.StatusCode)
			}
		}
		return n
	}
	a, b := count(7), count(7)
	if a != b {
		t.Errorf("same seed, different outcomes: %d vs %d", a, b)
	}
	if a < 20 || a > 110 { // expected 60 of 200
		t.Errorf("probability 0.3 gave %d of 200", a)
	}
}

func TestFaultLatency(t *testing.T) {
	s := devservertest.New(t, devserver.Config{Scenario: testScenario()})
	s.SetFault("http_requests", scenario.Fault{Latency: 150 * time.Millisecond, Jitter: 50 * time.Millisecond})
	start := time.Now()
	if r := do(t, s, "GET", listPath, devservertest.Token, ""); r.code != 200 {
		t.Fatalf("%d %s", r.code, r.body)
	}
	if d := time.Since(start); d < 150*time.Millisecond {
		t.Errorf("answered after %v, want at least 150ms", d)
	}

	// A client that gives up is not kept waiting for an hour.
	s.SetFault("http_requests", scenario.Fault{Latency: time.Hour})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", s.URL()+listPath, http.NoBody)
	req.Header.Set("Authorization", "Bearer "+devservertest.Token)
	_, err := devservertest.HTTPClient(s).Do(req)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("want a client timeout, got %v", err)
	}
	// Close ends requests still waiting out latency.
	go func() {
		time.Sleep(50 * time.Millisecond)
		s.Close()
	}()
	closeStart := time.Now()
	req, _ = http.NewRequest("GET", s.URL()+listPath, http.NoBody)
	req.Header.Set("Authorization", "Bearer "+devservertest.Token)
	if resp, err := devservertest.HTTPClient(s).Do(req); err == nil {
		resp.Body.Close()
	}
	if d := time.Since(closeStart); d > 20*time.Second {
		t.Errorf("Close left a request waiting %v", d)
	}
}

func TestFaultLatencyFakeClock(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	s := devservertest.New(t, devserver.Config{Scenario: testScenario(), Clock: clk})
	s.SetFault("http_requests", scenario.Fault{Latency: time.Minute})
	done := make(chan response, 1)
	go func() { done <- do(t, s, "GET", listPath, devservertest.Token, "") }()
	testutil.Eventually(t, 20*time.Second, "the request to wait on the clock", clk.HasWaiters)
	select {
	case r := <-done:
		t.Fatalf("answered before the clock moved: %d", r.code)
	default:
	}
	clk.Step(time.Minute)
	if r := <-done; r.code != 200 {
		t.Errorf("%d %s", r.code, r.body)
	}
}

func TestFaultReset(t *testing.T) {
	s := devservertest.New(t, devserver.Config{Scenario: testScenario()})
	s.SetFault("http_requests", scenario.Fault{Reset: true})
	h1 := &http.Client{Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: s.CAPool()},
		TLSNextProto:    map[string]func(string, *tls.Conn) http.RoundTripper{}, // HTTP/1.1 only
	}, Timeout: 30 * time.Second}
	for name, c := range map[string]*http.Client{"http/1.1": h1, "h2": devservertest.HTTPClient(s)} {
		req, _ := http.NewRequest("GET", s.URL()+listPath, http.NoBody)
		req.Header.Set("Authorization", "Bearer "+devservertest.Token)
		resp, err := c.Do(req)
		if err == nil {
			b, rerr := io.ReadAll(resp.Body)
			resp.Body.Close()
			if rerr == nil {
				t.Errorf("%s: got an answer %d %s, want a reset", name, resp.StatusCode, b)
			}
			continue
		}
		t.Logf("%s: %v", name, err)
	}
	// The server still serves after resets.
	if r := do(t, s, "GET", nsPath+"team-a/queue_depth", devservertest.Token, ""); r.code != 200 {
		t.Errorf("after reset: %d", r.code)
	}
	m := do(t, s, "GET", "/metrics", devservertest.Token, "")
	if !strings.Contains(string(m.body), `extmetrics_devserver_requests_total{code="0",kind="list"} 2`) {
		t.Errorf("resets not counted:\n%s", grep(string(m.body), "requests_total"))
	}
}

func TestFaultMalformedAndTruncated(t *testing.T) {
	s := devservertest.New(t, devserver.Config{Scenario: testScenario()})
	full := do(t, s, "GET", listPath, devservertest.Token, "")

	s.SetFault("http_requests", scenario.Fault{Malformed: true})
	r := do(t, s, "GET", listPath, devservertest.Token, "")
	if r.code != 200 || r.header.Get("Content-Type") != "application/json" || json.Valid(r.body) {
		t.Errorf("malformed: %d %s %s", r.code, r.header.Get("Content-Type"), r.body)
	}

	s.SetFault("http_requests", scenario.Fault{Truncate: true})
	r = do(t, s, "GET", listPath, devservertest.Token, "")
	var list v1beta1.ExternalMetricValueList
	err := json.Unmarshal(r.body, &list)
	if r.code != 200 || err == nil || len(r.body) == 0 || !bytes.HasPrefix(full.body, r.body) || len(r.body) >= len(full.body) {
		t.Errorf("truncated: %d, err %v, %q (full %q)", r.code, err, r.body, full.body)
	}
}

func TestFaultStale(t *testing.T) {
	now := time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)
	clk := clocktesting.NewFakeClock(now)
	for _, profile := range devserver.Profiles {
		s := devservertest.New(t, devserver.Config{Profile: profile, Scenario: testScenario(), Clock: clk})
		metric := "http_requests"
		if profile == devserver.ProfileDatadog {
			metric = "datadogmetric@default:checkout-error-rate"
		}
		get := func() (v1beta1.ExternalMetricValueList, response) {
			r := do(t, s, "GET", nsPath+"default/"+metric, devservertest.Token, "")
			var list v1beta1.ExternalMetricValueList
			if r.code == 200 {
				if err := json.Unmarshal(r.body, &list); err != nil {
					t.Fatal(err)
				}
			}
			return list, r
		}
		list, r := get()
		if r.code != 200 || !list.Items[0].Timestamp.Time.Equal(now) {
			t.Fatalf("%s fresh: %d %s", profile, r.code, r.body)
		}
		s.SetFault(metric, scenario.Fault{StaleBy: 10 * time.Minute})
		list, r = get()
		if profile == devserver.ProfileDatadog {
			st := r.status(t)
			want := "Internal error occurred: DatadogMetric is stale, last updated: 2026-05-06T06:58:09Z"
			if r.code != 500 || st.Message != want || st.Reason != "InternalError" {
				t.Errorf("datadog stale: %d %q, want %q", r.code, st.Message, want)
			}
			// Within the Cluster Agent's max age (120 s) the value is served.
			s.SetFault(metric, scenario.Fault{StaleBy: 90 * time.Second})
			if _, r := get(); r.code != 200 {
				t.Errorf("datadog 90s old: %d %s", r.code, r.body)
			}
			continue
		}
		if r.code != 200 || len(list.Items) == 0 {
			t.Fatalf("%s stale: %d %s", profile, r.code, r.body)
		}
		for _, it := range list.Items {
			if !it.Timestamp.Time.Equal(now.Add(-10 * time.Minute)) {
				t.Errorf("%s stale timestamp %v", profile, it.Timestamp)
			}
		}
	}
}

func grep(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func TestFaultsFromScenarioFile(t *testing.T) {
	sc, err := scenario.Parse("faults.yaml", []byte(`
faults:
  - status: 503
  - metric: healthy
    latency: 1ms
metrics:
  - name: healthy
    value: 1
  - name: broken
    value: 2
`))
	if err != nil {
		t.Fatal(err)
	}
	s := devservertest.New(t, devserver.Config{Scenario: sc})
	if r := do(t, s, "GET", nsPath+"default/broken", devservertest.Token, ""); r.code != 503 {
		t.Errorf("global fault from the file: %d %s", r.code, r.body)
	}
	if r := do(t, s, "GET", nsPath+"default/healthy", devservertest.Token, ""); r.code != 200 {
		t.Errorf("metric fault replacing the global one: %d %s", r.code, r.body)
	}
}
