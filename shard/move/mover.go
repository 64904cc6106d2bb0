package move

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/zap"
	"golang.org/x/time/rate"
)

// Limits bound what the mover does to a live cluster.
type Limits struct {
	// PerDatabase is the most moves at once with the same source, and the
	// most with the same target.
	PerDatabase int
	// CopyRate is the copy rate limit in bytes per second over all moves;
	// 0: none. It is kept per shard: a copy starts only when the bytes
	// copied before it, at this rate, have had their time.
	CopyRate float64
	// MaxLag is the pre-flight gate: a shard is frozen only when a
	// barrier written at the source reaches the target within it.
	MaxLag time.Duration
	// FreezeBound is the longest a freeze may last; a freeze that has not
	// reached the flip by then is abandoned (the mover lifts it, writes
	// resume at the source) and tried again.
	FreezeBound time.Duration
	// FreezeTries is how many freezes a move attempts before it fails.
	FreezeTries int
	// FenceWait is how long a freeze waits after raising the source's
	// cache fence before the target may take writes: at least the fence
	// lease of every gateway (half its --cache-timeout; shard.Fences).
	FenceWait time.Duration
}

// DefaultLimits are the limits of `gateway shard rebalance` with no flags.
// One move at a time per database: on the 2-core machine of make
// bench-rebalance (2026-12-04) two at once took as long (185 s against
// 184-190 s for 341 moves) and doubled the freeze's p99 (175 ms against
// 78-85 ms) and the clients' (796 ms against 133-141 ms); a host with
// cores to spare may gain from --parallel 2.
func DefaultLimits() Limits {
	return Limits{PerDatabase: 1, MaxLag: 100 * time.Millisecond, FreezeBound: 500 * time.Millisecond,
		FreezeTries: 20, FenceWait: 25 * time.Millisecond}
}

// Event is what the mover reports as moves progress.
type Event struct {
	Move  *Move
	State State
	// Copied is the rows copied so far, during the copy.
	Copied int64
	Err    error
}

// Mover runs moves.
type Mover struct {
	c        *Cluster
	lim      Limits
	log      *zap.Logger
	limiter  *rate.Limiter
	progress func(Event)

	// killAt, for the crash tests only (set by the test binary acting
	// as the mover): the process kills itself with SIGKILL when a move
	// reaches this state or point.
	killAt State
}

// NewMover returns a mover over c. progress, if not nil, is called from
// the moves' goroutines.
func NewMover(c *Cluster, lim Limits, log *zap.Logger, progress func(Event)) *Mover {
	def := DefaultLimits()
	if lim.PerDatabase <= 0 {
		lim.PerDatabase = def.PerDatabase
	}
	if lim.MaxLag <= 0 {
		lim.MaxLag = def.MaxLag
	}
	if lim.FreezeBound <= 0 {
		lim.FreezeBound = def.FreezeBound
	}
	if lim.FreezeTries <= 0 {
		lim.FreezeTries = def.FreezeTries
	}
	mv := &Mover{c: c, lim: lim, log: log, progress: progress}
	if lim.CopyRate > 0 {
		mv.limiter = rate.NewLimiter(rate.Limit(lim.CopyRate), int(max(lim.CopyRate, 1<<20)))
	}
	return mv
}

func (mv *Mover) report(e Event) {
	if mv.progress != nil {
		mv.progress(e)
	}
}

