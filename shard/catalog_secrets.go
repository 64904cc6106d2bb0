package shard

// The integrating systems' secrets and their administration (`gateway
// system add | grant | revoke | rotate-secret | disable | enable`). A
// secret is stored as an argon2id hash (for PasswordText) and, under the
// gateways' key, sealed with AES-256-GCM (for PasswordDigest, which needs
// it in clear); never as it is (migrations/catalog/006_system_secrets.sql).

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/sharedmedcard/gateway/internal/credential"
	"github.com/sharedmedcard/gateway/medcard"
)

// SetSecretKey gives the catalog the key the systems' secrets are sealed
// with: System opens them for PasswordDigest checks, and secrets it stores
// are sealed besides hashed. Call it before the catalog is used.
func (c *Catalog) SetSecretKey(k *credential.Key) { c.key = k }

// HasSecretKey reports whether the catalog has a key (SetSecretKey).
func (c *Catalog) HasSecretKey() bool { return c.key != nil }

// ErrEmptySecret is a system registered or rotated without a secret.
var ErrEmptySecret = errors.New("a system's secret must not be empty")

// ErrSystemExists is AddSystem of a name the catalog already holds.
var ErrSystemExists = errors.New("the system exists")

// protectSecret returns what is stored of secret: its argon2id hash, and
// it sealed for system name (nil without a key).
func (c *Catalog) protectSecret(name, secret string) (hash string, sealed []byte, err error) {
	if secret == "" {
		return "", nil, ErrEmptySecret
	}
	if hash, err = credential.HashPassword(secret); err != nil {
		return "", nil, err
	}
	if c.key != nil {
		if sealed, err = c.key.Seal(secret, name); err != nil {
			return "", nil, err
		}
	}
	return hash, sealed, nil
}

// forget drops name from the cache of systems, so this process sees a
// change at once (other gateways within systemCacheTTL).
func (c *Catalog) forget(name string) {
	c.mu.Lock()
	delete(c.systems, name)
	c.mu.Unlock()
}

// AddSystem registers a new integrating system, enabled, with s's secret
// (hashed, and sealed with a key), roles and client certificate
// fingerprints.
//
// Errors: ErrSystemExists, ErrEmptySecret, or the catalog's.
func (c *Catalog) AddSystem(ctx context.Context, s medcard.System) error {
	hash, sealed, err := c.protectSecret(s.Name, s.Secret)
	if err != nil {
		return fmt.Errorf("add system %s: %w", s.Name, err)
	}
	pins := s.ClientCertSHA256
	if pins == nil {
		pins = []string{}
	}
	tag, err := c.pool.Exec(ctx, `
		INSERT INTO systems (name, secret_hash, secret_sealed, roles, client_cert_sha256) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (name) DO NOTHING`, s.Name, hash, sealed, roleNames(s.Roles), pins)
	if err != nil {
		return fmt.Errorf("add system %s: %w", s.Name, err)
	}
	if tag.RowsAffected() == 0 {
		return ErrSystemExists
	}
	return nil
}

// RotateSecret replaces system name's secret; the old one stops working at
// once on this gateway and within systemCacheTTL on every other. It
// reports whether the new secret was sealed (PasswordDigest possible).
//
// Errors: ErrNoSuchSystem, ErrEmptySecret, or the catalog's.
func (c *Catalog) RotateSecret(ctx context.Context, name, secret string) (sealed bool, err error) {
	hash, seal, err := c.protectSecret(name, secret)
	if err != nil {
		return false, fmt.Errorf("rotate the secret of %s: %w", name, err)
	}
	tag, err := c.pool.Exec(ctx, `UPDATE systems SET secret = NULL, secret_hash = $2, secret_sealed = $3 WHERE name = $1`,
		name, hash, seal)
	if err != nil {
		return false, fmt.Errorf("rotate the secret of %s: %w", name, err)
	}
	if tag.RowsAffected() == 0 {
		return false, ErrNoSuchSystem
	}
	c.forget(name)
	return seal != nil, nil
}

// GrantRoles lets system name request roles besides those it may, and
// returns all it may now request.
//
// Errors: ErrNoSuchSystem, or the catalog's.
func (c *Catalog) GrantRoles(ctx context.Context, name string, roles []medcard.Role) ([]string, error) {
	return c.changeRoles(ctx, name, roles, `
		UPDATE systems SET roles = ARRAY(SELECT DISTINCT r FROM unnest(roles || $2::text[]) AS r ORDER BY r)
		WHERE name = $1 RETURNING roles`)
}

