package lithair

import (
	"bufio"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	"github.com/klauspost/compress/zstd"

	"github.com/lithair/lithair/index"
	wal "github.com/lithair/lithair/log"
	"github.com/lithair/lithair/raftlog"
)

// A backup is one zstd stream (zstd's frame checksum on) of:
//
//	"LITHAIR-BACKUP 1\n"
//	header: BackupInfo as one line of JSON, then "\n"
//	the Raft snapshot, as chunks: uvarint length | bytes; a 0 length ends it
//	the history: log entries up to the snapshot's index, oldest first, each
//	    uvarint index | uvarint length | the entry as the log stores it;
//	    an index of 0 ends it
//	"SHA256 " hex(sha256 of every byte above) "\n"
//
// The history is the event log (archive included) up to the snapshot's
// index: restoring it keeps record histories, time travel and the audit
// trail, which read past events from the log. The restored node's log
// starts empty after it, at index+1.
//
// The snapshot is the state machine's own snapshot stream (records, rules,
// projections; see raftlog/snapshot.go), taken by Raft at one log index:
// it is consistent by construction. The header carries that index, its
// term and the cluster configuration, which is what a restore needs to
// seed a data dir. Chunks let a backup be streamed as it is read from the
// snapshot store, without knowing its size first. Nothing of a backup is
// trusted before the final checksum has held.
const backupMagic = "LITHAIR-BACKUP 1\n"

const (
	backupFormat = 1
	chunkSize    = 256 << 10
	// maxBackupHeader bounds the header line a reader accepts.
	maxBackupHeader = 1 << 20
)

// Errors a backup or restore caller tells apart.
var (
	// ErrBackupCorrupt means a backup failed a check: it is truncated,
	// damaged or not a Lithair backup. Nothing was restored from it.
	ErrBackupCorrupt = errors.New("lithair: backup is corrupt")
	// ErrNotEmpty means restore was asked to write into a data dir that
	// already holds something.
	ErrNotEmpty = errors.New("lithair: data dir is not empty")
)

// BuildVersion is the version of the binary, recorded in backups;
// cmd/lithair sets it.
var BuildVersion = "dev"

// BackupInfo describes a backup. The fields up to Configuration are its
// header; the others are filled in as it is written or read.
type BackupInfo struct {
	Format    int       `json:"format"`
	Lithair   string    `json:"lithair_version"`
	NodeID    string    `json:"node_id"`
	CreatedAt time.Time `json:"created_at"`
	// Index and Term are those of the last log entry the state includes.
	Index              uint64         `json:"index"`
	Term               uint64         `json:"term"`
	ConfigurationIndex uint64         `json:"configuration_index"`
	Configuration      []BackupServer `json:"configuration"`

	// SnapshotBytes is the size of the snapshot inside the backup.
	SnapshotBytes int64 `json:"snapshot_bytes,omitempty"`
	// Bytes is the size of the backup as written or read (compressed).
	Bytes int64 `json:"bytes,omitempty"`
	// SHA256 is the checksum the backup ends with.
	SHA256 string `json:"sha256,omitempty"`
	// HistoryFirst and HistoryLast bound the log entries the backup
	// carries (0 when none: the archive's retention removed them).
	HistoryFirst uint64 `json:"history_first,omitempty"`
	HistoryLast  uint64 `json:"history_last,omitempty"`
	// StateHash is the digest of the records (see Appliance.StateHash);
	// set by VerifyBackup and RestoreBackup, which decode the state.
	StateHash string `json:"state_hash,omitempty"`
	// Records counts the live records; set with StateHash.
	Records int `json:"records,omitempty"`
}

// BackupServer is one member of the cluster configuration in a backup.
type BackupServer struct {
	ID       string `json:"id"`
	Address  string `json:"address"`
	Suffrage string `json:"suffrage"`
}

