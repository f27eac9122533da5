package peers

import (
	"fmt"
	"os"
	"sync"
	"testing"
)

// BenchmarkStoreLogs: b.N StoreLogs calls of batch entries, spread over
// writers goroutines. raw-fsync (write + fdatasync of batch*size bytes to
// one file, one goroutine) runs only with writers=1; it is the limit for
// both writer counts. The four stores of one row run back to back so that
// they see the same disk weather.
func BenchmarkStoreLogs(b *testing.B) {
	for _, size := range []int{128, 1024} {
		for _, batch := range []int{1, 64} {
			for _, writers := range []int{1, 64} {
				for _, kind := range []string{StoreRaw, StoreRawPrealloc, StoreLithair, StoreLithairSerial, StoreRaftWAL, StoreBolt} {
					if (kind == StoreRaw || kind == StoreRawPrealloc) && writers != 1 {
						continue
					}
					if kind == StoreLithairSerial && writers == 1 {
						continue
					}
					name := fmt.Sprintf("size=%d/batch=%d/writers=%d/store=%s", size, batch, writers, kind)
					b.Run(name, func(b *testing.B) {
						b.ReportAllocs()
						r, err := RunStoreLogs(kind, b.TempDir(), size, batch, writers, b.N, b.ResetTimer)
						b.StopTimer()
						if err != nil {
							b.Fatal(err)
						}
						b.ReportMetric(r.EntriesPerSec(), "entries/s")
						b.ReportMetric(float64(r.P50.Nanoseconds())/1e3, "p50_us")
						b.ReportMetric(float64(r.P99.Nanoseconds())/1e3, "p99_us")
						if kind == StoreLithair && writers > 1 {
							b.ReportMetric(float64(r.Retries)/float64(b.N), "retries/op")
						}
					})
				}
			}
		}
	}
}

// The 1 GiB logs are built once per test binary, on first use.
var (
	builtMu  sync.Mutex
	builtDir = map[string]string{}
	rootDir  string
)

func builtLog(b *testing.B, kind string) string {
	builtMu.Lock()
	defer builtMu.Unlock()
	if d, ok := builtDir[kind]; ok {
		return d
	}
	if rootDir == "" {
		var err error
		if rootDir, err = os.MkdirTemp("", "peers-open-"); err != nil {
			b.Fatal(err)
		}
	}
	d, err := os.MkdirTemp(rootDir, kind+"-")
	if err != nil {
		b.Fatal(err)
	}
	if err := BuildLog(kind, d); err != nil {
		b.Fatal(err)
	}
	n, bytes, err := DirBytes(d)
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("%s: built %d entries of %d B: %d files, %d bytes", kind, OpenEntries, OpenEntrySize, n, bytes)
	builtDir[kind] = d
	return d
}

func TestMain(m *testing.M) {
	code := m.Run()
	if rootDir != "" {
		os.RemoveAll(rootDir)
	}
	os.Exit(code)
}

// BenchmarkOpen1GiB: time to open a log of 2^20 entries of 1 KiB (built
// once through StoreLogs), with the files in the page cache (warm) and
// after evicting them with fadvise (cold). Only Open is timed.
func BenchmarkOpen1GiB(b *testing.B) {
	for _, kind := range []string{StoreLithair, StoreRaftWAL} {
		for _, cache := range []string{"warm", "cold"} {
			b.Run(fmt.Sprintf("store=%s/cache=%s", kind, cache), func(b *testing.B) {
				dir := builtLog(b, kind)
				if _, err := OpenLog(kind, dir); err != nil { // warm up, check
					b.Fatal(err)
				}
				b.ResetTimer()
				b.StopTimer()
				var total float64
				for i := 0; i < b.N; i++ {
					if cache == "cold" {
						if err := EvictCache(dir); err != nil {
							b.Fatal(err)
						}
					}
					d, err := OpenLog(kind, dir)
					if err != nil {
						b.Fatal(err)
					}
					total += float64(d.Nanoseconds())
				}
				b.ReportMetric(total/float64(b.N), "ns/op")
				b.ReportMetric(total/float64(b.N)/1e6, "open_ms")
			})
		}
	}
}
