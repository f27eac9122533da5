package main

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	lithair "github.com/lithair/lithair"
)

const backupHelp = `Usage:
  lithair backup --from http://HOST:PORT [--token TOKEN] [-o FILE | FILE]
  lithair backup --data DIR [--config FILE] [-o FILE | FILE]
  lithair backup verify FILE

Writes a backup: the state at one log index (records, rules, projections),
the event history up to that index (the log and its archive: record
histories, time travel, the audit trail), and what a restore needs (index,
term, cluster configuration), as one zstd stream that ends with a SHA-256
checksum.

--from backs up a running node over HTTP (GET /api/_backup, an admin
endpoint: --token or $LITHAIR_TOKEN gives an API token or session token of
an admin); writes go on meanwhile, and the backup is the state at the index
the node had reached.
--data backs up a stopped node's data dir (it refuses one a node is
using). Either way the backup is checked as it is written (checksum and a
full decode of the state) and only then renamed to FILE; a backup that
fails a check is deleted. FILE "-" writes to standard output.

verify checks a backup file and prints its index, size, checksum and the
hash of the state inside (the same hash GET /api/_state/hash gives).

Exit code 0 on success, 1 on any failure, corruption included.
`

func backupCmd(args []string, std stdio) int {
	if len(args) > 0 && args[0] == "verify" {
		return backupVerify(args[1:], std)
	}
	c := newCommand("backup", backupHelp)
	from := c.fs.String("from", "", "`URL` of a running node, http://HOST:PORT")
	token := c.fs.String("token", "", "admin API `token` or session token for --from (default $LITHAIR_TOKEN)")
	out := c.fs.String("o", "", "output `file` (default lithair-NODE-TIME.backup.zst in the current dir; - for stdout); also --output")
	c.fs.StringVar(out, "output", "", "same as -o")
	var cf configFlags
	cf.register(c.fs, false)
	if code, done := c.parse(args, std, 0, 1); done {
		return code
	}
	if *out != "" && len(c.args) == 1 {
		fmt.Fprintf(std.errOut, "lithair backup: two output files: -o %s and %s\n", *out, c.arg(0))
		return exitUsage
	}
	if *out == "" {
		*out = c.arg(0)
	}
	offline := cf.data != "" || cf.file != "" || os.Getenv("LITHAIR_CONFIG") != "" || os.Getenv("LITHAIR_EVENT_STORE_DIR") != ""
	if (*from != "" && cf.data != "") || (*from == "" && !offline) {
		fmt.Fprintf(std.errOut, "lithair backup: give either --from http://HOST:PORT (a running node) or --data DIR (a stopped one)\n\n")
		c.printHelp(std.errOut)
		return exitUsage
	}
	var write func(w io.Writer) (lithair.BackupInfo, error)
	node := ""
	if *from != "" {
		base := strings.TrimRight(*from, "/")
		if !strings.Contains(base, "://") {
			base = "http://" + base
		}
		if *token == "" {
			*token = os.Getenv("LITHAIR_TOKEN")
		}
		write = func(w io.Writer) (lithair.BackupInfo, error) { return fetchBackup(base, *token, w) }
		node = "remote"
	} else {
		cfg, _, _, err := cf.resolve()
		if err != nil {
			return configFailed(std, err)
		}
		write = func(w io.Writer) (lithair.BackupInfo, error) { return lithair.BackupDataDir(cfg, w) }
		node = cfg.Raft.NodeID
	}
	path := *out
	if path == "" {
		path = fmt.Sprintf("lithair-%s-%s.backup.zst", node, time.Now().UTC().Format("20060102T150405Z"))
	}
	start := time.Now()
	info, err := writeChecked(path, std.out, write)
	if err != nil {
		fmt.Fprintf(std.errOut, "lithair backup: %v\n", err)
		return exitFailure
	}
	msg := fmt.Sprintf("backup %s: index %d, term %d, %d records, history %s, %d bytes, sha256 %s, state hash %s, %s\n",
		path, info.Index, info.Term, info.Records, historyRange(info), info.Bytes, info.SHA256, info.StateHash, time.Since(start).Round(time.Millisecond))
	if path == "-" {
		fmt.Fprint(std.errOut, msg)
	} else {
		fmt.Fprint(std.out, msg)
	}
	return exitOK
}

