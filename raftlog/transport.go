package raftlog

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
)

// MinSecretLen is the shortest cluster secret NewTransport accepts: 128
// bits, beyond guessing within the handshake's rate.
const MinSecretLen = 16

// ErrHandshake is returned when a peer fails the cluster-secret handshake:
// it speaks another protocol, holds another secret, replays or reflects a
// handshake, or stalls past the deadline.
var ErrHandshake = errors.New("raftlog: raft peer failed the cluster-secret handshake")

// The handshake, run on every new Raft connection before any Raft byte, in
// both directions (D the dialer, L the listener):
//
//	D -> L   hello: "LITHRAFT" | version 0x01 | 32-byte random nonce Nd   (41 bytes)
//	L -> D   hello: "LITHRAFT" | version 0x01 | 32-byte random nonce Nl   (41 bytes)
//	D -> L   proof: HMAC-SHA256(secret, "lithair-raft-v1" | "dialer"   | Nd | Nl)  (32 bytes)
//	         L checks it, and closes the connection if it is wrong
//	L -> D   proof: HMAC-SHA256(secret, "lithair-raft-v1" | "listener" | Nl | Nd)  (32 bytes)
//	         D checks it, and closes the connection if it is wrong
//
// Both hellos are sent at once, so the handshake costs two round trips.
// Fresh nonces on both sides make a recorded handshake useless on another
// connection; the role in the MAC makes a proof reflected back at its
// sender useless. L proves itself only to a dialer that already proved
// itself, so an unauthenticated client never gets a MAC out of a node.
const (
	handshakeLabel   = "lithair-raft-v1"
	handshakeVersion = 1
	nonceLen         = 32
	proofLen         = sha256.Size
	roleDialer       = "dialer"
	roleListener     = "listener"
	handshakeMagic   = "LITHRAFT"
	// helloLen is the size of a hello: magic, version, nonce.
	helloLen = len(handshakeMagic) + 1 + nonceLen
)

// handshakeTimeout bounds a whole handshake: a peer that stalls holds one
// goroutine and one socket for this long, never the accept loop.
const handshakeTimeout = 5 * time.Second

// NewTransport listens on bind (HOST:PORT) for Raft traffic and returns a
// raft.NetworkTransport whose every connection, in both directions, first
// proves knowledge of secret. advertise is the address peers dial (bind
// when empty; it must not be an unspecified address like 0.0.0.0).
//
// The secret must be at least MinSecretLen bytes. The handshake
// authenticates peers; it does not encrypt or sign the Raft traffic that
// follows, so the Raft port belongs on a private network (or a tunnel).
func NewTransport(bind, advertise string, secret []byte, logger *slog.Logger) (*raft.NetworkTransport, error) {
	if len(secret) < MinSecretLen {
		return nil, fmt.Errorf("raftlog: the cluster secret is %d bytes; it must be at least %d", len(secret), MinSecretLen)
	}
	if logger == nil {
		logger = slog.Default()
	}
	ln, err := net.Listen("tcp", bind)
	if err != nil {
		return nil, fmt.Errorf("raftlog: listen for raft on %s: %w", bind, err)
	}
	adv, err := advertiseAddr(advertise, ln.Addr())
	if err != nil {
		_ = ln.Close()
		return nil, err
	}
	s := &authStream{
		ln:        ln,
		advertise: adv,
		secret:    bytes.Clone(secret),
		logger:    logger,
		accepted:  make(chan net.Conn),
		done:      make(chan struct{}),
		pending:   make(map[net.Conn]struct{}),
	}
	s.loops.Add(1)
	go s.acceptLoop()

	// raft's own transport messages (failed RPCs, broken pipes) go to the
	// same slog handler, at warn: they are what an operator needs to see
	// when a peer is misconfigured.
	hlog := hclog.FromStandardLogger(slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
		&hclog.LoggerOptions{Name: "raft-net", Level: hclog.Warn})
	return raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream:  s,
		MaxPool: 3,
		Timeout: 10 * time.Second,
		Logger:  hlog,
	}), nil
}

