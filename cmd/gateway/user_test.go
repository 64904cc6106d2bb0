package main

import (
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/sharedmedcard/gateway/web/account"
)

// TestUserCommands runs `gateway user` as an operator would: add with a
// made-up and with a given password, list (table and JSON), disable,
// reset-password, and the refusals with what to do next.
func TestUserCommands(t *testing.T) {
	e := requireEnv(t)
	bin := gatewayBinary(t)
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "MEDCARD_") })
	g := gatewayCLI{t: t, ctx: t.Context(), bin: bin, env: append(env, "MEDCARD_CATALOG_DSN="+e.cluster.CatalogDSN)}

	out := g.ok("user", "add", "cli-alice", "--organisation", "pharmacy-cli")
	wantIn(t, "user add", out, "user cli-alice added")
	wantIn(t, "user add", out, "password: ")
	made := strings.TrimSpace(strings.SplitN(strings.SplitN(out, "password: ", 2)[1], "\n", 2)[0])
	store := account.NewStore(e.cluster.Catalog, account.Options{})
	if _, err := store.SignIn(t.Context(), "cli-alice", made); err != nil {
		t.Errorf("sign-in with the made-up password %q: %v", made, err)
	}

	add := g.command("user", "add", "cli-bob", "--organisation", "pharmacy-cli", "--password-stdin", "--json")
	add.Stdin = strings.NewReader("a password from stdin\n")
	if msg, err := add.CombinedOutput(); err != nil || strings.Contains(string(msg), "password from stdin") {
		t.Fatalf("user add --password-stdin: %v\n%s", err, msg)
	}
	if _, err := store.SignIn(t.Context(), "cli-bob", "a password from stdin"); err != nil {
		t.Errorf("sign-in with the password given on stdin: %v", err)
	}

	wantIn(t, "user add again", g.fails("user", "add", "cli-alice", "--organisation", "pharmacy-cli"), "reset-password cli-alice")
	wantIn(t, "user add without organisation", g.fails("user", "add", "cli-carol"), "--organisation is required")
	wantIn(t, "user disable unknown", g.fails("user", "disable", "nobody"), "gateway user list")

	g.ok("user", "disable", "cli-bob")
	var users []account.User
	g.okJSON(&users, "user", "list", "--json")
	state := map[string]bool{}
	for _, u := range users {
		state[u.Name] = u.Disabled
	}
	if d, ok := state["cli-bob"]; !ok || !d {
		t.Errorf("user list --json: cli-bob disabled = %v (listed %v), want true", d, ok)
	}
	wantIn(t, "user list", g.ok("user", "list"), "disabled")

	out = g.ok("user", "reset-password", "cli-alice")
	fresh := strings.TrimSpace(strings.SplitN(strings.SplitN(out, "password: ", 2)[1], "\n", 2)[0])
	if _, err := store.SignIn(t.Context(), "cli-alice", made); err == nil {
		t.Error("the old password still signs in after reset-password")
	}
	if _, err := store.SignIn(t.Context(), "cli-alice", fresh); err != nil {
		t.Errorf("sign-in with the new password: %v", err)
	}
}
