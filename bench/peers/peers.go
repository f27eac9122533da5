// Package peers benchmarks Lithair's raft LogStore (raftlog on log/) against
// its peers, hashicorp/raft-wal and raft-boltdb/v2, beside the raw limit of
// the disk measured in the same run (write + fdatasync in a loop). It is a
// separate module so that the product's go.mod stays free of the peers.
//
// Results and the meaning of every row are in ../RESULTS.md ("Log").
package peers

import (
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	raftwal "github.com/hashicorp/raft-wal"
	"github.com/hashicorp/raft-wal/metadb"
	"golang.org/x/sys/unix"

	wal "github.com/lithair/lithair/log"
	"github.com/lithair/lithair/raftlog"
)

// Store names, in the order the benchmarks run them.
const (
	StoreRaw = "raw-fsync"
	// StoreRawPrealloc is the same loop on a file fallocate'd beforehand
	// (pwrite at increasing offsets inside its size), which is what
	// raft-wal does with its segments: fdatasync then has no file size to
	// commit. It is a second reference, not the limit the targets use.
	StoreRawPrealloc = "raw-prealloc"
	StoreLithair     = "lithair"
	// StoreLithairSerial is Lithair driven like the peers: the writers'
	// mutex is held across "take next index + StoreLogs", so no fsync is
	// shared. Run with 64 writers only (with one it is StoreLithair).
	StoreLithairSerial = "lithair-serial"
	StoreRaftWAL       = "raft-wal"
	StoreBolt          = "raft-boltdb"
)

// store is one LogStore under test, with how concurrent writers must
// reach it.
type store struct {
	ls    raft.LogStore
	close func() error
	// retryOutOfOrder: writers take their index range with one atomic add,
	// call StoreLogs with no harness lock, and retry when the store says
	// their predecessor has not queued yet. Only Lithair's log supports
	// this: its Append validates the index when it queues the batch (before
	// any I/O, without side effects on failure), so concurrent appenders
	// share the fsync of one write round. Stores without it are driven with
	// a mutex held across "take index + StoreLogs" (they serialize on their
	// own write lock anyway).
	retryOutOfOrder bool
	// queue, when set, drives concurrent writers the way Lithair's log is
	// meant to be shared: under the harness mutex a writer takes its index
	// range and queues its batch (QueueLogs), then waits for durability
	// outside the mutex, so the batches queued meanwhile share one write
	// and one fdatasync.
	queue func([]*raft.Log) (*wal.Pending, error)
}

// openStore opens an empty store of the given kind in dir.
func openStore(kind, dir string) (*store, error) {
	switch kind {
	case StoreLithair:
		l, err := wal.Open(filepath.Join(dir, "lithair"), wal.Options{})
		if err != nil {
			return nil, err
		}
		ls := raftlog.NewLogStore(l)
		return &store{ls: ls, close: l.Close, queue: ls.QueueLogs}, nil
	case StoreLithairSerial:
		l, err := wal.Open(filepath.Join(dir, "lithair"), wal.Options{})
		if err != nil {
			return nil, err
		}
		return &store{ls: raftlog.NewLogStore(l), close: l.Close}, nil
	case StoreRaftWAL:
		d := filepath.Join(dir, "raft-wal")
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
		w, closeFn, err := openRaftWAL(d)
		if err != nil {
			return nil, err
		}
		return &store{ls: w, close: closeFn}, nil
	case StoreBolt:
		s, err := raftboltdb.New(raftboltdb.Options{Path: filepath.Join(dir, "raft.db")})
		if err != nil {
			return nil, err
		}
		return &store{ls: s, close: s.Close}, nil
	}
	return nil, fmt.Errorf("unknown store %q", kind)
}

