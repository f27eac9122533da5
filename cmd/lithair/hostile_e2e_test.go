package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestHostileRequests runs one node and sends it what a broken or hostile
// client sends: malformed bodies, forged credentials, requests for what
// the caller may not do or see, sneaky paths, odd methods and headers,
// cross-site writes. Every answer must be the status the contract names
// (or a 4xx), never a 5xx, never a dropped connection, a JSON error body
// for the API's own 4xx answers, and a request that must not write leaves
// the applied index and the state hash as they were.
//
// Requests go over raw TCP, so paths, methods and headers reach the
// server byte for byte as written (net/http's client would clean or
// refuse some of them).
func TestHostileRequests(t *testing.T) {
	n := startNode(t, t.TempDir(), hostileServeFlags(t)...)
	start := time.Now()
	w := newHostileWorld(t, n)

	var writing, reading []hostileCase
	for _, c := range w.cases() {
		if c.writes {
			writing = append(writing, c)
		} else {
			reading = append(reading, c)
		}
	}
	rep := &hostileReport{}
	for _, c := range writing {
		w.judge(c, rep)
	}
	w.runBatches(reading, rep)
	// Last: it leaves the node slower for every later order.
	w.hugeExponent(rep)

	rep.fail(t)
	t.Logf("hostile requests: %d cases (%d generated, %d written by hand; %d may write, %d checked for no write in batches of %d), %d requests in %s after the node started",
		len(writing)+len(reading), w.generated, len(writing)+len(reading)-w.generated, len(writing), len(reading), hostileBatch,
		w.requests.Load(), time.Since(start).Round(time.Millisecond))
}

// hostileServeFlags turns off the rules watcher (another engineer's edit
// of configs/rules would deploy new rules mid-test and move the applied
// index) and, where this build has them, the firewall's rate limits,
// which would otherwise answer part of the flood with 429.
func hostileServeFlags(t *testing.T) []string {
	flags := []string{"--set", "rules.watch=false"}
	limits := []string{"--set", "firewall.rate=0", "--set", "firewall.global_rate=0", "--set", "firewall.login_rate=0"}
	cmd := exec.Command(lithairBinary(t), append([]string{"config", "check"}, limits...)...)
	cmd.Env = append(os.Environ(), "LITHAIR_CONFIG=")
	if err := cmd.Run(); err == nil {
		flags = append(flags, limits...)
	} else {
		t.Logf("no firewall rate options in this build (%v); starting without them", err)
	}
	return flags
}

// hostileBatch is how many non-writing cases run between two reads of the
// applied index and the state hash; hostileParallel of them at a time.
const (
	hostileBatch    = 50
	hostileParallel = 8
)

// hostileCase is one request and what its answer must be.
type hostileCase struct {
	name   string
	who    string // an identity of hostileWorld.auth
	method string
	target string   // the request target, sent as is
	header []string // name, value pairs over the identity's; "" drops a header, a "+" before the name adds a second one
	body   string
	want   []int  // acceptable final statuses; nil: any 4xx
	code   string // the error code the answer must carry, if set
	writes bool   // may change the state: run alone, never checked for no write
	// goLayer: answered by net/http before any handler (431, a malformed
	// request line), so no JSON body is expected.
	goLayer bool
	// stream: a text/event-stream answer, read for hostileStreamWindow and then
	// hung up on.
	stream bool
	// why names the contract the case checks; failures are grouped by it.
	why   string
	check func(a hostileAnswer) string // "" when the answer is right
}

// hostileAnswer is what came back, after following redirects.
type hostileAnswer struct {
	status int
	header http.Header
	body   []byte
	hops   []string // "307 /api/_users" per redirect followed
	err    error
}

func (a hostileAnswer) String() string {
	b := a.body
	if len(b) > 160 {
		b = append(b[:160:160], "…"...)
	}
	s := fmt.Sprintf("%d %s", a.status, b)
	if len(a.hops) > 0 {
		s = strings.Join(a.hops, " -> ") + " -> " + s
	}
	return s
}

// hostileWorld is the node, the people who use it and the records they own.
type hostileWorld struct {
	t         *testing.T
	n         *node
	host      string
	auth      map[string][]string // identity -> headers
	role      map[string]string   // identity -> anon, admin, editor, cust1, cust2, bad
	ids       map[string]string
	generated int
	requests  atomic.Int64
	rot       map[string]int // rotation through the identities of one slot
}

const hostilePassword = "hostile-pass-1"

func newHostileWorld(t *testing.T, n *node) *hostileWorld {
	u, err := url.Parse(n.baseURL)
	if err != nil {
		t.Fatal(err)
	}
	w := &hostileWorld{t: t, n: n, host: u.Host, auth: map[string][]string{}, role: map[string]string{},
		ids: map[string]string{}, rot: map[string]int{}}
	mustStatus := func(want int, method, path, body string, headers ...string) map[string]any {
		t.Helper()
		r := n.must(method, path, body, headers...)
		if r.Status != want {
			t.Fatalf("setup: %s %s: %d %s", method, path, r.Status, r.Body)
		}
		if len(r.Body) == 0 {
			return nil
		}
		return r.json(t)
	}
	login := func(name string) string {
		t.Helper()
		m := mustStatus(200, "POST", "/api/_auth/login", `{"username":"`+name+`","password":"`+hostilePassword+`"}`, anonymous...)
		return m["token"].(string)
	}
	for name, roles := range map[string]string{"hx-editor": `["editor"]`, "hx-cust1": `[]`, "hx-cust2": `[]`, "hx-gone": `[]`} {
		m := mustStatus(201, "POST", "/api/_users", `{"name":"`+name+`","password":"`+hostilePassword+`","roles":`+roles+`}`)
		w.ids[name] = m["id"].(string)
	}
	admin := n.adminToken()
	editor, cust1, cust2 := login("hx-editor"), login("hx-cust1"), login("hx-cust2")
	m := mustStatus(201, "POST", "/api/_tokens", `{"name":"hx script","user":"hx-cust1"}`)
	cust1API := m["token"].(string)
	w.ids["cust1-token"] = m["id"].(string)
	m = mustStatus(201, "POST", "/api/_tokens", `{"name":"hx revoked","user":"hx-cust1"}`)
	revokedAPI := m["token"].(string)
	mustStatus(204, "DELETE", "/api/_tokens/"+m["id"].(string), "")
	// expires_at is kept to the second, so a token of 1ns is expired at once.
	expiredAPI := mustStatus(201, "POST", "/api/_tokens", `{"name":"hx expired","user":"hx-cust1","expires_in":"1ns"}`)["token"].(string)
	revokedSession := login("hx-cust2")
	mustStatus(204, "POST", "/api/_auth/logout", "", "Authorization", "Bearer "+revokedSession)
	goneSession := login("hx-gone")
	mustStatus(200, "PATCH", "/api/_users/hx-gone", `{"disabled":true}`)

	add := func(role string, ids map[string][]string) {
		for id, h := range ids {
			w.auth[id], w.role[id] = h, role
		}
	}
	bearer := func(tok string) []string { return []string{"Authorization", "Bearer " + tok} }
	cookie := func(v string) []string { return []string{"Cookie", v} }
	flipped := []byte(admin)
	if c := flipped[len(flipped)-1]; c >= 'a' && c <= 'z' {
		flipped[len(flipped)-1] = c - 'a' + 'A'
	} else {
		flipped[len(flipped)-1] = 'a'
	}
	add("anon", map[string][]string{
		"anon":           nil,
		"garbage-cookie": cookie("lithair_session=garbage"),
		"forged-cookie":  cookie("lithair_session=lths_" + strings.Repeat("A", 43)),
		"revoked-cookie": cookie("lithair_session=" + revokedSession),
		"empty-cookie":   cookie("lithair_session="),
		"weird-cookie":   cookie(`=; ;lithair_session; a=b=c; lithair_session="x y"; ;;`),
	})
	add("admin", map[string][]string{
		"admin":        bearer(admin),
		"admin-cookie": cookie("theme=dark; lithair_session=" + admin),
		"admin-lower":  {"Authorization", "bearer " + admin},
	})
	add("editor", map[string][]string{"editor": bearer(editor)})
	add("cust1", map[string][]string{
		"cust1":        bearer(cust1),
		"cust1-api":    bearer(cust1API),
		"cust1-cookie": cookie("lithair_session=" + cust1),
		// The header wins over the cookie: an admin's cookie must not
		// lift a customer's bearer request.
		"cust1+admin-cookie": append(bearer(cust1), cookie("lithair_session="+admin)...),
	})
	add("cust2", map[string][]string{"cust2": bearer(cust2)})
	add("bad", map[string][]string{
		"forged-session":     bearer("lths_" + strings.Repeat("A", 43)),
		"forged-api":         bearer("lth_" + strings.Repeat("x", 43)),
		"truncated":          bearer(admin[:len(admin)-1]),
		"extended":           bearer(admin + "A"),
		"case-flipped":       bearer(string(flipped)),
		"expired-api":        bearer(expiredAPI),
		"revoked-api":        bearer(revokedAPI),
		"revoked-session":    bearer(revokedSession),
		"disabled-user":      bearer(goneSession),
		"garbage-bearer":     bearer("x"),
		"basic":              {"Authorization", "Basic " + base64.StdEncoding.EncodeToString([]byte("admin:"+adminPassword))},
		"no-scheme":          {"Authorization", admin},
		"bearer-only":        {"Authorization", "Bearer"},
		"tab-separated":      {"Authorization", "Bearer\t" + admin},
		"two-tokens":         bearer(admin + " " + admin),
		"quoted-token":       bearer(`"` + admin + `"`),
		"comma-list":         bearer(admin + ", Bearer x"),
		"digest":             {"Authorization", `Digest username="admin"`},
		"session-as-api":     bearer("lth_" + strings.TrimPrefix(admin, "lths_")),
		"bad-bearer+cookie":  append(bearer("x"), cookie("lithair_session="+admin)...),
		"revoked+admin-next": append(bearer(revokedSession), "+Authorization", "Bearer "+admin),
	})

	// Records: a product with a cost only staff may see, in two versions;
	// a category; orders of both customers and one an editor marked paid.
	p1 := mustStatus(201, "POST", "/api/products", `{"name":"hx-widget","price":10,"stock":3,"cost":7.25}`)
	w.ids["p1"] = p1["id"].(string)
	mustStatus(200, "PATCH", "/api/products/"+w.ids["p1"], `{"price":12}`)
	w.ids["p2"] = mustStatus(201, "POST", "/api/products", `{"name":"hx-gadget","price":5,"cost":1}`)["id"].(string)
	w.ids["cat"] = mustStatus(201, "POST", "/api/categories", `{"name":"hx-tools"}`)["id"].(string)
	order := `{"product_id":"` + w.ids["p1"] + `","quantity":2,"total":24}`
	o1 := mustStatus(201, "POST", "/api/orders", order, "Authorization", "Bearer "+cust1)
	w.ids["o1"], w.ids["cust1-id"] = o1["id"].(string), o1["customer"].(string)
	w.ids["o1b"] = mustStatus(201, "POST", "/api/orders", order, "Authorization", "Bearer "+cust1)["id"].(string)
	mustStatus(200, "PATCH", "/api/orders/"+w.ids["o1b"], `{"status":"paid"}`, "Authorization", "Bearer "+editor)
	o2 := mustStatus(201, "POST", "/api/orders", order, "Authorization", "Bearer "+cust2)
	w.ids["o2"], w.ids["cust2-id"] = o2["id"].(string), o2["customer"].(string)
	w.ids["o3"] = mustStatus(201, "POST", "/api/orders", order)["id"].(string)
	w.ids["now"] = url.QueryEscape(time.Now().UTC().Format(time.RFC3339Nano))
	time.Sleep(10 * time.Millisecond) // ?at=now must come after every write above
	return w
}

