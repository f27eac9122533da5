// Command abrow runs one row of the StoreLogs table for several stores in
// alternation, many short rounds in rotated order, so that every store sees
// the same disk weather and the same places in the sequence. It prints, per
// store, the median over rounds of the throughput and of the p50, and
// percentiles of all calls pooled. It exists to tell a few percent apart
// on a noisy machine, which three passes of the full table cannot.
//
//	go run ./cmd/abrow -size 128 -batch 1 -rounds 20 -calls 500 lithair raft-wal raw-prealloc
//
// The first two stores are compared: throughput ratio and how many rounds
// the first won.
package main

import (
	"flag"
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/lithair/lithair/bench/peers"
)

func main() {
	size := flag.Int("size", 128, "entry bytes")
	batch := flag.Int("batch", 1, "entries per StoreLogs call")
	writers := flag.Int("writers", 1, "concurrent writers")
	rounds := flag.Int("rounds", 20, "rounds; each runs every store once, in rotated order")
	calls := flag.Int("calls", 500, "StoreLogs calls per store per round")
	flag.Parse()
	stores := flag.Args()
	if len(stores) == 0 {
		stores = []string{peers.StoreLithair, peers.StoreRaftWAL, peers.StoreRawPrealloc}
	}
	p50 := map[string][]float64{}
	eps := map[string][]float64{}
	all := map[string][]time.Duration{}
	for r := 0; r < *rounds; r++ {
		for i := range stores {
			kind := stores[(i+r)%len(stores)] // rotated: no store always follows the same one
			dir, err := os.MkdirTemp("", "abrow-")
			if err != nil {
				fail(err)
			}
			res, err := peers.RunStoreLogs(kind, dir, *size, *batch, *writers, *calls, func() {})
			if rerr := os.RemoveAll(dir); err == nil {
				err = rerr
			}
			if err != nil {
				fail(err)
			}
			p50[kind] = append(p50[kind], float64(res.P50)/float64(time.Microsecond))
			eps[kind] = append(eps[kind], res.EntriesPerSec())
			all[kind] = append(all[kind], res.Latencies...)
		}
	}
	fmt.Printf("size=%d batch=%d writers=%d rounds=%d calls=%d\n", *size, *batch, *writers, *rounds, *calls)
	for _, k := range stores {
		l := all[k]
		slices.Sort(l)
		var sum time.Duration
		for _, d := range l {
			sum += d
		}
		q := func(p float64) float64 { return float64(l[int(p*float64(len(l)-1))]) / 1e3 }
		fmt.Printf("%-14s e/s %8.0f  p50 %6.1f µs (medians of rounds) | pooled: mean %6.1f p10 %6.1f p50 %6.1f p90 %6.1f p99 %7.1f µs\n",
			k, median(eps[k]), median(p50[k]), float64(sum)/float64(len(l))/1e3, q(0.10), q(0.50), q(0.90), q(0.99))
	}
	if len(stores) > 1 {
		a, b := stores[0], stores[1]
		wins := 0
		for i := range eps[a] {
			if eps[a][i] >= eps[b][i] {
				wins++
			}
		}
		fmt.Printf("%s/%s: e/s %.2fx, p50 %.2fx; %s faster in %d of %d rounds\n",
			a, b, median(eps[a])/median(eps[b]), median(p50[b])/median(p50[a]), a, wins, len(eps[a]))
	}
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	return s[len(s)/2]
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, err)
	os.Exit(1)
}
