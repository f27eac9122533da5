package rules

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

// hostileModel wraps body in a validate function that runs it when the
// record's field x is "attack" and behaves when it is anything else.
func hostileModel(body string) string {
	return `
model "M" {
  fields = { x = { type = "string" } },
  validate = function(new, old, ctx)
    if new.x ~= "attack" then
      if string.rep("a", 2) ~= "aa" or type(tostring) ~= "function" or math.max(1, 2) ~= 2 then
        return "the library was poisoned"
      end
      if leaked ~= nil then return "a global leaked: " .. tostring(leaked) end
      return nil
    end
` + body + `
  end,
}`
}

// TestHostileScripts runs scripts that try to hang, exhaust memory or
// escape the sandbox. Each must end within its budget plus a margin with a
// clear error, and the next call on the same set must work.
func TestHostileScripts(t *testing.T) {
	const budget = 50 * time.Millisecond
	// Unstopped, these scripts run for minutes; the margin only absorbs a
	// loaded 2-core machine (330ms was seen with several builds running).
	margin := time.Second
	if raceBuild {
		margin = 3 * time.Second
	}
	cases := []struct {
		name string
		body string
		want string // in the error
		err  error  // errors.Is target
	}{
		{"infinite loop", `while true do end`, "ran longer than 50ms", ErrTimeout},
		{"infinite loop inside pcall", `while true do pcall(function() while true do end end) end`, "ran longer than 50ms", ErrTimeout},
		{"busy recursion in xpcall handler", `xpcall(function() error("x") end, function() while true do end end)`, "", nil},
		{"huge string.rep", `local s = string.rep("x", 1e10)`, "string.rep: result would exceed 1048576 bytes", ErrScript},
		{"huge rep through a method", `local s = ("x"):rep(2^31)`, "string.rep: result would exceed", ErrScript},
		{"doubling a string", `local s = "x" for i = 1, 40 do s = s .. s end`, "", nil},
		{"gsub over 1 MB", `local s = string.rep("a", 1048576) local r = s:gsub("a", "bb")`, "", nil},
		{"gsub expanding 2 KB a thousandfold", `local s = string.rep("ab", 2048) local r = s:gsub("a", string.rep("x", 1000))`, "string.gsub: result would exceed", ErrScript},
		{"gsub with a 1 MB replacement", `local s = string.rep("a", 1048576) local r = ("xy"):gsub(".", s)`, "string.gsub: result would exceed", ErrScript},
		{"string.byte of 1 MB", `local s = string.rep("a", 1048576) return s:byte(1, -1)`, "string.byte: too many results", ErrScript},
		{"gsub over 1 MB with a function", `local s = string.rep("a", 1048576) local n = 0 s:gsub(".", function(c) n = n + 1 end) while true do end`, "ran longer than", ErrTimeout},
		{"format with a huge width", `local s = string.format("%99999999d", 1)`, "width or precision too long", ErrScript},
		{"table.concat of a huge result", `local t = {} local s = string.rep("x", 1048576) for i = 1, 10 do t[i] = s end local r = table.concat(t)`, "table.concat: result would exceed", ErrScript},
		{"backtracking pattern in find", `local s = string.rep("a", 5000) return s:find(".-.-.-b")`, "", nil},
		{"backtracking pattern in match", `local s = string.rep("a", 5000) return s:match("(.-)(.-)(.-)b")`, "", nil},
		{"backtracking pattern in gsub", `local s = string.rep("a", 5000) return s:gsub(".-.-.-b", "")`, "", nil},
		{"backtracking pattern in gmatch", `local s = string.rep("a", 5000) for x in s:gmatch(".-.-.-b") do end`, "", nil},
		{"deep recursion", `local function f(n) return 1 + f(n + 1) end return f(1)`, "stack overflow", ErrScript},
		{"unpack of a huge range", `return unpack({}, 1, 1e8)`, "unpack: too many results", ErrScript},
		{"collectgarbage loop", `while true do collectgarbage() end`, "attempt to call a non-function object", ErrScript},
		{"io", `io.open("/etc/passwd")`, "attempt to index a non-table object(nil) with key 'open'", ErrScript},
		{"os", `os.execute("true")`, "attempt to index a non-table object(nil) with key 'execute'", ErrScript},
		{"require", `require("os")`, "attempt to call a non-function object", ErrScript},
		{"load", `load("return 1")()`, "attempt to call a non-function object", ErrScript},
		{"loadstring", `loadstring("return 1")()`, "attempt to call a non-function object", ErrScript},
		{"dofile", `dofile("/etc/passwd")`, "attempt to call a non-function object", ErrScript},
		{"getfenv", `getfenv(1).x = 1`, "attempt to call a non-function object", ErrScript},
		{"debug", `debug.getinfo(1)`, "attempt to index a non-table object(nil)", ErrScript},
		{"math.random", `return tostring(math.random())`, "attempt to call a non-function object", ErrScript},
		{"poison a global", `leaked = "yes"`, `assignment to global "leaked"`, ErrScript},
		{"poison string", `string.rep = function() return "" end`, "cannot assign string.rep: the string library is read-only", ErrScript},
		{"poison through the string metatable", `getmetatable("").__index.rep = nil`, "attempt to index a non-table object(nil) with key 'rep'", ErrScript},
		{"replace the string metatable", `setmetatable("", {})`, "", ErrScript},
		{"poison math", `math.max = nil`, "the math library is read-only", ErrScript},
		{"poison tostring through _G", `_G.tostring = nil`, "", ErrScript},
		{"rawset through the proxy", `rawset(string, "rep", nil)`, "attempt to call a non-function object", ErrScript},
		{"unprotect the environment", `setmetatable(getfenv and getfenv() or {}, nil) leaked2 = 1`, "", ErrScript},
		{"declare a model at call time", `model "X" { fields = {} }`, "can only be declared at the top level", ErrScript},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			// Cases that must stop on a cap get a long budget, so that on a
			// slow machine (-race, shared CI) the cap, not the clock, ends
			// them; they must still end quickly.
			budget := budget
			if c.err == ErrScript {
				budget = time.Second
			}
			s, err := LoadFiles([]File{{Name: "hostile.lua", Source: []byte(hostileModel(c.body))}}, Options{CallTimeout: budget, PoolSize: 1})
			if err != nil {
				t.Fatalf("load: %v", err)
			}
			defer s.Close()
			m := s.Model("M")
			start := time.Now()
			_, fe, err := m.Prepare(map[string]any{"x": "attack"}, nil, Context{})
			took := time.Since(start)
			if took > budget+margin || (c.err == ErrScript && took > margin) {
				t.Errorf("took %v, budget %v", took, budget)
			}
			if c.err != nil && !errors.Is(err, c.err) {
				t.Errorf("error = %v (field errors %v), want %v", err, fe, c.err)
			}
			if c.err != nil && err != nil && !strings.Contains(err.Error(), c.want) {
				t.Errorf("error = %v, want it to mention %q", err, c.want)
			}
			if c.err == nil && err == nil && fe == nil {
				t.Errorf("no error at all")
			}
			// The same set (and, with PoolSize 1, the same or a replacement
			// VM) still serves a good call, with nothing poisoned.
			for i := 0; i < 3; i++ {
				if _, fe, err := m.Prepare(map[string]any{"x": "fine"}, nil, Context{}); fe != nil || err != nil {
					t.Fatalf("call after the attack: %v %v", fe, err)
				}
			}
		})
	}
}

