package histogram

import (
	"math"
	"math/bits"
	"time"
)

// Histogram buckets: values below 2^(subBits+1) ns are exact; above, each
// power of two is split into 2^subBits equal buckets, so a recorded value is
// known to within 1/128 (0.8 %), as in HdrHistogram with two significant digits.
const (
	subBits    = 7
	subCount   = 1 << subBits
	numBuckets = (64 - subBits) * subCount // covers every non-negative int64 (max index 55<<7 + 255)
)

// Histogram records durations. Its size is fixed (about 57 KiB) and Record
// does not allocate. It is not safe for concurrent use: give each client its
// own and Merge them at the end.
type Histogram struct {
	counts [numBuckets]uint64
	n      uint64
	sum    float64 // nanoseconds
	min    int64
	max    int64
}

// New returns an empty histogram.
func New() *Histogram { return &Histogram{min: math.MaxInt64} }

func bucketOf(v int64) int {
	if v < 0 {
		v = 0
	}
	shift := bits.Len64(uint64(v)) - (subBits + 1)
	if shift < 0 {
		shift = 0
	}
	return shift<<subBits + int(uint64(v)>>uint(shift))
}

// bucketHigh is the largest value that falls in bucket i.
func bucketHigh(i int) int64 {
	shift := i>>subBits - 1
	if shift < 0 {
		shift = 0
	}
	mantissa := int64(i - shift<<subBits)
	return (mantissa+1)<<uint(shift) - 1
}

// Record adds one duration (negative durations count as zero).
func (h *Histogram) Record(d time.Duration) {
	v := int64(d)
	if v < 0 {
		v = 0
	}
	h.counts[bucketOf(v)]++
	h.n++
	h.sum += float64(v)
	if v < h.min {
		h.min = v
	}
	if v > h.max {
		h.max = v
	}
}

// Merge adds every value recorded in o.
func (h *Histogram) Merge(o *Histogram) {
	if o.n == 0 {
		return
	}
	for i, c := range &o.counts {
		h.counts[i] += c
	}
	h.n += o.n
	h.sum += o.sum
	h.min = min(h.min, o.min)
	h.max = max(h.max, o.max)
}

// Count is the number of recorded values.
func (h *Histogram) Count() uint64 { return h.n }

// Max is the largest recorded value (exact); 0 when empty.
func (h *Histogram) Max() time.Duration { return time.Duration(h.max) }

// Min is the smallest recorded value (exact); 0 when empty.
func (h *Histogram) Min() time.Duration {
	if h.n == 0 {
		return 0
	}
	return time.Duration(h.min)
}

// Mean is the exact average; 0 when empty.
func (h *Histogram) Mean() time.Duration {
	if h.n == 0 {
		return 0
	}
	return time.Duration(h.sum / float64(h.n))
}

// Quantile returns the value at or below which a fraction q (0..1) of the
// recorded values lie, as the upper edge of its bucket (never above Max):
// at most 0.8 % above the exact nearest-rank value. 0 when empty.
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	if q <= 0 {
		return time.Duration(h.min)
	}
	if q >= 1 {
		return time.Duration(h.max)
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	if rank < 1 {
		rank = 1
	}
	var seen uint64
	for i, c := range &h.counts {
		seen += c
		if seen >= rank {
			return time.Duration(min(max(bucketHigh(i), h.min), h.max))
		}
	}
	return time.Duration(h.max)
}
