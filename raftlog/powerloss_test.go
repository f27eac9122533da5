package raftlog_test

import (
	"errors"
	"fmt"
	"math/rand"
	"os"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	wal "github.com/lithair/lithair/log"
)

// TestPowerLossWholeWritePath cuts the power under a single-node raft
// whose three stores (the raft log with its archive, the stable store and
// the snapshot store) share one fault-injecting MemFS. Each seed runs a
// random workload (creates, updates, deletes, batches, bursts of
// concurrent applies, user snapshots; raft's own snapshots and log
// compactions come often) and cuts the power at a random write or sync,
// or in the middle of a restart; MemFS then keeps, drops or garbles every
// unsynced sector and directory operation, and the node is reopened from
// what is left. Each crash point checks what a user would notice:
//
//   - the data dir opens and the node leads again;
//   - every write acknowledged before the cut is there with its content,
//     and every acknowledged delete stayed deleted; an unacknowledged
//     write is there whole or not at all (a batch all or none);
//   - every term and vote the stable store acknowledged is there;
//   - the newest snapshot whose Close returned nil (or a newer one) is
//     listed, and every listed snapshot opens and restores;
//   - the log was never compacted past the newest snapshot, and the state
//     equals a replay of the log from that snapshot and a replay of the
//     whole history (archive and live log) from an empty state.
//
// The default run does a few hundred crash points; LITHAIR_POWERLOSS_POINTS=N
// runs at least N (CI: 10000), LITHAIR_POWERLOSS_SEED=S runs only seed S.
// A seed fixes the workload and what the crash keeps, not the timing of
// raft's goroutines, so a failing seed may need a few runs to fail again.
func TestPowerLossWholeWritePath(t *testing.T) {
	points := 240
	if testing.Short() {
		points = 40
	}
	if v := os.Getenv("LITHAIR_POWERLOSS_POINTS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("LITHAIR_POWERLOSS_POINTS=%q: want a positive number", v)
		}
		points = n
	}
	first, seeds := int64(0), int64((points+plRounds-1)/plRounds)
	if v := os.Getenv("LITHAIR_POWERLOSS_SEED"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			t.Fatalf("LITHAIR_POWERLOSS_SEED=%q: %v", v, err)
		}
		first, seeds = n, 1
	}
	// The workers mostly wait for raft's timers: more of them than cores
	// keeps the cores busy.
	workers := int(min(seeds, int64(8*runtime.GOMAXPROCS(0))))
	var st plStats
	var next atomic.Int64
	var mu sync.Mutex
	var failures, slow []string
	start := time.Now()
	var gcStuck atomic.Bool
	stopWatch := watchGC(&gcStuck)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= seeds {
					return
				}
				mu.Lock()
				stop := len(failures) >= 3 || gcStuck.Load()
				mu.Unlock()
				if stop {
					return
				}
				seed := first + i
				began := time.Now()
				err := plRunSeed(seed, &st)
				if d := time.Since(began); d > 3*time.Second {
					mu.Lock()
					slow = append(slow, fmt.Sprintf("%d (%v)", seed, d.Round(time.Millisecond)))
					mu.Unlock()
				}
				if err != nil {
					mu.Lock()
					failures = append(failures, fmt.Sprintf("seed %d: %v", seed, err))
					mu.Unlock()
				}
				st.seeds.Add(1)
			}
		}()
	}
	wg.Wait()
	stopWatch()
	if len(slow) > 0 {
		t.Logf("seeds slower than 3s: %s", strings.Join(slow, ", "))
	}
	if gcStuck.Load() {
		failures = append(failures, "the garbage collector stayed off (GOGC=-1) for ten seconds: index.State.Restore turns it off while it runs, process-wide, and overlapping restores (here the workers restore snapshots concurrently) must turn it back on once the last ends; the run was stopped before the heap grew until the machine stalled")
	}
	t.Logf("power loss: %d crash points (%d inside a restart) over %d seeds in %v: %d acknowledged commands (%d record operations) checked, %d record checks, %d snapshots taken (%d by the user), %d log compactions, %d term/vote writes acknowledged; data dirs that failed to open: %d, other broken promises: %d",
		st.points.Load(), st.restartCuts.Load(), st.seeds.Load(), time.Since(start).Round(time.Millisecond),
		st.acked.Load(), st.ackedOps.Load(), st.recordChecks.Load(), st.snapshots.Load(), st.userSnapshots.Load(),
		st.compactions.Load(), st.stableAcked.Load(), st.openFailed.Load(), st.broken.Load())
	for _, f := range failures {
		t.Error(f)
	}
	if st.openFailed.Load() != 0 {
		t.Errorf("%d data dirs failed to open after a power loss", st.openFailed.Load())
	}
	if len(failures) == 0 && st.points.Load() < int64(points) && seeds > 1 {
		t.Errorf("ran %d crash points, want at least %d", st.points.Load(), points)
	}
	// A run that never snapshots or compacts does not test what it claims.
	if len(failures) == 0 && seeds >= 10 && (st.snapshots.Load() == 0 || st.compactions.Load() == 0 || st.userSnapshots.Load() == 0) {
		t.Errorf("the workload took %d snapshots (%d by the user) and %d compactions: it must take both kinds and compact",
			st.snapshots.Load(), st.userSnapshots.Load(), st.compactions.Load())
	}
}

