// Package web is the pharmacists' web UI, served by the gateway itself at
// /ui/: sign-in, finding a citizen, the card, dispensing, settling
// conflicts and the pharmacy's order inbox. Pages are html/template with
// embedded assets and work without JavaScript; every change and look-up
// goes through the medicine card service, as the signed-in user
// (account.User.Caller), so it is audited like a SOAP call.
//
// Safety: the session cookie is HttpOnly, SameSite=Strict, Secure over TLS,
// and its id is new at every sign-in (web/account); every form carries the
// session's CSRF token (the sign-in form a token of its own, double
// submitted in a cookie), and cross-origin POSTs are refused besides
// (net/http.CrossOriginProtection); a strict Content-Security-Policy allows
// no inline script or style; a CPR number is only ever sent in a POST body,
// never in a URL, and never logged.
package web

import (
	"context"
	"crypto/subtle"
	"embed"
	"errors"
	"html/template"
	"io/fs"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"
	"go.uber.org/zap"

	"github.com/sharedmedcard/gateway/web/account"
)

// Path is where the UI is mounted.
const Path = "/ui"

//go:embed templates/*.html
var templateFiles embed.FS

//go:embed static
var staticFiles embed.FS

// Accounts is what the UI needs of the user store.
type Accounts interface {
	SignIn(ctx context.Context, name, password string) (*account.Session, error)
	Session(ctx context.Context, token string) (*account.Session, error)
	SignOut(ctx context.Context, token string) error
}

// Config is what the UI is built from.
type Config struct {
	Accounts Accounts
	Cards    Cards
	Log      *zap.Logger
	// SecureCookies marks the cookies Secure on requests without TLS too:
	// TLS ends at a proxy in front, so the browser speaks HTTPS.
	SecureCookies bool
}

// UI serves the pages.
type UI struct {
	accounts      Accounts
	cards         Cards
	log           *zap.Logger
	pages         map[string]*template.Template
	secureCookies bool
}

// New returns the UI's handler, which serves the paths under Path.
func New(cfg Config) (http.Handler, error) {
	u := &UI{accounts: cfg.Accounts, cards: cfg.Cards, log: cfg.Log, pages: map[string]*template.Template{},
		secureCookies: cfg.SecureCookies}
	if u.log == nil {
		u.log = zap.NewNop()
	}
	for _, page := range []string{"signin", "home", "card", "inbox", "accesslog"} {
		t, err := template.New("layout.html").Funcs(templateFuncs).ParseFS(templateFiles, "templates/layout.html", "templates/"+page+".html")
		if err != nil {
			return nil, err
		}
		u.pages[page] = t
	}
	static, err := fs.Sub(staticFiles, "static")
	if err != nil {
		return nil, err
	}
	r := chi.NewRouter()
	r.Use(secureHeaders)
	r.Get(Path, http.RedirectHandler(Path+"/", http.StatusMovedPermanently).ServeHTTP)
	r.Route(Path, func(r chi.Router) {
		r.Handle("/static/*", http.StripPrefix(Path+"/static/", http.FileServerFS(static)))
		r.Get("/signin", u.signInPage)
		r.Post("/signin", u.signIn)
		r.Group(func(r chi.Router) {
			r.Use(u.requireSession)
			r.Get("/", u.home)
			r.Post("/signout", u.signOut)
			r.Post("/card", u.showCard)
			r.Post("/card/action", u.action)
			r.Post("/card/log", u.showAccessLog)
			r.Get("/inbox", u.inbox)
			r.Post("/inbox/acknowledge", u.acknowledge)
		})
	})
	// Refuses cross-origin POSTs by the browser's Sec-Fetch-Site and Origin
	// headers, beside the tokens.
	return http.NewCrossOriginProtection().Handler(r), nil
}

