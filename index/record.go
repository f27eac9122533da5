package index

import (
	"bytes"
	"encoding/json"
	"strconv"
	"time"
	"unsafe"
)

// Record is one live record of a model, kept ready to serve: its encoded
// JSON and the few numbers the API needs. Field values are decoded only
// when asked (Fields), so a million records cost little more than their
// JSON.
type Record struct {
	ID        string
	Version   uint64
	CreatedAt int64 // Unix nanoseconds, fixed by the leader
	UpdatedAt int64
	// JSON is the full record as the API returns it: system fields first,
	// then the model's fields in the order the leader encoded them.
	JSON []byte
	// fieldsAt is where the fields' members start in JSON.
	fieldsAt int
	// events is the record's history, oldest first: where each event is
	// in the log and when it happened. Kinds and versions follow from the
	// position (created, updated…, and deleted last for a deleted record).
	events []stamp
	// versions keeps the JSON of recent earlier versions for models with
	// versioned = N, newest last.
	versions [][]byte
}

// TimeFormat is how record timestamps appear in JSON.
const TimeFormat = time.RFC3339Nano

// FormatTime renders a Unix-nanosecond timestamp the way records show it.
func FormatTime(ns int64) string {
	return time.Unix(0, ns).UTC().Format(TimeFormat)
}

// RawFields returns the record's fields as a JSON object.
func (r *Record) RawFields() json.RawMessage {
	if r.fieldsAt >= len(r.JSON)-1 {
		return json.RawMessage("{}")
	}
	out := make([]byte, 0, len(r.JSON)-r.fieldsAt+1)
	out = append(out, '{')
	return append(out, r.JSON[r.fieldsAt:]...)
}

// Fields decodes the record's fields, numbers kept exact (json.Number).
func (r *Record) Fields() map[string]any {
	f, _ := decodeFields(r.RawFields())
	return f
}

// stamp is the compact form of an event the state keeps per record.
type stamp struct {
	Index uint64
	Time  int64
}

// newRecord builds a Record and its JSON from a fields object.
func newRecord(id string, version uint64, created, updated int64, raw json.RawMessage) *Record {
	r := &Record{Version: version, CreatedAt: created, UpdatedAt: updated}
	r.JSON, r.fieldsAt = encodeRecord(id, version, created, updated, raw)
	r.ID = idIn(r.JSON, id)
	return r
}

// idIn returns id sharing the memory of the record's JSON, which starts
// with {"id":"<id>" and never changes: with a million records, a
// separate copy of each id would be 48 bytes more per record.
func idIn(recJSON []byte, id string) string {
	const at = len(`{"id":"`)
	if len(recJSON) >= at+len(id) && string(recJSON[at:at+len(id)]) == id {
		return unsafe.String(&recJSON[at], len(id))
	}
	return id
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

// encodeRecord joins the system fields and the fields object's members,
// and returns where the members start. Every node produces the same bytes.
func encodeRecord(id string, version uint64, created, updated int64, raw json.RawMessage) ([]byte, int) {
	inner := bytes.TrimSpace(raw)
	if len(inner) >= 2 {
		inner = bytes.TrimSpace(inner[1 : len(inner)-1])
	}
	b := make([]byte, 0, len(inner)+len(id)+120)
	b = append(b, `{"id":`...)
	qid, _ := json.Marshal(id) // a string always marshals
	b = append(b, qid...)
	b = append(b, `,"version":`...)
	b = strconv.AppendUint(b, version, 10)
	b = append(b, `,"created_at":"`...)
	b = time.Unix(0, created).UTC().AppendFormat(b, TimeFormat)
	b = append(b, `","updated_at":"`...)
	b = time.Unix(0, updated).UTC().AppendFormat(b, TimeFormat)
	b = append(b, '"')
	if len(inner) == 0 {
		b = append(b, '}')
		return b, len(b) - 1
	}
	b = append(b, ',')
	at := len(b)
	b = append(b, inner...)
	return append(b, '}'), at
}
