package openapi

import (
	"fmt"
	"slices"
	"strings"

	"github.com/lithair/lithair/rules"
)

// variant is which body a schema describes.
type variant int

const (
	asRecord  variant = iota // what the server answers
	asInput                  // POST: a create
	asReplace                // PUT: a replace
	asPatch                  // PATCH: a merge
)

// modelSchemas adds the schemas of m to schemas.
func modelSchemas(m *rules.Model, n modelNames, schemas obj) {
	schemas[n.Record] = bodySchema(m, asRecord)
	schemas[n.Input] = bodySchema(m, asInput)
	schemas[n.Replace] = bodySchema(m, asReplace)
	schemas[n.Patch] = bodySchema(m, asPatch)
	schemas[n.List] = obj{
		"type":        "object",
		"description": "A page of " + m.Name + " records. With `fields`, items hold only the fields asked for.",
		"required":    []any{"items", "next_cursor"},
		"properties": obj{
			"items":       obj{"type": "array", "items": schemaRef(n.Record)},
			"next_cursor": obj{"type": []any{"string", "null"}, "description": "Pass it as `cursor` for the next page; null on the last page."},
			"count":       obj{"type": "integer", "minimum": 0, "description": "Records matching the filters, with `count=true`."},
		},
	}
}

// bodySchema is the object schema of a record or of a request body.
func bodySchema(m *rules.Model, v variant) obj {
	props := obj{}
	required := []any{}
	if v == asRecord {
		props["id"] = obj{"type": "string", "format": "uuid", "readOnly": true, "description": "Set by the server (a UUIDv7: ids sort in creation order)."}
		props["version"] = obj{"type": "integer", "minimum": 1, "readOnly": true, "description": "1 on create, one more on every update; the ETag."}
		props["created_at"] = obj{"type": "string", "format": "date-time", "readOnly": true}
		props["updated_at"] = obj{"type": "string", "format": "date-time", "readOnly": true}
		required = append(required, "id", "version", "created_at", "updated_at")
	}
	for _, f := range m.Fields {
		if v == asRecord && nobody(f.ReadRoles) {
			continue // a secret the server keeps: never in an answer
		}
		if v != asRecord && (f.ReadOnly || nobody(f.WriteRoles)) {
			continue // a client never sets it
		}
		p := fieldSchema(f)
		if d := fieldDescription(f); d != "" {
			p["description"] = d
		}
		switch v {
		case asRecord:
			if f.ReadOnly {
				p["readOnly"] = true
			}
			if f.Default != nil {
				p["default"] = f.Default
			}
		case asInput, asReplace:
			// A replace gets the constant defaults too: a replaced record is whole.
			if f.Default != nil {
				p["default"] = f.Default
			}
		case asPatch:
			if !f.Required {
				p = nullable(p)
			}
		}
		props[f.Name] = p
		if isRequired(f, v) {
			required = append(required, f.Name)
		}
	}
	s := obj{"type": "object", "properties": props}
	if len(required) > 0 {
		s["required"] = required
	}
	switch v {
	case asRecord:
		s["description"] = "A record of the model " + m.Name + ", as the server answers it."
		if m.Description != "" {
			s["description"] = m.Description
		}
	case asInput:
		s["description"] = "What a client sends to create a record of " + m.Name + ". Missing fields take their default; system fields (id, version, created_at, updated_at) are set by the server."
		s["additionalProperties"] = false
	case asReplace:
		s["description"] = "The whole new record of " + m.Name + " (PUT). Absent fields take their default, or disappear; immutable fields may be left out and keep their value."
		s["additionalProperties"] = false
	case asPatch:
		s["description"] = "A merge patch of a record of " + m.Name + " (PATCH): members given replace the record's, null removes an optional field. The result is checked like a replace."
		s["additionalProperties"] = false
	}
	return s
}

// isRequired reports whether f must be present in a body of variant v.
func isRequired(f *rules.Field, v variant) bool {
	if !f.Required {
		return false
	}
	switch v {
	case asRecord:
		// A field some callers may not read is left out of their answers.
		return f.ReadRoles == nil || slices.Contains(f.ReadRoles, rules.RolePublic)
	case asInput:
		return f.Default == nil && !f.HasDefaultFunc()
	case asReplace:
		// Prepare keeps the stored value of an absent immutable field, and
		// a replace gets constant defaults but not Lua ones.
		return f.Default == nil && !f.Immutable
	}
	return false
}

