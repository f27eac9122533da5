package lithair

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/hashicorp/raft"

	"github.com/lithair/lithair/event"
	"github.com/lithair/lithair/index"
	"github.com/lithair/lithair/rules"
)

// A node with raft.bind set is part of a cluster: Raft runs over TCP,
// authenticated with the cluster secret (raftlog.NewTransport). What Raft
// does not carry travels over HTTP between nodes, signed with the same
// secret (clusterauth.go):
//
//   - a node started with raft.join asks a member to add it as a voter; the
//     request goes to the leader, which adds it and records the node's
//     addresses as a _Node record, so that every node knows where every
//     other one serves HTTP;
//   - a follower forwards the commands it is asked to propose to the
//     leader, waits until it has applied them itself, and answers: a client
//     may write to any node;
//   - a follower serving a linearizable read asks the leader for a read
//     index (the leader confirms its leadership with a quorum first) and
//     waits until it has applied that far.

// Clustered reports whether this node talks Raft over the network.
func (a *Appliance) Clustered() bool { return a.cfg.Raft.Bind != "" }

// NodeID returns this node's Raft id.
func (a *Appliance) NodeID() string { return a.cfg.Raft.NodeID }

// leaderHTTP returns the HTTP base URL of the leader, from its _Node record.
func (a *Appliance) leaderHTTP() (string, string, error) {
	_, id := a.raft.LeaderWithID()
	if id == "" {
		return "", "", fmt.Errorf("%w: no leader is known", ErrUnavailable)
	}
	rec, ok := a.state.GetUnique(rules.NodeModel, "name", string(id))
	if !ok {
		return "", "", fmt.Errorf("%w: the leader %s has not published its address yet", ErrUnavailable, id)
	}
	addr, _ := rec.Fields()["http"].(string)
	return "http://" + addr, string(id), nil
}

// nodeClient is the HTTP client nodes use between themselves.
var nodeClient = &http.Client{Timeout: 30 * time.Second, Transport: nodeTransport()}

// nodeTransport keeps enough idle connections to the leader for every
// write a follower forwards at once: the default Transport keeps two per
// host, and a follower forwarding a few dozen writes then dials and
// closes a connection for most of them (a tenth of its CPU, and
// thousands of sockets in TIME_WAIT, in the cluster benchmark).
func nodeTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = 1024
	t.MaxIdleConnsPerHost = 256
	return t
}

// callLeader sends a signed request to the leader and decodes its JSON
// answer into out. A 503 from the leader (it stepped down) is
// ErrUnavailable.
func (a *Appliance) callLeader(ctx context.Context, method, path string, body []byte, out any) error {
	base, id, err := a.leaderHTTP()
	if err != nil {
		return err
	}
	if id == a.cfg.Raft.NodeID {
		return fmt.Errorf("%w: this node is the leader in name only", ErrUnavailable)
	}
	return a.callNode(ctx, base, method, path, body, out)
}

