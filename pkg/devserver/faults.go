package devserver

import (
	"crypto/tls"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/extmetrics/extmetrics/pkg/scenario"
)

// faultAction is what an injected fault does to a 200 answer.
type faultAction struct {
	malformed bool // body that is not JSON
	truncate  bool // JSON body cut short
}

// codeCancelled is recorded when a request ended while waiting out injected
// latency (client gone or server stopping).
const codeCancelled = 499

// applyFault injects f into a metric value request: latency and jitter
// first (ended early by the request's context), then, with f.Probability
// (0 meaning always), an error status, a connection reset, or a note that
// the body must be malformed or truncated. done reports that the answer was
// given (or the connection dropped) and code what was recorded.
func (s *Server) applyFault(w http.ResponseWriter, r *http.Request, f scenario.Fault) (act faultAction, done bool, code int) {
	if f.Latency > 0 || f.Jitter > 0 {
		d := f.Latency
		if f.Jitter > 0 {
			d += time.Duration(s.int64n(int64(f.Jitter) + 1))
		}
		if d > 0 {
			t := s.clk.NewTimer(d)
			select {
			case <-t.C():
			case <-r.Context().Done():
				t.Stop()
				writeStatus(w, statusForCode(http.StatusServiceUnavailable, "request cancelled while waiting out injected latency"))
				return act, true, codeCancelled
			}
		}
	}
	if f.Status == 0 && !f.Reset && !f.Malformed && !f.Truncate {
		return act, false, 0
	}
	if p := f.Probability; p > 0 && p < 1 && s.float64() >= p {
		return act, false, 0
	}
	switch {
	case f.Status != 0:
		if f.RetryAfter > 0 || f.Status == http.StatusTooManyRequests {
			secs := int64((f.RetryAfter + time.Second - 1) / time.Second)
			if secs < 1 {
				secs = 1
			}
			w.Header()["Retry-After"] = []string{strconv.FormatInt(secs, 10)}
		}
		return act, true, writeStatus(w, statusForCode(f.Status, faultMessage(f.Status)))
	case f.Reset:
		resetConnection(w)
		return act, true, codeReset
	case f.Malformed:
		act.malformed = true
	case f.Truncate:
		act.truncate = true
	}
	return act, false, 0
}

// faultMessage is the message of an injected error, close to what
// kube-apiserver and the aggregator say for that status.
func faultMessage(code int) string {
	switch code {
	case http.StatusTooManyRequests:
		return "Too many requests, please try again later."
	case http.StatusServiceUnavailable:
		return "the server is currently unable to handle the request"
	case http.StatusInternalServerError:
		return "Internal error occurred: injected fault"
	case http.StatusGatewayTimeout:
		return "the server was unable to return a response in the time allotted"
	}
	return http.StatusText(code)
}

// resetConnection drops the connection without an answer: on HTTP/1 the TCP
// connection is hijacked and closed with SO_LINGER 0 (the peer sees a
// reset); HTTP/2 streams cannot be hijacked, so the handler aborts and the
// server resets the stream.
func resetConnection(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	raw := conn
	if tc, ok := conn.(*tls.Conn); ok {
		raw = tc.NetConn()
	}
	if tcp, ok := raw.(*net.TCPConn); ok {
		_ = tcp.SetLinger(0)
	}
	_ = raw.Close()
}

// malformedPrefix makes a body that is not JSON.
const malformedPrefix = "<!-- extmetrics devserver: malformed JSON fault -->\n"

// writeList writes a 200 list body, malformed or truncated when asked.
func (s *Server) writeList(w http.ResponseWriter, body []byte, act faultAction) int {
	h := w.Header()
	h["Content-Type"] = contentTypeJSON
	h["X-Content-Type-Options"] = noSniff
	switch {
	case act.malformed:
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte(malformedPrefix))
		_, _ = w.Write(body[:len(body)/2])
	case act.truncate:
		// No Content-Length: the response ends cleanly, only the JSON is cut.
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(body[:len(body)/2])
	default:
		// No Content-Length header: net/http sets it for a body written in
		// one go by a handler that then returns, without allocating here.
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(body)
	}
	return http.StatusOK
}
