package shard

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"go.uber.org/zap"

	"github.com/sharedmedcard/gateway/medcard"
)

var _ medcard.ReadAuditor = (*AuditWriter)(nil)

// AuditOptions tunes an AuditWriter. Zero fields take their defaults.
type AuditOptions struct {
	// MaxBatch is the most rows one INSERT statement writes (default 500).
	MaxBatch int
	// FlushEvery is how long a row waits at most before Run starts writing
	// it, while its database is healthy (default 50 ms).
	FlushEvery time.Duration
	// QueueLimit bounds the rows held in memory, queued or being written
	// (default 100,000). When it is reached, RecordRead waits for room.
	QueueLimit int
	// Durable makes RecordRead return only once the row is committed, so
	// a look-up is answered only with its audit row on disk: rows are
	// written as soon as a database's writer is free (group commit: those
	// that arrive meanwhile go in its next statement). Off, RecordRead
	// only queues the row, and a crash loses what is queued (about
	// FlushEvery's worth; docs/reliability.md weighs the two).
	Durable bool
}

// Defaults of AuditOptions and the writer's fixed timings.
const (
	defaultAuditMaxBatch   = 500
	defaultAuditFlushEvery = 50 * time.Millisecond
	defaultAuditQueueLimit = 100_000

	// auditStatementTimeout bounds one INSERT, so that a database that hangs
	// is retried like one that refuses.
	auditStatementTimeout = 5 * time.Second
	// auditRetryMin and auditRetryMax bound the backoff after a failed
	// write to one database.
	auditRetryMin = 50 * time.Millisecond
	auditRetryMax = time.Second
	// auditShutdownGrace bounds the final flush of Run.
	auditShutdownGrace = 5 * time.Second
)

// insertAuditSQL writes a batch of audit rows to one database in one
// statement. The fence trigger checks every row's shard: one row of a shard
// the database does not own fails the whole statement with MC001.
const insertAuditSQL = `
INSERT INTO audit_log (shard, person, at, operation, system, organisation, role, authorisation_id, message_id, card_version,
    flow_id, consent, emergency_override, acting_user)
SELECT * FROM unnest($1::int[], $2::text[], $3::timestamptz[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::bigint[],
    $11::text[], $12::text[], $13::boolean[], $14::text[])`

// AuditWriter implements medcard.ReadAuditor: it queues the audit row of
// every look-up and writes them in batches, one statement per shard
// database, routed through its Store's shard map at the time of writing.
// A crash of the gateway loses the rows still queued (at most about
// FlushEvery's worth); a change's audit row is never here but in the
// change's own transaction.
//
// Rows are queued per logical shard. Run starts, every FlushEvery (or as
// soon as MaxBatch rows wait), one writer per database that is neither busy
// nor backing off after a failure, so a database that is down or slow holds
// up only its own rows. A database that refuses a shard (MC001, the map was
// stale) makes the writer reload the map; the rows go back to the queue and
// are routed again. Any other failure keeps the rows queued and backs that
// database off, from auditRetryMin doubling up to auditRetryMax, with one
// warning per failure streak.
//
// No log line of the writer carries a person identifier or row content:
// only the database name, a row count and the error, whose text for a
// PostgreSQL error leaves out the detail where the server puts row values.
type AuditWriter struct {
	store *Store
	log   *zap.Logger
	opts  AuditOptions
	grace time.Duration // of Run's final flush; tests shorten it

	kick chan struct{} // asks Run to write now; buffered, never blocks

	mu       sync.Mutex
	queue    [Count][]auditRow // by logical shard
	queued   int               // rows in queue
	inflight int               // rows taken by a writer or Flush, not yet written
	writers  int               // Run's writers at work
	flushing int               // Flush calls at work; Run starts no writer meanwhile
	stopped  bool              // Run has ended: nothing would write new rows
	health   map[string]*auditDBHealth
	wake     chan struct{} // closed and replaced when rows were written or a writer ended
}

