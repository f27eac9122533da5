-- article.lua: a small editorial workflow (the blog example).
--
-- Roles: "contributor" writes drafts, "reporter" edits and publishes any
-- article, "admin" may do everything, and is the only one who may delete.
-- A role is just a name given to users (`lithair user add ... --role
-- contributor`); the rules decide what it allows.

-- A file may define local helpers before its declarations. Rule functions
-- cannot set globals at call time, so state never leaks between calls.
local function is_editor(user)
  return has_role(user, "reporter") or has_role(user, "admin")
end

model "Article" {
  -- path defaults to "/api/articles".
  fields = {
    title = { type = "string", required = true, min_length = 3, max_length = 120 },
    -- slug: lower-case words joined by dashes; pattern is a Go regexp,
    -- unanchored unless it says ^...$. unique: no two articles share one.
    -- immutable: fixed at create, so links never break.
    slug = { type = "string", required = true, pattern = "^[a-z0-9]+(-[a-z0-9]+)*$",
             unique = true, immutable = true },
    body = { type = "text", max_length = 100000 },
    status = { type = "enum", values = { "draft", "review", "published" }, default = "draft", indexed = true },
    tags = { type = "list", items = "string", max_length = 10 },
    published_at = { type = "datetime" },
    -- author: readonly, so a client can never set it; the default function
    -- runs on create with ctx.user, the logged-in user ({ id, name, roles }).
    author = { type = "string", readonly = true, indexed = true,
               default = function(ctx) return ctx.user and ctx.user.id end },
  },

  lifecycle = { audited = true, versioned = 20 },

  permissions = {
    -- Role lists are checked first. Anyone may try to read...
    read   = { "public" },
    create = { "contributor", "reporter", "admin" },
    update = { "contributor", "reporter", "admin" },
    delete = { "admin" },

    -- ...then the optional predicate <action>_if(user, old, new) decides per
    -- record: old is the stored record (nil on create), new the candidate
    -- (nil on read and delete). Return true to allow.
    -- Only published articles are public; staff see everything.
    read_if = function(user, old, new)
      return old.status == "published" or has_role(user, "contributor") or is_editor(user)
    end,
    -- A contributor creates drafts or submits for review, never publishes.
    create_if = function(user, old, new)
      return is_editor(user) or new.status ~= "published"
    end,
    -- A contributor may only update their own drafts, and not publish them.
    update_if = function(user, old, new)
      if is_editor(user) then return true end
      return old.author == user.id and old.status == "draft" and new.status ~= "published"
    end,
  },

  -- validate(new, old, ctx) runs after the built-in checks pass. Return
  -- nil when the record is fine, { field = "message" } to refuse it (422),
  -- or a string for a message about the whole record.
  validate = function(new, old, ctx)
    if new.status == "published" and not new.published_at then
      return { published_at = "is required to publish" }
    end
    if old and old.status == "published" and new.status == "draft" then
      return { status = "a published article goes back to review, not draft" }
    end
  end,
}