// Run runs moves to the end, at most Limits.PerDatabase at once per source
// and per target, in the order given. It returns when every move finished
// or failed, with the failures joined.
func (mv *Mover) Run(ctx context.Context, moves []*Move) error {
	var (
		mu      sync.Mutex
		cond    = sync.NewCond(&mu)
		busy    = map[string]int{}
		errs    []error
		wg      sync.WaitGroup
		pending = append([]*Move(nil), moves...)
	)
	for len(pending) > 0 && ctx.Err() == nil {
		mu.Lock()
		i := -1
		for i < 0 {
			for j, m := range pending {
				if busy["s:"+m.Source] < mv.lim.PerDatabase && busy["t:"+m.Target] < mv.lim.PerDatabase {
					i = j
					break
				}
			}
			if i < 0 {
				cond.Wait()
			}
		}
		m := pending[i]
		pending = append(pending[:i], pending[i+1:]...)
		busy["s:"+m.Source]++
		busy["t:"+m.Target]++
		mu.Unlock()
		wg.Go(func() {
			err := mv.RunMove(ctx, m.ID)
			mu.Lock()
			busy["s:"+m.Source]--
			busy["t:"+m.Target]--
			if err != nil {
				errs = append(errs, fmt.Errorf("move %d (shard %d %s→%s): %w", m.ID, m.Shard, m.Source, m.Target, err))
			}
			cond.Broadcast()
			mu.Unlock()
		})
	}
	wg.Wait()
	if ctx.Err() != nil {
		errs = append(errs, ctx.Err())
	}
	return errors.Join(errs...)
}

// ErrBusy is returned when another mover holds a move.
var ErrBusy = errors.New("another mover is running this move; wait for it or stop it first")

// lockMove takes the move's advisory lock on a connection of its own, so
// two movers never run one move and a killed mover's lock goes with its
// connection. unlock releases it.
func (c *Cluster) lockMove(ctx context.Context, id int64) (unlock func(), err error) {
	// A connection outside the pool: a pool connection held for a whole
	// move by each of many moves would starve the catalog's other queries.
	conn, err := pgx.ConnectConfig(ctx, c.catalog.Config().ConnConfig.Copy())
	if err != nil {
		return nil, fmt.Errorf("lock move %d: %w", id, err)
	}
	// A mover killed a moment ago still holds the lock until its server
	// backend notices the closed connection: wait a few seconds for it.
	_, err = conn.Exec(ctx, `SET lock_timeout = '5s'`)
	if err == nil {
		_, err = conn.Exec(ctx, `SELECT pg_advisory_lock(1297040979, $1::int)`, id)
	}
	if err != nil {
		conn.Close(context.Background())
		var pgErr interface{ SQLState() string }
		if errors.As(err, &pgErr) && pgErr.SQLState() == "55P03" {
			return nil, fmt.Errorf("move %d: %w", id, ErrBusy)
		}
		return nil, fmt.Errorf("lock move %d: %w", id, err)
	}
	// Closing the connection releases the lock.
	return func() { conn.Close(context.Background()) }, nil
}

// RunMove runs one move from the step it is at to the end.
func (mv *Mover) RunMove(ctx context.Context, id int64) error {
	unlock, err := mv.c.lockMove(ctx, id)
	if err != nil {
		return err
	}
	defer unlock()
	m, err := mv.c.GetMove(ctx, id)
	if err != nil {
		return err
	}
	if m.State == Cancelling {
		return mv.cancel(ctx, m)
	}
	for !m.State.Finished() {
		mv.maybeKill(m.State)
		mv.report(Event{Move: m, State: m.State})
		if err := mv.advance(ctx, m); err != nil {
			_ = mv.c.note(context.WithoutCancel(ctx), m, `error = $1`, err.Error())
			mv.report(Event{Move: m, State: m.State, Err: err})
			return err
		}
	}
	mv.report(Event{Move: m, State: m.State})
	return nil
}

// maybeKill kills the process at a state, for the crash tests.
func (mv *Mover) maybeKill(s State) {
	if mv.killAt == "" || s != mv.killAt {
		return
	}
	syscall.Kill(os.Getpid(), syscall.SIGKILL)
	select {} // SIGKILL cannot be caught; wait for it
}

// ends returns pools on move m's source and target.
func (c *Cluster) ends(m *Move) (src, dst *pgxpool.Pool, err error) {
	if src, err = c.DB(m.Source); err != nil {
		return nil, nil, err
	}
	dst, err = c.DB(m.Target)
	return src, dst, err
}

