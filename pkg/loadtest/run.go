package loadtest

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/extmetrics/extmetrics/internal/histogram"
	"github.com/extmetrics/extmetrics/internal/procstat"
)

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
	if _, err := checkLoopback(ctx, cfg.Resolver, first.Hostname()); err != nil {
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
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, http.NoBody)
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
			hist:  histogram.New(),
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
	res.LoadAvgStart, _ = procstat.LoadAverage()
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
	res.LoadAvgEnd, _ = procstat.LoadAverage()
	res.Server = sampler.after()

	hist := histogram.New()
	var proto [3]uint64
	errs := map[string]uint64{}
	for _, w := range workers {
		hist.Merge(w.hist)
		res.BytesReceived += w.bytes
		res.Errors += w.transport
		res.Requests += w.transport
		for s, n := range &w.status {
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
