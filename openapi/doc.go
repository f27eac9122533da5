// Package openapi describes a Lithair server as an OpenAPI 3.1.0 document,
// generated from the loaded rules. The web package serves it at
// GET /api/_openapi.json and regenerates it when the rules reload.
//
//	doc, err := openapi.Generate(set, openapi.Info{Version: "1.4.0"})
//
// # What the document holds
//
// For every model the generic record routes serve, that is every model
// whose path is under /api/ but not under the reserved /api/_ (Lithair's
// own models, users, tokens and sessions, have the system routes):
//
//	components/schemas
//	  <Model>         a record as the server returns it: id, version,
//	                  created_at, updated_at, then the declared fields
//	  <Model>Input    a create body (POST): no system or read-only fields
//	  <Model>Replace  a replace body (PUT): immutable fields may be left out
//	  <Model>Patch    a merge body (PATCH): every member optional, null
//	                  clears an optional field
//	  <Model>List     a page of a list: items, next_cursor, count
//	paths
//	  {path}               GET listModel, POST createModel
//	  {path}/{id}          GET getModel, PUT replaceModel,
//	                       PATCH patchModel, DELETE deleteModel
//	  {path}/{id}/events   GET listModelEvents
//
// Field constraints map onto JSON Schema: min_length/max_length become
// minLength/maxLength (minItems/maxItems for lists), min/max become
// minimum/maximum, values becomes enum, readonly becomes readOnly. What JSON
// Schema cannot say (unique, immutable, indexed, a default computed by
// Lua, a reference's target, the roles of a field's read and write lists)
// is said in the property's description. A field some callers may not
// read is not required in <Model>, since their answers leave it out; a
// field nobody may read (read = {}) is not described at all.
//
// Each operation's security follows the model's permissions: an action open
// to "public" lists the empty requirement first (credentials optional),
// any other action requires bearerAuth or cookieAuth, and its description
// names the roles allowed.
//
// The system routes (health, auth, users, tokens, rules, audit, backup,
// projections, events, batch, metrics) are the static part of the document,
// in system.go.
//
// # Names
//
// Schema names derive from the model name. A model whose derived names are
// taken (by a shared schema such as Error, or by an earlier model: "Product"
// and "ProductInput") falls back to the dotted form Model.<Name>,
// Model.<Name>.Input, ...: model names hold no dots, so that form cannot
// clash. Model operationIds are a verb and the model name (listProduct);
// system operationIds are dotted (auth.login, users.list), so a model
// named User cannot take one of theirs.
//
// # Determinism
//
// The document is built from maps and encoded by encoding/json, which
// sorts object keys (so a schema's properties come in name order, not in
// declaration order); arrays (parameters, required lists, enums) follow
// the rule file's declaration order. The same rule set therefore
// always gives the same bytes, and a client may cache by the rules version
// (info.x-lithair-rules-version).
package openapi
