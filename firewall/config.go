package firewall

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"strings"
)

// Config is the [firewall] section of the configuration file.
type Config struct {
	// Allow, Deny and TrustedProxies hold single addresses ("10.0.0.1",
	// "2001:db8::1") and CIDR prefixes ("10.0.0.0/8", "2001:db8::/32").
	// An empty Allow admits every address; Deny wins over Allow.
	Allow          []string `toml:"allow"`
	Deny           []string `toml:"deny"`
	TrustedProxies []string `toml:"trusted_proxies"`

	Rate        float64 `toml:"rate"` // requests/s per client, 0 = off
	Burst       int     `toml:"burst"`
	GlobalRate  float64 `toml:"global_rate"` // requests/s for the whole server, 0 = off
	GlobalBurst int     `toml:"global_burst"`
	LoginRate   float64 `toml:"login_rate"` // login attempts/s per client, 0 = off
	LoginBurst  int     `toml:"login_burst"`

	// LoginPath is the path whose POST requests also spend the login
	// bucket.
	LoginPath string `toml:"login_path"`
}

// DefaultConfig returns the defaults: no address lists, 10,000 requests/s
// per client with a burst of 20,000 (a flood guard: one reverse proxy, or
// a load test from one loopback client, must not be throttled), no global
// limit,
// and 5 login attempts/s per client with a burst of 20 on POST
// /api/_auth/login.
func DefaultConfig() Config {
	return Config{
		Allow:          []string{},
		Deny:           []string{},
		TrustedProxies: []string{},
		Rate:           10000,
		Burst:          20000,
		LoginRate:      5,
		LoginBurst:     20,
		LoginPath:      "/api/_auth/login",
	}
}

// ConfigError is one impossible value in a Config. Key is the option's
// TOML key inside [firewall] ("allow", "rate"), so the root configuration
// can report it as "firewall.allow".
type ConfigError struct {
	Key    string
	Reason string
}

func (e *ConfigError) Error() string {
	return "firewall." + e.Key + ": " + e.Reason
}

// Validate reports every impossible value, joined, each a *ConfigError.
func (c Config) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, &ConfigError{Key: key, Reason: fmt.Sprintf(format, args...)})
	}
	for _, l := range []struct {
		key     string
		entries []string
	}{{"allow", c.Allow}, {"deny", c.Deny}, {"trusted_proxies", c.TrustedProxies}} {
		for i, s := range l.entries {
			if _, err := parsePrefix(s); err != nil {
				bad(l.key, "entry %d %q: %v", i+1, s, err)
			}
		}
	}
	for _, b := range []struct {
		rateKey, burstKey string
		rate              float64
		burst             int
	}{
		{"rate", "burst", c.Rate, c.Burst},
		{"global_rate", "global_burst", c.GlobalRate, c.GlobalBurst},
		{"login_rate", "login_burst", c.LoginRate, c.LoginBurst},
	} {
		switch {
		case math.IsNaN(b.rate) || math.IsInf(b.rate, 0) || b.rate < 0:
			bad(b.rateKey, "must be a finite number >= 0 (0 turns the limit off), not %v", b.rate)
		case b.burst < 0:
			bad(b.burstKey, "must be >= 0, not %d", b.burst)
		case b.rate > 0 && b.burst < 1:
			bad(b.burstKey, "must be >= 1 when %s is set, or no request could ever pass", b.rateKey)
		}
	}
	if c.LoginRate > 0 && !strings.HasPrefix(c.LoginPath, "/") {
		bad("login_path", "must be a path starting with / when login_rate is set, not %q", c.LoginPath)
	}
	return errors.Join(errs...)
}

// parsePrefix reads one list entry. A single address becomes a prefix of
// its full length. IPv4-mapped IPv6 forms ("::ffff:10.0.0.1") become plain
// IPv4, because client addresses are unmapped before they are matched.
func parsePrefix(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if !strings.Contains(s, "/") {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return netip.Prefix{}, errors.New("not an IP address or CIDR prefix")
		}
		if a.Zone() != "" {
			return netip.Prefix{}, errors.New("an IPv6 zone (%name) cannot be matched")
		}
		a = a.Unmap()
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, errors.New("not an IP address or CIDR prefix")
	}
	if a := p.Addr(); a.Is4In6() {
		if p.Bits() < 96 {
			return netip.Prefix{}, errors.New("an IPv4-mapped prefix must be /96 or longer")
		}
		p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
	}
	return p.Masked(), nil
}

func parsePrefixes(entries []string) []netip.Prefix {
	out := make([]netip.Prefix, 0, len(entries))
	for _, s := range entries {
		if p, err := parsePrefix(s); err == nil {
			out = append(out, p)
		}
	}
	return out
}

// containsAddr scans linearly: the lists are meant for tens or hundreds of
// entries, where a scan beats any index.
func containsAddr(list []netip.Prefix, a netip.Addr) bool {
	for _, p := range list {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