// openRaftWAL opens raft-wal with default options. WAL.Close does not close
// its meta database (and so keeps its file lock), so the meta store is
// passed in and closed here; otherwise a reopen in the same process blocks.
func openRaftWAL(dir string) (*raftwal.WAL, func() error, error) {
	meta := &metadb.BoltMetaDB{}
	w, err := raftwal.Open(dir, raftwal.WithMetaStore(meta))
	if err != nil {
		meta.Close()
		return nil, nil, err
	}
	return w, func() error {
		err := w.Close()
		if cerr := meta.Close(); err == nil {
			err = cerr
		}
		return err
	}, nil
}

// Result is one measured run.
type Result struct {
	Calls    int           // StoreLogs calls (or raw write+fdatasync rounds)
	Entries  int           // entries written
	Elapsed  time.Duration // wall time of the whole run
	P50, P99 time.Duration // per-call latency
	Retries  int           // Lithair: Appends retried because a predecessor had not queued yet
	// Latencies holds every call's latency, sorted (for tools that pool
	// several runs, such as cmd/abrow).
	Latencies []time.Duration
}

// EntriesPerSec is the throughput of the run.
func (r Result) EntriesPerSec() float64 { return float64(r.Entries) / r.Elapsed.Seconds() }

// payload returns size random bytes (random so no layer can compress them).
func payload(size int) []byte {
	b := make([]byte, size)
	_, _ = rand.Read(b)
	return b
}

// template builds one writer's batch of raft.Log entries of size bytes.
func template(batch, size int) []*raft.Log {
	logs := make([]*raft.Log, batch)
	now := time.Now()
	for i := range logs {
		logs[i] = &raft.Log{Term: 1, Type: raft.LogCommand, Data: payload(size), AppendedAt: now}
	}
	return logs
}

// RunStoreLogs makes calls StoreLogs calls of batch entries of size bytes
// each, spread over writers goroutines, on a new store of kind in dir
// seeded (untimed) with one batch at index 1. Latency runs from before a
// writer takes its index range to the return of StoreLogs. ready is called
// after the store is open and seeded, before the clock starts (a testing.B
// passes ResetTimer).
func RunStoreLogs(kind, dir string, size, batch, writers, calls int, ready func()) (Result, error) {
	if kind == StoreRaw || kind == StoreRawPrealloc {
		return RunRawFsync(dir, size, batch, calls, kind == StoreRawPrealloc, ready)
	}
	s, err := openStore(kind, dir)
	if err != nil {
		return Result{}, err
	}
	defer s.close()

	var (
		seqMu   sync.Mutex
		next    atomic.Uint64
		left    atomic.Int64
		wg      sync.WaitGroup
		errOnce sync.Once
		runErr  error
		failed  atomic.Bool
	)
	// Seed the log with one batch at index 1 before the clock starts: an
	// empty Lithair log accepts any first index, so with concurrent
	// writers the first range to queue would otherwise set the base, and
	// raft-wal re-creates its first segment on the first append.
	seed := template(batch, size)
	for i, l := range seed {
		l.Index = uint64(1 + i)
	}
	if err := s.ls.StoreLogs(seed); err != nil {
		return Result{}, fmt.Errorf("%s: seed: %w", kind, err)
	}
	next.Store(uint64(batch))
	left.Store(int64(calls))
	takeCall := func() bool { return left.Add(-1) >= 0 && !failed.Load() }
	lat := make([][]time.Duration, writers)
	retries := make([]int, writers)
	tmpl := make([][]*raft.Log, writers)
	for w := range tmpl {
		tmpl[w] = template(batch, size)
		lat[w] = make([]time.Duration, 0, calls/writers+1)
	}
	ready()
	start := time.Now()
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			logs := tmpl[w]
			for takeCall() {
				t0 := time.Now()
				var err error
				if s.queue != nil && writers > 1 {
					seqMu.Lock()
					first := next.Add(uint64(batch)) - uint64(batch) + 1
					for i, l := range logs {
						l.Index = first + uint64(i)
					}
					var p *wal.Pending
					p, err = s.queue(logs)
					seqMu.Unlock()
					if err == nil {
						err = p.Wait()
					}
				} else if s.retryOutOfOrder {
					// Take the range with one atomic add (no mutex to hand
					// the P to a waiter between "take" and "queue").
					first := next.Add(uint64(batch)) - uint64(batch) + 1
					for i, l := range logs {
						l.Index = first + uint64(i)
					}
					for n := 0; ; n++ {
						err = s.ls.StoreLogs(logs)
						if !errors.Is(err, wal.ErrOutOfOrder) || n == 100_000 {
							break
						}
						// The predecessor range has not queued yet (it is
						// still being encoded by raftlog, or was
						// descheduled): yield and try again. (Waiting for
						// the next StoreLogs to return instead was tried
						// and is worse: a chain of losers then resolves
						// only a few links per group commit.)
						retries[w]++
						runtime.Gosched()
					}
				} else {
					seqMu.Lock()
					first := next.Add(uint64(batch)) - uint64(batch) + 1
					for i, l := range logs {
						l.Index = first + uint64(i)
					}
					err = s.ls.StoreLogs(logs)
					seqMu.Unlock()
				}
				lat[w] = append(lat[w], time.Since(t0))
				if err != nil {
					errOnce.Do(func() {
						runErr = fmt.Errorf("%s: StoreLogs at %d: %w", kind, logs[0].Index, err)
						failed.Store(true)
					})
					return
				}
			}
		}(w)
	}
	wg.Wait()
	elapsed := time.Since(start)
	if runErr != nil {
		return Result{}, runErr
	}
	if last, err := s.ls.LastIndex(); err != nil || last != uint64((calls+1)*batch) {
		return Result{}, fmt.Errorf("%s: LastIndex %d (%v), want %d", kind, last, err, (calls+1)*batch)
	}
	var all []time.Duration
	r := Result{Calls: calls, Entries: calls * batch, Elapsed: elapsed}
	for w := range lat {
		all = append(all, lat[w]...)
		r.Retries += retries[w]
	}
	r.P50, r.P99 = percentiles(all)
	r.Latencies = all
	return r, nil
}

