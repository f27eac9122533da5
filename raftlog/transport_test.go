package raftlog_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"

	"github.com/lithair/lithair/raftlog"
)

// These tests run real raft.Raft nodes on NewTransport over real TCP on
// 127.0.0.1, with raft's in-memory stores and a list FSM: they are about
// the transport, and what a process without the cluster secret can do to a
// cluster (nothing). Each test runs in parallel with the others; the
// longest waits out one handshake deadline.

var (
	clusterSecret = []byte("correct horse battery staple 42!")
	otherSecret   = []byte("correct horse battery staple 43!") // one byte off
)

const (
	// netWait bounds every wait for the cluster; a passing run waits far
	// less.
	netWait = 8 * time.Second
	// handshakeDeadline is the transport's bound on a handshake.
	handshakeDeadline = 5 * time.Second
	// helloLen and proofLen are the handshake's wire sizes (transport.go):
	// "LITHRAFT", a version byte, a 32-byte nonce; an HMAC-SHA256.
	helloLen = 8 + 1 + 32
	proofLen = 32
)

// listFSM keeps every command it applies, in order.
type listFSM struct {
	mu      sync.Mutex
	entries []string
}

func (f *listFSM) Apply(l *raft.Log) any {
	if l.Type == raft.LogCommand {
		f.mu.Lock()
		f.entries = append(f.entries, string(l.Data))
		f.mu.Unlock()
	}
	return nil
}

func (f *listFSM) Snapshot() (raft.FSMSnapshot, error) {
	return listSnapshot(f.list()), nil
}

func (f *listFSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	var entries []string
	if err := json.NewDecoder(rc).Decode(&entries); err != nil {
		return err
	}
	f.mu.Lock()
	f.entries = entries
	f.mu.Unlock()
	return nil
}

func (f *listFSM) list() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.entries)
}

type listSnapshot []string

func (s listSnapshot) Persist(sink raft.SnapshotSink) error {
	if err := json.NewEncoder(sink).Encode([]string(s)); err != nil {
		_ = sink.Cancel()
		return err
	}
	return sink.Close()
}

func (listSnapshot) Release() {}

// lockedBuffer collects a node's log lines from several goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.b.Bytes())
}

func (b *lockedBuffer) String() string { return string(b.Bytes()) }

// netNode is one raft node on NewTransport.
type netNode struct {
	id    raft.ServerID
	trans *raft.NetworkTransport
	logs  *raft.InmemStore
	fsm   *listFSM
	raft  *raft.Raft
	out   *lockedBuffer // the transport's slog output and raft's own
}

func (n *netNode) addr() raft.ServerAddress { return n.trans.LocalAddr() }

// startNetNode starts an unbootstrapped node listening on 127.0.0.1 with
// secret, shut down when the test ends. Whatever the test's outcome, no log
// line may hold the cluster secret.
func startNetNode(t *testing.T, id string, secret []byte) *netNode {
	t.Helper()
	out := &lockedBuffer{}
	logger := slog.New(slog.NewTextHandler(out, &slog.HandlerOptions{Level: slog.LevelWarn}))
	trans, err := raftlog.NewTransport("127.0.0.1:0", "", secret, logger)
	if err != nil {
		t.Fatalf("%s: NewTransport: %v", id, err)
	}
	conf := raft.DefaultConfig()
	conf.LocalID = raft.ServerID(id)
	conf.HeartbeatTimeout = 300 * time.Millisecond
	conf.ElectionTimeout = 300 * time.Millisecond
	conf.LeaderLeaseTimeout = 150 * time.Millisecond
	conf.CommitTimeout = 5 * time.Millisecond
	conf.Logger = hclog.New(&hclog.LoggerOptions{Name: id, Level: hclog.Warn, Output: out})
	n := &netNode{id: conf.LocalID, trans: trans, logs: raft.NewInmemStore(), fsm: &listFSM{}, out: out}
	n.raft, err = raft.NewRaft(conf, n.fsm, n.logs, n.logs, raft.NewInmemSnapshotStore(), trans)
	if err != nil {
		_ = trans.Close()
		t.Fatalf("%s: NewRaft: %v", id, err)
	}
	t.Cleanup(func() {
		if err := n.raft.Shutdown().Error(); err != nil {
			t.Errorf("%s: shutdown: %v", id, err)
		}
		_ = trans.Close()
		logged := out.Bytes()
		for _, s := range [][]byte{clusterSecret, otherSecret} {
			if bytes.Contains(logged, s) {
				t.Errorf("%s: the log holds a cluster secret", id)
			}
		}
		if t.Failed() {
			t.Logf("%s log:\n%s", id, logged)
		}
	})
	return n
}

