package yamlwalk

import (
	"fmt"
	"math"
	"strings"

	yaml "go.yaml.in/yaml/v3"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// MaxErrors bounds the errors one report (a scenario file, a flagger Load)
// shows; Truncate says how many more there were.
const MaxErrors = 20

// Error is one problem: the field error and the line it is on (0 unknown).
type Error struct {
	*field.Error
	Line int
}

// Walker collects the problems found while decoding one document. The zero
// value is ready to use; it is not safe for concurrent use.
type Walker struct {
	errs []Error
}

// Errors are the problems found, in the order found.
func (w *Walker) Errors() []Error { return w.errs }

// Len is the number of problems found.
func (w *Walker) Len() int { return len(w.errs) }

// ErrorList is the problems as a field.ErrorList (lines dropped).
func (w *Walker) ErrorList() field.ErrorList {
	l := make(field.ErrorList, len(w.errs))
	for i, e := range w.errs {
		l[i] = e.Error
	}
	return l
}

// Add records err at node n (which gives the line; may be nil).
func (w *Walker) Add(n *yaml.Node, err *field.Error) {
	line := 0
	if n != nil {
		line = n.Line
	}
	w.errs = append(w.errs, Error{Error: err, Line: line})
}

// Invalid records a field.ErrorTypeInvalid with the formatted detail. The
// value is never kept (it may be secret): the detail describes it.
func (w *Walker) Invalid(n *yaml.Node, p *field.Path, format string, a ...any) {
	w.Add(n, &field.Error{Type: field.ErrorTypeInvalid, Field: Path(p), BadValue: field.OmitValueType{}, Detail: fmt.Sprintf(format, a...)})
}

// Required records a missing field; detail "" means "required".
func (w *Walker) Required(n *yaml.Node, p *field.Path, detail string) {
	if detail == "" {
		detail = "required"
	}
	w.Add(n, &field.Error{Type: field.ErrorTypeRequired, Field: Path(p), BadValue: "", Detail: detail})
}

// Duplicate records a second definition of something that must be unique.
func (w *Walker) Duplicate(n *yaml.Node, p *field.Path, format string, a ...any) {
	w.Add(n, &field.Error{Type: field.ErrorTypeDuplicate, Field: Path(p), BadValue: field.OmitValueType{}, Detail: fmt.Sprintf(format, a...)})
}

// Path renders p as a field path ("" for the document itself).
func Path(p *field.Path) string {
	if p == nil {
		return ""
	}
	return p.String()
}

// Child is p.Child(name), also for a nil p (the document's root).
func Child(p *field.Path, name string) *field.Path {
	if p == nil {
		return field.NewPath(name)
	}
	return p.Child(name)
}

// Truncate keeps the first MaxErrors of n errors; more says how many were
// dropped ("... and N more errors"), "" when none were.
func Truncate(n int) (keep int, more string) {
	if n <= MaxErrors {
		return n, ""
	}
	return MaxErrors, fmt.Sprintf("... and %d more errors", n-MaxErrors)
}

// IsNull reports a missing node or an explicit null.
func IsNull(n *yaml.Node) bool {
	return n == nil || (n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null")
}

// Describe names a node's type and value for "want X, got Y" messages.
func Describe(n *yaml.Node) string {
	switch {
	case n == nil:
		return "nothing"
	case n.Kind == yaml.MappingNode:
		return "a mapping"
	case n.Kind == yaml.SequenceNode:
		return "a list"
	case n.Kind == yaml.AliasNode:
		return "an alias"
	case n.ShortTag() == "!!null":
		return "null"
	}
	v := Truncated(n.Value)
	switch n.ShortTag() {
	case "!!str":
		return fmt.Sprintf("the string %q", v)
	case "!!int", "!!float":
		return "the number " + v
	case "!!bool":
		return "the boolean " + v
	}
	return fmt.Sprintf("%s %s", n.ShortTag(), v)
}

// Truncated shortens a value quoted in an error to 40 bytes.
func Truncated(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

// Node returns n, or reports an alias (refused: see the package doc) and
// returns false.
func (w *Walker) Node(n *yaml.Node, p *field.Path) (*yaml.Node, bool) {
	if n != nil && n.Kind == yaml.AliasNode {
		name := "*"
		if n.Value != "" {
			name += n.Value
		}
		w.Add(n, &field.Error{Type: field.ErrorTypeForbidden, Field: Path(p), BadValue: field.OmitValueType{},
			Detail: fmt.Sprintf("YAML aliases (%s) are not supported: write the value out", name)})
		return nil, false
	}
	return n, true
}

// Field is one key/value pair of a mapping.
type Field struct {
	Key    string
	K, V   *yaml.Node
	parent *field.Path
}

// Path is the value's path (built on demand: decoding a large file asks for
// few of them).
func (f Field) Path() *field.Path { return Child(f.parent, f.Key) }

// Fields returns a mapping's key/value pairs; null gives none. It reports
// aliases, non-mappings, merge keys, non-string keys and duplicate keys, and,
// when known is not empty, keys not in known (all skipped).
func (w *Walker) Fields(n *yaml.Node, p *field.Path, known ...string) []Field {
	n, ok := w.Node(n, p)
	if !ok || IsNull(n) {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		if len(known) > 0 {
			w.Invalid(n, p, "want a mapping with keys %s, got %s", strings.Join(known, ", "), Describe(n))
		} else {
			w.Invalid(n, p, "want a mapping, got %s", Describe(n))
		}
		return nil
	}
	out := make([]Field, 0, len(n.Content)/2)
	var first map[string]int // only for large mappings; small ones are scanned
	if len(n.Content) > 2*smallMapping {
		first = make(map[string]int, len(n.Content)/2)
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		switch {
		case k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge":
			w.Add(k, &field.Error{Type: field.ErrorTypeForbidden, Field: Path(p), BadValue: field.OmitValueType{},
				Detail: "merge keys (<<) are not supported: write the fields out"})
			continue
		case k.Kind != yaml.ScalarNode || k.ShortTag() != "!!str":
			w.Invalid(k, p, "keys must be strings, got %s", Describe(k))
			continue
		}
		if line, dup := firstLine(first, n.Content[:i], k.Value); dup {
			w.Duplicate(k, Child(p, k.Value), "duplicate key (first at line %d)", line)
			continue
		}
		if first != nil {
			first[k.Value] = k.Line
		}
		if len(known) > 0 && !contains(known, k.Value) {
			w.Add(k, &field.Error{Type: field.ErrorTypeNotSupported, Field: Path(Child(p, k.Value)), BadValue: field.OmitValueType{},
				Detail: fmt.Sprintf("unknown field %q (allowed: %s)", Truncated(k.Value), strings.Join(known, ", "))})
			continue
		}
		out = append(out, Field{Key: k.Value, K: k, V: v, parent: p})
	}
	return out
}

// smallMapping is the size up to which duplicate keys are found by a scan
// (no map allocated): most mappings have a handful of keys.
const smallMapping = 16

// firstLine finds an earlier string key of the mapping: in first when
// there is one, else by scanning the earlier key/value nodes.
func firstLine(first map[string]int, earlier []*yaml.Node, key string) (int, bool) {
	if first != nil {
		line, ok := first[key]
		return line, ok
	}
	for j := 0; j+1 < len(earlier); j += 2 {
		if k := earlier[j]; k.Kind == yaml.ScalarNode && k.ShortTag() == "!!str" && k.Value == key {
			return k.Line, true
		}
	}
	return 0, false
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Seq returns a list's items; null gives none. It reports aliases and
// non-lists.
func (w *Walker) Seq(n *yaml.Node, p *field.Path) []*yaml.Node {
	n, ok := w.Node(n, p)
	if !ok || IsNull(n) {
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		w.Invalid(n, p, "want a list, got %s", Describe(n))
		return nil
	}
	return n.Content
}

// Scalar returns n when it is a non-null scalar with one of tags (any
// tag when none are given); otherwise it reports "want <want>, got ...".
func (w *Walker) Scalar(n *yaml.Node, p *field.Path, want string, tags ...string) (*yaml.Node, bool) {
	n, ok := w.Node(n, p)
	if !ok {
		return nil, false
	}
	if n == nil || n.Kind != yaml.ScalarNode || IsNull(n) {
		w.Invalid(n, p, "want %s, got %s", want, Describe(n))
		return nil, false
	}
	if len(tags) == 0 || contains(tags, n.ShortTag()) {
		return n, true
	}
	hint := ""
	if want == "a string" && (n.ShortTag() == "!!int" || n.ShortTag() == "!!float" || n.ShortTag() == "!!bool") {
		hint = fmt.Sprintf(" (quote it: %q)", n.Value)
	}
	w.Invalid(n, p, "want %s, got %s%s", want, Describe(n), hint)
	return nil, false
}

// Str decodes a string (a YAML !!str: numbers and booleans must be quoted).
func (w *Walker) Str(n *yaml.Node, p *field.Path) (string, bool) {
	s, ok := w.Scalar(n, p, "a string", "!!str")
	if !ok {
		return "", false
	}
	return s.Value, true
}

// Bool decodes true or false.
func (w *Walker) Bool(n *yaml.Node, p *field.Path) (bool, bool) {
	s, ok := w.Scalar(n, p, "true or false", "!!bool")
	if !ok {
		return false, false
	}
	var v bool
	if err := s.Decode(&v); err != nil {
		w.Invalid(s, p, "want true or false, got %s", Describe(s))
		return false, false
	}
	return v, true
}

// Int decodes an integer.
func (w *Walker) Int(n *yaml.Node, p *field.Path) (int64, bool) {
	s, ok := w.Scalar(n, p, "an integer", "!!int")
	if !ok {
		return 0, false
	}
	var v int64
	if err := s.Decode(&v); err != nil {
		w.Invalid(s, p, "want an integer, got %s", Describe(s))
		return 0, false
	}
	return v, true
}

// Number decodes a finite number (integer or float).
func (w *Walker) Number(n *yaml.Node, p *field.Path) (float64, bool) {
	s, ok := w.Scalar(n, p, "a number", "!!int", "!!float")
	if !ok {
		return 0, false
	}
	var v float64
	if err := s.Decode(&v); err != nil {
		w.Invalid(s, p, "want a number, got %s", Describe(s))
		return 0, false
	}
	if math.IsNaN(v) || math.IsInf(v, 0) {
		w.Invalid(s, p, "want a finite number, got %s", s.Value)
		return 0, false
	}
	return v, true
}
