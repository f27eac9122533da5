package openapi

import (
	"maps"
	"strconv"
)

// errorSchema is the one error shape every answer uses.
const errorSchema = "Error"

// sharedSchemas returns the schemas that do not depend on the rules. All
// but Error start with "_", which no model name can: a model named User or
// Event keeps its plain schema names.
func sharedSchemas() obj {
	s := obj{
		errorSchema: obj{
			"type":        "object",
			"description": `Every error answer: {"error":{"code":"validation_failed","message":"…","fields":{"price":"must be >= 0"}}}.`,
			"required":    []any{"error"},
			"properties":  obj{"error": schemaRef("_ErrorDetail")},
		},
		"_ErrorDetail": obj{
			"type":     "object",
			"required": []any{"code", "message"},
			"properties": obj{
				"code": obj{"type": "string", "description": "What went wrong, for programs: bad_query, malformed_json, bad_header, " +
					"body_too_large, unauthorized, forbidden, not_found, method_not_allowed, conflict, version_mismatch, " +
					"validation_failed, rate_limited, not_ready, unavailable, timeout, insufficient_storage, internal."},
				"message": obj{"type": "string", "description": "What went wrong, for people."},
				"fields": obj{
					"type":                 "object",
					"description":          "A message per field (422), per query parameter (400) or for the taken unique field (409). `_record` holds a message about the whole record.",
					"additionalProperties": obj{"type": "string"},
				},
			},
		},
		"_Event": obj{
			"type":        "object",
			"description": "One event of a record's history.",
			"required":    []any{"index", "kind", "version", "time"},
			"properties": obj{
				"index":   obj{"type": "integer", "minimum": 1, "description": "The log index of the event."},
				"kind":    obj{"type": "string", "enum": []any{"created", "updated", "deleted"}},
				"version": obj{"type": "integer", "minimum": 1, "description": "The record's version after the event."},
				"time":    obj{"type": "string", "format": "date-time"},
				"actor":   obj{"type": "string", "description": "Who made the change."},
				"fields":  obj{"type": "object", "description": "The record's fields after the event (absent for a delete)."},
			},
		},
		"_History": obj{
			"type":     "object",
			"required": []any{"model", "id", "events"},
			"properties": obj{
				"model":  obj{"type": "string"},
				"id":     obj{"type": "string"},
				"events": obj{"type": "array", "description": "Oldest first, also after a delete.", "items": schemaRef("_Event")},
			},
		},
	}
	maps.Copy(s, systemSchemas())
	return s
}

// errorResponses names the shared response of each error status.
var errorResponses = map[int]struct{ name, desc string }{
	400: {"BadRequest", "Malformed JSON, trailing data, not an object, invalid UTF-8, a bad header, or a bad query parameter (`fields` names it)."},
	401: {"Unauthorized", "No credentials, or a token or session that is unknown or expired."},
	403: {"Forbidden", "The caller's roles, or the rules' predicate for this record, do not allow it; or the body sets a field the caller's roles may not write (`fields` names it); or the client's address is not allowed."},
	404: {"NotFound", "No such record, version, model or route."},
	409: {"Conflict", "A unique value is taken (`fields` names it), or the record changed under a concurrent write (version mismatch)."},
	412: {"PreconditionFailed", "`If-Match` does not match the record's version; nothing changed."},
	413: {"PayloadTooLarge", "The body is larger than the server's limit (http.max_body)."},
	415: {"UnsupportedMediaType", "The body is declared as something other than application/json (UTF-8); a body without Content-Type is read as JSON."},
	422: {"ValidationFailed", "The body does not fit the model: a message per field in `fields`. Unknown fields are refused, never dropped."},
	429: {"TooManyRequests", "Too many requests from this client; retry after `Retry-After` seconds."},
	503: {"Unavailable", "The node is not ready (replaying its log), has no leader, or the write was not confirmed in time; retry after `Retry-After` seconds."},
	507: {"InsufficientStorage", "The server's disk is full; nothing was written."},
}

