package shard

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/zap"

	"github.com/sharedmedcard/gateway/internal/testservers"
)

// it is the shared test cluster: two real PostgreSQL servers, the first
// holding the catalog and shard1, the second shard2. It is nil when the
// servers could not be started outside CI; integration tests then skip.
var it *cluster

type cluster struct {
	catalog *Catalog
	store   *Store
	dsn     map[string]string        // "catalog", "shard1", "shard2" -> DSN
	db      map[string]*pgxpool.Pool // direct pools for checking in SQL
}

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

// runMain is TestMain with defers: os.Exit would skip them.
func runMain(m *testing.M) int {
	pgA, pgB, err := startTwoPostgres()
	if !testservers.MainOrSkip(err) {
		return m.Run() // integration tests skip themselves
	}
	defer pgA.Stop()
	defer pgB.Stop()

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	c, err := newCluster(ctx, pgA, pgB)
	cancel()
	if err != nil {
		// The servers run, so this is a real failure, not a missing tool.
		fmt.Fprintf(os.Stderr, "set up the shard test cluster: %v\n", err)
		return 1
	}
	defer c.close()
	it = c
	return m.Run()
}

// startTwoPostgres starts both servers at once to halve the start-up time.
func startTwoPostgres() (*testservers.Postgres, *testservers.Postgres, error) {
	var pgs [2]*testservers.Postgres
	var errs [2]error
	var wg sync.WaitGroup
	for i := range pgs {
		wg.Go(func() { pgs[i], errs[i] = testservers.StartPostgres() })
	}
	wg.Wait()
	if err := errors.Join(errs[:]...); err != nil {
		pgs[0].Stop() // nil-safe
		pgs[1].Stop()
		return nil, nil, err
	}
	return pgs[0], pgs[1], nil
}

// newCluster creates the databases, migrates them, initialises the cluster
// (shard1 gets logical shards 0-511, shard2 512-1023) and opens the store.
func newCluster(ctx context.Context, pgA, pgB *testservers.Postgres) (c *cluster, err error) {
	for _, name := range []string{"catalog", "shard1"} {
		if err := pgA.CreateDatabase(name); err != nil {
			return nil, err
		}
	}
	if err := pgB.CreateDatabase("shard2"); err != nil {
		return nil, err
	}
	c = &cluster{
		dsn: map[string]string{
			"catalog": pgA.DSN("catalog"),
			"shard1":  pgA.DSN("shard1"),
			"shard2":  pgB.DSN("shard2"),
		},
		db: map[string]*pgxpool.Pool{},
	}
	defer func() {
		if err != nil {
			c.close()
		}
	}()
	if _, err := MigrateCatalog(ctx, c.dsn["catalog"]); err != nil {
		return nil, fmt.Errorf("migrate catalog: %w", err)
	}
	for _, name := range []string{"shard1", "shard2"} {
		if _, err := MigrateShardDatabase(ctx, c.dsn[name]); err != nil {
			return nil, fmt.Errorf("migrate %s: %w", name, err)
		}
	}
	for name, dsn := range c.dsn {
		p, err := pgxpool.New(ctx, dsn)
		if err != nil {
			return nil, fmt.Errorf("connect %s: %w", name, err)
		}
		c.db[name] = p
	}
	c.catalog = NewCatalog(c.db["catalog"], time.Now)
	if _, err := c.catalog.Init(ctx, []Database{{"shard1", c.dsn["shard1"]}, {"shard2", c.dsn["shard2"]}}); err != nil {
		return nil, err
	}
	if c.store, err = Open(ctx, c.catalog, zap.NewNop(), nil); err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	return c, nil
}

func (c *cluster) close() {
	if c.store != nil {
		c.store.Close()
	}
	for _, p := range c.db {
		p.Close()
	}
}

// needCluster returns the test cluster or skips the test without one.
func needCluster(t *testing.T) *cluster {
	t.Helper()
	if it == nil {
		t.Skip("no PostgreSQL servers (see internal/testservers)")
	}
	return it
}