// templateFuncs are the few helpers the pages need.
var templateFuncs = template.FuncMap{
	"add1": func(n int) int { return n + 1 },
	// when is a moment as the counter reads it: Danish time, to the minute.
	"when": func(t time.Time) string { return t.In(danishTime).Format("2006-01-02 15:04") },
}

// danishTime is the zone of the UI's clock times (the tz database is
// embedded by medcard's import of time/tzdata).
var danishTime = func() *time.Location {
	loc, err := time.LoadLocation("Europe/Copenhagen")
	if err != nil {
		return time.UTC
	}
	return loc
}()

// contentSecurityPolicy allows only the UI's own styles, images and
// scripts, no inline ones, no framing, forms only to the UI.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; " +
	"form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

func secureHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", contentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Cache-Control", "no-store") // pages hold card data
		next.ServeHTTP(w, r)
	})
}

// Cookie names.
const (
	sessionCookie = "medcard_session"
	signInCookie  = "medcard_signin" // the sign-in form's CSRF token
)

type sessionKey struct{}

// sessionOf is the signed-in session of a request behind requireSession.
func sessionOf(r *http.Request) *account.Session {
	s, _ := r.Context().Value(sessionKey{}).(*account.Session)
	return s
}

// requireSession lets only signed-in requests through (others go to the
// sign-in page) and checks every POST's CSRF token against the session's.
func (u *UI) requireSession(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var token string
		if c, err := r.Cookie(sessionCookie); err == nil {
			token = c.Value
		}
		sess, err := u.accounts.Session(r.Context(), token)
		if errors.Is(err, account.ErrNoSession) {
			http.Redirect(w, r, Path+"/signin", http.StatusSeeOther)
			return
		}
		if err != nil {
			u.fail(w, r, err)
			return
		}
		if r.Method == http.MethodPost && !sameToken(r.PostFormValue("csrf"), sess.CSRF) {
			u.refuse(w, r, http.StatusForbidden, "This form has expired or did not come from this page. Go back, reload and try again.")
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), sessionKey{}, sess)))
	})
}

func sameToken(got, want string) bool {
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

// setCookie sets an HttpOnly, SameSite=Strict cookie on the UI's path,
// Secure when the request came over TLS (to us, or to a proxy in front:
// Config.SecureCookies).
func (u *UI) setCookie(w http.ResponseWriter, r *http.Request, name, value string, maxAge time.Duration) {
	c := &http.Cookie{Name: name, Value: value, Path: Path, HttpOnly: true, SameSite: http.SameSiteStrictMode,
		Secure: r.TLS != nil || u.secureCookies, MaxAge: int(maxAge.Seconds())}
	if maxAge < 0 {
		c.MaxAge = -1
	}
	http.SetCookie(w, c)
}

// page is what every template gets.
type page struct {
	Title   string
	Session *account.Session
	Error   string
	Data    any
}

func (u *UI) render(w http.ResponseWriter, r *http.Request, status int, name string, p page) {
	if p.Session == nil {
		p.Session = sessionOf(r)
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if err := u.pages[name].Execute(w, p); err != nil {
		u.log.Error("ui: render page", zap.String("page", name), zap.Error(err))
	}
}

// refuse shows a message on the page the user is on (or the home page).
func (u *UI) refuse(w http.ResponseWriter, r *http.Request, status int, msg string) {
	if sessionOf(r) == nil && r.URL.Path != Path+"/signin" {
		http.Error(w, msg, status)
		return
	}
	name := "home"
	if sessionOf(r) == nil {
		name = "signin"
	}
	u.render(w, r, status, name, page{Title: "Medicine card", Error: msg})
}

// fail is an unexpected error: logged (without card data), and shown as a
// plain message, never a trace.
func (u *UI) fail(w http.ResponseWriter, r *http.Request, err error) {
	u.log.Error("ui request failed", zap.String("path", r.URL.Path), zap.Error(err))
	http.Error(w, "Something went wrong on our side; try again in a moment.", http.StatusInternalServerError)
}
