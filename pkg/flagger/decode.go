package flagger

import (
	"encoding/base64"
	"fmt"
	"math"
	"sort"
	"strings"

	yaml "go.yaml.in/yaml/v3"
)

// Error is a loading or resolution error with its location.
type Error struct {
	Source Source
	Field  string // field path, e.g. spec.analysis.metrics[1].templateRef ("" = the whole object)
	Line   int    // 0 when unknown
	Msg    string
}

func (e *Error) Error() string {
	var b strings.Builder
	if e.Source.Document > 0 {
		b.WriteString(e.Source.String())
	} else {
		b.WriteString(e.Source.File)
	}
	if e.Field != "" {
		b.WriteString(": ")
		b.WriteString(e.Field)
	}
	b.WriteString(": ")
	b.WriteString(e.Msg)
	if e.Line > 0 {
		fmt.Fprintf(&b, " (line %d)", e.Line)
	}
	return b.String()
}

// walker decodes one document's node tree, collecting every error (with its
// field path and line) instead of stopping at the first.
type walker struct {
	src   Source
	errs  []error
	notes []string
}

func (w *walker) errorf(n *yaml.Node, path, format string, a ...any) {
	line := 0
	if n != nil {
		line = n.Line
	}
	w.errs = append(w.errs, &Error{Source: w.src, Field: path, Line: line, Msg: fmt.Sprintf(format, a...)})
}

func (w *walker) notef(n *yaml.Node, path, format string, a ...any) {
	e := &Error{Source: w.src, Field: path, Msg: fmt.Sprintf(format, a...)}
	if n != nil {
		e.Line = n.Line
	}
	w.notes = append(w.notes, e.Error())
}

