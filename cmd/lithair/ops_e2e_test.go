package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

// The operator's side of the binary: commands, exit codes, backups and
// restores, graceful stops. Everything runs the real binary.

// runCLI runs the binary with args and env and returns its exit code,
// stdout and stderr.
func runCLI(t *testing.T, env []string, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(lithairBinary(t), args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Dir = "../.." // so that the default ./configs/rules resolves
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("running lithair %v: %v", args, err)
	}
	return code, out.String(), errOut.String()
}

func TestEveryCommandHasHelpAndMeaningfulExitCodes(t *testing.T) {
	for _, args := range [][]string{
		{"--help"}, {"help"}, {"serve", "--help"}, {"config", "check", "--help"}, {"rules", "check", "--help"},
		{"backup", "--help"}, {"backup", "verify", "--help"}, {"restore", "--help"}, {"log", "verify", "--help"},
		{"log", "dump", "--help"}, {"user", "--help"}, {"user", "add", "--help"}, {"token", "--help"},
		{"token", "create", "--help"}, {"help", "restore"},
	} {
		code, out, _ := runCLI(t, nil, args...)
		if code != exitOK || !strings.Contains(out, "Usage") {
			t.Errorf("lithair %s: exit %d, stdout %q", strings.Join(args, " "), code, out)
		}
	}
	for _, c := range []struct {
		args []string
		code int
		says string
	}{
		{[]string{"user", "add"}, exitUsage, "missing argument"},
		{[]string{"token", "create"}, exitUsage, "missing argument"},
		{[]string{"token", "revoke"}, exitUsage, "missing argument"},
		{[]string{"user"}, exitUsage, "missing subcommand"},
		{[]string{"token", "steal"}, exitUsage, "unknown subcommand"},
		{[]string{"frobnicate"}, exitUsage, "unknown command"},
		{[]string{"rules", "check"}, exitUsage, "missing argument"},
		{[]string{"log", "verify"}, exitUsage, "missing argument"},
		{[]string{"restore"}, exitUsage, "missing argument"},
		{[]string{"backup"}, exitUsage, "either --from"},
		{[]string{"serve", "--bogus"}, exitUsage, "flag provided but not defined"},
		{[]string{"serve", "--set", "http.nope=1"}, exitConfig, "unknown option"},
		{[]string{"serve", "--rules", "/nonexistent-rules"}, exitConfig, "rules.dir"},
		{[]string{"config", "check", "/nonexistent.toml"}, exitConfig, "cannot read"},
		{[]string{"rules", "check", "/nonexistent-rules"}, exitFailure, ""},
		{[]string{"backup", "verify", "/nonexistent.backup"}, exitFailure, "no such file"},
	} {
		code, out, errOut := runCLI(t, nil, c.args...)
		if code != c.code || !strings.Contains(out+errOut, c.says) {
			t.Errorf("lithair %s: exit %d (want %d), output %q (want %q)", strings.Join(c.args, " "), code, c.code, out+errOut, c.says)
		}
	}
	if code, out, _ := runCLI(t, nil, "version"); code != 0 || !strings.HasPrefix(out, "lithair ") {
		t.Errorf("version: %d %q", code, out)
	}
}

