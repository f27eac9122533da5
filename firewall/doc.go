// Package firewall is the first stage of every request: it decides who the
// client is, refuses addresses the operator listed, enforces request rates
// and caps request bodies, before the mux or any handler runs.
//
// # Who the client is
//
// The client is the TCP peer (r.RemoteAddr), with IPv4-mapped IPv6
// addresses unmapped so that one IPv4 rule matches on every listener.
// X-Forwarded-For is written by whoever sends the request, so it is read
// only when the peer is inside TrustedProxies, and then only as far as the
// trust goes: the walk starts at the right end (the entry the peer itself
// appended) and steps left while the address just found is another trusted
// proxy. The first untrusted address is the client; whatever lies further
// left was written by that client and is never read. A client that talks
// to the server directly therefore cannot choose its address, and a client
// behind the proxy cannot either: prepending entries only adds to the part
// that is never read. With no TrustedProxies, the header is ignored.
//
// The answer is stashed in the request's context; ClientIP reads it, so
// logs, per-user limits and the allow list all agree. Nothing after the
// firewall should parse X-Forwarded-For again.
//
// # Order of checks
//
//	deny list -> allow list -> global rate -> per-client rate -> login rate -> body cap -> handler
//
// Address lists come first because they are static and cheap, and because
// a refused address must not spend tokens that honest clients need. Deny
// wins over Allow, so an operator can cut a single address out of an
// allowed network. An empty Allow admits every address.
//
// The global bucket comes before the per-client one because it exists for
// floods from many addresses: refusing there costs one shared limiter and
// never touches the per-client table, so a flood of new addresses does not
// fill it while the server is already over its limit. The per-client
// bucket then applies to everything, and the login bucket applies in
// addition, to POST requests on LoginPath only, because login is where a
// password guesser spends its attempts: its limit is far below the general
// one. A request spends a token from every bucket that applies or from
// none: when a later bucket refuses, the earlier ones get their token
// back. Without that, one client far over its own limit would drain the
// global bucket for everybody, and refused logins would use up the
// client's general budget.
//
// The body cap comes last: a request with an oversized body is still a
// request, and rate limits must count it, or a client could send unlimited
// large requests that cost the server headers to parse and an answer to
// write. A Content-Length over the cap gets 413 at once. A body without one
// (chunked) is wrapped in http.MaxBytesReader: the firewall cannot know
// its size before the handler reads it, so the handler sees a
// *http.MaxBytesError past the cap and must answer 413 itself (the server
// then closes the connection). The firewall still counts that denial.
//
// # Rate limits
//
// Limits are token buckets (golang.org/x/time/rate): Rate tokens a second,
// at most Burst saved up. A rate of 0 turns that limit off. A refusal is a
// 429 with Retry-After in whole seconds, rounded up and at least 1, the
// time until a token is back in the bucket that refused.
//
// Per-client buckets are kept per IPv4 address and per IPv6 /64, the block
// one subscriber usually holds; keyed by full IPv6 address, a single host
// could hand itself 2^64 fresh buckets. The table is an LRU with a hard cap
// of 65536 entries, and entries idle longer than their buckets take to
// refill (at least a minute) are dropped as requests come in. Dropping an
// idle entry loses nothing, since a new entry starts with a full bucket, so
// memory stays bounded however many addresses an attacker rotates through,
// and needs no goroutine and no Close.
//
// # Slow clients
//
// The firewall runs after net/http has read the request headers, so it
// cannot stop a client that sends them a byte at a time (slowloris). That
// is the http.Server's job: ReadHeaderTimeout, ReadTimeout and
// MaxHeaderBytes, which the web package sets. The tests check that such a
// server with the firewall in front drops a trickling client and keeps
// serving others.
//
// # Answers and counts
//
// Refusals use the API's error shape with Content-Type application/json:
// {"error":{"code":"forbidden"|"rate_limited"|"body_too_large","message":"…"}}.
// Every refusal is counted by reason (the Reason constants); Denied reads
// the counts and OnDeny, when set, is called for each one, so metrics need
// no dependency here.
package firewall