func deref(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < 100; i++ {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	n = deref(n)
	return n == nil || (n.Kind == yaml.ScalarNode && n.Tag == "!!null")
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func index(path string, i int) string { return fmt.Sprintf("%s[%d]", path, i) }

// describe names a node's type and value for "want X, got Y" messages.
func describe(n *yaml.Node) string {
	n = deref(n)
	switch {
	case n == nil:
		return "nothing"
	case n.Kind == yaml.MappingNode:
		return "a mapping"
	case n.Kind == yaml.SequenceNode:
		return "a list"
	case n.Tag == "!!null":
		return "null"
	}
	v := n.Value
	if len(v) > 40 {
		v = v[:40] + "..."
	}
	switch n.Tag {
	case "!!str":
		return fmt.Sprintf("the string %q", v)
	case "!!int", "!!float":
		return "the number " + v
	case "!!bool":
		return "the boolean " + v
	}
	return fmt.Sprintf("%s %s", n.Tag, v)
}

type field struct {
	key string
	k   *yaml.Node
	v   *yaml.Node
}

// fields returns a mapping's key/value pairs; null gives none. It reports
// non-mappings, non-string keys and duplicate keys.
func (w *walker) fields(n *yaml.Node, path string) []field {
	n = deref(n)
	if isNull(n) {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		w.errorf(n, path, "want a mapping, got %s", describe(n))
		return nil
	}
	out := make([]field, 0, len(n.Content)/2)
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := deref(n.Content[i]), n.Content[i+1]
		if k.Kind != yaml.ScalarNode || (k.Tag != "!!str" && k.Tag != "!!merge") {
			w.errorf(k, path, "keys must be strings, got %s", describe(k))
			continue
		}
		if seen[k.Value] {
			w.errorf(k, join(path, k.Value), "duplicate key")
			continue
		}
		seen[k.Value] = true
		out = append(out, field{key: k.Value, k: k, v: v})
	}
	return out
}

func (w *walker) scalar(n *yaml.Node, path, want string, tags ...string) (*yaml.Node, bool) {
	n = deref(n)
	if n == nil || n.Kind != yaml.ScalarNode {
		w.errorf(n, path, "want %s, got %s", want, describe(n))
		return nil, false
	}
	for _, t := range tags {
		if n.Tag == t {
			return n, true
		}
	}
	hint := ""
	if want == "a string" && (n.Tag == "!!int" || n.Tag == "!!float" || n.Tag == "!!bool") {
		hint = fmt.Sprintf(" (quote it: \"%s\")", n.Value)
	}
	w.errorf(n, path, "want %s, got %s%s", want, describe(n), hint)
	return nil, false
}

func (w *walker) str(n *yaml.Node, path string) string {
	if isNull(n) {
		return ""
	}
	s, ok := w.scalar(n, path, "a string", "!!str")
	if !ok {
		return ""
	}
	return s.Value
}

func (w *walker) integer(n *yaml.Node, path string) int {
	if isNull(n) {
		return 0
	}
	s, ok := w.scalar(n, path, "an integer", "!!int")
	if !ok {
		return 0
	}
	var v int64
	if err := s.Decode(&v); err != nil || v > math.MaxInt32 || v < math.MinInt32 {
		w.errorf(s, path, "want an integer, got %s", describe(s))
		return 0
	}
	return int(v)
}

// nonNegative decodes an integer that must be >= 0.
func (w *walker) nonNegative(n *yaml.Node, path string) int {
	v := w.integer(n, path)
	if v < 0 {
		w.errorf(n, path, "must not be negative, got %d", v)
		return 0
	}
	return v
}

func (w *walker) number(n *yaml.Node, path string) (float64, bool) {
	s, ok := w.scalar(n, path, "a number", "!!int", "!!float")
	if !ok {
		return 0, false
	}
	var v float64
	if err := s.Decode(&v); err != nil {
		w.errorf(s, path, "want a number, got %s", describe(s))
		return 0, false
	}
	if math.IsNaN(v) || math.IsInf(v, 0) {
		w.errorf(s, path, "want a finite number, got %s", s.Value)
		return 0, false
	}
	return v, true
}

func (w *walker) boolean(n *yaml.Node, path string) bool {
	if isNull(n) {
		return false
	}
	s, ok := w.scalar(n, path, "true or false", "!!bool")
	if !ok {
		return false
	}
	var v bool
	if err := s.Decode(&v); err != nil {
		w.errorf(s, path, "want true or false, got %s", describe(s))
	}
	return v
}

func (w *walker) seq(n *yaml.Node, path string) []*yaml.Node {
	n = deref(n)
	if isNull(n) {
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		w.errorf(n, path, "want a list, got %s", describe(n))
		return nil
	}
	return n.Content
}

func (w *walker) stringMap(n *yaml.Node, path string) map[string]string {
	fs := w.fields(n, path)
	if fs == nil {
		return nil
	}
	m := make(map[string]string, len(fs))
	for _, f := range fs {
		m[f.key] = w.str(f.v, join(path, f.key))
	}
	return m
}

// unknown reports a field this decoder does not know, listing the known ones.
func (w *walker) unknown(f field, path string, known []string) {
	w.errorf(f.k, join(path, f.key), "unknown field (known fields: %s)", strings.Join(known, ", "))
}

// objectRef decodes a CrossNamespaceObjectReference strictly.
func (w *walker) objectRef(n *yaml.Node, path string) *ObjectRef {
	if isNull(n) {
		return nil
	}
	known := []string{"apiVersion", "kind", "name", "namespace"}
	ref := &ObjectRef{}
	fs := w.fields(n, path)
	for _, f := range fs {
		p := join(path, f.key)
		switch f.key {
		case "apiVersion":
			ref.APIVersion = w.str(f.v, p)
		case "kind":
			ref.Kind = w.str(f.v, p)
		case "name":
			ref.Name = w.str(f.v, p)
		case "namespace":
			ref.Namespace = w.str(f.v, p)
		default:
			w.unknown(f, path, known)
		}
	}
	return ref
}

// meta decodes metadata.name and metadata.namespace (other metadata is ignored).
func (w *walker) meta(n *yaml.Node) (name, namespace string) {
	for _, f := range w.fields(n, "metadata") {
		switch f.key {
		case "name":
			name = w.str(f.v, "metadata.name")
		case "namespace":
			namespace = w.str(f.v, "metadata.namespace")
		}
	}
	if name == "" {
		w.errorf(n, "metadata.name", "required")
	}
	return name, namespace
}

// canarySpec decodes a Canary's spec. Unknown spec fields are tolerated
// (Flagger's Canary has many that analysis does not use).
func (w *walker) canarySpec(n *yaml.Node) CanarySpec {
	var spec CanarySpec
	if isNull(n) {
		w.errorf(n, "spec", "required")
		return spec
	}
	var analysis, legacy *yaml.Node
	targetSeen := false
	for _, f := range w.fields(n, "spec") {
		p := join("spec", f.key)
		switch f.key {
		case "provider":
			spec.Provider = w.str(f.v, p)
		case "targetRef":
			targetSeen = true
			if r := w.objectRef(f.v, p); r != nil {
				spec.TargetRef = *r
			}
		case "ingressRef":
			spec.IngressRef = w.objectRef(f.v, p)
		case "routeRef":
			spec.RouteRef = w.objectRef(f.v, p)
		case "service":
			for _, sf := range w.fields(f.v, p) {
				switch sf.key {
				case "name":
					spec.Service.Name = w.str(sf.v, join(p, "name"))
				case "port":
					spec.Service.Port = w.integer(sf.v, join(p, "port"))
				}
			}
		case "skipAnalysis":
			spec.SkipAnalysis = w.boolean(f.v, p)
		case "analysis":
			analysis = f.v
		case "canaryAnalysis":
			legacy = f.v
		}
	}
	if !targetSeen || spec.TargetRef.Name == "" {
		w.errorf(n, "spec.targetRef.name", "required")
	}
	switch {
	case !isNull(analysis):
		spec.AnalysisField = "spec.analysis"
		spec.Analysis = w.analysis(analysis, spec.AnalysisField)
		if !isNull(legacy) {
			w.notef(legacy, "spec.canaryAnalysis", "ignored: spec.analysis is set (Flagger uses spec.analysis)")
		}
	case !isNull(legacy):
		spec.AnalysisField = "spec.canaryAnalysis"
		spec.Analysis = w.analysis(legacy, spec.AnalysisField)
	}
	return spec
}

// analysisFields are Flagger's spec.analysis fields; others draw a note.
var analysisFields = map[string]bool{
	"interval": true, "iterations": true, "mirror": true, "mirrorWeight": true, "maxWeight": true,
	"stepWeight": true, "stepWeights": true, "stepWeightPromotion": true, "threshold": true,
	"primaryReadyThreshold": true, "canaryReadyThreshold": true, "alerts": true, "metrics": true,
	"webhooks": true, "match": true, "sessionAffinity": true,
}

func (w *walker) analysis(n *yaml.Node, path string) *Analysis {
	a := &Analysis{Line: deref(n).Line}
	for _, f := range w.fields(n, path) {
		p := join(path, f.key)
		switch f.key {
		case "interval":
			a.Interval = w.str(f.v, p)
		case "iterations":
			a.Iterations = w.nonNegative(f.v, p)
		case "mirror":
			a.Mirror = w.boolean(f.v, p)
		case "maxWeight":
			a.MaxWeight = w.nonNegative(f.v, p)
		case "stepWeight":
			a.StepWeight = w.nonNegative(f.v, p)
		case "stepWeights":
			for i, item := range w.seq(f.v, p) {
				a.StepWeights = append(a.StepWeights, w.nonNegative(item, index(p, i)))
			}
		case "threshold":
			a.Threshold = w.nonNegative(f.v, p)
		case "metrics":
			for i, item := range w.seq(f.v, p) {
				a.Metrics = append(a.Metrics, w.metric(item, index(p, i)))
			}
		case "webhooks":
			a.Webhooks = len(w.seq(f.v, p))
		case "match":
			a.Match = len(w.seq(f.v, p))
		default:
			if !analysisFields[f.key] {
				w.notef(f.k, p, "unknown field ignored (Flagger has no such analysis field; a typo?)")
			}
		}
	}
	return a
}

var metricFields = []string{"name", "interval", "threshold", "thresholdRange", "query", "templateRef", "templateVariables"}

// metric decodes one spec.analysis.metrics entry strictly.
func (w *walker) metric(n *yaml.Node, path string) Metric {
	m := Metric{Line: deref(n).Line}
	for _, f := range w.fields(n, path) {
		p := join(path, f.key)
		switch f.key {
		case "name":
			m.Name = w.str(f.v, p)
		case "interval":
			m.Interval = w.str(f.v, p)
		case "threshold":
			if !isNull(f.v) {
				m.Threshold, m.HasThreshold = w.number(f.v, p)
			}
		case "thresholdRange":
			if isNull(f.v) {
				continue
			}
			tr := &ThresholdRange{}
			for _, rf := range w.fields(f.v, p) {
				rp := join(p, rf.key)
				switch rf.key {
				case "min", "max":
					if isNull(rf.v) {
						continue
					}
					v, ok := w.number(rf.v, rp)
					if !ok {
						continue
					}
					if rf.key == "min" {
						tr.Min = &v
					} else {
						tr.Max = &v
					}
				default:
					w.unknown(rf, p, []string{"min", "max"})
				}
			}
			m.ThresholdRange = tr
		case "query":
			m.Query = w.str(f.v, p)
		case "templateRef":
			m.TemplateRef = w.objectRef(f.v, p)
		case "templateVariables":
			m.TemplateVariables = w.stringMap(f.v, p)
		default:
			w.unknown(f, path, metricFields)
		}
	}
	if m.Name == "" {
		w.errorf(n, join(path, "name"), "required")
	}
	return m
}

// templateSpec decodes a MetricTemplate's spec strictly.
func (w *walker) templateSpec(n *yaml.Node) MetricTemplateSpec {
	var spec MetricTemplateSpec
	if isNull(n) {
		w.errorf(n, "spec", "required")
		return spec
	}
	for _, f := range w.fields(n, "spec") {
		p := join("spec", f.key)
		switch f.key {
		case "query":
			spec.Query = w.str(f.v, p)
		case "provider":
			known := []string{"type", "address", "insecureSkipVerify", "secretRef", "region"}
			for _, pf := range w.fields(f.v, p) {
				pp := join(p, pf.key)
				switch pf.key {
				case "type":
					spec.Provider.Type = w.str(pf.v, pp)
				case "address":
					spec.Provider.Address = w.str(pf.v, pp)
				case "insecureSkipVerify":
					spec.Provider.InsecureSkipVerify = w.boolean(pf.v, pp)
				case "region":
					spec.Provider.Region = w.str(pf.v, pp)
				case "secretRef":
					if isNull(pf.v) {
						continue
					}
					ref := &ObjectRef{}
					for _, sf := range w.fields(pf.v, pp) {
						if sf.key == "name" {
							ref.Name = w.str(sf.v, join(pp, "name"))
						} else {
							w.unknown(sf, pp, []string{"name"})
						}
					}
					if ref.Name == "" {
						w.errorf(pf.v, join(pp, "name"), "required")
					}
					spec.Provider.SecretRef = ref
				default:
					w.unknown(pf, p, known)
				}
			}
		default:
			w.unknown(f, "spec", []string{"provider", "query"})
		}
	}
	return spec
}

// secretData decodes data (base64) and stringData; stringData wins.
func (w *walker) secretData(data, stringData *yaml.Node) map[string][]byte {
	out := map[string][]byte{}
	for _, f := range w.fields(data, "data") {
		p := join("data", f.key)
		s := w.secretStr(f.v, p)
		b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
		if err != nil {
			// Never echo the value: it is a secret.
			w.errorf(f.v, p, "not valid base64 (use stringData for plain text)")
			continue
		}
		out[f.key] = b
	}
	for _, f := range w.fields(stringData, "stringData") {
		out[f.key] = []byte(w.secretStr(f.v, join("stringData", f.key)))
	}
	return out
}

// secretStr is str for secret values: errors never show the value.
func (w *walker) secretStr(n *yaml.Node, path string) string {
	n = deref(n)
	if isNull(n) {
		return ""
	}
	if n.Kind != yaml.ScalarNode || n.Tag != "!!str" {
		w.errorf(n, path, "want a string (value not shown: secret data; quote it)")
		return ""
	}
	return n.Value
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
