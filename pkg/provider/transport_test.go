package provider

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

func newTestProvider(t *testing.T, fs *fakeServer, opts Options) *Provider {
	t.Helper()
	if opts.RetryBackoff == 0 {
		opts.RetryBackoff = 10 * time.Millisecond
	}
	p, err := New(nil, Spec{Address: fs.URL, SecretData: map[string][]byte{"ca.crt": fs.caPEM(), "token": []byte("unit-test-token")}}, opts)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// failing answers with the given handler for the first n requests, then with ok.
func failing(n int32, bad, ok http.HandlerFunc) (http.HandlerFunc, *atomic.Int32) {
	var calls atomic.Int32
	return func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) <= n {
			bad(w, r)
			return
		}
		ok(w, r)
	}, &calls
}

func TestRetriesRetryableStatuses(t *testing.T) {
	ok := valuesHandler(itemJSON("requests", nil, "42", time.Now()))
	for _, code := range []int{429, 502, 503, 504} {
		fs := newFakeServer(t, nil)
		h, calls := failing(2, statusHandler(code, "try again"), ok)
		fs.setMetric(h)
		m := NewMetrics("t")
		p := newTestProvider(t, fs, Options{Metrics: m})
		res, err := p.Query(context.Background(), "requests")
		if err != nil {
			t.Fatalf("%d: %v", code, err)
		}
		if res.Value != 42 || res.Retries != 2 || calls.Load() != 3 {
			t.Fatalf("%d: value %v, retries %d, calls %d", code, res.Value, res.Retries, calls.Load())
		}
		if got := counterValue(t, m, "t_provider_retries_total"); got != 2 {
			t.Fatalf("%d: retries counter %v", code, got)
		}
	}
}

func TestNoRetryOnOther4xxAnd500(t *testing.T) {
	for code, want := range map[int]error{400: ErrInvalidQuery, 401: ErrUnauthorized, 403: ErrForbidden, 404: ErrNotFound, 500: ErrUnavailable, 405: ErrUnavailable} {
		fs := newFakeServer(t, statusHandler(code, "nope"))
		p := newTestProvider(t, fs, Options{})
		_, err := p.Query(context.Background(), "requests")
		if !errors.Is(err, want) {
			t.Errorf("%d: err = %v, want %v", code, err, want)
		}
		if n := fs.hitCount(); n != 1 {
			t.Errorf("%d: %d requests, want 1 (no retry)", code, n)
		}
	}
}

func TestRetriesAreBounded(t *testing.T) {
	fs := newFakeServer(t, statusHandler(503, "down"))
	p := newTestProvider(t, fs, Options{MaxRetries: 2})
	_, err := p.Query(context.Background(), "requests")
	var e *Error
	if !errors.As(err, &e) || !errors.Is(err, ErrUnavailable) || e.Retries != 2 || e.StatusCode != 503 {
		t.Fatalf("err = %#v", err)
	}
	if n := fs.hitCount(); n != 3 {
		t.Fatalf("%d requests, want 3", n)
	}
	if !strings.Contains(err.Error(), "down") || !strings.Contains(err.Error(), "after 2 retries") {
		t.Fatalf("message %q", err)
	}
	// Negative disables retries.
	fs = newFakeServer(t, statusHandler(503, "down"))
	p = newTestProvider(t, fs, Options{MaxRetries: -1})
	p.Query(context.Background(), "requests")
	if n := fs.hitCount(); n != 1 {
		t.Fatalf("%d requests with retries disabled", n)
	}
}

func TestRetryAfterHonoured(t *testing.T) {
	var first time.Time
	var gap atomic.Int64
	var calls atomic.Int32
	fs := newFakeServer(t, func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			first = time.Now()
			w.Header().Set("Retry-After", "1")
			statusHandler(429, "slow down")(w, r)
			return
		}
		gap.Store(int64(time.Since(first)))
		valuesHandler(itemJSON("requests", nil, "1", time.Now()))(w, r)
	})
	p := newTestProvider(t, fs, Options{})
	mustQuery(t, p, "requests")
	if d := time.Duration(gap.Load()); d < 900*time.Millisecond {
		t.Fatalf("retried after %v, want at least the Retry-After of 1s", d)
	}
}

