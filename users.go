package lithair

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/lithair/lithair/auth"
	"github.com/lithair/lithair/event"
	"github.com/lithair/lithair/index"
	"github.com/lithair/lithair/rules"
)

// Users, API tokens and sessions are records of the system models (see
// rules/system.lua): every change is an event in the log, replicated and
// audited like any other. This file turns the operations people expect
// (add a user, sign in, make a token) into those records. Secrets never
// reach the log: passwords as argon2id hashes, tokens as SHA-256 digests.

// Authentication errors. The HTTP layer answers all of them with 401.
var (
	ErrBadCredentials = errors.New("invalid username or password")
	ErrBadToken       = errors.New("the token is not valid")
	ErrTokenExpired   = errors.New("the token has expired; sign in again")
)

// ErrLastAdmin refuses a change that would leave no enabled admin.
var ErrLastAdmin = errors.New("this is the last enabled admin; make another admin first")

// UserChange is an update of a user; nil members keep their value.
type UserChange struct {
	Password *string
	Roles    *[]string
	Disabled *bool
}

// CreateUser adds a user with a password and roles. actor is who asks,
// for the audit trail.
func (a *Appliance) CreateUser(ctx context.Context, actor, name, password string, roles []string) (*index.Record, error) {
	if _, taken := a.state.GetUnique(rules.UserModel, "name", name); taken {
		return nil, &event.Refusal{Code: event.CodeConflict, Field: "name", Message: fmt.Sprintf("a user named %q exists", name)}
	}
	hash, err := auth.HashPassword(ctx, password)
	if err != nil {
		return nil, &event.Refusal{Code: event.CodeInvalid, Field: "password", Message: err.Error()}
	}
	input := map[string]any{"name": name, "roles": anyList(roles), "password_hash": hash, "disabled": false}
	return a.writeSystem(ctx, actor, event.OpCreate, rules.UserModel, "", nil, input)
}

// UpdateUser changes a user's password, roles or disabled flag. A new
// password or a disabled user ends the user's sessions.
func (a *Appliance) UpdateUser(ctx context.Context, actor, name string, ch UserChange) (*index.Record, error) {
	old, ok := a.state.GetUnique(rules.UserModel, "name", name)
	if !ok {
		return nil, &event.Refusal{Code: event.CodeNotFound, Message: fmt.Sprintf("no user %q", name)}
	}
	fields := old.Fields()
	input := cloneMap(fields)
	if ch.Password != nil {
		hash, err := auth.HashPassword(ctx, *ch.Password)
		if err != nil {
			return nil, &event.Refusal{Code: event.CodeInvalid, Field: "password", Message: err.Error()}
		}
		input["password_hash"] = hash
	}
	if ch.Roles != nil {
		input["roles"] = anyList(*ch.Roles)
	}
	if ch.Disabled != nil {
		input["disabled"] = *ch.Disabled
	}
	if isAdmin(fields) && !isAdmin(input) && a.enabledAdmins() <= 1 {
		return nil, ErrLastAdmin
	}
	rec, err := a.writeSystem(ctx, actor, event.OpUpdate, rules.UserModel, old.ID, fields, input)
	if err == nil && (ch.Password != nil || (ch.Disabled != nil && *ch.Disabled)) {
		a.endSessions(ctx, actor, name)
	}
	return rec, err
}

// DeleteUser removes a user; their sessions and tokens stop working at once
// (authentication looks the user up) and are cleaned up.
func (a *Appliance) DeleteUser(ctx context.Context, actor, name string) error {
	old, ok := a.state.GetUnique(rules.UserModel, "name", name)
	if !ok {
		return &event.Refusal{Code: event.CodeNotFound, Message: fmt.Sprintf("no user %q", name)}
	}
	if isAdmin(old.Fields()) && a.enabledAdmins() <= 1 {
		return ErrLastAdmin
	}
	if _, err := a.propose(ctx, &event.Command{Op: event.OpDelete, Model: rules.UserModel, ID: old.ID, Expected: old.Version, Actor: actor, Time: time.Now().UnixNano()}); err != nil {
		return err
	}
	a.endSessions(ctx, actor, name)
	return nil
}

// Login checks a user's password and opens a session. It returns the
// session's secret, which is shown to the client once and stored only as a
// digest.
func (a *Appliance) Login(ctx context.Context, name, password string) (secret string, expires time.Time, u *rules.User, err error) {
	rec, ok := a.state.GetUnique(rules.UserModel, "name", name)
	var fields map[string]any
	if ok {
		fields = rec.Fields()
	}
	hash, _ := fields["password_hash"].(string)
	if !ok || hash == "" || fields["disabled"] == true {
		auth.WasteTime(ctx, password)
		return "", time.Time{}, nil, ErrBadCredentials
	}
	if err := auth.VerifyPassword(ctx, hash, password); err != nil {
		if errors.Is(err, auth.ErrMismatch) {
			return "", time.Time{}, nil, ErrBadCredentials
		}
		return "", time.Time{}, nil, err
	}
	secret, err = auth.NewToken(auth.SessionPrefix)
	if err != nil {
		return "", time.Time{}, nil, err
	}
	expires = time.Now().Add(a.cfg.Auth.SessionTTL.Duration).UTC().Truncate(time.Second)
	input := map[string]any{"user": name, "token_hash": auth.TokenHash(secret), "expires_at": expires.Format(time.RFC3339)}
	if _, err := a.writeSystem(ctx, name, event.OpCreate, rules.SessionModel, "", nil, input); err != nil {
		return "", time.Time{}, nil, err
	}
	return secret, expires, userOf(rec.ID, fields), nil
}

