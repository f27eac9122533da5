package main

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// A quantile read from the histogram must be within its bucket's precision
// (1/64 of the value) of the exact quantile of the same values.
func TestHistogramQuantilesMatchExactOnes(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var h Histogram
	var all []int64
	for range 200_000 {
		// Log-uniform from 1 µs to 1 s, like latencies.
		v := int64(1000 * math.Pow(10, r.Float64()*6))
		h.Record(time.Duration(v))
		all = append(all, v)
	}
	slices.Sort(all)
	for _, q := range []float64{0.5, 0.9, 0.99, 0.999} {
		exact := all[int(q*float64(len(all)))-1]
		got := int64(h.Quantile(q))
		if diff := abs(got - exact); diff > exact/64+1 {
			t.Errorf("p%v = %d, exact %d: off by %d (more than 1/64)", q*100, got, exact, diff)
		}
	}
	if got := h.Quantile(1); int64(got) != all[len(all)-1] {
		t.Errorf("max = %d, want %d", got, all[len(all)-1])
	}
}

func TestHistogramBucketsAreContiguous(t *testing.T) {
	prev := -1
	for v := int64(0); v < 1<<20; v++ {
		b := bucketOf(v)
		if b != prev && b != prev+1 {
			t.Fatalf("value %d goes to bucket %d after bucket %d", v, b, prev)
		}
		if bv := bucketValue(b); abs(bv-v) > v/64+1 {
			t.Fatalf("value %d in bucket %d whose middle is %d", v, b, bv)
		}
		prev = b
	}
	if b := bucketOf(1 << 62); b != histBuckets-1 {
		t.Fatalf("a huge value goes to bucket %d, want the last, %d", b, histBuckets-1)
	}
}

func TestHistogramMerge(t *testing.T) {
	var a, b Histogram
	a.Record(time.Millisecond)
	b.Record(3 * time.Millisecond)
	b.Record(5 * time.Millisecond)
	a.Merge(&b)
	if a.Count() != 3 || a.Quantile(1) != 5*time.Millisecond {
		t.Fatalf("merged: count %d, max %v", a.Count(), a.Quantile(1))
	}
	if p50 := a.Quantile(0.5); abs(int64(p50-3*time.Millisecond)) > int64(3*time.Millisecond)/64 {
		t.Fatalf("merged p50 = %v, want 3ms", p50)
	}
}

func abs(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}
