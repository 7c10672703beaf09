package histogram

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestBucketsCoverEveryValueWithinPrecision(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	values := []int64{0, 1, 255, 256, 257, 511, 512, 1000, 1 << 20, math.MaxInt64}
	for range 100000 {
		values = append(values, r.Int64N(1<<uint(r.IntN(63))+1))
	}
	for _, v := range values {
		i := bucketOf(v)
		if i < 0 || i >= numBuckets {
			t.Fatalf("bucketOf(%d) = %d, outside [0, %d)", v, i, numBuckets)
		}
		hi := bucketHigh(i)
		if hi < v {
			t.Fatalf("bucketHigh(bucketOf(%d)) = %d, below the value", v, hi)
		}
		if bucketOf(hi) != i {
			t.Fatalf("bucket %d: its high edge %d falls in bucket %d", i, hi, bucketOf(hi))
		}
		if v > 0 && float64(hi-v)/float64(v) > 1.0/subCount {
			t.Fatalf("value %d reported as %d: more than 1/%d above", v, hi, subCount)
		}
	}
	for i := 1; i < numBuckets; i++ {
		if bucketHigh(i) <= bucketHigh(i-1) {
			t.Fatalf("bucket edges not increasing at %d", i)
		}
	}
}

func exactQuantile(sorted []time.Duration, q float64) time.Duration {
	rank := int(math.Ceil(q * float64(len(sorted))))
	return sorted[max(rank, 1)-1]
}

func TestQuantilesMatchNearestRank(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	h := New()
	var all []time.Duration
	for range 50000 {
		// Log-normal-ish latencies between ~50 µs and ~50 ms.
		d := time.Duration(math.Exp(r.NormFloat64()*1.2+math.Log(400e3))) + 50*time.Microsecond
		all = append(all, d)
		h.Record(d)
	}
	slices.Sort(all)
	for _, q := range []float64{0.01, 0.5, 0.9, 0.99, 0.999} {
		got, want := h.Quantile(q), exactQuantile(all, q)
		if got < want || float64(got-want) > float64(want)/subCount {
			t.Errorf("q%.3f = %v, exact %v (must be within +1/%d)", q, got, want, subCount)
		}
	}
	if h.Quantile(1) != all[len(all)-1] || h.Max() != all[len(all)-1] {
		t.Errorf("max = %v / %v, want %v", h.Quantile(1), h.Max(), all[len(all)-1])
	}
	if h.Quantile(0) != all[0] || h.Min() != all[0] {
		t.Errorf("min = %v / %v, want %v", h.Quantile(0), h.Min(), all[0])
	}
	var sum time.Duration
	for _, d := range all {
		sum += d
	}
	if mean := sum / time.Duration(len(all)); (h.Mean() - mean).Abs() > time.Microsecond {
		t.Errorf("mean = %v, want %v", h.Mean(), mean)
	}
}

func TestSmallExactHistogram(t *testing.T) {
	h := New()
	for i := 1; i <= 100; i++ { // 1..100 ns: exact buckets
		h.Record(time.Duration(i))
	}
	for q, want := range map[float64]time.Duration{0.5: 50, 0.9: 90, 0.99: 99, 0.991: 100, 1: 100} {
		if got := h.Quantile(q); got != want {
			t.Errorf("q%v = %v, want %v", q, got, want)
		}
	}
	if h.Count() != 100 {
		t.Errorf("count = %d", h.Count())
	}
}

func TestMergeAndEmpty(t *testing.T) {
	empty := New()
	if empty.Quantile(0.5) != 0 || empty.Max() != 0 || empty.Min() != 0 || empty.Mean() != 0 {
		t.Fatal("an empty histogram must report zeros")
	}
	a, b := New(), New()
	a.Record(time.Millisecond)
	b.Record(3 * time.Millisecond)
	b.Record(-time.Second) // counts as 0
	total := New()
	total.Merge(a)
	total.Merge(empty)
	total.Merge(b)
	if total.Count() != 3 || total.Min() != 0 || total.Max() != 3*time.Millisecond {
		t.Fatalf("merged: count %d min %v max %v", total.Count(), total.Min(), total.Max())
	}
	if got := total.Quantile(0.5); got < time.Millisecond || got > time.Millisecond+time.Millisecond/subCount {
		t.Fatalf("merged median = %v, want ~1ms", got)
	}
}

func BenchmarkRecord(b *testing.B) {
	h := New()
	d := 437 * time.Microsecond
	for i := 0; b.Loop(); i++ {
		h.Record(d + time.Duration(i&1023))
	}
}
