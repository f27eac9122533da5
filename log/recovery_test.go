package log

import (
	"fmt"
	"path"
	"strings"
	"testing"
)

const testDir = "/data/log"

// buildLog writes entries 1..60 in batches of 3 with small segments and
// closes the log. Each batch is one write round, so later frames carry
// synced hints that cover earlier ones.
func buildLog(t *testing.T) (*MemFS, []string) {
	t.Helper()
	fsys := NewMemFS()
	l := mustOpen(t, fsys, Options{SegmentSize: 1024})
	for i := uint64(1); i <= 60; i += 3 {
		check.NoError(t, l.Append(entries(i, i+2, 0)))
	}
	check.NoError(t, l.Close())
	return fsys, segFiles(t, fsys)
}

func segFiles(t *testing.T, fsys *MemFS) []string {
	names, err := fsys.ReadDir(testDir)
	check.NoError(t, err)
	var segs []string
	for _, n := range names {
		if strings.HasSuffix(n, ".seg") {
			segs = append(segs, n)
		}
	}
	return segs
}

// frames returns the offsets of the entry frames in a segment file.
func frames(t *testing.T, fsys *MemFS, name string) (img []byte, offs []uint32, indexOff int64) {
	img, err := fsys.ReadFile(path.Join(testDir, name))
	check.NoError(t, err)
	base, _, _ := parseSegmentName(name)
	r := scanSegment(img, base)
	if r.bad >= 0 && allZero(img[r.end:]) {
		// The active segment's preallocated space: the image is its frames.
		img = img[:r.end]
		r = scanSegment(img, base)
	}
	check.True(t, r.bad < 0, "test setup: %s is damaged at %d: %s", name, r.bad, r.reason)
	return img, r.offsets, r.indexOff
}

func setFile(t *testing.T, fsys *MemFS, name string, b []byte) {
	check.NoError(t, fsys.WriteFile(path.Join(testDir, name), b))
}

func flip(t *testing.T, fsys *MemFS, name string, off int64) {
	img, err := fsys.ReadFile(path.Join(testDir, name))
	check.NoError(t, err)
	check.NoError(t, fsys.Corrupt(path.Join(testDir, name), off, []byte{img[off] ^ 0x10}))
}

// want says what recovery must make of the damage. A zero where means the
// log opens; otherwise the named error (file and offset) is expected from
// Open, or, for damage Open does not read, from Read(readIndex) and Verify.
type want struct {
	last      uint64
	where     string // "segment NAME offset N"
	readIndex uint64
}