// advance carries out move m's current step and journals the next.
func (mv *Mover) advance(ctx context.Context, m *Move) error {
	src, dst, err := mv.c.ends(m)
	if err != nil {
		return err
	}
	switch m.State {
	case Pending:
		return mv.c.setState(ctx, m, Prepare, `started_at = coalesce(started_at, now())`)
	case Prepare:
		return mv.prepare(ctx, m, src, dst)
	case Copy:
		return mv.copy(ctx, m, src, dst)
	case CatchUp:
		return mv.catchUp(ctx, m, src, dst)
	case Freeze:
		return mv.freeze(ctx, m, src, dst)
	case Flip:
		return mv.flip(ctx, m, src, dst)
	case Unsubscribe:
		return mv.unsubscribe(ctx, m, src, dst)
	case Verify:
		res, err := verifyMove(ctx, src, dst, m.Shard)
		if err != nil {
			return err
		}
		done, err := mv.c.step(ctx, m, "verify", "")
		if err != nil {
			return err
		}
		done(res.String())
		if res.Mismatches() > 0 {
			mv.log.Error("shard move verify found mismatches; the source rows are kept",
				zap.Int64("move", m.ID), zap.Int("shard", m.Shard), zap.Int64("mismatches", res.Mismatches()))
		}
		return mv.c.setState(ctx, m, Done, `finished_at = now(), mismatches = $2`, res.Mismatches())
	}
	return fmt.Errorf("move %d is %s: nothing to run", m.ID, m.State)
}

// prepare registers the move's artefacts, clears the target of leftovers
// of the shard and creates the publication.
func (mv *Mover) prepare(ctx context.Context, m *Move, src, dst *pgxpool.Pool) error {
	mp, err := mv.c.LoadMap(ctx)
	if err != nil {
		return err
	}
	if mp.Owner[m.Shard] != m.Source {
		return fmt.Errorf("shard %d is on %s, not %s: the map changed; cancel this move ('gateway shard cancel %d') and plan again",
			m.Shard, mp.Owner[m.Shard], m.Source, m.ID)
	}
	done, err := mv.c.step(ctx, m, "prepare", "")
	if err != nil {
		return err
	}
	if err := mv.c.register(ctx, m); err != nil {
		return err
	}
	var srcOwns, dstOwns bool
	if err := src.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM owned_shards WHERE shard = $1)`, m.Shard).Scan(&srcOwns); err != nil {
		return err
	}
	if err := dst.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM owned_shards WHERE shard = $1)`, m.Shard).Scan(&dstOwns); err != nil {
		return err
	}
	if !srcOwns || dstOwns {
		return fmt.Errorf("shard %d: the source owns it: %v, the target: %v; want only the source ('gateway shard verify %d')", m.Shard, srcOwns, dstOwns, m.Shard)
	}
	// Rows of the shard at the target are leftovers of an earlier move
	// off it, waiting for cleanup; the copy needs the room.
	leftovers, err := deleteShardRows(ctx, dst, m.Shard, nil)
	if err != nil {
		return err
	}
	var rows, bytes int64
	if err := src.QueryRow(ctx, `SELECT count(*), coalesce(sum(pg_column_size(c.*)), 0)::bigint FROM cards c WHERE shard = $1`, m.Shard).Scan(&rows, &bytes); err != nil {
		return err
	}
	if err := createPublication(ctx, src, m); err != nil {
		return err
	}
	done(fmt.Sprintf("%d cards, %d bytes; %d leftover rows removed from the target", rows, bytes, leftovers))
	return mv.c.setState(ctx, m, Copy, `rows_total = $2, bytes_total = $3`, rows, bytes)
}

