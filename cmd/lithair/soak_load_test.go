package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The soak's load: call, through which every client request is counted,
// timed and judged; the workers at a fixed rate (reads by id, filtered
// lists, creates, PATCHes, deletes); the backups; and the event-stream
// subscribers that hang up and resume.

// call sends one request to l, as admin. ok is false when the answer is a
// 5xx or the request failed; a failure is reported unless a kill or a
// stall of the test process explains it (then cut is true: the write may
// or may not have been done).
func (s *soakRun) call(l *soakLife, kind, method, path, body string) (r response, ok, cut bool) {
	s.count(kind, 1)
	t0 := time.Now()
	r, err := l.n.do(method, path, body)
	if d := time.Since(t0); err == nil {
		s.mu.Lock()
		if d > s.slowest {
			s.slowest, s.slowestWhat = d, method+" "+strings.SplitN(path, "?", 2)[0]
		}
		s.mu.Unlock()
	}
	switch {
	case err != nil && l.killed():
		s.count("cut by a kill", 1)
		return r, false, true
	case err != nil && s.stall.explains(t0):
		s.count("cut by a stall of the test process", 1)
		return r, false, true
	case err != nil:
		s.fail("%s %s (life %d, no kill, no stall): %v", method, path, l.num, err)
		return r, false, false
	case r.Status >= 500:
		s.fail("%s %s (life %d): %d %s", method, path, l.num, r.Status, r.Body)
		return r, false, false
	}
	return r, true, false
}

// worker is one client at a fixed rate. It alone updates and deletes the
// records it created, so it knows what each holds.
func (s *soakRun) worker(w int, stop <-chan struct{}) {
	rng := rand.New(rand.NewPCG(uint64(w), uint64(time.Now().UnixNano())))
	var mine []string
	tick := time.NewTicker(soakTick)
	defer tick.Stop()
	for seq := 0; ; seq++ {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		s.booked(func(l *soakLife) {
			switch p := rng.IntN(100); {
			case p < 5 || (p < 10 && len(mine) == 0):
				if id := s.create(l, w, seq, rng); id != "" {
					mine = append(mine, id)
				}
			case p < 8:
				i := rng.IntN(len(mine))
				if !s.update(l, mine[i], rng) {
					mine = slices.Delete(mine, i, i+1)
				}
			case p < 10:
				s.remove(l, mine[0])
				mine = mine[1:]
			case p < 60:
				s.read(l, rng)
			default:
				s.list(l, rng)
			}
		})
	}
}

func (s *soakRun) create(l *soakLife, w, seq int, rng *rand.Rand) string {
	name := fmt.Sprintf("soak-w%d-%d", w, seq)
	r, ok, cut := s.call(l, "create", "POST", "/api/products", fmt.Sprintf(`{"name":%q,"price":%d,"stock":%d}`, name, rng.IntN(100), seq))
	if cut {
		s.mu.Lock()
		s.unsure++
		s.mu.Unlock()
	}
	if !ok {
		return ""
	}
	var rec struct{ ID string }
	if r.Status != http.StatusCreated || json.Unmarshal(r.Body, &rec) != nil || rec.ID == "" {
		s.fail("create: %d %s", r.Status, r.Body)
		return ""
	}
	s.addLive(rec.ID, soakRecord{name, string(r.Body)})
	return rec.ID
}

// update PATCHes one of the worker's records; false when its state is no
// longer known.
func (s *soakRun) update(l *soakLife, id string, rng *rand.Rand) bool {
	r, ok, cut := s.call(l, "update", "PATCH", "/api/products/"+id, fmt.Sprintf(`{"stock":%d,"price":%d}`, rng.IntN(1000), rng.IntN(100)))
	if cut {
		s.mu.Lock()
		s.dropLiveLocked(id)
		s.unsure++
		s.mu.Unlock()
		return false
	}
	if !ok {
		return true
	}
	if r.Status != http.StatusOK {
		s.fail("PATCH %s: %d %s", id, r.Status, r.Body)
		return true
	}
	s.mu.Lock()
	if rec, ok := s.live[id]; ok {
		s.live[id] = soakRecord{rec.name, string(r.Body)}
	}
	s.mu.Unlock()
	return true
}

func (s *soakRun) remove(l *soakLife, id string) {
	s.dropLive(id) // readers may see it gone from now on
	r, ok, cut := s.call(l, "delete", "DELETE", "/api/products/"+id, "")
	if ok && r.Status != http.StatusNoContent {
		s.fail("DELETE %s: %d %s", id, r.Status, r.Body)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case cut:
		s.unsure++
	case !ok:
	default:
		// Keep a uniform sample of 500 acknowledged deletes to check.
		s.goneSeen++
		if len(s.gone) < 500 {
			s.gone = append(s.gone, id)
		} else if i := rand.IntN(s.goneSeen); i < len(s.gone) {
			s.gone[i] = id
		}
	}
}

