package migrate

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	yaml "go.yaml.in/yaml/v3"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/extmetrics/extmetrics/pkg/flagger"
	"github.com/extmetrics/extmetrics/pkg/query"
)

// Names and values the migration writes.
const (
	DatadogMetricAPIVersion = "datadoghq.com/v1alpha1"
	KindDatadogMetric       = "DatadogMetric"
	// AlwaysActiveAnnotation makes the Cluster Agent query a DatadogMetric
	// that no HorizontalPodAutoscaler references: without it the
	// DatadogMetric stays inactive and never gets a value.
	AlwaysActiveAnnotation = "external-metrics.datadoghq.com/always-active"
	// SourceAnnotation records where a generated object came from.
	SourceAnnotation = "extmetrics.dev/migrated-from"
	// TemplateSuffix is appended to a Datadog template's name to name its
	// externalmetrics successor (both exist side by side until the switch).
	TemplateSuffix = "-externalmetrics"
	// NameVariable is the templateVariables key that carries a canary's
	// DatadogMetric name when one name pattern does not fit every canary of
	// a template (shortened names, different metric names).
	NameVariable = "datadogMetric"
	// WindowFactor: Flagger's datadog provider queries the last
	// WindowFactor × the metric's interval (datadogFromDeltaMultiplierOnMetricInterval).
	WindowFactor = 10
)

// Options tune a migration.
type Options struct {
	// Address is spec.provider.address of the new templates: "" (the
	// default) reads through the kube-apiserver's aggregation layer, where
	// the Cluster Agent registers; a URL reads a Cluster Agent directly.
	Address string
	// SecretName is spec.provider.secretRef.name of the new templates ("" for none).
	SecretName string
	// SkipUnsupported migrates what can be migrated and lists the rest in
	// Result.Skipped instead of failing.
	SkipUnsupported bool
}

// DatadogMetric is one generated DatadogMetric: one canary × Datadog metric.
type DatadogMetric struct {
	Namespace  string // the canary's
	Name       string
	Query      string        // the source template's query rendered for the canary
	TimeWindow time.Duration // WindowFactor × the metric's interval
	Shortened  bool          // Name is not plainly "<canary>-<metric>"

	Canary      *flagger.Canary
	Metric      *flagger.Metric
	MetricField string // e.g. spec.analysis.metrics[1]
	Source      *flagger.MetricTemplate
	Template    *Template // the new template the canary now references
}

// Ref is "namespace/name".
func (d *DatadogMetric) Ref() string { return d.Namespace + "/" + d.Name }

// ExternalMetricName is what the Cluster Agent serves it as.
func (d *DatadogMetric) ExternalMetricName() string {
	return "datadogmetric@" + d.Namespace + ":" + d.Name
}

// Template is one generated externalmetrics MetricTemplate, the successor of
// one Datadog MetricTemplate; every canary that used the source uses it.
type Template struct {
	Namespace  string // the source's
	Name       string
	Query      string
	Address    string
	SecretName string
	ByVariable bool // the query names the DatadogMetric with {{ variables.datadogMetric }}
	Source     *flagger.MetricTemplate
	Metrics    []*DatadogMetric
}

// Key is "namespace/name".
func (t *Template) Key() string { return t.Namespace + "/" + t.Name }

// Canary is a Canary rewritten to reference the new templates.
type Canary struct {
	Canary  *flagger.Canary
	Node    *yaml.Node // the object, rewritten
	Metrics []*DatadogMetric
	Removed []string // server-set fields dropped (status, metadata.resourceVersion, ...)
}

// Skipped is a metric that was not migrated, and why.
type Skipped struct {
	Canary *flagger.Canary
	Field  string // the metric's field, or "" for the whole canary
	Metric string
	Reason string
	index  int // the metric's position, -1 for the canary
}

func (s Skipped) String() string {
	where := fmt.Sprintf("%s: Canary %s", s.Canary.Source, s.Canary.Key())
	if s.Field != "" {
		where += fmt.Sprintf(": %s (%s)", s.Field, s.Metric)
	}
	return where + ": " + s.Reason
}

// Result is a migration.
type Result struct {
	DatadogMetrics []*DatadogMetric // sorted by namespace, canary, metric
	Templates      []*Template      // sorted by namespace and name
	Canaries       []*Canary        // in the order read
	Skipped        []Skipped
	Notes          []string
}

// ErrRefused is wrapped by the error Migrate returns when a metric cannot be
// migrated faithfully (and Options.SkipUnsupported is false).
var ErrRefused = errors.New("cannot be migrated faithfully")

