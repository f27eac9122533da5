package index

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"runtime/debug"
	"sort"
	"sync"
	"unsafe"

	"github.com/cespare/xxhash/v2"
	"github.com/google/btree"
)

// View is a frozen copy of the State at one applied index. Taking it costs
// a copy-on-write clone per tree, so Apply keeps running while a snapshot
// is written from the View.
type View struct {
	Applied uint64
	tables  map[string]viewTable
	audit   []auditEntry
	actors  []string
	models  []string
}

type viewTable struct {
	live, tombs *btree.BTreeG[*Record]
}

// View freezes the current state.
func (s *State) View() *View {
	s.waitForIndexes("")
	s.mu.Lock() // Clone marks the source tree copy-on-write: a write.
	defer s.mu.Unlock()
	for _, t := range s.tables {
		t.finishBuildLocked()
	}
	v := &View{Applied: s.applied, tables: make(map[string]viewTable, len(s.tables)),
		audit:  s.audit[:len(s.audit):len(s.audit)],
		actors: s.actors.list[:len(s.actors.list):len(s.actors.list)],
		models: s.models.list[:len(s.models.list):len(s.models.list)]}
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

// Hash is a digest of every live record as the API renders it (id,
// version, times and fields): two nodes, or one node before and after a
// restart, that hold the same state have the same hash.
func (v *View) Hash() uint64 {
	h := xxhash.New()
	var buf []byte
	for _, name := range v.Models() {
		h.WriteString(name)
		h.Write([]byte{0})
		v.Each(name, func(r *Record) bool {
			buf = r.AppendJSON(buf[:0])
			h.Write(buf)
			return true
		})
	}
	return h.Sum64()
}

// The state's snapshot encoding. Integers are uvarints (times varints);
// byte strings are length-prefixed.
//
//	"LIDX3" applied
//	models{ name live{record} tombs{record} }
//	actors{name} modelnames{name} audit{index actor model kind}
//	xxhash64 of everything before (8 bytes, little-endian)
//
//	record: id version created updated fields createdIndex
//	        events{index time} versions{fields}
const stateMagic = "LIDX3"

// ErrState reports a state encoding that cannot be decoded.
var ErrState = errors.New("index: corrupt state encoding")

// WriteTo encodes the view.
func (v *View) WriteTo(w io.Writer) (int64, error) {
	e := &encoder{w: bufio.NewWriterSize(w, 1<<16), h: xxhash.New()}
	e.bytes([]byte(stateMagic))
	e.uint(v.Applied)
	e.uint(uint64(len(v.tables)))
	for _, name := range v.Models() {
		t := v.tables[name]
		e.bytes([]byte(name))
		for _, tree := range []*btree.BTreeG[*Record]{t.live, t.tombs} {
			e.uint(uint64(tree.Len()))
			tree.Ascend(func(r *Record) bool {
				e.record(r)
				return e.err == nil
			})
		}
	}
	for _, list := range [][]string{v.actors, v.models} {
		e.uint(uint64(len(list)))
		for _, n := range list {
			e.bytes([]byte(n))
		}
	}
	e.uint(uint64(len(v.audit)))
	for _, a := range v.audit {
		e.uint(a.Index)
		e.uint(uint64(a.actor))
		e.uint(uint64(a.model))
		e.uint(uint64(a.kind))
	}
	if e.err == nil {
		e.write(binary.LittleEndian.AppendUint64(nil, e.h.Sum64()))
	}
	if e.err == nil {
		e.err = e.w.Flush()
	}
	return e.n, e.err
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
	e.bytes(r.fieldBytes())
	e.uint(r.created)
	var events []stamp
	var versions []string
	if r.more != nil {
		events, versions = r.more.events, r.more.versions
	}
	e.uint(uint64(len(events)))
	for _, ev := range events {
		e.uint(ev.Index)
		e.int(ev.Time)
	}
	e.uint(uint64(len(versions)))
	for _, v := range versions {
		e.bytes([]byte(v))
	}
}

// decoder reads the encoding and hashes exactly the bytes it consumes
// (not what the buffer below read ahead), in chunks to keep hashing cheap.
type decoder struct {
	br      *bufio.Reader
	h       *xxhash.Digest
	pending []byte
	scratch [2][]byte
	flip    int
	err     error
}

func (d *decoder) ReadByte() (byte, error) {
	c, err := d.br.ReadByte()
	if err == nil {
		d.pending = append(d.pending, c)
		if len(d.pending) >= 4096 {
			d.flushHash()
		}
	}
	return c, err
}

func (d *decoder) flushHash() {
	d.h.Write(d.pending)
	d.pending = d.pending[:0]
}

func (d *decoder) sum() uint64 {
	d.flushHash()
	return d.h.Sum64()
}

// maxChunk bounds any length read from a snapshot, so a forged length
// cannot make the decoder allocate without limit.
const maxChunk = 64 << 20

func (d *decoder) uint() uint64 {
	if d.err != nil {
		return 0
	}
	x, err := binary.ReadUvarint(d)
	if err != nil {
		d.err = err
	}
	return x
}

func (d *decoder) int() int64 {
	if d.err != nil {
		return 0
	}
	x, err := binary.ReadVarint(d)
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
	if _, err := io.ReadFull(d.br, b); err != nil {
		d.err = err
		return nil
	}
	d.flushHash()
	d.h.Write(b)
	return b
}

// scratchBytes reads a byte string into a buffer reused by the next call.
func (d *decoder) scratchBytes() []byte {
	n := d.count()
	if d.err != nil {
		return nil
	}
	if cap(d.scratch[d.flip]) < n {
		d.scratch[d.flip] = make([]byte, n)
	}
	b := d.scratch[d.flip][:n]
	d.flip ^= 1 // two live at a time: an id and its fields
	if _, err := io.ReadFull(d.br, b); err != nil {
		d.err = err
		return nil
	}
	d.flushHash()
	d.h.Write(b)
	return b
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf(format, args...)
	}
}

