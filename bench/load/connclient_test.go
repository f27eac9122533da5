package main

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

// The conn client must read every kind of answer to its end, so that the
// next request on the connection starts at a response boundary: a body
// with Content-Length, a chunked one, an error, and a server that closes
// the connection after answering.
func TestConnClientKeepsTheConnectionInStep(t *testing.T) {
	var conns atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		switch r.URL.Path {
		case "/small":
			w.Write([]byte(`{"ok":true}`))
		case "/chunked":
			w.Write(bytes.Repeat([]byte("x"), 10000))
			w.(http.Flusher).Flush()
			w.Write(bytes.Repeat([]byte("y"), 10000))
		case "/echo":
			w.Write(body)
		case "/close":
			w.Header().Set("Connection", "close")
			w.Write([]byte("bye"))
		default:
			w.WriteHeader(http.StatusUnprocessableEntity)
			w.Write([]byte(`{"error":{"code":"validation_failed","message":"no"}}`))
		}
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	cc := newConnClient(srv.URL)
	defer cc.close()
	steps := []struct {
		method, path, body, want string
	}{
		{"GET", "/small", "", ""},
		{"GET", "/chunked", "", ""},
		{"POST", "/echo", `{"a":1}`, ""},
		{"GET", "/nope", "", "422 validation_failed"},
		{"GET", "/close", "", ""},
		{"GET", "/small", "", ""},
		{"POST", "/echo", strings.Repeat("z", 5000), ""},
	}
	for _, s := range steps {
		req := jsonRequest(s.method, srv.URL+s.path, []byte(s.body))
		if got := cc.do(req); got != s.want {
			t.Fatalf("%s %s: got %q, want %q", s.method, s.path, got, s.want)
		}
	}
	// One connection until the server closed it, one after.
	if n := conns.Load(); n != 2 {
		t.Fatalf("%d connections, want 2", n)
	}
}
