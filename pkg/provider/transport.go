package provider

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	utilnet "k8s.io/apimachinery/pkg/util/net"
)

// tokenFileTransport sets "Authorization: Bearer <token>" from a file that
// is checked on every request (one stat) and re-read whenever it changed, so
// rotated tokens (projected service-account tokens, CI secrets) take effect
// on the very next request. client-go's BearerTokenFile caches for a minute.
type tokenFileTransport struct {
	path string
	next http.RoundTripper

	mu    sync.Mutex
	mod   time.Time
	size  int64
	token string
}

// tokenFileError is returned (wrapped by *url.Error) when the token file
// cannot be read; it maps to ErrUnauthorized.
type tokenFileError struct {
	path string
	err  error
}

func (e *tokenFileError) Error() string { return fmt.Sprintf("token file %s: %v", e.path, e.err) }
func (e *tokenFileError) Unwrap() error { return e.err }

func (t *tokenFileTransport) current() (string, error) {
	fi, err := os.Stat(t.path)
	if err != nil {
		return "", &tokenFileError{t.path, err}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.token != "" && fi.ModTime().Equal(t.mod) && fi.Size() == t.size {
		return t.token, nil
	}
	b, err := os.ReadFile(t.path)
	if err != nil {
		return "", &tokenFileError{t.path, err}
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		return "", &tokenFileError{t.path, errors.New("file is empty")}
	}
	t.token, t.mod, t.size = tok, fi.ModTime(), fi.Size()
	return tok, nil
}

// cached returns the last token read, for redaction.
func (t *tokenFileTransport) cached() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.token
}

func (t *tokenFileTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	tok, err := t.current()
	if err != nil {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, err
	}
	req = utilnet.CloneRequest(req)
	req.Header.Set("Authorization", "Bearer "+tok)
	return t.next.RoundTrip(req)
}

// WrappedRoundTripper lets utilnet helpers reach the underlying transport.
func (t *tokenFileTransport) WrappedRoundTripper() http.RoundTripper { return t.next }

// Retry defaults.
const (
	defaultMaxRetries   = 3
	defaultRetryBackoff = 100 * time.Millisecond
	maxRetryBackoff     = 2 * time.Second
)

// retryTransport retries idempotent requests on 429, 502, 503, 504 and on
// refused, reset or prematurely closed connections, with exponential backoff
// and jitter, honouring Retry-After, and never past the request context's
// deadline: when the next wait would end after the deadline it stops at once
// and returns the last response or error. Other statuses are returned as is.
type retryTransport struct {
	next       http.RoundTripper
	maxRetries int
	backoff    time.Duration
	metrics    *Metrics
	now        func() time.Time
}

// attemptStats is filled by retryTransport for the request whose context
// carries it.
type attemptStats struct {
	retries int
	gaveUp  string // why retrying stopped early, "" when it did not
}

type statsKey struct{}

func withStats(ctx context.Context, st *attemptStats) context.Context {
	return context.WithValue(ctx, statsKey{}, st)
}

func (t *retryTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	st, _ := ctx.Value(statsKey{}).(*attemptStats)
	replayable := req.Body == nil || req.Body == http.NoBody || req.GetBody != nil
	idempotent := req.Method == http.MethodGet || req.Method == http.MethodHead || req.Method == http.MethodOptions
	for attempt := 0; ; attempt++ {
		if attempt > 0 && req.GetBody != nil {
			body, err := req.GetBody()
			if err != nil {
				return nil, err
			}
			req.Body = body
		}
		resp, err := t.next.RoundTrip(req)
		reason := retryReason(ctx, resp, err)
		if reason == "" || !replayable || !idempotent || attempt >= t.maxRetries {
			return resp, err
		}
		wait := t.delay(attempt)
		if resp != nil {
			if ra, ok := parseRetryAfter(resp.Header.Get("Retry-After"), t.now()); ok {
				wait = ra
			}
		}
		if deadline, ok := ctx.Deadline(); ok {
			if remaining := deadline.Sub(t.now()); wait >= remaining {
				if st != nil {
					st.gaveUp = fmt.Sprintf("not retrying %s: waiting %s would pass the timeout (%s left)", reason, wait.Round(time.Millisecond), remaining.Round(time.Millisecond))
				}
				return resp, err
			}
		}
		if resp != nil {
			// Drain a little so the connection can be reused, then close.
			_, _ = io.CopyN(io.Discard, resp.Body, 64<<10)
			resp.Body.Close()
		}
		if st != nil {
			st.retries++
		}
		t.metrics.retry(reason)
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil, fmt.Errorf("waiting to retry after %s: %w", reason, ctx.Err())
		case <-timer.C:
		}
	}
}

// WrappedRoundTripper lets utilnet helpers reach the underlying transport.
func (t *retryTransport) WrappedRoundTripper() http.RoundTripper { return t.next }

// delay is the backoff before retry number attempt+1: exponential from
// t.backoff, capped, with "equal jitter" (half fixed, half random).
func (t *retryTransport) delay(attempt int) time.Duration {
	d := t.backoff << attempt
	if d > maxRetryBackoff || d <= 0 {
		d = maxRetryBackoff
	}
	half := d / 2
	return half + rand.N(half+1)
}

// retryReason says why a response or error is worth retrying ("" if not).
func retryReason(ctx context.Context, resp *http.Response, err error) string {
	if err != nil {
		if ctx.Err() != nil {
			return ""
		}
		switch {
		case errors.Is(err, syscall.ECONNREFUSED):
			return "connection refused"
		case errors.Is(err, syscall.ECONNRESET):
			return "connection reset"
		case errors.Is(err, syscall.EPIPE):
			return "broken pipe"
		case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
			return "connection closed"
		}
		msg := err.Error()
		for _, s := range []string{"http2: client connection lost", "http2: server sent GOAWAY", "connection reset by peer", "use of closed network connection"} {
			if strings.Contains(msg, s) {
				return "connection closed"
			}
		}
		// HTTP/2 cannot hijack a connection; a server aborting the request
		// resets the stream instead (INTERNAL_ERROR, REFUSED_STREAM, ...).
		if strings.Contains(msg, "stream error: ") {
			return "stream reset"
		}
		return ""
	}
	switch resp.StatusCode {
	case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return strconv.Itoa(resp.StatusCode)
	}
	return ""
}

// parseRetryAfter reads a Retry-After header: delay-seconds or an HTTP date.
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs < 0 {
			return 0, false
		}
		if secs > 24*3600 {
			secs = 24 * 3600
		}
		return time.Duration(secs) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		d := t.Sub(now)
		if d < 0 {
			d = 0
		}
		if d > 24*time.Hour {
			d = 24 * time.Hour
		}
		return d, true
	}
	return 0, false
}