// RevokeRoles takes roles from those system name may request, and returns
// those left (perhaps none: the system then may call nothing).
//
// Errors: ErrNoSuchSystem, or the catalog's.
func (c *Catalog) RevokeRoles(ctx context.Context, name string, roles []medcard.Role) ([]string, error) {
	return c.changeRoles(ctx, name, roles, `
		UPDATE systems SET roles = ARRAY(SELECT r FROM unnest(roles) AS r WHERE r <> ALL ($2::text[]) ORDER BY r)
		WHERE name = $1 RETURNING roles`)
}

func (c *Catalog) changeRoles(ctx context.Context, name string, roles []medcard.Role, sql string) ([]string, error) {
	var now []string
	err := c.pool.QueryRow(ctx, sql, name, roleNames(roles)).Scan(&now)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNoSuchSystem
	}
	if err != nil {
		return nil, fmt.Errorf("change the roles of %s: %w", name, err)
	}
	c.forget(name)
	return now, nil
}

// SetSystemEnabled enables or disables system name. A disabled system's
// requests are refused (FaultNotAuthenticated) by every gateway within
// systemCacheTTL; its secret, roles and certificates are kept.
//
// Errors: ErrNoSuchSystem, or the catalog's.
func (c *Catalog) SetSystemEnabled(ctx context.Context, name string, enabled bool) error {
	tag, err := c.pool.Exec(ctx, `UPDATE systems SET enabled = $2 WHERE name = $1`, name, enabled)
	if err != nil {
		return fmt.Errorf("enable or disable %s: %w", name, err)
	}
	if tag.RowsAffected() == 0 {
		return ErrNoSuchSystem
	}
	c.forget(name)
	return nil
}

// ErrSecretKeyNeeded is ConvertPlainSecrets without a key while plain
// secrets remain: hashing them alone would lose the PasswordDigest of
// those systems for good.
var ErrSecretKeyNeeded = errors.New("plain secrets need the secret key to be converted")

// ConvertPlainSecrets hashes and seals every secret still stored in clear
// (rows from before migration 006) and empties the plain column, in one
// transaction, and returns the systems it converted. It needs the key.
//
// Errors: ErrSecretKeyNeeded (wrapped, naming the systems), or the catalog's.
func (c *Catalog) ConvertPlainSecrets(ctx context.Context) ([]string, error) {
	tx, err := c.pool.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("convert plain secrets: %w", err)
	}
	defer tx.Rollback(ctx)
	rows, err := tx.Query(ctx, `SELECT name, secret FROM systems WHERE secret IS NOT NULL ORDER BY name FOR UPDATE`)
	if err != nil {
		return nil, fmt.Errorf("convert plain secrets: %w", err)
	}
	type plain struct{ name, secret string }
	found, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (plain, error) {
		var p plain
		return p, row.Scan(&p.name, &p.secret)
	})
	if err != nil {
		return nil, fmt.Errorf("convert plain secrets: %w", err)
	}
	names := make([]string, len(found))
	for i, p := range found {
		names[i] = p.name
	}
	if len(found) == 0 {
		return nil, nil
	}
	if c.key == nil {
		return nil, fmt.Errorf("%w: %v", ErrSecretKeyNeeded, names)
	}
	for _, p := range found {
		hash, sealed, err := c.protectSecret(p.name, p.secret)
		if err != nil {
			return nil, fmt.Errorf("convert the secret of %s: %w", p.name, err)
		}
		if _, err := tx.Exec(ctx, `UPDATE systems SET secret = NULL, secret_hash = $2, secret_sealed = $3 WHERE name = $1`,
			p.name, hash, sealed); err != nil {
			return nil, fmt.Errorf("convert the secret of %s: %w", p.name, err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, fmt.Errorf("convert plain secrets: %w", err)
	}
	for _, n := range names {
		c.forget(n)
	}
	return names, nil
}

func roleNames(roles []medcard.Role) []string {
	out := make([]string, len(roles))
	for i, r := range roles {
		out[i] = string(r)
	}
	return out
}
