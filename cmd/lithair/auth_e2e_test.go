package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"
)

// cli runs the binary with stdin, as an operator at a shell would.
func cli(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(lithairBinary(t), args...)
	cmd.Dir = "../.."
	cmd.Env = append(os.Environ(), "LITHAIR_AUTH_INITIAL_ADMIN_PASSWORD="+adminPassword)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), out.String(), errOut.String()
	} else if err != nil {
		t.Fatal(err)
	}
	return 0, out.String(), errOut.String()
}

// login signs in and returns the session token.
func login(t *testing.T, n *node, user, password string) string {
	t.Helper()
	r := n.must("POST", "/api/_auth/login", `{"username":"`+user+`","password":"`+password+`"}`, anonymous...)
	if r.Status != 200 {
		t.Fatalf("login %s: %d %s", user, r.Status, r.Body)
	}
	tok, _ := r.json(t)["token"].(string)
	if !strings.HasPrefix(tok, "lths_") {
		t.Fatalf("login %s: token %q", user, tok)
	}
	return tok
}

func bearer(tok string) []string { return []string{"Authorization", "Bearer " + tok} }

var printedPassword = regexp.MustCompile(`Sign in as admin with password: (\S+)`)

func TestFirstStartPrintsTheAdminPasswordOnce(t *testing.T) {
	dir := t.TempDir()
	n := startWithEnv(t, dir, []string{"LITHAIR_AUTH_INITIAL_ADMIN_PASSWORD="})
	deadline := time.Now().Add(20 * time.Second)
	var m []string
	for m == nil && time.Now().Before(deadline) {
		m = printedPassword.FindStringSubmatch(n.logs())
		time.Sleep(20 * time.Millisecond)
	}
	if m == nil {
		t.Fatalf("no admin password printed:\n%s", n.logs())
	}
	tok := login(t, n, "admin", m[1])
	if me := n.must("GET", "/api/_auth/me", "", bearer(tok)...).json(t); me["name"] != "admin" {
		t.Fatalf("me: %v", me)
	}
	if r := n.must("POST", "/api/_auth/login", `{"username":"admin","password":"`+m[1]+`x"}`, anonymous...); r.Status != 401 {
		t.Fatalf("a wrong password: %d", r.Status)
	}
	if strings.Contains(n.logs(), `"password"`) {
		t.Errorf("a password field reached the log")
	}
	n.stop()
	n = startWithEnv(t, dir, []string{"LITHAIR_AUTH_INITIAL_ADMIN_PASSWORD="})
	time.Sleep(300 * time.Millisecond)
	if strings.Contains(n.logs(), "Sign in as admin") {
		t.Fatalf("the password was printed again on a later start:\n%s", n.logs())
	}
}

