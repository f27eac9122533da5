package firewall

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
)

// BenchmarkWrap measures what the firewall adds to a request, beside the
// same handler without it: quote the ratio, not the absolute figure.
func BenchmarkWrap(b *testing.B) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) })
	unlimited := DefaultConfig()
	unlimited.Rate, unlimited.Burst = 1e9, 1e9
	unlimited.GlobalRate, unlimited.GlobalBurst = 1e9, 1e9
	unlimited.Allow = []string{"10.0.0.0/8"}
	unlimited.Deny = []string{"10.255.0.0/16", "192.0.2.0/24", "2001:db8::/32"}
	fw, err := New(unlimited, 1<<20)
	if err != nil {
		b.Fatal(err)
	}
	// 4096 clients, so the table is exercised, not one hot entry.
	addrs := make([]string, 4096)
	for i := range addrs {
		addrs[i] = fmt.Sprintf("10.0.%d.%d:5000", i>>8, i%256)
	}
	for _, bc := range []struct {
		name string
		h    http.Handler
	}{{"bare", ok}, {"firewall", fw.Wrap(ok)}} {
		b.Run(bc.name, func(b *testing.B) {
			var next atomic.Uint32
			b.RunParallel(func(pb *testing.PB) {
				r := httptest.NewRequest(http.MethodGet, "/api/things", nil)
				w := httptest.NewRecorder()
				i := int(next.Add(997))
				for pb.Next() {
					i++
					r.RemoteAddr = addrs[i%len(addrs)]
					bc.h.ServeHTTP(w, r)
				}
			})
		})
	}
}

// BenchmarkLoopback puts the firewall's cost beside a whole request over
// loopback HTTP, bare net/http against the same server behind Wrap, with
// clients rotating through X-Forwarded-For from a trusted proxy.
func BenchmarkLoopback(b *testing.B) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) })
	c := DefaultConfig()
	c.TrustedProxies = []string{"127.0.0.1"}
	c.Rate, c.Burst = 1e9, 1e9
	fw, err := New(c, 1<<20)
	if err != nil {
		b.Fatal(err)
	}
	xff := make([]string, 4096)
	for i := range xff {
		xff[i] = fmt.Sprintf("203.0.%d.%d", i>>8, i%256)
	}
	for _, bc := range []struct {
		name string
		h    http.Handler
	}{{"bare", ok}, {"firewall", fw.Wrap(ok)}} {
		b.Run(bc.name, func(b *testing.B) {
			srv := httptest.NewServer(bc.h)
			defer srv.Close()
			client := srv.Client()
			var next atomic.Uint32
			b.RunParallel(func(pb *testing.PB) {
				i := int(next.Add(997))
				for pb.Next() {
					i++
					r, _ := http.NewRequest(http.MethodGet, srv.URL+"/api/things", nil)
					r.Header.Set("X-Forwarded-For", xff[i%len(xff)])
					resp, err := client.Do(r)
					if err != nil {
						b.Error(err)
						return
					}
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						b.Errorf("status %d", resp.StatusCode)
						return
					}
				}
			})
		})
	}
}