// watchGC sets stuck when the garbage collector stays off for a second,
// which no single snapshot restore of this test takes; the returned
// function stops the watch.
func watchGC(stuck *atomic.Bool) (stop func()) {
	done := make(chan struct{})
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		sample := []metrics.Sample{{Name: "/gc/gogc:percent"}}
		off := 0
		for {
			select {
			case <-done:
				return
			case <-time.After(100 * time.Millisecond):
			}
			metrics.Read(sample)
			if int64(sample[0].Value.Uint64()) < 0 {
				off++
			} else {
				off = 0
			}
			// Overlapping restores keep it off between them (index's
			// pauseGC); ten seconds without a gap means it was left off.
			if off >= 100 {
				stuck.Store(true)
				return
			}
		}
	}()
	return func() { close(done); <-exited }
}

// plRounds is the number of crash points per seed: crash, reopen, check,
// go on.
const plRounds = 4

type plStats struct {
	points, restartCuts, seeds            atomic.Int64
	acked, ackedOps, recordChecks         atomic.Int64
	snapshots, userSnapshots, compactions atomic.Int64
	stableAcked, openFailed, broken       atomic.Int64
}

// errWouldNotOpen marks what checkDisk finds that would stop the node
// from starting: raft cannot restore without a snapshot that opens, and
// panics on a log with a hole in front of its first entry.
var errWouldNotOpen = errors.New("the data dir would not open")

// plParams are a seed's settings.
type plParams struct {
	segSize   int64
	threshold uint64
	trailing  uint64
	interval  time.Duration
}

func plRunSeed(seed int64, st *plStats) error {
	rng := rand.New(rand.NewSource(seed))
	p := plParams{
		segSize:   int64(512 + rng.Intn(8192)),
		threshold: uint64(2 + rng.Intn(30)),
		trailing:  uint64(rng.Intn(16)),
		interval:  time.Duration(5+rng.Intn(20)) * time.Millisecond,
	}
	fsys := wal.NewMemFS()
	pr := &plPromises{stable: map[string]*plKey{}, out: &syncBuffer{}}
	defer func() {
		st.snapshots.Add(pr.snapshots.Load())
		st.compactions.Add(pr.compactions.Load())
		st.stableAcked.Add(pr.stableAcked.Load())
	}()
	m := &plModel{recs: map[string]plRec{}, gone: map[string]bool{}, ackedAt: map[uint64][]byte{}}
	n, err := plOpen(fsys, p, pr)
	defer func() {
		if n != nil {
			n.stop() // idempotent; after a failure, raft must not run on
		}
	}()
	if err == nil {
		err = n.start(true)
	}
	if err != nil {
		st.openFailed.Add(1)
		return fmt.Errorf("first start: %w", err)
	}
	for point := 1; point <= plRounds; point++ {
		fail := func(err error) error {
			return fmt.Errorf("crash point %d (%+v): %w%s", point, p, err, n.tail())
		}
		if rng.Intn(5) == 0 {
			// The cut comes inside a restart: the logs' recovery, the
			// election's term and vote, the new leader's first entry.
			if err := n.stop(); err != nil {
				return fail(err)
			}
			st.restartCuts.Add(1)
			fsys.PowerLossAfter(1 + rng.Intn(12))
			n, err = plOpen(fsys, p, pr)
			if err == nil {
				err = n.start(false)
			}
			if err != nil && !fsys.PowerLost() {
				st.openFailed.Add(1)
				return fail(fmt.Errorf("restart failed with the power on: %w", err))
			}
		} else {
			fsys.PowerLossAfter(1 + rng.Intn(250))
		}
		if n != nil && n.raft != nil {
			if err := m.run(n, rng, 400, st); err != nil {
				return fail(err)
			}
		}
		fsys.PowerLossAfter(0)
		if n != nil {
			n.stop()
		}
		fsys.Crash(rng)
		fmt.Fprintf(pr.out, "=== crash point %d\n", point)
		st.points.Add(1)

		n, err = plOpen(fsys, p, pr)
		if err != nil {
			st.openFailed.Add(1)
			return fail(fmt.Errorf("data dir failed to open: %w", err))
		}
		replayed, err := n.checkDisk(m.ackedAt)
		if bugs := pr.takeBugs(); err != nil && len(bugs) > 0 {
			err = fmt.Errorf("%w; before the crash: %s", err, strings.Join(bugs, "; "))
		}
		if err != nil {
			if errors.Is(err, errWouldNotOpen) {
				st.openFailed.Add(1)
			} else {
				st.broken.Add(1)
			}
			n.stop()
			return fail(err)
		}
		if err := n.start(false); err != nil {
			st.openFailed.Add(1)
			n.stop()
			return fail(fmt.Errorf("data dir failed to open: %w", err))
		}
		err = m.check(n.fsm.State(), st)
		if got, want := n.fsm.State().View().Hash(), replayed.State().View().Hash(); err == nil && got != want {
			err = fmt.Errorf("the node's records (hash %x) differ from the replay of its snapshot and log (%x)", got, want)
		}
		if bugs := pr.takeBugs(); err == nil && len(bugs) > 0 {
			err = fmt.Errorf("store errors with the power on: %s", strings.Join(bugs, "; "))
		}
		if err != nil {
			st.broken.Add(1)
			n.stop()
			return fail(err)
		}
	}
	if err := n.stop(); err != nil {
		return err
	}
	return nil
}
