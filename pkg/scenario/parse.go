package scenario

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	yaml "go.yaml.in/yaml/v3"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/extmetrics/extmetrics/internal/yamlwalk"
)

// Keys allowed at each level of a scenario file (in documentation order).
var (
	topKeys       = []string{"apiVersion", "kind", "faults", "metrics"}
	metricKeys    = []string{"name", "namespace", "labels", "windowSeconds", "timestampOffset", "value"}
	generatorKeys = []string{"constant", "steps", "ramp", "sine", "noise", "sequence"}
	valueKeys     = append(append([]string{}, generatorKeys...), "repeat")
	stepKeys      = []string{"after", "value"}
	rampKeys      = []string{"from", "to", "over", "after"}
	sineKeys      = []string{"base", "amplitude", "period", "phase"}
	noiseKeys     = []string{"base", "amplitude", "seed", "interval"}
	faultRuleKeys = append([]string{"metric"}, faultKeys...)
)

// Parse parses a scenario document; name (a file name) prefixes errors,
// which carry line numbers and field paths, e.g.
// `scenario.yaml:12: metrics[2].value.steps[0].after: invalid duration "5x"`.
// The error is an ErrorList holding every problem found (up to 20). Parse
// never panics: any input yields a Scenario or an error. An empty document is
// an empty scenario.
func Parse(name string, data []byte) (sc *Scenario, err error) {
	defer func() {
		// The YAML library is fuzzed upstream and here; this is a last line of defence.
		if r := recover(); r != nil {
			sc, err = nil, ErrorList{{File: name, Msg: fmt.Sprintf("cannot parse: internal error: %v", r)}}
		}
	}()
	p := &parser{file: name}
	sc = p.parse(data)
	if p.Len() > 0 {
		return nil, p.errorList()
	}
	return sc, nil
}

// parser decodes a scenario with the shared strict walker
// (internal/yamlwalk: aliases and merge keys refused, duplicate and unknown
// keys reported).
type parser struct {
	yamlwalk.Walker
	file string
}

func (p *parser) errorf(n *yaml.Node, path *field.Path, format string, args ...any) {
	p.Invalid(n, path, format, args...)
}

// errorList is the walker's problems as an ErrorList, at most
// yamlwalk.MaxErrors of them and a line saying how many more there were.
func (p *parser) errorList() ErrorList {
	all := p.Errors()
	keep, more := yamlwalk.Truncate(len(all))
	l := make(ErrorList, 0, keep+1)
	for _, e := range all[:keep] {
		l = append(l, &FieldError{File: p.file, Line: e.Line, Path: e.Field, Msg: e.Detail, Err: e.Error})
	}
	if more != "" {
		l = append(l, &FieldError{File: p.file, Msg: more})
	}
	return l
}

var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// syntaxError turns a YAML library error into a FieldError with its line.
func (p *parser) syntaxError(err error) {
	msg := err.Error()
	line := 0
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = m[2]
	} else {
		msg = strings.TrimPrefix(msg, "yaml: ")
	}
	p.Add(&yaml.Node{Line: line}, &field.Error{Type: field.ErrorTypeInvalid, BadValue: field.OmitValueType{}, Detail: "invalid YAML: " + msg})
}

func (p *parser) parse(data []byte) *Scenario {
	sc := &Scenario{Source: p.file}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return sc // empty file
		}
		p.syntaxError(err)
		return nil
	}
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case err == nil:
		p.errorf(&next, nil, "only one YAML document is allowed")
		return nil
	case !errors.Is(err, io.EOF):
		p.syntaxError(err)
		return nil
	}
	if len(doc.Content) == 0 {
		return sc
	}
	root := doc.Content[0]
	if isNull(root) {
		return sc
	}
	fields := p.mapping(root, nil, topKeys)
	if fields == nil {
		return nil
	}
	if n := fields["apiVersion"]; n != nil {
		if s, ok := p.str(n, field.NewPath("apiVersion")); ok && s != APIVersion {
			p.errorf(n, field.NewPath("apiVersion"), "unsupported apiVersion %q (want %q)", s, APIVersion)
		}
	}
	if n := fields["kind"]; n != nil {
		if s, ok := p.str(n, field.NewPath("kind")); ok && s != KindScenario {
			p.errorf(n, field.NewPath("kind"), "unsupported kind %q (want %q)", s, KindScenario)
		}
	}
	if n := fields["metrics"]; n != nil {
		p.metrics(sc, n)
	}
	if n := fields["faults"]; n != nil {
		p.faults(sc, n)
	}
	return sc
}

