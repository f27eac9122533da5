package firewall

import (
	"fmt"
	"net/http"
	"testing"
	"time"
)

// rateStep is one request of a rate scenario, after moving the clock on.
type rateStep struct {
	advance time.Duration
	req
	status     int
	reason     string
	retryAfter string // checked when status is 429
}

func TestRateLimits(t *testing.T) {
	behindProxy := func(c Config) Config { c.TrustedProxies = []string{"127.0.0.1"}; return c }
	from := func(ip string) req { return req{xff: []string{ip}} }
	login := req{method: http.MethodPost, path: "/api/_auth/login"}
	loginFrom := func(ip string) req { q := login; q.xff = []string{ip}; return q }
	repeat := func(n int, s rateStep) []rateStep {
		out := make([]rateStep, n)
		for i := range out {
			out[i] = s
		}
		return out
	}
	cat := func(parts ...[]rateStep) []rateStep {
		var out []rateStep
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	cases := []struct {
		name  string
		cfg   Config
		steps []rateStep
	}{
		{
			name: "429 with Retry-After after the burst",
			cfg:  Config{Rate: 1, Burst: 3},
			steps: cat(
				repeat(3, rateStep{status: 200}),
				[]rateStep{{status: 429, reason: ReasonRateIP, retryAfter: "1"}},
			),
		},
		{
			name: "Retry-After rounds the wait up to whole seconds",
			cfg:  Config{Rate: 0.2, Burst: 1},
			steps: []rateStep{
				{status: 200},
				{status: 429, reason: ReasonRateIP, retryAfter: "5"},
				{advance: 1500 * time.Millisecond, status: 429, reason: ReasonRateIP, retryAfter: "4"},
				{advance: 3500 * time.Millisecond, status: 200},
			},
		},
		{
			name: "bucket refills at the rate, never past the burst",
			cfg:  Config{Rate: 2, Burst: 2},
			steps: []rateStep{
				{status: 200}, {status: 200},
				{status: 429, reason: ReasonRateIP, retryAfter: "1"},
				{advance: 500 * time.Millisecond, status: 200},
				{status: 429, reason: ReasonRateIP},
				{advance: time.Hour, status: 200}, {status: 200},
				{status: 429, reason: ReasonRateIP},
			},
		},
		{
			name: "each client has its own bucket",
			cfg:  behindProxy(Config{Rate: 1, Burst: 1}),
			steps: []rateStep{
				{req: from("203.0.113.1"), status: 200},
				{req: from("203.0.113.1"), status: 429, reason: ReasonRateIP},
				{req: from("203.0.113.2"), status: 200},
				{req: from("2001:db8:1::1"), status: 200},
			},
		},
		{
			name: "IPv6 clients in one /64 share a bucket",
			cfg:  behindProxy(Config{Rate: 1, Burst: 2}),
			steps: []rateStep{
				{req: from("2001:db8:1:2::1"), status: 200},
				{req: from("2001:db8:1:2:ffff::9"), status: 200},
				{req: from("2001:db8:1:2:abcd::1"), status: 429, reason: ReasonRateIP},
				{req: from("2001:db8:1:3::1"), status: 200},
			},
		},
		{
			name: "global limit refuses every client once spent",
			cfg:  behindProxy(Config{GlobalRate: 1, GlobalBurst: 2}),
			steps: []rateStep{
				{req: from("203.0.113.1"), status: 200},
				{req: from("203.0.113.2"), status: 200},
				{req: from("203.0.113.3"), status: 429, reason: ReasonRateGlobal, retryAfter: "1"},
				{advance: time.Second, req: from("203.0.113.3"), status: 200},
			},
		},
		{
			name: "a client over its own limit does not drain the global bucket",
			cfg:  behindProxy(Config{Rate: 1, Burst: 1, GlobalRate: 1, GlobalBurst: 3}),
			steps: cat(
				[]rateStep{{req: from("203.0.113.1"), status: 200}},
				repeat(10, rateStep{req: from("203.0.113.1"), status: 429, reason: ReasonRateIP}),
				[]rateStep{
					{req: from("203.0.113.2"), status: 200},
					{req: from("203.0.113.3"), status: 200},
					{req: from("203.0.113.4"), status: 429, reason: ReasonRateGlobal},
				},
			),
		},
		{
			name: "login limit is stricter than the general one",
			cfg:  behindProxy(Config{Rate: 100, Burst: 100, LoginRate: 0.5, LoginBurst: 2, LoginPath: "/api/_auth/login"}),
			steps: cat(
				repeat(2, rateStep{req: loginFrom("203.0.113.1"), status: 200}),
				[]rateStep{
					{req: loginFrom("203.0.113.1"), status: 429, reason: ReasonRateLogin, retryAfter: "2"},
					// Another client, other paths and other methods are not affected.
					{req: loginFrom("203.0.113.2"), status: 200},
					{req: req{xff: []string{"203.0.113.1"}, method: http.MethodPost, path: "/api/things"}, status: 200},
					{req: req{xff: []string{"203.0.113.1"}, path: "/api/_auth/login"}, status: 200},
					// An unclean spelling of the path is the same path.
					{req: req{xff: []string{"203.0.113.1"}, method: http.MethodPost, path: "/api/./_auth/login"}, status: 429, reason: ReasonRateLogin},
					{advance: 2 * time.Second, req: loginFrom("203.0.113.1"), status: 200},
				},
			),
		},
		{
			name: "refused logins do not spend the general budget",
			cfg:  Config{Rate: 1, Burst: 5, LoginRate: 1, LoginBurst: 1, LoginPath: "/api/_auth/login"},
			steps: cat(
				[]rateStep{{req: login, status: 200}},
				repeat(10, rateStep{req: login, status: 429, reason: ReasonRateLogin}),
				repeat(4, rateStep{status: 200}),
				[]rateStep{{status: 429, reason: ReasonRateIP}},
			),
		},
		{
			name:  "rate 0 turns every limit off",
			cfg:   Config{},
			steps: cat(repeat(50, rateStep{status: 200}), repeat(50, rateStep{req: login, status: 200})),
		},
		{
			name: "the defaults do not throttle a loopback load test",
			cfg:  DefaultConfig(),
			steps: cat(
				repeat(1000, rateStep{status: 200}),
				repeat(20, rateStep{req: login, status: 200}),
				[]rateStep{{req: login, status: 429, reason: ReasonRateLogin}},
			),
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ts := startServer(t, tc.cfg, 0)
			want := map[string]uint64{}
			for i, s := range tc.steps {
				ts.clock.Advance(s.advance)
				a := ts.do(t, s.req)
				if a.status != s.status {
					t.Fatalf("step %d (%+v): status %d (%s), want %d", i, s.req, a.status, a.body, s.status)
				}
				if a.code != codeFor(s.status) {
					t.Errorf("step %d: code %q, want %q", i, a.code, codeFor(s.status))
				}
				switch {
				case s.status == http.StatusTooManyRequests && a.retryAfter == "":
					t.Errorf("step %d: 429 without Retry-After", i)
				case s.status == http.StatusTooManyRequests && s.retryAfter != "" && a.retryAfter != s.retryAfter:
					t.Errorf("step %d: Retry-After %q, want %q", i, a.retryAfter, s.retryAfter)
				case s.status != http.StatusTooManyRequests && a.retryAfter != "":
					t.Errorf("step %d: status %d with Retry-After %q", i, a.status, a.retryAfter)
				}
				if s.reason != "" {
					want[s.reason]++
				}
			}
			checkDenials(t, ts.fw, want)
		})
	}
}