func TestRetryAfterBeyondBudgetStopsAtOnce(t *testing.T) {
	fs := newFakeServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "60")
		statusHandler(429, "rate limited")(w, r)
	})
	p := newTestProvider(t, fs, Options{Timeout: 10 * time.Second})
	start := time.Now()
	_, err := p.Query(context.Background(), "requests")
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("err = %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("took %v; a Retry-After past the budget must stop at once", d)
	}
	if fs.hitCount() != 1 || !strings.Contains(err.Error(), "Retry-After 60") || !strings.Contains(err.Error(), "would pass the timeout") {
		t.Fatalf("hits %d, err %v", fs.hitCount(), err)
	}
}

func TestRetriesConnectionRefusedAndReset(t *testing.T) {
	// Refused: listen, note the port, close.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	m := NewMetrics("")
	p, err := New(nil, Spec{Address: "https://" + addr, InsecureSkipVerify: true}, Options{Metrics: m, RetryBackoff: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	_, err = p.Query(context.Background(), "requests")
	if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "refused") {
		t.Fatalf("err = %v", err)
	}
	if got := counterValue(t, m, "provider_retries_total"); got != 3 {
		t.Fatalf("retries counter %v, want 3", got)
	}

	// Reset: the server hijacks and closes the connection, twice.
	fs := newFakeServer(t, nil)
	h, calls := failing(2, func(w http.ResponseWriter, r *http.Request) {
		c, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			if tc, ok := c.(interface{ NetConn() net.Conn }); ok {
				if tcp, ok := tc.NetConn().(*net.TCPConn); ok {
					tcp.SetLinger(0) // RST
				}
			}
			c.Close()
		}
	}, valuesHandler(itemJSON("requests", nil, "3", time.Now())))
	fs.setMetric(h)
	p = newTestProvider(t, fs, Options{})
	res := mustQuery(t, p, "requests")
	if res.Value != 3 || calls.Load() != 3 {
		t.Fatalf("value %v after %d calls", res.Value, calls.Load())
	}
}

func TestTimeoutBudget(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	fs := newFakeServer(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	p := newTestProvider(t, fs, Options{Timeout: 300 * time.Millisecond})
	start := time.Now()
	v, err := p.RunQuery("requests")
	if !errors.Is(err, ErrUnavailable) || v != 0 || !strings.Contains(err.Error(), "timed out after 300ms") {
		t.Fatalf("v=%v err=%v", v, err)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err should also wrap context.DeadlineExceeded: %v", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("took %v", d)
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Duration{
		"3":                             3 * time.Second,
		" 0 ":                           0,
		"Thu, 01 Jan 2026 00:00:07 GMT": 7 * time.Second,
		"Wed, 31 Dec 2025 23:00:00 GMT": 0,
	} {
		got, ok := parseRetryAfter(in, now)
		if !ok || got != want {
			t.Errorf("%q: %v %v, want %v", in, got, ok, want)
		}
	}
	for _, in := range []string{"", "-1", "soon", "1.5"} {
		if _, ok := parseRetryAfter(in, now); ok {
			t.Errorf("%q accepted", in)
		}
	}
}

func TestBackoffGrowsWithJitterAndCap(t *testing.T) {
	rt := &retryTransport{backoff: 100 * time.Millisecond}
	for attempt, lim := range []time.Duration{100, 200, 400, 800, 1600, 2000, 2000} {
		lim *= time.Millisecond
		if attempt >= 5 {
			lim = maxRetryBackoff
		}
		for i := 0; i < 50; i++ {
			d := rt.delay(attempt)
			if d < lim/2 || d > lim {
				t.Fatalf("attempt %d: delay %v outside [%v, %v]", attempt, d, lim/2, lim)
			}
		}
	}
	if d := rt.delay(80); d > maxRetryBackoff {
		t.Fatalf("overflowing shift: %v", d)
	}
}

func counterValue(t *testing.T, m *Metrics, name string) float64 {
	t.Helper()
	reg := prometheus.NewRegistry()
	if err := m.Register(reg); err != nil {
		t.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	total := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, mm := range mf.GetMetric() {
			if c := mm.GetCounter(); c != nil {
				total += c.GetValue()
			}
		}
	}
	return total
}
