package peers

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"

	wal "github.com/lithair/lithair/log"
	"github.com/lithair/lithair/raftlog"
)

// OpenEntrySize and OpenEntries make the log of the open benchmark: 2^20
// entries of 1 KiB, a little over 1 GiB on disk with framing.
const (
	OpenEntrySize = 1 << 10
	OpenEntries   = 1 << 20
	openBatch     = 1024
)

// BuildLog writes OpenEntries entries of OpenEntrySize bytes into an empty
// store of kind (StoreLithair or StoreRaftWAL, default options) in dir
// through StoreLogs, in batches of 1024, and closes it.
func BuildLog(kind, dir string) error {
	s, err := openStore(kind, dir)
	if err != nil {
		return err
	}
	logs := template(openBatch, OpenEntrySize)
	for first := uint64(1); first <= OpenEntries; first += openBatch {
		for i, l := range logs {
			l.Index = first + uint64(i)
		}
		if err := s.ls.StoreLogs(logs); err != nil {
			s.close()
			return fmt.Errorf("%s: build at %d: %w", kind, first, err)
		}
	}
	return s.close()
}

// OpenLog opens the store built by BuildLog and checks its bounds; it
// returns the time Open took (the check and Close are not counted).
func OpenLog(kind, dir string) (time.Duration, error) {
	var (
		d           time.Duration
		first, last uint64
		closeFn     func() error
	)
	switch kind {
	case StoreLithair:
		t0 := time.Now()
		l, err := wal.Open(filepath.Join(dir, "lithair"), wal.Options{})
		d = time.Since(t0)
		if err != nil {
			return 0, err
		}
		ls := raftlog.NewLogStore(l)
		first, _ = ls.FirstIndex()
		last, _ = ls.LastIndex()
		closeFn = l.Close
	case StoreRaftWAL:
		t0 := time.Now()
		w, c, err := openRaftWAL(filepath.Join(dir, "raft-wal"))
		d = time.Since(t0)
		if err != nil {
			return 0, err
		}
		first, _ = w.FirstIndex()
		last, _ = w.LastIndex()
		closeFn = c
	default:
		return 0, fmt.Errorf("no open benchmark for %q", kind)
	}
	if err := closeFn(); err != nil {
		return 0, err
	}
	if first != 1 || last != OpenEntries {
		return 0, fmt.Errorf("%s: reopened log holds [%d, %d], want [1, %d]", kind, first, last, OpenEntries)
	}
	return d, nil
}

// DirBytes returns the number of files and bytes under dir.
func DirBytes(dir string) (files int, bytes int64, err error) {
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		files++
		bytes += fi.Size()
		return nil
	})
	return files, bytes, err
}

// EvictCache drops the page cache of every file under dir (fsync, then
// posix_fadvise DONTNEED), so that the next Open reads from the disk
// without touching the rest of the machine's cache.
func EvictCache(dir string) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := f.Sync(); err != nil {
			return err
		}
		return unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED)
	})
}