// advertiseAddr is the address peers dial: advertise, or the listener's
// own address. Either must name a host a peer can reach.
func advertiseAddr(advertise string, listening net.Addr) (net.Addr, error) {
	if advertise == "" {
		a, ok := listening.(*net.TCPAddr)
		if !ok || a.IP == nil || a.IP.IsUnspecified() {
			return nil, fmt.Errorf("raftlog: raft listens on %s, which peers cannot dial: set an advertise address", listening)
		}
		return a, nil
	}
	host, port, err := net.SplitHostPort(advertise)
	if err != nil {
		return nil, fmt.Errorf("raftlog: raft advertise address %q: %w", advertise, err)
	}
	if p, err := strconv.Atoi(port); err != nil || p <= 0 || p > 65535 {
		return nil, fmt.Errorf("raftlog: raft advertise address %q: port must be 1-65535", advertise)
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		return nil, fmt.Errorf("raftlog: raft advertise address %q is unspecified: peers cannot dial it", advertise)
	}
	return advertisedAddr(net.JoinHostPort(host, port)), nil
}

// advertisedAddr is an advertise address as given: a host name stays a
// name, resolved by each peer when it dials.
type advertisedAddr string

func (a advertisedAddr) Network() string { return "tcp" }
func (a advertisedAddr) String() string  { return string(a) }

// authStream is the raft.StreamLayer under NewTransport: TCP, with the
// handshake on every connection. Inbound handshakes run in their own
// goroutines, so a peer that stalls never delays another's accept; only
// authenticated connections come out of Accept.
type authStream struct {
	ln        net.Listener
	advertise net.Addr
	secret    []byte
	logger    *slog.Logger

	accepted chan net.Conn // authenticated inbound connections, for Accept
	done     chan struct{} // closed by Close
	loops    sync.WaitGroup

	mu      sync.Mutex
	closed  bool
	pending map[net.Conn]struct{} // inbound connections still in the handshake
}

var _ raft.StreamLayer = (*authStream)(nil)

// acceptLoop accepts TCP connections and starts a handshake for each.
func (s *authStream) acceptLoop() {
	defer s.loops.Done()
	var delay time.Duration
	for {
		c, err := s.ln.Accept()
		if err != nil {
			select {
			case <-s.done:
				return
			default:
			}
			// Out of file descriptors and the like: back off as
			// net/http does, rather than spin.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			s.logger.Warn("raftlog: accept raft connection", "err", err, "retry_in", delay)
			select {
			case <-s.done:
				return
			case <-time.After(delay):
			}
			continue
		}
		delay = 0
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			_ = c.Close()
			return
		}
		s.pending[c] = struct{}{}
		s.loops.Add(1)
		s.mu.Unlock()
		go s.admit(c)
	}
}

// admit runs the listener's side of the handshake on c and hands c to
// Accept if the peer proved the secret.
func (s *authStream) admit(c net.Conn) {
	defer s.loops.Done()
	err := handshake(c, s.secret, roleListener)
	s.mu.Lock()
	delete(s.pending, c)
	closed := s.closed
	s.mu.Unlock()
	if err != nil {
		if !closed {
			s.logger.Warn("raftlog: refused inbound raft connection", "remote", c.RemoteAddr().String(), "err", err)
		}
		_ = c.Close()
		return
	}
	select {
	case s.accepted <- c:
	case <-s.done:
		_ = c.Close()
	}
}

// Accept returns the next authenticated inbound connection.
func (s *authStream) Accept() (net.Conn, error) {
	select {
	case <-s.done:
		return nil, net.ErrClosed
	default:
	}
	select {
	case c := <-s.accepted:
		return c, nil
	case <-s.done:
		return nil, net.ErrClosed
	}
}

// Close stops listening, aborts the handshakes in progress and waits for
// their goroutines. Connections already handed to raft are raft's to close.
func (s *authStream) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.done)
	for c := range s.pending {
		_ = c.Close()
	}
	s.mu.Unlock()
	err := s.ln.Close()
	s.loops.Wait()
	return err
}

// Addr returns the advertised address: raft's LocalAddr.
func (s *authStream) Addr() net.Addr { return s.advertise }

