package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	lithair "github.com/lithair/lithair"
	wal "github.com/lithair/lithair/log"
	"github.com/lithair/lithair/rules"
)

const rulesHelp = `Usage: lithair rules check DIR

Loads every *.lua file in DIR as the server would and prints each error as
file:line: message. Exit code 0 when the rules are good, 1 when they are
not (a running node would refuse them and keep its current rules).
`

func rulesCmd(args []string, std stdio) int {
	c := newCommand("rules", rulesHelp)
	if code, done := c.parse(args, std, 2, 2); done {
		return code
	}
	if c.arg(0) != "check" {
		fmt.Fprintf(std.errOut, "lithair rules: unknown subcommand %q\n\n%s", c.arg(0), rulesHelp)
		return exitUsage
	}
	dir := c.arg(1)
	errs := rules.Check(dir)
	for _, e := range errs {
		fmt.Fprintln(std.out, e.Error())
	}
	if len(errs) > 0 {
		return exitFailure
	}
	fmt.Fprintf(std.out, "%s: rules OK\n", dir)
	return exitOK
}

const logHelp = `Usage:
  lithair log verify DIR
  lithair log dump [--from N] [--to N] DIR
  lithair log replay DIR

verify reads every frame of the event log in DIR (a data dir, or its log/
folder), its archive, the Raft stable store and every snapshot, and checks
their checksums and order. It changes nothing and is safe on a running
node. Exit code 0 when all is sound, 1 on damage: the message names the
file and byte offset.

dump prints the log's entries, oldest first (archive included), one JSON
object per line: index, term, type (command, noop, configuration,
barrier), appended_at, and the decoded command. It needs the node stopped
(it takes the data dir's lock).

replay rebuilds the state from the log alone: every entry from index 1,
archive first, applied to an empty state; no snapshot is read. It prints
the last index applied, the number of live records and the state hash,
which is the hash GET /api/_state/hash gave when the node stopped at that
index. It needs the node stopped. Exit code 0 when the log replays, 1 when
it cannot: damage, or history that retention (event_store.retention) has
deleted, since a replay from a later index would print a wrong hash.
`

func logCmd(args []string, std stdio) int {
	if wantsHelp(args) || len(args) == 0 {
		if len(args) == 0 {
			fmt.Fprint(std.errOut, logHelp)
			return exitUsage
		}
		fmt.Fprint(std.out, logHelp)
		return exitOK
	}
	switch args[0] {
	case "verify":
		return logVerify(args[1:], std)
	case "dump":
		return logDump(args[1:], std)
	case "replay":
		return logReplay(args[1:], std)
	}
	fmt.Fprintf(std.errOut, "lithair log: unknown subcommand %q\n\n%s", args[0], logHelp)
	return exitUsage
}

