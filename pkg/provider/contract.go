package provider

// CONTRACT FILE (written by the lead so the analysis engine can compile against
// the provider while it is being built). The provider owner replaces the bodies
// and may move declarations between files, but keeps every exported name and
// signature below (adding more is fine).

import (
	"context"
	"errors"
	"time"

	"k8s.io/client-go/rest"
)

// Sentinel errors; every error returned by Query wraps exactly one of them
// (errors.Is), and its message carries the server's Status message, never a token.
var (
	ErrNoValuesFound = errors.New("no values found")    // empty item list (Flagger's ErrNoValuesFound)
	ErrNotFound      = errors.New("metric not found")   // 404, or Cluster Agent 500 "DatadogMetric not found"
	ErrStale         = errors.New("stale data")         // maxAge exceeded, or Cluster Agent "is stale"
	ErrUnauthorized  = errors.New("unauthorized")       // 401
	ErrForbidden     = errors.New("forbidden")          // 403
	ErrUnavailable   = errors.New("server unavailable") // other 5xx, network, timeout, bad body
	ErrInvalidQuery  = errors.New("invalid query")      // query grammar error or 400
)

// ErrorKind names the sentinel an error wraps: "no-values", "not-found",
// "stale", "unauthorized", "forbidden", "unavailable", "invalid-query", or
// "error" for anything else ("" for nil).
func ErrorKind(err error) string { panic("not implemented") }

// Item is one ExternalMetricValue as returned by the server.
type Item struct {
	MetricName    string            `json:"metricName"`
	Labels        map[string]string `json:"labels,omitempty"`
	Timestamp     time.Time         `json:"timestamp"`
	WindowSeconds *int64            `json:"windowSeconds,omitempty"`
	Value         float64           `json:"value"`
	Quantity      string            `json:"quantity"` // the value as the server sent it, e.g. "1500m"
}

// Result is the outcome of one query.
type Result struct {
	Query     string        `json:"query"`     // canonical form of the query that ran
	Value     float64       `json:"value"`     // after aggregation
	Aggregate string        `json:"aggregate"` // first|sum|avg|min|max|count
	Matched   int           `json:"matched"`   // number of items the server returned
	Items     []Item        `json:"items"`
	Latency   time.Duration `json:"latency"`
}

// Spec is a Flagger-style provider spec with its secret's data resolved.
type Spec struct {
	Address            string // empty: the base config's server (aggregation layer)
	InsecureSkipVerify bool
	SecretData         map[string][]byte // keys: token, ca.crt, tls.crt, tls.key
}

// Options tune a provider; zero values mean defaults.
type Options struct {
	Timeout    time.Duration // per query, retries included; default 5s
	MaxRetries int           // default 3; negative disables retries
	TokenFile  string        // re-read on every request (rotated tokens); loses to SecretData["token"]
	CAFile     string
	ClientCert string
	ClientKey  string
	Metrics    *Metrics // optional collectors, registered by the caller
}

// Metrics holds Prometheus collectors the caller registers itself.
type Metrics struct{}

// Provider queries one External Metrics API server.
type Provider struct{}

// New builds a provider from a base rest.Config (may be nil when spec.Address
// is set), a spec and options. Providers built for the same address and
// credentials share one transport (and so its connections).
func New(base *rest.Config, spec Spec, opts Options) (*Provider, error) { panic("not implemented") }

// Query runs one query in the extmetrics grammar.
func (p *Provider) Query(ctx context.Context, query string) (*Result, error) {
	panic("not implemented")
}

// RunQuery is Flagger's interface: the value, or an error (never a value on error).
func (p *Provider) RunQuery(query string) (float64, error) { panic("not implemented") }

// IsOnline is Flagger's interface: true when the server's discovery lists
// external.metrics.k8s.io/v1beta1.
func (p *Provider) IsOnline() (bool, error) { panic("not implemented") }
