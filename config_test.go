package lithair

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestConfigFileDocumentsEveryOptionWithItsDefault(t *testing.T) {
	path := filepath.Join("configs", "lithair.toml")
	cfg, origins, _, err := ResolveConfig(path, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(cfg, DefaultConfig()) {
		t.Errorf("configs/lithair.toml differs from DefaultConfig:\n%+v\n%+v", cfg, DefaultConfig())
	}
	src, _ := os.ReadFile(path)
	for _, o := range Options() {
		if !strings.HasPrefix(origins[o.Key], path+":") {
			t.Errorf("%s is not set in configs/lithair.toml (origin %q)", o.Key, origins[o.Key])
		}
		if !strings.Contains(string(src), o.Env) {
			t.Errorf("configs/lithair.toml does not name %s's variable %s", o.Key, o.Env)
		}
	}
}

func TestConfigPrecedenceFlagsEnvFileDefaults(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "c.toml")
	os.WriteFile(path, []byte("[http]\nlisten = \"127.0.0.1:1\"\nmax_body = 10\n[raft]\nnode_id = \"file\"\n"), 0o644)
	env := []string{"LITHAIR_HTTP_MAX_BODY=20", "LITHAIR_RAFT_NODE_ID=env", "LITHAIR_UNRELATED=1", "PATH=/bin"}
	cfg, origins, ignored, err := ResolveConfig(path, env, map[string]string{"raft.node_id": "flag"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.HTTP.Listen != "127.0.0.1:1" || cfg.HTTP.MaxBody != 20 || cfg.Raft.NodeID != "flag" || cfg.Rules.Dir != DefaultConfig().Rules.Dir {
		t.Fatalf("precedence: %+v", cfg)
	}
	if origins["http.listen"] != path+":2" || origins["http.max_body"] != "env LITHAIR_HTTP_MAX_BODY" || origins["raft.node_id"] != "flag" || origins["rules.dir"] != "default" {
		t.Fatalf("origins: %v", origins)
	}
	if !reflect.DeepEqual(ignored, []string{"LITHAIR_UNRELATED"}) {
		t.Fatalf("ignored: %v", ignored)
	}
}

func TestConfigErrorsNameTheLine(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct{ body, want string }{
		{"[http]\n# comment\nlisten = \"127.0.0.1:1\"\n\"max_body\" = 0\n", ":4: http.max_body: must be > 0"},
		{"[raft]\nelection_timeout = \"1s\"\nheartbeat_interval = \"2s\"\n", ":3: raft.heartbeat_interval: must be shorter"},
		{"[rules]\nwatch = \"yes\"\n", ":2: rules.watch: wrong type"},
		{"[event_store]\nsegment_size = 1\n[log]\nlevel = \"loud\"\n", ":2: event_store.segment_size"},
		{"[event_store]\nsegment_size = 1\n[log]\nlevel = \"loud\"\n", ":4: log.level"},
		{"[http]\nlisten = \"no-port\"\n", ":2: http.listen"},
		{"[http.tls]\ncert = \"x\"\n", ":1: http.tls: unknown"},
	} {
		path := filepath.Join(dir, "c.toml")
		os.WriteFile(path, []byte(c.body), 0o644)
		_, _, _, err := ResolveConfig(path, nil, nil)
		if err == nil || !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), path+c.want) {
			t.Errorf("%q: got %v, want %q", c.body, err, c.want)
		}
	}
}
