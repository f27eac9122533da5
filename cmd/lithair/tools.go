package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	wal "github.com/lithair/lithair/log"
	"github.com/lithair/lithair/rules"
)

func rulesCmd(args []string, stdout, stderr io.Writer) int {
	if len(args) != 2 || args[0] != "check" {
		fmt.Fprintln(stderr, "Usage: lithair rules check DIR\n\nLoads every *.lua file in DIR and prints each error as file:line: message.")
		if len(args) > 0 && (args[len(args)-1] == "--help" || args[len(args)-1] == "-h") {
			return exitOK
		}
		return exitUsage
	}
	errs := rules.Check(args[1])
	for _, e := range errs {
		fmt.Fprintln(stdout, e.Error())
	}
	if len(errs) > 0 {
		return exitFailure
	}
	fmt.Fprintf(stdout, "%s: rules OK\n", args[1])
	return exitOK
}

func logCmd(args []string, stdout, stderr io.Writer) int {
	if len(args) != 2 || args[0] != "verify" {
		fmt.Fprintln(stderr, "Usage: lithair log verify DIR\n\nChecks every frame of the event log in DIR (a data dir or its log/ folder).")
		if len(args) > 0 && (args[len(args)-1] == "--help" || args[len(args)-1] == "-h") {
			return exitOK
		}
		return exitUsage
	}
	report, err := wal.Verify(logDir(args[1]), nil)
	if err != nil {
		fmt.Fprintln(stdout, err)
		return exitFailure
	}
	fmt.Fprintln(stdout, report)
	return exitOK
}

// logDir accepts a data dir as well as the log folder inside it.
func logDir(dir string) string {
	if st, err := os.Stat(filepath.Join(dir, "log")); err == nil && st.IsDir() {
		return filepath.Join(dir, "log")
	}
	return dir
}