// bootstrap makes n the single voter of a new cluster and waits for it to
// lead.
func (n *netNode) bootstrap(t *testing.T) {
	t.Helper()
	conf := raft.Configuration{Servers: []raft.Server{{Suffrage: raft.Voter, ID: n.id, Address: n.addr()}}}
	if err := n.raft.BootstrapCluster(conf).Error(); err != nil {
		t.Fatalf("%s: bootstrap: %v", n.id, err)
	}
	eventually(t, string(n.id)+" to lead", func() bool { return n.raft.State() == raft.Leader })
}

// join adds each of nodes as a voter through leader.
func (n *netNode) join(t *testing.T, nodes ...*netNode) {
	t.Helper()
	for _, o := range nodes {
		if err := n.raft.AddVoter(o.id, o.addr(), 0, netWait).Error(); err != nil {
			t.Fatalf("add voter %s: %v", o.id, err)
		}
	}
}

// startNetCluster starts three nodes sharing the cluster secret, the first
// one leading.
func startNetCluster(t *testing.T) []*netNode {
	t.Helper()
	nodes := []*netNode{startNetNode(t, "node1", clusterSecret), startNetNode(t, "node2", clusterSecret), startNetNode(t, "node3", clusterSecret)}
	nodes[0].bootstrap(t)
	nodes[0].join(t, nodes[1:]...)
	return nodes
}

