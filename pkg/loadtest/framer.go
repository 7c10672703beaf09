package loadtest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// Client kinds for Config.Client.
const (
	// ClientNetHTTP sends requests with net/http (ForceAttemptHTTP2): what
	// real Go clients such as client-go do. The default.
	ClientNetHTTP = "net/http"
	// ClientFramer speaks HTTP/2 directly with golang.org/x/net/http2's
	// Framer and HPACK over one TLS connection per client: the same bytes on
	// the wire, at a fraction of net/http's CPU cost, so on a small machine
	// more of it is left to the server under test.
	ClientFramer = "framer"
)

// framerConn is one client's HTTP/2 connection in framer mode: one stream
// at a time, request and response handled on the caller's goroutine.
type framerConn struct {
	conn    net.Conn
	bw      *bufio.Writer
	fr      *http2.Framer
	henc    *hpack.Encoder
	hbuf    bytes.Buffer
	hdec    *hpack.Decoder
	stream  uint32
	status  int
	unacked uint32 // connection-level bytes received since the last WINDOW_UPDATE
	timeout time.Duration

	authority string
	scheme    string
	headers   []hpack.HeaderField // after the pseudo-headers
	paths     []string            // request-target per URL
}

const (
	framerWindow    = 1 << 24 // our per-stream receive window (SETTINGS_INITIAL_WINDOW_SIZE)
	framerConnBoost = 1 << 30 // added to the connection window at start
)

func dialFramer(ctx context.Context, cfg *Config, tc *tls.Config, urls []*url.URL, token string) (*framerConn, error) {
	if urls[0].Scheme != "https" {
		return nil, configErrorf("the framer client speaks HTTP/2 over TLS only: use an https URL")
	}
	d := &loopbackDialer{resolver: cfg.Resolver}
	d.dialer.Timeout = 10 * time.Second
	host := urls[0].Host
	if urls[0].Port() == "" {
		host = net.JoinHostPort(urls[0].Hostname(), "443")
	}
	raw, err := d.DialContext(ctx, "tcp", host)
	if err != nil {
		return nil, err
	}
	c := tc.Clone()
	c.NextProtos = []string{"h2"}
	if c.ServerName == "" {
		c.ServerName = urls[0].Hostname()
	}
	tconn := tls.Client(raw, c)
	hctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := tconn.HandshakeContext(hctx); err != nil {
		raw.Close()
		return nil, fmt.Errorf("TLS handshake (offering only HTTP/2): %w", err)
	}
	if p := tconn.ConnectionState().NegotiatedProtocol; p != "h2" {
		tconn.Close()
		return nil, fmt.Errorf("the server did not negotiate HTTP/2 (ALPN %q)", p)
	}
	fc := &framerConn{conn: tconn, bw: bufio.NewWriterSize(tconn, 16<<10), timeout: cfg.Timeout,
		authority: urls[0].Host, scheme: urls[0].Scheme}
	fc.fr = http2.NewFramer(fc.bw, bufio.NewReaderSize(tconn, 32<<10))
	fc.henc = hpack.NewEncoder(&fc.hbuf)
	fc.hdec = hpack.NewDecoder(4096, func(f hpack.HeaderField) {
		if f.Name == ":status" {
			fc.status, _ = strconv.Atoi(f.Value)
		}
	})
	fc.headers = []hpack.HeaderField{
		{Name: "accept", Value: "application/json"},
		{Name: "user-agent", Value: "extmetrics-loadtest"},
	}
	if token != "" {
		// Indexed like net/http does, so the server decodes it from its table.
		fc.headers = append(fc.headers, hpack.HeaderField{Name: "authorization", Value: "Bearer " + token})
	}
	for _, u := range urls {
		fc.paths = append(fc.paths, u.RequestURI())
	}
	if _, err := fc.bw.WriteString(http2.ClientPreface); err != nil {
		fc.Close()
		return nil, err
	}
	if err := fc.fr.WriteSettings(
		http2.Setting{ID: http2.SettingEnablePush, Val: 0},
		http2.Setting{ID: http2.SettingInitialWindowSize, Val: framerWindow},
	); err != nil {
		fc.Close()
		return nil, err
	}
	if err := fc.fr.WriteWindowUpdate(0, framerConnBoost); err != nil {
		fc.Close()
		return nil, err
	}
	if err := fc.bw.Flush(); err != nil {
		fc.Close()
		return nil, err
	}
	return fc, nil
}

