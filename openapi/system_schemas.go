package openapi

// object is an object schema with properties and the names it requires.
func object(desc string, required []any, props obj) obj {
	s := obj{"type": "object", "properties": props}
	if desc != "" {
		s["description"] = desc
	}
	if len(required) > 0 {
		s["required"] = required
	}
	return s
}

func str(desc string) obj {
	s := obj{"type": "string"}
	if desc != "" {
		s["description"] = desc
	}
	return s
}

func dateTime(desc string) obj {
	s := str(desc)
	s["format"] = "date-time"
	return s
}

func integer(desc string) obj {
	s := obj{"type": "integer", "minimum": 0}
	if desc != "" {
		s["description"] = desc
	}
	return s
}

func arrayOf(items obj) obj { return obj{"type": "array", "items": items} }

func roleList(desc string) obj {
	s := arrayOf(obj{"type": "string"})
	s["description"] = desc
	return s
}

// nextCursor is the paging member of the system lists.
var nextCursor = obj{"type": []any{"string", "null"}, "description": "Pass it as `cursor` for the next page; null on the last page."}

// systemSchemas returns the bodies of the system routes. Their names start
// with "_", like the system models (_User, _Token), so that no model's
// schema can take one.
func systemSchemas() obj {
	userName := obj{"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$",
		"description": "Sign-in name: letters, digits and _ . @ -, up to 64."}
	password := obj{"type": "string", "format": "password", "writeOnly": true}
	systemFields := func(props obj) obj {
		props["id"] = obj{"type": "string", "format": "uuid", "readOnly": true}
		props["version"] = obj{"type": "integer", "minimum": 1, "readOnly": true}
		props["created_at"] = obj{"type": "string", "format": "date-time", "readOnly": true}
		props["updated_at"] = obj{"type": "string", "format": "date-time", "readOnly": true}
		return props
	}
	token := object("An API token. Its secret is never shown again after creation.", []any{"id", "name", "user"}, systemFields(obj{
		"name":       str(""),
		"user":       str("The user it acts as."),
		"roles":      roleList("The roles it carries."),
		"prefix":     str("The first characters of the secret, to tell tokens apart."),
		"expires_at": obj{"type": []any{"string", "null"}, "format": "date-time", "description": "Null: never expires."},
	}))
	reload := object("What a rules reload found and did.", []any{"at", "trigger", "ok", "version", "changed"}, obj{
		"at":      dateTime(""),
		"trigger": obj{"type": "string", "enum": []any{"http", "signal", "watch"}},
		"ok":      obj{"type": "boolean"},
		"version": str("The rules version active after the reload."),
		"changed": obj{"type": "boolean", "description": "False when the files matched the active rules already."},
		"errors":  obj{"type": "array", "items": obj{"type": "string"}, "description": "The new set's problems as file:line: message."},
		"misfits": obj{"type": "object", "additionalProperties": obj{"type": "integer"},
			"description": "Per model, the existing records the new schema would refuse as they are; the next write to each must fit."},
	})
	return obj{
		"_Health": object("", []any{"status"}, obj{"status": obj{"const": "alive"}}),
		"_Ready": object("", []any{"status", "applied_index"}, obj{
			"status":        obj{"const": "ready"},
			"applied_index": integer("The last log index applied to the state."),
		}),

		"_LoginRequest": closed(object("", []any{"username", "password"}, obj{"username": userName, "password": password})),
		"_LoginResponse": object("", []any{"token", "expires_at", "user"}, obj{
			"token":      str("The session token (prefix lths_), for Authorization: Bearer. The cookie lithair_session carries the same session."),
			"expires_at": dateTime(""),
			"user":       schemaRef("_CurrentUser"),
		}),
		"_CurrentUser": object("", []any{"id", "name", "roles"}, obj{
			"id":    str(""),
			"name":  str(""),
			"roles": roleList(""),
		}),

		"_User": object("A person or service that signs in.", []any{"id", "name"}, systemFields(obj{
			"name":     userName,
			"roles":    roleList("Role names, e.g. admin, editor."),
			"disabled": obj{"type": "boolean", "description": "A disabled user cannot sign in."},
		})),
		"_UserList":   object("Every user.", []any{"items"}, obj{"items": arrayOf(schemaRef("_User"))}),
		"_UserCreate": closed(object("", []any{"name", "password"}, obj{"name": userName, "password": password, "roles": roleList("")})),
		"_UserUpdate": closed(object("Members left out keep their value.", nil, obj{
			"password": password,
			"roles":    roleList("Replaces the user's roles."),
			"disabled": obj{"type": "boolean", "description": "A disabled user cannot sign in."},
		})),

		"_Token":     token,
		"_TokenList": object("Every API token.", []any{"items"}, obj{"items": arrayOf(schemaRef("_Token"))}),
		"_TokenCreate": closed(object("", []any{"name"}, obj{
			"name":       obj{"type": "string", "minLength": 1, "maxLength": 100},
			"user":       str("The user it acts as. Default: the caller."),
			"roles":      roleList("The roles it carries."),
			"expires_in": str(`How long until it expires, as a duration: "720h". Left out: never.`),
		})),
		"_TokenCreated": obj{"allOf": []any{schemaRef("_Token"), object("", []any{"token"}, obj{
			"token": str("The secret (prefix lth_), shown this once: send it as Authorization: Bearer."),
		})}},

		"_RulesInfo": object("", []any{"version", "files", "models", "projections"}, obj{
			"version": str("Short hash of every rule file; equal on nodes running the same rules."),
			"dir":     str("The rules directory."),
			"files":   arrayOf(obj{"type": "string"}),
			"models": arrayOf(object("", []any{"name", "path", "file"}, obj{
				"name": str(""), "path": str(""), "file": str(""),
			})),
			"projections": arrayOf(obj{"type": "string"}),
			"last_reload": schemaRef("_ReloadReport"),
		}),
		"_ReloadReport": reload,
		"_RulesRefused": object("", []any{"error", "reload"}, obj{
			"error":  schemaRef("_ErrorDetail"),
			"reload": schemaRef("_ReloadReport"),
		}),

		"_AuditEntry": object("", []any{"index", "time", "model", "id", "user", "action", "old", "new"}, obj{
			"index":  integer("The log index of the change."),
			"time":   dateTime(""),
			"model":  str(""),
			"id":     str(""),
			"user":   str("Who made the change; anonymous without credentials."),
			"action": obj{"type": "string", "enum": []any{"created", "updated", "deleted"}},
			"old":    obj{"type": []any{"object", "null"}, "description": "The fields before; null for a create."},
			"new":    obj{"type": []any{"object", "null"}, "description": "The fields after; null for a delete."},
		}),
		"_AuditPage": object("Newest first.", []any{"items", "next_cursor"}, obj{
			"items":       arrayOf(schemaRef("_AuditEntry")),
			"next_cursor": nextCursor,
		}),
		"_Snapshot": object("", []any{"index"}, obj{"index": integer("The log index the snapshot covers.")}),
		"_Cluster": object("", []any{"node_id", "state", "leader", "term", "commit_index", "applied_index", "nodes"}, obj{
			"node_id": str("This node's id."), "state": str("This node's Raft state: Leader, Follower, Candidate or Shutdown."),
			"leader": str("The leader's id, empty when none is known."), "term": integer(""),
			"commit_index": integer(""), "applied_index": integer(""), "last_log_index": integer(""),
			"nodes": arrayOf(object("", []any{"id", "raft_address", "suffrage", "role"}, obj{
				"id": str(""), "raft_address": str("HOST:PORT of its Raft."), "http_address": str("HOST:PORT of its HTTP."),
				"suffrage": str("Voter, Nonvoter or Staging."), "role": str("leader or follower."),
			})),
		}),
		"_StateHash": object("", []any{"applied_index", "hash"}, obj{"applied_index": integer(""), "hash": str("16 hex digits.")}),

		"_ProjectionList": object("", []any{"projections"}, obj{"projections": arrayOf(object("", []any{"name", "from"}, obj{
			"name": str(""),
			"from": str("The source model."),
			"on":   arrayOf(obj{"type": "string", "enum": []any{"created", "updated", "deleted"}}),
		}))}),
		"_ProjectionRows": object("", []any{"name", "rows"}, obj{"name": str(""), "rows": arrayOf(schemaRef("_ProjectionRow"))}),
		"_ProjectionRow": obj{"type": "object", "required": []any{"key"},
			"description":          "The row's key, its aggregate columns and its reducer fields.",
			"properties":           obj{"key": str("")},
			"additionalProperties": true},

		"_BatchRequest": closed(object("", []any{"operations"}, obj{
			"operations": obj{"type": "array", "minItems": 1, "maxItems": 1000, "items": schemaRef("_BatchOperation")},
		})),
		"_BatchOperation": closed(object("One write. Each is checked against its model like the record routes check it.",
			[]any{"op", "model"}, obj{
				"op":     obj{"type": "string", "enum": []any{"create", "update", "patch", "delete"}, "description": "update replaces the fields like PUT; patch merges them like PATCH."},
				"model":  str("The model's name."),
				"id":     str("The record (update, delete)."),
				"fields": obj{"type": "object", "description": "The record's fields (create, update), or the members to change (patch)."},
				"if_match": obj{"type": []any{"integer", "string"},
					"description": `The version the record must be at, as a number (3) or an ETag ("3"); like If-Match.`},
			})),
		"_BatchResponse": object("", []any{"results"}, obj{"results": arrayOf(schemaRef("_BatchResult"))}),
		"_BatchResult": object("The outcome of one operation, in request order.", []any{"index", "status"}, obj{
			"index":  integer("The operation's position in the request, from 0."),
			"status": obj{"type": "integer", "description": "The status the record route would answer: 201, 200 or 204."},
			"id":     str(""),
			"record": obj{"type": "object", "description": "The record after the write (absent for a delete)."},
		}),
		"_BatchError": object("", []any{"error"}, obj{"error": obj{"allOf": []any{
			schemaRef("_ErrorDetail"),
			object("", nil, obj{"operations": arrayOf(object("", []any{"index", "error"}, obj{
				"index": integer("The operation's position in the request, from 0."),
				"error": schemaRef("_ErrorDetail"),
			}))}),
		}}}),
	}
}

// closed closes a request body schema: unknown members are refused.
func closed(s obj) obj {
	s["additionalProperties"] = false
	return s
}