func isNull(n *yaml.Node) bool { return yamlwalk.IsNull(n) }

// mapping checks that n is a mapping with string keys among allowed, no key
// twice, and returns the values by key. It returns nil after reporting an error
// when n is not a mapping (null included); unknown and duplicate keys are
// reported and skipped.
func (p *parser) mapping(n *yaml.Node, path *field.Path, allowed []string) map[string]*yaml.Node {
	if n != nil && n.Kind == yaml.ScalarNode && isNull(n) {
		p.errorf(n, path, "want a mapping with keys %s, got null", strings.Join(allowed, ", "))
		return nil
	}
	if n == nil || n.Kind != yaml.MappingNode {
		p.Fields(n, path, allowed...) // reports the alias or the wrong kind
		return nil
	}
	fs := p.Fields(n, path, allowed...)
	out := make(map[string]*yaml.Node, len(fs))
	for _, f := range fs {
		out[f.Key] = f.V
	}
	return out
}

// scalar reports anything but a non-null scalar (of any tag).
func (p *parser) scalar(n *yaml.Node, path *field.Path, want string) bool {
	_, ok := p.Scalar(n, path, want)
	return ok
}

// str reads a scalar as text (numbers and booleans included).
func (p *parser) str(n *yaml.Node, path *field.Path) (string, bool) {
	s, ok := p.Scalar(n, path, "a string")
	if !ok {
		return "", false
	}
	return s.Value, true
}

func (p *parser) boolean(n *yaml.Node, path *field.Path) (bool, bool) { return p.Bool(n, path) }

func (p *parser) integer(n *yaml.Node, path *field.Path) (int64, bool) { return p.Int(n, path) }

// number reads a number or a quantity string.
func (p *parser) number(n *yaml.Node, path *field.Path) (float64, bool) {
	if !p.scalar(n, path, `a number or a quantity such as "1500m"`) {
		return 0, false
	}
	var v float64
	switch n.ShortTag() {
	case "!!int", "!!float":
		if err := n.Decode(&v); err != nil {
			p.errorf(n, path, "invalid value %q: want a number or a quantity such as \"1500m\"", truncateForError(n.Value))
			return 0, false
		}
		if err := checkValue(v); err != nil {
			p.errorf(n, path, "invalid value %q: %v", truncateForError(n.Value), err)
			return 0, false
		}
	case "!!str":
		var err error
		if v, err = ParseValue(n.Value); err != nil {
			p.errorf(n, path, "%v", err)
			return 0, false
		}
	default:
		p.errorf(n, path, "invalid value %s: want a number or a quantity such as \"1500m\"", yamlwalk.Describe(n))
		return 0, false
	}
	return v, true
}

func (p *parser) duration(n *yaml.Node, path *field.Path) (time.Duration, bool) {
	if !p.scalar(n, path, `a duration such as "30s"`) {
		return 0, false
	}
	d, err := time.ParseDuration(n.Value)
	if err != nil {
		hint := ""
		if _, numErr := strconv.ParseFloat(n.Value, 64); numErr == nil && n.Value != "0" {
			hint = fmt.Sprintf(" (add a unit, e.g. \"%ss\")", n.Value)
		}
		p.errorf(n, path, "invalid duration %q%s", truncateForError(n.Value), hint)
		return 0, false
	}
	return d, true
}

