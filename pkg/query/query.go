package query

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"
)

// ErrInvalid is wrapped by every parse error.
var ErrInvalid = errors.New("invalid query")

// Aggregations accepted by aggregate=.
const (
	First = "first"
	Sum   = "sum"
	Avg   = "avg"
	Min   = "min"
	Max   = "max"
	Count = "count"
)

// DefaultNamespace is the namespace of a query that names none.
const DefaultNamespace = "default"

// MaxLength is the longest query Parse accepts, in bytes (after trimming).
const MaxLength = 16 << 10

// Parameter names.
const (
	ParamLabelSelector = "labelSelector"
	ParamAggregate     = "aggregate"
	ParamMaxAge        = "maxAge"
)

// Aggregations lists the values aggregate= accepts, the default first.
func Aggregations() []string { return []string{First, Sum, Avg, Min, Max, Count} }

// Grammar is the query syntax, for error messages and help texts.
const Grammar = "[<namespace>/]<metricName>[?labelSelector=<selector>][&aggregate=<first|sum|avg|min|max|count>][&maxAge=<duration>]"

// Query is a parsed external metrics query:
// [<namespace>/]<metricName>[?labelSelector=<selector>][&aggregate=<agg>][&maxAge=<duration>]
type Query struct {
	Namespace string        // "default" when omitted
	Metric    string        // as written (servers may compare case-insensitively)
	Selector  string        // canonical label selector (labels.Selector.String()), "" = everything
	Aggregate string        // "" (not given) means First, but several items are then ambiguous (provider)
	MaxAge    time.Duration // 0 = no staleness check
}

// Error is a parse error. It wraps ErrInvalid.
type Error struct {
	Query string // the query as given (trimmed)
	Part  string // where: "query", "namespace", "metric name", a parameter name, ...
	Msg   string // what was wrong and what is allowed
}

func (e *Error) Error() string {
	q := e.Query
	if len(q) > 120 {
		q = q[:117] + "..."
	}
	msg := e.Msg
	if len(msg) > 300 {
		msg = msg[:297] + "..."
	}
	return fmt.Sprintf("invalid query %q: %s: %s", q, e.Part, msg)
}

// Unwrap makes errors.Is(err, ErrInvalid) true.
func (e *Error) Unwrap() error { return ErrInvalid }

// Parse parses s (surrounding whitespace trimmed); errors wrap ErrInvalid and say what is allowed.
//
// Accepted queries are remembered (up to cacheSize distinct strings), since a
// canary analysis runs the same few queries at every interval and validating
// a selector costs microseconds; errors are not cached. A remembered query
// costs a map lookup and no allocation.
func Parse(s string) (Query, error) {
	q, _, err := ParseCanonical(s)
	return q, err
}

// ParseCanonical is Parse that also returns the query's canonical form
// (Query.String), remembered with it.
func ParseCanonical(s string) (Query, string, error) {
	cache.RLock()
	e, ok := cache.m[s]
	cache.RUnlock()
	if ok {
		return e.q, e.canonical, nil
	}
	q, err := parse(s)
	if err != nil {
		return q, "", err
	}
	e = cacheEntry{q: q, canonical: q.String()}
	if len(s) <= 1024 {
		cache.Lock()
		if len(cache.m) >= cacheSize {
			clear(cache.m)
		}
		cache.m[s] = e
		cache.Unlock()
	}
	return e.q, e.canonical, nil
}

// cacheSize bounds the number of remembered queries.
const cacheSize = 4096

type cacheEntry struct {
	q         Query
	canonical string
}

// cache remembers accepted queries; cleared when full.
var cache = struct {
	sync.RWMutex
	m map[string]cacheEntry
}{m: make(map[string]cacheEntry)}

