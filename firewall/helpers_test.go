package firewall

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// clock is a settable time source, so bucket tests do not sleep and do not
// depend on how fast the machine runs them.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// testServer is a real loopback HTTP server with the firewall in front of
// a handler that answers the client address the firewall decided on and
// reads the whole body the way the web package does, mapping
// *http.MaxBytesError to 413.
type testServer struct {
	fw    *Firewall
	srv   *httptest.Server
	clock *clock
	hits  int // requests that reached the handler
	mu    sync.Mutex

	clients map[string]*http.Client
}

func startServer(t *testing.T, c Config, maxBody int64) *testServer {
	t.Helper()
	return startServerOn(t, "tcp4", "127.0.0.1:0", c, maxBody)
}

func startServerOn(t *testing.T, network, addr string, c Config, maxBody int64) *testServer {
	t.Helper()
	fw, err := New(c, maxBody)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ts := &testServer{fw: fw, clock: &clock{t: time.Unix(1_800_000_000, 0)}, clients: map[string]*http.Client{}}
	fw.now = ts.clock.Now
	ln, err := net.Listen(network, addr)
	if err != nil {
		t.Skipf("cannot listen on %s %s: %v", network, addr, err)
	}
	ts.srv = httptest.NewUnstartedServer(fw.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ts.mu.Lock()
		ts.hits++
		ts.mu.Unlock()
		if _, err := io.ReadAll(r.Body); err != nil {
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusRequestEntityTooLarge)
				io.WriteString(w, `{"error":{"code":"body_too_large","message":"the request body is larger than the limit"}}`)
				return
			}
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		io.WriteString(w, ClientIP(r).String())
	})))
	ts.srv.Listener.Close()
	ts.srv.Listener = ln
	ts.srv.Start()
	t.Cleanup(func() {
		for _, c := range ts.clients {
			c.CloseIdleConnections()
		}
		ts.srv.Close()
	})
	return ts
}

func (ts *testServer) handlerHits() int {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return ts.hits
}

// client returns an HTTP client whose connections leave from the loopback
// address from ("127.0.0.2"; all of 127/8 is loopback on Linux), so the
// server sees a real peer address other than 127.0.0.1. Empty from lets
// the kernel choose.
func (ts *testServer) client(t *testing.T, from string) *http.Client {
	t.Helper()
	if c, ok := ts.clients[from]; ok {
		return c
	}
	d := &net.Dialer{Timeout: 2 * time.Second}
	if from != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(from)}
	}
	c := &http.Client{
		Timeout: 5 * time.Second,
		Transport: &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return d.DialContext(ctx, network, addr)
		}},
	}
	ts.clients[from] = c
	return c
}

// req describes one request of a scenario.
type req struct {
	from   string // local address to dial from, "" for the default
	xff    []string
	method string // GET when empty
	path   string // "/" when empty
	body   io.Reader
	length int64 // Content-Length to send; -1 for chunked; 0 keeps Go's default
}

// answer is what came back.
type answer struct {
	status     int
	body       string
	code       string // error.code of a JSON error answer
	retryAfter string
}

func (ts *testServer) do(t *testing.T, q req) answer {
	t.Helper()
	method, path := q.method, q.path
	if method == "" {
		method = http.MethodGet
	}
	if path == "" {
		path = "/"
	}
	r, err := http.NewRequest(method, ts.srv.URL+path, q.body)
	if err != nil {
		t.Fatal(err)
	}
	if q.length != 0 {
		r.ContentLength = q.length
	}
	for _, v := range q.xff {
		r.Header.Add("X-Forwarded-For", v)
	}
	resp, err := ts.client(t, q.from).Do(r)
	if err != nil {
		t.Fatalf("%s %s from %q: %v", method, path, q.from, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading the answer: %v", err)
	}
	a := answer{status: resp.StatusCode, body: strings.TrimSpace(string(b)), retryAfter: resp.Header.Get("Retry-After")}
	if resp.StatusCode != http.StatusOK {
		if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("status %d has Content-Type %q, want application/json", resp.StatusCode, ct)
		}
		var e struct {
			Error struct {
				Code    string `json:"code"`
				Message string `json:"message"`
			} `json:"error"`
		}
		if err := json.Unmarshal(b, &e); err != nil || e.Error.Code == "" || e.Error.Message == "" {
			t.Errorf("status %d body %q is not {\"error\":{\"code\",\"message\"}}: %v", resp.StatusCode, b, err)
		}
		a.code = e.Error.Code
	}
	return a
}

// codeFor is the error code the API uses for a status.
func codeFor(status int) string {
	switch status {
	case http.StatusForbidden:
		return "forbidden"
	case http.StatusTooManyRequests:
		return "rate_limited"
	case http.StatusRequestEntityTooLarge:
		return "body_too_large"
	}
	return ""
}

// checkDenials compares the firewall's counts with want (reasons absent
// from want must be zero).
func checkDenials(t *testing.T, fw *Firewall, want map[string]uint64) {
	t.Helper()
	got := fw.Denied()
	for _, r := range reasons {
		if got[r] != want[r] {
			t.Errorf("Denied()[%q] = %d, want %d (all: %v)", r, got[r], want[r], got)
		}
	}
	if len(got) != len(reasons) {
		t.Errorf("Denied() has %d keys, want %d: %v", len(got), len(reasons), got)
	}
}
