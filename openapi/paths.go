package openapi

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/lithair/lithair/rules"
)

// filterOps are the list filter operators, in the order the docs give them.
var filterOps = []string{"eq", "ne", "lt", "lte", "gt", "gte", "prefix", "in"}

// listParams are the list's own query parameters: a field with one of
// these names can be filtered as name[eq]=, never as name=.
var listParams = []string{"limit", "cursor", "sort", "fields", "count"}

// modelPaths adds the routes of m to paths.
func modelPaths(m *rules.Model, n modelNames, paths obj) {
	paths[m.Path] = obj{
		"get":  listOperation(m, n),
		"post": createOperation(m, n),
	}
	paths[m.Path+"/{id}"] = obj{
		"parameters": []any{obj{"name": "id", "in": "path", "required": true, "description": "The record's id.", "schema": obj{"type": "string"}}},
		"get":        getOperation(m, n),
		"put":        writeOperation(m, n, "replace", "Replace", n.Replace),
		"patch":      writeOperation(m, n, "patch", "Merge into", n.Patch),
		"delete":     deleteOperation(m),
	}
	paths[m.Path+"/{id}/events"] = obj{
		"parameters": []any{obj{"name": "id", "in": "path", "required": true, "description": "The record's id.", "schema": obj{"type": "string"}}},
		"get":        eventsOperation(m),
	}
}

// operation is the part every model operation shares: tag, id, security
// and the sentence about who may call it.
func operation(m *rules.Model, a rules.Action, id, summary, desc string) obj {
	roles := m.Roles(a)
	op := obj{
		"tags":        []any{m.Name},
		"operationId": id + m.Name,
		"summary":     summary,
		"description": strings.TrimSpace(desc + "\n\n" + rolesSentence(m, a)),
	}
	if slices.Contains(roles, rules.RolePublic) {
		op["security"] = securityOptional
	} else {
		op["security"] = securityRequired
	}
	return op
}

// rolesSentence names who may perform a on m.
func rolesSentence(m *rules.Model, a rules.Action) string {
	s := "Allowed to " + rolesPhrase(m.Roles(a)) + "."
	if m.HasPredicate(a) {
		s += fmt.Sprintf(" The rules then decide per record (permissions.%s_if)", a)
		if a == rules.ActionRead {
			s += ": a record the caller may not read is answered as absent (404), and left out of lists"
		}
		s += "."
	}
	return s
}

// authErrors are the statuses the permissions of a on m can give: 401 for
// missing or bad credentials, and 403 when a caller who is logged in can
// be refused: by role, by a write predicate, or for setting a field
// reserved to some roles. A read predicate answers 404 instead.
func authErrors(m *rules.Model, a rules.Action) []int {
	refuses := !slices.Contains(m.Roles(a), rules.RolePublic)
	if a != rules.ActionRead && m.HasPredicate(a) {
		refuses = true
	}
	if a == rules.ActionCreate || a == rules.ActionUpdate {
		for _, f := range m.Fields {
			if len(f.WriteRoles) > 0 && !slices.Contains(f.WriteRoles, rules.RolePublic) {
				refuses = true
			}
		}
	}
	if refuses {
		return []int{401, 403}
	}
	return []int{401}
}

func codes(base []int, extra ...int) []int {
	out := append(slices.Clone(base), extra...)
	slices.Sort(out)
	return out
}

func listOperation(m *rules.Model, n modelNames) obj {
	op := operation(m, rules.ActionRead, "list", "List "+m.Name+" records",
		"Records in pages of `limit`. Filtered or sorted on an indexed field, the field's index is walked; "+
			"otherwise records are walked in id (creation) order and filters checked one by one, at most 10,000 per page, "+
			"so a page may hold fewer than `limit` items and still carry a `next_cursor`.")
	params := []any{ref("parameters", "Limit"), ref("parameters", "Cursor"), sortParam(m), fieldsParam(m), ref("parameters", "Count")}
	if p := filterParam(m); p != nil {
		params = append(params, p)
	}
	params = append(params, indexedFilterParams(m)...)
	op["parameters"] = params
	page := obj{"description": "A page of records.", "content": jsonContent(schemaRef(n.List))}
	if h := cacheHeaders(m); h != nil {
		page["headers"] = h
	}
	op["responses"] = withErrors(obj{"200": page}, codes(authErrors(m, rules.ActionRead), 400, 429, 503)...)
	return op
}