// auditRow is one queued audit row. A look-up touches no items, so the
// batch leaves items at its default (none).
type auditRow struct {
	shard  int
	person medcard.PersonID
	entry  medcard.AuditEntry
	// written, with AuditOptions.Durable, is closed once the row is
	// committed; nil otherwise.
	written chan struct{}
}

// auditDBHealth is what the writer knows of one database.
type auditDBHealth struct {
	busy     bool      // one of Run's writers is writing to it
	failures int       // failed writes in a row
	retryAt  time.Time // Run leaves it alone until then
}

// NewAuditWriter returns a writer that routes rows through store's shard
// map. Nothing is written until Run runs or Flush is called.
func NewAuditWriter(store *Store, log *zap.Logger, opts AuditOptions) *AuditWriter {
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = defaultAuditMaxBatch
	}
	if opts.FlushEvery <= 0 {
		opts.FlushEvery = defaultAuditFlushEvery
	}
	if opts.QueueLimit <= 0 {
		opts.QueueLimit = defaultAuditQueueLimit
	}
	return &AuditWriter{
		store:  store,
		log:    log,
		opts:   opts,
		grace:  auditShutdownGrace,
		kick:   make(chan struct{}, 1),
		health: map[string]*auditDBHealth{},
		wake:   make(chan struct{}),
	}
}

// RecordRead implements medcard.ReadAuditor. It queues the row for the
// shard database of person and does no I/O. When the queue is full it waits
// for room until ctx ends. With AuditOptions.Durable it then waits until
// the row is committed.
//
// Errors: FaultUnavailable when the row cannot be queued (the queue stayed
// full until ctx ended, or Run has ended) or, durable, was not committed
// before ctx ended (it stays queued and is written later); the look-up must
// then not be served.
func (w *AuditWriter) RecordRead(ctx context.Context, person medcard.PersonID, e medcard.AuditEntry) error {
	row := auditRow{shard: Of(string(person)), person: person, entry: e}
	if !w.opts.Durable {
		return w.enqueue(ctx, row)
	}
	row.written = make(chan struct{})
	if err := w.enqueue(ctx, row); err != nil {
		return err
	}
	w.signalRun()
	select {
	case <-row.written:
		return nil
	case <-ctx.Done():
		return medcard.WrapError(medcard.FaultUnavailable, ctx.Err(),
			"the look-up's audit row could not be written in time; the look-up is refused")
	}
}

// enqueue queues row, waiting for room until ctx ends.
func (w *AuditWriter) enqueue(ctx context.Context, row auditRow) error {
	for {
		w.mu.Lock()
		if w.stopped {
			w.mu.Unlock()
			return medcard.Errorf(medcard.FaultUnavailable, "the audit trail is shut down; the look-up is refused")
		}
		if w.queued+w.inflight < w.opts.QueueLimit {
			w.queue[row.shard] = append(w.queue[row.shard], row)
			w.queued++
			// Kick Run when a batch is full, once: with a backlog for a
			// database that is backing off, a kick per row would only
			// make Run scan the queue again and again.
			full := w.queued == w.opts.MaxBatch
			w.mu.Unlock()
			if full {
				w.signalRun()
			}
			return nil
		}
		wake := w.wake
		w.mu.Unlock()
		select {
		case <-ctx.Done():
			return medcard.WrapError(medcard.FaultUnavailable, ctx.Err(),
				"the audit trail cannot be written; the look-up is refused")
		case <-wake:
		}
	}
}

// Pending reports how many rows wait to be written, queued or being
// written.
func (w *AuditWriter) Pending() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.queued + w.inflight
}

// Run writes queued rows until ctx ends. Then it refuses new rows, flushes
// what is queued for at most a grace period, and returns once every
// goroutine it started has ended. Call it once, and stop serving look-ups
// before ending its ctx: RecordRead fails after Run has returned.
func (w *AuditWriter) Run(ctx context.Context) {
	var wg sync.WaitGroup
	t := time.NewTicker(w.opts.FlushEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			w.shutdown(ctx, &wg)
			return
		case <-t.C:
		case <-w.kick:
		}
		w.startWriters(ctx, &wg)
	}
}