// Backup writes a backup of the state to w: Raft takes a snapshot at the
// current applied index (or, when nothing was applied since the last
// one, the last snapshot is used: it is the current state), and it is
// streamed to w through zstd as it is read, followed by the log's entries
// up to that index (the history). Writes go on meanwhile. Nothing is
// held in memory beyond one log segment.
//
// It returns the backup's info; on error, what was written to w is not a
// valid backup (its checksum is missing) and the caller must discard it.
// Backup is safe to call concurrently; each call takes its own snapshot.
func (a *Appliance) Backup(w io.Writer) (BackupInfo, error) {
	if !a.Ready() {
		return BackupInfo{}, ErrNotReady
	}
	meta, rc, err := a.openSnapshotNow()
	if err != nil {
		return BackupInfo{}, err
	}
	defer rc.Close()
	info := newBackupInfo(a.cfg.Raft.NodeID, meta.Index, meta.Term, meta.ConfigurationIndex, meta.Configuration)
	err = writeBackup(w, &info, func(sw io.Writer) error {
		_, err := io.Copy(sw, rc)
		return err
	}, logHistory(a.log, meta.Index))
	return info, err
}

// logHistory reads the log's entries (archive first) up to last. The
// entries up to an applied index never change, and Scan keeps segments
// from moving to the archive while it reads; appends go on.
func logHistory(l *wal.Log, last uint64) func(emit func(uint64, []byte) error) error {
	return func(emit func(uint64, []byte) error) error {
		var ferr error
		err := l.Scan(1, func(idx uint64, data []byte) bool {
			if idx > last {
				return false
			}
			ferr = emit(idx, data)
			return ferr == nil
		})
		if ferr != nil {
			return ferr
		}
		return err
	}
}

// openSnapshotNow asks Raft for a snapshot and opens it.
func (a *Appliance) openSnapshotNow() (*raft.SnapshotMeta, io.ReadCloser, error) {
	f := a.raft.Snapshot()
	err := f.Error()
	if err == nil {
		return f.Open()
	}
	if !errors.Is(err, raft.ErrNothingNewToSnapshot) {
		return nil, nil, fmt.Errorf("lithair: taking a snapshot for the backup: %w", err)
	}
	// Nothing was applied since the newest snapshot: it is the state now.
	snaps, err := raftlog.NewSnapshotStore(wal.OSFS{}, a.cfg.EventStore.Dir, 2, quietLogger())
	if err != nil {
		return nil, nil, err
	}
	list, err := snaps.List()
	if err != nil {
		return nil, nil, err
	}
	if len(list) == 0 {
		return nil, nil, errors.New("lithair: nothing to back up yet")
	}
	return snaps.Open(list[0].ID)
}

func quietLogger() hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{Name: "raft", Level: hclog.Error, Output: io.Discard})
}

func newBackupInfo(node string, idx, term, confIdx uint64, conf raft.Configuration) BackupInfo {
	info := BackupInfo{Format: backupFormat, Lithair: BuildVersion, NodeID: node, CreatedAt: time.Now().UTC().Truncate(time.Millisecond),
		Index: idx, Term: term, ConfigurationIndex: confIdx}
	for _, s := range conf.Servers {
		info.Configuration = append(info.Configuration, BackupServer{ID: string(s.ID), Address: string(s.Address), Suffrage: s.Suffrage.String()})
	}
	return info
}

// countingWriter counts the bytes that reach w.
type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// chunkWriter frames what it is given as length-prefixed chunks.
type chunkWriter struct {
	w   io.Writer
	n   int64
	hdr [binary.MaxVarintLen64]byte
}

func (c *chunkWriter) Write(p []byte) (int, error) {
	total := 0
	for len(p) > 0 {
		n := min(len(p), chunkSize)
		k := binary.PutUvarint(c.hdr[:], uint64(n))
		if _, err := c.w.Write(c.hdr[:k]); err != nil {
			return total, err
		}
		if _, err := c.w.Write(p[:n]); err != nil {
			return total, err
		}
		total += n
		c.n += int64(n)
		p = p[n:]
	}
	return total, nil
}

