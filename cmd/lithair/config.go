package main

import (
	"fmt"
	"strings"
)

const configHelp = `Usage: lithair config check [FILE] [flags]

Checks a configuration the way serve reads it: FILE (or $LITHAIR_CONFIG),
then the LITHAIR_* environment variables, then any flags given here. An
unknown option, a wrong type or an impossible value is reported with the
file and line (or the variable) and the reason, and the exit code is 78.
When all is well, it prints the effective configuration as TOML, each
value followed by where it came from: "default", FILE:LINE, "env
LITHAIR_…" or "flag", and exits 0.
`

func configCmd(args []string, std stdio) int {
	if wantsHelp(args) {
		fmt.Fprint(std.out, configHelp)
		return exitOK
	}
	if len(args) == 0 || args[0] != "check" {
		if len(args) == 0 {
			fmt.Fprintf(std.errOut, "lithair config: missing subcommand\n\n%s", configHelp)
		} else {
			fmt.Fprintf(std.errOut, "lithair config: unknown subcommand %q\n\n%s", args[0], configHelp)
		}
		return exitUsage
	}
	c := newCommand("config check", configHelp)
	var cf configFlags
	cf.register(c.fs, true)
	rest := args[1:]
	// The file may come before or after the flags.
	if len(rest) > 0 && !strings.HasPrefix(rest[0], "-") {
		cf.file = rest[0]
		rest = rest[1:]
	}
	file := cf.file
	if code, done := c.parse(rest, std, 0, 1); done {
		return code
	}
	if len(c.args) == 1 {
		if file != "" {
			fmt.Fprintf(std.errOut, "lithair config check: two files: %s and %s\n", file, c.arg(0))
			return exitUsage
		}
		cf.file = c.arg(0)
	} else if file != "" && cf.file == "" {
		cf.file = file
	}
	cfg, origins, ignored, err := cf.resolve()
	if err != nil {
		return configFailed(std, err)
	}
	src := cf.file
	if src == "" {
		src = "(no file: defaults and environment)"
	}
	fmt.Fprintf(std.out, "# effective configuration from %s\n", src)
	for _, name := range ignored {
		fmt.Fprintf(std.out, "# warning: %s names no option and is ignored\n", name)
	}
	cfg.WriteTOML(std.out, origins)
	return exitOK
}