// pick rotates through the identities of a slot, so a generated matrix
// covers every way of being, say, anonymous without multiplying by it.
func (w *hostileWorld) pick(slot string, ids ...string) string {
	i := w.rot[slot] % len(ids)
	w.rot[slot]++
	return ids[i]
}

// identities returns the names of every identity of role, sorted.
func (w *hostileWorld) identities(roles ...string) []string {
	var out []string
	for id := range w.auth {
		if slices.Contains(roles, w.role[id]) {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out
}

// expand replaces {p1}, {o1}, … in s with the world's ids.
func (w *hostileWorld) expand(s string) string {
	for k, v := range w.ids {
		s = strings.ReplaceAll(s, "{"+k+"}", v)
	}
	return s
}

// hostileStreamWindow is how long an event stream is read before hanging up:
// long enough for the replay of this test's log.
const hostileStreamWindow = 250 * time.Millisecond

// send writes one request on a fresh connection and reads the answer.
// The body goes out from its own goroutine: a server that answers before
// reading all of a large body must still be heard.
func (w *hostileWorld) send(method, target string, header []string, body string) hostileAnswer {
	return w.sendFor(method, target, header, body, 0)
}

// sendFor is send that, with a window, reads the answer's body only for
// that long (an event stream never ends by itself).
func (w *hostileWorld) sendFor(method, target string, header []string, body string, window time.Duration) hostileAnswer {
	w.requests.Add(1)
	conn, err := net.DialTimeout("tcp", w.host, 5*time.Second)
	if err != nil {
		return hostileAnswer{err: err}
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(20 * time.Second))
	type field struct{ name, value string }
	fields := []field{{"Host", w.host}, {"Connection", "close"}}
	if body != "" {
		fields = append(fields, field{"Content-Type", "application/json"})
	}
	for i := 0; i+1 < len(header); i += 2 {
		name, value := header[i], header[i+1]
		if extra, ok := strings.CutPrefix(name, "+"); ok {
			fields = append(fields, field{extra, value})
			continue
		}
		fields = slices.DeleteFunc(fields, func(f field) bool { return strings.EqualFold(f.name, name) })
		if value != "" {
			fields = append(fields, field{name, value})
		}
	}
	framed := slices.ContainsFunc(fields, func(f field) bool {
		return strings.EqualFold(f.name, "Content-Length") || strings.EqualFold(f.name, "Transfer-Encoding")
	})
	if !framed && (body != "" || method == "POST" || method == "PUT" || method == "PATCH") {
		fields = append(fields, field{"Content-Length", fmt.Sprint(len(body))})
	}
	var head strings.Builder
	fmt.Fprintf(&head, "%s %s HTTP/1.1\r\n", method, target)
	for _, f := range fields {
		fmt.Fprintf(&head, "%s: %s\r\n", f.name, f.value)
	}
	head.WriteString("\r\n")
	go func() {
		bw := bufio.NewWriter(conn)
		bw.WriteString(head.String())
		bw.WriteString(body)
		bw.Flush()
	}()
	resp, err := http.ReadResponse(bufio.NewReader(conn), &http.Request{Method: method})
	if err != nil {
		return hostileAnswer{err: fmt.Errorf("no answer (connection dropped?): %w", err)}
	}
	if window > 0 {
		conn.SetReadDeadline(time.Now().Add(window))
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if ne, ok := err.(net.Error); ok && ne.Timeout() && window > 0 {
		err = nil
	}
	if err != nil {
		return hostileAnswer{status: resp.StatusCode, header: resp.Header, err: fmt.Errorf("answer cut short: %w", err)}
	}
	return hostileAnswer{status: resp.StatusCode, header: resp.Header, body: b}
}

// do sends c as its identity and follows up to three redirects with the
// same identity, method and body: a path the server cleans must land
// somewhere that still checks who is asking.
func (w *hostileWorld) do(c hostileCase) hostileAnswer {
	header := append(slices.Clone(w.auth[c.who]), c.header...)
	target := w.expand(c.target)
	var hops []string
	for {
		var window time.Duration
		if c.stream {
			window = hostileStreamWindow
		}
		a := w.sendFor(c.method, target, header, w.expand(c.body), window)
		a.hops = hops
		loc := a.header.Get("Location")
		if a.err != nil || a.status < 300 || a.status > 399 || loc == "" || len(hops) == 3 {
			return a
		}
		u, err := url.Parse(loc)
		if err != nil || (u.Host != "" && u.Host != w.host) {
			a.err = fmt.Errorf("redirect off the node: %q", loc)
			return a
		}
		target = u.RequestURI()
		hops = append(hops, fmt.Sprintf("%d %s", a.status, target))
	}
}

// judge runs c and reports what is wrong with its answer.
func (w *hostileWorld) judge(c hostileCase, rep *hostileReport) hostileAnswer {
	a := w.do(c)
	label := fmt.Sprintf("%s [%s %s as %s]", c.name, c.method, hostileTruncate(w.expand(c.target), 90), c.who)
	group := c.why
	if group == "" {
		group = "wrong status"
	}
	switch {
	case a.err != nil:
		rep.add("connection dropped or answer unreadable", label+": "+a.err.Error())
		return a
	case a.status >= 500 && !slices.Contains(c.want, a.status):
		rep.add("5xx for a client's request", label+": "+a.String())
		return a
	case c.want == nil && (a.status < 400 || a.status > 499):
		rep.add(group, label+": want a 4xx, got "+a.String())
		return a
	case c.want != nil && !slices.Contains(c.want, a.status):
		rep.add(group, fmt.Sprintf("%s: want %v, got %s", label, c.want, a))
		return a
	}
	if a.status >= 400 && !c.goLayer && c.method != "HEAD" {
		code, ok := hostileErrorCode(a)
		switch {
		case !ok:
			rep.add("4xx without a JSON error body {\"error\":{\"code\":…}} (docs/api.md: every answer is JSON)",
				fmt.Sprintf("%s: Content-Type %q, body %s", label, a.header.Get("Content-Type"), a))
		case c.code != "" && code != c.code:
			rep.add(group, fmt.Sprintf("%s: want code %s, got %s", label, c.code, a))
		}
	}
	if c.check != nil {
		if msg := c.check(a); msg != "" {
			rep.add(group, label+": "+msg)
		}
	}
	return a
}

func hostileErrorCode(a hostileAnswer) (string, bool) {
	if !strings.HasPrefix(a.header.Get("Content-Type"), "application/json") {
		return "", false
	}
	var e struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(a.body, &e) != nil || e.Error.Code == "" || e.Error.Message == "" {
		return "", false
	}
	return e.Error.Code, true
}

func hostileTruncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// hostileMark is what must not move when nothing is written.
type hostileMark struct {
	readyIndex string // /readyz applied_index
	stateIndex string // /api/_state/hash applied_index
	hash       string
}

func (w *hostileWorld) mark() hostileMark {
	w.t.Helper()
	var ready struct {
		Applied json.Number `json:"applied_index"`
	}
	var st struct {
		Applied json.Number `json:"applied_index"`
		Hash    string      `json:"hash"`
	}
	a := w.send("GET", "/readyz", nil, "")
	if a.err != nil || a.status != 200 || json.Unmarshal(a.body, &ready) != nil {
		w.t.Fatalf("GET /readyz: %v %s", a.err, a)
	}
	a = w.send("GET", "/api/_state/hash", w.auth["admin"], "")
	if a.err != nil || a.status != 200 || json.Unmarshal(a.body, &st) != nil || st.Hash == "" {
		w.t.Fatalf("GET /api/_state/hash: %v %s", a.err, a)
	}
	return hostileMark{ready.Applied.String(), st.Applied.String(), st.Hash}
}

// runBatches runs cases that must not write in batches, reading the
// applied index and state hash around each batch; a batch that moved them
// is run again case by case to name the culprits.
func (w *hostileWorld) runBatches(cases []hostileCase, rep *hostileReport) {
	for start := 0; start < len(cases); start += hostileBatch {
		batch := cases[start:min(start+hostileBatch, len(cases))]
		before := w.mark()
		// None of these writes, so their order does not matter: send
		// them side by side.
		var wg sync.WaitGroup
		sem := make(chan struct{}, hostileParallel)
		for _, c := range batch {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer func() { <-sem; wg.Done() }()
				w.judge(c, rep)
			}()
		}
		wg.Wait()
		if w.mark() == before {
			continue
		}
		named := false
		for _, c := range batch {
			b := w.mark()
			a := w.do(c)
			after := w.mark()
			if after == b {
				continue
			}
			named = true
			label := fmt.Sprintf("%s [%s %s as %s] answered %d", c.name, c.method, hostileTruncate(w.expand(c.target), 90), c.who, a.status)
			if after.hash != b.hash {
				rep.add("a request that must not write changed the state hash",
					fmt.Sprintf("%s: hash %s -> %s, applied index %s -> %s", label, b.hash, after.hash, b.stateIndex, after.stateIndex))
			} else {
				rep.add("a refused request was appended to the log (applied index moved, state hash did not)",
					fmt.Sprintf("%s: applied index %s -> %s", label, b.readyIndex, after.readyIndex))
			}
		}
		if !named {
			rep.add("a batch moved the state but no single case did again", fmt.Sprintf("cases %d..%d", start, start+len(batch)-1))
		}
	}
}

// hostileReport groups failures by the contract they break, so one bug
// hit by a hundred generated cases reads as one finding with examples.
type hostileReport struct {
	mu     sync.Mutex
	order  []string
	groups map[string][]string
}

func (r *hostileReport) add(group, example string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.groups == nil {
		r.groups = map[string][]string{}
	}
	if _, ok := r.groups[group]; !ok {
		r.order = append(r.order, group)
	}
	r.groups[group] = append(r.groups[group], example)
}

func (r *hostileReport) fail(t *testing.T) {
	for _, g := range r.order {
		ex := r.groups[g]
		shown := ex[:min(len(ex), 6)]
		t.Errorf("%s: %d case(s), e.g.\n    %s", g, len(ex), strings.Join(shown, "\n    "))
	}
}

// hostileGate says what a role gets from a route before the body is read: 0 to
// go on, else 401 or 403.
type hostileGate func(role string) int

func hostileStaff(role string) int {
	switch role {
	case "admin", "editor":
		return 0
	case "anon":
		return 401
	}
	return 403
}

func hostileAdmin(role string) int {
	switch role {
	case "admin":
		return 0
	case "anon":
		return 401
	}
	return 403
}

func hostileSignedIn(role string) int {
	if role == "anon" {
		return 401
	}
	return 0
}

func hostileAnyone(string) int { return 0 }

// hostileOutcome is the status of a request through g as role, whose body alone
// would get bodyStatus. A forged credential is refused before anything.
func hostileOutcome(g hostileGate, role string, bodyStatus int) int {
	if role == "bad" {
		return 401
	}
	if s := g(role); s != 0 {
		return s
	}
	return bodyStatus
}

// hostileBody is a request body and the status it earns on its own.
type hostileBody struct {
	name, body string
	ct         string // Content-Type; "" for application/json, "-" for none
	status     int
}

func hostileNested(depth int) string {
	return strings.Repeat(`{"a":`, depth) + "1" + strings.Repeat("}", depth)
}

// hostileBodies are bodies no endpoint may accept. 400s are malformed,
// 415s declare another media type, the 413 is over http.max_body, 422s are
// well-formed objects with a field no endpoint knows.
func hostileBodies() []hostileBody {
	const unknown = `{"bogus":1}`
	bodies := []hostileBody{
		{"truncated object", `{"name":"hx`, "", 400},
		{"lone brace", `{`, "", 400},
		{"missing value", `{"name":}`, "", 400},
		{"trailing comma", `{"name":"x",}`, "", 400},
		{"single quotes", `{'name':'x'}`, "", 400},
		{"bare key", `{name:"x"}`, "", 400},
		{"extra closing brace", `{"bogus":1}}`, "", 400},
		{"two objects", `{"bogus":1}{"bogus":2}`, "", 400},
		{"two objects on two lines", "{\"bogus\":1}\n{\"bogus\":2}", "", 400},
		{"trailing garbage", `{"bogus":1}garbage`, "", 400},
		{"trailing bracket", `{"bogus":1}]`, "", 400},
		{"trailing NUL", "{\"bogus\":1}\x00", "", 400},
		{"empty array", `[]`, "", 400},
		{"array of an object", `[{"bogus":1}]`, "", 400},
		{"string", `"bogus"`, "", 400},
		{"number", `42`, "", 400},
		{"null", `null`, "", 400},
		{"true", `true`, "", 400},
		{"empty body", ``, "", 400},
		{"whitespace only", " \n\t ", "", 400},
		{"byte order mark", "\xef\xbb\xbf" + unknown, "", 400},
		{"duplicate key", `{"bogus":1,"bogus":2}`, "", 400},
		{"duplicate key differing in case", `{"name":"a","NAME":"b"}`, "", 400},
		{"duplicate key in mixed case", `{"Bogus":1,"bOGUS":2}`, "", 400},
		{"duplicate key through an escape", `{"name":"a","na\u006de":"b"}`, "", 400},
		{"duplicate key nested", `{"bogus":{"k":1,"K":2}}`, "", 400},
		{"duplicate key in a list", `{"bogus":[{"k":1,"k":2}]}`, "", 400},
		{"invalid UTF-8", "{\"name\":\"\xff\xfe\"}", "", 400},
		{"overlong UTF-8", "{\"name\":\"\xc0\xaf\"}", "", 400},
		{"UTF-8 encoded surrogate", "{\"name\":\"\xed\xa0\x80\"}", "", 400},
		{"invalid UTF-8 in a key", "{\"\xfe\":1}", "", 400},
		{"Latin-1 text", "{\"name\":\"caf\xe9\"}", "", 400},
		{"raw control character", "{\"name\":\"a\x01b\"}", "", 400},
		{"raw newline in a string", "{\"name\":\"a\nb\"}", "", 400},
		{"block comment", `{"bogus":1 /* x */}`, "", 400},
		{"line comment", "{\"bogus\":1}// x", "", 400},
		{"NaN", `{"price":NaN}`, "", 400},
		{"Infinity", `{"price":Infinity}`, "", 400},
		{"-Infinity", `{"price":-Infinity}`, "", 400},
		{"hex number", `{"price":0x10}`, "", 400},
		{"leading zero", `{"price":012}`, "", 400},
		{"plus sign", `{"price":+1}`, "", 400},
		{"leading dot", `{"price":.5}`, "", 400},
		{"trailing dot", `{"price":1.}`, "", 400},
		{"bare exponent", `{"price":1e}`, "", 400},
		{"bad escape", `{"name":"\x"}`, "", 400},
		{"short unicode escape", `{"name":"\u12"}`, "", 400},
		{"unterminated string", `{"name":"abc}`, "", 400},
		{"33 nested objects", hostileNested(33), "", 400},
		{"40 nested lists", `{"a":` + strings.Repeat("[", 40) + strings.Repeat("]", 40) + `}`, "", 400},
		{"100000 nested lists", `{"a":` + strings.Repeat("[", 100000) + strings.Repeat("]", 100000) + `}`, "", 400},
		{"5000 unclosed objects", strings.Repeat(`{"a":`, 5000), "", 400},
		{"string over 256 KiB", `{"name":"` + strings.Repeat("a", 256<<10+1) + `"}`, "", 400},
		{"escaped string over 256 KiB decoded", `{"name":"` + strings.Repeat(`\n`, 256<<10+1) + `"}`, "", 400},
		{"key over 256 bytes", `{"` + strings.Repeat("k", 300) + `":1}`, "", 400},

		{"body over max_body", `{"name":"` + strings.Repeat("a", 1<<20) + `"}`, "", 413},

		{"unknown field", unknown, "", 422},
		{"unknown field, no Content-Type", unknown, "-", 422},
		{"unknown field, merge-patch type", unknown, "application/merge-patch+json", 422},
		{"unknown field, charset UTF-8", unknown, "application/json; charset=UTF-8", 422},
		{"prototype pollution", `{"__proto__":{"admin":true},"constructor":{"prototype":{}}}`, "", 422},
		{"empty key", `{"":1}`, "", 422},
		{"key with a space", `{"name ":"x"}`, "", 422},
		{"32 nested objects", hostileNested(32), "", 422},
	}
	for _, ct := range []string{"text/plain", "text/plain; charset=utf-8", "application/x-www-form-urlencoded",
		"multipart/form-data; boundary=x", "application/xml", "text/json", "application/javascript",
		"application/octet-stream", "*/*", "application/json; charset=latin1", "application/json; charset=utf-16",
		"application/merge-patch+json; charset=iso-8859-1", "json", "application/json/x"} {
		bodies = append(bodies, hostileBody{"Content-Type " + ct, unknown, ct, 415})
	}
	return bodies
}

// hostileRoute is a route that reads a body, with who may send one.
type hostileRoute struct {
	method, target string
	gate           hostileGate
	owner          string // the customer whose record it is; others get 404 once the body is read
}

// cases returns every case: the generated matrix, then the hand-written
// ones, grouped by the contract they check.
func (w *hostileWorld) cases() []hostileCase {
	var cs []hostileCase
	cs = append(cs, w.bodyMatrix()...)
	cs = append(cs, w.permissionMatrix()...)
	w.generated = len(cs)
	cs = append(cs, w.authCases()...)
	cs = append(cs, w.orderCases()...)
	cs = append(cs, w.streamCases()...)
	cs = append(cs, w.hiddenFieldCases()...)
	cs = append(cs, w.pathCases()...)
	cs = append(cs, w.methodCases()...)
	cs = append(cs, w.headerCases()...)
	cs = append(cs, w.crossOriginCases()...)
	cs = append(cs, w.operatorCases()...)
	cs = append(cs, w.queryCases()...)
	cs = append(cs, w.numberCases()...)
	return cs
}

// bodyMatrix sends every hostile body to every route that reads one, as
// one identity of each kind.
func (w *hostileWorld) bodyMatrix() []hostileCase {
	routes := []hostileRoute{
		{"POST", "/api/products", hostileStaff, ""},
		{"PUT", "/api/products/{p1}", hostileStaff, ""},
		{"PATCH", "/api/products/{p1}", hostileStaff, ""},
		{"POST", "/api/categories", hostileStaff, ""},
		{"POST", "/api/orders", hostileSignedIn, ""},
		{"PATCH", "/api/orders/{o1}", hostileSignedIn, "cust1"},
		{"PUT", "/api/orders/{o1}", hostileSignedIn, "cust1"},
		// Contributors, reporters and admins write articles: of these
		// identities, only the admins.
		{"POST", "/api/articles", hostileAdmin, ""},
		{"POST", "/api/_users", hostileAdmin, ""},
		{"PATCH", "/api/_users/hx-cust1", hostileAdmin, ""},
		{"POST", "/api/_tokens", hostileAdmin, ""},
		{"POST", "/api/_auth/login", hostileAnyone, ""},
		{"POST", "/api/_batch", hostileAnyone, ""},
	}
	anons, admins := w.identities("anon"), w.identities("admin")
	cust1s, bads := w.identities("cust1"), w.identities("bad")
	var cs []hostileCase
	for _, b := range hostileBodies() {
		for _, r := range routes {
			for _, who := range []string{w.pick("anon", anons...), w.pick("admin", admins...), "editor",
				w.pick("cust1", cust1s...), "cust2", w.pick("bad", bads...)} {
				role := w.role[who]
				want := []int{hostileOutcome(r.gate, role, b.status)}
				if b.status == 413 && want[0] != 413 {
					// The firewall caps bodies before anyone is
					// authenticated; either refusal is right.
					want = append(want, 413)
				}
				if want[0] == 422 && r.owner != "" && role != r.owner && role != "admin" && role != "editor" {
					want[0] = 404 // the body is fine; the record is someone else's
				}
				var h []string
				switch b.ct {
				case "":
				case "-":
					h = []string{"Content-Type", ""}
				default:
					h = []string{"Content-Type", b.ct}
				}
				cs = append(cs, hostileCase{name: "body: " + b.name, who: who, method: r.method, target: r.target,
					header: h, body: b.body, want: want, why: "strict JSON bodies"})
			}
		}
	}
	return cs
}

// permissionMatrix sends requests that would write or reveal something
// if they were let through, as every identity that may not make them.
func (w *hostileWorld) permissionMatrix() []hostileCase {
	type action struct {
		method, target, body string
		gate                 hostileGate
		read                 bool // writes nothing even when allowed: sent by everyone
	}
	actions := []action{
		{"POST", "/api/products", `{"name":"hx-intruder","price":1}`, hostileStaff, false},
		{"PUT", "/api/products/{p1}", `{"name":"hx-pwned","price":0}`, hostileStaff, false},
		{"PATCH", "/api/products/{p1}", `{"price":0}`, hostileStaff, false},
		{"DELETE", "/api/products/{p1}", "", hostileAdmin, false},
		{"POST", "/api/categories", `{"name":"hx-intruder"}`, hostileStaff, false},
		{"PATCH", "/api/categories/{cat}", `{"name":"hx-pwned"}`, hostileStaff, false},
		{"DELETE", "/api/categories/{cat}", "", hostileAdmin, false},
		{"DELETE", "/api/orders/{o1}", "", hostileAdmin, false},
		{"POST", "/api/articles", `{"title":"intruder","slug":"intruder"}`, hostileAdmin, false},
		{"POST", "/api/_users", `{"name":"hx-intruder","password":"intruder-pass","roles":["admin"]}`, hostileAdmin, false},
		{"PATCH", "/api/_users/hx-cust1", `{"roles":["admin"]}`, hostileAdmin, false},
		{"PATCH", "/api/_users/admin", `{"password":"taken-over-1"}`, hostileAdmin, false},
		{"DELETE", "/api/_users/hx-cust2", "", hostileAdmin, false},
		{"POST", "/api/_tokens", `{"name":"hx-intruder","user":"admin","roles":["admin"]}`, hostileAdmin, false},
		{"DELETE", "/api/_tokens/{cust1-token}", "", hostileAdmin, false},
		{"POST", "/api/_rules/reload", "", hostileAdmin, false},
		{"POST", "/api/_snapshot", "", hostileAdmin, true},
		{"GET", "/api/_users", "", hostileAdmin, true},
		{"GET", "/api/_users/admin", "", hostileAdmin, true},
		{"HEAD", "/api/_users", "", hostileAdmin, true},
		{"GET", "/api/_tokens", "", hostileAdmin, true},
		{"GET", "/api/_rules", "", hostileAdmin, true},
		{"GET", "/api/_audit", "", hostileAdmin, true},
		{"GET", "/api/_audit?model=Order", "", hostileAdmin, true},
		{"GET", "/api/_backup", "", hostileAdmin, true},
		{"GET", "/api/_state/hash", "", hostileAdmin, true},
		{"GET", "/api/_projections", "", hostileAdmin, true},
		{"GET", "/api/_projections/SalesMetrics", "", hostileAdmin, true},
		{"POST", "/api/_batch", `{"operations":[{"op":"create","model":"Product","fields":{"name":"hx-batch","price":1}}]}`, hostileStaff, false},
		{"POST", "/api/_batch", `{"operations":[{"op":"delete","model":"Product","id":"{p1}"}]}`, hostileAdmin, false},
		{"POST", "/api/_batch", `{"operations":[{"op":"create","model":"Category","fields":{"name":"hx-batch"}},` +
			`{"op":"delete","model":"Category","id":"{cat}"}]}`, hostileAdmin, false},
		{"POST", "/api/_batch", `{"operations":[{"op":"patch","model":"Product","id":"{p2}","fields":{"price":0}},` +
			`{"op":"create","model":"Product","fields":{"name":"hx-batch-2"}}]}`, hostileStaff, false},
		{"GET", "/api/orders", "", hostileSignedIn, true},
		{"GET", "/api/_auth/me", "", hostileSignedIn, true},
	}
	var cs []hostileCase
	for _, a := range actions {
		for _, who := range w.identities("anon", "admin", "editor", "cust1", "cust2", "bad") {
			role := w.role[who]
			want := hostileOutcome(a.gate, role, 0)
			if want == 0 && !a.read {
				continue // allowed, and it would write
			}
			if want == 0 {
				want = 200
			}
			cs = append(cs, hostileCase{name: "permission", who: who, method: a.method, target: a.target, body: a.body,
				want: []int{want}, why: "roles: anonymous 401, signed in without the role 403, /api/_* admin only"})
		}
	}
	return cs
}

// authCases: forged, expired, revoked and malformed credentials are 401
// everywhere, even where anonymous callers are welcome.
func (w *hostileWorld) authCases() []hostileCase {
	var cs []hostileCase
	for _, who := range w.identities("bad") {
		for _, t := range []string{"/api/products", "/api/products/{p1}", "/api/_auth/me", "/api/orders", "/api/_users"} {
			cs = append(cs, hostileCase{name: "bad credential", who: who, method: "GET", target: t, want: []int{401},
				why: "a bad bearer is 401, never anonymous"})
		}
		cs = append(cs, hostileCase{name: "bad credential on logout", who: who, method: "POST", target: "/api/_auth/logout", want: []int{401},
			why: "a bad bearer is 401, never anonymous"})
	}
	cs = append(cs,
		hostileCase{name: "expired token", who: "expired-api", method: "GET", target: "/api/products", want: []int{401}, code: "token_expired"},
		hostileCase{name: "header wins over an admin cookie", who: "cust1+admin-cookie", method: "POST", target: "/api/_users",
			body: `{"name":"hx-cookie","password":"intruder-pass"}`, want: []int{403}},
		hostileCase{name: "header wins over an admin cookie", who: "cust1+admin-cookie", method: "GET", target: "/api/_users", want: []int{403}},
	)
	for _, who := range w.identities("anon") {
		cs = append(cs,
			hostileCase{name: "bad cookie reads as anonymous", who: who, method: "GET", target: "/api/products", want: []int{200}},
			hostileCase{name: "bad cookie reads as anonymous", who: who, method: "GET", target: "/api/_auth/me", want: []int{401}},
			hostileCase{name: "bad cookie reads as anonymous", who: who, method: "POST", target: "/api/categories", body: `{"name":"hx-anon"}`, want: []int{401}},
			hostileCase{name: "logout without a session", who: who, method: "POST", target: "/api/_auth/logout", want: []int{401}},
		)
	}
	for _, who := range []string{"admin", "admin-cookie", "admin-lower", "editor", "cust1", "cust1-api", "cust1-cookie", "cust2"} {
		cs = append(cs, hostileCase{name: "me", who: who, method: "GET", target: "/api/_auth/me", want: []int{200}})
	}
	cs = append(cs, hostileCase{name: "an API token is not a session", who: "cust1-api", method: "POST", target: "/api/_auth/logout",
		want: []int{400}, code: "not_a_session"})

	// Sign-in attempts that must fail without opening a session.
	for _, b := range []string{
		`{"username":"admin","password":"wrong-password"}`,
		`{"username":"hx-cust1","password":"` + adminPassword + `"}`,
		`{"username":"nobody","password":"whatever-1"}`,
		`{"username":"ADMIN","password":"` + adminPassword + `"}`,
		`{"username":"admin ","password":"` + adminPassword + `"}`,
		`{"username":"admin","password":"` + adminPassword + ` "}`,
		`{"username":"admin","password":"` + adminPassword + `\u0000"}`,
		`{"username":"hx-gone","password":"` + hostilePassword + `"}`,
		`{"username":"admin","password":"` + strings.Repeat("p", 200<<10) + `"}`,
	} {
		cs = append(cs, hostileCase{name: "sign-in refused", who: "anon", method: "POST", target: "/api/_auth/login", body: b,
			want: []int{401}, code: "invalid_credentials"})
	}
	for _, b := range []string{`{"username":"admin"}`, `{"password":"x"}`, `{"username":"","password":""}`, `{}`,
		`{"username":1,"password":"x"}`, `{"username":"admin","password":["x"]}`, `{"username":"admin","password":null,"x":1}`,
		`{"username":"admin","password":"` + adminPassword + `","remember":true}`} {
		cs = append(cs, hostileCase{name: "sign-in body", who: "anon", method: "POST", target: "/api/_auth/login", body: b, want: []int{422}})
	}
	cs = append(cs, hostileCase{name: "sign-in body", who: "anon", method: "POST", target: "/api/_auth/login",
		body: `{"username":"admin","password":"` + adminPassword + `","Password":"x"}`, want: []int{400}})

	// What a successful sign-in and sign-out must look like (these write).
	cs = append(cs, hostileCase{name: "sign in", who: "anon", method: "POST", target: "/api/_auth/login", writes: true,
		body: `{"username":"hx-cust2","password":"` + hostilePassword + `"}`, want: []int{200},
		why:   "login answers token, expires_at, user and an HttpOnly SameSite=Strict cookie",
		check: w.checkLogin,
	})
	return cs
}

func (w *hostileWorld) checkLogin(a hostileAnswer) string {
	var out struct {
		Token     string         `json:"token"`
		ExpiresAt string         `json:"expires_at"`
		User      map[string]any `json:"user"`
	}
	if err := json.Unmarshal(a.body, &out); err != nil || !strings.HasPrefix(out.Token, "lths_") || out.User["name"] != "hx-cust2" {
		return "answer lacks token or user"
	}
	if _, err := time.Parse(time.RFC3339, out.ExpiresAt); err != nil {
		return "expires_at is not RFC 3339: " + out.ExpiresAt
	}
	resp := http.Response{Header: a.header}
	var c *http.Cookie
	for _, k := range resp.Cookies() {
		if k.Name == "lithair_session" {
			c = k
		}
	}
	if c == nil || c.Value != out.Token || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/" {
		return fmt.Sprintf("session cookie not HttpOnly, SameSite=Strict, Path=/ with the token: %q", a.header.Values("Set-Cookie"))
	}
	// The session works, and ends with logout.
	me := w.send("GET", "/api/_auth/me", []string{"Authorization", "Bearer " + out.Token}, "")
	if me.status != 200 {
		return "the new session is refused: " + me.String()
	}
	if lo := w.send("POST", "/api/_auth/logout", []string{"Cookie", "lithair_session=" + out.Token}, ""); lo.status != 204 {
		return "logout with the cookie: " + lo.String()
	}
	if me := w.send("GET", "/api/_auth/me", []string{"Authorization", "Bearer " + out.Token}, ""); me.status != 401 {
		return "the session still works after logout: " + me.String()
	}
	return ""
}

// orderCases: customers see and change only their own orders, never the
// status or the customer field.
func (w *hostileWorld) orderCases() []hostileCase {
	why := "Order: own orders only (others' are 404 and absent from lists); status staff-only (403); customer read-only (422)"
	absent := func(ids ...string) func(hostileAnswer) string {
		return func(a hostileAnswer) string {
			for _, id := range ids {
				if bytes.Contains(a.body, []byte(w.ids[id])) {
					return "lists someone else's order " + id + ": " + a.String()
				}
			}
			return ""
		}
	}
	c := func(name, who, method, target, body string, want ...int) hostileCase {
		return hostileCase{name: name, who: who, method: method, target: target, body: body, want: want, why: why}
	}
	cs := []hostileCase{
		c("others' order", "cust2", "GET", "/api/orders/{o1}", "", 404),
		c("others' order", "cust2", "HEAD", "/api/orders/{o1}", "", 404),
		c("others' order", "cust1-api", "GET", "/api/orders/{o2}", "", 404),
		c("others' order", "cust1", "GET", "/api/orders/{o3}", "", 404),
		c("others' order", "cust2", "PATCH", "/api/orders/{o1}", `{"quantity":9}`, 404),
		c("others' order", "cust2", "PUT", "/api/orders/{o1}", `{"product_id":"x","quantity":9}`, 404),
		c("others' order", "cust2", "PATCH", "/api/orders/{o1}", `{"customer":"{cust2-id}"}`, 404),
		c("others' order", "cust2", "DELETE", "/api/orders/{o1}", "", 403, 404),
		c("others' order", "cust2", "GET", "/api/orders/{o1}/events", "", 404),
		c("others' order", "cust2", "GET", "/api/orders/{o1}?version=1", "", 404),
		c("others' order", "cust2", "GET", "/api/orders/{o1}?at={now}", "", 404),
		c("others' order", "cust1", "PATCH", "/api/orders/{o2}", `{"quantity":1}`, 404),
		c("others' order", "cust1", "PATCH", "/api/orders/{o2}", `{"status":"cancelled"}`, 403, 404),
		c("own order, delete", "cust1", "DELETE", "/api/orders/{o1}", "", 403),
		c("own order, delete", "editor", "DELETE", "/api/orders/{o1}", "", 403),
		c("status by a customer", "cust1", "PATCH", "/api/orders/{o1}", `{"status":"paid"}`, 403),
		c("status by a customer", "cust1-api", "PATCH", "/api/orders/{o1b}", `{"status":"pending"}`, 403),
		c("status by a customer", "cust1", "PATCH", "/api/orders/{o1b}", `{"status":null}`, 403),
		c("status by a customer", "cust1", "PUT", "/api/orders/{o1b}", `{"product_id":"{p1}","status":"cancelled"}`, 403),
		c("status by a customer", "cust1", "POST", "/api/orders", `{"product_id":"{p1}","status":"shipped"}`, 403),
		c("customer by a customer", "cust1", "POST", "/api/orders", `{"product_id":"{p1}","customer":"{cust2-id}"}`, 422),
		c("customer by a customer", "cust1", "PATCH", "/api/orders/{o1}", `{"customer":"{cust2-id}"}`, 422),
		c("customer by a customer", "cust1", "PUT", "/api/orders/{o1}", `{"product_id":"{p1}","customer":"{cust2-id}"}`, 422),
		c("customer by staff", "admin", "PATCH", "/api/orders/{o1}", `{"customer":"{cust2-id}"}`, 422),
		c("orders anonymously", "anon", "GET", "/api/orders", "", 401),
		c("orders anonymously", "garbage-cookie", "POST", "/api/orders", `{"product_id":"{p1}"}`, 401),
	}
	cs[0].code = "not_found"
	for _, q := range []string{"", "?limit=1000", "?customer={cust1-id}", "?sort=customer", "?sort=-customer&limit=1",
		"?product_id={p1}", "?status=paid", "?customer[in]={cust1-id},{cust2-id}"} {
		x := c("others' orders in a list", "cust2", "GET", "/api/orders"+q, "", 200)
		x.check = absent("o1", "o1b", "o3")
		cs = append(cs, x)
	}
	// A batch is checked operation by operation like single writes.
	cs = append(cs,
		c("others' order in a batch", "cust2", "POST", "/api/_batch", `{"operations":[{"op":"patch","model":"Order","id":"{o1}","fields":{"quantity":7}}]}`, 404),
		c("others' order in a batch", "cust2", "POST", "/api/_batch", `{"operations":[{"op":"delete","model":"Order","id":"{o1}"}]}`, 403, 404),
		c("status by a customer in a batch", "cust1", "POST", "/api/_batch", `{"operations":[{"op":"patch","model":"Order","id":"{o1}","fields":{"status":"paid"}}]}`, 403),
		c("status by a customer in a batch", "cust1", "POST", "/api/_batch", `{"operations":[{"op":"create","model":"Order","fields":{"product_id":"x","status":"paid"}}]}`, 403),
		c("customer by a customer in a batch", "cust1", "POST", "/api/_batch", `{"operations":[{"op":"create","model":"Order","fields":{"product_id":"x","customer":"{cust2-id}"}}]}`, 422),
		c("system model in a batch", "cust1", "POST", "/api/_batch", `{"operations":[{"op":"create","model":"_User","fields":{"name":"hx-b","password_hash":"x"}}]}`, 400, 403, 404, 422),
		c("system model in a batch", "admin", "POST", "/api/_batch", `{"operations":[{"op":"patch","model":"_User","id":"{hx-cust1}","fields":{"roles":["admin"]}}]}`, 400, 403, 404, 422),
		c("system model in a batch", "admin", "POST", "/api/_batch", `{"operations":[{"op":"delete","model":"_Session","id":"{hx-cust1}"}]}`, 400, 403, 404, 422),
	)
	x := c("own orders in a list", "cust1", "GET", "/api/orders?limit=1000", "", 200)
	x.check = func(a hostileAnswer) string {
		if !bytes.Contains(a.body, []byte(w.ids["o1"])) {
			return "a customer's own order is missing: " + a.String()
		}
		return absent("o2", "o3")(a)
	}
	cs = append(cs, x)

	// A customer's PUT that leaves out the status keeps the status an
	// editor set (it writes: a new version, same status and customer).
	put := c("PUT keeps the staff-only status", "cust1", "PUT", "/api/orders/{o1b}", `{"product_id":"{p1}","quantity":3}`, 200)
	put.writes = true
	put.check = func(a hostileAnswer) string {
		var o map[string]any
		json.Unmarshal(a.body, &o)
		if o["status"] != "paid" || o["customer"] != w.ids["cust1-id"] {
			return "a customer's PUT reset the status or customer: " + a.String()
		}
		return ""
	}
	return append(cs, put)
}

// streamCases: the event stream shows each caller only the changes a GET
// would show them, without hidden fields, system models or secrets.
func (w *hostileWorld) streamCases() []hostileCase {
	why := "the event stream shows only what a GET would (no others' orders, no cost, no system models)"
	never := []string{`"cost"`, "password_hash", "token_hash", "$argon2", `"_User"`, `"_Session"`, `"_Token"`}
	look := func(has []string, lacks ...string) func(hostileAnswer) string {
		return func(a hostileAnswer) string {
			if ct := a.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
				return "not an event stream: " + ct
			}
			for _, s := range lacks {
				if bytes.Contains(a.body, []byte(w.expand(s))) {
					return fmt.Sprintf("shows %s: %s", w.expand(s), a)
				}
			}
			for _, s := range has {
				if !bytes.Contains(a.body, []byte(w.expand(s))) {
					return fmt.Sprintf("lacks %s, so the check above proves nothing: %s", w.expand(s), a)
				}
			}
			return ""
		}
	}
	c := func(who, target string, check func(hostileAnswer) string, header ...string) hostileCase {
		return hostileCase{name: "event stream", who: who, method: "GET", target: target, header: header, want: []int{200},
			stream: true, check: check, why: why}
	}
	others := append([]string{"{o1}", "{o1b}", "{o3}"}, never...)
	cs := []hostileCase{
		c("anon", "/api/_events?model=Product&last_event_id=0", look([]string{"{p1}"}, never...)),
		c("anon", "/api/_events?last_event_id=0", look([]string{"{p1}"}, append([]string{"{o1}", "{o2}"}, never...)...)),
		c("garbage-cookie", "/api/_events?last_event_id=0", look([]string{"{p1}"}, append([]string{"{o1}", "{o2}"}, never...)...)),
		c("cust2", "/api/_events?last_event_id=0", look([]string{"{o2}"}, others...)),
		c("cust2", "/api/_events?model=Order&last_event_id=0", look([]string{"{o2}"}, others...)),
		c("cust2", "/api/_events?model=Order,Product", look([]string{"{o2}"}, others...), "Last-Event-ID", "0"),
		c("cust1-api", "/api/_events?model=Order&last_event_id=0", look([]string{"{o1}"}, append([]string{"{o2}", "{o3}"}, never...)...)),
		c("editor", "/api/_events?model=Product&last_event_id=0", look([]string{`"cost"`})),
	}
	x := c("cust2", "/api/_events?model=Order&id={o1}&last_event_id=0", look(nil, others...))
	x.want = []int{200, 404}
	cs = append(cs, x)
	bad := func(who, target string, want int, header ...string) hostileCase {
		return hostileCase{name: "event stream refused", who: who, method: "GET", target: target, header: header, want: []int{want}}
	}
	cs = append(cs,
		bad("anon", "/api/_events?model=Order", 401),
		bad("cust1", "/api/_events?model=_User", 400),
		bad("admin", "/api/_events?model=_Session", 400),
		bad("anon", "/api/_events?model=Nope", 400),
		bad("anon", "/api/_events?model=", 400),
		bad("anon", "/api/_events?model=,,", 400),
		bad("anon", "/api/_events?last_event_id=abc", 400),
		bad("anon", "/api/_events?last_event_id=-1", 400),
		bad("anon", "/api/_events", 400, "Last-Event-ID", "abc"),
		bad("anon", "/api/_events?bogus=1", 400),
		bad("anon", "/api/_events?id=x", 400),
		bad("anon", "/api/_events?model=Product,Category&id=x", 400),
		bad("forged-api", "/api/_events", 401),
		bad("anon", "/api/_events?model=Product&model=Order", 401),
	)
	return cs
}

