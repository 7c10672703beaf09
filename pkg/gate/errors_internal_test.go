package gate

import "testing"

// The status of a failed check on each endpoint: the caller's mistakes are
// the same 4xx everywhere; an upstream failure is 502/503 on /v1/check and
// the Argo endpoint but 424 on the Flagger webhook (Flagger retries 5xx).
func TestStatusFor(t *testing.T) {
	for _, c := range []struct {
		kind          string
		check, flaggr int
	}{
		{KindBadRequest, 400, 400},
		{KindUnknownProvider, 400, 400},
		{"invalid-query", 400, 400},
		{KindUnauthenticated, 401, 401},
		{KindOutOfRange, 422, 422},
		{"unavailable", 503, 424},
		{"no-values", 502, 424},
		{"not-found", 502, 424},
		{"stale", 502, 424},
		{"unauthorized", 502, 424},
		{"forbidden", 502, 424},
		{"ambiguous", 502, 424},
		{"error", 502, 424},
		{"", 502, 424},
	} {
		if got := statusFor(c.kind, false); got != c.check {
			t.Errorf("check status of %q: %d, want %d", c.kind, got, c.check)
		}
		if got := statusFor(c.kind, true); got != c.flaggr {
			t.Errorf("flagger status of %q: %d, want %d", c.kind, got, c.flaggr)
		}
	}
}
