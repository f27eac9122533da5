package main

import (
	"bufio"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"sort"
	"strings"
	"text/tabwriter"
)

const userUsage = `Usage: lithair user add NAME [--role ROLE]... [--password-stdin]
       lithair user passwd NAME [--password-stdin]
       lithair user list
       lithair user remove NAME

Manages the users who sign in to the API and the admin page. Users are
records in the log like any other data: replicated and audited.

The command reaches the node of the data dir (--data, --config or the
LITHAIR_* variables, as for serve): through its admin socket when it runs,
or by opening the stopped data dir. --server URL manages a node over HTTP
with an admin token instead.

add and passwd read the password from the first line of stdin with
--password-stdin; without it a random password is made and printed once.
`

const tokenUsage = `Usage: lithair token create NAME [--role ROLE]... [--user USER] [--expires-in DURATION]
       lithair token list
       lithair token revoke ID

Manages API tokens: secrets that scripts send as "Authorization: Bearer
TOKEN" instead of signing in. A token acts as a user (default: admin) with
the roles it is given. Only its SHA-256 digest is stored: the secret is
printed once, by create.

The node is reached as for lithair user (see lithair user --help).
`

type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

func userCmd(args []string, std stdio) int {
	if len(args) == 0 || isHelp(args[0]) {
		if len(args) == 0 {
			fmt.Fprint(std.errOut, "lithair user: missing subcommand\n\n"+userUsage)
			return exitUsage
		}
		fmt.Fprint(std.out, userUsage)
		return exitOK
	}
	sub, rest := args[0], args[1:]
	c := newCommand("user "+sub, userUsage)
	var af adminFlags
	af.register(c)
	var roles stringList
	stdinPassword := false
	nargs := 1
	switch sub {
	case "add":
		c.fs.Var(&roles, "role", "a `ROLE` of the user (repeatable; e.g. admin, editor)")
		c.fs.BoolVar(&stdinPassword, "password-stdin", false, "read the password from the first line of stdin")
	case "passwd":
		c.fs.BoolVar(&stdinPassword, "password-stdin", false, "read the password from the first line of stdin")
	case "list":
		nargs = 0
	case "remove":
	default:
		fmt.Fprintf(std.errOut, "lithair user: unknown subcommand %q\n\n%s", sub, userUsage)
		return exitUsage
	}
	if code, done := c.parse(rest, std, nargs, nargs); done {
		return code
	}
	name := c.arg(0)
	password, generated := "", false
	if sub == "add" || sub == "passwd" {
		var err error
		if password, generated, err = newPassword(std.in, stdinPassword); err != nil {
			fmt.Fprintf(std.errOut, "lithair user %s: %v\n", sub, err)
			return exitUsage
		}
	}
	cl, err := af.connect(std)
	if err != nil {
		fmt.Fprintf(std.errOut, "lithair user %s: %v\n", sub, err)
		return exitFailure
	}
	defer cl.close()
	switch sub {
	case "add":
		if roles == nil {
			roles = stringList{}
		}
		body, _ := json.Marshal(map[string]any{"name": name, "password": password, "roles": roles})
		_, err = cl.do("POST", "/api/_users", string(body))
		if err == nil {
			fmt.Fprintf(std.out, "user %s added with roles [%s]\n", name, strings.Join(roles, ", "))
		}
	case "passwd":
		body, _ := json.Marshal(map[string]any{"password": password})
		_, err = cl.do("PATCH", "/api/_users/"+url.PathEscape(name), string(body))
		if err == nil {
			fmt.Fprintf(std.out, "password of %s changed; their sessions have ended\n", name)
		}
	case "remove":
		_, err = cl.do("DELETE", "/api/_users/"+url.PathEscape(name), "")
		if err == nil {
			fmt.Fprintf(std.out, "user %s removed\n", name)
		}
	case "list":
		err = printList(cl, "/api/_users", std.out, []string{"NAME", "ROLES", "DISABLED", "CREATED"}, func(it map[string]any) []string {
			return []string{str(it["name"]), strings.Join(strs(it["roles"]), ","), str(it["disabled"]), str(it["created_at"])}
		})
	}
	if err != nil {
		fmt.Fprintf(std.errOut, "lithair user %s: %v\n", sub, err)
		return exitFailure
	}
	if generated {
		fmt.Fprintf(std.out, "password of %s: %s\n(shown only once)\n", name, password)
	}
	return exitOK
}

