package firewall

import (
	"net/http"
	"testing"
)

// step is one request of a scenario and what the client must see.
type step struct {
	req
	status int
	reason string // the denial counted, "" when admitted
	client string // the address the handler must see, when admitted and set
}

func runSteps(t *testing.T, ts *testServer, steps []step) {
	t.Helper()
	want := map[string]uint64{}
	for i, s := range steps {
		a := ts.do(t, s.req)
		if a.status != s.status {
			t.Fatalf("step %d (%+v): status %d (%s), want %d", i, s.req, a.status, a.body, s.status)
		}
		if a.code != codeFor(s.status) {
			t.Errorf("step %d: error code %q, want %q", i, a.code, codeFor(s.status))
		}
		if s.status == http.StatusOK && s.client != "" && a.body != s.client {
			t.Errorf("step %d: handler saw client %q, want %q", i, a.body, s.client)
		}
		if s.reason != "" {
			want[s.reason]++
		}
	}
	checkDenials(t, ts.fw, want)
}

func TestAddressLists(t *testing.T) {
	proxied := func(c Config) Config { c.TrustedProxies = []string{"127.0.0.1"}; return c }
	cases := []struct {
		name  string
		cfg   Config
		steps []step
	}{
		{
			name: "deny list wins over allow",
			cfg:  Config{Allow: []string{"127.0.0.0/8"}, Deny: []string{"127.0.0.2"}},
			steps: []step{
				{req: req{from: "127.0.0.2"}, status: 403, reason: ReasonDenyList},
				{req: req{from: "127.0.0.3"}, status: 200, client: "127.0.0.3"},
			},
		},
		{
			name: "CIDR allow admits inside and refuses outside",
			cfg:  Config{Allow: []string{"127.0.0.0/30"}},
			steps: []step{
				{req: req{from: "127.0.0.2"}, status: 200},
				{req: req{from: "127.0.0.3"}, status: 200},
				{req: req{from: "127.0.0.4"}, status: 403, reason: ReasonNotAllowed},
			},
		},
		{
			name: "single addresses and CIDRs mix in one list",
			cfg:  Config{Allow: []string{"127.0.0.9", "127.0.1.0/24"}},
			steps: []step{
				{req: req{from: "127.0.0.9"}, status: 200},
				{req: req{from: "127.0.1.77"}, status: 200},
				{req: req{from: "127.0.0.10"}, status: 403, reason: ReasonNotAllowed},
			},
		},
		{
			name: "empty allow list admits every address",
			cfg:  Config{Deny: []string{"10.0.0.0/8"}},
			steps: []step{
				{req: req{from: "127.0.0.2"}, status: 200},
				{req: req{from: "127.0.0.200"}, status: 200},
			},
		},
		{
			name: "IPv6 client behind a proxy matches an IPv6 CIDR",
			cfg:  proxied(Config{Allow: []string{"2001:db8::/32"}, Deny: []string{"2001:db8:bad::/48"}}),
			steps: []step{
				{req: req{xff: []string{"2001:db8::5"}}, status: 200, client: "2001:db8::5"},
				{req: req{xff: []string{"2001:db8:bad::1"}}, status: 403, reason: ReasonDenyList},
				{req: req{xff: []string{"2001:db9::1"}}, status: 403, reason: ReasonNotAllowed},
			},
		},
		{
			name: "IPv4-mapped IPv6 address matches the IPv4 rule",
			cfg:  proxied(Config{Deny: []string{"10.0.0.0/8"}}),
			steps: []step{
				{req: req{xff: []string{"::ffff:10.1.2.3"}}, status: 403, reason: ReasonDenyList},
				{req: req{xff: []string{"::ffff:11.1.2.3"}}, status: 200, client: "11.1.2.3"},
			},
		},
		{
			name: "IPv4-mapped rule matches a plain IPv4 client",
			cfg:  Config{Deny: []string{"::ffff:127.0.0.2", "::ffff:127.0.2.0/120"}},
			steps: []step{
				{req: req{from: "127.0.0.2"}, status: 403, reason: ReasonDenyList},
				{req: req{from: "127.0.2.5"}, status: 403, reason: ReasonDenyList},
				{req: req{from: "127.0.0.3"}, status: 200},
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			runSteps(t, startServer(t, tc.cfg, 0), tc.steps)
		})
	}
}

