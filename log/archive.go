package log

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/klauspost/compress/zstd"
)

// timeNow is the clock of archive names and retention; tests replace it.
var timeNow = time.Now

// archiveDir is the subdirectory of the log directory holding archived
// segments.
const archiveDir = "archive"

// archived names one archived segment:
// archive/<base %020d>-<last %020d>-<unix seconds archived>.seg.zst
type archived struct {
	name       string
	base, last uint64
	at         time.Time
}

func archiveName(base, last uint64, at time.Time) string {
	return fmt.Sprintf("%020d-%020d-%d.seg.zst", base, last, at.Unix())
}

func parseArchiveName(name string) (archived, bool) {
	rest, ok := strings.CutSuffix(name, ".seg.zst")
	if !ok {
		return archived{}, false
	}
	parts := strings.Split(rest, "-")
	if len(parts) != 3 || len(parts[0]) != 20 || len(parts[1]) != 20 {
		return archived{}, false
	}
	base, ok1 := parseDigits(parts[0])
	last, ok2 := parseDigits(parts[1])
	sec, err := strconv.ParseInt(parts[2], 10, 64)
	if !ok1 || !ok2 || err != nil || last < base {
		return archived{}, false
	}
	return archived{name: name, base: base, last: last, at: time.Unix(sec, 0)}, true
}

// listArchive returns the archived segments of dir sorted by base index.
// A missing archive directory is an empty archive.
func listArchive(fsys FS, dir string) ([]archived, error) {
	names, err := fsys.ReadDir(filepath.Join(dir, archiveDir))
	if err != nil {
		if os.IsNotExist(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("log: read archive: %w", err)
	}
	var out []archived
	for _, n := range names {
		if a, ok := parseArchiveName(n); ok {
			out = append(out, a)
		}
	}
	// By base index; for the same base (a log emptied and refilled), the
	// newest copy first.
	sort.Slice(out, func(i, j int) bool {
		if out[i].base != out[j].base {
			return out[i].base < out[j].base
		}
		return out[i].at.After(out[j].at)
	})
	return out, nil
}

func (l *Log) countArchive() int {
	a, _ := listArchive(l.fs, l.dir)
	return len(a)
}

// archiveSegment writes a zstd copy of a sealed segment into the archive,
// durably (temp file, sync, rename, sync dir), before the caller removes the
// original. A crash in between leaves both, which is harmless: loadDir treats
// the original as dead and retires it again, and Scan skips indexes it has
// already passed.
func (l *Log) archiveSegment(s *segment) error {
	img, err := readAll(s.file)
	if err != nil {
		return fmt.Errorf("log: archive %s: read: %w", s.name, err)
	}
	return l.archiveImage(s.name, s.base, s.last, img)
}

// archivePrefix archives the entries of s below s.first: the compacted
// history TruncateFront left in the segment it renamed, when the rest of
// s is being discarded. The archive gets a sealed image of those entries
// alone, built in memory; s itself is not changed.
func (l *Log) archivePrefix(s *segment) error {
	if s.offsets == nil {
		offs, err := readIndex(s.file, s.name, s.base, s.last, s.indexOff, s.size)
		if err != nil {
			return err
		}
		s.offsets = offs
	}
	last := s.first - 1
	_, end := s.frameBounds(last)
	img, err := readPrefix(s.file, end)
	if err != nil {
		return fmt.Errorf("log: archive %s: read: %w", s.name, err)
	}
	img = appendFrame(img, KindIndex, s.base, uint64(end), encodeIndex(s.offsets[:last-s.base+1]))
	img = append(img, encodeTrailer(end, last)...)
	return l.archiveImage(s.name, s.base, last, img)
}

// archiveImage writes a sealed segment image, compressed, into the
// archive as the entries base..last.
func (l *Log) archiveImage(segName string, base, last uint64, img []byte) error {
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1))
	if err != nil {
		return err
	}
	comp := enc.EncodeAll(img, nil)
	enc.Close()

	adir := filepath.Join(l.dir, archiveDir)
	if err := l.fs.MkdirAll(adir, 0o755); err != nil {
		return fmt.Errorf("log: archive: %w", err)
	}
	name := archiveName(base, last, timeNow())
	tmp := filepath.Join(adir, name+".tmp")
	f, err := l.fs.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("log: archive %s: %w", segName, err)
	}
	_, err = f.WriteAt(comp, 0)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = l.fs.Rename(tmp, filepath.Join(adir, name))
	}
	if err == nil {
		err = l.fs.SyncDir(adir)
	}
	if err != nil {
		return fmt.Errorf("log: archive %s: %w", segName, err)
	}
	l.mu.Lock()
	l.archived++
	l.mu.Unlock()
	return nil
}

// applyRetention deletes archived segments archived longer ago than
// Options.Retention.
func (l *Log) applyRetention() error {
	if l.opts.Retention <= 0 {
		return nil
	}
	list, err := listArchive(l.fs, l.dir)
	if err != nil {
		return err
	}
	cutoff := timeNow().Add(-l.opts.Retention)
	adir := filepath.Join(l.dir, archiveDir)
	removed := 0
	for _, a := range list {
		if a.at.Before(cutoff) {
			if err := l.fs.Remove(filepath.Join(adir, a.name)); err != nil {
				return fmt.Errorf("log: retention: %w", err)
			}
			removed++
		}
	}
	if removed == 0 {
		return nil
	}
	l.mu.Lock()
	l.archived -= removed
	l.mu.Unlock()
	return l.fs.SyncDir(adir)
}