// keyLine finds the line of key in mapping n, or n's line.
func keyNode(n *yaml.Node, key string) *yaml.Node {
	if n.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == key {
				return n.Content[i]
			}
		}
	}
	return n
}

// list returns a list's items; anything else, null included, is reported.
func (p *parser) list(n *yaml.Node, path *field.Path) []*yaml.Node {
	if n != nil && n.Kind == yaml.ScalarNode && isNull(n) {
		p.errorf(n, path, "want a list, got null")
		return nil
	}
	return p.Seq(n, path)
}

func (p *parser) metrics(sc *Scenario, n *yaml.Node) {
	if isNull(n) {
		return
	}
	type item struct {
		idx  int
		node *yaml.Node
	}
	var (
		items   []item
		metrics []Metric
	)
	for i, mn := range p.list(n, field.NewPath("metrics")) {
		path := field.NewPath("metrics").Index(i)
		m, nodes, ok := p.metric(mn, path)
		if !ok {
			continue
		}
		// Decoded: now the rules (the ones Validate applies too).
		if !checkMetric(&m, func(at []string, format string, args ...any) {
			p.errorf(nodes.locate(mn, at), appendPath(path, at), format, args...)
		}) {
			continue
		}
		items = append(items, item{i, mn})
		metrics = append(metrics, m)
	}
	checkSeriesUnique(metrics, func(j, first int) {
		p.errorf(items[j].node, field.NewPath("metrics").Index(items[j].idx), "%s", duplicateSeries(items[first].idx, items[first].node.Line))
	})
	sc.Metrics = metrics
}

// metricNodes are where a decoded metric's fields are, to locate problems.
type metricNodes struct {
	name, namespace, window, offset *yaml.Node // the values
	labels                          *yaml.Node // the mapping
	generator                       *yaml.Node // the generator's body
}

// field is the value node of a scalar field, nil when absent.
func (mn metricNodes) field(name string) *yaml.Node {
	switch name {
	case "name":
		return mn.name
	case "namespace":
		return mn.namespace
	case "windowSeconds":
		return mn.window
	case "timestampOffset":
		return mn.offset
	}
	return nil
}

// locate finds the node of a field below the metric (see reporter).
func (mn metricNodes) locate(item *yaml.Node, at []string) *yaml.Node {
	switch {
	case len(at) == 0:
		return item
	case at[0] == "labels" && len(at) > 1 && mn.labels != nil:
		return keyNode(mn.labels, at[1])
	case at[0] == "value" && mn.generator != nil:
		if len(at) < 2 {
			return mn.generator
		}
		return fieldNode(mn.generator, joinSub(at[2:]))
	case mn.field(at[0]) != nil:
		return mn.field(at[0])
	}
	return item
}

// joinSub joins path elements back into a check field ("[2].after").
func joinSub(at []string) string {
	var b strings.Builder
	for _, e := range at {
		if b.Len() > 0 && !strings.HasPrefix(e, "[") {
			b.WriteByte('.')
		}
		b.WriteString(e)
	}
	return b.String()
}

