package web

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	lithair "github.com/lithair/lithair"
	"github.com/lithair/lithair/auth"
	"github.com/lithair/lithair/metrics"
	"github.com/lithair/lithair/rules"
)

// sessionCookie carries the admin page's session. It is HttpOnly (scripts
// cannot read it) and SameSite=Strict (other sites cannot send it).
const sessionCookie = "lithair_session"

type userKey struct{}

// userFrom returns the caller of r, nil when anonymous.
func userFrom(r *http.Request) *rules.User {
	u, _ := r.Context().Value(userKey{}).(*rules.User)
	return u
}

// secretFrom returns the credential r presents and whether it came in the
// Authorization header.
func secretFrom(r *http.Request) (secret string, header bool, aerr *apiError) {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, token, ok := strings.Cut(h, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
			return "", true, unauthenticated("invalid_token", "the Authorization header must be \"Bearer TOKEN\"")
		}
		return strings.TrimSpace(token), true, nil
	}
	if c, err := r.Cookie(sessionCookie); err == nil && c.Value != "" {
		return c.Value, false, nil
	}
	return "", false, nil
}

// authenticate puts the caller in the request's context. A bad bearer
// token is refused outright; a bad session cookie (expired, revoked) makes
// the request anonymous, so a browser with a stale cookie still reads what
// is public and is asked to sign in for the rest.
func (s *Server) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		secret, header, aerr := secretFrom(r)
		if aerr != nil {
			writeError(w, aerr)
			return
		}
		if secret == "" {
			next.ServeHTTP(w, r)
			return
		}
		if !s.app.Ready() {
			// Before the log is replayed no credential can be checked.
			// The API answers 503 here rather than pass the request on as
			// anonymous: the node may turn ready before
			// the route's own check, which would then answer 401 to a
			// good token.
			if !strings.HasPrefix(r.URL.Path, "/api/") {
				next.ServeHTTP(w, r)
				return
			}
			writeError(w, notReady())
			return
		}
		u, err := s.app.Authenticate(secret)
		if err != nil {
			reason := metrics.AuthBadToken
			if errors.Is(err, lithair.ErrTokenExpired) {
				reason = metrics.AuthExpired
			}
			s.app.Metrics().AuthFailed(reason)
			if header {
				code := "invalid_token"
				if errors.Is(err, lithair.ErrTokenExpired) {
					code = "token_expired"
				}
				writeError(w, unauthenticated(code, err.Error()))
				return
			}
			next.ServeHTTP(w, r)
			return
		}
		info(r).user = u.Name
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), userKey{}, u)))
	})
}

func unauthenticated(code, msg string) *apiError {
	return errorf(http.StatusUnauthorized, code, msg)
}

// denied is the answer to a caller the permissions refuse: 401 when
// signing in could help, 403 when it would not.
func denied(u *rules.User, what string) *apiError {
	if u == nil {
		return unauthenticated("unauthenticated", "sign in to "+what)
	}
	return errorf(http.StatusForbidden, "forbidden", "you may not "+what)
}

// adminOnly guards the operator endpoints under /api/_.
func (s *Server) adminOnly(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		u := userFrom(r)
		if !u.HasRole(rules.RoleAdmin) {
			writeError(w, denied(u, "use this endpoint (admin role required)"))
			return
		}
		h(w, r)
	}
}

type loginRequest struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

// login serves POST /api/_auth/login.
func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	var req loginRequest
	if aerr := readInto(w, r, s.app.Config().HTTP.MaxBody, &req); aerr != nil {
		writeError(w, aerr)
		return
	}
	if req.Username == "" || req.Password == "" {
		writeError(w, &apiError{Status: http.StatusUnprocessableEntity, Code: "validation_failed",
			Message: "username and password are required", Fields: missing(map[string]string{"username": req.Username, "password": req.Password})})
		return
	}
	secret, expires, u, err := s.app.Login(r.Context(), req.Username, req.Password)
	switch {
	case errors.Is(err, lithair.ErrBadCredentials):
		s.app.Metrics().AuthFailed(metrics.AuthBadPassword)
		s.logger.Info("sign-in refused", "user", req.Username, "client", clientIP(s.fw, r))
		writeError(w, unauthenticated("invalid_credentials", err.Error()))
		return
	case err != nil:
		writeError(w, s.proposeError(err))
		return
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: secret, Path: "/", Expires: expires,
		MaxAge: int(time.Until(expires) / time.Second), HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
	writeJSON(w, http.StatusOK, map[string]any{"token": secret, "expires_at": expires.Format(time.RFC3339),
		"user": userJSON(u)})
}

// logout serves POST /api/_auth/logout: the session presented ends.
func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	secret, _, _ := secretFrom(r)
	if !auth.WellFormed(secret, auth.SessionPrefix) {
		if auth.WellFormed(secret, auth.APITokenPrefix) {
			writeError(w, errorf(http.StatusBadRequest, "not_a_session", "an API token is revoked with DELETE /api/_tokens/{id}, not by logging out"))
			return
		}
		writeError(w, unauthenticated("unauthenticated", "no session to end"))
		return
	}
	if err := s.app.Logout(r.Context(), secret); err != nil {
		if errors.Is(err, lithair.ErrBadToken) {
			writeError(w, unauthenticated("invalid_token", "the session is not valid"))
			return
		}
		writeError(w, s.proposeError(err))
		return
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
	w.WriteHeader(http.StatusNoContent)
}

// me serves GET /api/_auth/me: who the credentials stand for.
func (s *Server) me(w http.ResponseWriter, r *http.Request) {
	u := userFrom(r)
	if u == nil {
		writeError(w, unauthenticated("unauthenticated", "not signed in"))
		return
	}
	writeJSON(w, http.StatusOK, userJSON(u))
}

func userJSON(u *rules.User) map[string]any {
	roles := u.Roles
	if roles == nil {
		roles = []string{}
	}
	return map[string]any{"id": u.ID, "name": u.Name, "roles": roles}
}

func missing(vals map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range vals {
		if v == "" {
			out[k] = "is required"
		}
	}
	return out
}

// LocalAdmin is who acts through the admin socket and the offline tools:
// an operator with access to the data dir is trusted as an admin.
var LocalAdmin = &rules.User{ID: "local", Name: "local-admin", Roles: []string{rules.RoleAdmin}}

// LocalHandler serves the API as LocalAdmin, for the admin socket (a Unix
// socket in the data dir, mode 0600) and the offline tools. It must never
// face a network.
func (s *Server) LocalHandler() http.Handler {
	h := s.inner()
	return s.recoverPanics(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Header.Del("Authorization")
		r.Header.Del("Cookie")
		h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), userKey{}, LocalAdmin)))
	}))
}
