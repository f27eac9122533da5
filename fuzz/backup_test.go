package fuzz

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"

	lithair "github.com/lithair/lithair"
	"github.com/lithair/lithair/index"
	"github.com/lithair/lithair/web"
)

// FuzzBackup reads arbitrary bytes as a backup file. wrap says what b
// is: 0 the file itself; 1 its content before compression (the test
// compresses it, so that mutations reach past zstd's own checksum); 2
// that content without its final checksum line (the test appends the
// right one, so that mutations reach the header, the snapshot's chunks
// and the history).
//
// VerifyBackup never panics, and it agrees with RestoreBackup:
//
//   - what it refuses comes with a message that says what is wrong, and
//     RestoreBackup refuses it too, leaving the target as it found it
//     (absent, or an empty directory): nothing a node could start from;
//   - what it accepts restores, with the same info, into a data dir that
//     a node opens and serves from (it gets ready), holding the state the
//     info names (the state hash, the record count) at a log index no
//     later than the backup's.
//
// An odd wrap/3 restores into a path that does not exist yet, an even
// one into an empty directory. Inputs run one at a time in each process; restores go
// to /dev/shm when there is one, where their syncs cost nothing. The
// corpus comes from real backups: see TestWriteBackupSeeds.
func FuzzBackup(f *testing.F) {
	f.Add(uint8(0), []byte{})
	f.Add(uint8(0), []byte("LITHAIR-BACKUP 1\n{}\n"))
	f.Add(uint8(1), []byte("LITHAIR-BACKUP 1\n"))
	f.Add(uint8(2), []byte("LITHAIR-BACKUP 1\n{\"format\":1,\"index\":1,\"term\":1}\n\x00\x00"))
	f.Fuzz(func(t *testing.T, wrap uint8, b []byte) {
		e := sharedBackupEnv(t)
		data := e.wrap(wrap, b)
		target, existed := e.target(t, wrap)
		defer os.RemoveAll(target)
		info, verr := lithair.VerifyBackup(bytes.NewReader(data))
		cfg := backupConfig(target)
		rinfo, rerr := lithair.RestoreBackup(bytes.NewReader(data), cfg)
		if verr != nil {
			if detail := strings.TrimPrefix(strings.TrimPrefix(verr.Error(), lithair.ErrBackupCorrupt.Error()), ":"); strings.TrimSpace(detail) == "" {
				t.Fatalf("refused without saying why: %q", verr)
			}
			if rerr == nil {
				t.Fatalf("VerifyBackup refuses it (%v), RestoreBackup restored it: %+v", verr, rinfo)
			}
			entries, err := os.ReadDir(target)
			switch {
			case existed && err != nil:
				t.Fatalf("a refused restore (%v) removed the empty target: %v", rerr, err)
			case !existed && !errors.Is(err, os.ErrNotExist):
				t.Fatalf("a refused restore (%v) left the new target behind (%d entries, %v)", rerr, len(entries), err)
			case len(entries) > 0:
				t.Fatalf("a refused restore (%v) left %s in the target", rerr, entries[0].Name())
			}
			return
		}
		if rerr != nil {
			t.Fatalf("VerifyBackup accepts it (index %d, state %s), RestoreBackup refuses it: %v", info.Index, info.StateHash, rerr)
		}
		if !reflect.DeepEqual(info, rinfo) {
			t.Fatalf("VerifyBackup and RestoreBackup read it differently:\n%+v\n%+v", info, rinfo)
		}
		e.checkRestored(t, cfg, info)
	})
}

// backupEnv is what every input of a process shares: a directory for the
// targets, and a zstd encoder (making one per input would cost more than
// the input).
type backupEnv struct {
	dir  string
	enc  *zstd.Encoder
	next int
}

var (
	backupOnce sync.Once
	backupApp  *backupEnv
	backupErr  error
)

func sharedBackupEnv(t testing.TB) *backupEnv {
	backupOnce.Do(func() {
		e := &backupEnv{}
		// A restore syncs every file it writes: on tmpfs that costs
		// nothing, on a disk it would be most of an input's time.
		parent := ""
		if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
			parent = "/dev/shm"
		}
		if e.dir, backupErr = os.MkdirTemp(parent, "lithair-fuzz-backup-"); backupErr != nil {
			return
		}
		e.enc, backupErr = zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1))
		backupApp = e
	})
	if backupErr != nil {
		t.Fatal(backupErr)
	}
	return backupApp
}

