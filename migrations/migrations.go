// Package migrations holds the versioned SQL schemas of the catalog database
// and of the shard databases, and applies them with tern. Migrations are
// plain SQL files named NNN_description.sql; tern records the applied
// version in a table and takes an advisory lock, so applying is idempotent
// and safe to run from several processes at once.
package migrations

import (
	"context"
	"embed"
	"fmt"
	"io/fs"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/tern/v2/migrate"
)

//go:embed catalog/*.sql shard/*.sql
var files embed.FS

// Schema names one of the two kinds of database.
type Schema string

// The schemas.
const (
	Catalog Schema = "catalog"
	Shard   Schema = "shard"
)

// Apply brings the database conn is connected to up to the newest version
// of schema, and returns the version it is at.
func Apply(ctx context.Context, conn *pgx.Conn, schema Schema) (int32, error) {
	sub, err := fs.Sub(files, string(schema))
	if err != nil {
		return 0, fmt.Errorf("migrations %s: %w", schema, err)
	}
	m, err := migrate.NewMigrator(ctx, conn, "schema_version")
	if err != nil {
		return 0, fmt.Errorf("migrator: %w", err)
	}
	if err := m.LoadMigrations(sub); err != nil {
		return 0, fmt.Errorf("load %s migrations: %w", schema, err)
	}
	if err := m.Migrate(ctx); err != nil {
		return 0, fmt.Errorf("apply %s migrations: %w", schema, err)
	}
	return m.GetCurrentVersion(ctx)
}
