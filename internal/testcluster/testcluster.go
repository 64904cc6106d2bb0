// Package testcluster starts the whole storage side of a gateway for tests:
// two real PostgreSQL servers (the catalog and shard database shard1 on the
// first, shard2 on the second; or both on a Patroni cluster), optionally Redis, every schema migrated, the
// 1024 logical shards spread over the two shard databases and the systems
// the caller names registered, as `make run` sets it up. The end-to-end tests
// of cmd/gateway and the robustness suite share it, so both test the same
// cluster.
package testcluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sharedmedcard/gateway/internal/credential"
	"github.com/sharedmedcard/gateway/internal/testservers"
	"github.com/sharedmedcard/gateway/medcard"
	"github.com/sharedmedcard/gateway/shard"
)

// Options says what to start.
type Options struct {
	// Redis starts a redis-server too.
	Redis bool
	// Systems are registered in the catalog (name, secret, roles), e.g.
	// seed.DemoSystems.
	Systems []medcard.System
	// OnPatroni, when set, puts the catalog and shard2 on a three-node
	// Patroni cluster (with its own etcd) instead of PG1 and PG2, reached
	// through the cluster's multi-host DSN (target_session_attrs=
	// read-write), as deploy/patroni/ runs them; shard1 stays on PG1.
	OnPatroni *testservers.PatroniOptions
}

// Cluster is a running test cluster. Stop removes every server and its data.
type Cluster struct {
	PG1, PG2 *testservers.Postgres // PG2 is nil with Options.OnPatroni
	Redis    *testservers.Redis    // nil unless Options.Redis
	// Etcd and Patroni hold the catalog and shard2 with Options.OnPatroni.
	Etcd    *testservers.Etcd
	Patroni *testservers.PatroniCluster

	CatalogDSN string
	// ShardDSNs are the shard databases by name (shard1, shard2).
	ShardDSNs map[string]string
	// Shards are pools on the shard databases, for tests that look into
	// them directly.
	Shards  map[string]*pgxpool.Pool
	Catalog *pgxpool.Pool
	// SecretKeyFile is the cluster's own key for the systems' secrets
	// (serve --secret-key-file, app.Config.SecretKeyFile): Options.Systems
	// are sealed with it, so their PasswordDigest works with it.
	SecretKeyFile string
	keyDir        string
}

// ShardNames are the shard databases of every test cluster, in order.
var ShardNames = []string{"shard1", "shard2"}

