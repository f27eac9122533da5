package log

import (
	"errors"
	"io"
	"io/fs"
	"math/rand"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"
)

// SectorSize is the unit MemFS.Crash keeps, drops or garbles independently:
// disks promise at most that a 512-byte sector is written whole.
const SectorSize = 512

// ErrInjected is the error MemFS returns for an injected failure unless the
// test supplied its own.
var ErrInjected = errors.New("memfs: injected failure")

// ErrPowerLost is returned by every MemFS operation between PowerLoss and Crash.
var ErrPowerLost = errors.New("memfs: power lost")

// MemFS is an in-memory FS for tests that models what a disk keeps across a
// power loss. Every file remembers its durable content (as of its last Sync)
// and the writes and truncations since; every directory remembers its
// durable entries (as of its last SyncDir) and the creations, renames and
// removals since. Crash rebuilds the durable state and then replays a random
// part of what was not synced: each unsynced 512-byte sector of a write is
// kept, dropped or garbled, each unsynced truncation is kept or dropped, and
// a random prefix of each directory's unsynced operations survives.
//
// It can also fail the next write or sync on demand (FailNextWrite,
// FailNextSync) and lose power after a given number of writes and syncs
// (PowerLossAfter). A directory is durable once made; renaming or removing
// one (Rename, Remove of an empty directory) is an operation of its parent,
// durable after the parent's SyncDir like a file's. MemFS is safe for
// concurrent use.
type MemFS struct {
	mu        sync.Mutex
	dirs      map[string]*memDir
	failWrite error
	failSync  error
	// countdown of writes+syncs before the power goes; <0 means never.
	countdown int
	lost      bool
	writes    int
	syncs     int
	latency   time.Duration
}

type memDir struct {
	cur     map[string]*memNode
	durable map[string]*memNode
	ops     []dirOp // since the last SyncDir, oldest first
}

type dirOp struct {
	name string
	node *memNode // nil: removal
	from string   // rename: the old name, removed in the same step
	// dir is set for an operation on a subdirectory (its rename, or its
	// removal when from is empty): Crash undoes it if it is not kept.
	dir *memDir
}

type memNode struct {
	data    []byte
	synced  []byte
	pending []fileOp
}

type fileOp struct {
	off      int64
	data     []byte
	truncate bool
}

// NewMemFS returns an empty MemFS.
func NewMemFS() *MemFS {
	return &MemFS{dirs: map[string]*memDir{"/": newMemDir()}, countdown: -1}
}

func newMemDir() *memDir {
	return &memDir{cur: map[string]*memNode{}, durable: map[string]*memNode{}}
}

func memClean(p string) string { return path.Clean("/" + filepath.ToSlash(p)) }

// FailNextWrite makes the next WriteAt fail with err (ErrInjected if nil)
// without writing anything.
func (m *MemFS) FailNextWrite(err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err == nil {
		err = ErrInjected
	}
	m.failWrite = err
}

// FailNextSync makes the next file Sync fail with err (ErrInjected if nil).
// Like Linux after a failed fsync, the unsynced writes stay unsynced.
func (m *MemFS) FailNextSync(err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err == nil {
		err = ErrInjected
	}
	m.failSync = err
}

// PowerLossAfter makes the power go out after n more file writes and syncs
// (n = 0: now). From then on every operation fails with ErrPowerLost until
// Crash is called.
func (m *MemFS) PowerLossAfter(n int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.countdown = n
	m.lost = n == 0
}

// SetSyncLatency makes every file Sync take d, like a real disk's flush,
// so that tests can see concurrent appenders share fsyncs.
func (m *MemFS) SetSyncLatency(d time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.latency = d
}

// Ops returns how many file writes and syncs have been done so far, so a test
// can pick a crash point inside a workload.
func (m *MemFS) Ops() (writes, syncs int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.writes, m.syncs
}

// tickLocked counts one write or sync toward PowerLossAfter.
func (m *MemFS) tickLocked() error {
	if m.lost {
		return ErrPowerLost
	}
	if m.countdown > 0 {
		m.countdown--
		if m.countdown == 0 {
			m.lost = true
			return ErrPowerLost
		}
	}
	return nil
}

// PowerLost reports whether the power is out: PowerLossAfter's countdown
// ran out and Crash has not been called yet.
func (m *MemFS) PowerLost() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.lost
}

