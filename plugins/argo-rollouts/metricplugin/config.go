package metricplugin

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/extmetrics/extmetrics/pkg/analysis"
	"github.com/extmetrics/extmetrics/pkg/query"
)

// PluginName is the key of provider.plugin in an AnalysisTemplate, and the
// name of the plugin in the argo-rollouts-config ConfigMap.
const PluginName = "extmetrics/external-metrics"

// Limits on the configuration.
const (
	// MaxTimeout bounds timeout: Argo calls Run synchronously, so a long
	// query holds a controller worker.
	MaxTimeout = 2 * time.Minute
	// maxConfigBytes bounds the configuration JSON.
	maxConfigBytes = 64 << 10
)

// DefaultTokenKey is the Secret key holding the bearer token unless
// secretRef.key says otherwise.
const DefaultTokenKey = "token"

// Config is the plugin's configuration in an AnalysisTemplate metric:
//
//	provider:
//	  plugin:
//	    extmetrics/external-metrics:
//	      query: "datadogmetric@{{args.namespace}}:checkout-error-rate"
//	      address: https://metrics.example:443   # optional
//	      insecureSkipVerify: false              # optional
//	      secretRef: {name: ext-metrics, key: token} # optional
//	      aggregate: max                         # optional: first|sum|avg|min|max|count
//	      maxAge: 2m                             # optional: auto (default), 0 (off) or a duration
//	      timeout: 10s                           # optional, at most 2m
//	      allowCredentialsOverHTTP: false        # optional
//	      baseline: "datadogmetric@{{args.namespace}}:primary-error-rate" # optional, with compare
//	      compare: ratio                         # with baseline: ratio (canary ÷ baseline) or delta (canary − baseline)
type Config struct {
	// Query is the rendered query (Argo substitutes {{args.*}} before the
	// plugin sees it), in the extmetrics grammar.
	Query string
	// Address of the External Metrics API server; "" means the controller's
	// kube-apiserver (aggregation layer).
	Address            string
	InsecureSkipVerify bool
	// SecretRef names a Secret in the AnalysisRun's namespace; nil for none.
	SecretRef *SecretRef
	// Timeout per query, retries included; 0 means the provider's default.
	Timeout time.Duration
	// StaleAfter is the staleness rule's option when the query names no
	// maxAge= (analysis.Staleness.MaxAge): 0 (maxAge absent or auto) the
	// default bound, analysis.NoMaxAge (maxAge 0) none. A maxAge duration
	// becomes the query's maxAge= instead.
	StaleAfter time.Duration
	// AllowCredentialsOverHTTP is the opt-in to send credentials over
	// plain http:// to a host that is not loopback.
	AllowCredentialsOverHTTP bool

	// Parsed is Query with aggregate and maxAge applied; Canonical is its
	// canonical text, the query that runs.
	Parsed    query.Query
	Canonical string

	// Baseline is the canonical baseline query (aggregate and maxAge
	// applied as to Query), read with the same connection at the same
	// time; "" for none. Compare says which number is then measured:
	// CompareRatio or CompareDelta.
	Baseline string
	Compare  string
}

// Compare values: what a metric with a baseline measures.
const (
	CompareRatio = "ratio" // canary ÷ baseline (undefined for a baseline ≤ 0: an Error)
	CompareDelta = "delta" // canary − baseline
)

// SecretRef names a Secret and the key of its token.
type SecretRef struct {
	Name string
	Key  string // DefaultTokenKey when not given
}

// ConfigError is a configuration problem; Field names the offending key
// ("query", "secretRef.name", ...).
type ConfigError struct {
	Field string
	Msg   string
}

func (e *ConfigError) Error() string {
	if e.Field == "" {
		return PluginName + ": " + e.Msg
	}
	return PluginName + ": " + e.Field + ": " + e.Msg
}

// Keys the configuration accepts.
var (
	configKeys    = []string{"query", "address", "insecureSkipVerify", "secretRef", "aggregate", "maxAge", "timeout", "allowCredentialsOverHTTP", "baseline", "compare"}
	secretRefKeys = []string{"name", "key"}
)

