package fuzz

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	lithair "github.com/lithair/lithair"
	"github.com/lithair/lithair/web"
)

var (
	httpOnce    sync.Once
	httpHandler http.Handler
	httpErr     error
)

// handler starts one real appliance (log, Raft, rules) in a temporary
// directory for the whole fuzz run and returns its HTTP handler.
func handler(t testing.TB) http.Handler {
	httpOnce.Do(func() {
		dir, err := os.MkdirTemp("", "lithair-fuzz-")
		if err != nil {
			httpErr = err
			return
		}
		cfg := lithair.DefaultConfig()
		cfg.EventStore.Dir = dir
		cfg.Rules.Dir = "../configs/rules"
		cfg.Rules.Watch = false
		app, err := lithair.Open(cfg, nil)
		if err != nil {
			httpErr = err
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if httpErr = app.WaitReady(ctx); httpErr == nil {
			httpHandler = web.New(app, nil).Handler()
		}
	})
	if httpErr != nil {
		t.Fatal(httpErr)
	}
	return httpHandler
}

var fuzzMethods = []string{"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "TRACE", "BREW"}

// FuzzHTTPRequest drives the API with arbitrary methods, paths, query
// strings, headers and bodies: a client's mistake is a 4xx, never a 5xx
// and never a panic.
func FuzzHTTPRequest(f *testing.F) {
	f.Add(uint8(1), "/api/products", "", `{"name":"a","price":1}`, "If-Match", `"1"`)
	f.Add(uint8(0), "/api/products", "price[gte]=1&sort=-price&limit=2", "", "", "")
	f.Add(uint8(0), "/api/products", "cursor=eyJpZCI6IngifQ", "", "", "")
	f.Add(uint8(3), "/api/products/0190d5a4-0000-7000-8000-000000000000", "", `{"stock":null}`, "", "")
	f.Add(uint8(0), "/api/products/x/events", "", "", "", "")
	f.Add(uint8(0), "/api/products/x", "version=2&at=2020-01-01T00:00:00Z", "", "", "")
	f.Add(uint8(0), "/api/_audit", "model=Product&limit=0", "", "", "")
	f.Add(uint8(0), "/api/_projections/SalesMetrics/2026-01-01", "", "", "", "")
	f.Add(uint8(1), "/api/orders", "", `{"product_id":"p","quantity":1e400,"total":-0}`, "Content-Type", "application/json")
	f.Add(uint8(2), "/api/../api/products/%2e%2e", "", `[`, "If-Match", "W/\"x\"")
	f.Fuzz(func(t *testing.T, method uint8, path, query, body, hname, hvalue string) {
		h := handler(t)
		if !strings.HasPrefix(path, "/") {
			path = "/" + path
		}
		req := httptest.NewRequest("GET", "/", bytes.NewReader([]byte(body)))
		req.Method = fuzzMethods[int(method)%len(fuzzMethods)]
		req.URL.Path, req.URL.RawQuery = path, query
		if hname != "" && validHeader(hname, hvalue) {
			req.Header.Set(hname, hvalue)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code >= 500 {
			t.Fatalf("%s %s?%s %q: %d %s", req.Method, path, query, body, w.Code, w.Body)
		}
	})
}

// validHeader keeps the inputs a real HTTP parser would let through.
func validHeader(name, value string) bool {
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
