package shard

import (
	"bytes"
	"encoding/hex"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sharedmedcard/gateway/internal/credential"
	"github.com/sharedmedcard/gateway/medcard"
)

func testKey(t *testing.T, fill byte) *credential.Key {
	t.Helper()
	k, err := credential.ParseKey(bytes.Repeat([]byte{fill}, credential.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestSystemSecretsAtRest: a dump of the catalog holds no system's secret
// in clear; the catalog row's hash does not check as the password and its
// sealed value opens only with the key and only for its own system; a
// catalog without the key returns no secret (PasswordText only).
func TestSystemSecretsAtRest(t *testing.T) {
	pg, pool := startCatalog(t)
	ctx := t.Context()
	clock := time.Now()
	withKey := NewCatalog(pool, func() time.Time { return clock })
	withKey.SetSecretKey(testKey(t, 1))
	const labSecret, gpSecret = "lab-secret-Zq81", "gp-secret-Hw27"
	if err := withKey.AddSystem(ctx, medcard.System{Name: "lab", Secret: labSecret, Roles: []medcard.Role{medcard.RoleDoctor}}); err != nil {
		t.Fatal(err)
	}
	if err := withKey.AddSystem(ctx, medcard.System{Name: "lab", Secret: "x", Roles: nil}); !errors.Is(err, ErrSystemExists) {
		t.Errorf("AddSystem of an existing name = %v, want ErrSystemExists", err)
	}
	withoutKey := NewCatalog(pool, func() time.Time { return clock })
	if err := withoutKey.PutSystem(ctx, medcard.System{Name: "gp", Secret: gpSecret, Roles: []medcard.Role{medcard.RoleNurse}}); err != nil {
		t.Fatal(err)
	}

	dump, err := pg.Dump("catalog")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(dump, "lab") || !strings.Contains(dump, "$argon2id$") {
		t.Fatalf("the dump lacks the systems; it is not the catalog's:\n%s", dump)
	}
	for _, secret := range []string{labSecret, gpSecret} {
		if strings.Contains(dump, secret) || strings.Contains(dump, hex.EncodeToString([]byte(secret))) {
			t.Errorf("the catalog's dump holds the secret %q", secret)
		}
	}

	lab, err := withKey.System(ctx, "lab")
	if err != nil || lab.Secret != labSecret {
		t.Fatalf("System(lab) with the key = %q, %v; want its secret", lab.Secret, err)
	}
	if ok, err := credential.CheckPassword(lab.PasswordHash, labSecret); !ok || err != nil {
		t.Errorf("lab's stored hash does not check its secret: %v, %v", ok, err)
	}
	if ok, _ := credential.CheckPassword(lab.PasswordHash, lab.PasswordHash); ok {
		t.Error("the stored hash checks as the password")
	}
	if gp, err := withKey.System(ctx, "gp"); err != nil || gp.Secret != "" || gp.PasswordHash == "" {
		t.Errorf("System(gp), stored without the key = secret %q, hash %q, %v; want a hash only", gp.Secret, gp.PasswordHash, err)
	}
	if s, err := withoutKey.System(ctx, "lab"); err != nil || s.Secret != "" {
		t.Errorf("System(lab) without the key = secret %q, %v; want none", s.Secret, err)
	}
	if s, err := NewCatalog(pool, time.Now).withKeyOf(testKey(t, 2)).System(ctx, "lab"); err != nil || s.Secret != "" {
		t.Errorf("System(lab) with another key = secret %q, %v; want none", s.Secret, err)
	}
	// lab's sealed secret copied onto gp's row does not open there.
	if _, err := pool.Exec(ctx, `UPDATE systems SET secret_sealed = (SELECT secret_sealed FROM systems WHERE name = 'lab') WHERE name = 'gp'`); err != nil {
		t.Fatal(err)
	}
	clock = clock.Add(systemCacheTTL)
	if gp, err := withKey.System(ctx, "gp"); err != nil || gp.Secret != "" {
		t.Errorf("System(gp) with lab's sealed secret = %q, %v; want none", gp.Secret, err)
	}
}

func (c *Catalog) withKeyOf(k *credential.Key) *Catalog { c.SetSecretKey(k); return c }

// TestSystemAdministration: rotate-secret replaces the secret at once (the
// old one no longer checks), grant and revoke change the roles, disable
// refuses the system and enable lets it back.
func TestSystemAdministration(t *testing.T) {
	_, pool := startCatalog(t)
	ctx := t.Context()
	c := NewCatalog(pool, time.Now)
	c.SetSecretKey(testKey(t, 1))
	if err := c.AddSystem(ctx, medcard.System{Name: "lab", Secret: "old-secret", Roles: []medcard.Role{medcard.RoleDoctor}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.System(ctx, "lab"); err != nil { // cached
		t.Fatal(err)
	}
	if sealed, err := c.RotateSecret(ctx, "lab", "new-secret"); err != nil || !sealed {
		t.Fatalf("RotateSecret = %v, %v; want sealed", sealed, err)
	}
	lab, err := c.System(ctx, "lab")
	if err != nil || lab.Secret != "new-secret" {
		t.Fatalf("System after the rotation = %q, %v; want new-secret", lab.Secret, err)
	}
	if ok, _ := credential.CheckPassword(lab.PasswordHash, "old-secret"); ok {
		t.Error("the old secret still checks after the rotation")
	}
	if _, err := c.RotateSecret(ctx, "nobody", "x"); !errors.Is(err, ErrNoSuchSystem) {
		t.Errorf("RotateSecret(unknown) = %v, want ErrNoSuchSystem", err)
	}
	if _, err := c.RotateSecret(ctx, "lab", ""); !errors.Is(err, ErrEmptySecret) {
		t.Errorf("RotateSecret(empty) = %v, want ErrEmptySecret", err)
	}

	roles, err := c.GrantRoles(ctx, "lab", []medcard.Role{medcard.RoleNurse, medcard.RoleDoctor})
	if want := []string{"Doctor", "Nurse"}; err != nil || !slices.Equal(roles, want) {
		t.Errorf("GrantRoles = %v, %v; want %v", roles, err, want)
	}
	roles, err = c.RevokeRoles(ctx, "lab", []medcard.Role{medcard.RoleDoctor})
	if want := []string{"Nurse"}; err != nil || !slices.Equal(roles, want) {
		t.Errorf("RevokeRoles = %v, %v; want %v", roles, err, want)
	}
	if lab, _ := c.System(ctx, "lab"); lab.MayActAs(medcard.RoleDoctor) || !lab.MayActAs(medcard.RoleNurse) {
		t.Errorf("System roles after the revoke = %v, want Nurse", lab.Roles)
	}
	if _, err := c.GrantRoles(ctx, "nobody", nil); !errors.Is(err, ErrNoSuchSystem) {
		t.Errorf("GrantRoles(unknown) = %v, want ErrNoSuchSystem", err)
	}

	if err := c.SetSystemEnabled(ctx, "lab", false); err != nil {
		t.Fatal(err)
	}
	if _, err := c.System(ctx, "lab"); medcard.FaultOf(err) != medcard.FaultNotAuthenticated {
		t.Errorf("System of a disabled system = %v, want FaultNotAuthenticated", err)
	}
	if err := c.SetSystemEnabled(ctx, "lab", true); err != nil {
		t.Fatal(err)
	}
	if _, err := c.System(ctx, "lab"); err != nil {
		t.Errorf("System after enable = %v", err)
	}
}

// TestConvertPlainSecrets: a secret stored in clear before migration 006
// authenticates nothing until converted, is refused conversion without the
// key (so its PasswordDigest is not lost), and is hashed and sealed with
// it, leaving no plain secret in the table.
func TestConvertPlainSecrets(t *testing.T) {
	_, pool := startCatalog(t)
	ctx := t.Context()
	if _, err := pool.Exec(ctx, `INSERT INTO systems (name, secret, roles) VALUES ('old', 'old-plain-secret', '{Doctor}')`); err != nil {
		t.Fatal(err)
	}
	c := NewCatalog(pool, time.Now)
	if _, err := c.System(ctx, "old"); medcard.FaultOf(err) != medcard.FaultNotAuthenticated || !strings.Contains(medcard.MessageOf(err), "gateway migrate") {
		t.Errorf("System of an unconverted system = %v, want FaultNotAuthenticated naming gateway migrate", err)
	}
	if got, err := c.ConvertPlainSecrets(ctx); !errors.Is(err, ErrSecretKeyNeeded) || got != nil {
		t.Errorf("ConvertPlainSecrets without the key = %v, %v; want ErrSecretKeyNeeded", got, err)
	}
	c.SetSecretKey(testKey(t, 1))
	if got, err := c.ConvertPlainSecrets(ctx); err != nil || !slices.Equal(got, []string{"old"}) {
		t.Fatalf("ConvertPlainSecrets = %v, %v; want [old]", got, err)
	}
	var plain int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM systems WHERE secret IS NOT NULL`).Scan(&plain); err != nil || plain != 0 {
		t.Errorf("%d plain secrets left (%v), want none", plain, err)
	}
	old, err := c.System(ctx, "old")
	if err != nil || old.Secret != "old-plain-secret" {
		t.Fatalf("System(old) after the conversion = %q, %v; want its secret", old.Secret, err)
	}
	if ok, _ := credential.CheckPassword(old.PasswordHash, "old-plain-secret"); !ok {
		t.Error("the converted hash does not check the secret")
	}
	if got, err := c.ConvertPlainSecrets(ctx); err != nil || got != nil {
		t.Errorf("ConvertPlainSecrets again = %v, %v; want nothing to do", got, err)
	}
}
