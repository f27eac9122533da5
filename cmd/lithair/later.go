package main

import "fmt"

const userUsage = `Usage: lithair user add|passwd|list|remove ...

Manages the users who sign in to the API and the admin page.

Not available yet: users, sessions and roles arrive with authentication in
a later release. Today every request is anonymous; keep the API on
127.0.0.1 or behind a reverse proxy that authenticates.
`

const tokenUsage = `Usage: lithair token create|list|revoke ...

Manages the API tokens that scripts use instead of a password.

Not available yet: API tokens arrive with authentication in a later
release. Today every request is anonymous; keep the API on 127.0.0.1 or
behind a reverse proxy that authenticates.
`

// notYet answers the commands whose capability is not built yet: help
// works, anything else says so and exits with exitNotYet.
func notYet(name, help string, args []string, std stdio) int {
	if wantsHelp(args) {
		fmt.Fprint(std.out, help)
		return exitOK
	}
	subs := map[string][]string{"user": {"add", "passwd", "list", "remove"}, "token": {"create", "list", "revoke"}}[name]
	if len(args) == 0 {
		fmt.Fprintf(std.errOut, "lithair %s: missing subcommand\n\n%s", name, help)
		return exitUsage
	}
	known := false
	for _, s := range subs {
		known = known || s == args[0]
	}
	if !known {
		fmt.Fprintf(std.errOut, "lithair %s: unknown subcommand %q\n\n%s", name, args[0], help)
		return exitUsage
	}
	fmt.Fprintf(std.errOut, "lithair %s %s: not available yet: users and API tokens arrive with authentication in a later release (exit code %d)\n", name, args[0], exitNotYet)
	return exitNotYet
}
