package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"time"

	lithair "github.com/lithair/lithair"
	"github.com/lithair/lithair/web"
)

// The admin socket lets an operator on the machine manage a running node
// without a password: it is a Unix socket in the data dir, readable and
// writable by the service's user only, so reaching it already takes what
// reading the data would. `lithair user` and `lithair token` use it when
// the node runs, and open the data dir themselves when it does not.

const adminSocketName = "lithair.sock"

func adminSocketPath(dataDir string) string { return filepath.Join(dataDir, adminSocketName) }

// serveAdminSocket listens on the data dir's admin socket. The caller
// holds the data dir's lock, so a socket file left there is stale.
func serveAdminSocket(dataDir string, h http.Handler, logger *slog.Logger) (stop func()) {
	path := adminSocketPath(dataDir)
	os.Remove(path)
	ln, err := net.Listen("unix", path)
	if err != nil {
		logger.Warn("no admin socket: lithair user and lithair token need --server while this node runs", "path", path, "err", err)
		return func() {}
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		logger.Warn("no admin socket", "path", path, "err", err)
		return func() {}
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	return func() {
		srv.Close()
		os.Remove(path)
	}
}

// adminFlags choose how a management command reaches a node.
type adminFlags struct {
	configFlags
	server, token string
}

func (f *adminFlags) register(c *command) {
	f.configFlags.register(c.fs, false)
	c.fs.StringVar(&f.server, "server", "", "`URL` of a running node to manage over HTTP (needs an admin token: --token or $LITHAIR_TOKEN); default: the node of the data dir, through its admin socket, or the stopped data dir itself")
	c.fs.StringVar(&f.token, "token", "", "admin API `token` or session token for --server (default $LITHAIR_TOKEN)")
}

// adminClient sends API requests to a node as an admin.
type adminClient struct {
	http  *http.Client
	base  string
	token string
	close func()
}

// connect finds the node: --server, else the running node's admin socket,
// else the stopped data dir opened in this process.
func (f *adminFlags) connect(std stdio) (*adminClient, error) {
	if f.server != "" {
		base := strings.TrimRight(f.server, "/")
		if !strings.Contains(base, "://") {
			base = "http://" + base
		}
		token := f.token
		if token == "" {
			token = os.Getenv("LITHAIR_TOKEN")
		}
		if token == "" {
			return nil, errors.New("--server needs an admin token: --token or $LITHAIR_TOKEN")
		}
		return &adminClient{http: &http.Client{Timeout: time.Minute}, base: base, token: token, close: func() {}}, nil
	}
	cfg, _, _, err := f.resolve()
	if err != nil {
		return nil, err
	}
	sock := adminSocketPath(cfg.EventStore.Dir)
	if conn, err := net.DialTimeout("unix", sock, time.Second); err == nil {
		conn.Close()
		dial := func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", sock)
		}
		return &adminClient{http: &http.Client{Timeout: time.Minute, Transport: &http.Transport{DialContext: dial}},
			base: "http://lithair", close: func() {}}, nil
	}
	app, err := lithair.OpenForMaintenance(cfg, nil)
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", cfg.EventStore.Dir, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := app.WaitReady(ctx); err != nil {
		app.Close()
		return nil, fmt.Errorf("opening %s: %w", cfg.EventStore.Dir, err)
	}
	announceFirstAdmin(std.out, app)
	h := web.New(app, nil).LocalHandler()
	return &adminClient{http: &http.Client{Transport: handlerTransport{h}}, base: "http://lithair",
		close: func() { app.Close() }}, nil
}

// handlerTransport answers requests by calling a handler in process.
type handlerTransport struct{ h http.Handler }

func (t handlerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	rec := httptest.NewRecorder()
	t.h.ServeHTTP(rec, r)
	return rec.Result(), nil
}

// do sends a request and returns the body of a 2xx answer, or the API's
// error message.
func (c *adminClient) do(method, path, body string) ([]byte, error) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		return nil, err
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 != 2 {
		return nil, apiMessage(resp.Status, out)
	}
	return out, nil
}
