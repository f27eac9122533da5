package log

import (
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"
)

// SyncMode says when Append makes entries durable.
type SyncMode int

const (
	// SyncAlways (the default) returns from Append only after the entries
	// are fsync'd (fdatasync). Concurrent appenders share fsyncs.
	SyncAlways SyncMode = iota
	// SyncPeriodic returns from Append once the entries are written to the
	// OS, and fsyncs every SyncInterval in the background. A process crash
	// loses nothing, but a power loss or kernel crash can lose the entries
	// acknowledged during the last SyncInterval (and with them anything a
	// Raft peer was promised). Never use it where promise 1 holds.
	SyncPeriodic
)

// Options configures a Log. The zero value is valid.
type Options struct {
	// SegmentSize: the active segment is sealed and a new one started
	// before the first write after it passes this size. Default 64 MiB,
	// at most 1 GiB (segment offsets are 32-bit).
	SegmentSize int64
	// Sync is the durability mode; default SyncAlways.
	Sync SyncMode
	// SyncInterval is the fsync period under SyncPeriodic; default 10ms.
	SyncInterval time.Duration
	// FS is the file system; nil means the real one (OSFS).
	FS FS
	// Archive makes TruncateFront move whole sealed segments to DIR/archive/,
	// zstd-compressed, instead of deleting them. Scan reads them.
	Archive bool
	// Retention: 0 keeps the archive forever; otherwise archived segments
	// older than this are deleted by the next TruncateFront.
	Retention time.Duration
	// OnSync, when set, is called after every successful fsync of a
	// segment file with the time the fsync took: the one of each write
	// round (the latency an Append waits for), the periodic ones under
	// SyncPeriodic, those of sealing, creating, truncating and closing
	// segments, and Open's final one; not directory fsyncs, nor those of
	// Open's repairs of a torn tail. It runs on the goroutine that synced,
	// while that goroutine owns the write path, so it must be quick and
	// must not call the Log (feeding a histogram is the intended use).
	// Nil costs nothing.
	OnSync func(d time.Duration)
	// OnBreak, when set, is called once, when a failed write or fsync
	// breaks the log (see ErrBroken), with the error every later Append
	// returns. It runs on the writer's goroutine with the log's lock held:
	// it must not call the log.
	OnBreak func(err error)
}

const (
	defaultSegmentSize  = 64 << 20
	maxSegmentSize      = 1 << 30
	defaultSyncInterval = 10 * time.Millisecond
)

// Log is a segmented append-only log. All methods are safe for concurrent use.
type Log struct {
	dir  string
	fs   FS
	opts Options

	// truncMu serializes TruncateFront, TruncateBack and Close.
	truncMu sync.Mutex
	// fileMu is held shared by readers for the time of a ReadAt, and
	// exclusively by whoever closes, removes or shrinks a segment file, so
	// that a reader never reads a closed or shrinking file.
	// Lock order: truncMu, then fileMu, then mu.
	fileMu sync.RWMutex

	mu   sync.Mutex
	cond *sync.Cond // signalled when a write round ends or writing is released
	segs []*segment // live segments; the active one, if any, is last and unsealed
	// first and last are the visible (acknowledged) range; 0 when empty.
	first, last uint64
	// accepted is the last index queued by Append, ahead of last.
	accepted uint64
	queue    []*batch
	writing  bool // a goroutine owns the write path (a write round or a truncation)
	broken   error
	closed   bool
	archived int

	// Owned by the goroutine holding writing.
	buf     []byte
	offsBuf []uint32

	stopSync chan struct{}
	syncDone chan struct{}
}

// Stats describes a Log at one moment.
type Stats struct {
	Segments         int   // live segment files
	Bytes            int64 // bytes in live segment files
	FirstIndex       uint64
	LastIndex        uint64
	ArchivedSegments int  // segment files in DIR/archive
	Broken           bool // a write or sync failed; reopen to continue
}

// Open opens or creates the log in dir, creating dir if missing. It
// truncates a torn tail left by a crash and returns ErrCorrupt for damage
// that a crash cannot explain (see doc.go).
func Open(dir string, opts Options) (*Log, error) {
	if opts.SegmentSize <= 0 {
		opts.SegmentSize = defaultSegmentSize
	}
	if opts.SegmentSize > maxSegmentSize {
		opts.SegmentSize = maxSegmentSize
	}
	if opts.SyncInterval <= 0 {
		opts.SyncInterval = defaultSyncInterval
	}
	if opts.FS == nil {
		opts.FS = OSFS{}
	}
	fsys := opts.FS
	if err := fsys.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("log: create %s: %w", dir, err)
	}
	st, err := loadDir(fsys, dir, true)
	if err != nil {
		return nil, err
	}
	l := &Log{dir: dir, fs: fsys, opts: opts, segs: st.segs, first: st.first, last: st.last, accepted: st.last}
	l.cond = sync.NewCond(&l.mu)
	if err := l.finishRecovery(st); err != nil {
		st.closeAll()
		return nil, err
	}
	l.archived = l.countArchive()
	// A segment preallocated before this version, or trimmed by a torn
	// tail, gets its space back so appends keep a fixed file size.
	// The sync also makes durable whatever a crashed process had written
	// but not synced: recovery counted it in, so it must not vanish later.
	if a := l.activeLocked(); a != nil {
		// On a full disk the log still opens, for reading: the writer
		// claims the space it needs before each write (reserve).
		if err := l.reserve(a, l.preallocSize()); err != nil && !errors.Is(err, ErrNoSpace) {
			st.closeAll()
			return nil, fmt.Errorf("log: preallocate %s: %w", a.name, err)
		}
		if err := l.syncFile(a.file); err != nil {
			st.closeAll()
			return nil, fmt.Errorf("log: sync %s: %w", a.name, err)
		}
	}
	if opts.Sync == SyncPeriodic {
		l.stopSync, l.syncDone = make(chan struct{}), make(chan struct{})
		go l.syncLoop()
	}
	return l, nil
}

