package web

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/lithair/lithair/index"
	"github.com/lithair/lithair/rules"
)

// List paging limits.
const (
	defaultLimit = 50
	maxLimit     = 1000
)

// listRequest is a list's query string, read and checked.
type listRequest struct {
	q      index.Query
	fields map[string]bool // the members to return; nil for all
	count  bool
}

// list serves GET on a collection:
//
//	?field=v  ?field[op]=v (op: eq ne lt lte gt gte prefix in)
//	sort=a,-b,c (the first field indexed)  limit=N (1..1000, default 50)
//	cursor=C (from next_cursor)  fields=a,b  count=true
//
// Filters and sorts on indexed fields walk the field's index. A filter on
// a field without an index is checked record by record, examining at most
// index.DefaultMaxScan records per page (a page may then come back short,
// with a next_cursor to go on). Sorting needs an index on its first
// field; the further fields order each run of equal first values.
//
// A field the caller may not read is, to that caller, unknown: it can be
// neither filtered, sorted nor selected, so its values cannot be probed.
func (s *Server) list(w http.ResponseWriter, r *http.Request, m *rules.Model) {
	values, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		writeError(w, badQuery("query", "the query string is malformed: "+err.Error()))
		return
	}
	u := userFrom(r)
	req, aerr := parseListQuery(m, u, values)
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	page, aerr := s.readablePage(r, m, u, req.q)
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	var n int
	var exact bool
	if req.count {
		if n, exact, aerr = s.countReadable(r, m, u, req.q); aerr != nil {
			writeError(w, aerr)
			return
		}
	}
	hidden := m.Hidden(u)
	b := make([]byte, 0, 256*(len(page.Records)+1))
	b = append(b, `{"items":[`...)
	for i, rec := range page.Records {
		if i > 0 {
			b = append(b, ',')
		}
		switch {
		case req.fields != nil:
			b = append(b, onlyMembers(rec.JSON(), req.fields)...)
		case hidden != nil:
			b = append(b, withoutFields(rec.JSON(), hidden)...)
		default:
			b = rec.AppendJSON(b)
		}
	}
	b = append(b, `],"next_cursor":`...)
	if page.Next != nil {
		cur, _ := json.Marshal(encodeCursor(page.Next))
		b = append(b, cur...)
	} else {
		b = append(b, "null"...)
	}
	if req.count {
		b = fmt.Appendf(b, `,"count":%d,"count_exact":%t`, n, exact)
	}
	writeLine(w, http.StatusOK, append(b, '}', '\n'))
}

// readablePage runs q and keeps the records u may read. With a read
// predicate, pages are fetched until q.Limit readable records are found or
// index.DefaultMaxScan were judged: a list never shows what a GET of the
// same id would refuse, and its cursors stay those of the index.
func (s *Server) readablePage(r *http.Request, m *rules.Model, u *rules.User, q index.Query) (index.Page, *apiError) {
	st := s.app.State()
	page, err := st.List(q)
	if err != nil {
		return page, listError(q, err)
	}
	if !m.HasPredicate(rules.ActionRead) {
		return page, nil
	}
	out := index.Page{Field: page.Field}
	limit, judged := q.Limit, 0
	for {
		for _, rec := range page.Records {
			ok, aerr := s.readable(r.Context(), m, u, rec)
			if aerr != nil {
				return out, aerr
			}
			if ok {
				out.Records = append(out.Records, rec)
			}
		}
		judged += len(page.Records)
		out.Next = page.Next
		if page.Next == nil || len(out.Records) >= limit || judged >= index.DefaultMaxScan {
			return out, nil
		}
		q.After, q.Limit = page.Next, limit-len(out.Records)
		if page, err = st.List(q); err != nil {
			return out, listError(q, err)
		}
	}
}

// countReadable counts the records that pass q's filters and that u may
// read: exactly when that takes examining at most index.DefaultMaxCount
// records and, with a read predicate, judging at most
// index.DefaultMaxScan of them; otherwise exact is false and n counts
// what was examined, a lower bound.
func (s *Server) countReadable(r *http.Request, m *rules.Model, u *rules.User, q index.Query) (n int, exact bool, aerr *apiError) {
	st := s.app.State()
	if !m.HasPredicate(rules.ActionRead) {
		if len(q.Filters) == 0 {
			return st.Count(m.Name), true, nil
		}
		exact = st.EachMatch(q, 0, func(*index.Record) bool { n++; return true })
		return n, exact, nil
	}
	// The predicate runs Lua: the records are judged after the state's
	// lock is let go (a record never changes once built).
	var recs []*index.Record
	exact = st.EachMatch(q, 0, func(rec *index.Record) bool {
		if len(recs) == index.DefaultMaxScan {
			return false
		}
		recs = append(recs, rec)
		return true
	})
	for _, rec := range recs {
		ok, aerr := s.readable(r.Context(), m, u, rec)
		if aerr != nil {
			return 0, false, aerr
		}
		if ok {
			n++
		}
	}
	return n, exact, nil
}

