package analysis

import (
	"context"
	"fmt"
	"math"
	"strings"
	"sync"
	"time"

	"github.com/extmetrics/extmetrics/pkg/flagger"
	"github.com/extmetrics/extmetrics/pkg/provider"
	"github.com/extmetrics/extmetrics/pkg/query"
)

// CheckVerdict is what one check concluded.
type CheckVerdict string

// Check verdicts, as every surface reports them.
const (
	// VerdictPass: a fresh, unambiguous, finite value inside the bounds.
	VerdictPass CheckVerdict = "pass"
	// VerdictFail: a value outside the bounds (error kind "out-of-range").
	VerdictFail CheckVerdict = "fail"
	// VerdictMeasured: a fresh, unambiguous value and no bounds to judge
	// it: the caller judges (Argo's successCondition). Never a pass.
	VerdictMeasured CheckVerdict = "measured"
	// VerdictError: no value to judge (ErrorKind says why).
	VerdictError CheckVerdict = "error"
)

// Bounds are the limits a value is judged against, inclusive: it fails when
// value < Min or value > Max; a nil side has no limit. NaN and infinite
// values always fail. The relative bounds compare the value (the canary's)
// with a baseline's read at the same time (CheckSpec.Baseline): the ratio
// canary ÷ baseline and the delta canary − baseline; every bound given must
// hold. Judge and JudgeRelative are the one place that applies them.
type Bounds struct {
	Min, Max *float64
	// Threshold says Max is Flagger's deprecated threshold (only the
	// message's wording differs).
	Threshold bool

	// MinRatio and MaxRatio bound canary ÷ baseline. The ratio is defined
	// only for a baseline > 0; otherwise a ratio bound fails closed, unless
	// a delta bound is given, which then decides (see JudgeRelative).
	MinRatio, MaxRatio *float64
	// MinDelta and MaxDelta bound canary − baseline.
	MinDelta, MaxDelta *float64
}

// MetricBounds are a Flagger metric's bounds: thresholdRange, else the
// deprecated threshold as a maximum.
func MetricBounds(m *flagger.Metric) Bounds {
	if tr := m.ThresholdRange; tr != nil {
		return Bounds{Min: clonef(tr.Min), Max: clonef(tr.Max)}
	}
	t := m.Threshold
	return Bounds{Max: &t, Threshold: true}
}

// Judge applies the absolute bounds to a value: passed, or why not. Bounds
// with a relative bound never pass here: they need a baseline
// (JudgeRelative).
func (b Bounds) Judge(v float64) (passed bool, message string) {
	if b.Relative() {
		return false, "relative bounds (" + b.relativeString() + ") need a baseline value"
	}
	return b.judgeAbsolute(v)
}

func (b Bounds) judgeAbsolute(v float64) (passed bool, message string) {
	if math.IsNaN(v) {
		return false, "value is NaN (not a number)"
	}
	if math.IsInf(v, 0) {
		return false, fmt.Sprintf("value %s is not finite", FormatValue(v))
	}
	if b.Min != nil && v < *b.Min {
		return false, fmt.Sprintf("%s < min %s", FormatValue(v), FormatValue(*b.Min))
	}
	if b.Max != nil && v > *b.Max {
		if b.Threshold {
			return false, fmt.Sprintf("%s > threshold %s (deprecated threshold)", FormatValue(v), FormatValue(*b.Max))
		}
		return false, fmt.Sprintf("%s > max %s", FormatValue(v), FormatValue(*b.Max))
	}
	return true, ""
}

// String words the bounds: "[0, 1]", "min 10", "max 1", "no limit", and the
// relative ones after the absolute ones: "max 5, maxRatio 1.2, maxDelta 0.5".
func (b Bounds) String() string {
	rel := b.relativeString()
	if rel == "" {
		return b.absoluteString()
	}
	if b.Min == nil && b.Max == nil {
		return rel
	}
	return b.absoluteString() + ", " + rel
}

func (b Bounds) absoluteString() string {
	switch {
	case b.Min != nil && b.Max != nil:
		return "[" + FormatValue(*b.Min) + ", " + FormatValue(*b.Max) + "]"
	case b.Min != nil:
		return "min " + FormatValue(*b.Min)
	case b.Max != nil && b.Threshold:
		return "threshold " + FormatValue(*b.Max)
	case b.Max != nil:
		return "max " + FormatValue(*b.Max)
	}
	return "no limit"
}