// writeBackup writes the header, the snapshot that body writes, and the
// checksum, through zstd, to w. It fills in info's sizes and checksum.
func writeBackup(w io.Writer, info *BackupInfo, body func(io.Writer) error, history func(emit func(uint64, []byte) error) error) error {
	cw := &countingWriter{w: w}
	zw, err := zstd.NewWriter(cw, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1))
	if err != nil {
		return err
	}
	defer zw.Close()
	sum := sha256.New()
	bw := bufio.NewWriterSize(io.MultiWriter(zw, sum), 1<<16)
	// The header leaves out what is only known at the end.
	head := *info
	head.SnapshotBytes, head.Bytes, head.SHA256, head.StateHash, head.Records = 0, 0, "", "", 0
	hdr, err := json.Marshal(head)
	if err != nil {
		return err
	}
	bw.WriteString(backupMagic)
	bw.Write(hdr)
	bw.WriteString("\n")
	chunks := &chunkWriter{w: bw}
	if err := body(chunks); err != nil {
		return fmt.Errorf("lithair: writing the backup: %w", err)
	}
	bw.WriteByte(0) // the empty chunk that ends the snapshot
	var prev uint64
	var hdrBuf [2 * binary.MaxVarintLen64]byte
	err = history(func(idx uint64, data []byte) error {
		if prev != 0 && idx != prev+1 {
			return fmt.Errorf("lithair: the log jumps from index %d to %d", prev, idx)
		}
		if info.HistoryFirst == 0 {
			info.HistoryFirst = idx
		}
		prev, info.HistoryLast = idx, idx
		k := binary.PutUvarint(hdrBuf[:], idx)
		k += binary.PutUvarint(hdrBuf[k:], uint64(len(data)))
		bw.Write(hdrBuf[:k])
		_, err := bw.Write(data)
		return err
	})
	if err != nil {
		return fmt.Errorf("lithair: writing the history: %w", err)
	}
	bw.WriteByte(0) // index 0 ends the history
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("lithair: writing the backup: %w", err)
	}
	info.SnapshotBytes = chunks.n
	info.SHA256 = hex.EncodeToString(sum.Sum(nil))
	if _, err := io.WriteString(zw, "SHA256 "+info.SHA256+"\n"); err != nil {
		return fmt.Errorf("lithair: writing the backup: %w", err)
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("lithair: writing the backup: %w", err)
	}
	info.Bytes = cw.n
	return nil
}

// backupReader reads a backup, hashing everything before the trailer.
type backupReader struct {
	zr    *zstd.Decoder
	cr    *countingReader
	br    *bufio.Reader
	sum   hash.Hash
	info  BackupInfo
	left  uint64 // bytes left in the current chunk
	ended bool   // the empty chunk was read
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func corruptf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrBackupCorrupt, fmt.Sprintf(format, args...))
}

// openBackup reads and checks a backup's magic and header.
func openBackup(r io.Reader) (*backupReader, error) {
	cr := &countingReader{r: r}
	zr, err := zstd.NewReader(cr, zstd.WithDecoderConcurrency(1))
	if err != nil {
		return nil, err
	}
	b := &backupReader{zr: zr, cr: cr, br: bufio.NewReaderSize(zr, 1<<16), sum: sha256.New()}
	magic := make([]byte, len(backupMagic))
	if _, err := io.ReadFull(b.br, magic); err != nil || string(magic) != backupMagic {
		zr.Close()
		if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, corruptf("not a Lithair backup (not a zstd stream: %v)", err)
		}
		return nil, corruptf("not a Lithair backup (it does not start with %q)", backupMagic[:len(backupMagic)-1])
	}
	b.sum.Write(magic)
	line, err := b.br.ReadSlice('\n')
	if err != nil || len(line) > maxBackupHeader {
		zr.Close()
		return nil, corruptf("header cut short or too long: %v", err)
	}
	b.sum.Write(line)
	if err := json.Unmarshal(line, &b.info); err != nil {
		zr.Close()
		return nil, corruptf("header: %v", err)
	}
	if b.info.Format != backupFormat {
		zr.Close()
		return nil, fmt.Errorf("lithair: backup format %d is not supported by this version (%d); restore it with the version that wrote it (%s)", b.info.Format, backupFormat, b.info.Lithair)
	}
	// A backup is taken at an applied index, never 0: a restore could not
	// seed a snapshot at 0, so verify must not pass one either.
	if b.info.Index == 0 {
		zr.Close()
		return nil, corruptf("header: index 0")
	}
	return b, nil
}

