-- sales_metrics.lua: daily sales figures, derived from Order events.
--
-- A projection groups the records of one model by a key and keeps
-- aggregates per group. It is rebuilt from events, so it is always the
-- aggregate of the current orders: a deleted order leaves its day's
-- figures, an updated total moves them.
projection "SalesMetrics" {
  from = "Order",
  -- The events that change it. "updated" is listed so that a corrected
  -- total (or a cancellation, see where) is reflected, not just creates.
  on = { "created", "updated", "deleted" },
  -- The row key: the day of created_at ("2024-09-13"). A function gets the
  -- record (system fields included) and returns a string; nil skips it.
  key = function(order)
    return order.created_at and order.created_at:sub(1, 10)
  end,
  -- Only orders that were not cancelled count towards revenue.
  where = function(order) return order.status ~= "cancelled" end,
  aggregates = {
    daily_revenue   = sum "total",   -- exact decimal sum
    orders_count    = count(),       -- orders in the row
    avg_order_value = avg "total",   -- sum / orders with a total
  },
}
