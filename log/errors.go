package log

import (
	"errors"
	"syscall"
)

// ErrNotFound is returned by Read for an index outside [FirstIndex, LastIndex].
var ErrNotFound = errors.New("log: index not found")

// ErrCorrupt reports damage that recovery must not repair on its own: a bad
// checksum or seal inside a sealed segment, a missing segment, an index gap,
// or damage in the active segment before data that is known to have been
// fsync'd. The wrapped message names the segment file and the byte offset.
var ErrCorrupt = errors.New("log: corrupt")

// ErrClosed is returned by every method called after Close.
var ErrClosed = errors.New("log: closed")

// ErrBroken is returned by Append (and the truncations) after a write or an
// fsync failed. The failed write is never retried or acknowledged, because
// after a failed fsync the kernel may already have dropped the dirty pages:
// the only safe way on is to reopen the log, which re-reads what really is on
// disk. The error wraps the original cause.
var ErrBroken = errors.New("log: broken by an earlier write or sync failure; reopen the log")

// ErrOutOfOrder is returned by Append when the entries are not contiguous or
// the first one does not follow LastIndex.
var ErrOutOfOrder = errors.New("log: entries out of order")

// ErrTooLarge is returned by Append for an entry larger than MaxEntrySize or
// a batch larger than maxBatchBytes.
var ErrTooLarge = errors.New("log: entry or batch too large")

// ErrNoSpace is returned by Append when the file system has no room for
// the batch. Nothing of the batch was written: the writer claims the
// blocks a round will write (fallocate) before writing them, so a full
// disk shows here and never as a torn write. The log stays usable, and
// the same Append succeeds once space is freed. The error wraps the
// file system's own (ENOSPC or EDQUOT).
var ErrNoSpace = errors.New("log: no space left on the device")

// isNoSpace reports whether err is the file system saying it is full.
func isNoSpace(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}
