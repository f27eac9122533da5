package rules

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestEverySetCarriesTheSystemModels(t *testing.T) {
	s := load(t, oneField(`{ type = "string" }`))
	for _, name := range []string{UserModel, TokenModel, SessionModel} {
		m := s.Model(name)
		require.NotNil(t, m, name)
		require.True(t, m.System)
		require.Equal(t, []string{RoleAdmin}, m.Roles(ActionRead), "system models are admin-only")
	}
	require.False(t, s.Model("M").System)
	require.Len(t, s.Files, 1, "the system file is not deployed with the user's files")

	u := s.Model(UserModel)
	admin := &User{Name: "root", Roles: []string{RoleAdmin}}
	require.Equal(t, []string{"password_hash"}, u.Hidden(admin), "nobody reads a password hash, admins included")
	require.Equal(t, []string{"password_hash"}, u.Unwritable(admin, map[string]any{"name": "x", "password_hash": "h"}))
}

func TestSystemNamesAndPathsAreReserved(t *testing.T) {
	require.Contains(t, loadErr(t, `model "_User" { fields = { x = { type = "string" } } }`), "must start with a letter")
	require.Contains(t, loadErr(t, `model "Mine" { path = "/api/_mine", fields = { x = { type = "string" } } }`), "reserved")
	_, err := LoadFiles([]File{{Name: SystemFile, Source: []byte(`model "X" { fields = {} }`)}}, Options{CallTimeout: time.Second})
	require.ErrorContains(t, err, "reserved")
}

func TestFieldRoles(t *testing.T) {
	s := load(t, `model "M" {
  fields = {
    open   = { type = "string" },
    cost   = { type = "number", read = { "admin", "buyer" }, write = { "admin" } },
    secret = { type = "string", read = {}, write = {} },
    note   = { type = "string", write = "authenticated" },
  },
  permissions = { read = { "public" }, create = { "public" }, update = { "public" } },
}`)
	m := s.Model("M")
	buyer := &User{Name: "b", Roles: []string{"buyer"}}
	admin := &User{Name: "a", Roles: []string{RoleAdmin}}
	input := map[string]any{"open": "x", "cost": 1, "secret": "s", "note": "n"}

	require.Equal(t, []string{"cost", "secret"}, m.Hidden(nil))
	require.Equal(t, []string{"secret"}, m.Hidden(buyer))
	require.Equal(t, []string{"secret"}, m.Hidden(admin))

	require.Equal(t, []string{"cost", "note", "secret"}, m.Unwritable(nil, input))
	require.Equal(t, []string{"cost", "secret"}, m.Unwritable(buyer, input))
	require.Equal(t, []string{"secret"}, m.Unwritable(admin, input))
	require.Empty(t, m.Unwritable(nil, map[string]any{"open": "x", "unknown": 1}))
}

func TestNumbersAreBounded(t *testing.T) {
	s := load(t, oneField(`{ type = "number", min = 0 }`))
	m := s.Model("M")
	for lit, ok := range map[string]bool{
		"1e1000": true, "1e-1000": true, "1e+0999": true, "12345.678": true,
		"1e1001": false, "1e-999999": false, "1e999999": false, "1e0000000000000000001": true, "1e00000000000000099999": false,
	} {
		_, ferrs, err := m.Prepare(map[string]any{"x": json.Number(lit)}, nil, Context{})
		require.NoError(t, err)
		require.Equal(t, ok, ferrs == nil, "%s: %v", lit, ferrs)
	}
	long := json.Number("1" + strings.Repeat("0", 1000))
	_, ferrs, _ := m.Prepare(map[string]any{"x": long}, nil, Context{})
	require.Contains(t, ferrs["x"], "too large or too precise")
}
