package shard

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/jackc/pgx/v5"

	"github.com/sharedmedcard/gateway/migrations"
)

// Database is a shard database as the operator names it.
type Database struct {
	Name string
	DSN  string
}

// MigrateCatalog applies the catalog schema.
func MigrateCatalog(ctx context.Context, catalogDSN string) (int32, error) {
	return migrateDSN(ctx, catalogDSN, migrations.Catalog)
}

// MigrateShardDatabase applies the shard schema to one shard database.
func MigrateShardDatabase(ctx context.Context, dsn string) (int32, error) {
	return migrateDSN(ctx, dsn, migrations.Shard)
}

func migrateDSN(ctx context.Context, dsn string, schema migrations.Schema) (int32, error) {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return 0, fmt.Errorf("connect: %w", err)
	}
	defer conn.Close(ctx)
	return migrations.Apply(ctx, conn, schema)
}

// Init creates the cluster: it registers dbs in the catalog and spreads the
// logical shards over them in contiguous, equal ranges, recording ownership
// both in the catalog map and in each database's owned_shards. Every shard
// database must be migrated first. Running Init again with the same
// databases changes nothing (and reports created false); with different
// ones it is refused.
func (c *Catalog) Init(ctx context.Context, dbs []Database) (created bool, err error) {
	if len(dbs) == 0 {
		return false, errors.New("init: name at least one shard database")
	}
	names := make([]string, len(dbs))
	for i, db := range dbs {
		names[i] = db.Name
	}
	if m, err := c.LoadMap(ctx); err == nil {
		have := make([]string, 0, len(m.Databases))
		for name := range m.Databases {
			have = append(have, name)
		}
		sort.Strings(have)
		want := append([]string(nil), names...)
		sort.Strings(want)
		if fmt.Sprint(have) != fmt.Sprint(want) {
			return false, fmt.Errorf("init: the cluster exists with databases %v; use shard add-db and rebalance to change it", have)
		}
		return false, syncOwnership(ctx, m, dbs)
	} else if !errors.Is(err, ErrNotInitialized) {
		return false, err
	}

	owner := func(shard int) string { return names[shard*len(names)/Count] }
	err = pgx.BeginFunc(ctx, c.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO cluster (shard_count, epoch) VALUES ($1, 1)`, Count); err != nil {
			return err
		}
		for _, db := range dbs {
			if _, err := tx.Exec(ctx, `INSERT INTO shard_databases (name, dsn) VALUES ($1, $2)`, db.Name, db.DSN); err != nil {
				return err
			}
		}
		_, err := tx.Exec(ctx, `INSERT INTO shard_map (shard, database, epoch)
			SELECT s, ($1::text[])[s * cardinality($1::text[]) / $2 + 1], 1 FROM generate_series(0, $2 - 1) AS s`,
			names, Count)
		return err
	})
	if err != nil {
		return false, fmt.Errorf("init catalog: %w", err)
	}
	m := &Map{Epoch: 1, Databases: map[string]string{}}
	for _, db := range dbs {
		m.Databases[db.Name] = db.DSN
	}
	for s := range Count {
		m.Owner[s] = owner(s)
	}
	return true, syncOwnership(ctx, m, dbs)
}

// syncOwnership makes each database's owned_shards hold exactly the shards
// the map gives it. It is only for Init: moves change ownership one shard
// at a time under their own protocol.
func syncOwnership(ctx context.Context, m *Map, dbs []Database) error {
	for _, db := range dbs {
		var owned []int32
		for s := range Count {
			if m.Owner[s] == db.Name {
				owned = append(owned, int32(s))
			}
		}
		conn, err := pgx.Connect(ctx, db.DSN)
		if err != nil {
			return fmt.Errorf("connect %s: %w", db.Name, err)
		}
		_, err = conn.Exec(ctx, `INSERT INTO owned_shards (shard) SELECT unnest($1::int[]) ON CONFLICT DO NOTHING`, owned)
		conn.Close(ctx)
		if err != nil {
			return fmt.Errorf("record owned shards on %s: %w", db.Name, err)
		}
	}
	return nil
}

// DatabaseStatus is one line of `gateway shard status`.
type DatabaseStatus struct {
	Name       string `json:"name"`
	Shards     int    `json:"shards"`
	OwnedInDB  int    `json:"ownedInDatabase"` // what the database itself says
	FrozenInDB int    `json:"frozenInDatabase"`
	// Cards counts the cards of the shards the database owns; LeftoverCards
	// those of shards it does not (copies a move left at its source until
	// `gateway shard cleanup`, or a cancelled move's at its target).
	Cards         int64 `json:"cards"`
	LeftoverCards int64 `json:"leftoverCards"`
	// ShardRanges are the map's shards of the database as runs, "0-340".
	ShardRanges []string `json:"shardRanges"`
	Unreachable string   `json:"unreachable,omitempty"`
}

// Status reports, per shard database, the shards the map gives it, what the
// database itself records, and how many cards it holds.
func (s *Store) Status(ctx context.Context) (int64, []DatabaseStatus, error) {
	m := s.current.Load()
	byName := map[string]*DatabaseStatus{}
	var out []DatabaseStatus
	for name := range m.Databases {
		byName[name] = &DatabaseStatus{Name: name, ShardRanges: []string{}}
	}
	for first := 0; first < Count; {
		last := first
		for last+1 < Count && m.Owner[last+1] == m.Owner[first] {
			last++
		}
		st := byName[m.Owner[first]]
		st.Shards += last - first + 1
		run := fmt.Sprint(first)
		if last > first {
			run = fmt.Sprintf("%d-%d", first, last)
		}
		st.ShardRanges = append(st.ShardRanges, run)
		first = last + 1
	}
	for name, dsn := range m.Databases {
		st := byName[name]
		p, err := s.pool(name, dsn)
		if err == nil {
			err = p.QueryRow(ctx, `SELECT (SELECT count(*) FROM owned_shards),
				(SELECT count(*) FROM owned_shards WHERE NOT writable AND (frozen_until IS NULL OR frozen_until > clock_timestamp())),
				count(*) FILTER (WHERE o.shard IS NOT NULL), count(*) FILTER (WHERE o.shard IS NULL)
				FROM cards c LEFT JOIN owned_shards o ON o.shard = c.shard`).
				Scan(&st.OwnedInDB, &st.FrozenInDB, &st.Cards, &st.LeftoverCards)
		}
		if err != nil {
			st.Unreachable = err.Error()
		}
		out = append(out, *st)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return m.Epoch, out, nil
}
