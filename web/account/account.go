// Package account keeps the web UI's users and their sessions in the
// catalog (migrations/catalog/004_ui_users.sql): adding, listing, disabling
// users and setting their passwords (for `gateway user`), signing in with
// a back-off after wrong passwords, and the sessions a signed-in browser
// holds, with their idle timeout and CSRF token.
package account

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"regexp"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sharedmedcard/gateway/medcard"
)

// User is one UI user: who acts for which organisation (the pharmacy) in
// which role.
type User struct {
	Name         string       `json:"name"`
	Organisation string       `json:"organisation"`
	Role         medcard.Role `json:"role"`
	Disabled     bool         `json:"disabled"`
	CreatedAt    time.Time    `json:"createdAt"`
	// LockedUntil is the end of the back-off after wrong passwords, if any.
	LockedUntil *time.Time `json:"lockedUntil,omitempty"`
}

// Caller is how the medicine card service sees the user: the UI as the
// system, the pharmacy as the organisation, and the user's name as the
// acting user, so every look-up's and change's audit row (and the
// citizen's access log) names the person at the counter. The name is the
// authorisation id as well, which stamps the items the user changes.
func (u User) Caller() medcard.Caller {
	return medcard.Caller{System: UISystem, Organisation: u.Organisation, Role: u.Role, AuthorisationID: u.Name, ActingUser: u.Name}
}

// UISystem is the system name the UI's calls are audited under.
const UISystem = "web-ui"

// Options are the limits of sign-in and sessions.
type Options struct {
	// IdleTimeout ends a session not used for this long (default 15 min).
	IdleTimeout time.Duration
	// MaxAge ends a session this long after sign-in, used or not (12 h).
	MaxAge time.Duration
	// FreeAttempts is how many wrong passwords in a row cost nothing (3);
	// each one after locks the user out for twice as long as the one
	// before, from 1 s up to MaxLockout (15 min).
	FreeAttempts int
	MaxLockout   time.Duration
}

func (o Options) withDefaults() Options {
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = 15 * time.Minute
	}
	if o.MaxAge <= 0 {
		o.MaxAge = 12 * time.Hour
	}
	if o.FreeAttempts <= 0 {
		o.FreeAttempts = 3
	}
	if o.MaxLockout <= 0 {
		o.MaxLockout = 15 * time.Minute
	}
	return o
}

// Store is the users and sessions in the catalog database.
type Store struct {
	pool *pgxpool.Pool
	opts Options
}

// NewStore returns the store over the catalog's pool.
func NewStore(pool *pgxpool.Pool, opts Options) *Store {
	return &Store{pool: pool, opts: opts.withDefaults()}
}

// Errors a caller shows the user, or an operator.
var (
	ErrUserExists  = errors.New("a user of that name exists already")
	ErrNoSuchUser  = errors.New("no user of that name")
	ErrBadUserName = errors.New("a user name is 2-40 characters: a lower-case letter first, then lower-case letters, digits, '.', '_' or '-'")
	// ErrSignInFailed is a wrong user name or password, or a disabled
	// user: the UI does not say which.
	ErrSignInFailed = errors.New("wrong user name or password")
	// ErrNoSession is a session that does not exist, has ended (sign-out,
	// idle timeout, maximum age) or whose user was disabled.
	ErrNoSession = errors.New("not signed in, or the session has ended")
)

// LockedError is a sign-in refused during the back-off after wrong
// passwords; the password was not checked.
type LockedError struct{ RetryIn time.Duration }

func (e *LockedError) Error() string {
	return fmt.Sprintf("too many wrong passwords: try again in %s", e.RetryIn.Round(time.Second))
}

var userName = regexp.MustCompile(`^[a-z][a-z0-9._-]{1,39}$`)

