package firewall

import (
	"container/list"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// maxClients bounds the per-client table. An entry costs about 250 bytes,
// so the table stays under ~16 MiB however many addresses an attacker
// rotates through.
const maxClients = 1 << 16

// client is the rate state of one client key.
type client struct {
	key   netip.Addr
	ip    *rate.Limiter // nil when the per-client limit is off
	login *rate.Limiter // created on the first login request
	seen  time.Time
}

// clients is the per-client limiter table: a map for lookup and a list in
// least-recently-used order for eviction. Eviction happens inline, without
// a sweeper goroutine, so a Firewall needs no Close: every lookup drops up
// to two entries idle longer than idle from the cold end, and a lookup that
// would pass max drops the coldest entry whatever its age.
//
// Dropping an idle entry loses nothing: idle is at least the time a bucket
// takes to refill, and a full bucket is what a new entry starts with.
// Dropping a busy entry under the cap gives that client a full bucket
// again; only an attacker who controls more than max distinct keys can
// cause it, and the limits then err on the lenient side, never against
// honest clients.
type clients struct {
	mu     sync.Mutex
	m      map[netip.Addr]*list.Element // of *client
	lru    list.List                    // front = most recently seen
	max    int
	idle   time.Duration
	ip     rate.Limit
	burst  int
	login  rate.Limit
	lburst int
}

func newClients(c Config) *clients {
	t := &clients{
		m:      make(map[netip.Addr]*list.Element),
		max:    maxClients,
		idle:   time.Minute,
		ip:     rate.Limit(c.Rate),
		burst:  c.Burst,
		login:  rate.Limit(c.LoginRate),
		lburst: c.LoginBurst,
	}
	t.lru.Init()
	for _, b := range []struct {
		r float64
		n int
	}{{c.Rate, c.Burst}, {c.LoginRate, c.LoginBurst}} {
		if b.r > 0 {
			if refill := time.Duration(float64(b.n) / b.r * float64(time.Second)); refill > t.idle {
				t.idle = refill
			}
		}
	}
	return t
}

// clientKey is the address a bucket is kept for. IPv6 clients are keyed by
// their /64: one subscriber usually holds a whole /64, so keying by the
// full address would hand an attacker 2^64 fresh buckets.
func clientKey(a netip.Addr) netip.Addr {
	if a.Is6() {
		return netip.PrefixFrom(a, 64).Masked().Addr()
	}
	return a
}

// get returns the client entry of a, creating it (and its login limiter
// when login is true) if needed.
func (t *clients) get(a netip.Addr, login bool, now time.Time) *client {
	key := clientKey(a)
	t.mu.Lock()
	defer t.mu.Unlock()
	var c *client
	if e, ok := t.m[key]; ok {
		c = e.Value.(*client)
		t.lru.MoveToFront(e)
	} else {
		if len(t.m) >= t.max {
			t.removeLocked(t.lru.Back())
		}
		c = &client{key: key}
		if t.ip > 0 {
			c.ip = rate.NewLimiter(t.ip, t.burst)
		}
		t.m[key] = t.lru.PushFront(c)
	}
	c.seen = now
	if login && c.login == nil && t.login > 0 {
		c.login = rate.NewLimiter(t.login, t.lburst)
	}
	for range 2 {
		e := t.lru.Back()
		if e == nil || now.Sub(e.Value.(*client).seen) <= t.idle {
			break
		}
		t.removeLocked(e)
	}
	return c
}

func (t *clients) removeLocked(e *list.Element) {
	delete(t.m, e.Value.(*client).key)
	t.lru.Remove(e)
}

func (t *clients) len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.m)
}
