package move

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/zap"

	"github.com/sharedmedcard/gateway/shard"
)

// Cluster is the catalog and the shard databases as an operator's command
// sees them: the journal, the map and a small pool per shard database.
type Cluster struct {
	catalog *pgxpool.Pool
	log     *zap.Logger

	mu    sync.Mutex
	dsns  map[string]string // shard database name -> DSN, from the catalog
	pools map[string]*pgxpool.Pool
}

// Open connects to the catalog at catalogDSN and reads the shard databases
// it names. Close releases every connection.
func Open(ctx context.Context, catalogDSN string, log *zap.Logger) (*Cluster, error) {
	pool, err := pgxpool.New(ctx, catalogDSN)
	if err != nil {
		return nil, fmt.Errorf("catalog: %w", err)
	}
	c := &Cluster{catalog: pool, log: log, pools: map[string]*pgxpool.Pool{}}
	if err := c.refreshDatabases(ctx); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// Close closes every pool.
func (c *Cluster) Close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for name, p := range c.pools {
		p.Close()
		delete(c.pools, name)
	}
	c.catalog.Close()
}

// Catalog is the pool on the catalog database.
func (c *Cluster) Catalog() *pgxpool.Pool { return c.catalog }

// refreshDatabases reads the shard databases from the catalog.
func (c *Cluster) refreshDatabases(ctx context.Context) error {
	rows, err := c.catalog.Query(ctx, `SELECT name, dsn FROM shard_databases`)
	if err != nil {
		return fmt.Errorf("read shard databases: %w", err)
	}
	dsns := map[string]string{}
	var name, dsn string
	if _, err := pgx.ForEachRow(rows, []any{&name, &dsn}, func() error { dsns[name] = dsn; return nil }); err != nil {
		return fmt.Errorf("read shard databases: %w", err)
	}
	c.mu.Lock()
	c.dsns = dsns
	c.mu.Unlock()
	return nil
}

// Databases are the shard databases' names, sorted.
func (c *Cluster) Databases() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	names := make([]string, 0, len(c.dsns))
	for name := range c.dsns {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// ErrUnknownDatabase is returned for a shard database the catalog does not name.
var ErrUnknownDatabase = errors.New("no such shard database (see 'gateway shard status')")

// DB returns a pool on shard database name.
func (c *Cluster) DB(name string) (*pgxpool.Pool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if p, ok := c.pools[name]; ok {
		return p, nil
	}
	dsn, ok := c.dsns[name]
	if !ok {
		return nil, fmt.Errorf("%s: %w", name, ErrUnknownDatabase)
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("shard database %s: bad DSN: %w", name, err)
	}
	// A move holds up to three connections at once to a database (the
	// freeze, its commit, a barrier wait); room for many moves.
	cfg.MaxConns = 32
	p, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		return nil, fmt.Errorf("shard database %s: %w", name, err)
	}
	c.pools[name] = p
	return p, nil
}

// dsn returns the registered DSN of shard database name.
func (c *Cluster) dsn(name string) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	dsn, ok := c.dsns[name]
	if !ok {
		return "", fmt.Errorf("%s: %w", name, ErrUnknownDatabase)
	}
	return dsn, nil
}

// LoadMap reads the shard map.
func (c *Cluster) LoadMap(ctx context.Context) (*shard.Map, error) {
	return shard.NewCatalog(c.catalog, nil).LoadMap(ctx)
}

// libpqConnString turns a DSN the gateway accepts into one a PostgreSQL
// server's libpq accepts in CREATE SUBSCRIPTION ... CONNECTION: pgx and
// pgxpool settings (pool_max_conns and the like) are not libpq's and are
// dropped.
func libpqConnString(dsn string) (string, error) {
	if !strings.HasPrefix(dsn, "postgres://") && !strings.HasPrefix(dsn, "postgresql://") {
		// keyword=value form: drop the pgx-only keywords.
		var keep []string
		for _, kv := range strings.Fields(dsn) {
			if !pgxOnlySetting(strings.SplitN(kv, "=", 2)[0]) {
				keep = append(keep, kv)
			}
		}
		return strings.Join(keep, " "), nil
	}
	u, err := url.Parse(dsn)
	if err != nil {
		return "", fmt.Errorf("bad DSN: %w", err)
	}
	q := u.Query()
	for k := range q {
		if pgxOnlySetting(k) {
			q.Del(k)
		}
	}
	u.RawQuery = q.Encode()
	return u.String(), nil
}

func pgxOnlySetting(key string) bool {
	return strings.HasPrefix(key, "pool_") || key == "statement_cache_capacity" ||
		key == "description_cache_capacity" || key == "default_query_exec_mode"
}
