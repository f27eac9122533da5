package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"net/http"
	"path"
	"sort"
	"strings"
	"time"
)

// The admin page is a handful of static files compiled into the binary:
// an HTML shell, a style sheet and JavaScript modules that talk to the
// JSON API with the session cookie. Nothing is fetched from elsewhere, so
// the page works on a machine without Internet and its Content-Security-
// Policy can forbid every other origin.

//go:embed admin
var adminFiles embed.FS

// adminCSP allows only this origin, no inline script or style, and no
// framing: an injected string can neither run nor dress up as the page.
const adminCSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
	"frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

// adminAsset is one embedded file as served.
type adminAsset struct {
	body        []byte
	contentType string
	etag        string
}

// adminBundle is the page as served: index.html with the assets' URLs
// pinned to a digest of all of them, so assets can be cached for a year
// and a new binary is fetched afresh.
type adminBundle struct {
	index  adminAsset
	assets map[string]adminAsset // by name under assets/
	digest string
}

// adminPrefix is where the page is served; assetsPrefix where its files are.
const (
	adminPrefix  = "/admin/"
	assetsPrefix = adminPrefix + "assets/"
)

var adminPageBundle = mustAdminBundle(adminFiles)

func mustAdminBundle(fsys fs.FS) *adminBundle {
	b, err := loadAdminBundle(fsys)
	if err != nil {
		panic("web: the embedded admin page: " + err.Error())
	}
	return b
}

// loadAdminBundle reads the page from fsys (the embedded admin directory).
func loadAdminBundle(fsys fs.FS) (*adminBundle, error) {
	b := &adminBundle{assets: map[string]adminAsset{}}
	var names []string
	err := fs.WalkDir(fsys, "admin/assets", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		names = append(names, strings.TrimPrefix(p, "admin/assets/"))
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	all := sha256.New()
	for _, name := range names {
		body, err := fs.ReadFile(fsys, "admin/assets/"+name)
		if err != nil {
			return nil, err
		}
		sum := sha256.Sum256(body)
		all.Write([]byte(name))
		all.Write(sum[:])
		b.assets[name] = adminAsset{body: body, contentType: contentTypeOf(name), etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
	}
	b.digest = hex.EncodeToString(all.Sum(nil)[:6])
	index, err := fs.ReadFile(fsys, "admin/index.html")
	if err != nil {
		return nil, err
	}
	// index.html names its files as assets/NAME; they are served from
	// assets/DIGEST/NAME, and the modules' relative imports follow.
	index = bytes.ReplaceAll(index, []byte(`"assets/`), []byte(`"assets/`+b.digest+`/`))
	sum := sha256.Sum256(index)
	b.index = adminAsset{body: index, contentType: "text/html; charset=utf-8", etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
	return b, nil
}

// contentTypeOf names the media type of an asset by its extension; the
// page only ships these kinds, and nosniff makes the browser trust them.
func contentTypeOf(name string) string {
	switch path.Ext(name) {
	case ".js":
		return "text/javascript; charset=utf-8"
	case ".css":
		return "text/css; charset=utf-8"
	case ".svg":
		return "image/svg+xml"
	case ".html":
		return "text/html; charset=utf-8"
	case ".json":
		return "application/json"
	}
	return "application/octet-stream"
}

// adminPage serves GET and HEAD /admin/...: the files under
// /admin/assets/, and index.html for every other path, so a reload on any
// address of the page lands on the page (its routes live after the #).
func (s *Server) adminPage(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", adminCSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	b := adminPageBundle
	rest, isAsset := strings.CutPrefix(r.URL.Path, assetsPrefix)
	if !isAsset {
		// The shell is small and names the assets of this binary: always
		// revalidate it, so an upgrade shows at the next load.
		h.Set("Cache-Control", "no-cache")
		serveAdminAsset(w, r, b.index)
		return
	}
	// Assets are named assets/DIGEST/NAME by the page of this binary:
	// those never change and may be kept for a year. A page of an older
	// binary open across an upgrade, or a hand-typed address, gets this
	// binary's file, never cached under a name that does not describe it.
	cache := "no-cache"
	a, found := b.assets[rest]
	if digest, name, ok := strings.Cut(rest, "/"); ok && (digest == b.digest || !found) {
		if a2, ok := b.assets[name]; ok {
			a, found = a2, true
			if digest == b.digest {
				cache = "public, max-age=31536000, immutable"
			}
		}
	}
	if !found {
		writeError(w, errorf(http.StatusNotFound, "not_found", "no admin asset "+r.URL.Path))
		return
	}
	h.Set("Cache-Control", cache)
	serveAdminAsset(w, r, a)
}

func serveAdminAsset(w http.ResponseWriter, r *http.Request, a adminAsset) {
	w.Header().Set("Content-Type", a.contentType)
	w.Header().Set("ETag", a.etag)
	// ServeContent answers HEAD, If-None-Match (304) and ranges.
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(a.body))
}
