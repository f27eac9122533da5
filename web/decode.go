package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"unicode/utf8"
)

// readObject reads a request body that must be one JSON object. Numbers
// stay exact (json.Number). A malformed body is a 400, an oversized one a
// 413; neither reaches validation.
func readObject(w http.ResponseWriter, r *http.Request, maxBody int64) (map[string]any, *apiError) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, errorf(http.StatusRequestEntityTooLarge, "body_too_large", "the request body is larger than the limit")
		}
		return nil, errorf(http.StatusBadRequest, "malformed_json", "the request body could not be read")
	}
	if !utf8.Valid(body) {
		return nil, errorf(http.StatusBadRequest, "malformed_json", "the request body is not valid UTF-8")
	}
	if msg := checkShape(body); msg != "" {
		return nil, errorf(http.StatusBadRequest, "malformed_json", msg)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, errorf(http.StatusBadRequest, "malformed_json", "malformed JSON: "+err.Error())
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errorf(http.StatusBadRequest, "malformed_json", "malformed JSON: data after the object")
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, errorf(http.StatusBadRequest, "malformed_json", "the request body must be a JSON object")
	}
	return obj, nil
}

// maxDepth bounds how deeply a body's objects and arrays may nest.
const maxDepth = 32

// checkShape walks the body's tokens and refuses what encoding/json would
// silently accept: a key given twice in one object (also when the two
// differ only in case: which one would win is a guess), and nesting deeper
// than maxDepth. It returns "" for a body of good shape, and leaves
// syntax errors to the decoder.
func checkShape(body []byte) string {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	type frame struct {
		keys     map[string]bool // lower-cased keys seen, for objects
		isObject bool
		wantKey  bool
	}
	var stack []*frame
	for {
		tok, err := dec.Token()
		if err != nil {
			return "" // EOF, or a syntax error the decoder will report
		}
		top := (*frame)(nil)
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if d, ok := tok.(json.Delim); ok {
			switch d {
			case '{', '[':
				if len(stack) == maxDepth {
					return "malformed JSON: nested deeper than 32 levels"
				}
				if top != nil && top.isObject {
					top.wantKey = true
				}
				stack = append(stack, &frame{keys: map[string]bool{}, isObject: d == '{', wantKey: d == '{'})
			case '}', ']':
				stack = stack[:len(stack)-1]
			}
			continue
		}
		if top == nil || !top.isObject {
			continue
		}
		if top.wantKey {
			key, _ := tok.(string)
			lower := strings.ToLower(key)
			if top.keys[lower] {
				return "malformed JSON: key \"" + key + "\" appears twice in one object"
			}
			top.keys[lower] = true
			top.wantKey = false
			continue
		}
		top.wantKey = true
	}
}
