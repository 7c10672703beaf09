package provider

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Sentinel errors; every error returned by Query, Health and List wraps
// exactly one of them (errors.Is), and its message carries the server's Status
// message, never a token.
var (
	ErrNoValuesFound = errors.New("no values found")    // empty item list (Flagger's ErrNoValuesFound)
	ErrNotFound      = errors.New("metric not found")   // 404, or Cluster Agent 500 "DatadogMetric not found"
	ErrStale         = errors.New("stale data")         // maxAge exceeded, or Cluster Agent "is stale"
	ErrUnauthorized  = errors.New("unauthorized")       // 401
	ErrForbidden     = errors.New("forbidden")          // 403
	ErrUnavailable   = errors.New("server unavailable") // other 5xx, network, timeout, bad body
	ErrInvalidQuery  = errors.New("invalid query")      // query grammar error or 400
	// ErrAmbiguous: the server returned several items, the query names no
	// aggregate= and Options.MultiItem is MultiItemFail (the default).
	ErrAmbiguous = errors.New("ambiguous")
)

var kinds = []struct {
	err  error
	name string
}{
	{ErrNoValuesFound, "no-values"},
	{ErrNotFound, "not-found"},
	{ErrStale, "stale"},
	{ErrUnauthorized, "unauthorized"},
	{ErrForbidden, "forbidden"},
	{ErrUnavailable, "unavailable"},
	{ErrInvalidQuery, "invalid-query"},
	{ErrAmbiguous, "ambiguous"},
}

// ErrorKind names the sentinel an error wraps: "no-values", "not-found",
// "stale", "unauthorized", "forbidden", "unavailable", "invalid-query",
// "ambiguous", or "error" for anything else ("" for nil).
func ErrorKind(err error) string {
	if err == nil {
		return ""
	}
	for _, k := range kinds {
		if errors.Is(err, k.err) {
			return k.name
		}
	}
	return "error"
}

// Error is the concrete type of every error Query, Health and List return.
// It wraps its Kind (one sentinel) and, when there is one, the underlying
// cause (a *apierrors.StatusError built from the server's Status with its
// message redacted, a network error, context.DeadlineExceeded, ...).
type Error struct {
	Kind       error  // exactly one of the sentinel errors
	Op         string // "query", "health" or "list"
	Query      string // canonical query (or the raw text when it did not parse)
	StatusCode int    // HTTP status of the final response, 0 when there was none
	Retries    int    // retries made before giving up
	Message    string // what went wrong, redacted
	Err        error  // cause, may be nil
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Op)
	if e.Query != "" {
		fmt.Fprintf(&b, " %q", e.Query)
	}
	b.WriteString(": ")
	e.writeDetail(&b)
	return b.String()
}

// Summary is the error without the operation, the query unquoted:
// "QUERY: KIND: MESSAGE (after N retries)" — for a command line that already
// says what it did.
func (e *Error) Summary() string {
	var b strings.Builder
	if e.Query != "" {
		b.WriteString(e.Query)
		b.WriteString(": ")
	}
	e.writeDetail(&b)
	return b.String()
}

// writeDetail writes "KIND: MESSAGE (after N retries)".
func (e *Error) writeDetail(b *strings.Builder) {
	b.WriteString(e.Kind.Error())
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	switch {
	case e.Retries == 1:
		b.WriteString(" (after 1 retry)")
	case e.Retries > 1:
		fmt.Fprintf(b, " (after %d retries)", e.Retries)
	}
}

// Unwrap exposes the sentinel and the cause to errors.Is and errors.As.
func (e *Error) Unwrap() []error {
	if e.Err == nil {
		return []error{e.Kind}
	}
	return []error{e.Kind, e.Err}
}

// redactor removes credentials from text that may end up in an error.
type redactor struct {
	secrets func() []string // current tokens, may be nil
}

var (
	bearerRE   = regexp.MustCompile(`(?i)\b(bearer\s+)([A-Za-z0-9._~+/=\-]+)`)
	tokenKeyRE = regexp.MustCompile(`(?i)(token["']?\s*[:=]\s*["']?)([A-Za-z0-9._~+/=\-]{3,})`)
)

const redacted = "[REDACTED]"

