package gate

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/extmetrics/extmetrics/pkg/gate/coalesce"
	"github.com/extmetrics/extmetrics/pkg/provider"
)

// MetricsNamespace prefixes every metric the gate exports.
const MetricsNamespace = "extmetrics_gate"

type gateMetrics struct {
	reg       *prometheus.Registry
	checks    *prometheus.CounterVec
	duration  *prometheus.HistogramVec
	cacheReqs *prometheus.CounterVec
	upstreams *prometheus.HistogramVec
	provider  *provider.Metrics
	values    *checkValues
	events    *prometheus.CounterVec
}

func newGateMetrics(now func() time.Time) *gateMetrics {
	m := &gateMetrics{reg: prometheus.NewRegistry(), values: newCheckValues(now), events: newEventsCounter()}
	m.checks = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: MetricsNamespace, Name: "checks_total",
		Help: "Checks answered, by endpoint (check, flagger, argo), verdict (pass, fail, measured, error) and error kind.",
	}, []string{"endpoint", "verdict", "error_kind"})
	m.duration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: MetricsNamespace, Name: "check_duration_seconds",
		Help:    "Time to answer a check, by endpoint.",
		Buckets: []float64{.00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
	}, []string{"endpoint"})
	m.cacheReqs = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: MetricsNamespace, Name: "cache_requests_total",
		Help: "Metric reads by how they were answered: hit (cache), coalesced (shared an upstream request in flight), miss (made the upstream request).",
	}, []string{"result"})
	m.upstreams = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: MetricsNamespace, Name: "upstream_duration_seconds",
		Help:    "Time of upstream queries (retries included), by outcome (ok or the error kind).",
		Buckets: prometheus.ExponentialBuckets(0.0005, 2.5, 14),
	}, []string{"outcome"})
	m.provider = provider.NewMetrics(MetricsNamespace)
	for _, r := range []string{"hit", "miss", "coalesced"} {
		m.cacheReqs.WithLabelValues(r)
	}
	m.reg.MustRegister(m.checks, m.duration, m.cacheReqs, m.upstreams, m.values, m.events,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	_ = m.provider.Register(m.reg)
	return m
}

func (m *gateMetrics) check(endpoint string, r *Result, d time.Duration) {
	m.checks.WithLabelValues(endpoint, r.Verdict, r.ErrorKind).Inc()
	m.duration.WithLabelValues(endpoint).Observe(d.Seconds())
}

func (m *gateMetrics) cache(o coalesce.Outcome) { m.cacheReqs.WithLabelValues(o.String()).Inc() }

func (m *gateMetrics) upstream(kind string, d time.Duration) {
	if kind == "" {
		kind = "ok"
	}
	m.upstreams.WithLabelValues(kind).Observe(d.Seconds())
}
