package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// sseMessage is one message of an event stream as EventSource dispatches
// it: ID is the last event id after it (ids persist between messages).
type sseMessage struct {
	ID, Event, Data string
}

// change decodes a message's data.
func (m sseMessage) change(t *testing.T) map[string]any {
	t.Helper()
	var c map[string]any
	if err := json.Unmarshal([]byte(m.Data), &c); err != nil {
		t.Fatalf("event data is not a JSON object: %v: %q", err, m.Data)
	}
	return c
}

// eventStream reads GET /api/_events over real HTTP, in the background.
type eventStream struct {
	t      *testing.T
	resp   *http.Response
	cancel context.CancelFunc
	msgs   chan sseMessage // every dispatched message, also id-only ones
}

// openEvents opens a stream with headers (pairs); it is anonymous unless
// they carry an Authorization. The caller checks resp.StatusCode.
func openEvents(t *testing.T, n *node, path string, headers ...string) *eventStream {
	t.Helper()
	s := dialEvents(t, n, path, headers...)
	if s.resp.StatusCode == http.StatusOK {
		go s.read(s.resp.Body)
	}
	return s
}

// dialEvents opens a stream without reading it.
func dialEvents(t *testing.T, n *node, path string, headers ...string) *eventStream {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, "GET", n.baseURL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	// No client timeout: a stream lasts.
	resp, err := (&http.Client{Transport: &http.Transport{}}).Do(req)
	if err != nil {
		cancel()
		t.Fatalf("GET %s: %v", path, err)
	}
	s := &eventStream{t: t, resp: resp, cancel: cancel, msgs: make(chan sseMessage, 100000)}
	t.Cleanup(s.close)
	return s
}

func (s *eventStream) close() {
	s.cancel()
	s.resp.Body.Close()
}

// read parses the stream as the SSE spec says and closes msgs at its end.
func (s *eventStream) read(body io.Reader) {
	defer close(s.msgs)
	sc := bufio.NewScanner(body)
	sc.Buffer(make([]byte, 1<<16), 1<<22)
	var id, ev string
	var data []string
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			s.msgs <- sseMessage{ID: id, Event: ev, Data: strings.Join(data, "\n")}
			ev, data = "", nil
			continue
		}
		if strings.HasPrefix(line, ":") {
			continue
		}
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "id":
			id = value
		case "event":
			ev = value
		case "data":
			data = append(data, value)
		}
	}
}

// next returns the next message that carries data; ok is false when the
// stream ended or nothing came within wait.
func (s *eventStream) next(wait time.Duration) (sseMessage, bool) {
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		select {
		case m, open := <-s.msgs:
			if !open {
				return sseMessage{}, false
			}
			if m.Data != "" {
				return m, true
			}
		case <-timer.C:
			return sseMessage{}, false
		}
	}
}

// take returns the next k data messages or fails.
func (s *eventStream) take(k int) []sseMessage {
	s.t.Helper()
	var out []sseMessage
	for len(out) < k {
		m, ok := s.next(15 * time.Second)
		if !ok {
			s.t.Fatalf("stream ended or went quiet after %d of %d messages: %+v", len(out), k, out)
		}
		out = append(out, m)
	}
	return out
}

// firstID waits for the stream's first message (retry and position) and
// returns the event id it sets.
func (s *eventStream) firstID() string {
	s.t.Helper()
	select {
	case m := <-s.msgs:
		return m.ID
	case <-time.After(10 * time.Second):
		s.t.Fatal("no first message")
		return ""
	}
}

// want is one expected change.
type want struct{ kind, model, id string }