// Migrate translates every Canary metric that references a MetricTemplate
// with provider type datadog. Metrics that cannot be migrated faithfully
// are refused with the reason: the error lists them all and no result is
// returned, unless opts.SkipUnsupported (then they are in Result.Skipped and
// the rest is migrated). Other metrics are left as they are.
func Migrate(in *Input, opts Options) (*Result, error) {
	if opts.SecretName != "" {
		if errs := validation.IsDNS1123Subdomain(opts.SecretName); len(errs) > 0 {
			return nil, fmt.Errorf("secret name %q: %s", opts.SecretName, strings.Join(errs, "; "))
		}
	}
	set := in.Set
	res := &Result{}
	var dms []*DatadogMetric
	skip := func(c *flagger.Canary, i int, reason string) {
		s := Skipped{Canary: c, Reason: reason, index: i}
		if i >= 0 {
			s.Field = metricField(c, i)
			s.Metric = c.Spec.Analysis.Metrics[i].Name
		}
		res.Skipped = append(res.Skipped, s)
	}
	for _, c := range set.Canaries {
		first := len(res.Skipped)
		r, errs := set.ResolveCanary(c)
		for _, err := range errs {
			i, msg := metricOf(c, err)
			if i < 0 && r == nil {
				res.Notes = append(res.Notes, fmt.Sprintf("%s: Canary %s left as it is: %s", c.Source, c.Key(), msg))
				continue
			}
			skip(c, i, msg)
		}
		if r == nil {
			continue
		}
		for k := range r.Checks {
			ch := &r.Checks[k]
			if ch.Template.Spec.Provider.Type != flagger.ProviderDatadog {
				continue
			}
			m := ch.Metric
			if m.Interval == "" {
				skip(c, ch.Index, "no interval: Flagger's datadog provider cannot run this metric (it fails with \"error parsing metric interval\"), so there is no window to carry over; set interval (e.g. 1m) and migrate again")
				continue
			}
			iv, err := time.ParseDuration(m.Interval)
			if err != nil || iv <= 0 {
				skip(c, ch.Index, fmt.Sprintf("interval %q is not a positive Go duration (Flagger's datadog provider fails the same way)", m.Interval))
				continue
			}
			if why := checkQuery(ch.Query); why != "" {
				skip(c, ch.Index, fmt.Sprintf("MetricTemplate %s: %s", ch.Template.Key(), why))
				continue
			}
			if _, ok := m.TemplateVariables[NameVariable]; ok {
				skip(c, ch.Index, fmt.Sprintf("templateVariables.%s is reserved by the migration (it names the DatadogMetric)", NameVariable))
				continue
			}
			dms = append(dms, &DatadogMetric{
				Namespace: c.Namespace, Query: ch.Query, TimeWindow: WindowFactor * iv,
				Canary: c, Metric: m, MetricField: ch.Field, Source: ch.Template,
			})
		}
		mine := res.Skipped[first:]
		sort.SliceStable(mine, func(i, j int) bool { return mine[i].index < mine[j].index })
	}
	if len(res.Skipped) > 0 && !opts.SkipUnsupported {
		return nil, refused(res.Skipped)
	}

	// Templates: one successor per source; refuse a name already taken.
	bySource := map[*flagger.MetricTemplate]*Template{}
	var kept []*DatadogMetric
	for _, d := range dms {
		t := bySource[d.Source]
		if t == nil {
			t = &Template{Namespace: d.Source.Namespace, Name: d.Source.Name + TemplateSuffix, Address: opts.Address, SecretName: opts.SecretName, Source: d.Source}
			bySource[d.Source] = t
		}
		switch {
		case len(validation.IsDNS1123Subdomain(t.Name)) > 0:
			skip(d.Canary, metricIndex(d), fmt.Sprintf("MetricTemplate %s: the new template's name %q is not a valid object name (too long?)", d.Source.Key(), t.Name))
		case set.Template(t.Namespace, t.Name) != nil:
			skip(d.Canary, metricIndex(d), fmt.Sprintf("MetricTemplate %s: the new template's name %s is already taken in the input (migrated already?)", d.Source.Key(), t.Key()))
		default:
			d.Template = t
			t.Metrics = append(t.Metrics, d)
			kept = append(kept, d)
		}
	}
	if len(res.Skipped) > 0 && !opts.SkipUnsupported {
		return nil, refused(res.Skipped)
	}
	dms = kept

	// Names, per namespace, in a fixed order.
	sort.SliceStable(dms, func(i, j int) bool {
		a, b := dms[i], dms[j]
		if a.Namespace != b.Namespace {
			return a.Namespace < b.Namespace
		}
		if a.Canary.Name != b.Canary.Name {
			return a.Canary.Name < b.Canary.Name
		}
		return a.Metric.Name < b.Metric.Name
	})
	namers := map[string]*Namer{}
	for _, d := range dms {
		n := namers[d.Namespace]
		if n == nil {
			n = NewNamer()
			namers[d.Namespace] = n
		}
		name, short, err := n.Name(d.Canary.Name, d.Metric.Name)
		if err != nil {
			return nil, err
		}
		d.Name, d.Shortened = name, short
	}
	res.DatadogMetrics = dms

	// Template queries: a name pattern when it fits every canary, else the variable.
	for _, t := range bySource {
		if len(t.Metrics) == 0 {
			continue
		}
		suffix := t.Metrics[0].Metric.Name
		for _, d := range t.Metrics {
			if d.Shortened || d.Metric.Name != suffix {
				t.ByVariable = true
			}
		}
		name := "{{ name }}-" + suffix
		if t.ByVariable {
			name = "{{ variables." + NameVariable + " }}"
		}
		t.Query = "{{ namespace }}/datadogmetric@{{ namespace }}:" + name
		for _, d := range t.Metrics {
			if err := selfCheck(t, d); err != nil {
				return nil, err
			}
		}
		res.Templates = append(res.Templates, t)
	}
	sort.Slice(res.Templates, func(i, j int) bool { return res.Templates[i].Key() < res.Templates[j].Key() })

	// Canaries, in the order read.
	byCanary := map[*flagger.Canary][]*DatadogMetric{}
	for _, d := range dms {
		byCanary[d.Canary] = append(byCanary[d.Canary], d)
	}
	for _, c := range set.Canaries {
		ds := byCanary[c]
		if len(ds) == 0 {
			continue
		}
		sort.SliceStable(ds, func(i, j int) bool { return metricIndex(ds[i]) < metricIndex(ds[j]) })
		rc, err := in.rewrite(c, ds)
		if err != nil {
			return nil, err
		}
		res.Canaries = append(res.Canaries, rc)
	}
	var notes []string
	for _, n := range set.Notes {
		if !strings.Contains(n, "webhook(s) not run") { // about analyze; a migration keeps webhooks
			notes = append(notes, n)
		}
	}
	res.Notes = append(notes, res.Notes...)
	return res, nil
}

