package shard

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sharedmedcard/gateway/medcard"
)

// accessLogPageSQL is one page of a person's access log: rows from $2 on,
// before the cursor ($3, $4) by (at, id), newest first, at most $5. The
// index audit_log_person_at serves it in each month the period spans, and
// `at <= $3` prunes the months after the cursor (the row comparison alone
// would not).
const accessLogPageSQL = `
SELECT id, at, operation, system, organisation, role, authorisation_id, acting_user, message_id, flow_id,
       consent, emergency_override, card_version, items
FROM audit_log
WHERE person = $1 AND at >= $2 AND at <= $3 AND (at, id) < ($3, $4)
ORDER BY at DESC, id DESC
LIMIT $5`

// readAccessLogSQL is the page read with, in the same snapshot, the check
// that this database owns the shard ($6): no row at all means it does not
// (a source after a move keeps an old copy of the shard's rows until the
// cleanup), one row of NULLs an empty page. scripts/bench-audit.sh
// measures this text, put together from the three constants.
const readAccessLogSQL = readAccessLogHead + accessLogPageSQL + readAccessLogTail

const readAccessLogHead = `
SELECT a.* FROM owned_shards o LEFT JOIN LATERAL (`

const readAccessLogTail = `
) a ON true
WHERE o.shard = $6
ORDER BY a.at DESC, a.id DESC`

// ReadAccessLog implements medcard.Store: one statement at the shard's
// owner, routed like a card read.
func (s *Store) ReadAccessLog(ctx context.Context, person medcard.PersonID, r medcard.AccessLogRange) ([]medcard.LoggedAccess, error) {
	var out []medcard.LoggedAccess
	err := s.onShard(ctx, person, func(rt route) error {
		out = nil
		rows, err := rt.pool.Query(ctx, readAccessLogSQL, string(person), r.From, r.Before.At, r.Before.ID, r.Limit, rt.shard)
		if err != nil {
			return translate(err, false, "read access log")
		}
		owned := false
		for rows.Next() {
			owned = true
			var (
				id                                *int64
				at                                *time.Time
				op, system, org, role, auth, user *string
				messageID, flowID, consent        *string
				override                          *bool
				version                           *int64
				items                             []string
			)
			if err := rows.Scan(&id, &at, &op, &system, &org, &role, &auth, &user, &messageID, &flowID,
				&consent, &override, &version, &items); err != nil {
				rows.Close()
				return translate(err, false, "read access log")
			}
			if id == nil {
				continue // the empty page's row of NULLs
			}
			out = append(out, medcard.LoggedAccess{ID: *id, Entry: medcard.AuditEntry{
				Operation: medcard.Operation(*op), At: at.UTC(), System: *system, Organisation: *org,
				Role: medcard.Role(*role), AuthorisationID: *auth, ActingUser: *user, MessageID: *messageID,
				FlowID: *flowID, Consent: medcard.Consent(*consent), EmergencyOverride: *override,
				CardVersion: *version, Items: items,
			}})
		}
		if err := rows.Err(); err != nil {
			return translate(err, false, "read access log")
		}
		if !owned {
			return errReadNotOwned
		}
		return nil
	})
	return out, err
}

// AuditPartitions is what MaintainAuditPartitions did at one database.
type AuditPartitions struct {
	Database string `json:"database"`
	Created  int    `json:"created"` // monthly partitions made ahead
	Dropped  int    `json:"dropped"` // monthly partitions past the retention
	// Cutoff is the start of the oldest month kept; zero when the
	// retention keeps everything.
	Cutoff time.Time `json:"cutoff,omitzero"`
}

// auditLockTimeout bounds the wait of a partition change for the root
// table's lock, so that maintenance behind a long query gives up (and is
// run again later) rather than queue every insert behind it.
const auditLockTimeout = 5 * time.Second

// MaintainAuditPartitions keeps every shard database's audit_log
// partitions: the months from this one (UTC, at now) to ahead months on
// exist, and, when keepMonths is above zero, the months that ended before
// the month keepMonths before this one are dropped whole
// (migrations/shard/008_audit_log_partitioned.sql). With keepMonths 26 on
// 3 December 2026, October 2024 is the oldest month kept. Safe to run at
// any time and from several gateways at once (each change is one
// transaction; the second finds the work done).
func (s *Store) MaintainAuditPartitions(ctx context.Context, now time.Time, ahead, keepMonths int) ([]AuditPartitions, error) {
	if ahead < 0 || keepMonths < 0 {
		return nil, fmt.Errorf("audit partitions: ahead (%d) and retention (%d months) cannot be negative", ahead, keepMonths)
	}
	m := s.Map()
	var out []AuditPartitions
	var errs []error
	for _, db := range slices.Sorted(maps.Keys(m.Databases)) {
		pool, err := s.pool(db, m.Databases[db])
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", db, err))
			continue
		}
		res, err := maintainAuditPartitions(ctx, pool, now, ahead, keepMonths)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: audit partitions: %w", db, err))
			continue
		}
		res.Database = db
		out = append(out, res)
	}
	return out, errors.Join(errs...)
}

// maintainAuditPartitions is MaintainAuditPartitions at one database, in
// one transaction.
func maintainAuditPartitions(ctx context.Context, pool *pgxpool.Pool, now time.Time, ahead, keepMonths int) (AuditPartitions, error) {
	month := time.Date(now.UTC().Year(), now.UTC().Month(), 1, 0, 0, 0, 0, time.UTC)
	var res AuditPartitions
	if keepMonths > 0 {
		res.Cutoff = month.AddDate(0, -keepMonths, 0)
	}
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, fmt.Sprintf(`SET LOCAL lock_timeout = '%dms'`, auditLockTimeout.Milliseconds())); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, `SELECT audit_log_ensure_months($1, $2)`, month, ahead+1).Scan(&res.Created); err != nil {
			return err
		}
		if keepMonths > 0 {
			return tx.QueryRow(ctx, `SELECT audit_log_drop_before($1)`, res.Cutoff).Scan(&res.Dropped)
		}
		return nil
	})
	return res, err
}
