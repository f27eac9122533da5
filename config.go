package lithair

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"os"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/BurntSushi/toml"

	"github.com/lithair/lithair/firewall"
)

// Config is every setting of an appliance. The zero value is not useful:
// start from DefaultConfig, or let ResolveConfig apply a file, the
// environment and flags over it. configs/lithair.toml documents each option.
type Config struct {
	HTTP       HTTPConfig       `toml:"http"`
	EventStore EventStoreConfig `toml:"event_store"`
	Raft       RaftConfig       `toml:"raft"`
	Rules      RulesConfig      `toml:"rules"`
	Auth       AuthConfig       `toml:"auth"`
	Firewall   firewall.Config  `toml:"firewall"`
	Log        LogConfig        `toml:"log"`
}

// HTTPConfig is the [http] section.
type HTTPConfig struct {
	Listen         string   `toml:"listen"`
	RequestTimeout Duration `toml:"request_timeout"`
	MaxBody        int64    `toml:"max_body"`
	// ShutdownTimeout bounds how long SIGTERM waits for requests in flight.
	ShutdownTimeout Duration `toml:"shutdown_timeout"`
	// Advertise is the HOST:PORT other nodes of a cluster reach this node's
	// HTTP at; empty derives it from listen (and raft.bind's host when
	// listen's host is 0.0.0.0).
	Advertise string `toml:"advertise"`
	// The http.Server's limits, which keep slow or hostile clients from
	// holding connections (a slowloris client is cut at ReadHeaderTimeout).
	ReadHeaderTimeout Duration `toml:"read_header_timeout"`
	ReadTimeout       Duration `toml:"read_timeout"`
	WriteTimeout      Duration `toml:"write_timeout"`
	IdleTimeout       Duration `toml:"idle_timeout"`
	MaxHeaderBytes    int      `toml:"max_header_bytes"`
}

// EventStoreConfig is the [event_store] section: where and how the log is kept.
type EventStoreConfig struct {
	Dir               string   `toml:"dir"`
	SegmentSize       int64    `toml:"segment_size"`
	Sync              string   `toml:"sync"`
	SyncInterval      Duration `toml:"sync_interval"`
	SnapshotThreshold uint64   `toml:"snapshot_threshold"`
	SnapshotInterval  Duration `toml:"snapshot_interval"`
	Retention         Duration `toml:"retention"`
}

// RaftConfig is the [raft] section.
type RaftConfig struct {
	NodeID            string   `toml:"node_id"`
	Bind              string   `toml:"bind"`
	Advertise         string   `toml:"advertise"`
	Join              string   `toml:"join"`
	ElectionTimeout   Duration `toml:"election_timeout"`
	HeartbeatInterval Duration `toml:"heartbeat_interval"`
	MaxPayloadEntries int      `toml:"max_payload_entries"`
	Secret            string   `toml:"secret"`
}

// RulesConfig is the [rules] section.
type RulesConfig struct {
	Dir         string   `toml:"dir"`
	Watch       bool     `toml:"watch"`
	CallTimeout Duration `toml:"call_timeout"`
}

// AuthConfig is the [auth] section: sign-in sessions and the first admin.
type AuthConfig struct {
	// SessionTTL is how long a session from POST /api/_auth/login lasts.
	SessionTTL Duration `toml:"session_ttl"`
	// InitialAdminPassword is the password of the admin user made on the
	// very first start; empty makes a random one, printed once.
	InitialAdminPassword string `toml:"initial_admin_password"`
}

// LogConfig is the [log] section: the process's own logs, not the event log.
type LogConfig struct {
	Level      string  `toml:"level"`
	Format     string  `toml:"format"`
	SampleRate float64 `toml:"sample_rate"`
}

// Duration is a time.Duration written as "300ms" or "10s" in TOML.
type Duration struct{ time.Duration }

// UnmarshalText parses a Go duration string.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("not a duration (write it like \"300ms\", \"10s\" or \"1h\"): %q", b)
	}
	d.Duration = v
	return nil
}

