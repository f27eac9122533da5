package fuzz

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	lithair "github.com/lithair/lithair"
	"github.com/lithair/lithair/web"
)

// fuzzAdminPassword is the first admin's password in the fuzz appliance.
const fuzzAdminPassword = "fuzz-admin-password"

// httpEnv is one real appliance (log, Raft, rules) in a temporary
// directory, shared by every input of a fuzz run: opening one costs far
// more than a request.
type httpEnv struct {
	app     *lithair.Appliance
	handler http.Handler
	mu      sync.Mutex // inputs run one at a time per process; this keeps it so
	admin   string     // session of the admin
	cust    string     // session of a customer
	custAPI string     // API token of the same customer
	ids     map[string]string
	// The state hash at hashIndex, kept between inputs.
	hashIndex uint64
	hash      string
}

var (
	httpOnce sync.Once
	httpApp  *httpEnv
	httpErr  error
)

// fuzzMaxBody is http.max_body in the fuzz appliance: small, so a corpus
// entry over the limit stays small too.
const fuzzMaxBody = 64 << 10

func sharedHTTPEnv(t testing.TB) *httpEnv {
	httpOnce.Do(func() { httpApp, httpErr = openHTTPEnv() })
	if httpErr != nil {
		t.Fatal(httpErr)
	}
	return httpApp
}

func openHTTPEnv() (*httpEnv, error) {
	dir, err := os.MkdirTemp("", "lithair-fuzz-")
	if err != nil {
		return nil, err
	}
	cfg := lithair.DefaultConfig()
	cfg.EventStore.Dir = dir
	// Nothing here must survive a crash, and a fsync per write would
	// dominate the cost of an input.
	cfg.EventStore.Sync = "periodic"
	cfg.Rules.Dir = "../configs/rules"
	cfg.Rules.Watch = false
	cfg.HTTP.MaxBody = fuzzMaxBody
	cfg.Auth.InitialAdminPassword = fuzzAdminPassword
	app, err := lithair.Open(cfg, nil)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := app.WaitReady(ctx); err != nil {
		return nil, err
	}
	e := &httpEnv{app: app, handler: web.New(app, nil).Handler(), ids: map[string]string{}}
	if _, err := app.CreateUser(ctx, "fuzz", "fuzz-customer", fuzzAdminPassword, nil); err != nil {
		return nil, err
	}
	e.signIn()
	secret, rec, err := app.CreateToken(ctx, "fuzz", "fuzz-customer", "fuzz", nil, time.Time{})
	if err != nil {
		return nil, err
	}
	e.custAPI, e.ids["token"] = secret, rec.ID
	// Records the corpus reaches through placeholders: a product, an
	// order of the customer and one of the admin.
	for _, s := range []struct{ key, auth, path, body string }{
		{"product", e.admin, "/api/products", `{"name":"fuzz","price":1,"cost":2}`},
		{"order", e.cust, "/api/orders", `{"product_id":"fuzz","quantity":1,"total":1}`},
		{"admin-order", e.admin, "/api/orders", `{"product_id":"fuzz","quantity":1}`},
	} {
		req := httptest.NewRequest("POST", s.path, strings.NewReader(s.body))
		req.Header.Set("Authorization", "Bearer "+s.auth)
		w := httptest.NewRecorder()
		e.handler.ServeHTTP(w, req)
		var rec struct{ ID string }
		if err := json.Unmarshal(w.Body.Bytes(), &rec); w.Code != 201 || err != nil {
			return nil, fmt.Errorf("seeding %s: %d %s", s.path, w.Code, w.Body)
		}
		e.ids[s.key] = rec.ID
	}
	return e, nil
}

// signIn (again) opens the admin's and the customer's sessions: an input
// may have logged one out, and later inputs should still act as them.
func (e *httpEnv) signIn() {
	ctx := context.Background()
	if _, err := e.app.Authenticate(e.admin); err != nil {
		if s, _, _, err := e.app.Login(ctx, "admin", fuzzAdminPassword); err == nil {
			e.admin = s
		}
	}
	if _, err := e.app.Authenticate(e.cust); err != nil {
		if s, _, _, err := e.app.Login(ctx, "fuzz-customer", fuzzAdminPassword); err == nil {
			e.cust = s
		}
	}
}

