package scenario

import (
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/extmetrics/extmetrics/internal/yamlwalk"
)

// APIVersion and KindScenario are the optional apiVersion and kind of a scenario file.
const (
	APIVersion   = "extmetrics.dev/v1alpha1"
	KindScenario = "Scenario"
)

// DefaultNamespace is the namespace of a metric that names none.
const DefaultNamespace = "default"

// MaxTimestampOffset bounds the magnitude of a series' timestamp offset.
const MaxTimestampOffset = 365 * 24 * time.Hour

// MaxFileSize bounds the scenario files LoadFile reads.
const MaxFileSize = 16 << 20

// Scenario is a parsed scenario file: series and faults.
type Scenario struct {
	Source  string           // file name given to Parse ("" for a scenario built in code)
	Metrics []Metric         // in file order
	Faults  map[string]Fault // by metric name as written; "" is the global fault
}

// Metric is one series: a metric name in a namespace with a label set, and
// the generator of its value.
type Metric struct {
	Name            string
	Namespace       string            // "" means DefaultNamespace
	Labels          map[string]string // nil or empty: no labels
	WindowSeconds   *int64            // optional window of the ExternalMetricValue
	TimestampOffset time.Duration     // added to the clock's time; negative serves stale data
	Generator       Generator
	Line            int // line in Source (0 when built in code)
}

// FieldError is one problem in a scenario: where it is and what is wrong.
type FieldError struct {
	File string // as given to Parse
	Line int    // 1-based; 0 when unknown
	Path string // field path such as metrics[2].value.steps[0].after
	Msg  string
	// Err is the apimachinery field error of a problem Parse found (nil
	// otherwise); Unwrap returns it.
	Err *field.Error
}

// Unwrap gives the *field.Error of a parse problem, for errors.As.
func (e *FieldError) Unwrap() error {
	if e.Err == nil {
		return nil
	}
	return e.Err
}

// Error formats the error as file:line: path: message.
func (e *FieldError) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		b.WriteByte(':')
	}
	if e.Line > 0 {
		fmt.Fprintf(&b, "%d:", e.Line)
	}
	if b.Len() > 0 {
		b.WriteByte(' ')
	}
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// ErrorList is every problem found in a scenario, in file order. Parse and
// Validate return it (as error) when it is not empty.
type ErrorList []*FieldError

// maxErrors bounds the problems reported for one file.
const maxErrors = yamlwalk.MaxErrors

// Error puts one problem per line.
func (l ErrorList) Error() string {
	s := make([]string, len(l))
	for i, e := range l {
		s[i] = e.Error()
	}
	return strings.Join(s, "\n")
}

// LoadFile reads and parses a scenario file; errors name the file as given.
func LoadFile(path string) (*Scenario, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file", path)
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("%s: file too large (at most %d bytes)", path, MaxFileSize)
	}
	return Parse(path, data)
}

// ValidateMetricName checks a metric name: 1 to 253 characters among ASCII
// letters, digits and _ . : @ -, and not "." or "..". That admits Prometheus
// names (http_requests_total), Datadog names (nginx.net.request_per_s,
// datadogmetric@default:checkout-error-rate) and KEDA's
// (s0-prometheus-http_requests_total), and keeps names safe in a URL path.
func ValidateMetricName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("metric name must not be empty")
	case len(name) > 253:
		return fmt.Errorf("metric name longer than 253 characters")
	case name == "." || name == "..":
		return fmt.Errorf("metric name %q is not allowed", name)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("_.:@-", c) >= 0) {
			return fmt.Errorf("invalid metric name %q: character %q not allowed (allowed: letters, digits, _ . : @ -)", truncateForError(name), c)
		}
	}
	return nil
}

// ValidateNamespace checks that ns is a DNS-1123 label, as Kubernetes namespaces are.
func ValidateNamespace(ns string) error {
	if simpleDNSLabel(ns) {
		return nil // the common case, without apimachinery's regexp
	}
	if errs := validation.IsDNS1123Label(ns); len(errs) > 0 {
		return fmt.Errorf("invalid namespace %q: %s", truncateForError(ns), strings.Join(errs, "; "))
	}
	return nil
}

