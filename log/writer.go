package log

import (
	"errors"
	"fmt"
	"time"
)

// Entry is one log entry.
type Entry struct {
	Index uint64
	Data  []byte
}

// batch is one Append call waiting for a write round.
type batch struct {
	entries []Entry
	size    int // encoded bytes
	done    bool
	err     error
}

func (b *batch) firstIndex() uint64 { return b.entries[0].Index }
func (b *batch) lastIndex() uint64  { return b.entries[len(b.entries)-1].Index }

// Append writes entries as one framed batch. The entries must be contiguous
// and the first must be LastIndex()+1, or any index above 0 when the log is
// empty. Under SyncAlways it returns after the entries are fsync'd.
//
// Appends are group-committed: the caller that finds the write path idle
// writes and fsyncs every batch queued so far in one write and one fsync;
// callers that arrive meanwhile queue behind it and share the next round.
// The caller's Data slices are not retained after Append returns.
//
// A failed write or fsync is never retried: it breaks the log, and this and
// every later Append return an error wrapping ErrBroken and the cause.
func (l *Log) Append(entries []Entry) error {
	if len(entries) == 0 {
		return nil
	}
	p, err := l.Queue(entries)
	if err != nil {
		return err
	}
	return p.Wait()
}

// Pending is a batch queued by Queue; Wait tells when it is durable.
type Pending struct {
	l *Log
	b *batch
}

// Wait returns once the batch is written and, under SyncAlways, fsync'd,
// or the write failed (then the log is broken). Under SyncPeriodic it
// returns after the write.
func (p *Pending) Wait() error {
	if p.b == nil {
		return nil
	}
	return p.l.wait(p.b)
}

// Queue checks entries and queues them for the next write round, as
// Append does, but returns before they are durable. A caller that gives
// out indexes itself can hold its own lock over "take the next indexes and
// Queue" and Wait outside it: concurrent appenders then still share one
// write and one fsync per round, in index order. The batch is durable only
// once Wait returns nil; nothing may be acknowledged before, and the
// entries' Data must not change until then.
func (l *Log) Queue(entries []Entry) (*Pending, error) {
	if len(entries) == 0 {
		return &Pending{l: l}, nil
	}
	size := 0
	for i, e := range entries {
		if e.Index == 0 {
			return nil, fmt.Errorf("%w: index 0 is reserved for an empty log", ErrOutOfOrder)
		}
		if i > 0 && e.Index != entries[i-1].Index+1 {
			return nil, fmt.Errorf("%w: entry %d follows %d in one batch", ErrOutOfOrder, e.Index, entries[i-1].Index)
		}
		if len(e.Data) > MaxEntrySize {
			return nil, fmt.Errorf("%w: entry %d has %d bytes, the limit is %d", ErrTooLarge, e.Index, len(e.Data), MaxEntrySize)
		}
		size += encodedFrameSize(len(e.Data))
	}
	if size > maxBatchBytes {
		return nil, fmt.Errorf("%w: batch of %d bytes, the limit is %d", ErrTooLarge, size, maxBatchBytes)
	}
	b, err := l.enqueue(entries, size)
	if err != nil {
		return nil, err
	}
	return &Pending{l: l, b: b}, nil
}

// enqueue checks a batch against the accepted index and queues it.
func (l *Log) enqueue(entries []Entry, size int) (*batch, error) {
	b := &batch{entries: entries, size: size}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil, ErrClosed
	}
	if l.broken != nil {
		return nil, l.broken
	}
	if l.accepted != 0 && b.firstIndex() != l.accepted+1 {
		return nil, fmt.Errorf("%w: append at %d, want %d", ErrOutOfOrder, b.firstIndex(), l.accepted+1)
	}
	l.accepted = b.lastIndex()
	l.queue = append(l.queue, b)
	return b, nil
}

// wait runs write rounds or waits for one that takes b, until b is done.
func (l *Log) wait(b *batch) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	for !b.done {
		if !l.writing {
			l.writing = true
			l.writeRoundLocked()
			l.writing = false
			l.cond.Broadcast()
			continue
		}
		l.cond.Wait()
	}
	return b.err
}

// acquireWriterLocked waits until no write round or truncation runs and the
// queue is empty, then takes the write path.
func (l *Log) acquireWriterLocked() {
	for l.writing || len(l.queue) > 0 {
		l.cond.Wait()
	}
	l.writing = true
}

