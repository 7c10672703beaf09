package provider

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/client-go/rest"
	"k8s.io/metrics/pkg/apis/external_metrics/v1beta1"
	"k8s.io/utils/clock"

	"github.com/extmetrics/extmetrics/pkg/query"
	"github.com/extmetrics/extmetrics/pkg/version"
)

// GroupVersion is the API the provider talks to.
const GroupVersion = "external.metrics.k8s.io/v1beta1"

// DefaultTimeout bounds one query, retries included, unless Options.Timeout is set.
const DefaultTimeout = 5 * time.Second

// Limits on response bodies read into memory.
const (
	maxBodyBytes  = 16 << 20
	maxErrorBytes = 64 << 10
)

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
	Retries   int           `json:"retries,omitempty"` // retried requests (429, 503, reset, ...)
}

// Spec is a Flagger-style provider spec with its secret's data resolved.
type Spec struct {
	Address            string // empty: the base config's server (aggregation layer)
	InsecureSkipVerify bool
	SecretData         map[string][]byte // keys: token, ca.crt, tls.crt, tls.key
	// TokenFrom says where SecretData["token"] came from when it is not the
	// provider's secretRef (e.g. a --token flag); zero means the secret.
	// Only ConnInfo reads it.
	TokenFrom Source
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

	// RetryBackoff is the first retry's backoff (doubling, capped at 2s,
	// with jitter); default 100ms. Retry-After from the server wins.
	RetryBackoff time.Duration
	// Clock judges item age for maxAge; default the real clock.
	Clock clock.PassiveClock
	// Sources label where the caller got the base config and the files
	// above, for ConnInfo (optional).
	Sources Sources
	// MultiItem is what a query without aggregate= does when several items
	// match: MultiItemFail (default) fails with ErrAmbiguous, MultiItemFirst
	// takes the first item as Flagger does.
	MultiItem MultiItem
	// AllowCredentialsOverHTTP is the explicit opt-in to send credentials
	// over plain http:// to a host that is not loopback (New refuses it
	// otherwise with a *PlainHTTPError). Every surface names it the same:
	// flag --allow-credentials-over-http, field allowCredentialsOverHTTP.
	AllowCredentialsOverHTTP bool

	caches *caches // tests: instead of the process-wide defaultCaches
}

// Provider queries one External Metrics API server. It is safe for
// concurrent use.
type Provider struct {
	entry     *transportEntry
	retry     retryTransport
	client    http.Client
	server    string   // base URL without trailing slash
	userAgent []string // User-Agent header value
	timeout   time.Duration
	metrics   *Metrics
	clock     clock.PassiveClock
	info      ConnInfo
	static    []string // static tokens, for redaction only
	multiItem MultiItem
}

var userAgent = sync.OnceValue(func() string {
	return "extmetrics/" + version.Get().Version
})

// New builds a provider from a base rest.Config (may be nil when spec.Address
// is set), a spec and options. Providers built for the same address and
// credentials share one transport (and so its connections).
//
// Precedence: Spec.SecretData beats Options files, which beat the base
// config. A secret token (or Options.TokenFile) replaces all of the base
// config's credentials (token, token file, basic auth, exec and auth-provider
// plugins); a client certificate from the secret or files replaces the base
// one. A CA from the secret or Options.CAFile is used for verification even
// when InsecureSkipVerify is set; InsecureSkipVerify without one drops the
// CA inherited from the base config (client-go refuses CA + insecure).
func New(base *rest.Config, spec Spec, opts Options) (*Provider, error) {
	b, err := resolve(base, spec, opts)
	if err != nil {
		return nil, fmt.Errorf("provider: %w", err)
	}
	p := &Provider{
		entry:     b.entry,
		server:    b.server,
		userAgent: b.userAgent,
		timeout:   opts.Timeout,
		metrics:   opts.Metrics,
		clock:     opts.Clock,
		info:      b.info,
		static:    b.static,
		multiItem: opts.MultiItem,
	}
	if p.timeout <= 0 {
		p.timeout = DefaultTimeout
	}
	if p.clock == nil {
		p.clock = clock.RealClock{}
	}
	retries := opts.MaxRetries
	switch {
	case retries == 0:
		retries = defaultMaxRetries
	case retries < 0:
		retries = 0
	}
	backoff := opts.RetryBackoff
	if backoff <= 0 {
		backoff = defaultRetryBackoff
	}
	p.retry = retryTransport{next: b.entry.rt, maxRetries: retries, backoff: backoff, metrics: opts.Metrics, now: time.Now}
	p.client = http.Client{
		Transport: &p.retry,
		// Never follow redirects: the auth round-trippers would send the
		// token to wherever the server points.
		CheckRedirect: noRedirects,
	}
	return p, nil
}