func createOperation(m *rules.Model, n modelNames) obj {
	op := operation(m, rules.ActionCreate, "create", "Create a record of "+m.Name,
		"Fields left out take their default; the server sets id, version (1), created_at and updated_at.")
	op["requestBody"] = obj{"required": true, "content": jsonContent(schemaRef(n.Input))}
	op["responses"] = withErrors(obj{
		"201": obj{
			"description": "The created record.",
			"headers":     obj{"Location": ref("headers", "Location"), "ETag": ref("headers", "ETag")},
			"content":     jsonContent(schemaRef(n.Record)),
		},
	}, codes(authErrors(m, rules.ActionCreate), 400, 409, 413, 415, 422, 429, 503, 507)...)
	return op
}

func getOperation(m *rules.Model, n modelNames) obj {
	desc := "The record with its ETag. `If-None-Match` with the current ETag answers 304."
	if m.Versioned > 0 {
		desc += fmt.Sprintf(" The last %d versions are kept in memory; older ones are rebuilt from the log.", m.Versioned)
	}
	op := operation(m, rules.ActionRead, "get", "Get a record of "+m.Name+", now or as it was", desc)
	op["parameters"] = []any{ref("parameters", "Version"), ref("parameters", "At"), ref("parameters", "IfNoneMatch")}
	headers := obj{"ETag": ref("headers", "ETag")}
	if h := cacheHeaders(m); h != nil {
		headers["Cache-Control"] = h["Cache-Control"]
	}
	op["responses"] = withErrors(obj{
		"200": obj{"description": "The record.", "headers": headers, "content": jsonContent(schemaRef(n.Record))},
		"304": obj{"description": "Not modified: the record is still at the version of If-None-Match.", "headers": obj{"ETag": ref("headers", "ETag")}},
	}, codes(authErrors(m, rules.ActionRead), 400, 404, 429, 503)...)
	return op
}

func writeOperation(m *rules.Model, n modelNames, verb, summary, body string) obj {
	desc := "Replaces the fields: absent fields take their default, or disappear; read-only and immutable fields keep their stored value."
	media := jsonContent(schemaRef(body))
	if verb == "patch" {
		desc = "Merges the body into the record: members given replace the record's, null removes an optional field; the result is checked like a replace."
		media["application/merge-patch+json"] = obj{"schema": schemaRef(body)}
	}
	desc += " Without `If-Match`, an update that loses a race with another writer is re-read, re-validated and retried."
	op := operation(m, rules.ActionUpdate, verb, summary+" a record of "+m.Name, desc)
	op["parameters"] = []any{ref("parameters", "IfMatch")}
	op["requestBody"] = obj{"required": true, "content": media}
	op["responses"] = withErrors(obj{
		"200": obj{"description": "The updated record.", "headers": obj{"ETag": ref("headers", "ETag")}, "content": jsonContent(schemaRef(n.Record))},
	}, codes(authErrors(m, rules.ActionUpdate), 400, 404, 409, 412, 413, 415, 422, 429, 503, 507)...)
	return op
}

func deleteOperation(m *rules.Model) obj {
	op := operation(m, rules.ActionDelete, "delete", "Delete a record of "+m.Name,
		"A later GET is 404; the record's history stays readable at /events.")
	op["parameters"] = []any{ref("parameters", "IfMatch")}
	op["responses"] = withErrors(obj{"204": obj{"description": "Deleted."}},
		codes(authErrors(m, rules.ActionDelete), 400, 404, 409, 412, 429, 503, 507)...)
	return op
}

func eventsOperation(m *rules.Model) obj {
	op := operation(m, rules.ActionRead, "list", "The history of a record of "+m.Name,
		"The record's events, oldest first, also after a delete.")
	op["operationId"] = "list" + m.Name + "Events"
	op["responses"] = withErrors(obj{
		"200": obj{"description": "The events.", "content": jsonContent(schemaRef("_History"))},
	}, codes(authErrors(m, rules.ActionRead), 404, 429, 503)...)
	return op
}

// cacheHeaders is the Cache-Control header of a model's reads, nil when
// the model declares no cache.
func cacheHeaders(m *rules.Model) obj {
	if m.CacheTTL <= 0 {
		return nil
	}
	v := "max-age=" + strconv.Itoa(int(m.CacheTTL/time.Second))
	return obj{"Cache-Control": obj{"description": "Reads may be cached: " + v + ".", "schema": obj{"type": "string", "const": v}}}
}

// sortable reports whether a list can sort or range-filter on f through
// an index.
func sortable(f *rules.Field) bool {
	return (f.Indexed || f.Unique) && filterable(f)
}

// filterable reports whether a list can filter on f at all.
func filterable(f *rules.Field) bool {
	return f.Type != rules.TypeJSON && f.Type != rules.TypeList
}