// Logout ends the session whose secret is given.
func (a *Appliance) Logout(ctx context.Context, secret string) error {
	rec, ok := a.state.GetUnique(rules.SessionModel, "token_hash", auth.TokenHash(secret))
	if !ok {
		return ErrBadToken
	}
	user, _ := rec.Fields()["user"].(string)
	_, err := a.propose(ctx, &event.Command{Op: event.OpDelete, Model: rules.SessionModel, ID: rec.ID, Actor: user, Time: time.Now().UnixNano()})
	return err
}

// Authenticate returns the user a session or API token secret stands for.
// It reads the state only; nothing is written on the request path.
func (a *Appliance) Authenticate(secret string) (*rules.User, error) {
	var model string
	switch {
	case auth.WellFormed(secret, auth.SessionPrefix):
		model = rules.SessionModel
	case auth.WellFormed(secret, auth.APITokenPrefix):
		model = rules.TokenModel
	default:
		return nil, ErrBadToken
	}
	digest := auth.TokenHash(secret)
	rec, ok := a.state.GetUnique(model, "token_hash", digest)
	if !ok {
		return nil, ErrBadToken
	}
	if u, ok := a.credentials.lookup(a.state, digest, rec); ok {
		return u, nil
	}
	cred := rec.Fields()
	// The lookup found it by digest already; comparing again in constant
	// time keeps the check honest should the lookup ever change.
	if stored, _ := cred["token_hash"].(string); !auth.SameHash(stored, digest) {
		return nil, ErrBadToken
	}
	var expires time.Time
	if exp, _ := cred["expires_at"].(string); exp != "" {
		t, err := time.Parse(time.RFC3339Nano, exp)
		if err != nil || !time.Now().Before(t) {
			return nil, ErrTokenExpired
		}
		expires = t
	}
	name, _ := cred["user"].(string)
	urec, ok := a.state.GetUnique(rules.UserModel, "name", name)
	if !ok {
		return nil, ErrBadToken
	}
	ufields := urec.Fields()
	if ufields["disabled"] == true {
		return nil, ErrBadToken
	}
	u := userOf(urec.ID, ufields)
	if model == rules.TokenModel {
		u.Roles = stringList(cred["roles"])
	}
	a.credentials.keep(digest, rec, urec, name, expires, u)
	return u, nil
}

// CreateToken makes an API token acting as user with roles. A zero expires
// never expires. The secret is returned once; only its digest is kept.
func (a *Appliance) CreateToken(ctx context.Context, actor, user, name string, roles []string, expires time.Time) (secret string, rec *index.Record, err error) {
	if _, ok := a.state.GetUnique(rules.UserModel, "name", user); !ok {
		return "", nil, &event.Refusal{Code: event.CodeInvalid, Field: "user", Message: fmt.Sprintf("no user %q", user)}
	}
	secret, err = auth.NewToken(auth.APITokenPrefix)
	if err != nil {
		return "", nil, err
	}
	input := map[string]any{"name": name, "user": user, "roles": anyList(roles), "prefix": auth.Visible(secret), "token_hash": auth.TokenHash(secret)}
	if !expires.IsZero() {
		input["expires_at"] = expires.UTC().Format(time.RFC3339)
	}
	rec, err = a.writeSystem(ctx, actor, event.OpCreate, rules.TokenModel, "", nil, input)
	if err != nil {
		return "", nil, err
	}
	return secret, rec, nil
}

// RevokeToken deletes an API token by its record id.
func (a *Appliance) RevokeToken(ctx context.Context, actor, id string) error {
	if _, ok := a.state.Get(rules.TokenModel, id); !ok {
		return &event.Refusal{Code: event.CodeNotFound, Message: fmt.Sprintf("no API token with id %s", id)}
	}
	_, err := a.propose(ctx, &event.Command{Op: event.OpDelete, Model: rules.TokenModel, ID: id, Actor: actor, Time: time.Now().UnixNano()})
	return err
}

// InitialAdmin returns, once, the user the first start created and its
// generated password (empty when the password came from the
// configuration). ok is false on every later call and on later starts.
func (a *Appliance) InitialAdmin() (name, password string, ok bool) {
	a.firstAdmin.mu.Lock()
	defer a.firstAdmin.mu.Unlock()
	if a.firstAdmin.name == "" {
		return "", "", false
	}
	name, password = a.firstAdmin.name, a.firstAdmin.password
	a.firstAdmin.name, a.firstAdmin.password = "", ""
	return name, password, true
}

