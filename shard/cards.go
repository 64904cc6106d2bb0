package shard

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sharedmedcard/gateway/medcard"
)

var _ medcard.Store = (*Store)(nil)

// readOwnedCardSQL reads a card and, in the same snapshot, whether this
// database owns its shard: no row at all means it does not, and the card
// (if an old copy is still there) must not be served. That is the read's
// side of the fence the triggers keep for writes.
const readOwnedCardSQL = `
SELECT c.version, c.card, clock_timestamp() - c.updated_at,
    NOT o.writable AND (o.frozen_until IS NULL OR o.frozen_until > clock_timestamp()) FROM owned_shards o LEFT JOIN cards c ON c.person = $1
WHERE o.shard = $2`

// readAnyCardSQL is the read without its side of the fence, for the
// seeded bug seedbug_nofence only.
const readAnyCardSQL = `SELECT c.version, c.card, clock_timestamp() - c.updated_at, false FROM (SELECT $2::int) o LEFT JOIN cards c ON c.person = $1`

// neverChanged is the ChangedAgo of a card that does not exist.
const neverChanged = time.Duration(math.MaxInt64)

// errReadNotOwned is what ReadCard reports when the database does not own
// the shard, in the form the writes' fence raises, so onShard treats both
// the same way (reload the map, try again).
var errReadNotOwned = &pgconn.PgError{Code: sqlstateShardNotOwned, Message: "logical shard is not owned by this database"}

// ReadCard implements medcard.Store: one statement, no transaction to
// commit. The look-up's audit row goes through the AuditWriter.
func (s *Store) ReadCard(ctx context.Context, person medcard.PersonID) (*medcard.Card, error) {
	var card *medcard.Card
	err := s.onShard(ctx, person, func(r route) error {
		var version *int64
		var body []byte
		var changedAgo *time.Duration
		var moving bool
		query := readOwnedCardSQL
		if seededBugNoFence {
			query = readAnyCardSQL
		}
		err := r.pool.QueryRow(ctx, query, string(person), r.shard).Scan(&version, &body, &changedAgo, &moving)
		if errors.Is(err, pgx.ErrNoRows) {
			return errReadNotOwned
		}
		if err != nil {
			return translate(err, false, "read card")
		}
		if version == nil {
			card = &medcard.Card{ChangedAgo: neverChanged, Moving: moving}
			return nil
		}
		card, err = decodeCard(*version, body)
		if err == nil {
			card.Moving = moving
			if changedAgo != nil {
				card.ChangedAgo = *changedAgo
			}
		}
		return err
	})
	return card, err
}

const (
	selectCardSQL       = `SELECT version, card FROM cards WHERE person = $1`
	selectCardLockedSQL = selectCardSQL + ` FOR UPDATE`
	selectOutcomeSQL    = `SELECT request_hash, result FROM write_outcomes WHERE shard = $1 AND system = $2 AND message_id = $3`
	// ownedShardSQL says whether this database owns the shard, and
	// whether the shard is frozen for a move (as readOwnedCardSQL).
	ownedShardSQL        = `SELECT NOT writable AND (frozen_until IS NULL OR frozen_until > clock_timestamp()) FROM owned_shards WHERE shard = $1`
	writeOutcomeAndAudit = `
outcome AS (
    INSERT INTO write_outcomes (system, message_id, shard, request_hash, result)
    SELECT $5, $6, $2, $7, $8 FROM card` + seededBugOutcomeFilter + `
),
audit AS (
    INSERT INTO audit_log (shard, person, at, operation, system, organisation, role, authorisation_id, message_id, card_version,
        flow_id, consent, emergency_override, acting_user, items)
    SELECT $2, $1, $9, $10, $5, $11, $12, $13, $6, $3, $24, $25, $26, $27, $28 FROM card
),
orders_closed AS (
    DELETE FROM open_orders WHERE shard = $2 AND person = $1 AND order_id <> ALL($14::bigint[]) AND EXISTS (SELECT 1 FROM card)
),
orders_open AS (
    INSERT INTO open_orders (shard, person, order_id, pharmacy, status, created_at, drug_name, drug_strength, package_number, package_quantity,
        card_version, acknowledged)
    SELECT $2, $1, o.* FROM card, unnest($14::bigint[], $15::text[], $16::text[], $17::timestamptz[], $18::text[], $19::text[], $20::text[], $21::int[],
        $22::bigint[], $23::boolean[]) o
    ON CONFLICT (shard, person, order_id) DO UPDATE
    SET status = EXCLUDED.status, card_version = EXCLUDED.card_version, acknowledged = EXCLUDED.acknowledged
)
SELECT count(*) FROM card`
	// insertCardSQL creates a card; nothing happens if it exists already.
	insertCardSQL = `
WITH card AS (
    INSERT INTO cards (person, shard, version, card, updated_at) VALUES ($1, $2, $3, $4, clock_timestamp())
    ON CONFLICT (person) DO NOTHING
    RETURNING version
),` + writeOutcomeAndAudit
	// updateCardSQL changes a card if it is still at the version read ($29).
	updateCardSQL = `
WITH card AS (
    UPDATE cards SET version = $3, card = $4, updated_at = clock_timestamp()
    WHERE person = $1 AND ` + seededBugCASCondition + `
    RETURNING version
),` + writeOutcomeAndAudit
)

