package log

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// scanResult is what scanSegment found in a segment image.
type scanResult struct {
	offsets  []uint32
	last     uint64 // base-1 when the segment holds no entry
	end      int64  // end of the last good entry frame
	sealed   bool   // a valid index frame and trailer end the image
	indexOff int64
	bad      int64 // offset of the first frame that failed, or -1
	reason   string
}

// scanSegment decodes every frame of a segment image whose header is good.
// It stops at the first frame that is damaged, torn, out of order or not
// where it should be; the caller decides whether that is a torn tail.
func scanSegment(b []byte, base uint64) scanResult {
	r := scanResult{offsets: []uint32{}, last: base - 1, end: segmentHeaderSize, bad: -1}
	off := int64(segmentHeaderSize)
	for off < int64(len(b)) {
		fr, n, err := DecodeFrame(b[off:])
		if err != nil {
			r.bad, r.reason = off, frameProblem(err)
			return r
		}
		if fr.Kind == KindIndex {
			tail := b[off+int64(n):]
			idxOff, last, ok := decodeTrailer(tail)
			switch {
			case !ok:
				r.bad, r.reason = off, "index frame without a valid trailer"
			case fr.Index != base || idxOff != off || last != r.last || !equalOffsets(decodeIndex(fr.Payload), r.offsets):
				r.bad, r.reason = off, "index frame or trailer disagrees with the entry frames"
			default:
				r.sealed, r.indexOff = true, off
			}
			return r
		}
		if want := r.last + 1; fr.Index != want {
			r.bad, r.reason = off, fmt.Sprintf("frame holds index %d, want %d", fr.Index, want)
			return r
		}
		r.offsets = append(r.offsets, uint32(off))
		r.last = fr.Index
		off += int64(n)
		r.end = off
	}
	return r
}

func equalOffsets(a, b []uint32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// durableAfter looks past a damaged offset bad for a valid frame whose
// synced hint is above bad. Such a frame proves that the bytes at bad had
// been fsync'd before it was written, so the damage is not a torn write but
// rot in acknowledged data. Without one, everything from bad on may be an
// unsynced write that the power loss cut, kept partly or garbled, and it is
// safe to drop. It returns the proving frame's offset, or -1.
func durableAfter(b []byte, bad int64) int64 {
	for o := bad + 8; o+frameHeaderSize <= int64(len(b)); o += 8 {
		hint := binary.LittleEndian.Uint64(b[o+24:])
		if hint <= uint64(bad) || hint > uint64(o) {
			continue // cheap filter: only a hint in (bad, o] proves anything
		}
		if _, _, err := DecodeFrame(b[o:]); err == nil {
			return o
		}
	}
	return -1
}

// readAll reads a whole file.
func readAll(f File) ([]byte, error) {
	size, err := f.Size()
	if err != nil {
		return nil, err
	}
	return readPrefix(f, size)
}

// readPrefix reads the first n bytes of f.
func readPrefix(f File, n int64) ([]byte, error) {
	b := make([]byte, n)
	if _, err := f.ReadAt(b, 0); err != nil && err != io.EOF {
		return nil, err
	}
	return b, nil
}

// dirState is a log directory as recovery found it.
type dirState struct {
	segs      []*segment // live segments in order
	dead      []*segment // segments wholly before the logical first index
	drop      []*segment // a last segment that held nothing durable
	first     uint64
	last      uint64
	tornBytes int64 // bytes of torn tail (truncated by Open, reported by Verify)
	temps     []string
}

func (st *dirState) closeAll() {
	for _, group := range [][]*segment{st.segs, st.dead, st.drop} {
		for _, s := range group {
			if s.file != nil {
				s.file.Close()
			}
		}
	}
}

// loadDir reads a log directory. With repair false it changes nothing and
// reads every frame of every segment (Verify); with repair true it reads
// only the headers and trailers of sealed segments and truncates a torn
// tail (Open).
func loadDir(fsys FS, dir string, repair bool) (*dirState, error) {
	names, err := fsys.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("log: read dir %s: %w", dir, err)
	}
	st := &dirState{}
	type found struct {
		name        string
		base, first uint64
	}
	var files []found
	for _, n := range names {
		if strings.HasSuffix(n, ".tmp") {
			st.temps = append(st.temps, n)
			continue
		}
		base, first, ok := parseSegmentName(n)
		if !ok {
			continue
		}
		files = append(files, found{n, base, first})
	}
	sort.Slice(files, func(i, j int) bool { return files[i].base < files[j].base })
	// The last segment renamed by a front truncation marks the logical first
	// index; segments before it are dead: a crash interrupted their removal.
	marker := 0
	for i, f := range files {
		if f.first > f.base {
			marker = i
		}
		if i > 0 && files[i-1].base == f.base {
			return nil, corruptf(f.name, 0, "two segments with base index %d", f.base)
		}
	}
	flag := os.O_RDONLY
	if repair {
		flag = os.O_RDWR
	}
	for i, fd := range files {
		f, err := fsys.OpenFile(filepath.Join(dir, fd.name), flag, 0)
		if err != nil {
			st.closeAll()
			return nil, fmt.Errorf("log: open segment %s: %w", fd.name, err)
		}
		s := &segment{name: fd.name, base: fd.base, first: fd.first, file: f}
		isLast := i == len(files)-1
		if err := loadSegment(s, isLast, repair, st); err != nil {
			f.Close()
			st.closeAll()
			return nil, err
		}
		switch {
		case s.file == nil: // dropped by loadSegment
			st.drop = append(st.drop, s)
		case i < marker:
			st.dead = append(st.dead, s)
		default:
			st.segs = append(st.segs, s)
		}
	}
	for i := 1; i < len(st.segs); i++ {
		if prev, s := st.segs[i-1], st.segs[i]; s.base != prev.last+1 {
			st.closeAll()
			return nil, corruptf(s.name, 0, "base index %d does not follow %s ending at %d (missing segment or index gap)", s.base, prev.name, prev.last)
		}
	}
	if len(st.segs) > 0 {
		st.first = st.segs[0].first
		st.last = st.segs[len(st.segs)-1].last
		if st.first > st.last {
			// Only possible under SyncPeriodic: the front was truncated to
			// entries that the crash then cut off. Nothing live remains.
			st.dead = append(st.dead, st.segs...)
			st.segs, st.first, st.last = nil, 0, 0
		}
	}
	return st, nil
}

