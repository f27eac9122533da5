package main

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
)

// The load generator shares two cores with the server, and net/http's
// Transport spends a lot of them per request: a pool, two goroutines per
// connection and channel hand-offs between them and the caller. -client
// conn drives the same requests through a lighter client, so that a run
// can tell how much of a limit the client is: each worker owns one
// keep-alive TCP connection and writes the request and reads the answer
// itself, with net/http's own Request.Write and ReadResponse (the same
// bytes on the wire, chunked answers included).

// connClient is one worker's connection.
type connClient struct {
	addr string
	c    net.Conn
	br   *bufio.Reader
	bw   *bufio.Writer
}

func newConnClient(base string) *connClient {
	return &connClient{addr: strings.TrimPrefix(base, "http://")}
}

// do sends req on the worker's connection, dialling it again if the server
// closed it, and returns "" for a 2xx or what went wrong.
func (cc *connClient) do(req *http.Request) string {
	for attempt := 0; ; attempt++ {
		kind, retry := cc.try(req)
		if !retry || attempt > 0 {
			return kind
		}
		// A kept-alive connection the server closed meanwhile: once more
		// on a new one, as the Transport does for an idempotent request.
		if req.GetBody != nil {
			body, err := req.GetBody()
			if err != nil {
				return "transport: " + err.Error()
			}
			req.Body = body
		}
	}
}

func (cc *connClient) try(req *http.Request) (kind string, retry bool) {
	fresh := false
	if cc.c == nil {
		c, err := net.DialTimeout("tcp", cc.addr, 10*time.Second)
		if err != nil {
			return "transport: " + err.Error(), false
		}
		cc.c, cc.br, cc.bw, fresh = c, bufio.NewReaderSize(c, 16<<10), bufio.NewWriterSize(c, 4<<10), true
	}
	fail := func(err error) (string, bool) {
		cc.c.Close()
		cc.c = nil
		stale := !fresh && (errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed))
		return "transport: " + err.Error(), stale
	}
	if err := req.Write(cc.bw); err != nil {
		return fail(err)
	}
	if err := cc.bw.Flush(); err != nil {
		return fail(err)
	}
	resp, err := http.ReadResponse(cc.br, req)
	if err != nil {
		return fail(err)
	}
	kind = statusKind(resp)
	if resp.Close {
		cc.c.Close()
		cc.c = nil
	}
	return kind, false
}

// close closes the connection.
func (cc *connClient) close() {
	if cc.c != nil {
		cc.c.Close()
	}
}
