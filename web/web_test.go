package web

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sharedmedcard/gateway/internal/testservers"
	"github.com/sharedmedcard/gateway/medcard"
	"github.com/sharedmedcard/gateway/shard"
	"github.com/sharedmedcard/gateway/web/account"
)

var (
	testPG   *testservers.Postgres
	startErr error
	dbs      int
)

func TestMain(m *testing.M) {
	testPG, startErr = testservers.StartPostgres()
	code := m.Run()
	testPG.Stop()
	os.Exit(code)
}

// uiEnv is the UI over a fresh catalog with one pharmacist, served by an
// httptest server.
type uiEnv struct {
	t        *testing.T
	server   *httptest.Server
	accounts *account.Store
	catalog  *pgxpool.Pool
}

const (
	pharmacist = "pia"
	password   = "pia's long password"
)

func startUI(t *testing.T, opts account.Options) *uiEnv {
	t.Helper()
	testservers.RequireT(t, startErr)
	dbs++
	name := fmt.Sprintf("webcatalog%d", dbs)
	if err := testPG.CreateDatabase(name); err != nil {
		t.Fatal(err)
	}
	if _, err := shard.MigrateCatalog(t.Context(), testPG.DSN(name)); err != nil {
		t.Fatal(err)
	}
	pool, err := pgxpool.New(context.Background(), testPG.DSN(name))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	accounts := account.NewStore(pool, opts)
	if err := accounts.AddUser(t.Context(), account.User{Name: pharmacist, Organisation: "pharmacy-a", Role: medcard.RolePharmacist}, password); err != nil {
		t.Fatal(err)
	}
	h, err := New(Config{Accounts: accounts})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &uiEnv{t: t, server: srv, accounts: accounts, catalog: pool}
}

