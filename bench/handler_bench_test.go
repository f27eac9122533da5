package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/lithair/lithair"
	"github.com/lithair/lithair/web"
)

// BenchmarkHandler measures the server's own code for one request, from
// the outermost middleware to the written answer, with no network and no
// client: what the HTTP load generator cannot show apart from the loopback
// TCP and the client sharing the machine's two cores. The appliance is
// real (log on disk, example rules), with 1,000 products, 50 per name.
//
//	go test ./bench -run '^$' -bench Handler -benchmem -count 6
func BenchmarkHandler(b *testing.B) {
	cfg := lithair.DefaultConfig()
	cfg.EventStore.Dir = b.TempDir()
	cfg.Rules.Dir = "../configs/rules"
	cfg.Rules.Watch = false
	cfg.Auth.InitialAdminPassword = "bench-admin-password"
	cfg.Firewall.Rate, cfg.Firewall.LoginRate = 0, 0
	cfg.Log.SampleRate = 0
	app, err := lithair.Open(cfg, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer app.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := app.WaitReady(ctx); err != nil {
		b.Fatal(err)
	}
	token, _, _, err := app.Login(ctx, "admin", cfg.Auth.InitialAdminPassword)
	if err != nil {
		b.Fatal(err)
	}
	h := web.New(app, nil).Handler()
	serve := func(method, path, body, auth string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(method, path, strings.NewReader(body))
		r.RemoteAddr = "127.0.0.1:40000"
		if body != "" {
			r.Header.Set("Content-Type", "application/json")
		}
		if auth != "" {
			r.Header.Set("Authorization", "Bearer "+auth)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	var id string
	for i := range 1000 {
		w := serve("POST", "/api/products", fmt.Sprintf(`{"name":"p-%03d","price":%d,"cost":1,"stock":5}`, i/50, i), token)
		if w.Code != http.StatusCreated {
			b.Fatalf("seeding: %d %s", w.Code, w.Body)
		}
		var rec struct{ ID string }
		json.Unmarshal(w.Body.Bytes(), &rec)
		id = rec.ID
	}
	for _, c := range []struct{ name, path, auth string }{
		{"read", "/api/products/" + id, token},
		{"read-anon", "/api/products/" + id, ""},
		{"list", "/api/products?name=p-007&limit=50", token},
	} {
		if w := serve("GET", c.path, "", c.auth); w.Code != http.StatusOK {
			b.Fatalf("%s: %d %s", c.name, w.Code, w.Body)
		}
		// One request, built once: the handlers never change it (they
		// derive new ones with WithContext), and building it is the
		// server's job, not the handler's.
		r := httptest.NewRequest("GET", c.path, nil)
		r.RemoteAddr = "127.0.0.1:40000"
		if c.auth != "" {
			r.Header.Set("Authorization", "Bearer "+c.auth)
		}
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				w := &discardWriter{header: http.Header{}}
				h.ServeHTTP(w, r)
				if w.status != http.StatusOK {
					b.Fatalf("%s: %d", c.name, w.status)
				}
			}
		})
	}
}

// discardWriter is the least a ResponseWriter does: a fresh header map per
// request, as net/http's own, and the body counted and dropped.
type discardWriter struct {
	header http.Header
	status int
	n      int
}

func (w *discardWriter) Header() http.Header { return w.header }

func (w *discardWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
}

func (w *discardWriter) Write(p []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	w.n += len(p)
	return len(p), nil
}