// checkChanges checks messages against the changes expected, in order,
// with ids that are the changes' log indexes and grow.
func checkChanges(t *testing.T, who string, got []sseMessage, wants []want) []map[string]any {
	t.Helper()
	var out []map[string]any
	last := uint64(0)
	for i, m := range got {
		c := m.change(t)
		idx, err := strconv.ParseUint(m.ID, 10, 64)
		if err != nil || fmt.Sprint(c["index"]) != m.ID || idx <= last {
			t.Fatalf("%s: message %d has id %q, index %v, after %d", who, i, m.ID, c["index"], last)
		}
		last = idx
		w := wants[i]
		if m.Event != w.kind || c["kind"] != w.kind || c["model"] != w.model || (w.id != "" && c["id"] != w.id) {
			t.Fatalf("%s: message %d is %s %s, want %+v", who, i, m.Event, m.Data, w)
		}
		if _, has := c["fields"]; has == (w.kind == "deleted") {
			t.Fatalf("%s: message %d: fields on a %s: %s", who, i, w.kind, m.Data)
		}
		out = append(out, c)
	}
	return out
}

func mustStatus(t *testing.T, r response, status int, what string) map[string]any {
	t.Helper()
	if r.Status != status {
		t.Fatalf("%s: %d %s", what, r.Status, r.Body)
	}
	if len(r.Body) == 0 {
		return nil
	}
	return r.json(t)
}

func TestEventStreamFollowsWritesAsTheyHappen(t *testing.T) {
	n := startNode(t, t.TempDir())
	admin := bearer(n.adminToken())
	anon := openEvents(t, n, "/api/_events")
	if anon.resp.StatusCode != 200 {
		t.Fatalf("GET /api/_events: %d", anon.resp.StatusCode)
	}
	for k, v := range map[string]string{"Content-Type": "text/event-stream", "Cache-Control": "no-store", "X-Accel-Buffering": "no"} {
		if got := anon.resp.Header.Get(k); got != v {
			t.Errorf("%s: %q, want %q", k, got, v)
		}
	}
	staff := openEvents(t, n, "/api/_events", admin...)
	categories := openEvents(t, n, "/api/_events?model=Category", admin...)

	// Another client writes while the streams are read.
	type written struct {
		ids []string
		err error
	}
	done := make(chan written, 1)
	go func() {
		var w written
		post := func(method, path, body string, status int) string {
			r, err := n.do(method, path, body, admin...)
			if err == nil && r.Status != status {
				err = fmt.Errorf("%s %s: %d %s", method, path, r.Status, r.Body)
			}
			if err != nil && w.err == nil {
				w.err = err
			}
			var rec struct{ ID string }
			json.Unmarshal(r.Body, &rec)
			return rec.ID
		}
		for i := range 5 {
			w.ids = append(w.ids, post("POST", "/api/products", fmt.Sprintf(`{"name":"p%d","price":%d,"cost":3}`, i, 10+i), 201))
		}
		post("PATCH", "/api/products/"+w.ids[0], `{"stock":7}`, 200)
		post("DELETE", "/api/products/"+w.ids[1], "", 204)
		post("POST", "/api/_users", `{"name":"carol","password":"carol-password","roles":["customer"]}`, 201)
		w.ids = append(w.ids, post("POST", "/api/categories", `{"name":"lamps"}`, 201))
		done <- w
	}()
	got := anon.take(8)
	w := <-done
	if w.err != nil {
		t.Fatal(w.err)
	}
	wants := []want{{"created", "Product", w.ids[0]}, {"created", "Product", w.ids[1]}, {"created", "Product", w.ids[2]},
		{"created", "Product", w.ids[3]}, {"created", "Product", w.ids[4]}, {"updated", "Product", w.ids[0]},
		{"deleted", "Product", w.ids[1]}, {"created", "Category", w.ids[5]}}
	// The user made between the delete and the category is not there:
	// Lithair's own records carry password hashes and are never streamed.
	for i, c := range checkChanges(t, "anonymous", got, wants) {
		if f, ok := c["fields"].(map[string]any); ok {
			if _, has := f["cost"]; has {
				t.Errorf("anonymous stream shows cost, readable by editors only: %s", got[i].Data)
			}
		}
	}
	if c := got[5].change(t); c["version"] != 2.0 || c["actor"] == "" || c["time"] == "" {
		t.Errorf("update: %s", got[5].Data)
	}
	staffGot := staff.take(8)
	for i, c := range checkChanges(t, "admin", staffGot, wants) {
		if i < 5 && c["fields"].(map[string]any)["cost"] != 3.0 {
			t.Errorf("admin stream lacks cost: %s", staffGot[i].Data)
		}
	}
	checkChanges(t, "?model=Category", categories.take(1), wants[7:])

	// One record: ?model=&id=.
	one := openEvents(t, n, "/api/_events?model=Product&id="+w.ids[2], admin...)
	one.firstID()
	mustStatus(t, n.must("PATCH", "/api/products/"+w.ids[3], `{"stock":1}`), 200, "patch another")
	mustStatus(t, n.must("PATCH", "/api/products/"+w.ids[2], `{"stock":2}`), 200, "patch it")
	checkChanges(t, "?id=", one.take(1), []want{{"updated", "Product", w.ids[2]}})

	for _, q := range []string{"?model=Nope", "?model=_User", "?model=Product,Nope", "?id=" + w.ids[0], "?model=Product,Category&id=x", "?since=3", "?last_event_id=abc"} {
		r := n.must("GET", "/api/_events"+q, "")
		if r.Status != 400 {
			t.Errorf("GET /api/_events%s: %d %s, want 400", q, r.Status, r.Body)
		}
		if strings.Contains(q, "Nope") && !strings.Contains(string(r.Body), "Nope") {
			t.Errorf("GET /api/_events%s does not name the model: %s", q, r.Body)
		}
	}
	if r := n.must("GET", "/api/_events", "", "Last-Event-ID", "x1"); r.Status != 400 {
		t.Errorf("a bad Last-Event-ID: %d %s", r.Status, r.Body)
	}
}