// copy creates the subscription and waits for its initial copy.
func (mv *Mover) copy(ctx context.Context, m *Move, src, dst *pgxpool.Pool) error {
	// The copy is charged in full before it starts, a burst at a time.
	for left := m.BytesTotal; mv.limiter != nil && left > 0; {
		n := min(left, int64(mv.limiter.Burst()))
		if err := mv.limiter.WaitN(ctx, int(n)); err != nil {
			return err
		}
		left -= n
	}
	dsn, err := mv.c.dsn(m.Source)
	if err != nil {
		return err
	}
	conn, err := libpqConnString(dsn)
	if err != nil {
		return err
	}
	done, err := mv.c.step(ctx, m, "copy", "")
	if err != nil {
		return err
	}
	started := time.Now()
	// The subscription is made once the copy is committed at the target:
	// found, the copy is done (a resumed move); not found, any slot or
	// rows of an earlier attempt are dropped and the copy made again.
	subscribed, err := subscriptionExists(ctx, dst, m)
	if err != nil {
		return err
	}
	if !subscribed {
		if _, err := copyAtSlot(ctx, conn, src, dst, m, func(rows int64) {
			mv.report(Event{Move: m, State: Copy, Copied: rows})
		}); err != nil {
			return err
		}
		mv.maybeKill("copied")
		if err := createSubscription(ctx, dst, m, conn); err != nil {
			return err
		}
	}
	mv.maybeKill("subscribed")
	lastNote := time.Now()
	for {
		p, err := subscriptionProgress(ctx, dst, m)
		if err != nil {
			return err
		}
		if p.tables == len(movedTables) && p.ready == p.tables {
			secs := time.Since(started).Seconds()
			done(fmt.Sprintf("%d rows in %.2f s", p.rows, secs))
			return mv.c.setState(ctx, m, CatchUp, `rows_copied = $2, bytes_copied = bytes_total, copy_seconds = $3`, p.rows, secs)
		}
		mv.report(Event{Move: m, State: Copy, Copied: p.rows})
		if time.Since(lastNote) > time.Second {
			lastNote = time.Now()
			_ = mv.c.note(ctx, m, `rows_copied = $1, bytes_copied = CASE WHEN rows_total > 0 THEN bytes_total * least($1, rows_total) / rows_total ELSE 0 END`, p.rows)
		}
		if err := sleep(ctx, 20*time.Millisecond); err != nil {
			return err
		}
	}
}

// catchUp waits until a barrier written at the source reaches the target
// within MaxLag: the pre-flight gate of the freeze.
func (mv *Mover) catchUp(ctx context.Context, m *Move, src, dst *pgxpool.Pool) error {
	// A freeze of an earlier attempt (this mover's, or one that died) is
	// lifted first: the map has not flipped.
	if err := liftFreeze(ctx, m, src, dst); err != nil {
		return err
	}
	done, err := mv.c.step(ctx, m, "catch-up", "")
	if err != nil {
		return err
	}
	deadline := time.Now().Add(10 * time.Minute)
	for probe := 1; ; probe++ {
		seq := time.Now().UnixNano()
		sent := time.Now()
		if err := insertMarker(ctx, src, m, seq); err != nil {
			return err
		}
		arrived, err := waitMarker(ctx, dst, m, seq, sent.Add(30*time.Second))
		if err != nil {
			return err
		}
		lag := time.Since(sent)
		lagMs := float64(lag.Microseconds()) / 1000
		if err := mv.c.note(ctx, m, `lag_ms = $1`, lagMs); err != nil {
			return err
		}
		if arrived && lag <= mv.lim.MaxLag {
			done(fmt.Sprintf("lag %.1f ms after %d probes", lagMs, probe))
			return mv.c.setState(ctx, m, Freeze, "")
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("catch-up lag stayed above %v for 10 minutes (last %.1f ms); the move is journaled at catch-up, run the command again to retry", mv.lim.MaxLag, lagMs)
		}
		if err := sleep(ctx, 100*time.Millisecond); err != nil {
			return err
		}
	}
}

// freezeSQL freezes shard $1 at the source until the mover lifts the freeze
// or the flip releases the shard ('infinity': it does not lapse), raises
// its cache fence and writes barrier ($2, $3), in one statement.
const freezeSQL = `
WITH frozen AS (
    UPDATE owned_shards SET writable = false, frozen_until = 'infinity'
    WHERE shard = $1 RETURNING shard
), fence AS (
    INSERT INTO cache_fences (shard, generation) SELECT shard, 1 FROM frozen
    ON CONFLICT (shard) DO UPDATE SET generation = cache_fences.generation + 1
), barrier AS (
    INSERT INTO move_markers (shard, move, seq) SELECT shard, $2, $3 FROM frozen
)
SELECT count(*), ` + sourceAuditIDs + ` FROM frozen`

// sourceAuditIDs is the last audit id the database handed out.
const sourceAuditIDs = `coalesce(pg_sequence_last_value(pg_get_serial_sequence('audit_log', 'id')::regclass), 0)`