// AddUser creates a user with the password.
func (s *Store) AddUser(ctx context.Context, u User, password string) error {
	if !userName.MatchString(u.Name) {
		return ErrBadUserName
	}
	if u.Organisation == "" {
		return errors.New("a user needs the organisation (pharmacy) it acts for")
	}
	if _, err := medcard.ParseRole(string(u.Role)); err != nil {
		return fmt.Errorf("role %q: one of %s, %s, %s", u.Role, medcard.RoleDoctor, medcard.RoleNurse, medcard.RolePharmacist)
	}
	hash, err := hashPassword(password)
	if err != nil {
		return err
	}
	_, err = s.pool.Exec(ctx, `INSERT INTO ui_users (name, organisation, role, password_hash) VALUES ($1, $2, $3, $4)`,
		u.Name, u.Organisation, string(u.Role), hash)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" { // unique_violation
		return ErrUserExists
	}
	return err
}

// Users lists every user by name.
func (s *Store) Users(ctx context.Context) ([]User, error) {
	rows, err := s.pool.Query(ctx, `SELECT name, organisation, role, disabled, created_at,
		CASE WHEN locked_until > now() THEN locked_until END FROM ui_users ORDER BY name`)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (User, error) {
		var u User
		var role string
		err := r.Scan(&u.Name, &u.Organisation, &role, &u.Disabled, &u.CreatedAt, &u.LockedUntil)
		u.Role = medcard.Role(role)
		return u, err
	})
}

// SetDisabled disables (or enables again) a user; disabling ends the
// user's sessions.
func (s *Store) SetDisabled(ctx context.Context, name string, disabled bool) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx)
	tag, err := tx.Exec(ctx, `UPDATE ui_users SET disabled = $2 WHERE name = $1`, name, disabled)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return ErrNoSuchUser
	}
	if disabled {
		if _, err := tx.Exec(ctx, `DELETE FROM ui_sessions WHERE user_name = $1`, name); err != nil {
			return err
		}
	}
	return tx.Commit(ctx)
}

// ResetPassword gives a user a new password, lifts any back-off and ends
// the user's sessions.
func (s *Store) ResetPassword(ctx context.Context, name, password string) error {
	hash, err := hashPassword(password)
	if err != nil {
		return err
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx)
	tag, err := tx.Exec(ctx, `UPDATE ui_users SET password_hash = $2, password_set_at = now(), failed_signins = 0, locked_until = NULL
		WHERE name = $1`, name, hash)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return ErrNoSuchUser
	}
	if _, err := tx.Exec(ctx, `DELETE FROM ui_sessions WHERE user_name = $1`, name); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// Session is a signed-in browser's session.
type Session struct {
	// Token is the cookie's value; only its hash is stored.
	Token string
	// CSRF is the token every form of the session carries.
	CSRF string
	User User
}

