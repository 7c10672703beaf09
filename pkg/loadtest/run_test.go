package loadtest

import (
	"context"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

const listBody = `{"kind":"ExternalMetricValueList","apiVersion":"external.metrics.k8s.io/v1beta1","metadata":{},"items":[{"metricName":"m","metricLabels":{"app":"a"},"timestamp":"2026-01-01T00:00:00Z","value":"42"}]}`

// testServer is an HTTPS server (HTTP/2 when h2) that answers the list
// endpoint for token "s3cret", 500 for paths ending in /fail, resets the
// stream for /reset, and serves a Prometheus process_resident_memory_bytes.
type testServer struct {
	*httptest.Server
	list    atomic.Int64 // list requests answered 200
	other   atomic.Int64 // every other request
	protoOK atomic.Bool  // false once a request came over something else than expected
}

func newTestServer(t *testing.T, h2 bool) *testServer {
	t.Helper()
	ts := &testServer{}
	ts.protoOK.Store(true)
	ts.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if (r.ProtoMajor == 2) != h2 {
			ts.protoOK.Store(false)
		}
		if r.Header.Get("Authorization") != "Bearer s3cret" {
			ts.other.Add(1)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			w.Write([]byte(`{"kind":"Status","status":"Failure","message":"Unauthorized","reason":"Unauthorized","code":401}`))
			return
		}
		switch {
		case r.URL.Path == "/metrics":
			ts.other.Add(1)
			w.Write([]byte("# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes 1.2345e+07\nprocess_cpu_seconds_total 3.5\n"))
		case strings.HasSuffix(r.URL.Path, "/fail"):
			ts.other.Add(1)
			http.Error(w, `{"kind":"Status","code":500}`, http.StatusInternalServerError)
		case strings.HasSuffix(r.URL.Path, "/reset"):
			ts.other.Add(1)
			panic(http.ErrAbortHandler)
		default:
			ts.list.Add(1)
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(listBody))
		}
	}))
	ts.EnableHTTP2 = h2
	ts.Config.ErrorLog = log.New(io.Discard, "", 0) // expected TLS failures
	ts.StartTLS()
	t.Cleanup(ts.Close)
	return ts
}

func (ts *testServer) caPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ts.Certificate().Raw})
}

const listPath = "/apis/external.metrics.k8s.io/v1beta1/namespaces/default/m?labelSelector=app%3Da"

func TestBoundedRunOverHTTP2(t *testing.T) {
	for _, client := range []string{ClientNetHTTP, ClientFramer} {
		t.Run(strings.ReplaceAll(client, "/", ""), func(t *testing.T) { testBoundedRun(t, client) })
	}
}

