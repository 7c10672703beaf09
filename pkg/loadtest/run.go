package loadtest

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults and limits of a run.
const (
	DefaultConcurrency = 8
	MaxConcurrency     = 256
	DefaultDuration    = 10 * time.Second
	MaxDuration        = 5 * time.Minute
	MaxRequests        = 100_000_000
	DefaultTimeout     = 10 * time.Second
)

// Config describes one load run. URLs is required; zero values elsewhere
// take the defaults above.
type Config struct {
	// URLs are requested in turn by every client (each client starts at a
	// different one). They must share one scheme and host, and the host must
	// be loopback.
	URLs        []string
	Concurrency int           // concurrent clients, default 8
	Connections int           // TCP connections the clients share, default one per client
	Duration    time.Duration // how long to send, default 10 s, at most MaxDuration
	Requests    int64         // stop after this many requests as well (0: duration only)
	Timeout     time.Duration // per request, default 10 s

	Token    string // bearer token (never printed)
	CAFile   string // PEM CA bundle that verifies the server
	CAPEM    []byte // same, in memory
	Insecure bool   // skip TLS verification

	// RequireHTTP2 fails the run when the server does not answer over HTTP/2.
	RequireHTTP2 bool

	// PID, when not 0, is the server's process: its memory and CPU time are
	// read from /proc/<PID>. Otherwise MetricsURL (default <scheme>://<host>/metrics)
	// is scraped for process_resident_memory_bytes and process_cpu_seconds_total.
	PID        int
	MetricsURL string

	// Client is ClientNetHTTP (default) or ClientFramer. The framer client
	// needs https and one connection per client.
	Client string

	Resolver Resolver // default net.DefaultResolver (tests inject one)
}

// Result is what a run measured. Durations are in milliseconds or seconds as
// their names say, so the JSON form reads without conversion.
type Result struct {
	Target       string  `json:"target"` // the first URL
	Paths        int     `json:"paths"`  // how many distinct URLs were cycled through
	Protocol     string  `json:"protocol"`
	Client       string  `json:"client"`
	Concurrency  int     `json:"concurrency"`
	Connections  int     `json:"connections"`
	DurationSec  float64 `json:"durationLimitSeconds"`
	RequestLimit int64   `json:"requestLimit,omitempty"`
	ElapsedSec   float64 `json:"elapsedSeconds"`
	Interrupted  bool    `json:"interrupted,omitempty"`

	Requests        uint64            `json:"requests"`  // responses + transport errors
	Responses       uint64            `json:"responses"` // any status
	OK              uint64            `json:"ok"`        // 2xx
	Errors          uint64            `json:"errors"`    // non-2xx + transport errors
	RequestsPerSec  float64           `json:"requestsPerSecond"`
	Status          map[string]uint64 `json:"status"`
	TransportErrors map[string]uint64 `json:"transportErrors,omitempty"`
	BytesReceived   uint64            `json:"bytesReceived"` // response bodies
	Latency         Latency           `json:"latencyMs"`

	// First answer, from the warm-up request.
	FirstStatus int    `json:"firstStatus"`
	FirstKind   string `json:"firstKind,omitempty"`
	FirstItems  int    `json:"firstItems"`

	Server           *ServerStats `json:"server,omitempty"`
	ClientCPUSeconds float64      `json:"clientCpuSeconds"`
	LoadAvgStart     [3]float64   `json:"loadAverageStart"`
	LoadAvgEnd       [3]float64   `json:"loadAverageEnd"`
	Ready            *ReadyStats  `json:"ready,omitempty"` // set by Spawn callers
}

// Latency summarises the latency of every response (all statuses), from
// sending the request to reading the last body byte, in milliseconds.
type Latency struct {
	Min  float64 `json:"min"`
	Mean float64 `json:"mean"`
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p999"`
	Max  float64 `json:"max"`
}

// ServerStats is the server's resource use.
type ServerStats struct {
	Source       string  `json:"source"`                 // "/proc/<pid>" or the metrics URL
	RSSBytes     uint64  `json:"rssBytes,omitempty"`     // after the load
	PeakRSSBytes uint64  `json:"peakRssBytes,omitempty"` // VmHWM, with a PID only
	AnonRSSBytes uint64  `json:"anonRssBytes,omitempty"` // RssAnon (heap, stacks), with a PID only
	FileRSSBytes uint64  `json:"fileRssBytes,omitempty"` // RssFile (mostly executable pages), with a PID only
	IdleRSSBytes uint64  `json:"idleRssBytes,omitempty"` // before the load
	CPUSeconds   float64 `json:"cpuSeconds,omitempty"`   // used during the load
	Note         string  `json:"note,omitempty"`         // why something is missing
}