// state returns the applied index and the state hash. The hash walks
// every record, so it is computed again only once the index moved: the
// state changes only by applying log entries.
func (e *httpEnv) state() (uint64, string) {
	if e.hash == "" || e.app.State().AppliedIndex() != e.hashIndex {
		h := e.app.StateHash()
		e.hashIndex, e.hash = h.Index, h.Hash
	}
	return e.hashIndex, e.hash
}

// fuzzIdentities is how many callers credential tells apart.
const fuzzIdentities = 7

// credential returns the Authorization or Cookie header who stands for:
// anonymous, the admin, the customer's session, the customer's API token,
// a forged session, the admin's session cookie, a truncated admin token.
func (e *httpEnv) credential(who uint8) (name, value string) {
	switch who % fuzzIdentities {
	case 1:
		return "Authorization", "Bearer " + e.admin
	case 2:
		return "Authorization", "Bearer " + e.cust
	case 3:
		return "Authorization", "Bearer " + e.custAPI
	case 4:
		return "Authorization", "Bearer lths_" + strings.Repeat("A", 43) // well-formed, unknown
	case 5:
		return "Cookie", "lithair_session=" + e.admin
	case 6:
		return "Authorization", "Bearer " + e.admin[:len(e.admin)-1] // truncated
	}
	return "", "" // anonymous
}

// expand replaces {product}, {order}, {admin-order} and {token} with the
// ids of the seeded records.
func (e *httpEnv) expand(s string) string {
	if !strings.Contains(s, "{") {
		return s
	}
	for k, v := range e.ids {
		s = strings.ReplaceAll(s, "{"+k+"}", v)
	}
	return s
}

// FuzzHTTPRequest drives the whole HTTP handler (middleware included)
// with arbitrary methods, targets, headers and bodies, as anonymous, an
// admin, a customer (session or API token), a forged or truncated token,
// or an admin's session cookie, chosen by who. The request is assembled
// as raw HTTP/1.1 and read back with http.ReadRequest, so the handler
// sees only what a real server would hand it. A client's request never
// gets a 5xx (bar 503 not_ready) or a panic, and one answered 4xx writes
// nothing: neither the applied index nor the state hash moves.
//
// LITHAIR_FUZZ_ALLOW_REFUSED_ENTRIES=1 lets a 4xx move the applied index
// (never the state hash): commands the state machine refuses (a delete
// of a missing id, a unique value taken) are still appended to the log,
// which the check would otherwise report on nearly every run.
func FuzzHTTPRequest(f *testing.F) {
	f.Add(uint8(1), "POST", "/api/products", "application/json", "If-Match", `"1"`, []byte(`{"name":"a","price":1}`))
	f.Add(uint8(0), "GET", "/api/products?price[gte]=1&sort=-price&limit=2", "", "", "", []byte(nil))
	f.Add(uint8(2), "PATCH", "/api/orders/{admin-order}", "", "", "", []byte(`{"quantity":2}`))
	f.Add(uint8(4), "GET", "/api/products/{product}?version=1", "", "", "", []byte(nil))
	f.Add(uint8(5), "POST", "/api/_users", "application/json", "Sec-Fetch-Site", "cross-site", []byte(`{"name":"x","password":"password-1"}`))
	f.Add(uint8(2), "GET", "/api/products/../_users", "", "", "", []byte(nil))
	allowRefused := os.Getenv("LITHAIR_FUZZ_ALLOW_REFUSED_ENTRIES") == "1"
	f.Fuzz(func(t *testing.T, who uint8, method, target, ctype, hname, hvalue string, body []byte) {
		e := sharedHTTPEnv(t)
		e.mu.Lock()
		defer e.mu.Unlock()
		e.signIn()
		req, ok := e.request(who, method, target, ctype, hname, hvalue, body)
		if !ok {
			return // net/http itself would answer 400
		}
		// The deadline only keeps a request that should never block (or an
		// event stream that outlived its first flush) from hanging the run.
		ctx, cancel := context.WithTimeout(req.Context(), 10*time.Second)
		defer cancel()
		w := &streamRecorder{ResponseRecorder: httptest.NewRecorder(), cancel: cancel}
		beforeIndex, beforeHash := e.state()
		e.handler.ServeHTTP(w, req.WithContext(ctx))

		desc := fmt.Sprintf("who=%d %q %q Content-Type=%q %s=%q body=%.200q", who%fuzzIdentities, req.Method, req.RequestURI, ctype, hname, hvalue, body)
		if w.Code == http.StatusServiceUnavailable && strings.Contains(w.Body.String(), `"not_ready"`) {
			return
		}
		if w.Code >= 500 {
			t.Fatalf("%s: %d %.300s", desc, w.Code, w.Body)
		}
		if w.Code < 400 || e.app.State().AppliedIndex() == beforeIndex {
			return
		}
		afterIndex, afterHash := e.state()
		if afterHash != beforeHash {
			t.Fatalf("%s: answered %d yet changed the state (hash %s -> %s): %.300s", desc, w.Code, beforeHash, afterHash, w.Body)
		}
		if !allowRefused {
			t.Fatalf("%s: answered %d yet moved the applied index %d -> %d (a refused command went into the log): %.300s",
				desc, w.Code, beforeIndex, afterIndex, w.Body)
		}
	})
}