// Validate refuses bounds no value can pass or that are not numbers.
func (b Bounds) Validate() error {
	for _, p := range []*float64{b.Min, b.Max} {
		if p != nil && (math.IsNaN(*p) || math.IsInf(*p, 0)) {
			return fmt.Errorf("min and max must be finite numbers")
		}
	}
	if b.Min != nil && b.Max != nil && *b.Min > *b.Max {
		return fmt.Errorf("min %s is greater than max %s: no value can pass", FormatValue(*b.Min), FormatValue(*b.Max))
	}
	return b.validateRelative()
}

// Staleness is the staleness rule of a check whose query names no maxAge=
// (a query's own maxAge= wins; the provider applies it): MaxAge 0 means
// DefaultMaxAge(Interval), NoMaxAge (any negative) no bound, a positive
// value that bound. Every item must be younger than the bound; items
// without a timestamp count as stale.
type Staleness struct {
	MaxAge   time.Duration // 0 (auto), NoMaxAge (off) or a bound; see ParseMaxAge
	Interval time.Duration // the analysis interval, for auto (0: unknown)
}

// Bound is the bound the rule gives (0: none).
func (s Staleness) Bound() time.Duration {
	switch {
	case s.MaxAge < 0:
		return 0
	case s.MaxAge > 0:
		return s.MaxAge
	}
	return DefaultMaxAge(s.Interval)
}

func (s Staleness) hint() string {
	if s.MaxAge > 0 {
		return "max-age " + s.MaxAge.String() + "; set &maxAge= in the query, or max-age 0 to turn the bound off"
	}
	return fmt.Sprintf("default bound: 3 analysis intervals, at least %s; set &maxAge= in the query, or max-age 0 to turn the bound off", MinDefaultMaxAge)
}

// NoMaxAge turns the default staleness bound off (Staleness.MaxAge,
// Options.MaxAge).
const NoMaxAge time.Duration = -1

// MinDefaultMaxAge is the smallest default staleness bound.
const MinDefaultMaxAge = 5 * time.Minute

// DefaultMaxAge is the staleness bound of a check whose query names no
// maxAge=: 3 analysis intervals, at least MinDefaultMaxAge (External Metrics
// servers cache values for a while; the Cluster Agent refreshes every 30s).
func DefaultMaxAge(interval time.Duration) time.Duration {
	return max(MinDefaultMaxAge, 3*interval)
}

// ParseMaxAge reads every max-age flag and field the same way: "" or
// "auto" is 0 (the default bound, DefaultMaxAge), "0" or any zero duration
// ("0s") is NoMaxAge (off), a positive Go duration is that bound. Negative
// durations are errors.
func ParseMaxAge(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" || strings.EqualFold(s, "auto") {
		return 0, nil
	}
	d, err := time.ParseDuration(s) // "0" parses as 0
	switch {
	case err != nil:
		return 0, fmt.Errorf("%q: want auto, 0 (off) or a Go duration such as 90s or 10m", s)
	case d < 0:
		return 0, fmt.Errorf("%s: must not be negative (0 turns the bound off)", s)
	case d == 0:
		return NoMaxAge, nil
	}
	return d, nil
}

// CheckSpec is one check to run.
type CheckSpec struct {
	// Query is the rendered query (the canary's).
	Query string
	// Baseline, when set, is a second rendered query (typically the
	// primary's series), read through the same Querier concurrently with
	// Query under the same rules; the relative bounds compare the two.
	// With nil Bounds, the ratio and delta are only measured.
	Baseline string
	// Bounds judge the value; nil means no verdict, only the measurement
	// (VerdictMeasured: the caller judges, as Argo's successCondition).
	Bounds *Bounds
	// Staleness applies when the query names no maxAge=.
	Staleness Staleness
	// Now is the clock ages are measured with (default time.Now).
	Now func() time.Time
}

