package log

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// segment is one segment file. The fields are guarded by Log.mu unless noted;
// the writer (the goroutine holding Log.writing) is the only one that changes
// size, offsets and sealed, and it may read them without the lock.
type segment struct {
	name  string // file name inside the log directory; changes on front truncation
	base  uint64 // index of the first frame in the file
	first uint64 // entries below first are logically deleted (from the name)
	last  uint64 // last entry index in the file; base-1 when empty
	file  File

	sealed   bool
	indexOff int64 // sealed: offset of the index frame (= end of entry frames)
	size     int64 // bytes written and visible to readers
	synced   int64 // bytes known to be fsync'd (the hint written into frames)
	// zeroed is where the zeros the writer wrote ahead of its frames end
	// (see zeroAhead); 0 when unknown. Only the writer uses it.
	zeroed int64
	// allocated is how far the file's blocks are known claimed
	// (preallocated); 0 when unknown. Only the writer uses it.
	allocated int64

	// offsets[i] is the byte offset of entry base+i. Nil for a sealed
	// segment whose index frame has not been loaded yet: Open does not read
	// sealed segments beyond header and trailer, to stay fast on big logs.
	offsets []uint32
}

// dataEnd is the end of the last entry frame.
func (s *segment) dataEnd() int64 {
	if s.sealed {
		return s.indexOff
	}
	return s.size
}

// frameBounds returns the byte range of entry index. offsets must be loaded.
func (s *segment) frameBounds(index uint64) (int64, int64) {
	i := index - s.base
	off := int64(s.offsets[i])
	if i+1 < uint64(len(s.offsets)) {
		return off, int64(s.offsets[i+1])
	}
	return off, s.dataEnd()
}

// corruptf builds the ErrCorrupt error every damage report uses, so that
// Open, Read and Verify name the same file and offset for the same damage.
func corruptf(name string, off int64, format string, args ...any) error {
	return fmt.Errorf("%w: segment %s offset %d: %s", ErrCorrupt, name, off, fmt.Sprintf(format, args...))
}

// createSegment creates an empty segment with the given base index, makes
// its header and its directory entry durable, and returns it. Entries are
// only ever appended to a segment whose header is already synced, which is
// what lets recovery throw away a segment with a torn header. The file is
// preallocated to prealloc bytes of zeros where the file system can: the
// zeros after the last frame are free space to recovery, not a torn tail.
func createSegment(fsys FS, dir string, base uint64, prealloc int64, sync func(File) error) (*segment, error) {
	name := segmentName(base, base)
	path := filepath.Join(dir, name)
	f, err := fsys.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		if isNoSpace(err) {
			return nil, fmt.Errorf("%w: create %s: %w", ErrNoSpace, name, err)
		}
		return nil, err
	}
	hdr := encodeSegmentHeader(base)
	if _, err := f.WriteAt(hdr, 0); err != nil {
		f.Close()
		if isNoSpace(err) {
			// Nothing was synced: the file is not part of the log yet.
			fsys.Remove(path)
			return nil, fmt.Errorf("%w: create %s: %w", ErrNoSpace, name, err)
		}
		return nil, err
	}
	allocated := prealloc
	if err := preallocate(f, prealloc); isNoSpace(err) {
		// Less than a segment is free: the writer claims room round by
		// round (Log.reserve) and reports a full disk there.
		allocated = 0
	} else if err != nil {
		f.Close()
		return nil, err
	}
	if err := sync(f); err != nil {
		f.Close()
		return nil, err
	}
	if err := fsys.SyncDir(dir); err != nil {
		f.Close()
		return nil, err
	}
	return &segment{name: name, base: base, first: base, last: base - 1, file: f,
		size: segmentHeaderSize, synced: segmentHeaderSize, allocated: allocated, offsets: []uint32{}}, nil
}

// sealSize is how many bytes seal appends.
func (s *segment) sealSize() int64 {
	return int64(encodedFrameSize(4*len(s.offsets)) + trailerSize) // see encodeIndex
}

// seal appends the index frame and the trailer and syncs them with sync.
// Called by the writer only; the caller publishes sealed/indexOff under
// Log.mu.
func (s *segment) seal(synced int64, sync func(File) error) (indexOff, size int64, err error) {
	buf := appendFrame(nil, KindIndex, s.base, uint64(synced), encodeIndex(s.offsets))
	buf = append(buf, encodeTrailer(s.size, s.last)...)
	if _, err := s.file.WriteAt(buf, s.size); err != nil {
		return 0, 0, err
	}
	// The trailer must end the file: drop what is left of the
	// preallocated space.
	if err := s.file.Truncate(s.size + int64(len(buf))); err != nil {
		return 0, 0, err
	}
	if err := sync(s.file); err != nil {
		return 0, 0, err
	}
	return s.size, s.size + int64(len(buf)), nil
}

// readIndex loads the offsets of a sealed segment from its index frame.
// It does I/O and does not need Log.mu: a sealed segment is immutable.
func readIndex(f File, name string, base, last uint64, indexOff, size int64) ([]uint32, error) {
	n := size - trailerSize - indexOff
	if n < frameHeaderSize || n > frameHeaderSize+maxFramePayload+8 {
		return nil, corruptf(name, indexOff, "index frame of %d bytes", n)
	}
	buf := make([]byte, n)
	if _, err := f.ReadAt(buf, indexOff); err != nil && err != io.EOF {
		return nil, fmt.Errorf("log: segment %s: read index: %w", name, err)
	}
	fr, used, err := DecodeFrame(buf)
	if err != nil {
		return nil, corruptf(name, indexOff, "index frame: %s", frameProblem(err))
	}
	if fr.Kind != KindIndex || fr.Index != base || used != len(buf) {
		return nil, corruptf(name, indexOff, "not the index frame of base %d", base)
	}
	offs := decodeIndex(fr.Payload)
	if uint64(len(offs)) != last-base+1 {
		return nil, corruptf(name, indexOff, "index holds %d entries, trailer says %d", len(offs), last-base+1)
	}
	prev := int64(segmentHeaderSize) - 1
	for i, o := range offs {
		if int64(o) <= prev || int64(o) >= indexOff || (i == 0 && o != segmentHeaderSize) {
			return nil, corruptf(name, indexOff, "index offset %d of entry %d out of order", o, base+uint64(i))
		}
		prev = int64(o)
	}
	return offs, nil
}

// readFrame reads and checks the entry frame of index at [off, end).
// The returned payload is a fresh allocation owned by the caller.
func readFrame(f File, name string, index uint64, off, end int64) ([]byte, error) {
	if end-off < frameHeaderSize || end-off > frameHeaderSize+maxFramePayload+8 {
		return nil, corruptf(name, off, "frame of %d bytes for index %d", end-off, index)
	}
	buf := make([]byte, end-off)
	if _, err := f.ReadAt(buf, off); err != nil && err != io.EOF {
		return nil, fmt.Errorf("log: segment %s offset %d: read: %w", name, off, err)
	}
	fr, n, err := DecodeFrame(buf)
	if err != nil {
		return nil, corruptf(name, off, "index %d: %s", index, frameProblem(err))
	}
	if fr.Kind != KindEntry || fr.Index != index || n != len(buf) {
		return nil, corruptf(name, off, "frame holds index %d (kind %d, %d bytes), want index %d", fr.Index, fr.Kind, n, index)
	}
	return fr.Payload[:len(fr.Payload):len(fr.Payload)], nil
}
