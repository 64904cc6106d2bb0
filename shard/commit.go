package shard

import (
	"context"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sharedmedcard/gateway/medcard"
)

// Bounded commits. With synchronous standbys a COMMIT waits until enough
// of them hold it, however long that is: with every standby gone, for
// ever. The gateway bounds the wait (SetCommitBound): when a write's
// deadline passes, pgx asks the server to cancel the statement (a cancel
// request, not a closed socket, which would leave the backend waiting with
// the card's row locked). A cancelled wait does not undo the commit: the
// server ends it with a WARNING that the transaction "has already committed
// locally, but might not have been replicated", and the write is answered
// FaultOutcomeUnknown, to be resent with the same MessageID. A resend that
// finds the stored outcome answers it only once the standbys confirm it
// (confirmReplicated); until they do, it gets FaultOutcomeUnknown again.

// unconfirmedCommits remembers the connections on which the server warned
// during a write: a cancelled wait for synchronous standbys. Any WARNING
// counts, so that a server whose lc_messages is not English is understood
// too; the gateway's writes draw no other warnings.
type unconfirmedCommits struct {
	mu    sync.Mutex
	conns map[*pgconn.PgConn]struct{}
}

func newUnconfirmedCommits() *unconfirmedCommits {
	return &unconfirmedCommits{conns: map[*pgconn.PgConn]struct{}{}}
}

// onNotice is the pools' pgconn.NoticeHandler.
func (u *unconfirmedCommits) onNotice(c *pgconn.PgConn, n *pgconn.Notice) {
	if n.SeverityUnlocalized != "WARNING" && n.Severity != "WARNING" {
		return
	}
	u.mu.Lock()
	u.conns[c] = struct{}{}
	u.mu.Unlock()
}

// take reports whether c was warned since the last take, and forgets it.
func (u *unconfirmedCommits) take(c *pgconn.PgConn) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	_, warned := u.conns[c]
	delete(u.conns, c)
	return warned
}

// configurePool makes a pool's connections report warnings to u and cancel
// on a deadline (CancelOnDeadline).
func (u *unconfirmedCommits) configurePool(cfg *pgxpool.Config) {
	cfg.ConnConfig.OnNotice = u.onNotice
	CancelOnDeadline(cfg)
	cfg.BeforeClose = func(c *pgx.Conn) { u.take(c.PgConn()) }
}

// errUnconfirmed is the answer to a write whose wait for synchronous
// standbys was cancelled: committed here, perhaps nowhere else yet.
func errUnconfirmed() error {
	return medcard.Errorf(medcard.FaultOutcomeUnknown,
		"the write reached the card's database but not yet the standbys that must confirm it; resend with the same MessageID")
}

// SetCommitBound bounds every write of the store, its wait for synchronous
// standbys included, to d (0: only the caller's deadline). Call it before
// serving.
func (s *Store) SetCommitBound(d time.Duration) { s.commitBound = d }

// SetRequiredConfirmations makes every write refuse to commit (SQLSTATE
// MC003, FaultUnavailable: retryable, nothing written) on a database whose
// commits would not wait for n synchronous standbys at that moment, as
// after Patroni without strict mode dropped its last standby. Start-up and
// /readyz check the same setting, but only now and then; this check is in
// the write's own transaction. Call it before serving.
func (s *Store) SetRequiredConfirmations(n int) { s.requiredConfirmations = n }

// requireConfirmationsSQL raises MC003 unless the commit of the
// transaction it runs in will wait for $1 standbys (shard migration 007).
const requireConfirmationsSQL = `SELECT require_confirmations($1)`

// queueRequireConfirmations queues the check first in b, which then runs
// as one implicit transaction: if the check raises, the rest of the batch
// does not run and nothing commits.
func (s *Store) queueRequireConfirmations(b *pgx.Batch) {
	if s.requiredConfirmations > 0 {
		b.Queue(requireConfirmationsSQL, s.requiredConfirmations).Exec(func(pgconn.CommandTag) error { return nil })
	}
}

// boundCommit is ctx bounded by the store's commit bound.
func (s *Store) boundCommit(ctx context.Context) (context.Context, context.CancelFunc) {
	if s.commitBound <= 0 {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, s.commitBound)
}

// confirmReplicatedSQL commits a transaction of its own that writes one
// WAL record (a transactional logical message, which any user may emit and
// no table keeps), so its COMMIT waits for the synchronous standbys like
// any write: once it returns, they hold everything committed before it. A
// transaction that only took an id would not wait: PostgreSQL skips the
// wait for a commit that wrote nothing else.
const confirmReplicatedSQL = `SELECT pg_logical_emit_message(true, 'medcard-confirm', '')`

// confirmReplicated returns once the standbys that confirm writes hold
// everything pool's database committed so far, or FaultOutcomeUnknown when
// they do not within the commit bound. A resend calls it before answering
// a stored outcome: that outcome may be the commit whose wait was
// cancelled.
func (s *Store) confirmReplicated(ctx context.Context, pool *pgxpool.Pool) error {
	ctx, cancel := s.boundCommit(ctx)
	defer cancel()
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return translate(err, false, "confirm replication")
	}
	defer conn.Release()
	s.unconfirmed.take(conn.Conn().PgConn())
	b := &pgx.Batch{}
	s.queueRequireConfirmations(b)
	b.Queue(confirmReplicatedSQL)
	if err := conn.SendBatch(ctx, b).Close(); err != nil {
		return translate(err, true, "confirm replication")
	}
	if s.unconfirmed.take(conn.Conn().PgConn()) {
		return errUnconfirmed()
	}
	return nil
}
