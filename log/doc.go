// Package log is Lithair's segmented append-only log: the storage under
// hashicorp/raft's LogStore. It knows bytes and indexes only.
//
// # Files
//
// A log directory holds segment files, an optional archive/ subdirectory,
// and transient *.tmp files (removed by Open):
//
//	DIR/00000000000000000001-00000000000000000001.seg
//	DIR/00000000000000052001-00000000000000052001.seg
//	DIR/00000000000000104001-00000000000000104001.seg   <- active (last, unsealed)
//	DIR/archive/00000000000000000001-00000000000000052000-1795820000.seg.zst
//
// A segment is named <base>-<first>.seg, both %020d. base is the index of
// the first frame in the file and never changes. first is the log's first
// index: TruncateFront in the middle of a segment renames it (atomically,
// then fsyncs the directory) from <base>-<base> to <base>-<first>. That
// rename is the commit point of a front truncation, so no separate head
// file is needed: on Open, the last segment whose first differs from its
// base gives FirstIndex, and segments before it are dead leftovers of an
// interrupted truncation (archived or deleted again). Otherwise FirstIndex
// is the base of the first segment and LastIndex the last whole frame. An
// emptied log has no segment files at all, so it accepts any next index, and
// whatever index it got survives reopen because it names the new segment.
// Names sort by base because the digits are zero-padded.
//
// The directory is fsync'd after every segment is created, renamed or
// removed. Removals go one at a time (oldest first for TruncateFront,
// newest first for TruncateBack), each followed by a directory fsync, so a
// crash never leaves a hole between surviving segments.
//
// # Segment layout
//
// All integers are little-endian. Every frame starts at an 8-byte aligned
// offset.
//
//	segment header (32 bytes, offset 0)
//	+--------+--------+--------+--------+--------+--------+--------+--------+
//	| magic "LITHSEG1"                                                      |  0
//	+--------+--------+--------+--------+--------+--------+--------+--------+
//	| format version (u32) = 1          | reserved (u32) = 0                |  8
//	+--------+--------+--------+--------+--------+--------+--------+--------+
//	| base index (u64)                                                      | 16
//	+--------+--------+--------+--------+--------+--------+--------+--------+
//	| xxhash64 of bytes 0..24 (u64)                                         | 24
//	+--------+--------+--------+--------+--------+--------+--------+--------+
//
//	frame (32-byte header, payload, zero padding to a multiple of 8)
//	+--------+--------+--------+--------+--------+--------+--------+--------+
//	| payload length (u32)              | kind (u16)      | reserved (u16)  |  0
//	+--------+--------+--------+--------+--------+--------+--------+--------+
//	| checksum: xxhash64 of header bytes 0..8 and 16..32, then the payload  |  8
//	+--------+--------+--------+--------+--------+--------+--------+--------+
//	| index (u64): the entry's index; for an index frame, the base index    | 16
//	+--------+--------+--------+--------+--------+--------+--------+--------+
//	| synced (u64): bytes of this segment known fsync'd when written        | 24
//	+--------+--------+--------+--------+--------+--------+--------+--------+
//	| payload ... (length bytes)                    | padding (0-7 zeros)   | 32
//	+--------+--------+--------+--------+--------+--------+--------+--------+
//
// kind 1 is an entry. kind 2 is the index frame written when a segment is
// sealed: its payload is one u32 offset per entry. A sealed segment ends
// with a 32-byte trailer right after the index frame:
//
//	seal trailer (last 32 bytes of a sealed segment)
//	+--------+--------+--------+--------+--------+--------+--------+--------+
//	| offset of the index frame (u64)                                       |  0
//	| last index in the segment (u64)                                       |  8
//	| xxhash64 of bytes 0..16 and 24..32 (u64)                              | 16
//	| magic "LITHSEAL"                                                      | 24
//	+--------+--------+--------+--------+--------+--------+--------+--------+
//
// Payload lengths above 256 MiB are rejected before anything is allocated;
// Append accepts entries up to MaxEntrySize (64 MiB).
//
// Before the first write after the active segment passes
// Options.SegmentSize, the writer seals it (index frame + trailer, fsync)
// and creates the next segment (header, fsync, directory fsync). Entries are
// only ever written into a segment whose header is already durable.
//
// # Preallocation
//
// The active segment is preallocated (fallocate) to SegmentSize plus
// min(SegmentSize, 1 MiB) of zeros when it is created, and again at Open:
// with the file's size fixed, the fdatasync that acknowledges an append
// flushes data only, not a new size, which makes each acknowledgement
// markedly cheaper. Recovery treats zeros after the last whole frame of the
// active segment as free space (a sector that never reached the disk reads
// as zeros too, and is the same: nothing acknowledged was there). Sealing
// truncates the file to end with its trailer. File systems without
// fallocate simply grow the file.
//
// fallocate's blocks are "unwritten": the first write into each makes the
// file system convert it once the data is on disk (ext4 in a worker
// thread, then an inode write), and the fdatasync that acknowledges the
// append waits for that. So a write round of at most 256 KiB that ends
// past the zeros written so far also writes zeros up to 1 MiB beyond its
// last frame (never past the preallocated size): the next rounds land in
// written blocks, and small appends pay the conversion once per MiB
// instead of once per 4 KiB block. These zeros are free space like the
// others.
//
// # Open, and what recovery does
//
// Open reads only the header and trailer of each sealed segment, so it is
// fast however long the log is; the index frame of a sealed segment is
// loaded (and checked) on its first Read, and every frame's checksum is
// checked each time it is read. Verify reads everything.
//
// The last segment is read up to its data end: where the file system says
// (lseek SEEK_DATA/SEEK_HOLE) that only holes follow, that is preallocated
// space never written, which reads as zeros. Its frames are read in chunks
// and checked in order. If they are whole and only zeros follow them, that
// is the answer; otherwise the whole file is read and decided as follows.
// At the first frame that is cut short, fails its checksum, has the wrong
// index or is garbage (a torn sector), recovery must decide: torn tail or
// damage? (Zeros alone are not damage: see Preallocation above.) The synced
// field settles it. Every frame records how many bytes of its segment were
// already fsync'd when it was written, and a torn write can only damage
// bytes after that point. So recovery looks beyond the bad offset for any
// valid frame whose synced value is above the bad offset: if one exists,
// the bad bytes had been fsync'd (they may hold acknowledged entries) and
// Open fails with ErrCorrupt naming the file and offset. If none exists,
// the rest of the file is a torn tail: it is truncated to the end of the
// last whole frame, and the file is fsync'd. A last segment whose header is
// torn (and that no frame proves synced) held nothing durable and is
// removed; so is a last segment left with no entry. A sealed last segment
// keeps its seal only if the index frame and trailer are whole.
//
// The limit of this rule: damage to the last frames of the active segment
// that no later write vouches for (a bit flip in the very last batch, say)
// looks exactly like a torn write and is truncated. Only the last batch
// written before the crash (the last fsync round) is ever in that position.
//
// Damage anywhere else is ErrCorrupt naming the file and byte offset:
// a bad header or trailer of a sealed segment, a segment whose base does not
// follow its predecessor's last index (a missing segment or an index gap),
// a bad frame inside a sealed segment (found by Read or Verify). Every such
// error wraps ErrCorrupt and reads
// "log: corrupt: segment NAME offset N: reason".
//
// # Writes and sync modes
//
// Append encodes a batch into one buffer and writes it with one pwrite
// (and a second one of zeros, once per MiB: see Preallocation).
// Concurrent appenders are group-committed: while one goroutine writes and
// fsyncs, later batches queue, and the next goroutine to take the write path
// writes them all with one pwrite and one fsync. Under SyncAlways (default)
// no Append returns before its fsync (fdatasync on Linux). Under
// SyncPeriodic an Append returns after the pwrite and a background goroutine
// fsyncs every SyncInterval (default 10ms): a process crash loses nothing,
// but a power loss or kernel panic loses up to the last interval of
// acknowledged entries, which breaks Raft's promise to its peers. A failed
// write or fsync is never retried (after a failed fsync Linux may have
// dropped the dirty pages, so a retry could report success for data that is
// gone): the log turns broken and every later Append returns ErrBroken until
// it is reopened and recovery reads what really reached the disk.
//
// Options.OnSync, when set, receives the duration of every successful
// fsync of a segment file, for a latency histogram.
//
// Readers hold the lock only to find an entry's segment and offset; the
// read and checksum happen without it. Read returns a fresh slice.
//
// # Archive
//
// With Options.Archive, TruncateFront does not delete whole sealed segments
// below the new first index: it writes a zstd copy of the sealed file (the
// same bytes, header to trailer) as
// archive/<base>-<last>-<unix seconds>.seg.zst (temp file, fsync, rename,
// directory fsync) before removing the original. TruncateFront past the end
// seals and archives the active segment too. Scan reads the archive and
// then the live segments. With Options.Retention > 0, TruncateFront deletes
// archived segments archived longer ago than that.
package log
