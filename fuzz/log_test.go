package fuzz

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/lithair/lithair/log"
)

// validSegment is the bytes of a real segment holding entries 1..n, as the
// log itself writes them.
func validSegment(t testing.TB, n int, seal bool) []byte {
	fsys := log.NewMemFS()
	size := int64(1 << 20)
	if seal {
		size = 64 // any append after the first seals the segment before it
	}
	l, err := log.Open("/d", log.Options{FS: fsys, SegmentSize: size})
	if err != nil {
		t.Fatal(err)
	}
	var batch []log.Entry
	for i := 1; i <= n; i++ {
		e := log.Entry{Index: uint64(i), Data: bytes.Repeat([]byte{byte(i)}, i*3)}
		if seal {
			batch = append(batch, e) // one write round, so one segment
			continue
		}
		if err := l.Append([]log.Entry{e}); err != nil {
			t.Fatal(err)
		}
	}
	if seal {
		if err := l.Append(batch); err != nil {
			t.Fatal(err)
		}
		// The next append seals the segment holding 1..n first.
		if err := l.Append([]log.Entry{{Index: uint64(n + 1), Data: []byte("x")}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := fsys.ReadFile("/d/00000000000000000001-00000000000000000001.seg")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// FuzzFrameDecode feeds arbitrary bytes to the frame decoder: it must never
// panic, never allocate from a forged length, and whatever it accepts must
// re-encode to exactly the bytes it consumed.
func FuzzFrameDecode(f *testing.F) {
	f.Add(log.AppendFrame(nil, log.KindEntry, 1, 32, []byte("hello")))
	f.Add(log.AppendFrame(nil, log.KindEntry, 1<<40, 4096, nil))
	f.Add(log.AppendFrame(nil, log.KindIndex, 7, 0, []byte{32, 0, 0, 0}))
	f.Add(make([]byte, 64))
	f.Add([]byte{0xff, 0xff, 0xff, 0x7f, 1, 0, 0, 0})                              // forged 2 GiB length
	f.Add(append([]byte{0xff, 0xff, 0xff, 0x0f, 1, 0, 0, 0}, make([]byte, 24)...)) // 256 MiB, header only
	f.Add(log.AppendFrame(nil, log.KindEntry, 3, 32, []byte("cut short"))[:40])
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, n, err := log.DecodeFrame(b)
		if err != nil {
			if !errors.Is(err, log.ErrCorrupt) && !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("error %v is neither ErrCorrupt nor io.ErrUnexpectedEOF", err)
			}
			return
		}
		if n <= 0 || n > len(b) || n%8 != 0 {
			t.Fatalf("decoded size %d of a %d-byte input", n, len(b))
		}
		re := log.AppendFrame(nil, fr.Kind, fr.Index, fr.Synced, fr.Payload)
		if !bytes.Equal(re, b[:n]) {
			t.Fatalf("frame does not re-encode to its bytes:\n got %x\nwant %x", re, b[:n])
		}
		if allocs := testing.AllocsPerRun(3, func() { _, _, _ = log.DecodeFrame(b) }); allocs != 0 {
			t.Fatalf("DecodeFrame allocated %v times on a valid frame", allocs)
		}
	})
}

// FuzzSegmentRecovery writes arbitrary bytes as the only segment of a log
// and opens it: the log either opens (and then every entry it claims reads
// back, and it takes the next append) or fails with ErrCorrupt. Never a
// panic, and Verify must agree with Open.
func FuzzSegmentRecovery(f *testing.F) {
	f.Add(validSegment(f, 5, false))
	f.Add(validSegment(f, 4, true))
	seg := validSegment(f, 6, false)
	f.Add(seg[:len(seg)-7])                   // torn tail
	f.Add(append(seg, make([]byte, 4096)...)) // preallocated zeros
	f.Add(seg[:20])                           // torn header
	f.Add([]byte{})
	flipped := bytes.Clone(seg)
	flipped[40] ^= 1
	f.Add(flipped)
	f.Fuzz(func(t *testing.T, b []byte) {
		fsys := log.NewMemFS()
		if err := fsys.MkdirAll("/d", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := fsys.WriteFile("/d/00000000000000000001-00000000000000000001.seg", b); err != nil {
			t.Fatal(err)
		}
		_, verr := log.Verify("/d", fsys)
		l, err := log.Open("/d", log.Options{FS: fsys})
		if err != nil {
			if !errors.Is(err, log.ErrCorrupt) {
				t.Fatalf("Open: %v is not ErrCorrupt", err)
			}
			if verr == nil || verr.Error() != err.Error() {
				t.Fatalf("Open says %v, Verify says %v", err, verr)
			}
			return
		}
		defer l.Close()
		if verr != nil {
			t.Fatalf("Open succeeded but Verify says %v", verr)
		}
		first, last := l.FirstIndex(), l.LastIndex()
		for i := first; last != 0 && i <= last; i++ {
			if _, err := l.Read(i); err != nil {
				t.Fatalf("entry %d of [%d, %d]: %v", i, first, last, err)
			}
		}
		next := last + 1
		if err := l.Append([]log.Entry{{Index: next, Data: []byte("after")}}); err != nil {
			t.Fatalf("append %d after recovery: %v", next, err)
		}
		if got, err := l.Read(next); err != nil || string(got) != "after" {
			t.Fatalf("read back %d: %q, %v", next, got, err)
		}
	})
}
