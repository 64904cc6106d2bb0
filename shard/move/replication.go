package move

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Copy and catch-up run on PostgreSQL's logical replication: a
// publication at the source with a row filter on the shard, a slot whose
// exported snapshot the mover copies the rows at (one COPY per table,
// copyAtSlot), and a subscription at the target that streams every later
// change, the way Citus moves shards. PostgreSQL does the decoding, the
// ordering and the retries; the mover creates, watches and drops the
// three objects.

// movedTables are the tables a move copies: every row carries its shard.
// move_markers carries the mover's barriers (see marker).
var movedTables = []string{"cards", "write_outcomes", "audit_log", "open_orders", "move_markers"}

// createPublication creates move m's publication at the source, unless it
// exists.
func createPublication(ctx context.Context, src *pgxpool.Pool, m *Move) error {
	var exists bool
	if err := src.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_publication WHERE pubname = $1)`, m.name()).Scan(&exists); err != nil {
		return fmt.Errorf("look for publication: %w", err)
	}
	if exists {
		return nil
	}
	parts := make([]string, len(movedTables))
	for i, t := range movedTables {
		parts[i] = fmt.Sprintf("%s WHERE (shard = %d)", t, m.Shard)
	}
	// Truncates are not published: a TRUNCATE has no row filter.
	// audit_log is partitioned by month (migrations/shard/008): published
	// via its root, its row filter holds for every month, the target
	// routes the rows into its own months, and a month attached or
	// dropped meanwhile needs nothing of the publication.
	sql := fmt.Sprintf(`CREATE PUBLICATION %s FOR TABLE %s WITH (publish = 'insert, update, delete', publish_via_partition_root = true)`,
		pgx.Identifier{m.name()}.Sanitize(), strings.Join(parts, ", "))
	if _, err := src.Exec(ctx, sql); err != nil {
		return fmt.Errorf("create publication: %w", err)
	}
	return nil
}

// copyAtSlot creates move m's slot at the source over a replication
// connection, exporting the snapshot the slot starts from, and copies the
// shard's rows of every moved table as of that snapshot into the target,
// in one transaction there. The subscription created afterwards
// (createSubscription) streams from the same point, so every change is
// in the copy or in the stream, never in both or neither.
//
// PostgreSQL's own initial copy (copy_data = true) starts a table-sync
// worker per table, each with a walsender, a slot and a snapshot of its
// own: five of each per move, which cost more CPU than the rows copied
// (docs/operations.md). One slot and one COPY per table over the mover's
// connections do the same work; the target runs it as the apply worker
// does (session_replication_role = replica: the fence triggers, which
// refuse rows of a shard the database does not own, stay quiet).
//
// An earlier attempt's slot is dropped first (its snapshot went with its
// connection) and so are its rows at the target, if any were committed.
func copyAtSlot(ctx context.Context, srcConn string, src, dst *pgxpool.Pool, m *Move, copied func(cards int64)) (int64, error) {
	if err := dropSlot(ctx, src, m.name()); err != nil {
		return 0, err
	}
	if _, err := deleteShardRows(ctx, dst, m.Shard, nil); err != nil {
		return 0, err
	}
	cfg, err := pgconn.ParseConfig(srcConn)
	if err != nil {
		return 0, fmt.Errorf("copy: the source's DSN: %w", err)
	}
	cfg.RuntimeParams["replication"] = "database"
	repl, err := pgconn.ConnectConfig(ctx, cfg)
	if err != nil {
		return 0, fmt.Errorf("copy: replication connection to the source: %w", err)
	}
	defer repl.Close(context.WithoutCancel(ctx))
	res, err := repl.Exec(ctx, fmt.Sprintf(`CREATE_REPLICATION_SLOT %s LOGICAL pgoutput (SNAPSHOT 'export')`,
		pgx.Identifier{m.name()}.Sanitize())).ReadAll()
	if err != nil {
		return 0, fmt.Errorf("create slot: %w", err)
	}
	if len(res) != 1 || len(res[0].Rows) != 1 || len(res[0].Rows[0]) < 3 {
		return 0, fmt.Errorf("create slot: unexpected answer %v", res)
	}
	snapshot := string(res[0].Rows[0][2])

	srcTx, err := src.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return 0, fmt.Errorf("copy: %w", err)
	}
	defer srcTx.Rollback(context.WithoutCancel(ctx))
	if _, err := srcTx.Exec(ctx, `SET TRANSACTION SNAPSHOT '`+strings.ReplaceAll(snapshot, `'`, `''`)+`'`); err != nil {
		return 0, fmt.Errorf("copy: take the slot's snapshot: %w", err)
	}
	// Imported: the snapshot lives on in srcTx, and the replication
	// connection (which must stay idle while it is exported) can go.
	repl.Close(ctx)

	dstTx, err := dst.Begin(ctx)
	if err != nil {
		return 0, fmt.Errorf("copy: %w", err)
	}
	defer dstTx.Rollback(context.WithoutCancel(ctx))
	if _, err := dstTx.Exec(ctx, `SET LOCAL session_replication_role = replica`); err != nil {
		return 0, fmt.Errorf("copy: %w", err)
	}
	var total int64
	for _, table := range movedTables {
		n, err := copyTable(ctx, srcTx, dstTx, table, m.Shard)
		if err != nil {
			return total, err
		}
		total += n
		if table == "cards" {
			copied(n) // progress counts cards, as rows_total does
		}
	}
	if err := dstTx.Commit(ctx); err != nil {
		return total, fmt.Errorf("copy: commit at the target: %w", err)
	}
	return total, nil
}

