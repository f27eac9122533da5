package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/fetch"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	cdppage "github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// The admin page's tests. TestAdminPageHeaders needs only Go; the others
// drive the page in headless Chromium and skip where there is none.
// LITHAIR_ADMIN_SCREENSHOTS=DIR saves screenshots of the pages they visit.

const adminCSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
	"frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

func TestAdminPageHeaders(t *testing.T) {
	n := startNode(t, t.TempDir(), "--set", "rules.watch=false")
	get := func(method, path string, headers ...string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(method, n.baseURL+path, nil)
		for i := 0; i+1 < len(headers); i += 2 {
			req.Header.Set(headers[i], headers[i+1])
		}
		c := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	body := func(resp *http.Response) string {
		t.Helper()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatalf("reading an answer: %v", err)
		}
		return string(b)
	}

	index := get("GET", "/admin/")
	html := body(index)
	want := map[string]string{
		"Content-Security-Policy": adminCSP,
		"X-Content-Type-Options":  "nosniff",
		"Referrer-Policy":         "no-referrer",
		"Cache-Control":           "no-cache",
		"Content-Type":            "text/html; charset=utf-8",
	}
	if index.StatusCode != 200 {
		t.Fatalf("GET /admin/: %d %s", index.StatusCode, html)
	}
	for k, v := range want {
		if got := index.Header.Get(k); got != v {
			t.Errorf("GET /admin/ %s = %q, want %q", k, got, v)
		}
	}
	// The policy forbids inline code; the page must not need any.
	if regexp.MustCompile(`<script(?:\s+type="module")?>|<style|\sstyle=|\son[a-z]+=`).MatchString(html) {
		t.Errorf("index.html has inline script or style:\n%s", html)
	}
	if strings.Contains(html, "http://") || strings.Contains(html, "https://") {
		t.Errorf("index.html names another origin:\n%s", html)
	}

	for _, path := range []string{"/admin/models/Product", "/admin/no/such/page"} {
		r := get("GET", path)
		if b := body(r); r.StatusCode != 200 || b != html {
			t.Errorf("GET %s: %d, want index.html", path, r.StatusCode)
		}
	}
	if r := get("GET", "/admin"); r.StatusCode != http.StatusMovedPermanently || r.Header.Get("Location") != "/admin/" {
		t.Errorf("GET /admin: %d Location %q, want a redirect to /admin/", r.StatusCode, r.Header.Get("Location"))
	}
	head := get("HEAD", "/admin/")
	if b := body(head); head.StatusCode != 200 || b != "" || head.Header.Get("Content-Length") != fmt.Sprint(len(html)) ||
		head.Header.Get("Content-Security-Policy") != adminCSP {
		t.Errorf("HEAD /admin/: %d, %d bytes, Content-Length %s, CSP %q", head.StatusCode, len(b), head.Header.Get("Content-Length"), head.Header.Get("Content-Security-Policy"))
	}
	if r := get("GET", "/admin/", "If-None-Match", index.Header.Get("ETag")); r.StatusCode != http.StatusNotModified {
		t.Errorf("GET /admin/ with its ETag: %d, want 304", r.StatusCode)
	}

	// Every file the page names is served from a digest path, cached for good.
	assets := regexp.MustCompile(`"(assets/[0-9a-f]+/[^"]+)"`).FindAllStringSubmatch(html, -1)
	if len(assets) < 3 {
		t.Fatalf("index.html names %d assets: %s", len(assets), html)
	}
	types := map[string]string{".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml"}
	for _, a := range assets {
		r := get("GET", "/admin/"+a[1])
		b := body(r)
		if r.StatusCode != 200 || len(b) == 0 {
			t.Errorf("GET /admin/%s: %d", a[1], r.StatusCode)
			continue
		}
		if ct := types[filepath.Ext(a[1])]; r.Header.Get("Content-Type") != ct {
			t.Errorf("GET /admin/%s: Content-Type %q, want %q", a[1], r.Header.Get("Content-Type"), ct)
		}
		if cc := r.Header.Get("Cache-Control"); cc != "public, max-age=31536000, immutable" {
			t.Errorf("GET /admin/%s: Cache-Control %q", a[1], cc)
		}
		if r.Header.Get("X-Content-Type-Options") != "nosniff" || r.Header.Get("Content-Security-Policy") != adminCSP {
			t.Errorf("GET /admin/%s lacks the security headers: %v", a[1], r.Header)
		}
	}
	// A page module under an old digest is served, but not kept.
	if r := get("GET", "/admin/assets/0123456789ab/pages/dashboard.js"); r.StatusCode != 200 || r.Header.Get("Cache-Control") != "no-cache" {
		t.Errorf("an asset under an old digest: %d, Cache-Control %q", r.StatusCode, r.Header.Get("Cache-Control"))
	}
	for _, path := range []string{"/admin/assets/missing.js", "/admin/assets/", "/admin/assets/0123456789ab/missing.js"} {
		r := get("GET", path)
		b := body(r)
		var e struct{ Error struct{ Code string } }
		if r.StatusCode != 404 || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") || json.Unmarshal([]byte(b), &e) != nil || e.Error.Code != "not_found" {
			t.Errorf("GET %s: %d %s %s, want a JSON 404", path, r.StatusCode, r.Header.Get("Content-Type"), b)
		}
	}

	// The modules build the page from elements, never from HTML strings,
	// so a record holding markup shows as text.
	files, _ := filepath.Glob("../../web/admin/assets/*.js")
	more, _ := filepath.Glob("../../web/admin/assets/pages/*.js")
	for _, f := range append(files, more...) {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		code := strings.ReplaceAll(string(src), "'http://www.w3.org/2000/svg'", "") // a name, not an address
		for _, bad := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function", "http://", "https://"} {
			if strings.Contains(code, bad) {
				t.Errorf("%s uses %s", f, bad)
			}
		}
	}
}

