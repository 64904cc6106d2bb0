package move

import (
	"context"
	"errors"
	"fmt"
	"regexp"

	"github.com/jackc/pgx/v5"

	"github.com/sharedmedcard/gateway/shard"
)

// validName is what the catalog accepts as a shard database's name.
var validName = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,39}$`)

// AddedDatabase is what AddDatabase did.
type AddedDatabase struct {
	Name          string `json:"name"`
	SchemaVersion int32  `json:"schemaVersion"`
	Created       bool   `json:"created"` // false: it was registered already, with the same DSN
}

// AddDatabase migrates the shard database at dsn and registers it as name,
// owning no shard yet. Moves onto and off it need wal_level = logical;
// it refuses a database that is not so configured, or that owns shards or
// holds cards already. Running it again with the same name and DSN
// changes nothing.
func (c *Cluster) AddDatabase(ctx context.Context, name, dsn string) (AddedDatabase, error) {
	res := AddedDatabase{Name: name}
	if !validName.MatchString(name) {
		return res, fmt.Errorf("add-db: %q is not a valid name: lower-case letters, digits, _ and -, starting with a letter, at most 40", name)
	}
	var have string
	err := c.catalog.QueryRow(ctx, `SELECT dsn FROM shard_databases WHERE name = $1`, name).Scan(&have)
	switch {
	case err == nil && have == dsn:
	case err == nil:
		return res, fmt.Errorf("add-db: %s is registered with another DSN; remove it first ('gateway shard remove-db %s') or pick another name", name, name)
	case !errors.Is(err, pgx.ErrNoRows):
		return res, fmt.Errorf("add-db: %w", err)
	}
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return res, fmt.Errorf("add-db: connect to %s: %w", name, err)
	}
	defer conn.Close(ctx)
	var walLevel string
	if err := conn.QueryRow(ctx, `SHOW wal_level`).Scan(&walLevel); err != nil {
		return res, fmt.Errorf("add-db: %w", err)
	}
	if walLevel != "logical" {
		return res, fmt.Errorf("add-db: %s has wal_level = %s; shard moves need wal_level = logical: set it in postgresql.conf, restart the server and run add-db again", name, walLevel)
	}
	if res.SchemaVersion, err = shard.MigrateShardDatabase(ctx, dsn); err != nil {
		return res, fmt.Errorf("add-db: migrate %s: %w", name, err)
	}
	if have == "" {
		var owned, cards int64
		if err := conn.QueryRow(ctx, `SELECT (SELECT count(*) FROM owned_shards), (SELECT count(*) FROM cards)`).Scan(&owned, &cards); err != nil {
			return res, fmt.Errorf("add-db: %w", err)
		}
		if owned > 0 || cards > 0 {
			return res, fmt.Errorf("add-db: %s already owns %d shards and holds %d cards; add an empty database", name, owned, cards)
		}
		err = pgx.BeginFunc(ctx, c.catalog, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `INSERT INTO shard_databases (name, dsn) VALUES ($1, $2)`, name, dsn); err != nil {
				return err
			}
			// Gateways open a pool to it at their next map load.
			_, err := tx.Exec(ctx, `UPDATE cluster SET epoch = epoch + 1`)
			return err
		})
		if err != nil {
			return res, fmt.Errorf("add-db: register %s: %w", name, err)
		}
		res.Created = true
	}
	return res, c.refreshDatabases(ctx)
}

// RemoveDatabase unregisters shard database name. It is refused while the
// map gives it a shard, a move involves it, it owns a shard by its own
// account, or it still holds rows (a move not cleaned up).
func (c *Cluster) RemoveDatabase(ctx context.Context, name string) error {
	m, err := c.LoadMap(ctx)
	if err != nil {
		return err
	}
	if _, ok := m.Databases[name]; !ok {
		return fmt.Errorf("remove-db: %s: %w", name, ErrUnknownDatabase)
	}
	n := 0
	for _, o := range m.Owner {
		if o == name {
			n++
		}
	}
	if n > 0 {
		return fmt.Errorf("remove-db: the map gives %s %d shards; drain it first: 'gateway shard plan --drain %s', then 'gateway shard rebalance PLAN'", name, n, name)
	}
	var open int
	if err := c.catalog.QueryRow(ctx, `SELECT count(*) FROM moves WHERE (source = $1 OR target = $1) AND state NOT IN ('done', 'cancelled', 'cleaned')`, name).Scan(&open); err != nil {
		return err
	}
	if open > 0 {
		return fmt.Errorf("remove-db: %d moves onto or off %s are not finished ('gateway shard moves')", open, name)
	}
	db, err := c.DB(name)
	if err != nil {
		return err
	}
	var owned, rows int64
	err = db.QueryRow(ctx, `SELECT (SELECT count(*) FROM owned_shards),
		(SELECT count(*) FROM cards) + (SELECT count(*) FROM write_outcomes) + (SELECT count(*) FROM audit_log)`).Scan(&owned, &rows)
	if err != nil {
		return fmt.Errorf("remove-db: %s: %w", name, err)
	}
	if owned > 0 {
		return fmt.Errorf("remove-db: %s still owns %d shards by its own account; run 'gateway shard verify'", name, owned)
	}
	if rows > 0 {
		return fmt.Errorf("remove-db: %s still holds %d rows of moved shards; run 'gateway shard cleanup' first", name, rows)
	}
	err = pgx.BeginFunc(ctx, c.catalog, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM shard_databases WHERE name = $1`, name); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `UPDATE cluster SET epoch = epoch + 1`)
		return err
	})
	if err != nil {
		return fmt.Errorf("remove-db: %w", err)
	}
	c.mu.Lock()
	if p, ok := c.pools[name]; ok {
		p.Close()
		delete(c.pools, name)
	}
	c.mu.Unlock()
	return c.refreshDatabases(ctx)
}
