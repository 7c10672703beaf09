package devserver

import (
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Request kinds, the "kind" label of the request metrics.
const (
	kindList      = "list"      // metric values
	kindDiscovery = "discovery" // /apis..., /api..., /version
	kindAdmin     = "admin"     // /admin/v1/...
	kindHealth    = "health"    // /healthz, /readyz, /livez
	kindMetrics   = "metrics"   // /metrics
	kindOther     = "other"     // unknown paths
)

var allKinds = []string{kindList, kindDiscovery, kindAdmin, kindHealth, kindMetrics, kindOther}

// codeReset is the "code" label of requests answered by dropping the connection.
const codeReset = 0

// serverMetrics are the devserver's own Prometheus metrics, in a registry of
// their own (never the global one) so several servers can run in one process.
type serverMetrics struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	duration map[string]prometheus.Observer
	reloads  *prometheus.CounterVec
	counters sync.Map // counterKey -> prometheus.Counter
	handler  http.Handler
}

type counterKey struct {
	kind string
	code int
}

func newServerMetrics() *serverMetrics {
	m := &serverMetrics{reg: prometheus.NewRegistry(), duration: map[string]prometheus.Observer{}}
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "extmetrics_devserver_requests_total",
		Help: "Requests answered, by HTTP status code (0 = connection reset by a fault) and kind of path.",
	}, []string{"code", "kind"})
	hist := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "extmetrics_devserver_request_duration_seconds",
		Help:    "Time to answer a request, including injected latency, by kind of path.",
		Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
	}, []string{"kind"})
	m.reloads = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "extmetrics_devserver_scenario_reloads_total",
		Help: "Scenario reloads, by result (ok or error).",
	}, []string{"result"})
	for _, k := range allKinds {
		m.duration[k] = hist.WithLabelValues(k)
	}
	m.reloads.WithLabelValues("ok")
	m.reloads.WithLabelValues("error")
	m.reg.MustRegister(m.requests, hist, m.reloads,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.handler = promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
	return m
}

func (m *serverMetrics) observe(kind string, code int, d time.Duration) {
	key := counterKey{kind, code}
	c, ok := m.counters.Load(key)
	if !ok {
		c, _ = m.counters.LoadOrStore(key, m.requests.WithLabelValues(strconv.Itoa(code), kind))
	}
	c.(prometheus.Counter).Inc()
	if o, ok := m.duration[kind]; ok {
		o.Observe(d.Seconds())
	}
}
