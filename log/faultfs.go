package log

import (
	"io/fs"
	"path/filepath"
	"sync"
	"syscall"
)

// FaultFS wraps an FS with the failures of a real disk, for tests of the
// log and of what is built on it: a capacity past which writes and
// preallocations fail with ENOSPC, and a write or an fsync that fails
// with EIO at every Nth call. It counts the bytes of the files it has
// seen (opened, created, grown), which is what a data dir holds.
type FaultFS struct {
	FS
	mu        sync.Mutex
	capacity  int64            // 0: unlimited
	sizes     map[string]int64 // clean path -> bytes counted
	used      int64
	writeN    int // fail every writeN-th write; 0: never
	syncN     int
	writes    int
	syncs     int
	failedOps int
}

// NewFaultFS wraps inner (OSFS, MemFS) with no fault armed.
func NewFaultFS(inner FS) *FaultFS {
	return &FaultFS{FS: inner, sizes: map[string]int64{}}
}

// SetCapacity makes writes that would take the counted bytes past
// capacity fail with ENOSPC; 0 lifts the limit.
func (f *FaultFS) SetCapacity(capacity int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.capacity = capacity
}

// Used is the number of bytes counted in the files seen so far.
func (f *FaultFS) Used() int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.used
}

// FailEvery makes every writeN-th WriteAt and every syncN-th Sync (file
// or directory) fail with EIO; 0 disarms either.
func (f *FaultFS) FailEvery(writeN, syncN int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.writeN, f.syncN, f.writes, f.syncs = writeN, syncN, 0, 0
}

// Failed counts the operations FaultFS has failed.
func (f *FaultFS) Failed() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.failedOps
}

// grow accounts a file growing to size, or refuses with ENOSPC.
func (f *FaultFS) grow(name string, size int64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	cur := f.sizes[name]
	if size <= cur {
		return nil
	}
	if f.capacity > 0 && f.used+size-cur > f.capacity {
		f.failedOps++
		return &fs.PathError{Op: "write", Path: name, Err: syscall.ENOSPC}
	}
	f.used += size - cur
	f.sizes[name] = size
	return nil
}

func (f *FaultFS) setSize(name string, size int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.used += size - f.sizes[name]
	f.sizes[name] = size
}

func (f *FaultFS) forget(name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.used -= f.sizes[name]
	delete(f.sizes, name)
}

// tick counts one write (or sync) and says whether it is the one to fail.
func (f *FaultFS) tick(sync bool) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	n, count := f.writeN, &f.writes
	if sync {
		n, count = f.syncN, &f.syncs
	}
	*count++
	if n > 0 && *count%n == 0 {
		f.failedOps++
		return true
	}
	return false
}

// OpenFile implements FS.
func (f *FaultFS) OpenFile(name string, flag int, perm fs.FileMode) (File, error) {
	file, err := f.FS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	clean := filepath.Clean(name)
	size, err := file.Size()
	if err != nil {
		file.Close()
		return nil, err
	}
	f.setSize(clean, size)
	return &faultFile{File: file, fs: f, name: clean}, nil
}

// Rename implements FS.
func (f *FaultFS) Rename(oldpath, newpath string) error {
	if err := f.FS.Rename(oldpath, newpath); err != nil {
		return err
	}
	oldpath, newpath = filepath.Clean(oldpath), filepath.Clean(newpath)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.used -= f.sizes[newpath]
	f.sizes[newpath] = f.sizes[oldpath]
	delete(f.sizes, oldpath)
	return nil
}

// Remove implements FS.
func (f *FaultFS) Remove(name string) error {
	if err := f.FS.Remove(name); err != nil {
		return err
	}
	f.forget(filepath.Clean(name))
	return nil
}

// SyncDir implements FS.
func (f *FaultFS) SyncDir(dir string) error {
	if f.tick(true) {
		return &fs.PathError{Op: "fsync", Path: dir, Err: syscall.EIO}
	}
	return f.FS.SyncDir(dir)
}

type faultFile struct {
	File
	fs   *FaultFS
	name string
}

func (f *faultFile) WriteAt(p []byte, off int64) (int, error) {
	if f.fs.tick(false) {
		return 0, &fs.PathError{Op: "write", Path: f.name, Err: syscall.EIO}
	}
	if err := f.fs.grow(f.name, off+int64(len(p))); err != nil {
		return 0, err
	}
	return f.File.WriteAt(p, off)
}

func (f *faultFile) Sync() error {
	if f.fs.tick(true) {
		return &fs.PathError{Op: "fsync", Path: f.name, Err: syscall.EIO}
	}
	return f.File.Sync()
}

func (f *faultFile) Truncate(size int64) error {
	if err := f.File.Truncate(size); err != nil {
		return err
	}
	f.fs.setSize(f.name, size)
	return nil
}

// Preallocate claims space like fallocate: ENOSPC past the capacity.
func (f *faultFile) Preallocate(size int64) error {
	if err := f.fs.grow(f.name, size); err != nil {
		return err
	}
	return preallocate(f.File, size)
}

// DataEnd passes the inner file's answer on, or says the whole file is
// data when the inner file cannot tell.
func (f *faultFile) DataEnd(size int64) (int64, error) {
	if d, ok := f.File.(interface {
		DataEnd(int64) (int64, error)
	}); ok {
		return d.DataEnd(size)
	}
	return size, nil
}