func (d *decoder) record() *Record {
	id := d.scratchBytes()
	version, created := d.uint(), d.int()
	// newRecord copies both, so the scratch id needs no string of its own.
	r := newRecord(unsafe.String(unsafe.SliceData(id), len(id)), d.scratchBytes())
	r.Version, r.CreatedAt, r.created = version, created, d.uint()
	if n := d.count(); n > 0 && d.err == nil {
		r.more = &history{events: make([]stamp, n)}
		for i := range r.more.events {
			r.more.events[i] = stamp{d.uint(), d.int()}
		}
	}
	if n := d.count(); n > 0 && d.err == nil {
		if r.more == nil {
			r.more = &history{}
		}
		r.more.versions = make([]string, n)
		for i := range r.more.versions {
			r.more.versions[i] = string(d.bytes())
		}
	}
	return r
}

// gcPause counts the restores running: the GC setting is the process's,
// so only the first of overlapping restores turns collection off and
// only the last turns it back on (each restoring the setting it found
// would leave it off for good when they overlap).
var gcPause struct {
	sync.Mutex
	n      int
	before int
}

// pauseGC turns the collector off until the returned func is called.
func pauseGC() (resume func()) {
	gcPause.Lock()
	if gcPause.n == 0 {
		gcPause.before = debug.SetGCPercent(-1)
	}
	gcPause.n++
	gcPause.Unlock()
	return func() {
		gcPause.Lock()
		defer gcPause.Unlock()
		if gcPause.n--; gcPause.n == 0 {
			debug.SetGCPercent(gcPause.before)
		}
	}
}

// Restore replaces the whole state with one View.WriteTo encoded, under
// the schema facts specs. check, if not nil, runs once everything is
// decoded and before anything is replaced, with the rest of r, so the
// caller can verify what follows the encoding. If the encoding or check
// fails, the state is left as it was.
func (s *State) Restore(r io.Reader, specs []ModelSpec, check func(rest io.Reader) error) error {
	// Nearly everything a restore allocates stays live, so collecting
	// while it grows the heap only marks the same records again and again
	// (a second of CPU for a million records). Collection resumes after.
	defer pauseGC()()
	br := bufio.NewReaderSize(r, 1<<16)
	d := &decoder{br: br, h: xxhash.New(), pending: make([]byte, 0, 4096)}
	if magic := d.bytes(); d.err == nil && string(magic) != stateMagic {
		return fmt.Errorf("%w: not a state encoding", ErrState)
	}
	fresh := New()
	for _, sp := range specs {
		fresh.specs[sp.Name] = sp
	}
	fresh.applied = d.uint()
	// The secondary indexes fill on their own goroutines while the
	// snapshot is decoded, and finish after Restore returns if they must.
	builders := map[*table]*builder{}
	defer func() {
		for _, b := range builders {
			b.wait() // a failed restore must not leave builders behind
		}
	}()
	for n := d.count(); n > 0 && d.err == nil; n-- {
		name := string(d.bytes())
		t := newTable()
		t.setupIndexes(fresh.specs[name])
		b := t.startBuild()
		batch := make([]*Record, 0, buildBatch)
		for k := d.count(); k > 0 && d.err == nil; k-- {
			r := d.record()
			t.byID.ReplaceOrInsert(r)
			t.addUnique(r)
			if batch = append(batch, r); len(batch) == buildBatch {
				b.add(batch)
				batch = make([]*Record, 0, buildBatch)
			}
		}
		b.add(batch)
		b.close()
		builders[t] = b
		for k := d.count(); k > 0 && d.err == nil; k-- {
			t.tombs.ReplaceOrInsert(d.record())
		}
		fresh.tables[name] = t
	}
	for _, list := range []*names{&fresh.actors, &fresh.models} {
		for n := d.count(); n > 0 && d.err == nil; n-- {
			list.id(string(d.bytes()))
		}
	}
	if n := d.count(); n > 0 && d.err == nil {
		fresh.audit = make([]auditEntry, 0, n)
		for ; n > 0 && d.err == nil; n-- {
			fresh.audit = append(fresh.audit, auditEntry{Index: d.uint(), actor: uint32(d.uint()), model: uint16(d.uint()), kind: uint8(d.uint())})
		}
	}
	if d.err != nil {
		return fmt.Errorf("%w: %v", ErrState, d.err)
	}
	want := d.sum()
	var sum [8]byte
	if _, err := io.ReadFull(br, sum[:]); err != nil {
		return fmt.Errorf("%w: checksum: %v", ErrState, err)
	}
	if binary.LittleEndian.Uint64(sum[:]) != want {
		return fmt.Errorf("%w: checksum mismatch", ErrState)
	}
	for _, a := range fresh.audit {
		if int(a.kind) >= len(kinds) || int(a.actor) >= len(fresh.actors.list) || int(a.model) >= len(fresh.models.list) {
			return fmt.Errorf("%w: audit entry %d out of range", ErrState, a.Index)
		}
	}
	if check != nil {
		// What the buffer read ahead belongs to the caller's stream.
		if err := check(io.MultiReader(br, r)); err != nil {
			return err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range s.tables {
		t.finishBuildLocked()
	}
	s.tables, s.specs, s.audit, s.actors, s.models, s.applied = fresh.tables, fresh.specs, fresh.audit, fresh.actors, fresh.models, fresh.applied
	for t, b := range builders {
		s.buildInBackground(t, b)
	}
	builders = nil
	return nil
}
