package account

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sharedmedcard/gateway/internal/testservers"
	"github.com/sharedmedcard/gateway/medcard"
	"github.com/sharedmedcard/gateway/shard"
)

var (
	testPG    *testservers.Postgres
	startErr  error
	dbCounter int
)

func TestMain(m *testing.M) {
	testPG, startErr = testservers.StartPostgres()
	code := m.Run()
	testPG.Stop()
	os.Exit(code)
}

// newStore is a store over a fresh, migrated catalog database.
func newStore(t *testing.T, opts Options) (*Store, *pgxpool.Pool) {
	t.Helper()
	testservers.RequireT(t, startErr)
	dbCounter++
	name := fmt.Sprintf("catalog%d", dbCounter)
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
	return NewStore(pool, opts), pool
}

var alice = User{Name: "alice", Organisation: "pharmacy-a", Role: medcard.RolePharmacist}

const alicePassword = "correct horse battery"

func TestPasswordsAreHashedAndChecked(t *testing.T) {
	h, err := hashPassword(alicePassword)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") || strings.Contains(h, alicePassword) {
		t.Errorf("hash %q: want an argon2id PHC string without the password", h)
	}
	h2, _ := hashPassword(alicePassword)
	if h == h2 {
		t.Error("two hashes of one password are equal: no fresh salt")
	}
	for pw, want := range map[string]bool{alicePassword: true, alicePassword + "!": false, "": false} {
		if ok, err := checkPassword(h, pw); err != nil || ok != want {
			t.Errorf("checkPassword(%q) = %v, %v; want %v", pw, ok, err, want)
		}
	}
	if _, err := hashPassword("short"); !errors.Is(err, ErrWeakPassword) {
		t.Errorf("hashPassword of a short password: %v, want ErrWeakPassword", err)
	}
}

