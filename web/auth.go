package web

import (
	"crypto/rand"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/sharedmedcard/gateway/web/account"
)

// signInTokenAge is how long a sign-in form stays valid.
const signInTokenAge = time.Hour

// signInPage shows the sign-in form with a fresh CSRF token, also set as a
// cookie: the POST must carry both, and equal.
func (u *UI) signInPage(w http.ResponseWriter, r *http.Request) {
	u.showSignIn(w, r, http.StatusOK, "")
}

func (u *UI) showSignIn(w http.ResponseWriter, r *http.Request, status int, msg string) {
	token := newToken()
	u.setCookie(w, r, signInCookie, token, signInTokenAge)
	u.render(w, r, status, "signin", page{Title: "Sign in", Error: msg, Data: map[string]string{"CSRF": token}})
}

func (u *UI) signIn(w http.ResponseWriter, r *http.Request) {
	c, err := r.Cookie(signInCookie)
	if err != nil || !sameToken(r.PostFormValue("csrf"), c.Value) {
		u.showSignIn(w, r, http.StatusForbidden, "The sign-in form had expired; please sign in again.")
		return
	}
	sess, err := u.accounts.SignIn(r.Context(), r.PostFormValue("user"), r.PostFormValue("password"))
	var locked *account.LockedError
	switch {
	case errors.As(err, &locked):
		w.Header().Set("Retry-After", retryAfter(locked.RetryIn))
		u.showSignIn(w, r, http.StatusTooManyRequests, locked.Error()+".")
		return
	case errors.Is(err, account.ErrSignInFailed):
		u.showSignIn(w, r, http.StatusUnauthorized, "Wrong user name or password.")
		return
	case err != nil:
		u.fail(w, r, err)
		return
	}
	u.setCookie(w, r, signInCookie, "", -1)
	u.setCookie(w, r, sessionCookie, sess.Token, 0) // a browser-session cookie; the server ends it
	http.Redirect(w, r, Path+"/", http.StatusSeeOther)
}

func (u *UI) signOut(w http.ResponseWriter, r *http.Request) {
	if err := u.accounts.SignOut(r.Context(), sessionOf(r).Token); err != nil {
		u.fail(w, r, err)
		return
	}
	u.setCookie(w, r, sessionCookie, "", -1)
	http.Redirect(w, r, Path+"/signin", http.StatusSeeOther)
}

func (u *UI) home(w http.ResponseWriter, r *http.Request) {
	u.render(w, r, http.StatusOK, "home", page{Title: "Find a citizen"})
}

func retryAfter(d time.Duration) string {
	s := int(d.Round(time.Second).Seconds())
	if s < 1 {
		s = 1
	}
	return strconv.Itoa(s)
}

// newToken is 128 random bits as text.
func newToken() string { return rand.Text() }
