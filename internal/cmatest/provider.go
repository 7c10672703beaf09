package cmatest

import (
	"context"
	"maps"
	"slices"
	"sync"

	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/metrics/pkg/apis/external_metrics"

	cmaprovider "sigs.k8s.io/custom-metrics-apiserver/pkg/provider"
)

// StaticProvider is a custom-metrics-apiserver ExternalMetricsProvider
// serving series set by the test. Like the library's test-adapter it
// matches metric names exactly and stamps items with the time of the
// request; unlike it, it keeps series per namespace (as KEDA and
// prometheus-adapter do) and lists each metric name once in discovery.
type StaticProvider struct {
	notFound bool

	mu     sync.RWMutex
	series []series
}

type series struct {
	namespace, metric string
	labels            map[string]string
	value             resource.Quantity
}

var _ cmaprovider.ExternalMetricsProvider = (*StaticProvider)(nil)

// NewStaticProvider returns an empty provider; unknownNotFound is
// Options.UnknownMetricNotFound.
func NewStaticProvider(unknownNotFound bool) *StaticProvider {
	return &StaticProvider{notFound: unknownNotFound}
}

// Set adds or replaces the series of metric in namespace with exactly
// these labels.
func (p *StaticProvider) Set(namespace, metric string, lbls map[string]string, value resource.Quantity) {
	p.mu.Lock()
	defer p.mu.Unlock()
	se := series{namespace: namespace, metric: metric, labels: maps.Clone(lbls), value: value.DeepCopy()}
	if se.labels == nil {
		se.labels = map[string]string{}
	}
	for i := range p.series {
		if p.series[i].same(namespace, metric, lbls) {
			p.series[i] = se
			return
		}
	}
	p.series = append(p.series, se)
}

// Delete removes a series; it reports whether there was one.
func (p *StaticProvider) Delete(namespace, metric string, lbls map[string]string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := len(p.series)
	p.series = slices.DeleteFunc(p.series, func(se series) bool { return se.same(namespace, metric, lbls) })
	return len(p.series) != n
}

func (se *series) same(namespace, metric string, lbls map[string]string) bool {
	return se.namespace == namespace && se.metric == metric && maps.Equal(se.labels, lbls)
}

// GetExternalMetric returns the series of info.Metric in namespace whose
// labels match metricSelector, in the order they were first set.
func (p *StaticProvider) GetExternalMetric(_ context.Context, namespace string, metricSelector labels.Selector, info cmaprovider.ExternalMetricInfo) (*external_metrics.ExternalMetricValueList, error) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	now := metav1.Now()
	items := []external_metrics.ExternalMetricValue{}
	known := false
	for i := range p.series {
		se := &p.series[i]
		if se.namespace != namespace || se.metric != info.Metric {
			continue
		}
		known = true
		if !metricSelector.Matches(labels.Set(se.labels)) {
			continue
		}
		items = append(items, external_metrics.ExternalMetricValue{
			MetricName:   se.metric,
			MetricLabels: maps.Clone(se.labels),
			Timestamp:    now,
			Value:        se.value.DeepCopy(),
		})
	}
	if !known && p.notFound {
		// prometheus-adapter's answer for a metric it has no rule for.
		return nil, cmaprovider.NewMetricNotFoundError(schema.GroupResource{Resource: "namespaces"}, info.Metric)
	}
	return &external_metrics.ExternalMetricValueList{Items: items}, nil
}

// ListAllExternalMetrics lists every metric name with a series, once,
// sorted.
func (p *StaticProvider) ListAllExternalMetrics() []cmaprovider.ExternalMetricInfo {
	p.mu.RLock()
	defer p.mu.RUnlock()
	names := make([]string, 0, len(p.series))
	for _, se := range p.series {
		names = append(names, se.metric)
	}
	slices.Sort(names)
	names = slices.Compact(names)
	out := make([]cmaprovider.ExternalMetricInfo, len(names))
	for i, n := range names {
		out[i] = cmaprovider.ExternalMetricInfo{Metric: n}
	}
	return out
}
