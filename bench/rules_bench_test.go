package bench

import (
	"encoding/json"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/lithair/lithair/rules"
)

// productRules is the Product of the examples plus a Lua validate and a
// record-level update predicate, the two Lua calls on the write path.
const productRules = `
model "Product" {
  fields = {
    name  = { type = "string", required = true, min_length = 1, max_length = 200, indexed = true },
    price = { type = "number", min = 0, indexed = true },
    stock = { type = "integer", default = 0 },
    category_id = { type = "string" },
    owner = { type = "string" },
  },
  permissions = {
    read = { "public" }, create = { "editor" }, update = { "editor", "admin" }, delete = { "admin" },
    update_if = function(user, old, new)
      if has_role(user, "admin") then return true end
      return old.owner == user.id and new.price >= old.price * 0.5
    end,
  },
  validate = function(new, old, ctx)
    if old and new.price < old.price * 0.5 then
      return { price = "cannot drop by more than half at once" }
    end
    if #new.name > 0 and new.name:sub(1, 1) == " " then
      return { name = "must not start with a space" }
    end
  end,
}
model "Plain" {
  fields = {
    name  = { type = "string", required = true, min_length = 1, max_length = 200, indexed = true },
    price = { type = "number", min = 0, indexed = true },
    stock = { type = "integer", default = 0 },
    category_id = { type = "string" },
    owner = { type = "string" },
  },
}`

func loadBenchRules(b *testing.B) *rules.Set {
	b.Helper()
	// A generous budget: on a shared machine a descheduled thread can stall
	// a call for tens of milliseconds, which is not what is measured here.
	s, err := rules.LoadFiles([]rules.File{{Name: "product.lua", Source: []byte(productRules)}}, rules.Options{CallTimeout: 2 * time.Second})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(s.Close)
	return s
}

var (
	oldProduct = map[string]any{"name": "iPhone 15", "price": json.Number("999.99"), "stock": json.Number("100"),
		"category_id": "phones", "owner": "ann"}
	newProduct = map[string]any{"name": "iPhone 15", "price": json.Number("899.99"), "stock": json.Number("90"),
		"category_id": "phones", "owner": "ann"}
	editor = &rules.User{ID: "ann", Name: "Ann", Roles: []string{"editor"}}
)

// timed runs call b.N times on one goroutine and reports calls/s (one core)
// and the median latency.
func timed(b *testing.B, call func()) {
	lat := make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		call()
		lat = append(lat, time.Since(t0))
	}
	elapsed := time.Since(start)
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "calls/s/core")
	b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds())/1e3, "p50-µs")
}

// BenchmarkValidate is Prepare of an update through the pool: built-in
// checks plus one Lua validate call. Target: >= 40,000/s per core.
func BenchmarkValidate(b *testing.B) {
	m := loadBenchRules(b).Model("Product")
	ctx := rules.Context{User: editor}
	timed(b, func() {
		if _, fe, err := m.Prepare(newProduct, oldProduct, ctx); fe != nil || err != nil {
			b.Fatal(fe, err)
		}
	})
}

// BenchmarkValidateBuiltin is the same Prepare on a model without Lua: the
// peer figure BenchmarkValidate is read against (their ratio is the cost of
// the Lua call).
func BenchmarkValidateBuiltin(b *testing.B) {
	m := loadBenchRules(b).Model("Plain")
	ctx := rules.Context{User: editor}
	timed(b, func() {
		if _, fe, err := m.Prepare(newProduct, oldProduct, ctx); fe != nil || err != nil {
			b.Fatal(fe, err)
		}
	})
}

// BenchmarkPermission is Allowed with a Lua update_if predicate. Target:
// >= 35,000/s per core.
func BenchmarkPermission(b *testing.B) {
	m := loadBenchRules(b).Model("Product")
	timed(b, func() {
		if ok, err := m.Allowed(rules.ActionUpdate, editor, oldProduct, newProduct); !ok || err != nil {
			b.Fatal(ok, err)
		}
	})
}

// BenchmarkValidateParallel runs Prepare from every core at once to show the
// pool scales; calls/s/core divides the total by GOMAXPROCS.
func BenchmarkValidateParallel(b *testing.B) {
	m := loadBenchRules(b).Model("Product")
	ctx := rules.Context{User: editor}
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, fe, err := m.Prepare(newProduct, oldProduct, ctx); fe != nil || err != nil {
				b.Error(fe, err)
				return
			}
		}
	})
	elapsed := time.Since(start)
	b.ReportMetric(float64(b.N)/elapsed.Seconds()/float64(runtime.GOMAXPROCS(0)), "calls/s/core")
}