// finishRecovery removes what loadDir found dead or torn: temp files,
// segments before the first index (archived first when Options.Archive)
// and a last segment that held nothing durable.
func (l *Log) finishRecovery(st *dirState) error {
	changed := false
	for _, n := range st.temps {
		if err := l.fs.Remove(filepath.Join(l.dir, n)); err != nil {
			return fmt.Errorf("log: remove %s: %w", n, err)
		}
		changed = true
	}
	for _, s := range st.drop {
		if err := l.fs.Remove(filepath.Join(l.dir, s.name)); err != nil {
			return fmt.Errorf("log: remove torn segment %s: %w", s.name, err)
		}
		changed = true
	}
	if changed {
		if err := l.fs.SyncDir(l.dir); err != nil {
			return fmt.Errorf("log: sync dir %s: %w", l.dir, err)
		}
	}
	// An archive copy interrupted before its rename is garbage.
	adir := filepath.Join(l.dir, archiveDir)
	if names, err := l.fs.ReadDir(adir); err == nil {
		for _, n := range names {
			if strings.HasSuffix(n, ".tmp") {
				if err := l.fs.Remove(filepath.Join(adir, n)); err != nil {
					return fmt.Errorf("log: remove %s: %w", n, err)
				}
			}
		}
	}
	if err := l.retire(st.dead); err != nil {
		return err
	}
	st.dead = nil
	return nil
}

func (l *Log) findLocked(index uint64) *segment {
	i := sort.Search(len(l.segs), func(i int) bool { return l.segs[i].last >= index })
	if i == len(l.segs) || l.segs[i].base > index {
		return nil
	}
	return l.segs[i]
}

func (l *Log) activeLocked() *segment {
	if n := len(l.segs); n > 0 && !l.segs[n-1].sealed {
		return l.segs[n-1]
	}
	return nil
}

// preallocSize is the size an active segment is preallocated to: room for
// a full segment and the batch that usually pushes it past SegmentSize
// (a bigger batch simply grows the file).
func (l *Log) preallocSize() int64 { return l.opts.SegmentSize + min(l.opts.SegmentSize, 1<<20) }

// syncFile fsyncs f and reports the time to Options.OnSync.
func (l *Log) syncFile(f File) error {
	if l.opts.OnSync == nil {
		return f.Sync()
	}
	t0 := time.Now()
	err := f.Sync()
	if err == nil {
		l.opts.OnSync(time.Since(t0))
	}
	return err
}

// FirstIndex returns the first index in the log, 0 when it is empty.
func (l *Log) FirstIndex() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.first
}

// LastIndex returns the last acknowledged index, 0 when the log is empty.
func (l *Log) LastIndex() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.last
}

// Read returns the entry at index. The slice is a fresh allocation that
// belongs to the caller. Read holds the log's lock only to find the entry;
// the disk read and the checksum run while appends continue.
func (l *Log) Read(index uint64) ([]byte, error) {
	l.fileMu.RLock()
	defer l.fileMu.RUnlock()
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil, ErrClosed
	}
	if first, last := l.first, l.last; last == 0 || index < first || index > last {
		l.mu.Unlock()
		return nil, fmt.Errorf("%w: %d (log holds [%d, %d])", ErrNotFound, index, first, last)
	}
	s := l.findLocked(index)
	if s == nil {
		l.mu.Unlock()
		return nil, fmt.Errorf("%w: %d (no segment holds it)", ErrNotFound, index)
	}
	if s.offsets == nil {
		// A sealed segment read for the first time since Open. The file is
		// immutable and cannot be closed while we hold fileMu.
		name, base, last, idxOff, size := s.name, s.base, s.last, s.indexOff, s.size
		l.mu.Unlock()
		offs, err := readIndex(s.file, name, base, last, idxOff, size)
		if err != nil {
			return nil, err
		}
		l.mu.Lock()
		if s.offsets == nil {
			s.offsets = offs
		}
	}
	off, end := s.frameBounds(index)
	f, name := s.file, s.name
	l.mu.Unlock()
	return readFrame(f, name, index, off, end)
}

// Stats returns counters describing the log.
func (l *Log) Stats() Stats {
	l.mu.Lock()
	defer l.mu.Unlock()
	st := Stats{Segments: len(l.segs), FirstIndex: l.first, LastIndex: l.last,
		ArchivedSegments: l.archived, Broken: l.broken != nil}
	for _, s := range l.segs {
		st.Bytes += s.size
	}
	return st
}

// Close waits for in-flight appends, fsyncs (under SyncPeriodic) and closes
// the files. Later calls return ErrClosed.
func (l *Log) Close() error {
	l.truncMu.Lock()
	defer l.truncMu.Unlock()
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return ErrClosed
	}
	l.acquireWriterLocked()
	l.closed = true
	l.cond.Broadcast()
	l.mu.Unlock()
	if l.stopSync != nil {
		close(l.stopSync)
		<-l.syncDone
	}
	l.fileMu.Lock()
	defer l.fileMu.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	var err error
	if a := l.activeLocked(); a != nil && l.broken == nil && a.synced < a.size {
		err = l.syncFile(a.file)
	}
	for _, s := range l.segs {
		if cerr := s.file.Close(); err == nil {
			err = cerr
		}
	}
	l.segs = nil
	return err
}