func (a *Appliance) callNode(ctx context.Context, base, method, path string, body []byte, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, base+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	signCluster(req, a.clusterSecret(), body)
	resp, err := nodeClient.Do(req)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	switch {
	case resp.StatusCode == http.StatusServiceUnavailable:
		return fmt.Errorf("%w: %s answered: %s", ErrUnavailable, base, bytes.TrimSpace(b))
	case resp.StatusCode == http.StatusInsufficientStorage:
		return fmt.Errorf("%w: the leader %s answered: %s", ErrDiskFull, base, bytes.TrimSpace(b))
	case resp.StatusCode/100 != 2:
		return fmt.Errorf("lithair: %s %s answered %s: %s", method, base+path, resp.Status, bytes.TrimSpace(b))
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(b, out)
}

// ProposeAnswer is what a leader answers a forwarded command: the log
// index it was applied at, or why it was refused.
type ProposeAnswer struct {
	Index   uint64          `json:"index"`
	Refusal *event.Refusal  `json:"refusal,omitempty"`
	Op      *int            `json:"op,omitempty"` // the refused operation of a batch
	Record  json.RawMessage `json:"-"`
}

// forward has the leader propose c, then waits until this node has applied
// it too, so that the caller reads its own write here.
func (a *Appliance) forward(ctx context.Context, c *event.Command) (*index.Record, error) {
	data, err := c.Encode()
	if err != nil {
		return nil, err
	}
	var ans ProposeAnswer
	if err := a.callLeader(ctx, http.MethodPost, "/api/_cluster/propose", data, &ans); err != nil {
		return nil, err
	}
	if err := a.WaitApplied(ctx, ans.Index); err != nil {
		return nil, err
	}
	if ans.Refusal != nil {
		if ans.Op != nil {
			return nil, &event.BatchRefusal{Index: *ans.Op, Refusal: ans.Refusal}
		}
		return nil, ans.Refusal
	}
	if c.Op == event.OpCreate || c.Op == event.OpUpdate {
		if rec, ok := a.state.Get(c.Model, c.ID); ok {
			return rec, nil
		}
	}
	return nil, nil
}

// ProposeForward serves a command a follower forwarded: the leader
// proposes it and answers where it was applied.
func (a *Appliance) ProposeForward(ctx context.Context, data []byte) (*ProposeAnswer, error) {
	c, err := event.Decode(data)
	if err != nil {
		return nil, err
	}
	if a.raft.State() != raft.Leader {
		return nil, fmt.Errorf("%w: this node is not the leader", ErrUnavailable)
	}
	_, idx, err := a.apply(ctx, c)
	ans := &ProposeAnswer{Index: idx}
	var br *event.BatchRefusal
	var ref *event.Refusal
	switch {
	case errors.As(err, &br):
		op := br.Index
		ans.Refusal, ans.Op = br.Refusal, &op
	case errors.As(err, &ref):
		ans.Refusal = ref
	case err != nil:
		return nil, err
	}
	return ans, nil
}

// applied is how far this node has applied its log. The state counts the
// commands it applied; Raft's own entries after the last of them (a new
// leader's no-op, configuration changes) never reach the state machine,
// so they count as applied once Raft has applied them: otherwise a read
// index pointing at a leader's no-op would wait for the next write.
func (a *Appliance) applied() uint64 {
	done := a.state.AppliedIndex()
	upTo := a.raft.AppliedIndex()
	for i := done + 1; i <= upTo; i++ {
		var l raft.Log
		if err := a.logs.GetLog(i, &l); err != nil || l.Type == raft.LogCommand {
			return i - 1
		}
	}
	return max(done, upTo)
}

// WaitApplied waits until this node has applied the log up to idx.
func (a *Appliance) WaitApplied(ctx context.Context, idx uint64) error {
	if a.applied() >= idx {
		return nil
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, a.cfg.HTTP.RequestTimeout.Duration)
		defer cancel()
	}
	// Woken when the entry at idx is applied; the timer covers what moves
	// the applied index without one (a snapshot installed, Raft's own
	// entries).
	reached, forget := a.appliedWaiters.add(idx)
	defer forget()
	t := time.NewTimer(5 * time.Millisecond)
	defer t.Stop()
	for {
		if a.applied() >= idx {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w: this node did not catch up with index %d in time", ErrUnavailable, idx)
		case <-a.stop:
			return fmt.Errorf("%w: the node is stopping", ErrUnavailable)
		case <-reached:
			reached = nil // closed for good: the timer checks from now on
		case <-t.C:
			t.Reset(5 * time.Millisecond)
		}
	}
}

// waiters wakes each goroutine waiting for the log to be applied up to an
// index when that index is applied, and no other: a follower has a
// forwarded write or a read waiting per client, and waking them all at
// every applied entry made each of them check the applied index again
// for nothing.
type waiters struct {
	mu   sync.Mutex
	list []waiter // few, in no order
}

