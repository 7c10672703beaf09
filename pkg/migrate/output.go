package migrate

import (
	"bufio"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	yaml "go.yaml.in/yaml/v3"

	"github.com/extmetrics/extmetrics/pkg/flagger"
)

// MigrationLabel marks the generated DatadogMetrics and MetricTemplates (not
// the Canaries), so that `kubectl apply -l extmetrics.dev/migration=datadog`
// applies them before the switch.
const (
	MigrationLabel      = "extmetrics.dev/migration"
	MigrationLabelValue = "datadog"
)

// The objects are built as YAML nodes directly: yaml.Node.Encode of a
// struct would marshal and parse again, most of the time a large migration
// takes.

func scalar(v string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: v} }

// mapping builds a mapping from key, value pairs; a nil value leaves its key out.
func mapping(kv ...any) *yaml.Node {
	n := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	for i := 0; i+1 < len(kv); i += 2 {
		var v *yaml.Node
		switch x := kv[i+1].(type) {
		case string:
			v = scalar(x)
		case *yaml.Node:
			v = x
		}
		if v != nil {
			n.Content = append(n.Content, scalar(kv[i].(string)), v)
		}
	}
	return n
}

func objectMeta(name, namespace string, annotations ...string) *yaml.Node {
	return mapping("name", name, "namespace", namespace,
		"labels", mapping(MigrationLabel, MigrationLabelValue),
		"annotations", mapping(stringsToAny(annotations)...))
}

func stringsToAny(s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}

// Node is the DatadogMetric as Kubernetes reads it.
func (d *DatadogMetric) Node() *yaml.Node {
	spec := mapping("query", d.Query)
	if d.TimeWindow > 0 {
		spec.Content = append(spec.Content, scalar("timeWindow"), scalar(d.TimeWindow.String()))
	}
	return mapping("apiVersion", DatadogMetricAPIVersion, "kind", KindDatadogMetric,
		"metadata", objectMeta(d.Name, d.Namespace,
			AlwaysActiveAnnotation, "true",
			SourceAnnotation, fmt.Sprintf("Canary %s metric %s, MetricTemplate %s", d.Canary.Key(), d.Metric.Name, d.Source.Key())),
		"spec", spec)
}

// Node is the MetricTemplate as Kubernetes reads it.
func (t *Template) Node() *yaml.Node {
	prov := mapping("type", flagger.ProviderExternal)
	if t.Address != "" {
		prov.Content = append(prov.Content, scalar("address"), scalar(t.Address))
	}
	if t.SecretName != "" {
		prov.Content = append(prov.Content, scalar("secretRef"), mapping("name", t.SecretName))
	}
	return mapping("apiVersion", flagger.TemplateAPIVersion, "kind", flagger.KindMetricTemplate,
		"metadata", objectMeta(t.Name, t.Namespace, SourceAnnotation, "MetricTemplate "+t.Source.Key()),
		"spec", mapping("provider", prov, "query", t.Query))
}

// Comment says where the DatadogMetric came from and what changed.
func (d *DatadogMetric) Comment() string {
	lines := []string{
		fmt.Sprintf("DatadogMetric for Canary %s, metric %q (%s, %s),", d.Canary.Key(), d.Metric.Name, d.MetricField, d.Canary.Source),
		fmt.Sprintf("from MetricTemplate %s (%s) rendered for this canary.", d.Source.Key(), d.Source.Source),
		fmt.Sprintf("Window: Flagger read the last point of the last %d x interval %s; spec.timeWindow %s carries it over.", WindowFactor, d.Metric.Interval, d.TimeWindow),
		"Stricter than Flagger: the Cluster Agent refuses values older than maxAge (external_metrics_provider.max_age, 120s by default).",
	}
	p := d.Source.Spec.Provider
	var dropped []string
	if p.Address != "" {
		dropped = append(dropped, "address "+p.Address)
	}
	if p.SecretRef != nil {
		dropped = append(dropped, "secretRef "+p.SecretRef.Name)
	}
	if len(dropped) > 0 {
		lines = append(lines, "Not carried over: the template's "+strings.Join(dropped, " and ")+" (the Cluster Agent queries its own Datadog site with its own keys).")
	}
	if d.Shortened {
		lines = append(lines, fmt.Sprintf("Name: %q is not a DNS-1123 label of at most 63 characters (or is taken), so it was made safe with a stable hash.", d.Canary.Name+"-"+d.Metric.Name))
	}
	return strings.Join(lines, "\n")
}