// selfCheck renders the new template for d's canary as Flagger will and
// makes sure it names d's DatadogMetric and parses as an externalmetrics query.
func selfCheck(t *Template, d *DatadogMetric) error {
	got, err := d.renderNewQuery()
	if err != nil {
		return fmt.Errorf("internal error: new template %s for %s: %w", t.Key(), d.Ref(), err)
	}
	q, err := query.Parse(got)
	if err != nil {
		return fmt.Errorf("internal error: new template %s renders %q: %w", t.Key(), got, err)
	}
	if q.Namespace != d.Namespace || q.Metric != d.ExternalMetricName() {
		return fmt.Errorf("internal error: new template %s renders %q for %s, want %s", t.Key(), got, d.Canary.Key(), d.ExternalMetricName())
	}
	return nil
}

func metricField(c *flagger.Canary, i int) string {
	return fmt.Sprintf("%s.metrics[%d]", c.Spec.AnalysisField, i)
}

func metricIndex(d *DatadogMetric) int {
	for i := range d.Canary.Spec.Analysis.Metrics {
		if &d.Canary.Spec.Analysis.Metrics[i] == d.Metric {
			return i
		}
	}
	return -1
}

// metricOf finds which metric a resolution error is about (-1: the canary)
// and returns its message without the location the Skipped adds again.
func metricOf(c *flagger.Canary, err error) (int, string) {
	var fe *flagger.Error
	if !errors.As(err, &fe) {
		return -1, err.Error()
	}
	msg := fe.Msg
	if fe.Line > 0 {
		msg += fmt.Sprintf(" (line %d)", fe.Line)
	}
	if a := c.Spec.Analysis; a != nil {
		for i := range a.Metrics {
			f := metricField(c, i)
			if fe.Field == f || strings.HasPrefix(fe.Field, f+".") {
				if rest := strings.TrimPrefix(fe.Field, f); rest != "" {
					msg = strings.TrimPrefix(rest, ".") + ": " + msg
				}
				return i, msg
			}
		}
	}
	if fe.Field != "" {
		msg = fe.Field + ": " + msg
	}
	return -1, msg
}

func refused(skipped []Skipped) error {
	errs := []error{fmt.Errorf("%d metric(s) %w (listed below; --skip-unsupported migrates the rest and lists them)", len(skipped), ErrRefused)}
	for _, s := range skipped {
		errs = append(errs, errors.New(s.String()))
	}
	return errors.Join(errs...)
}