func TestTimeoutMessage(t *testing.T) {
	s, err := LoadFiles([]File{{Name: "loop.lua", Source: []byte(hostileModel("while true do end"))}}, Options{CallTimeout: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	_, _, err = s.Model("M").Prepare(map[string]any{"x": "attack"}, nil, Context{})
	want := `rules: Lua call exceeded its time budget: validate of model "M" (loop.lua:2) ran longer than 20ms`
	if err == nil || err.Error() != want {
		t.Fatalf("error = %v\nwant    %s", err, want)
	}
}

func TestPrintGoesToOptionsPrint(t *testing.T) {
	var mu sync.Mutex
	var got []string
	s, err := LoadFiles([]File{{Name: "p.lua", Source: []byte(`print("loading", 1)
model "M" { fields = { x = { type = "string" } }, validate = function(n) print("checking", n.x) end }`)}},
		Options{Print: func(file, msg string) { mu.Lock(); got = append(got, file+": "+msg); mu.Unlock() }, PoolSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, _, err := s.Model("M").Prepare(map[string]any{"x": "a"}, nil, Context{}); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 2 || got[0] != "p.lua: loading\t1" || got[1] != ": checking\ta" {
		t.Fatalf("printed %q", got)
	}
}

// TestPoolConcurrent hammers one set from many goroutines (run with -race):
// every call must see its own record, never another call's.
func TestPoolConcurrent(t *testing.T) {
	s := load(t, `model "M" { fields = { x = { type = "integer" } },
validate = function(new)
  local seen = {}
  for i = 1, 50 do seen[i] = new.x end
  for i = 1, 50 do if seen[i] ~= new.x then return "mixed" end end
  if new.x % 7 == 0 then return { x = "multiple of 7: " .. new.x } end
end,
permissions = { read = { "public" }, read_if = function(u, old) return old.x % 2 == 0 end } }`)
	m := s.Model("M")
	var wg sync.WaitGroup
	errs := make(chan string, 64)
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				x := g*1000 + i
				_, fe, err := m.Prepare(map[string]any{"x": x}, nil, Context{})
				if err != nil || (x%7 == 0) != (fe != nil) {
					errs <- "prepare" + err.Error()
					return
				}
				ok, err := m.Allowed(ActionRead, nil, map[string]any{"x": num(itoa(x))}, nil)
				if err != nil || ok != (x%2 == 0) {
					errs <- "allowed"
					return
				}
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

func itoa(i int) string {
	if i == 0 {
		return "0"
	}
	var b []byte
	for i > 0 {
		b = append([]byte{byte('0' + i%10)}, b...)
		i /= 10
	}
	return string(b)
}

func TestClosedSet(t *testing.T) {
	s, err := LoadFiles([]File{{Name: "a.lua", Source: []byte(validatedProduct)}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	s.Close()
	_, _, err = s.Model("Product").Prepare(map[string]any{"name": "a"}, nil, Context{})
	if !errors.Is(err, ErrClosed) {
		t.Fatalf("after Close: %v", err)
	}
}