func testBoundedRun(t *testing.T, client string) {
	ts := newTestServer(t, true)
	res, err := Run(context.Background(), Config{
		Client:       client,
		URLs:         []string{ts.URL + listPath},
		Concurrency:  2,
		Duration:     time.Second,
		Token:        "s3cret",
		CAPEM:        ts.caPEM(),
		RequireHTTP2: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	if !ts.protoOK.Load() || res.Protocol != "HTTP/2.0" {
		t.Errorf("protocol %q (server saw only HTTP/2: %v)", res.Protocol, ts.protoOK.Load())
	}
	// The server also answered one warm-up list request per connection.
	if got := uint64(ts.list.Load()) - uint64(res.Connections); res.Requests == 0 || res.Requests != got {
		t.Errorf("tool counted %d requests, server answered %d (without warm-ups)", res.Requests, got)
	}
	if res.OK != res.Requests || res.Errors != 0 || res.Status["200"] != res.Requests || len(res.Status) != 1 {
		t.Errorf("ok %d errors %d status %v of %d requests", res.OK, res.Errors, res.Status, res.Requests)
	}
	if res.BytesReceived != res.Responses*uint64(len(listBody)) {
		t.Errorf("bytes %d, want %d×%d", res.BytesReceived, res.Responses, len(listBody))
	}
	if res.Concurrency != 2 || res.Connections != 2 || res.Client != client {
		t.Errorf("concurrency %d connections %d", res.Concurrency, res.Connections)
	}
	l := res.Latency
	if !(l.Min > 0 && l.Min <= l.P50 && l.P50 <= l.P90 && l.P90 <= l.P99 && l.P99 <= l.P999 && l.P999 <= l.Max) {
		t.Errorf("latency not ordered: %+v", l)
	}
	// Generous bounds: a loaded machine may stall, but the run must stop near its limit.
	if res.ElapsedSec < 1 || res.ElapsedSec > 15 {
		t.Errorf("elapsed %.2f s for a 1 s run", res.ElapsedSec)
	}
	if want := float64(res.Requests) / res.ElapsedSec; res.RequestsPerSec != want {
		t.Errorf("req/s %.1f, want %.1f", res.RequestsPerSec, want)
	}
	if res.FirstStatus != 200 || res.FirstKind != "ExternalMetricValueList" || res.FirstItems != 1 {
		t.Errorf("first answer: %d %q %d items", res.FirstStatus, res.FirstKind, res.FirstItems)
	}
	if s := res.Server; s == nil || s.RSSBytes != 12345000 || !strings.HasSuffix(s.Source, "/metrics") {
		t.Errorf("server stats from /metrics: %+v", s)
	}
	var out strings.Builder
	if err := WriteText(&out, res); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"HTTP/2.0", "req/s", "p99", "RSS 11.8 MiB", "200: "} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("text report lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "s3cret") {
		t.Error("the report shows the token")
	}
}

func TestRequestLimitStatusesAndTransportErrors(t *testing.T) {
	// net/http with all four clients multiplexed on one connection, and the
	// framer client with one connection each.
	for _, c := range []struct {
		client string
		conns  int
	}{{ClientNetHTTP, 1}, {ClientFramer, 4}} {
		t.Run(strings.ReplaceAll(c.client, "/", ""), func(t *testing.T) { testRequestLimit(t, c.client, c.conns) })
	}
}

func testRequestLimit(t *testing.T, client string, conns int) {
	ts := newTestServer(t, true)
	base := ts.URL + "/apis/external.metrics.k8s.io/v1beta1/namespaces/default/"
	res, err := Run(context.Background(), Config{
		Client:      client,
		URLs:        []string{base + "m", base + "fail", base + "reset", base + "m2"},
		Concurrency: 4,
		Connections: conns,
		Duration:    time.Minute,
		Requests:    400,
		Token:       "s3cret",
		CAPEM:       ts.caPEM(),
		PID:         0,
	})
	if err != nil {
		t.Fatal(err)
	}
	// Each client cycles the four paths, so whatever share of the 400 each
	// client sent, every path got 100±3 of them.
	near := func(n uint64) bool { return n >= 96 && n <= 104 }
	var resets uint64
	for _, n := range res.TransportErrors {
		resets += n
	}
	ok, failed := res.Status["200"], res.Status["500"]
	if res.Requests != 400 || ok+failed+resets != 400 || res.Responses != ok+failed || res.Errors != failed+resets {
		t.Errorf("requests %d, status %v, transport errors %v, errors %d: do not add up to 400", res.Requests, res.Status, res.TransportErrors, res.Errors)
	}
	if !near(ok/2) || !near(failed) || !near(resets) {
		t.Errorf("status %v, transport errors %v: want ~200×200, ~100×500, ~100 resets", res.Status, res.TransportErrors)
	}
	if res.ElapsedSec > 30 {
		t.Errorf("a 400-request run took %.1f s", res.ElapsedSec)
	}
}

func TestRunFailsEarly(t *testing.T) {
	h2 := newTestServer(t, true)
	h1 := newTestServer(t, false)
	// A port nothing listens on: take a free one and close it.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	cases := map[string]struct {
		cfg  Config
		want string
	}{
		"wrong token":         {Config{URLs: []string{h2.URL + listPath}, Token: "nope", CAPEM: h2.caPEM()}, "401 Unauthorized: Unauthorized"},
		"no CA":               {Config{URLs: []string{h2.URL + listPath}, Token: "s3cret"}, "certificate"},
		"HTTP/1.1":            {Config{URLs: []string{h1.URL + listPath}, Token: "s3cret", CAPEM: h1.caPEM(), RequireHTTP2: true}, "not HTTP/2"},
		"closed port":         {Config{URLs: []string{"https://" + closed + "/x"}}, "connection refused"},
		"framer, wrong token": {Config{Client: ClientFramer, URLs: []string{h2.URL + listPath}, Token: "nope", CAPEM: h2.caPEM()}, "401 Unauthorized: Unauthorized"},
		"framer, HTTP/1.1":    {Config{Client: ClientFramer, URLs: []string{h1.URL + listPath}, Token: "s3cret", CAPEM: h1.caPEM()}, "offering only HTTP/2"},
		"framer, no CA":       {Config{Client: ClientFramer, URLs: []string{h2.URL + listPath}, Token: "s3cret"}, "certificate"},
	}
	for name, c := range cases {
		c.cfg.Duration = time.Second
		_, err := Run(context.Background(), c.cfg)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want an error with %q", name, err, c.want)
		}
		if err != nil && strings.Contains(err.Error(), "s3cret") {
			t.Errorf("%s: error shows the token", name)
		}
	}
	// Only the HTTP/1.1 server answered a request: the warm-up, no load.
	if h2.list.Load() != 0 || h1.list.Load() != 1 {
		t.Errorf("list requests answered despite failed warm-up: %d, %d", h2.list.Load(), h1.list.Load())
	}
	// HTTP/1.1 is accepted when not required.
	res, err := Run(context.Background(), Config{URLs: []string{h1.URL + listPath}, Token: "s3cret", CAPEM: h1.caPEM(), Requests: 20, Concurrency: 2})
	if err != nil || res.Protocol != "HTTP/1.x" || res.OK != 20 {
		t.Errorf("HTTP/1.1 run: %v, %+v", err, res)
	}
	if !h1.protoOK.Load() {
		t.Error("HTTP/1.1 server saw HTTP/2")
	}
}