// ReadyStats is how fast a spawned server came up.
type ReadyStats struct {
	ListeningMs float64 `json:"listeningMs"` // exec start to the printed listening line
	ReadyMs     float64 `json:"readyMs"`     // exec start to the first 200 from /readyz
}

// ConfigError is a wrong setting in a Config (the caller's usage error).
type ConfigError struct{ Msg string }

func (e *ConfigError) Error() string { return e.Msg }

func configErrorf(format string, a ...any) error { return &ConfigError{Msg: fmt.Sprintf(format, a...)} }

func (c *Config) normalize() (*url.URL, error) {
	if len(c.URLs) == 0 {
		return nil, configErrorf("no target URL")
	}
	var first *url.URL
	for _, raw := range c.URLs {
		u, err := url.Parse(raw)
		if err != nil {
			return nil, configErrorf("target URL %q: %v", raw, err)
		}
		if u.Scheme != "https" && u.Scheme != "http" {
			return nil, configErrorf("target URL %q: scheme must be https or http", raw)
		}
		if u.Host == "" {
			return nil, configErrorf("target URL %q: no host", raw)
		}
		if u.User != nil {
			return nil, configErrorf("target URL %q: user information is not allowed (use a token)", redactURL(u))
		}
		if first == nil {
			first = u
		} else if u.Scheme != first.Scheme || u.Host != first.Host {
			return nil, configErrorf("target URLs must share one scheme and host: %q and %q", first.Scheme+"://"+first.Host, u.Scheme+"://"+u.Host)
		}
	}
	if c.Concurrency == 0 {
		c.Concurrency = DefaultConcurrency
	}
	if c.Concurrency < 1 || c.Concurrency > MaxConcurrency {
		return nil, configErrorf("concurrency %d: must be between 1 and %d", c.Concurrency, MaxConcurrency)
	}
	if c.Connections == 0 {
		c.Connections = c.Concurrency
	}
	if c.Connections < 1 || c.Connections > c.Concurrency {
		return nil, configErrorf("connections %d: must be between 1 and the concurrency (%d)", c.Connections, c.Concurrency)
	}
	if c.Duration == 0 {
		c.Duration = DefaultDuration
	}
	if c.Duration < 0 || c.Duration > MaxDuration {
		return nil, configErrorf("duration %v: must be positive and at most %v", c.Duration, MaxDuration)
	}
	if c.Requests < 0 || c.Requests > MaxRequests {
		return nil, configErrorf("requests %d: must be between 0 (no limit) and %d", c.Requests, MaxRequests)
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.Timeout < 0 {
		return nil, configErrorf("timeout %v: must be positive", c.Timeout)
	}
	if c.Insecure && (c.CAFile != "" || len(c.CAPEM) > 0) {
		return nil, configErrorf("a CA and skipping TLS verification exclude each other")
	}
	switch c.Client {
	case "":
		c.Client = ClientNetHTTP
	case ClientNetHTTP:
	case ClientFramer:
		if first.Scheme != "https" {
			return nil, configErrorf("the framer client speaks HTTP/2 over TLS only: use an https URL")
		}
		if c.Connections != c.Concurrency {
			return nil, configErrorf("the framer client uses one connection per client: connections must equal concurrency (%d)", c.Concurrency)
		}
	default:
		return nil, configErrorf("client %q: want %q or %q", c.Client, ClientNetHTTP, ClientFramer)
	}
	if c.PID < 0 {
		return nil, configErrorf("pid %d: must be positive", c.PID)
	}
	return first, nil
}

func redactURL(u *url.URL) string {
	v := *u
	v.User = nil
	return v.String()
}

func (c *Config) tlsConfig() (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: c.Insecure} //nolint:gosec // only on request
	pem := c.CAPEM
	if c.CAFile != "" {
		data, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("CA file: %v", err)
		}
		pem = data
	}
	if len(pem) > 0 {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			name := c.CAFile
			if name == "" {
				name = "the CA"
			}
			return nil, fmt.Errorf("%s holds no PEM certificate", name)
		}
		tc.RootCAs = pool
	}
	return tc, nil
}