// metric decodes the shape of one metrics[] item: fields and their types,
// required fields; ok is false after reporting a problem.
func (p *parser) metric(mn *yaml.Node, path *field.Path) (m Metric, nodes metricNodes, ok bool) {
	f := p.mapping(mn, path, metricKeys)
	if f == nil {
		return m, nodes, false
	}
	m = Metric{Namespace: DefaultNamespace, Line: mn.Line}
	ok = true
	if v := f["name"]; v == nil {
		p.errorf(mn, path.Child("name"), "required")
		ok = false
	} else if s, good := p.str(v, path.Child("name")); good {
		m.Name, nodes.name = s, v
	} else {
		ok = false
	}
	if v := f["namespace"]; v != nil {
		if s, good := p.str(v, path.Child("namespace")); good {
			m.Namespace, nodes.namespace = s, v
		} else {
			ok = false
		}
	}
	if v := f["labels"]; v != nil && !isNull(v) {
		lbls, good := p.labels(v, path.Child("labels"))
		ok = ok && good
		m.Labels, nodes.labels = lbls, v
	}
	if v := f["windowSeconds"]; v != nil {
		if w, good := p.integer(v, path.Child("windowSeconds")); good {
			m.WindowSeconds, nodes.window = &w, v
		} else {
			ok = false
		}
	}
	if v := f["timestampOffset"]; v != nil {
		if d, good := p.duration(v, path.Child("timestampOffset")); good {
			m.TimestampOffset, nodes.offset = d, v
		} else {
			ok = false
		}
	}
	if v := f["value"]; v == nil {
		p.errorf(mn, path.Child("value"), "required (one of %s)", strings.Join(generatorKeys, ", "))
		ok = false
	} else if g, body := p.generator(v, path.Child("value")); g != nil {
		m.Generator, nodes.generator = g, body
	} else {
		ok = false
	}
	return m, nodes, ok
}

func (p *parser) labels(n *yaml.Node, path *field.Path) (map[string]string, bool) {
	if n.Kind != yaml.MappingNode && n.Kind != yaml.AliasNode {
		p.errorf(n, path, "want a mapping of label keys to values, got %s", yamlwalk.Describe(n))
		return nil, false
	}
	before := p.Len()
	fs := p.Fields(n, path)
	ok := p.Len() == before
	out := make(map[string]string, len(fs))
	for _, f := range fs {
		v := f.V
		if v.Kind == yaml.AliasNode {
			p.Node(v, f.Path()) // reports it
			ok = false
			continue
		}
		val := ""
		if !isNull(v) { // "app:" with nothing is the empty label value
			if v.Kind != yaml.ScalarNode {
				p.errorf(v, f.Path(), "want a label value, got %s", yamlwalk.Describe(v))
				ok = false
				continue
			}
			val = v.Value
		}
		out[f.Key] = val
	}
	return out, ok
}

// generator decodes a value: a scalar (constant) or a mapping with exactly
// one generator. It returns the generator and the node of its body; its
// semantic checks are checkMetric's.
func (p *parser) generator(n *yaml.Node, path *field.Path) (Generator, *yaml.Node) {
	if n.Kind == yaml.ScalarNode && !isNull(n) {
		v, ok := p.number(n, path)
		if !ok {
			return nil, nil
		}
		return Constant(v), n
	}
	f := p.mapping(n, path, valueKeys)
	if f == nil {
		return nil, nil
	}
	var kinds []string
	for _, k := range generatorKeys {
		if f[k] != nil {
			kinds = append(kinds, k)
		}
	}
	switch len(kinds) {
	case 0:
		p.errorf(n, path, "one generator required: %s", strings.Join(generatorKeys, ", "))
		return nil, nil
	case 1:
	default:
		p.errorf(keyNode(n, kinds[1]), path, "exactly one generator allowed, found %s", strings.Join(kinds, " and "))
		return nil, nil
	}
	kind := kinds[0]
	gn, gp := f[kind], path.Child(kind)
	if r := f["repeat"]; r != nil && kind != "sequence" {
		p.errorf(keyNode(n, "repeat"), path.Child("repeat"), "only applies to sequence")
		return nil, nil
	}
	var g Generator
	switch kind {
	case "constant":
		if v, ok := p.number(gn, gp); ok {
			g = Constant(v)
		}
	case "steps":
		g = p.steps(gn, gp)
	case "ramp":
		g = p.ramp(gn, gp)
	case "sine":
		g = p.sine(gn, gp)
	case "noise":
		g = p.noise(gn, gp)
	case "sequence":
		g = p.sequence(gn, gp, f["repeat"], path.Child("repeat"))
	}
	if g == nil {
		return nil, nil
	}
	return g, gn
}

