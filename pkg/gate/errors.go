package gate

import (
	"errors"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/extmetrics/extmetrics/pkg/analysis"
	"github.com/extmetrics/extmetrics/pkg/provider"
)

// Error kinds the gate adds to the provider's (provider.ErrorKind:
// no-values, not-found, stale, unauthorized, forbidden, unavailable,
// invalid-query, error).
const (
	KindBadRequest      = "bad-request"           // the request, its metadata or the objects it names are wrong
	KindUnknownProvider = "unknown-provider"      // a provider name not in --config
	KindUnauthenticated = "unauthenticated"       // the caller did not authenticate to the gate
	KindOutOfRange      = analysis.KindOutOfRange // not an error: the value failed its range
)

// CheckError is an error the gate itself found (not the provider's).
type CheckError struct {
	Kind string
	Msg  string
}

func (e *CheckError) Error() string { return e.Kind + ": " + e.Msg }

func badRequest(msg string) error { return &CheckError{Kind: KindBadRequest, Msg: msg} }

// errorKind is the kind of any error a check can end with.
func errorKind(err error) string {
	var ce *CheckError
	if errors.As(err, &ce) {
		return ce.Kind
	}
	var se *sideError
	if errors.As(err, &se) && se.kind != "" {
		return se.kind
	}
	return provider.ErrorKind(err)
}

// errorMessage is err's message without the kind prefix CheckError adds.
func errorMessage(err error) string {
	var ce *CheckError
	if errors.As(err, &ce) {
		return ce.Msg
	}
	return err.Error()
}

// statusFor maps an error kind to the HTTP status of a failed check. The
// caller's mistakes are the same 4xx on every endpoint. An upstream failure
// is 502 (503 when the server is unavailable) on /v1/check and the Argo
// endpoint, but 424 on the Flagger webhook endpoint (flagger true):
// Flagger's webhook client (hashicorp/go-retryablehttp) retries 429 and 5xx
// and then reports "giving up after N attempt(s)" instead of the body, so
// every failure is a 4xx there: the body, a one-line reason, is what Flagger
// records in the Canary's events.
func statusFor(kind string, flagger bool) int {
	switch kind {
	case KindBadRequest, KindUnknownProvider, "invalid-query":
		return http.StatusBadRequest
	case KindUnauthenticated:
		return http.StatusUnauthorized
	case KindOutOfRange:
		return http.StatusUnprocessableEntity
	}
	switch {
	case flagger:
		return http.StatusFailedDependency // 424: the metric could not be read
	case kind == "unavailable":
		return http.StatusServiceUnavailable
	}
	return http.StatusBadGateway
}

// oneLine makes s a single line of at most n bytes.
func oneLine(s string, n int) string {
	s = strings.Map(func(r rune) rune {
		if r == '\n' || r == '\r' || r == '\t' {
			return ' '
		}
		if r < 0x20 {
			return -1
		}
		return r
	}, s)
	if len(s) > n {
		cut := n - len("…")
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}