// shutdown ends Run: no new rows, Run's writers finish their current
// statement, and a final flush writes the rest within the grace period.
func (w *AuditWriter) shutdown(ctx context.Context, wg *sync.WaitGroup) {
	w.mu.Lock()
	w.stopped = true
	w.broadcast()
	w.mu.Unlock()
	wg.Wait()
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), w.grace)
	defer cancel()
	if err := w.Flush(fctx); err != nil {
		w.log.Error("audit rows not written at shutdown", zap.Int("rows", w.Pending()), zap.Error(err))
	}
}

// startWriters takes the queued rows of every database that is neither
// busy nor backing off, by the current map, and starts one writer per
// database.
func (w *AuditWriter) startWriters(ctx context.Context, wg *sync.WaitGroup) {
	m := w.store.Map()
	now := time.Now()
	w.mu.Lock()
	if w.queued == 0 || w.flushing > 0 {
		w.mu.Unlock()
		return
	}
	byDB := map[string][]auditRow{}
	for shard := range w.queue { // by index: ranging over the array would copy it
		rows := w.queue[shard]
		if len(rows) == 0 {
			continue
		}
		db := m.Owner[shard]
		if h := w.healthOf(db); h.busy || now.Before(h.retryAt) {
			continue
		}
		byDB[db] = append(byDB[db], rows...)
		w.queue[shard] = nil
	}
	for db, rows := range byDB {
		w.healthOf(db).busy = true
		w.writers++
		w.queued -= len(rows)
		w.inflight += len(rows)
	}
	w.mu.Unlock()
	for db, rows := range byDB {
		wg.Go(func() { w.runWriter(ctx, m, db, rows) })
	}
}

// runWriter writes one database's rows for Run. Its statements are not
// cancelled by ctx (a cancelled INSERT has an unknown outcome and would be
// written again); ctx only stops it between statements.
func (w *AuditWriter) runWriter(ctx context.Context, m *Map, db string, rows []auditRow) {
	bg := context.WithoutCancel(ctx)
	left, err := w.writeDB(ctx, bg, m, db, rows)
	w.done(len(rows)-len(left), left)
	rerouteNow := false
	if !(ctx.Err() != nil && errors.Is(err, ctx.Err())) {
		rerouteNow = w.afterWrite(bg, m, db, len(left), err)
	}
	w.mu.Lock()
	w.healthOf(db).busy = false
	w.writers--
	w.broadcast()
	more := w.queued > 0
	w.mu.Unlock()
	// Durable, the rows that arrived during this statement wait for the
	// next: start it now rather than at the next tick.
	if rerouteNow || (w.opts.Durable && more) {
		w.signalRun()
	}
}

// Flush writes every row queued now, and every row Run is writing now, and
// returns when they are written. While it runs, Run starts no writers.
// Failed writes are retried with backoff until ctx ends; a statement under
// way when ctx ends is cancelled, so a row of it may be written twice.
//
// Errors: FaultUnavailable when ctx ended first; the rows not written are
// queued again.
func (w *AuditWriter) Flush(ctx context.Context) error {
	w.mu.Lock()
	w.flushing++
	w.mu.Unlock()
	defer func() {
		w.mu.Lock()
		w.flushing--
		w.mu.Unlock()
	}()
	if err := w.waitForWriters(ctx); err != nil {
		return medcard.WrapError(medcard.FaultUnavailable, err, "the audit trail cannot be written")
	}
	rows := w.takeAll()
	var delay time.Duration
	for len(rows) > 0 {
		m := w.store.Map()
		byDB := map[string][]auditRow{}
		for _, r := range rows {
			byDB[m.Owner[r.shard]] = append(byDB[m.Owner[r.shard]], r)
		}
		type result struct {
			left       []auditRow
			err        error
			rerouteNow bool
		}
		results := make(map[string]*result, len(byDB))
		for db := range byDB {
			results[db] = &result{}
		}
		var wg sync.WaitGroup
		for db, dbRows := range byDB {
			res := results[db]
			wg.Go(func() {
				res.left, res.err = w.writeDB(ctx, ctx, m, db, dbRows)
				if ctx.Err() == nil {
					res.rerouteNow = w.afterWrite(ctx, m, db, len(res.left), res.err)
				}
			})
		}
		wg.Wait()
		var left []auditRow
		var lastErr error
		backOff := false
		for _, res := range results {
			left = append(left, res.left...)
			if res.err != nil {
				lastErr = res.err
				backOff = backOff || !res.rerouteNow
			}
		}
		w.done(len(rows)-len(left), nil) // the rows left are still Flush's
		rows = left
		if len(rows) == 0 {
			return nil
		}
		if backOff {
			delay = nextAuditRetry(delay)
		} else {
			delay = 0
		}
		select {
		case <-ctx.Done():
			w.done(0, rows)
			return medcard.WrapError(medcard.FaultUnavailable, errors.Join(ctx.Err(), lastErr),
				"the audit trail cannot be written")
		case <-time.After(delay):
		}
	}
	return nil
}