// hiddenFieldCases: Product.cost never reaches callers without the
// editor or admin role, in any answer.
func (w *hostileWorld) hiddenFieldCases() []hostileCase {
	urls := []string{"/api/products/{p1}", "/api/products", "/api/products?name=hx-widget", "/api/products?sort=-price",
		"/api/products?limit=1000", "/api/products?price[gte]=0", "/api/products/{p1}/events", "/api/products/{p1}?version=1",
		"/api/products/{p1}?version=2", "/api/products/{p1}?at={now}"}
	noCost := func(a hostileAnswer) string {
		if bytes.Contains(a.body, []byte(`"cost"`)) {
			return "Product.cost shown to a caller without the role: " + a.String()
		}
		return ""
	}
	withCost := func(a hostileAnswer) string {
		if !bytes.Contains(a.body, []byte(`"cost":7.25`)) {
			return "staff do not see Product.cost: " + a.String()
		}
		return ""
	}
	var cs []hostileCase
	for _, u := range urls {
		for _, who := range []string{"anon", "garbage-cookie", "cust1", "cust1-api", "cust1-cookie", "cust2"} {
			cs = append(cs, hostileCase{name: "hidden field", who: who, method: "GET", target: u, want: []int{200}, check: noCost,
				why: "Product.cost readable only by editor/admin"})
		}
		if !strings.Contains(u, "price[gte]") && !strings.Contains(u, "sort") {
			cs = append(cs, hostileCase{name: "hidden field shown to staff", who: "editor", method: "GET", target: u, want: []int{200},
				check: withCost, why: "Product.cost readable only by editor/admin"})
		}
	}
	// A filter on cost answers a yes/no question about it: with a few of
	// them anyone can read the cost back. The field must not be
	// filterable (or sortable) by whom it is hidden from.
	for _, q := range []string{"cost=7.25", "cost[gte]=7", "cost[lt]=8", "cost[ne]=7.25", "cost[in]=7.25,1", "cost[prefix]=7", "sort=cost"} {
		for _, who := range []string{"anon", "cust1"} {
			cs = append(cs, hostileCase{name: "filter on a hidden field", who: who, method: "GET", target: "/api/products?" + q,
				want: []int{400}, why: "a list filter on Product.cost lets a caller who may not read cost test its value (filter oracle)"})
		}
	}
	return cs
}

