package main

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"time"
)

// The bare handler is the limit of the read scenarios: the least an HTTP
// server in Go can do per request on this machine, driven by the same
// client at the same connection counts. It runs as its own process (this
// program again, with bareEnv set), like Lithair, so that the two share
// the machine with the client the same way and both CPU shares can be
// read from /proc.

const bareEnv = "LITHAIR_LOAD_BARE_LISTEN"

// bareBody is about the size of a Product as Lithair serves it.
var bareBody = []byte(`{"id":"019ac8f2-5c3e-7d41-9a3b-2f6e8c1d4b7a","version":1,"created_at":"2026-11-28T00:00:00.000000000Z","updated_at":"2026-11-28T00:00:00.000000000Z","name":"p-042","price":42,"stock":1}`)

// serveBare runs the bare handler until killed.
func serveBare(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", strconv.Itoa(len(bareBody)))
		w.Write(bareBody)
	})
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	return srv.Serve(ln)
}

// BareServer is the running bare handler process.
type BareServer struct {
	Base string
	cmd  *exec.Cmd
}

// startBare starts the bare handler process and waits until it answers.
func startBare() (*BareServer, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self)
	cmd.Env = append(os.Environ(), bareEnv+"="+addr)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	b := &BareServer{Base: "http://" + addr, cmd: cmd}
	for deadline := time.Now().Add(10 * time.Second); ; {
		resp, err := http.Get(b.Base + "/")
		if err == nil {
			resp.Body.Close()
			return b, nil
		}
		if time.Now().After(deadline) {
			b.Stop()
			return nil, fmt.Errorf("the bare handler did not answer in 10s: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// PID returns the process id.
func (b *BareServer) PID() int { return b.cmd.Process.Pid }

// Stop ends the process.
func (b *BareServer) Stop() {
	b.cmd.Process.Signal(syscall.SIGTERM)
	b.cmd.Wait()
}