// waitForWriters returns when none of Run's writers is at work. The caller
// has raised w.flushing, so no new one starts.
func (w *AuditWriter) waitForWriters(ctx context.Context) error {
	for {
		w.mu.Lock()
		if w.writers == 0 {
			w.mu.Unlock()
			return nil
		}
		wake := w.wake
		w.mu.Unlock()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-wake:
		}
	}
}

// takeAll moves every queued row to the caller.
func (w *AuditWriter) takeAll() []auditRow {
	w.mu.Lock()
	defer w.mu.Unlock()
	rows := make([]auditRow, 0, w.queued)
	for shard := range w.queue {
		rows = append(rows, w.queue[shard]...)
		w.queue[shard] = nil
	}
	w.inflight += len(rows)
	w.queued = 0
	return rows
}

// done ends the flight of taken rows: written rows were written and make
// room, the rows of requeue go back to the queue.
func (w *AuditWriter) done(written int, requeue []auditRow) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.inflight -= written + len(requeue)
	for _, r := range requeue {
		w.queue[r.shard] = append(w.queue[r.shard], r)
	}
	w.queued += len(requeue)
	if written > 0 {
		w.broadcast()
	}
}

// writeDB writes rows, all owned by db in m, in statements of at most
// MaxBatch rows. Each statement runs under base with a timeout; stop ends
// the work between statements. It returns the rows it did not write and
// why.
//
// A statement is one autocommitted INSERT, so it either committed all its
// rows or none, and a failed one is simply written again. The exception is
// a failure during the commit itself (the connection lost, or the
// statement cancelled, after the server committed): the outcome is
// unknown, and the rows are written again too. A duplicate audit row is an
// extra line in a citizen's log; a lost one is a look-up the citizen never
// learns of, which the design forbids.
func (w *AuditWriter) writeDB(stop, base context.Context, m *Map, db string, rows []auditRow) ([]auditRow, error) {
	dsn, ok := m.Databases[db]
	if !ok {
		return rows, fmt.Errorf("database %q is not in the shard map", db)
	}
	pool, err := w.store.pool(db, dsn)
	if err != nil {
		return rows, err
	}
	for len(rows) > 0 {
		if err := stop.Err(); err != nil {
			return rows, err
		}
		n := min(len(rows), w.opts.MaxBatch)
		ctx, cancel := context.WithTimeout(base, auditStatementTimeout)
		_, err := pool.Exec(ctx, insertAuditSQL, auditColumns(rows[:n])...)
		cancel()
		if err != nil {
			return rows, err
		}
		for _, r := range rows[:n] {
			if r.written != nil {
				close(r.written)
			}
		}
		rows = rows[n:]
	}
	return nil, nil
}