// SignIn checks the password and starts a new session: a sign-in always
// gets a new session id. After FreeAttempts wrong passwords in a row the
// user is locked out for a while (*LockedError, the password not checked).
func (s *Store) SignIn(ctx context.Context, name, password string) (*Session, error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback(ctx)
	var u User
	var role, hash string
	var failed int
	var lockedFor *time.Duration
	err = tx.QueryRow(ctx, `SELECT name, organisation, role, disabled, created_at, password_hash, failed_signins,
		CASE WHEN locked_until > now() THEN locked_until - now() END
		FROM ui_users WHERE name = $1 FOR UPDATE`, name).
		Scan(&u.Name, &u.Organisation, &role, &u.Disabled, &u.CreatedAt, &hash, &failed, &lockedFor)
	if errors.Is(err, pgx.ErrNoRows) {
		checkPassword(decoyHash(), password) // as long as a wrong password
		return nil, ErrSignInFailed
	}
	if err != nil {
		return nil, err
	}
	u.Role = medcard.Role(role)
	if lockedFor != nil {
		return nil, &LockedError{RetryIn: *lockedFor}
	}
	ok, err := checkPassword(hash, password)
	if err != nil {
		return nil, fmt.Errorf("user %s: stored password hash: %w", u.Name, err)
	}
	if !ok || u.Disabled {
		if !ok {
			failed++
			var lock *time.Duration
			if d := s.lockout(failed); d > 0 {
				lock = &d
			}
			if _, err := tx.Exec(ctx, `UPDATE ui_users SET failed_signins = $2, locked_until = now() + $3::interval WHERE name = $1`,
				u.Name, failed, lock); err != nil {
				return nil, err
			}
			if err := tx.Commit(ctx); err != nil {
				return nil, err
			}
		}
		return nil, ErrSignInFailed
	}
	if _, err := tx.Exec(ctx, `UPDATE ui_users SET failed_signins = 0, locked_until = NULL WHERE name = $1`, u.Name); err != nil {
		return nil, err
	}
	// The user's ended sessions go; their live ones (other browsers) stay.
	if _, err := tx.Exec(ctx, `DELETE FROM ui_sessions WHERE user_name = $1 AND (last_seen < now() - $2::interval OR created_at < now() - $3::interval)`,
		u.Name, s.opts.IdleTimeout, s.opts.MaxAge); err != nil {
		return nil, err
	}
	sess := &Session{Token: randomToken(), CSRF: randomToken(), User: u}
	if _, err := tx.Exec(ctx, `INSERT INTO ui_sessions (token_hash, user_name, csrf) VALUES ($1, $2, $3)`,
		tokenHash(sess.Token), u.Name, sess.CSRF); err != nil {
		return nil, err
	}
	return sess, tx.Commit(ctx)
}

// lockout is the back-off after the failed-th wrong password in a row.
func (s *Store) lockout(failed int) time.Duration {
	over := failed - s.opts.FreeAttempts
	if over <= 0 {
		return 0
	}
	d := time.Duration(math.Min(float64(time.Second)*math.Pow(2, float64(over-1)), float64(s.opts.MaxLockout)))
	return d
}

// touchEvery is how often a session's last use is written: a page view
// in between only reads it, so it costs no commit (and no WAL flush, which
// a busy catalog server's checkpoint can make slow). The idle timeout is
// that much less precise.
const touchEvery = time.Minute

// Session returns the live session of the cookie token, and marks it used
// if it was last marked more than touchEvery ago.
func (s *Store) Session(ctx context.Context, token string) (*Session, error) {
	if token == "" {
		return nil, ErrNoSession
	}
	sess := &Session{Token: token}
	var role string
	err := s.pool.QueryRow(ctx, `
		WITH live AS (
		    SELECT s.csrf, u.name, u.organisation, u.role, u.created_at, s.last_seen
		    FROM ui_sessions s JOIN ui_users u ON u.name = s.user_name
		    WHERE s.token_hash = $1 AND NOT u.disabled
		      AND s.last_seen > now() - $2::interval AND s.created_at > now() - $3::interval
		), touched AS (
		    UPDATE ui_sessions SET last_seen = now()
		    WHERE token_hash = $1 AND EXISTS (SELECT 1 FROM live WHERE last_seen < now() - $4::interval)
		)
		SELECT csrf, name, organisation, role, created_at FROM live`,
		tokenHash(token), s.opts.IdleTimeout, s.opts.MaxAge, touchEvery).
		Scan(&sess.CSRF, &sess.User.Name, &sess.User.Organisation, &role, &sess.User.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNoSession
	}
	if err != nil {
		return nil, err
	}
	sess.User.Role = medcard.Role(role)
	return sess, nil
}

// SignOut ends the session of the cookie token; an unknown one is no error.
func (s *Store) SignOut(ctx context.Context, token string) error {
	_, err := s.pool.Exec(ctx, `DELETE FROM ui_sessions WHERE token_hash = $1`, tokenHash(token))
	return err
}

// randomToken is 32 random bytes, URL-safe base64.
func randomToken() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

func tokenHash(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}
