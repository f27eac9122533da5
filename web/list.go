package web

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
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

// list serves GET on a collection:
//
//	?field=v  ?field[op]=v (op: eq ne lt lte gt gte prefix in)  sort=field|-field
//	limit=N (1..1000, default 50)  cursor=C (from next_cursor)
//
// Filters and sorts on indexed fields walk the field's index. A filter on
// a field without an index is checked record by record, examining at most
// index.DefaultMaxScan records per page (a page may then come back short,
// with a next_cursor to go on). Sorting needs an index.
func (s *Server) list(w http.ResponseWriter, r *http.Request, m *rules.Model) {
	values, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		writeError(w, badQuery("query", "the query string is malformed: "+err.Error()))
		return
	}
	q, aerr := parseListQuery(m, values)
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	u := userFrom(r)
	page, aerr := s.readablePage(r, m, u, q)
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	hidden := m.Hidden(u)
	b := make([]byte, 0, 256*(len(page.Records)+1))
	b = append(b, `{"items":[`...)
	for i, rec := range page.Records {
		if i > 0 {
			b = append(b, ',')
		}
		if hidden != nil {
			b = append(b, withoutFields(rec.JSON(), hidden)...)
		} else {
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
	b = append(b, '}')
	writeRaw(w, http.StatusOK, b)
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

func listError(q index.Query, err error) *apiError {
	if errors.Is(err, index.ErrNotIndexed) {
		return badQuery("sort", fmt.Sprintf("sorting needs an indexed field; %s is not indexed", q.Sort))
	}
	return badQuery("cursor", err.Error())
}

func badQuery(param, msg string) *apiError {
	return &apiError{Status: http.StatusBadRequest, Code: "bad_query", Message: param + ": " + msg, Fields: map[string]string{param: msg}}
}

var listOps = map[string]index.Op{
	"eq": index.OpEq, "ne": index.OpNe, "lt": index.OpLt, "lte": index.OpLte, "gt": index.OpGt,
	"gte": index.OpGte, "prefix": index.OpPrefix, "in": index.OpIn,
}

func parseListQuery(m *rules.Model, values url.Values) (index.Query, *apiError) {
	q := index.Query{Model: m.Name, Limit: defaultLimit}
	for param, vs := range values {
		v := vs[0]
		if len(vs) > 1 {
			return q, badQuery(param, "given more than once")
		}
		switch param {
		case "limit":
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > maxLimit {
				return q, badQuery("limit", fmt.Sprintf("must be an integer from 1 to %d", maxLimit))
			}
			q.Limit = n
			continue
		case "cursor":
			c, err := decodeCursor(v)
			if err != nil {
				return q, badQuery("cursor", "is not a cursor this server gave")
			}
			q.After = c
			continue
		case "sort":
			field, desc := strings.CutPrefix(v, "-")
			if field != "id" && m.Field(field) == nil {
				return q, badQuery("sort", fmt.Sprintf("unknown field %q", field))
			}
			if field != "id" {
				q.Sort = field
			}
			q.Desc = desc
			continue
		}
		name, op := param, "eq"
		if i := strings.IndexByte(param, '['); i > 0 && strings.HasSuffix(param, "]") {
			name, op = param[:i], param[i+1:len(param)-1]
		}
		f := m.Field(name)
		if f == nil {
			return q, badQuery(param, "unknown field or parameter")
		}
		iop, ok := listOps[op]
		if !ok {
			return q, badQuery(param, fmt.Sprintf("unknown operator %q (eq, ne, lt, lte, gt, gte, prefix, in)", op))
		}
		raw := []string{v}
		if iop == index.OpIn {
			raw = strings.Split(v, ",")
		}
		filter := index.Filter{Field: name, Op: iop}
		for _, s := range raw {
			k, err := filterKey(f, s)
			if err != nil {
				return q, badQuery(param, err.Error())
			}
			filter.Values = append(filter.Values, k)
		}
		q.Filters = append(q.Filters, filter)
	}
	return q, nil
}

// filterKey reads a query-string value as the field's type.
func filterKey(f *rules.Field, s string) (index.Key, error) {
	var v any = s
	switch f.Type {
	case rules.TypeInteger, rules.TypeNumber:
		if _, err := strconv.ParseFloat(s, 64); err != nil {
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

type cursorJSON struct {
	Field string `json:"f,omitempty"`
	Value any    `json:"v,omitempty"`
	ID    string `json:"id"`
}

func encodeCursor(c *index.Cursor) string {
	cj := cursorJSON{Field: c.Field, ID: c.ID}
	if c.Field != "" {
		cj.Value = c.Key.Value()
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
	if err := dec.Decode(&cj); err != nil || cj.ID == "" {
		return nil, errors.New("bad cursor")
	}
	c := &index.Cursor{Field: cj.Field, ID: cj.ID}
	if cj.Field != "" {
		k, ok := index.KeyOf(cj.Value)
		if !ok {
			return nil, errors.New("bad cursor")
		}
		c.Key = k
	}
	return c, nil
}