func TestConfigPrecedenceAndErrorsWithLines(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "lithair.toml")
	os.WriteFile(file, []byte("# test\n[http]\nlisten = \"127.0.0.1:9001\"\nmax_body = 2048\n\n[raft]\nnode_id = \"from-file\"\n"), 0o644)
	code, out, errOut := runCLI(t, []string{"LITHAIR_HTTP_MAX_BODY=4096", "LITHAIR_RAFT_NODE_ID=from-env"},
		"config", "check", file, "--node-id", "from-flag")
	if code != 0 {
		t.Fatalf("config check: %d %s %s", code, out, errOut)
	}
	for _, want := range []string{
		`listen = "127.0.0.1:9001"`, file + ":3", // the file over the default
		"max_body = 4096", "env LITHAIR_HTTP_MAX_BODY", // the environment over the file
		`node_id = "from-flag"`,                // a flag over the environment
		`request_timeout = "30s"`, "# default", // the rest: defaults
		"shutdown_timeout", "snapshot_threshold", // every option is printed
	} {
		if !strings.Contains(out, want) {
			t.Errorf("config check output lacks %q:\n%s", want, out)
		}
	}
	// What config check prints is itself a valid configuration file.
	printed := filepath.Join(dir, "printed.toml")
	os.WriteFile(printed, []byte(out), 0o644)
	if code, _, errOut := runCLI(t, nil, "config", "check", printed); code != 0 {
		t.Fatalf("the printed configuration does not load: %s", errOut)
	}

	for _, c := range []struct {
		name, body, want string
		env              []string
	}{
		{"unknown key", "[http]\nlisten = \"127.0.0.1:1\"\n\nlisen = \"x\"\n", ":4: http.lisen: unknown option (did you mean http.listen?)", nil},
		{"unknown section", "[http]\n[htp]\nlisten = \"x\"\n", ":2: htp: unknown section", nil},
		{"wrong type", "[event_store]\n\n\nsegment_size = \"big\"\n", ":4: event_store.segment_size: wrong type", nil},
		{"bad duration", "[raft]\nelection_timeout = \"soon\"\n", ":2: raft.election_timeout", nil},
		{"impossible value", "[event_store]\nsync = \"sometimes\"\n", `:2: event_store.sync: must be "always" or "periodic"`, nil},
		{"impossible value from env", "", `LITHAIR_RAFT_MAX_PAYLOAD_ENTRIES: raft.max_payload_entries: must be between 1 and 1024`, []string{"LITHAIR_RAFT_MAX_PAYLOAD_ENTRIES=0"}},
		{"wrong type from env", "", `LITHAIR_RULES_WATCH: rules.watch: not a boolean`, []string{"LITHAIR_RULES_WATCH=perhaps"}},
		{"syntax error", "[http]\nlisten = = 1\n", ".toml:2:", nil},
	} {
		f := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "_")+".toml")
		os.WriteFile(f, []byte(c.body), 0o644)
		code, _, errOut := runCLI(t, c.env, "config", "check", f)
		if code != exitConfig || !strings.Contains(errOut, c.want) {
			t.Errorf("%s: exit %d, stderr %q, want 78 and %q", c.name, code, errOut, c.want)
		}
		// serve refuses to start on the same configuration, the same way.
		code, _, errOut = runCLI(t, c.env, "serve", "--config", f, "--data", filepath.Join(dir, "data"))
		if code != exitConfig || !strings.Contains(errOut, c.want) {
			t.Errorf("%s: serve: exit %d, stderr %q, want 78 and %q", c.name, code, errOut, c.want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "data")); err == nil {
		t.Errorf("a refused configuration created the data dir")
	}
}

// allRecords reads every record of every example model through the API.
func allRecords(t *testing.T, n *node) map[string][]map[string]any {
	t.Helper()
	out := map[string][]map[string]any{}
	for _, path := range []string{"/api/products", "/api/categories", "/api/orders", "/api/articles"} {
		cursor := ""
		for {
			q := path + "?limit=500"
			if cursor != "" {
				q += "&cursor=" + cursor
			}
			r := n.must("GET", q, "")
			if r.Status != 200 {
				t.Fatalf("GET %s: %d %s", q, r.Status, r.Body)
			}
			l := decode[listAnswer](t, r)
			out[path] = append(out[path], l.Items...)
			if l.NextCursor == nil {
				break
			}
			cursor = *l.NextCursor
		}
	}
	return out
}

func stateHash(t *testing.T, n *node) map[string]any {
	t.Helper()
	r := n.must("GET", "/api/_state/hash", "")
	if r.Status != 200 {
		t.Fatalf("state hash: %d %s", r.Status, r.Body)
	}
	return r.json(t)
}

