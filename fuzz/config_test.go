package fuzz

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	lithair "github.com/lithair/lithair"
)

// FuzzConfig resolves a configuration from a TOML file, LITHAIR_*
// variables (env, one NAME=VALUE a line) and --set flags (flags, one
// key=value a line), as every command of the binary does. Whatever the
// input, ResolveConfig answers one of two ways, never panics:
//
//   - no error, and then the configuration passes Validate, and printed
//     the way `lithair config check` prints it (comments, origins and all)
//     it is a file that resolves, with no environment and no flags, to an
//     equal configuration, each option now coming from that file;
//   - an error in which every joined part wraps ErrConfig, is a
//     *ConfigError with a reason, and names a key or a place (FILE:LINE
//     with a line of the file, a variable, a flag).
//
// A string holding bytes that are not UTF-8 (possible only from the
// environment or a flag) has no TOML spelling, nor has an ignored
// variable's name with such bytes or control characters in config
// check's comments: for such inputs only the first half is checked.
func FuzzConfig(f *testing.F) {
	example, err := os.ReadFile("../configs/lithair.toml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(string(example), "", "")
	f.Add("", "", "")
	f.Add("", "LITHAIR_HTTP_LISTEN=0.0.0.0:9000\nLITHAIR_EVENT_STORE_SYNC=periodic\nPATH=/bin", "raft.node_id=n2")
	f.Add("[raft]\nbind = \"127.0.0.1:7000\"\n", "LITHAIR_CLUSTER_SECRET=0123456789abcdef0123", "")
	f.Add("[firewall]\nallow = [\"10.0.0.0/8\", \"::1\"]\nrate = 5.5\n", "LITHAIR_FIREWALL_DENY=192.168.0.1, 2001:db8::/32", "")
	f.Add("[http]\nlisten = \"no-port\"\n", "", "")
	f.Add("[raft]\nelection_timeout = \"1s\"\nheartbeat_interval = \"2s\"\n", "", "")
	f.Add("http.max_body = 0\n", "", "event_store.segment_size=1")
	f.Add("[log\nlevel = 1\n", "", "")
	f.Add("", "LITHAIR_RAFT_NODE_ID=a\"b\\c", "log.level=debug+2\nhttp.advertise=h\tx")
	f.Add("", "", "no.such=1\nhttp.max_body=1_000_000\nrules.watch=T")
	f.Fuzz(func(t *testing.T, file, env, flags string) {
		dir := configDir(t)
		path := ""
		if file != "" {
			path = filepath.Join(dir, "in.toml")
			if err := os.WriteFile(path, []byte(file), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		var environ []string
		for _, line := range strings.Split(env, "\n") {
			if line != "" {
				environ = append(environ, line)
			}
		}
		flagMap := map[string]string{}
		for _, line := range strings.Split(flags, "\n") {
			// The binary's --set refuses an item without "=" or key.
			if k, v, ok := strings.Cut(line, "="); ok && k != "" {
				flagMap[k] = v
			}
		}
		desc := fmt.Sprintf("file %.300q env %.200q flags %.200q", file, env, flags)
		cfg, origins, ignored, err := lithair.ResolveConfig(path, environ, flagMap)
		if err != nil {
			checkConfigError(t, desc, err, path, file)
			return
		}
		if verr := cfg.Validate(); verr != nil {
			t.Fatalf("%s: resolved without an error, yet Validate says %v", desc, verr)
		}
		for _, name := range ignored {
			if !strings.HasPrefix(name, "LITHAIR_") {
				t.Fatalf("%s: ignored %q, which is not a LITHAIR_ variable", desc, name)
			}
		}
		if !tomlSpellable(cfg, ignored) {
			return
		}
		// What `lithair config check` prints for it.
		var out bytes.Buffer
		fmt.Fprintf(&out, "# effective configuration from %s\n", path)
		for _, name := range ignored {
			fmt.Fprintf(&out, "# warning: %s names no option and is ignored\n", name)
		}
		if err := cfg.WriteTOML(&out, origins); err != nil {
			t.Fatal(err)
		}
		printed := filepath.Join(dir, "printed.toml")
		if err := os.WriteFile(printed, out.Bytes(), 0o600); err != nil {
			t.Fatal(err)
		}
		again, againOrigins, _, err := lithair.ResolveConfig(printed, nil, nil)
		if err != nil {
			t.Fatalf("%s: the printed configuration does not resolve: %v\n%s", desc, err, out.Bytes())
		}
		if !reflect.DeepEqual(normalConfig(again), normalConfig(cfg)) {
			t.Fatalf("%s: the printed configuration resolves to another one:\n got %+v\nwant %+v\n%s", desc, again, cfg, out.Bytes())
		}
		for _, o := range lithair.Options() {
			if !strings.HasPrefix(againOrigins[o.Key], printed+":") {
				t.Fatalf("%s: %s does not come from the printed file but from %q", desc, o.Key, againOrigins[o.Key])
			}
		}
	})
}

var (
	configDirOnce sync.Once
	configDirPath string
	configDirErr  error
)

// configDir is one directory per process for the files of FuzzConfig:
// inputs run one at a time, and a directory per input would cost more
// than resolving.
func configDir(t *testing.T) string {
	configDirOnce.Do(func() { configDirPath, configDirErr = os.MkdirTemp("", "lithair-fuzz-config-") })
	if configDirErr != nil {
		t.Fatal(configDirErr)
	}
	return configDirPath
}

// placeLine is a ConfigError's place in the file: "PATH:LINE".
var placeLine = regexp.MustCompile(`:(\d+)$`)

// checkConfigError checks every part of a refused configuration.
func checkConfigError(t *testing.T, desc string, err error, path, file string) {
	t.Helper()
	parts := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		parts = j.Unwrap()
	}
	if len(parts) == 0 {
		t.Fatalf("%s: an error without parts: %v", desc, err)
	}
	lines := strings.Count(file, "\n") + 1
	for _, e := range parts {
		var ce *lithair.ConfigError
		if !errors.Is(e, lithair.ErrConfig) || !errors.As(e, &ce) {
			t.Fatalf("%s: %T %q is not a ConfigError wrapping ErrConfig", desc, e, e)
		}
		if ce.Reason == "" || (ce.Key == "" && ce.Where == "") {
			t.Fatalf("%s: %#v says neither where nor what", desc, ce)
		}
		if path == "" || !strings.HasPrefix(ce.Where, path) {
			continue
		}
		// A place in the file must be a line of it.
		m := placeLine.FindStringSubmatch(strings.TrimPrefix(ce.Where, path))
		if m == nil {
			if ce.Where != path {
				t.Fatalf("%s: place %q is not FILE or FILE:LINE", desc, ce.Where)
			}
			continue
		}
		if n, _ := strconv.Atoi(m[1]); n < 1 || n > lines {
			t.Fatalf("%s: %q names line %d of a %d-line file", desc, e, n, lines)
		}
	}
}

// tomlSpellable reports whether every string option is UTF-8, and every
// ignored variable's name (which config check prints in a comment) UTF-8
// without control characters: TOML has no way to write other bytes.
func tomlSpellable(cfg lithair.Config, ignored []string) bool {
	ok := true
	walkStrings(reflect.ValueOf(&cfg).Elem(), func(s string) {
		ok = ok && utf8.ValidString(s)
	})
	for _, name := range ignored {
		ok = ok && utf8.ValidString(name) && !strings.ContainsFunc(name, func(r rune) bool { return r < ' ' && r != '\t' || r == 0x7f })
	}
	return ok
}

func walkStrings(v reflect.Value, fn func(string)) {
	switch v.Kind() {
	case reflect.String:
		fn(v.String())
	case reflect.Struct:
		for i := range v.NumField() {
			walkStrings(v.Field(i), fn)
		}
	case reflect.Slice:
		for i := range v.Len() {
			walkStrings(v.Index(i), fn)
		}
	}
}

// normalConfig makes empty lists nil: "allow = []" and no allow at all
// are the same setting.
func normalConfig(cfg lithair.Config) lithair.Config {
	for _, p := range []*[]string{&cfg.Firewall.Allow, &cfg.Firewall.Deny, &cfg.Firewall.TrustedProxies} {
		if len(*p) == 0 {
			*p = nil
		}
	}
	return cfg
}