// fetchBackup streams GET /api/_backup into w.
func fetchBackup(base, token string, w io.Writer) (lithair.BackupInfo, error) {
	req, err := http.NewRequest("GET", base+"/api/_backup", nil)
	if err != nil {
		return lithair.BackupInfo{}, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return lithair.BackupInfo{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return lithair.BackupInfo{}, fmt.Errorf("%s/api/_backup answered %s: %s", base, resp.Status, strings.TrimSpace(string(body)))
	}
	if _, err := io.Copy(w, resp.Body); err != nil {
		return lithair.BackupInfo{}, fmt.Errorf("reading the backup from %s: %w", base, err)
	}
	return lithair.BackupInfo{}, nil
}

// writeChecked writes a backup to path through a verifier that reads it
// back as it goes by; the file is renamed into place only once the
// verifier has checked the whole backup.
func writeChecked(path string, stdout io.Writer, write func(io.Writer) (lithair.BackupInfo, error)) (lithair.BackupInfo, error) {
	var dst io.Writer = stdout
	var f *os.File
	tmp := path + ".partial"
	if path != "-" {
		if _, err := os.Stat(path); err == nil {
			return lithair.BackupInfo{}, fmt.Errorf("%s exists; not overwriting it", path)
		}
		var err error
		if f, err = os.OpenFile(tmp, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600); err != nil {
			return lithair.BackupInfo{}, err
		}
		dst = f
	}
	fail := func(err error) (lithair.BackupInfo, error) {
		if f != nil {
			f.Close()
			os.Remove(tmp)
		}
		return lithair.BackupInfo{}, err
	}
	pr, pw := io.Pipe()
	verified := make(chan struct {
		info lithair.BackupInfo
		err  error
	}, 1)
	go func() {
		info, err := lithair.VerifyBackup(pr)
		io.Copy(io.Discard, pr) // let the writer finish even after a failure
		verified <- struct {
			info lithair.BackupInfo
			err  error
		}{info, err}
	}()
	_, werr := write(io.MultiWriter(dst, pw))
	pw.CloseWithError(werr)
	v := <-verified
	if werr != nil {
		return fail(werr)
	}
	if v.err != nil {
		return fail(fmt.Errorf("the backup failed its check, deleted: %w", v.err))
	}
	if f != nil {
		if err := f.Sync(); err != nil {
			return fail(err)
		}
		if err := f.Close(); err != nil {
			return fail(err)
		}
		if err := os.Rename(tmp, path); err != nil {
			os.Remove(tmp)
			return lithair.BackupInfo{}, err
		}
		if d, err := os.Open(filepath.Dir(path)); err == nil {
			d.Sync()
			d.Close()
		}
	}
	return v.info, nil
}

func backupVerify(args []string, std stdio) int {
	c := newCommand("backup verify", backupHelp)
	if code, done := c.parse(args, std, 1, 1); done {
		return code
	}
	f, err := os.Open(c.arg(0))
	if err != nil {
		fmt.Fprintf(std.errOut, "lithair backup verify: %v\n", err)
		return exitFailure
	}
	defer f.Close()
	info, err := lithair.VerifyBackup(f)
	if err != nil {
		fmt.Fprintf(std.errOut, "lithair backup verify: %s: %v\n", c.arg(0), strings.TrimPrefix(err.Error(), "lithair: "))
		return exitFailure
	}
	fmt.Fprintf(std.out, "%s: OK: index %d, term %d, node %s, taken %s by lithair %s, %d records, history %s, state hash %s, sha256 %s\n",
		c.arg(0), info.Index, info.Term, info.NodeID, info.CreatedAt.Format(time.RFC3339), info.Lithair, info.Records, historyRange(info), info.StateHash, info.SHA256)
	return exitOK
}

const restoreHelp = `Usage: lithair restore [--data DIR] [--config FILE] [--node-id ID] FILE

Restores a backup into an empty (or new) data dir; it refuses a directory
that holds anything. Then "lithair serve" with the same data dir and node
id starts from exactly the backed-up state and elects itself leader of a
single-node cluster. The data dir and node id come from the flags, the
LITHAIR_* variables and the configuration file, as for serve.

The whole backup is checked (checksum, compression, the state inside)
before the data dir is seeded; a corrupt backup leaves the directory empty.
FILE "-" reads standard input.

Exit code 0 on success; 1 when the backup is corrupt, the data dir is not
empty, or the restore failed; 78 for an invalid configuration.
`

func restoreCmd(args []string, std stdio) int {
	c := newCommand("restore", restoreHelp)
	var cf configFlags
	cf.register(c.fs, false)
	if code, done := c.parse(args, std, 1, 1); done {
		return code
	}
	cfg, _, _, err := cf.resolve()
	if err != nil {
		return configFailed(std, err)
	}
	var in io.Reader = std.in
	if name := c.arg(0); name != "-" {
		f, err := os.Open(name)
		if err != nil {
			fmt.Fprintf(std.errOut, "lithair restore: %v\n", err)
			return exitFailure
		}
		defer f.Close()
		in = f
	}
	info, err := lithair.RestoreBackup(in, cfg)
	if err != nil {
		fmt.Fprintf(std.errOut, "lithair restore: %v\n", strings.TrimPrefix(err.Error(), "lithair: "))
		if errors.Is(err, lithair.ErrBackupCorrupt) {
			fmt.Fprintf(std.errOut, "nothing was restored; %s is as it was\n", cfg.EventStore.Dir)
		}
		return exitFailure
	}
	fmt.Fprintf(std.out, "restored %s into %s: index %d, term %d, %d records, history %s, state hash %s\n",
		c.arg(0), cfg.EventStore.Dir, info.Index, info.Term, info.Records, historyRange(info), info.StateHash)
	fmt.Fprintf(std.out, "start it with the same node id: lithair serve --data %s --node-id %s\n", cfg.EventStore.Dir, cfg.Raft.NodeID)
	return exitOK
}

// historyRange says which log entries a backup carries.
func historyRange(info lithair.BackupInfo) string {
	if info.HistoryLast == 0 {
		return "none"
	}
	return fmt.Sprintf("entries [%d, %d]", info.HistoryFirst, info.HistoryLast)
}