// MarshalText writes the duration the way UnmarshalText reads it.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// DefaultConfig is what `lithair serve` runs with when nothing is said:
// one node on 127.0.0.1:8080, data in ./data, the example rules.
func DefaultConfig() Config {
	return Config{
		HTTP: HTTPConfig{
			Listen:            "127.0.0.1:8080",
			RequestTimeout:    Duration{30 * time.Second},
			MaxBody:           1 << 20,
			ShutdownTimeout:   Duration{20 * time.Second},
			ReadHeaderTimeout: Duration{10 * time.Second},
			ReadTimeout:       Duration{60 * time.Second},
			WriteTimeout:      Duration{60 * time.Second},
			IdleTimeout:       Duration{120 * time.Second},
			MaxHeaderBytes:    64 << 10,
		},
		EventStore: EventStoreConfig{
			Dir:               "./data",
			SegmentSize:       64 << 20,
			Sync:              "always",
			SyncInterval:      Duration{10 * time.Millisecond},
			SnapshotThreshold: 1000,
			SnapshotInterval:  Duration{2 * time.Second},
		},
		Raft: RaftConfig{
			NodeID:            "node1",
			ElectionTimeout:   Duration{1000 * time.Millisecond},
			HeartbeatInterval: Duration{100 * time.Millisecond},
			MaxPayloadEntries: 128,
		},
		Rules: RulesConfig{
			Dir:         "./configs/rules",
			Watch:       true,
			CallTimeout: Duration{50 * time.Millisecond},
		},
		Auth:     AuthConfig{SessionTTL: Duration{24 * time.Hour}},
		Firewall: firewall.DefaultConfig(),
		Log:      LogConfig{Level: "info", Format: "json", SampleRate: 1},
	}
}

// ErrConfig is wrapped by every configuration problem, so that a caller
// can tell a bad setting (fix the file and start again) from a failure.
var ErrConfig = errors.New("configuration")

// ConfigError is one bad setting. Where says where the value came from:
// "FILE:LINE", a LITHAIR_* variable or a --flag; empty for a default.
type ConfigError struct {
	Where  string
	Key    string // "http.listen"; empty when the problem is not one option
	Reason string
}

func (e *ConfigError) Error() string {
	var b strings.Builder
	if e.Where != "" {
		b.WriteString(e.Where + ": ")
	} else {
		b.WriteString("config: ")
	}
	if e.Key != "" {
		b.WriteString(e.Key + ": ")
	}
	b.WriteString(e.Reason)
	return b.String()
}

// Is makes errors.Is(err, ErrConfig) hold for every ConfigError.
func (e *ConfigError) Is(target error) bool { return target == ErrConfig }

// Origins records where each option's effective value came from, by key
// ("http.listen"): "default", "FILE:LINE" (FILE alone when the line is
// not known), "env LITHAIR_HTTP_LISTEN" or "flag --listen".
type Origins map[string]string

// Option is one setting as the file, the environment and config check
// see it.
type Option struct {
	Key string // "event_store.dir"
	Env string // "LITHAIR_EVENT_STORE_DIR"
	idx [2]int // field path inside Config
}

// Options lists every setting in file order.
func Options() []Option {
	var out []Option
	ct := reflect.TypeFor[Config]()
	for i := range ct.NumField() {
		sec := ct.Field(i)
		for j := range sec.Type.NumField() {
			f := sec.Type.Field(j)
			key := sec.Tag.Get("toml") + "." + f.Tag.Get("toml")
			out = append(out, Option{Key: key, Env: EnvName(key), idx: [2]int{i, j}})
		}
	}
	return out
}

// EnvName is the environment variable that sets an option:
// "event_store.dir" is LITHAIR_EVENT_STORE_DIR.
func EnvName(key string) string {
	return "LITHAIR_" + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

func (c *Config) field(o Option) reflect.Value {
	return reflect.ValueOf(c).Elem().Field(o.idx[0]).Field(o.idx[1])
}

func lookupOption(key string) (Option, bool) {
	for _, o := range Options() {
		if o.Key == key {
			return o, true
		}
	}
	return Option{}, false
}

// Set parses s into the option key, the way an environment variable or
// a flag gives it.
func (c *Config) Set(key, s string) error {
	o, ok := lookupOption(key)
	if !ok {
		return fmt.Errorf("unknown option%s", suggest(key))
	}
	v := c.field(o)
	switch p := v.Addr().Interface().(type) {
	case *string:
		*p = s
	case *bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return fmt.Errorf("not a boolean (true or false): %q", s)
		}
		*p = b
	case *int, *int64:
		n, err := strconv.ParseInt(strings.ReplaceAll(s, "_", ""), 10, 64)
		if err != nil {
			return fmt.Errorf("not an integer: %q", s)
		}
		v.SetInt(n)
	case *uint64:
		n, err := strconv.ParseUint(strings.ReplaceAll(s, "_", ""), 10, 64)
		if err != nil {
			return fmt.Errorf("not a non-negative integer: %q", s)
		}
		*p = n
	case *float64:
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return fmt.Errorf("not a number: %q", s)
		}
		*p = f
	case *Duration:
		return p.UnmarshalText([]byte(s))
	case *[]string:
		// A list is written comma-separated: "10.0.0.0/8,192.168.0.0/16".
		*p = []string{}
		for _, item := range strings.Split(s, ",") {
			if item = strings.TrimSpace(item); item != "" {
				*p = append(*p, item)
			}
		}
	default:
		return fmt.Errorf("lithair: option %s has unsupported type %s", key, v.Type())
	}
	return nil
}