func noRedirects(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// built is what New derives from (base, spec, options) apart from the
// per-provider knobs; it is cached (see resolve) so that Flagger's
// provider-per-check pattern costs a map lookup.
type built struct {
	entry     *transportEntry
	server    string
	userAgent []string
	info      ConnInfo
	static    []string // static secrets, for redaction
}

func build(cs *caches, base *rest.Config, spec Spec, opts Options) (*built, error) {
	r, err := buildConfig(base, spec, opts)
	if err != nil {
		return nil, err
	}
	// We set User-Agent on each request ourselves, which spares client-go's
	// user-agent round-tripper a request clone.
	ua := r.cfg.UserAgent
	if ua == "" || ua == rest.DefaultKubernetesUserAgent() {
		ua = userAgent()
	}
	r.cfg.UserAgent = ""
	entry, err := cs.pool.get(r)
	if err != nil {
		return nil, err
	}
	b := &built{entry: entry, server: r.info.Server, userAgent: []string{ua}, info: r.info}
	for _, t := range []string{r.cfg.BearerToken, r.cfg.Password} {
		if t != "" {
			b.static = append(b.static, t)
		}
	}
	return b, nil
}

// Info says which server, identity and TLS settings the provider uses.
func (p *Provider) Info() ConnInfo { return p.info }

// Server is the base URL the provider talks to.
func (p *Provider) Server() string { return p.server }

// Timeout is the per-call budget, retries included.
func (p *Provider) Timeout() time.Duration { return p.timeout }

func (p *Provider) redactor() redactor {
	return redactor{secrets: p.secrets}
}

func (p *Provider) secrets() []string {
	if p.entry.tokenFile == nil {
		return p.static
	}
	if t := p.entry.tokenFile.cached(); t != "" {
		return append(append([]string(nil), p.static...), t)
	}
	return p.static
}

// Query runs one query in the extmetrics grammar:
// [<namespace>/]<metricName>[?labelSelector=<selector>][&aggregate=<agg>][&maxAge=<duration>].
//
// On success the result holds every item and the aggregated value
// (aggregate=first|sum|avg|min|max|count); Matched tells how many items the
// server returned. A query without aggregate= that matches several items is
// ErrAmbiguous unless Options.MultiItem is MultiItemFirst (Flagger's
// behaviour: the first item). On error the result is nil and the error
// wraps one sentinel. An empty list is ErrNoValuesFound (also for count).
//
// maxAge fails closed: if any item is older than maxAge the whole query is
// ErrStale (a partial answer would silently change sums, averages and which
// item is "first"); the message names the ages. Items stamped in the future
// (clock skew) count as fresh.
func (p *Provider) Query(ctx context.Context, text string) (*Result, error) {
	start := time.Now()
	res, err := p.runQuery(ctx, text, start)
	outcome := "ok"
	if err != nil {
		outcome = ErrorKind(err)
	}
	p.metrics.query(outcome, time.Since(start))
	return res, err
}

func (p *Provider) runQuery(ctx context.Context, text string, start time.Time) (*Result, error) {
	pq, err := parseQuery(text)
	if err != nil {
		msg := err.Error()
		var qe *query.Error
		if errors.As(err, &qe) {
			msg = qe.Part + ": " + qe.Msg
		}
		return nil, &Error{Kind: ErrInvalidQuery, Op: "query", Query: snippet([]byte(strings.TrimSpace(text)), 200), Message: msg, Err: err}
	}
	q, canonical, u := pq.q, pq.canonical, p.server+pq.path

	st := &attemptStats{}
	body, e := p.get(ctx, "query", canonical, u, st)
	if e != nil {
		return nil, e
	}
	defer putBuffer(body)
	fail := func(kind error, msg string, cause error) (*Result, error) {
		return nil, &Error{Kind: kind, Op: "query", Query: canonical, StatusCode: http.StatusOK, Retries: st.retries, Message: msg, Err: cause}
	}

	var list v1beta1.ExternalMetricValueList
	if err := json.Unmarshal(body.Bytes(), &list); err != nil {
		what := "malformed"
		if strings.Contains(err.Error(), "unexpected end of JSON input") {
			what = "truncated or malformed"
		}
		return fail(ErrUnavailable, fmt.Sprintf("%s response body: %v (body starts %q)", what, err, p.redactor().redact(snippet(body.Bytes(), 80))), err)
	}
	if list.Kind != "" && list.Kind != "ExternalMetricValueList" {
		return fail(ErrUnavailable, fmt.Sprintf("unexpected response kind %q, want ExternalMetricValueList", snippet([]byte(list.Kind), 60)), nil)
	}
	if len(list.Items) == 0 {
		where := fmt.Sprintf("metric %q in namespace %q", q.Metric, q.Namespace)
		if q.Selector != "" {
			where += fmt.Sprintf(" with labelSelector %q", q.Selector)
		}
		return fail(ErrNoValuesFound, "the server returned no items for "+where, nil)
	}

	items := make([]Item, len(list.Items))
	for i := range list.Items {
		in := &list.Items[i]
		qs := in.Value.String()
		v := quantityFloat(&in.Value)
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fail(ErrUnavailable, fmt.Sprintf("item %d has a value out of range: %s", i, qs), nil)
		}
		items[i] = Item{
			MetricName:    in.MetricName,
			Labels:        in.MetricLabels,
			Timestamp:     in.Timestamp.Time,
			WindowSeconds: in.WindowSeconds,
			Value:         v,
			Quantity:      qs,
		}
	}
	if q.MaxAge > 0 {
		if msg := staleness(items, q.MaxAge, p.clock.Now()); msg != "" {
			return fail(ErrStale, msg, nil)
		}
	}
	agg := q.Aggregate
	if agg == "" {
		if len(items) > 1 && p.multiItem != MultiItemFirst {
			return fail(ErrAmbiguous, ambiguity(items), nil)
		}
		agg = query.First
	}
	value, err := aggregate(agg, items)
	if err != nil {
		return fail(ErrInvalidQuery, err.Error(), nil)
	}
	return &Result{
		Query:     canonical,
		Value:     value,
		Aggregate: agg,
		Matched:   len(items),
		Items:     items,
		Latency:   time.Since(start),
		Retries:   st.retries,
	}, nil
}

