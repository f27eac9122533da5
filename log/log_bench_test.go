package log

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The Append benchmarks run beside BenchmarkRawFsync, a bare pwrite +
// fdatasync loop writing the same number of bytes per call to the same
// disk, so that results can be quoted as ratios (Append / raw) that hold
// on any machine. entries/s is the figure to compare.
//
//	go test -run '^$' -bench 'Append|RawFsync' -benchtime 2s ./log

var benchSizes = []int{128, 1024}

func BenchmarkAppend(b *testing.B) {
	for _, size := range benchSizes {
		for _, batchLen := range []int{1, 64} {
			for _, writers := range []int{1, 64} {
				name := fmt.Sprintf("size=%d/batch=%d/writers=%d", size, batchLen, writers)
				b.Run(name, func(b *testing.B) { benchAppend(b, size, batchLen, writers) })
			}
		}
	}
}

func benchAppend(b *testing.B, size, batchLen, writers int) {
	l, err := Open(filepath.Join(b.TempDir(), "log"), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	data := make([]byte, size)
	var mu sync.Mutex // hands out indexes in order; the fsyncs overlap
	next := uint64(1)
	b.SetBytes(int64(size * batchLen))
	b.ResetTimer()
	var wg sync.WaitGroup
	per := b.N / writers
	rest := b.N % writers
	for w := 0; w < writers; w++ {
		n := per
		if w < rest {
			n++
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			es := make([]Entry, batchLen)
			for range n {
				mu.Lock()
				for i := range es {
					es[i] = Entry{Index: next + uint64(i), Data: data}
				}
				next += uint64(batchLen)
				bt, err := l.enqueue(es, batchLen*encodedFrameSize(size))
				mu.Unlock()
				if err == nil {
					err = l.wait(bt)
				}
				if err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(b.N*batchLen)/b.Elapsed().Seconds(), "entries/s")
}

// BenchmarkRawFsync is the limit: one pwrite of the bytes an Append of the
// same shape writes (frames included), then fdatasync, in a loop.
func BenchmarkRawFsync(b *testing.B) {
	for _, size := range benchSizes {
		for _, batchLen := range []int{1, 64} {
			b.Run(fmt.Sprintf("size=%d/batch=%d", size, batchLen), func(b *testing.B) {
				f, err := os.OpenFile(filepath.Join(b.TempDir(), "raw"), os.O_RDWR|os.O_CREATE, 0o644)
				if err != nil {
					b.Fatal(err)
				}
				defer f.Close()
				buf := make([]byte, batchLen*encodedFrameSize(size))
				fd := int(f.Fd())
				b.SetBytes(int64(size * batchLen))
				b.ResetTimer()
				var off int64
				for range b.N {
					if _, err := f.WriteAt(buf, off); err != nil {
						b.Fatal(err)
					}
					if err := unix.Fdatasync(fd); err != nil {
						b.Fatal(err)
					}
					off += int64(len(buf))
				}
				b.StopTimer()
				b.ReportMetric(float64(b.N*batchLen)/b.Elapsed().Seconds(), "entries/s")
			})
		}
	}
}

// BenchmarkOpen opens a log of 64 sealed 1 MiB segments: Open reads only
// headers and trailers of sealed segments, so it should cost microseconds
// per segment, not a scan of 64 MiB.
func BenchmarkOpen(b *testing.B) {
	dir := filepath.Join(b.TempDir(), "log")
	l, err := Open(dir, Options{SegmentSize: 1 << 20})
	if err != nil {
		b.Fatal(err)
	}
	data := make([]byte, 1000)
	es := make([]Entry, 256)
	next := uint64(1)
	for l.Stats().Segments < 65 {
		for i := range es {
			es[i] = Entry{Index: next, Data: data}
			next++
		}
		if err := l.Append(es); err != nil {
			b.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		l, err := Open(dir, Options{SegmentSize: 1 << 20})
		if err != nil {
			b.Fatal(err)
		}
		l.Close()
	}
	b.ReportMetric(float64(next-1), "entries")
}

// BenchmarkAppendVsRaw alternates one single-writer Append with one raw
// pwrite+fdatasync of the same bytes on a file in the same directory, and
// times each side separately. On a shared machine whose fsync latency drifts
// this gives a steadier ratio than two benchmarks run a minute apart.
// Reported: append-ns, raw-ns and ratio = raw time / append time (1.0 means
// Append is as fast as the bare syscalls; higher is better).
func BenchmarkAppendVsRaw(b *testing.B) {
	for _, size := range benchSizes {
		for _, batchLen := range []int{1, 64} {
			b.Run(fmt.Sprintf("size=%d/batch=%d", size, batchLen), func(b *testing.B) {
				dir := b.TempDir()
				l, err := Open(filepath.Join(dir, "log"), Options{})
				if err != nil {
					b.Fatal(err)
				}
				defer l.Close()
				f, err := os.OpenFile(filepath.Join(dir, "raw"), os.O_RDWR|os.O_CREATE, 0o644)
				if err != nil {
					b.Fatal(err)
				}
				defer f.Close()
				fd := int(f.Fd())
				raw := make([]byte, batchLen*encodedFrameSize(size))
				data := make([]byte, size)
				es := make([]Entry, batchLen)
				next := uint64(1)
				var off int64
				var tApp, tRaw time.Duration
				b.ResetTimer()
				for range b.N {
					for i := range es {
						es[i] = Entry{Index: next, Data: data}
						next++
					}
					t0 := time.Now()
					if err := l.Append(es); err != nil {
						b.Fatal(err)
					}
					t1 := time.Now()
					if _, err := f.WriteAt(raw, off); err != nil {
						b.Fatal(err)
					}
					if err := unix.Fdatasync(fd); err != nil {
						b.Fatal(err)
					}
					tRaw += time.Since(t1)
					tApp += t1.Sub(t0)
					off += int64(len(raw))
				}
				b.ReportMetric(float64(tApp.Nanoseconds())/float64(b.N), "append-ns")
				b.ReportMetric(float64(tRaw.Nanoseconds())/float64(b.N), "raw-ns")
				b.ReportMetric(float64(tRaw)/float64(tApp), "ratio")
			})
		}
	}
}