func logVerify(args []string, std stdio) int {
	c := newCommand("log verify", logHelp)
	if code, done := c.parse(args, std, 1, 1); done {
		return code
	}
	dir := c.arg(0)
	if _, err := os.Stat(dir); err != nil {
		fmt.Fprintf(std.errOut, "lithair log verify: %v\n", err)
		return exitFailure
	}
	dataDir, logPath := dir, logDir(dir)
	if logPath == dir {
		dataDir = ""
	}
	bad := false
	rep, err := wal.Verify(logPath, nil)
	if err != nil {
		fmt.Fprintf(std.out, "event log %s: DAMAGED: %v\n", logPath, err)
		bad = true
	} else {
		fmt.Fprintf(std.out, "event log %s: OK: %d entries [%d, %d] in %d segments, %d archived segments\n",
			logPath, rep.Entries, rep.FirstIndex, rep.LastIndex, rep.Segments, rep.Archived)
		if rep.TornBytes > 0 {
			fmt.Fprintf(std.out, "  torn tail: %d bytes after the last whole entry (a crash during a write; the next start cuts them; nothing acknowledged is in them)\n", rep.TornBytes)
		}
		if rep.DeadSegments > 0 {
			fmt.Fprintf(std.out, "  %d segments before the first index from an interrupted compaction (the next start archives them)\n", rep.DeadSegments)
		}
	}
	if dataDir != "" {
		stable := filepath.Join(dataDir, "raft-stable")
		if _, err := os.Stat(stable); err == nil {
			if _, err := wal.Verify(stable, nil); err != nil {
				fmt.Fprintf(std.out, "raft stable store %s: DAMAGED: %v\n", stable, err)
				bad = true
			} else {
				fmt.Fprintf(std.out, "raft stable store %s: OK\n", stable)
			}
		}
		checks, err := lithair.VerifySnapshots(dataDir)
		if err != nil {
			fmt.Fprintf(std.out, "snapshots: cannot list: %v\n", err)
			bad = true
		}
		good := 0
		for _, s := range checks {
			if s.Error != "" {
				fmt.Fprintf(std.out, "snapshot %s (index %d): DAMAGED: %s\n", s.ID, s.Index, s.Error)
				continue
			}
			good++
			fmt.Fprintf(std.out, "snapshot %s (index %d, %d bytes): OK, state hash %s\n", s.ID, s.Index, s.Bytes, s.StateHash)
		}
		// A damaged snapshot is survivable while another one, or the
		// whole log, can stand in for it; the start says which it uses.
		if len(checks) > 0 && good == 0 && (err != nil || rep.FirstIndex > 1) {
			fmt.Fprintln(std.out, "no usable snapshot and the log was compacted: restore from a backup")
			bad = true
		} else if good < len(checks) {
			fmt.Fprintln(std.out, "a damaged snapshot is set aside at the next start; the node falls back to an older snapshot or the whole log")
			bad = true
		}
	}
	if bad {
		return exitFailure
	}
	return exitOK
}

// logDir accepts a data dir as well as the log folder inside it.
func logDir(dir string) string {
	if st, err := os.Stat(filepath.Join(dir, "log")); err == nil && st.IsDir() {
		return filepath.Join(dir, "log")
	}
	return dir
}

// dataDirOf accepts the log folder inside a data dir as well as the data
// dir itself, for the commands that need the data dir's lock.
func dataDirOf(dir string) string {
	if filepath.Base(filepath.Clean(dir)) == "log" {
		if _, err := os.Stat(filepath.Join(filepath.Dir(filepath.Clean(dir)), "LOCK")); err == nil {
			return filepath.Dir(filepath.Clean(dir))
		}
	}
	return dir
}

func logDump(args []string, std stdio) int {
	c := newCommand("log dump", logHelp)
	from := c.fs.Uint64("from", 1, "first `index` to print")
	to := c.fs.Uint64("to", 0, "last `index` to print (0: to the end)")
	if code, done := c.parse(args, std, 1, 1); done {
		return code
	}
	dir := dataDirOf(c.arg(0))
	w := bufio.NewWriterSize(std.out, 1<<16)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	n := 0
	err := lithair.DumpLog(dir, *from, *to, func(e lithair.LogEntry) error {
		n++
		return enc.Encode(e)
	})
	if ferr := w.Flush(); err == nil {
		err = ferr
	}
	if err != nil {
		if errors.Is(err, wal.ErrCorrupt) {
			fmt.Fprintf(std.errOut, "lithair log dump: after %d entries: %v\n", n, err)
		} else {
			fmt.Fprintf(std.errOut, "lithair log dump: %v\n", strings.TrimPrefix(err.Error(), "lithair: "))
		}
		return exitFailure
	}
	return exitOK
}

func logReplay(args []string, std stdio) int {
	c := newCommand("log replay", logHelp)
	if code, done := c.parse(args, std, 1, 1); done {
		return code
	}
	dir := dataDirOf(c.arg(0))
	start := time.Now()
	r, err := lithair.ReplayLog(dir)
	if err != nil {
		fmt.Fprintf(std.errOut, "lithair log replay: %v\n", strings.TrimPrefix(err.Error(), "lithair: "))
		return exitFailure
	}
	fmt.Fprintf(std.out, "log replay %s: applied index %d, %d records, state hash %s (%d compacted entries), %s\n",
		dir, r.Index, r.Records, r.Hash, r.Compacted, time.Since(start).Round(time.Millisecond))
	return exitOK
}