// applyEntries commits n entries named prefix-i through leader and waits
// until every node of nodes holds all it has applied plus these.
func applyEntries(t *testing.T, leader *netNode, nodes []*netNode, prefix string, n int) {
	t.Helper()
	want := leader.fsm.list()
	futures := make([]raft.ApplyFuture, n)
	for i := range futures {
		e := fmt.Sprintf("%s-%03d", prefix, i)
		want = append(want, e)
		futures[i] = leader.raft.Apply([]byte(e), netWait)
	}
	for i, f := range futures {
		if err := f.Error(); err != nil {
			t.Fatalf("apply %s-%03d: %v", prefix, i, err)
		}
	}
	for _, o := range nodes {
		eventually(t, fmt.Sprintf("%s to apply %d entries", o.id, len(want)), func() bool {
			return slices.Equal(o.fsm.list(), want)
		})
	}
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(netWait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", netWait, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// header is the RPC header a node named id would send.
func header(id string) raft.RPCHeader {
	return raft.RPCHeader{ProtocolVersion: raft.ProtocolVersionMax, ID: []byte(id), Addr: []byte(id)}
}

// injection is an AppendEntries that would take over victim: a far higher
// term, and an entry no client applied.
func injection(victim *netNode) *raft.AppendEntriesRequest {
	term := victim.raft.CurrentTerm() + 100
	return &raft.AppendEntriesRequest{
		RPCHeader:    header("intruder"),
		Term:         term,
		PrevLogEntry: victim.raft.LastIndex(),
		PrevLogTerm:  victim.raft.CurrentTerm(),
		Entries: []*raft.Log{{Index: victim.raft.LastIndex() + 1, Term: term, Type: raft.LogCommand,
			Data: []byte("injected")}},
		LeaderCommitIndex: victim.raft.LastIndex() + 1,
	}
}

// assertUntouched fails the test if victim took the injection: its term
// jumped to the injected one, or any log or FSM holds the injected entry.
func assertUntouched(t *testing.T, victim *netNode, injectedTerm uint64, nodes []*netNode) {
	t.Helper()
	if term := victim.raft.CurrentTerm(); term >= injectedTerm {
		t.Errorf("%s: term %d, the injected one is %d", victim.id, term, injectedTerm)
	}
	for _, n := range nodes {
		first, _ := n.logs.FirstIndex()
		last, _ := n.logs.LastIndex()
		for i := first; i <= last && i > 0; i++ {
			var l raft.Log
			if err := n.logs.GetLog(i, &l); err == nil && string(l.Data) == "injected" {
				t.Errorf("%s: log entry %d is the injected one", n.id, i)
			}
		}
		if slices.Contains(n.fsm.list(), "injected") {
			t.Errorf("%s: the FSM applied the injected entry", n.id)
		}
	}
}

// TestTransportClusterReplicates: three nodes sharing the secret form a
// cluster over TCP and replicate every entry.
func TestTransportClusterReplicates(t *testing.T) {
	t.Parallel()
	nodes := startNetCluster(t)
	applyEntries(t, nodes[0], nodes, "entry", 100)
	for _, n := range nodes {
		f := n.raft.GetConfiguration()
		if err := f.Error(); err != nil {
			t.Fatalf("%s: configuration: %v", n.id, err)
		}
		if k := len(f.Configuration().Servers); k != 3 {
			t.Errorf("%s: configuration has %d servers, want 3", n.id, k)
		}
	}
}

// TestTransportWrongSecretNodeCannotJoin: a node with another secret that
// the leader is told to add never receives an entry or the configuration,
// cannot push a vote request of its own, and the cluster keeps working.
func TestTransportWrongSecretNodeCannotJoin(t *testing.T) {
	t.Parallel()
	nodes := startNetCluster(t)
	leader := nodes[0]
	applyEntries(t, leader, nodes, "before", 10)

	intruder := startNetNode(t, "intruder", otherSecret)
	// Three voters of four still commit, so the change itself goes through.
	if err := leader.raft.AddVoter(intruder.id, intruder.addr(), 0, netWait).Error(); err != nil {
		t.Logf("add voter intruder: %v", err)
	}
	applyEntries(t, leader, nodes, "after", 20)

	// The leader did try: both ends logged the failed handshake, with the
	// other end's address.
	eventually(t, "the leader to log the refused handshake", func() bool {
		return strings.Contains(leader.out.String(), "remote="+string(intruder.addr()))
	})
	eventually(t, "the intruder to log the leader's refused connection", func() bool {
		return strings.Contains(intruder.out.String(), "refused inbound raft connection")
	})

	if got := intruder.fsm.list(); len(got) != 0 {
		t.Errorf("intruder applied %d entries: %q", len(got), got)
	}
	if last := intruder.raft.LastIndex(); last != 0 {
		t.Errorf("intruder log holds entries up to %d", last)
	}
	f := intruder.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		t.Fatalf("intruder configuration: %v", err)
	}
	if s := f.Configuration().Servers; len(s) != 0 {
		t.Errorf("intruder knows the configuration %+v", s)
	}
	if addr, _ := intruder.raft.LeaderWithID(); addr != "" {
		t.Errorf("intruder follows %s", addr)
	}

	// Dialing in, the intruder cannot even deliver a vote request.
	term := leader.raft.CurrentTerm()
	var vote raft.RequestVoteResponse
	err := intruder.trans.RequestVote(leader.id, leader.addr(), &raft.RequestVoteRequest{
		RPCHeader: header("intruder"), Term: term + 100, LastLogIndex: 1 << 40, LastLogTerm: term + 100}, &vote)
	if !errors.Is(err, raftlog.ErrHandshake) {
		t.Errorf("intruder's RequestVote: %v, want ErrHandshake", err)
	}
	// Control: the same path with the secret does reach raft, which answers
	// a stale AppendEntries with its term.
	friend, err := raftlog.NewTransport("127.0.0.1:0", "", clusterSecret, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer friend.Close()
	var resp raft.AppendEntriesResponse
	if err := friend.AppendEntries(leader.id, leader.addr(), &raft.AppendEntriesRequest{RPCHeader: header("friend"), Term: 0}, &resp); err != nil {
		t.Errorf("control AppendEntries with the secret: %v", err)
	} else if resp.Term != leader.raft.CurrentTerm() || resp.Success {
		t.Errorf("control AppendEntries: response %+v, want a refusal at term %d", resp, leader.raft.CurrentTerm())
	}

	if got := leader.raft.CurrentTerm(); got != term || leader.raft.State() != raft.Leader {
		t.Errorf("leader: term %d state %v after the intruder's vote request, want term %d, leader", got, leader.raft.State(), term)
	}
	applyEntries(t, leader, nodes, "still", 10)
}

// TestTransportCutsOffClientsWithoutTheSecret: raw TCP clients and a stock
// hashicorp/raft transport send garbage, a raft RPC, a replayed handshake
// or a reflected hello to a follower's Raft port; each is cut off before
// raft reads a byte, and nothing reaches the cluster.
func TestTransportCutsOffClientsWithoutTheSecret(t *testing.T) {
	t.Parallel()
	nodes := startNetCluster(t)
	leader, victim := nodes[0], nodes[1]
	applyEntries(t, leader, nodes, "before", 10)
	inject := injection(victim)
	recorded := recordConversation(t, inject)

	garbage := make([]byte, 200)
	_, _ = rand.Read(garbage)
	raw := map[string]func(c net.Conn){
		"garbage":                func(c net.Conn) { _, _ = c.Write(garbage) },
		"replayed handshake":     func(c net.Conn) { _, _ = c.Write(recorded) },
		"raft RPC, no handshake": func(c net.Conn) { _, _ = c.Write(recorded[helloLen+proofLen:]) },
		"raft RPC after a hello": func(c net.Conn) { _, _ = c.Write(recorded[:helloLen]); _, _ = c.Write(recorded[helloLen+proofLen:]) },
		"reflected hello": func(c net.Conn) {
			hello := make([]byte, helloLen)
			if _, err := io.ReadFull(c, hello); err == nil {
				_, _ = c.Write(hello)
				_, _ = c.Write(recorded[helloLen:])
			}
		},
	}
	for _, name := range []string{"garbage", "raft RPC, no handshake", "replayed handshake", "raft RPC after a hello", "reflected hello"} {
		t.Run(name, func(t *testing.T) {
			c, err := net.Dial("tcp", string(victim.addr()))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			raw[name](c)
			_ = c.SetReadDeadline(time.Now().Add(3 * time.Second))
			got, err := io.ReadAll(c)
			if ne := net.Error(nil); errors.As(err, &ne) && ne.Timeout() {
				t.Fatalf("the node kept the connection open: %v", err)
			}
			if len(got) > helloLen {
				t.Errorf("the node sent %d bytes, more than its hello: a proof to an unauthenticated client", len(got))
			}
			eventually(t, "the node to log the refusal", func() bool {
				return strings.Contains(victim.out.String(), "remote="+c.LocalAddr().String())
			})
		})
	}
	t.Run("stock raft transport", func(t *testing.T) {
		stock, err := raft.NewTCPTransport("127.0.0.1:0", nil, 1, 3*time.Second, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		defer stock.Close()
		var resp raft.AppendEntriesResponse
		if err := stock.AppendEntries(victim.id, victim.addr(), inject, &resp); err == nil {
			t.Errorf("a transport without the secret delivered AppendEntries: %+v", resp)
		}
	})

	assertUntouched(t, victim, inject.Term, nodes)
	applyEntries(t, leader, nodes, "after", 10)
}

// recordConversation returns the bytes a node holding the secret sends on
// a fresh connection to deliver req: its hello, its proof, then the RPC,
// as an eavesdropper on the wire would record them. The listener is a bare
// transport (not a raft node), which confirms the RPC arrived intact.
func recordConversation(t *testing.T, req *raft.AppendEntriesRequest) []byte {
	t.Helper()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	sink, err := raftlog.NewTransport("127.0.0.1:0", "", clusterSecret, quiet)
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	received := make(chan any, 1)
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for {
			select {
			case rpc := <-sink.Consumer():
				received <- rpc.Command
				rpc.Respond(&raft.AppendEntriesResponse{Term: req.Term, Success: true}, nil)
			case <-stop:
				return
			}
		}
	}()

	tap, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer tap.Close()
	wire := &lockedBuffer{}
	go func() {
		c, err := tap.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		s, err := net.Dial("tcp", string(sink.LocalAddr()))
		if err != nil {
			return
		}
		defer s.Close()
		go func() { _, _ = io.Copy(c, s) }()
		_, _ = io.Copy(s, io.TeeReader(c, wire))
	}()

	client, err := raftlog.NewTransport("127.0.0.1:0", "", clusterSecret, quiet)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	var resp raft.AppendEntriesResponse
	if err := client.AppendEntries("sink", raft.ServerAddress(tap.Addr().String()), req, &resp); err != nil {
		t.Fatalf("recording AppendEntries: %v", err)
	}
	got, ok := (<-received).(*raft.AppendEntriesRequest)
	if !ok || got.Term != req.Term || len(got.Entries) != 1 || string(got.Entries[0].Data) != "injected" {
		t.Fatalf("the recorded RPC arrived as %+v", got)
	}
	b := wire.Bytes()
	if len(b) <= helloLen+proofLen {
		t.Fatalf("recorded only %d bytes", len(b))
	}
	return b
}

// TestTransportStalledHandshakeIsBounded: clients that connect and then
// stall mid-hello do not delay a new member joining, and the node drops
// each of them at the handshake deadline.
func TestTransportStalledHandshakeIsBounded(t *testing.T) {
	t.Parallel()
	nodes := []*netNode{startNetNode(t, "node1", clusterSecret), startNetNode(t, "node2", clusterSecret), startNetNode(t, "node3", clusterSecret)}
	nodes[0].bootstrap(t)

	// Three stalled clients on each joining node, before the leader dials
	// it: an accept loop that ran handshakes one at a time would keep the
	// leader waiting a deadline per stalled client.
	type stalled struct {
		c      net.Conn
		opened time.Time
		node   *netNode
	}
	var clients []stalled
	for _, n := range nodes[1:] {
		for range 3 {
			c, err := net.Dial("tcp", string(n.addr()))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			_, _ = c.Write([]byte("LITH")) // half a magic, then silence
			clients = append(clients, stalled{c, time.Now(), n})
		}
	}

	start := time.Now()
	nodes[0].join(t, nodes[1:]...)
	applyEntries(t, nodes[0], nodes, "entry", 50)
	if took := time.Since(start); took >= handshakeDeadline-time.Second {
		t.Errorf("joining two nodes and replicating 50 entries took %v behind stalled clients", took)
	} else {
		t.Logf("joined and replicated in %v behind %d stalled clients", took, len(clients))
	}

	for _, s := range clients {
		_ = s.c.SetReadDeadline(time.Now().Add(handshakeDeadline + 3*time.Second))
		got, err := io.ReadAll(s.c)
		held := time.Since(s.opened)
		if ne := net.Error(nil); errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("%s kept a stalled client past %v", s.node.id, held)
		}
		if held < handshakeDeadline-500*time.Millisecond || held > handshakeDeadline+2*time.Second {
			t.Errorf("%s dropped a stalled client after %v, want about %v", s.node.id, held, handshakeDeadline)
		}
		if len(got) != helloLen {
			t.Errorf("%s sent a stalled client %d bytes, want its hello (%d)", s.node.id, len(got), helloLen)
		}
		eventually(t, fmt.Sprintf("%s to log the stalled client %s", s.node.id, s.c.LocalAddr()), func() bool {
			return strings.Contains(s.node.out.String(), "remote="+s.c.LocalAddr().String())
		})
	}
}

// TestTransportDialerChecksTheListener: the dialer's side is checked too.
// A listener that reflects the dialer's hello or proof, or proves another
// secret, gets ErrHandshake and not one Raft byte; one that proves the
// right secret, computed from the documented layout, gets the RPC.
func TestTransportDialerChecksTheListener(t *testing.T) {
	t.Parallel()
	listenerProof := func(secret, own, peer []byte) []byte {
		m := hmac.New(sha256.New, secret)
		m.Write([]byte("lithair-raft-v1listener"))
		m.Write(own)
		m.Write(peer)
		return m.Sum(nil)
	}
	// Each impostor has read the dialer's hello and sends back a hello and
	// a proof.
	cases := []struct {
		name      string
		respond   func(c net.Conn, dialerHello []byte)
		authentic bool
	}{
		{"reflects the dialer's hello", func(c net.Conn, h []byte) {
			_, _ = c.Write(h)
		}, false},
		{"reflects the dialer's proof", func(c net.Conn, h []byte) {
			_, _ = c.Write(freshHello())
			p := make([]byte, proofLen)
			if _, err := io.ReadFull(c, p); err == nil {
				_, _ = c.Write(p)
			}
		}, false},
		{"proves another secret", func(c net.Conn, h []byte) {
			own := freshHello()
			_, _ = c.Write(own)
			if _, err := io.ReadFull(c, make([]byte, proofLen)); err == nil {
				_, _ = c.Write(listenerProof(otherSecret, own[9:], h[9:]))
			}
		}, false},
		{"proves the cluster secret", func(c net.Conn, h []byte) {
			own := freshHello()
			_, _ = c.Write(own)
			if _, err := io.ReadFull(c, make([]byte, proofLen)); err == nil {
				_, _ = c.Write(listenerProof(clusterSecret, own[9:], h[9:]))
			}
		}, true},
	}
	out := &lockedBuffer{}
	client, err := raftlog.NewTransport("127.0.0.1:0", "", clusterSecret, slog.New(slog.NewTextHandler(out, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			after := make(chan int, 1) // bytes the dialer sent after the handshake
			go func() {
				c, err := ln.Accept()
				if err != nil {
					after <- -1
					return
				}
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(3 * time.Second))
				h := make([]byte, helloLen)
				if _, err := io.ReadFull(c, h); err != nil {
					after <- -1
					return
				}
				tc.respond(c, h)
				n, _ := c.Read(make([]byte, 4096))
				after <- n
			}()
			var resp raft.AppendEntriesResponse
			err = client.AppendEntries("impostor", raft.ServerAddress(ln.Addr().String()),
				&raft.AppendEntriesRequest{RPCHeader: header("client"), Term: 1}, &resp)
			n := <-after
			if tc.authentic {
				if errors.Is(err, raftlog.ErrHandshake) || n <= 0 {
					t.Errorf("authentic listener: err %v, %d RPC bytes received", err, n)
				}
				return
			}
			if !errors.Is(err, raftlog.ErrHandshake) {
				t.Errorf("AppendEntries: %v, want ErrHandshake", err)
			}
			if n > 0 {
				t.Errorf("the dialer sent %d bytes after a failed handshake", n)
			}
		})
	}
	if !strings.Contains(out.String(), "level=WARN") {
		t.Errorf("the dialer logged no warning:\n%s", out)
	}
}

