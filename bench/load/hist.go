package main

import (
	"math"
	"math/bits"
	"time"
)

// Histogram records latencies in log-linear buckets, the layout of an HDR
// histogram with 7 significant bits: below 128 ns every nanosecond has its
// own bucket; above, each power of two is cut into 64 equal buckets, so a
// quantile is off by at most 1/64 (1.6%) of its value. It is not safe for
// concurrent use: each worker keeps its own and they are merged at the end.
type Histogram struct {
	counts [histBuckets]uint64
	total  uint64
	max    int64
}

const (
	subBits     = 7            // 128 sub-buckets per power of two, the upper 64 used above 128 ns
	subCount    = 1 << subBits // 128
	halfCount   = subCount / 2 // 64
	maxShift    = 40           // values up to 2^47 ns (39 hours) are kept exact; more is clamped
	histBuckets = subCount + maxShift*halfCount
)

// bucketOf returns the bucket of v nanoseconds.
func bucketOf(v int64) int {
	if v < 0 {
		v = 0
	}
	u := uint64(v)
	if u < subCount {
		return int(u)
	}
	shift := bits.Len64(u) - subBits // >= 1
	if shift > maxShift {
		return histBuckets - 1
	}
	mantissa := int(u >> uint(shift)) // in [64, 128)
	return subCount + (shift-1)*halfCount + (mantissa - halfCount)
}

// bucketValue returns the middle of bucket i, in nanoseconds.
func bucketValue(i int) int64 {
	if i < subCount {
		return int64(i)
	}
	i -= subCount
	shift := i/halfCount + 1
	mantissa := int64(i%halfCount + halfCount)
	lo := mantissa << uint(shift)
	return lo + (int64(1)<<uint(shift))/2
}

// Record adds one latency.
func (h *Histogram) Record(d time.Duration) {
	h.counts[bucketOf(int64(d))]++
	h.total++
	if int64(d) > h.max {
		h.max = int64(d)
	}
}

// Merge adds every value of o to h.
func (h *Histogram) Merge(o *Histogram) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.total += o.total
	h.max = max(h.max, o.max)
}

// Count returns how many values were recorded.
func (h *Histogram) Count() uint64 { return h.total }

// Quantile returns the latency below which a share q of the values fall
// (q = 0.99 for p99), as the middle of its bucket; the largest value for
// q = 1, and 0 for an empty histogram.
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.total == 0 {
		return 0
	}
	if q >= 1 {
		return time.Duration(h.max)
	}
	// The rank of the value: the smallest one with at least q of all at
	// or below it, counting from 1.
	rank := max(uint64(math.Ceil(q*float64(h.total))), 1)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			return time.Duration(min(bucketValue(i), h.max))
		}
	}
	return time.Duration(h.max)
}
