package rules

import "testing"

// TestCappedLibrariesKeepLuaSemantics checks the rewritten string.gsub,
// string.rep, string.format, string.byte, unpack and table.concat against
// what Lua 5.1 answers.
func TestCappedLibrariesKeepLuaSemantics(t *testing.T) {
	checks := []string{
		`select(1, ("hello world"):gsub("o", "0")) == "hell0 w0rld"`,
		`select(2, ("hello world"):gsub("o", "0")) == 2`,
		`select(1, ("hello"):gsub("", "-")) == "-h-e-l-l-o-"`,
		`select(2, ("hello"):gsub("", "-")) == 6`,
		`("abc"):gsub("%w", "%0%0") == "aabbcc"`,
		`("hello world"):gsub("(%w+)", "<%1>") == "<hello> <world>"`,
		`("abc"):gsub("^a", "x") == "xbc"`,
		`("aaa"):gsub("^a", "x") == "xaa"`,
		`("aaa"):gsub("a", "b", 2) == "bba"`,
		`("a=1, b=2"):gsub("(%w+)=(%w+)", "%2=%1") == "1=a, 2=b"`,
		`("100%"):gsub("%%", "%%%%") == "100%%"`,
		`("$name is $age"):gsub("%$(%w+)", { name = "Ann", age = 7 }) == "Ann is 7"`,
		`("$x"):gsub("%$(%w+)", {}) == "$x"`,
		`("a b"):gsub("%w", function(c) if c == "a" then return "A" end end) == "A b"`,
		`("abc"):gsub("()", "%1") == "1a2b3c4"`,
		`string.rep("ab", 3) == "ababab"`,
		`string.rep("ab", 3, ",") == "ab,ab,ab"`,
		`string.rep("x", 0) == ""`,
		`string.format("%5.2f|%d|%s", 3.14159, 42, "x") == " 3.14|42|x"`,
		`string.format("%q", "a") == '"a"'`,
		`table.concat({ 1, "b", 3 }, ",") == "1,b,3"`,
		`table.concat({ "a", "b", "c" }, "", 2) == "bc"`,
		`table.concat({}) == ""`,
		`select("#", unpack({ 1, 2, 3 })) == 3`,
		`select(2, ("abc"):byte(1, -1)) == 98`,
		`("abc"):byte() == 97`,
		`("hello"):find("l") == 3`,
		`("key=val"):match("(%w+)=(%w+)") == "key"`,
		`math.floor(2.5) == 2`,
		`(function() local t = {} for k, v in ("a=1, b=2"):gmatch("(%w+)=(%w+)") do t[#t+1] = k .. v end return table.concat(t, ";") end)() == "a1;b2"`,
		`(function() local n = 0 for w in ("one two  three"):gmatch("%a+") do n = n + 1 end return n end)() == 3`,
		`(function() local n = 0 for w in ("abc"):gmatch("") do n = n + 1 end return n end)() == 4`,
		`("hello"):find("l", 1, true) == 3`,
		`("hello"):find("xyz") == nil`,
		`select(3, ("key=val"):find("(%w+)=")) == "key"`,
		`("hello"):find("l", -2) == 4`,
		`("  trim  "):match("^%s*(.-)%s*$") == "trim"`,
		`("abc"):match("b", 3) == nil`,
		`has_role({ roles = { "a", "b" } }, "b") and not has_role(nil, "b")`,
	}
	for _, c := range checks {
		t.Run(c, func(t *testing.T) {
			m := load(t, `model "M" { fields = { x = { type = "string" } },
validate = function() if not (`+c+`) then return "false" end end }`).Model("M")
			_, fe, err := m.Prepare(map[string]any{}, nil, Context{})
			if err != nil || fe != nil {
				t.Fatalf("%s: %v %v", c, fe, err)
			}
		})
	}
}