// loadSegment fills s from its file. For the last segment it finds the torn
// tail and, when repairing, truncates it; it sets s.file to nil (after
// closing it) when the whole file is a torn creation.
func loadSegment(s *segment, isLast, repair bool, st *dirState) error {
	if !isLast {
		// Header and trailer first, so that Open and Verify word the same
		// damage the same way; Verify then reads every frame.
		if err := loadSealedQuick(s); err != nil || repair {
			return err
		}
	}
	size, err := s.file.Size()
	if err != nil {
		return fmt.Errorf("log: stat segment %s: %w", s.name, err)
	}
	if isLast {
		r, ok, err := scanActive(s.file, s.base, dataEnd(s.file, size))
		if err != nil {
			return fmt.Errorf("log: read segment %s: %w", s.name, err)
		}
		if ok {
			s.offsets, s.last, s.size, s.synced = r.offsets, r.last, r.end, r.end
			if s.last < s.base {
				s.file.Close() // an empty last segment: see below
				s.file = nil
			}
			return nil
		}
	}
	b, err := readPrefix(s.file, size)
	if err != nil {
		return fmt.Errorf("log: read segment %s: %w", s.name, err)
	}
	base, herr := decodeSegmentHeader(b)
	if herr == nil && base != s.base {
		herr = fmt.Errorf("header base index %d, name says %d", base, s.base)
	}
	if herr != nil {
		if !isLast {
			return corruptf(s.name, 0, "%v", herr)
		}
		if o := durableAfter(b, 0); o >= 0 {
			return corruptf(s.name, 0, "%v, but the frame at offset %d proves it was synced", herr, o)
		}
		// A segment whose header never reached the disk never held an
		// acknowledged entry: its entries are written only after the header
		// is synced.
		st.tornBytes += size
		s.file.Close()
		s.file = nil
		return nil
	}
	r := scanSegment(b, s.base)
	if !isLast {
		if r.bad >= 0 {
			return corruptf(s.name, r.bad, "%s", r.reason)
		}
		if !r.sealed {
			return corruptf(s.name, int64(len(b)), "sealed segment has no index frame and trailer")
		}
	}
	if r.bad >= 0 && isLast && !r.sealed && allZero(b[r.end:]) {
		// Zeros after the last frame are the active segment's
		// preallocated space (or writes that never reached the disk,
		// which is the same): free space, written over by the next
		// append, not a tail to truncate.
		r.bad = -1
	}
	if r.bad >= 0 {
		if o := durableAfter(b, r.bad); o >= 0 {
			return corruptf(s.name, r.bad, "%s, but the frame at offset %d proves it was synced", r.reason, o)
		}
		st.tornBytes += size - r.end
		if repair {
			if err := s.file.Truncate(r.end); err != nil {
				return fmt.Errorf("log: truncate torn tail of %s at %d: %w", s.name, r.end, err)
			}
			if err := s.file.Sync(); err != nil {
				return fmt.Errorf("log: sync %s: %w", s.name, err)
			}
		}
	}
	s.offsets, s.last = r.offsets, r.last
	if r.sealed {
		s.sealed, s.indexOff, s.size = true, r.indexOff, size
	} else {
		s.size = r.end
	}
	s.synced = s.size
	if isLast && s.last < s.base {
		// An empty last segment carries no information; drop it so that the
		// next Append starts a fresh one wherever it must.
		s.file.Close()
		s.file = nil
	}
	return nil
}

