package log

import (
	"errors"
	"fmt"
	"math/rand"
	"os"
	"strings"
	"testing"
)

// crashModel drives a log through random appends and truncations while the
// MemFS power fails at a random write or sync, then checks what recovery
// gives back. It is the model of what was acknowledged.
type crashModel struct {
	t    testing.TB
	rng  *rand.Rand
	fs   *MemFS
	opts Options
	l    *Log

	gen    int            // bumped by every TruncateBack, part of each payload
	acked  map[uint64]int // index -> gen of acknowledged, still-live entries
	floors []floor        // a returned TruncateBack(x) at gen g: entries > x need gen >= g
	first  uint64         // a returned TruncateFront(x): nothing below x may come back
	last   uint64         // last index handed to Append (acknowledged or not)
}

type floor struct {
	after uint64
	gen   int
}

func (m *crashModel) minGen(i uint64) int {
	g := 0
	for _, f := range m.floors {
		if i > f.after && f.gen > g {
			g = f.gen
		}
	}
	return g
}

// fatal distinguishes the expected failures (the power is out) from bugs.
func (m *crashModel) expected(err error) bool {
	if err == nil {
		return true
	}
	if errors.Is(err, ErrPowerLost) {
		return false
	}
	m.t.Fatalf("unexpected error while the power was on: %v", err)
	return false
}

// run does up to steps random operations; it stops at the first failure.
func (m *crashModel) run(steps int) {
	for range steps {
		switch p := m.rng.Intn(100); {
		case p < 10:
			if !m.burst() {
				return
			}
		case p < 80 || m.last == 0:
			n := uint64(1 + m.rng.Intn(8))
			from := m.last + 1
			es := make([]Entry, n)
			for i := range es {
				idx := from + uint64(i)
				es[i] = Entry{Index: idx, Data: crashPayload(idx, m.gen, m.rng.Intn(700))}
			}
			m.last = from + n - 1
			err := m.l.Append(es)
			if !m.expected(err) {
				return
			}
			for _, e := range es {
				m.acked[e.Index] = m.gen
			}
		case p < 88:
			x := m.l.FirstIndex() + uint64(m.rng.Int63n(int64(m.last-m.l.FirstIndex()+1)))
			err := m.l.TruncateFront(x)
			// Even a TruncateFront that failed may have taken effect.
			for i := range m.acked {
				if i < x {
					delete(m.acked, i)
				}
			}
			if !m.expected(err) {
				return
			}
			m.first = x
		case p < 95:
			x := m.l.FirstIndex() + uint64(m.rng.Int63n(int64(m.last-m.l.FirstIndex()+1)))
			m.gen++
			err := m.l.TruncateBack(x)
			m.last = x
			for i := range m.acked {
				if i > x {
					delete(m.acked, i)
				}
			}
			if !m.expected(err) {
				return
			}
			m.floors = append(m.floors, floor{after: x, gen: m.gen})
		default:
			if !m.expected(m.l.Close()) {
				return
			}
			l, err := Open("/data/log", m.opts)
			if !m.expected(err) {
				return
			}
			m.l = l
			m.last = l.LastIndex()
		}
	}
}

// burst queues several batches before any of them is written, then waits
// for them from as many goroutines, so that one write round (one pwrite,
// one fsync) carries them all, as under concurrent appenders.
func (m *crashModel) burst() bool {
	k := 2 + m.rng.Intn(5)
	bs := make([]*batch, 0, k)
	var all [][]Entry
	for range k {
		n := uint64(1 + m.rng.Intn(4))
		from := m.last + 1
		es := make([]Entry, n)
		size := 0
		for i := range es {
			idx := from + uint64(i)
			es[i] = Entry{Index: idx, Data: crashPayload(idx, m.gen, m.rng.Intn(700))}
			size += encodedFrameSize(len(es[i].Data))
		}
		b, err := m.l.enqueue(es, size)
		if err != nil {
			return m.expected(err) && len(bs) > 0
		}
		m.last = from + n - 1
		bs = append(bs, b)
		all = append(all, es)
	}
	errs := make([]error, len(bs))
	done := make(chan int)
	for i, b := range bs {
		go func() {
			errs[i] = m.l.wait(b)
			done <- i
		}()
	}
	for range bs {
		<-done
	}
	ok := true
	for i, err := range errs {
		if !m.expected(err) {
			ok = false
			continue
		}
		for _, e := range all[i] {
			m.acked[e.Index] = m.gen
		}
	}
	return ok
}

// crashPayload encodes index and generation so that a misplaced or stale
// entry can never pass for the right one.
func crashPayload(i uint64, gen, n int) []byte {
	p := []byte(fmt.Sprintf("%d/%d;", i, gen))
	for len(p) < n {
		p = append(p, byte(i)+byte(len(p)))
	}
	return p
}

