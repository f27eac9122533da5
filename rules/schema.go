package rules

import (
	"context"
	"math/big"
	"regexp"
	"time"
)

// FieldType is the type of a model field as written in a rule file.
type FieldType string

// The field types a rule file may declare.
const (
	TypeString    FieldType = "string"    // a short string (one line in forms)
	TypeText      FieldType = "text"      // a long string (a text area in forms)
	TypeInteger   FieldType = "integer"   // an exact integer of any size, kept as json.Number
	TypeNumber    FieldType = "number"    // any JSON number, kept as json.Number
	TypeBoolean   FieldType = "boolean"   // true or false
	TypeDatetime  FieldType = "datetime"  // an RFC 3339 string
	TypeEnum      FieldType = "enum"      // a string among Field.Values
	TypeJSON      FieldType = "json"      // any JSON value, not inspected
	TypeList      FieldType = "list"      // a JSON array, of Field.Items when set
	TypeReference FieldType = "reference" // the id (string) of a record of model Field.Ref
)

// fieldTypes lists the valid types, for "unknown type" messages.
var fieldTypes = []FieldType{TypeString, TypeText, TypeInteger, TypeNumber, TypeBoolean,
	TypeDatetime, TypeEnum, TypeJSON, TypeList, TypeReference}

// SystemFields are the field names the server owns on every record; a rule
// file may not declare them and Prepare drops them from client input.
var SystemFields = []string{"id", "version", "created_at", "updated_at"}

// Action is what a request does to a model.
type Action string

// The four actions permissions are declared for.
const (
	ActionRead   Action = "read"
	ActionCreate Action = "create"
	ActionUpdate Action = "update"
	ActionDelete Action = "delete"
)

// Special role names in permission lists.
const (
	RolePublic        = "public"        // anyone, including anonymous clients
	RoleAuthenticated = "authenticated" // any logged-in user
	RoleAdmin         = "admin"         // allowed every action whose roles are not declared
)

// User is the authenticated caller. A nil *User is an anonymous client.
type User struct {
	ID    string
	Name  string
	Roles []string
}

// HasRole reports whether u holds role. It is false for a nil user.
func (u *User) HasRole(role string) bool {
	if u == nil {
		return false
	}
	for _, r := range u.Roles {
		if r == role {
			return true
		}
	}
	return false
}

// Context carries what a validation needs besides the record.
type Context struct {
	// User is the caller (nil when anonymous); Lua sees it as ctx.user.
	User *User
	// Exists reports whether a record of model with id exists; reference
	// fields are checked through it. Nil skips the existence check.
	Exists func(model, id string) bool
	// Ctx bounds the Lua calls together with Options.CallTimeout; nil means
	// context.Background().
	Ctx context.Context
}

// Model is a data model declared with `model "Name" { ... }`.
type Model struct {
	// Name is the model's name, e.g. "Product".
	Name string
	// Description is the model's description key (help text), if any.
	Description string
	// Path is the HTTP collection path, e.g. "/api/products".
	Path string
	// Fields are the declared fields in declaration order (forms and JSON
	// output follow it).
	Fields []*Field
	// Audited asks for an audit trail (lifecycle.audited).
	Audited bool
	// Versioned is how many past versions to keep (lifecycle.versioned); 0 keeps none.
	Versioned int
	// CacheTTL is the Cache-Control max-age for reads (cache.ttl); 0 means no caching.
	CacheTTL time.Duration
	// Permissions maps each action to the roles allowed to perform it. An
	// action with no entry is allowed to RoleAdmin only.
	Permissions map[Action][]string
	// File and Line locate the declaration.
	File string
	Line int
	// System marks Lithair's own models (users, tokens, sessions), declared
	// in SystemFile. They are served by dedicated routes under /api/_, not
	// by the generic record routes.
	System bool

	set        *Set
	fieldIndex map[string]*Field
	predicates map[Action]int // action -> function slot
	validate   int            // function slot, -1 when none
}

// Field is one declared field of a model.
type Field struct {
	Name        string
	Description string // help text for forms
	Type        FieldType
	Required    bool
	// Default is the value used on create when the client sends none; it is
	// already normalized (json.Number for numbers). See HasDefaultFunc for
	// defaults computed by a Lua function.
	Default   any
	Min, Max  *float64 // numeric bounds (integer, number)
	MinLength *int     // characters for string/text, items for list
	MaxLength *int
	Pattern   *regexp.Regexp // string/text must match (unanchored unless the pattern says so)
	Values    []string       // enum values, in declared order
	Items     FieldType      // list element type; "" accepts any JSON value
	Ref       string         // reference target model
	Indexed   bool
	Unique    bool
	Immutable bool // cannot change after create
	ReadOnly  bool // clients cannot set it; only defaults (often a Lua function) do
	// ReadRoles and WriteRoles narrow who may see and who may set the field,
	// with the role names of permissions. Nil leaves it to the model's
	// permissions; an empty list admits nobody (a secret kept by the server).
	ReadRoles, WriteRoles []string
	// Line is the line of the field's declaration in Model.File.
	Line int

	defaultFn int // function slot of a Lua default, -1 when none
	// minRat and maxRat are Min and Max as exact decimals, computed at load.
	minRat, maxRat *big.Rat
}

// HasDefaultFunc reports whether the field's default is computed by a Lua
// function at create time (e.g. the author from ctx.user).
func (f *Field) HasDefaultFunc() bool { return f.defaultFn >= 0 }

// Field returns the declared field called name, or nil.
func (m *Model) Field(name string) *Field { return m.fieldIndex[name] }

// HasValidate reports whether the model declares a Lua validate function.
func (m *Model) HasValidate() bool { return m.validate >= 0 }

// HasPredicate reports whether the model declares a Lua predicate for a
// (permissions.<action>_if).
func (m *Model) HasPredicate(a Action) bool {
	_, ok := m.predicates[a]
	return ok
}