// findChromium looks for a Chromium or Chrome to drive.
func findChromium() string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if _, err := os.Stat("/usr/bin/chromium"); err == nil {
		return "/usr/bin/chromium"
	}
	return ""
}

// sentRequest is a request the page made, as the browser reports it.
type sentRequest struct {
	method, url string
	headers     map[string]string
}

// tab is one browser tab on the admin page, with what it saw: uncaught
// exceptions, console errors, policy violations and every request.
type tab struct {
	t        *testing.T
	ctx      context.Context
	base     string
	mu       sync.Mutex
	problems []string
	requests []sentRequest
}

// newBrowser starts headless Chromium for the test, or skips it.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	chrome := findChromium()
	if chrome == "" && os.Getenv("LITHAIR_REQUIRE_CHROMIUM") != "" {
		t.Fatal("no Chromium found, and LITHAIR_REQUIRE_CHROMIUM says the browser tests must run")
	}
	if chrome == "" {
		t.Skip("no Chromium found (chromium, chromium-browser or google-chrome in PATH, or /usr/bin/chromium): " +
			"the admin page's browser tests need one; install it with apt-get install chromium")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chrome),
		chromedp.Headless,
		chromedp.NoSandbox, // CI runs as root
		chromedp.DisableGPU,
		chromedp.WindowSize(1280, 900),
		chromedp.Flag("lang", "en-GB"),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting %s: %v", chrome, err)
	}
	return ctx
}

// openTab opens a tab that watches for problems, at base's admin page.
func openTab(t *testing.T, browser context.Context, base string) *tab {
	t.Helper()
	p := &tab{t: t, base: base}
	ctx, cancel := chromedp.NewContext(browser, chromedp.WithListener(p.listen))
	t.Cleanup(cancel)
	p.ctx = ctx
	// Reports of the Content-Security-Policy reach the page as events; the
	// watcher is added by the browser, so the policy does not block it.
	watch := `window.__lithairCSP = []; document.addEventListener('securitypolicyviolation', (e) => window.__lithairCSP.push(e.violatedDirective + ' ' + e.blockedURI));`
	if _, err := chromedp.Call(ctx, cdppage.AddScriptToEvaluateOnNewDocument, cdppage.AddScriptToEvaluateOnNewDocumentParams{Source: watch}); err != nil {
		t.Fatal(err)
	}
	return p
}

