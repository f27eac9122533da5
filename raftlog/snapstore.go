package raftlog

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"hash/crc64"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"

	wal "github.com/lithair/lithair/log"
)

// SnapshotStore is hashicorp/raft's SnapshotStore on a wal.FS, so that
// snapshots reach the disk through the same interface as the log and the
// power-loss tests can cut them short. It keeps raft.FileSnapshotStore's
// layout, so either store reads what the other wrote:
//
//	DIR/snapshots/<term>-<index>-<unix ms>/meta.json   raft.SnapshotMeta + "CRC" (CRC-64/ECMA of state.bin), JSON
//	DIR/snapshots/<term>-<index>-<unix ms>/state.bin   what the FSM persisted
//	DIR/snapshots/<...>.tmp/                           a snapshot being written, never listed
//
// What it adds is the durability raft's store leaves to the file system:
// see Close and reap.
type SnapshotStore struct {
	fs     wal.FS
	dir    string // DIR/snapshots
	retain int
	logger hclog.Logger

	mu sync.Mutex
	// writing holds the temporary directories of open sinks: reaping
	// removes every other ".tmp" directory as the leftover of a crash.
	writing map[string]bool
}

var _ raft.SnapshotStore = (*SnapshotStore)(nil)

const (
	snapshotsDir  = "snapshots"
	snapMetaFile  = "meta.json"
	snapStateFile = "state.bin"
	snapTmpSuffix = ".tmp"
)

// ErrSnapshotDamaged reports a snapshot whose state.bin does not match its
// meta.json (size or CRC): Open refuses it, and raft then tries the
// previous snapshot.
var ErrSnapshotDamaged = errors.New("raftlog: snapshot damaged")

var crcTable = crc64.MakeTable(crc64.ECMA)

// snapshotMetaFile is meta.json, field for field raft.FileSnapshotStore's
// own (unexported) fileSnapshotMeta.
type snapshotMetaFile struct {
	raft.SnapshotMeta
	CRC []byte
}

// NewSnapshotStore opens the snapshot store in dir/snapshots on fsys,
// creating it if needed; the retain newest snapshots are kept. dir is the
// same base directory raft.NewFileSnapshotStoreWithLogger takes. A nil
// logger logs to stderr, as raft's store does.
func NewSnapshotStore(fsys wal.FS, dir string, retain int, logger hclog.Logger) (*SnapshotStore, error) {
	if retain < 1 {
		return nil, errors.New("raftlog: snapshot store: must retain at least one snapshot")
	}
	if fsys == nil {
		fsys = wal.OSFS{}
	}
	if logger == nil {
		logger = hclog.New(&hclog.LoggerOptions{Name: "snapshot"})
	}
	s := &SnapshotStore{fs: fsys, dir: filepath.Join(dir, snapshotsDir), retain: retain, logger: logger, writing: map[string]bool{}}
	if err := fsys.MkdirAll(s.dir, 0o755); err != nil {
		return nil, fmt.Errorf("raftlog: snapshot store %s: %w", s.dir, err)
	}
	// A snapshots directory made just now must not vanish with the first
	// snapshot in it.
	if err := fsys.SyncDir(dir); err != nil {
		return nil, fmt.Errorf("raftlog: snapshot store: sync %s: %w", dir, err)
	}
	return s, nil
}

