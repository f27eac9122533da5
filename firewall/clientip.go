package firewall

import (
	"context"
	"net/http"
	"net/netip"
	"strings"
)

type clientIPKey struct{}

// ClientIP returns the client address the firewall decided on for r, so
// that logs and later stages agree with the allow list and the limits. For
// a request that did not pass through Wrap it returns the direct peer's
// address and never reads X-Forwarded-For, which any client can write. It
// returns the zero Addr when r.RemoteAddr is not an address.
func ClientIP(r *http.Request) netip.Addr {
	if a, ok := r.Context().Value(clientIPKey{}).(netip.Addr); ok {
		return a
	}
	return peerAddr(r)
}

// withClientIP stashes the decision in the request's context.
func withClientIP(r *http.Request, a netip.Addr) *http.Request {
	return r.WithContext(context.WithValue(r.Context(), clientIPKey{}, a))
}

// ClientIP returns the client address of r as this firewall sees it: the
// peer, or, when the peer is a trusted proxy, the right-most address in
// X-Forwarded-For that is not itself a trusted proxy. Use it in middleware
// that runs outside Wrap (an access log that also records denials);
// handlers inside Wrap can use the package function ClientIP.
func (f *Firewall) ClientIP(r *http.Request) netip.Addr {
	if a, ok := r.Context().Value(clientIPKey{}).(netip.Addr); ok {
		return a
	}
	return f.clientIP(r)
}

// clientIP walks X-Forwarded-For from the right. Each trusted hop appends
// the address it received the connection from, so an entry can be believed
// only while the hop that wrote it is trusted: the walk starts at the peer,
// steps left past every trusted address, and stops at the first untrusted
// one. Entries left of that point were written by the client and are never
// read. An unparsable entry also stops the walk at the last hop known, so a
// garbled header cannot name an arbitrary address. When every entry is a
// trusted proxy, the left-most one is the client (a request from inside).
func (f *Firewall) clientIP(r *http.Request) netip.Addr {
	cur := peerAddr(r)
	if len(f.trusted) == 0 || !cur.IsValid() || !containsAddr(f.trusted, cur) {
		return cur
	}
	hops := r.Header.Values("X-Forwarded-For")
	for i := len(hops) - 1; i >= 0; i-- {
		line := hops[i]
		for line != "" {
			var entry string
			if j := strings.LastIndexByte(line, ','); j >= 0 {
				line, entry = line[:j], line[j+1:]
			} else {
				line, entry = "", line
			}
			entry = strings.TrimSpace(entry)
			if entry == "" {
				continue
			}
			a, err := netip.ParseAddr(entry)
			if err != nil || a.Zone() != "" {
				return cur
			}
			cur = a.Unmap()
			if !containsAddr(f.trusted, cur) {
				return cur
			}
		}
	}
	return cur
}

// peerAddr is the address of the TCP peer, unmapped so that an IPv4 client
// on a dual-stack listener (::ffff:10.0.0.1) matches IPv4 rules.
func peerAddr(r *http.Request) netip.Addr {
	if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		return ap.Addr().Unmap().WithZone("")
	}
	if a, err := netip.ParseAddr(r.RemoteAddr); err == nil {
		return a.Unmap().WithZone("")
	}
	return netip.Addr{}
}