// freshHello is a well-formed hello with a random nonce.
func freshHello() []byte {
	h := append([]byte("LITHRAFT\x01"), make([]byte, 32)...)
	_, _ = rand.Read(h[9:])
	return h
}

// TestNewTransportChecksItsArguments: a short secret, or an address peers
// cannot dial, is refused before anything listens.
func TestNewTransportChecksItsArguments(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name            string
		bind, advertise string
		secret          []byte
		want            string // in the error; empty when accepted
		local           string // LocalAddr when accepted, if fixed
	}{
		{"no secret", "127.0.0.1:0", "", nil, "at least 16", ""},
		{"15-byte secret", "127.0.0.1:0", "", make([]byte, 15), "at least 16", ""},
		{"16-byte secret", "127.0.0.1:0", "", make([]byte, 16), "", ""},
		{"unspecified bind, no advertise", "0.0.0.0:0", "", clusterSecret, "advertise", ""},
		{"empty bind host, no advertise", ":0", "", clusterSecret, "advertise", ""},
		{"unspecified advertise", "127.0.0.1:0", "0.0.0.0:7000", clusterSecret, "unspecified", ""},
		{"unspecified IPv6 advertise", "127.0.0.1:0", "[::]:7000", clusterSecret, "unspecified", ""},
		{"advertise without a port", "127.0.0.1:0", "10.0.0.1", clusterSecret, "advertise address", ""},
		{"advertise port 0", "127.0.0.1:0", "10.0.0.1:0", clusterSecret, "port", ""},
		{"advertise by name", "127.0.0.1:0", "raft-1.internal:7000", clusterSecret, "", "raft-1.internal:7000"},
		{"unspecified bind with advertise", "0.0.0.0:0", "10.0.0.1:7000", clusterSecret, "", "10.0.0.1:7000"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			trans, err := raftlog.NewTransport(tc.bind, tc.advertise, tc.secret, nil)
			if tc.want != "" {
				if err == nil {
					trans.Close()
					t.Fatalf("accepted")
				}
				if !strings.Contains(err.Error(), tc.want) {
					t.Errorf("error %q does not say %q", err, tc.want)
				}
				return
			}
			if err != nil {
				t.Fatalf("refused: %v", err)
			}
			defer trans.Close()
			if tc.local != "" && string(trans.LocalAddr()) != tc.local {
				t.Errorf("LocalAddr %s, want %s", trans.LocalAddr(), tc.local)
			}
		})
	}
}