func TestBackupRestoreGivesBackTheExactState(t *testing.T) {
	work := t.TempDir()
	a := startNode(t, filepath.Join(work, "a"))
	for i := range 40 {
		a.must("POST", "/api/products", fmt.Sprintf(`{"name":"p%d","price":%d,"stock":%d}`, i, i+1, i%7))
		if i%4 == 0 {
			a.must("POST", "/api/categories", fmt.Sprintf(`{"name":"c%d"}`, i))
			a.must("POST", "/api/orders", fmt.Sprintf(`{"product_id":"p%d","quantity":%d,"total":%d}`, i, i%3+1, 10*i))
		}
	}
	prods := allRecords(t, a)["/api/products"]
	a.must("PATCH", "/api/products/"+prods[3]["id"].(string), `{"stock":99}`)
	a.must("DELETE", "/api/products/"+prods[5]["id"].(string), "")
	a.must("POST", "/api/_snapshot", "") // a snapshot in the store, then more entries after it
	a.must("PATCH", "/api/products/"+prods[7]["id"].(string), `{"price":1234}`)

	want, wantHash := allRecords(t, a), stateHash(t, a)
	wantMetrics := a.must("GET", "/api/_projections/SalesMetrics", "").Body
	// The history travels with the backup: record events, old versions.
	histories := map[string][]byte{}
	for _, q := range []string{"/api/products/" + prods[3]["id"].(string) + "/events", "/api/products/" + prods[5]["id"].(string) + "/events",
		"/api/products/" + prods[7]["id"].(string) + "?version=1", "/api/_audit?model=Order"} {
		r := a.must("GET", q, "")
		if r.Status != 200 {
			t.Fatalf("GET %s: %d %s", q, r.Status, r.Body)
		}
		histories[q] = r.Body
	}

	online := filepath.Join(work, "online.backup.zst")
	code, out, errOut := runCLI(t, nil, "backup", "--from", a.baseURL, "--token", a.adminToken(), "-o", online)
	if code != 0 || !strings.Contains(out, fmt.Sprint(wantHash["hash"])) {
		t.Fatalf("backup --from: %d %s %s (want state hash %v)", code, out, errOut, wantHash)
	}
	if code, out, errOut := runCLI(t, nil, "backup", "verify", online); code != 0 || !strings.Contains(out, fmt.Sprint(wantHash["hash"])) {
		t.Fatalf("backup verify: %d %s %s", code, out, errOut)
	}
	a.stop()
	offline := filepath.Join(work, "offline.backup.zst")
	if code, out, errOut := runCLI(t, nil, "backup", "--data", filepath.Join(work, "a"), "-o", offline); code != 0 || !strings.Contains(out, fmt.Sprint(wantHash["hash"])) {
		t.Fatalf("backup --data: %d %s %s", code, out, errOut)
	}

	for _, file := range []string{online, offline} {
		dir := filepath.Join(work, "restored-"+filepath.Base(file))
		if code, out, errOut := runCLI(t, nil, "restore", "--data", dir, file); code != 0 {
			t.Fatalf("restore %s: %d %s %s", file, code, out, errOut)
		}
		b := startNode(t, dir)
		b.token = a.adminToken() // the session is in the backup: signing in again would write
		if got := stateHash(t, b); got["hash"] != wantHash["hash"] {
			t.Fatalf("%s: restored state hash %v, want %v", file, got, wantHash)
		}
		if got := allRecords(t, b); !reflect.DeepEqual(got, want) {
			t.Fatalf("%s: restored records differ:\n got %v\nwant %v", file, got, want)
		}
		if got := b.must("GET", "/api/_projections/SalesMetrics", "").Body; !bytes.Equal(got, wantMetrics) {
			t.Fatalf("%s: projection %s, want %s", file, got, wantMetrics)
		}
		for q, body := range histories {
			if r := b.must("GET", q, ""); r.Status != 200 || !bytes.Equal(r.Body, body) {
				t.Fatalf("%s: GET %s after restore: %d %s\nwant %s", file, q, r.Status, r.Body, body)
			}
		}
		// The restored node takes writes, and keeps them across a restart.
		r := b.must("POST", "/api/products", `{"name":"after restore","price":1}`)
		if r.Status != 201 {
			t.Fatalf("write after restore: %d %s", r.Status, r.Body)
		}
		b.stop()
		b = startNode(t, dir)
		if r2 := b.must("GET", "/api/products/"+r.json(t)["id"].(string), ""); r2.Status != 200 {
			t.Fatalf("write after restore lost across a restart: %d", r2.Status)
		}
		b.stop()
	}
}