// pathCases: paths that try to reach the operator endpoints sideways.
// Whatever Go's mux cleans and redirects, the place it lands must still
// check the caller; the redirects are followed.
func (w *hostileWorld) pathCases() []hostileCase {
	sneaky := []string{
		"/api/products/../_users", "/api/products/%2e%2e/_users", "/api/products/%2E%2E/%5Fusers", "/api/%2e%2e/api/_users",
		"/api/_users%2F..%2Fproducts", "/api/products%2F..%2F_users", "//api/_users", "/api//_users", "/api/./_users",
		"/./api/_users", "/api/_users/.", "/api/_users/..", "/api/_users/", "/api/_users/admin/", "/api/_state/hash/",
		"/api/_state%2Fhash", "/api/_state/./hash", "/api/_projections/../_users", "/api/_projections/%2e%2e/_users",
		"/api/_projections/SalesMetrics/..%2F..%2F_users", "/api/_auth/../_users", "/api/_auth/login/../../_users",
		`/api/_users\..\products`, "/api/products/{p1}%00", "/api/products/{p1}/events/../../../_users",
		"/API/_users", "/api/_Users", "/api/%5fusers", "/%61pi/_users", "/api/_sessions", "/api/_sessions/x",
		"/api/products;/../_users", "/api/_tokens%00", "/api/_tokens/../_state/hash", "/api/_backup/", "/api/_audit/..",
		"/api/_users?name=admin", "/api/_users#frag", "/api/_rules%2Freload", "/api/_snapshot/.",
	}
	var cs []hostileCase
	for _, p := range sneaky {
		for _, who := range []string{"anon", "cust1", "editor", "forged-session"} {
			cs = append(cs, hostileCase{name: "sneaky path", who: who, method: "GET", target: p, want: []int{401, 403, 404, 400},
				why: "a cleaned or decoded path must not bypass the admin check"})
		}
		cs = append(cs, hostileCase{name: "sneaky path", who: "cust1", method: "POST", target: p,
			body: `{"name":"hx-sneak","password":"intruder-pass","roles":["admin"]}`, want: []int{401, 403, 404, 405, 400},
			why: "a cleaned or decoded path must not bypass the admin check"})
		cs = append(cs, hostileCase{name: "sneaky path as admin", who: "admin", method: "GET", target: p, want: []int{200, 400, 404}})
	}
	for _, p := range []string{"/nope", "/api/nope", "/api/nope/x", "/api/products/x/y/z", "/api/products/{p1}/events/x",
		"/api/_nope", "/api/_auth", "/api/_auth/nope", "/healthz/x", "/api", "/favicon.ico", "/api/_events/x", "/api/_batch/x",
		"/api/products/" + strings.Repeat("a", 8000), "/api/" + strings.Repeat("x/", 2000), "/api/products/%ff%fe"} {
		cs = append(cs, hostileCase{name: "unknown route", who: "anon", method: "GET", target: p, want: []int{404, 400}})
	}
	for _, p := range []string{"/api/products/%zz", "/api/products/%", "api/products", "*"} {
		cs = append(cs, hostileCase{name: "malformed target", who: "anon", method: "GET", target: p, want: []int{400, 404}, goLayer: true})
	}
	return cs
}

