package log

import (
	"fmt"
	"path/filepath"
)

// TruncateFront removes every entry below index (log compaction). Whole
// sealed segments below index are deleted, or archived when Options.Archive
// is set; the segment holding index is renamed so its name records the new
// first index (see doc.go). An index past LastIndex empties the log; an index
// at or below FirstIndex, or an empty log, changes nothing.
func (l *Log) TruncateFront(index uint64) error {
	l.truncMu.Lock()
	defer l.truncMu.Unlock()
	l.mu.Lock()
	if err := l.usableLocked(); err != nil {
		l.mu.Unlock()
		return err
	}
	// Entries queued but not yet written may reach index: let them land
	// first, or emptying the log would take them with it.
	for index > l.last && index <= l.accepted && (l.writing || len(l.queue) > 0) {
		l.cond.Wait()
	}
	if l.last == 0 || index <= l.first {
		l.mu.Unlock()
		return nil
	}
	if index > l.last {
		l.mu.Unlock()
		return l.empty(true)
	}
	// Segments before the one holding index are sealed and immutable; the
	// writer only appends to the last segment, so we need not stop it.
	k := 0
	for l.segs[k].last < index {
		k++
	}
	target := l.segs[k]
	oldName := target.name
	l.mu.Unlock()

	if index > target.base {
		// The rename is the commit point: once it is durable, reopening
		// finds the new first index even if removing older segments did
		// not finish (loadDir treats them as dead).
		newName := segmentName(target.base, index)
		if err := l.fs.Rename(filepath.Join(l.dir, oldName), filepath.Join(l.dir, newName)); err != nil {
			return fmt.Errorf("log: truncate front: rename %s: %w", oldName, err)
		}
		if err := l.fs.SyncDir(l.dir); err != nil {
			return fmt.Errorf("log: truncate front: sync dir: %w", err)
		}
		l.mu.Lock()
		target.name, target.first = newName, index
		l.mu.Unlock()
	}
	l.mu.Lock()
	old := append([]*segment(nil), l.segs[:k]...)
	l.segs = append([]*segment(nil), l.segs[k:]...)
	l.first = index
	l.mu.Unlock()
	return l.retire(old)
}

// retire archives (when Options.Archive) or deletes sealed segments that are
// no longer live, oldest first, syncing the directory after each removal so
// that a crash never leaves a hole in front of a surviving segment.
func (l *Log) retire(old []*segment) error {
	for _, s := range old {
		if l.opts.Archive && s.sealed {
			if err := l.archiveSegment(s); err != nil {
				return err
			}
		}
		l.fileMu.Lock()
		s.file.Close()
		l.fileMu.Unlock()
		if err := l.fs.Remove(filepath.Join(l.dir, s.name)); err != nil {
			return fmt.Errorf("log: remove segment %s: %w", s.name, err)
		}
		if err := l.fs.SyncDir(l.dir); err != nil {
			return fmt.Errorf("log: sync dir after removing %s: %w", s.name, err)
		}
	}
	if l.opts.Archive && len(old) > 0 {
		return l.applyRetention()
	}
	return nil
}

// TruncateBack removes every entry above index (a conflicting suffix, as
// hashicorp/raft's DeleteRange does). An index at or past LastIndex changes
// nothing; an index below FirstIndex empties the log. It returns once the
// removal is durable.
func (l *Log) TruncateBack(index uint64) error {
	l.truncMu.Lock()
	defer l.truncMu.Unlock()
	l.mu.Lock()
	if err := l.usableLocked(); err != nil {
		l.mu.Unlock()
		return err
	}
	if l.last == 0 || index >= l.last {
		l.mu.Unlock()
		return nil
	}
	if index < l.first {
		l.mu.Unlock()
		return l.empty(false)
	}
	l.acquireWriterLocked()
	defer l.releaseWriterAndUnlock()
	k := len(l.segs) - 1
	for l.segs[k].base > index {
		k--
	}
	target := l.segs[k]
	later := append([]*segment(nil), l.segs[k+1:]...)
	l.mu.Unlock()

	l.fileMu.Lock()
	err := l.truncateBackFiles(target, later, index)
	// Publish before readers may run again: they must not find the
	// removed segments, whose files are closed now.
	l.mu.Lock()
	l.fileMu.Unlock()
	if err != nil {
		// The files are in a state we did not plan; only a reopen may say.
		l.breakLocked(err)
		return l.broken
	}
	l.segs = l.segs[:k+1]
	l.last = index
	return nil
}