func TestIPv6Peer(t *testing.T) {
	ts := startServerOn(t, "tcp6", "[::1]:0", Config{Deny: []string{"::1"}}, 0)
	runSteps(t, ts, []step{{status: 403, reason: ReasonDenyList}})

	ts = startServerOn(t, "tcp6", "[::1]:0", Config{Allow: []string{"::/64"}}, 0)
	runSteps(t, ts, []step{{status: 200, client: "::1"}})
}

func TestForwardedFor(t *testing.T) {
	cases := []struct {
		name    string
		trusted []string
		deny    []string
		xff     []string
		status  int
		client  string
	}{
		{
			name:    "ignored from an untrusted peer: a client cannot spoof its address",
			trusted: []string{"10.0.0.0/8"},
			xff:     []string{"203.0.113.9"},
			status:  200, client: "127.0.0.1",
		},
		{
			name:   "ignored without trusted proxies",
			xff:    []string{"203.0.113.9"},
			status: 200, client: "127.0.0.1",
		},
		{
			name:    "a spoofed header does not get a denied peer through",
			trusted: []string{"10.0.0.0/8"},
			deny:    []string{"127.0.0.1"},
			xff:     []string{"203.0.113.9"},
			status:  403,
		},
		{
			name:    "honoured from a trusted proxy",
			trusted: []string{"127.0.0.1"},
			xff:     []string{"203.0.113.9"},
			status:  200, client: "203.0.113.9",
		},
		{
			name:    "chain through trusted proxies: right-most untrusted entry, spoofed left entries ignored",
			trusted: []string{"127.0.0.1", "10.0.0.0/8"},
			xff:     []string{"198.51.100.7, 203.0.113.9, 10.1.1.1,10.2.2.2"},
			status:  200, client: "203.0.113.9",
		},
		{
			name:    "a spoofed left entry cannot dodge the deny list",
			trusted: []string{"127.0.0.1"},
			deny:    []string{"203.0.113.9"},
			xff:     []string{"198.51.100.7, 203.0.113.9"},
			status:  403,
		},
		{
			name:    "chain split over several header lines",
			trusted: []string{"127.0.0.1", "10.0.0.0/8"},
			xff:     []string{"198.51.100.7", "203.0.113.9, 10.1.1.1", "10.2.2.2"},
			status:  200, client: "203.0.113.9",
		},
		{
			name:    "every hop trusted: the left-most is the client",
			trusted: []string{"127.0.0.1", "10.0.0.0/8"},
			xff:     []string{"10.3.3.3, 10.1.1.1"},
			status:  200, client: "10.3.3.3",
		},
		{
			name:    "garbage entry stops the walk at the last trusted hop",
			trusted: []string{"127.0.0.1", "10.0.0.0/8"},
			xff:     []string{"203.0.113.9, not-an-ip, 10.1.1.1"},
			status:  200, client: "10.1.1.1",
		},
		{
			name:    "empty header from a trusted proxy: the proxy is the client",
			trusted: []string{"127.0.0.1"},
			status:  200, client: "127.0.0.1",
		},
		{
			name:    "IPv6 entries and empty elements",
			trusted: []string{"127.0.0.1", "fd00::/8"},
			xff:     []string{"2001:db8::1, , fd00::2"},
			status:  200, client: "2001:db8::1",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ts := startServer(t, Config{TrustedProxies: tc.trusted, Deny: tc.deny}, 0)
			a := ts.do(t, req{xff: tc.xff})
			if a.status != tc.status {
				t.Fatalf("status %d (%s), want %d", a.status, a.body, tc.status)
			}
			if tc.client != "" && a.body != tc.client {
				t.Errorf("handler saw client %q, want %q", a.body, tc.client)
			}
		})
	}
}

func TestClientIPWithoutFirewall(t *testing.T) {
	r, _ := http.NewRequest(http.MethodGet, "/", nil)
	r.RemoteAddr = "[::ffff:192.0.2.1]:4000"
	r.Header.Set("X-Forwarded-For", "203.0.113.9")
	if got := ClientIP(r).String(); got != "192.0.2.1" {
		t.Errorf("ClientIP outside the firewall = %s, want the unmapped peer 192.0.2.1", got)
	}
}
