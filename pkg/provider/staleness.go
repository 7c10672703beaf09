package provider

import (
	"net/http"
	"time"
)

// Newest is the timestamp of the result's most recent item and its age at
// now (negative ages, from clock skew, count as 0); ok is false when no item
// has a timestamp.
func (r *Result) Newest(now time.Time) (newest time.Time, age time.Duration, ok bool) {
	if r == nil {
		return time.Time{}, 0, false
	}
	for _, it := range r.Items {
		if !it.Timestamp.IsZero() && it.Timestamp.After(newest) {
			newest = it.Timestamp
		}
	}
	if newest.IsZero() {
		return time.Time{}, 0, false
	}
	return newest, max(now.Sub(newest), 0), true
}

// CheckMaxAge applies a staleness bound to a result after the fact, with the
// same rule as a query's maxAge= (every item must be younger than maxAge,
// items without a timestamp count as stale): nil when the result is fresh
// (or maxAge <= 0, or it has no items), else an *Error wrapping ErrStale
// whose message ends with hint (e.g. where the bound came from). Callers use
// it for a default bound that queries without maxAge= get.
func CheckMaxAge(r *Result, maxAge time.Duration, now time.Time, hint string) error {
	if r == nil || maxAge <= 0 || len(r.Items) == 0 {
		return nil
	}
	msg := staleness(r.Items, maxAge, now)
	if msg == "" {
		return nil
	}
	if hint != "" {
		msg += " (" + hint + ")"
	}
	return &Error{Kind: ErrStale, Op: "query", Query: r.Query, StatusCode: http.StatusOK, Retries: r.Retries, Message: msg}
}