// Read returns the snapshot's bytes; io.EOF after the last chunk.
func (b *backupReader) Read(p []byte) (int, error) {
	for b.left == 0 {
		if b.ended {
			return 0, io.EOF
		}
		n, err := binary.ReadUvarint(byteHasher{b.br, b.sum})
		if err != nil {
			return 0, b.readErr(err)
		}
		if n > chunkSize {
			return 0, corruptf("chunk of %d bytes, at most %d", n, chunkSize)
		}
		if n == 0 {
			b.ended = true
			return 0, io.EOF
		}
		b.left = n
	}
	if uint64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.br.Read(p)
	b.sum.Write(p[:n])
	b.left -= uint64(n)
	b.info.SnapshotBytes += int64(n)
	if err != nil && n == 0 {
		return 0, b.readErr(err)
	}
	return n, nil
}

func (b *backupReader) readErr(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return corruptf("it ends after %d bytes, in the middle of the snapshot (truncated?)", b.cr.n)
	}
	return corruptf("%v", err)
}

type byteHasher struct {
	br  *bufio.Reader
	sum hash.Hash
}

func (h byteHasher) ReadByte() (byte, error) {
	c, err := h.br.ReadByte()
	if err == nil {
		h.sum.Write([]byte{c})
	}
	return c, err
}

// readHistory reads the history section, handing each entry to fn
// (which may be nil), and checks that the indexes follow each other and
// end at or below the snapshot's index.
func (b *backupReader) readHistory(fn func(idx uint64, data []byte) error) error {
	if _, err := io.Copy(io.Discard, b); err != nil { // the rest of the snapshot
		return err
	}
	var prev uint64
	buf := []byte{}
	for {
		idx, err := binary.ReadUvarint(byteHasher{b.br, b.sum})
		if err != nil {
			return b.readErr(err)
		}
		if idx == 0 {
			return nil
		}
		if (prev != 0 && idx != prev+1) || idx > b.info.Index {
			return corruptf("history entry %d after %d (the snapshot is at %d)", idx, prev, b.info.Index)
		}
		n, err := binary.ReadUvarint(byteHasher{b.br, b.sum})
		if err != nil {
			return b.readErr(err)
		}
		if n > wal.MaxEntrySize {
			return corruptf("history entry %d claims %d bytes", idx, n)
		}
		if uint64(cap(buf)) < n {
			buf = make([]byte, n)
		}
		buf = buf[:n]
		if _, err := io.ReadFull(b.br, buf); err != nil {
			return b.readErr(err)
		}
		b.sum.Write(buf)
		if b.info.HistoryFirst == 0 {
			b.info.HistoryFirst = idx
		}
		prev, b.info.HistoryLast = idx, idx
		if fn != nil {
			if err := fn(idx, buf); err != nil {
				return err
			}
		}
	}
}

// finish reads the trailer and checks the checksum and the end of the
// stream (which makes zstd check its own frame checksum).
func (b *backupReader) finish() error {
	defer b.zr.Close()
	want := hex.EncodeToString(b.sum.Sum(nil))
	line, err := b.br.ReadString('\n')
	if err != nil {
		return corruptf("the checksum at its end is missing (truncated?)")
	}
	if line != "SHA256 "+want+"\n" {
		return corruptf("checksum mismatch: the backup says %q, its content hashes to %s", line, want)
	}
	if extra, err := io.Copy(io.Discard, b.br); err != nil || extra != 0 {
		return corruptf("after the checksum: %d bytes, %v", extra, err)
	}
	b.info.SHA256 = want
	b.info.Bytes = b.cr.n
	return nil
}

// decodeState restores snapshot bytes from r into a fresh state machine,
// which checks every inner checksum and compiles the rules.
func decodeState(r io.Reader, cfg Config) (*raftlog.FSM, error) {
	fsm := raftlog.NewFSM(index.New(), ruleOptions(cfg))
	if err := fsm.Restore(io.NopCloser(r)); err != nil {
		return nil, err
	}
	return fsm, nil
}

