package log

import (
	"io/fs"
	"os"
	"path/filepath"
	"sort"

	"golang.org/x/sys/unix"
)

// FS is the file system the log reaches the disk through. The real one is
// OSFS; tests use MemFS, which can fail writes and syncs and simulate a
// power loss. Paths are slash- or OS-separated paths as given to Open.
type FS interface {
	// OpenFile opens a file with os.O_* flags (O_RDONLY, O_RDWR, O_CREATE,
	// O_EXCL, O_TRUNC are the ones the log uses).
	OpenFile(name string, flag int, perm fs.FileMode) (File, error)
	// ReadDir returns the names of the entries of dir, sorted.
	ReadDir(dir string) ([]string, error)
	// Rename atomically replaces newpath with oldpath.
	Rename(oldpath, newpath string) error
	// Remove removes a file.
	Remove(name string) error
	// MkdirAll creates a directory and its parents.
	MkdirAll(dir string, perm fs.FileMode) error
	// SyncDir makes the creations, renames and removals in dir durable.
	SyncDir(dir string) error
}

// File is an open file of an FS.
type File interface {
	ReadAt(p []byte, off int64) (int, error)
	WriteAt(p []byte, off int64) (int, error)
	// Sync makes the file's data and size durable (fdatasync is enough).
	Sync() error
	Truncate(size int64) error
	Size() (int64, error)
	Close() error
}

// preallocator is a File that can reserve space ahead of the writes:
// once a segment's size is fixed, an fdatasync after an append has only
// data to flush, not a new file size.
type preallocator interface {
	Preallocate(size int64) error
}

// preallocate grows f to size (zero-filled) when f supports it and is
// smaller; other files are left alone, since the space is only an
// optimization.
func preallocate(f File, size int64) error {
	p, ok := f.(preallocator)
	if !ok || size <= 0 {
		return nil
	}
	if cur, err := f.Size(); err != nil || cur >= size {
		return err
	}
	return p.Preallocate(size)
}

// dataEnder is a File that can tell where its data ends: every byte from
// the returned offset to size reads as zero (holes and space preallocated
// but never written). Recovery then reads only what comes before it. An
// offset that is too high is always safe; one that is too low is not.
type dataEnder interface {
	DataEnd(size int64) (int64, error)
}

// dataEnd is f's DataEnd when it has one, else size.
func dataEnd(f File, size int64) int64 {
	if d, ok := f.(dataEnder); ok {
		if end, err := d.DataEnd(size); err == nil && end >= 0 && end < size {
			return end
		}
	}
	return size
}

// OSFS is the real file system.
type OSFS struct{}

// OpenFile implements FS.
func (OSFS) OpenFile(name string, flag int, perm fs.FileMode) (File, error) {
	f, err := os.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &osFile{File: f, fd: int(f.Fd())}, nil
}

// ReadDir implements FS.
func (OSFS) ReadDir(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(ents))
	for _, e := range ents {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	return names, nil
}

// Rename implements FS.
func (OSFS) Rename(oldpath, newpath string) error { return os.Rename(oldpath, newpath) }

// Remove implements FS.
func (OSFS) Remove(name string) error { return os.Remove(name) }

// MkdirAll implements FS.
func (OSFS) MkdirAll(dir string, perm fs.FileMode) error { return os.MkdirAll(dir, perm) }

// SyncDir implements FS: fsync on the directory itself, without which a new
// or renamed segment can vanish on power loss even though its data was synced.
func (OSFS) SyncDir(dir string) error {
	d, err := os.Open(filepath.Clean(dir))
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

type osFile struct {
	*os.File
	fd int
}

// Preallocate allocates the file's blocks up to size and sets its size.
// A file system without fallocate gets no preallocation: the file then
// grows with the writes, which is slower but as safe.
func (f *osFile) Preallocate(size int64) error {
	err := unix.Fallocate(f.fd, 0, 0, size)
	if err == unix.EOPNOTSUPP || err == unix.ENOSYS {
		return nil
	}
	return err
}

// DataEnd finds the end of the file's last data region with
// lseek(SEEK_DATA/SEEK_HOLE). Preallocated space that was never written
// is a hole to it (ext4, XFS, btrfs and tmpfs report unwritten extents so,
// unless the page cache holds data for them), and reads as zeros. On a
// file system without SEEK_DATA the whole file is data. Only pread and
// pwrite touch this descriptor, so moving its offset is harmless.
func (f *osFile) DataEnd(size int64) (int64, error) {
	end := int64(0)
	for off := int64(0); off < size; {
		d, err := unix.Seek(f.fd, off, unix.SEEK_DATA)
		if err == unix.ENXIO {
			break // only a hole from off to the end of the file
		}
		if err != nil {
			return size, err
		}
		h, err := unix.Seek(f.fd, d, unix.SEEK_HOLE)
		if err != nil {
			return size, err
		}
		if h <= d {
			return size, nil // cannot happen; read everything rather than guess
		}
		end, off = h, h
	}
	return min(end, size), nil
}

// Sync uses fdatasync: the log never depends on mtime, and fdatasync still
// flushes a changed file size, so it is as safe as fsync here and cheaper.
func (f *osFile) Sync() error {
	for {
		err := unix.Fdatasync(f.fd)
		if err != unix.EINTR {
			return err
		}
	}
}

func (f *osFile) Size() (int64, error) {
	st, err := f.File.Stat()
	if err != nil {
		return 0, err
	}
	return st.Size(), nil
}