func (r redactor) redact(s string) string {
	if s == "" {
		return s
	}
	if r.secrets != nil {
		for _, t := range r.secrets() {
			if len(t) >= 3 {
				s = strings.ReplaceAll(s, t, redacted)
			}
		}
	}
	s = bearerRE.ReplaceAllString(s, "${1}"+redacted)
	return tokenKeyRE.ReplaceAllString(s, "${1}"+redacted)
}

// snippet returns at most n bytes of b as valid, printable text.
func snippet(b []byte, n int) string {
	s := string(b)
	if len(s) > n {
		s = s[:n]
		for !utf8.ValidString(s) && s != "" {
			s = s[:len(s)-1]
		}
		s += "…"
	}
	s = strings.Map(func(r rune) rune {
		if r == '\n' || r == '\r' || r == '\t' {
			return ' '
		}
		if r < 0x20 || r == utf8.RuneError {
			return -1
		}
		return r
	}, s)
	return strings.TrimSpace(s)
}

// statusError classifies a non-200 response from its code and body.
func statusError(code int, header http.Header, body []byte, r redactor) (kind error, msg string, cause error) {
	var st metav1.Status
	serverMsg := ""
	if len(body) > 0 && json.Unmarshal(body, &st) == nil && (st.Kind == "Status" || st.Message != "") {
		st.Message = r.redact(st.Message)
		if st.Details != nil {
			st.Details = nil // may echo request data; the message is what we keep
		}
		serverMsg = st.Message
		cause = &apierrors.StatusError{ErrStatus: st}
	} else if len(body) > 0 {
		serverMsg = r.redact(snippet(body, 300))
	}
	lower := strings.ToLower(serverMsg)
	switch {
	case code == http.StatusUnauthorized:
		kind = ErrUnauthorized
	case code == http.StatusForbidden:
		kind = ErrForbidden
	case code == http.StatusNotFound:
		kind = ErrNotFound
	case code == http.StatusBadRequest || code == http.StatusUnprocessableEntity:
		kind = ErrInvalidQuery
	case code >= 500 && strings.Contains(lower, "datadogmetric not found"):
		kind = ErrNotFound
	case code >= 500 && strings.Contains(lower, "is stale"):
		kind = ErrStale
	case code >= 500 && st.Reason == metav1.StatusReasonNotFound:
		kind = ErrNotFound
	default:
		kind = ErrUnavailable
	}
	msg = fmt.Sprintf("%d %s", code, http.StatusText(code))
	if serverMsg != "" {
		msg += ": " + serverMsg
	}
	if ra := header.Get("Retry-After"); ra != "" && (code == http.StatusTooManyRequests || code == http.StatusServiceUnavailable) {
		msg += fmt.Sprintf(" (Retry-After %s)", snippet([]byte(ra), 40))
	}
	return kind, msg, cause
}

// tlsHint is the advice on a failed TLS verification.
const tlsHint = "give the server's CA as ca.crt/--ca-file, or set insecureSkipVerify"

// transportError classifies an error from the HTTP client (no response).
func transportError(err error, timeout time.Duration, r redactor) (msg string, kind error) {
	var tfe *tokenFileError
	var uae x509.UnknownAuthorityError
	var hoe x509.HostnameError
	var cie x509.CertificateInvalidError
	var cve *tls.CertificateVerificationError
	switch {
	case errors.As(err, &tfe):
		return r.redact(tfe.Error()), ErrUnauthorized
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Sprintf("timed out after %s: %s", timeout, r.redact(rootMessage(err))), ErrUnavailable
	case errors.Is(err, context.Canceled):
		return "canceled: " + r.redact(rootMessage(err)), ErrUnavailable
	case errors.As(err, &uae), errors.As(err, &hoe), errors.As(err, &cie), errors.As(err, &cve):
		return "TLS verification failed (" + tlsHint + "): " + r.redact(rootMessage(err)), ErrUnavailable
	default:
		return "request failed: " + r.redact(rootMessage(err)), ErrUnavailable
	}
}

// rootMessage drops the `Get "URL": ` prefix of *url.Error; the URL is
// already known to the caller (the query) and just lengthens messages.
func rootMessage(err error) string {
	s := err.Error()
	if i := strings.Index(s, "\": "); i > 0 && strings.HasPrefix(s, "Get \"") {
		return s[i+3:]
	}
	return s
}
