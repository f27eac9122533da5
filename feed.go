package lithair

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/raft"

	"github.com/lithair/lithair/event"
	"github.com/lithair/lithair/index"
)

// The feed tells subscribers (the live event stream) of every record
// change as it is applied.
//
// Publishing runs on the apply goroutine, so it must cost the same with one
// subscriber or a thousand and never wait for any of them. The feed is
// therefore one ring of the last feedRing log entries that changed
// records, shared by all subscribers: publishing stores a pointer and bumps
// a counter (atomics, no lock), and each subscriber reads the ring at its
// own pace. A subscriber that falls more than the ring's length behind
// finds its next slot overwritten and is dropped (ErrDropped): its backlog
// is bounded by the ring, and the writer never learns it existed. Each
// slot carries its sequence number, so a reader never takes a newer entry
// for the one it expected.
//
// A slot is one log entry: a batch changes several records at one index,
// and they are published together once the entry is applied
// (FSM.OnApplied), so a reader never sees half of one. A position in the
// stream is thus always a log index: Position says up to which index a
// subscriber has had every change.
//
// A subscriber that resumes after a log index first replays the changes
// already applied, from the log and its archive, then goes on with the
// ring. Subscribing joins the ring and then reads the applied index
// (start), in that order: a change applied at or before start is in the
// log for the replay; one applied after it finds the subscriber counted
// and is published after it joined. Ring entries at or below start are the
// replay's and are skipped, so nothing comes twice and nothing is missed.
// A replayed command counts only if the record's history in the state
// holds its index: refused commands changed nothing and are not shown.
//
// Lithair's own models (users, tokens, sessions) carry secrets and are
// never published.

// feedRing is how many log entries the ring keeps: how far behind the
// newest a subscriber may fall before it is dropped. A power of two.
const feedRing = 4096

// Replay reads the log in batches: replayBatch entries at a time from the
// live log, or up to replayArchiveBytes per pass over the archive, which
// decompresses a whole segment for each pass.
const (
	replayBatch        = 512
	replayArchiveBytes = 8 << 20
	// historyCache bounds the record histories a replay keeps at hand.
	historyCache = 4096
)

// Errors a Subscription reports.
var (
	// ErrDropped means the subscriber fell too far behind the writers and
	// was dropped; it may subscribe again after its Position.
	ErrDropped = errors.New("lithair: subscriber fell too far behind and was dropped")
	// ErrFeedClosed means the node is stopping.
	ErrFeedClosed = errors.New("lithair: the node is stopping")
	// ErrReplayGap means the changes to replay are gone: compacted out of
	// the log and removed from its archive by retention, or the index asked
	// for is beyond this node's log. The subscription goes on with the
	// changes after its start; the caller should re-read the state.
	ErrReplayGap = errors.New("lithair: the changes after that index are no longer in the log")
)

// Change is one applied change of a record, as the live event stream
// tells it. A Change is shared by every subscriber: never modify one.
type Change struct {
	Index   uint64 // the log index of the command
	Kind    event.Kind
	Model   string
	ID      string
	Version uint64 // the record's version after the change (unchanged by a delete)
	Time    int64  // Unix nanoseconds, the leader's clock
	Actor   string
	// Fields is the record's fields after the change; nil for a delete.
	Fields json.RawMessage
	// Removed is, for a delete, the fields the record had: what a read
	// permission judges. It is not meant to be shown.
	Removed json.RawMessage
}

// slot is one log entry's changes in the ring.
type slot struct {
	seq     uint64 // position in the ring
	index   uint64
	changes []*Change
}

// loggedCommand is one entry read back from the log; c is nil for entries
// that are not commands (noops, configurations) or do not decode.
type loggedCommand struct {
	idx uint64
	c   *event.Command
}

// feed is the ring and what a replay reads from.
type feed struct {
	ring []atomic.Pointer[slot]
	next atomic.Uint64 // sequence number of the next slot published
	subs atomic.Int64  // open subscriptions; with none nothing is kept
	// pending collects the entry being applied; only the apply goroutine
	// touches it.
	pending *slot

	// Waking: a reader that caught up takes wake under mu and sets
	// waiting; the next publish closes wake and makes a new one.
	mu      sync.Mutex
	wake    chan struct{}
	waiting atomic.Bool

	done <-chan struct{} // closed when the node stops

	state   *index.State
	system  func(model string) bool
	read    func(from, to uint64) ([]loggedCommand, error)
	command func(idx uint64) (*event.Command, error)
}