// releaseWriterAndUnlock gives the write path back; l.mu must be held.
func (l *Log) releaseWriterAndUnlock() {
	l.writing = false
	l.resetAcceptedLocked()
	l.cond.Broadcast()
	l.mu.Unlock()
}

// resetAcceptedLocked recomputes accepted after the log changed under
// queued batches (a truncation or a rejected batch).
func (l *Log) resetAcceptedLocked() {
	acc := l.last
	for _, b := range l.queue {
		if acc == 0 || b.firstIndex() == acc+1 {
			acc = b.lastIndex()
		}
	}
	l.accepted = acc
}

// breakLocked makes the log fail-stop.
func (l *Log) breakLocked(err error) {
	if l.broken == nil {
		l.broken = fmt.Errorf("%w: %w", ErrBroken, err)
		if l.opts.OnBreak != nil {
			l.opts.OnBreak(l.broken)
		}
	}
}

// writeRoundLocked writes and syncs every queued batch. It is called with
// l.mu held and l.writing set, and drops l.mu for the I/O.
func (l *Log) writeRoundLocked() {
	// Take the queued batches, up to maxBatchBytes (at least one), so that
	// offsets inside a segment stay far below 4 GiB.
	n, bytes := 0, 0
	for n < len(l.queue) && (n == 0 || bytes+l.queue[n].size <= maxBatchBytes) {
		bytes += l.queue[n].size
		n++
	}
	q := l.queue[:n:n]
	l.queue = append([]*batch(nil), l.queue[n:]...)
	if l.broken != nil {
		for _, b := range q {
			b.done, b.err = true, l.broken
		}
		return
	}
	// Appends were checked against accepted; check again against what is
	// really in the log, which a truncation may have changed since.
	valid := make([]*batch, 0, len(q))
	next := l.last + 1
	rejected := false
	for _, b := range q {
		if (l.last != 0 || len(valid) > 0) && b.firstIndex() != next {
			b.done, b.err = true, fmt.Errorf("%w: append at %d, want %d", ErrOutOfOrder, b.firstIndex(), next)
			rejected = true
			continue
		}
		valid = append(valid, b)
		next = b.lastIndex() + 1
	}
	if len(valid) == 0 {
		l.resetAcceptedLocked()
		return
	}
	err := l.writeBatchesLocked(valid)
	for _, b := range valid {
		b.done, b.err = true, err
	}
	if rejected || err != nil {
		l.resetAcceptedLocked()
	}
}

// writeBatchesLocked rotates if needed, then encodes, writes and syncs the
// batches. It returns with l.mu held.
func (l *Log) writeBatchesLocked(bs []*batch) error {
	s := l.activeLocked()
	var sealSynced int64
	if s != nil {
		sealSynced = s.synced
	}
	needNew := s == nil || (s.size >= l.opts.SegmentSize && s.last >= s.base)
	l.mu.Unlock()
	if needNew {
		if s != nil {
			err := l.reserve(s, s.size+s.sealSize())
			var idxOff, size int64
			if err == nil {
				idxOff, size, err = s.seal(sealSynced, l.syncFile)
			}
			l.mu.Lock()
			if errors.Is(err, ErrNoSpace) {
				return err
			}
			if err != nil {
				l.breakLocked(fmt.Errorf("seal segment %s: %w", s.name, err))
				return l.broken
			}
			s.sealed, s.indexOff, s.size, s.synced = true, idxOff, size, size
			l.mu.Unlock()
		}
		ns, err := createSegment(l.fs, l.dir, bs[0].firstIndex(), l.preallocSize(), l.syncFile)
		l.mu.Lock()
		if errors.Is(err, ErrNoSpace) {
			return err // the sealed segment stays the last; the next round creates one
		}
		if err != nil {
			l.breakLocked(fmt.Errorf("create segment: %w", err))
			return l.broken
		}
		l.segs = append(l.segs, ns)
		s = ns
	} else {
		l.mu.Lock()
	}
	hint := s.synced
	pos := s.size
	l.mu.Unlock()

	buf, offs := l.buf[:0], l.offsBuf[:0]
	for _, b := range bs {
		for _, e := range b.entries {
			offs = append(offs, uint32(pos+int64(len(buf))))
			buf = appendFrame(buf, KindEntry, e.Index, uint64(hint), e.Data)
		}
	}
	end := pos + int64(len(buf))
	if err := l.reserve(s, end); err != nil {
		l.mu.Lock()
		if errors.Is(err, ErrNoSpace) {
			return err
		}
		l.breakLocked(fmt.Errorf("segment %s: claim space: %w", s.name, err))
		return l.broken
	}
	zeroTo := l.zeroAheadEnd(s, pos, end)
	_, err := s.file.WriteAt(buf, pos)
	if err == nil && zeroTo > end {
		_, err = s.file.WriteAt(zeros[:zeroTo-end], end)
	}
	if err == nil && l.opts.Sync == SyncAlways {
		err = l.syncFile(s.file)
	}

	l.mu.Lock()
	if cap(buf) <= 4<<20 { // keep a modest buffer for the next round
		l.buf, l.offsBuf = buf, offs
	} else {
		l.buf, l.offsBuf = nil, nil
	}
	if err != nil {
		l.breakLocked(fmt.Errorf("segment %s offset %d: %w", s.name, pos, err))
		return l.broken
	}
	s.offsets = append(s.offsets, offs...)
	s.size = end
	s.zeroed = max(s.zeroed, zeroTo)
	if l.opts.Sync == SyncAlways {
		s.synced = s.size
	}
	s.last = bs[len(bs)-1].lastIndex()
	if l.last == 0 {
		l.first = bs[0].firstIndex()
	}
	l.last = s.last
	return nil
}

