package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// The scenarios run against the example rules' Product model
// (configs/rules/product.lua): name and price are indexed; every request
// but read-anon's carries the admin session.
//
//   - create:    POST /api/products {"name":"c-W-N","price":N}, a new record.
//   - read:      GET /api/products/{id} of a random seeded record.
//   - read-anon: the same without a credential (anyone may read products):
//     the difference is what authenticating a request costs.
//   - list:   GET /api/products?name=p-NNN&limit=50: the seeded names
//     repeat every listNames records, so each name matches exactly 50
//     records and the list walks the name index.
//   - update: PATCH /api/products/{id} {"stock":N} of a random seeded
//     record (no If-Match: a lost race is retried by the server).
//   - mix:    90% read, 10% update, each request drawn at random.

// Scenarios is every scenario, in the order they run by default: the
// writes that grow the state last.
var Scenarios = []string{"read", "read-anon", "list", "update", "mix", "create"}

// writeScenario reports whether a scenario's (or a row label's) limit is the disk's fsync
// rate (writes) rather than the bare handler (reads, and the read-mostly
// mix).
func writeScenario(s string) bool {
	s = strings.TrimPrefix(s, "cluster ")
	return strings.HasPrefix(s, "create") || strings.HasPrefix(s, "update")
}

// listNames is how many distinct names the seed uses; with seed = 50 ×
// listNames every name matches 50 records.
const listNames = 200

// Dataset is what the seed wrote.
type Dataset struct {
	IDs []string
}

func seedName(i int) string { return fmt.Sprintf("p-%03d", i%listNames) }

// seed creates n products through /api/_batch, 1000 per batch, and
// returns their ids.
func seed(base, token string, n int) (*Dataset, error) {
	ds := &Dataset{}
	client := &http.Client{}
	for start := 0; start < n; start += 1000 {
		type op struct {
			Op     string         `json:"op"`
			Model  string         `json:"model"`
			Fields map[string]any `json:"fields"`
		}
		var ops []op
		for i := start; i < min(start+1000, n); i++ {
			ops = append(ops, op{"create", "Product", map[string]any{"name": seedName(i), "price": i, "stock": 1}})
		}
		body, _ := json.Marshal(map[string]any{"operations": ops})
		var out struct {
			Results []struct {
				ID     string `json:"id"`
				Status int    `json:"status"`
			} `json:"results"`
		}
		if err := callJSON(client, "POST", base+"/api/_batch", token, body, &out); err != nil {
			return nil, fmt.Errorf("seeding: %w", err)
		}
		if len(out.Results) != len(ops) {
			return nil, fmt.Errorf("seeding: %d results for %d operations", len(out.Results), len(ops))
		}
		for _, r := range out.Results {
			if r.Status != http.StatusCreated || r.ID == "" {
				return nil, fmt.Errorf("seeding: an operation answered %d, id %q", r.Status, r.ID)
			}
			ds.IDs = append(ds.IDs, r.ID)
		}
	}
	return ds, nil
}

// check makes sure the scenarios measure what they claim before timing
// them: a seeded record reads back, and a list by name has 50 items.
func (ds *Dataset) check(base, token string) error {
	client := &http.Client{}
	var rec map[string]any
	if err := callJSON(client, "GET", base+"/api/products/"+ds.IDs[len(ds.IDs)/2], token, nil, &rec); err != nil {
		return fmt.Errorf("check: %w", err)
	}
	var list struct {
		Items []map[string]any `json:"items"`
	}
	if err := callJSON(client, "GET", base+"/api/products?name="+seedName(7)+"&limit=50", token, nil, &list); err != nil {
		return fmt.Errorf("check: %w", err)
	}
	if want := min(50, len(ds.IDs)/listNames); len(list.Items) != want {
		return fmt.Errorf("check: a list by name has %d items, want %d", len(list.Items), want)
	}
	for _, it := range list.Items {
		if it["name"] != seedName(7) {
			return fmt.Errorf("check: a list by name %s holds %v", seedName(7), it["name"])
		}
	}
	return nil
}

// scenarioOp returns the request maker of a scenario.
func scenarioOp(name string, ds *Dataset) (Op, error) {
	needIDs := name != "create"
	if needIDs && (ds == nil || len(ds.IDs) == 0) {
		return nil, fmt.Errorf("scenario %s needs seeded records (-seed > 0)", name)
	}
	switch name {
	case "create":
		return opCreate, nil
	case "read", "read-anon":
		return ds.opRead, nil
	case "list":
		return opList, nil
	case "update":
		return ds.opUpdate, nil
	case "mix":
		return func(w *Worker) *http.Request {
			if w.Rand.IntN(10) == 0 {
				return ds.opUpdate(w)
			}
			return ds.opRead(w)
		}, nil
	}
	return nil, fmt.Errorf("unknown scenario %q (have %s)", name, strings.Join(Scenarios, ", "))
}

func jsonRequest(method, url string, body []byte) *http.Request {
	req, _ := http.NewRequest(method, url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	return req
}

func opCreate(w *Worker) *http.Request {
	body := `{"name":"c-` + strconv.Itoa(w.ID) + "-" + strconv.Itoa(w.Seq) + `","price":` + strconv.Itoa(w.Seq%1000) + `}`
	return jsonRequest("POST", w.Base+"/api/products", []byte(body))
}

func (ds *Dataset) opRead(w *Worker) *http.Request {
	req, _ := http.NewRequest("GET", w.Base+"/api/products/"+ds.IDs[w.Rand.IntN(len(ds.IDs))], nil)
	return req
}

func (ds *Dataset) opUpdate(w *Worker) *http.Request {
	body := `{"stock":` + strconv.Itoa(w.Seq%10000) + `}`
	return jsonRequest("PATCH", w.Base+"/api/products/"+ds.IDs[w.Rand.IntN(len(ds.IDs))], []byte(body))
}

func opList(w *Worker) *http.Request {
	req, _ := http.NewRequest("GET", w.Base+"/api/products?name="+seedName(w.Rand.IntN(listNames))+"&limit=50", nil)
	return req
}
