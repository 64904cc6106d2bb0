package main

import (
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sharedmedcard/gateway/shard"
)

// TestDemoSystemsOnlyWithDemo: a `gateway seed` without --demo registers
// no system (TestMain ran one before `seed --demo`); --demo registers the
// demo systems with their secret sealed, so PasswordDigest works.
func TestDemoSystemsOnlyWithDemo(t *testing.T) {
	e := requireEnv(t)
	if len(e.systemsAfterPlainSeed) != 0 {
		t.Errorf("systems after a plain seed: %+v, want none", e.systemsAfterPlainSeed)
	}
	systems, err := shard.NewCatalog(e.cluster.Catalog, nil).Systems(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"demo-gp", "demo-pharmacy"} {
		i := slices.IndexFunc(systems, func(s shard.SystemEntry) bool { return s.Name == name })
		if i < 0 || !systems[i].Enabled || !systems[i].PasswordDigest || systems[i].PlainSecret {
			t.Errorf("after seed --demo, %s = %+v; want enabled with a sealed secret", name, systems)
		}
	}
}

// TestSystemCommands runs `gateway system` as an operator would: add with
// a made-up secret (which then authenticates both ways), list, rotate-secret
// (the old secret stops working, the new one works), revoke and grant a
// role, disable and enable, the refusals with what to do next; and a
// system added without the key authenticates with PasswordText only.
func TestSystemCommands(t *testing.T) {
	e := requireEnv(t)
	bin := gatewayBinary(t)
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "MEDCARD_") })
	env = append(env, "MEDCARD_CATALOG_DSN="+e.cluster.CatalogDSN)
	g := gatewayCLI{t: t, ctx: t.Context(), bin: bin, env: append(env, "MEDCARD_SECRET_KEY_FILE="+e.cluster.SecretKeyFile)}
	noKey := gatewayCLI{t: t, ctx: t.Context(), bin: bin, env: env}
	person := notePerson(demoPerson())
	served := func(system, secret string, text bool) bool {
		t.Helper()
		status, raw := call{system: system, secret: secret, textPwd: text, body: getCardBody(person)}.do(t)
		return status == 200 && !strings.Contains(string(raw), "Fault")
	}
	// A change reaches the gateway within the catalog's 5 s cache of
	// systems: wait for it that long, no longer.
	becomes := func(want bool, system, secret string) bool {
		t.Helper()
		deadline := time.Now().Add(7 * time.Second)
		for {
			got := served(system, secret, false)
			if got == want || time.Now().After(deadline) {
				return got == want
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	secretOf := func(out string) string {
		t.Helper()
		var res struct{ Secret string }
		if err := json.Unmarshal([]byte(out), &res); err != nil || res.Secret == "" {
			t.Fatalf("no secret in %q: %v", out, err)
		}
		return res.Secret
	}

	first := secretOf(g.ok("system", "add", "cli-lab", "--role", "Doctor", "--json"))
	if !served("cli-lab", first, false) {
		t.Fatal("the added system's digest was refused")
	}
	list := g.ok("system", "list")
	wantIn(t, "system list", list, "cli-lab")
	wantIn(t, "system list", list, "digest or text")

	second := secretOf(g.ok("system", "rotate-secret", "cli-lab", "--json"))
	if !becomes(false, "cli-lab", first) {
		t.Error("the old secret still authenticates after rotate-secret")
	}
	if !served("cli-lab", second, false) {
		t.Error("the new secret is refused after rotate-secret")
	}

	g.ok("system", "revoke", "cli-lab", "--role", "Doctor")
	if !becomes(false, "cli-lab", second) {
		t.Error("a revoked role is still served")
	}
	g.ok("system", "grant", "cli-lab", "--role", "Doctor")
	if !becomes(true, "cli-lab", second) {
		t.Error("a granted role is refused")
	}
	g.ok("system", "disable", "cli-lab")
	if !becomes(false, "cli-lab", second) {
		t.Error("a disabled system is served")
	}
	g.ok("system", "enable", "cli-lab")
	if !becomes(true, "cli-lab", second) {
		t.Error("an enabled system is refused")
	}

	for _, refused := range []struct {
		args []string
		want string
	}{
		{[]string{"system", "add", "cli-lab", "--role", "Doctor"}, "rotate-secret cli-lab"},
		{[]string{"system", "add", "cli-x"}, "--role"},
		{[]string{"system", "add", "Bad Name", "--role", "Doctor"}, "not a system name"},
		{[]string{"system", "rotate-secret", "nobody"}, "gateway system list"},
		{[]string{"system", "disable", "nobody"}, "gateway system list"},
		{[]string{"system", "grant", "cli-lab", "--role", "Janitor"}, "Doctor, Nurse or Pharmacist"},
	} {
		_, errOut, err := g.run(refused.args...)
		if err == nil || !strings.Contains(errOut, refused.want) {
			t.Errorf("gateway %s: %v, stderr %q; want a refusal naming %q", strings.Join(refused.args, " "), err, errOut, refused.want)
		}
	}

	// Without the key: stored hashed only; the secret as the digest's fails.
	out := noKey.ok("system", "add", "cli-textonly", "--role", "Doctor")
	wantIn(t, "system add without the key", out, "PasswordText over TLS")
	made := strings.TrimSpace(strings.SplitN(strings.SplitN(out, "secret: ", 2)[1], "\n", 2)[0])
	if served("cli-textonly", made, false) {
		t.Error("a system stored without the key authenticated with PasswordDigest")
	}
	wantIn(t, "system list", g.ok("system", "list"), "text only")
}
