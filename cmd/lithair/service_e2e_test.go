package main

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// notifyMsg is one datagram the node sent to the stand-in for systemd.
type notifyMsg struct {
	at   time.Time
	text string
	// readyz is /readyz's status fetched the moment READY=1 arrived.
	readyz int
}

// TestSystemdNotifyProtocol plays systemd's part: a unixgram socket in
// $NOTIFY_SOCKET and a watchdog period in $WATCHDOG_USEC.
func TestSystemdNotifyProtocol(t *testing.T) {
	data := t.TempDir()
	// Some log to replay at the start under test.
	n := startNode(t, data)
	for i := range 30 {
		n.must("POST", "/api/products", fmt.Sprintf(`{"name":"n%d","price":1}`, i))
	}
	n.stop()

	sockDir, err := os.MkdirTemp("", "lnotify") // short: socket paths are limited to 108 bytes
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(sockDir)
	sock := filepath.Join(sockDir, "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var mu sync.Mutex
	var msgs []notifyMsg
	urlCh := make(chan string, 1)
	got := make(chan struct{}, 100)
	go func() {
		buf := make([]byte, 4096)
		base := ""
		for {
			k, err := conn.Read(buf)
			if err != nil {
				return
			}
			m := notifyMsg{at: time.Now(), text: string(buf[:k])}
			if strings.Contains(m.text, "READY=1") {
				if base == "" {
					base = <-urlCh
				}
				if resp, err := http.Get(base + "/readyz"); err == nil {
					m.readyz = resp.StatusCode
					resp.Body.Close()
				}
			}
			mu.Lock()
			msgs = append(msgs, m)
			mu.Unlock()
			got <- struct{}{}
		}
	}()
	waitFor := func(what string, timeout time.Duration) int {
		t.Helper()
		deadline := time.After(timeout)
		for {
			mu.Lock()
			for i, m := range msgs {
				if strings.Contains(m.text, what) {
					mu.Unlock()
					return i
				}
			}
			mu.Unlock()
			select {
			case <-got:
			case <-deadline:
				t.Fatalf("no %q from the node in %s; got %q", what, timeout, texts(&mu, msgs))
			}
		}
	}

	const watchdog = 300 * time.Millisecond
	n = startWithEnv(t, data, []string{"NOTIFY_SOCKET=" + sock, fmt.Sprintf("WATCHDOG_USEC=%d", watchdog.Microseconds())})
	urlCh <- n.baseURL
	ready := waitFor("READY=1", 30*time.Second)
	mu.Lock()
	if msgs[ready].readyz != 200 {
		t.Errorf("READY=1 arrived while /readyz answered %d", msgs[ready].readyz)
	}
	if !strings.Contains(msgs[0].text, "EXTEND_TIMEOUT_USEC=") || ready == 0 {
		t.Errorf("the start-up timeout was not extended before READY=1: %q", msgs[0].text)
	}
	for _, m := range msgs[:ready] {
		if strings.Contains(m.text, "WATCHDOG=1") {
			t.Errorf("watchdog ping before READY=1")
		}
	}
	readyAt := msgs[ready].at
	mu.Unlock()

	// Pings come every half period while the node is healthy.
	time.Sleep(5 * watchdog)
	mu.Lock()
	pings := 0
	for _, m := range msgs {
		if m.text == "WATCHDOG=1\n" && m.at.After(readyAt) {
			pings++
		}
	}
	mu.Unlock()
	if pings < 6 {
		t.Errorf("%d watchdog pings in %s with WATCHDOG_USEC=%d", pings, 5*watchdog, watchdog.Microseconds())
	}

	// SIGHUP (ExecReload): RELOADING=1, then READY=1 again.
	mark := count(&mu, &msgs)
	n.cmd.Process.Signal(syscall.SIGHUP)
	reloading := waitFor("RELOADING=1", 5*time.Second)
	if reloading < mark {
		t.Fatalf("RELOADING=1 index %d before the signal (%d)", reloading, mark)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		again := false
		for _, m := range msgs[reloading+1:] {
			again = again || strings.Contains(m.text, "READY=1")
		}
		mu.Unlock()
		if again {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no READY=1 after the reload: %q", texts(&mu, msgs))
		}
		time.Sleep(20 * time.Millisecond)
	}

	// SIGTERM: STOPPING=1, then a clean exit.
	n.cmd.Process.Signal(syscall.SIGTERM)
	waitFor("STOPPING=1", 5*time.Second)
	select {
	case <-n.exited:
	case <-time.After(20 * time.Second):
		t.Fatalf("no exit after SIGTERM:\n%s", n.logs())
	}
	if code := n.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("exit code %d after SIGTERM:\n%s", code, n.logs())
	}
}