// Crash simulates the power coming back: the file system now holds what
// the disk kept, chosen with rng. Files opened before Crash are detached
// from the new state: writes through them change nothing visible. The
// directories and the files in each are visited in name order, so that
// the same rng seed keeps the same writes.
func (m *MemFS) Crash(rng *rand.Rand) {
	m.mu.Lock()
	defer m.mu.Unlock()
	work := make([]*memDir, 0, len(m.dirs))
	for _, p := range sortedKeys(m.dirs) {
		work = append(work, m.dirs[p])
	}
	// A directory whose removal is not kept comes back and is crashed in
	// turn, so the list may grow while it is walked.
	for i := 0; i < len(work); i++ {
		d := work[i]
		keep := 0
		if len(d.ops) > 0 {
			keep = rng.Intn(len(d.ops) + 1)
		}
		for _, op := range d.ops[:keep] {
			if op.dir != nil {
				continue // already in place in m.dirs
			}
			if op.node == nil {
				delete(d.durable, op.name)
			} else {
				d.durable[op.name] = op.node
			}
			if op.from != "" && op.from != op.name {
				delete(d.durable, op.from)
			}
		}
		for j := len(d.ops) - 1; j >= keep; j-- {
			if op := d.ops[j]; op.dir != nil {
				if back := m.undoDirOpLocked(d, op); back != nil {
					work = append(work, back)
				}
			}
		}
		d.ops = nil
	}
	rebuilt := map[*memNode]*memNode{}
	for _, p := range sortedKeys(m.dirs) {
		d := m.dirs[p]
		d.cur = map[string]*memNode{}
		for _, name := range sortedKeys(d.durable) {
			n := d.durable[name]
			nn, ok := rebuilt[n]
			if !ok {
				nn = n.crash(rng)
				rebuilt[n] = nn
			}
			d.durable[name] = nn
			d.cur[name] = nn
		}
	}
	m.lost = false
	m.countdown = -1
	m.failWrite, m.failSync = nil, nil
}

// undoDirOpLocked reverts the rename or removal of a subdirectory of
// parent that the disk did not keep, and returns the directory if a
// removal brought it back. When the old name has been made again since
// (MkdirAll is durable at once, so everything before it was kept too),
// the operation stays.
func (m *MemFS) undoDirOpLocked(parent *memDir, op dirOp) *memDir {
	base := ""
	for p, d := range m.dirs {
		if d == parent {
			base = p
		}
	}
	if base == "" {
		return nil // the parent itself is gone
	}
	if op.from == "" {
		p := path.Join(base, op.name)
		if _, taken := m.dirs[p]; taken {
			return nil
		}
		m.dirs[p] = op.dir
		return op.dir
	}
	from, to := path.Join(base, op.name), path.Join(base, op.from)
	if _, taken := m.dirs[to]; !taken && m.dirs[from] == op.dir {
		m.moveDirLocked(from, to)
	}
	return nil
}

// moveDirLocked moves the directory from, and everything under it, to to.
func (m *MemFS) moveDirLocked(from, to string) {
	for _, p := range sortedKeys(m.dirs) {
		if p == from || strings.HasPrefix(p, from+"/") {
			d := m.dirs[p]
			delete(m.dirs, p)
			m.dirs[to+p[len(from):]] = d
		}
	}
}

// hasSubdirLocked reports whether dir holds a directory.
func (m *MemFS) hasSubdirLocked(dir string) bool {
	for p := range m.dirs {
		if p != dir && path.Dir(p) == dir {
			return true
		}
	}
	return false
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// crash returns the node as the disk kept it.
func (n *memNode) crash(rng *rand.Rand) *memNode {
	data := append([]byte(nil), n.synced...)
	for _, op := range n.pending {
		if op.truncate {
			if rng.Intn(2) == 0 {
				data = resize(data, op.off)
			}
			continue
		}
		// Split the write at absolute sector boundaries.
		for off := op.off; off < op.off+int64(len(op.data)); {
			end := (off/SectorSize + 1) * SectorSize
			if end > op.off+int64(len(op.data)) {
				end = op.off + int64(len(op.data))
			}
			chunk := op.data[off-op.off : end-op.off]
			switch rng.Intn(3) {
			case 0: // kept
				data = writeAt(data, chunk, off)
			case 1: // dropped
			case 2: // garbled
				g := make([]byte, len(chunk))
				rng.Read(g)
				if rng.Intn(2) == 0 {
					clear(g) // a zeroed sector, as after preallocation
				}
				data = writeAt(data, g, off)
			}
			off = end
		}
	}
	return &memNode{data: data, synced: append([]byte(nil), data...)}
}

func resize(b []byte, size int64) []byte {
	if int64(len(b)) >= size {
		return b[:size]
	}
	return append(b, make([]byte, size-int64(len(b)))...)
}

func writeAt(b, p []byte, off int64) []byte {
	if end := off + int64(len(p)); end > int64(len(b)) {
		b = resize(b, end)
	}
	copy(b[off:], p)
	return b
}

func (m *MemFS) dirLocked(dir string) (*memDir, error) {
	d, ok := m.dirs[dir]
	if !ok {
		return nil, &fs.PathError{Op: "open", Path: dir, Err: fs.ErrNotExist}
	}
	return d, nil
}

// OpenFile implements FS.
func (m *MemFS) OpenFile(name string, flag int, perm fs.FileMode) (File, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.lost {
		return nil, ErrPowerLost
	}
	name = memClean(name)
	d, err := m.dirLocked(path.Dir(name))
	if err != nil {
		return nil, err
	}
	base := path.Base(name)
	n, ok := d.cur[base]
	switch {
	case ok && flag&os.O_CREATE != 0 && flag&os.O_EXCL != 0:
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrExist}
	case !ok && flag&os.O_CREATE == 0:
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	case !ok:
		n = &memNode{}
		d.cur[base] = n
		d.ops = append(d.ops, dirOp{name: base, node: n})
	}
	if ok && flag&os.O_TRUNC != 0 {
		n.data = n.data[:0]
		n.pending = append(n.pending, fileOp{off: 0, truncate: true})
	}
	return &memFile{fs: m, node: n, name: name, ro: flag&(os.O_WRONLY|os.O_RDWR) == 0}, nil
}