func tokenCmd(args []string, std stdio) int {
	if len(args) == 0 || isHelp(args[0]) {
		if len(args) == 0 {
			fmt.Fprint(std.errOut, "lithair token: missing subcommand\n\n"+tokenUsage)
			return exitUsage
		}
		fmt.Fprint(std.out, tokenUsage)
		return exitOK
	}
	sub, rest := args[0], args[1:]
	c := newCommand("token "+sub, tokenUsage)
	var af adminFlags
	af.register(c)
	var roles stringList
	var user, expires string
	nargs := 1
	switch sub {
	case "create":
		c.fs.Var(&roles, "role", "a `ROLE` the token carries (repeatable)")
		c.fs.StringVar(&user, "user", "admin", "the `USER` the token acts as")
		c.fs.StringVar(&expires, "expires-in", "", "lifetime, a `DURATION` like 720h (default: never expires)")
	case "list":
		nargs = 0
	case "revoke":
	default:
		fmt.Fprintf(std.errOut, "lithair token: unknown subcommand %q\n\n%s", sub, tokenUsage)
		return exitUsage
	}
	if code, done := c.parse(rest, std, nargs, nargs); done {
		return code
	}
	cl, err := af.connect(std)
	if err != nil {
		fmt.Fprintf(std.errOut, "lithair token %s: %v\n", sub, err)
		return exitFailure
	}
	defer cl.close()
	switch sub {
	case "create":
		if roles == nil {
			roles = stringList{}
		}
		body, _ := json.Marshal(map[string]any{"name": c.arg(0), "user": user, "roles": roles, "expires_in": expires})
		var out []byte
		if out, err = cl.do("POST", "/api/_tokens", string(body)); err == nil {
			var tok map[string]any
			json.Unmarshal(out, &tok)
			fmt.Fprintf(std.out, "token %s (id %s) acting as %s with roles [%s]:\n%s\n(shown only once: store it now)\n",
				c.arg(0), str(tok["id"]), user, strings.Join(roles, ", "), str(tok["token"]))
		}
	case "revoke":
		if _, err = cl.do("DELETE", "/api/_tokens/"+url.PathEscape(c.arg(0)), ""); err == nil {
			fmt.Fprintf(std.out, "token %s revoked\n", c.arg(0))
		}
	case "list":
		err = printList(cl, "/api/_tokens", std.out, []string{"ID", "NAME", "USER", "ROLES", "PREFIX", "EXPIRES"}, func(it map[string]any) []string {
			return []string{str(it["id"]), str(it["name"]), str(it["user"]), strings.Join(strs(it["roles"]), ","), str(it["prefix"]), str(it["expires_at"])}
		})
	}
	if err != nil {
		fmt.Fprintf(std.errOut, "lithair token %s: %v\n", sub, err)
		return exitFailure
	}
	return exitOK
}

// newPassword reads the password from stdin's first line, or makes one.
func newPassword(in io.Reader, fromStdin bool) (password string, generated bool, err error) {
	if !fromStdin {
		b := make([]byte, 18)
		if _, err := rand.Read(b); err != nil {
			return "", false, err
		}
		return base64.RawURLEncoding.EncodeToString(b), true, nil
	}
	line, err := bufio.NewReader(in).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", false, err
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", false, errors.New("--password-stdin: stdin holds no password")
	}
	return line, false, nil
}

func printList(cl *adminClient, path string, w io.Writer, head []string, row func(map[string]any) []string) error {
	out, err := cl.do("GET", path, "")
	if err != nil {
		return err
	}
	var page struct{ Items []map[string]any }
	if err := json.Unmarshal(out, &page); err != nil {
		return err
	}
	sort.Slice(page.Items, func(i, j int) bool { return str(page.Items[i]["name"]) < str(page.Items[j]["name"]) })
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(head, "\t"))
	for _, it := range page.Items {
		fmt.Fprintln(tw, strings.Join(row(it), "\t"))
	}
	return tw.Flush()
}

// apiMessage turns an API error body into an error a person reads.
func apiMessage(status string, body []byte) error {
	var e struct {
		Error struct {
			Message string
			Fields  map[string]string
		}
	}
	if json.Unmarshal(body, &e) != nil || e.Error.Message == "" {
		return fmt.Errorf("%s: %s", status, strings.TrimSpace(string(body)))
	}
	msg := e.Error.Message
	keys := make([]string, 0, len(e.Error.Fields))
	for k := range e.Error.Fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		msg += fmt.Sprintf("; %s %s", k, e.Error.Fields[k])
	}
	return errors.New(msg)
}

func str(v any) string {
	if v == nil {
		return ""
	}
	return fmt.Sprint(v)
}

func strs(v any) []string {
	items, _ := v.([]any)
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = str(it)
	}
	return out
}