func listError(q index.Query, err error) *apiError {
	msg := strings.TrimPrefix(err.Error(), "index: ")
	switch {
	case errors.Is(err, index.ErrNotIndexed):
		return badQuery("sort", fmt.Sprintf("the first sort field must be indexed, and %s is not (the fields after the first need no index)", q.Sort))
	case errors.Is(err, index.ErrRunTooLong):
		return badQuery("sort", msg+": begin the order with a more selective indexed field, or filter the list")
	case errors.Is(err, index.ErrBadOrder):
		return badQuery("sort", msg)
	}
	return badQuery("cursor", msg)
}

func badQuery(param, msg string) *apiError {
	return &apiError{Status: http.StatusBadRequest, Code: "bad_query", Message: param + ": " + msg, Fields: map[string]string{param: msg}}
}

var listOps = map[string]index.Op{
	"eq": index.OpEq, "ne": index.OpNe, "lt": index.OpLt, "lte": index.OpLte, "gt": index.OpGt,
	"gte": index.OpGte, "prefix": index.OpPrefix, "in": index.OpIn,
}

// parseListQuery reads a list's parameters, in name order so that the
// same bad query is always refused for the same parameter.
func parseListQuery(m *rules.Model, u *rules.User, values url.Values) (listRequest, *apiError) {
	req := listRequest{q: index.Query{Model: m.Name, Limit: defaultLimit}}
	q := &req.q
	// readable is the declared field name, when u may read it: a field u
	// may not read is answered as unknown.
	readable := func(name string) *rules.Field {
		if f := m.Field(name); f != nil && f.Readable(u) {
			return f
		}
		return nil
	}
	for _, param := range slices.Sorted(maps.Keys(values)) {
		vs := values[param]
		v := vs[0]
		if len(vs) > 1 {
			return req, badQuery(param, "given more than once")
		}
		switch param {
		case "limit":
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > maxLimit {
				return req, badQuery("limit", fmt.Sprintf("must be an integer from 1 to %d", maxLimit))
			}
			q.Limit = n
			continue
		case "cursor":
			c, err := decodeCursor(v)
			if err != nil {
				return req, badQuery("cursor", "is not a cursor this server gave")
			}
			q.After = c
			continue
		case "sort":
			if aerr := parseSort(q, v, readable); aerr != nil {
				return req, aerr
			}
			continue
		case "fields":
			fields, aerr := parseFields(v, readable)
			if aerr != nil {
				return req, aerr
			}
			req.fields = fields
			continue
		case "consistency":
			continue // read by the router: see consistency in cluster.go
		case "count":
			switch v {
			case "true":
				req.count = true
			case "false":
			default:
				return req, badQuery("count", "must be true or false")
			}
			continue
		}
		name, op := param, "eq"
		if i := strings.IndexByte(param, '['); i > 0 && strings.HasSuffix(param, "]") {
			name, op = param[:i], param[i+1:len(param)-1]
		}
		f := readable(name)
		if f == nil {
			return req, badQuery(param, "unknown field or parameter")
		}
		iop, ok := listOps[op]
		if !ok {
			return req, badQuery(param, fmt.Sprintf("unknown operator %q (eq, ne, lt, lte, gt, gte, prefix, in)", op))
		}
		raw := []string{v}
		if iop == index.OpIn {
			raw = strings.Split(v, ",")
		}
		filter := index.Filter{Field: name, Op: iop}
		for _, s := range raw {
			k, err := filterKey(f, s)
			if err != nil {
				return req, badQuery(param, err.Error())
			}
			filter.Values = append(filter.Values, k)
		}
		q.Filters = append(q.Filters, filter)
	}
	return req, nil
}

