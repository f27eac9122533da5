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
