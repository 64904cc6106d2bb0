package shard

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sharedmedcard/gateway/internal/credential"
	"github.com/sharedmedcard/gateway/medcard"
)

// Map is one snapshot of the shard map: the owner of every logical shard at
// one cluster epoch.
type Map struct {
	Epoch     int64
	Owner     [Count]string     // database name per logical shard
	Moved     [Count]int64      // epoch at which each logical shard last changed owner
	Databases map[string]string // database name -> DSN
}

// Catalog reads and changes the catalog database: the shard map, the shard
// databases and the integrating systems.
type Catalog struct {
	pool *pgxpool.Pool
	now  func() time.Time

	// key opens the systems' sealed secrets and seals new ones; nil: the
	// gateway cannot check a PasswordDigest, and new secrets are stored
	// hashed only (SetSecretKey).
	key *credential.Key

	mu      sync.Mutex
	systems map[string]cachedSystem
}

type cachedSystem struct {
	system  medcard.System
	fetched time.Time
	// failed is when the last refresh failed because the catalog could
	// not be read (zero: it did not); the next waits systemCacheTTL.
	failed time.Time
}

// systemCacheTTL bounds how long a change to a system's secret or roles
// takes to reach every gateway.
const systemCacheTTL = 5 * time.Second

// While the catalog cannot be read (a failover of its primary takes ttl
// seconds), a system that authenticated in the last systemStaleLimit goes
// on authenticating as it last did, so that a catalog outage does not stop
// the shards' traffic with it; a refresh is tried once per systemCacheTTL,
// for at most systemRefreshTimeout. Only a change of a system (a new
// secret, a disabled system) waits for the catalog's return.
const (
	systemStaleLimit     = 10 * time.Minute
	systemRefreshTimeout = 500 * time.Millisecond
)

// NewCatalog returns a Catalog over a pool connected to the catalog database.
func NewCatalog(pool *pgxpool.Pool, now func() time.Time) *Catalog {
	return &Catalog{pool: pool, now: now, systems: map[string]cachedSystem{}}
}

// ErrNotInitialized is returned when the catalog has no cluster yet.
var ErrNotInitialized = errors.New("the cluster is not initialised: run 'gateway shard init'")

// Epoch returns the current cluster epoch.
func (c *Catalog) Epoch(ctx context.Context) (int64, error) { return readEpoch(ctx, c.pool) }

// readEpoch reads the cluster epoch through q: the catalog's pool, or the
// map listener's connection.
func readEpoch(ctx context.Context, q execer) (int64, error) {
	var epoch int64
	err := q.QueryRow(ctx, `SELECT epoch FROM cluster`).Scan(&epoch)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, ErrNotInitialized
	}
	return epoch, err
}

// mapChannel is the channel on which the catalog announces every new
// cluster epoch, with the epoch as the payload
// (migrations/catalog/002_map_notify.sql).
const mapChannel = "shard_map"

// mapListenerName is the application_name of the map listener's
// connection, by which an operator finds it in pg_stat_activity.
const mapListenerName = "gateway shard map listener"

// listenMap opens a connection of its own to the catalog database and
// listens on mapChannel there. It has the pool's settings but stays outside
// the pool, since a listener holds its connection for good and its LISTEN
// must not leak to another user of a pooled one. The caller closes it.
func (c *Catalog) listenMap(ctx context.Context) (*pgx.Conn, error) {
	cfg := c.pool.Config().ConnConfig // a copy
	if cfg.RuntimeParams == nil {
		cfg.RuntimeParams = map[string]string{}
	}
	cfg.RuntimeParams["application_name"] = mapListenerName
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect to the catalog: %w", err)
	}
	if _, err := conn.Exec(ctx, "LISTEN "+mapChannel); err != nil {
		conn.Close(ctx)
		return nil, fmt.Errorf("listen on %s: %w", mapChannel, err)
	}
	return conn, nil
}

