package query

// CONTRACT FILE (written by the lead). The query owner replaces it, keeping
// these exported names and signatures (adding is fine).

import (
	"errors"
	"time"
)

// ErrInvalid is wrapped by every parse error.
var ErrInvalid = errors.New("invalid query")

// Aggregations accepted by aggregate=.
const (
	First = "first"
	Sum   = "sum"
	Avg   = "avg"
	Min   = "min"
	Max   = "max"
	Count = "count"
)

// Query is a parsed external metrics query:
// [<namespace>/]<metricName>[?labelSelector=<selector>][&aggregate=<agg>][&maxAge=<duration>]
type Query struct {
	Namespace string        // "default" when omitted
	Metric    string        // as written (servers may compare case-insensitively)
	Selector  string        // canonical label selector (labels.Selector.String()), "" = everything
	Aggregate string        // "" means First
	MaxAge    time.Duration // 0 = no staleness check
}

// Parse parses s (surrounding whitespace trimmed); errors wrap ErrInvalid and say what is allowed.
func Parse(s string) (Query, error) { panic("not implemented") }

// String is the canonical form; Parse(q.String()) == q.
func (q Query) String() string { panic("not implemented") }