// sharedResponses returns the error responses, one per status.
func sharedResponses() obj {
	out := obj{}
	for code, r := range errorResponses {
		resp := obj{"description": r.desc, "content": jsonContent(schemaRef(errorSchema))}
		if code == 429 || code == 503 {
			resp["headers"] = obj{"Retry-After": ref("headers", "RetryAfter")}
		}
		out[r.name] = resp
	}
	return out
}

// withErrors adds to responses a reference to the shared response of each
// error status in codes that responses does not answer already.
func withErrors(responses obj, codes ...int) obj {
	for _, c := range codes {
		if _, set := responses[strconv.Itoa(c)]; !set {
			responses[strconv.Itoa(c)] = ref("responses", errorResponses[c].name)
		}
	}
	return responses
}

// sharedHeaders returns the response headers several operations send.
func sharedHeaders() obj {
	return obj{
		"RetryAfter": obj{"description": "Seconds to wait before retrying.", "schema": obj{"type": "integer", "minimum": 0}},
		"ETag":       obj{"description": `The record's version, quoted: "3". Send it back in If-Match or If-None-Match.`, "schema": obj{"type": "string"}},
		"Location":   obj{"description": "The new record's URL.", "schema": obj{"type": "string"}},
		"SetSession": obj{"description": "The session cookie lithair_session (HttpOnly).", "schema": obj{"type": "string"}},
	}
}

// sharedParameters returns the parameters several operations take.
func sharedParameters() obj {
	return obj{
		"Limit": obj{"name": "limit", "in": "query", "description": "Items per page, 1 to 1000.",
			"schema": obj{"type": "integer", "minimum": 1, "maximum": 1000, "default": 50}},
		"Cursor": obj{"name": "cursor", "in": "query", "description": "The next_cursor of the previous page. Cursors stay correct while records are inserted.",
			"schema": obj{"type": "string"}},
		"Count": obj{"name": "count", "in": "query", "description": "Also answer `count`, the number of records that match the filters.",
			"schema": obj{"type": "boolean", "default": false}},
		"IfMatch": obj{"name": "If-Match", "in": "header",
			"description": `Make the write conditional on the record's version, as its ETag ("3"): if the record moved on, the answer is 412 and nothing changes. Of two clients racing with the same version exactly one wins.`,
			"schema":      obj{"type": "string"}},
		"IfNoneMatch": obj{"name": "If-None-Match", "in": "header",
			"description": `The ETag of a copy the client holds ("3"); the answer is 304 without a body while the record is still at that version.`,
			"schema":      obj{"type": "string"}},
		"Version": obj{"name": "version", "in": "query", "description": "Time travel: the record as it was at this version.",
			"schema": obj{"type": "integer", "minimum": 1}},
		"At": obj{"name": "at", "in": "query", "description": "Time travel: the record as it was at this time (RFC 3339); 404 if it did not exist then.",
			"schema": obj{"type": "string", "format": "date-time"}},
	}
}

// Security requirements of an operation. An empty requirement first makes
// credentials optional.
var (
	securityOptional = []any{obj{}, obj{"bearerAuth": []any{}}, obj{"cookieAuth": []any{}}}
	securityRequired = []any{obj{"bearerAuth": []any{}}, obj{"cookieAuth": []any{}}}
	securityNone     = []any{}
)

func securitySchemes() obj {
	return obj{
		"bearerAuth": obj{
			"type":   "http",
			"scheme": "bearer",
			"description": "Authorization: Bearer <token>, with a session token from POST /api/_auth/login (prefix lths_) " +
				"or an API token made by an admin with POST /api/_tokens (prefix lth_).",
		},
		"cookieAuth": obj{
			"type":        "apiKey",
			"in":          "cookie",
			"name":        "lithair_session",
			"description": "The session cookie that POST /api/_auth/login sets.",
		},
	}
}