// streamRecorder records an answer and ends an event stream at its first
// flush: GET /api/_events replays the log, flushes, and would then wait
// for changes until the client goes away.
type streamRecorder struct {
	*httptest.ResponseRecorder
	cancel context.CancelFunc
}

func (r *streamRecorder) Flush() {
	r.ResponseRecorder.Flush()
	if strings.HasPrefix(r.Header().Get("Content-Type"), "text/event-stream") {
		r.cancel()
	}
}

// request assembles a raw HTTP/1.1 request and parses it as the server
// would. ok is false for what net/http refuses before any handler runs.
func (e *httpEnv) request(who uint8, method, target, ctype, hname, hvalue string, body []byte) (*http.Request, bool) {
	payload := e.expand(string(body))
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: example.com\r\n", method, e.expand(target))
	if name, value := e.credential(who); name != "" {
		fmt.Fprintf(&b, "%s: %s\r\n", name, value)
	}
	if ctype != "" {
		fmt.Fprintf(&b, "Content-Type: %s\r\n", ctype)
	}
	if hname != "" {
		fmt.Fprintf(&b, "%s: %s\r\n", hname, hvalue)
	}
	if !strings.EqualFold(hname, "Content-Length") && !strings.EqualFold(hname, "Transfer-Encoding") {
		fmt.Fprintf(&b, "Content-Length: %d\r\n", len(payload))
	}
	b.WriteString("\r\n")
	b.WriteString(payload)
	req, err := http.ReadRequest(bufio.NewReader(strings.NewReader(b.String())))
	if err != nil {
		return nil, false
	}
	// What http.Server checks after parsing (server.go readRequest).
	if len(req.Header["Host"]) > 1 {
		return nil, false
	}
	for name, values := range req.Header {
		if !validHeader(name, "") {
			return nil, false
		}
		for _, v := range values {
			if !validHeader("X", v) {
				return nil, false
			}
		}
	}
	if req.ContentLength > int64(len(payload)) {
		return nil, false // the server would wait for the rest
	}
	req.RemoteAddr = "192.0.2.1:" + strconv.Itoa(1024+int(who))
	return req, true
}

// validHeader keeps the inputs a real HTTP parser would let through.
func validHeader(name, value string) bool {
	if name == "" {
		return false
	}
	for _, c := range name {
		if c <= ' ' || c >= 0x7f || strings.ContainsRune("()<>@,;:\\\"/[]?={}", c) {
			return false
		}
	}
	for _, c := range value {
		if c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}
