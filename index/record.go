package index

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"time"
	"unsafe"
)

// Record is one record of a model. It keeps its fields exactly as the
// leader encoded them and renders the full JSON (system fields first) when
// served: with a million records, storing each rendered twice would cost
// more memory than the records themselves.
//
// The struct is kept at 64 bytes, and the id and the fields share one
// allocation: per-record overhead is what decides how many records a small
// server holds.
type Record struct {
	ID        string
	Version   uint64
	CreatedAt int64 // Unix nanoseconds, fixed by the leader
	// fields is the fields object as the command carried it, in the
	// model's field order. It never changes once the Record is built.
	fields string
	// created is the log index of the event that created the record.
	created uint64
	// more is the rest of the history, nil until the record first changes.
	more *history
}

// newRecord builds a record whose id and fields share one allocation.
func newRecord(id string, fields []byte) *Record {
	buf := make([]byte, len(id)+len(fields))
	copy(buf, id)
	copy(buf[len(id):], fields)
	r := &Record{}
	if len(id) > 0 {
		r.ID = unsafe.String(&buf[0], len(id))
	}
	if len(fields) > 0 {
		r.fields = unsafe.String(&buf[len(id)], len(fields))
	}
	return r
}

// fieldBytes is the fields as bytes, without copying; read only.
func (r *Record) fieldBytes() []byte {
	return unsafe.Slice(unsafe.StringData(r.fields), len(r.fields))
}

// UpdatedAt is when the current version was written: the time of the
// event that produced it.
func (r *Record) UpdatedAt() int64 {
	if r.Version <= 1 || r.more == nil || int(r.Version-2) >= len(r.more.events) {
		return r.CreatedAt
	}
	return r.more.events[r.Version-2].Time
}

// history is what a record carries once it has changed: its later events
// and, for versioned models, the fields of its recent earlier versions.
// A new history is made on every change; an old one is never modified,
// since a snapshot being written may still read it.
type history struct {
	events   []stamp  // events after the create, oldest first
	versions []string // fields of earlier versions, newest last
}

// stamp is where an event is in the log and when it happened. Kinds and
// versions follow from the position: created, updated…, and deleted last
// for a deleted record.
type stamp struct {
	Index uint64
	Time  int64
}

// TimeFormat is how record timestamps appear in JSON.
const TimeFormat = time.RFC3339Nano

// FormatTime renders a Unix-nanosecond timestamp the way records show it.
func FormatTime(ns int64) string {
	return time.Unix(0, ns).UTC().Format(TimeFormat)
}

// RawFields returns the record's fields as a JSON object. The caller must
// not modify it.
func (r *Record) RawFields() json.RawMessage {
	if len(r.fields) == 0 {
		return json.RawMessage("{}")
	}
	return r.fieldBytes()
}

// Fields decodes the record's fields, numbers kept exact (json.Number).
func (r *Record) Fields() map[string]any {
	f, _ := decodeFields(r.RawFields())
	return f
}

// JSON renders the record as the API returns it.
func (r *Record) JSON() []byte { return r.AppendJSON(nil) }

// AppendJSON appends the record's JSON to b.
func (r *Record) AppendJSON(b []byte) []byte {
	return appendRecord(b, r.ID, r.Version, r.CreatedAt, r.UpdatedAt(), r.fields)
}

// stamps returns the record's events, oldest first.
func (r *Record) stamps() []stamp {
	out := make([]stamp, 0, 1+r.historyLen())
	out = append(out, stamp{r.created, r.CreatedAt})
	if r.more != nil {
		out = append(out, r.more.events...)
	}
	return out
}

func (r *Record) historyLen() int {
	if r.more == nil {
		return 0
	}
	return len(r.more.events)
}

// followedBy returns the history of a record that changes from r with an
// event at s; versioned is how many versions stay addressable.
func (r *Record) followedBy(s stamp, versioned int) *history {
	h := &history{}
	if r.more != nil {
		// Appending may write into the old backing array, but only past
		// the old slice's length, which nobody holding r can see.
		h.events, h.versions = r.more.events, r.more.versions
	}
	h.events = append(h.events, s)
	if versioned > 1 {
		h.versions = append(h.versions, r.fields)
		if over := len(h.versions) - (versioned - 1); over > 0 {
			h.versions = h.versions[over:]
		}
	} else {
		h.versions = nil
	}
	return h
}

// decodeFields decodes a JSON object keeping numbers exact.
func decodeFields(raw json.RawMessage) (map[string]any, error) {
	fields := map[string]any{}
	if len(raw) == 0 {
		return fields, nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&fields); err != nil {
		return nil, err
	}
	return fields, nil
}

// appendRecord joins the system fields and the fields object's members.
// Every node renders the same bytes for the same record.
func appendRecord(b []byte, id string, version uint64, created, updated int64, raw string) []byte {
	inner := strings.TrimSpace(raw)
	if len(inner) >= 2 {
		inner = strings.TrimSpace(inner[1 : len(inner)-1])
	}
	b = append(b, `{"id":`...)
	b = appendString(b, id)
	b = append(b, `,"version":`...)
	b = strconv.AppendUint(b, version, 10)
	b = append(b, `,"created_at":"`...)
	b = time.Unix(0, created).UTC().AppendFormat(b, TimeFormat)
	b = append(b, `","updated_at":"`...)
	b = time.Unix(0, updated).UTC().AppendFormat(b, TimeFormat)
	b = append(b, '"')
	if len(inner) > 0 {
		b = append(b, ',')
		b = append(b, inner...)
	}
	return append(b, '}')
}

// appendString appends s as a JSON string. Ids are UUIDs, which need no
// escaping; anything else goes through encoding/json.
func appendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s)
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}