func sortParam(m *rules.Model) obj {
	names := []string{"id"}
	for _, f := range m.Fields {
		if sortable(f) {
			names = append(names, f.Name)
		}
	}
	return obj{
		"name": "sort", "in": "query",
		"description": "Order by a field, ascending (`" + names[len(names)-1] + "`) or descending (`-" + names[len(names)-1] + "`); " +
			"several comma-separated, the first deciding first. Sortable here: " + strings.Join(names, ", ") +
			" (id and indexed fields); any other field is a 400. Default: id order, or the order of the indexed field filtered on.",
		"schema": obj{"type": "string"},
	}
}

func fieldsParam(m *rules.Model) obj {
	names := []any{}
	for _, s := range rules.SystemFields {
		names = append(names, s)
	}
	for _, f := range m.Fields {
		names = append(names, f.Name)
	}
	example := "id"
	if len(m.Fields) > 0 {
		example = m.Fields[0].Name
	}
	return obj{
		"name": "fields", "in": "query", "style": "form", "explode": false,
		"description": "Return only these fields of each record, comma-separated: `fields=" + example + ",version`.",
		"schema":      obj{"type": "array", "items": obj{"type": "string", "enum": names}, "uniqueItems": true},
	}
}

// filterParam describes the filter syntax once, as a free-form object of
// query parameters. Its name holds brackets, which no field name can, so
// it never clashes with the explicit parameters of indexed fields.
func filterParam(m *rules.Model) obj {
	var names, indexed []string
	for _, f := range m.Fields {
		if !filterable(f) {
			continue
		}
		names = append(names, f.Name)
		if sortable(f) {
			indexed = append(indexed, f.Name)
		}
	}
	if len(names) == 0 {
		return nil
	}
	desc := "Filters, one query parameter each: `field=v` (equal) or `field[op]=v` with op one of " +
		strings.Join(filterOps, ", ") + "; `in` takes comma-separated values. Filterable here: " + strings.Join(names, ", ") +
		" (json and list fields cannot be filtered). Several filters must all match. " +
		"A field named like a list parameter (" + strings.Join(listParams, ", ") + ") is filtered as `field[eq]=v`. " +
		"An unknown field or operator, or a value of the wrong type, is a 400 naming the parameter."
	if len(indexed) > 0 {
		desc += " Filters on indexed fields (" + strings.Join(indexed, ", ") + ") walk the index; others check records one by one."
	}
	return obj{
		"name": "field[op]", "in": "query", "style": "form", "explode": true,
		"description": desc,
		"schema": obj{
			"type":                 "object",
			"propertyNames":        obj{"pattern": "^(" + strings.Join(names, "|") + `)(\[(` + strings.Join(filterOps, "|") + `)\])?$`},
			"additionalProperties": obj{"type": "string"},
		},
	}
}

// indexedFilterParams spells out the filters of every indexed field, so
// that generated clients get named arguments for the fast filters.
func indexedFilterParams(m *rules.Model) []any {
	var out []any
	for _, f := range m.Fields {
		if !sortable(f) {
			continue
		}
		if !slices.Contains(listParams, f.Name) {
			out = append(out, obj{"name": f.Name, "in": "query", "description": f.Name + " equals.", "schema": filterValueSchema(f, "eq")})
		}
		for _, op := range filterOps {
			p := obj{"name": f.Name + "[" + op + "]", "in": "query", "description": filterOpDescription(f.Name, op), "schema": filterValueSchema(f, op)}
			if op == "in" {
				p["style"], p["explode"] = "form", false
			}
			out = append(out, p)
		}
	}
	return out
}

func filterOpDescription(field, op string) string {
	switch op {
	case "eq":
		return field + " equals."
	case "ne":
		return field + " differs."
	case "lt":
		return field + " is less than."
	case "lte":
		return field + " is at most."
	case "gt":
		return field + " is greater than."
	case "gte":
		return field + " is at least."
	case "prefix":
		return field + " starts with."
	}
	return field + " is one of (comma-separated)."
}

// filterValueSchema is the schema of a filter value on f: the field's JSON
// type, a string for prefix, an array for in.
func filterValueSchema(f *rules.Field, op string) obj {
	var s obj
	switch {
	case op == "prefix":
		s = obj{"type": "string"}
	case f.Type == rules.TypeInteger, f.Type == rules.TypeNumber:
		s = obj{"type": "number"} // the server reads any number, also for an integer field
	case f.Type == rules.TypeBoolean:
		s = obj{"type": "boolean"}
	case f.Type == rules.TypeEnum && (op == "eq" || op == "ne" || op == "in"):
		s = fieldSchema(f)
	default:
		s = obj{"type": "string"}
	}
	if op == "in" {
		return obj{"type": "array", "items": s}
	}
	return s
}
