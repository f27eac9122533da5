-- order.lua: orders of products.
model "Order" {
  path = "/api/orders",
  fields = {
    product_id = { type = "string", required = true },
    quantity   = { type = "integer", min = 1 },
    -- enum: one of the listed values; default applies on create.
    status     = { type = "enum", values = { "pending", "paid", "shipped", "cancelled" }, default = "pending" },
    total      = { type = "number", min = 0 },
  },
  lifecycle = { audited = true },
  -- Public until authentication lands.
  permissions = {
    read = { "public" }, create = { "public" }, update = { "public" }, delete = { "public" },
  },
}
