package firewall

import (
	"errors"
	"io"
	"math"
	"net/http"
	"net/netip"
	"path"
	"strconv"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// Denial reasons, the keys of Denied and the argument of OnDeny.
const (
	ReasonDenyList     = "deny_list"      // the client matched Deny
	ReasonNotAllowed   = "not_allowed"    // Allow is set and the client is outside it
	ReasonRateGlobal   = "rate_global"    // the whole server is over GlobalRate
	ReasonRateIP       = "rate_ip"        // the client is over Rate
	ReasonRateLogin    = "rate_login"     // the client is over LoginRate on LoginPath
	ReasonBodyTooLarge = "body_too_large" // Content-Length, or the body read, is over maxBody
)

var reasons = [...]string{ReasonDenyList, ReasonNotAllowed, ReasonRateGlobal, ReasonRateIP, ReasonRateLogin, ReasonBodyTooLarge}

const (
	denyList = iota
	notAllowed
	rateGlobal
	rateIP
	rateLogin
	bodyTooLarge
)

// Firewall is the first stage of every request. Build it with New and put
// Wrap around the whole mux.
type Firewall struct {
	// OnDeny, when set, is called with the reason of every denial, on the
	// request's goroutine; metrics count with it. Set it before serving.
	OnDeny func(reason string)

	allow, deny, trusted []netip.Prefix
	global               *rate.Limiter // nil when off
	clients              *clients      // nil when both per-client limits are off
	loginPath            string
	maxBody              int64
	denied               [len(reasons)]atomic.Uint64
	now                  func() time.Time
}

// New builds a Firewall from c. Request bodies are capped at maxBody bytes;
// maxBody <= 0 leaves them uncapped.
func New(c Config, maxBody int64) (*Firewall, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	f := &Firewall{
		allow:     parsePrefixes(c.Allow),
		deny:      parsePrefixes(c.Deny),
		trusted:   parsePrefixes(c.TrustedProxies),
		loginPath: c.LoginPath,
		maxBody:   maxBody,
		now:       time.Now,
	}
	if c.GlobalRate > 0 {
		f.global = rate.NewLimiter(rate.Limit(c.GlobalRate), c.GlobalBurst)
	}
	if c.Rate > 0 || c.LoginRate > 0 {
		f.clients = newClients(c)
	}
	return f, nil
}

// Denied returns how many requests were refused, by reason. Every reason
// is present, zero or not.
func (f *Firewall) Denied() map[string]uint64 {
	out := make(map[string]uint64, len(reasons))
	for i, r := range reasons {
		out[r] = f.denied[i].Load()
	}
	return out
}

// Wrap returns next behind the firewall. Checks run in the order described
// in the package comment; a request that passes them all reaches next with
// its client address in the context (see ClientIP) and, when maxBody > 0,
// its body behind http.MaxBytesReader.
func (f *Firewall) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ip := f.clientIP(r)
		if containsAddr(f.deny, ip) {
			f.refuse(w, denyList, 0)
			return
		}
		if len(f.allow) > 0 && !containsAddr(f.allow, ip) {
			f.refuse(w, notAllowed, 0)
			return
		}
		if !f.admit(w, r, ip) {
			return
		}
		if f.maxBody > 0 {
			if r.ContentLength > f.maxBody {
				f.refuse(w, bodyTooLarge, 0)
				return
			}
			if r.Body != nil && r.Body != http.NoBody {
				r.Body = &cappedBody{ReadCloser: http.MaxBytesReader(w, r.Body, f.maxBody), f: f}
			}
		}
		next.ServeHTTP(w, withClientIP(r, ip))
	})
}