type waiter struct {
	idx     uint64
	reached chan struct{}
}

// add registers a wait for idx. The channel is closed once an entry at or
// past idx is applied; forget drops the wait, and must be called.
func (w *waiters) add(idx uint64) (reached <-chan struct{}, forget func()) {
	ch := make(chan struct{})
	w.mu.Lock()
	w.list = append(w.list, waiter{idx, ch})
	w.mu.Unlock()
	return ch, func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		for i, x := range w.list {
			if x.reached == ch {
				w.list[i] = w.list[len(w.list)-1]
				w.list = w.list[:len(w.list)-1]
				return
			}
		}
	}
}

// applied wakes the waits for idx and below.
func (w *waiters) applied(idx uint64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for i := 0; i < len(w.list); {
		if x := w.list[i]; x.idx <= idx {
			close(x.reached)
			w.list[i] = w.list[len(w.list)-1]
			w.list = w.list[:len(w.list)-1]
			continue
		}
		i++
	}
}

// Consistency is how fresh a read must be.
type Consistency string

// The read consistencies.
const (
	// Local reads this node's state: fast, and on a follower possibly a
	// little behind the leader. The default.
	Local Consistency = "local"
	// Leader reads at least everything the leader had applied when asked.
	Leader Consistency = "leader"
	// Linearizable reads everything committed before the read began: the
	// leader first confirms with a quorum that it still leads.
	Linearizable Consistency = "linearizable"
)

type readIndexAnswer struct {
	Index uint64 `json:"index"`
}

// ReadBarrier returns once this node's state is fresh enough for a read at
// consistency c.
func (a *Appliance) ReadBarrier(ctx context.Context, c Consistency) error {
	if c == Local || c == "" {
		return nil
	}
	if a.raft.State() == raft.Leader {
		idx, err := a.ReadIndex(c == Linearizable)
		if err != nil {
			return err
		}
		return a.WaitApplied(ctx, idx)
	}
	path := "/api/_cluster/read_index"
	if c == Linearizable {
		path += "?verify=1"
	}
	var ans readIndexAnswer
	if err := a.callLeader(ctx, http.MethodGet, path, nil, &ans); err != nil {
		return err
	}
	return a.WaitApplied(ctx, ans.Index)
}

// ReadIndex is the leader's side of a read: the commit index as it is now,
// after confirming leadership with a quorum when verify is set.
func (a *Appliance) ReadIndex(verify bool) (uint64, error) {
	if a.raft.State() != raft.Leader {
		return 0, fmt.Errorf("%w: this node is not the leader", ErrUnavailable)
	}
	// A new leader's commit index is what it knew as a follower, maybe
	// behind what its predecessor acknowledged. Once per term, a barrier
	// waits until an entry of this term is committed and applied: from
	// then on the commit index covers every acknowledged write (Raft §6.4).
	if term := a.raft.CurrentTerm(); a.leadTerm.Load() != term {
		if err := a.termCommitted(term); err != nil {
			return 0, err
		}
		a.leadTerm.Store(term)
	}
	idx := max(a.raft.CommitIndex(), a.applied())
	if verify {
		if err := a.raft.VerifyLeader().Error(); err != nil {
			return 0, fmt.Errorf("%w: %v", ErrUnavailable, err)
		}
	}
	return idx, nil
}

// termCommitted waits until the log holds an entry of term (the no-op a
// new leader appends) and the commit index has reached it.
func (a *Appliance) termCommitted(term uint64) error {
	deadline := time.Now().Add(a.cfg.HTTP.RequestTimeout.Duration)
	var target uint64 // an index holding an entry of term, once found
	for {
		if target == 0 {
			if last := a.raft.LastIndex(); last > 0 {
				var l raft.Log
				if err := a.logs.GetLog(last, &l); err == nil && l.Term == term {
					target = last
				}
			}
		}
		if target > 0 && a.raft.CommitIndex() >= target {
			return nil
		}
		if a.raft.State() != raft.Leader || a.raft.CurrentTerm() != term {
			return fmt.Errorf("%w: leadership changed", ErrUnavailable)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%w: this leader has not committed an entry of its term yet", ErrUnavailable)
		}
		time.Sleep(time.Millisecond)
	}
}