// copyTable streams shard s's rows of table from the source's transaction
// into the target's (binary COPY, the source's column list on both sides).
func copyTable(ctx context.Context, srcTx, dstTx pgx.Tx, table string, s int) (int64, error) {
	var columns string
	if err := srcTx.QueryRow(ctx, `SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) FROM pg_attribute
		WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped AND attgenerated = ''`, table).Scan(&columns); err != nil {
		return 0, fmt.Errorf("copy %s: its columns: %w", table, err)
	}
	ident := pgx.Identifier{table}.Sanitize()
	r, w := io.Pipe()
	sent := make(chan error, 1)
	go func() {
		_, err := srcTx.Conn().PgConn().CopyTo(ctx, w, fmt.Sprintf(`COPY (SELECT %s FROM %s WHERE shard = %d) TO STDOUT (FORMAT binary)`, columns, ident, s))
		w.CloseWithError(err)
		sent <- err
	}()
	tag, err := dstTx.Conn().PgConn().CopyFrom(ctx, r, fmt.Sprintf(`COPY %s (%s) FROM STDIN (FORMAT binary)`, ident, columns))
	r.CloseWithError(errors.New("the target's COPY ended"))
	if srcErr := <-sent; srcErr != nil && err == nil {
		err = srcErr
	}
	if err != nil {
		return 0, fmt.Errorf("copy %s: %w", table, err)
	}
	return tag.RowsAffected(), nil
}

// createSubscription creates move m's subscription at the target on the
// slot copyAtSlot made, without a copy of its own: it streams every change
// the source committed after the copy's snapshot.
func createSubscription(ctx context.Context, dst *pgxpool.Pool, m *Move, srcConn string) error {
	sql := fmt.Sprintf(`CREATE SUBSCRIPTION %s CONNECTION '%s' PUBLICATION %s WITH (slot_name = %s, create_slot = false, copy_data = false)`,
		pgx.Identifier{m.name()}.Sanitize(), strings.ReplaceAll(srcConn, `'`, `''`),
		pgx.Identifier{m.name()}.Sanitize(), pgx.Identifier{m.name()}.Sanitize())
	if _, err := dst.Exec(ctx, sql); err != nil {
		return fmt.Errorf("create subscription: %w", err)
	}
	return nil
}

// copyProgress is how far the initial copy of move m has come.
type copyProgress struct {
	tables, ready int   // tables in the subscription, those copied and streaming
	rows          int64 // rows of the shard at the target, in copied tables and copies under way
}

