package robustness

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/sharedmedcard/gateway/shard"
	"github.com/sharedmedcard/gateway/shard/move"
)

// This file is the shard-move class's nemesis: the real online mover
// (shard/move) moves the logical shards of hot persons to the other shard
// database while the clients read and write them, and back; then it checks
// that the moves left nothing behind.

// movedShards is how many hot persons' logical shards one cycle moves.
const movedShards = 3

// moveHold is how long the moved shards stay at the other database before
// they are moved back.
const moveHold = time.Second

// moveLimits are the mover's limits in the shard-move class: the defaults
// of `gateway shard rebalance`, but for the fence wait.
func moveLimits() move.Limits {
	lim := move.DefaultLimits()
	// A freeze raises the shard's cache fence at the source and must wait
	// out every gateway's fence lease before the target takes writes (see
	// shard.Fences). The gateways' lease is half their --cache-timeout
	// (internal/app: shard.NewFences(store, CacheTimeout/2, …)), and the
	// suite starts them with --cache-timeout cacheTimeout.
	lim.FenceWait = cacheTimeout / 2
	return lim
}

// lateMapToxic delays what gateway B's catalog link brings back: the
// notification of a new map, and each round trip of loading it (about six),
// so B routes by the old map for roughly 0.7 s after each flip, within the
// judge's staleMapWindow.
const lateMapToxic = `{"name":"nemesis","type":"latency","stream":"downstream","attributes":{"latency":100}}`

func catalogProxyB(e *NemesisEnv) []*toxiproxy.Proxy {
	return []*toxiproxy.Proxy{e.Cluster.Gateways[1].CatalogProxy}
}

