package log

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/cespare/xxhash/v2"
)

// The on-disk format is described in doc.go; this file is its only encoder
// and decoder, so the two must change together.

const (
	segmentMagic  = "LITHSEG1"
	sealMagic     = "LITHSEAL"
	formatVersion = 1

	// segmentHeaderSize is the size of the header at offset 0 of a segment.
	segmentHeaderSize = 32
	// frameHeaderSize is the size of the fixed part of every frame.
	frameHeaderSize = 32
	// trailerSize is the size of the seal trailer at the end of a sealed segment.
	trailerSize = 32

	// MaxEntrySize is the largest payload Append accepts.
	MaxEntrySize = 64 << 20
	// maxFramePayload caps the length field a decoder believes. It is larger
	// than MaxEntrySize because an index frame of a big segment holds four
	// bytes per entry. Anything larger is damage, never an allocation.
	maxFramePayload = 256 << 20
	// maxBatchBytes bounds one Append so that segment offsets fit in uint32.
	maxBatchBytes = 512 << 20
)

// FrameKind says what a frame's payload is.
type FrameKind uint16

const (
	// KindEntry frames carry one log entry.
	KindEntry FrameKind = 1
	// KindIndex frames carry the offset index written when a segment is sealed.
	KindIndex FrameKind = 2
)

// Frame is one decoded frame.
type Frame struct {
	Kind  FrameKind
	Index uint64 // entry index; for an index frame, the segment's base index
	// Synced is the number of bytes of the segment that were known to be
	// fsync'd when this frame was written. Recovery uses it to tell a torn
	// tail (damage after Synced) from damage to durable data.
	Synced  uint64
	Payload []byte // aliases the buffer given to DecodeFrame
}

// padLen is the number of zero bytes that keep the next frame 8-byte aligned.
func padLen(n int) int { return (8 - n%8) % 8 }

// encodedFrameSize is the number of bytes a frame with an n-byte payload
// occupies in a segment, padding included.
func encodedFrameSize(n int) int { return frameHeaderSize + n + padLen(n) }

// frameChecksum covers every header byte except the checksum itself, then the
// payload: a flipped length, kind, index or hint is caught like a flipped
// payload byte.
func frameChecksum(hdr []byte, payload []byte) uint64 {
	var d xxhash.Digest
	d.Reset()
	_, _ = d.Write(hdr[0:8])
	_, _ = d.Write(hdr[16:32])
	_, _ = d.Write(payload)
	return d.Sum64()
}

// AppendFrame appends the encoding of one frame to dst: the inverse of
// DecodeFrame, exported for fuzz targets and tools.
func AppendFrame(dst []byte, kind FrameKind, index, synced uint64, payload []byte) []byte {
	return appendFrame(dst, kind, index, synced, payload)
}

// appendFrame appends the encoding of one frame to dst.
func appendFrame(dst []byte, kind FrameKind, index, synced uint64, payload []byte) []byte {
	start := len(dst)
	size := encodedFrameSize(len(payload))
	dst = grow(dst, size)
	b := dst[start : start+size]
	binary.LittleEndian.PutUint32(b[0:4], uint32(len(payload)))
	binary.LittleEndian.PutUint16(b[4:6], uint16(kind))
	binary.LittleEndian.PutUint16(b[6:8], 0)
	binary.LittleEndian.PutUint64(b[16:24], index)
	binary.LittleEndian.PutUint64(b[24:32], synced)
	copy(b[frameHeaderSize:], payload)
	clear(b[frameHeaderSize+len(payload):])
	binary.LittleEndian.PutUint64(b[8:16], frameChecksum(b[:frameHeaderSize], b[frameHeaderSize:frameHeaderSize+len(payload)]))
	return dst
}

// grow extends b by n bytes, reallocating at most once.
func grow(b []byte, n int) []byte {
	if cap(b)-len(b) < n {
		nb := make([]byte, len(b), 2*cap(b)+n)
		copy(nb, b)
		b = nb
	}
	return b[:len(b)+n]
}

// frameError is a frame that can never be valid. It matches ErrCorrupt.
type frameError struct{ reason string }

func frameErrorf(format string, args ...any) error {
	return &frameError{reason: fmt.Sprintf(format, args...)}
}

func (e *frameError) Error() string        { return "log: corrupt frame: " + e.reason }
func (e *frameError) Is(target error) bool { return target == ErrCorrupt }

// frameProblem is the short reason a frame failed to decode, for messages
// that already say where.
func frameProblem(err error) string {
	var fe *frameError
	if errors.As(err, &fe) {
		return fe.reason
	}
	return err.Error()
}

// errShortFrame means the buffer ends inside a frame. At the end of a file
// this is a torn write; DecodeFrame returns it wrapped in io.ErrUnexpectedEOF.
var errShortFrame = fmt.Errorf("frame cut short: %w", io.ErrUnexpectedEOF)

