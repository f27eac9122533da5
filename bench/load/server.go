package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Node is one `lithair serve` process started by the load generator, with
// a fresh data dir, the example rules and its stdout (the JSON log) in a
// file next to the data dir.
type Node struct {
	ID      string
	Base    string // http://127.0.0.1:PORT
	Dir     string
	Raft    string // the Raft address in a cluster, "" alone
	PprofAt string // the pprof listener of a -pprof build, "" otherwise
	LogPath string

	cmd    *exec.Cmd
	logf   *os.File
	exited chan struct{}
	err    error
}

// NodeOptions say how to start a node.
type NodeOptions struct {
	Bin, Rules, Dir string
	ID              string   // --node-id; "" leaves the default
	Raft, Join      string   // cluster addresses; "" alone
	Set             []string // --set KEY=VALUE, in order (later wins)
	Env             []string
	Pprof           bool
}

// buildBinary builds cmd/lithair of the repo at root into dir. With pprof,
// the build adds one file through -overlay (the source tree is not
// touched) that serves net/http/pprof on the address in
// $LITHAIR_LOAD_PPROF, on its own listener: Lithair has no pprof endpoint.
func buildBinary(root, dir string, pprof bool) (string, error) {
	bin := filepath.Join(dir, "lithair")
	args := []string{"build", "-o", bin}
	if pprof {
		src := filepath.Join(dir, "zz_load_pprof.go")
		if err := os.WriteFile(src, []byte(pprofSource), 0o644); err != nil {
			return "", err
		}
		overlay, _ := json.Marshal(map[string]any{"Replace": map[string]string{
			filepath.Join(root, "cmd", "lithair", "zz_load_pprof.go"): src,
		}})
		ov := filepath.Join(dir, "overlay.json")
		if err := os.WriteFile(ov, overlay, 0o644); err != nil {
			return "", err
		}
		args = append(args, "-overlay", ov)
	}
	cmd := exec.Command("go", append(args, "./cmd/lithair")...)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/lithair: %v\n%s", err, out)
	}
	return bin, nil
}

const pprofSource = `package main

import (
	"net/http"
	_ "net/http/pprof"
	"os"
)

func init() {
	if addr := os.Getenv("LITHAIR_LOAD_PPROF"); addr != "" {
		go http.ListenAndServe(addr, nil)
	}
}
`

// freeAddr returns a loopback HOST:PORT nobody listens on right now.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// startNode starts a node and returns once the process runs; WaitReady
// waits for /readyz.
func startNode(o NodeOptions) (*Node, error) {
	listen, err := freeAddr()
	if err != nil {
		return nil, err
	}
	args := []string{"serve", "--listen", listen, "--data", o.Dir, "--rules", o.Rules}
	if o.ID != "" {
		args = append(args, "--node-id", o.ID)
	}
	if o.Raft != "" {
		args = append(args, "--raft", o.Raft)
	}
	if o.Join != "" {
		args = append(args, "--join", o.Join)
	}
	for _, kv := range o.Set {
		args = append(args, "--set", kv)
	}
	n := &Node{ID: o.ID, Base: "http://" + listen, Dir: o.Dir, Raft: o.Raft, LogPath: o.Dir + ".log", exited: make(chan struct{})}
	env := append(os.Environ(), o.Env...)
	if o.Pprof {
		if n.PprofAt, err = freeAddr(); err != nil {
			return nil, err
		}
		env = append(env, "LITHAIR_LOAD_PPROF="+n.PprofAt)
	}
	// The server writes its log straight to a file: reading it through a
	// pipe would spend the load generator's CPU on it.
	if n.logf, err = os.Create(n.LogPath); err != nil {
		return nil, err
	}
	n.cmd = exec.Command(o.Bin, args...)
	n.cmd.Env = env
	n.cmd.Stdout, n.cmd.Stderr = n.logf, n.logf
	if err := n.cmd.Start(); err != nil {
		n.logf.Close()
		return nil, err
	}
	go func() { n.err = n.cmd.Wait(); close(n.exited) }()
	return n, nil
}

// PID returns the server's process id.
func (n *Node) PID() int { return n.cmd.Process.Pid }

// WaitReady waits until /readyz answers 200.
func (n *Node) WaitReady(d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		resp, err := http.Get(n.Base + "/readyz")
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-n.exited:
			return fmt.Errorf("lithair %s exited before it was ready (%v); its log:\n%s", n.Base, n.err, n.tail())
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("lithair %s not ready after %v; its log:\n%s", n.Base, d, n.tail())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// tail returns the end of the node's log.
func (n *Node) tail() string {
	b, _ := os.ReadFile(n.LogPath)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// Stop sends SIGTERM and waits, then SIGKILL after 20 s.
func (n *Node) Stop() {
	n.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-n.exited:
	case <-time.After(20 * time.Second):
		n.cmd.Process.Kill()
		<-n.exited
	}
	n.logf.Close()
}

// newSecret returns a random hex string of n bytes.
func newSecret(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// login signs in as admin and returns the session token.
func login(base, password string) (string, error) {
	body, _ := json.Marshal(map[string]string{"username": "admin", "password": password})
	var out struct {
		Token string `json:"token"`
	}
	if err := callJSON(http.DefaultClient, "POST", base+"/api/_auth/login", "", body, &out); err != nil {
		return "", fmt.Errorf("signing in: %w", err)
	}
	if out.Token == "" {
		return "", errors.New("signing in: no token in the answer")
	}
	return out.Token, nil
}

// callJSON sends one request and decodes a 2xx answer into out.
func callJSON(c *http.Client, method, url, token string, body []byte, out any) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %s: %s", method, url, resp.Status, strings.TrimSpace(string(b)))
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(b, out)
}

// cpuProfile fetches a CPU profile of d from the node's pprof listener
// into path. It runs beside a measurement and returns when the profile is
// written.
func (n *Node) cpuProfile(d time.Duration, path string) error {
	if n.PprofAt == "" {
		return nil
	}
	secs := max(int(d.Round(time.Second)/time.Second), 1)
	resp, err := http.Get(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", n.PprofAt, secs))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("pprof: %s: %s", resp.Status, b)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