// parseSort reads sort=a,-b,c into q: the first field is walked on its
// index (the index package refuses it when it has none), the others order
// its runs of equal values, and id may come last to set the direction of
// the final tie-break.
func parseSort(q *index.Query, v string, readable func(string) *rules.Field) *apiError {
	items := strings.Split(v, ",")
	seen := map[string]bool{}
	for i, item := range items {
		name, desc := strings.CutPrefix(item, "-")
		switch {
		case name == "":
			return badQuery("sort", fmt.Sprintf("item %d of %q names no field", i+1, v))
		case seen[name]:
			return badQuery("sort", fmt.Sprintf("%s appears twice", name))
		case name == index.IDField && i != len(items)-1:
			return badQuery("sort", "id is unique: no field can follow it")
		}
		seen[name] = true
		if name != index.IDField {
			f := readable(name)
			if f == nil {
				return badQuery("sort", fmt.Sprintf("unknown field %q", name))
			}
			if f.Type == rules.TypeJSON || f.Type == rules.TypeList {
				return badQuery("sort", fmt.Sprintf("cannot sort on %s, a json or list field", name))
			}
		}
		switch {
		case i == 0 && name == index.IDField:
			q.Desc, q.ByID = desc, true
		case i == 0:
			q.Sort, q.Desc = name, desc
		default:
			q.Then = append(q.Then, index.SortKey{Field: name, Desc: desc})
		}
	}
	return nil
}

// parseFields reads fields=a,b: the members each item keeps. id and
// version are always kept (a client needs them to update or to page);
// created_at and updated_at when named.
func parseFields(v string, readable func(string) *rules.Field) (map[string]bool, *apiError) {
	keep := map[string]bool{"id": true, "version": true}
	for i, name := range strings.Split(v, ",") {
		if name == "" {
			return nil, badQuery("fields", fmt.Sprintf("item %d of %q names no field", i+1, v))
		}
		if !slices.Contains(rules.SystemFields, name) && readable(name) == nil {
			return nil, badQuery("fields", fmt.Sprintf("unknown field %q", name))
		}
		keep[name] = true
	}
	return keep, nil
}

// onlyMembers keeps the members of a JSON object named in keep, in the
// object's order.
func onlyMembers(raw []byte, keep map[string]bool) []byte {
	return filterMembers(raw, func(key string) bool { return keep[key] })
}

// jsonNumber is the JSON grammar of a number.
var jsonNumber = regexp.MustCompile(`^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?$`)

// filterKey reads a query-string value as the field's type.
func filterKey(f *rules.Field, s string) (index.Key, error) {
	var v any = s
	switch f.Type {
	case rules.TypeInteger, rules.TypeNumber:
		// ParseFloat also reads NaN, Inf, hex and 1_000, which no record
		// can hold: a filter takes what a body could.
		if _, err := strconv.ParseFloat(s, 64); err != nil || !jsonNumber.MatchString(s) {
			return index.Key{}, fmt.Errorf("%q is not a number", s)
		}
		v = json.Number(s)
	case rules.TypeBoolean:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return index.Key{}, fmt.Errorf("%q is not true or false", s)
		}
		v = b
	case rules.TypeJSON, rules.TypeList:
		return index.Key{}, errors.New("cannot filter on a json or list field")
	}
	k, _ := index.KeyOf(v)
	return k, nil
}

// cursorJSON is a cursor as clients hold it, base64url-encoded: the order
// it belongs to, the sort values (null for a missing one) and id of the
// position, or past for "after every record with this first value".
type cursorJSON struct {
	Order string `json:"o"`
	Keys  []any  `json:"k,omitempty"`
	ID    string `json:"id,omitempty"`
	Past  bool   `json:"p,omitempty"`
}

func encodeCursor(c *index.Cursor) string {
	cj := cursorJSON{Order: c.Order, ID: c.ID, Past: c.Past}
	for _, k := range c.Keys {
		if k.Missing() {
			cj.Keys = append(cj.Keys, nil)
		} else {
			cj.Keys = append(cj.Keys, k.Value())
		}
	}
	b, _ := json.Marshal(cj)
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeCursor(s string) (*index.Cursor, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var cj cursorJSON
	if err := dec.Decode(&cj); err != nil || cj.Order == "" || cj.Past != (cj.ID == "") {
		return nil, errors.New("bad cursor")
	}
	c := &index.Cursor{Order: cj.Order, ID: cj.ID, Past: cj.Past}
	for _, v := range cj.Keys {
		var k index.Key
		if v != nil {
			var ok bool
			if k, ok = index.KeyOf(v); !ok {
				return nil, errors.New("bad cursor")
			}
		}
		c.Keys = append(c.Keys, k)
	}
	return c, nil
}
