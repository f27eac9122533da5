package openapi

// systemTag tags Lithair's own routes.
const systemTag = "system"

// adminOnly is the sentence every admin route's description ends with.
const adminOnly = "Requires the admin role."

// systemOp is an operation of the system routes. security is
// securityNone, securityOptional or securityRequired; errs are its error
// statuses.
func systemOp(id, summary, desc string, security []any, responses obj, errs ...int) obj {
	op := obj{"tags": []any{systemTag}, "operationId": id, "summary": summary, "security": security}
	if desc != "" {
		op["description"] = desc
	}
	op["responses"] = withErrors(responses, codes(errs)...)
	return op
}

// adminOp is a route under /api/_ that only admins may call.
func adminOp(id, summary, desc string, responses obj, errs ...int) obj {
	if desc != "" {
		desc += " "
	}
	return systemOp(id, summary, desc+adminOnly, securityRequired, responses, append(errs, 401, 403, 429, 503)...)
}

// answer is a response with a JSON body.
func answer(desc, schema string) obj {
	return obj{"description": desc, "content": jsonContent(schemaRef(schema))}
}

// created is a 201 answer: the new record, its URL and its ETag.
func created(desc, schema string) obj {
	r := answer(desc, schema)
	r["headers"] = obj{"Location": ref("headers", "Location"), "ETag": ref("headers", "ETag")}
	return r
}

func jsonBody(schema string) obj {
	return obj{"required": true, "content": jsonContent(schemaRef(schema))}
}

func pathParam(name, desc string) obj {
	return obj{"name": name, "in": "path", "required": true, "description": desc, "schema": obj{"type": "string"}}
}

func queryParam(name, desc string, schema obj) obj {
	return obj{"name": name, "in": "query", "description": desc, "schema": schema}
}