func (p *tab) listen(ev any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch ev := ev.(type) {
	case *runtime.EventExceptionThrown:
		d := ev.ExceptionDetails
		msg := d.Text
		if d.Exception != nil && d.Exception.Description != "" {
			msg += " " + d.Exception.Description
		}
		p.problems = append(p.problems, fmt.Sprintf("exception at %s:%d: %s", d.URL, d.LineNumber, msg))
	case *runtime.EventConsoleAPICalled:
		if ev.Type == runtime.ConsoleAPICalledTypeError {
			var parts []string
			for _, a := range ev.Args {
				parts = append(parts, string(a.Value)+a.Description)
			}
			p.problems = append(p.problems, "console.error: "+strings.Join(parts, " "))
		}
	case *cdplog.EventEntryAdded:
		// Refused API calls (404, 422) are logged as network errors; those
		// are the page at work. Anything about security is a defect.
		if ev.Entry.Source == cdplog.EntrySourceSecurity || strings.Contains(ev.Entry.Text, "Content Security Policy") {
			p.problems = append(p.problems, "security: "+ev.Entry.Text)
		}
	case *network.EventRequestWillBeSent:
		h := map[string]string{}
		for k, v := range ev.Request.Headers {
			h[strings.ToLower(k)] = fmt.Sprint(v)
		}
		p.requests = append(p.requests, sentRequest{ev.Request.Method, ev.Request.URL, h})
	}
}

// fail stops the test, with a screenshot of the moment.
func (p *tab) fail(format string, args ...any) {
	p.t.Helper()
	msg := fmt.Sprintf(format, args...)
	ctx, cancel := context.WithTimeout(p.ctx, 5*time.Second)
	defer cancel()
	if png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot()); err == nil {
		name := filepath.Join(os.TempDir(), "lithair-admin-"+regexp.MustCompile(`\W+`).ReplaceAllString(p.t.Name(), "-")+".png")
		if os.WriteFile(name, png, 0o644) == nil {
			msg += "\nscreenshot: " + name
		}
	}
	if h, err := chromedp.Run(ctx, chromedp.Evaluate[string](`location.hash + '\n' + (document.querySelector('main') || document.body).innerText.slice(0, 1500)`)); err == nil {
		msg += "\npage " + h
	}
	p.t.Fatal(msg)
}

// do runs steps, each within 10 seconds.
func (p *tab) do(steps ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	for _, s := range steps {
		ctx, cancel := context.WithTimeout(p.ctx, 10*time.Second)
		err := chromedp.Do(ctx, s)
		cancel()
		if err != nil {
			p.fail("browser: %v", err)
		}
	}
}

// js evaluates expression (awaiting a promise) and decodes its value.
func js[T any](p *tab, expression string) T {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 10*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expression, chromedp.EvalAwaitPromise))
	if err != nil {
		p.fail("evaluating %s: %v", expression, err)
	}
	return v
}