// TestRetryAfterIsEnough checks the promise of Retry-After against the real
// clock: a client that waits what it was told gets through.
func TestRetryAfterIsEnough(t *testing.T) {
	t.Parallel()
	ts := startServer(t, Config{Rate: 4, Burst: 1}, 0)
	ts.fw.now = time.Now
	ts.do(t, req{})
	a := ts.do(t, req{})
	if a.status != http.StatusTooManyRequests || a.retryAfter != "1" {
		t.Fatalf("second request: status %d Retry-After %q, want 429 and 1", a.status, a.retryAfter)
	}
	time.Sleep(time.Second)
	if a := ts.do(t, req{}); a.status != http.StatusOK {
		t.Fatalf("after waiting Retry-After: status %d", a.status)
	}
}

func TestClientTableStaysBounded(t *testing.T) {
	ts := startServer(t, Config{TrustedProxies: []string{"127.0.0.1"}, Rate: 10, Burst: 10, LoginRate: 1, LoginBurst: 1, LoginPath: "/login"}, 0)
	table := ts.fw.clients
	table.max = 64

	// An attacker rotating through many addresses, IPv4 and IPv6 /64s.
	for i := range 300 {
		ts.do(t, req{xff: []string{fmt.Sprintf("10.%d.%d.1", i/256, i%256)}})
		ts.do(t, req{xff: []string{fmt.Sprintf("2001:db8:%x::1", i)}, method: http.MethodPost, path: "/login"})
		if n := table.len(); n > table.max {
			t.Fatalf("after %d addresses the table holds %d entries, cap %d", 2*(i+1), n, table.max)
		}
	}
	// Rotating inside one /64 does not add entries at all.
	before := table.len()
	for i := range 100 {
		ts.do(t, req{xff: []string{fmt.Sprintf("2001:db8:ffff:1::%x", i+1)}})
	}
	if n := table.len(); n > before+1 {
		t.Errorf("100 addresses in one /64 grew the table from %d to %d", before, n)
	}

	// Once the attack stops, idle entries go as other requests come in.
	ts.clock.Advance(table.idle + time.Second)
	for range table.max {
		ts.do(t, req{xff: []string{"192.0.2.1"}})
	}
	if n := table.len(); n != 1 {
		t.Errorf("after the idle time the table holds %d entries, want only the active client", n)
	}
}
