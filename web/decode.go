package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"
)

// readObject reads a request body that must be one JSON object. Numbers
// stay exact (json.Number). A malformed body is a 400, an oversized one a
// 413; neither reaches validation.
func readObject(w http.ResponseWriter, r *http.Request, maxBody int64) (map[string]any, *apiError) {
	if aerr := checkContentType(r); aerr != nil {
		return nil, aerr
	}
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

// checkContentType refuses a body declared as anything but JSON. A body
// without a Content-Type is read as JSON: scripts often leave it out, and
// reading it as JSON is the only thing this API would do with it.
func checkContentType(r *http.Request) *apiError {
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		return nil
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err == nil && (mt == "application/json" || mt == "application/merge-patch+json") {
		if cs, ok := params["charset"]; !ok || strings.EqualFold(cs, "utf-8") {
			return nil
		}
	}
	return errorf(http.StatusUnsupportedMediaType, "unsupported_media_type", "the request body must be application/json (UTF-8), not "+strconv.Quote(ct))
}

// Shape limits of a request body.
const (
	maxDepth     = 32        // how deeply objects and arrays may nest
	maxStringLen = 256 << 10 // bytes in one string (a value, decoded)
	maxKeyLen    = 256       // bytes in one object key
)

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
		if str, ok := tok.(string); ok && len(str) > maxStringLen {
			return "malformed JSON: a string is longer than " + strconv.Itoa(maxStringLen) + " bytes"
		}
		if top == nil || !top.isObject {
			continue
		}
		if top.wantKey {
			key, _ := tok.(string)
			if len(key) > maxKeyLen {
				return "malformed JSON: a key is longer than " + strconv.Itoa(maxKeyLen) + " bytes"
			}
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

// readInto reads a JSON object body into dst, a struct of the operator
// endpoints: the same checks as readObject, and then a member dst does not
// know, or of the wrong type, is a 422 naming it.
func readInto(w http.ResponseWriter, r *http.Request, maxBody int64, dst any) *apiError {
	obj, aerr := readObject(w, r, maxBody)
	if aerr != nil {
		return aerr
	}
	b, _ := json.Marshal(obj)
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	dec.UseNumber()
	err := dec.Decode(dst)
	if err == nil {
		return nil
	}
	fields := map[string]string{}
	var typeErr *json.UnmarshalTypeError
	switch {
	case errors.As(err, &typeErr):
		fields[typeErr.Field] = "must be " + jsonKind(typeErr.Type.Kind().String())
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		fields[strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)] = "unknown field"
	}
	return &apiError{Status: http.StatusUnprocessableEntity, Code: "validation_failed", Message: "the body does not fit this endpoint", Fields: fields}
}

func jsonKind(goKind string) string {
	switch goKind {
	case "string":
		return "a string"
	case "bool":
		return "true or false"
	case "slice":
		return "a list"
	case "ptr", "struct", "map":
		return "an object"
	}
	return "a number"
}