// fieldSchema is the JSON Schema of a value of f, with its constraints.
func fieldSchema(f *rules.Field) obj {
	s := typeSchema(f.Type)
	switch f.Type {
	case rules.TypeString, rules.TypeText:
		if f.MinLength != nil {
			s["minLength"] = *f.MinLength
		}
		if f.MaxLength != nil {
			s["maxLength"] = *f.MaxLength
		}
		if f.Pattern != nil {
			s["pattern"] = f.Pattern.String()
		}
	case rules.TypeInteger, rules.TypeNumber:
		if f.Min != nil {
			s["minimum"] = *f.Min
		}
		if f.Max != nil {
			s["maximum"] = *f.Max
		}
	case rules.TypeEnum:
		values := make([]any, len(f.Values))
		for i, v := range f.Values {
			values[i] = v
		}
		s["enum"] = values
	case rules.TypeList:
		if f.Items != "" {
			s["items"] = typeSchema(f.Items)
		}
		if f.MinLength != nil {
			s["minItems"] = *f.MinLength
		}
		if f.MaxLength != nil {
			s["maxItems"] = *f.MaxLength
		}
	}
	return s
}

// typeSchema is the bare schema of a field type.
func typeSchema(t rules.FieldType) obj {
	switch t {
	case rules.TypeString, rules.TypeText, rules.TypeEnum:
		return obj{"type": "string"}
	case rules.TypeReference:
		return obj{"type": "string"}
	case rules.TypeInteger:
		return obj{"type": "integer"}
	case rules.TypeNumber:
		return obj{"type": "number"}
	case rules.TypeBoolean:
		return obj{"type": "boolean"}
	case rules.TypeDatetime:
		return obj{"type": "string", "format": "date-time"}
	case rules.TypeList:
		return obj{"type": "array"}
	}
	return obj{} // json, and list items of any type: any JSON value
}

// fieldDescription is the field's help text followed by what JSON Schema
// cannot say about it.
func fieldDescription(f *rules.Field) string {
	var parts []string
	if f.Description != "" {
		parts = append(parts, strings.TrimSpace(f.Description))
	}
	if f.Type == rules.TypeReference {
		parts = append(parts, fmt.Sprintf("The id of a %s record, which must exist when written.", f.Ref))
	}
	if f.Type == rules.TypeText {
		parts = append(parts, "Long text.")
	}
	if f.Type == rules.TypeInteger {
		parts = append(parts, "Kept digit for digit, any size.")
	}
	if f.HasDefaultFunc() {
		parts = append(parts, "Computed by the rules on create when absent.")
	}
	if f.ReadOnly {
		parts = append(parts, "Read-only: set by the server, never by a client.")
	}
	if len(f.ReadRoles) > 0 && !slices.Contains(f.ReadRoles, rules.RolePublic) {
		parts = append(parts, "Visible only to "+rolesPhrase(f.ReadRoles)+"; left out of the record for others.")
	}
	if len(f.WriteRoles) > 0 && !slices.Contains(f.WriteRoles, rules.RolePublic) {
		parts = append(parts, "Only "+rolesPhrase(f.WriteRoles)+" may set it; for others a body that changes it is refused (403).")
	}
	if f.Immutable {
		parts = append(parts, "Immutable: set on create, never changed.")
	}
	if f.Unique {
		parts = append(parts, "Unique: no two records share a value (409).")
	}
	if f.Indexed || f.Unique {
		parts = append(parts, "Indexed: fast filters and sorts.")
	}
	return strings.Join(parts, " ")
}

// nobody reports whether a field's role list admits no one: declared, and
// empty (read = {} keeps a secret on the server).
func nobody(roles []string) bool { return roles != nil && len(roles) == 0 }

// rolesPhrase names who roles admit, for a sentence.
func rolesPhrase(roles []string) string {
	switch {
	case slices.Contains(roles, rules.RolePublic):
		return "everyone, also without logging in (role public)"
	case slices.Contains(roles, rules.RoleAuthenticated):
		return "any logged-in user (role authenticated)"
	case len(roles) == 0:
		return "nobody"
	}
	return "the roles: " + strings.Join(roles, ", ")
}

// nullable lets a schema also accept null, which a PATCH uses to clear an
// optional field.
func nullable(s obj) obj {
	t, ok := s["type"].(string)
	if !ok {
		return s // no type: any JSON value, null included
	}
	s["type"] = []any{t, "null"}
	if e, ok := s["enum"].([]any); ok {
		s["enum"] = append(e, nil)
	}
	return s
}