// ParseConfig decodes and validates the plugin's configuration. Unknown keys,
// wrong types and bad values are *ConfigError naming the key.
func ParseConfig(raw json.RawMessage) (*Config, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil, &ConfigError{Msg: "no configuration: set at least query"}
	}
	if len(raw) > maxConfigBytes {
		return nil, &ConfigError{Msg: fmt.Sprintf("configuration is %d bytes, more than the %d allowed", len(raw), maxConfigBytes)}
	}
	fields, err := decodeObject(raw, "", configKeys)
	if err != nil {
		return nil, err
	}
	c := &Config{}
	var aggregate, maxAge, timeout, baseline string
	for _, f := range []struct {
		key string
		dst any
	}{
		{"query", &c.Query}, {"address", &c.Address}, {"insecureSkipVerify", &c.InsecureSkipVerify},
		{"aggregate", &aggregate}, {"maxAge", &maxAge}, {"timeout", &timeout},
		{"allowCredentialsOverHTTP", &c.AllowCredentialsOverHTTP},
		{"baseline", &baseline}, {"compare", &c.Compare},
	} {
		if v, ok := fields[f.key]; ok {
			if err := decodeValue(v, f.key, f.dst); err != nil {
				return nil, err
			}
		}
	}
	if v, ok := fields["secretRef"]; ok {
		ref, err := parseSecretRef(v)
		if err != nil {
			return nil, err
		}
		c.SecretRef = ref
	}

	c.Query = strings.TrimSpace(c.Query)
	q, staleAfter, err := parseQuery("query", c.Query, aggregate, maxAge)
	if err != nil {
		return nil, err
	}
	c.StaleAfter = staleAfter
	baseline = strings.TrimSpace(baseline)
	c.Compare = strings.TrimSpace(c.Compare)
	switch {
	case baseline != "":
		// The baseline is read under the same rules: aggregate and maxAge
		// apply to it too.
		bq, _, err := parseQuery("baseline", baseline, aggregate, maxAge)
		if err != nil {
			return nil, err
		}
		c.Baseline = bq.String()
		if c.Compare != CompareRatio && c.Compare != CompareDelta {
			return nil, &ConfigError{Field: "compare", Msg: fmt.Sprintf("%q: with a baseline, want %s (canary ÷ baseline) or %s (canary − baseline): the number the conditions judge", c.Compare, CompareRatio, CompareDelta)}
		}
	case c.Compare != "":
		return nil, &ConfigError{Field: "compare", Msg: "needs a baseline (a second query, typically the stable version's series)"}
	}
	if timeout = strings.TrimSpace(timeout); timeout != "" {
		d, err := time.ParseDuration(timeout)
		if err != nil || d <= 0 || d > MaxTimeout {
			return nil, &ConfigError{Field: "timeout", Msg: fmt.Sprintf("%q is not a duration between 0 and %s, such as 10s", timeout, MaxTimeout)}
		}
		c.Timeout = d
	}
	c.Parsed, c.Canonical = q, q.String()

	if c.Address = strings.TrimSpace(c.Address); c.Address != "" {
		u, err := url.Parse(c.Address)
		switch {
		case err != nil:
			return nil, &ConfigError{Field: "address", Msg: fmt.Sprintf("%q is not a URL: %v", c.Address, errors.Unwrap(err))}
		case u.Scheme != "https" && u.Scheme != "http":
			return nil, &ConfigError{Field: "address", Msg: fmt.Sprintf("%q: want an https:// URL", c.Address)}
		case u.Host == "":
			return nil, &ConfigError{Field: "address", Msg: fmt.Sprintf("%q has no host", c.Address)}
		case u.User != nil:
			return nil, &ConfigError{Field: "address", Msg: "must not hold credentials; use secretRef"}
		case u.RawQuery != "" || u.Fragment != "":
			return nil, &ConfigError{Field: "address", Msg: fmt.Sprintf("%q: a server address takes no query or fragment", c.Address)}
		}
	}
	return c, nil
}

