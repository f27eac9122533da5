-- gadget.lua: the model of the fuzz appliances, with a field of every
-- type a list filters or sorts on. FuzzListQuery serves it beside the
-- example rules (Product with a field only staff read, Article with a
-- read predicate); FuzzBackup's seed backups hold it alone.
model "Gadget" {
  path = "/api/gadgets",
  fields = {
    label  = { type = "string", indexed = true },
    size   = { type = "integer", indexed = true },
    weight = { type = "number" },
    active = { type = "boolean", indexed = true },
    kind   = { type = "enum", values = { "a", "b", "c" } },
    seen   = { type = "datetime", indexed = true },
    notes  = { type = "text" },
    tags   = { type = "list", items = "string" },
    extra  = { type = "json" },
  },
  permissions = { read = { "public" }, create = { "admin" }, update = { "admin" }, delete = { "admin" } },
}
