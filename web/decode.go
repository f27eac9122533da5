package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
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
