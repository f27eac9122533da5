-- category.lua: product categories.
model "Category" {
  path = "/api/categories",
  fields = {
    -- unique: two categories cannot share a name (checked when the write is
    -- applied, so two racing creates cannot both win).
    name = { type = "string", required = true, unique = true },
  },
  -- Public until authentication lands.
  permissions = {
    read = { "public" }, create = { "editor", "admin" }, update = { "editor", "admin" }, delete = { "admin" },
  },
}
