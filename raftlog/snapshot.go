package raftlog

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/hashicorp/raft"
	"github.com/klauspost/compress/zstd"

	"github.com/lithair/lithair/event"
	"github.com/lithair/lithair/index"
	"github.com/lithair/lithair/rules"
)

// A snapshot is one zstd stream (with zstd's own frame checksum) of:
//
//	"LITHAIR-SNAPSHOT 2\n"
//	header length (uvarint) | header JSON | xxhash64 of the header JSON (8 bytes LE)
//	the state's encoding (index.View.WriteTo, which ends with its own xxhash64)
//
// The header carries the applied index and the active rule files, so a
// node restored from a snapshot runs the same rules as the node that took
// it. Nothing replaces the state until every checksum has held.
const snapshotMagic = "LITHAIR-SNAPSHOT 2\n"

// ErrSnapshot reports a snapshot that cannot be restored.
var ErrSnapshot = errors.New("raftlog: corrupt snapshot")

type snapshotHeader struct {
	Applied     uint64            `json:"applied"`
	Rules       []event.RuleFile  `json:"rules,omitempty"`
	Projections []savedProjection `json:"projections,omitempty"`
}

// maxHeader bounds the header (mostly rule sources) a snapshot may claim.
const maxHeader = 64 << 20

type snapshot struct {
	view    *index.View
	rules   *rules.Set
	proj    []savedProjection
	err     error
	observe func(time.Duration, error)
}

// Snapshot freezes the machine's state for Persist. Raft never calls it
// concurrently with Apply, so the view and the projections agree.
func (m *Machine) Snapshot() raft.FSMSnapshot {
	proj, err := m.saveProjections()
	return &snapshot{view: m.state.View(), rules: m.Rules(), proj: proj, err: err, observe: m.OnSnapshot}
}

// Persist streams the frozen view into the sink through zstd.
func (s *snapshot) Persist(sink raft.SnapshotSink) (err error) {
	if s.observe != nil {
		defer func(start time.Time) { s.observe(time.Since(start), err) }(time.Now())
	}
	if err := s.write(sink); err != nil {
		sink.Cancel()
		return err
	}
	return sink.Close()
}

func (s *snapshot) write(w io.Writer) error {
	zw, err := zstd.NewWriter(w, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1))
	if err != nil {
		return err
	}
	if s.err != nil {
		return s.err
	}
	hdr := snapshotHeader{Applied: s.view.Applied, Projections: s.proj}
	if s.rules != nil {
		for _, f := range s.rules.Files {
			hdr.Rules = append(hdr.Rules, event.RuleFile{Name: f.Name, Source: f.Source})
		}
	}
	hb, err := json.Marshal(hdr)
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(zw, 1<<16)
	bw.WriteString(snapshotMagic)
	bw.Write(binary.AppendUvarint(nil, uint64(len(hb))))
	bw.Write(hb)
	bw.Write(binary.LittleEndian.AppendUint64(nil, xxhash.Sum64(hb)))
	if _, err := s.view.WriteTo(bw); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	return zw.Close()
}

// Release frees nothing: the view is garbage once unreferenced.
func (s *snapshot) Release() {}

// Restore verifies a snapshot and replaces the machine's state and rules
// with its own. A snapshot that fails any check changes nothing.
func (m *Machine) Restore(r io.Reader) error {
	zr, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1))
	if err != nil {
		return fmt.Errorf("%w: %v", ErrSnapshot, err)
	}
	defer zr.Close()
	br := bufio.NewReaderSize(zr, 1<<16)
	magic := make([]byte, len(snapshotMagic))
	if _, err := io.ReadFull(br, magic); err != nil || string(magic) != snapshotMagic {
		return fmt.Errorf("%w: not a Lithair snapshot", ErrSnapshot)
	}
	n, err := binary.ReadUvarint(br)
	if err != nil || n > maxHeader {
		return fmt.Errorf("%w: bad header length", ErrSnapshot)
	}
	hb := make([]byte, n+8)
	if _, err := io.ReadFull(br, hb); err != nil {
		return fmt.Errorf("%w: header: %v", ErrSnapshot, err)
	}
	if xxhash.Sum64(hb[:n]) != binary.LittleEndian.Uint64(hb[n:]) {
		return fmt.Errorf("%w: header checksum mismatch", ErrSnapshot)
	}
	var hdr snapshotHeader
	if err := json.Unmarshal(hb[:n], &hdr); err != nil {
		return fmt.Errorf("%w: header: %v", ErrSnapshot, err)
	}
	var set *rules.Set
	if hdr.Rules != nil {
		if set, err = compileRules(hdr.Rules, m.ruleOpts); err != nil {
			return fmt.Errorf("%w: %v", ErrSnapshot, err)
		}
	}
	// Reading to the end makes zstd check its frame checksum too.
	drain := func(rest io.Reader) error {
		if extra, err := io.Copy(io.Discard, rest); err != nil || extra != 0 {
			return fmt.Errorf("%w: trailing data or bad compression: %d bytes, %v", ErrSnapshot, extra, err)
		}
		return nil
	}
	if err := m.state.Restore(br, ModelSpecs(set), drain); err != nil {
		return fmt.Errorf("%w: %v", ErrSnapshot, err)
	}
	m.rules.Store(set)
	if set == nil {
		m.proj.mu.Lock()
		m.proj.byName = nil
		m.proj.mu.Unlock()
		return nil
	}
	return m.loadProjections(set, hdr.Projections)
}