// Start starts a cluster. On error it stops what it started; the error
// says which server failed (missing binaries included), so a caller can
// hand it to testservers.MainOrSkip or RequireT.
func Start(ctx context.Context, o Options) (c *Cluster, err error) {
	c = &Cluster{ShardDSNs: map[string]string{}, Shards: map[string]*pgxpool.Pool{}}
	defer func() {
		if err != nil {
			c.Stop()
			c = nil
		}
	}()
	if c.PG1, err = testservers.StartPostgres(); err != nil {
		return c, err
	}
	if o.OnPatroni == nil {
		if c.PG2, err = testservers.StartPostgres(); err != nil {
			return c, err
		}
	} else if err := c.startPatroni(ctx, *o.OnPatroni); err != nil {
		return c, err
	}
	if o.Redis {
		if c.Redis, err = testservers.StartRedis(); err != nil {
			return c, err
		}
	}
	if err := c.PG1.CreateDatabase("shard1"); err != nil {
		return c, err
	}
	c.ShardDSNs["shard1"] = c.PG1.DSN("shard1")
	if c.PG2 != nil {
		for _, step := range []struct {
			pg *testservers.Postgres
			db string
		}{{c.PG1, "catalog"}, {c.PG2, "shard2"}} {
			if err := step.pg.CreateDatabase(step.db); err != nil {
				return c, err
			}
		}
		c.CatalogDSN = c.PG1.DSN("catalog")
		c.ShardDSNs["shard2"] = c.PG2.DSN("shard2")
	} else {
		c.CatalogDSN = c.Patroni.DSN("catalog")
		c.ShardDSNs["shard2"] = c.Patroni.DSN("shard2")
	}

	if _, err := shard.MigrateCatalog(ctx, c.CatalogDSN); err != nil {
		return c, fmt.Errorf("testcluster: migrate catalog: %w", err)
	}
	var dbs []shard.Database
	for _, name := range ShardNames {
		if _, err := shard.MigrateShardDatabase(ctx, c.ShardDSNs[name]); err != nil {
			return c, fmt.Errorf("testcluster: migrate %s: %w", name, err)
		}
		dbs = append(dbs, shard.Database{Name: name, DSN: c.ShardDSNs[name]})
	}
	if c.Catalog, err = pgxpool.New(ctx, c.CatalogDSN); err != nil {
		return c, err
	}
	catalog := shard.NewCatalog(c.Catalog, time.Now)
	if c.keyDir, err = os.MkdirTemp("", "testcluster-key-"); err != nil {
		return c, err
	}
	c.SecretKeyFile = filepath.Join(c.keyDir, "secret.key")
	if err := credential.NewKeyFile(c.SecretKeyFile); err != nil {
		return c, err
	}
	key, err := credential.LoadKeyFile(c.SecretKeyFile)
	if err != nil {
		return c, err
	}
	catalog.SetSecretKey(key)
	if _, err := catalog.Init(ctx, dbs); err != nil {
		return c, fmt.Errorf("testcluster: shard init: %w", err)
	}
	for _, s := range o.Systems {
		if err := catalog.PutSystem(ctx, s); err != nil {
			return c, fmt.Errorf("testcluster: register system %s: %w", s.Name, err)
		}
	}
	for name, dsn := range c.ShardDSNs {
		if c.Shards[name], err = pgxpool.New(ctx, dsn); err != nil {
			return c, err
		}
	}
	return c, nil
}

// NewCatalog returns a catalog over the cluster's, with its secret key, so
// systems a test registers with it have a working PasswordDigest.
func (c *Cluster) NewCatalog() (*shard.Catalog, error) {
	catalog := shard.NewCatalog(c.Catalog, time.Now)
	key, err := credential.LoadKeyFile(c.SecretKeyFile)
	if err != nil {
		return nil, err
	}
	catalog.SetSecretKey(key)
	return catalog, nil
}

// startPatroni starts an etcd and a three-node Patroni cluster on it, and
// creates databases catalog and shard2 on its leader.
func (c *Cluster) startPatroni(ctx context.Context, o testservers.PatroniOptions) error {
	var err error
	if c.Etcd, err = testservers.StartEtcd(); err != nil {
		return err
	}
	if c.Patroni, err = testservers.StartPatroniCluster(c.Etcd, "shard2", 3, o); err != nil {
		return err
	}
	conn, err := pgx.Connect(ctx, c.Patroni.DSN("postgres"))
	if err != nil {
		return fmt.Errorf("testcluster: connect to the Patroni leader: %w", err)
	}
	defer conn.Close(context.Background())
	for _, db := range []string{"catalog", "shard2"} {
		if _, err := conn.Exec(ctx, "CREATE DATABASE "+db); err != nil {
			return fmt.Errorf("testcluster: create %s on the Patroni cluster: %w", db, err)
		}
	}
	return nil
}

// ShardFlag is the --shard-dsns value naming both shard databases.
func (c *Cluster) ShardFlag() string {
	parts := make([]string, 0, len(ShardNames))
	for _, name := range ShardNames {
		parts = append(parts, name+"="+c.ShardDSNs[name])
	}
	return strings.Join(parts, ",")
}

// Stop stops every server and removes its data. It is nil-safe.
func (c *Cluster) Stop() error {
	if c == nil {
		return nil
	}
	for _, p := range c.Shards {
		p.Close()
	}
	if c.Catalog != nil {
		c.Catalog.Close()
	}
	if c.keyDir != "" {
		os.RemoveAll(c.keyDir)
	}
	return errors.Join(c.Redis.Stop(), c.PG1.Stop(), c.PG2.Stop(), c.Patroni.Stop(), c.Etcd.Stop())
}