// read GETs a record by id: it is there unless it was being deleted.
func (s *soakRun) read(l *soakLife, rng *rand.Rand) {
	id, _, known := s.pick(rng)
	if !known {
		return
	}
	r, ok, _ := s.call(l, "read", "GET", "/api/products/"+id, "")
	if !ok {
		return
	}
	var rec struct{ ID string }
	switch {
	case r.Status == http.StatusOK && json.Unmarshal(r.Body, &rec) == nil && rec.ID == id:
	case r.Status == http.StatusNotFound && !s.isLive(id):
	default:
		s.fail("GET %s: %d %s", id, r.Status, r.Body)
	}
}

// list queries an indexed field: the name of a known record (which must
// be in the answer if it was live throughout), or a price.
func (s *soakRun) list(l *soakLife, rng *rand.Rand) {
	id, rec, known := s.pick(rng)
	if !known {
		return
	}
	field, value := "name", rec.name
	if rng.IntN(3) == 0 {
		field, value = "price", strconv.Itoa(rng.IntN(100))
	}
	r, ok, _ := s.call(l, "list", "GET", "/api/products?limit=50&"+field+"="+url.QueryEscape(value), "")
	if !ok {
		return
	}
	var page listPage
	if r.Status != http.StatusOK || json.Unmarshal(r.Body, &page) != nil {
		s.fail("list %s=%s: %d %s", field, value, r.Status, r.Body)
		return
	}
	found := false
	for _, it := range page.Items {
		if fmt.Sprint(it[field]) != value {
			s.fail("list %s=%s returned %v", field, value, it)
			return
		}
		found = found || it["id"] == id
	}
	if field == "name" && !found && s.isLive(id) {
		s.fail("list name=%s: record %s is missing: %s", value, id, r.Body)
	}
}

// backups downloads a backup every ~30 s.
func (s *soakRun) backups(stop <-chan struct{}) {
	for {
		select {
		case <-stop:
			return
		case <-time.After(soakBackupEvery/2 + rand.N(soakBackupEvery)):
		}
		s.booked(func(l *soakLife) {
			r, ok, _ := s.call(l, "backup", "GET", "/api/_backup", "")
			if ok && (r.Status != http.StatusOK || len(r.Body) == 0) {
				s.fail("backup: %d, %d bytes", r.Status, len(r.Body))
			} else if ok {
				s.count("backup bytes", int64(len(r.Body)))
			}
		})
	}
}

// subscriber follows /api/_events, hangs up after 3–15 s and resumes with
// Last-Event-ID, as EventSource does; a kill ends the stream too.
func (s *soakRun) subscriber(stop <-chan struct{}) {
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr}
	last := uint64(0)
	for {
		select {
		case <-stop:
			return
		default:
		}
		l := s.cur.Load()
		if l.killed() {
			time.Sleep(100 * time.Millisecond)
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second+rand.N(12*time.Second))
		go func() {
			select {
			case <-stop:
			case <-ctx.Done():
			}
			cancel()
		}()
		last = s.follow(ctx, hc, l, last)
		cancel()
	}
}

// follow reads one connection of the event stream and returns the last
// event id it saw.
func (s *soakRun) follow(ctx context.Context, hc *http.Client, l *soakLife, last uint64) uint64 {
	req, _ := http.NewRequestWithContext(ctx, "GET", l.n.baseURL+"/api/_events?model=Product", nil)
	req.Header.Set("Authorization", "Bearer "+l.n.adminToken())
	if last > 0 {
		req.Header.Set("Last-Event-ID", strconv.FormatUint(last, 10))
	}
	s.count("event stream", 1)
	t0 := time.Now()
	resp, err := hc.Do(req)
	switch {
	case err != nil && l.killed():
		s.count("cut by a kill", 1)
		return last
	case err != nil && ctx.Err() != nil:
		return last
	case err != nil && s.stall.explains(t0):
		s.count("cut by a stall of the test process", 1)
		return last
	case err != nil:
		s.fail("GET /api/_events (life %d, no kill): %v", l.num, err)
		return last
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		s.fail("GET /api/_events: %s", resp.Status)
		return last
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<16), 1<<22)
	events, ended := int64(0), ""
	for sc.Scan() {
		field, value, _ := strings.Cut(sc.Text(), ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "id":
			id, err := strconv.ParseUint(value, 10, 64)
			if err != nil || id < last {
				s.fail("event stream: id %q after %d", value, last)
			}
			last = id
		case "data":
			events++
		case "event":
			if value == "dropped" || value == "reset" {
				ended = value
			}
		}
	}
	s.count("events", events)
	switch {
	case ctx.Err() != nil: // we hung up
	case l.killed():
		s.count("cut by a kill", 1)
	case s.stall.explains(t0):
		s.count("cut by a stall of the test process", 1)
	case ended != "":
		s.count("event stream "+ended, 1)
	default:
		s.fail("event stream of life %d ended by the server (no kill): %v", l.num, sc.Err())
	}
	return last
}