// readArchived returns the decompressed image of an archived segment.
func readArchived(fsys FS, dir string, a archived) ([]byte, error) {
	f, err := fsys.OpenFile(filepath.Join(dir, archiveDir, a.name), os.O_RDONLY, 0)
	if err != nil {
		return nil, fmt.Errorf("log: open archive %s: %w", a.name, err)
	}
	defer f.Close()
	comp, err := readAll(f)
	if err != nil {
		return nil, fmt.Errorf("log: read archive %s: %w", a.name, err)
	}
	dec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(2*maxSegmentSize))
	if err != nil {
		return nil, err
	}
	defer dec.Close()
	img, err := dec.DecodeAll(comp, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: archive %s: %v", ErrCorrupt, a.name, err)
	}
	return img, nil
}

// checkImage checks a whole segment image that must be sealed and clean.
func checkImage(img []byte, name string, base, last uint64) (scanResult, error) {
	b, err := decodeSegmentHeader(img)
	if err == nil && b != base {
		err = fmt.Errorf("header base index %d, name says %d", b, base)
	}
	if err != nil {
		return scanResult{}, corruptf(name, 0, "%v", err)
	}
	r := scanSegment(img, base)
	if r.bad >= 0 {
		return r, corruptf(name, r.bad, "%s", r.reason)
	}
	if !r.sealed || r.last != last {
		return r, corruptf(name, int64(len(img)), "archived segment is not sealed at index %d", last)
	}
	return r, nil
}

// verifyArchive checks every archived segment of dir.
func verifyArchive(fsys FS, dir string) (int, error) {
	list, err := listArchive(fsys, dir)
	if err != nil {
		return 0, err
	}
	for i, a := range list {
		img, err := readArchived(fsys, dir, a)
		if err != nil {
			return i, err
		}
		if _, err := checkImage(img, filepath.Join(archiveDir, a.name), a.base, a.last); err != nil {
			return i, err
		}
	}
	return len(list), nil
}

// Scan calls fn for every entry from index from on, in index order: first
// the archived segments, then the live ones (including entries of the first
// live segment that are below FirstIndex but not yet archived), up to the
// LastIndex seen when Scan reached the live segments. An index already
// passed is not repeated, and an index held by a live segment is read from
// it, not from an older archived copy (possible only after the log was
// emptied and restarted at a lower index). fn may keep data. Scan stops early, with a nil
// error, when fn returns false. It reads one segment at a time into memory.
// It does not block appends or reads, but truncations and Close wait for
// it, so fn must not call them.
func (l *Log) Scan(from uint64, fn func(index uint64, data []byte) bool) error {
	// Holding truncMu keeps segments from moving between the live set and
	// the archive under us (a segment in the middle of being archived is in
	// neither list). Appends go on.
	l.truncMu.Lock()
	defer l.truncMu.Unlock()
	next := max(from, 1)
	_, err := l.scanOnce(&next, fn)
	return err
}

// scanOnce is one pass of Scan over the archive and the live segments,
// advancing *next past every index it hands to fn.
func (l *Log) scanOnce(next *uint64, fn func(index uint64, data []byte) bool) (stopped bool, err error) {
	emit := func(img []byte, r scanResult, base uint64) bool {
		for i, off := range r.offsets {
			idx := base + uint64(i)
			if idx < *next {
				continue
			}
			n := frameLen(img[off:])
			data := append([]byte(nil), img[int(off)+frameHeaderSize:int(off)+frameHeaderSize+n]...)
			if !fn(idx, data) {
				return false
			}
			*next = idx + 1
		}
		return true
	}
	// The live segments are the truth for every index they hold: after a
	// log was emptied and restarted at a lower index, older archived
	// copies of those indexes are hidden.
	l.mu.Lock()
	liveStart := uint64(0)
	if len(l.segs) > 0 {
		liveStart = l.segs[0].base
	}
	l.mu.Unlock()
	list, err := listArchive(l.fs, l.dir)
	if err != nil {
		return false, err
	}
	for _, a := range list {
		if a.last < *next || (liveStart != 0 && a.base >= liveStart) {
			continue
		}
		img, err := readArchived(l.fs, l.dir, a)
		if err != nil {
			return false, err
		}
		r, err := checkImage(img, filepath.Join(archiveDir, a.name), a.base, a.last)
		if err != nil {
			return false, err
		}
		if liveStart != 0 {
			r.offsets = r.offsets[:min(uint64(len(r.offsets)), liveStart-a.base)]
		}
		if !emit(img, r, a.base) {
			return true, nil
		}
	}
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return false, ErrClosed
	}
	segs := append([]*segment(nil), l.segs...)
	last := l.last
	l.mu.Unlock()
	for _, s := range segs {
		img, name, base, err := l.readLive(s, last)
		if err != nil {
			return false, err
		}
		if img == nil {
			continue
		}
		r := scanSegment(img, base)
		if r.bad >= 0 {
			return false, corruptf(name, r.bad, "%s", r.reason)
		}
		if !emit(img, r, base) {
			return true, nil
		}
	}
	return false, nil
}

// readLive reads a live segment's entry frames up to index last, or returns
// nil if it was retired meanwhile.
func (l *Log) readLive(s *segment, last uint64) ([]byte, string, uint64, error) {
	l.fileMu.RLock()
	defer l.fileMu.RUnlock()
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil, "", 0, ErrClosed
	}
	live := false
	for _, x := range l.segs {
		live = live || x == s
	}
	if !live || s.base > last {
		l.mu.Unlock()
		return nil, "", 0, nil
	}
	end := s.dataEnd()
	if s.last > last && s.offsets != nil {
		_, end = s.frameBounds(last)
	}
	name, base, f := s.name, s.base, s.file
	l.mu.Unlock()
	img := make([]byte, end)
	if _, err := f.ReadAt(img, 0); err != nil {
		return nil, "", 0, fmt.Errorf("log: scan segment %s: %w", name, err)
	}
	return img, name, base, nil
}