// waitFor waits until expression is true in the page.
func (p *tab) waitFor(what, expression string) {
	p.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(p.ctx, 5*time.Second)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`Boolean(`+expression+`)`))
		cancel()
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			p.fail("waited 10s for %s (%s): %v", what, expression, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (p *tab) text(selector string) string {
	p.t.Helper()
	return js[string](p, fmt.Sprintf(`(document.querySelector(%q) || {textContent: ''}).textContent.trim()`, selector))
}

// goTo moves the page to a route after #.
func (p *tab) goTo(hash string) {
	p.t.Helper()
	js[chromedp.Void](p, fmt.Sprintf(`location.hash = %q`, hash))
	p.waitFor("the page "+hash, fmt.Sprintf(`location.hash === %q && document.querySelector('.view:not([aria-busy]) h1')`, hash))
}

// typeInto replaces an input's value the way a person does.
func (p *tab) typeInto(selector, value string) {
	p.t.Helper()
	js[chromedp.Void](p, fmt.Sprintf(`(() => { const el = document.querySelector(%q); el.value = ''; el.dispatchEvent(new Event('input', {bubbles: true})); })()`, selector))
	p.do(chromedp.SendKeys(chromedp.CSS(selector), value))
}

func (p *tab) click(selector string) {
	p.t.Helper()
	p.do(chromedp.Click(chromedp.CSS(selector), chromedp.NodeVisible))
}

// shot saves a screenshot when LITHAIR_ADMIN_SCREENSHOTS names a directory.
func (p *tab) shot(name string) {
	p.t.Helper()
	dir := os.Getenv("LITHAIR_ADMIN_SCREENSHOTS")
	if dir == "" {
		return
	}
	time.Sleep(300 * time.Millisecond) // let transitions end
	ctx, cancel := context.WithTimeout(p.ctx, 10*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		p.t.Logf("screenshot %s: %v", name, err)
		return
	}
	os.MkdirAll(dir, 0o755)
	path := filepath.Join(dir, name+".png")
	if err := os.WriteFile(path, png, 0o644); err == nil {
		p.t.Logf("screenshot: %s", path)
	}
}

// signIn signs in as admin through the sign-in form.
func (p *tab) signIn() {
	p.t.Helper()
	p.do(chromedp.Navigate(p.base + "/admin/"))
	p.waitFor("the sign-in form or the page", `document.querySelector('#login-username') || document.querySelector('#who-name')`)
	if js[bool](p, `Boolean(document.querySelector('#who-name'))`) {
		return // the browser holds a session already
	}
	p.typeInto("#login-username", "admin")
	p.typeInto("#login-password", adminPassword)
	p.click("#login-submit")
	p.waitFor("the dashboard after signing in", `document.querySelector('#who-name') && document.querySelector('#stats .stat')`)
}

// checkClean fails the test if the page threw, logged an error or broke
// its own security policy.
func (p *tab) checkClean() {
	p.t.Helper()
	csp := js[[]string](p, `window.__lithairCSP || []`)
	p.mu.Lock()
	problems := append(append([]string{}, p.problems...), csp...)
	p.mu.Unlock()
	if len(problems) > 0 {
		p.t.Errorf("the page reported problems:\n%s", strings.Join(problems, "\n"))
	}
}

func TestAdminPageInBrowser(t *testing.T) {
	browser := newBrowser(t)
	rules := copyRules(t)
	n := startNode(t, t.TempDir(), "--rules", rules, "--set", "rules.watch=false")
	p := openTab(t, browser, n.baseURL)

	// Signing in: a wrong password is said so; the right one opens the page
	// with a cookie scripts cannot read.
	p.do(chromedp.Navigate(n.baseURL+"/admin/"), chromedp.WaitVisible(chromedp.CSS("#login-username")))
	p.shot("01-sign-in")
	p.typeInto("#login-username", "admin")
	p.typeInto("#login-password", "not-the-password")
	p.click("#login-submit")
	p.waitFor("the refusal", `document.querySelector('#login-error').textContent.includes('Wrong user name or password')`)
	p.typeInto("#login-password", adminPassword)
	p.click("#login-submit")
	p.waitFor("the dashboard", `document.querySelector('#who-name') && document.querySelector('#stats .stat')`)
	if who := p.text("#who-name"); who != "admin" {
		t.Errorf("signed in as %q", who)
	}
	if js[bool](p, `document.cookie.includes('lithair_session')`) {
		t.Errorf("the session cookie is readable by scripts")
	}

	// Create a product with a bad price: the server's message shows next
	// to the price input, and nothing is written.
	p.click(`a[data-nav="#/models/Product"]`)
	p.waitFor("the product list", `document.querySelector('#new-record')`)
	p.click("#new-record")
	p.waitFor("the create form", `document.querySelector('#record-form[data-model="Product"] #f-price')`)
	p.typeInto("#f-name", "Desk lamp")
	p.typeInto("#f-price", "-1")
	p.click("#save")
	p.waitFor("the price error", `document.querySelector('#e-price').textContent.includes('must be >= 0')`)
	if !js[bool](p, `document.querySelector('#e-price').closest('[data-field]').dataset.field === 'price' && document.querySelector('#f-price').getAttribute('aria-invalid') === 'true'`) {
		t.Errorf("the price error is not attached to the price field")
	}
	if other := p.text(`[data-field="name"] .field-error`); other != "" {
		t.Errorf("the name field shows an error of its own: %q", other)
	}
	p.shot("02-validation-error")
	if r := n.must("GET", "/api/products", ""); !strings.Contains(string(r.Body), `"items":[]`) {
		t.Fatalf("a refused create wrote something: %s", r.Body)
	}

	// Fix it: the record is created, its price kept digit for digit.
	p.typeInto("#f-price", "12.50")
	p.click("#save")
	p.waitFor("the new record's page", `/^#\/models\/Product\/[0-9a-f-]{36}$/.test(location.hash) && document.querySelector('#record-fields')`)
	id := p.text("#record-id")
	rec := n.must("GET", "/api/products/"+id, "")
	if rec.Status != 200 || !strings.Contains(string(rec.Body), `"price":12.50`) || !strings.Contains(string(rec.Body), `"name":"Desk lamp"`) {
		t.Fatalf("the created record: %d %s", rec.Status, rec.Body)
	}

	// Edit it: a second version.
	p.click("#edit-record")
	p.waitFor("the edit form", `document.querySelector('#record-form #f-price') && document.querySelector('#f-price').value === '12.50'`)
	p.typeInto("#f-price", "15")
	p.typeInto("#f-stock", "3")
	p.click("#save")
	p.waitFor("version 2", `document.querySelector('#record-card dd[data-field="version"]')?.textContent === '2'`)
	if got := p.text(`#record-fields dd[data-field="price"]`); got != "15" {
		t.Errorf("the record page shows price %q after the edit", got)
	}

	// Its history: both versions, with what changed between them.
	p.waitFor("two events", `document.querySelectorAll('#timeline li.tl-item').length === 2`)
	diff := js[map[string]string](p, `(() => {
		const v2 = document.querySelector('#timeline li[data-version="2"]');
		const row = (f) => v2.querySelector('tr[data-field="' + f + '"]');
		return {
			priceChange: row('price')?.dataset.change || '', priceOld: row('price')?.querySelector('.diff-old').textContent || '',
			priceNew: row('price')?.querySelector('.diff-new').textContent || '', stockNew: row('stock')?.querySelector('.diff-new').textContent || '',
			nameRow: row('name') ? 'present' : 'absent',
			v1: document.querySelector('#timeline li[data-version="1"]')?.dataset.kind || '',
			v1name: document.querySelector('#timeline li[data-version="1"] tr[data-field="name"]')?.dataset.change || '',
		};
	})()`)
	wantDiff := map[string]string{"priceChange": "changed", "priceOld": "12.50", "priceNew": "15", "stockNew": "3", "nameRow": "absent", "v1": "created", "v1name": "added"}
	for k, v := range wantDiff {
		if diff[k] != v {
			t.Errorf("timeline %s = %q, want %q (all: %v)", k, diff[k], v, diff)
		}
	}
	p.shot("03-record-history")
	p.click(`#timeline li[data-version="1"] .tl-link`)
	p.waitFor("version 1", `location.hash.endsWith('?version=1') && document.querySelector('#record-card dd[data-field="version"]')?.textContent === '1'`)
	if got := p.text(`#record-fields dd[data-field="price"]`); got != "12.50" {
		t.Errorf("version 1 shows price %q, want 12.50", got)
	}
	p.shot("04-record-version-1")

	// Delete it, after a confirmation; the history stays.
	p.goTo("#/models/Product/" + id)
	p.click("#delete-record")
	p.waitFor("the confirmation", `document.querySelector('dialog[open] [data-confirm]')`)
	p.shot("05-delete-confirmation")
	p.click("dialog[open] [data-confirm]")
	p.waitFor("the deletion in the timeline", `document.querySelectorAll('#timeline li.tl-item').length === 3 && document.querySelector('#timeline li').dataset.kind === 'deleted'`)
	if r := n.must("GET", "/api/products/"+id, ""); r.Status != 404 {
		t.Errorf("after the delete, GET answers %d", r.Status)
	}

	// The dashboard follows writes made elsewhere as they happen.
	p.goTo("#/")
	p.waitFor("the live events to start", `!document.querySelector('#events-mode').textContent.includes('connecting')`)
	before := p.text("#requests-total")
	created := n.must("POST", "/api/products", `{"name":"Made through the API","price":3}`)
	if created.Status != 201 {
		t.Fatalf("create through the API: %d %s", created.Status, created.Body)
	}
	newID := created.json(t)["id"].(string)
	p.waitFor("the API's write in the latest events", fmt.Sprintf(`document.querySelector('#live-events li[data-id=%q]')`, newID))
	p.waitFor("the request counter to move", fmt.Sprintf(`document.querySelector('#requests-total').textContent !== %q`, before))
	t.Logf("latest events came by: %s", p.text("#events-mode"))
	if os.Getenv("LITHAIR_ADMIN_SCREENSHOTS") != "" {
		for i := range 16 { // some traffic for the charts
			n.must("GET", "/api/products?limit="+fmt.Sprint(i+1), "")
			time.Sleep(500 * time.Millisecond)
		}
	}
	p.shot("06-dashboard")

	// Every other page renders without an error.
	for _, hash := range []string{"#/models", "#/models/Product", "#/audit", "#/audit?model=Product", "#/projections", "#/projections/SalesMetrics",
		"#/rules", "#/users", "#/cluster", "#/reference"} {
		p.goTo(hash)
		if e := p.text(".view .alert-danger"); e != "" {
			t.Errorf("%s shows an error: %s", hash, e)
		}
		p.shot("07-page-" + regexp.MustCompile(`\W+`).ReplaceAllString(strings.TrimPrefix(hash, "#/"), "-"))
	}
	p.goTo("#/audit?model=Product")
	if rows := js[int](p, `document.querySelectorAll('#audit-result tbody tr').length`); rows < 4 {
		t.Errorf("the audit log of Product shows %d entries, want 4 (create, update, delete, create)", rows)
	}
	p.goTo("#/rules")
	p.click("#reload-rules")
	p.waitFor("the reload's outcome", `document.querySelector('#reload-outcome .alert')`)
	if got := p.text("#reload-outcome"); !strings.Contains(got, "Unchanged") {
		t.Errorf("reloading unchanged rules says %q", got)
	}
	// A bad rule file: the reload is refused with file:line, the old
	// rules stay.
	const good, bad = `type = "number", min = 0, indexed = true`, `type = "nummber", min = 0, indexed = true`
	editRule(t, rules, "product.lua", good, bad)
	p.click("#reload-rules")
	p.waitFor("the refusal", `document.querySelector('#reload-outcome .alert-danger #rule-errors .place')`)
	if place := p.text("#reload-outcome .place"); !regexp.MustCompile(`^product\.lua:\d+$`).MatchString(place) {
		t.Errorf("the refusal names %q, want product.lua:LINE", place)
	}
	if got := p.text("#reload-outcome"); !strings.Contains(got, `unknown type "nummber"`) {
		t.Errorf("the refusal says %q", got)
	}
	p.waitFor("the last reload marked refused", `document.querySelector('#last-reload').textContent.includes('refused')`)
	p.shot("08-rules-refused")
	editRule(t, rules, "product.lua", bad, good)
	p.click("#reload-rules")
	p.waitFor("the reload after the fix", `document.querySelector('#reload-outcome').textContent.includes('Unchanged')`)
	p.goTo("#/users")
	p.click("#tokens + details > summary")
	p.typeInto("#new-token-name", "browser-test")
	p.click("#new-token button[type=submit]")
	p.waitFor("the new token's secret", `document.querySelector('#new-token-value')?.textContent.startsWith('lth_')`)
	p.waitFor("the token in the list", `[...document.querySelectorAll('#tokens td')].some((td) => td.textContent === 'browser-test')`)
	p.shot("09-token-created")

	// Every write carried the page's header and no bearer token; no
	// request left the server.
	p.mu.Lock()
	writes := 0
	for _, r := range p.requests {
		if !strings.HasPrefix(r.url, n.baseURL+"/") && !strings.HasPrefix(r.url, "data:") {
			t.Errorf("the page requested another origin: %s %s", r.method, r.url)
		}
		if r.method == "GET" || r.method == "HEAD" {
			continue
		}
		writes++
		if r.headers["x-requested-with"] != "lithair-admin" || r.headers["authorization"] != "" {
			t.Errorf("%s %s went with headers %v", r.method, r.url, r.headers)
		}
	}
	p.mu.Unlock()
	if writes < 6 {
		t.Errorf("saw %d writes from the page, want at least 6", writes)
	}

	// Dark mode follows the system.
	light := js[string](p, `getComputedStyle(document.body).backgroundColor`)
	if _, err := chromedp.Call(p.ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
		Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: "dark"}}}); err != nil {
		t.Fatal(err)
	}
	p.goTo("#/")
	if dark := js[string](p, `getComputedStyle(document.body).backgroundColor`); dark == light {
		t.Errorf("the background is %s in light and dark mode", dark)
	}
	p.shot("10-dashboard-dark")

	// Signing out ends the session.
	p.click("#logout")
	p.waitFor("the sign-in form", `document.querySelector('#login-username')`)
	if st := js[int](p, `fetch('/api/_auth/me').then((r) => r.status)`); st != 401 {
		t.Errorf("after signing out, /api/_auth/me answers %d", st)
	}
	p.checkClean()

	t.Run("phone", func(t *testing.T) {
		p := openTab(t, browser, n.baseURL)
		p.do(chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile, chromedp.EmulateScale(2)))
		p.signIn()
		overflow := `document.documentElement.scrollWidth > window.innerWidth + 1`
		if js[bool](p, overflow) {
			t.Errorf("the dashboard is wider than a phone: %d px", js[int](p, `document.documentElement.scrollWidth`))
		}
		if !js[bool](p, `document.getElementById('sidebar').getBoundingClientRect().right <= 0 && document.querySelector('.menu-toggle').offsetParent !== null`) {
			t.Errorf("on a phone the sidebar should hide behind the menu button")
		}
		p.shot("11-phone-dashboard")
		p.click(".menu-toggle")
		p.waitFor("the sidebar to slide in", `document.getElementById('sidebar').getBoundingClientRect().left >= 0`)
		p.shot("12-phone-menu")
		p.click(`a[data-nav="#/models/Product"]`)
		p.waitFor("the product list", `location.hash === '#/models/Product' && document.querySelector('.records') && !document.querySelector('.layout').classList.contains('nav-open')`)
		if js[bool](p, overflow) {
			t.Errorf("the product list is wider than a phone: %d px", js[int](p, `document.documentElement.scrollWidth`))
		}
		p.shot("13-phone-list")
		p.goTo("#/models/Product/new")
		if js[bool](p, overflow) {
			t.Errorf("the form is wider than a phone")
		}
		p.shot("14-phone-form")
		p.checkClean()
	})

	// A server without the event stream (501) still shows the latest
	// changes: the dashboard says so and polls the audit trail.
	t.Run("without the event stream", func(t *testing.T) {
		p := openTab(t, browser, n.baseURL)
		paused := chromedp.Events(p.ctx, fetch.RequestPaused)
		go func() {
			for ev, err := range paused {
				if err != nil {
					return
				}
				chromedp.Call(p.ctx, fetch.FulfillRequest, fetch.FulfillRequestParams{RequestID: ev.RequestID, ResponseCode: 501,
					ResponseHeaders: []*fetch.HeaderEntry{{Name: "Content-Type", Value: "application/json"}},
					Body:            []byte(`{"error":{"code":"not_implemented","message":"the event stream is being built"}}`)})
			}
		}()
		if _, err := chromedp.Call(p.ctx, fetch.Enable, fetch.EnableParams{Patterns: []*fetch.RequestPattern{{URLPattern: "*/api/_events*"}}}); err != nil {
			t.Fatal(err)
		}
		p.signIn()
		p.waitFor("the polling notice", `document.querySelector('#events-mode').textContent.includes('polling') && document.querySelector('#events-notice').textContent.includes('HTTP 501')`)
		created := n.must("POST", "/api/products", `{"name":"Seen by polling","price":4}`)
		if created.Status != 201 {
			t.Fatalf("create through the API: %d %s", created.Status, created.Body)
		}
		p.waitFor("the write in the latest events", fmt.Sprintf(`document.querySelector('#live-events li[data-id=%q]')`, created.json(t)["id"].(string)))
		p.shot("15-dashboard-polling")
		p.checkClean()
	})
}