// scanActive reads the first n bytes of the active segment in chunks and
// scans them, without reading the rest of the file, which must read as
// zeros (n is the file's data end; the rest is preallocated space that was
// never written, tens of megabytes on a young segment). It succeeds (ok)
// only when the segment is clean: a good header, whole entry frames in
// index order, then only zeros. That is what a scan of the whole file
// would accept as it is, so the result is the same; anything else (a torn
// tail, damage, a seal, a frame that runs past n) returns ok false and the
// caller decides on the whole file, as before.
func scanActive(f File, base uint64, n int64) (r scanResult, ok bool, err error) {
	r = scanResult{offsets: []uint32{}, last: base - 1, end: segmentHeaderSize, bad: -1}
	w := &window{f: f, n: n, buf: make([]byte, 0, min(n, 4<<20))}
	b, err := w.at(0, segmentHeaderSize)
	if err != nil {
		return r, false, err
	}
	if got, herr := decodeSegmentHeader(b); herr != nil || got != base {
		return r, false, nil
	}
	off := int64(segmentHeaderSize)
	for off < n {
		if b, err = w.at(off, frameHeaderSize); err != nil {
			return r, false, err
		}
		if len(b) >= frameHeaderSize {
			if l := frameLen(b); l <= maxFramePayload && off+int64(encodedFrameSize(l)) <= n {
				if b, err = w.at(off, encodedFrameSize(l)); err != nil {
					return r, false, err
				}
			}
		}
		fr, size, derr := DecodeFrame(b)
		if derr != nil || fr.Kind != KindEntry || fr.Index != r.last+1 {
			break // free space if only zeros follow, else not clean
		}
		r.offsets = append(r.offsets, uint32(off))
		r.last = fr.Index
		off += int64(size)
		r.end = off
	}
	for ; off < n; off += int64(len(b)) {
		if b, err = w.at(off, 1); err != nil {
			return r, false, err
		}
		if len(b) == 0 || !allZero(b) {
			return r, false, nil
		}
	}
	return r, true, nil
}

// window reads a file front to back through one buffer.
type window struct {
	f     File
	n     int64 // read no further than this
	buf   []byte
	start int64 // file offset of buf[0]
}

