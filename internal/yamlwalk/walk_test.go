package yamlwalk

import (
	"fmt"
	"strings"
	"testing"

	yaml "go.yaml.in/yaml/v3"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func parse(t *testing.T, src string) *yaml.Node {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(src), &doc); err != nil {
		t.Fatal(err)
	}
	return doc.Content[0]
}

func TestFieldsRules(t *testing.T) {
	n := parse(t, "a: &x 1\n<<: {b: 2}\n? [k]\n: 3\na: 4\nc: *x\nzz: 6\n")
	var w Walker
	root := field.NewPath("spec")
	fs := w.Fields(n, root, "a", "c")
	var keys []string
	for _, f := range fs {
		keys = append(keys, f.Key+"="+f.Path().String())
	}
	if strings.Join(keys, " ") != "a=spec.a c=spec.c" {
		t.Errorf("fields %v", keys)
	}
	if _, ok := w.Str(fs[1].V, fs[1].Path()); ok {
		t.Error("an alias was decoded")
	}
	want := []struct {
		typ    field.ErrorType
		field  string
		detail string
		line   int
	}{
		{field.ErrorTypeForbidden, "spec", "merge keys (<<) are not supported: write the fields out", 2},
		{field.ErrorTypeInvalid, "spec", "keys must be strings, got a list", 3},
		{field.ErrorTypeDuplicate, "spec.a", "duplicate key (first at line 1)", 5},
		{field.ErrorTypeNotSupported, "spec.zz", `unknown field "zz" (allowed: a, c)`, 7},
		{field.ErrorTypeForbidden, "spec.c", "YAML aliases (*x) are not supported: write the value out", 6},
	}
	got := w.Errors()
	if len(got) != len(want) {
		t.Fatalf("%d errors, want %d: %v", len(got), len(want), w.ErrorList())
	}
	for i, e := range got {
		if e.Type != want[i].typ || e.Field != want[i].field || e.Detail != want[i].detail || e.Line != want[i].line {
			t.Errorf("error %d: %s %q %q line %d, want %+v", i, e.Type, e.Field, e.Detail, e.Line, want[i])
		}
	}
	if l := w.ErrorList(); len(l) != len(want) || !strings.Contains(l.ToAggregate().Error(), "spec.zz") {
		t.Errorf("ErrorList: %v", l)
	}
}

func TestScalars(t *testing.T) {
	n := parse(t, "s: x\nn: 8080\nf: .inf\nb: yes\ni: 1.5\nnil: ~\nl: [1]\n")
	var w Walker
	get := func(key string) (*yaml.Node, *field.Path) {
		for _, f := range w.Fields(n, nil) {
			if f.Key == key {
				return f.V, f.Path()
			}
		}
		t.Fatalf("no %s", key)
		return nil, nil
	}
	if v, ok := w.Str(get("s")); !ok || v != "x" {
		t.Errorf("Str %q", v)
	}
	checks := []struct {
		run  func() bool
		want string
	}{
		{func() bool { _, ok := w.Str(get("n")); return ok }, `n: Invalid value: want a string, got the number 8080 (quote it: "8080")`},
		{func() bool { _, ok := w.Number(get("f")); return ok }, "want a finite number, got .inf"},
		{func() bool { _, ok := w.Bool(get("b")); return ok }, `want true or false, got the string "yes"`},
		{func() bool { _, ok := w.Int(get("i")); return ok }, "want an integer, got the number 1.5"},
		{func() bool { _, ok := w.Str(get("nil")); return ok }, "want a string, got null"},
		{func() bool { _, ok := w.Str(get("l")); return ok }, "want a string, got a list"},
		{func() bool { return w.Seq(get("s")) != nil }, `want a list, got the string "x"`},
	}
	for _, c := range checks {
		before := w.Len()
		if c.run() || w.Len() != before+1 {
			t.Errorf("%s: accepted", c.want)
			continue
		}
		if e := w.Errors()[before]; !strings.Contains(e.Error.Error(), c.want) {
			t.Errorf("got %q, want %q", e.Error.Error(), c.want)
		}
	}
}

func TestTruncate(t *testing.T) {
	if k, more := Truncate(MaxErrors); k != MaxErrors || more != "" {
		t.Errorf("Truncate(Max) = %d %q", k, more)
	}
	if k, more := Truncate(MaxErrors + 30); k != MaxErrors || more != "... and 30 more errors" {
		t.Errorf("Truncate(Max+30) = %d %q", k, more)
	}
}

// Duplicate keys are found the same way in small (scanned) and large
// (mapped) mappings, unknown keys included.
func TestDuplicateKeysAnySize(t *testing.T) {
	for _, n := range []int{2, 40} {
		var b strings.Builder
		for i := range n {
			fmt.Fprintf(&b, "k%d: %d\n", i, i)
		}
		b.WriteString("k1: again\nzz: 1\nzz: 2\n")
		var w Walker
		fs := w.Fields(parse(t, b.String()), nil, "k0", "k1")
		if len(fs) != 2 {
			t.Errorf("%d keys: kept %d fields", n, len(fs))
		}
		var dups []string
		for _, e := range w.Errors() {
			if e.Type == field.ErrorTypeDuplicate {
				dups = append(dups, fmt.Sprintf("%s %s line %d", e.Field, e.Detail, e.Line))
			}
		}
		want := fmt.Sprintf("k1 duplicate key (first at line 2) line %d|zz duplicate key (first at line %d) line %d", n+1, n+2, n+3)
		if strings.Join(dups, "|") != want {
			t.Errorf("%d keys: duplicates %q, want %q", n, dups, want)
		}
	}
}