// browser is a client with a cookie jar that does not follow redirects,
// so each answer can be checked.
func (e *uiEnv) browser() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func (e *uiEnv) get(c *http.Client, path string) (int, string) {
	e.t.Helper()
	resp, err := c.Get(e.server.URL + path)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func (e *uiEnv) post(c *http.Client, path string, form url.Values) (*http.Response, string) {
	e.t.Helper()
	resp, err := c.PostForm(e.server.URL+path, form)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrfOf is the CSRF token of the first form of a page.
func csrfOf(t *testing.T, body string) string {
	t.Helper()
	m := csrfField.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no CSRF field in the page:\n%s", body)
	}
	return m[1]
}

func (e *uiEnv) cookie(c *http.Client, name string) string {
	u, _ := url.Parse(e.server.URL + Path + "/")
	for _, ck := range c.Jar.Cookies(u) {
		if ck.Name == name {
			return ck.Value
		}
	}
	return ""
}

// signIn signs in through the form and returns the home page.
func (e *uiEnv) signIn(c *http.Client, user, pw string) (*http.Response, string) {
	e.t.Helper()
	_, page := e.get(c, Path+"/signin")
	return e.post(c, Path+"/signin", url.Values{"csrf": {csrfOf(e.t, page)}, "user": {user}, "password": {pw}})
}

func TestSignInAndOut(t *testing.T) {
	e := startUI(t, account.Options{})
	c := e.browser()

	// Not signed in: every page leads to the sign-in page.
	resp, err := c.Get(e.server.URL + Path + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != Path+"/signin" {
		t.Fatalf("GET / signed out = %d to %q, want 303 to the sign-in page", resp.StatusCode, resp.Header.Get("Location"))
	}
	status, page := e.get(c, Path+"/signin")
	if status != http.StatusOK || !strings.Contains(page, `name="password"`) {
		t.Fatalf("sign-in page = %d:\n%s", status, page)
	}

	// A session cookie planted before sign-in is not the one after it.
	u, _ := url.Parse(e.server.URL + Path + "/")
	c.Jar.SetCookies(u, []*http.Cookie{{Name: sessionCookie, Value: "planted-by-an-attacker", Path: Path}})
	resp, _ = e.post(c, Path+"/signin", url.Values{"csrf": {csrfOf(t, page)}, "user": {pharmacist}, "password": {password}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-in = %d, want 303", resp.StatusCode)
	}
	first := e.cookie(c, sessionCookie)
	if first == "" || first == "planted-by-an-attacker" {
		t.Fatalf("session cookie after sign-in = %q: not renewed", first)
	}
	for _, ck := range resp.Cookies() {
		if ck.Name == sessionCookie && (!ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode || ck.Path != Path) {
			t.Errorf("session cookie %+v: want HttpOnly, SameSite=Strict, Path=%s", ck, Path)
		}
	}
	status, home := e.get(c, Path+"/")
	if status != http.StatusOK || !strings.Contains(home, "pharmacy-a") || !strings.Contains(home, "Find a citizen") {
		t.Fatalf("home after sign-in = %d:\n%s", status, home)
	}
	if csp := mustGetHeader(t, e, c, "Content-Security-Policy"); strings.Contains(csp, "unsafe-inline") || !strings.Contains(csp, "default-src 'none'") {
		t.Errorf("Content-Security-Policy %q", csp)
	}

	// A second sign-in in the same browser gets a new session id again.
	e.signIn(c, pharmacist, password)
	if second := e.cookie(c, sessionCookie); second == first || second == "" {
		t.Errorf("a second sign-in kept the session id")
	}

	// Sign-out needs the session's CSRF token.
	_, home = e.get(c, Path+"/")
	if resp, _ := e.post(c, Path+"/signout", url.Values{"csrf": {"wrong"}}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("sign-out with a wrong CSRF token = %d, want 403", resp.StatusCode)
	}
	if resp, _ := e.post(c, Path+"/signout", url.Values{}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("sign-out without a CSRF token = %d, want 403", resp.StatusCode)
	}
	if status, _ := e.get(c, Path+"/"); status != http.StatusOK {
		t.Fatalf("refused sign-outs ended the session (%d)", status)
	}
	if resp, _ := e.post(c, Path+"/signout", url.Values{"csrf": {csrfOf(t, home)}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-out = %d, want 303", resp.StatusCode)
	}
	if status, _ := e.get(c, Path+"/"); status != http.StatusSeeOther {
		t.Errorf("home after sign-out = %d, want 303 to sign-in", status)
	}
}

func mustGetHeader(t *testing.T, e *uiEnv, c *http.Client, name string) string {
	t.Helper()
	resp, err := c.Get(e.server.URL + Path + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.Header.Get(name)
}

func TestSignInRefusals(t *testing.T) {
	e := startUI(t, account.Options{FreeAttempts: 2})
	c := e.browser()

	// Without the sign-in form's token, or with another's, nothing happens.
	_, page := e.get(c, Path+"/signin")
	if resp, _ := e.post(c, Path+"/signin", url.Values{"user": {pharmacist}, "password": {password}}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("sign-in without a CSRF token = %d, want 403", resp.StatusCode)
	}
	other := e.browser()
	if resp, _ := e.post(other, Path+"/signin", url.Values{"csrf": {csrfOf(t, page)}, "user": {pharmacist}, "password": {password}}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("sign-in with another browser's form token = %d, want 403", resp.StatusCode)
	}
	if e.cookie(other, sessionCookie) != "" {
		t.Error("a refused sign-in set a session cookie")
	}

	// Wrong passwords: the same message as an unknown user, then a back-off.
	for i, user := range []string{pharmacist, "nobody", pharmacist, pharmacist} {
		resp, body := e.signIn(c, user, "not the password")
		if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "Wrong user name or password") {
			t.Fatalf("wrong password %d = %d:\n%s", i, resp.StatusCode, body)
		}
	}
	resp, body := e.signIn(c, pharmacist, password)
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" || !strings.Contains(body, "try again in") {
		t.Fatalf("the right password during the back-off = %d (Retry-After %q):\n%s", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
	if e.cookie(c, sessionCookie) != "" {
		t.Error("a sign-in during the back-off set a session cookie")
	}
}
