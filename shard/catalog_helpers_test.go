package shard

import (
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sharedmedcard/gateway/internal/testservers"
)

// startCatalog starts a PostgreSQL server of the test's own with a
// migrated catalog database, and returns it and a pool on that database.
func startCatalog(t *testing.T) (*testservers.Postgres, *pgxpool.Pool) {
	t.Helper()
	pg, err := testservers.StartPostgres()
	testservers.RequireT(t, err)
	t.Cleanup(func() { pg.Stop() })
	if err := pg.CreateDatabase("catalog"); err != nil {
		t.Fatal(err)
	}
	if _, err := MigrateCatalog(t.Context(), pg.DSN("catalog")); err != nil {
		t.Fatal(err)
	}
	pool, err := pgxpool.New(t.Context(), pg.DSN("catalog"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pg, pool
}
