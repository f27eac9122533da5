package log

import (
	"os"
	"path/filepath"
	"testing"
)

// On the real file system the active segment is preallocated, so an
// fdatasync after an append has no new file size to commit; a sealed
// segment ends with its trailer; reopening keeps every entry and the
// space.
func TestSegmentsArePreallocatedOnDisk(t *testing.T) {
	dir := t.TempDir()
	opts := Options{SegmentSize: 64 << 10}
	l, err := Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	want := opts.SegmentSize + min(opts.SegmentSize, 1<<20)
	data := make([]byte, 1000)
	for i := uint64(1); i <= 200; i++ { // about three segments
		if err := l.Append([]Entry{{Index: i, Data: data}}); err != nil {
			t.Fatal(err)
		}
	}
	l.Close()
	names, _ := filepath.Glob(filepath.Join(dir, "*.seg"))
	if len(names) < 3 {
		t.Fatalf("want rotation, got %v", names)
	}
	for i, n := range names {
		st, _ := os.Stat(n)
		if i == len(names)-1 {
			if st.Size() != want {
				t.Fatalf("active segment %s is %d bytes, want %d preallocated", n, st.Size(), want)
			}
		} else if st.Size() >= want || st.Size() < opts.SegmentSize {
			t.Fatalf("sealed segment %s is %d bytes: the preallocated space must be trimmed", n, st.Size())
		}
	}
	rep, err := Verify(dir, nil)
	if err != nil || rep.TornBytes != 0 || rep.LastIndex != 200 {
		t.Fatalf("verify: %+v, %v", rep, err)
	}
	l, err = Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := l.Append([]Entry{{Index: 201, Data: []byte("more")}}); err != nil {
		t.Fatal(err)
	}
	for _, i := range []uint64{1, 100, 200} {
		if _, err := l.Read(i); err != nil {
			t.Fatalf("read %d: %v", i, err)
		}
	}
	st, _ := os.Stat(names[len(names)-1])
	if st.Size() != want {
		t.Fatalf("after reopen the active segment is %d bytes, want %d", st.Size(), want)
	}
}