func count(mu *sync.Mutex, msgs *[]notifyMsg) int {
	mu.Lock()
	defer mu.Unlock()
	return len(*msgs)
}

func texts(mu *sync.Mutex, msgs []notifyMsg) []string {
	out := []string{}
	for _, m := range msgs {
		out = append(out, m.text)
	}
	return out
}

// TestSIGTERMDuringWritesLosesNothing stops a node in the middle of a
// write stream: every acknowledged write is there after the restart, and
// every request in flight either completed or failed cleanly (a refused
// connection or a 503), none hung.
func TestSIGTERMDuringWritesLosesNothing(t *testing.T) {
	dir := t.TempDir()
	n := startNode(t, dir)
	httpc := &http.Client{Timeout: 15 * time.Second}
	token := n.adminToken()
	var mu sync.Mutex
	var acked []string
	failures := map[string]int{}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				body := fmt.Sprintf(`{"name":"w%d-%d","price":1}`, w, i)
				req, _ := http.NewRequest("POST", n.baseURL+"/api/products", strings.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Authorization", "Bearer "+token)
				resp, err := httpc.Do(req)
				if err != nil {
					var ne net.Error
					mu.Lock()
					if errors.As(err, &ne) && ne.Timeout() {
						failures["HUNG: "+err.Error()]++
					} else {
						failures["connection: refused, reset or closed"]++
					}
					mu.Unlock()
					time.Sleep(5 * time.Millisecond)
					continue
				}
				r := response{Status: resp.StatusCode}
				buf := make([]byte, 4096)
				k, _ := resp.Body.Read(buf)
				resp.Body.Close()
				r.Body = buf[:k]
				mu.Lock()
				switch r.Status {
				case 201:
					acked = append(acked, r.json(t)["id"].(string))
				default:
					failures[fmt.Sprintf("status %d", r.Status)]++
				}
				mu.Unlock()
			}
		}()
	}
	time.Sleep(500 * time.Millisecond)
	mu.Lock()
	before := len(acked)
	mu.Unlock()
	sent := time.Now()
	n.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-n.exited:
	case <-time.After(30 * time.Second):
		t.Fatalf("no exit 30s after SIGTERM:\n%s", n.logs())
	}
	stopped := time.Since(sent)
	time.Sleep(200 * time.Millisecond) // writers see the refused connections
	close(stop)
	wg.Wait()
	if code := n.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("exit code %d after SIGTERM:\n%s", code, n.logs())
	}
	for what, k := range failures {
		if strings.HasPrefix(what, "HUNG") || (strings.HasPrefix(what, "status") && what != "status 503") {
			t.Errorf("%d requests ended badly: %s", k, what)
		}
	}
	if before == 0 {
		t.Fatal("no write was acknowledged before SIGTERM")
	}
	n = startNode(t, dir)
	missing := 0
	for _, id := range acked {
		if r := n.must("GET", "/api/products/"+id, ""); r.Status != 200 {
			missing++
		}
	}
	t.Logf("SIGTERM after %d acknowledged writes; %d acknowledged in all; stopped in %s; failures: %v", before, len(acked), stopped.Round(time.Millisecond), failures)
	if missing > 0 {
		t.Fatalf("%d of %d acknowledged writes missing after a graceful restart", missing, len(acked))
	}
}