// Dial connects to a peer and runs the dialer's side of the handshake.
func (s *authStream) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	d := net.Dialer{Timeout: timeout}
	c, err := d.Dial("tcp", string(address))
	if err != nil {
		return nil, err
	}
	if err := handshake(c, s.secret, roleDialer); err != nil {
		_ = c.Close()
		s.logger.Warn("raftlog: raft peer refused or failed the handshake", "remote", string(address), "err", err)
		return nil, err
	}
	return c, nil
}

// handshake runs one side of the handshake on c within handshakeTimeout,
// then clears the deadline: raft sets its own per RPC.
func handshake(c net.Conn, secret []byte, role string) error {
	if err := c.SetDeadline(time.Now().Add(handshakeTimeout)); err != nil {
		return fmt.Errorf("%w: %w", ErrHandshake, err)
	}
	if err := exchange(c, secret, role); err != nil {
		return err
	}
	if err := c.SetDeadline(time.Time{}); err != nil {
		return fmt.Errorf("%w: %w", ErrHandshake, err)
	}
	return nil
}

// exchange sends and checks hellos and proofs; see the layout above.
func exchange(c net.Conn, secret []byte, role string) error {
	own := make([]byte, helloLen)
	copy(own, handshakeMagic)
	own[len(handshakeMagic)] = handshakeVersion
	ownNonce := own[helloLen-nonceLen:]
	_, _ = rand.Read(ownNonce) // crypto/rand.Read never fails

	if _, err := c.Write(own); err != nil {
		return fmt.Errorf("%w: send hello: %w", ErrHandshake, err)
	}
	peer := make([]byte, helloLen)
	if _, err := io.ReadFull(c, peer); err != nil {
		return fmt.Errorf("%w: read hello: %w", ErrHandshake, err)
	}
	if string(peer[:len(handshakeMagic)]) != handshakeMagic {
		return fmt.Errorf("%w: not a Lithair raft peer", ErrHandshake)
	}
	if v := peer[len(handshakeMagic)]; v != handshakeVersion {
		return fmt.Errorf("%w: handshake version %d, this node speaks %d", ErrHandshake, v, handshakeVersion)
	}
	peerNonce := peer[helloLen-nonceLen:]
	if bytes.Equal(peerNonce, ownNonce) {
		return fmt.Errorf("%w: our own nonce came back", ErrHandshake)
	}

	peerRole := roleListener
	if role == roleListener {
		peerRole = roleDialer
	}
	mine := proof(secret, role, ownNonce, peerNonce)
	want := proof(secret, peerRole, peerNonce, ownNonce)
	if role == roleDialer {
		if _, err := c.Write(mine); err != nil {
			return fmt.Errorf("%w: send proof: %w", ErrHandshake, err)
		}
		return checkProof(c, want, true)
	}
	if err := checkProof(c, want, false); err != nil {
		return err
	}
	if _, err := c.Write(mine); err != nil {
		return fmt.Errorf("%w: send proof: %w", ErrHandshake, err)
	}
	return nil
}

// checkProof reads the peer's proof and compares it with want in
// constant time. fromListener says the peer is the listener, which hangs
// up without a word on a wrong proof of ours.
func checkProof(c net.Conn, want []byte, fromListener bool) error {
	got := make([]byte, proofLen)
	if _, err := io.ReadFull(c, got); err != nil {
		if fromListener && (errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)) {
			return fmt.Errorf("%w: peer hung up before proving the secret (does it hold another cluster secret?): %w", ErrHandshake, err)
		}
		return fmt.Errorf("%w: read proof: %w", ErrHandshake, err)
	}
	if !hmac.Equal(got, want) {
		return fmt.Errorf("%w: wrong proof: the peer does not hold this cluster secret", ErrHandshake)
	}
	return nil
}

// proof is HMAC-SHA256(secret, label | role | own nonce | peer nonce). The
// role strings differ in length and the nonces are fixed-size, so no two
// distinct inputs concatenate alike.
func proof(secret []byte, role string, own, peer []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(handshakeLabel))
	m.Write([]byte(role))
	m.Write(own)
	m.Write(peer)
	return m.Sum(nil)
}