// ReadDir implements FS.
func (m *MemFS) ReadDir(dir string) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.lost {
		return nil, ErrPowerLost
	}
	dir = memClean(dir)
	d, err := m.dirLocked(dir)
	if err != nil {
		return nil, err
	}
	var names []string
	for n := range d.cur {
		names = append(names, n)
	}
	for p := range m.dirs {
		if p != dir && path.Dir(p) == dir {
			names = append(names, path.Base(p))
		}
	}
	sort.Strings(names)
	return names, nil
}

// Rename implements FS. Both names must be in the same directory. A
// directory can be renamed to a name that does not exist.
func (m *MemFS) Rename(oldpath, newpath string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.lost {
		return ErrPowerLost
	}
	oldpath, newpath = memClean(oldpath), memClean(newpath)
	d, err := m.dirLocked(path.Dir(oldpath))
	if err != nil {
		return err
	}
	if path.Dir(newpath) != path.Dir(oldpath) {
		return &fs.PathError{Op: "rename", Path: newpath, Err: errors.New("memfs: rename across directories")}
	}
	if sub, ok := m.dirs[oldpath]; ok && oldpath != "/" {
		if _, taken := m.dirs[newpath]; taken || d.cur[path.Base(newpath)] != nil {
			return &fs.PathError{Op: "rename", Path: newpath, Err: fs.ErrExist}
		}
		m.moveDirLocked(oldpath, newpath)
		d.ops = append(d.ops, dirOp{name: path.Base(newpath), from: path.Base(oldpath), dir: sub})
		return nil
	}
	n, ok := d.cur[path.Base(oldpath)]
	if !ok {
		return &fs.PathError{Op: "rename", Path: oldpath, Err: fs.ErrNotExist}
	}
	delete(d.cur, path.Base(oldpath))
	d.cur[path.Base(newpath)] = n
	// One rename is atomic: both halves survive a crash together.
	d.ops = append(d.ops, dirOp{name: path.Base(newpath), node: n, from: path.Base(oldpath)})
	return nil
}

// Remove implements FS: a file, or an empty directory.
func (m *MemFS) Remove(name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.lost {
		return ErrPowerLost
	}
	name = memClean(name)
	d, err := m.dirLocked(path.Dir(name))
	if err != nil {
		return err
	}
	if sub, ok := m.dirs[name]; ok && name != "/" {
		if len(sub.cur) > 0 || m.hasSubdirLocked(name) {
			return &fs.PathError{Op: "remove", Path: name, Err: syscall.ENOTEMPTY}
		}
		delete(m.dirs, name)
		d.ops = append(d.ops, dirOp{name: path.Base(name), dir: sub})
		return nil
	}
	if _, ok := d.cur[path.Base(name)]; !ok {
		return &fs.PathError{Op: "remove", Path: name, Err: fs.ErrNotExist}
	}
	delete(d.cur, path.Base(name))
	d.ops = append(d.ops, dirOp{name: path.Base(name)})
	return nil
}

// MkdirAll implements FS.
func (m *MemFS) MkdirAll(dir string, perm fs.FileMode) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.lost {
		return ErrPowerLost
	}
	for p := memClean(dir); ; p = path.Dir(p) {
		if _, ok := m.dirs[p]; !ok {
			m.dirs[p] = newMemDir()
		}
		if p == "/" {
			return nil
		}
	}
}