// auditColumns returns the arguments of insertAuditSQL: one array per
// column.
func auditColumns(rows []auditRow) []any {
	var (
		shards               = make([]int32, len(rows))
		persons              = make([]string, len(rows))
		ats                  = make([]time.Time, len(rows))
		ops, systems, orgs   = make([]string, len(rows)), make([]string, len(rows)), make([]string, len(rows))
		roles, auths, msgIDs = make([]string, len(rows)), make([]string, len(rows)), make([]string, len(rows))
		versions             = make([]int64, len(rows))
		flows, consents      = make([]string, len(rows)), make([]string, len(rows))
		overrides            = make([]bool, len(rows))
		users                = make([]string, len(rows))
	)
	for i, r := range rows {
		e := r.entry
		shards[i] = int32(r.shard)
		persons[i] = string(r.person)
		ats[i] = e.At
		ops[i] = string(e.Operation)
		systems[i] = e.System
		orgs[i] = e.Organisation
		roles[i] = string(e.Role)
		auths[i] = e.AuthorisationID
		msgIDs[i] = e.MessageID
		versions[i] = e.CardVersion
		flows[i] = e.FlowID
		consents[i] = string(auditConsent(e.Consent))
		overrides[i] = e.EmergencyOverride
		users[i] = e.ActingUser
	}
	return []any{shards, persons, ats, ops, systems, orgs, roles, auths, msgIDs, versions, flows, consents, overrides, users}
}

// auditConsent is the consent an audit row records: ConsentNone when the
// entry names none.
func auditConsent(c medcard.Consent) medcard.Consent {
	if c == "" {
		return medcard.ConsentNone
	}
	return c
}

// afterWrite records the outcome of a write to db, whose map was m, and
// says whether the rows left should be routed again at once: db refused a
// shard (MC001) and the reloaded map is newer. Any other failure backs db
// off, with one warning per failure streak.
func (w *AuditWriter) afterWrite(ctx context.Context, m *Map, db string, left int, err error) (rerouteNow bool) {
	if err == nil {
		w.mu.Lock()
		h := w.healthOf(db)
		failures := h.failures
		h.failures, h.retryAt = 0, time.Time{}
		w.mu.Unlock()
		if failures > 0 {
			w.log.Info("audit rows written again", zap.String("db", db), zap.Int("failed_attempts", failures))
		}
		return false
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == sqlstateShardNotOwned {
		w.log.Info("audit rows refused: shard not owned where the map said; reloading map",
			zap.String("db", db), zap.Int("rows", left))
		rctx, cancel := context.WithTimeout(ctx, auditStatementTimeout)
		rerr := w.store.Reload(rctx)
		cancel()
		if rerr == nil && w.store.Map().Epoch > m.Epoch {
			return true
		}
		if rerr != nil {
			err = rerr
		}
		// Otherwise the catalog still names db: a move is between its
		// steps. Back off like any failure until the map catches up.
	}
	w.mu.Lock()
	h := w.healthOf(db)
	h.failures++
	h.retryAt = time.Now().Add(auditRetryAfter(h.failures))
	first := h.failures == 1
	w.mu.Unlock()
	if first {
		w.log.Warn("audit rows not written; retrying", zap.String("db", db), zap.Int("rows", left), zap.Error(err))
	}
	return false
}

// auditRetryAfter is the backoff after failures failed writes in a row.
func auditRetryAfter(failures int) time.Duration {
	d := auditRetryMin
	for i := 1; i < failures && d < auditRetryMax; i++ {
		d *= 2
	}
	return min(d, auditRetryMax)
}

// nextAuditRetry doubles a backoff delay, from auditRetryMin up to
// auditRetryMax.
func nextAuditRetry(d time.Duration) time.Duration {
	return min(max(2*d, auditRetryMin), auditRetryMax)
}

// healthOf returns db's health record, creating it. w.mu is held.
func (w *AuditWriter) healthOf(db string) *auditDBHealth {
	h := w.health[db]
	if h == nil {
		h = &auditDBHealth{}
		w.health[db] = h
	}
	return h
}

// broadcast wakes everyone waiting for room or for writers. w.mu is held.
func (w *AuditWriter) broadcast() {
	close(w.wake)
	w.wake = make(chan struct{})
}

// signalRun asks Run to start writers now.
func (w *AuditWriter) signalRun() {
	select {
	case w.kick <- struct{}{}:
	default:
	}
}