// Value formats an option's value as TOML.
func (c *Config) Value(key string) string {
	o, ok := lookupOption(key)
	if !ok {
		return ""
	}
	switch v := c.field(o).Interface().(type) {
	case string:
		return tomlString(v)
	case Duration:
		return strconv.Quote(v.String())
	case []string:
		q := make([]string, len(v))
		for i, item := range v {
			q[i] = tomlString(item)
		}
		return "[" + strings.Join(q, ", ") + "]"
	case float64:
		s := strconv.FormatFloat(v, 'g', -1, 64)
		if !strings.ContainsAny(s, ".eEnN") {
			s += ".0"
		}
		return s
	default:
		return fmt.Sprint(v)
	}
}

// tomlString writes s as a TOML basic string. strconv.Quote is not TOML:
// its \a, \v and \x escapes are not in TOML 1.0, and a value set from
// the environment or a flag may hold such characters. (Bytes that are
// not UTF-8 have no TOML spelling at all; they come out as U+FFFD.)
func tomlString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r <= 0xffff && (r < 0x20 || r == 0x7f || !unicode.IsPrint(r)):
			fmt.Fprintf(&b, `\u%04x`, r)
		case !unicode.IsPrint(r):
			fmt.Fprintf(&b, `\U%08x`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// ResolveConfig builds the effective configuration: the defaults, then
// the TOML file at path (if not empty), then LITHAIR_* variables from
// environ, then flags (option key to value). Every problem found is
// returned, joined, each wrapping ErrConfig and naming its place.
// Unknown LITHAIR_* variables are not an error (tests and tools use the
// prefix too); they come back in ignored.
func ResolveConfig(path string, environ []string, flags map[string]string) (cfg Config, origins Origins, ignored []string, err error) {
	cfg = DefaultConfig()
	origins = Origins{}
	for _, o := range Options() {
		origins[o.Key] = "default"
	}
	var lines *keyLines
	if path != "" {
		if lines, err = cfg.loadFile(path, origins); err != nil {
			return cfg, origins, nil, err
		}
	}
	var errs []error
	env := map[string]string{}
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok && strings.HasPrefix(k, "LITHAIR_") {
			env[k] = v
		}
	}
	// LITHAIR_CLUSTER_SECRET is the name the cluster secret is known by;
	// LITHAIR_RAFT_SECRET, the option's own variable, wins when both are set.
	if v, ok := env["LITHAIR_CLUSTER_SECRET"]; ok {
		if _, own := env["LITHAIR_RAFT_SECRET"]; !own {
			cfg.Raft.Secret, origins["raft.secret"] = v, "env LITHAIR_CLUSTER_SECRET"
		}
	}
	known := map[string]bool{"LITHAIR_CONFIG": true, "LITHAIR_CLUSTER_SECRET": true}
	for _, o := range Options() {
		known[o.Env] = true
		if v, ok := env[o.Env]; ok {
			if serr := cfg.Set(o.Key, v); serr != nil {
				errs = append(errs, &ConfigError{Where: o.Env, Key: o.Key, Reason: serr.Error()})
				continue
			}
			origins[o.Key] = "env " + o.Env
		}
	}
	for k := range env {
		if !known[k] {
			ignored = append(ignored, k)
		}
	}
	sort.Strings(ignored)
	keys := make([]string, 0, len(flags))
	for k := range flags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		where := "flag --set " + k
		if serr := cfg.Set(k, flags[k]); serr != nil {
			errs = append(errs, &ConfigError{Where: where, Key: k, Reason: serr.Error()})
			continue
		}
		origins[k] = "flag"
	}
	if len(errs) > 0 {
		return cfg, origins, ignored, errors.Join(errs...)
	}
	if verr := cfg.Validate(); verr != nil {
		return cfg, origins, ignored, placeErrors(verr, origins, path, lines)
	}
	return cfg, origins, ignored, nil
}