// methodCases: methods a route does not serve, odd spellings, and
// methods Go's server refuses itself.
func (w *hostileWorld) methodCases() []hostileCase {
	var cs []hostileCase
	targets := []string{"/api/products", "/api/products/{p2}", "/api/products/{p2}/events", "/api/orders/{o1}", "/api/categories/{cat}"}
	for _, m := range []string{"TRACE", "PROPFIND", "MKCOL", "COPY", "MOVE", "LOCK", "OPTIONS", "CONNECT", "get", "Get", "delete",
		"BREW", strings.Repeat("X", 10000)} {
		for _, t := range targets {
			for _, who := range []string{"anon", "admin"} {
				cs = append(cs, hostileCase{name: "odd method", who: who, method: m, target: t, want: []int{405, 400, 404, 501}})
			}
		}
	}
	// Methods a route does not allow, as the admin who could do anything:
	// nothing may be deleted or replaced wholesale.
	for _, mt := range [][2]string{{"DELETE", "/api/products"}, {"PUT", "/api/products"}, {"PATCH", "/api/products"},
		{"POST", "/api/products/{p2}"}, {"DELETE", "/api/products/{p2}/events"}, {"POST", "/api/products/{p2}/events"},
		{"PUT", "/api/_users"}, {"DELETE", "/api/_tokens"}, {"POST", "/api/_state/hash"}, {"DELETE", "/api/_audit"},
		{"POST", "/healthz"}, {"DELETE", "/readyz"}, {"PUT", "/api/_rules/reload"}, {"GET", "/api/_auth/logout"},
		{"GET", "/api/_auth/login"}, {"DELETE", "/api/_auth/me"}} {
		cs = append(cs, hostileCase{name: "method not allowed", who: "admin", method: mt[0], target: mt[1],
			body: `{"name":"hx-method"}`, want: []int{404, 405}})
	}
	cs = append(cs, hostileCase{name: "method override header", who: "admin", method: "POST", target: "/api/products/{p2}",
		header: []string{"X-HTTP-Method-Override", "DELETE", "X-Method-Override", "DELETE"}, want: []int{405}})
	for _, m := range []string{"G(T", "GET\x01", "", "G T"} {
		cs = append(cs, hostileCase{name: "malformed method", who: "anon", method: m, target: "/api/products", want: []int{400, 405}, goLayer: true})
	}
	return cs
}