func newFeed(size int, done <-chan struct{}, state *index.State, system func(string) bool,
	read func(from, to uint64) ([]loggedCommand, error), command func(uint64) (*event.Command, error)) *feed {
	if size <= 0 || size&(size-1) != 0 {
		panic("lithair: feed ring size must be a power of two")
	}
	return &feed{ring: make([]atomic.Pointer[slot], size), wake: make(chan struct{}), done: done,
		state: state, system: system, read: read, command: command}
}

// onApply is Machine.OnApply: it collects the changes of the entry being
// applied. It runs on the apply goroutine, alone: the ring has one writer.
func (f *feed) onApply(idx uint64, c *event.Command, applied index.Applied) {
	if f.pending != nil && f.pending.index != idx {
		f.entryApplied(f.pending.index) // an entry whose end was not told
	}
	if f.subs.Load() == 0 || f.system(c.Model) {
		return
	}
	ch := &Change{Index: idx, Kind: applied.Kind, Model: c.Model, ID: c.ID, Time: c.Time, Actor: c.Actor}
	if applied.Kind == event.Deleted {
		ch.Version, ch.Removed = applied.Old.Version, applied.Old.RawFields()
	} else {
		ch.Version, ch.Fields = applied.New.Version, c.Fields
	}
	if f.pending == nil {
		f.pending = &slot{index: idx}
	}
	f.pending.changes = append(f.pending.changes, ch)
}

// entryApplied is FSM.OnApplied: the entry at idx is applied, so its
// changes go out together.
func (f *feed) entryApplied(idx uint64) {
	p := f.pending
	if p == nil || p.index > idx {
		return
	}
	f.pending = nil
	f.publish(p)
}

// publish puts p in the ring and wakes the readers waiting for it.
func (f *feed) publish(p *slot) {
	n := f.next.Load()
	p.seq = n
	f.ring[n&uint64(len(f.ring)-1)].Store(p)
	f.next.Store(n + 1)
	if f.waiting.Load() {
		f.mu.Lock()
		if f.waiting.Load() {
			close(f.wake)
			f.wake = make(chan struct{})
			f.waiting.Store(false)
		}
		f.mu.Unlock()
	}
}

// maxReplay bounds how many log entries a resume reads back; a client
// further behind is told to re-list (ErrReplayGap) and follows live.
const maxReplay = 100_000

// subscribe joins the ring; with resume, the changes after log index
// after that are already applied are replayed first.
func (f *feed) subscribe(after uint64, resume bool) *Subscription {
	// The order matters: see the comment at the top of the file.
	f.subs.Add(1)
	s := &Subscription{f: f, seq: f.next.Load()}
	s.start = f.state.AppliedIndex()
	s.pos, s.replayNext = s.start, s.start+1
	if resume {
		switch {
		case after > s.start:
			s.gap, s.pos = true, after
		case s.start-after > maxReplay:
			// Reading that much of the log back for one client (anyone
			// may ask) costs more than the client re-listing.
			s.gap = true
		default:
			s.pos, s.replayNext = after, after+1
		}
	}
	return s
}

// Subscribe follows the record changes applied from now on. The caller
// must Close the subscription.
func (a *Appliance) Subscribe() *Subscription { return a.feed.subscribe(0, false) }

// SubscribeAfter follows every record change after log index after: those
// already applied are read back from the log (and its archive) first, then
// the live ones follow without a gap or a repeat. The caller must Close
// the subscription.
func (a *Appliance) SubscribeAfter(after uint64) *Subscription { return a.feed.subscribe(after, true) }

