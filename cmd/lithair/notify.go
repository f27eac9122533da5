package main

import (
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// notifier speaks systemd's notify protocol (sd_notify(3)): one datagram
// of newline-separated KEY=VALUE lines to the unix socket named by
// $NOTIFY_SOCKET. Without that variable (not started by systemd with
// Type=notify) every method does nothing.
type notifier struct {
	mu   sync.Mutex
	conn *net.UnixConn
}

func newNotifier() *notifier {
	path := os.Getenv("NOTIFY_SOCKET")
	if path == "" {
		return &notifier{}
	}
	if path[0] == '@' { // an abstract socket
		path = "\x00" + path[1:]
	}
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		return &notifier{}
	}
	return &notifier{conn: conn}
}

// enabled reports whether a service manager listens.
func (n *notifier) enabled() bool { return n.conn != nil }

// send sends the lines as one message. A failure is not fatal: the
// service manager, if it is gone, will not miss it.
func (n *notifier) send(lines ...string) {
	if n.conn == nil {
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.conn.SetWriteDeadline(time.Now().Add(time.Second))
	n.conn.Write([]byte(strings.Join(lines, "\n") + "\n"))
}

func (n *notifier) close() {
	if n.conn != nil {
		n.conn.Close()
	}
}

// watchdogInterval returns systemd's watchdog period from $WATCHDOG_USEC,
// 0 when there is none or it is meant for another process.
func watchdogInterval() time.Duration {
	if pid := os.Getenv("WATCHDOG_PID"); pid != "" && pid != strconv.Itoa(os.Getpid()) {
		return 0
	}
	usec, err := strconv.ParseUint(os.Getenv("WATCHDOG_USEC"), 10, 63)
	if err != nil || usec == 0 {
		return 0
	}
	return time.Duration(usec) * time.Microsecond
}

func usec(d time.Duration) string { return strconv.FormatInt(d.Microseconds(), 10) }
