package firewall

import (
	"errors"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"
)

// TestSlowlorisIsDroppedByTheServer models a client that opens a request
// and sends its headers a byte at a time to hold the connection forever.
// The firewall cannot see such a request (it runs after the headers are
// read); the server's ReadHeaderTimeout must drop it, with the firewall in
// front, while other clients are served.
func TestSlowlorisIsDroppedByTheServer(t *testing.T) {
	t.Parallel()
	const headerTimeout = 200 * time.Millisecond
	fw, err := New(DefaultConfig(), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var hits atomic.Int64
	srv := &http.Server{
		Handler: fw.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			hits.Add(1)
			io.WriteString(w, "ok")
		})),
		ReadHeaderTimeout: headerTimeout,
		ReadTimeout:       2 * time.Second,
		MaxHeaderBytes:    8 << 10,
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	t.Cleanup(func() {
		srv.Close()
		if err := <-served; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("Serve: %v", err)
		}
	})

	slow, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	start := time.Now()
	if _, err := io.WriteString(slow, "GET / HTTP/1.1\r\nHost: lithair\r\nX-Slow: "); err != nil {
		t.Fatal(err)
	}
	// Trickle one byte every 20ms, far faster than the timeout, so a
	// server that reset its deadline on progress would never drop us.
	stopTrickle := make(chan struct{})
	trickled := make(chan struct{})
	go func() {
		defer close(trickled)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stopTrickle:
				return
			case <-tick.C:
				if _, err := slow.Write([]byte("a")); err != nil {
					return
				}
			}
		}
	}()
	defer func() { close(stopTrickle); <-trickled }()

	// Other clients are served while the slow one hangs on.
	client := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	for i := range 5 {
		resp, err := client.Get("http://" + ln.Addr().String() + "/")
		if err != nil {
			t.Fatalf("request %d during the slow client: %v", i, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("request %d during the slow client: status %d", i, resp.StatusCode)
		}
	}

	// The server closes the slow connection after the header timeout.
	slow.SetReadDeadline(time.Now().Add(3 * time.Second))
	n, err := io.Copy(io.Discard, slow)
	elapsed := time.Since(start)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("the server still held the slow connection after %v", elapsed)
	}
	if elapsed < headerTimeout {
		t.Errorf("the slow connection closed after %v, before the header timeout %v", elapsed, headerTimeout)
	}
	if elapsed > headerTimeout+time.Second {
		t.Errorf("the slow connection closed after %v, want about %v", elapsed, headerTimeout)
	}
	t.Logf("slow connection closed after %v with %d bytes of answer (%v)", elapsed, n, err)
	if n := hits.Load(); n != 5 {
		t.Errorf("the handler ran %d times, want 5: the slow request must never reach it", n)
	}
}