// Create starts a snapshot in a ".tmp" directory; it becomes visible when
// the sink's Close returns nil.
func (s *SnapshotStore) Create(version raft.SnapshotVersion, index, term uint64, conf raft.Configuration,
	confIndex uint64, trans raft.Transport) (raft.SnapshotSink, error) {
	if version != 1 {
		return nil, fmt.Errorf("raftlog: unsupported snapshot version %d", version)
	}
	id, err := s.newID(term, index)
	if err != nil {
		return nil, err
	}
	tmp := filepath.Join(s.dir, id+snapTmpSuffix)
	if err := s.fs.MkdirAll(tmp, 0o755); err != nil {
		s.release(tmp)
		return nil, fmt.Errorf("raftlog: snapshot %s: %w", id, err)
	}
	f, err := s.fs.OpenFile(filepath.Join(tmp, snapStateFile), os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		s.removeDir(tmp)
		s.release(tmp)
		return nil, fmt.Errorf("raftlog: snapshot %s: %w", id, err)
	}
	sink := &snapshotSink{store: s, tmp: tmp, file: f, crc: crc64.New(crcTable),
		meta: snapshotMetaFile{SnapshotMeta: raft.SnapshotMeta{Version: version, ID: id, Index: index, Term: term,
			Peers: encodePeers(conf, trans), Configuration: conf, ConfigurationIndex: confIndex}}}
	sink.buf = bufio.NewWriterSize(sink.out(), 1<<16)
	s.logger.Info("creating new snapshot", "path", tmp)
	return sink, nil
}

// newID names a new snapshot <term>-<index>-<unix ms>, as raft's store
// does, and reserves its ".tmp" directory. Raft snapshots the same index
// again when asked to (a backup right after an automatic snapshot): within
// the same millisecond that would be the same name, and the rename into
// place would fail on the first snapshot's directory (raft's store fails
// so). The millisecond is therefore moved past every snapshot of the same
// term and index, which also keeps the newest one sorting first.
func (s *SnapshotStore) newID(term, index uint64) (string, error) {
	names, err := s.fs.ReadDir(s.dir)
	if err != nil {
		return "", fmt.Errorf("raftlog: snapshot store: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for tmp := range s.writing {
		names = append(names, filepath.Base(tmp))
	}
	prefix := fmt.Sprintf("%d-%d-", term, index)
	ms := time.Now().UnixMilli()
	for _, n := range names {
		if rest, ok := strings.CutPrefix(strings.TrimSuffix(n, snapTmpSuffix), prefix); ok {
			if used, err := strconv.ParseInt(rest, 10, 64); err == nil && used >= ms {
				ms = used + 1
			}
		}
	}
	id := prefix + strconv.FormatInt(ms, 10)
	s.writing[filepath.Join(s.dir, id+snapTmpSuffix)] = true
	return id, nil
}

// release forgets a sink's ".tmp" directory.
func (s *SnapshotStore) release(tmp string) {
	s.mu.Lock()
	delete(s.writing, tmp)
	s.mu.Unlock()
}

// List returns the retain newest snapshots, newest first. A directory
// whose meta.json cannot be read is skipped and logged, as by raft's store.
func (s *SnapshotStore) List() ([]*raft.SnapshotMeta, error) {
	metas, err := s.snapshots()
	if err != nil {
		return nil, err
	}
	out := make([]*raft.SnapshotMeta, 0, min(len(metas), s.retain))
	for _, m := range metas[:min(len(metas), s.retain)] {
		out = append(out, &m.SnapshotMeta)
	}
	return out, nil
}

// snapshots returns every complete snapshot, newest first, by raft's
// order: term, then index, then id.
func (s *SnapshotStore) snapshots() ([]*snapshotMetaFile, error) {
	names, err := s.fs.ReadDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("raftlog: snapshot store: %w", err)
	}
	var metas []*snapshotMetaFile
	for _, name := range names {
		if strings.HasSuffix(name, snapTmpSuffix) {
			continue
		}
		m, err := s.readMeta(name)
		if err != nil {
			s.logger.Warn("skipping a snapshot whose metadata cannot be read", "name", name, "error", err)
			continue
		}
		if m.Version < raft.SnapshotVersionMin || m.Version > raft.SnapshotVersionMax {
			s.logger.Warn("snapshot version not supported", "name", name, "version", m.Version)
			continue
		}
		metas = append(metas, m)
	}
	sort.Slice(metas, func(i, j int) bool {
		a, b := metas[i], metas[j]
		if a.Term != b.Term {
			return a.Term > b.Term
		}
		if a.Index != b.Index {
			return a.Index > b.Index
		}
		return a.ID > b.ID
	})
	return metas, nil
}

