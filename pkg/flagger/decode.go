package flagger

import (
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"strings"

	yaml "go.yaml.in/yaml/v3"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/extmetrics/extmetrics/internal/yamlwalk"
)

// Error is a loading or resolution error with its location.
type Error struct {
	Source Source
	Field  string // field path, e.g. spec.analysis.metrics[1].templateRef ("" = the whole object)
	Line   int    // 0 when unknown
	Msg    string
	// Err is the apimachinery field error of a decoding problem (nil for
	// errors found while resolving); Unwrap returns it.
	Err *field.Error
}

// Unwrap gives the *field.Error of a decoding problem, for errors.As.
func (e *Error) Unwrap() error {
	if e.Err == nil {
		return nil
	}
	return e.Err
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

// walker decodes one document's node tree with the shared strict walker
// (internal/yamlwalk: aliases and merge keys refused, duplicate keys
// reported), collecting every error (with its field path and line) instead
// of stopping at the first, and the notes.
type walker struct {
	yamlwalk.Walker
	src   Source
	notes []string
}

func (w *walker) errorf(n *yaml.Node, path *field.Path, format string, a ...any) {
	w.Invalid(n, path, format, a...)
}

// errors are the walker's problems as located *Errors.
func (w *walker) errors() []error {
	out := make([]error, 0, w.Len())
	for _, e := range w.Errors() {
		out = append(out, &Error{Source: w.src, Field: e.Field, Line: e.Line, Msg: e.Detail, Err: e.Error})
	}
	return out
}

func (w *walker) notef(n *yaml.Node, path *field.Path, format string, a ...any) {
	e := &Error{Source: w.src, Field: yamlwalk.Path(path), Msg: fmt.Sprintf(format, a...)}
	if n != nil {
		e.Line = n.Line
	}
	w.notes = append(w.notes, e.Error())
}

// joinErrors joins at most yamlwalk.MaxErrors errors, saying how many more
// there were.
func joinErrors(errs []error) error {
	keep, more := yamlwalk.Truncate(len(errs))
	if more == "" {
		return errors.Join(errs...)
	}
	return errors.Join(append(errs[:keep:keep], errors.New(more))...)
}

func isNull(n *yaml.Node) bool { return yamlwalk.IsNull(n) }

func describe(n *yaml.Node) string { return yamlwalk.Describe(n) }

func index(path string, i int) string { return fmt.Sprintf("%s[%d]", path, i) }

func (w *walker) fields(n *yaml.Node, path *field.Path, known ...string) []yamlwalk.Field {
	return w.Fields(n, path, known...)
}

// str decodes an optional string ("" for null).
func (w *walker) str(n *yaml.Node, path *field.Path) string {
	if isNull(n) {
		return ""
	}
	s, _ := w.Str(n, path)
	return s
}

// integer decodes an optional 32-bit integer (0 for null).
func (w *walker) integer(n *yaml.Node, path *field.Path) int {
	if isNull(n) {
		return 0
	}
	v, ok := w.Int(n, path)
	if !ok {
		return 0
	}
	if v > math.MaxInt32 || v < math.MinInt32 {
		w.errorf(n, path, "want an integer, got %s", describe(n))
		return 0
	}
	return int(v)
}

// nonNegative decodes an integer that must be >= 0.
func (w *walker) nonNegative(n *yaml.Node, path *field.Path) int {
	v := w.integer(n, path)
	if v < 0 {
		w.errorf(n, path, "must not be negative, got %d", v)
		return 0
	}
	return v
}

func (w *walker) number(n *yaml.Node, path *field.Path) (float64, bool) {
	return w.Number(n, path)
}

// boolean decodes an optional boolean (false for null).
func (w *walker) boolean(n *yaml.Node, path *field.Path) bool {
	if isNull(n) {
		return false
	}
	v, _ := w.Bool(n, path)
	return v
}

func (w *walker) seq(n *yaml.Node, path *field.Path) []*yaml.Node { return w.Seq(n, path) }

func (w *walker) stringMap(n *yaml.Node, path *field.Path) map[string]string {
	fs := w.fields(n, path)
	if fs == nil {
		return nil
	}
	m := make(map[string]string, len(fs))
	for _, f := range fs {
		m[f.Key] = w.str(f.V, f.Path())
	}
	return m
}

// objectRef decodes a CrossNamespaceObjectReference strictly.
func (w *walker) objectRef(n *yaml.Node, path *field.Path) *ObjectRef {
	if isNull(n) {
		return nil
	}
	ref := &ObjectRef{}
	for _, f := range w.fields(n, path, "apiVersion", "kind", "name", "namespace") {
		switch f.Key {
		case "apiVersion":
			ref.APIVersion = w.str(f.V, f.Path())
		case "kind":
			ref.Kind = w.str(f.V, f.Path())
		case "name":
			ref.Name = w.str(f.V, f.Path())
		case "namespace":
			ref.Namespace = w.str(f.V, f.Path())
		}
	}
	return ref
}

// meta decodes metadata.name and metadata.namespace (other metadata is ignored).
func (w *walker) meta(n *yaml.Node) (name, namespace string) {
	for _, f := range w.fields(n, field.NewPath("metadata")) {
		switch f.Key {
		case "name":
			name = w.str(f.V, f.Path())
		case "namespace":
			namespace = w.str(f.V, f.Path())
		}
	}
	if name == "" {
		w.Required(n, field.NewPath("metadata", "name"), "")
	}
	return name, namespace
}

// annotations decodes metadata.annotations (strings; nil when none).
func (w *walker) annotations(n *yaml.Node) map[string]string {
	for _, f := range w.fields(n, field.NewPath("metadata")) {
		if f.Key == "annotations" {
			return w.stringMap(f.V, f.Path())
		}
	}
	return nil
}

// canarySpec decodes a Canary's spec. Unknown spec fields are tolerated
// (Flagger's Canary has many that analysis does not use).
func (w *walker) canarySpec(n *yaml.Node) CanarySpec {
	var spec CanarySpec
	specPath := field.NewPath("spec")
	if isNull(n) {
		w.Required(n, specPath, "")
		return spec
	}
	var analysis, legacy *yaml.Node
	targetSeen := false
	for _, f := range w.fields(n, specPath) {
		p := f.Path()
		switch f.Key {
		case "provider":
			spec.Provider = w.str(f.V, p)
		case "targetRef":
			targetSeen = true
			if r := w.objectRef(f.V, p); r != nil {
				spec.TargetRef = *r
			}
		case "ingressRef":
			spec.IngressRef = w.objectRef(f.V, p)
		case "routeRef":
			spec.RouteRef = w.objectRef(f.V, p)
		case "service":
			for _, sf := range w.fields(f.V, p) {
				switch sf.Key {
				case "name":
					spec.Service.Name = w.str(sf.V, sf.Path())
				case "port":
					spec.Service.Port = w.integer(sf.V, sf.Path())
				}
			}
		case "skipAnalysis":
			spec.SkipAnalysis = w.boolean(f.V, p)
		case "analysis":
			analysis = f.V
		case "canaryAnalysis":
			legacy = f.V
		}
	}
	if !targetSeen || spec.TargetRef.Name == "" {
		w.Required(n, specPath.Child("targetRef", "name"), "")
	}
	switch {
	case !isNull(analysis):
		spec.AnalysisField = "spec.analysis"
		spec.Analysis = w.analysis(analysis, specPath.Child("analysis"))
		if !isNull(legacy) {
			w.notef(legacy, specPath.Child("canaryAnalysis"), "ignored: spec.analysis is set (Flagger uses spec.analysis)")
		}
	case !isNull(legacy):
		spec.AnalysisField = "spec.canaryAnalysis"
		spec.Analysis = w.analysis(legacy, specPath.Child("canaryAnalysis"))
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

func (w *walker) analysis(n *yaml.Node, path *field.Path) *Analysis {
	a := &Analysis{}
	if n.Kind != yaml.AliasNode {
		a.Line = n.Line
	}
	for _, f := range w.fields(n, path) {
		p := f.Path()
		switch f.Key {
		case "interval":
			a.Interval = w.str(f.V, p)
		case "iterations":
			a.Iterations = w.nonNegative(f.V, p)
		case "mirror":
			a.Mirror = w.boolean(f.V, p)
		case "maxWeight":
			a.MaxWeight = w.nonNegative(f.V, p)
		case "stepWeight":
			a.StepWeight = w.nonNegative(f.V, p)
		case "stepWeights":
			for i, item := range w.seq(f.V, p) {
				a.StepWeights = append(a.StepWeights, w.nonNegative(item, p.Index(i)))
			}
		case "threshold":
			a.Threshold = w.nonNegative(f.V, p)
		case "metrics":
			for i, item := range w.seq(f.V, p) {
				a.Metrics = append(a.Metrics, w.metric(item, p.Index(i)))
			}
		case "webhooks":
			for i, item := range w.seq(f.V, p) {
				a.Webhooks = append(a.Webhooks, w.webhook(item, p.Index(i)))
			}
		case "match":
			a.Match = len(w.seq(f.V, p))
		default:
			if !analysisFields[f.Key] {
				w.notef(f.K, p, "unknown field ignored (Flagger has no such analysis field; a typo?)")
			}
		}
	}
	return a
}

var webhookFields = []string{"name", "type", "url", "timeout", "metadata", "muteAlert", "retries", "disableTLS"}

// webhook decodes one spec.analysis.webhooks entry strictly (Flagger's
// CanaryWebhook fields; metadata values are strings, as in its CRD).
func (w *walker) webhook(n *yaml.Node, path *field.Path) Webhook {
	h := Webhook{Field: path.String()}
	if n.Kind != yaml.AliasNode {
		h.Line = n.Line
	}
	for _, f := range w.fields(n, path, webhookFields...) {
		p := f.Path()
		switch f.Key {
		case "name":
			h.Name = w.str(f.V, p)
		case "type":
			h.Type = w.str(f.V, p)
		case "url":
			h.URL = w.str(f.V, p)
		case "timeout":
			h.Timeout = w.str(f.V, p)
		case "metadata":
			h.Metadata = w.stringMap(f.V, p)
		case "muteAlert", "disableTLS":
			w.boolean(f.V, p)
		case "retries":
			w.integer(f.V, p)
		}
	}
	return h
}

var metricFields = []string{"name", "interval", "threshold", "thresholdRange", "query", "templateRef", "templateVariables"}

// metric decodes one spec.analysis.metrics entry strictly.
func (w *walker) metric(n *yaml.Node, path *field.Path) Metric {
	m := Metric{}
	if n.Kind != yaml.AliasNode {
		m.Line = n.Line
	}
	for _, f := range w.fields(n, path, metricFields...) {
		p := f.Path()
		switch f.Key {
		case "name":
			m.Name = w.str(f.V, p)
		case "interval":
			m.Interval = w.str(f.V, p)
		case "threshold":
			if !isNull(f.V) {
				m.Threshold, m.HasThreshold = w.number(f.V, p)
			}
		case "thresholdRange":
			if isNull(f.V) {
				continue
			}
			tr := &ThresholdRange{}
			for _, rf := range w.fields(f.V, p, "min", "max") {
				if isNull(rf.V) {
					continue
				}
				v, ok := w.number(rf.V, rf.Path())
				if !ok {
					continue
				}
				if rf.Key == "min" {
					tr.Min = &v
				} else {
					tr.Max = &v
				}
			}
			m.ThresholdRange = tr
		case "query":
			m.Query = w.str(f.V, p)
		case "templateRef":
			m.TemplateRef = w.objectRef(f.V, p)
		case "templateVariables":
			m.TemplateVariables = w.stringMap(f.V, p)
		}
	}
	if m.Name == "" && n.Kind != yaml.AliasNode {
		w.Required(n, path.Child("name"), "")
	}
	return m
}

// templateSpec decodes a MetricTemplate's spec strictly.
func (w *walker) templateSpec(n *yaml.Node) MetricTemplateSpec {
	var spec MetricTemplateSpec
	specPath := field.NewPath("spec")
	if isNull(n) {
		w.Required(n, specPath, "")
		return spec
	}
	for _, f := range w.fields(n, specPath, "provider", "query") {
		p := f.Path()
		switch f.Key {
		case "query":
			spec.Query = w.str(f.V, p)
		case "provider":
			for _, pf := range w.fields(f.V, p, "type", "address", "insecureSkipVerify", "secretRef", "region") {
				pp := pf.Path()
				switch pf.Key {
				case "type":
					spec.Provider.Type = w.str(pf.V, pp)
				case "address":
					spec.Provider.Address = w.str(pf.V, pp)
				case "insecureSkipVerify":
					spec.Provider.InsecureSkipVerify = w.boolean(pf.V, pp)
				case "region":
					spec.Provider.Region = w.str(pf.V, pp)
				case "secretRef":
					if isNull(pf.V) {
						continue
					}
					ref := &ObjectRef{}
					for _, sf := range w.fields(pf.V, pp, "name") {
						ref.Name = w.str(sf.V, sf.Path())
					}
					if ref.Name == "" {
						w.Required(pf.V, pp.Child("name"), "")
					}
					spec.Provider.SecretRef = ref
				}
			}
		}
	}
	return spec
}

// secretData decodes data (base64) and stringData; stringData wins.
func (w *walker) secretData(data, stringData *yaml.Node) map[string][]byte {
	out := map[string][]byte{}
	for _, f := range w.fields(data, field.NewPath("data")) {
		s := w.secretStr(f.V, f.Path())
		b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
		if err != nil {
			// Never echo the value: it is a secret.
			w.errorf(f.V, f.Path(), "not valid base64 (use stringData for plain text)")
			continue
		}
		out[f.Key] = b
	}
	for _, f := range w.fields(stringData, field.NewPath("stringData")) {
		out[f.Key] = []byte(w.secretStr(f.V, f.Path()))
	}
	return out
}

// secretStr is str for secret values: errors never show the value.
func (w *walker) secretStr(n *yaml.Node, path *field.Path) string {
	n, ok := w.Node(n, path)
	if !ok || isNull(n) {
		return ""
	}
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!str" {
		w.errorf(n, path, "want a string (value not shown: secret data; quote it)")
		return ""
	}
	return n.Value
}