// parsedQuery is a parsed query with its canonical form and request path.
type parsedQuery struct {
	q         query.Query
	canonical string
	path      string // /apis/external.metrics.k8s.io/v1beta1/namespaces/<ns>/<metric>[?labelSelector=...]
}

// parseQuery parses text (query.ParseCanonical remembers accepted queries
// and their canonical form) and derives the request path.
func parseQuery(text string) (parsedQuery, error) {
	q, canonical, err := query.ParseCanonical(text)
	if err != nil {
		return parsedQuery{}, err
	}
	const prefix = "/apis/" + GroupVersion + "/namespaces/"
	var path string
	if q.Selector == "" {
		path = prefix + url.PathEscape(q.Namespace) + "/" + url.PathEscape(q.Metric)
	} else {
		path = prefix + url.PathEscape(q.Namespace) + "/" + url.PathEscape(q.Metric) + "?labelSelector=" + url.QueryEscape(q.Selector)
	}
	return parsedQuery{q: q, canonical: canonical, path: path}, nil
}

// get performs one GET (with retries) within the provider's timeout and
// returns the 200 body, or an *Error for anything else.
func (p *Provider) get(ctx context.Context, op, canonical, u string, st *attemptStats) (*bytes.Buffer, *Error) {
	if p.entry == nil {
		return nil, &Error{Kind: ErrUnavailable, Op: op, Query: canonical, Message: "provider not built with provider.New"}
	}
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	ctx = withStats(ctx, st)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, http.NoBody)
	if err != nil {
		return nil, &Error{Kind: ErrInvalidQuery, Op: op, Query: canonical, Message: "building request: " + p.redactor().redact(err.Error()), Err: err}
	}
	req.Header["Accept"] = acceptJSON
	req.Header["User-Agent"] = p.userAgent
	resp, err := p.client.Do(req)
	if err != nil {
		msg, kind := transportError(err, p.timeout, p.redactor())
		if p.info.TLS.InsecureIgnored {
			// insecureSkipVerify is already set; it loses to the given CA.
			msg = strings.Replace(msg, tlsHint, "the given CA does not verify this server; insecureSkipVerify is set but ignored because a CA was given: give the server's CA, or drop the CA to skip verification", 1)
		}
		if st.gaveUp != "" {
			msg += "; " + st.gaveUp
		}
		return nil, &Error{Kind: kind, Op: op, Query: canonical, Retries: st.retries, Message: msg, Err: unwrapURLError(err)}
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBytes))
		kind, msg, cause := statusError(resp.StatusCode, resp.Header, b, p.redactor())
		if resp.StatusCode == http.StatusBadRequest && bytes.Contains(b, []byte("HTTP request to an HTTPS server")) {
			// Go's TLS servers answer plain HTTP with this 400: the query
			// is fine, the address is wrong.
			kind, cause = ErrUnavailable, nil
			msg = "the server speaks HTTPS: use " + httpsURL(p.server) + " instead of " + p.server + " (" + msg + ")"
		}
		if st.gaveUp != "" {
			msg += "; " + st.gaveUp
		}
		return nil, &Error{Kind: kind, Op: op, Query: canonical, StatusCode: resp.StatusCode, Retries: st.retries, Message: msg, Err: cause}
	}
	buf := getBuffer()
	n, err := buf.ReadFrom(io.LimitReader(resp.Body, maxBodyBytes+1))
	if err == nil && n > maxBodyBytes {
		err = fmt.Errorf("body larger than %d bytes", maxBodyBytes)
	}
	if err != nil {
		putBuffer(buf)
		kind, msg := ErrUnavailable, "reading response body (truncated?): "+p.redactor().redact(rootMessage(err))
		if errors.Is(err, context.DeadlineExceeded) {
			msg = fmt.Sprintf("timed out after %s reading the response body", p.timeout)
		}
		return nil, &Error{Kind: kind, Op: op, Query: canonical, StatusCode: resp.StatusCode, Retries: st.retries, Message: msg, Err: err}
	}
	return buf, nil
}