func TestConfigErrors(t *testing.T) {
	for _, c := range []struct {
		cfg  Config
		want string
	}{
		{Config{}, "no target URL"},
		{Config{URLs: []string{"ftp://127.0.0.1/"}}, "scheme must be https or http"},
		{Config{URLs: []string{"https://u:p@127.0.0.1/"}}, "user information"},
		{Config{URLs: []string{"https://127.0.0.1/a", "https://localhost/b"}}, "share one scheme and host"},
		{Config{URLs: []string{"https://127.0.0.1/"}, Concurrency: 1000}, "concurrency 1000"},
		{Config{URLs: []string{"https://127.0.0.1/"}, Concurrency: 2, Connections: 3}, "connections 3"},
		{Config{URLs: []string{"https://127.0.0.1/"}, Duration: time.Hour}, "at most 5m0s"},
		{Config{URLs: []string{"https://127.0.0.1/"}, Requests: -1}, "requests -1"},
		{Config{URLs: []string{"https://127.0.0.1/"}, Insecure: true, CAFile: "x"}, "exclude each other"},
		{Config{URLs: []string{"https://127.0.0.1/"}, Client: "curl"}, `client "curl"`},
		{Config{URLs: []string{"http://127.0.0.1/"}, Client: ClientFramer}, "over TLS only"},
		{Config{URLs: []string{"https://127.0.0.1/"}, Client: ClientFramer, Concurrency: 4, Connections: 2}, "connections must equal concurrency"},
	} {
		err := Validate(c.cfg)
		var ce *ConfigError
		if !errors.As(err, &ce) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: got %v, want a ConfigError with %q", c.cfg, err, c.want)
		}
		if strings.Contains(err.Error(), ":p@") {
			t.Errorf("error shows the password: %v", err)
		}
	}
}

func TestInterruptedRunReturnsWhatItMeasured(t *testing.T) {
	for _, client := range []string{ClientNetHTTP, ClientFramer} {
		ts := newTestServer(t, true)
		ctx, cancel := context.WithCancel(context.Background())
		go func() { // cancel once the load is under way
			for ts.list.Load() < 50 && ctx.Err() == nil {
				time.Sleep(time.Millisecond)
			}
			cancel()
		}()
		res, err := Run(ctx, Config{Client: client, URLs: []string{ts.URL + listPath}, Concurrency: 2, Duration: time.Minute, Token: "s3cret", CAPEM: ts.caPEM()})
		if err != nil {
			t.Fatal(err)
		}
		if !res.Interrupted || res.ElapsedSec > 30 || res.Errors != 0 || res.OK == 0 {
			t.Errorf("%s: interrupted %v after %.1f s with %d ok, %d errors (%v)", client, res.Interrupted, res.ElapsedSec, res.OK, res.Errors, res.TransportErrors)
		}
	}
}