func TestEventStreamShowsEachCallerOnlyWhatItMayRead(t *testing.T) {
	n := startNode(t, t.TempDir())
	for _, u := range []string{"alice", "bob"} {
		mustStatus(t, n.must("POST", "/api/_users", `{"name":"`+u+`","password":"`+u+`-password","roles":["customer"]}`), 201, "user "+u)
	}
	alice, bob := bearer(login(t, n, "alice", "alice-password")), bearer(login(t, n, "bob", "bob-password"))
	if r := n.must("GET", "/api/_events?model=Order", "", anonymous...); r.Status != 401 {
		t.Fatalf("anonymous ?model=Order: %d %s, want 401", r.Status, r.Body)
	}
	aliceOrders := openEvents(t, n, "/api/_events?model=Order", alice...)
	aliceAll := openEvents(t, n, "/api/_events", alice...)
	anon := openEvents(t, n, "/api/_events", anonymous...)
	aliceOrders.firstID()
	aliceAll.firstID()
	anon.firstID()

	b1 := mustStatus(t, n.must("POST", "/api/orders", `{"product_id":"x","quantity":1}`, bob...), 201, "bob's order")["id"].(string)
	a1 := mustStatus(t, n.must("POST", "/api/orders", `{"product_id":"x","quantity":2}`, alice...), 201, "alice's order")["id"].(string)
	mustStatus(t, n.must("PATCH", "/api/orders/"+a1, `{"status":"paid"}`), 200, "admin pays alice's order")
	mustStatus(t, n.must("PATCH", "/api/orders/"+b1, `{"status":"paid"}`), 200, "admin pays bob's order")
	mustStatus(t, n.must("DELETE", "/api/orders/"+b1, ""), 204, "admin deletes bob's order")
	p := mustStatus(t, n.must("POST", "/api/products", `{"name":"lamp","price":5,"cost":2}`), 201, "product")["id"].(string)
	a2 := mustStatus(t, n.must("POST", "/api/orders", `{"product_id":"x","quantity":3}`, alice...), 201, "alice's second order")["id"].(string)

	mine := []want{{"created", "Order", a1}, {"updated", "Order", a1}, {"created", "Order", a2}}
	checkChanges(t, "alice, orders", aliceOrders.take(3), mine)
	for i, c := range checkChanges(t, "alice, everything", aliceAll.take(4), []want{mine[0], mine[1], {"created", "Product", p}, mine[2]}) {
		if c["model"] == "Order" && c["fields"].(map[string]any)["customer"] == nil {
			t.Errorf("alice's order without its customer: %v", i)
		}
		if c["model"] == "Product" {
			if _, has := c["fields"].(map[string]any)["cost"]; has {
				t.Errorf("a customer sees cost: %v", c)
			}
		}
	}
	// Anonymous callers may not read orders at all: the product is all.
	checkChanges(t, "anonymous", anon.take(1), []want{{"created", "Product", p}})
}