// readForWrite reads the card and the stored outcome in one round trip.
func readForWrite(ctx context.Context, q pgx.Tx, p *pgxpool.Pool, shard int, person medcard.PersonID, key medcard.OutcomeKey, lock bool) (*medcard.Card, *medcard.StoredOutcome, error) {
	b := &pgx.Batch{}
	cardSQL := selectCardSQL
	if lock {
		cardSQL = selectCardLockedSQL
	}
	var card *medcard.Card
	var outcome *medcard.StoredOutcome
	var decodeErr error
	b.Queue(cardSQL, string(person)).QueryRow(func(row pgx.Row) error {
		var version int64
		var body []byte
		err := row.Scan(&version, &body)
		if errors.Is(err, pgx.ErrNoRows) {
			card = &medcard.Card{}
			return nil
		}
		if err != nil {
			return err
		}
		card, decodeErr = decodeCard(version, body)
		return nil
	})
	b.Queue(selectOutcomeSQL, shard, key.System, key.MessageID).QueryRow(func(row pgx.Row) error {
		var o medcard.StoredOutcome
		var result []byte
		err := row.Scan(&o.RequestHash, &result)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := json.Unmarshal(result, &o.Result); err != nil {
			decodeErr = fmt.Errorf("decode stored outcome: %w", err)
		}
		outcome = &o
		return nil
	})
	// The write's side of the fence is the trigger, but a card read from a
	// database that gave its shard away would be judged against an old or
	// empty card (a resend's stored outcome missing, its version refused as
	// too new) before any write reached the trigger.
	owned, moving := seededBugNoFence, false
	b.Queue(ownedShardSQL, shard).QueryRow(func(row pgx.Row) error {
		err := row.Scan(&moving)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		owned = owned || err == nil
		return err
	})
	var err error
	if q != nil {
		err = q.SendBatch(ctx, b).Close()
	} else {
		err = p.SendBatch(ctx, b).Close()
	}
	if err != nil {
		return nil, nil, err
	}
	if !owned {
		return nil, nil, errReadNotOwned
	}
	if decodeErr != nil {
		return nil, nil, medcard.WrapError(medcard.FaultInternal, decodeErr, "stored card is unreadable")
	}
	card.Moving = moving
	return card, outcome, nil
}

// ReadForWrite implements medcard.Store. A stored outcome is returned only
// once the synchronous standbys hold it (confirmReplicated).
func (s *Store) ReadForWrite(ctx context.Context, person medcard.PersonID, key medcard.OutcomeKey) (*medcard.Card, *medcard.StoredOutcome, error) {
	var card *medcard.Card
	var outcome *medcard.StoredOutcome
	err := s.onShard(ctx, person, func(r route) error {
		var err error
		card, outcome, err = readForWrite(ctx, nil, r.pool, r.shard, person, key, false)
		if err == nil && outcome != nil {
			return s.confirmReplicated(ctx, r.pool)
		}
		return translate(err, false, "read card for write")
	})
	return card, outcome, err
}

// execer is what a statement runs on: a pool, a transaction or a
// connection.
type execer interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// openOrderColumns are the card's open orders as the columns of
// open_orders (from drug_name on), one array per column, for unnest.
func openOrderColumns(c *medcard.Card) []any {
	entries := c.OpenOrders()
	ids := make([]int64, len(entries))
	pharmacies, statuses := make([]string, len(entries)), make([]string, len(entries))
	created := make([]time.Time, len(entries))
	names, strengths, packages := make([]string, len(entries)), make([]string, len(entries)), make([]string, len(entries))
	quantities := make([]int32, len(entries))
	versions, acknowledged := make([]int64, len(entries)), make([]bool, len(entries))
	for i, e := range entries {
		ids[i], pharmacies[i], statuses[i], created[i] = e.OrderID, e.Pharmacy, string(e.Status), e.OrderedAt
		names[i], strengths[i], packages[i], quantities[i] = e.Drug.Name, e.Drug.Strength, e.PackageNumber, int32(e.PackageQuantity)
		versions[i], acknowledged[i] = e.CardVersion, e.Acknowledged
	}
	return []any{ids, pharmacies, statuses, created, names, strengths, packages, quantities, versions, acknowledged}
}

