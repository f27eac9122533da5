// Command benchtable reads `go test -bench` output of BenchmarkStoreLogs
// and BenchmarkOpen1GiB on stdin and prints the markdown tables of
// bench/RESULTS.md: the median of every metric over the runs of a row, and
// Lithair's ratios to its peers and to the raw fsync loop.
package main

import (
	"bufio"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

var line = regexp.MustCompile(`^(Benchmark\S+?)(?:-\d+)?\s+\d+\s+(.*)$`)

func main() {
	runs := map[string]map[string][]float64{} // name -> unit -> values
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		m := line.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		f := strings.Fields(m[2])
		if runs[m[1]] == nil {
			runs[m[1]] = map[string][]float64{}
		}
		for i := 0; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err == nil {
				runs[m[1]][f[i+1]] = append(runs[m[1]][f[i+1]], v)
			}
		}
	}
	med := func(name, unit string) (float64, int) {
		v := append([]float64(nil), runs[name][unit]...)
		if len(v) == 0 {
			return 0, 0
		}
		sort.Float64s(v)
		if len(v)%2 == 1 {
			return v[len(v)/2], len(v)
		}
		return (v[len(v)/2-1] + v[len(v)/2]) / 2, len(v)
	}
	ratio := func(a, b float64) string {
		if a == 0 || b == 0 {
			return "-"
		}
		return fmt.Sprintf("%.2fx", a/b)
	}

	fmt.Println("| entry | batch | writers | raw-fsync e/s (p50/p99 µs) | raw-prealloc e/s (p50/p99 µs) | Lithair e/s (p50/p99 µs) | raft-wal e/s (p50/p99 µs) | raft-boltdb e/s (p50/p99 µs) | **Lithair/raft-wal** | **Lithair/raft-boltdb** | **Lithair/raw-fsync** | p50 raft-wal/Lithair | p50 raw-fsync/Lithair | Lithair retries/op | lithair-serial e/s (p50/p99 µs) | runs |")
	fmt.Println("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
	for _, size := range []int{128, 1024} {
		for _, batch := range []int{1, 64} {
			for _, writers := range []int{1, 64} {
				row := func(store string) string {
					return fmt.Sprintf("BenchmarkStoreLogs/size=%d/batch=%d/writers=%d/store=%s", size, batch, writers, store)
				}
				rawName := func(store string) string {
					return fmt.Sprintf("BenchmarkStoreLogs/size=%d/batch=%d/writers=1/store=%s", size, batch, store)
				}
				p50Of := func(name string) float64 { v, _ := med(name, "p50_us"); return v }
				cellOf := func(name string) (string, float64, int) {
					e, n := med(name, "entries/s")
					if n == 0 {
						return "-", 0, 0
					}
					p50, _ := med(name, "p50_us")
					p99, _ := med(name, "p99_us")
					return fmt.Sprintf("%.0f (%.0f/%.0f)", e, p50, p99), e, n
				}
				cell := func(store string) (string, float64, int) { return cellOf(row(store)) }
				rc, raw, _ := cellOf(rawName("raw-fsync"))
				pc, _, _ := cellOf(rawName("raw-prealloc"))
				sc, _, _ := cell("lithair-serial")
				retries := "-"
				if v, n := med(row("lithair"), "retries/op"); n > 0 {
					retries = fmt.Sprintf("%.2f", v)
				}
				lc, l, n := cell("lithair")
				wc, w, _ := cell("raft-wal")
				bc, bo, _ := cell("raft-boltdb")
				entry := "128 B"
				if size == 1024 {
					entry = "1 KiB"
				}
				if writers != 1 {
					rc, pc = "(writers=1 row)", "(writers=1 row)"
				}
				rawP50 := "-"
				if writers == 1 {
					rawP50 = ratio(p50Of(rawName("raw-fsync")), p50Of(row("lithair")))
				}
				fmt.Printf("| %s | %d | %d | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %d |\n",
					entry, batch, writers, rc, pc, lc, wc, bc, ratio(l, w), ratio(l, bo), ratio(l, raw),
					ratio(p50Of(row("raft-wal")), p50Of(row("lithair"))), rawP50, retries, sc, n)
			}
		}
	}

	var open []string
	for name := range runs {
		if strings.HasPrefix(name, "BenchmarkOpen1GiB/") {
			open = append(open, name)
		}
	}
	if len(open) > 0 {
		sort.Strings(open)
		fmt.Println()
		fmt.Println("| open 1 GiB | median ms | runs |")
		fmt.Println("|---|---|---|")
		for _, name := range open {
			v, n := med(name, "open_ms")
			fmt.Printf("| %s | %.1f | %d |\n", strings.TrimPrefix(name, "BenchmarkOpen1GiB/"), v, n)
		}
	}
}
