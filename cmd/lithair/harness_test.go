package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The tests in this package run the real binary as a child process, the
// way an operator runs it, and talk to it over loopback HTTP.

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// lithairBinary builds cmd/lithair once per test run.
func lithairBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "lithair-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "lithair")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// node is one running lithair process.
type node struct {
	t       *testing.T
	cmd     *exec.Cmd
	baseURL string
	dir     string
	output  *bytes.Buffer
	mu      *sync.Mutex
	exited  chan struct{}
	// token is the admin session the harness signs in with.
	token   string
	tokenMu sync.Mutex
}

var servingLine = regexp.MustCompile(`serving (http://[^/ ]+)/`)

// startNode runs `lithair serve` on a free loopback port with dataDir and
// the example rules, and waits until it answers /readyz.
func startNode(t *testing.T, dataDir string, extra ...string) *node {
	t.Helper()
	n := startWithEnv(t, dataDir, nil, extra...)
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(n.baseURL + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return n
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("lithair not ready after 30s:\n%s", n.logs())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// startWithEnv runs `lithair serve` with extra environment and returns
// as soon as the process prints its URL, without waiting for /readyz.
func startWithEnv(t *testing.T, dataDir string, env []string, extra ...string) *node {
	t.Helper()
	return startUnder(t, nil, dataDir, env, extra...)
}

// startUnder is startWithEnv with the binary run by wrapper (strace with
// fault injection, say): wrapper's words, then the binary and its
// arguments.
func startUnder(t *testing.T, wrapper []string, dataDir string, env []string, extra ...string) *node {
	t.Helper()
	args := append([]string{"serve", "--listen", "127.0.0.1:0", "--data", dataDir, "--rules", "../../configs/rules"}, extra...)
	argv := append(append(append([]string(nil), wrapper...), lithairBinary(t)), args...)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(append(os.Environ(), "LITHAIR_AUTH_INITIAL_ADMIN_PASSWORD="+adminPassword), env...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	n := &node{t: t, cmd: cmd, dir: dataDir, output: &bytes.Buffer{}, mu: &sync.Mutex{}, exited: make(chan struct{})}
	cmd.Stderr = &lockedWriter{n.mu, n.output}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	urlCh := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			n.mu.Lock()
			n.output.WriteString(line + "\n")
			n.mu.Unlock()
			if m := servingLine.FindStringSubmatch(line); m != nil {
				select {
				case urlCh <- m[1]:
				default:
				}
			}
		}
	}()
	go func() { cmd.Wait(); close(n.exited) }()
	t.Cleanup(n.kill)
	select {
	case n.baseURL = <-urlCh:
	case <-n.exited:
		t.Fatalf("lithair exited before serving:\n%s", n.logs())
	case <-time.After(30 * time.Second):
		t.Fatalf("lithair did not print its URL in 30s:\n%s", n.logs())
	}
	return n
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func (n *node) dataDir() string { return n.dir }

func (n *node) logs() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.output.String()
}

// kill sends SIGKILL: no chance to flush or close anything.
func (n *node) kill() {
	select {
	case <-n.exited:
		return
	default:
	}
	n.cmd.Process.Signal(syscall.SIGKILL)
	<-n.exited
}

// stop sends SIGTERM and waits for a clean exit.
func (n *node) stop() {
	n.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-n.exited:
	case <-time.After(20 * time.Second):
		n.t.Errorf("lithair did not stop within 20s of SIGTERM:\n%s", n.logs())
		n.kill()
	}
}

// response is what a test looks at in an answer.
type response struct {
	Status int
	Header http.Header
	Body   []byte
}

func (r response) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		t.Fatalf("answer is not a JSON object: %v: %s", err, r.Body)
	}
	return m
}

var client = &http.Client{Timeout: 30 * time.Second}

// adminPassword is the first admin's password on every node the tests
// start (auth.initial_admin_password).
const adminPassword = "test-admin-password"

// anonymous, as a header pair for do and must, sends a request without
// the admin credentials the harness adds by default.
var anonymous = []string{"Authorization", ""}

// adminToken signs in as admin once per node and returns the session.
func (n *node) adminToken() string {
	n.tokenMu.Lock()
	defer n.tokenMu.Unlock()
	if n.token != "" {
		return n.token
	}
	r, err := n.do("POST", "/api/_auth/login", `{"username":"admin","password":"`+adminPassword+`"}`, anonymous...)
	if err != nil || r.Status != http.StatusOK {
		return ""
	}
	var out struct{ Token string }
	json.Unmarshal(r.Body, &out)
	n.token = out.Token
	return n.token
}

// do sends a request as the admin, unless headers say otherwise (an
// "Authorization" header of their own, or anonymous).
func (n *node) do(method, path, body string, headers ...string) (response, error) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, n.baseURL+path, rd)
	if err != nil {
		return response{}, err
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	asAdmin := true
	for i := 0; i+1 < len(headers); i += 2 {
		if strings.EqualFold(headers[i], "Authorization") {
			asAdmin = false
		}
		if headers[i+1] == "" {
			req.Header.Del(headers[i])
			continue
		}
		req.Header.Set(headers[i], headers[i+1])
	}
	if asAdmin && !strings.HasPrefix(path, "/healthz") && !strings.HasPrefix(path, "/readyz") {
		if tok := n.adminToken(); tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
	}
	resp, err := client.Do(req)
	if err != nil {
		return response{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return response{resp.StatusCode, resp.Header, b}, err
}

func (n *node) must(method, path, body string, headers ...string) response {
	n.t.Helper()
	r, err := n.do(method, path, body, headers...)
	if err != nil {
		n.t.Fatalf("%s %s: %v", method, path, err)
	}
	return r
}

// appliedIndex reads the node's applied log index from /readyz.
func (n *node) appliedIndex() float64 {
	n.t.Helper()
	return n.must("GET", "/readyz", "").json(n.t)["applied_index"].(float64)
}