// Subscription is one reader of the feed. It is not safe for concurrent
// use.
type Subscription struct {
	f     *feed
	seq   uint64 // the next ring slot to read
	start uint64 // the applied index when it began
	// pos is the log index up to which every change has been returned,
	// once the backlog is through.
	pos uint64
	// backlog holds changes read (from the log or a ring slot, which it
	// may share: never written to) and not yet returned, from at on.
	backlog []*Change
	at      int
	// The replay: log indexes replayNext..start remain.
	replayNext uint64
	histories  map[string][]index.EventRef
	gap        bool  // ErrReplayGap is still to be reported
	err        error // final: ErrDropped, ErrFeedClosed, a read failure
	closed     bool
}

// Start is the applied index when the subscription began: live changes
// follow it, replayed ones lead up to it.
func (s *Subscription) Start() uint64 { return s.start }

// Position is the log index up to which Next has returned every change:
// the index to resume after. Changes of one index (a batch) are returned
// one by one, and Position reaches it with the last.
func (s *Subscription) Position() uint64 {
	if s.at < len(s.backlog) {
		return s.backlog[s.at].Index - 1
	}
	return s.pos
}

// Next returns the next change without waiting: replayed ones first, then
// live ones, in log order. It returns nil and no error when there is none
// yet; Wait tells when to call it again. ErrReplayGap is reported once and
// the subscription goes on; any other error is final.
func (s *Subscription) Next() (*Change, error) {
	if s.err != nil {
		return nil, s.err
	}
	select {
	case <-s.f.done:
		s.err = ErrFeedClosed
		return nil, s.err
	default:
	}
	if s.gap {
		s.gap, s.pos = false, s.start
		return nil, fmt.Errorf("%w: this node's log ends at index %d", ErrReplayGap, s.start)
	}
	for s.at == len(s.backlog) && s.replayNext <= s.start {
		if s.f.next.Load()-s.seq > uint64(len(s.f.ring)) {
			// Lapped while replaying: no use reading on.
			s.err = ErrDropped
			return nil, s.err
		}
		if err := s.refill(); err != nil {
			s.replayNext, s.histories, s.pos = s.start+1, nil, s.start
			s.backlog, s.at = nil, 0
			if errors.Is(err, ErrReplayGap) {
				return nil, err
			}
			s.err = err
			return nil, err
		}
	}
	for s.at == len(s.backlog) {
		s.histories = nil
		if s.seq == s.f.next.Load() {
			return nil, nil
		}
		sl := s.f.ring[s.seq&uint64(len(s.f.ring)-1)].Load()
		if sl == nil || sl.seq != s.seq {
			// Overwritten by an entry feedRing places further on.
			s.err = ErrDropped
			return nil, s.err
		}
		s.seq++
		if sl.index > s.start {
			s.backlog, s.at, s.pos = sl.changes, 0, sl.index
		}
	}
	c := s.backlog[s.at]
	s.at++
	return c, nil
}

// Wait returns a channel that is closed once Next may have something new.
func (s *Subscription) Wait() <-chan struct{} {
	f := s.f
	f.mu.Lock()
	f.waiting.Store(true)
	ch := f.wake
	f.mu.Unlock()
	// Checked after waiting is set: a publish that this load misses sees
	// waiting and closes ch.
	if s.err != nil || s.gap || s.at < len(s.backlog) || s.replayNext <= s.start || f.next.Load() > s.seq {
		return closedChan
	}
	return ch
}

var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// Done is closed when the node stops.
func (s *Subscription) Done() <-chan struct{} { return s.f.done }

// Close ends the subscription.
func (s *Subscription) Close() {
	if !s.closed {
		s.closed = true
		s.f.subs.Add(-1)
		s.backlog, s.histories = nil, nil
	}
}

// refill reads the next batch of the log into the backlog.
func (s *Subscription) refill() error {
	batch, err := s.f.read(s.replayNext, s.start)
	if err != nil {
		return err
	}
	if len(batch) == 0 || batch[0].idx != s.replayNext {
		return fmt.Errorf("%w: index %d", ErrReplayGap, s.replayNext)
	}
	var out []*Change
	for _, lc := range batch {
		if lc.idx > s.start {
			break
		}
		s.replayNext = lc.idx + 1
		if lc.c == nil {
			continue
		}
		for _, op := range lc.c.Ops() {
			if c := s.replayed(lc.idx, op); c != nil {
				out = append(out, c)
			}
		}
	}
	s.backlog, s.at, s.pos = out, 0, s.replayNext-1
	return nil
}

