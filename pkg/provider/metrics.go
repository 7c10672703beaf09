package provider

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics holds Prometheus collectors the caller registers itself (nothing is
// registered globally). A nil *Metrics, or the zero value, records nothing.
//
//	m := provider.NewMetrics("extmetrics")
//	if err := m.Register(prometheus.DefaultRegisterer); err != nil { ... }
//	p, err := provider.New(base, spec, provider.Options{Metrics: m})
type Metrics struct {
	queries *prometheus.CounterVec   // <ns>_provider_queries_total{outcome}
	latency *prometheus.HistogramVec // <ns>_provider_query_duration_seconds{outcome}
	retries *prometheus.CounterVec   // <ns>_provider_retries_total{reason}
	health  *prometheus.CounterVec   // <ns>_provider_health_checks_total{online}
}

// NewMetrics creates the collectors with the given metric namespace (e.g.
// "extmetrics"; may be empty). Outcome labels are "ok" or an ErrorKind
// ("no-values", "not-found", "stale", "unauthorized", "forbidden",
// "unavailable", "invalid-query", "ambiguous", "error").
func NewMetrics(namespace string) *Metrics {
	return &Metrics{
		queries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Subsystem: "provider", Name: "queries_total",
			Help: "External metrics queries by outcome (ok or the error kind).",
		}, []string{"outcome"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Subsystem: "provider", Name: "query_duration_seconds",
			Help:    "Duration of external metrics queries, retries included.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"outcome"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Subsystem: "provider", Name: "retries_total",
			Help: "Retried requests by reason (HTTP status or connection error).",
		}, []string{"reason"}),
		health: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Subsystem: "provider", Name: "health_checks_total",
			Help: "Health checks by result.",
		}, []string{"online"}),
	}
}

func (m *Metrics) collectors() []prometheus.Collector {
	if m == nil || m.queries == nil {
		return nil
	}
	return []prometheus.Collector{m.queries, m.latency, m.retries, m.health}
}

// Describe implements prometheus.Collector.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, c := range m.collectors() {
		c.Describe(ch)
	}
}

// Collect implements prometheus.Collector.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	for _, c := range m.collectors() {
		c.Collect(ch)
	}
}

// Register registers the collectors with reg.
func (m *Metrics) Register(reg prometheus.Registerer) error {
	return reg.Register(m)
}

func (m *Metrics) query(outcome string, d time.Duration) {
	if m == nil || m.queries == nil {
		return
	}
	m.queries.WithLabelValues(outcome).Inc()
	m.latency.WithLabelValues(outcome).Observe(d.Seconds())
}

func (m *Metrics) retry(reason string) {
	if m == nil || m.retries == nil {
		return
	}
	m.retries.WithLabelValues(reason).Inc()
}

func (m *Metrics) healthCheck(online bool) {
	if m == nil || m.health == nil {
		return
	}
	if online {
		m.health.WithLabelValues("true").Inc()
	} else {
		m.health.WithLabelValues("false").Inc()
	}
}
