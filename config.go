package lithair

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// Config is every setting of an appliance. The zero value is not useful:
// start from DefaultConfig, then apply a file, the environment and flags.
// configs/lithair.toml documents each option.
type Config struct {
	HTTP       HTTPConfig       `toml:"http"`
	EventStore EventStoreConfig `toml:"event_store"`
	Raft       RaftConfig       `toml:"raft"`
	Rules      RulesConfig      `toml:"rules"`
	Log        LogConfig        `toml:"log"`
}

// HTTPConfig is the [http] section.
type HTTPConfig struct {
	Listen         string   `toml:"listen"`
	RequestTimeout Duration `toml:"request_timeout"`
	MaxBody        int64    `toml:"max_body"`
}

// EventStoreConfig is the [event_store] section: where and how the log is kept.
type EventStoreConfig struct {
	Dir               string   `toml:"dir"`
	SegmentSize       int64    `toml:"segment_size"`
	Sync              string   `toml:"sync"`
	SyncInterval      Duration `toml:"sync_interval"`
	SnapshotThreshold uint64   `toml:"snapshot_threshold"`
	Retention         Duration `toml:"retention"`
}

// RaftConfig is the [raft] section.
type RaftConfig struct {
	NodeID            string   `toml:"node_id"`
	Bind              string   `toml:"bind"`
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
		return err
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
			Listen:         "127.0.0.1:8080",
			RequestTimeout: Duration{30 * time.Second},
			MaxBody:        1 << 20,
		},
		EventStore: EventStoreConfig{
			Dir:               "./data",
			SegmentSize:       64 << 20,
			Sync:              "always",
			SyncInterval:      Duration{10 * time.Millisecond},
			SnapshotThreshold: 1000,
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
		Log: LogConfig{Level: "info", Format: "json", SampleRate: 1},
	}
}

// LoadConfigFile applies the TOML file at path over c. Unknown keys are an
// error: a misspelt option must not be silently ignored.
func (c *Config) LoadConfigFile(path string) error {
	md, err := toml.DecodeFile(path, c)
	if err != nil {
		var perr toml.ParseError
		if errors.As(err, &perr) {
			return fmt.Errorf("%s:%d: %s", path, perr.Position.Line, perr.Message)
		}
		return fmt.Errorf("%s: %w", path, err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		keys := make([]string, len(und))
		for i, k := range und {
			keys[i] = k.String()
		}
		return fmt.Errorf("%s: unknown option %s", path, strings.Join(keys, ", "))
	}
	return c.Validate()
}

// Validate reports the first impossible value.
func (c *Config) Validate() error {
	switch {
	case c.HTTP.Listen == "":
		return errors.New("config: http.listen is empty")
	case c.HTTP.MaxBody <= 0:
		return errors.New("config: http.max_body must be > 0")
	case c.EventStore.Dir == "":
		return errors.New("config: event_store.dir is empty")
	case c.EventStore.SegmentSize < 1<<16:
		return errors.New("config: event_store.segment_size must be at least 65536")
	case c.EventStore.Sync != "always" && c.EventStore.Sync != "periodic":
		return fmt.Errorf("config: event_store.sync must be \"always\" or \"periodic\", not %q", c.EventStore.Sync)
	case c.EventStore.Sync == "periodic" && c.EventStore.SyncInterval.Duration <= 0:
		return errors.New("config: event_store.sync_interval must be > 0 with sync = \"periodic\"")
	case c.EventStore.SnapshotThreshold == 0:
		return errors.New("config: event_store.snapshot_threshold must be > 0")
	case c.Raft.NodeID == "":
		return errors.New("config: raft.node_id is empty")
	case c.Raft.ElectionTimeout.Duration < 10*time.Millisecond:
		return errors.New("config: raft.election_timeout must be at least 10ms")
	case c.Raft.MaxPayloadEntries < 1 || c.Raft.MaxPayloadEntries > 1024:
		return errors.New("config: raft.max_payload_entries must be between 1 and 1024")
	case c.Rules.Dir == "":
		return errors.New("config: rules.dir is empty")
	case c.Rules.CallTimeout.Duration <= 0:
		return errors.New("config: rules.call_timeout must be > 0")
	}
	return nil
}
