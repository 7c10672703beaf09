package gate

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/extmetrics/extmetrics/pkg/analysis"
)

// MaxCheckValueSeries bounds extmetrics_gate_check_value: beyond it, checks
// of new (canary, check) pairs are not recorded until others expire.
const MaxCheckValueSeries = 2000

// checkValues is the gauge extmetrics_gate_check_value{namespace, canary,
// check, side}: the last value each canary's check read, side "canary" or
// "baseline". A series expires once its check has not run for the default
// staleness bound of its analysis interval (3 intervals, at least 5 m:
// analysis.DefaultMaxAge), so canaries that finished leave no series
// behind; at most MaxCheckValueSeries are kept.
type checkValues struct {
	desc *prometheus.Desc
	now  func() time.Time

	mu      sync.Mutex
	series  map[checkValueKey]checkValue
	dropped uint64
}

type checkValueKey struct{ namespace, canary, check, side string }

type checkValue struct {
	v       float64
	expires time.Time
}

func newCheckValues(now func() time.Time) *checkValues {
	return &checkValues{
		desc: prometheus.NewDesc(MetricsNamespace+"_check_value",
			"The last value a canary's check read, by side (canary, or baseline for a relative check); a series expires after 3 analysis intervals (at least 5m) without a check.",
			[]string{"namespace", "canary", "check", "side"}, nil),
		now:    now,
		series: map[checkValueKey]checkValue{},
	}
}

// record keeps the values of a check that named its canary and read them.
func (c *checkValues) record(namespace, canary string, res *Result, interval time.Duration) {
	if namespace == "" || canary == "" || res.Value == nil {
		return
	}
	check := res.Template
	if check == "" {
		check = "provider " + res.Provider + ": " + res.Query
	}
	expires := c.now().Add(analysis.DefaultMaxAge(interval))
	sides := []struct {
		side string
		v    *float64
	}{{"canary", res.Value}, {"baseline", res.Baseline}}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.expireLocked()
	for _, s := range sides {
		if s.v == nil {
			continue
		}
		k := checkValueKey{namespace, canary, check, s.side}
		if _, ok := c.series[k]; !ok && len(c.series) >= MaxCheckValueSeries {
			c.dropped++
			continue
		}
		c.series[k] = checkValue{v: *s.v, expires: expires}
	}
}

func (c *checkValues) expireLocked() {
	now := c.now()
	for k, v := range c.series {
		if !now.Before(v.expires) {
			delete(c.series, k)
		}
	}
}

func (c *checkValues) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *checkValues) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.expireLocked()
	for k, v := range c.series {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, v.v, k.namespace, k.canary, k.check, k.side)
	}
}