// fieldNode finds the node a check() field ("over", "[2].after", "[1]") refers to.
func fieldNode(n *yaml.Node, path string) *yaml.Node {
	if path == "" {
		return n
	}
	if path[0] == '[' {
		end := strings.IndexByte(path, ']')
		i, err := strconv.Atoi(path[1:max(end, 1)])
		if end < 0 || err != nil || n.Kind != yaml.SequenceNode || i < 0 || i >= len(n.Content) {
			return n
		}
		rest := strings.TrimPrefix(path[end+1:], ".")
		return fieldNode(n.Content[i], rest)
	}
	return keyNode(n, path)
}

// required reads the named fields of a generator mapping, reporting missing ones.
func (p *parser) required(n *yaml.Node, f map[string]*yaml.Node, path *field.Path, keys ...string) bool {
	ok := true
	for _, k := range keys {
		if f[k] == nil {
			p.errorf(n, path.Child(k), "required")
			ok = false
		}
	}
	return ok
}

func (p *parser) steps(n *yaml.Node, path *field.Path) Generator {
	items := p.list(n, path)
	if items == nil {
		if n.Kind == yaml.SequenceNode {
			p.errorf(n, path, "needs at least one step")
		}
		return nil
	}
	out := make(Steps, 0, len(items))
	ok := true
	for i, it := range items {
		ip := path.Index(i)
		f := p.mapping(it, ip, stepKeys)
		if f == nil || !p.required(it, f, ip, stepKeys...) {
			ok = false
			continue
		}
		after, ok1 := p.duration(f["after"], ip.Child("after"))
		v, ok2 := p.number(f["value"], ip.Child("value"))
		if !ok1 || !ok2 {
			ok = false
			continue
		}
		out = append(out, Step{After: after, Value: v})
	}
	if !ok {
		return nil
	}
	return out
}

func (p *parser) ramp(n *yaml.Node, path *field.Path) Generator {
	f := p.mapping(n, path, rampKeys)
	if f == nil || !p.required(n, f, path, "from", "to", "over") {
		return nil
	}
	var r Ramp
	ok := p.numbers(f, path, map[string]*float64{"from": &r.From, "to": &r.To})
	ok = p.durations(f, path, map[string]*time.Duration{"over": &r.Over, "after": &r.After}) && ok
	if !ok {
		return nil
	}
	return r
}

func (p *parser) sine(n *yaml.Node, path *field.Path) Generator {
	f := p.mapping(n, path, sineKeys)
	if f == nil || !p.required(n, f, path, "base", "amplitude", "period") {
		return nil
	}
	var s Sine
	ok := p.numbers(f, path, map[string]*float64{"base": &s.Base, "amplitude": &s.Amplitude})
	ok = p.durations(f, path, map[string]*time.Duration{"period": &s.Period, "phase": &s.Phase}) && ok
	if !ok {
		return nil
	}
	return s
}

func (p *parser) noise(n *yaml.Node, path *field.Path) Generator {
	f := p.mapping(n, path, noiseKeys)
	if f == nil || !p.required(n, f, path, "base", "amplitude") {
		return nil
	}
	var z Noise
	ok := p.numbers(f, path, map[string]*float64{"base": &z.Base, "amplitude": &z.Amplitude})
	ok = p.durations(f, path, map[string]*time.Duration{"interval": &z.Interval}) && ok
	if v := f["seed"]; v != nil {
		seed, good := p.integer(v, path.Child("seed"))
		ok = ok && good
		z.Seed = seed
	}
	if !ok {
		return nil
	}
	return z
}

func (p *parser) sequence(n *yaml.Node, path *field.Path, repeat *yaml.Node, repeatPath *field.Path) Generator {
	items := p.list(n, path)
	if items == nil {
		if n.Kind == yaml.SequenceNode {
			p.errorf(n, path, "needs at least one value")
		}
		return nil
	}
	s := Sequence{Values: make([]float64, 0, len(items))}
	ok := true
	for i, it := range items {
		v, good := p.number(it, path.Index(i))
		ok = ok && good
		s.Values = append(s.Values, v)
	}
	if repeat != nil {
		b, good := p.boolean(repeat, repeatPath)
		ok = ok && good
		s.Repeat = b
	}
	if !ok {
		return nil
	}
	return s
}