// firstAdminName is the user made on the very first start.
const firstAdminName = "admin"

// ensureAdmin creates the admin user when no user ever existed: the very
// first start of a data dir. It runs on the leader before the node reports
// ready, so no request is ever served by a node nobody can administer.
func (a *Appliance) ensureAdmin(ctx context.Context) error {
	if len(a.state.ModelEvents(rules.UserModel)) > 0 {
		return nil
	}
	password, generated := a.cfg.Auth.InitialAdminPassword, false
	if password == "" {
		b := make([]byte, 18)
		if _, err := rand.Read(b); err != nil {
			return err
		}
		password, generated = base64.RawURLEncoding.EncodeToString(b), true
	}
	if _, err := a.CreateUser(ctx, "lithair", firstAdminName, password, []string{rules.RoleAdmin}); err != nil {
		return fmt.Errorf("creating the first admin: %w", err)
	}
	a.firstAdmin.mu.Lock()
	a.firstAdmin.name = firstAdminName
	if generated {
		a.firstAdmin.password = password
	}
	a.firstAdmin.mu.Unlock()
	return nil
}

// writeSystem validates input against a system model and commits it.
func (a *Appliance) writeSystem(ctx context.Context, actor string, op event.Op, model, id string, old, input map[string]any) (*index.Record, error) {
	m := a.fsm.Rules().Model(model)
	fields, ferrs, err := m.Prepare(input, old, rules.Context{Ctx: ctx})
	if err != nil {
		return nil, err
	}
	for name, msg := range ferrs {
		return nil, &event.Refusal{Code: event.CodeInvalid, Field: name, Message: name + " " + msg}
	}
	raw, err := m.Encode(fields)
	if err != nil {
		return nil, err
	}
	c := &event.Command{Op: op, Model: model, ID: id, Fields: raw, Actor: actor, Time: time.Now().UnixNano()}
	if op == event.OpCreate {
		uid, err := uuid.NewV7()
		if err != nil {
			return nil, err
		}
		c.ID = uid.String()
	}
	return a.propose(ctx, c)
}

// endSessions deletes the sessions of user; best effort, as an expired or
// orphaned session is refused at authentication anyway.
func (a *Appliance) endSessions(ctx context.Context, actor, user string) {
	k, _ := index.KeyOf(user)
	page, err := a.state.List(index.Query{Model: rules.SessionModel, Filters: []index.Filter{{Field: "user", Op: index.OpEq, Values: []index.Key{k}}}, Limit: 1000})
	if err != nil {
		return
	}
	for _, rec := range page.Records {
		_, _ = a.propose(ctx, &event.Command{Op: event.OpDelete, Model: rules.SessionModel, ID: rec.ID, Actor: actor, Time: time.Now().UnixNano()})
	}
}

func (a *Appliance) enabledAdmins() int {
	n := 0
	q := index.Query{Model: rules.UserModel, Limit: 1000}
	for {
		page, err := a.state.List(q)
		if err != nil {
			return n
		}
		for _, r := range page.Records {
			if isAdmin(r.Fields()) {
				n++
			}
		}
		if page.Next == nil {
			return n
		}
		q.After = page.Next
	}
}

func isAdmin(fields map[string]any) bool {
	return fields["disabled"] != true && slices.Contains(stringList(fields["roles"]), rules.RoleAdmin)
}

func userOf(id string, fields map[string]any) *rules.User {
	name, _ := fields["name"].(string)
	return &rules.User{ID: id, Name: name, Roles: stringList(fields["roles"])}
}

func stringList(v any) []string {
	items, _ := v.([]any)
	out := make([]string, 0, len(items))
	for _, it := range items {
		if s, ok := it.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

func anyList(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

func cloneMap(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// sweepEvery is how often the leader deletes expired sessions.
const sweepEvery = time.Minute

// sweepSessions deletes expired sessions now and then, on the leader, so
// that sessions nobody logged out of do not pile up in the state. An
// expired session is refused at authentication whether swept or not.
func (a *Appliance) sweepSessions() {
	defer a.wg.Done()
	tick := time.NewTicker(sweepEvery)
	defer tick.Stop()
	for {
		select {
		case <-a.stop:
			return
		case <-tick.C:
		}
		if !a.Ready() || a.Leader() != a.cfg.Raft.NodeID {
			continue
		}
		now := time.Now()
		page, err := a.state.List(index.Query{Model: rules.SessionModel, Limit: 1000})
		if err != nil {
			continue
		}
		for _, rec := range page.Records {
			exp, _ := rec.Fields()["expires_at"].(string)
			if t, err := time.Parse(time.RFC3339Nano, exp); err == nil && t.After(now) {
				continue
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_, err := a.propose(ctx, &event.Command{Op: event.OpDelete, Model: rules.SessionModel, ID: rec.ID, Expected: rec.Version, Actor: "lithair", Time: time.Now().UnixNano()})
			cancel()
			if err != nil {
				break
			}
		}
	}
}