// writeCardStatement is the one-statement write: card, outcome, audit row
// and the card's open orders.
func writeCardStatement(shard int, w *medcard.CardWrite) (string, []any, error) {
	body, err := medcard.EncodeCard(w.Card)
	if err != nil {
		return "", nil, medcard.WrapError(medcard.FaultInternal, err, "write card")
	}
	result, err := json.Marshal(w.Result)
	if err != nil {
		return "", nil, medcard.WrapError(medcard.FaultInternal, err, "encode outcome")
	}
	a := w.Audit
	args := []any{string(w.Person), shard, w.Card.Version, body, w.Key.System, w.Key.MessageID,
		w.RequestHash, result, a.At, string(a.Operation), a.Organisation, string(a.Role), a.AuthorisationID}
	args = append(args, openOrderColumns(w.Card)...) // $14-$23: the card's rows of open_orders
	items := a.Items
	if items == nil {
		items = []string{}
	}
	args = append(args, a.FlowID, string(auditConsent(a.Consent)), a.EmergencyOverride, a.ActingUser, items) // $24-$28: the rest of the audit row
	sql := insertCardSQL
	if w.BaseVersion > 0 {
		sql = updateCardSQL
		args = append(args, w.BaseVersion)
	}
	return sql, args, nil
}

// scanWritten reads the write's answer: ErrLostRace when the card moved on.
func scanWritten(row pgx.Row) error {
	var written int
	if err := row.Scan(&written); err != nil {
		return err
	}
	if written == 0 {
		return medcard.ErrLostRace
	}
	return nil
}

// cardWriter is what a write runs on: a pooled connection or a transaction.
type cardWriter interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
}

// writeCard runs the write on q in one round trip, after the check that
// its commit will be confirmed when the store requires confirmations
// (queueRequireConfirmations: both in one batch, one implicit
// transaction); without, the statement alone, as the hot path always ran.
func (s *Store) writeCard(ctx context.Context, q cardWriter, shard int, w *medcard.CardWrite) error {
	sql, args, err := writeCardStatement(shard, w)
	if err != nil {
		return err
	}
	if s.requiredConfirmations <= 0 {
		return scanWritten(q.QueryRow(ctx, sql, args...))
	}
	b := &pgx.Batch{}
	s.queueRequireConfirmations(b)
	b.Queue(sql, args...).QueryRow(scanWritten)
	return q.SendBatch(ctx, b).Close()
}

// WriteCard implements medcard.Store with one round trip, within the
// commit bound.
func (s *Store) WriteCard(ctx context.Context, w *medcard.CardWrite) error {
	ctx, cancel := s.boundCommit(ctx)
	defer cancel()
	return s.onShard(ctx, w.Person, func(r route) error {
		conn, err := r.pool.Acquire(ctx)
		if err != nil {
			return translate(err, false, "write card")
		}
		defer conn.Release()
		s.unconfirmed.take(conn.Conn().PgConn())
		if err := s.writeCard(ctx, conn, r.shard, w); err != nil {
			return translate(err, true, "write card")
		}
		if s.unconfirmed.take(conn.Conn().PgConn()) {
			return errUnconfirmed()
		}
		return nil
	})
}

// WriteLocked implements medcard.Store with a transaction that holds the
// card's row lock from the read to the commit.
func (s *Store) WriteLocked(ctx context.Context, person medcard.PersonID, key medcard.OutcomeKey,
	decide func(*medcard.Card, *medcard.StoredOutcome) (*medcard.CardWrite, error)) error {
	ctx, cancel := s.boundCommit(ctx)
	defer cancel()
	return s.onShard(ctx, person, func(r route) error {
		replayed, err := s.writeLocked(ctx, r, person, key, decide)
		if err == nil && replayed {
			return s.confirmReplicated(ctx, r.pool)
		}
		return err
	})
}

// writeLocked is one try of WriteLocked on r; replayed says that decide
// was given a stored outcome (the standbys must confirm it before it is
// answered).
func (s *Store) writeLocked(ctx context.Context, r route, person medcard.PersonID, key medcard.OutcomeKey,
	decide func(*medcard.Card, *medcard.StoredOutcome) (*medcard.CardWrite, error)) (replayed bool, err error) {
	tx, err := r.pool.Begin(ctx)
	if err != nil {
		return false, translate(err, false, "begin")
	}
	defer tx.Rollback(ctx)
	card, outcome, err := readForWrite(ctx, tx, nil, r.shard, person, key, true)
	if err != nil {
		return false, translate(err, false, "read card under lock")
	}
	w, err := decide(card, outcome)
	if err != nil || w == nil {
		return outcome != nil && err == nil, err
	}
	if err := s.writeCard(ctx, tx, r.shard, w); err != nil {
		// Nothing commits before COMMIT, so a failure here left nothing behind.
		return false, translate(err, false, "write card under lock")
	}
	pgConn := tx.Conn().PgConn()
	s.unconfirmed.take(pgConn)
	if err := tx.Commit(ctx); err != nil {
		return false, translate(err, true, "commit card under lock")
	}
	if s.unconfirmed.take(pgConn) {
		return false, errUnconfirmed()
	}
	return false, nil
}

func decodeCard(version int64, body []byte) (*medcard.Card, error) {
	card := &medcard.Card{}
	if err := medcard.DecodeCard(body, card); err != nil {
		return nil, medcard.WrapError(medcard.FaultInternal, err, "stored card is unreadable")
	}
	card.Version = version
	return card, nil
}