// DecodeFrame decodes the frame at the start of b and returns it with the
// number of bytes it occupies (padding included). It never allocates: the
// payload aliases b. It returns an error wrapping io.ErrUnexpectedEOF when b
// ends inside the frame and ErrCorrupt for a frame that can never be valid
// (bad checksum, unknown kind, a length above the cap). A length is checked
// against the cap and against len(b) before it is used, so a forged length
// cannot cause a large allocation anywhere.
func DecodeFrame(b []byte) (Frame, int, error) {
	if len(b) < frameHeaderSize {
		return Frame{}, 0, errShortFrame
	}
	n := binary.LittleEndian.Uint32(b[0:4])
	kind := FrameKind(binary.LittleEndian.Uint16(b[4:6]))
	if n > maxFramePayload {
		return Frame{}, 0, frameErrorf("frame length %d above the cap", n)
	}
	if kind != KindEntry && kind != KindIndex || binary.LittleEndian.Uint16(b[6:8]) != 0 {
		return Frame{}, 0, frameErrorf("unknown frame kind %d", kind)
	}
	size := encodedFrameSize(int(n))
	if len(b) < size {
		return Frame{}, 0, errShortFrame
	}
	payload := b[frameHeaderSize : frameHeaderSize+int(n)]
	if got, want := frameChecksum(b[:frameHeaderSize], payload), binary.LittleEndian.Uint64(b[8:16]); got != want {
		return Frame{}, 0, frameErrorf("frame checksum %016x, want %016x", got, want)
	}
	for _, c := range b[frameHeaderSize+int(n) : size] {
		if c != 0 {
			return Frame{}, 0, frameErrorf("nonzero frame padding")
		}
	}
	return Frame{
		Kind:    kind,
		Index:   binary.LittleEndian.Uint64(b[16:24]),
		Synced:  binary.LittleEndian.Uint64(b[24:32]),
		Payload: payload,
	}, size, nil
}

// frameLen reads only the length field of a frame header, for readers that
// must size a buffer before reading the rest. The caller caps it.
func frameLen(hdr []byte) int { return int(binary.LittleEndian.Uint32(hdr[0:4])) }

// encodeSegmentHeader returns the 32-byte header of a segment.
func encodeSegmentHeader(base uint64) []byte {
	b := make([]byte, segmentHeaderSize)
	copy(b[0:8], segmentMagic)
	binary.LittleEndian.PutUint32(b[8:12], formatVersion)
	binary.LittleEndian.PutUint64(b[16:24], base)
	binary.LittleEndian.PutUint64(b[24:32], xxhash.Sum64(b[0:24]))
	return b
}

// decodeSegmentHeader checks a segment header and returns its base index.
func decodeSegmentHeader(b []byte) (uint64, error) {
	if len(b) < segmentHeaderSize {
		return 0, fmt.Errorf("segment header cut short (%d bytes)", len(b))
	}
	if string(b[0:8]) != segmentMagic {
		return 0, fmt.Errorf("bad segment magic %q", b[0:8])
	}
	if got, want := xxhash.Sum64(b[0:24]), binary.LittleEndian.Uint64(b[24:32]); got != want {
		return 0, fmt.Errorf("segment header checksum %016x, want %016x", got, want)
	}
	if v := binary.LittleEndian.Uint32(b[8:12]); v != formatVersion {
		return 0, fmt.Errorf("unsupported segment format version %d", v)
	}
	return binary.LittleEndian.Uint64(b[16:24]), nil
}

// encodeTrailer returns the seal trailer that ends a sealed segment.
func encodeTrailer(indexOffset int64, last uint64) []byte {
	b := make([]byte, trailerSize)
	binary.LittleEndian.PutUint64(b[0:8], uint64(indexOffset))
	binary.LittleEndian.PutUint64(b[8:16], last)
	copy(b[24:32], sealMagic)
	binary.LittleEndian.PutUint64(b[16:24], trailerChecksum(b))
	return b
}

func trailerChecksum(b []byte) uint64 {
	var d xxhash.Digest
	d.Reset()
	_, _ = d.Write(b[0:16])
	_, _ = d.Write(b[24:32])
	return d.Sum64()
}

// decodeTrailer checks a seal trailer. ok is false when b is not a trailer
// at all (which, for the last segment, just means it was never sealed).
func decodeTrailer(b []byte) (indexOffset int64, last uint64, ok bool) {
	if len(b) != trailerSize || string(b[24:32]) != sealMagic {
		return 0, 0, false
	}
	if trailerChecksum(b) != binary.LittleEndian.Uint64(b[16:24]) {
		return 0, 0, false
	}
	return int64(binary.LittleEndian.Uint64(b[0:8])), binary.LittleEndian.Uint64(b[8:16]), true
}

// encodeIndex is the payload of an index frame: one little-endian uint32
// offset per entry, in index order.
func encodeIndex(offsets []uint32) []byte {
	b := make([]byte, 4*len(offsets))
	for i, o := range offsets {
		binary.LittleEndian.PutUint32(b[4*i:], o)
	}
	return b
}

func decodeIndex(b []byte) []uint32 {
	offs := make([]uint32, len(b)/4)
	for i := range offs {
		offs[i] = binary.LittleEndian.Uint32(b[4*i:])
	}
	return offs
}

// segmentName is the file name of a segment whose first frame holds index
// base and whose entries below first are logically deleted.
func segmentName(base, first uint64) string {
	return fmt.Sprintf("%020d-%020d.seg", base, first)
}

// parseSegmentName is the inverse of segmentName.
func parseSegmentName(name string) (base, first uint64, ok bool) {
	if len(name) != 20+1+20+4 || name[20] != '-' || name[41:] != ".seg" {
		return 0, 0, false
	}
	base, ok1 := parseDigits(name[0:20])
	first, ok2 := parseDigits(name[21:41])
	return base, first, ok1 && ok2 && first >= base
}

func parseDigits(s string) (uint64, bool) {
	var v uint64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		d := uint64(c - '0')
		if v > (^uint64(0)-d)/10 {
			return 0, false
		}
		v = v*10 + d
	}
	return v, true
}
