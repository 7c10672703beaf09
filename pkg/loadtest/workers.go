package loadtest

// The workers: each sends one request at a time and records what came back.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/extmetrics/extmetrics/internal/histogram"
)

type worker struct {
	client    *http.Client
	reqs      []*http.Request
	fc        *framerConn // framer mode: this client's connection (nil after an error)
	redial    func() (*framerConn, error)
	conns     *connSet
	nreqs     int
	next      int
	hist      *histogram.Histogram
	status    [600]uint64
	errs      map[string]uint64
	bytes     uint64
	transport uint64
	proto     [3]uint64 // by ProtoMajor, 0 = other
	buf       []byte
}

// maxErrorKinds bounds the distinct transport error messages kept per worker.
const maxErrorKinds = 16

func (w *worker) fail(err error) {
	w.transport++
	key := errorKind(err)
	if _, ok := w.errs[key]; !ok && len(w.errs) >= maxErrorKinds {
		key = "other"
	}
	w.errs[key]++
}

// errorKind drops the method and URL net/http puts in front of errors.
func errorKind(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	s := err.Error()
	if len(s) > 120 {
		s = s[:120]
	}
	return s
}

// one sends one request and records it; it reports false when the run's
// context was cancelled under it (the request is then not counted).
func (w *worker) one(ctx context.Context) bool {
	idx := w.next
	w.next++
	if w.next == w.nreqs {
		w.next = 0
	}
	start := time.Now()
	var status, proto, n int
	var err error
	if w.redial != nil {
		status, n, err = w.framerDo(idx)
		proto = 2
	} else {
		status, proto, n, err = w.httpDo(idx)
	}
	elapsed := time.Since(start)
	w.bytes += uint64(n)
	if err != nil {
		if ctx.Err() != nil {
			return false
		}
		w.fail(err)
		return true
	}
	w.hist.Record(elapsed)
	if status >= 0 && status < len(w.status) {
		w.status[status]++
	} else {
		w.status[0]++
	}
	if proto == 1 || proto == 2 {
		w.proto[proto]++
	} else {
		w.proto[0]++
	}
	return true
}

func (w *worker) httpDo(idx int) (status, proto, n int, err error) {
	resp, err := w.client.Do(w.reqs[idx])
	if err != nil {
		return 0, 0, 0, err
	}
	var rerr error
	for {
		var k int
		k, rerr = resp.Body.Read(w.buf)
		n += k
		if rerr != nil {
			break
		}
	}
	resp.Body.Close()
	if rerr != io.EOF {
		return resp.StatusCode, resp.ProtoMajor, n, fmt.Errorf("reading body: %w", rerr)
	}
	return resp.StatusCode, resp.ProtoMajor, n, nil
}

// framerDo sends one request on the worker's connection, dialling a new one
// when the last failed (a reset stream keeps the connection).
func (w *worker) framerDo(idx int) (status, n int, err error) {
	if w.fc == nil {
		if w.fc, err = w.redial(); err != nil {
			return 0, 0, err
		}
	}
	status, n, err = w.fc.do(idx, nil)
	var se *streamError
	if err != nil && !errors.As(err, &se) {
		w.conns.remove(w.fc)
		w.fc = nil
	}
	return status, n, err
}