// JoinRequest is what a node sends to join a cluster.
type JoinRequest struct {
	ID   string `json:"id"`
	Raft string `json:"raft"`
	HTTP string `json:"http"`
}

// Join adds a node as a voter (on the leader; a follower forwards it) and
// records its addresses. Joining again with the same addresses changes
// nothing; with new ones, they replace the old.
func (a *Appliance) Join(ctx context.Context, j JoinRequest) error {
	if j.ID == "" || j.Raft == "" || j.HTTP == "" {
		return errors.New("a join needs id, raft and http")
	}
	if a.raft.State() != raft.Leader {
		body, _ := json.Marshal(j)
		return a.callLeader(ctx, http.MethodPost, "/api/_cluster/join", body, nil)
	}
	f := a.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return err
	}
	member := false
	for _, s := range f.Configuration().Servers {
		switch {
		case s.ID == raft.ServerID(j.ID) && s.Address == raft.ServerAddress(j.Raft):
			member = true
		case s.ID == raft.ServerID(j.ID) || s.Address == raft.ServerAddress(j.Raft):
			if err := a.raft.RemoveServer(s.ID, 0, 10*time.Second).Error(); err != nil {
				return fmt.Errorf("replacing %s: %w", s.ID, err)
			}
		}
	}
	if !member {
		if err := a.raft.AddVoter(raft.ServerID(j.ID), raft.ServerAddress(j.Raft), 0, 10*time.Second).Error(); err != nil {
			return fmt.Errorf("adding %s: %w", j.ID, err)
		}
		a.logger.Info("node joined", "node", j.ID, "raft", j.Raft, "http", j.HTTP)
	}
	return a.recordNode(ctx, j)
}

// recordNode writes a node's addresses as a _Node record when they changed.
func (a *Appliance) recordNode(ctx context.Context, j JoinRequest) error {
	input := map[string]any{"name": j.ID, "raft": j.Raft, "http": j.HTTP}
	old, ok := a.state.GetUnique(rules.NodeModel, "name", j.ID)
	if !ok {
		_, err := a.writeSystem(ctx, "lithair", event.OpCreate, rules.NodeModel, "", nil, input)
		return err
	}
	f := old.Fields()
	if f["raft"] == j.Raft && f["http"] == j.HTTP {
		return nil
	}
	_, err := a.writeSystem(ctx, "lithair", event.OpUpdate, rules.NodeModel, old.ID, f, input)
	return err
}

// joinLoop asks the member at raft.join to add this node, until it has.
// It runs on every start: after a restart it is a no-op for the leader,
// or updates this node's addresses.
func (a *Appliance) joinLoop(self JoinRequest) {
	defer a.wg.Done()
	body, _ := json.Marshal(self)
	base := "http://" + a.cfg.Raft.Join
	wait := 200 * time.Millisecond
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err := a.callNode(ctx, base, http.MethodPost, "/api/_cluster/join", body, nil)
		cancel()
		if err == nil {
			a.logger.Info("joined the cluster", "via", a.cfg.Raft.Join)
			return
		}
		a.logger.Warn("joining the cluster", "via", a.cfg.Raft.Join, "err", err, "retry_in", wait)
		select {
		case <-a.stop:
			return
		case <-time.After(wait):
		}
		wait = min(2*wait, 5*time.Second)
	}
}