// LoadMap reads the whole shard map in one consistent snapshot.
func (c *Catalog) LoadMap(ctx context.Context) (*Map, error) {
	tx, err := c.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return nil, fmt.Errorf("load map: %w", err)
	}
	defer tx.Rollback(ctx)
	m := &Map{Databases: map[string]string{}}
	var shardCount int
	if err := tx.QueryRow(ctx, `SELECT epoch, shard_count FROM cluster`).Scan(&m.Epoch, &shardCount); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, ErrNotInitialized
		}
		return nil, fmt.Errorf("load map: %w", err)
	}
	if shardCount != Count {
		return nil, fmt.Errorf("load map: cluster has %d shards, this gateway is built for %d", shardCount, Count)
	}
	rows, err := tx.Query(ctx, `SELECT name, dsn FROM shard_databases`)
	if err != nil {
		return nil, fmt.Errorf("load databases: %w", err)
	}
	var name, dsn string
	_, err = pgx.ForEachRow(rows, []any{&name, &dsn}, func() error { m.Databases[name] = dsn; return nil })
	if err != nil {
		return nil, fmt.Errorf("load databases: %w", err)
	}
	rows, err = tx.Query(ctx, `SELECT shard, database, epoch FROM shard_map`)
	if err != nil {
		return nil, fmt.Errorf("load map: %w", err)
	}
	var shard int
	var moved int64
	seen := 0
	_, err = pgx.ForEachRow(rows, []any{&shard, &name, &moved}, func() error {
		if shard < 0 || shard >= Count {
			return fmt.Errorf("shard %d out of range", shard)
		}
		m.Owner[shard] = name
		m.Moved[shard] = moved
		seen++
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("load map: %w", err)
	}
	if seen != Count {
		return nil, fmt.Errorf("load map: %d of %d shards are mapped", seen, Count)
	}
	return m, nil
}

// System returns the integrating system called name, cached for a few
// seconds so that authentication does not cost a catalog round trip.
//
// Errors: FaultNotAuthenticated for an unknown or disabled system,
// FaultUnavailable when the catalog cannot be read.
func (c *Catalog) System(ctx context.Context, name string) (medcard.System, error) {
	now := c.now()
	c.mu.Lock()
	cached, ok := c.systems[name]
	c.mu.Unlock()
	if ok && now.Sub(cached.fetched) < systemCacheTTL {
		return cached.system, nil
	}
	stale := ok && now.Sub(cached.fetched) < systemStaleLimit
	if stale && now.Sub(cached.failed) < systemCacheTTL {
		return cached.system, nil // the catalog failed us a moment ago
	}
	lookupCtx := ctx
	if stale {
		var cancel context.CancelFunc
		lookupCtx, cancel = context.WithTimeout(ctx, systemRefreshTimeout)
		defer cancel()
	}
	var s medcard.System
	var roles []string
	var enabled bool
	var hash *string
	var sealed []byte
	err := c.pool.QueryRow(lookupCtx, `SELECT name, secret_hash, secret_sealed, roles, enabled, client_cert_sha256 FROM systems WHERE name = $1`, name).
		Scan(&s.Name, &hash, &sealed, &roles, &enabled, &s.ClientCertSHA256)
	if err == nil && enabled && hash == nil {
		return medcard.System{}, medcard.Errorf(medcard.FaultNotAuthenticated,
			"the system's secret is not converted yet: an operator must run 'gateway migrate --secret-key-file FILE'")
	}
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && !enabled) {
		c.mu.Lock()
		delete(c.systems, name)
		c.mu.Unlock()
		return medcard.System{}, medcard.Errorf(medcard.FaultNotAuthenticated, "unknown or disabled system")
	}
	if err != nil {
		if stale && ctx.Err() == nil {
			cached.failed = now
			c.mu.Lock()
			c.systems[name] = cached
			c.mu.Unlock()
			return cached.system, nil
		}
		return medcard.System{}, medcard.WrapError(medcard.FaultUnavailable, err, "the catalog is unavailable")
	}
	for _, r := range roles {
		s.Roles = append(s.Roles, medcard.Role(r))
	}
	s.PasswordHash = *hash
	if sealed != nil && c.key != nil {
		// A seal that does not open (another key) leaves Secret empty: the
		// system can still use PasswordText, and a digest is refused.
		s.Secret, _ = c.key.Open(sealed, s.Name)
	}
	c.mu.Lock()
	c.systems[name] = cachedSystem{system: s, fetched: now}
	c.mu.Unlock()
	return s, nil
}

