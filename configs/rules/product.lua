-- product.lua: the Product model of the e-commerce example.
--
-- A rule file declares models and projections with `model "Name" { ... }`.
-- Every key is checked when the rules load: a misspelt key is an error with
-- its file and line, never silently ignored. Fields keep the order written
-- here; the admin forms and JSON output follow it.
model "Product" {
  -- The HTTP collection. Default: "/api/" .. lower(name) .. "s".
  path = "/api/products",

  fields = {
    -- required: a create without it is refused; min_length/max_length count
    -- characters; indexed: kept in a secondary index for ?name= queries.
    name = { type = "string", required = true, min_length = 1, max_length = 200, indexed = true },
    -- number: any JSON number, kept digit for digit; min/max bound it.
    price = { type = "number", min = 0, indexed = true },
    -- integer: refuses 1.5; default fills it in on create when absent.
    stock = { type = "integer", default = 0 },
    -- A plain string for now, so clients may post any id. Once categories
    -- are managed, make it { type = "reference", model = "Category" }: a
    -- reference must name an existing record of that model.
    category_id = { type = "string" },
    -- read/write narrow a field to some roles: only editors and admins see
    -- what a product costs; the field never leaves the server for others.
    cost = { type = "number", min = 0, read = { "editor", "admin" } },
  },

  -- audited: every change is kept in the audit trail (who, old, new, when).
  -- versioned = 10: the last 10 versions can be read with ?version=N.
  lifecycle = { audited = true, versioned = 10 },

  -- Reads may be cached by clients and proxies for 300 seconds.
  cache = { ttl = 300 },

  -- Who may do what. "public" is anyone, even without signing in;
  -- "authenticated" is any signed-in user; other names are roles. An
  -- action left out is for admins only. Anyone may browse the catalogue;
  -- editors and admins maintain it; only admins delete.
  permissions = {
    read = { "public" }, create = { "editor", "admin" }, update = { "editor", "admin" }, delete = { "admin" },
  },
}