// Comment says where the template came from and how it names DatadogMetrics.
func (t *Template) Comment() string {
	var users []string
	seen := map[string]bool{}
	for _, d := range t.Metrics {
		if !seen[d.Canary.Key()] {
			seen[d.Canary.Key()] = true
			users = append(users, d.Canary.Key())
		}
	}
	sort.Strings(users)
	addr := "no address: read through the kube-apiserver's aggregation layer, where the Cluster Agent registers"
	if t.Address != "" {
		addr = "address " + t.Address + ": read from the Cluster Agent directly"
	}
	naming := "each canary's DatadogMetric is named by the pattern in the query"
	if t.ByVariable {
		naming = "each canary names its DatadogMetric in templateVariables." + NameVariable + " (one name pattern does not fit them all)"
	}
	return strings.Join([]string{
		fmt.Sprintf("externalmetrics successor of MetricTemplate %s (%s), provider %q.", t.Source.Key(), t.Source.Source, flagger.ProviderDatadog),
		"Used by Canary " + strings.Join(users, ", ") + ".",
		strings.ToUpper(naming[:1]) + naming[1:] + "; " + addr + ".",
	}, "\n")
}

// Comment says where the Canary came from and what changed.
func (c *Canary) Comment() string {
	lines := []string{fmt.Sprintf("Canary %s (%s), rewritten to read its Datadog metrics through externalmetrics:", c.Canary.Key(), c.Canary.Source)}
	for _, d := range c.Metrics {
		lines = append(lines, fmt.Sprintf("  %s %q: templateRef %s -> %s (DatadogMetric %s)", d.MetricField, d.Metric.Name, d.Source.Name, d.Template.Name, d.Name))
	}
	tail := "Everything else as read"
	if len(c.Removed) > 0 {
		tail += "; removed the server-set " + strings.Join(c.Removed, ", ")
	}
	return strings.Join(append(lines, tail+"."), "\n")
}

// Namespaces lists the namespaces the result writes to, sorted.
func (r *Result) Namespaces() []string {
	seen := map[string]bool{}
	for _, d := range r.DatadogMetrics {
		seen[d.Namespace] = true
	}
	for _, t := range r.Templates {
		seen[t.Namespace] = true
	}
	for _, c := range r.Canaries {
		seen[c.Canary.Namespace] = true
	}
	return slices.Sorted(maps.Keys(seen))
}

// WriteYAML writes the objects of namespace ns ("" for all namespaces) as
// multi-document YAML that kubectl apply takes: DatadogMetrics, then
// MetricTemplates, then Canaries, each with a comment saying where it came
// from.
func (r *Result) WriteYAML(w io.Writer, ns string) error {
	header := "Generated by extmetrics migrate datadog. Apply the DatadogMetrics and MetricTemplates first\n" +
		"(kubectl apply -l " + MigrationLabel + "=" + MigrationLabelValue + "), check them (extmetrics migrate datadog --check),\n" +
		"then everything: the Canaries switch to the new templates."
	first := true
	for _, nsi := range r.Namespaces() {
		if ns != "" && nsi != ns {
			continue
		}
		for _, d := range r.DatadogMetrics {
			if d.Namespace == nsi {
				if err := putNode(w, &first, header, d.Comment(), d.Node()); err != nil {
					return err
				}
			}
		}
		for _, t := range r.Templates {
			if t.Namespace == nsi {
				if err := putNode(w, &first, header, t.Comment(), t.Node()); err != nil {
					return err
				}
			}
		}
		for _, c := range r.Canaries {
			if c.Canary.Namespace == nsi {
				if err := putNode(w, &first, header, c.Comment(), c.Node); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// putNode writes one document. Each gets its own encoder: one encoder for a
// whole stream keeps every event it emitted, which made large migrations
// allocate many times their output.
func putNode(w io.Writer, first *bool, header, comment string, n *yaml.Node) error {
	if *first {
		comment = header + "\n\n" + comment
		*first = false
	} else if _, err := io.WriteString(w, "---\n"); err != nil {
		return err
	}
	enc := yaml.NewEncoder(w)
	enc.SetIndent(2)
	if err := enc.Encode(&yaml.Node{Kind: yaml.DocumentNode, HeadComment: comment, Content: []*yaml.Node{n}}); err != nil {
		return err
	}
	return enc.Close()
}

// WriteDir writes one file per namespace, DIR/<namespace>.yaml, creating
// DIR when needed, and returns the paths written.
func (r *Result) WriteDir(dir string) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	var paths []string
	for _, ns := range r.Namespaces() {
		p := filepath.Join(dir, ns+".yaml")
		if err := writeFile(p, func(w io.Writer) error { return r.WriteYAML(w, ns) }); err != nil {
			return paths, err
		}
		paths = append(paths, p)
	}
	return paths, nil
}

func writeFile(path string, write func(io.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	bw := bufio.NewWriter(f)
	err = write(bw)
	if ferr := bw.Flush(); err == nil {
		err = ferr
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}
