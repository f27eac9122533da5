package main

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"
)

// FsyncResult is the raw durable-write rate of the disk: one writer
// appending a record and waiting for fdatasync, in a loop.
type FsyncResult struct {
	Ops      uint64
	Elapsed  time.Duration
	Hist     Histogram
	RecordSz int
	CPU      CPUShare // the loop is the client here: its CPU is what fdatasync costs the caller
}

// Rate returns the writes per second.
func (r *FsyncResult) Rate() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Ops) / r.Elapsed.Seconds()
}

// measureFsync appends size-byte records to a new file in dir, each
// followed by fdatasync, for d (after warmup), the way a log with one
// writer and no group commit would. The file grows as it goes, like the
// log's tail; it is removed afterwards.
func measureFsync(dir string, size int, warmup, d time.Duration, progress *Progress) (*FsyncResult, error) {
	path := filepath.Join(dir, "raw-fsync.dat")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, err
	}
	defer os.Remove(path)
	defer f.Close()
	fd := int(f.Fd())
	rec := make([]byte, size)
	for i := range rec {
		rec[i] = byte('a' + i%26)
	}
	res := &FsyncResult{RecordSz: size}
	var off int64
	write := func() error {
		if _, err := unix.Pwrite(fd, rec, off); err != nil {
			return fmt.Errorf("raw fsync: pwrite at %d: %w", off, err)
		}
		off += int64(size)
		if err := unix.Fdatasync(fd); err != nil {
			return fmt.Errorf("raw fsync: fdatasync: %w", err)
		}
		return nil
	}
	for end := time.Now().Add(warmup); time.Now().Before(end); {
		if err := write(); err != nil {
			return nil, err
		}
	}
	progress.Begin("raw write+fdatasync", 1, d)
	cpu0 := sampleCPU(nil)
	start := time.Now()
	end := start.Add(d)
	for {
		t0 := time.Now()
		if t0.After(end) {
			break
		}
		if err := write(); err != nil {
			return nil, err
		}
		res.Hist.Record(time.Since(t0))
		res.Ops++
		progress.Add(1)
	}
	res.Elapsed = time.Since(start)
	res.CPU = cpu0.Share(sampleCPU(nil), numCPU())
	progress.End()
	return res, nil
}
