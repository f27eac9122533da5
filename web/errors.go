package web

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
)

// apiError is the one error shape every answer uses:
// {"error":{"code":"validation_failed","message":"…","fields":{"price":"must be >= 0"}}}
type apiError struct {
	Status  int               `json:"-"`
	Code    string            `json:"code"`
	Message string            `json:"message"`
	Fields  map[string]string `json:"fields,omitempty"`
}

func (e *apiError) Error() string { return e.Message }

func errorf(status int, code, msg string) *apiError {
	return &apiError{Status: status, Code: code, Message: msg}
}

func writeError(w http.ResponseWriter, e *apiError) {
	if e.Status == http.StatusServiceUnavailable || e.Status == http.StatusTooManyRequests {
		w.Header().Set("Retry-After", "1")
	}
	writeJSON(w, e.Status, map[string]*apiError{"error": e})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	// Messages like "must be >= 0" read better without HTML escaping,
	// and every answer is served as application/json, never as HTML.
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	var b []byte
	if err := enc.Encode(v); err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":{"code":"internal","message":"encoding the answer failed"}}`)
	} else {
		b = bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	}
	writeRaw(w, status, b)
}

// writeRaw answers with body, a JSON document the caller may share with
// others (a record's own bytes): it is never changed.
func writeRaw(w http.ResponseWriter, status int, body []byte) {
	if len(body) < 2048 {
		writeHeader(w, status, len(body)+1)
		w.Write(body) // both writes land in net/http's buffer
		w.Write([]byte{'\n'})
		return
	}
	// A body larger than net/http's buffer is written straight to the
	// connection, and a newline written after it would cost a system call
	// of its own (a list of 50 went out in three writes): it goes out
	// copied with its newline, in one write. The copy's capacity is pinned
	// so that a shared body is never appended to.
	writeLine(w, status, append(body[:len(body):len(body)], '\n'))
}

// writeLine answers with line, a JSON document that ends with a newline,
// in one write. Callers that built their body append the newline
// themselves and spare writeRaw's copy.
func writeLine(w http.ResponseWriter, status int, line []byte) {
	writeHeader(w, status, len(line))
	w.Write(line)
}

// Header values every answer carries, shared instead of allocated per
// answer: net/http copies a handler's header before writing it, and
// nothing here changes a value in place.
var (
	jsonContentType = []string{"application/json"}
	noSniff         = []string{"nosniff"}
	varyCredentials = []string{"Authorization, Cookie"}
)

func writeHeader(w http.ResponseWriter, status, length int) {
	h := w.Header()
	h["Content-Type"] = jsonContentType
	h["X-Content-Type-Options"] = noSniff
	// Without a length, net/http chunks any body over 2 KiB: lists.
	h.Set("Content-Length", strconv.Itoa(length))
	w.WriteHeader(status)
}