// ClusterNode is one member as GET /api/_cluster shows it.
type ClusterNode struct {
	ID          string `json:"id"`
	RaftAddress string `json:"raft_address"`
	HTTPAddress string `json:"http_address,omitempty"`
	Suffrage    string `json:"suffrage"`
	Role        string `json:"role"` // leader or follower, as this node knows it
}

// ClusterStatus is GET /api/_cluster.
type ClusterStatus struct {
	NodeID       string        `json:"node_id"`
	State        string        `json:"state"`
	Leader       string        `json:"leader"`
	Term         uint64        `json:"term"`
	CommitIndex  uint64        `json:"commit_index"`
	AppliedIndex uint64        `json:"applied_index"`
	LastLogIndex uint64        `json:"last_log_index"`
	Nodes        []ClusterNode `json:"nodes"`
}

// Cluster describes the cluster as this node sees it.
func (a *Appliance) Cluster() (*ClusterStatus, error) {
	_, leader := a.raft.LeaderWithID()
	st := &ClusterStatus{NodeID: a.cfg.Raft.NodeID, State: a.raft.State().String(), Leader: string(leader),
		Term: a.raft.CurrentTerm(), CommitIndex: a.raft.CommitIndex(), AppliedIndex: a.applied(),
		LastLogIndex: a.raft.LastIndex(), Nodes: []ClusterNode{}}
	f := a.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return nil, err
	}
	for _, s := range f.Configuration().Servers {
		n := ClusterNode{ID: string(s.ID), RaftAddress: string(s.Address), Suffrage: s.Suffrage.String(), Role: "follower"}
		if s.ID == leader {
			n.Role = "leader"
		}
		if rec, ok := a.state.GetUnique(rules.NodeModel, "name", string(s.ID)); ok {
			n.HTTPAddress, _ = rec.Fields()["http"].(string)
		}
		st.Nodes = append(st.Nodes, n)
	}
	slices.SortFunc(st.Nodes, func(x, y ClusterNode) int { return compareStrings(x.ID, y.ID) })
	return st, nil
}

func compareStrings(x, y string) int {
	switch {
	case x < y:
		return -1
	case x > y:
		return 1
	}
	return 0
}

// ErrUnknownNode refuses removing a node that is not a member.
var ErrUnknownNode = errors.New("no such node in the cluster")

// RemoveNode takes a node out of the cluster (on the leader; a follower
// forwards it) and forgets its addresses.
func (a *Appliance) RemoveNode(ctx context.Context, id string) error {
	if a.raft.State() != raft.Leader {
		body, _ := json.Marshal(map[string]string{"id": id})
		return a.callLeader(ctx, http.MethodPost, "/api/_cluster/remove", body, nil)
	}
	f := a.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return err
	}
	found := false
	for _, s := range f.Configuration().Servers {
		found = found || s.ID == raft.ServerID(id)
	}
	if !found {
		return fmt.Errorf("%w: %s", ErrUnknownNode, id)
	}
	if err := a.raft.RemoveServer(raft.ServerID(id), 0, 10*time.Second).Error(); err != nil {
		return err
	}
	a.logger.Info("node removed", "node", id)
	if rec, ok := a.state.GetUnique(rules.NodeModel, "name", id); ok {
		_, _, err := a.apply(ctx, &event.Command{Op: event.OpDelete, Model: rules.NodeModel, ID: rec.ID, Actor: "lithair", Time: time.Now().UnixNano()})
		return err
	}
	return nil
}

// advertisedHTTP is the address other nodes reach this node's HTTP at.
func advertisedHTTP(cfg Config) string {
	if cfg.HTTP.Advertise != "" {
		return cfg.HTTP.Advertise
	}
	host, port, err := net.SplitHostPort(cfg.HTTP.Listen)
	if err != nil {
		return cfg.HTTP.Listen
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		if rh, _, err := net.SplitHostPort(cfg.Raft.Bind); err == nil {
			host = rh
		}
	}
	return net.JoinHostPort(host, port)
}