// sourceAuditIDsSQL reads it.
const sourceAuditIDsSQL = `SELECT ` + sourceAuditIDs

// errFreezeOverran is an abandoned freeze.
var errFreezeOverran = errors.New("freeze overran its bound")

// freeze freezes the shard's writes at the source, waits for the last
// changes to reach the target and flips; a freeze that overruns its bound
// is lifted and tried again after a catch-up.
//
// The freeze does not lapse by itself: the mover lifts it when it overruns
// or fails, and a mover killed while a shard is frozen leaves that shard's
// writes waiting until the move is run again or cancelled (reads go on).
// A lapsing freeze had to be committed to the flip in one more round trip
// to the source before the map could flip (so that it could not lapse
// after the flip); every write to the shard waited for it.
func (mv *Mover) freeze(ctx context.Context, m *Move, src, dst *pgxpool.Pool) error {
	// Resuming: a flipped map goes on to the flip's end; a freeze left by a
	// killed mover, whose last changes may not have reached the target,
	// is lifted and made again.
	if m.FlipEpoch != nil {
		return mv.c.setState(ctx, m, Flip, "")
	}
	if err := liftFreeze(ctx, m, src, dst); err != nil {
		return err
	}
	if m.FreezeTries >= mv.lim.FreezeTries {
		return fmt.Errorf("%d freezes overran %v; the move is journaled at freeze: run the command again to retry, or with a larger --freeze-bound", m.FreezeTries, mv.lim.FreezeBound)
	}
	m.FreezeTries++
	if err := mv.c.note(ctx, m, `freeze_tries = $1`, m.FreezeTries); err != nil {
		return err
	}
	done, err := mv.c.step(ctx, m, "freeze", fmt.Sprintf("try %d", m.FreezeTries))
	if err != nil {
		return err
	}
	started, timings, err := mv.freezeOnce(ctx, m, src, dst)
	if err != nil {
		done(fmt.Sprintf("try %d: %s: %v", m.FreezeTries, timings, err))
		// Whatever stopped the attempt (Ctrl-C included), the shard must
		// not stay frozen: the map has not flipped, the source takes
		// writes again.
		if lift := liftFreeze(context.WithoutCancel(ctx), m, src, dst); lift != nil {
			return errors.Join(err, lift)
		}
	}
	if errors.Is(err, errFreezeOverran) {
		mv.log.Info("shard freeze overran its bound; lifted, trying again", zap.Int64("move", m.ID), zap.Int("shard", m.Shard), zap.Int("try", m.FreezeTries))
		if err := sleep(ctx, time.Duration(m.FreezeTries)*100*time.Millisecond); err != nil {
			return err
		}
		return mv.c.setState(ctx, m, CatchUp, "")
	}
	if err != nil {
		return err
	}
	mv.maybeKill("frozen")
	// The flip runs to its end whatever happens to ctx (Ctrl-C), or writes
	// to the shard would wait for a resume.
	return mv.flipAndRelease(context.WithoutCancel(ctx), m, src, dst, started, func(flip string) {
		done(fmt.Sprintf("try %d: %s; %s", m.FreezeTries, timings, flip))
	})
}

