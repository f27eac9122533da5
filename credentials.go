package lithair

import (
	"sync"
	"time"

	"github.com/lithair/lithair/index"
	"github.com/lithair/lithair/rules"
)

// credentialCache remembers who a session or API token is, so that a
// signed-in request does not decode the credential's and the user's
// records on every call (that decoding was a fifth of the CPU of a read).
// An entry holds only while both records are the very versions it was
// made from: the index lookups by digest and by name still run on every
// request, so a revoked token, an ended session, a disabled user or new
// roles take effect at once, as without the cache.
type credentialCache struct {
	m    sync.Map   // token digest -> *credential
	mu   sync.Mutex // guards size and the clearing
	size int
}

type credential struct {
	credID      string
	credVersion uint64
	userName    string
	userID      string
	userVersion uint64
	expires     time.Time // zero: never
	user        rules.User
}

// maxCredentials bounds the cache; past it, it starts over.
const maxCredentials = 1 << 14

func (c *credentialCache) lookup(state *index.State, digest string, cred *index.Record) (*rules.User, bool) {
	v, ok := c.m.Load(digest)
	if !ok {
		return nil, false
	}
	e := v.(*credential)
	if e.credID != cred.ID || e.credVersion != cred.Version {
		return nil, false
	}
	if !e.expires.IsZero() && !time.Now().Before(e.expires) {
		return nil, false // the slow path says why
	}
	urec, ok := state.GetUnique(rules.UserModel, "name", e.userName)
	if !ok || urec.ID != e.userID || urec.Version != e.userVersion {
		return nil, false
	}
	u := e.user
	return &u, true
}

func (c *credentialCache) keep(digest string, cred, user *index.Record, name string, expires time.Time, u *rules.User) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.size >= maxCredentials {
		c.m.Clear()
		c.size = 0
	}
	if _, loaded := c.m.Swap(digest, &credential{credID: cred.ID, credVersion: cred.Version, userName: name,
		userID: user.ID, userVersion: user.Version, expires: expires, user: *u}); !loaded {
		c.size++
	}
}