// readBackup reads a whole backup, handing the snapshot to sink (if not
// nil) while a state machine decodes it, and checks everything. The
// returned info has StateHash and Records set.
func readBackup(r io.Reader, cfg Config, sink io.Writer, onHeader func(BackupInfo) error, history func(uint64, []byte) error) (BackupInfo, error) {
	b, err := openBackup(r)
	if err != nil {
		return BackupInfo{}, err
	}
	if onHeader != nil {
		if err := onHeader(b.info); err != nil {
			b.zr.Close()
			return b.info, err
		}
	}
	pr, pw := io.Pipe()
	type result struct {
		fsm *raftlog.FSM
		err error
	}
	done := make(chan result, 1)
	go func() {
		fsm, err := decodeState(pr, cfg)
		pr.CloseWithError(errors.New("the state decoder stopped reading"))
		done <- result{fsm, err}
	}()
	dst := io.Writer(pw)
	if sink != nil {
		dst = io.MultiWriter(sink, pw)
	}
	_, cerr := io.Copy(dst, b)
	pw.Close()
	res := <-done
	if cerr != nil && errors.Is(cerr, ErrBackupCorrupt) {
		b.zr.Close()
		return b.info, cerr
	}
	if err := b.readHistory(history); err != nil {
		b.zr.Close()
		return b.info, err
	}
	ferr := b.finish()
	if ferr != nil {
		return b.info, ferr
	}
	if cerr != nil {
		return b.info, fmt.Errorf("lithair: %w", cerr)
	}
	if res.err != nil {
		return b.info, corruptf("the snapshot inside does not decode: %v", res.err)
	}
	v := res.fsm.State().View()
	// The restored log goes on at the header's index+1: a state past it
	// would name, in its histories and audit trail, log entries that
	// will hold other commands. (It may trail the index: Raft's barriers
	// move the snapshot's index without reaching the state machine.)
	if v.Applied > b.info.Index {
		return b.info, corruptf("the snapshot inside holds the state at log index %d, past the header's index %d", v.Applied, b.info.Index)
	}
	b.info.StateHash = formatHash(v.Hash())
	for _, m := range v.Models() {
		v.Each(m, func(*index.Record) bool { b.info.Records++; return true })
	}
	return b.info, nil
}

// VerifyBackup reads a whole backup and checks it: the checksum, the
// compression, and that the state inside decodes (its own checksums, its
// rules). It returns the backup's info with the state's hash.
func VerifyBackup(r io.Reader) (BackupInfo, error) {
	return readBackup(r, DefaultConfig(), nil, nil, nil)
}

// RestoreBackup seeds the empty data dir cfg.EventStore.Dir from a backup
// so that `lithair serve` with the same node id starts from exactly the
// backed-up state. It refuses a data dir that holds anything. The backup
// is checked completely before the snapshot is committed; on any error
// the data dir is left as empty as it was found.
//
// What it writes: the snapshot in DIR/snapshots (Raft's file snapshot
// store) with the backup's index and term and a configuration of this
// node alone as voter; the history in the log's archive; the backup's
// term as Raft's current term. The live log is empty: the node elects
// itself and appends from index+1.
func RestoreBackup(r io.Reader, cfg Config) (BackupInfo, error) {
	dir := cfg.EventStore.Dir
	created, err := prepareEmptyDir(dir)
	if err != nil {
		return BackupInfo{}, err
	}
	ok := false
	defer func() {
		if !ok {
			cleanDir(dir, created)
		}
	}()
	lock, err := lockDir(dir)
	if err != nil {
		return BackupInfo{}, err
	}
	defer lock.Close()
	snaps, err := raftlog.NewSnapshotStore(wal.OSFS{}, dir, 2, quietLogger())
	if err != nil {
		return BackupInfo{}, err
	}
	var sink raft.SnapshotSink
	id := raft.ServerID(cfg.Raft.NodeID)
	hist := &historyWriter{dir: filepath.Join(dir, "log"), opts: logOptions(cfg)}
	defer hist.close()
	info, err := readBackup(r, cfg, writerFunc(func(p []byte) (int, error) { return sink.Write(p) }), func(h BackupInfo) error {
		conf := raft.Configuration{Servers: []raft.Server{{Suffrage: raft.Voter, ID: id, Address: raft.ServerAddress(id)}}}
		confIdx := h.ConfigurationIndex
		if confIdx == 0 || confIdx > h.Index {
			confIdx = h.Index
		}
		// The store also writes the legacy peer list, which needs a
		// transport to encode addresses; the node's own is in-memory too.
		_, trans := raft.NewInmemTransport(raft.ServerAddress(id))
		defer trans.Close()
		var err error
		sink, err = snaps.Create(1, h.Index, h.Term, conf, confIdx, trans)
		return err
	}, hist.add)
	if err == nil {
		err = hist.finish()
	}
	if err != nil {
		if sink != nil {
			sink.Cancel()
		}
		return info, err
	}
	if err := sink.Close(); err != nil {
		return info, fmt.Errorf("lithair: committing the snapshot: %w", err)
	}
	// Raft's current term must not go back below the snapshot's, or the
	// restored node would append entries with a lower term after it.
	sl, err := wal.Open(filepath.Join(dir, "raft-stable"), wal.Options{SegmentSize: 1 << 20})
	if err != nil {
		return info, err
	}
	stable, err := raftlog.NewStableStore(sl)
	if err == nil {
		err = stable.SetUint64([]byte("CurrentTerm"), info.Term)
	}
	if cerr := sl.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return info, fmt.Errorf("lithair: writing the raft term: %w", err)
	}
	if err := syncDir(dir); err != nil {
		return info, err
	}
	ok = true
	return info, nil
}