// parseQuery checks one query of the configuration (field: "query" or
// "baseline") and applies the aggregate and maxAge keys to it; staleAfter
// is the staleness rule's option (see Config.StaleAfter).
func parseQuery(field, text, aggregate, maxAge string) (q query.Query, staleAfter time.Duration, err error) {
	if text == "" {
		return q, 0, &ConfigError{Field: field, Msg: "missing or empty; want " + query.Grammar}
	}
	if strings.Contains(text, "{{") {
		return q, 0, &ConfigError{Field: field, Msg: fmt.Sprintf("%q still holds a template expression: is the argument defined in the AnalysisTemplate's args?", text)}
	}
	q, err = query.Parse(text)
	if err != nil {
		msg := err.Error()
		var qe *query.Error
		if errors.As(err, &qe) {
			msg = fmt.Sprintf("%q: %s: %s", text, qe.Part, qe.Msg)
		}
		return q, 0, &ConfigError{Field: field, Msg: msg}
	}
	if aggregate = strings.TrimSpace(aggregate); aggregate != "" {
		if !slices.Contains(query.Aggregations(), aggregate) {
			return q, 0, &ConfigError{Field: "aggregate", Msg: fmt.Sprintf("%q is not one of %s", aggregate, strings.Join(query.Aggregations(), ", "))}
		}
		if q.Aggregate != "" && q.Aggregate != aggregate {
			return q, 0, &ConfigError{Field: "aggregate", Msg: fmt.Sprintf("%q conflicts with aggregate=%s in the %s", aggregate, q.Aggregate, field)}
		}
		q.Aggregate = aggregate
	}
	if maxAge = strings.TrimSpace(maxAge); maxAge != "" {
		d, err := analysis.ParseMaxAge(maxAge)
		if err != nil {
			return q, 0, &ConfigError{Field: "maxAge", Msg: err.Error()}
		}
		switch {
		case d > 0 && q.MaxAge != 0 && q.MaxAge != d:
			return q, 0, &ConfigError{Field: "maxAge", Msg: fmt.Sprintf("%s conflicts with maxAge=%s in the %s", d, q.MaxAge, field)}
		case d > 0:
			q.MaxAge = d
		case d < 0 && q.MaxAge != 0:
			return q, 0, &ConfigError{Field: "maxAge", Msg: fmt.Sprintf("0 (off) conflicts with maxAge=%s in the %s", q.MaxAge, field)}
		default:
			staleAfter = d
		}
	}
	return q, staleAfter, nil
}

func parseSecretRef(raw json.RawMessage) (*SecretRef, error) {
	fields, err := decodeObject(raw, "secretRef", secretRefKeys)
	if err != nil {
		return nil, err
	}
	ref := &SecretRef{}
	if v, ok := fields["name"]; ok {
		if err := decodeValue(v, "secretRef.name", &ref.Name); err != nil {
			return nil, err
		}
	}
	if v, ok := fields["key"]; ok {
		if err := decodeValue(v, "secretRef.key", &ref.Key); err != nil {
			return nil, err
		}
	}
	ref.Name, ref.Key = strings.TrimSpace(ref.Name), strings.TrimSpace(ref.Key)
	if ref.Name == "" {
		return nil, &ConfigError{Field: "secretRef.name", Msg: "missing or empty"}
	}
	if len(ref.Name) > 253 {
		return nil, &ConfigError{Field: "secretRef.name", Msg: "longer than 253 characters"}
	}
	if ref.Key == "" {
		ref.Key = DefaultTokenKey
	}
	return ref, nil
}

// decodeObject decodes a JSON object and rejects keys outside allowed.
func decodeObject(raw json.RawMessage, where string, allowed []string) (map[string]json.RawMessage, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil || fields == nil {
		msg := "want an object with keys " + strings.Join(allowed, ", ")
		if err != nil {
			msg += " (" + jsonMessage(err) + ")"
		}
		return nil, &ConfigError{Field: where, Msg: msg}
	}
	for k := range fields {
		if slices.Contains(allowed, k) {
			continue
		}
		field := k
		if where != "" {
			field = where + "." + k
		}
		hint := ""
		for _, a := range allowed {
			if strings.EqualFold(a, k) {
				hint = fmt.Sprintf(" (did you mean %q?)", a)
			}
		}
		return nil, &ConfigError{Field: field, Msg: "unknown key" + hint + "; allowed: " + strings.Join(allowed, ", ")}
	}
	return fields, nil
}

func decodeValue(raw json.RawMessage, field string, dst any) error {
	if bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
		return nil
	}
	if err := json.Unmarshal(raw, dst); err != nil {
		want := "a string"
		if _, ok := dst.(*bool); ok {
			want = "true or false"
		}
		return &ConfigError{Field: field, Msg: fmt.Sprintf("want %s, got %s", want, snippet(string(raw), 60))}
	}
	return nil
}

func jsonMessage(err error) string {
	return strings.TrimPrefix(err.Error(), "json: ")
}

func snippet(s string, n int) string {
	if len(s) > n {
		s = s[:n] + "…"
	}
	return s
}
