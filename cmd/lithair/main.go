// Command lithair runs a Lithair appliance and the tools that look after
// its data. Run `lithair help` for the list of commands; each takes
// --help. Exit codes are listed in usage below and in the README.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	lithair "github.com/lithair/lithair"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

// Exit codes, so scripts and systemd can tell failures apart.
const (
	exitOK      = 0
	exitFailure = 1 // the command ran and found a problem, or failed
	exitUsage   = 2 // the command line was wrong
	// exitConfig (sysexits' EX_CONFIG): the configuration is invalid. The
	// unit's RestartPreventExitStatus keeps systemd from restarting into
	// the same mistake.
	exitConfig = 78
)

const usage = `Lithair: a durable, event-sourced JSON API from Lua rule files.

Usage:
  lithair [serve] [flags]              run the appliance (the default command)
  lithair config check [FILE]          check a configuration, print the effective one
  lithair rules check DIR              check rule files, print file:line errors
  lithair backup --from http://HOST:PORT [-o FILE]
                                       back up a running node over HTTP
  lithair backup --data DIR [-o FILE]  back up a stopped node's data dir
  lithair backup verify FILE           check a backup and print what it holds
  lithair restore --data DIR FILE      restore a backup into an empty data dir
  lithair log verify DIR               check every frame of the event log and snapshots
  lithair log dump DIR                 print the log's entries as JSON lines
  lithair log replay DIR               rebuild the state from the whole log, print its hash
  lithair user add|passwd|list|remove  manage users
  lithair token create|list|revoke     manage API tokens
  lithair version                      print the version

Run "lithair COMMAND --help" for a command's flags.

Exit codes: 0 ok; 1 the command failed or found a problem; 2 bad command
line; 3 not available yet; 78 invalid configuration.
`