// systemPaths returns the routes Lithair serves whatever the rules say.
func systemPaths() obj {
	bodyErrs := []int{400, 413, 415}
	return obj{
		"/healthz": obj{"get": systemOp("health.live", "Liveness", "200 while the process runs.", securityNone,
			obj{"200": answer("The process runs.", "_Health")})},
		"/readyz": obj{"get": systemOp("health.ready", "Readiness",
			"200 once the log is replayed and the rules are active; 503 before.", securityNone,
			obj{"200": answer("Ready.", "_Ready")}, 503)},
		"/metrics": obj{"get": systemOp("metrics.get", "Prometheus metrics", "", securityNone,
			obj{"200": obj{"description": "The metrics in the Prometheus text format.",
				"content": obj{"text/plain": obj{"schema": obj{"type": "string"}}}}})},

		"/api/_auth/login": obj{"post": withBody(systemOp("auth.login", "Log in",
			"Checks the password and opens a session: the token for Authorization: Bearer, and the same session in the cookie lithair_session. "+
				"Login attempts are rate-limited per client.", securityNone,
			obj{"200": obj{"description": "Logged in.", "headers": obj{"Set-Cookie": ref("headers", "SetSession")},
				"content": jsonContent(schemaRef("_LoginResponse"))}}, append(bodyErrs, 401, 422, 429, 503)...), "_LoginRequest")},
		"/api/_auth/logout": obj{"post": systemOp("auth.logout", "Log out",
			"Ends the session presented (bearer session token or cookie) and clears the cookie. An API token is revoked with DELETE /api/_tokens/{id} instead (400).", securityRequired,
			obj{"204": obj{"description": "Logged out.", "headers": obj{"Set-Cookie": ref("headers", "SetSession")}}}, 400, 401, 429, 503)},
		"/api/_auth/me": obj{"get": systemOp("auth.me", "The caller", "Who the credentials belong to, and their roles.", securityRequired,
			obj{"200": answer("The caller.", "_CurrentUser")}, 401, 429, 503)},

		"/api/_users": obj{
			"get": adminOp("users.list", "List users", "", obj{"200": answer("The users.", "_UserList")}),
			"post": withBody(adminOp("users.create", "Create a user", "The password is stored as an argon2id hash, never in clear.",
				obj{"201": created("The created user.", "_User")}, append(bodyErrs, 409, 422, 507)...), "_UserCreate"),
		},
		"/api/_users/{name}": obj{
			"parameters": []any{pathParam("name", "The user's sign-in name.")},
			"get":        adminOp("users.get", "Get a user", "", obj{"200": answer("The user.", "_User")}, 404),
			"patch": withBody(adminOp("users.update", "Change a user's password, roles or disabled flag",
				"Taking the admin role from the last admin is refused (409).",
				obj{"200": answer("The updated user.", "_User")}, append(bodyErrs, 404, 409, 422, 507)...), "_UserUpdate"),
			"delete": adminOp("users.delete", "Delete a user", "Deleting the last admin is refused (409).",
				obj{"204": obj{"description": "Deleted."}}, 404, 409, 507),
		},
		"/api/_tokens": obj{
			"get": adminOp("tokens.list", "List API tokens", "Secrets are never shown again; `prefix` tells tokens apart.",
				obj{"200": answer("The tokens.", "_TokenList")}),
			"post": withBody(adminOp("tokens.create", "Create an API token",
				"The answer holds the secret `token` (prefix lth_) once; only its digest is stored.",
				obj{"201": created("The token, with its secret.", "_TokenCreated")}, append(bodyErrs, 409, 422, 507)...), "_TokenCreate"),
		},
		"/api/_tokens/{id}": obj{
			"parameters": []any{pathParam("id", "The token's id.")},
			"delete":     adminOp("tokens.delete", "Revoke an API token", "", obj{"204": obj{"description": "Revoked."}}, 404, 507),
		},

		"/api/_rules": obj{"get": adminOp("rules.get", "The active rules",
			"Version, files, models, projections, and the last reload's report.", obj{"200": answer("The rules.", "_RulesInfo")})},
		"/api/_rules/reload": obj{"post": adminOp("rules.reload", "Reload the rules",
			"Checks the rules directory and deploys it through Raft. A bad set is refused with every error; the previous rules stay active.",
			obj{
				"200": answer("Deployed (or unchanged).", "_ReloadReport"),
				"422": answer("The rules have errors, each as file:line: message.", "_RulesRefused"),
			})},
		"/api/_audit": obj{"get": withParams(adminOp("audit.list", "The audit trail",
			"Changes to models with lifecycle.audited: who, what, the old and new values, when; newest first.",
			obj{"200": answer("A page of entries.", "_AuditPage")}, 400),
			queryParam("model", "Only this model.", obj{"type": "string"}),
			queryParam("id", "Only this record.", obj{"type": "string"}),
			queryParam("user", "Only changes by this user (anonymous for writes without credentials).", obj{"type": "string"}),
			ref("parameters", "Limit"),
			queryParam("cursor", "The next_cursor of the previous page.", obj{"type": "string"}),
		)},
		"/api/_snapshot": obj{"post": adminOp("snapshot.create", "Take a snapshot",
			"Before a backup, or to shorten the next restart.", obj{"200": answer("The log index the snapshot covers.", "_Snapshot")}, 409)},
		"/api/_backup": obj{"get": adminOp("backup.get", "Download a backup",
			"A zstd-compressed backup stream, what `lithair backup --from` reads. On success the trailers X-Lithair-Backup-Index and "+
				"X-Lithair-Backup-Sha256 close it; a failure mid-stream aborts the connection, and a reader refuses the truncated stream.",
			obj{"200": obj{
				"description": "The backup stream.",
				"headers": obj{"Content-Disposition": obj{"description": `attachment; filename="lithair-<node>-<time>.backup.zst"`,
					"schema": obj{"type": "string"}}},
				"content": obj{"application/zstd": obj{"schema": obj{"type": "string", "contentMediaType": "application/zstd"}}},
			}})},
		"/api/_state/hash": obj{"get": adminOp("state.hash", "The state's digest",
			"Equal on nodes (and restores) that hold the same records at the same index.", obj{"200": answer("The digest.", "_StateHash")})},

		"/api/_cluster": obj{"get": adminOp("cluster.get", "The cluster",
			"This node's view: its id and Raft state, the leader, the term, commit and applied indexes, and every member with its addresses.",
			obj{"200": answer("The cluster.", "_Cluster")}, 503)},
		"/api/_cluster/nodes/{id}": obj{
			"parameters": []any{pathParam("id", "The node's id.")},
			"delete": adminOp("cluster.removeNode", "Remove a node", "Takes the node out of the cluster (on any node: a follower has the leader do it).",
				obj{"204": obj{"description": "Removed."}}, 404, 503),
		},

		"/api/_projections": obj{"get": adminOp("projections.list", "List projections", "",
			obj{"200": answer("The projections the rules declare.", "_ProjectionList")})},
		"/api/_projections/{name}": obj{
			"parameters": []any{pathParam("name", "The projection's name.")},
			"get": adminOp("projections.get", "A projection's rows", "Sorted by key.",
				obj{"200": answer("The rows.", "_ProjectionRows")}, 404),
		},
		"/api/_projections/{name}/{key}": obj{
			"parameters": []any{pathParam("name", "The projection's name."), pathParam("key", "The row's key.")},
			"get": adminOp("projections.getRow", "One row of a projection", "",
				obj{"200": answer("The row.", "_ProjectionRow")}, 404),
		},

		"/api/_events": obj{"get": withParams(systemOp("events.stream", "Follow changes",
			"Server-sent events, one per change to a record the caller may read (each model's read permission applies). "+
				"Each event's `id` is the change's log index: after a reconnect, Last-Event-ID resumes after it. "+
				"`event` is created, updated or deleted; `data` is the change as JSON.", securityOptional,
			obj{"200": obj{"description": "The stream; it stays open.",
				"content": obj{"text/event-stream": obj{"schema": obj{"type": "string"}}}}}, 400, 401, 403, 404, 429, 503),
			queryParam("model", "Only changes to this model.", obj{"type": "string"}),
			queryParam("id", "Only changes to this record (with model).", obj{"type": "string"}),
			obj{"name": "Last-Event-ID", "in": "header", "description": "The id of the last event received: the stream resumes after it.",
				"schema": obj{"type": "string"}},
		)},
		"/api/_batch": obj{"post": withBody(systemOp("batch.apply", "Apply several writes at once",
			"Up to 1000 operations, applied together as one log entry: either all succeed (200, a result per operation, in order) "+
				"or none is applied (an error per failed operation; the answer takes the status of the first failure). "+
				"Each operation is checked as the record routes check it, with the caller's permissions.", securityOptional,
			obj{
				"200": answer("Every operation was applied.", "_BatchResponse"),
				"401": answer("An operation needs a signed-in user; nothing was applied.", "_BatchError"),
				"403": answer("An operation is not allowed to the caller; nothing was applied.", "_BatchError"),
				"404": answer("An operation names a record that does not exist (or that the caller may not read); nothing was applied.", "_BatchError"),
				"409": answer("An operation hit a taken unique value; nothing was applied.", "_BatchError"),
				"412": answer("An operation's if_match is stale; nothing was applied.", "_BatchError"),
				"422": answer("An operation does not fit its model, or the batch is empty, too long or names a record twice; nothing was applied.", "_BatchError"),
			}, append(bodyErrs, 507)...), "_BatchRequest")},

		"/api/_openapi.json": obj{"get": systemOp("openapi.get", "This document",
			"The OpenAPI description of this server, generated from the active rules.", securityNone,
			obj{"200": obj{"description": "The document.", "content": jsonContent(obj{"type": "object"})}}, 503)},
	}
}

func withBody(op obj, schema string) obj {
	op["requestBody"] = jsonBody(schema)
	return op
}

func withParams(op obj, params ...any) obj {
	op["parameters"] = params
	return op
}
