package migrate

import (
	"fmt"
	"strings"

	yaml "go.yaml.in/yaml/v3"

	"github.com/extmetrics/extmetrics/pkg/flagger"
)

// serverFields are set by the API server; an object carrying them is not
// ready for kubectl apply (resourceVersion makes it a conditional update).
var serverFields = []string{"uid", "resourceVersion", "generation", "creationTimestamp", "managedFields", "selfLink"}

// rewrite returns canary c with each of ds's metrics pointing at its new
// template (and, for templates named by variable, the DatadogMetric name in
// templateVariables). Everything else is kept as read, comments included;
// only server-set fields are dropped.
func (in *Input) rewrite(c *flagger.Canary, ds []*DatadogMetric) (*Canary, error) {
	orig, err := in.node(c.Source)
	if err != nil {
		return nil, err
	}
	budget := maxExpandedNodes
	n := expand(orig, 0, &budget)
	if budget < 0 {
		return nil, fmt.Errorf("%s: the Canary expands to more than %d YAML nodes (aliases?)", c.Source, maxExpandedNodes)
	}
	rc := &Canary{Canary: c, Node: n, Metrics: ds}
	if removeKey(n, "status") {
		rc.Removed = append(rc.Removed, "status")
	}
	if meta := mapValue(n, "metadata"); meta != nil {
		for _, k := range serverFields {
			if removeKey(meta, k) {
				rc.Removed = append(rc.Removed, "metadata."+k)
			}
		}
	}
	if n.Kind == yaml.MappingNode && mapValue(n, "metadata") != nil && mapValue(mapValue(n, "metadata"), "namespace") == nil {
		// Written for a namespace chosen at load time: say it, so kubectl
		// applies it where the DatadogMetrics are.
		setKey(mapValue(n, "metadata"), "namespace", c.Namespace)
	}
	section := strings.TrimPrefix(c.Spec.AnalysisField, "spec.")
	metrics := mapValue(mapValue(mapValue(n, "spec"), section), "metrics")
	if metrics == nil || metrics.Kind != yaml.SequenceNode {
		return nil, fmt.Errorf("%s: %s.metrics not found again", c.Source, c.Spec.AnalysisField)
	}
	for _, d := range ds {
		i := metricIndex(d)
		if i < 0 || i >= len(metrics.Content) {
			return nil, fmt.Errorf("%s: %s not found again", c.Source, d.MetricField)
		}
		m := metrics.Content[i]
		ref := mapValue(m, "templateRef")
		if ref == nil || ref.Kind != yaml.MappingNode {
			return nil, fmt.Errorf("%s: %s.templateRef not found again", c.Source, d.MetricField)
		}
		setKey(ref, "name", d.Template.Name)
		if d.Template.ByVariable {
			vars := mapValue(m, "templateVariables")
			if vars == nil || vars.Kind != yaml.MappingNode {
				removeKey(m, "templateVariables") // null
				vars = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
				m.Content = append(m.Content, strNode("templateVariables"), vars)
			}
			setKey(vars, NameVariable, d.Name)
		}
	}
	return rc, nil
}

// maxExpandedNodes bounds a Canary once its aliases are expanded (an alias
// bomb would otherwise grow exponentially).
const maxExpandedNodes = 1 << 16

// expand deep-copies n with aliases replaced by what they point to, and
// block style everywhere (JSON input reads as flow style). It spends one
// unit of budget per node and stops copying when the budget runs out.
func expand(n *yaml.Node, depth int, budget *int) *yaml.Node {
	n = deref(n)
	*budget--
	if n == nil || depth > 200 || *budget < 0 {
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Value: "null"}
	}
	c := *n
	c.Anchor = ""
	c.Style &^= yaml.FlowStyle
	if n.Kind == yaml.ScalarNode && n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) != 0 && n.Tag == "!!str" {
		c.Style = n.Style // keep quoting: JSON strings are double-quoted
	}
	c.Content = nil
	for _, k := range n.Content {
		if *budget < 0 {
			break
		}
		c.Content = append(c.Content, expand(k, depth+1, budget))
	}
	return &c
}

func strNode(s string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s} }

// setKey sets key to the string value in mapping n (added at the end when absent).
func setKey(n *yaml.Node, key, value string) {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			v := n.Content[i+1]
			v.Kind, v.Tag, v.Value, v.Content, v.Alias = yaml.ScalarNode, "!!str", value, nil, nil
			v.Style &^= yaml.LiteralStyle | yaml.FoldedStyle | yaml.FlowStyle
			return
		}
	}
	n.Content = append(n.Content, strNode(key), strNode(value))
}

// removeKey deletes key from mapping n and reports whether it was there.
func removeKey(n *yaml.Node, key string) bool {
	if n == nil || n.Kind != yaml.MappingNode {
		return false
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			n.Content = append(n.Content[:i], n.Content[i+2:]...)
			return true
		}
	}
	return false
}