func main() {
	lithair.BuildVersion = version
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// stdio is what a command reads and writes.
type stdio struct {
	in          io.Reader
	out, errOut io.Writer
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	std := stdio{stdin, stdout, stderr}
	if len(args) == 0 || (strings.HasPrefix(args[0], "-") && !isHelp(args[0]) && args[0] != "--version") {
		return serve(args, std)
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "serve":
		return serve(rest, std)
	case "config":
		return configCmd(rest, std)
	case "rules":
		return rulesCmd(rest, std)
	case "log":
		return logCmd(rest, std)
	case "backup":
		return backupCmd(rest, std)
	case "restore":
		return restoreCmd(rest, std)
	case "user":
		return userCmd(rest, std)
	case "token":
		return tokenCmd(rest, std)
	case "version", "--version":
		fmt.Fprintln(stdout, "lithair", version)
		return exitOK
	case "help", "-h", "-help", "--help":
		if len(rest) > 0 && rest[0] != "help" {
			return run([]string{rest[0], "--help"}, stdin, stdout, stderr)
		}
		fmt.Fprint(stdout, usage)
		return exitOK
	}
	fmt.Fprintf(stderr, "lithair: unknown command %q\n\n%s", cmd, usage)
	return exitUsage
}

func isHelp(a string) bool { return a == "-h" || a == "-help" || a == "--help" }

// wantsHelp reports whether args ask for help before any "--".
func wantsHelp(args []string) bool {
	for _, a := range args {
		if a == "--" {
			return false
		}
		if isHelp(a) {
			return true
		}
	}
	return false
}

// command is a subcommand's flag set and help text.
type command struct {
	fs   *flag.FlagSet
	help string   // usage line(s) and description, printed before the flags
	args []string // the positional arguments, wherever they stood
}

func (c *command) arg(i int) string {
	if i < len(c.args) {
		return c.args[i]
	}
	return ""
}

func newCommand(name, help string) *command {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return &command{fs: fs, help: help}
}

func (c *command) printHelp(w io.Writer) {
	fmt.Fprint(w, c.help)
	hasFlags := false
	c.fs.VisitAll(func(*flag.Flag) { hasFlags = true })
	if hasFlags {
		fmt.Fprint(w, "\nFlags:\n")
		c.fs.SetOutput(w)
		c.fs.PrintDefaults()
		c.fs.SetOutput(io.Discard)
	}
}

// parse parses args; done is true when the command must return code
// (help was printed, or the command line was wrong).
func (c *command) parse(args []string, std stdio, minArgs, maxArgs int) (code int, done bool) {
	if wantsHelp(args) {
		c.printHelp(std.out)
		return exitOK, true
	}
	// Flags may come before or after the positional arguments
	// ("restore FILE --data DIR" as well as "restore --data DIR FILE").
	rest := args
	for {
		if err := c.fs.Parse(rest); err != nil {
			fmt.Fprintf(std.errOut, "lithair %s: %v\n\n", c.fs.Name(), err)
			c.printHelp(std.errOut)
			return exitUsage, true
		}
		rest = c.fs.Args()
		if len(rest) == 0 {
			break
		}
		if consumedDashDash(args, rest) {
			c.args = append(c.args, rest...)
			break
		}
		c.args = append(c.args, rest[0])
		rest = rest[1:]
	}
	n := len(c.args)
	if n < minArgs || (maxArgs >= 0 && n > maxArgs) {
		switch {
		case n < minArgs:
			fmt.Fprintf(std.errOut, "lithair %s: missing argument\n\n", c.fs.Name())
		default:
			fmt.Fprintf(std.errOut, "lithair %s: unexpected argument %q\n\n", c.fs.Name(), c.arg(maxArgs))
		}
		c.printHelp(std.errOut)
		return exitUsage, true
	}
	return 0, false
}

// consumedDashDash reports whether the flag parser stopped at a "--"
// just before rest: then everything in rest is positional.
func consumedDashDash(all, rest []string) bool {
	i := len(all) - len(rest) - 1
	return i >= 0 && all[i] == "--"
}

// configFlags are the flags every command that needs a configuration
// takes: the file, the common overrides, and --set for any option.
type configFlags struct {
	file, listen, data, rules, nodeID string
	raftBind, join                    string
	set                               setFlags
}

type setFlags map[string]string

func (s setFlags) String() string { return "" }
func (s setFlags) Set(v string) error {
	k, val, ok := strings.Cut(v, "=")
	if !ok || k == "" {
		return errors.New("want KEY=VALUE, for example http.max_body=2097152")
	}
	s[k] = val
	return nil
}

func (f *configFlags) register(fs *flag.FlagSet, serveFlags bool) {
	f.set = setFlags{}
	fs.StringVar(&f.file, "config", "", "TOML configuration `file` (default: $LITHAIR_CONFIG, else none: built-in defaults)")
	fs.StringVar(&f.data, "data", "", "data `dir`: the log, Raft state and snapshots (event_store.dir)")
	fs.StringVar(&f.nodeID, "node-id", "", "Raft node `id` (raft.node_id)")
	if serveFlags {
		fs.StringVar(&f.listen, "listen", "", "HTTP listen `address` (http.listen)")
		fs.StringVar(&f.rules, "rules", "", "rules `dir` of *.lua files (rules.dir)")
		fs.StringVar(&f.raftBind, "raft", "", "Raft `address` HOST:PORT to listen on: this node is part of a cluster (raft.bind); needs LITHAIR_CLUSTER_SECRET")
		fs.StringVar(&f.join, "join", "", "HTTP `address` HOST:PORT of a member of the cluster to join (raft.join)")
	}
	fs.Var(f.set, "set", "set any option, `KEY=VALUE` (for example log.level=debug); repeatable")
}

// resolve builds the effective configuration: flags over LITHAIR_*
// variables over the file over defaults.
func (f *configFlags) resolve() (lithair.Config, lithair.Origins, []string, error) {
	flags := map[string]string{}
	for k, v := range f.set {
		flags[k] = v
	}
	for key, v := range map[string]string{"http.listen": f.listen, "event_store.dir": f.data, "rules.dir": f.rules, "raft.node_id": f.nodeID,
		"raft.bind": f.raftBind, "raft.join": f.join} {
		if v != "" {
			flags[key] = v
		}
	}
	file := f.file
	if file == "" {
		file = os.Getenv("LITHAIR_CONFIG")
	}
	return lithair.ResolveConfig(file, os.Environ(), flags)
}

// configFailed prints a configuration error and returns its exit code.
func configFailed(std stdio, err error) int {
	fmt.Fprintln(std.errOut, "lithair: invalid configuration:")
	for _, line := range strings.Split(err.Error(), "\n") {
		fmt.Fprintln(std.errOut, "  "+line)
	}
	return exitConfig
}