// ValidateLabels checks label keys (qualified names) and values as Kubernetes does.
func ValidateLabels(lbls map[string]string) error {
	keys := slices.Sorted(maps.Keys(lbls))
	for _, k := range keys {
		if err := validateLabel(k, lbls[k]); err != nil {
			return err
		}
	}
	return nil
}

func validateLabel(k, v string) error {
	if simpleLabelToken(k) && (v == "" || simpleLabelToken(v)) {
		return nil // valid for both checks below, without their regexps
	}
	if errs := validation.IsQualifiedName(k); len(errs) > 0 {
		return fmt.Errorf("invalid label key %q: %s", truncateForError(k), strings.Join(errs, "; "))
	}
	if errs := validation.IsValidLabelValue(v); len(errs) > 0 {
		return fmt.Errorf("invalid value %q for label %q: %s", truncateForError(v), k, strings.Join(errs, "; "))
	}
	return nil
}

// simpleLabelToken reports whether s is 1 to 63 of the characters A-Z a-z
// 0-9 - _ . and begins and ends with a letter or digit. Such a string is
// both a valid label key (a qualified name without prefix) and a valid label
// value, so the common case skips apimachinery's regular expressions, which
// cost a tenth of parsing a large scenario. Anything else is checked by
// apimachinery, which also words the errors.
func simpleLabelToken(s string) bool {
	if s == "" || len(s) > 63 || !isAlnum(s[0]) || !isAlnum(s[len(s)-1]) {
		return false
	}
	for i := 1; i < len(s)-1; i++ {
		if c := s[i]; !isAlnum(c) && c != '-' && c != '_' && c != '.' {
			return false
		}
	}
	return true
}

// simpleDNSLabel reports whether s is 1 to 63 of a-z 0-9 and -, beginning
// and ending with a letter or digit: a valid DNS-1123 label.
func simpleDNSLabel(s string) bool {
	if s == "" || len(s) > 63 || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

func isAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

// seriesKey identifies a series: namespace, name (exact) and labels.
func seriesKey(ns, name string, lbls map[string]string) string {
	var b strings.Builder
	b.WriteString(ns)
	b.WriteByte(0)
	b.WriteString(name)
	for _, k := range slices.Sorted(maps.Keys(lbls)) {
		b.WriteByte(0)
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(lbls[k])
	}
	return b.String()
}

// Validate checks a scenario built in code with the rules Parse applies to
// a file (the same functions: names, namespaces, labels, generators, faults
// and duplicate series), locating problems at each metric's line.
// Store.Load does not validate.
func (sc *Scenario) Validate() error {
	var errs ErrorList
	add := func(line int, path *field.Path, format string, args ...any) {
		errs = append(errs, &FieldError{File: sc.Source, Line: line, Path: path.String(), Msg: fmt.Sprintf(format, args...)})
	}
	metrics := field.NewPath("metrics")
	for i := range sc.Metrics {
		m := &sc.Metrics[i]
		checkMetric(m, func(at []string, format string, args ...any) {
			add(m.Line, appendPath(metrics.Index(i), at), format, args...)
		})
	}
	checkSeriesUnique(sc.Metrics, func(i, first int) {
		add(sc.Metrics[i].Line, metrics.Index(i), "%s", duplicateSeries(first, sc.Metrics[first].Line))
	})
	faultNames := map[string]string{}
	for _, name := range slices.Sorted(maps.Keys(sc.Faults)) {
		p := field.NewPath("faults").Key(name)
		if name == "" {
			p = field.NewPath("faults").Key("*")
		}
		checkFault(name, sc.Faults[name], func(at []string, format string, args ...any) {
			add(0, appendPath(p, at), format, args...)
		})
		if name != "" && name != "*" {
			if prev, dup := faultNames[name]; dup {
				add(0, p.Child("metric"), "duplicate fault: %q and %q are the same metric", prev, name)
			}
			faultNames[name] = name
		}
	}
	if len(errs) > 0 {
		return errs
	}
	return nil
}
