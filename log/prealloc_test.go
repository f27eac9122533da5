package log

import (
	"io/fs"
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

// Small appends land in blocks the file system has already written: the
// writer writes zeros a little ahead of its frames (zeroAhead), so the
// file's data runs past the last frame while its size stays fixed, and
// reopening finds those zeros to be free space.
func TestSmallAppendsWriteZerosAhead(t *testing.T) {
	dir := t.TempDir()
	l, err := Open(dir, Options{})
	check.NoError(t, err)
	for i := uint64(1); i <= 100; i++ {
		check.NoError(t, l.Append([]Entry{{Index: i, Data: make([]byte, 128)}}))
	}
	end := l.Stats().Bytes
	names, _ := filepath.Glob(filepath.Join(dir, "*.seg"))
	check.Len(t, names, 1)
	f, err := OSFS{}.OpenFile(names[0], os.O_RDONLY, 0)
	check.NoError(t, err)
	size, err := f.Size()
	check.NoError(t, err)
	check.Equal(t, int64(defaultSegmentSize+1<<20), size, "the file keeps its preallocated size")
	if got := dataEnd(f, size); got < size { // SEEK_DATA works here: check the zeros are real
		atLeast(t, got, int64(zeroAhead), "data end, with frames ending at byte %d", end)
	}
	check.NoError(t, f.Close())
	check.NoError(t, l.Close())

	l, err = Open(dir, Options{})
	check.NoError(t, err)
	check.Equal(t, uint64(100), l.LastIndex())
	check.Equal(t, end, l.Stats().Bytes)
	check.NoError(t, l.Append([]Entry{{Index: 101, Data: []byte("next")}}))
	check.NoError(t, l.Close())
	rep, err := Verify(dir, nil)
	check.NoError(t, err)
	check.Equal(t, int64(0), rep.TornBytes)
	check.Equal(t, uint64(101), rep.LastIndex)
}

// countingFS counts the bytes read through its files.
type countingFS struct {
	FS
	read *int64
}

func (c countingFS) OpenFile(name string, flag int, perm fs.FileMode) (File, error) {
	f, err := c.FS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return countingFile{f.(*osFile), c.read}, nil
}

type countingFile struct {
	*osFile
	read *int64
}

func (c countingFile) ReadAt(p []byte, off int64) (int, error) {
	n, err := c.osFile.ReadAt(p, off)
	*c.read += int64(n)
	return n, err
}

// Open reads the frames of the active segment, not its preallocated space:
// a young 64 MiB segment opens after reading little more than its data.
func TestOpenSkipsPreallocatedSpace(t *testing.T) {
	dir := t.TempDir()
	l, err := Open(dir, Options{})
	check.NoError(t, err)
	for i := uint64(1); i <= 10; i++ {
		check.NoError(t, l.Append([]Entry{{Index: i, Data: make([]byte, 1000)}}))
	}
	check.NoError(t, l.Close())
	names, _ := filepath.Glob(filepath.Join(dir, "*.seg"))
	f, err := OSFS{}.OpenFile(names[0], os.O_RDONLY, 0)
	check.NoError(t, err)
	size, _ := f.Size()
	skips := dataEnd(f, size) < size
	check.NoError(t, f.Close())
	if !skips {
		t.Skip("this file system does not report preallocated space as a hole (SEEK_DATA)")
	}
	var read int64
	l, err = Open(dir, Options{FS: countingFS{OSFS{}, &read}})
	check.NoError(t, err)
	check.Equal(t, uint64(10), l.LastIndex())
	check.NoError(t, l.Close())
	less(t, read, int64(2<<20), "bytes read by Open of a %d-byte segment", size)
}