// liftFreeze undoes a mover's freeze of move m's shard that has not
// flipped the map: the target gives up what the attempt gave it before the
// source takes writes again. It does nothing to a shard that is not frozen,
// nor to one frozen by hand (frozen_until NULL).
func liftFreeze(ctx context.Context, m *Move, src, dst *pgxpool.Pool) error {
	var frozen bool
	if err := src.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM owned_shards WHERE shard = $1 AND NOT writable AND frozen_until = 'infinity')`, m.Shard).Scan(&frozen); err != nil {
		return fmt.Errorf("look for a freeze to lift: %w", err)
	}
	if !frozen {
		return nil
	}
	if _, err := dst.Exec(ctx, `DELETE FROM owned_shards WHERE shard = $1`, m.Shard); err != nil {
		return fmt.Errorf("undo the target's ownership: %w", err)
	}
	if _, err := src.Exec(ctx, `UPDATE owned_shards SET writable = true, frozen_until = NULL
		WHERE shard = $1 AND NOT writable AND frozen_until = 'infinity'`, m.Shard); err != nil {
		return fmt.Errorf("lift the freeze: %w", err)
	}
	return nil
}

// freezeOnce is one attempt: freeze, barrier and fence, the last changes
// at the target, which then owns the shard. It returns when the freeze
// began (writers wait from then).
func (mv *Mover) freezeOnce(ctx context.Context, m *Move, src, dst *pgxpool.Pool) (time.Time, *freezeTimings, error) {
	bound := mv.lim.FreezeBound
	seq := time.Now().UnixNano()
	started := time.Now()
	deadline := started.Add(bound)
	tm := &freezeTimings{start: started}
	// One statement, one round trip: freeze the shard, raise its cache
	// fence (gateways still on the old map read the cache under the old
	// scope; the fence makes them miss once the target takes writes) and
	// write the barrier, all in one transaction. Waiting for in-flight
	// writes (they hold the shard's row FOR SHARE) stalls new ones, so the
	// lock wait is bounded.
	conn, err := src.Acquire(ctx)
	if err != nil {
		return started, tm, err
	}
	if _, err := conn.Exec(ctx, fmt.Sprintf(`SET lock_timeout = %d`, max(1, bound.Milliseconds()/2))); err != nil {
		conn.Release()
		return started, tm, err
	}
	// Resetting the timeout is a round trip to the source: it goes on
	// beside the flip, not before it (every write to the shard waits for
	// the flip; it was 27 ms of the freeze at the p99).
	defer func() {
		go func() {
			_, _ = conn.Exec(context.WithoutCancel(ctx), `RESET lock_timeout`)
			conn.Release()
		}()
	}()
	started = time.Now()
	deadline = started.Add(bound)
	tm.start = started
	var frozen int
	var sourceIDs int64
	err = conn.QueryRow(ctx, freezeSQL, m.Shard, m.ID, seq).Scan(&frozen, &sourceIDs)
	if err == nil && frozen != 1 {
		err = fmt.Errorf("shard %d is not owned by the source %s", m.Shard, m.Source)
	}
	var pgErr interface{ SQLState() string }
	tm.mark(&tm.frozen)
	if errors.As(err, &pgErr) && pgErr.SQLState() == "55P03" { // lock_not_available
		return started, tm, errFreezeOverran
	}
	if err != nil {
		return started, tm, fmt.Errorf("freeze: %w", err)
	}
	mv.maybeKill("freezing")
	fenced := time.Now().Add(mv.lim.FenceWait)
	// The fence must hold before the target takes writes, that is before
	// the flip. Making the target own the shard (no gateway writes there
	// before the map names it) lets no write through, so it runs while the
	// fence takes hold; and the target takes the shard in the statement
	// that finds the barrier there: one round trip after the last changes,
	// not two.
	// Every write to the shard waits for this poll: it looks often.
	arrived, err := pollTarget(ctx, dst, deadline, 2*time.Millisecond, "wait for the last changes", func(conn *pgxpool.Conn) (bool, error) {
		tag, err := conn.Exec(ctx, ownAfterMarkerSQL, m.Shard, sourceIDs, m.ID, seq)
		return tag.RowsAffected() == 1, err
	})
	tm.mark(&tm.caughtUp)
	if err != nil {
		return started, tm, err
	}
	if !arrived {
		return started, tm, errFreezeOverran
	}
	mv.maybeKill("owned")
	if err := sleepUntil(ctx, fenced); err != nil {
		return started, tm, err
	}
	tm.mark(&tm.fenced)
	return started, tm, nil
}

// freezeTimings are the parts of one freeze, for its journal step.
type freezeTimings struct {
	start                    time.Time
	frozen, caughtUp, fenced time.Duration // since start
}

func (t *freezeTimings) mark(d *time.Duration) { *d = time.Since(t.start) }

func (t *freezeTimings) String() string {
	ms := func(d time.Duration) string { return fmt.Sprintf("%.1f", float64(d.Microseconds())/1000) }
	return fmt.Sprintf("frozen at %s ms, last changes at the target and owned there %s, fence held %s",
		ms(t.frozen), ms(t.caughtUp), ms(t.fenced))
}

// flipAndRelease is the flip straight after a freeze: it journals the
// flip and carries it out, and records how long writes were frozen.
func (mv *Mover) flipAndRelease(ctx context.Context, m *Move, src, dst *pgxpool.Pool, frozenSince time.Time, done func(string)) error {
	// No journal entry first: the committed freeze at the source is the
	// record (a resumed move at freeze finds it and flips), and every part
	// of the flip is safe to run again.
	journaled := time.Since(frozenSince)
	var parts [3]time.Duration
	// freezeOnce made the target own the shard already.
	if err := mv.flipTimed(ctx, m, src, dst, true, func(i int) { parts[i] = time.Since(frozenSince) }); err != nil {
		return err
	}
	took := time.Since(frozenSince)
	ms := float64(took.Microseconds()) / 1000
	f := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	done(fmt.Sprintf("flip from %.1f ms, map flipped %.1f, released %.1f; writes frozen %.1f ms",
		f(journaled), f(parts[1]), f(parts[2]), ms))
	return mv.c.note(ctx, m, `freeze_ms = $1`, ms)
}

// ownAtTargetSQL makes the target own shard $1, its audit ids continuing
// past the copied ones, in one statement.
//
// The source keeps taking audit rows of reads for the shard until it
// releases it, and they reach the target with the source's ids: the
// target's own ids start above both the copied ids and, with a margin of
// a million rows for the moments until the release, the source's sequence
// ($2), or a replicated row would collide with one of the target's and
// stop the subscription.
const ownAtTargetSQL = ownIDsSQL + ownInsertSQL

// ownAfterMarkerSQL is ownAtTargetSQL if marker $4 of move $3 is at the
// target, and nothing otherwise: the freeze's poll for its last changes.
const ownAfterMarkerSQL = ownIDsSQL + `
    WHERE EXISTS (SELECT 1 FROM move_markers WHERE shard = $1 AND move = $3 AND seq = $4)` + ownInsertSQL

const ownIDsSQL = `
WITH ids AS (
    SELECT setval(seq, greatest(nextval(seq), top, $2::bigint + 1000000)) FROM
        (SELECT pg_get_serial_sequence('audit_log', 'id') AS seq,
                (SELECT coalesce(max(id), 0) FROM audit_log WHERE shard = $1) AS top) x`

const ownInsertSQL = `
)
INSERT INTO owned_shards (shard) SELECT $1 FROM ids
ON CONFLICT (shard) DO UPDATE SET writable = true, frozen_until = NULL`

// ownAtTarget makes the target own shard s, writable; sourceIDs is the
// source's audit sequence (see ownAtTargetSQL).
func ownAtTarget(ctx context.Context, dst *pgxpool.Pool, s int, sourceIDs int64) error {
	if _, err := dst.Exec(ctx, ownAtTargetSQL, s, sourceIDs); err != nil {
		return fmt.Errorf("own at the target: %w", err)
	}
	return nil
}

// flipMapSQL points shard $1 from $2 to $3 under a new epoch and journals
// it on move $4, in one statement, if the map still names $2. It returns
// the owner it found and the new epoch (NULL when it changed nothing).
const flipMapSQL = `
WITH current AS (
    SELECT database FROM shard_map WHERE shard = $1 FOR UPDATE
), epoch AS (
    UPDATE cluster SET epoch = epoch + 1 WHERE (SELECT database FROM current) = $2 RETURNING epoch
), mapped AS (
    UPDATE shard_map SET database = $3, epoch = (SELECT epoch FROM epoch)
    WHERE shard = $1 AND EXISTS (SELECT 1 FROM epoch)
), journal AS (
    UPDATE moves SET flip_epoch = (SELECT epoch FROM epoch), updated_at = now()
    WHERE id = $4 AND EXISTS (SELECT 1 FROM epoch)
)
SELECT (SELECT database FROM current), (SELECT epoch FROM epoch)`

// flip makes the target own the shard, points the map at it under a new
// epoch and releases the shard at the source. Each part is safe to run
// again.
func (mv *Mover) flip(ctx context.Context, m *Move, src, dst *pgxpool.Pool) error {
	return mv.flipTimed(ctx, m, src, dst, false, func(int) {})
}

// flipTimed is flip, calling mark(0), (1), (2) as each part is done. The
// target owns the shard already when owned is set (straight after a
// freeze); a resumed flip makes sure of it (a no-op if it does).
func (mv *Mover) flipTimed(ctx context.Context, m *Move, src, dst *pgxpool.Pool, owned bool, mark func(int)) error {
	if !owned {
		var sourceIDs int64
		if err := src.QueryRow(ctx, sourceAuditIDsSQL).Scan(&sourceIDs); err != nil {
			return fmt.Errorf("read the source's audit ids: %w", err)
		}
		if err := ownAtTarget(ctx, dst, m.Shard, sourceIDs); err != nil {
			return err
		}
	}
	mark(0)
	var owner string
	var epoch *int64
	if err := mv.c.catalog.QueryRow(ctx, flipMapSQL, m.Shard, m.Source, m.Target, m.ID).Scan(&owner, &epoch); err != nil {
		return fmt.Errorf("flip: the map: %w", err)
	}
	if owner != m.Source && owner != m.Target {
		return fmt.Errorf("flip: shard %d is mapped to %s, neither source nor target", m.Shard, owner)
	}
	mark(1)
	mv.maybeKill("flipped")
	if _, err := src.Exec(ctx, `DELETE FROM owned_shards WHERE shard = $1`, m.Shard); err != nil {
		return fmt.Errorf("flip: release at the source: %w", err)
	}
	mark(2)
	return mv.c.setState(ctx, m, Unsubscribe, "")
}

// unsubscribe lets the last audit rows of reads (taken at the source until
// the release) reach the target, then drops the move's artefacts.
func (mv *Mover) unsubscribe(ctx context.Context, m *Move, src, dst *pgxpool.Pool) error {
	done, err := mv.c.step(ctx, m, "unsubscribe", "")
	if err != nil {
		return err
	}
	started := time.Now()
	if _, err := src.Exec(ctx, `DELETE FROM owned_shards WHERE shard = $1`, m.Shard); err != nil {
		return fmt.Errorf("release at the source: %w", err)
	}
	// Without its slot the subscription can bring nothing more, and needs
	// not: only dropArtefacts drops the slot, after the barrier arrived.
	subscribed, err := subscriptionExists(ctx, dst, m)
	if err != nil {
		return err
	}
	slot, err := slotExists(ctx, src, m.name())
	if err != nil {
		return err
	}
	if subscribed && slot {
		seq := time.Now().UnixNano()
		if err := insertMarker(ctx, src, m, seq); err != nil {
			return err
		}
		arrived, err := waitMarker(ctx, dst, m, seq, time.Now().Add(5*time.Minute))
		if err != nil {
			return err
		}
		if !arrived {
			return errors.New("the source's last changes did not reach the target within 5 minutes (is the subscription's worker running? see the target's log for 'logical replication'); run the command again")
		}
	}
	if err := mv.c.dropArtefacts(ctx, m, src, dst); err != nil {
		return err
	}
	done(fmt.Sprintf("last changes in and artefacts dropped in %s", time.Since(started).Round(time.Millisecond)))
	return mv.c.setState(ctx, m, Verify, "")
}

// dropArtefacts drops move m's subscription, slot and publication, and
// journals each as dropped.
func (c *Cluster) dropArtefacts(ctx context.Context, m *Move, src, dst *pgxpool.Pool) error {
	for _, a := range m.artefacts() {
		var err error
		switch a.kind {
		case "subscription":
			err = dropSubscription(ctx, src, dst, m)
		case "slot":
			err = dropSlot(ctx, src, a.name)
		case "publication":
			err = dropPublication(ctx, src, m)
		}
		if err != nil {
			return err
		}
		if err := c.dropped(ctx, m, a); err != nil {
			return err
		}
	}
	return nil
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func sleepUntil(ctx context.Context, t time.Time) error {
	if d := time.Until(t); d > 0 {
		return sleep(ctx, d)
	}
	return nil
}