// placeErrors adds to each validation error the place its value came
// from: the file and line, the variable or the flag.
func placeErrors(err error, origins Origins, path string, lines *keyLines) error {
	var out []error
	for _, e := range unjoin(err) {
		var ce *ConfigError
		if errors.As(e, &ce) && ce.Where == "" && ce.Key != "" {
			cp := *ce
			switch o := origins[ce.Key]; {
			case strings.HasPrefix(o, "env "):
				cp.Where = strings.TrimPrefix(o, "env ")
			case o == "flag":
				cp.Where = "flag"
			case o != "default" && lines != nil:
				cp.Where = lines.at(path, ce.Key)
			}
			e = &cp
		}
		out = append(out, e)
	}
	return errors.Join(out...)
}

func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// tomlLineErr is how BurntSushi/toml words a type mismatch: it carries
// the line and key in its message only.
var tomlLineErr = regexp.MustCompile(`^toml: line (\d+) \(last key "([^"]*)"\): (.*)$`)

// loadFile decodes the file over c and records the origin of each key.
func (c *Config) loadFile(path string, origins Origins) (*keyLines, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, &ConfigError{Where: path, Reason: "cannot read the configuration file: " + unwrapPathErr(err)}
	}
	lines := scanKeyLines(string(src))
	md, err := toml.Decode(string(src), c)
	if err != nil {
		var perr toml.ParseError
		if errors.As(err, &perr) {
			return lines, &ConfigError{Where: fileLine(path, perr.Position.Line), Key: perr.LastKey, Reason: perr.Message}
		}
		if m := tomlLineErr.FindStringSubmatch(err.Error()); m != nil {
			reason := strings.Replace(m[3], "incompatible types: TOML value has type", "wrong type: the value is", 1)
			reason = strings.Replace(reason, "; destination has type", ", the option wants", 1)
			n, _ := strconv.Atoi(m[1])
			return lines, &ConfigError{Where: fileLine(path, n), Key: m[2], Reason: reason}
		}
		return lines, &ConfigError{Where: path, Reason: err.Error()}
	}
	var errs []error
	for _, k := range md.Undecoded() {
		key := k.String()
		// An unknown table reports the table and each of its keys: one
		// message for the table is enough.
		if len(k) > 1 && isUnknownTable(k[0]) {
			continue
		}
		what := "unknown option"
		if md.Type(k...) == "Hash" {
			what = "unknown section"
		}
		errs = append(errs, &ConfigError{Where: lines.at(path, key), Key: key, Reason: what + suggest(key)})
	}
	if len(errs) > 0 {
		return lines, errors.Join(errs...)
	}
	for _, k := range md.Keys() {
		if len(k) == 2 {
			origins[k.String()] = lines.at(path, k.String())
		}
	}
	return lines, nil
}

func isUnknownTable(name string) bool {
	for _, o := range Options() {
		if strings.HasPrefix(o.Key, name+".") {
			return false
		}
	}
	return true
}