// subscriptionProgress reads the target's view of move m's copy.
func subscriptionProgress(ctx context.Context, dst *pgxpool.Pool, m *Move) (copyProgress, error) {
	var p copyProgress
	// 'r' ready (streaming); 's' synced (the apply worker takes over
	// shortly); 'f' finished copying; 'd' copying; 'i' not started.
	err := dst.QueryRow(ctx, `
		SELECT count(*), count(*) FILTER (WHERE r.srsubstate IN ('r', 's')),
		       coalesce((SELECT sum(tuples_processed) FROM pg_stat_progress_copy pc
		                  WHERE pc.relid IN (SELECT srrelid FROM pg_subscription_rel WHERE srsubid = s.oid)), 0)::bigint
		FROM pg_subscription s JOIN pg_subscription_rel r ON r.srsubid = s.oid
		WHERE s.subname = $1 GROUP BY s.oid`, m.name()).Scan(&p.tables, &p.ready, &p.rows)
	if errors.Is(err, pgx.ErrNoRows) {
		return p, nil // the subscription's tables are not listed yet
	}
	if err != nil {
		return p, fmt.Errorf("read copy progress: %w", err)
	}
	var done int64
	if err := dst.QueryRow(ctx, `SELECT count(*) FROM cards WHERE shard = $1`, m.Shard).Scan(&done); err != nil {
		return p, fmt.Errorf("read copy progress: %w", err)
	}
	p.rows += done
	return p, nil
}

// execer is a pool, a connection or a transaction.
type execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// insertMarker commits a barrier for move m at the source: once the row
// is at the target, so is every change the source committed before it.
func insertMarker(ctx context.Context, q execer, m *Move, seq int64) error {
	_, err := q.Exec(ctx, `INSERT INTO move_markers (shard, move, seq) VALUES ($1, $2, $3)`, m.Shard, m.ID, seq)
	if err != nil {
		return fmt.Errorf("insert marker: %w", err)
	}
	return nil
}

// waitMarker waits until marker seq of move m is at the target, polling
// every millisecond or two, until deadline. It reports whether it arrived.
func waitMarker(ctx context.Context, dst *pgxpool.Pool, m *Move, seq int64, deadline time.Time) (bool, error) {
	return pollTarget(ctx, dst, deadline, 10*time.Millisecond, "wait for marker", func(conn *pgxpool.Conn) (bool, error) {
		var there bool
		err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM move_markers WHERE shard = $1 AND move = $2 AND seq = $3)`,
			m.Shard, m.ID, seq).Scan(&there)
		return there, err
	})
}

// pollTarget runs poll on one connection to the target until it reports
// true or deadline comes, from half a millisecond apart to maxWait.
func pollTarget(ctx context.Context, dst *pgxpool.Pool, deadline time.Time, maxWait time.Duration, what string, poll func(*pgxpool.Conn) (bool, error)) (bool, error) {
	conn, err := dst.Acquire(ctx)
	if err != nil {
		return false, fmt.Errorf("%s: %w", what, err)
	}
	defer conn.Release()
	for wait := 500 * time.Microsecond; ; wait = min(wait*2, maxWait) {
		done, err := poll(conn)
		if err != nil {
			return false, fmt.Errorf("%s: %w", what, err)
		}
		if done {
			return true, nil
		}
		if time.Now().Add(wait).After(deadline) {
			return false, nil
		}
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case <-time.After(wait):
		}
	}
}

// dropSubscription drops move m's subscription at the target, and with it
// the slot at the source (and any table-copy slots).
//
// DROP SUBSCRIPTION is not atomic across the two servers: it drops the
// slot at the source, then commits at the target. Cancelled in between
// (Ctrl-C), it leaves a subscription whose slot is gone: its worker fails
// for ever and a plain DROP fails too. So the statement runs to its end
// whatever ctx does, and a subscription found without its slot is first
// detached from it (disable, slot_name = NONE), as PostgreSQL's docs say.
func dropSubscription(ctx context.Context, src, dst *pgxpool.Pool, m *Move) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
	defer cancel()
	sub := pgx.Identifier{m.name()}.Sanitize()
	subscribed, err := subscriptionExists(ctx, dst, m)
	if err != nil || !subscribed {
		return err
	}
	slot, err := slotExists(ctx, src, m.name())
	if err != nil {
		return err
	}
	if !slot {
		for _, sql := range []string{`ALTER SUBSCRIPTION ` + sub + ` DISABLE`, `ALTER SUBSCRIPTION ` + sub + ` SET (slot_name = NONE)`} {
			if _, err := dst.Exec(ctx, sql); err != nil {
				return fmt.Errorf("detach subscription from its lost slot: %w", err)
			}
		}
	}
	if _, err := dst.Exec(ctx, `DROP SUBSCRIPTION IF EXISTS `+sub); err != nil {
		return fmt.Errorf("drop subscription: %w", err)
	}
	return nil
}

// subscriptionExists reports whether move m's subscription is at the target.
func subscriptionExists(ctx context.Context, dst *pgxpool.Pool, m *Move) (bool, error) {
	var exists bool
	if err := dst.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_subscription WHERE subname = $1)`, m.name()).Scan(&exists); err != nil {
		return false, fmt.Errorf("look for subscription: %w", err)
	}
	return exists, nil
}