func TestEventStreamResumesAfterLastEventID(t *testing.T) {
	n := startNode(t, t.TempDir())
	admin := bearer(n.adminToken())
	all := openEvents(t, n, "/api/_events", admin...)
	create := func(name string) string {
		return mustStatus(t, n.must("POST", "/api/products", `{"name":"`+name+`","price":1}`), 201, "create")["id"].(string)
	}

	// A client that has not seen any change yet still knows where it is:
	// the first message carries the position the stream starts after.
	early := openEvents(t, n, "/api/_events", admin...)
	start := early.firstID()
	early.close()
	first := create("a")

	cut := openEvents(t, n, "/api/_events", admin...)
	cut.firstID()
	create("b")
	create("c")
	seen := cut.take(2)
	cut.close()
	// Written while the client is away.
	d := create("d")
	mustStatus(t, n.must("PATCH", "/api/products/"+first, `{"price":2}`), 200, "update a")
	mustStatus(t, n.must("DELETE", "/api/products/"+d, ""), 204, "delete d")
	create("e")
	ref := all.take(7)

	fromStart := openEvents(t, n, "/api/_events", append(admin, "Last-Event-ID", start)...)
	if got := fromStart.take(7); !sameMessages(got, ref) {
		t.Fatalf("resumed from the first message's id %s:\n got %+v\nwant %+v", start, got, ref)
	}
	resumed := openEvents(t, n, "/api/_events", append(admin, "Last-Event-ID", seen[1].ID)...)
	got := resumed.take(4)
	if !sameMessages(got, ref[3:]) {
		t.Fatalf("resumed after %s:\n got %+v\nwant %+v", seen[1].ID, got, ref[3:])
	}
	// Resuming goes on live, without a repeat.
	f := create("f")
	checkChanges(t, "after the replay", resumed.take(1), []want{{"created", "Product", f}})
	byQuery := openEvents(t, n, "/api/_events?last_event_id="+ref[0].ID, admin...)
	if got := byQuery.take(7); !sameMessages(got[:6], ref[1:]) || got[6].change(t)["id"] != f {
		t.Fatalf("?last_event_id=%s: %+v", ref[0].ID, got)
	}
	// A position this node's log never reached: start over.
	ahead := openEvents(t, n, "/api/_events", append(admin, "Last-Event-ID", "999999")...)
	if m, ok := ahead.next(10 * time.Second); !ok || m.Event != "reset" {
		t.Fatalf("Last-Event-ID beyond the log: %+v, want a reset", m)
	}
}