func unwrapPathErr(err error) string {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

// suggest names the closest known option or section to a misspelt key.
func suggest(key string) string {
	best, bestD := "", max(2, len(key)/3+1)
	cands := map[string]bool{}
	for _, o := range Options() {
		cands[o.Key] = true
		sec, _, _ := strings.Cut(o.Key, ".")
		cands[sec] = true
	}
	for c := range cands {
		if d := editDistance(key, c); d < bestD || (d == bestD && c < best) {
			best, bestD = c, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %s?)", best)
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}

// keyLines maps "section.key" and "section" to the line that sets them.
type keyLines struct{ m map[string]int }

func (k *keyLines) line(key string) int {
	if k == nil {
		return 0
	}
	if n, ok := k.m[key]; ok {
		return n
	}
	sec, _, _ := strings.Cut(key, ".")
	return k.m[sec]
}

// at is where key is set: "FILE:LINE", or FILE alone when the scan did
// not find the line (a table name written with escapes, say).
func (k *keyLines) at(path, key string) string { return fileLine(path, k.line(key)) }

// fileLine is "FILE:LINE", or FILE alone when the line is not known (0):
// a line 0 would send the reader to a line that does not exist. The TOML
// decoder too says line 0 for some errors at the end of the input.
func fileLine(path string, line int) string {
	if line > 0 {
		return fmt.Sprintf("%s:%d", path, line)
	}
	return path
}

var (
	tableLine = regexp.MustCompile(`^\s*\[\s*([A-Za-z0-9_\-."' ]+?)\s*\]`)
	keyLine   = regexp.MustCompile(`^\s*([A-Za-z0-9_\-."']+(?:\s*\.\s*[A-Za-z0-9_\-"']+)*)\s*=`)
)

// scanKeyLines finds the line of each table header and key in a TOML
// file. It understands what configs/lithair.toml uses: [section] headers,
// key = value lines, and dotted keys; the decoder has already checked the
// syntax, so a line it misreads only costs a line number.
func scanKeyLines(src string) *keyLines {
	k := &keyLines{m: map[string]int{}}
	section := ""
	inMulti := false
	for i, ln := range strings.Split(src, "\n") {
		if c := strings.Count(ln, `"""`) + strings.Count(ln, `'''`); c%2 == 1 {
			inMulti = !inMulti
			if !inMulti {
				continue
			}
		}
		if inMulti {
			continue
		}
		if m := tableLine.FindStringSubmatch(ln); m != nil && !strings.HasPrefix(strings.TrimSpace(ln), "[[") {
			section = cleanKey(m[1])
			if _, seen := k.m[section]; !seen {
				k.m[section] = i + 1
			}
			continue
		}
		if m := keyLine.FindStringSubmatch(ln); m != nil {
			key := cleanKey(m[1])
			if section != "" {
				key = section + "." + key
			}
			if _, seen := k.m[key]; !seen {
				k.m[key] = i + 1
			}
		}
	}
	return k
}

func cleanKey(s string) string {
	parts := strings.Split(s, ".")
	for i, p := range parts {
		parts[i] = strings.Trim(strings.TrimSpace(p), `"'`)
	}
	return strings.Join(parts, ".")
}

// LoadConfigFile applies the TOML file at path over c and validates the
// result. Unknown keys are an error: a misspelt option must not be
// silently ignored. Errors name the file and line.
func (c *Config) LoadConfigFile(path string) error {
	origins := Origins{}
	lines, err := c.loadFile(path, origins)
	if err != nil {
		return err
	}
	if verr := c.Validate(); verr != nil {
		return placeErrors(verr, origins, path, lines)
	}
	return nil
}

// Validate reports every impossible value, joined, each a *ConfigError.
func (c *Config) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, &ConfigError{Key: key, Reason: fmt.Sprintf(format, args...)})
	}
	if c.HTTP.Listen == "" {
		bad("http.listen", "is empty")
	} else if _, port, err := net.SplitHostPort(c.HTTP.Listen); err != nil {
		bad("http.listen", "%q is not HOST:PORT (for example 127.0.0.1:8080 or :8080)", c.HTTP.Listen)
	} else if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
		bad("http.listen", "port %q is not a number from 0 to 65535", port)
	}
	if c.HTTP.RequestTimeout.Duration <= 0 {
		bad("http.request_timeout", "must be > 0")
	}
	if c.HTTP.MaxBody <= 0 {
		bad("http.max_body", "must be > 0")
	}
	if c.HTTP.ShutdownTimeout.Duration <= 0 {
		bad("http.shutdown_timeout", "must be > 0")
	}
	for key, d := range map[string]Duration{"http.read_header_timeout": c.HTTP.ReadHeaderTimeout, "http.read_timeout": c.HTTP.ReadTimeout,
		"http.write_timeout": c.HTTP.WriteTimeout, "http.idle_timeout": c.HTTP.IdleTimeout} {
		if d.Duration <= 0 {
			bad(key, "must be > 0")
		}
	}
	if c.HTTP.MaxHeaderBytes < 4096 {
		bad("http.max_header_bytes", "must be at least 4096")
	}
	if err := c.Firewall.Validate(); err != nil {
		for _, e := range unjoin(err) {
			var fe *firewall.ConfigError
			if errors.As(e, &fe) {
				bad("firewall."+fe.Key, "%s", fe.Reason)
			} else {
				bad("firewall", "%s", e.Error())
			}
		}
	}
	if c.EventStore.Dir == "" {
		bad("event_store.dir", "is empty")
	}
	if c.EventStore.SegmentSize < 1<<16 || c.EventStore.SegmentSize > 1<<30 {
		bad("event_store.segment_size", "must be between 65536 and 1073741824 bytes, not %d", c.EventStore.SegmentSize)
	}
	if c.EventStore.Sync != "always" && c.EventStore.Sync != "periodic" {
		bad("event_store.sync", "must be \"always\" or \"periodic\", not %q", c.EventStore.Sync)
	}
	if c.EventStore.Sync == "periodic" && c.EventStore.SyncInterval.Duration <= 0 {
		bad("event_store.sync_interval", "must be > 0 with sync = \"periodic\"")
	}
	if c.EventStore.SnapshotInterval.Duration < 10*time.Millisecond {
		bad("event_store.snapshot_interval", "must be at least 10ms")
	}
	// TOML integers are int64: a larger threshold could not be written in
	// the file that config check prints.
	if c.EventStore.SnapshotThreshold == 0 || c.EventStore.SnapshotThreshold > math.MaxInt64 {
		bad("event_store.snapshot_threshold", "must be between 1 and %d", int64(math.MaxInt64))
	}
	if c.EventStore.Retention.Duration < 0 {
		bad("event_store.retention", "must be >= 0 (0s keeps history forever)")
	}
	if c.Raft.NodeID == "" {
		bad("raft.node_id", "is empty")
	}
	if c.Raft.Bind != "" {
		if _, _, err := net.SplitHostPort(c.Raft.Bind); err != nil {
			bad("raft.bind", "%q is not HOST:PORT (for example 10.0.0.1:7000)", c.Raft.Bind)
		}
		if len(c.Raft.Secret) < 16 {
			bad("raft.secret", "a cluster (raft.bind set) needs a secret of at least 16 bytes: set LITHAIR_CLUSTER_SECRET")
		}
	}
	if c.Raft.Join != "" && c.Raft.Bind == "" {
		bad("raft.join", "needs raft.bind: the address this node's Raft listens on")
	}
	if c.Raft.ElectionTimeout.Duration < 10*time.Millisecond {
		bad("raft.election_timeout", "must be at least 10ms")
	}
	if c.Raft.HeartbeatInterval.Duration <= 0 {
		bad("raft.heartbeat_interval", "must be > 0")
	} else if c.Raft.HeartbeatInterval.Duration >= c.Raft.ElectionTimeout.Duration && c.Raft.ElectionTimeout.Duration >= 10*time.Millisecond {
		bad("raft.heartbeat_interval", "must be shorter than raft.election_timeout (%s)", c.Raft.ElectionTimeout.Duration)
	}
	if c.Raft.MaxPayloadEntries < 1 || c.Raft.MaxPayloadEntries > 1024 {
		bad("raft.max_payload_entries", "must be between 1 and 1024")
	}
	if c.Rules.Dir == "" {
		bad("rules.dir", "is empty")
	}
	if c.Rules.CallTimeout.Duration <= 0 {
		bad("rules.call_timeout", "must be > 0")
	}
	if c.Auth.SessionTTL.Duration < time.Second {
		bad("auth.session_ttl", "must be at least 1s")
	}
	if p := c.Auth.InitialAdminPassword; p != "" && (len(p) < 8 || len(p) > 1024) {
		bad("auth.initial_admin_password", "must be 8 to 1024 bytes long (or empty for a random one)")
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(c.Log.Level)); err != nil {
		bad("log.level", "must be debug, info, warn or error, not %q", c.Log.Level)
	}
	if c.Log.Format != "json" && c.Log.Format != "text" {
		bad("log.format", "must be \"json\" or \"text\", not %q", c.Log.Format)
	}
	if !(c.Log.SampleRate >= 0 && c.Log.SampleRate <= 1) { // NaN too
		bad("log.sample_rate", "must be between 0 and 1")
	}
	return errors.Join(errs...)
}

// WriteTOML prints the configuration as a TOML file, each value followed
// by where it came from when origins is not nil.
func (c *Config) WriteTOML(w io.Writer, origins Origins) error {
	var b strings.Builder
	section := ""
	for _, o := range Options() {
		sec, key, _ := strings.Cut(o.Key, ".")
		if sec != section {
			if section != "" {
				b.WriteString("\n")
			}
			fmt.Fprintf(&b, "[%s]\n", sec)
			section = sec
		}
		line := fmt.Sprintf("%s = %s", key, c.Value(o.Key))
		if origins != nil {
			line = fmt.Sprintf("%-40s # %s", line, origins[o.Key])
		}
		b.WriteString(line + "\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}
