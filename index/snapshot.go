package index

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sort"

	"github.com/cespare/xxhash/v2"
	"github.com/google/btree"

	"github.com/lithair/lithair/event"
)

// View is a frozen copy of the State at one applied index. Taking it costs
// a copy-on-write clone per tree, so Apply keeps running while a snapshot
// is written from the View.
type View struct {
	Applied uint64
	tables  map[string]viewTable
	audit   []AuditRef
}

type viewTable struct {
	live, tombs *btree.BTreeG[*Record]
}

// View freezes the current state.
func (s *State) View() *View {
	s.mu.Lock() // Clone marks the source tree copy-on-write: a write.
	defer s.mu.Unlock()
	v := &View{Applied: s.applied, tables: make(map[string]viewTable, len(s.tables)), audit: s.audit[:len(s.audit):len(s.audit)]}
	for name, t := range s.tables {
		v.tables[name] = viewTable{t.byID.Clone(), t.tombs.Clone()}
	}
	return v
}

// Models returns the names of the models that have a table, sorted.
func (v *View) Models() []string {
	names := make([]string, 0, len(v.tables))
	for name := range v.tables {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// Each calls fn for every live record of model in id order until fn
// returns false.
func (v *View) Each(model string, fn func(*Record) bool) {
	if t, ok := v.tables[model]; ok {
		t.live.Ascend(fn)
	}
}

// Hash is a digest of every live record (their JSON holds id, version,
// times and fields): two nodes, or one node before and after a restart,
// that hold the same state have the same hash.
func (v *View) Hash() uint64 {
	h := xxhash.New()
	for _, name := range v.Models() {
		h.WriteString(name)
		h.Write([]byte{0})
		v.Each(name, func(r *Record) bool {
			h.Write(r.JSON)
			return true
		})
	}
	return h.Sum64()
}

// The state's snapshot encoding. Integers are uvarints (times varints);
// byte strings are length-prefixed.
//
//	"LIDX1" applied models{ name live{record} tombs{record} } audit{ref} xxhash64
//
// The last 8 bytes are the xxhash64 (little-endian) of everything before.
//
//	record: version created updated json fieldsAt events{index time} versions{json}
const stateMagic = "LIDX1"

// ErrState reports a state encoding that cannot be decoded.
var ErrState = errors.New("index: corrupt state encoding")

// WriteTo encodes the view.
func (v *View) WriteTo(w io.Writer) (int64, error) {
	bw := &encoder{w: bufio.NewWriterSize(w, 1<<16), h: xxhash.New()}
	bw.bytes([]byte(stateMagic))
	bw.uint(v.Applied)
	bw.uint(uint64(len(v.tables)))
	for _, name := range v.Models() {
		t := v.tables[name]
		bw.bytes([]byte(name))
		for _, tree := range []*btree.BTreeG[*Record]{t.live, t.tombs} {
			bw.uint(uint64(tree.Len()))
			tree.Ascend(func(r *Record) bool {
				bw.record(r)
				return bw.err == nil
			})
		}
	}
	bw.uint(uint64(len(v.audit)))
	for _, a := range v.audit {
		bw.uint(a.Index)
		bw.int(a.Time)
		bw.bytes([]byte(a.Model))
		bw.bytes([]byte(a.ID))
		bw.bytes([]byte(a.Actor))
		bw.bytes([]byte(a.Kind))
	}
	if bw.err == nil {
		bw.write(binary.LittleEndian.AppendUint64(nil, bw.h.Sum64()))
	}
	if bw.err == nil {
		bw.err = bw.w.Flush()
	}
	return bw.n, bw.err
}

type encoder struct {
	w   *bufio.Writer
	h   *xxhash.Digest
	buf [binary.MaxVarintLen64]byte
	n   int64
	err error
}

func (e *encoder) write(b []byte) {
	if e.err != nil {
		return
	}
	e.h.Write(b)
	k, err := e.w.Write(b)
	e.n += int64(k)
	e.err = err
}

func (e *encoder) uint(x uint64) { e.write(binary.AppendUvarint(e.buf[:0], x)) }
func (e *encoder) int(x int64)   { e.write(binary.AppendVarint(e.buf[:0], x)) }
func (e *encoder) bytes(b []byte) {
	e.uint(uint64(len(b)))
	e.write(b)
}

func (e *encoder) record(r *Record) {
	e.bytes([]byte(r.ID))
	e.uint(r.Version)
	e.int(r.CreatedAt)
	e.int(r.UpdatedAt)
	e.bytes(r.JSON)
	e.uint(uint64(r.fieldsAt))
	e.uint(uint64(len(r.events)))
	for _, ev := range r.events {
		e.uint(ev.Index)
		e.int(ev.Time)
	}
	e.uint(uint64(len(r.versions)))
	for _, v := range r.versions {
		e.bytes(v)
	}
}

type decoder struct {
	r   *hashingReader
	err error
}

// hashingReader hashes exactly the bytes the decoder consumes, not what
// the buffer below it read ahead.
type hashingReader struct {
	br *bufio.Reader
	h  *xxhash.Digest
}

func (r *hashingReader) ReadByte() (byte, error) {
	c, err := r.br.ReadByte()
	if err == nil {
		r.h.Write([]byte{c})
	}
	return c, err
}

func (r *hashingReader) Read(p []byte) (int, error) {
	n, err := r.br.Read(p)
	r.h.Write(p[:n])
	return n, err
}

// maxChunk bounds any length read from a snapshot, so a forged length
// cannot make the decoder allocate without limit.
const maxChunk = 64 << 20

func (d *decoder) uint() uint64 {
	if d.err != nil {
		return 0
	}
	x, err := binary.ReadUvarint(d.r)
	if err != nil {
		d.err = err
	}
	return x
}

func (d *decoder) int() int64 {
	if d.err != nil {
		return 0
	}
	x, err := binary.ReadVarint(d.r)
	if err != nil {
		d.err = err
	}
	return x
}

func (d *decoder) count() int {
	n := d.uint()
	if n > maxChunk {
		d.fail("count %d too large", n)
		return 0
	}
	return int(n)
}

func (d *decoder) bytes() []byte {
	n := d.count()
	if d.err != nil {
		return nil
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(d.r, b); err != nil {
		d.err = err
	}
	return b
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf(format, args...)
	}
}

func (d *decoder) record() *Record {
	id := string(d.bytes())
	r := &Record{Version: d.uint(), CreatedAt: d.int(), UpdatedAt: d.int(), JSON: d.bytes()}
	r.ID = idIn(r.JSON, id)
	r.fieldsAt = d.count()
	if d.err == nil && r.fieldsAt > len(r.JSON) {
		d.fail("record %s: fields offset past its JSON", r.ID)
	}
	if n := d.count(); n > 0 {
		r.events = make([]stamp, n)
		for i := range r.events {
			r.events[i] = stamp{d.uint(), d.int()}
		}
	}
	if n := d.count(); n > 0 {
		r.versions = make([][]byte, n)
		for i := range r.versions {
			r.versions[i] = d.bytes()
		}
	}
	if len(r.JSON) == 0 {
		r.JSON = nil
	}
	return r
}

// Restore replaces the whole state with one View.WriteTo encoded, under
// the schema facts specs. check, if not nil, runs once everything is
// decoded and before anything is replaced, with the rest of r, so the
// caller can verify what follows the encoding. If the encoding or check fails, the state is
// left as it was.
func (s *State) Restore(r io.Reader, specs []ModelSpec, check func(rest io.Reader) error) error {
	br := bufio.NewReaderSize(r, 1<<16)
	d := &decoder{r: &hashingReader{br: br, h: xxhash.New()}}
	if magic := d.bytes(); d.err == nil && string(magic) != stateMagic {
		return fmt.Errorf("%w: not a state encoding", ErrState)
	}
	applied := d.uint()
	tables := map[string]*table{}
	for n := d.count(); n > 0 && d.err == nil; n-- {
		name := string(d.bytes())
		t := newTable()
		for _, tree := range []*btree.BTreeG[*Record]{t.byID, t.tombs} {
			for k := d.count(); k > 0 && d.err == nil; k-- {
				tree.ReplaceOrInsert(d.record())
			}
		}
		tables[name] = t
	}
	var audit []AuditRef
	actors := map[string]string{}
	if n := d.count(); n > 0 && d.err == nil {
		audit = make([]AuditRef, 0, n)
		for ; n > 0 && d.err == nil; n-- {
			a := AuditRef{Index: d.uint(), Time: d.int(), Model: string(d.bytes()), ID: string(d.bytes()), Actor: string(d.bytes()), Kind: event.Kind(d.bytes())}
			if prev, ok := actors[a.Actor]; ok {
				a.Actor = prev
			} else {
				actors[a.Actor] = a.Actor
			}
			audit = append(audit, a)
		}
	}
	if d.err != nil {
		return fmt.Errorf("%w: %v", ErrState, d.err)
	}
	want := d.r.h.Sum64()
	var sum [8]byte
	if _, err := io.ReadFull(br, sum[:]); err != nil {
		return fmt.Errorf("%w: checksum: %v", ErrState, err)
	}
	if binary.LittleEndian.Uint64(sum[:]) != want {
		return fmt.Errorf("%w: checksum mismatch", ErrState)
	}
	if check != nil {
		// What the buffer read ahead belongs to the caller's stream.
		if err := check(io.MultiReader(br, r)); err != nil {
			return err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tables, s.audit, s.actors, s.applied = tables, audit, actors, applied
	s.specs = make(map[string]ModelSpec, len(specs))
	for _, sp := range specs {
		s.specs[sp.Name] = sp
	}
	for name, t := range s.tables {
		s.reindexLocked(name, t)
	}
	return nil
}