// wrap makes the file an input stands for (see FuzzBackup).
func (e *backupEnv) wrap(wrap uint8, b []byte) []byte {
	switch wrap % 3 {
	case 1:
		return e.enc.EncodeAll(b, nil)
	case 2:
		sum := sha256.Sum256(b)
		plain := append(bytes.Clone(b), "SHA256 "+hex.EncodeToString(sum[:])+"\n"...)
		return e.enc.EncodeAll(plain, nil)
	}
	return b
}

// target is a new path to restore into: an empty directory for half the
// wraps, nothing for the others (RestoreBackup takes both).
func (e *backupEnv) target(t *testing.T, wrap uint8) (string, bool) {
	e.next++
	path := filepath.Join(e.dir, strconv.Itoa(e.next))
	if wrap/3%2 == 1 {
		return path, false
	}
	if err := os.Mkdir(path, 0o750); err != nil {
		t.Fatal(err)
	}
	return path, true
}

func backupConfig(dir string) lithair.Config {
	cfg := lithair.DefaultConfig()
	cfg.EventStore.Dir = dir
	cfg.EventStore.Sync = "periodic"
	// The smallest segments: every new log preallocates one.
	cfg.EventStore.SegmentSize = 64 << 10
	cfg.Rules.Dir = "testdata/rules"
	cfg.Rules.Watch = false
	cfg.Auth.InitialAdminPassword = fuzzAdminPassword
	return cfg
}