// numbers and durations read optional fields into their targets, in key order for stable errors.
func (p *parser) numbers(f map[string]*yaml.Node, path *field.Path, into map[string]*float64) bool {
	ok := true
	for _, k := range slices.Sorted(maps.Keys(into)) {
		if v := f[k]; v != nil {
			x, good := p.number(v, path.Child(k))
			ok = ok && good
			*into[k] = x
		}
	}
	return ok
}

func (p *parser) durations(f map[string]*yaml.Node, path *field.Path, into map[string]*time.Duration) bool {
	ok := true
	for _, k := range slices.Sorted(maps.Keys(into)) {
		if v := f[k]; v != nil {
			d, good := p.duration(v, path.Child(k))
			ok = ok && good
			*into[k] = d
		}
	}
	return ok
}

func (p *parser) faults(sc *Scenario, n *yaml.Node) {
	if isNull(n) {
		return
	}
	seen := map[string]int{} // lowercased metric -> line
	for i, fn := range p.list(n, field.NewPath("faults")) {
		path := field.NewPath("faults").Index(i)
		f := p.mapping(fn, path, faultRuleKeys)
		if f == nil {
			continue
		}
		metric := ""
		ok := true
		metricNode := fn
		if v := f["metric"]; v != nil {
			if s, good := p.str(v, path.Child("metric")); !good {
				ok = false
			} else if s != "*" {
				metric, metricNode = s, v
			}
		}
		var flt Fault
		ok = p.durations(f, path, map[string]*time.Duration{
			"latency": &flt.Latency, "jitter": &flt.Jitter, "retryAfter": &flt.RetryAfter, "staleBy": &flt.StaleBy,
		}) && ok
		if v := f["status"]; v != nil {
			st, good := p.integer(v, path.Child("status"))
			ok = ok && good
			if good && (st < 0 || st > 999) {
				st = 1000 // out of int range checks below report it
			}
			flt.Status = int(st)
		}
		if v := f["probability"]; v != nil {
			var prob float64
			if !p.scalar(v, path.Child("probability"), "a number between 0 and 1") {
				ok = false
			} else if tag := v.ShortTag(); (tag != "!!int" && tag != "!!float") || v.Decode(&prob) != nil {
				p.errorf(v, path.Child("probability"), "want a number between 0 and 1, got %s", yamlwalk.Describe(v))
				ok = false
			}
			flt.Probability = prob
		}
		for _, bf := range []struct {
			key string
			dst *bool
		}{{"reset", &flt.Reset}, {"malformed", &flt.Malformed}, {"truncate", &flt.Truncate}} {
			if v := f[bf.key]; v != nil {
				b, good := p.boolean(v, path.Child(bf.key))
				ok = ok && good
				*bf.dst = b
			}
		}
		if !ok {
			continue
		}
		// Decoded: now the rules (the ones Validate applies too).
		if !checkFault(metric, flt, func(at []string, format string, args ...any) {
			node := fn
			switch {
			case len(at) == 1 && at[0] == "metric":
				node = metricNode
			case len(at) == 1:
				node = keyNode(fn, at[0])
			}
			p.errorf(node, appendPath(path, at), format, args...)
		}) {
			continue
		}
		lk := metric
		if line, dup := seen[lk]; dup {
			what := "the global fault"
			if metric != "" {
				what = fmt.Sprintf("metric %q", metric)
			}
			p.errorf(fn, path, "duplicate fault for %s (first at line %d)", what, line)
			continue
		}
		seen[lk] = fn.Line
		if sc.Faults == nil {
			sc.Faults = map[string]Fault{}
		}
		sc.Faults[metric] = flt
	}
}