// historyWriter puts a backup's history into a new log and then moves
// it all to the log's archive, where history reads find it: the live log
// is left empty, ready for the entry after the snapshot.
type historyWriter struct {
	dir   string
	opts  wal.Options
	log   *wal.Log
	batch []wal.Entry
	bytes int
	last  uint64
}

func (h *historyWriter) add(idx uint64, data []byte) error {
	if h.log == nil {
		h.opts.Archive, h.opts.Retention = true, 0
		l, err := wal.Open(h.dir, h.opts)
		if err != nil {
			return fmt.Errorf("lithair: creating the log for the history: %w", err)
		}
		h.log = l
	}
	h.batch = append(h.batch, wal.Entry{Index: idx, Data: append([]byte(nil), data...)})
	h.bytes += len(data)
	h.last = idx
	if len(h.batch) >= 4096 || h.bytes >= 8<<20 {
		return h.flush()
	}
	return nil
}

func (h *historyWriter) flush() error {
	if len(h.batch) == 0 {
		return nil
	}
	err := h.log.Append(h.batch)
	h.batch, h.bytes = h.batch[:0], 0
	if err != nil {
		return fmt.Errorf("lithair: writing the history: %w", err)
	}
	return nil
}

// finish archives every entry written.
func (h *historyWriter) finish() error {
	if h.log == nil {
		return nil
	}
	if err := h.flush(); err != nil {
		return err
	}
	if err := h.log.TruncateFront(h.last + 1); err != nil {
		return fmt.Errorf("lithair: archiving the history: %w", err)
	}
	err := h.log.Close()
	h.log = nil
	return err
}

func (h *historyWriter) close() {
	if h.log != nil {
		h.log.Close()
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// prepareEmptyDir makes sure dir exists and is empty; created says it
// did not exist before.
func prepareEmptyDir(dir string) (created bool, err error) {
	entries, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return false, err
		}
		return true, nil
	case err != nil:
		return false, err
	case len(entries) > 0:
		names := ""
		for i, e := range entries {
			if i == 3 {
				names += ", …"
				break
			}
			if i > 0 {
				names += ", "
			}
			names += e.Name()
		}
		return false, fmt.Errorf("%w: %s holds %d entries (%s); restore only into an empty or new directory", ErrNotEmpty, dir, len(entries), names)
	}
	return false, nil
}

// cleanDir removes what a failed restore left in dir.
func cleanDir(dir string, created bool) {
	if created {
		os.RemoveAll(dir)
		return
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		os.RemoveAll(filepath.Join(dir, e.Name()))
	}
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
