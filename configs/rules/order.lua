-- order.lua: orders of products.
model "Order" {
  path = "/api/orders",
  fields = {
    product_id = { type = "string", required = true },
    quantity   = { type = "integer", min = 1 },
    -- enum: one of the listed values; default applies on create.
    -- Customers cannot set the status; staff move an order along.
    status     = { type = "enum", values = { "pending", "paid", "shipped", "cancelled" }, default = "pending",
                   write = { "editor", "admin" } },
    total      = { type = "number", min = 0 },
    -- The customer who placed the order: set from the signed-in user on
    -- create, never by the client.
    customer   = { type = "string", readonly = true, indexed = true,
                   default = function(ctx) return ctx.user and ctx.user.id end },
  },
  lifecycle = { audited = true },
  -- Any signed-in user may order; each customer sees and changes only
  -- their own orders (lists included), staff see them all.
  permissions = {
    read = { "authenticated" }, create = { "authenticated" }, update = { "authenticated" }, delete = { "admin" },
    read_if = function(user, old, new)
      return old.customer == user.id or has_role(user, "editor") or has_role(user, "admin")
    end,
    update_if = function(user, old, new)
      return old.customer == user.id or has_role(user, "editor") or has_role(user, "admin")
    end,
  },
}
