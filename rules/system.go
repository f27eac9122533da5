package rules

import _ "embed"

// SystemFile is the name of the rule file that declares Lithair's own
// models. It is built into the binary and loaded with every rule set, so
// users, tokens and sessions are records like any other: events in the
// log, replicated, audited. A user's rule file may not take its name.
const SystemFile = "_system.lua"

//go:embed system.lua
var systemSource []byte

// The system models' names.
const (
	UserModel    = "_User"
	TokenModel   = "_Token"
	SessionModel = "_Session"
	NodeModel    = "_Node"
)

// reservedPrefix starts the paths Lithair serves itself.
const reservedPrefix = "/api/_"