// SyncDir implements FS.
func (m *MemFS) SyncDir(dir string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.tickLocked(); err != nil {
		return err
	}
	d, err := m.dirLocked(memClean(dir))
	if err != nil {
		return err
	}
	d.durable = map[string]*memNode{}
	for k, v := range d.cur {
		d.durable[k] = v
	}
	d.ops = nil
	return nil
}

// Corrupt overwrites bytes of a file in place and durably, as a failing
// disk would: the test's way to model bit rot.
func (m *MemFS) Corrupt(name string, off int64, p []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	name = memClean(name)
	d, err := m.dirLocked(path.Dir(name))
	if err != nil {
		return err
	}
	n, ok := d.cur[path.Base(name)]
	if !ok {
		return &fs.PathError{Op: "corrupt", Path: name, Err: fs.ErrNotExist}
	}
	n.data = writeAt(n.data, p, off)
	n.synced = writeAt(n.synced, p, off)
	return nil
}

// ReadFile returns a copy of a file's current content.
func (m *MemFS) ReadFile(name string) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	name = memClean(name)
	d, err := m.dirLocked(path.Dir(name))
	if err != nil {
		return nil, err
	}
	n, ok := d.cur[path.Base(name)]
	if !ok {
		return nil, &fs.PathError{Op: "read", Path: name, Err: fs.ErrNotExist}
	}
	return append([]byte(nil), n.data...), nil
}

// WriteFile creates or replaces a file with durable content.
func (m *MemFS) WriteFile(name string, data []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	name = memClean(name)
	d, err := m.dirLocked(path.Dir(name))
	if err != nil {
		return err
	}
	n := &memNode{data: append([]byte(nil), data...), synced: append([]byte(nil), data...)}
	d.cur[path.Base(name)] = n
	d.durable[path.Base(name)] = n
	return nil
}

type memFile struct {
	fs     *MemFS
	node   *memNode
	name   string
	ro     bool
	closed bool
}

var errMemClosed = errors.New("memfs: file closed")

func (f *memFile) ReadAt(p []byte, off int64) (int, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if f.closed {
		return 0, errMemClosed
	}
	if off >= int64(len(f.node.data)) {
		return 0, io.EOF
	}
	n := copy(p, f.node.data[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (f *memFile) WriteAt(p []byte, off int64) (int, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if f.closed || f.ro {
		return 0, errMemClosed
	}
	f.fs.writes++
	if err := f.fs.tickLocked(); err != nil {
		return 0, err
	}
	if err := f.fs.failWrite; err != nil {
		f.fs.failWrite = nil
		return 0, err
	}
	f.node.data = writeAt(f.node.data, p, off)
	f.node.pending = append(f.node.pending, fileOp{off: off, data: append([]byte(nil), p...)})
	return len(p), nil
}

func (f *memFile) Sync() error {
	f.fs.mu.Lock()
	d := f.fs.latency
	f.fs.mu.Unlock()
	if d > 0 {
		time.Sleep(d)
	}
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if f.closed {
		return errMemClosed
	}
	f.fs.syncs++
	if err := f.fs.tickLocked(); err != nil {
		return err
	}
	if err := f.fs.failSync; err != nil {
		f.fs.failSync = nil
		return err
	}
	f.node.synced = append(f.node.synced[:0], f.node.data...)
	f.node.pending = nil
	return nil
}

func (f *memFile) Truncate(size int64) error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if f.closed || f.ro {
		return errMemClosed
	}
	if f.fs.lost {
		return ErrPowerLost
	}
	f.node.data = resize(f.node.data, size)
	f.node.pending = append(f.node.pending, fileOp{off: size, truncate: true})
	return nil
}

// Preallocate grows the file with zeros, as fallocate does. Like a size
// change by Truncate, the new size is durable only after a Sync: a power
// loss before it may keep it or not.
func (f *memFile) Preallocate(size int64) error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if f.closed || f.ro {
		return errMemClosed
	}
	if f.fs.lost {
		return ErrPowerLost
	}
	if size > int64(len(f.node.data)) {
		f.node.data = resize(f.node.data, size)
		f.node.pending = append(f.node.pending, fileOp{off: size, truncate: true})
	}
	return nil
}

// DataEnd reports the end of the last sector that holds a nonzero byte: a
// valid answer (everything after it reads as zero) that lets the tests run
// recovery's short read of the active segment, as on a real disk where
// preallocated space is a hole.
func (f *memFile) DataEnd(size int64) (int64, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	d := f.node.data[:min(size, int64(len(f.node.data)))]
	end := len(d)
	for end > 0 && d[end-1] == 0 {
		end--
	}
	return min(size, (int64(end)+SectorSize-1)/SectorSize*SectorSize), nil
}

func (f *memFile) Size() (int64, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	return int64(len(f.node.data)), nil
}

func (f *memFile) Close() error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	f.closed = true
	return nil
}