func TestBackupDuringWritesIsAConsistentPrefix(t *testing.T) {
	work := t.TempDir()
	a := startNode(t, filepath.Join(work, "a"))
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				a.do("POST", "/api/products", fmt.Sprintf(`{"name":"w%d-%d","price":1}`, w, i))
			}
		}()
	}
	time.Sleep(300 * time.Millisecond)
	file := filepath.Join(work, "b.zst")
	code, out, errOut := runCLI(t, nil, "backup", "--from", a.baseURL, "--token", a.adminToken(), "-o", file)
	time.Sleep(200 * time.Millisecond)
	close(stop)
	wg.Wait()
	if code != 0 {
		t.Fatalf("backup during writes: %d %s %s", code, out, errOut)
	}
	all := allRecords(t, a)["/api/products"]
	dir := filepath.Join(work, "r")
	if code, out, errOut := runCLI(t, nil, "restore", "--data", dir, file); code != 0 {
		t.Fatalf("restore: %d %s %s", code, out, errOut)
	}
	b := startNode(t, dir)
	got := allRecords(t, b)["/api/products"]
	// Records only were created, in id order: a state at one log index is
	// exactly the first K of them, nothing torn in between.
	if len(got) == 0 || len(got) >= len(all) || !reflect.DeepEqual(got, all[:len(got)]) {
		t.Fatalf("restored %d records, not a prefix of the %d written", len(got), len(all))
	}
	t.Logf("backup during writes: %d of %d records", len(got), len(all))
}

func TestRestoreRefusesCorruptBackupsAndNonEmptyDirs(t *testing.T) {
	work := t.TempDir()
	a := startNode(t, filepath.Join(work, "a"))
	for i := range 20 {
		a.must("POST", "/api/products", fmt.Sprintf(`{"name":"p%d","price":%d}`, i, i))
	}
	good := filepath.Join(work, "good.zst")
	if code, out, errOut := runCLI(t, nil, "backup", "--from", a.baseURL, "--token", a.adminToken(), "-o", good); code != 0 {
		t.Fatalf("backup: %d %s %s", code, out, errOut)
	}
	a.stop()
	b, _ := os.ReadFile(good)
	variants := map[string][]byte{
		"bit flip in the middle": flip(b, len(b)/2),
		"bit flip near the end":  flip(b, len(b)-6),
		"truncated":              b[:len(b)*2/3],
		"empty":                  {},
		"not a backup":           []byte("hello, I am a text file\n"),
	}
	for name, data := range variants {
		f := filepath.Join(work, strings.ReplaceAll(name, " ", "-")+".zst")
		os.WriteFile(f, data, 0o644)
		dir := filepath.Join(work, "r-"+filepath.Base(f))
		code, _, errOut := runCLI(t, nil, "restore", "--data", dir, f)
		if code != exitFailure || !strings.Contains(errOut, "corrupt") {
			t.Errorf("%s: restore exit %d, stderr %q; want 1 and a word of corruption", name, code, errOut)
		}
		if _, err := os.Stat(dir); err == nil {
			entries, _ := os.ReadDir(dir)
			t.Errorf("%s: a refused restore left %d entries in %s", name, len(entries), dir)
		}
		if code, _, errOut := runCLI(t, nil, "backup", "verify", f); code != exitFailure || !strings.Contains(errOut, "corrupt") {
			t.Errorf("%s: backup verify exit %d, stderr %q", name, code, errOut)
		}
	}
	// A data dir that holds anything is refused, and left alone.
	full := filepath.Join(work, "a")
	before, _ := os.ReadDir(full)
	code, _, errOut := runCLI(t, nil, "restore", "--data", full, good)
	if after, _ := os.ReadDir(full); code != exitFailure || !strings.Contains(errOut, "not empty") || len(after) != len(before) {
		t.Errorf("restore into a used data dir: exit %d, stderr %q", code, errOut)
	}
	// A running node's data dir cannot be backed up offline.
	startNode(t, full)
	if code, _, errOut := runCLI(t, nil, "backup", "--data", full, "-o", filepath.Join(work, "x.zst")); code != exitFailure || !strings.Contains(errOut, "in use") {
		t.Errorf("offline backup of a running node: exit %d, stderr %q", code, errOut)
	}
}