// at returns the buffered bytes from file offset off on, at least want of
// them unless the file or n ends first, reading on as needed. off must not
// go backwards. The buffer grows only for a frame bigger than it.
func (w *window) at(off int64, want int) ([]byte, error) {
	end := w.start + int64(len(w.buf))
	if off+int64(want) <= end || end >= w.n {
		return w.buf[min(off-w.start, int64(len(w.buf))):], nil
	}
	rest := 0
	if off < end {
		rest = copy(w.buf[:cap(w.buf)], w.buf[off-w.start:])
	}
	if want > cap(w.buf) {
		nb := make([]byte, want)
		copy(nb, w.buf[:rest])
		w.buf = nb
	}
	w.buf, w.start = w.buf[:cap(w.buf)], off
	toRead := min(int64(len(w.buf)-rest), w.n-off-int64(rest))
	m, err := w.f.ReadAt(w.buf[rest:rest+int(toRead)], off+int64(rest))
	if err != nil && err != io.EOF {
		return nil, err
	}
	w.buf = w.buf[:rest+m]
	return w.buf, nil
}

// loadSealedQuick reads only the header and the trailer of a sealed segment.
// Its frames are checked when they are read (and by Verify), which keeps Open
// of a large log proportional to the number of segments, not their size.
func loadSealedQuick(s *segment) error {
	size, err := s.file.Size()
	if err != nil {
		return fmt.Errorf("log: stat segment %s: %w", s.name, err)
	}
	hdr := make([]byte, segmentHeaderSize)
	if _, err := s.file.ReadAt(hdr, 0); err != nil && err != io.EOF {
		return fmt.Errorf("log: read segment %s: %w", s.name, err)
	}
	base, err := decodeSegmentHeader(hdr)
	if err == nil && base != s.base {
		err = fmt.Errorf("header base index %d, name says %d", base, s.base)
	}
	if err != nil {
		return corruptf(s.name, 0, "%v", err)
	}
	if size < segmentHeaderSize+trailerSize {
		return corruptf(s.name, size, "sealed segment has no index frame and trailer")
	}
	tr := make([]byte, trailerSize)
	if _, err := s.file.ReadAt(tr, size-trailerSize); err != nil && err != io.EOF {
		return fmt.Errorf("log: read segment %s: %w", s.name, err)
	}
	idxOff, last, ok := decodeTrailer(tr)
	if !ok || idxOff < segmentHeaderSize || idxOff > size-trailerSize-frameHeaderSize || last < s.base {
		return corruptf(s.name, size, "sealed segment has no index frame and trailer")
	}
	s.sealed, s.indexOff, s.size, s.synced, s.last = true, idxOff, size, size, last
	return nil
}

// Report is what Verify found.
type Report struct {
	Segments     int    // live segments
	Entries      uint64 // live entries (LastIndex-FirstIndex+1)
	FirstIndex   uint64
	LastIndex    uint64
	TornBytes    int64 // bytes of torn tail that Open would truncate
	DeadSegments int   // segments before the first index whose removal was interrupted
	Archived     int   // archived segments checked
}

// Verify reads every frame of every segment in dir (and of every archived
// segment) and checks checksums, index order, seals and the chain of
// segments. It changes nothing. Damage is reported as the same ErrCorrupt
// message Open (or Read, for a sealed segment) gives; a torn tail is not
// damage and is reported in Report.TornBytes. fsys nil means the OS.
func Verify(dir string, fsys FS) (Report, error) {
	if fsys == nil {
		fsys = OSFS{}
	}
	st, err := loadDir(fsys, dir, false)
	if err != nil {
		return Report{}, err
	}
	defer st.closeAll()
	rep := Report{Segments: len(st.segs), FirstIndex: st.first, LastIndex: st.last,
		TornBytes: st.tornBytes, DeadSegments: len(st.dead)}
	if st.last > 0 {
		rep.Entries = st.last - st.first + 1
	}
	n, err := verifyArchive(fsys, dir)
	rep.Archived = n
	return rep, err
}

// zeros is a source of zero bytes: written ahead by the writer, compared
// against by allZero (at memory speed). Never modified.
var zeros [zeroAhead]byte

// allZero reports whether b holds only zero bytes.
func allZero(b []byte) bool {
	for len(b) > 0 {
		n := min(len(b), len(zeros))
		if !bytes.Equal(b[:n], zeros[:n]) {
			return false
		}
		b = b[n:]
	}
	return true
}