func TestRecovery(t *testing.T) {
	cases := []struct {
		name   string
		damage func(t *testing.T, fsys *MemFS, segs []string) want
	}{
		{"clean shutdown", func(t *testing.T, fsys *MemFS, segs []string) want {
			return want{last: 60}
		}},
		{"torn write inside the frame header", func(t *testing.T, fsys *MemFS, segs []string) want {
			active := segs[len(segs)-1]
			img, offs, _ := frames(t, fsys, active)
			setFile(t, fsys, active, img[:offs[len(offs)-1]+10])
			return want{last: 59}
		}},
		{"torn write inside the payload", func(t *testing.T, fsys *MemFS, segs []string) want {
			active := segs[len(segs)-1]
			img, offs, _ := frames(t, fsys, active)
			setFile(t, fsys, active, img[:offs[len(offs)-1]+frameHeaderSize+3])
			return want{last: 59}
		}},
		{"torn write that lost the last batch", func(t *testing.T, fsys *MemFS, segs []string) want {
			active := segs[len(segs)-1]
			img, offs, _ := frames(t, fsys, active)
			setFile(t, fsys, active, img[:offs[len(offs)-3]])
			return want{last: 57}
		}},
		{"garbled sector in the last frame", func(t *testing.T, fsys *MemFS, segs []string) want {
			active := segs[len(segs)-1]
			_, offs, _ := frames(t, fsys, active)
			check.NoError(t, fsys.Corrupt(path.Join(testDir, active), int64(offs[len(offs)-1])+8, []byte("garbage!")))
			return want{last: 59}
		}},
		{"zeroed tail after preallocation", func(t *testing.T, fsys *MemFS, segs []string) want {
			active := segs[len(segs)-1]
			img, _, _ := frames(t, fsys, active)
			setFile(t, fsys, active, append(img, make([]byte, 64<<10)...))
			return want{last: 60}
		}},
		{"random garbage after the last frame", func(t *testing.T, fsys *MemFS, segs []string) want {
			active := segs[len(segs)-1]
			img, _, _ := frames(t, fsys, active)
			junk := make([]byte, 3000)
			newRand(7).Read(junk)
			setFile(t, fsys, active, append(img, junk...))
			return want{last: 60}
		}},
		{"torn header of a new segment", func(t *testing.T, fsys *MemFS, segs []string) want {
			sealActive(t, fsys)
			setFile(t, fsys, segmentName(61, 61), encodeSegmentHeader(61)[:10])
			return want{last: 60}
		}},
		{"new segment holding only its header", func(t *testing.T, fsys *MemFS, segs []string) want {
			sealActive(t, fsys)
			setFile(t, fsys, segmentName(61, 61), encodeSegmentHeader(61))
			return want{last: 60}
		}},
		{"torn seal of the last segment", func(t *testing.T, fsys *MemFS, segs []string) want {
			// The crash hit while sealing: index frame written, trailer torn.
			prev := segs[len(segs)-2]
			img, _, indexOff := frames(t, fsys, prev)
			check.NoError(t, fsys.Remove(path.Join(testDir, segs[len(segs)-1])))
			setFile(t, fsys, prev, img[:len(img)-5])
			_ = indexOff
			base, _, _ := parseSegmentName(segs[len(segs)-1])
			return want{last: base - 1}
		}},
		{"bit flip in the active segment before synced data", func(t *testing.T, fsys *MemFS, segs []string) want {
			// Two more rounds land in the active segment; their frames
			// record that the first one was synced before them.
			l := mustOpen(t, fsys, Options{SegmentSize: 1 << 20})
			check.NoError(t, l.Append(entries(61, 61, 0)))
			check.NoError(t, l.Append(entries(62, 62, 0)))
			check.NoError(t, l.Close())
			active := segs[len(segs)-1]
			_, offs, _ := frames(t, fsys, active)
			flip(t, fsys, active, int64(offs[0])+frameHeaderSize+1)
			return want{where: fmt.Sprintf("segment %s offset %d", active, offs[0])}
		}},
		{"bit flip in the active segment's header", func(t *testing.T, fsys *MemFS, segs []string) want {
			active := segs[len(segs)-1]
			flip(t, fsys, active, 17)
			return want{where: fmt.Sprintf("segment %s offset 0", active)}
		}},
		{"bit flip in a sealed segment", func(t *testing.T, fsys *MemFS, segs []string) want {
			_, offs, _ := frames(t, fsys, segs[1])
			flip(t, fsys, segs[1], int64(offs[1])+frameHeaderSize)
			base, _, _ := parseSegmentName(segs[1])
			return want{where: fmt.Sprintf("segment %s offset %d", segs[1], offs[1]), readIndex: base + 1}
		}},
		{"bit flip in a sealed segment's frame header", func(t *testing.T, fsys *MemFS, segs []string) want {
			_, offs, _ := frames(t, fsys, segs[0])
			flip(t, fsys, segs[0], int64(offs[2])+17) // the index field
			return want{where: fmt.Sprintf("segment %s offset %d", segs[0], offs[2]), readIndex: 3}
		}},
		{"bit flip in a sealed segment's index frame", func(t *testing.T, fsys *MemFS, segs []string) want {
			_, _, indexOff := frames(t, fsys, segs[0])
			flip(t, fsys, segs[0], indexOff+frameHeaderSize+2)
			return want{where: fmt.Sprintf("segment %s offset %d", segs[0], indexOff), readIndex: 2}
		}},
		{"bit flip in a sealed segment's trailer", func(t *testing.T, fsys *MemFS, segs []string) want {
			img, _, _ := frames(t, fsys, segs[0])
			flip(t, fsys, segs[0], int64(len(img))-20)
			return want{where: fmt.Sprintf("segment %s offset %d", segs[0], len(img))}
		}},
		{"bit flip in a sealed segment's header", func(t *testing.T, fsys *MemFS, segs []string) want {
			flip(t, fsys, segs[1], 3)
			return want{where: fmt.Sprintf("segment %s offset 0", segs[1])}
		}},
		{"missing segment", func(t *testing.T, fsys *MemFS, segs []string) want {
			check.NoError(t, fsys.Remove(path.Join(testDir, segs[1])))
			return want{where: fmt.Sprintf("segment %s offset 0", segs[2])}
		}},
		{"index gap between segments", func(t *testing.T, fsys *MemFS, segs []string) want {
			// A segment that claims to start later than its predecessor ends.
			base, _, _ := parseSegmentName(segs[len(segs)-1])
			name := segmentName(base+5, base+5)
			img := append(encodeSegmentHeader(base+5), appendFrame(nil, KindEntry, base+5, segmentHeaderSize, []byte("x"))...)
			check.NoError(t, fsys.Remove(path.Join(testDir, segs[len(segs)-1])))
			setFile(t, fsys, name, img)
			return want{where: fmt.Sprintf("segment %s offset 0", name)}
		}},
		{"frame with the wrong index in a sealed segment", func(t *testing.T, fsys *MemFS, segs []string) want {
			img, offs, _ := frames(t, fsys, segs[0])
			fr, n, err := DecodeFrame(img[offs[1]:])
			check.NoError(t, err)
			forged := appendFrame(nil, KindEntry, fr.Index+1, fr.Synced, fr.Payload)
			check.Equal(t, n, len(forged))
			check.NoError(t, fsys.Corrupt(path.Join(testDir, segs[0]), int64(offs[1]), forged))
			return want{where: fmt.Sprintf("segment %s offset %d", segs[0], offs[1]), readIndex: 2}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fsys, segs := buildLog(t)
			check.True(t, len(segs) >= 4, "test setup: want several segments, got %d", len(segs))
			w := tc.damage(t, fsys, segs)
			l, err := Open(testDir, Options{FS: fsys, SegmentSize: 1024})
			if w.where != "" && w.readIndex == 0 {
				check.ErrorIs(t, err, ErrCorrupt)
				check.True(t, strings.Contains(err.Error(), w.where), "error %q does not name %q", err, w.where)
				_, verr := Verify(testDir, fsys)
				check.ErrorIs(t, verr, ErrCorrupt)
				check.Equal(t, err.Error(), verr.Error(), "Verify and Open disagree")
				return
			}
			check.NoError(t, err)
			defer l.Close()
			if w.readIndex != 0 {
				// Open does not read sealed frames; the first Read does.
				_, err := l.Read(w.readIndex)
				check.ErrorIs(t, err, ErrCorrupt)
				check.True(t, strings.Contains(err.Error(), w.where), "Read error %q does not name %q", err, w.where)
				_, verr := Verify(testDir, fsys)
				check.ErrorIs(t, verr, ErrCorrupt)
				check.True(t, strings.Contains(verr.Error(), w.where), "Verify error %q does not name %q", verr, w.where)
				return
			}
			requireRange(t, l, 1, w.last, gen0)
			// Recovery repaired the tail for good: Verify finds nothing torn,
			// and the next append lands right after the last whole entry.
			rep, err := Verify(testDir, fsys)
			check.NoError(t, err)
			check.Equal(t, int64(0), rep.TornBytes)
			check.NoError(t, l.Append(entries(w.last+1, w.last+1, 0)))
			requireRange(t, l, 1, w.last+1, gen0)
		})
	}
}

