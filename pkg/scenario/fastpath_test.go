package scenario

import (
	"testing"

	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"
)

// The validation fast paths must accept only what apimachinery accepts
// (simpleDNSLabel exactly what it accepts), so skipping the regexps never
// lets a bad name through.
func FuzzValidationFastPaths(f *testing.F) {
	for _, s := range []string{"", "a", "A", "-", "a-", "-a", "app", "app-1", "app_1", "a.b", "a/b", "example.com/app",
		"Ab9", "a..b", "1", "é", "a b", "x\x00", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if simpleLabelToken(s) {
			if errs := validation.IsQualifiedName(s); len(errs) > 0 {
				t.Errorf("simpleLabelToken(%q) but not a qualified name: %v", s, errs)
			}
			if errs := validation.IsValidLabelValue(s); len(errs) > 0 {
				t.Errorf("simpleLabelToken(%q) but not a label value: %v", s, errs)
			}
		}
		if got, want := simpleDNSLabel(s), len(validation.IsDNS1123Label(s)) == 0; got != want {
			t.Errorf("simpleDNSLabel(%q) = %v, apimachinery says %v", s, got, want)
		}
	})
}

// A Matcher answers as its labels.Selector does, fast path or not.
func TestMatcherAgreesWithSelector(t *testing.T) {
	sets := []map[string]string{
		{}, {"app": "a"}, {"app": "b"}, {"app": "a", "env": "prod"}, {"app": "", "env": "dev"}, {"env": "prod"},
	}
	for _, q := range []string{"", "app=a", "app==a", "app=a,env=prod", "app=", "app!=a", "app in (a,b)", "!app",
		"app", "env notin (dev)", "app=a,env!=dev", "app=b,app=a"} {
		sel, err := labels.Parse(q)
		if err != nil {
			t.Fatalf("%q: %v", q, err)
		}
		m := NewMatcher(sel)
		for _, set := range sets {
			if got, want := m.Matches(set), sel.Matches(labels.Set(set)); got != want {
				t.Errorf("selector %q on %v: Matcher %v, Selector %v", q, set, got, want)
			}
		}
	}
	if !NewMatcher(nil).Matches(map[string]string{"x": "y"}) {
		t.Error("a nil selector must match everything")
	}
	if m := NewMatcher(mustParse(t, "app=a,env=prod")); m.eq == nil {
		t.Error("an equality-only selector should take the fast path")
	}
	if m := NewMatcher(mustParse(t, "app in (a,b)")); m.eq != nil {
		t.Error("a set-based selector must not take the equality fast path")
	}
}

func mustParse(t *testing.T, q string) labels.Selector {
	t.Helper()
	sel, err := labels.Parse(q)
	if err != nil {
		t.Fatal(err)
	}
	return sel
}
