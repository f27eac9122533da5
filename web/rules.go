package web

import (
	"errors"
	"net/http"
	"sort"
	"strings"

	lithair "github.com/lithair/lithair"
)

// rulesInfo serves GET /api/_rules: the active rules and the last reload.
func (s *Server) rulesInfo(w http.ResponseWriter, r *http.Request) {
	set := s.app.Rules()
	files := make([]string, len(set.Files))
	for i, f := range set.Files {
		files[i] = f.Name
	}
	models := make([]map[string]string, len(set.Models))
	for i, m := range set.Models {
		models[i] = map[string]string{"name": m.Name, "path": m.Path, "file": m.File}
	}
	projections := make([]string, len(set.Projections))
	for i, p := range set.Projections {
		projections[i] = p.Name
	}
	out := map[string]any{"version": set.Version, "dir": s.app.Config().Rules.Dir, "files": files, "models": models, "projections": projections}
	if last := s.app.LastReload(); last != nil {
		out["last_reload"] = last
	}
	writeJSON(w, http.StatusOK, out)
}

// reloadRules serves POST /api/_rules/reload: check the rules directory
// and deploy it through Raft if it is good. A bad set is a 422 with every
// error as file:line: message; the previous rules stay active.
func (s *Server) reloadRules(w http.ResponseWriter, r *http.Request) {
	rep, err := s.app.ReloadRules(r.Context(), "http")
	switch {
	case errors.Is(err, lithair.ErrRulesRefused):
		e := errorf(http.StatusUnprocessableEntity, "rules_refused", "the rules have errors; the previous rules stay active:\n"+strings.Join(rep.Errors, "\n"))
		writeJSON(w, e.Status, map[string]any{"error": e, "reload": rep})
	case err != nil:
		writeError(w, s.proposeError(err))
	default:
		w.Header().Set("X-Lithair-Rules-Version", rep.Version)
		writeJSON(w, http.StatusOK, rep)
	}
}

// projections serves GET /api/_projections[/{name}[/{key}]].
func (s *Server) projections(w http.ResponseWriter, r *http.Request) {
	rest := strings.Trim(strings.TrimPrefix(r.URL.Path, "/api/_projections"), "/")
	if rest == "" {
		set := s.app.Rules()
		list := make([]map[string]any, len(set.Projections))
		for i, p := range set.Projections {
			list[i] = map[string]any{"name": p.Name, "from": p.From, "on": p.On}
		}
		writeJSON(w, http.StatusOK, map[string]any{"projections": list})
		return
	}
	name, key, hasKey := strings.Cut(rest, "/")
	rows, ok := s.app.ProjectionRows(name)
	if !ok {
		writeError(w, errorf(http.StatusNotFound, "not_found", "no projection named "+name))
		return
	}
	if hasKey {
		row, ok := rows[key]
		if !ok {
			writeError(w, errorf(http.StatusNotFound, "not_found", "projection "+name+" has no row "+key))
			return
		}
		writeJSON(w, http.StatusOK, withKey(key, row))
		return
	}
	keys := make([]string, 0, len(rows))
	for k := range rows {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]map[string]any, len(keys))
	for i, k := range keys {
		out[i] = withKey(k, rows[k])
	}
	writeJSON(w, http.StatusOK, map[string]any{"name": name, "rows": out})
}

func withKey(key string, row map[string]any) map[string]any {
	out := make(map[string]any, len(row)+1)
	for k, v := range row {
		out[k] = v
	}
	out["key"] = key
	return out
}
