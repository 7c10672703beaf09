package scenario

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"time"

	yaml "go.yaml.in/yaml/v3"
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
	if len(p.errs) > 0 {
		if len(p.errs) > maxErrors {
			extra := len(p.errs) - maxErrors
			p.errs = append(p.errs[:maxErrors], &FieldError{File: name, Msg: fmt.Sprintf("and %d more errors", extra)})
		}
		return nil, p.errs
	}
	return sc, nil
}

type parser struct {
	file string
	errs ErrorList
}

func (p *parser) errorf(n *yaml.Node, path, format string, args ...any) {
	line := 0
	if n != nil {
		line = n.Line
	}
	p.errs = append(p.errs, &FieldError{File: p.file, Line: line, Path: path, Msg: fmt.Sprintf(format, args...)})
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
	p.errs = append(p.errs, &FieldError{File: p.file, Line: line, Msg: "invalid YAML: " + msg})
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
		p.errorf(&next, "", "only one YAML document is allowed")
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
	fields := p.mapping(root, "", topKeys)
	if fields == nil {
		return nil
	}
	if n := fields["apiVersion"]; n != nil {
		if s, ok := p.str(n, "apiVersion"); ok && s != APIVersion {
			p.errorf(n, "apiVersion", "unsupported apiVersion %q (want %q)", s, APIVersion)
		}
	}
	if n := fields["kind"]; n != nil {
		if s, ok := p.str(n, "kind"); ok && s != KindScenario {
			p.errorf(n, "kind", "unsupported kind %q (want %q)", s, KindScenario)
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

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias (anchors and aliases are not supported)"
	case yaml.ScalarNode:
		if isNull(n) {
			return "null"
		}
		return fmt.Sprintf("%q", truncateForError(n.Value))
	}
	return "an unexpected node"
}

// mapping checks that n is a mapping with string keys among allowed, no key
// twice, and returns the values by key. It returns nil after reporting an error
// when n is not a mapping; unknown and duplicate keys are reported and skipped.
func (p *parser) mapping(n *yaml.Node, path string, allowed []string) map[string]*yaml.Node {
	if n.Kind != yaml.MappingNode {
		p.errorf(n, path, "want a mapping with keys %s, got %s", strings.Join(allowed, ", "), kindName(n))
		return nil
	}
	out := make(map[string]*yaml.Node, len(n.Content)/2)
	keyNodes := make(map[string]*yaml.Node, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode || k.ShortTag() == "!!merge" {
			p.errorf(k, path, "unsupported key %s (allowed: %s)", kindName(k), strings.Join(allowed, ", "))
			continue
		}
		kp := joinPath(path, k.Value)
		if prev, dup := keyNodes[k.Value]; dup {
			p.errorf(k, kp, "duplicate key (first at line %d)", prev.Line)
			continue
		}
		keyNodes[k.Value] = k
		if !contains(allowed, k.Value) {
			p.errorf(k, kp, "unknown field %q (allowed: %s)", truncateForError(k.Value), strings.Join(allowed, ", "))
			continue
		}
		out[k.Value] = v
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func (p *parser) scalar(n *yaml.Node, path, want string) bool {
	if n.Kind != yaml.ScalarNode || isNull(n) {
		p.errorf(n, path, "want %s, got %s", want, kindName(n))
		return false
	}
	return true
}

func (p *parser) str(n *yaml.Node, path string) (string, bool) {
	if !p.scalar(n, path, "a string") {
		return "", false
	}
	return n.Value, true
}

func (p *parser) boolean(n *yaml.Node, path string) (bool, bool) {
	if !p.scalar(n, path, "true or false") {
		return false, false
	}
	if n.ShortTag() != "!!bool" {
		p.errorf(n, path, "want true or false, got %s", kindName(n))
		return false, false
	}
	var b bool
	if err := n.Decode(&b); err != nil {
		p.errorf(n, path, "want true or false, got %s", kindName(n))
		return false, false
	}
	return b, true
}

func (p *parser) integer(n *yaml.Node, path string) (int64, bool) {
	if !p.scalar(n, path, "an integer") {
		return 0, false
	}
	var i int64
	if n.ShortTag() != "!!int" || n.Decode(&i) != nil {
		p.errorf(n, path, "want an integer, got %s", kindName(n))
		return 0, false
	}
	return i, true
}

// number reads a number or a quantity string.
func (p *parser) number(n *yaml.Node, path string) (float64, bool) {
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
		p.errorf(n, path, "invalid value %s: want a number or a quantity such as \"1500m\"", kindName(n))
		return 0, false
	}
	return v, true
}

func (p *parser) duration(n *yaml.Node, path string) (time.Duration, bool) {
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

func (p *parser) list(n *yaml.Node, path string) []*yaml.Node {
	if n.Kind != yaml.SequenceNode {
		p.errorf(n, path, "want a list, got %s", kindName(n))
		return nil
	}
	return n.Content
}

func (p *parser) metrics(sc *Scenario, n *yaml.Node) {
	if isNull(n) {
		return
	}
	type first struct {
		idx, line int
	}
	seen := map[string]first{}
	for i, mn := range p.list(n, "metrics") {
		path := fmt.Sprintf("metrics[%d]", i)
		f := p.mapping(mn, path, metricKeys)
		if f == nil {
			continue
		}
		m := Metric{Namespace: DefaultNamespace, Line: mn.Line}
		ok := true
		if v := f["name"]; v == nil {
			p.errorf(mn, path+".name", "required")
			ok = false
		} else if s, good := p.str(v, path+".name"); !good {
			ok = false
		} else if err := ValidateMetricName(s); err != nil {
			p.errorf(v, path+".name", "%v", err)
			ok = false
		} else {
			m.Name = s
		}
		if v := f["namespace"]; v != nil {
			if s, good := p.str(v, path+".namespace"); !good {
				ok = false
			} else if err := ValidateNamespace(s); err != nil {
				p.errorf(v, path+".namespace", "%v", err)
				ok = false
			} else {
				m.Namespace = s
			}
		}
		if v := f["labels"]; v != nil && !isNull(v) {
			lbls, good := p.labels(v, path+".labels")
			ok = ok && good
			m.Labels = lbls
		}
		if v := f["windowSeconds"]; v != nil {
			if w, good := p.integer(v, path+".windowSeconds"); !good {
				ok = false
			} else if w <= 0 {
				p.errorf(v, path+".windowSeconds", "must be positive, got %d", w)
				ok = false
			} else {
				m.WindowSeconds = &w
			}
		}
		if v := f["timestampOffset"]; v != nil {
			d, good := p.duration(v, path+".timestampOffset")
			if good && (d > MaxTimestampOffset || d < -MaxTimestampOffset) {
				p.errorf(v, path+".timestampOffset", "at most %s either way, got %s", MaxTimestampOffset, d)
				good = false
			}
			ok = ok && good
			m.TimestampOffset = d
		}
		if v := f["value"]; v == nil {
			p.errorf(mn, path+".value", "required (one of %s)", strings.Join(generatorKeys, ", "))
			ok = false
		} else if g := p.generator(v, path+".value"); g == nil {
			ok = false
		} else {
			m.Generator = g
		}
		if !ok {
			continue
		}
		k := seriesKey(m.Namespace, m.Name, m.Labels)
		if prev, dup := seen[k]; dup {
			p.errorf(mn, path, "duplicate series: same namespace, name and labels as metrics[%d] (line %d)", prev.idx, prev.line)
			continue
		}
		seen[k] = first{i, mn.Line}
		sc.Metrics = append(sc.Metrics, m)
	}
}

func (p *parser) labels(n *yaml.Node, path string) (map[string]string, bool) {
	if n.Kind != yaml.MappingNode {
		p.errorf(n, path, "want a mapping of label keys to values, got %s", kindName(n))
		return nil, false
	}
	out := make(map[string]string, len(n.Content)/2)
	ok := true
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode || isNull(k) || k.ShortTag() == "!!merge" {
			p.errorf(k, path, "want a label key, got %s", kindName(k))
			ok = false
			continue
		}
		kp := path + "." + k.Value
		if _, dup := out[k.Value]; dup {
			p.errorf(k, kp, "duplicate label key")
			ok = false
			continue
		}
		val := ""
		if !isNull(v) { // "app:" with nothing is the empty label value
			if v.Kind != yaml.ScalarNode {
				p.errorf(v, kp, "want a label value, got %s", kindName(v))
				ok = false
				continue
			}
			val = v.Value
		}
		if err := validateLabel(k.Value, val); err != nil {
			p.errorf(k, kp, "%v", err)
			ok = false
			continue
		}
		out[k.Value] = val
	}
	return out, ok
}

// generator reads a value: a scalar (constant) or a mapping with exactly one generator.
func (p *parser) generator(n *yaml.Node, path string) Generator {
	if n.Kind == yaml.ScalarNode && !isNull(n) {
		v, ok := p.number(n, path)
		if !ok {
			return nil
		}
		return Constant(v)
	}
	f := p.mapping(n, path, valueKeys)
	if f == nil {
		return nil
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
		return nil
	case 1:
	default:
		p.errorf(keyNode(n, kinds[1]), path, "exactly one generator allowed, found %s", strings.Join(kinds, " and "))
		return nil
	}
	kind := kinds[0]
	gn, gp := f[kind], path+"."+kind
	if r := f["repeat"]; r != nil && kind != "sequence" {
		p.errorf(keyNode(n, "repeat"), path+".repeat", "only applies to sequence")
		return nil
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
		g = p.sequence(gn, gp, f["repeat"], path+".repeat")
	}
	if g == nil {
		return nil
	}
	if field, msg := checkGenerator(g); msg != "" {
		p.errorf(fieldNode(gn, field), joinPath(gp, field), "%s", msg)
		return nil
	}
	return g
}

// fieldNode finds the node a check() field ("over", "[2].after", "[1]") refers to.
func fieldNode(n *yaml.Node, field string) *yaml.Node {
	if field == "" {
		return n
	}
	if field[0] == '[' {
		end := strings.IndexByte(field, ']')
		i, err := strconv.Atoi(field[1:max(end, 1)])
		if end < 0 || err != nil || n.Kind != yaml.SequenceNode || i < 0 || i >= len(n.Content) {
			return n
		}
		rest := strings.TrimPrefix(field[end+1:], ".")
		return fieldNode(n.Content[i], rest)
	}
	return keyNode(n, field)
}

// required reads the named fields of a generator mapping, reporting missing ones.
func (p *parser) required(n *yaml.Node, f map[string]*yaml.Node, path string, keys ...string) bool {
	ok := true
	for _, k := range keys {
		if f[k] == nil {
			p.errorf(n, path+"."+k, "required")
			ok = false
		}
	}
	return ok
}

func (p *parser) steps(n *yaml.Node, path string) Generator {
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
		ip := fmt.Sprintf("%s[%d]", path, i)
		f := p.mapping(it, ip, stepKeys)
		if f == nil || !p.required(it, f, ip, stepKeys...) {
			ok = false
			continue
		}
		after, ok1 := p.duration(f["after"], ip+".after")
		v, ok2 := p.number(f["value"], ip+".value")
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

func (p *parser) ramp(n *yaml.Node, path string) Generator {
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

func (p *parser) sine(n *yaml.Node, path string) Generator {
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

func (p *parser) noise(n *yaml.Node, path string) Generator {
	f := p.mapping(n, path, noiseKeys)
	if f == nil || !p.required(n, f, path, "base", "amplitude") {
		return nil
	}
	var z Noise
	ok := p.numbers(f, path, map[string]*float64{"base": &z.Base, "amplitude": &z.Amplitude})
	ok = p.durations(f, path, map[string]*time.Duration{"interval": &z.Interval}) && ok
	if v := f["seed"]; v != nil {
		seed, good := p.integer(v, path+".seed")
		ok = ok && good
		z.Seed = seed
	}
	if !ok {
		return nil
	}
	return z
}

func (p *parser) sequence(n *yaml.Node, path string, repeat *yaml.Node, repeatPath string) Generator {
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
		v, good := p.number(it, fmt.Sprintf("%s[%d]", path, i))
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
func (p *parser) numbers(f map[string]*yaml.Node, path string, into map[string]*float64) bool {
	ok := true
	for _, k := range sortedPtrKeys(into) {
		if v := f[k]; v != nil {
			x, good := p.number(v, path+"."+k)
			ok = ok && good
			*into[k] = x
		}
	}
	return ok
}

func (p *parser) durations(f map[string]*yaml.Node, path string, into map[string]*time.Duration) bool {
	ok := true
	for _, k := range sortedPtrKeys(into) {
		if v := f[k]; v != nil {
			d, good := p.duration(v, path+"."+k)
			ok = ok && good
			*into[k] = d
		}
	}
	return ok
}

func sortedPtrKeys[T any](m map[string]*T) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	for i := 1; i < len(keys); i++ { // tiny maps: insertion sort
		for j := i; j > 0 && keys[j] < keys[j-1]; j-- {
			keys[j], keys[j-1] = keys[j-1], keys[j]
		}
	}
	return keys
}

func (p *parser) faults(sc *Scenario, n *yaml.Node) {
	if isNull(n) {
		return
	}
	seen := map[string]int{} // lowercased metric -> line
	for i, fn := range p.list(n, "faults") {
		path := fmt.Sprintf("faults[%d]", i)
		f := p.mapping(fn, path, faultRuleKeys)
		if f == nil {
			continue
		}
		metric := ""
		ok := true
		if v := f["metric"]; v != nil {
			if s, good := p.str(v, path+".metric"); !good {
				ok = false
			} else if s != "*" {
				if err := ValidateMetricName(s); err != nil {
					p.errorf(v, path+".metric", "%v", err)
					ok = false
				}
				metric = s
			}
		}
		var flt Fault
		ok = p.durations(f, path, map[string]*time.Duration{
			"latency": &flt.Latency, "jitter": &flt.Jitter, "retryAfter": &flt.RetryAfter, "staleBy": &flt.StaleBy,
		}) && ok
		if v := f["status"]; v != nil {
			st, good := p.integer(v, path+".status")
			ok = ok && good
			if good && (st < 0 || st > 999) {
				st = 1000 // out of int range checks below report it
			}
			flt.Status = int(st)
		}
		if v := f["probability"]; v != nil {
			var prob float64
			if !p.scalar(v, path+".probability", "a number between 0 and 1") {
				ok = false
			} else if tag := v.ShortTag(); (tag != "!!int" && tag != "!!float") || v.Decode(&prob) != nil {
				p.errorf(v, path+".probability", "want a number between 0 and 1, got %s", kindName(v))
				ok = false
			}
			flt.Probability = prob
		}
		for _, bf := range []struct {
			key string
			dst *bool
		}{{"reset", &flt.Reset}, {"malformed", &flt.Malformed}, {"truncate", &flt.Truncate}} {
			if v := f[bf.key]; v != nil {
				b, good := p.boolean(v, path+"."+bf.key)
				ok = ok && good
				*bf.dst = b
			}
		}
		if !ok {
			continue
		}
		if key, msg := flt.check(); key != "" {
			p.errorf(keyNode(fn, key), path+"."+key, "%s", msg)
			continue
		}
		if flt.IsZero() {
			p.errorf(fn, path, "injects nothing: set at least one of %s", strings.Join(faultKeys, ", "))
			continue
		}
		lk := strings.ToLower(metric)
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