// headerCases: oversized headers, bad If-Match, duplicated credentials,
// body framing tricks.
func (w *hostileWorld) headerCases() []hostileCase {
	big := strings.Repeat("a", 100<<10)
	many := make([]string, 0, 6000)
	for i := range 3000 {
		many = append(many, fmt.Sprintf("+X-H-%d", i), strings.Repeat("v", 20))
	}
	cs := []hostileCase{
		{name: "huge header", who: "anon", method: "GET", target: "/api/products", header: []string{"X-Big", big}, want: []int{431}, goLayer: true},
		{name: "huge cookie", who: "anon", method: "GET", target: "/api/products", header: []string{"Cookie", "lithair_session=" + big}, want: []int{431}, goLayer: true},
		{name: "huge Authorization", who: "anon", method: "GET", target: "/api/products", header: []string{"Authorization", "Bearer " + big}, want: []int{431}, goLayer: true},
		{name: "many headers", who: "anon", method: "GET", target: "/api/products", header: many, want: []int{431}, goLayer: true},
		{name: "large Authorization under the limit", who: "anon", method: "GET", target: "/api/products",
			header: []string{"Authorization", "Bearer " + strings.Repeat("a", 40<<10)}, want: []int{401}},
		{name: "many cookies", who: "anon", method: "POST", target: "/api/products", body: `{"name":"hx-cookies"}`,
			header: []string{"Cookie", strings.Repeat("lithair_session=x; ", 1000)}, want: []int{401}},
		{name: "NUL in a header", who: "anon", method: "GET", target: "/api/products", header: []string{"X-A", "a\x00b"}, want: []int{400}, goLayer: true},
		{name: "space in a header name", who: "anon", method: "GET", target: "/api/products", header: []string{"X A", "b"}, want: []int{400}, goLayer: true},
		{name: "two credentials, customer first", who: "cust1", method: "POST", target: "/api/_users",
			header: []string{"+Authorization", w.auth["admin"][1]},
			body:   `{"name":"hx-dup","password":"intruder-pass","roles":["admin"]}`, want: []int{400, 401, 403}},
		{name: "no Host", who: "anon", method: "GET", target: "/api/products", header: []string{"Host", ""}, want: []int{400}, goLayer: true},
		{name: "negative Content-Length", who: "admin", method: "POST", target: "/api/categories",
			header: []string{"Content-Length", "-5"}, body: `{"bogus":1}`, want: []int{400}, goLayer: true},
		{name: "two Content-Lengths", who: "admin", method: "POST", target: "/api/categories",
			header: []string{"Content-Length", "11", "+Content-Length", "5"}, body: `{"bogus":1}`, want: []int{400}, goLayer: true},
		{name: "short Content-Length", who: "admin", method: "POST", target: "/api/categories",
			header: []string{"Content-Length", "5"}, body: `{"name":"hx-short"}`, want: []int{400}},
		{name: "broken chunked body", who: "admin", method: "POST", target: "/api/categories",
			header: []string{"Transfer-Encoding", "chunked"}, body: "zz\r\n{\"name\":\"hx-chunk\"}\r\n0\r\n\r\n", want: []int{400}},
		{name: "chunked with a Content-Length", who: "admin", method: "POST", target: "/api/categories",
			header: []string{"Transfer-Encoding", "chunked", "Content-Length", "3"}, body: "b\r\n{\"bogus\":1}\r\n0\r\n\r\n", want: []int{400, 422}, goLayer: true},
		{name: "unsupported Transfer-Encoding", who: "admin", method: "POST", target: "/api/categories",
			header: []string{"Transfer-Encoding", "gzip"}, body: `{"bogus":1}`, want: []int{400, 501}, goLayer: true},
		{name: "gzip Content-Encoding", who: "admin", method: "POST", target: "/api/categories",
			header: []string{"Content-Encoding", "gzip"}, body: hostileGzip(`{"name":"hx-gzip"}`), want: []int{400, 415}},
		{name: "If-None-Match garbage", who: "anon", method: "GET", target: "/api/products/{p2}", header: []string{"If-None-Match", "!garbage, W/"}, want: []int{200}},
		{name: "If-None-Match any", who: "anon", method: "GET", target: "/api/products/{p2}", header: []string{"If-None-Match", "*"}, want: []int{304}},
	}
	for _, m := range []string{"PUT", "PATCH", "DELETE"} {
		body := map[string]string{"PUT": `{"name":"hx-gadget","price":6}`, "PATCH": `{"price":6}`}[m]
		for _, v := range []string{"abc", `"abc"`, "0", `"0"`, "-1", "1.5", "W/", `""`, `"1", "2"`, "*", "18446744073709551616", "0x1"} {
			cs = append(cs, hostileCase{name: "invalid If-Match " + v, who: "admin", method: m, target: "/api/products/{p2}",
				header: []string{"If-Match", v}, body: body, want: []int{400}, why: "an invalid If-Match is 400 and writes nothing"})
		}
		cs = append(cs, hostileCase{name: "stale If-Match", who: "admin", method: m, target: "/api/products/{p2}",
			header: []string{"If-Match", `"99"`}, body: body, want: []int{412}})
	}
	return cs
}

