package web

import (
	"errors"
	"net/http"
	"strings"
	"time"

	lithair "github.com/lithair/lithair"
	"github.com/lithair/lithair/event"
	"github.com/lithair/lithair/index"
	"github.com/lithair/lithair/rules"
)

// The operator endpoints for users and API tokens. Both are records of
// system models; these handlers only translate between what a person
// sends (a password, a token's lifetime) and those records.

type newUser struct {
	Name     string   `json:"name"`
	Password string   `json:"password"`
	Roles    []string `json:"roles"`
}

type userPatch struct {
	Password *string   `json:"password"`
	Roles    *[]string `json:"roles"`
	Disabled *bool     `json:"disabled"`
}

func (s *Server) listUsers(w http.ResponseWriter, r *http.Request) {
	s.listSystem(w, r, rules.UserModel)
}

func (s *Server) createUser(w http.ResponseWriter, r *http.Request) {
	var req newUser
	if aerr := readInto(w, r, s.app.Config().HTTP.MaxBody, &req); aerr != nil {
		writeError(w, aerr)
		return
	}
	if req.Name == "" || req.Password == "" {
		writeError(w, &apiError{Status: http.StatusUnprocessableEntity, Code: "validation_failed",
			Message: "name and password are required", Fields: missing(map[string]string{"name": req.Name, "password": req.Password})})
		return
	}
	rec, err := s.app.CreateUser(r.Context(), actorOf(r), req.Name, req.Password, req.Roles)
	if err != nil {
		writeError(w, s.systemError(err))
		return
	}
	w.Header().Set("Location", "/api/_users/"+req.Name)
	s.writeSystemRecord(w, r, http.StatusCreated, rules.UserModel, rec)
}

func (s *Server) getUser(w http.ResponseWriter, r *http.Request) {
	rec, ok := s.app.State().GetUnique(rules.UserModel, "name", r.PathValue("name"))
	if !ok {
		writeError(w, errorf(http.StatusNotFound, "not_found", "no user "+r.PathValue("name")))
		return
	}
	s.writeSystemRecord(w, r, http.StatusOK, rules.UserModel, rec)
}

func (s *Server) updateUser(w http.ResponseWriter, r *http.Request) {
	var req userPatch
	if aerr := readInto(w, r, s.app.Config().HTTP.MaxBody, &req); aerr != nil {
		writeError(w, aerr)
		return
	}
	rec, err := s.app.UpdateUser(r.Context(), actorOf(r), r.PathValue("name"), lithair.UserChange(req))
	if err != nil {
		writeError(w, s.systemError(err))
		return
	}
	s.writeSystemRecord(w, r, http.StatusOK, rules.UserModel, rec)
}

func (s *Server) deleteUser(w http.ResponseWriter, r *http.Request) {
	if err := s.app.DeleteUser(r.Context(), actorOf(r), r.PathValue("name")); err != nil {
		writeError(w, s.systemError(err))
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

type newToken struct {
	Name  string   `json:"name"`
	User  string   `json:"user"`
	Roles []string `json:"roles"`
	// ExpiresIn is a Go duration ("720h"); empty never expires.
	ExpiresIn string `json:"expires_in"`
}

func (s *Server) listTokens(w http.ResponseWriter, r *http.Request) {
	s.listSystem(w, r, rules.TokenModel)
}

// createToken serves POST /api/_tokens. The answer is the only time the
// secret is shown.
func (s *Server) createToken(w http.ResponseWriter, r *http.Request) {
	var req newToken
	if aerr := readInto(w, r, s.app.Config().HTTP.MaxBody, &req); aerr != nil {
		writeError(w, aerr)
		return
	}
	if req.Name == "" {
		writeError(w, &apiError{Status: http.StatusUnprocessableEntity, Code: "validation_failed", Message: "name is required", Fields: map[string]string{"name": "is required"}})
		return
	}
	if req.User == "" {
		req.User = userFrom(r).Name
	}
	var expires time.Time
	if req.ExpiresIn != "" {
		d, err := time.ParseDuration(req.ExpiresIn)
		if err != nil || d <= 0 {
			writeError(w, &apiError{Status: http.StatusUnprocessableEntity, Code: "validation_failed", Message: "expires_in must be a positive duration like \"720h\"",
				Fields: map[string]string{"expires_in": "must be a positive duration like \"720h\""}})
			return
		}
		expires = time.Now().Add(d)
	}
	secret, rec, err := s.app.CreateToken(r.Context(), actorOf(r), req.User, req.Name, req.Roles, expires)
	if err != nil {
		writeError(w, s.systemError(err))
		return
	}
	body := s.visibleJSON(userFrom(r), s.app.Rules().Model(rules.TokenModel), rec)
	body = append(body[:len(body)-1], `,"token":"`+secret+`"}`...)
	w.Header().Set("Location", "/api/_tokens/"+rec.ID)
	writeRaw(w, http.StatusCreated, body)
}

func (s *Server) deleteToken(w http.ResponseWriter, r *http.Request) {
	if err := s.app.RevokeToken(r.Context(), actorOf(r), r.PathValue("id")); err != nil {
		writeError(w, s.systemError(err))
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// listSystem lists a system model's records, without their secrets.
func (s *Server) listSystem(w http.ResponseWriter, r *http.Request, model string) {
	m := s.app.Rules().Model(model)
	q := index.Query{Model: model, Limit: maxLimit}
	u := userFrom(r)
	b := []byte(`{"items":[`)
	n := 0
	for {
		page, err := s.app.State().List(q)
		if err != nil {
			writeError(w, errorf(http.StatusInternalServerError, "internal", err.Error()))
			return
		}
		for _, rec := range page.Records {
			if n > 0 {
				b = append(b, ',')
			}
			n++
			b = append(b, s.visibleJSON(u, m, rec)...)
		}
		if page.Next == nil {
			break
		}
		q.After = page.Next
	}
	b = append(b, "]}"...)
	writeRaw(w, http.StatusOK, b)
}

func (s *Server) writeSystemRecord(w http.ResponseWriter, r *http.Request, status int, model string, rec *index.Record) {
	w.Header().Set("ETag", etag(rec.Version))
	writeRaw(w, status, s.visibleJSON(userFrom(r), s.app.Rules().Model(model), rec))
}

// systemError maps the errors of user and token operations to answers.
func (s *Server) systemError(err error) *apiError {
	var ref *event.Refusal
	switch {
	case errors.Is(err, lithair.ErrLastAdmin):
		return errorf(http.StatusConflict, "last_admin", err.Error())
	case errors.As(err, &ref) && ref.Code == event.CodeInvalid && ref.Field != "":
		return &apiError{Status: http.StatusUnprocessableEntity, Code: "validation_failed", Message: ref.Message,
			Fields: map[string]string{ref.Field: strings.TrimPrefix(ref.Message, ref.Field+" ")}}
	}
	return s.proposeError(err)
}

// actorOf names the caller in the audit trail.
func actorOf(r *http.Request) string {
	if u := userFrom(r); u != nil {
		return u.Name
	}
	return anonymous
}