// truncateBackFiles removes the segments after target, newest first, then
// cuts target after index. Called with fileMu held exclusively and the write
// path owned, so no reader or writer touches these files.
func (l *Log) truncateBackFiles(target *segment, later []*segment, index uint64) error {
	for i := len(later) - 1; i >= 0; i-- {
		s := later[i]
		s.file.Close()
		if err := l.fs.Remove(filepath.Join(l.dir, s.name)); err != nil {
			return fmt.Errorf("log: truncate back: remove %s: %w", s.name, err)
		}
		if err := l.fs.SyncDir(l.dir); err != nil {
			return fmt.Errorf("log: truncate back: sync dir: %w", err)
		}
	}
	if target.last == index {
		return nil // whole segments went; target keeps its seal if it has one
	}
	if target.offsets == nil {
		offs, err := readIndex(target.file, target.name, target.base, target.last, target.indexOff, target.size)
		if err != nil {
			return err
		}
		target.offsets = offs
	}
	_, end := target.frameBounds(index)
	if err := target.file.Truncate(end); err != nil {
		return fmt.Errorf("log: truncate back: segment %s at %d: %w", target.name, end, err)
	}
	// Synced before any new frame lands here: otherwise a crash could
	// resurrect frames of the removed suffix behind the new ones.
	if err := l.syncFile(target.file); err != nil {
		return fmt.Errorf("log: truncate back: sync %s: %w", target.name, err)
	}
	l.mu.Lock()
	target.offsets = target.offsets[:index-target.base+1]
	target.sealed, target.indexOff = false, 0
	target.size, target.synced, target.last = end, end, index
	target.zeroed = 0 // the file ends at end now
	l.mu.Unlock()
	return nil
}

// empty removes every segment. fromFront says the entries are compacted
// history (TruncateFront past the end): with Options.Archive the active
// segment is sealed and archived too, so no history is lost. Otherwise
// (TruncateBack below the start) they are a discarded suffix.
func (l *Log) empty(fromFront bool) error {
	l.mu.Lock()
	l.acquireWriterLocked()
	defer l.releaseWriterAndUnlock()
	segs := l.segs
	a := l.activeLocked()
	var synced int64
	if a != nil {
		synced = a.synced
	}
	l.mu.Unlock()

	if fromFront && l.opts.Archive && a != nil && a.last >= a.base {
		idxOff, size, err := a.seal(synced, l.syncFile)
		l.mu.Lock()
		if err != nil {
			l.breakLocked(fmt.Errorf("seal segment %s: %w", a.name, err))
			return l.broken
		}
		a.sealed, a.indexOff, a.size, a.synced = true, idxOff, size, size
		l.mu.Unlock()
	}
	l.mu.Lock()
	l.segs = nil
	l.first, l.last = 0, 0
	l.mu.Unlock()
	var err error
	if fromFront {
		err = l.retire(segs)
	} else {
		// The first segment may still hold compacted history below the
		// first index (TruncateFront renames a segment rather than
		// rewriting it): that history is kept, only the suffix goes.
		if s := segs[0]; l.opts.Archive && s.first > s.base {
			if err := l.archivePrefix(s); err != nil {
				l.mu.Lock()
				l.breakLocked(err)
				return l.broken
			}
		}
		l.fileMu.Lock()
		for i := len(segs) - 1; i >= 0 && err == nil; i-- {
			segs[i].file.Close()
			if err = l.fs.Remove(filepath.Join(l.dir, segs[i].name)); err == nil {
				err = l.fs.SyncDir(l.dir)
			}
		}
		l.fileMu.Unlock()
	}
	l.mu.Lock()
	if err != nil {
		l.breakLocked(err)
		return l.broken
	}
	return nil
}

func (l *Log) usableLocked() error {
	if l.closed {
		return ErrClosed
	}
	return l.broken
}