func hostileGzip(s string) string {
	var b bytes.Buffer
	z := gzip.NewWriter(&b)
	z.Write([]byte(s))
	z.Close()
	return b.String()
}

// crossOriginCases: a write a browser sends from another site is refused,
// even with a session cookie, even to sign in.
func (w *hostileWorld) crossOriginCases() []hostileCase {
	writes := []struct{ method, target, body string }{
		{"POST", "/api/products", `{"name":"hx-csrf","price":1}`},
		{"PATCH", "/api/products/{p2}", `{"price":0}`},
		{"DELETE", "/api/products/{p2}", ""},
		{"POST", "/api/_users", `{"name":"hx-csrf","password":"intruder-pass","roles":["admin"]}`},
		{"POST", "/api/_tokens", `{"name":"hx-csrf"}`},
		{"POST", "/api/orders", `{"product_id":"{p1}"}`},
		{"POST", "/api/_auth/logout", ""},
		{"POST", "/api/_auth/login", `{"username":"admin","password":"` + adminPassword + `"}`},
	}
	origins := [][]string{
		{"Sec-Fetch-Site", "cross-site"},
		{"Sec-Fetch-Site", "same-site"},
		{"Origin", "http://evil.example"},
		{"Origin", "null"},
		{"Origin", "http://127.0.0.1:1"},
		{"Sec-Fetch-Site", "cross-site", "Origin", "http://" + w.host},
	}
	var cs []hostileCase
	for _, wr := range writes {
		for _, o := range origins {
			for _, who := range []string{"admin-cookie", "cust1-cookie", "admin"} {
				cs = append(cs, hostileCase{name: "cross-origin write", who: who, method: wr.method, target: wr.target, body: wr.body,
					header: o, want: []int{403}, why: "a cross-origin write is refused 403"})
			}
		}
	}
	for _, o := range origins {
		cs = append(cs, hostileCase{name: "cross-origin read", who: "anon", method: "GET", target: "/api/products", header: o, want: []int{200}})
	}
	cs = append(cs, hostileCase{name: "same-origin write", who: "admin-cookie", method: "POST", target: "/api/categories", writes: true,
		header: []string{"Sec-Fetch-Site", "same-origin", "Origin", "http://" + w.host}, body: `{"name":"hx-same-origin"}`, want: []int{201}})
	return cs
}

// operatorCases: the admin's own mistakes on /api/_users and /api/_tokens
// are 4xx and never lock the admin out.
func (w *hostileWorld) operatorCases() []hostileCase {
	c := func(method, target, body string, want ...int) hostileCase {
		return hostileCase{name: "operator mistake", who: "admin", method: method, target: target, body: body, want: want}
	}
	cs := []hostileCase{
		c("POST", "/api/_users", `{"name":"../x","password":"valid-pass-1"}`, 422),
		c("POST", "/api/_users", `{"name":"`+strings.Repeat("a", 65)+`","password":"valid-pass-1"}`, 422),
		c("POST", "/api/_users", `{"name":"a b","password":"valid-pass-1"}`, 422),
		c("POST", "/api/_users", `{"name":"hx-short","password":"short"}`, 422),
		c("POST", "/api/_users", `{"name":"hx-x","password":""}`, 422),
		c("POST", "/api/_users", `{"name":"","password":"valid-pass-1"}`, 422),
		c("POST", "/api/_users", `{"name":"hx-x","password":"valid-pass-1","roles":"admin"}`, 422),
		c("POST", "/api/_users", `{"name":"hx-x","password":"valid-pass-1","roles":[1]}`, 422),
		c("POST", "/api/_users", `{"name":"hx-x","password":"valid-pass-1","disabled":false}`, 422),
		c("POST", "/api/_users", `{"name":"hx-x","password":"valid-pass-1","password_hash":"$argon2id$x"}`, 422),
		c("POST", "/api/_users", `{"name":"admin","password":"valid-pass-1"}`, 409),
		c("GET", "/api/_users/nobody", "", 404),
		c("PATCH", "/api/_users/nobody", `{"disabled":true}`, 404),
		c("DELETE", "/api/_users/nobody", "", 404),
		c("PATCH", "/api/_users/admin", `{"roles":[]}`, 409),
		c("PATCH", "/api/_users/admin", `{"roles":["Admin"]}`, 409),
		c("PATCH", "/api/_users/admin", `{"disabled":true}`, 409),
		c("DELETE", "/api/_users/admin", "", 409),
		c("PATCH", "/api/_users/hx-cust1", `{"password":""}`, 422),
		c("PATCH", "/api/_users/hx-cust1", `{"name":"hx-renamed"}`, 422),
		c("PATCH", "/api/_users/hx-cust1", `{"disabled":"yes"}`, 422),
		c("POST", "/api/_tokens", `{"name":"hx-t","user":"nobody"}`, 422),
		c("POST", "/api/_tokens", `{"name":"","user":"hx-cust1"}`, 422),
		c("POST", "/api/_tokens", `{"name":"`+strings.Repeat("n", 101)+`"}`, 422),
		c("POST", "/api/_tokens", `{"name":"hx-t","expires_in":"-1h"}`, 422),
		c("POST", "/api/_tokens", `{"name":"hx-t","expires_in":"0s"}`, 422),
		c("POST", "/api/_tokens", `{"name":"hx-t","expires_in":"forever"}`, 422),
		c("POST", "/api/_tokens", `{"name":"hx-t","expires_in":"99999999999h"}`, 422),
		c("POST", "/api/_tokens", `{"name":"hx-t","roles":"admin"}`, 422),
		c("POST", "/api/_tokens", `{"name":"hx-t","token_hash":"x"}`, 422),
		c("DELETE", "/api/_tokens/nonexistent", "", 404),
		c("DELETE", "/api/_tokens/{hx-cust1}", "", 404),
		c("DELETE", "/api/_tokens/{p1}", "", 404),
		c("GET", "/api/_tokens/{cust1-token}", "", 404, 405),
		c("GET", "/api/_audit?limit=0", "", 400),
		c("GET", "/api/_audit?limit=abc", "", 400),
		c("GET", "/api/_audit?cursor=abc", "", 400),
		c("GET", "/api/_audit?cursor=0", "", 400),
		c("GET", "/api/_audit?bogus=1", "", 400),
		c("GET", "/api/_projections/nope", "", 404),
		c("GET", "/api/_projections/SalesMetrics/nope", "", 404),
	}
	// Secrets are stored as digests that nobody reads, not even admins.
	noSecret := func(a hostileAnswer) string {
		for _, s := range []string{"password_hash", "token_hash", "$argon2", hostilePassword} {
			if bytes.Contains(a.body, []byte(s)) {
				return "a secret is shown (" + s + "): " + a.String()
			}
		}
		return ""
	}
	for _, u := range []string{"/api/_users", "/api/_users/hx-cust1", "/api/_tokens", "/api/_audit?model=_User&limit=1000",
		"/api/_audit?model=_Token&limit=1000", "/api/_audit?model=_Session&limit=1000", "/api/_audit?limit=1000"} {
		cs = append(cs, hostileCase{name: "no secrets", who: "admin", method: "GET", target: u, want: []int{200}, check: noSecret,
			why: "password and token digests are readable by nobody"})
	}
	return cs
}