// sealActive seals the active segment the way rotation does, as if the
// crash came right after the seal.
func sealActive(t *testing.T, fsys *MemFS) {
	l := mustOpen(t, fsys, Options{SegmentSize: 1024})
	l.mu.Lock()
	s := l.activeLocked()
	l.mu.Unlock()
	_, _, err := s.seal(s.synced, File.Sync)
	check.NoError(t, err)
	check.NoError(t, l.Close())
}

func TestVerifyReportsTornTail(t *testing.T) {
	fsys, segs := buildLog(t)
	active := segs[len(segs)-1]
	img, _, _ := frames(t, fsys, active)
	torn := make([]byte, 100)
	for i := range torn {
		torn[i] = 0xab
	}
	setFile(t, fsys, active, append(img, torn...))
	rep, err := Verify(testDir, fsys)
	check.NoError(t, err)
	check.Equal(t, int64(100), rep.TornBytes)
	check.Equal(t, uint64(60), rep.LastIndex)
	again, err := fsys.ReadFile(path.Join(testDir, active))
	check.NoError(t, err)
	check.Equal(t, len(img)+100, len(again), "Verify must not repair")
}

// Zeros after the last frame of the active segment are its preallocated
// space: not torn, kept, and written over by the next append.
func TestPreallocatedSpaceIsNotATornTail(t *testing.T) {
	fsys, segs := buildLog(t)
	active := segs[len(segs)-1]
	img, _, _ := frames(t, fsys, active)
	setFile(t, fsys, active, append(img, make([]byte, 4096)...))
	rep, err := Verify(testDir, fsys)
	check.NoError(t, err)
	check.Equal(t, int64(0), rep.TornBytes)
	l := mustOpen(t, fsys, Options{})
	check.NoError(t, l.Append([]Entry{{Index: 61, Data: []byte("after the zeros")}}))
	check.NoError(t, l.Close())
	l = mustOpen(t, fsys, Options{})
	got, err := l.Read(61)
	check.NoError(t, err)
	check.Equal(t, "after the zeros", string(got))
	check.Equal(t, uint64(61), l.LastIndex())
	check.NoError(t, l.Close())
}

func TestInterruptedFrontTruncation(t *testing.T) {
	fsys, segs := buildLog(t)
	saved := map[string][]byte{}
	for _, s := range segs[:2] {
		b, err := fsys.ReadFile(path.Join(testDir, s))
		check.NoError(t, err)
		saved[s] = b
	}
	base2, _, _ := parseSegmentName(segs[2])
	l := mustOpen(t, fsys, Options{SegmentSize: 1024})
	check.NoError(t, l.TruncateFront(base2+1))
	check.NoError(t, l.Close())
	// The crash came after the rename but before the removals were durable.
	for s, b := range saved {
		setFile(t, fsys, s, b)
	}
	l = mustOpen(t, fsys, Options{SegmentSize: 1024})
	requireRange(t, l, base2+1, 60, gen0)
	check.NoError(t, l.Close())
	check.Len(t, segFiles(t, fsys), len(segs)-2, "dead segments are removed")
}

func TestVerifyIgnoresEmptyLastSegment(t *testing.T) {
	fsys, _ := buildLog(t)
	sealActive(t, fsys)
	setFile(t, fsys, segmentName(61, 61), encodeSegmentHeader(61))
	rep, err := Verify(testDir, fsys)
	check.NoError(t, err)
	check.Equal(t, uint64(1), rep.FirstIndex)
	check.Equal(t, uint64(60), rep.LastIndex)
}
