package firewall

import (
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
)

func TestBodyCap(t *testing.T) {
	t.Parallel()
	const maxBody = 1 << 10
	// chunked hides the length from net/http's client, which then sends
	// Transfer-Encoding: chunked.
	chunked := func(n int) io.Reader { return io.MultiReader(strings.NewReader(strings.Repeat("x", n))) }
	cases := []struct {
		name        string
		body        io.Reader
		length      int64
		status      int
		reachesNext bool
		counted     bool
	}{
		{name: "Content-Length over the cap is refused before the handler", body: strings.NewReader(strings.Repeat("x", maxBody+1)), status: 413},
		{name: "Content-Length far over the cap", body: strings.NewReader(strings.Repeat("x", 64<<10)), status: 413},
		{name: "body exactly at the cap passes", body: strings.NewReader(strings.Repeat("x", maxBody)), status: 200, reachesNext: true},
		{name: "chunked body past the cap fails the handler's read", body: chunked(maxBody + 1), length: -1, status: 413, reachesNext: true},
		{name: "chunked body under the cap passes", body: chunked(maxBody - 1), length: -1, status: 200, reachesNext: true},
		{name: "no body passes", status: 200, reachesNext: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ts := startServer(t, Config{}, maxBody)
			a := ts.do(t, req{method: http.MethodPost, body: tc.body, length: tc.length})
			if a.status != tc.status {
				t.Fatalf("status %d (%s), want %d", a.status, a.body, tc.status)
			}
			if a.code != codeFor(tc.status) {
				t.Errorf("code %q, want %q", a.code, codeFor(tc.status))
			}
			if got := ts.handlerHits(); (got == 1) != tc.reachesNext {
				t.Errorf("handler ran %d times, want reached=%v", got, tc.reachesNext)
			}
			want := map[string]uint64{}
			if tc.status == http.StatusRequestEntityTooLarge {
				want[ReasonBodyTooLarge] = 1
			}
			checkDenials(t, ts.fw, want)
		})
	}
}

func TestDenialCounters(t *testing.T) {
	t.Parallel()
	ts := startServer(t, Config{
		TrustedProxies: []string{"127.0.0.1"},
		Allow:          []string{"203.0.113.0/24", "198.51.100.0/24"},
		Deny:           []string{"203.0.113.66"},
		Rate:           1, Burst: 2,
		GlobalRate: 1, GlobalBurst: 6,
		LoginRate: 1, LoginBurst: 1, LoginPath: "/login",
	}, 16)
	var mu sync.Mutex
	hooked := map[string]uint64{}
	ts.fw.OnDeny = func(reason string) {
		mu.Lock()
		hooked[reason]++
		mu.Unlock()
	}
	from := func(ip string) req { return req{xff: []string{ip}} }
	steps := []step{
		{req: from("203.0.113.66"), status: 403, reason: ReasonDenyList},
		{req: from("203.0.113.66"), status: 403, reason: ReasonDenyList},
		{req: from("192.0.2.1"), status: 403, reason: ReasonNotAllowed},
		{req: from("203.0.113.1"), status: 200},
		{req: from("203.0.113.1"), status: 200},
		{req: from("203.0.113.1"), status: 429, reason: ReasonRateIP},
		{req: req{xff: []string{"203.0.113.2"}, method: http.MethodPost, path: "/login"}, status: 200},
		{req: req{xff: []string{"203.0.113.2"}, method: http.MethodPost, path: "/login"}, status: 429, reason: ReasonRateLogin},
		{req: req{xff: []string{"203.0.113.3"}, method: http.MethodPost, body: strings.NewReader(strings.Repeat("x", 17))}, status: 413, reason: ReasonBodyTooLarge},
		{req: req{xff: []string{"198.51.100.1"}, method: http.MethodPost, body: io.MultiReader(strings.NewReader(strings.Repeat("x", 17))), length: -1}, status: 413, reason: ReasonBodyTooLarge},
		{req: from("198.51.100.2"), status: 200},
		{req: from("198.51.100.3"), status: 429, reason: ReasonRateGlobal},
	}
	runSteps(t, ts, steps)
	mu.Lock()
	defer mu.Unlock()
	for r, n := range ts.fw.Denied() {
		if hooked[r] != n {
			t.Errorf("OnDeny saw %q %d times, Denied() says %d", r, hooked[r], n)
		}
	}
}