func TestUsersAndSignIn(t *testing.T) {
	s, pool := newStore(t, Options{})
	ctx := t.Context()
	if err := s.AddUser(ctx, alice, alicePassword); err != nil {
		t.Fatal(err)
	}
	if err := s.AddUser(ctx, alice, alicePassword); !errors.Is(err, ErrUserExists) {
		t.Errorf("adding alice twice: %v, want ErrUserExists", err)
	}
	if err := s.AddUser(ctx, User{Name: "Bob!", Organisation: "x", Role: medcard.RolePharmacist}, alicePassword); !errors.Is(err, ErrBadUserName) {
		t.Errorf("a bad user name: %v, want ErrBadUserName", err)
	}
	var stored string
	if err := pool.QueryRow(ctx, `SELECT password_hash FROM ui_users WHERE name = 'alice'`).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(stored, alicePassword) {
		t.Error("the catalog holds the password")
	}

	first, err := s.SignIn(ctx, "alice", alicePassword)
	if err != nil {
		t.Fatalf("SignIn: %v", err)
	}
	second, err := s.SignIn(ctx, "alice", alicePassword)
	if err != nil {
		t.Fatal(err)
	}
	if first.Token == second.Token || first.CSRF == second.CSRF {
		t.Error("two sign-ins got the same session token or CSRF token")
	}
	got, err := s.Session(ctx, first.Token)
	if err != nil {
		t.Fatalf("Session: %v", err)
	}
	if got.User.Name != "alice" || got.User.Organisation != "pharmacy-a" || got.CSRF != first.CSRF {
		t.Errorf("Session = %+v, want alice of pharmacy-a with the sign-in's CSRF token", got)
	}
	if c := got.User.Caller(); c.AuthorisationID != "alice" || c.ActingUser != "alice" || c.Organisation != "pharmacy-a" || c.Role != medcard.RolePharmacist {
		t.Errorf("Caller = %+v", c)
	}
	var n int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM ui_sessions WHERE token_hash = $1::text::bytea`, first.Token).Scan(&n); err != nil || n != 0 {
		t.Errorf("a session is stored under its cookie token (%d, %v): only its hash may be", n, err)
	}

	if err := s.SignOut(ctx, first.Token); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Session(ctx, first.Token); !errors.Is(err, ErrNoSession) {
		t.Errorf("Session after sign-out: %v, want ErrNoSession", err)
	}
	if _, err := s.Session(ctx, second.Token); err != nil {
		t.Errorf("the other browser's session ended with this one's sign-out: %v", err)
	}
	if _, err := s.SignIn(ctx, "nobody", alicePassword); !errors.Is(err, ErrSignInFailed) {
		t.Errorf("an unknown user: %v, want ErrSignInFailed", err)
	}

	// Disabling ends the sessions and refuses sign-in, with the same
	// message as a wrong password.
	if err := s.SetDisabled(ctx, "alice", true); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Session(ctx, second.Token); !errors.Is(err, ErrNoSession) {
		t.Errorf("a disabled user's session: %v, want ErrNoSession", err)
	}
	if _, err := s.SignIn(ctx, "alice", alicePassword); !errors.Is(err, ErrSignInFailed) {
		t.Errorf("a disabled user signs in: %v, want ErrSignInFailed", err)
	}
	if err := s.SetDisabled(ctx, "nobody", true); !errors.Is(err, ErrNoSuchUser) {
		t.Errorf("disabling an unknown user: %v, want ErrNoSuchUser", err)
	}
	if err := s.SetDisabled(ctx, "alice", false); err != nil {
		t.Fatal(err)
	}
	users, err := s.Users(ctx)
	if err != nil || len(users) != 1 || users[0].Name != "alice" || users[0].Disabled {
		t.Errorf("Users = %+v, %v", users, err)
	}
}

func TestWrongPasswordsBackOff(t *testing.T) {
	s, _ := newStore(t, Options{FreeAttempts: 2})
	ctx := t.Context()
	if err := s.AddUser(ctx, alice, alicePassword); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if _, err := s.SignIn(ctx, "alice", "wrong password "+fmt.Sprint(i)); !errors.Is(err, ErrSignInFailed) {
			t.Fatalf("wrong password %d: %v, want ErrSignInFailed", i, err)
		}
	}
	// The third wrong password locks alice out for 1 s: even the right one
	// is refused then, without being checked.
	if _, err := s.SignIn(ctx, "alice", "wrong password 3"); !errors.Is(err, ErrSignInFailed) {
		t.Fatalf("third wrong password: %v", err)
	}
	var locked *LockedError
	if _, err := s.SignIn(ctx, "alice", alicePassword); !errors.As(err, &locked) || locked.RetryIn <= 0 || locked.RetryIn > time.Second {
		t.Fatalf("the right password during the back-off: %v, want a LockedError of at most 1 s", err)
	}
	users, _ := s.Users(ctx)
	if len(users) != 1 || users[0].LockedUntil == nil {
		t.Errorf("Users does not show the lock: %+v", users)
	}
	time.Sleep(locked.RetryIn + 50*time.Millisecond)
	// The next wrong one doubles the back-off.
	if _, err := s.SignIn(ctx, "alice", "wrong password 4"); !errors.Is(err, ErrSignInFailed) {
		t.Fatalf("fourth wrong password: %v", err)
	}
	if _, err := s.SignIn(ctx, "alice", alicePassword); !errors.As(err, &locked) || locked.RetryIn <= time.Second {
		t.Fatalf("after the fourth wrong password: %v, want a LockedError of more than 1 s", err)
	}
	// An operator's reset lifts it.
	if err := s.ResetPassword(ctx, "alice", "a new long password"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SignIn(ctx, "alice", "a new long password"); err != nil {
		t.Fatalf("sign-in after a reset: %v", err)
	}
	if _, err := s.SignIn(ctx, "alice", alicePassword); !errors.Is(err, ErrSignInFailed) {
		t.Errorf("the old password after a reset: %v, want ErrSignInFailed", err)
	}
}

func TestIdleSessionsEnd(t *testing.T) {
	s, pool := newStore(t, Options{IdleTimeout: time.Minute})
	ctx := t.Context()
	if err := s.AddUser(ctx, alice, alicePassword); err != nil {
		t.Fatal(err)
	}
	sess, err := s.SignIn(ctx, "alice", alicePassword)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `UPDATE ui_sessions SET last_seen = now() - interval '61 seconds'`); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Session(ctx, sess.Token); !errors.Is(err, ErrNoSession) {
		t.Errorf("a session idle for longer than the timeout: %v, want ErrNoSession", err)
	}

	// A session used is marked used, at most once a minute: a view 50 s
	// after the last mark leaves it, one 70 s after renews it (under the
	// default idle timeout).
	s = NewStore(pool, Options{})
	sess, err = s.SignIn(ctx, "alice", alicePassword)
	if err != nil {
		t.Fatal(err)
	}
	lastSeen := func() time.Duration {
		var ago time.Duration
		if err := pool.QueryRow(ctx, `SELECT now() - last_seen FROM ui_sessions WHERE token_hash = $1`, tokenHash(sess.Token)).Scan(&ago); err != nil {
			t.Fatal(err)
		}
		return ago
	}
	for _, tc := range []struct {
		ago     string
		renewed bool
	}{{"50 seconds", false}, {"70 seconds", true}} {
		if _, err := pool.Exec(ctx, `UPDATE ui_sessions SET last_seen = now() - $2::interval WHERE token_hash = $1`, tokenHash(sess.Token), tc.ago); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Session(ctx, sess.Token); err != nil {
			t.Fatalf("Session %s after the last mark: %v", tc.ago, err)
		}
		if got := lastSeen() < 10*time.Second; got != tc.renewed {
			t.Errorf("a view %s after the last mark renewed it: %v, want %v", tc.ago, got, tc.renewed)
		}
	}
}
