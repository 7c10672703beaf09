package devserver

import (
	"slices"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/extmetrics/extmetrics/pkg/scenario"
)

// The list body is written by hand into a pooled buffer: encoding/json on
// external_metrics.ExternalMetricValueList costs several allocations per item
// (reflection, resource.Quantity, metav1.Time) and this is the hot path. A
// test decodes the output into the k8s.io/metrics types and compares it with
// encoding/json's.

const listHead = `{"kind":"ExternalMetricValueList","apiVersion":"` + GroupVersion + `","metadata":{},"items":[`

// encoder is a reusable output buffer plus scratch space for sorting labels
// and for the values looked up.
type encoder struct {
	buf  []byte
	keys []string
	vals []scenario.Value
}

var encoderPool = sync.Pool{New: func() any { return &encoder{buf: make([]byte, 0, 1024)} }}

func getEncoder() *encoder { return encoderPool.Get().(*encoder) }

func putEncoder(e *encoder) {
	if cap(e.buf) > 1<<20 || cap(e.vals) > 4096 { // let huge buffers go
		return
	}
	e.buf = e.buf[:0]
	clear(e.keys)
	e.keys = e.keys[:0]
	clear(e.vals[:cap(e.vals)]) // no references into an old scenario
	e.vals = e.vals[:0]
	encoderPool.Put(e)
}

// item is what one ExternalMetricValue needs.
type item struct {
	name      string
	labels    map[string]string
	nullLabel bool // write "metricLabels":null (Datadog)
	ts        time.Time
	window    *int64
	value     float64
}

// appendListHead starts an ExternalMetricValueList; items follow, separated
// by commas, then appendListTail.
func (e *encoder) appendListHead() { e.buf = append(e.buf, listHead...) }

func (e *encoder) appendListTail() { e.buf = append(e.buf, "]}\n"...) }

func (e *encoder) appendItem(it item) {
	b := e.buf
	b = append(b, `{"metricName":`...)
	b = appendJSONString(b, it.name)
	b = append(b, `,"metricLabels":`...)
	if it.nullLabel {
		b = append(b, "null"...)
	} else {
		b = append(b, '{')
		e.keys = e.keys[:0]
		for k := range it.labels {
			e.keys = append(e.keys, k)
		}
		slices.Sort(e.keys)
		for i, k := range e.keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, k)
			b = append(b, ':')
			b = appendJSONString(b, it.labels[k])
		}
		b = append(b, '}')
	}
	b = append(b, `,"timestamp":"`...)
	b = it.ts.UTC().AppendFormat(b, time.RFC3339)
	b = append(b, '"')
	if it.window != nil {
		b = append(b, `,"window":`...)
		b = strconv.AppendInt(b, *it.window, 10)
	}
	b = append(b, `,"value":"`...)
	b = scenario.AppendQuantity(b, it.value)
	b = append(b, `"}`...)
	e.buf = b
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string, escaping as encoding/json
// does (including <, > and &), with invalid UTF-8 replaced by U+FFFD.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