func (s *SnapshotStore) readMeta(id string) (*snapshotMetaFile, error) {
	b, err := readFile(s.fs, filepath.Join(s.dir, id, snapMetaFile))
	if err != nil {
		return nil, err
	}
	m := &snapshotMetaFile{}
	if err := json.NewDecoder(bytes.NewReader(b)).Decode(m); err != nil {
		return nil, fmt.Errorf("%s/%s: %w", id, snapMetaFile, err)
	}
	return m, nil
}

// Open returns the snapshot id after checking state.bin against meta.json:
// its size, then its CRC, reading the whole file once before handing out
// the first byte. The check is eager rather than at the end of the
// stream because raft closes a snapshot it restored without looking at
// Close's error, and a backup streaming it to a client must fail before
// the first byte, not after the last. The cost is one more read of the
// file, on a start, a follower's catch-up or a backup.
func (s *SnapshotStore) Open(id string) (*raft.SnapshotMeta, io.ReadCloser, error) {
	if id == "" || id != filepath.Base(id) || id == "." || id == ".." || strings.HasSuffix(id, snapTmpSuffix) {
		return nil, nil, fmt.Errorf("raftlog: no snapshot %q", id)
	}
	m, err := s.readMeta(id)
	if err != nil {
		return nil, nil, fmt.Errorf("raftlog: snapshot %s: %w", id, err)
	}
	name := filepath.Join(s.dir, id, snapStateFile)
	f, err := s.fs.OpenFile(name, os.O_RDONLY, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("raftlog: snapshot %s: %w", id, err)
	}
	size, err := f.Size()
	if err == nil && size != m.Size {
		err = fmt.Errorf("%w: %s holds %d bytes, meta.json says %d", ErrSnapshotDamaged, name, size, m.Size)
	}
	if err == nil {
		crc := crc64.New(crcTable)
		if _, err = io.Copy(crc, io.NewSectionReader(f, 0, size)); err == nil && !bytes.Equal(crc.Sum(nil), m.CRC) {
			err = fmt.Errorf("%w: %s: CRC %x, meta.json says %x", ErrSnapshotDamaged, name, crc.Sum(nil), m.CRC)
		}
	}
	if err != nil {
		f.Close()
		s.logger.Error("refusing to open a snapshot", "id", id, "error", err)
		return nil, nil, err
	}
	return &m.SnapshotMeta, &snapshotReader{Reader: bufio.NewReaderSize(io.NewSectionReader(f, 0, size), 1<<16), file: f}, nil
}

type snapshotReader struct {
	*bufio.Reader
	file wal.File
}

func (r *snapshotReader) Close() error { return r.file.Close() }

// reap removes the snapshots beyond the retain newest, and the ".tmp"
// directories no open sink owns (what a crash left behind).
func (s *SnapshotStore) reap() error {
	metas, err := s.snapshots()
	if err != nil {
		return err
	}
	for _, m := range metas[min(len(metas), s.retain):] {
		s.logger.Info("reaping snapshot", "id", m.ID)
		if err := s.removeSnapshot(filepath.Join(s.dir, m.ID)); err != nil {
			return fmt.Errorf("raftlog: reaping snapshot %s: %w", m.ID, err)
		}
	}
	names, err := s.fs.ReadDir(s.dir)
	if err != nil {
		return err
	}
	for _, name := range names {
		p := filepath.Join(s.dir, name)
		s.mu.Lock()
		mine := s.writing[p]
		s.mu.Unlock()
		switch {
		case strings.HasSuffix(name, snapTmpSuffix) && !mine:
			s.removeDir(p)
		case !strings.HasSuffix(name, snapTmpSuffix) && s.lacksMeta(p):
			// What an interrupted reap leaves. A damaged meta.json stays,
			// for the operator to look at.
			s.removeDir(p)
		}
	}
	return nil
}