// queryCases: malformed list and history parameters are 400s naming the
// parameter.
func (w *hostileWorld) queryCases() []hostileCase {
	var cs []hostileCase
	for _, q := range []string{"limit=0", "limit=1001", "limit=-1", "limit=abc", "limit=1e3", "limit=99999999999999999999",
		"cursor=garbage", "cursor=eyJmIjoicHJpY2UiLCJ2IjpbMV0sImlkIjoieCJ9", "cursor=eyJmIjoibmFtZSIsInYiOnt9LCJpZCI6IngifQ",
		"cursor=" + strings.Repeat("A", 10000), "sort=nope", "sort=--price", "sort=", "nope=1", "price[zz]=1", "price[gte]=abc",
		"price[gte]=1e400", "price=1&price=2", "price[in]=", "price[in]=1,,2", "%zz", "a=%zz", "name[=x", "stock[gt]=0x10",
		"id=x", "created_at[gt]=x", "version=2"} {
		cs = append(cs, hostileCase{name: "bad list query", who: "anon", method: "GET", target: "/api/products?" + q, want: []int{400}, code: "bad_query"})
	}
	// strconv.ParseFloat reads more than JSON numbers; a filter on a
	// number field must take only what a body could hold.
	for _, q := range []string{"price[gte]=NaN", "price[lt]=Inf", "price[lt]=-infinity", "price[gt]=0x1p-2", "stock[gt]=1_000", "price=%201"} {
		cs = append(cs, hostileCase{name: "filter value not a JSON number", who: "anon", method: "GET", target: "/api/products?" + q,
			want: []int{400}, code: "bad_query", why: "a filter value of the wrong type is a 400 naming the parameter (docs/api.md)"})
	}
	for _, q := range []string{"version=0", "version=abc", "version=-1", "version=18446744073709551616", "version=1.0",
		"at=garbage", "at=2026-13-01T00:00:00Z", "at=" + strings.Repeat("9", 5000)} {
		cs = append(cs, hostileCase{name: "bad history query", who: "anon", method: "GET", target: "/api/products/{p1}?" + q, want: []int{400}, code: "bad_query"})
	}
	for _, q := range []string{"version=99", "version=18446744073709551615", "at=0001-01-01T00:00:00Z"} {
		cs = append(cs, hostileCase{name: "history that never was", who: "anon", method: "GET", target: "/api/products/{p1}?" + q, want: []int{404}})
	}
	cs = append(cs,
		hostileCase{name: "history of a record that never was", who: "anon", method: "GET", target: "/api/products/nope/events", want: []int{404}},
		hostileCase{name: "record that never was", who: "anon", method: "GET", target: "/api/products/nope", want: []int{404}},
		hostileCase{name: "record that never was", who: "admin", method: "PATCH", target: "/api/products/nope", body: `{"price":1}`, want: []int{404}},
		hostileCase{name: "record that never was", who: "admin", method: "PUT", target: "/api/products/nope", body: `{"name":"x"}`, want: []int{404}},
		hostileCase{name: "record that never was", who: "admin", method: "DELETE", target: "/api/products/nope", want: []int{404}},
		hostileCase{name: "record that never was", who: "admin", method: "DELETE", target: "/api/categories/0190d5a4-0000-7000-8000-000000000000", want: []int{404}},
		hostileCase{name: "unique name taken", who: "editor", method: "POST", target: "/api/categories", body: `{"name":"hx-tools"}`, want: []int{409}},
	)
	return cs
}

// numberCases: wrong types and bounds are 422; numbers the API accepts
// come back digit for digit, and stay findable.
func (w *hostileWorld) numberCases() []hostileCase {
	var cs []hostileCase
	for _, b := range []string{`{"stock":1.5}`, `{"stock":1e2}`, `{"stock":10.0}`, `{"stock":"1"}`, `{"stock":true}`, `{"stock":[1]}`,
		`{"price":"1"}`, `{"price":-1}`, `{"price":-1e-400}`, `{"price":{}}`, `{"price":[]}`, `{"name":""}`, `{"name":null}`,
		`{"name":"` + strings.Repeat("n", 201) + `"}`, `{"name":"` + strings.Repeat("é", 201) + `"}`, `{"cost":-0.01}`, `{"category_id":5}`} {
		cs = append(cs, hostileCase{name: "field type or bound", who: "editor", method: "PATCH", target: "/api/products/{p2}", body: b,
			want: []int{422}, code: "validation_failed", why: "a wrong field type or bound is 422"})
	}
	for _, b := range []string{`{"product_id":"x","quantity":0}`, `{"product_id":"x","quantity":-12345678901234567890}`,
		`{"product_id":"x","quantity":1.0}`, `{"product_id":"x","total":-0.000000000000000000001}`, `{"product_id":"x","status":"lost"}`,
		`{"quantity":1}`, `{"product_id":null}`, `{"product_id":["x"]}`} {
		cs = append(cs, hostileCase{name: "field type or bound", who: "editor", method: "POST", target: "/api/orders", body: b,
			want: []int{403, 422}, why: "a wrong field type or bound is 422"})
	}
	exact := func(field, digits string) func(hostileAnswer) string {
		return func(a hostileAnswer) string {
			if a.status == 422 {
				return ""
			}
			var rec map[string]json.RawMessage
			if json.Unmarshal(a.body, &rec) != nil || string(rec[field]) != digits {
				return fmt.Sprintf("%s came back as %s, not %s", field, rec[field], digits)
			}
			back := w.send("GET", "/api/"+map[bool]string{true: "orders", false: "products"}[field == "quantity"]+"/"+strings.Trim(string(rec["id"]), `"`),
				w.auth["admin"], "")
			if !bytes.Contains(back.body, []byte(`"`+field+`":`+digits)) {
				return "read back differently: " + back.String()
			}
			return ""
		}
	}
	why := "huge numbers keep their precision or are refused 422, never rounded"
	for _, n := range []struct{ field, method, target, who, body, digits string }{
		{"quantity", "POST", "/api/orders", "cust1", `{"product_id":"{p1}","quantity":12345678901234567890}`, "12345678901234567890"},
		{"quantity", "POST", "/api/orders", "cust1", `{"product_id":"{p1}","quantity":123456789012345678901234567890123}`, "123456789012345678901234567890123"},
		{"stock", "PATCH", "/api/products/{p2}", "editor", `{"stock":-98765432109876543210}`, "-98765432109876543210"},
		{"price", "PATCH", "/api/products/{p2}", "editor", `{"price":19.999999999999999999}`, "19.999999999999999999"},
		{"price", "PATCH", "/api/products/{p2}", "editor", `{"price":0.30000000000000000001}`, "0.30000000000000000001"},
		{"stock", "PATCH", "/api/products/{p2}", "editor", `{"stock":9007199254740993}`, "9007199254740993"},
	} {
		cs = append(cs, hostileCase{name: "exact number", who: n.who, method: n.method, target: n.target, body: n.body, writes: true,
			want: []int{200, 201, 422}, check: exact(n.field, n.digits), why: why})
	}
	// A price the API accepts must be found by the index that serves
	// ?sort=price, or be refused: a record must not vanish from lists.
	for _, p := range []string{"1e400", "2e308"} {
		cs = append(cs, hostileCase{name: "price " + p + " stays findable", who: "editor", method: "POST", target: "/api/products", writes: true,
			body: `{"name":"hx-huge-` + p + `","price":` + p + `}`, want: []int{201, 422},
			why: "an accepted number on an indexed field must be listed by ?sort= on that field (or refused 422)",
			check: func(a hostileAnswer) string {
				if a.status != 201 {
					return ""
				}
				var rec struct{ ID string }
				json.Unmarshal(a.body, &rec)
				l := w.send("GET", "/api/products?sort=price&limit=1000", nil, "")
				if !bytes.Contains(l.body, []byte(rec.ID)) {
					return "created with price " + p + " (201) but absent from GET /api/products?sort=price: the index dropped it"
				}
				return ""
			}})
	}
	return cs
}

// hugeExponent: a number like 1e999999 is ten bytes of JSON and a million
// digits of decimal. Orders feed the SalesMetrics projection, which sums
// totals exactly; one such total must not make every later order slow.
func (w *hostileWorld) hugeExponent(rep *hostileReport) {
	why := "a 10-byte number (total 1e999999) must not cost the state machine seconds: refuse it 422 or keep its cost bounded"
	order := func(total string) (time.Duration, hostileAnswer) {
		start := time.Now()
		a := w.send("POST", "/api/orders", w.auth["cust2"], `{"product_id":"`+w.ids["p1"]+`","quantity":1,"total":`+total+`}`)
		return time.Since(start), a
	}
	fastest := func() time.Duration {
		best := time.Hour
		for range 5 {
			d, a := order("1")
			if a.status != 201 {
				rep.add(why, "a plain order failed: "+a.String())
			}
			best = min(best, d)
		}
		return best
	}
	before := fastest()
	// The smallest and the largest: their exact sum has a million digits
	// on each side of the point.
	var took []string
	accepted := false
	for _, total := range []string{"1e-999999", "1e999999"} {
		d, a := order(total)
		if a.err != nil || a.status >= 500 {
			rep.add(why, fmt.Sprintf("POST /api/orders total %s: %v %s", total, a.err, a))
			return
		}
		accepted = accepted || a.status == 201
		took = append(took, fmt.Sprintf("total %s: %d in %s", total, a.status, d.Round(time.Millisecond)))
	}
	if !accepted {
		return
	}
	after := fastest()
	w.t.Logf("huge exponents: %s; a plain order took %s before them and %s after", strings.Join(took, ", "), before, after)
	if after > 20*before && after > 100*time.Millisecond {
		rep.add(why, fmt.Sprintf("as a customer, POST /api/orders {\"total\":1e-999999} then {\"total\":1e999999} (%s): every later order takes %s instead of %s",
			strings.Join(took, ", "), after.Round(time.Millisecond), before.Round(time.Millisecond)))
	}
}