// zeroAhead is how far past a small write round the writer writes zeros
// into the preallocated space, so that the next rounds land in blocks the
// file system has already written. fallocate leaves its blocks
// "unwritten": the first write into each one makes the file system convert
// it when the data reaches the disk (ext4 does that in a worker thread and
// then rewrites the inode), and the fdatasync that acknowledges the append
// waits for all of it. Appends of a few hundred bytes enter a new 4 KiB
// block every twenty or so, and each such append took 120-240 µs longer
// on ext4 (bench/RESULTS.md). Writing the zeros ourselves moves that
// conversion to one round per MiB. The zeros are free space to recovery
// like any other zeros after the last frame.
const zeroAhead = 1 << 20

// zeroAheadEnd says up to where the round [pos, end) should write zeros:
// past s.zeroed (where the zeros written so far end), only for rounds
// small next to zeroAhead (a big round converts its blocks in one go
// anyway, and doubling its bytes would cost more than it saves), and never
// past the preallocated size. It returns end when no zeros are due.
func (l *Log) zeroAheadEnd(s *segment, pos, end int64) int64 {
	if end <= s.zeroed || end-pos > zeroAhead/4 {
		return end
	}
	return max(end, min(end+zeroAhead, s.allocated))
}

// reserve makes sure the blocks of s up to need are allocated before the
// writer writes there, so that a full disk is seen as ErrNoSpace before a
// byte of the round is written, never as a torn write that would break
// the log. It claims a whole segment's room when it can, else what the
// round needs rounded up to zeroAhead, else exactly what it needs.
func (l *Log) reserve(s *segment, need int64) error {
	if need <= s.allocated {
		return nil
	}
	target := max(need, l.preallocSize())
	err := preallocate(s.file, target)
	for _, smaller := range []int64{(need + zeroAhead - 1) / zeroAhead * zeroAhead, need} {
		if !isNoSpace(err) || smaller >= target {
			continue
		}
		target = smaller
		err = preallocate(s.file, target)
	}
	if isNoSpace(err) {
		return fmt.Errorf("%w: segment %s needs %d more bytes: %w", ErrNoSpace, s.name, need-s.allocated, err)
	}
	if err != nil {
		return err
	}
	s.allocated = target
	return nil
}

// syncLoop fsyncs the active segment every SyncInterval under SyncPeriodic.
func (l *Log) syncLoop() {
	defer close(l.syncDone)
	t := time.NewTicker(l.opts.SyncInterval)
	defer t.Stop()
	for {
		select {
		case <-l.stopSync:
			return
		case <-t.C:
			l.periodicSync()
		}
	}
}

func (l *Log) periodicSync() {
	l.fileMu.RLock()
	defer l.fileMu.RUnlock()
	l.mu.Lock()
	s := l.activeLocked()
	if s == nil || s.synced >= s.size || l.broken != nil || l.closed {
		l.mu.Unlock()
		return
	}
	target, f := s.size, s.file
	l.mu.Unlock()
	err := l.syncFile(f)
	l.mu.Lock()
	defer l.mu.Unlock()
	if err != nil {
		l.breakLocked(fmt.Errorf("periodic sync of segment %s: %w", s.name, err))
		return
	}
	if target > s.synced {
		s.synced = target
	}
}
