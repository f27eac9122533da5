-- Lithair's own models. Built into the binary and loaded with every rule
-- set; served by /api/_users, /api/_tokens and /api/_auth, never by the
-- generic record routes. Only admins may act on them (no permissions are
-- listed, which means admin only). Secrets are stored as digests and are
-- readable by nobody: read = {} admits no role.

model "_User" {
  path = "/api/_users",
  description = "A person or service that signs in.",
  fields = {
    name = { type = "string", required = true, unique = true, immutable = true,
             pattern = "^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$",
             description = "Sign-in name: letters, digits and _ . @ -, up to 64." },
    roles = { type = "list", items = "string", description = "Role names, e.g. admin, editor." },
    password_hash = { type = "string", required = true, read = {}, write = {},
                      description = "argon2id hash in the PHC format." },
    disabled = { type = "boolean", default = false, description = "A disabled user cannot sign in." },
  },
  lifecycle = { audited = true },
}

model "_Token" {
  path = "/api/_tokens",
  description = "An API token: a secret a script sends as Authorization: Bearer.",
  fields = {
    name = { type = "string", required = true, min_length = 1, max_length = 100 },
    user = { type = "string", required = true, indexed = true, description = "The user it acts as." },
    roles = { type = "list", items = "string", description = "The roles it carries." },
    prefix = { type = "string", description = "The first characters of the secret, to tell tokens apart." },
    token_hash = { type = "string", required = true, unique = true, read = {}, write = {} },
    expires_at = { type = "datetime" },
  },
  lifecycle = { audited = true },
}

model "_Session" {
  path = "/api/_sessions",
  description = "A signed-in session, made by POST /api/_auth/login.",
  fields = {
    user = { type = "string", required = true, indexed = true },
    token_hash = { type = "string", required = true, unique = true, read = {}, write = {} },
    expires_at = { type = "datetime", required = true },
  },
}

model "_Node" {
  path = "/api/_nodes",
  description = "A member of the cluster and the addresses it serves.",
  fields = {
    name = { type = "string", required = true, unique = true, description = "The node's Raft id." },
    raft = { type = "string", required = true, description = "Its Raft address, HOST:PORT." },
    http = { type = "string", required = true, description = "Its HTTP address, HOST:PORT." },
  },
}