func newClient(tc *tls.Config, r Resolver, maxConns int, timeout time.Duration) *http.Client {
	d := &loopbackDialer{resolver: r}
	d.dialer.Timeout = 10 * time.Second
	t := &http.Transport{
		Proxy:               nil, // never through a proxy: load stays on loopback
		DialContext:         d.DialContext,
		TLSClientConfig:     tc.Clone(),
		ForceAttemptHTTP2:   true,
		TLSHandshakeTimeout: 10 * time.Second,
		MaxIdleConnsPerHost: maxConns,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
	return &http.Client{
		Transport:     t,
		Timeout:       timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

type worker struct {
	client    *http.Client
	reqs      []*http.Request
	fc        *framerConn // framer mode: this client's connection (nil after an error)
	redial    func() (*framerConn, error)
	conns     *connSet
	nreqs     int
	next      int
	hist      *Histogram
	status    [600]uint64
	errs      map[string]uint64
	bytes     uint64
	transport uint64
	proto     [3]uint64 // by ProtoMajor, 0 = other
	buf       []byte
}

// maxErrorKinds bounds the distinct transport error messages kept per worker.
const maxErrorKinds = 16

func (w *worker) fail(err error) {
	w.transport++
	key := errorKind(err)
	if _, ok := w.errs[key]; !ok && len(w.errs) >= maxErrorKinds {
		key = "other"
	}
	w.errs[key]++
}

// errorKind drops the method and URL net/http puts in front of errors.
func errorKind(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	s := err.Error()
	if len(s) > 120 {
		s = s[:120]
	}
	return s
}

// one sends one request and records it; it reports false when the run's
// context was cancelled under it (the request is then not counted).
func (w *worker) one(ctx context.Context) bool {
	idx := w.next
	w.next++
	if w.next == w.nreqs {
		w.next = 0
	}
	start := time.Now()
	var status, proto, n int
	var err error
	if w.redial != nil {
		status, n, err = w.framerDo(idx)
		proto = 2
	} else {
		status, proto, n, err = w.httpDo(idx)
	}
	elapsed := time.Since(start)
	w.bytes += uint64(n)
	if err != nil {
		if ctx.Err() != nil {
			return false
		}
		w.fail(err)
		return true
	}
	w.hist.Record(elapsed)
	if status >= 0 && status < len(w.status) {
		w.status[status]++
	} else {
		w.status[0]++
	}
	if proto == 1 || proto == 2 {
		w.proto[proto]++
	} else {
		w.proto[0]++
	}
	return true
}

func (w *worker) httpDo(idx int) (status, proto, n int, err error) {
	resp, err := w.client.Do(w.reqs[idx])
	if err != nil {
		return 0, 0, 0, err
	}
	var rerr error
	for {
		var k int
		k, rerr = resp.Body.Read(w.buf)
		n += k
		if rerr != nil {
			break
		}
	}
	resp.Body.Close()
	if rerr != io.EOF {
		return resp.StatusCode, resp.ProtoMajor, n, fmt.Errorf("reading body: %w", rerr)
	}
	return resp.StatusCode, resp.ProtoMajor, n, nil
}

// framerDo sends one request on the worker's connection, dialling a new one
// when the last failed (a reset stream keeps the connection).
func (w *worker) framerDo(idx int) (status, n int, err error) {
	if w.fc == nil {
		if w.fc, err = w.redial(); err != nil {
			return 0, 0, err
		}
	}
	status, n, err = w.fc.do(idx, nil)
	var se *streamError
	if err != nil && !errors.As(err, &se) {
		w.conns.remove(w.fc)
		w.fc = nil
	}
	return status, n, err
}

// Run sends the load and measures it. It returns an error before sending
// anything when the configuration is wrong, the target is not loopback, or
// the first request per connection (to the first URL) fails, answers non-2xx, or (with
// RequireHTTP2) does not use HTTP/2. When ctx is cancelled mid-run it
// returns what was measured so far with Interrupted set.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	first, err := cfg.normalize()
	if err != nil {
		return nil, err
	}
	if _, err := CheckLoopback(ctx, cfg.Resolver, first.Hostname()); err != nil {
		return nil, err
	}
	tc, err := cfg.tlsConfig()
	if err != nil {
		return nil, err
	}
	header := http.Header{
		"Accept":     {"application/json"},
		"User-Agent": {"extmetrics-loadtest"},
	}
	if cfg.Token != "" {
		header.Set("Authorization", "Bearer "+cfg.Token)
	}
	newReq := func(ctx context.Context, u string) (*http.Request, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return nil, err
		}
		req.Header = header.Clone()
		return req, nil
	}

	res := &Result{
		Target:       redactURL(first),
		Paths:        len(cfg.URLs),
		Client:       cfg.Client,
		Concurrency:  cfg.Concurrency,
		Connections:  cfg.Connections,
		DurationSec:  cfg.Duration.Seconds(),
		RequestLimit: cfg.Requests,
		Status:       map[string]uint64{},
	}

	workers := make([]*worker, cfg.Concurrency)
	for i := range workers {
		workers[i] = &worker{
			hist:  NewHistogram(),
			errs:  map[string]uint64{},
			nreqs: len(cfg.URLs),
			next:  i * len(cfg.URLs) / cfg.Concurrency,
		}
	}
	// net/http clients for the load (by default) and the metrics scrape.
	perConn := (cfg.Concurrency + cfg.Connections - 1) / cfg.Connections
	nclients := cfg.Connections
	if cfg.Client == ClientFramer {
		nclients = 1 // the scrape only
	}
	clients := make([]*http.Client, nclients)
	defer func() {
		for _, c := range clients {
			if c != nil {
				c.CloseIdleConnections()
			}
		}
	}()
	for i := range clients {
		clients[i] = newClient(tc, cfg.Resolver, perConn, cfg.Timeout)
	}

	if cfg.Client == ClientFramer {
		urls := make([]*url.URL, len(cfg.URLs))
		for i, u := range cfg.URLs {
			urls[i], _ = url.Parse(u) // parsed once already by normalize
		}
		// Cancelling ctx unblocks the workers by closing their connections.
		conns := &connSet{m: map[*framerConn]struct{}{}}
		defer conns.closeAll()
		defer context.AfterFunc(ctx, conns.closeAll)()
		redial := func() (*framerConn, error) {
			fc, err := dialFramer(ctx, &cfg, tc, urls, cfg.Token)
			if err != nil {
				return nil, err
			}
			if err := conns.add(fc); err != nil {
				return nil, err
			}
			return fc, nil
		}
		for i, w := range workers {
			w.redial, w.conns = redial, conns
			if w.fc, err = redial(); err != nil {
				return nil, fmt.Errorf("connecting: %v", err)
			}
			if err := warmUpFramer(w.fc, 0, cfg.URLs[0], res, i == 0); err != nil {
				return nil, err
			}
		}
	} else {
		// One transport, hence connection, per connection slot; warm each up
		// with one request that checks status and protocol.
		for i, c := range clients {
			if err := warmUp(ctx, c, newReq, cfg.URLs[0], cfg.RequireHTTP2, res, i == 0); err != nil {
				return nil, err
			}
		}
		for i, w := range workers {
			w.client = clients[i%len(clients)]
			w.buf = make([]byte, 32*1024)
			w.reqs = make([]*http.Request, len(cfg.URLs))
			for j, u := range cfg.URLs {
				if w.reqs[j], err = newReq(ctx, u); err != nil {
					return nil, fmt.Errorf("target URL %q: %v", u, err)
				}
			}
		}
	}

	sampler := newServerSampler(cfg, first, func(u string) (*http.Request, error) { return newReq(ctx, u) }, clients[0])
	sampler.before()
	res.LoadAvgStart, _ = LoadAverage()
	cpu0 := selfCPU()

	var stop atomic.Bool
	var issued atomic.Int64
	var wg sync.WaitGroup
	begin := make(chan struct{})
	for _, w := range workers {
		wg.Go(func() {
			<-begin
			for !stop.Load() && ctx.Err() == nil {
				if cfg.Requests > 0 && issued.Add(1) > cfg.Requests {
					return
				}
				if !w.one(ctx) {
					return
				}
			}
		})
	}
	start := time.Now()
	timer := time.AfterFunc(cfg.Duration, func() { stop.Store(true) })
	close(begin)
	wg.Wait()
	elapsed := time.Since(start)
	timer.Stop()
	res.Interrupted = ctx.Err() != nil

	res.ClientCPUSeconds = (selfCPU() - cpu0).Seconds()
	res.LoadAvgEnd, _ = LoadAverage()
	res.Server = sampler.after()

	hist := NewHistogram()
	var proto [3]uint64
	errs := map[string]uint64{}
	for _, w := range workers {
		hist.Merge(w.hist)
		res.BytesReceived += w.bytes
		res.Errors += w.transport
		res.Requests += w.transport
		for s, n := range w.status {
			if n == 0 {
				continue
			}
			res.Status[strconv.Itoa(s)] += n
			res.Responses += n
			if s >= 200 && s < 300 {
				res.OK += n
			} else {
				res.Errors += n
			}
		}
		for k, n := range w.errs {
			errs[k] += n
		}
		for i, n := range w.proto {
			proto[i] += n
		}
	}
	res.Requests += res.Responses
	if len(errs) > 0 {
		res.TransportErrors = errs
	}
	res.ElapsedSec = elapsed.Seconds()
	if elapsed > 0 {
		res.RequestsPerSec = float64(res.Requests) / elapsed.Seconds()
	}
	res.Latency = Latency{
		Min:  ms(hist.Min()),
		Mean: ms(hist.Mean()),
		P50:  ms(hist.Quantile(0.50)),
		P90:  ms(hist.Quantile(0.90)),
		P99:  ms(hist.Quantile(0.99)),
		P999: ms(hist.Quantile(0.999)),
		Max:  ms(hist.Max()),
	}
	res.Protocol = protocolName(proto, res.Protocol)
	return res, nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// protocolName names the protocol(s) the responses came over; warm is the
// warm-up's, used when the run got no response at all.
func protocolName(p [3]uint64, warm string) string {
	var parts []string
	names := [3]string{"other", "HTTP/1.x", "HTTP/2.0"}
	for i := 2; i >= 0; i-- {
		if p[i] > 0 {
			parts = append(parts, names[i])
		}
	}
	switch {
	case len(parts) == 0:
		return warm
	case len(parts) == 1:
		return parts[0]
	}
	var b strings.Builder
	for i := 2; i >= 0; i-- {
		if p[i] > 0 {
			if b.Len() > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "%s (%d)", names[i], p[i])
		}
	}
	return "mixed: " + b.String()
}

// warmUp sends one request on a fresh client and checks its answer.
func warmUp(ctx context.Context, c *http.Client, newReq func(context.Context, string) (*http.Request, error), u string, requireH2 bool, res *Result, record bool) error {
	req, err := newReq(ctx, u)
	if err != nil {
		return fmt.Errorf("target URL %q: %v", u, err)
	}
	resp, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("first request: %v", errorKind(err))
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	resp.Body.Close()
	if err != nil {
		return fmt.Errorf("first request: reading body: %v", err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("first request to %s answered %s: %s", req.URL.Redacted(), resp.Status, snippet(body))
	}
	if requireH2 && resp.ProtoMajor != 2 {
		return fmt.Errorf("the server answered over %s, not HTTP/2 (HTTP/2 needs https with ALPN; to accept HTTP/1.1 turn off requiring HTTP/2)", resp.Proto)
	}
	if record {
		res.Protocol = resp.Proto
		recordFirst(res, resp.StatusCode, body)
	}
	return nil
}

// warmUpFramer sends one request on a fresh framer connection and checks its answer.
func warmUpFramer(fc *framerConn, idx int, u string, res *Result, record bool) error {
	var body bytes.Buffer
	status, _, err := fc.do(idx, &body)
	if err != nil {
		return fmt.Errorf("first request: %v", err)
	}
	if status < 200 || status > 299 {
		return fmt.Errorf("first request to %s answered %d %s: %s", u, status, http.StatusText(status), snippet(body.Bytes()))
	}
	if record {
		res.Protocol = "HTTP/2.0"
		recordFirst(res, status, body.Bytes())
	}
	return nil
}

func recordFirst(res *Result, status int, body []byte) {
	res.FirstStatus = status
	var list struct {
		Kind  string            `json:"kind"`
		Items []json.RawMessage `json:"items"`
	}
	if json.Unmarshal(body, &list) == nil {
		res.FirstKind = list.Kind
		res.FirstItems = len(list.Items)
	}
}

// snippet shortens a body for an error message, preferring a Status's message.
func snippet(body []byte) string {
	var st struct {
		Message string `json:"message"`
	}
	if json.Unmarshal(body, &st) == nil && st.Message != "" {
		return st.Message
	}
	s := strings.TrimSpace(string(body))
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	if s == "" {
		s = "(empty body)"
	}
	return s
}

// serverSampler reads the server's memory and CPU before and after the load.
type serverSampler struct {
	pid        int
	metricsURL string
	newReq     func(string) (*http.Request, error)
	client     *http.Client

	idleRSS uint64
	cpu0    float64
	haveCPU bool
}

func newServerSampler(cfg Config, target *url.URL, newReq func(string) (*http.Request, error), c *http.Client) *serverSampler {
	s := &serverSampler{pid: cfg.PID, metricsURL: cfg.MetricsURL, newReq: newReq, client: c}
	if s.metricsURL == "" {
		s.metricsURL = (&url.URL{Scheme: target.Scheme, Host: target.Host, Path: "/metrics"}).String()
	}
	return s
}

func (s *serverSampler) before() {
	if s.pid != 0 {
		if m, err := ReadProcMemory(s.pid); err == nil {
			s.idleRSS = m.RSS
		}
		if c, err := ReadProcCPU(s.pid); err == nil {
			s.cpu0, s.haveCPU = c.Seconds(), true
		}
		return
	}
	text, err := s.scrape()
	if err != nil {
		return
	}
	if v, ok := metricValue(text, "process_resident_memory_bytes"); ok {
		s.idleRSS = uint64(v)
	}
	if v, ok := metricValue(text, "process_cpu_seconds_total"); ok {
		s.cpu0, s.haveCPU = v, true
	}
}

func (s *serverSampler) after() *ServerStats {
	if s.pid != 0 {
		st := &ServerStats{Source: fmt.Sprintf("/proc/%d", s.pid), IdleRSSBytes: s.idleRSS}
		m, err := ReadProcMemory(s.pid)
		if err != nil {
			st.Note = "reading memory: " + err.Error()
			return st
		}
		st.RSSBytes, st.PeakRSSBytes, st.AnonRSSBytes, st.FileRSSBytes = m.RSS, m.Peak, m.Anon, m.File
		if c, err := ReadProcCPU(s.pid); err == nil && s.haveCPU {
			st.CPUSeconds = c.Seconds() - s.cpu0
		}
		return st
	}
	st := &ServerStats{Source: s.metricsURL, IdleRSSBytes: s.idleRSS}
	text, err := s.scrape()
	if err != nil {
		st.Note = err.Error()
		return st
	}
	v, ok := metricValue(text, "process_resident_memory_bytes")
	if !ok {
		st.Note = "the server's metrics have no process_resident_memory_bytes (give its PID instead)"
		return st
	}
	st.RSSBytes = uint64(v)
	if c, ok := metricValue(text, "process_cpu_seconds_total"); ok && s.haveCPU {
		st.CPUSeconds = c - s.cpu0
	}
	return st
}

func (s *serverSampler) scrape() ([]byte, error) {
	req, err := s.newReq(s.metricsURL)
	if err != nil {
		return nil, fmt.Errorf("metrics URL: %v", err)
	}
	req.Header.Set("Accept", "text/plain")
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("scraping %s: %v", s.metricsURL, errorKind(err))
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return nil, fmt.Errorf("scraping %s: %v", s.metricsURL, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("scraping %s: %s", s.metricsURL, resp.Status)
	}
	return body, nil
}

// Validate checks a configuration as Run would, without resolving or
// sending anything.
func Validate(cfg Config) error {
	_, err := cfg.normalize()
	return err
}

// connSet tracks the framer connections so that cancelling a run can close
// them all, including ones dialled after the cancellation.
type connSet struct {
	mu     sync.Mutex
	m      map[*framerConn]struct{}
	closed bool
}

func (s *connSet) add(fc *framerConn) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		fc.Close()
		return errors.New("run cancelled")
	}
	s.m[fc] = struct{}{}
	return nil
}

func (s *connSet) remove(fc *framerConn) {
	fc.Close()
	s.mu.Lock()
	delete(s.m, fc)
	s.mu.Unlock()
}

func (s *connSet) closeAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	for fc := range s.m {
		fc.Close()
	}
	clear(s.m)
}
