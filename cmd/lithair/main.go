// Command lithair runs a Lithair appliance and the tools that look after
// its data: `lithair serve` (the default), `lithair rules check`,
// `lithair log verify` and `lithair version`.
package main

import (
	"fmt"
	"io"
	"os"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

// Exit codes, so scripts and systemd can tell failures apart.
const (
	exitOK      = 0
	exitFailure = 1 // the command ran and found a problem
	exitUsage   = 2 // the command line was wrong
)

const usage = `Lithair: a durable, event-sourced JSON API from Lua rule files.

Usage:
  lithair [serve] [flags]       run the appliance (default)
  lithair rules check DIR       check rule files, print file:line errors
  lithair log verify DIR        check every frame of an event log
  lithair version               print the version

Run "lithair COMMAND --help" for a command's flags.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 || (len(args[0]) > 0 && args[0][0] == '-' && args[0] != "-h" && args[0] != "--help") {
		return serve(args, stdout, stderr)
	}
	switch args[0] {
	case "serve":
		return serve(args[1:], stdout, stderr)
	case "rules":
		return rulesCmd(args[1:], stdout, stderr)
	case "log":
		return logCmd(args[1:], stdout, stderr)
	case "version", "--version":
		fmt.Fprintln(stdout, "lithair", version)
		return exitOK
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return exitOK
	}
	fmt.Fprintf(stderr, "lithair: unknown command %q\n\n%s", args[0], usage)
	return exitUsage
}