func (fc *framerConn) Close() error { return fc.conn.Close() }

// streamError is a reset of one stream; the connection stays usable.
type streamError struct{ code http2.ErrCode }

func (e *streamError) Error() string { return fmt.Sprintf("stream reset by the server (%v)", e.code) }

// do sends GET paths[i] on a new stream and reads the whole answer. body,
// when not nil, receives the body. It returns the status and body length.
func (fc *framerConn) do(i int, body *bytes.Buffer) (status, n int, err error) {
	if fc.timeout > 0 {
		if err := fc.conn.SetDeadline(time.Now().Add(fc.timeout)); err != nil {
			return 0, 0, err
		}
	}
	if fc.stream == 0 {
		fc.stream = 1
	} else {
		fc.stream += 2
	}
	if fc.stream > 1<<31-1 {
		return 0, 0, errors.New("HTTP/2 stream ids exhausted on this connection")
	}
	id := fc.stream
	fc.hbuf.Reset()
	fields := [...]hpack.HeaderField{{Name: ":method", Value: "GET"}, {Name: ":scheme", Value: fc.scheme},
		{Name: ":authority", Value: fc.authority}, {Name: ":path", Value: fc.paths[i]}}
	for _, h := range append(fields[:], fc.headers...) {
		if err := fc.henc.WriteField(h); err != nil {
			return 0, 0, err
		}
	}
	if err := fc.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: fc.hbuf.Bytes(), EndStream: true, EndHeaders: true}); err != nil {
		return 0, 0, err
	}
	if err := fc.bw.Flush(); err != nil {
		return 0, 0, err
	}
	fc.status = 0
	flush := false
	for {
		f, err := fc.fr.ReadFrame()
		if err != nil {
			return fc.status, n, err
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() {
				if err := f.ForeachSetting(func(s http2.Setting) error {
					if s.ID == http2.SettingHeaderTableSize {
						fc.henc.SetMaxDynamicTableSizeLimit(s.Val)
					}
					return nil
				}); err != nil {
					return fc.status, n, err
				}
				if err := fc.fr.WriteSettingsAck(); err != nil {
					return fc.status, n, err
				}
				flush = true
			}
		case *http2.PingFrame:
			if !f.IsAck() {
				if err := fc.fr.WritePing(true, f.Data); err != nil {
					return fc.status, n, err
				}
				flush = true
			}
		case *http2.GoAwayFrame:
			return fc.status, n, fmt.Errorf("the server sent GOAWAY (%v)", f.ErrCode)
		case *http2.RSTStreamFrame:
			if f.StreamID == id {
				return fc.status, n, &streamError{code: f.ErrCode}
			}
		case *http2.HeadersFrame:
			if f.StreamID != id {
				continue
			}
			if _, err := fc.hdec.Write(f.HeaderBlockFragment()); err != nil {
				return 0, n, err
			}
			ended := f.HeadersEnded()
			for !ended {
				next, err := fc.fr.ReadFrame()
				if err != nil {
					return 0, n, err
				}
				cf, ok := next.(*http2.ContinuationFrame)
				if !ok {
					return 0, n, fmt.Errorf("expected CONTINUATION, got %v", next.Header().Type)
				}
				if _, err := fc.hdec.Write(cf.HeaderBlockFragment()); err != nil {
					return 0, n, err
				}
				ended = cf.HeadersEnded()
			}
			if err := fc.hdec.Close(); err != nil {
				return 0, n, err
			}
			if f.StreamEnded() {
				return fc.finish(flush, n)
			}
		case *http2.DataFrame:
			if f.StreamID != id {
				continue
			}
			data := f.Data()
			n += len(data)
			if body != nil {
				body.Write(data)
			}
			fc.unacked += f.Length
			if fc.unacked >= framerConnBoost/2 {
				if err := fc.fr.WriteWindowUpdate(0, fc.unacked); err != nil {
					return fc.status, n, err
				}
				fc.unacked = 0
				flush = true
			}
			if f.StreamEnded() {
				return fc.finish(flush, n)
			}
		}
	}
}

func (fc *framerConn) finish(flush bool, n int) (int, int, error) {
	if fc.status == 0 {
		return 0, n, errors.New("the answer had no :status")
	}
	if flush {
		if err := fc.bw.Flush(); err != nil {
			return fc.status, n, err
		}
	}
	return fc.status, n, nil
}