// httpsURL is base with https:// in place of http://.
func httpsURL(base string) string {
	if hostPort, ok := strings.CutPrefix(base, "http://"); ok {
		return "https://" + hostPort
	}
	return base
}

// unwrapURLError keeps the cause of a *url.Error (the URL is not secret, but
// it is noise next to the query).
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

var acceptJSON = []string{"application/json"}

var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

func getBuffer() *bytes.Buffer {
	b := bufPool.Get().(*bytes.Buffer)
	b.Reset()
	return b
}

func putBuffer(b *bytes.Buffer) {
	if b != nil && b.Cap() <= 1<<20 {
		bufPool.Put(b)
	}
}

// staleness returns why items fail maxAge, or "".
func staleness(items []Item, maxAge time.Duration, now time.Time) string {
	stale, undated := 0, 0
	var newest, oldest time.Duration = -1, -1
	for _, it := range items {
		if it.Timestamp.IsZero() {
			undated++
			continue
		}
		age := now.Sub(it.Timestamp)
		if age < 0 {
			age = 0
		}
		if newest < 0 || age < newest {
			newest = age
		}
		if age > oldest {
			oldest = age
		}
		if age > maxAge {
			stale++
		}
	}
	switch {
	case stale == 0 && undated == 0:
		return ""
	case stale+undated == len(items) && newest >= 0:
		return fmt.Sprintf("newest item is %s old, maxAge %s", fmtAge(newest), maxAge)
	case stale+undated == len(items):
		return fmt.Sprintf("no item has a timestamp, maxAge %s", maxAge)
	case undated > 0 && stale == 0:
		return fmt.Sprintf("%d of %d items have no timestamp, maxAge %s; refusing a partial answer", undated, len(items), maxAge)
	default:
		return fmt.Sprintf("%d of %d items are older than maxAge %s (oldest is %s old); refusing a partial answer", stale+undated, len(items), maxAge, fmtAge(oldest))
	}
}

func fmtAge(d time.Duration) string {
	if d >= time.Second {
		return d.Round(time.Second).String()
	}
	return d.Round(time.Millisecond).String()
}

// aggregate reduces items (never empty) with one of the query aggregations.
func aggregate(agg string, items []Item) (float64, error) {
	switch agg {
	case query.First, "":
		return items[0].Value, nil
	case query.Count:
		return float64(len(items)), nil
	case query.Sum, query.Avg:
		s := 0.0
		for _, it := range items {
			s += it.Value
		}
		if agg == query.Avg {
			s /= float64(len(items))
		}
		return s, nil
	case query.Min, query.Max:
		v := items[0].Value
		for _, it := range items[1:] {
			if (agg == query.Min && it.Value < v) || (agg == query.Max && it.Value > v) {
				v = it.Value
			}
		}
		return v, nil
	}
	return 0, fmt.Errorf("unknown aggregate %q (allowed: first, sum, avg, min, max, count)", agg)
}

// quantityFloat converts a quantity to the float64 nearest its exact decimal
// value: "700m" is 0.7, where Quantity.AsApproximateFloat64 gives
// 0.7000000000000001. Integers take the fast path.
func quantityFloat(q *resource.Quantity) float64 {
	if n, ok := q.AsInt64(); ok && n > -1<<53 && n < 1<<53 {
		return float64(n)
	}
	if f, err := strconv.ParseFloat(q.AsDec().String(), 64); err == nil {
		return f
	}
	return q.AsApproximateFloat64()
}