func parse(s string) (Query, error) {
	s = strings.TrimSpace(s)
	// fail builds the error; values quoted with %q are shortened by short.
	fail := func(part, format string, a ...any) (Query, error) {
		return Query{}, &Error{Query: s, Part: part, Msg: fmt.Sprintf(format, a...)}
	}
	if s == "" {
		return fail("query", "empty, expected %s", Grammar)
	}
	if len(s) > MaxLength {
		return fail("query", "%d bytes long, at most %d allowed", len(s), MaxLength)
	}
	path, params, hasParams := strings.Cut(s, "?")
	if i := strings.IndexByte(s, '#'); i >= 0 {
		return fail("query", "'#' at character %d: fragments are not allowed (escape it as %%23 inside a selector)", utf8.RuneCountInString(s[:i])+1)
	}

	q := Query{Namespace: DefaultNamespace}
	var ns, name string
	switch segs := strings.Count(path, "/"); segs {
	case 0:
		name = path
	case 1:
		ns, name, _ = strings.Cut(path, "/")
	default:
		return fail("path", "%d path segments in %q, at most 2 allowed: [<namespace>/]<metricName>", segs+1, short(path))
	}
	if ns != "" {
		dec, err := unescapePath(ns)
		if err != nil {
			return fail("namespace", "%v", err)
		}
		if errs := validation.IsDNS1123Label(dec); len(errs) > 0 {
			return fail("namespace", "%q is not a valid namespace: %s", dec, strings.Join(errs, "; "))
		}
		q.Namespace = dec
	}
	if name == "" {
		return fail("metric name", "empty, expected %s", Grammar)
	}
	dec, err := unescapePath(name)
	if err != nil {
		return fail("metric name", "%v", err)
	}
	if err := checkMetricName(dec); err != nil {
		return fail("metric name", "%v", err)
	}
	q.Metric = dec

	if !hasParams {
		return q, nil
	}
	seen := 0
	for params != "" {
		var kv string
		kv, params, _ = strings.Cut(params, "&")
		if kv == "" {
			continue // "m?" and "a=b&&c=d" are accepted like Flagger (net/url) does
		}
		key, raw, hasValue := strings.Cut(kv, "=")
		bit, known := paramBit[key]
		if !known {
			hint := ""
			for k := range paramBit {
				if strings.EqualFold(k, key) {
					hint = fmt.Sprintf(" (did you mean %s?)", k)
				}
			}
			return fail("parameters", "unknown parameter %q%s, allowed: labelSelector, aggregate, maxAge", short(key), hint)
		}
		if seen&bit != 0 {
			return fail(key, "given more than once, allowed once")
		}
		seen |= bit
		if !hasValue {
			return fail(key, "no value, expected %s=<value>", key)
		}
		val, err := url.QueryUnescape(raw)
		if err != nil {
			return fail(key, "bad URL escape in %q: %v", raw, err)
		}
		switch key {
		case ParamLabelSelector:
			q.Selector, err = canonicalSelector(val)
			if err != nil {
				return fail(key, "%v", err)
			}
		case ParamAggregate:
			a := strings.ToLower(strings.TrimSpace(val))
			switch a {
			case First, Sum, Avg, Min, Max, Count:
				// An explicit first is kept: without aggregate= a query
				// matching several items is ambiguous (provider.ErrAmbiguous).
				q.Aggregate = a
			default:
				return fail(key, "%q is not an aggregation, allowed: first (default), sum, avg, min, max, count", short(val))
			}
		case ParamMaxAge:
			d, err := time.ParseDuration(strings.TrimSpace(val))
			if err != nil {
				return fail(key, "%q is not a Go duration such as 30s, 5m or 1h30m", short(val))
			}
			if d <= 0 {
				return fail(key, "%q must be positive", val)
			}
			q.MaxAge = d
		}
	}
	return q, nil
}

var paramBit = map[string]int{ParamLabelSelector: 1, ParamAggregate: 2, ParamMaxAge: 4}

// short shortens a value quoted in an error message.
func short(s string) string {
	if len(s) > 64 {
		return s[:61] + "..."
	}
	return s
}

// MustParse is Parse that panics on error, for tests and constants.
func MustParse(s string) Query {
	q, err := Parse(s)
	if err != nil {
		panic(err)
	}
	return q
}

// unescapePath decodes %XX escapes in a path segment (Flagger's url.Parse
// does the same); segments without '%' are returned as they are.
func unescapePath(s string) (string, error) {
	if strings.IndexByte(s, '%') < 0 {
		return s, nil
	}
	d, err := url.PathUnescape(s)
	if err != nil {
		return "", fmt.Errorf("bad URL escape in %q: %v", s, err)
	}
	return d, nil
}

// metricNameChars are RFC 3986 path characters (pchar without escapes): a
// metric name made of them goes into a URL path as it is.
const metricNameChars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~:@!$&'()*+,;="

var metricNameOK = func() (t [256]bool) {
	for i := 0; i < len(metricNameChars); i++ {
		t[metricNameChars[i]] = true
	}
	return t
}()

func checkMetricName(s string) error {
	if s == "." || s == ".." {
		return fmt.Errorf("%q is not a metric name", s)
	}
	for i, r := range []rune(s) {
		if r >= utf8.RuneSelf || !metricNameOK[r] {
			// Positions and characters in runes, not bytes: "mé" has 'é' at
			// character 2.
			return fmt.Errorf("%q has %q at character %d; allowed: letters, digits and -._~:@!$&'()*+,;=", short(s), r, i+1)
		}
	}
	return nil
}

func canonicalSelector(s string) (string, error) {
	sel, err := labels.Parse(s)
	if err != nil {
		return "", fmt.Errorf("%q is not a label selector: %v", s, err)
	}
	return sel.String(), nil
}

// String is the canonical form; Parse(q.String()) == q. The namespace is
// always written, parameters follow in the order labelSelector, aggregate,
// maxAge, and defaults (everything, first, no maxAge) are left out.
func (q Query) String() string {
	var b strings.Builder
	ns := q.Namespace
	if ns == "" {
		ns = DefaultNamespace
	}
	b.Grow(len(ns) + len(q.Metric) + len(q.Selector) + 48)
	b.WriteString(ns)
	b.WriteByte('/')
	b.WriteString(q.Metric)
	sep := byte('?')
	if q.Selector != "" {
		b.WriteByte(sep)
		sep = '&'
		b.WriteString(ParamLabelSelector)
		b.WriteByte('=')
		writeEscaped(&b, q.Selector)
	}
	if q.Aggregate != "" {
		b.WriteByte(sep)
		sep = '&'
		b.WriteString(ParamAggregate)
		b.WriteByte('=')
		writeEscaped(&b, q.Aggregate)
	}
	if q.MaxAge != 0 {
		b.WriteByte(sep)
		b.WriteString(ParamMaxAge)
		b.WriteByte('=')
		b.WriteString(q.MaxAge.String())
	}
	return b.String()
}

// writeEscaped writes a parameter value, escaping only what Parse would
// otherwise misread, so canonical selectors stay readable (app=web,env!=dev).
func writeEscaped(b *strings.Builder, s string) {
	const hex = "0123456789ABCDEF"
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '%' || c == '&' || c == '#' || c == '+' || c == '?' || c < 0x21 && c != ' ' || c == 0x7f:
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&15])
		default:
			b.WriteByte(c)
		}
	}
}