// CheckResult is what one check found: what every surface reports.
type CheckResult struct {
	Query     string          // the canonical query that ran (as given when it did not parse)
	Verdict   CheckVerdict    // pass, fail, measured or error
	HasValue  bool            // Value is the aggregated value (pass, fail, measured)
	Value     float64         //
	Aggregate string          // the aggregation applied
	Matched   int             // items the server returned
	Items     []provider.Item // the items
	Newest    time.Time       // newest item's timestamp (zero: none had one)
	Age       time.Duration   // Newest's age when the check ran
	Latency   time.Duration   // the query's
	ErrorKind string          // provider.ErrorKind, KindOutOfRange, or "error"
	Message   string          // why it failed or errored ("" on pass and measured)
	Err       error           // the query's error (Verdict error)

	// With a baseline (CheckSpec.Baseline): Side says which side's read
	// failed ("canary" or "baseline"; "" when both were read), Baseline is
	// what the baseline's read found (nil when it failed or was not made),
	// Delta is canary − baseline and Ratio canary ÷ baseline, nil when
	// undefined (baseline ≤ 0) — both nil unless both sides have a value.
	Side     string
	Baseline *SideResult
	Ratio    *float64
	Delta    *float64
}

// SideResult is what the baseline's read found.
type SideResult struct {
	Query     string          // canonical
	Value     float64         // aggregated
	Aggregate string          //
	Matched   int             //
	Items     []provider.Item //
	Newest    time.Time       //
	Age       time.Duration   //
	Latency   time.Duration   //
}

// Passed reports whether the check passed (never for measured or error).
func (r *CheckResult) Passed() bool { return r.Verdict == VerdictPass }

// RunCheck is THE metric check: analyze (the Engine), the gate (all three
// endpoints), migrate --check and the Argo Rollouts plugin all call it, and
// none has its own copy. It runs the rendered query once through q and
// judges the answer: every error (no values, not found, stale, ambiguous,
// unauthorized, unavailable, invalid query, a panicking Querier, ...) is
// VerdictError with its kind; data older than the staleness rule's bound
// (for a query without its own maxAge=) is VerdictError "stale"; then a
// value is VerdictPass inside the inclusive bounds, VerdictFail
// ("out-of-range") outside them or when not finite, and VerdictMeasured
// when there are no bounds. It never panics and never passes on an error.
func RunCheck(ctx context.Context, q Querier, spec CheckSpec) CheckResult {
	c := CheckResult{Query: spec.Query}
	if err := spec.Validate(); err != nil {
		c.Verdict, c.ErrorKind, c.Message, c.Err = VerdictError, KindInvalidCheck, err.Error(), err
		return c
	}
	now := time.Now()
	if spec.Now != nil {
		now = spec.Now()
	}
	var canary, base sideRead
	if spec.Baseline != "" {
		canary, base = readBoth(ctx, q, spec, now)
	} else {
		canary = readSide(ctx, q, spec.Query, spec.Staleness, now)
	}

	r := canary.res
	if r != nil {
		c.Latency = r.Latency
		if r.Query != "" {
			c.Query = r.Query
		}
	}
	c.Newest, c.Age = canary.newest, canary.age
	if canary.kind == "" {
		c.Aggregate, c.Matched, c.Items = r.Aggregate, r.Matched, r.Items
	}
	if spec.Baseline != "" && base.kind == "" {
		br := base.res
		c.Baseline = &SideResult{Query: br.Query, Value: br.Value, Aggregate: br.Aggregate, Matched: br.Matched,
			Items: br.Items, Newest: base.newest, Age: base.age, Latency: br.Latency}
		if c.Baseline.Query == "" {
			c.Baseline.Query = spec.Baseline
		}
	}
	switch {
	case canary.kind != "" && spec.Baseline == "":
		c.Verdict, c.ErrorKind, c.Message, c.Err = VerdictError, canary.kind, canary.msg, canary.err
		return c
	case canary.kind != "":
		// The canary's failure comes first; the baseline's, if any, is said too.
		c.Side = "canary"
		c.Verdict, c.ErrorKind, c.Message, c.Err = VerdictError, canary.kind, "canary: "+canary.msg, canary.err
		if base.kind != "" {
			c.Message += "; baseline: " + base.msg
		}
		return c
	case base.kind != "":
		c.Side = "baseline"
		c.Verdict, c.ErrorKind, c.Message, c.Err = VerdictError, base.kind, "baseline: "+base.msg, base.err
		return c
	}
	c.HasValue, c.Value = true, r.Value
	var cmp Comparison
	if c.Baseline != nil {
		cmp = Compare(c.Value, c.Baseline.Value)
		c.Ratio, c.Delta = cmp.Ratio, cmp.Delta
	}
	if spec.Bounds == nil {
		c.Verdict = VerdictMeasured
		return c
	}
	var passed bool
	var msg string
	if c.Baseline != nil {
		passed, msg = spec.Bounds.JudgeRelative(c.Value, c.Baseline.Value)
	} else {
		passed, msg = spec.Bounds.Judge(c.Value)
	}
	if !passed {
		c.Verdict, c.ErrorKind, c.Message = VerdictFail, KindOutOfRange, msg
		return c
	}
	c.Verdict = VerdictPass
	return c
}