// runShardMoves is one cycle of the shard-move class: the shards of
// movedShards hot persons go to the other shard database, stay there
// moveHold, and come back, each move a plan of its own run by the real
// mover. The shards go at once, each on its own (one shard may flip while
// another copies). It returns when the last move back finished, after
// checking that the moves orphaned nothing.
func runShardMoves(ctx context.Context, e *NemesisEnv) (time.Time, error) {
	c, err := move.Open(ctx, e.Cluster.Storage.CatalogDSN, moverLogger(e.Logf))
	if err != nil {
		return time.Time{}, fmt.Errorf("open the mover's cluster: %w", err)
	}
	defer c.Close()
	if err := throughProxies(c, e.Cluster); err != nil {
		return time.Time{}, err
	}
	m, err := c.LoadMap(ctx)
	if err != nil {
		return time.Time{}, err
	}
	home := map[int]string{} // shard → where it is now
	var pinned []string
	for _, p := range e.HotPersons() {
		if len(home) == movedShards {
			break
		}
		s := shard.Of(p)
		if _, ok := home[s]; !ok {
			home[s] = m.Owner[s]
			pinned = append(pinned, p)
		}
	}
	// Gateway B hears of each flip late and keeps routing by the old map
	// until it has loaded the new one: what the shard fence is for.
	late := catalogProxyB(e)
	if err := addToxic(late, lateMapToxic); err != nil {
		return time.Time{}, err
	}
	defer removeToxic(context.WithoutCancel(ctx), late)
	// The clients must go on working on the moved shards' persons until
	// the last move back is done; retired, they would leave the shards
	// idle and the run would show nothing.
	defer e.PinPersons(pinned)()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	for s, db := range home {
		wg.Go(func() {
			err := e.moveShard(ctx, c, s, otherDatabase(c.Databases(), db))
			if err == nil {
				sleepCtx(ctx, moveHold)
				err = e.moveShard(ctx, c, s, db)
			}
			if err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(errs) > 0 {
		return time.Time{}, errors.Join(errs...)
	}
	healed := time.Now()
	// The source rows of the moves stay until cleanup; clean them up now,
	// so nothing is left for the check below to find.
	if _, err := c.Cleanup(ctx, 0, nil); err != nil {
		return healed, fmt.Errorf("clean up after the moves: %w", err)
	}
	return healed, checkNothingOrphaned(ctx, e.Cluster)
}

// throughProxies checks that the mover reaches every shard database
// through the gateways' proxies, as the catalog's DSNs say (cluster.go):
// the moves then also test the path a subscription takes to its source
// (CREATE SUBSCRIPTION's CONNECTION is the source's catalog DSN).
func throughProxies(c *move.Cluster, cl *Cluster) error {
	for _, name := range c.Databases() {
		p, err := c.DB(name)
		if err != nil {
			return err
		}
		proxy, ok := cl.ShardProxies[name]
		if !ok {
			return fmt.Errorf("the catalog names shard database %s, which has no proxy", name)
		}
		cc := p.Config().ConnConfig
		if got := net.JoinHostPort(cc.Host, strconv.Itoa(int(cc.Port))); got != proxy.Listen {
			return fmt.Errorf("the mover reaches %s at %s, not through its proxy %s", name, got, proxy.Listen)
		}
	}
	return nil
}

// otherDatabase is the first of dbs that is not db.
func otherDatabase(dbs []string, db string) string {
	for _, d := range dbs {
		if d != db {
			return d
		}
	}
	return db
}

// planTries bounds how often moveShard plans again because the map
// changed between its plan and its start (another shard's flip).
const planTries = 20

// moveShard moves logical shard s to database to with a plan of its own,
// run by the real mover, and records the move's journal in the history.
func (e *NemesisEnv) moveShard(ctx context.Context, c *move.Cluster, s int, to string) error {
	var moves []*move.Move
	for try := 1; ; try++ {
		p, err := c.MakePlan(ctx, move.Goal{Shard: &s, To: to})
		if err != nil {
			return fmt.Errorf("plan the move of shard %d to %s: %w", s, to, err)
		}
		if len(p.Moves) == 0 {
			return nil // it is there already
		}
		// A plan is bound to the map's epoch, which every flip raises, so
		// the flip of another shard between the plan and its start refuses
		// the plan: plan again.
		moves, err = c.StartPlan(ctx, p)
		if errors.Is(err, move.ErrMapChanged) && try < planTries {
			continue
		}
		if err != nil {
			return fmt.Errorf("start plan %d (%s): %w", p.ID, p.Goal, err)
		}
		break
	}
	runErr := move.NewMover(c, moveLimits(), moverLogger(e.Logf), nil).Run(ctx, moves)
	// The journal, also of a move that failed: it says where it stopped.
	jctx := context.WithoutCancel(ctx)
	for _, mv := range moves {
		got, err := c.GetMove(jctx, mv.ID)
		if err != nil {
			return errors.Join(runErr, err)
		}
		steps, err := c.Steps(jctx, mv.ID)
		if err != nil {
			return errors.Join(runErr, err)
		}
		e.logMove(got, steps)
		for _, st := range steps {
			ms := MoveStep{Move: got.ID, Shard: got.Shard, Source: got.Source, Target: got.Target,
				Step: st.Step, Started: st.StartedAt, Detail: st.Detail}
			if st.FinishedAt != nil {
				ms.Finished = *st.FinishedAt
			}
			e.noteMoves(ms)
		}
	}
	if runErr != nil {
		return fmt.Errorf("move shard %d to %s: %w", s, to, runErr)
	}
	return nil
}

// logMove logs a move's figures from the journal.
func (e *NemesisEnv) logMove(m *move.Move, steps []move.Step) {
	f := func(p *float64) string {
		if p == nil {
			return "-"
		}
		return fmt.Sprintf("%.1f", *p)
	}
	var took time.Duration
	if m.StartedAt != nil && m.FinishedAt != nil {
		took = m.FinishedAt.Sub(*m.StartedAt)
	}
	e.Logf("move %d: shard %d %s→%s %s in %v: %d rows copied in %s s, catch-up lag %s ms, writes frozen %s ms after %d freeze tries, mismatches %v",
		m.ID, m.Shard, m.Source, m.Target, m.State, took.Round(time.Millisecond), m.RowsCopied, f(m.CopySeconds),
		f(m.LagMs), f(m.FreezeMs), m.FreezeTries, derefInt(m.Mismatches))
	for _, st := range steps {
		var d time.Duration
		if st.FinishedAt != nil {
			d = st.FinishedAt.Sub(st.StartedAt)
		}
		e.Logf("move %d step %d %s (%v): %s", m.ID, st.Seq, st.Step, d.Round(time.Millisecond), st.Detail)
	}
	if m.Error != nil {
		e.Logf("move %d error: %s", m.ID, *m.Error)
	}
}

func derefInt(p *int64) string {
	if p == nil {
		return "-"
	}
	return fmt.Sprint(*p)
}

// healShardMoves finishes what a failed cycle left: a move not past its
// flip is cancelled, one past it is run to the end; then the source rows
// are cleaned up and the cluster is checked for orphans.
func healShardMoves(ctx context.Context, e *NemesisEnv) error {
	removeToxic(ctx, catalogProxyB(e))
	c, err := move.Open(ctx, e.Cluster.Storage.CatalogDSN, moverLogger(e.Logf))
	if err != nil {
		return fmt.Errorf("open the mover's cluster: %w", err)
	}
	defer c.Close()
	open, err := c.Moves(ctx, move.MoveFilter{Open: true})
	if err != nil {
		return err
	}
	mv := move.NewMover(c, moveLimits(), moverLogger(e.Logf), nil)
	var errs []error
	for _, m := range open {
		e.Logf("heal: move %d (shard %d %s→%s) was left at %s", m.ID, m.Shard, m.Source, m.Target, m.State)
		_, err := mv.Cancel(ctx, m.ID)
		if errors.Is(err, move.ErrPastFlip) {
			err = mv.RunMove(ctx, m.ID)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("heal move %d: %w", m.ID, err))
		}
	}
	if _, err := c.Cleanup(ctx, 0, nil); err != nil {
		errs = append(errs, fmt.Errorf("clean up: %w", err))
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	return checkNothingOrphaned(ctx, e.Cluster)
}

// checkNothingOrphaned fails unless the moves left nothing behind: no
// replication slot, publication or subscription on any shard database;
// every logical shard owned (owned_shards), writable, by exactly the
// database the catalog's shard_map names; no rows of a shard at a
// database that does not own it (moves were cleaned up); no move open and
// every artefact the journal registered dropped. It reads the databases
// directly, not through the proxies.
func checkNothingOrphaned(ctx context.Context, c *Cluster) error {
	var problems []string
	m, err := shard.NewCatalog(c.Storage.Catalog, time.Now).LoadMap(ctx)
	if err != nil {
		return err
	}
	owners := map[int][]string{}
	names := make([]string, 0, len(c.Storage.Shards))
	for name := range c.Storage.Shards {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		db := c.Storage.Shards[name]
		var slots, pubs, subs int
		// Logical slots only: the physical ones are the standbys' (the
		// standby classes give PG2 two), which moves never touch.
		if err := db.QueryRow(ctx, `SELECT (SELECT count(*) FROM pg_replication_slots WHERE slot_type = 'logical'), (SELECT count(*) FROM pg_publication),
			(SELECT count(*) FROM pg_subscription WHERE subdbid = (SELECT oid FROM pg_database WHERE datname = current_database()))`).
			Scan(&slots, &pubs, &subs); err != nil {
			return fmt.Errorf("orphan check on %s: %w", name, err)
		}
		if slots+pubs+subs > 0 {
			problems = append(problems, fmt.Sprintf("%s holds %d logical replication slots, %d publications, %d subscriptions", name, slots, pubs, subs))
		}
		rows, err := db.Query(ctx, `SELECT shard, writable FROM owned_shards ORDER BY shard`)
		if err != nil {
			return fmt.Errorf("orphan check on %s: %w", name, err)
		}
		var s int
		var writable bool
		for rows.Next() {
			if err := rows.Scan(&s, &writable); err != nil {
				rows.Close()
				return fmt.Errorf("orphan check on %s: %w", name, err)
			}
			owners[s] = append(owners[s], name)
			if !writable {
				problems = append(problems, fmt.Sprintf("%s: shard %d is frozen", name, s))
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("orphan check on %s: %w", name, err)
		}
		for _, table := range []string{"cards", "write_outcomes", "audit_log", "open_orders", "move_markers"} {
			var strays []int
			r, err := db.Query(ctx, `SELECT DISTINCT t.shard FROM `+table+` t
				WHERE NOT EXISTS (SELECT 1 FROM owned_shards o WHERE o.shard = t.shard) ORDER BY 1`)
			if err != nil {
				return fmt.Errorf("orphan check on %s: %w", name, err)
			}
			for r.Next() {
				if err := r.Scan(&s); err != nil {
					r.Close()
					return fmt.Errorf("orphan check on %s: %w", name, err)
				}
				strays = append(strays, s)
			}
			r.Close()
			if len(strays) > 0 {
				problems = append(problems, fmt.Sprintf("%s: %s holds rows of shards it does not own: %v", name, table, strays))
			}
		}
	}
	for s := range shard.Count {
		if len(owners[s]) != 1 || owners[s][0] != m.Owner[s] {
			problems = append(problems, fmt.Sprintf("shard %d is owned by %v, the map names %s", s, owners[s], m.Owner[s]))
		}
	}
	var open, artefacts int
	if err := c.Storage.Catalog.QueryRow(ctx, `SELECT (SELECT count(*) FROM moves WHERE state NOT IN ('done', 'cancelled', 'cleaned')),
		(SELECT count(*) FROM move_artefacts WHERE dropped_at IS NULL)`).Scan(&open, &artefacts); err != nil {
		return fmt.Errorf("orphan check on the journal: %w", err)
	}
	if open > 0 || artefacts > 0 {
		problems = append(problems, fmt.Sprintf("the journal holds %d open moves and %d artefacts not dropped", open, artefacts))
	}
	if len(problems) > 0 {
		return fmt.Errorf("the moves left things behind: %s", strings.Join(problems, "; "))
	}
	return nil
}

// moverLogger is the mover's logger: its lines go to logf.
func moverLogger(logf func(string, ...any)) *zap.Logger {
	enc := zapcore.NewConsoleEncoder(zapcore.EncoderConfig{MessageKey: "msg", LevelKey: "level",
		EncodeLevel: zapcore.LowercaseLevelEncoder, ConsoleSeparator: " "})
	return zap.New(zapcore.NewCore(enc, zapcore.AddSync(logfWriter(logf)), zap.InfoLevel))
}

type logfWriter func(string, ...any)

func (w logfWriter) Write(p []byte) (int, error) {
	w("mover: %s", strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