// admit spends one token from each bucket that applies, or none: a request
// refused by a later bucket gives back what the earlier ones lent it, so
// one client over its own limit cannot drain the global bucket for
// everyone, and refused login attempts do not eat the client's general
// budget.
func (f *Firewall) admit(w http.ResponseWriter, r *http.Request, ip netip.Addr) bool {
	now := f.now()
	var taken [2]*rate.Reservation
	giveBack := func() {
		for _, res := range taken {
			if res != nil {
				res.CancelAt(now)
			}
		}
	}
	if f.global != nil {
		res, wait := take(f.global, now)
		if res == nil {
			f.refuse(w, rateGlobal, wait)
			return false
		}
		taken[0] = res
	}
	if f.clients == nil {
		return true
	}
	login := f.isLogin(r)
	c := f.clients.get(ip, login, now)
	if c.ip != nil {
		res, wait := take(c.ip, now)
		if res == nil {
			giveBack()
			f.refuse(w, rateIP, wait)
			return false
		}
		taken[1] = res
	}
	if login && c.login != nil {
		if res, wait := take(c.login, now); res == nil {
			giveBack()
			f.refuse(w, rateLogin, wait)
			return false
		}
	}
	return true
}

func (f *Firewall) isLogin(r *http.Request) bool {
	return f.loginPath != "" && r.Method == http.MethodPost && path.Clean(r.URL.Path) == f.loginPath
}

// take reserves one token if one is available now. Otherwise it reserves
// nothing and says how long until one is.
func take(lim *rate.Limiter, now time.Time) (*rate.Reservation, time.Duration) {
	res := lim.ReserveN(now, 1)
	if wait := res.DelayFrom(now); wait > 0 {
		res.CancelAt(now)
		return nil, wait
	}
	return res, 0
}

// errorBodies follow the API's one error shape,
// {"error":{"code":"…","message":"…"}}.
var errorBodies = [len(reasons)]struct {
	status int
	body   string
}{
	denyList:     {http.StatusForbidden, `{"error":{"code":"forbidden","message":"requests from this address are not allowed"}}`},
	notAllowed:   {http.StatusForbidden, `{"error":{"code":"forbidden","message":"requests from this address are not allowed"}}`},
	rateGlobal:   {http.StatusTooManyRequests, `{"error":{"code":"rate_limited","message":"the server is receiving too many requests"}}`},
	rateIP:       {http.StatusTooManyRequests, `{"error":{"code":"rate_limited","message":"too many requests from this address"}}`},
	rateLogin:    {http.StatusTooManyRequests, `{"error":{"code":"rate_limited","message":"too many login attempts from this address"}}`},
	bodyTooLarge: {http.StatusRequestEntityTooLarge, `{"error":{"code":"body_too_large","message":"the request body is larger than the limit"}}`},
}

// refuse counts a denial and answers it. wait > 0 adds Retry-After.
func (f *Firewall) refuse(w http.ResponseWriter, reason int, wait time.Duration) {
	f.count(reason)
	e := errorBodies[reason]
	h := w.Header()
	if wait > 0 {
		h.Set("Retry-After", strconv.FormatInt(retryAfterSeconds(wait), 10))
	}
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(e.status)
	io.WriteString(w, e.body+"\n")
}

func (f *Firewall) count(reason int) {
	f.denied[reason].Add(1)
	if f.OnDeny != nil {
		f.OnDeny(reasons[reason])
	}
}

// retryAfterSeconds rounds up: a client that waits the advertised whole
// seconds finds a token.
func retryAfterSeconds(wait time.Duration) int64 {
	s := math.Ceil(wait.Seconds())
	if s < 1 {
		return 1
	}
	if s > math.MaxInt32 {
		return math.MaxInt32
	}
	return int64(s)
}

// cappedBody counts the first read that runs into the body cap. The
// handler still answers it: http.MaxBytesReader returns *http.MaxBytesError,
// which the handler must map to 413.
type cappedBody struct {
	io.ReadCloser
	f       *Firewall
	counted bool
}

func (b *cappedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	var tooBig *http.MaxBytesError
	if err != nil && !b.counted && errors.As(err, &tooBig) {
		b.counted = true
		b.f.count(bodyTooLarge)
	}
	return n, err
}