// KindInvalidCheck is CheckResult.ErrorKind for a CheckSpec that
// Validate refuses (no query ran).
const KindInvalidCheck = "invalid-check"

// Validate refuses a spec whose bounds are invalid, relative bounds
// without a baseline, and a baseline with bounds but no relative bound
// (it would be read for nothing; with nil Bounds the ratio and delta are
// only measured).
func (s CheckSpec) Validate() error {
	if s.Bounds == nil {
		return nil
	}
	if err := s.Bounds.Validate(); err != nil {
		return err
	}
	switch {
	case s.Bounds.Relative() && strings.TrimSpace(s.Baseline) == "":
		return fmt.Errorf("%s: a relative bound needs a baseline (a second query, typically the primary's series)", s.Bounds.relativeString())
	case s.Baseline != "" && !s.Bounds.Relative():
		return fmt.Errorf("a baseline needs a relative bound: maxRatio, minRatio, maxDelta or minDelta")
	}
	return nil
}

// sideRead is one side's read: the result, or why it failed (kind != "").
type sideRead struct {
	res       *provider.Result
	newest    time.Time
	age       time.Duration
	kind, msg string
	err       error
}

// readBoth reads the canary and the baseline concurrently: the same
// provider, at the same time. (A function of its own, so that a check
// without a baseline allocates no goroutine state.)
func readBoth(ctx context.Context, q Querier, spec CheckSpec, now time.Time) (canary, base sideRead) {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		base = readSide(ctx, q, spec.Baseline, spec.Staleness, now)
	}()
	canary = readSide(ctx, q, spec.Query, spec.Staleness, now)
	wg.Wait()
	return canary, base
}

// readSide runs one query and applies the staleness rule: the canary's and
// the baseline's reads are the same.
func readSide(ctx context.Context, q Querier, text string, st Staleness, now time.Time) sideRead {
	var s sideRead
	res, err := safeQuery(ctx, q, text)
	s.res = res
	switch {
	case err != nil:
		s.kind, s.msg, s.err = provider.ErrorKind(err), err.Error(), err
		if s.kind == "" {
			s.kind = "error"
		}
		return s
	case res == nil:
		s.kind, s.msg = "error", "provider returned no result and no error"
		return s
	}
	if newest, age, ok := res.Newest(now); ok {
		s.newest, s.age = newest, age
	}
	if bound := st.Bound(); bound > 0 && !hasOwnMaxAge(text) && provider.CheckMaxAge(res, bound, now, "") != nil {
		// The hint is worded only for data that is stale.
		if err := provider.CheckMaxAge(res, bound, now, st.hint()); err != nil {
			s.kind, s.msg, s.err = provider.ErrorKind(err), err.Error(), err
			if s.kind == "" {
				s.kind = "error"
			}
		}
	}
	return s
}

// hasOwnMaxAge reports whether a query sets maxAge= (then the provider has
// applied it and the default bound does not).
func hasOwnMaxAge(q string) bool {
	pq, err := query.Parse(q)
	return err == nil && pq.MaxAge > 0
}

// safeQuery turns a panicking Querier into an error: a check never crashes
// the run and never passes by accident.
func safeQuery(ctx context.Context, q Querier, text string) (res *provider.Result, err error) {
	defer func() {
		if p := recover(); p != nil {
			res, err = nil, fmt.Errorf("query panicked: %v", p)
		}
	}()
	return q.Query(ctx, text)
}

func clonef(p *float64) *float64 {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}