// lacksMeta reports whether p is a directory without a meta.json.
func (s *SnapshotStore) lacksMeta(p string) bool {
	f, err := s.fs.OpenFile(filepath.Join(p, snapMetaFile), os.O_RDONLY, 0)
	if err == nil {
		f.Close()
		return false
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return false
	}
	_, err = s.fs.ReadDir(p)
	return err == nil
}

// removeSnapshot deletes a complete snapshot. meta.json goes first, and
// durably, before state.bin: a crash in between must leave a directory
// that is no longer listed, never a listed one without its state.
func (s *SnapshotStore) removeSnapshot(p string) error {
	if err := s.fs.Remove(filepath.Join(p, snapMetaFile)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if err := s.fs.SyncDir(p); err != nil {
		return err
	}
	s.removeDir(p)
	return nil
}

// removeDir removes the files of dir, then dir, as far as it can: what is
// left is never listed, and a later reap tries again.
func (s *SnapshotStore) removeDir(dir string) {
	names, err := s.fs.ReadDir(dir)
	if err != nil {
		return
	}
	for _, n := range names {
		if err := s.fs.Remove(filepath.Join(dir, n)); err != nil {
			s.logger.Warn("cannot remove a snapshot file", "path", filepath.Join(dir, n), "error", err)
		}
	}
	if err := s.fs.Remove(dir); err != nil {
		s.logger.Warn("cannot remove a snapshot directory", "path", dir, "error", err)
	}
}

// snapshotSink writes state.bin through a buffer, hashing what reaches the
// file.
type snapshotSink struct {
	store  *SnapshotStore
	tmp    string
	file   wal.File
	off    int64
	crc    hash.Hash64
	buf    *bufio.Writer
	meta   snapshotMetaFile
	closed bool
}

// out is the writer under the buffer: positional writes to state.bin.
func (s *snapshotSink) out() io.Writer {
	return writerFunc(func(p []byte) (int, error) {
		n, err := s.file.WriteAt(p, s.off)
		s.off += int64(n)
		s.crc.Write(p[:n])
		if err == nil && n < len(p) {
			err = io.ErrShortWrite
		}
		return n, err
	})
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// ID returns the snapshot's id, for Open once Close returned nil.
func (s *snapshotSink) ID() string { return s.meta.ID }

// Write appends to state.bin.
func (s *snapshotSink) Write(p []byte) (int, error) { return s.buf.Write(p) }

// Close makes the snapshot durable and visible, in an order that a power
// loss at any step cannot turn into a listed snapshot that fails to open:
//
//  1. state.bin is written and fsync'd;
//  2. meta.json (with state.bin's size and CRC) is written and fsync'd;
//  3. the ".tmp" directory is fsync'd, so both files' names are durable
//     before the directory can be found under its final name (raft's own
//     store skips this and counts on the file system's ordering);
//  4. the directory is renamed into place: the commit point;
//  5. the snapshots directory is fsync'd, so the rename survives.
//
// Only then does Close return nil and raft compact its log up to the
// snapshot. Older snapshots are reaped afterwards; a failure there is
// returned but the new snapshot stands. Close and Cancel after the first
// of them do nothing.
func (s *snapshotSink) Close() error {
	if s.closed {
		return nil
	}
	s.closed = true
	st := s.store
	defer st.release(s.tmp)
	final := strings.TrimSuffix(s.tmp, snapTmpSuffix)
	err := s.finish()
	if err == nil {
		err = s.writeMeta()
	}
	if err == nil {
		err = st.fs.SyncDir(s.tmp)
	}
	if err != nil {
		st.logger.Error("failed to write snapshot", "path", s.tmp, "error", err)
		st.removeDir(s.tmp)
		return fmt.Errorf("raftlog: snapshot %s: %w", s.meta.ID, err)
	}
	if err := st.fs.Rename(s.tmp, final); err != nil {
		st.logger.Error("failed to move snapshot into place", "path", s.tmp, "error", err)
		st.removeDir(s.tmp)
		return fmt.Errorf("raftlog: snapshot %s: %w", s.meta.ID, err)
	}
	if err := st.fs.SyncDir(st.dir); err != nil {
		// The snapshot is complete and may be listed, but it is not known
		// to be durable: raft must not compact its log for it.
		st.logger.Error("failed to sync the snapshots directory", "path", st.dir, "error", err)
		return fmt.Errorf("raftlog: snapshot %s: sync %s: %w", s.meta.ID, st.dir, err)
	}
	if err := st.reap(); err != nil {
		st.logger.Error("failed to reap snapshots", "error", err)
		return err
	}
	return nil
}

// Cancel abandons the snapshot and removes its directory.
func (s *snapshotSink) Cancel() error {
	if s.closed {
		return nil
	}
	s.closed = true
	s.file.Close()
	s.store.removeDir(s.tmp)
	s.store.release(s.tmp)
	return nil
}

// finish flushes, syncs and closes state.bin and records its size and CRC.
func (s *snapshotSink) finish() error {
	err := s.buf.Flush()
	if err == nil {
		err = s.file.Sync()
	}
	if cerr := s.file.Close(); err == nil {
		err = cerr
	}
	s.meta.Size = s.off
	s.meta.CRC = s.crc.Sum(nil)
	return err
}

// writeMeta writes meta.json as raft's store does (JSON and a newline) and
// syncs it.
func (s *snapshotSink) writeMeta() error {
	var b bytes.Buffer
	if err := json.NewEncoder(&b).Encode(&s.meta); err != nil {
		return err
	}
	f, err := s.store.fs.OpenFile(filepath.Join(s.tmp, snapMetaFile), os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	_, err = f.WriteAt(b.Bytes(), 0)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// readFile reads a whole (small) file.
func readFile(fsys wal.FS, name string) ([]byte, error) {
	f, err := fsys.OpenFile(name, os.O_RDONLY, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	size, err := f.Size()
	if err != nil {
		return nil, err
	}
	b := make([]byte, size)
	if n, err := f.ReadAt(b, 0); err != nil && !(errors.Is(err, io.EOF) && int64(n) == size) {
		return nil, err
	}
	return b, nil
}

// encodePeers is raft's legacy peer list in meta.json ("Peers"), as raft's
// store writes it: a MessagePack array of each voter's transport-encoded
// address, as go-msgpack encodes a [][]byte without WriteExt. Raft reads
// it only from version 0 snapshots; it is kept for byte compatibility.
func encodePeers(conf raft.Configuration, trans raft.Transport) []byte {
	var peers [][]byte
	for _, srv := range conf.Servers {
		if srv.Suffrage == raft.Voter {
			peers = append(peers, trans.EncodePeer(srv.ID, srv.Address))
		}
	}
	if peers == nil {
		return []byte{0xc0} // nil
	}
	b := appendMsgpackLen(nil, len(peers), 0x90, 16, 0xdc, 0xdd)
	for _, p := range peers {
		if p == nil {
			b = append(b, 0xc0)
			continue
		}
		b = appendMsgpackLen(b, len(p), 0xa0, 32, 0xda, 0xdb)
		b = append(b, p...)
	}
	return b
}

// appendMsgpackLen appends a MessagePack container header: fix+n below
// fixMax, else the 16- or 32-bit form.
func appendMsgpackLen(b []byte, n int, fix byte, fixMax int, b16, b32 byte) []byte {
	switch {
	case n < fixMax:
		return append(b, fix|byte(n))
	case n < 1<<16:
		return binary.BigEndian.AppendUint16(append(b, b16), uint16(n))
	default:
		return binary.BigEndian.AppendUint32(append(b, b32), uint32(n))
	}
}