// slotExists reports whether replication slot name is at the source.
func slotExists(ctx context.Context, src *pgxpool.Pool, name string) (bool, error) {
	var exists bool
	if err := src.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name = $1)`, name).Scan(&exists); err != nil {
		return false, fmt.Errorf("look for slot: %w", err)
	}
	return exists, nil
}

// dropSlot drops replication slot name at the source if it exists,
// waiting for a walsender that still holds it to let go.
func dropSlot(ctx context.Context, src *pgxpool.Pool, name string) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		var exists, active bool
		err := src.QueryRow(ctx, `SELECT true, active FROM pg_replication_slots WHERE slot_name = $1`, name).Scan(&exists, &active)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("look for slot: %w", err)
		}
		if !active {
			_, err = src.Exec(ctx, `SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1 AND NOT active`, name)
			if err == nil {
				continue // make sure it is gone
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("drop slot %s: still in use after 30 s (active %v): %v", name, active, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// dropPublication drops move m's publication at the source.
func dropPublication(ctx context.Context, src *pgxpool.Pool, m *Move) error {
	if _, err := src.Exec(ctx, `DROP PUBLICATION IF EXISTS `+pgx.Identifier{m.name()}.Sanitize()); err != nil {
		return fmt.Errorf("drop publication: %w", err)
	}
	return nil
}

// deleteShardRows deletes every row of shard s from a database that does
// not own it (a target before or after a cancelled copy; a source after
// the flip), in batches so no statement holds many locks for long. It
// refuses if the database owns the shard.
func deleteShardRows(ctx context.Context, db *pgxpool.Pool, s int, progress func(int64)) (int64, error) {
	var owned bool
	if err := db.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM owned_shards WHERE shard = $1)`, s).Scan(&owned); err != nil {
		return 0, err
	}
	if owned {
		return 0, fmt.Errorf("refusing to delete shard %d's rows from a database that owns it", s)
	}
	var total int64
	for _, t := range []struct{ table, key string }{
		{"cards", "person"}, {"write_outcomes", "system, message_id"}, {"audit_log", "id"}, {"open_orders", "person, order_id"},
		{"move_markers", "move, seq"},
	} {
		for {
			tag, err := db.Exec(ctx, fmt.Sprintf(`DELETE FROM %[1]s WHERE shard = $1 AND (%[2]s) IN
				(SELECT %[2]s FROM %[1]s WHERE shard = $1 LIMIT 5000)`, t.table, t.key), s)
			if err != nil {
				return total, fmt.Errorf("delete shard %d from %s: %w", s, t.table, err)
			}
			total += tag.RowsAffected()
			if progress != nil {
				progress(tag.RowsAffected())
			}
			if tag.RowsAffected() == 0 {
				break
			}
		}
	}
	return total, nil
}