func TestUsersTokensAndSessions(t *testing.T) {
	dir := t.TempDir()
	// A user added while the server is stopped (here: never started).
	if code, out, errOut := cli(t, "editor-password\n", "user", "add", "ed", "--role", "editor", "--password-stdin", "--data", dir); code != 0 {
		t.Fatalf("user add on a stopped data dir: %d %s %s", code, out, errOut)
	}
	n := startNode(t, dir, "--set", "auth.session_ttl=2s")
	// And one added while it runs, through the admin socket.
	if code, out, errOut := cli(t, "customer-password\n", "user", "add", "cat", "--role", "customer", "--password-stdin", "--data", dir); code != 0 {
		t.Fatalf("user add on a running node: %d %s %s", code, out, errOut)
	}
	code, out, _ := cli(t, "", "user", "list", "--data", dir)
	if code != 0 || !strings.Contains(out, "ed ") || !strings.Contains(out, "cat ") || strings.Contains(out, "argon2") {
		t.Fatalf("user list: %d %s", code, out)
	}
	users := n.must("GET", "/api/_users", "")
	if users.Status != 200 || bytes.Contains(users.Body, []byte("password")) || bytes.Contains(users.Body, []byte("argon2")) {
		t.Fatalf("GET /api/_users: %d %s", users.Status, users.Body)
	}

	ed, cat := login(t, n, "ed", "editor-password"), login(t, n, "cat", "customer-password")
	r := n.must("POST", "/api/_auth/login", `{"username":"cat","password":"customer-password"}`, anonymous...)
	var cookie *http.Cookie
	for _, c := range (&http.Response{Header: r.Header}).Cookies() {
		if c.Name == "lithair_session" {
			cookie = c
		}
	}
	if cookie == nil || !cookie.HttpOnly || cookie.SameSite != http.SameSiteStrictMode {
		t.Fatalf("session cookie: %+v", cookie)
	}

	// Roles: anonymous 401, a customer 403, an editor 201.
	body := `{"name":"lamp","price":10,"cost":4}`
	if r := n.must("POST", "/api/products", body, anonymous...); r.Status != 401 {
		t.Fatalf("anonymous create: %d %s", r.Status, r.Body)
	}
	if r := n.must("POST", "/api/products", body, bearer(cat)...); r.Status != 403 {
		t.Fatalf("customer create: %d %s", r.Status, r.Body)
	}
	r = n.must("POST", "/api/products", body, bearer(ed)...)
	if r.Status != 201 {
		t.Fatalf("editor create: %d %s", r.Status, r.Body)
	}
	id := r.json(t)["id"].(string)
	// Hidden fields never leave the server for those who may not read them.
	for _, path := range []string{"/api/products/" + id, "/api/products", "/api/products/" + id + "/events", "/api/products/" + id + "?version=1"} {
		if r := n.must("GET", path, "", anonymous...); r.Status != 200 || bytes.Contains(r.Body, []byte("cost")) {
			t.Errorf("anonymous GET %s: %d %s", path, r.Status, r.Body)
		}
		if r := n.must("GET", path, "", bearer(ed)...); !bytes.Contains(r.Body, []byte(`"cost":4`)) {
			t.Errorf("editor GET %s: %d %s", path, r.Status, r.Body)
		}
	}

	// Customers see only their own orders, lists included.
	mine := n.must("POST", "/api/orders", `{"product_id":"`+id+`","quantity":1}`, bearer(cat)...)
	theirs := n.must("POST", "/api/orders", `{"product_id":"`+id+`","quantity":2}`, bearer(ed)...)
	if mine.Status != 201 || theirs.Status != 201 {
		t.Fatalf("orders: %d %s / %d %s", mine.Status, mine.Body, theirs.Status, theirs.Body)
	}
	theirID := theirs.json(t)["id"].(string)
	if r := n.must("GET", "/api/orders/"+theirID, "", bearer(cat)...); r.Status != 404 {
		t.Errorf("a customer reads another's order: %d %s", r.Status, r.Body)
	}
	if r := n.must("PATCH", "/api/orders/"+theirID, `{"quantity":9}`, bearer(cat)...); r.Status != 404 {
		t.Errorf("a customer patches another's order: %d %s", r.Status, r.Body)
	}
	var list struct{ Items []map[string]any }
	json.Unmarshal(n.must("GET", "/api/orders", "", bearer(cat)...).Body, &list)
	if len(list.Items) != 1 || list.Items[0]["id"] != mine.json(t)["id"] {
		t.Errorf("a customer's list: %v", list.Items)
	}
	if r := n.must("PATCH", "/api/orders/"+mine.json(t)["id"].(string), `{"status":"shipped"}`, bearer(cat)...); r.Status != 403 {
		t.Errorf("a customer sets a staff-only field: %d %s", r.Status, r.Body)
	}
	if r := n.must("GET", "/api/_audit", "", bearer(ed)...); r.Status != 403 {
		t.Errorf("an editor reads the audit: %d", r.Status)
	}

	// API tokens: made by an admin, shown once, listed without the secret, revocable.
	r = n.must("POST", "/api/_tokens", `{"name":"ci","roles":["editor"]}`)
	if r.Status != 201 {
		t.Fatalf("token create: %d %s", r.Status, r.Body)
	}
	tok := r.json(t)
	secret := tok["token"].(string)
	if !strings.HasPrefix(secret, "lth_") {
		t.Fatalf("token %q", secret)
	}
	if l := n.must("GET", "/api/_tokens", ""); bytes.Contains(l.Body, []byte(secret)) || bytes.Contains(l.Body, []byte("token_hash")) {
		t.Fatalf("token list shows a secret: %s", l.Body)
	}
	if r := n.must("POST", "/api/categories", `{"name":"lamps"}`, bearer(secret)...); r.Status != 201 {
		t.Fatalf("write with an API token: %d %s", r.Status, r.Body)
	}
	n.must("DELETE", "/api/_tokens/"+tok["id"].(string), "")
	if r := n.must("GET", "/api/products", "", bearer(secret)...); r.Status != 401 {
		t.Fatalf("a revoked token: %d", r.Status)
	}
	if r := n.must("GET", "/api/products", "", bearer(secret[:len(secret)-2]+"xx")...); r.Status != 401 {
		t.Fatalf("a forged token: %d", r.Status)
	}

	// Logout revokes; sessions expire.
	if r := n.must("POST", "/api/_auth/logout", "", bearer(cat)...); r.Status != 204 {
		t.Fatalf("logout: %d %s", r.Status, r.Body)
	}
	if r := n.must("GET", "/api/_auth/me", "", bearer(cat)...); r.Status != 401 {
		t.Fatalf("after logout: %d", r.Status)
	}
	time.Sleep(2100 * time.Millisecond)
	if r := n.must("GET", "/api/_auth/me", "", bearer(ed)...); r.Status != 401 || r.json(t)["error"].(map[string]any)["code"] != "token_expired" {
		t.Fatalf("an expired session: %d %s", r.Status, r.Body)
	}

	// The last admin cannot be removed.
	if code, _, errOut := cli(t, "", "user", "remove", "admin", "--data", dir); code == 0 || !strings.Contains(errOut, "last enabled admin") {
		t.Fatalf("removing the last admin: %d %s", code, errOut)
	}
	// Users are audited: the audit trail names who made them.
	n.token = "" // the harness's own session expired too
	if a := n.must("GET", "/api/_audit?model=_User", ""); !bytes.Contains(a.Body, []byte(`"user":"local-admin"`)) || bytes.Contains(a.Body, []byte("argon2")) {
		t.Fatalf("audit of users: %s", a.Body)
	}
}