// RunRawFsync is the limit: one goroutine appending batch*size bytes to
// one file with write(2) and then fdatasync(2), calls times. With prealloc
// the file is first fallocate'd to its final size and fsync'd (untimed),
// and the loop pwrites at increasing offsets inside it.
func RunRawFsync(dir string, size, batch, calls int, prealloc bool, ready func()) (Result, error) {
	f, err := os.OpenFile(filepath.Join(dir, "raw"), os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return Result{}, err
	}
	defer f.Close()
	buf := payload(size * batch)
	fd := int(f.Fd())
	if prealloc {
		if err := unix.Fallocate(fd, 0, 0, int64(len(buf)*calls)); err != nil {
			return Result{}, err
		}
		if err := f.Sync(); err != nil {
			return Result{}, err
		}
	}
	var off int64
	lat := make([]time.Duration, 0, calls)
	ready()
	start := time.Now()
	for i := 0; i < calls; i++ {
		t0 := time.Now()
		if _, err := f.WriteAt(buf, off); err != nil {
			return Result{}, err
		}
		off += int64(len(buf))
		if err := fdatasync(fd); err != nil {
			return Result{}, err
		}
		lat = append(lat, time.Since(t0))
	}
	r := Result{Calls: calls, Entries: calls * batch, Elapsed: time.Since(start)}
	r.P50, r.P99 = percentiles(lat)
	r.Latencies = lat
	return r, nil
}

func fdatasync(fd int) error {
	for {
		if err := unix.Fdatasync(fd); err != unix.EINTR {
			return err
		}
	}
}

// percentiles returns the nearest-rank p50 and p99 of d (sorted in place).
func percentiles(d []time.Duration) (p50, p99 time.Duration) {
	if len(d) == 0 {
		return 0, 0
	}
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	rank := func(p float64) time.Duration {
		i := int(p*float64(len(d))+0.999999) - 1
		if i < 0 {
			i = 0
		}
		return d[i]
	}
	return rank(0.50), rank(0.99)
}