// PutSystem creates an integrating system, or replaces the secret and roles
// of an existing one (and enables it). The secret is stored hashed, and
// sealed when the catalog has a key (SetSecretKey), never in clear. Its
// client certificate fingerprints are set when it is created and otherwise
// kept, so that re-running `gateway seed --demo` does not undo a `gateway
// system cert`; SetClientCerts changes them.
func (c *Catalog) PutSystem(ctx context.Context, s medcard.System) error {
	roles := make([]string, len(s.Roles))
	for i, r := range s.Roles {
		roles[i] = string(r)
	}
	pins := s.ClientCertSHA256
	if pins == nil {
		pins = []string{}
	}
	hash, sealed, err := c.protectSecret(s.Name, s.Secret)
	if err != nil {
		return fmt.Errorf("put system %s: %w", s.Name, err)
	}
	_, err = c.pool.Exec(ctx, `
		INSERT INTO systems (name, secret_hash, secret_sealed, roles, client_cert_sha256) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (name) DO UPDATE SET secret = NULL, secret_hash = EXCLUDED.secret_hash,
			secret_sealed = EXCLUDED.secret_sealed, roles = EXCLUDED.roles, enabled = true`,
		s.Name, hash, sealed, roles, pins)
	if err != nil {
		return fmt.Errorf("put system: %w", err)
	}
	c.forget(s.Name)
	return nil
}

// ErrNoSuchSystem is returned for a system the catalog does not hold.
var ErrNoSuchSystem = errors.New("no such system")

// SetClientCerts sets the SHA-256 fingerprints (lowercase hex) of the
// client certificates system name must present one of (none: no
// certificate required), or with add puts them beside those it has (a
// rotation: the old and the new certificate both accepted for a while),
// and returns the system's fingerprints. Gateways apply it within
// systemCacheTTL.
//
// Errors: ErrNoSuchSystem, or the catalog's (a fingerprint that is not 64
// lowercase hex digits breaks the table's check).
func (c *Catalog) SetClientCerts(ctx context.Context, name string, sha256Hex []string, add bool) ([]string, error) {
	if sha256Hex == nil {
		sha256Hex = []string{}
	}
	var set []string
	err := c.pool.QueryRow(ctx, `
		UPDATE systems SET client_cert_sha256 = ARRAY(
			SELECT DISTINCT pin FROM unnest(CASE WHEN $3 THEN client_cert_sha256 ELSE '{}' END || $2::text[]) AS pin ORDER BY pin)
		WHERE name = $1 RETURNING client_cert_sha256`,
		name, sha256Hex, add).Scan(&set)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNoSuchSystem
	}
	if err != nil {
		return nil, fmt.Errorf("set client certificates of %s: %w", name, err)
	}
	return set, nil
}

// SystemEntry is an integrating system as `gateway system list` shows it:
// everything but its secret.
type SystemEntry struct {
	Name             string   `json:"name"`
	Roles            []string `json:"roles"`
	Enabled          bool     `json:"enabled"`
	ClientCertSHA256 []string `json:"clientCertSha256"`
	// PasswordDigest says the catalog holds the secret sealed, so a
	// gateway with the key accepts a PasswordDigest; false: PasswordText
	// (over TLS) only.
	PasswordDigest bool `json:"passwordDigest"`
	// PlainSecret says the secret is still stored in clear, from before
	// migration 006: 'gateway migrate --secret-key-file FILE' converts it.
	PlainSecret bool      `json:"plainSecret"`
	CreatedAt   time.Time `json:"createdAt"`
}

// Systems lists the integrating systems by name.
func (c *Catalog) Systems(ctx context.Context) ([]SystemEntry, error) {
	rows, err := c.pool.Query(ctx, `SELECT name, roles, enabled, client_cert_sha256, secret_sealed IS NOT NULL, secret IS NOT NULL, created_at
		FROM systems ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list systems: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (SystemEntry, error) {
		var e SystemEntry
		err := row.Scan(&e.Name, &e.Roles, &e.Enabled, &e.ClientCertSHA256, &e.PasswordDigest, &e.PlainSecret, &e.CreatedAt)
		return e, err
	})
	if err != nil {
		return nil, fmt.Errorf("list systems: %w", err)
	}
	return out, nil
}

// Ping checks that the catalog answers.
func (c *Catalog) Ping(ctx context.Context) error { return c.pool.Ping(ctx) }