func sameMessages(a, b []sseMessage) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestEventStreamDropsAClientThatStopsReading(t *testing.T) {
	// The writes below go faster than the firewall's default rate limit.
	noLimit := []string{"--set", "firewall.rate=0"}
	n := startNode(t, t.TempDir(), noLimit...)
	admin := bearer(n.adminToken())
	stalled := dialEvents(t, n, "/api/_events", admin...)
	if stalled.resp.StatusCode != 200 {
		t.Fatalf("GET /api/_events: %d", stalled.resp.StatusCode)
	}
	// Large records first, to fill the socket buffers between the server
	// and the client that does not read, so that the server's writes to
	// it block.
	body := strings.Repeat("x", 90000)
	for i := range 80 {
		mustStatus(t, n.must("POST", "/api/articles", fmt.Sprintf(`{"title":"article %d","slug":"a-%d","body":"%s"}`, i, i, body)), 201, "article")
	}
	// Then more entries than the feed's ring holds (4096), from 16
	// writers, timed against the same writes with no stream open.
	rate := func(n *node, writes int) float64 {
		admin := bearer(n.adminToken())
		start := time.Now()
		var wg sync.WaitGroup
		errs := make(chan error, 16)
		for w := range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := w; i < writes; i += 16 {
					r, err := n.do("POST", "/api/products", fmt.Sprintf(`{"name":"p%d","price":1}`, i), admin...)
					if err == nil && r.Status != 201 {
						err = fmt.Errorf("%d %s", r.Status, r.Body)
					}
					if err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		wg.Wait()
		select {
		case err := <-errs:
			t.Fatal(err)
		default:
		}
		return float64(writes) / time.Since(start).Seconds()
	}
	during := rate(n, 4400)

	// The client reads again: what was buffered, then the final message.
	go stalled.read(stalled.resp.Body)
	var last sseMessage
	got := 0
	for {
		m, ok := stalled.next(30 * time.Second)
		if !ok {
			t.Fatalf("the stream ended without a dropped message after %d changes", got)
		}
		if m.Event == "dropped" {
			last = m
			break
		}
		got++
		last = m
	}
	var drop struct {
		LastEventID uint64 `json:"last_event_id"`
		Message     string
	}
	if err := json.Unmarshal([]byte(last.Data), &drop); err != nil || strconv.FormatUint(drop.LastEventID, 10) != last.ID || drop.Message == "" {
		t.Fatalf("dropped message: %+v", last)
	}
	if _, ok := stalled.next(5 * time.Second); ok {
		t.Fatal("the stream went on after the dropped message")
	}
	// Resuming where it was dropped delivers the rest, from the log.
	resumed := openEvents(t, n, "/api/_events", append(admin, "Last-Event-ID", last.ID)...)
	rest := resumed.take(80 + 4400 - got)
	if first := rest[0].change(t)["index"].(float64); uint64(first) <= drop.LastEventID {
		t.Fatalf("resumed at %v, not after %d", first, drop.LastEventID)
	}
	t.Logf("dropped after %d of %d changes; %d replayed on resuming", got, 80+4400, len(rest))

	// The same writes, fewer of them, on a node with no stream open: the
	// stalled client must not have slowed the writers. Logged, not
	// asserted: the machine is shared.
	quiet := rate(startNode(t, t.TempDir(), noLimit...), 2000)
	t.Logf("writes with no stream open: %.0f/s; with a stalled client: %.0f/s (ratio %.2f)", quiet, during, during/quiet)
}

func TestEventStreamEndsWhenTheNodeStops(t *testing.T) {
	n := startNode(t, t.TempDir())
	s := openEvents(t, n, "/api/_events")
	s.firstID()
	start := time.Now()
	n.stop()
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("SIGTERM with a stream open took %v: the drain waited for the stream", took)
	}
	if _, ok := s.next(5 * time.Second); ok {
		t.Fatal("the stream went on")
	}
}

func TestEventStreamShowsABatchAtOneIndex(t *testing.T) {
	n := startNode(t, t.TempDir())
	admin := bearer(n.adminToken())
	s := openEvents(t, n, "/api/_events", admin...)
	before := s.firstID()
	r := n.must("POST", "/api/_batch", `{"operations":[
		{"op":"create","model":"Product","fields":{"name":"a","price":1}},
		{"op":"create","model":"Category","fields":{"name":"c"}},
		{"op":"create","model":"Product","fields":{"name":"b","price":2}}]}`)
	mustStatus(t, r, 200, "batch")
	got := s.take(3)
	idx := fmt.Sprint(got[0].change(t)["index"])
	for i, m := range got {
		c := m.change(t)
		if fmt.Sprint(c["index"]) != idx || m.Event != "created" {
			t.Fatalf("batch change %d: %+v", i, m)
		}
		// Only the last change moves Last-Event-ID: a client cut off
		// inside the batch resumes before it and gets all of it again.
		if want := map[bool]string{true: idx, false: before}[i == 2]; m.ID != want {
			t.Fatalf("batch change %d has Last-Event-ID %s, want %s", i, m.ID, want)
		}
	}
	again := openEvents(t, n, "/api/_events", append(admin, "Last-Event-ID", got[1].ID)...)
	if replayed := again.take(3); !sameMessages(replayed, got) {
		t.Fatalf("resumed inside a batch:\n got %+v\nwant %+v", replayed, got)
	}
}