func parsePayload(b []byte) (i uint64, gen int, ok bool) {
	s, _, found := strings.Cut(string(b), ";")
	if !found {
		return 0, 0, false
	}
	if _, err := fmt.Sscanf(s, "%d/%d", &i, &gen); err != nil {
		return 0, 0, false
	}
	return i, gen, string(b) == string(crashPayload(i, gen, len(b)))
}

// recover crashes the file system, reopens and checks every promise.
func (m *crashModel) recover() {
	t := m.t
	m.l.Close() // a broken or powerless log; errors are expected
	m.fs.Crash(m.rng)
	l, err := Open("/data/log", m.opts)
	if err != nil {
		t.Fatalf("log failed to open after a crash: %v", err)
	}
	m.l = l
	first, last := l.FirstIndex(), l.LastIndex()
	for i, g := range m.acked {
		if i < first || i > last {
			t.Fatalf("acknowledged entry %d lost: log holds [%d, %d]", i, first, last)
		}
		got, err := l.Read(i)
		if err != nil {
			t.Fatalf("acknowledged entry %d: %v", i, err)
		}
		if gi, gg, ok := parsePayload(got); !ok || gi != i || gg != g {
			t.Fatalf("acknowledged entry %d gen %d reads back as %d gen %d (ok=%v)", i, g, gi, gg, ok)
		}
	}
	if last != 0 && first < m.first {
		t.Fatalf("entries below a completed TruncateFront(%d) came back: first is %d", m.first, first)
	}
	for i := first; last != 0 && i <= last; i++ {
		got, err := l.Read(i)
		if err != nil {
			t.Fatalf("entry %d in [%d, %d]: %v", i, first, last, err)
		}
		gi, gg, ok := parsePayload(got)
		if !ok || gi != i || gg < m.minGen(i) || gg > m.gen {
			t.Fatalf("entry %d holds %d gen %d (ok=%v), want gen in [%d, %d]", i, gi, gg, ok, m.minGen(i), m.gen)
		}
	}
	if _, err := Verify("/data/log", m.fs); err != nil {
		t.Fatalf("Verify after recovery: %v", err)
	}
	// Scan (archive + live) goes strictly up and agrees with Read.
	var prev uint64
	err = l.Scan(1, func(i uint64, data []byte) bool {
		if i <= prev {
			t.Fatalf("Scan went from %d to %d", prev, i)
		}
		prev = i
		if i >= first && i <= last {
			got, err := l.Read(i)
			if err != nil || string(got) != string(data) {
				t.Fatalf("Scan and Read disagree on %d (%v)", i, err)
			}
		}
		return true
	})
	if err != nil {
		t.Fatalf("Scan after recovery: %v", err)
	}
	if last != 0 && prev != last {
		t.Fatalf("Scan ended at %d, log at %d", prev, last)
	}
	// What is in the log now is what later rounds build on.
	m.last = last
	m.acked = map[uint64]int{}
	for i := first; last != 0 && i <= last; i++ {
		got, _ := l.Read(i)
		_, gg, _ := parsePayload(got)
		m.acked[i] = gg
	}
	m.floors = nil
	if last == 0 {
		m.first = 0
	} else {
		m.first = first
	}
}

func crashSeeds(t *testing.T, n int) {
	for seed := int64(0); seed < int64(n); seed++ {
		rng := newRand(seed)
		fsys := NewMemFS()
		opts := Options{FS: fsys, SegmentSize: int64(256 + rng.Intn(4096)), Archive: rng.Intn(2) == 0}
		l, err := Open("/data/log", opts)
		if err != nil {
			t.Fatal(err)
		}
		m := &crashModel{t: t, rng: rng, fs: fsys, opts: opts, l: l, acked: map[uint64]int{}}
		for range 3 {
			fsys.PowerLossAfter(1 + rng.Intn(150))
			m.run(60)
			if t.Failed() {
				t.Fatalf("seed %d", seed)
			}
			fsys.PowerLossAfter(0)
			m.recover()
			if t.Failed() {
				t.Fatalf("seed %d", seed)
			}
		}
		m.l.Close()
	}
}

// TestCrashRandom cuts the power at random writes and syncs of random
// workloads, garbles the unsynced sectors, and checks that every
// acknowledged entry survives and every log opens. LITHAIR_LONG=1 runs
// 10,000 seeds (30,000 crash points).
func TestCrashRandom(t *testing.T) {
	n := 300
	if os.Getenv("LITHAIR_LONG") == "1" {
		n = 10000
	}
	crashSeeds(t, n)
}