// replayed turns one record command read back from the log into the
// change it made, or nil if it made none that may be shown.
func (s *Subscription) replayed(idx uint64, c *event.Command) *Change {
	if c.Op == event.OpRules || s.f.system(c.Model) {
		return nil
	}
	refs := s.history(c.Model, c.ID)
	i := sort.Search(len(refs), func(i int) bool { return refs[i].Index >= idx })
	if i == len(refs) || refs[i].Index != idx {
		return nil // refused: it changed nothing
	}
	ref := refs[i]
	ch := &Change{Index: idx, Kind: ref.Kind, Model: c.Model, ID: c.ID, Version: ref.Version, Time: c.Time, Actor: c.Actor}
	if ref.Kind != event.Deleted {
		ch.Fields = c.Fields
	} else if i > 0 {
		// A delete carries no fields; the read permission judges the
		// record as it last was.
		if prev, err := s.f.command(refs[i-1].Index); err == nil {
			if op := prev.For(c.Model, c.ID); op != nil {
				ch.Removed = op.Fields
			}
		}
	}
	return ch
}

// history returns a record's events, keeping the last few at hand: a
// replay meets the same records again and again.
func (s *Subscription) history(model, id string) []index.EventRef {
	key := model + "\x00" + id
	if refs, ok := s.histories[key]; ok {
		return refs
	}
	if s.histories == nil || len(s.histories) >= historyCache {
		s.histories = map[string][]index.EventRef{}
	}
	refs, _, _ := s.f.state.History(model, id)
	s.histories[key] = refs
	return refs
}

// systemModel reports whether the feed must keep quiet about a model:
// Lithair's own (users, tokens, sessions), or any before rules exist.
func (a *Appliance) systemModel(name string) bool {
	set := a.fsm.Rules()
	if set == nil {
		return true
	}
	m := set.Model(name)
	return m != nil && m.System
}

// readCommands reads log entries from index from on, up to to, for a
// replay: from the live log, or from the archive below its first index.
// It returns at least the entry at from, or ErrReplayGap when the log and
// the archive no longer hold it.
func (a *Appliance) readCommands(from, to uint64) ([]loggedCommand, error) {
	if first := a.log.FirstIndex(); first != 0 && from >= first {
		var out []loggedCommand
		for idx := from; idx <= to && len(out) < replayBatch; idx++ {
			var l raft.Log
			err := a.logs.GetLog(idx, &l)
			if errors.Is(err, raft.ErrLogNotFound) && len(out) > 0 {
				return out, nil // compacted meanwhile: the next call reads the archive
			}
			if first := a.log.FirstIndex(); errors.Is(err, raft.ErrLogNotFound) && (first == 0 || first > idx) {
				return a.readArchived(from, to)
			}
			if err != nil {
				return nil, fmt.Errorf("%w: index %d: %v", ErrReplayGap, idx, err)
			}
			lc := loggedCommand{idx: idx}
			if l.Type == raft.LogCommand {
				lc.c, _ = event.Decode(l.Data)
			}
			out = append(out, lc)
		}
		return out, nil
	}
	return a.readArchived(from, to)
}

// readArchived reads entries from index from on with one pass of Scan,
// which holds the log's truncation lock: the batch is only collected
// there, and handed on once the pass is over.
func (a *Appliance) readArchived(from, to uint64) ([]loggedCommand, error) {
	var out []loggedCommand
	size := 0
	err := a.log.Scan(from, func(idx uint64, data []byte) bool {
		if idx > to {
			return false
		}
		lc := loggedCommand{idx: idx}
		if e := decodeLogEntry(idx, data); e.Command != nil {
			lc.c = e.Command.Command
		}
		out = append(out, lc)
		size += len(data)
		return size < replayArchiveBytes
	})
	if err != nil {
		return nil, err
	}
	if len(out) == 0 || out[0].idx != from {
		return nil, fmt.Errorf("%w: index %d", ErrReplayGap, from)
	}
	return out, nil
}