// checkRestored opens a restored data dir as `lithair serve` would, and
// holds its state to the backup's info.
func (e *backupEnv) checkRestored(t *testing.T, cfg lithair.Config, info lithair.BackupInfo) {
	t.Helper()
	// The rules of the backup, whatever the rules dir holds: the state
	// must be the backup's, not one a new rule deployment changed.
	app, err := lithair.OpenForMaintenance(cfg, nil)
	if err != nil {
		t.Fatalf("the restored data dir (index %d) does not open: %v", info.Index, err)
	}
	defer app.Close()
	// Raft restores the snapshot before Open returns, and nothing is
	// applied after it until the node elects itself. The state's index
	// may trail the backup's (Raft's barriers never reach the state
	// machine) but never pass it: the log goes on at the backup's index+1,
	// and a state ahead of it would name entries the log holds otherwise
	// in its histories and audit trail.
	if h := app.StateHash(); h.Hash != info.StateHash || h.Index > info.Index {
		t.Fatalf("the restored node holds state %s at index %d, the backup says %s at %d", h.Hash, h.Index, info.StateHash, info.Index)
	}
	records := 0
	v := app.State().View()
	for _, m := range v.Models() {
		v.Each(m, func(*index.Record) bool { records++; return true })
	}
	if records != info.Records {
		t.Fatalf("the restored node holds %d records, the backup %d", records, info.Records)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := app.WaitReady(ctx); err != nil {
		t.Fatalf("the restored node (index %d) never gets ready: %v", info.Index, err)
	}
	// The history went to the archive unread: reading it back, as record
	// histories and the audit trail do, may fail but must not panic.
	for idx := info.HistoryFirst; idx != 0 && idx <= info.HistoryLast; idx++ {
		_, _ = app.Command(idx)
	}
}

// TestWriteBackupSeeds writes FuzzBackup's corpus from real backups of a
// small appliance, one taken over the API and one of its stopped data
// dir, and from backups made out of them: cut short, a bit flipped, and
// rebuilt with a header, a chunking or a history changed. Run it again
// when the backup format changes:
//
//	LITHAIR_FUZZ_WRITE_SEEDS=1 go test ./fuzz/ -run TestWriteBackupSeeds
func TestWriteBackupSeeds(t *testing.T) {
	if os.Getenv("LITHAIR_FUZZ_WRITE_SEEDS") != "1" {
		t.Skip("writes testdata/fuzz/FuzzBackup; set LITHAIR_FUZZ_WRITE_SEEDS=1")
	}
	online, offline := realBackups(t)
	dir := filepath.Join("testdata", "fuzz", "FuzzBackup")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(name string, wrap uint8, b []byte) {
		t.Helper()
		body := fmt.Sprintf("go test fuzz v1\nbyte(%q)\n[]byte(%q)\n", wrap, b)
		if err := os.WriteFile(filepath.Join(dir, "seed-"+name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	dec, err := zstd.NewReader(nil)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := dec.DecodeAll(online, nil)
	if err != nil {
		t.Fatal(err)
	}
	p, err := splitBackup(plain)
	if err != nil {
		t.Fatal(err)
	}
	var hdr map[string]any
	if err := json.Unmarshal(p.header, &hdr); err != nil {
		t.Fatal(err)
	}
	withHeader := func(key string, v any) backupParts {
		h := maps.Clone(hdr)
		h[key] = v
		q := p
		q.header, _ = json.Marshal(h)
		return q
	}
	snapIndex := uint64(hdr["index"].(float64))
	last := p.history[len(p.history)-1].index

	write("online", 0, online)
	write("offline", 0, offline)
	write("online-content", 1, plain)
	write("online-content-unsummed", 2, p.content(256<<10))
	write("cut-in-half", 0, online[:len(online)/2])
	write("cut-last-byte", 0, online[:len(online)-1])
	flipped := bytes.Clone(online)
	flipped[len(flipped)/2] ^= 0x10
	write("bit-flip", 0, flipped)
	write("not-compressed", 0, plain)
	write("after-checksum", 1, append(bytes.Clone(plain), '\n'))
	badSum := bytes.Clone(plain)
	badSum[len(badSum)-2] ^= 1
	write("checksum-mismatch", 1, badSum)
	write("no-checksum", 1, p.content(256<<10))
	write("magic-only", 1, []byte("LITHAIR-BACKUP 1\n"))
	write("header-not-json", 2, []byte("LITHAIR-BACKUP 1\n{nope\n\x00\x00"))
	write("small-chunks", 2, p.content(100))
	noHistory := p
	noHistory.history = nil
	write("no-history", 2, noHistory.content(256<<10))
	gap := p
	gap.history = append(slices.Clone(p.history[:2]), p.history[3:]...)
	write("history-gap", 2, gap.content(256<<10))
	garbage := p
	garbage.history = slices.Clone(p.history)
	garbage.history[len(garbage.history)-1].data = []byte("not a log entry")
	write("history-entry-garbage", 2, garbage.content(256<<10))
	write("history-past-snapshot", 2, withHeader("index", last-1).content(256<<10))
	write("format-2", 2, withHeader("format", 2).content(256<<10))
	write("index-0", 2, withHeader("index", 0).content(256<<10))
	noHistory0 := withHeader("index", 0)
	noHistory0.history = nil
	write("index-0-no-history", 2, noHistory0.content(256<<10))
	behind := withHeader("index", snapIndex-3)
	behind.history = nil
	for _, e := range p.history {
		if e.index <= snapIndex-3 {
			behind.history = append(behind.history, e)
		}
	}
	write("index-behind-state", 2, behind.content(256<<10))
	// A barrier, the last entry Raft applied, never reaches the state
	// machine: a real backup's index may be past its state's.
	write("index-ahead-of-state", 2, withHeader("index", snapIndex+5).content(256<<10))
	write("term-0", 2, withHeader("term", 0).content(256<<10))
	write("configuration-index-ahead", 2, withHeader("configuration_index", snapIndex+100).content(256<<10))
	write("node-id-other", 2, withHeader("node_id", "elsewhere").content(256<<10))
	snapFlip := p
	snapFlip.snapshot = bytes.Clone(p.snapshot)
	snapFlip.snapshot[len(snapFlip.snapshot)/2] ^= 1
	write("snapshot-bit-flip", 2, snapFlip.content(256<<10))
	snapCut := p
	snapCut.snapshot = p.snapshot[:len(p.snapshot)-3]
	write("snapshot-cut", 2, snapCut.content(256<<10))
	content := p.content(256 << 10)
	write("cut-in-history", 2, content[:len(content)-20])
	chunkTooBig := []byte("LITHAIR-BACKUP 1\n")
	chunkTooBig = append(append(chunkTooBig, p.header...), '\n')
	chunkTooBig = binary.AppendUvarint(chunkTooBig, 256<<10+1)
	write("chunk-too-big", 2, chunkTooBig)
}

// realBackups opens a small appliance (the Gadget model, a few writes),
// backs it up over its API, stops it and backs up its data dir.
func realBackups(t *testing.T) (online, offline []byte) {
	cfg := backupConfig(t.TempDir())
	app, err := lithair.Open(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := app.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	session, _, _, err := app.Login(ctx, "admin", fuzzAdminPassword)
	if err != nil {
		t.Fatal(err)
	}
	h := web.New(app, nil).Handler()
	do := func(method, path, body string) string {
		req := httptest.NewRequest(method, path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+session)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code >= 300 {
			t.Fatalf("%s %s: %d %s", method, path, w.Code, w.Body)
		}
		var rec struct{ ID string }
		json.Unmarshal(w.Body.Bytes(), &rec)
		return rec.ID
	}
	id := do("POST", "/api/gadgets", `{"label":"g1","size":1,"active":true,"tags":["x"]}`)
	do("POST", "/api/gadgets", `{"label":"g2","weight":2.5,"extra":{"a":[1,2]}}`)
	gone := do("POST", "/api/gadgets", `{"label":"gone"}`)
	do("PATCH", "/api/gadgets/"+id, `{"size":2}`)
	do("DELETE", "/api/gadgets/"+gone, "")
	var buf bytes.Buffer
	if _, err := app.Backup(&buf); err != nil {
		t.Fatal(err)
	}
	online = buf.Bytes()
	if err := app.Close(); err != nil {
		t.Fatal(err)
	}
	var off bytes.Buffer
	if _, err := lithair.BackupDataDir(cfg, &off); err != nil {
		t.Fatal(err)
	}
	return online, off.Bytes()
}

// backupParts is a backup's content taken apart (the format is in
// backup.go), to be put together again changed.
type backupParts struct {
	header   []byte // the JSON line, without its newline
	snapshot []byte
	history  []backupEntry
}

type backupEntry struct {
	index uint64
	data  []byte
}

func splitBackup(plain []byte) (backupParts, error) {
	var p backupParts
	r := bytes.NewReader(plain)
	magic := make([]byte, len("LITHAIR-BACKUP 1\n"))
	if _, err := io.ReadFull(r, magic); err != nil {
		return p, err
	}
	line, err := readLine(r)
	if err != nil {
		return p, err
	}
	p.header = line
	for {
		n, err := binary.ReadUvarint(r)
		if err != nil {
			return p, err
		}
		if n == 0 {
			break
		}
		chunk := make([]byte, n)
		if _, err := io.ReadFull(r, chunk); err != nil {
			return p, err
		}
		p.snapshot = append(p.snapshot, chunk...)
	}
	for {
		idx, err := binary.ReadUvarint(r)
		if err != nil {
			return p, err
		}
		if idx == 0 {
			break
		}
		n, err := binary.ReadUvarint(r)
		if err != nil {
			return p, err
		}
		data := make([]byte, n)
		if _, err := io.ReadFull(r, data); err != nil {
			return p, err
		}
		p.history = append(p.history, backupEntry{idx, data})
	}
	if rest, _ := io.ReadAll(r); !bytes.HasPrefix(rest, []byte("SHA256 ")) {
		return p, fmt.Errorf("no checksum after the history: %q", rest)
	}
	return p, nil
}

func readLine(r *bytes.Reader) ([]byte, error) {
	var line []byte
	for {
		c, err := r.ReadByte()
		if err != nil {
			return nil, err
		}
		if c == '\n' {
			return line, nil
		}
		line = append(line, c)
	}
}

// content puts a backup's content together again, the snapshot in chunks
// of at most chunk bytes, without the checksum line.
func (p backupParts) content(chunk int) []byte {
	b := append([]byte("LITHAIR-BACKUP 1\n"), p.header...)
	b = append(b, '\n')
	for s := p.snapshot; len(s) > 0; {
		n := min(len(s), chunk)
		b = binary.AppendUvarint(b, uint64(n))
		b = append(b, s[:n]...)
		s = s[n:]
	}
	b = append(b, 0)
	for _, e := range p.history {
		b = binary.AppendUvarint(b, e.index)
		b = binary.AppendUvarint(b, uint64(len(e.data)))
		b = append(b, e.data...)
	}
	return append(b, 0)
}