func flip(b []byte, at int) []byte {
	c := append([]byte(nil), b...)
	c[at] ^= 0x40
	return c
}

func TestLogDumpAndVerify(t *testing.T) {
	dir := t.TempDir()
	n := startNode(t, dir)
	id := n.must("POST", "/api/products", `{"name":"dumped","price":3}`).json(t)["id"].(string)
	n.must("PATCH", "/api/products/"+id, `{"stock":4}`)
	if code, out, errOut := runCLI(t, nil, "log", "dump", dir); code != exitFailure || !strings.Contains(errOut, "in use") {
		t.Errorf("log dump of a running node: %d %s %s", code, out, errOut)
	}
	n.stop()
	code, out, errOut := runCLI(t, nil, "log", "dump", dir)
	if code != 0 {
		t.Fatalf("log dump: %d %s", code, errOut)
	}
	var last uint64
	ops := []string{}
	for line := range strings.SplitSeq(strings.TrimSpace(out), "\n") {
		var e struct {
			Index   uint64 `json:"index"`
			Term    uint64 `json:"term"`
			Type    string `json:"type"`
			Command *struct {
				Op     string          `json:"op"`
				Model  string          `json:"model"`
				ID     string          `json:"id"`
				Fields json.RawMessage `json:"fields"`
			} `json:"command"`
		}
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("not a JSON line: %q", line)
		}
		if e.Index <= last || e.Term == 0 || e.Type == "" {
			t.Fatalf("entry out of order or incomplete: %s", line)
		}
		last = e.Index
		if e.Command != nil && e.Command.ID == id {
			ops = append(ops, e.Command.Op+" "+e.Command.Model+" "+string(e.Command.Fields))
		}
	}
	if len(ops) != 2 || !strings.HasPrefix(ops[0], `create Product {"name":"dumped"`) || !strings.Contains(ops[1], `"stock":4`) {
		t.Fatalf("log dump shows %q for the record", ops)
	}
	if code, out, errOut := runCLI(t, nil, "log", "verify", dir); code != 0 || !strings.Contains(out, "OK") {
		t.Fatalf("log verify of a sound dir: %d %s %s", code, out, errOut)
	}
	// Damage in the middle of a segment is reported with the file and offset.
	segs, _ := filepath.Glob(filepath.Join(dir, "log", "*.seg"))
	if len(segs) == 0 {
		t.Fatal("no segment")
	}
	b, _ := os.ReadFile(segs[0])
	os.WriteFile(segs[0], flip(b, 100), 0o644)
	code, out, _ = runCLI(t, nil, "log", "verify", dir)
	if code != exitFailure || !strings.Contains(out, "DAMAGED") || !strings.Contains(out, filepath.Base(segs[0])) {
		t.Fatalf("log verify of a damaged segment: %d %s", code, out)
	}
}
