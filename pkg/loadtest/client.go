package loadtest

// The HTTP side of a run: TLS and clients, warm-up, and the framer connections.

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"
)

func (c *Config) tlsConfig() (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: c.Insecure} //nolint:gosec // only on request
	pem := c.CAPEM
	if c.CAFile != "" {
		data, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("CA file: %v", err)
		}
		pem = data
	}
	if len(pem) > 0 {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			name := c.CAFile
			if name == "" {
				name = "the CA"
			}
			return nil, fmt.Errorf("%s holds no PEM certificate", name)
		}
		tc.RootCAs = pool
	}
	return tc, nil
}

func newClient(tc *tls.Config, r Resolver, maxConns int, timeout time.Duration) *http.Client {
	d := &loopbackDialer{resolver: r}
	d.dialer.Timeout = 10 * time.Second
	t := &http.Transport{
		Proxy:               nil, // never through a proxy: load stays on loopback
		DialContext:         d.DialContext,
		TLSClientConfig:     tc.Clone(),
		ForceAttemptHTTP2:   true,
		TLSHandshakeTimeout: 10 * time.Second,
		MaxIdleConnsPerHost: maxConns,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
	return &http.Client{
		Transport:     t,
		Timeout:       timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// warmUp sends one request on a fresh client and checks its answer.
func warmUp(ctx context.Context, c *http.Client, newReq func(context.Context, string) (*http.Request, error), u string, requireH2 bool, res *Result, record bool) error {
	req, err := newReq(ctx, u)
	if err != nil {
		return fmt.Errorf("target URL %q: %v", u, err)
	}
	resp, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("first request: %v", errorKind(err))
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	resp.Body.Close()
	if err != nil {
		return fmt.Errorf("first request: reading body: %v", err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("first request to %s answered %s: %s", req.URL.Redacted(), resp.Status, snippet(body))
	}
	if requireH2 && resp.ProtoMajor != 2 {
		return fmt.Errorf("the server answered over %s, not HTTP/2 (HTTP/2 needs https with ALPN; to accept HTTP/1.1 turn off requiring HTTP/2)", resp.Proto)
	}
	if record {
		res.Protocol = resp.Proto
		recordFirst(res, resp.StatusCode, body)
	}
	return nil
}

// warmUpFramer sends one request on a fresh framer connection and checks its answer.
func warmUpFramer(fc *framerConn, idx int, u string, res *Result, record bool) error {
	var body bytes.Buffer
	status, _, err := fc.do(idx, &body)
	if err != nil {
		return fmt.Errorf("first request: %v", err)
	}
	if status < 200 || status > 299 {
		return fmt.Errorf("first request to %s answered %d %s: %s", u, status, http.StatusText(status), snippet(body.Bytes()))
	}
	if record {
		res.Protocol = "HTTP/2.0"
		recordFirst(res, status, body.Bytes())
	}
	return nil
}

func recordFirst(res *Result, status int, body []byte) {
	res.FirstStatus = status
	var list struct {
		Kind  string            `json:"kind"`
		Items []json.RawMessage `json:"items"`
	}
	if json.Unmarshal(body, &list) == nil {
		res.FirstKind = list.Kind
		res.FirstItems = len(list.Items)
	}
}

// snippet shortens a body for an error message, preferring a Status's message.
func snippet(body []byte) string {
	var st struct {
		Message string `json:"message"`
	}
	if json.Unmarshal(body, &st) == nil && st.Message != "" {
		return st.Message
	}
	s := strings.TrimSpace(string(body))
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	if s == "" {
		s = "(empty body)"
	}
	return s
}

// connSet tracks the framer connections so that cancelling a run can close
// them all, including ones dialled after the cancellation.
type connSet struct {
	mu     sync.Mutex
	m      map[*framerConn]struct{}
	closed bool
}

func (s *connSet) add(fc *framerConn) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		fc.Close()
		return errors.New("run cancelled")
	}
	s.m[fc] = struct{}{}
	return nil
}

func (s *connSet) remove(fc *framerConn) {
	fc.Close()
	s.mu.Lock()
	delete(s.m, fc)
	s.mu.Unlock()
}

func (s *connSet) closeAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	for fc := range s.m {
		fc.Close()
	}
	clear(s.m)
}
