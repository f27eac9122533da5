// Package rules loads Lithair's Lua rule files and runs them.
//
// Operators describe their data in Lua, one file per model or projection:
//
//	model "Product" {
//	  path   = "/api/products",
//	  fields = {
//	    name  = { type = "string", required = true, max_length = 200 },
//	    price = { type = "number", min = 0 },
//	  },
//	  permissions = { read = { "public" }, update = { "editor" },
//	                  update_if = function(user, old, new) return old.owner == user.id end },
//	  validate = function(new, old, ctx) if new.price > 1e6 then return { price = "too high" } end end,
//	}
//
//	projection "SalesMetrics" {
//	  from = "Order", key = function(o) return o.created_at:sub(1, 10) end,
//	  aggregates = { daily_revenue = sum "total", orders_count = count() },
//	}
//
// The full language is in docs/rules.md; design notes are in DESIGN.md.
//
// # Loading
//
// LoadFiles (or LoadDir) parses and compiles every file once, runs each in a
// sandboxed VM to collect its declarations, and checks every key: an unknown
// key, a wrong type or a dangling reference is an Error carrying the file and
// line ("product.lua:12: unknown key \"foo\" in field \"price\" of model
// \"Product\""). All problems are returned together as Errors; a set with
// any problem is refused as a whole, so the previous rules stay active.
// Lines come from the syntax tree, since Lua tables keep none; field order
// comes from gopher-lua's tables, which iterate hash keys in insertion order.
//
// # Running
//
// The resulting Set serves Model.Prepare (schema checks, defaults, then the
// Lua validate), Model.Allowed (roles, then the Lua predicate) and
// Projection.Apply. Lua functions run on a pool of VMs (an LState is not
// goroutine-safe); each VM instantiates the same compiled files, so each has
// its own copy of every function, found by slot number. Every call has a time
// budget (Options.CallTimeout) enforced by the VM between instructions;
// library functions that could spend that budget in Go (string.rep,
// string.format, string.gsub, table.concat, unpack, string.byte) are capped.
//
// # Sandbox
//
// Rule code sees the base library without load, loadstring, dofile,
// loadfile, require, module, getfenv, setfenv, rawset, collectgarbage and
// newproxy; string, table and math (without math.random and randomseed) as
// read-only tables; print (to Options.Print); has_role(user, role); and, at
// load time only, model, projection, sum, count, avg, min and max. There is
// no os, io, debug or package. Globals are frozen once a file has loaded: a
// call that assigns one fails, so no call sees what another left behind.
//
// # Values
//
// Records are map[string]any as encoding/json decodes them with UseNumber.
// Prepare keeps numbers as json.Number, digit for digit; Lua sees them as
// float64, which only matters for integers beyond 2^53 inside Lua code.
// Projections sum exactly (math/big) and so give the same rows on every
// node and on every replay.
package rules
