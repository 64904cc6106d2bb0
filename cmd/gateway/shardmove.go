package main

// The operator's shard move commands: add-db, remove-db, plan, rebalance,
// move, moves, verify, cancel and cleanup. Package shard/move does the
// work; this file parses, prints tables and JSON, and tells the operator
// what to run next.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"go.uber.org/zap"

	"github.com/sharedmedcard/gateway/shard"
	"github.com/sharedmedcard/gateway/shard/move"
)

// clusterFlags are the flags every shard move command has.
type clusterFlags struct {
	catalogDSN string
	asJSON     bool
	verbose    bool
}

func newClusterFlags(name, synopsis string, cf *clusterFlags) flags {
	f := newFlags(name, synopsis)
	f.catalogDSN(&cf.catalogDSN)
	f.BoolVar(&cf.asJSON, "json", false, "print JSON instead of tables (and no progress bar)")
	f.BoolVar(&cf.verbose, "verbose", false, "log the mover's notes on stderr, not only its warnings and errors")
	return f
}

// open connects to the catalog and the shard databases it names. The
// returned function closes them and flushes the logger.
// The mover takes each move's lock on a connection of its own, so the
// catalog pool needs no sizing for the moves a command runs.
func (cf *clusterFlags) open(ctx context.Context) (*move.Cluster, *zap.Logger, func(), error) {
	if err := requireCatalog(cf.catalogDSN); err != nil {
		return nil, nil, nil, err
	}
	log, err := newCommandLogger(cf.verbose)
	if err != nil {
		return nil, nil, nil, err
	}
	c, err := move.Open(ctx, cf.catalogDSN, log)
	if err != nil {
		_ = log.Sync()
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "42P01" { // undefined_table
			return nil, nil, nil, fmt.Errorf("%w: the catalog has no shard tables; run 'gateway migrate' and 'gateway shard init' first", err)
		}
		return nil, nil, nil, err
	}
	return c, log, func() { c.Close(); _ = log.Sync() }, nil
}

// maxParallel is the most moves --parallel allows per database: each
// move takes up to 5 replication workers at its target (1 apply, 4 table
// copies), and 7 of them fit the 40 workers docs/operations.md asks for.
const maxParallel = 7

// limitFlags are the flags of the commands that run moves.
type limitFlags struct {
	parallel, freezeTries          int
	maxRateMB                      float64
	maxLag, freezeBound, fenceWait time.Duration
}

func (lf *limitFlags) declare(f flags) {
	d := move.DefaultLimits()
	f.intVar(&lf.parallel, "parallel", "MEDCARD_MOVE_PARALLEL", d.PerDatabase,
		"most moves at once off one shard database, and most onto one")
	f.float64Var(&lf.maxRateMB, "max-rate", "MEDCARD_MOVE_MAX_RATE", 0,
		"copy rate limit over all moves, in MB/s (1 MB = 10^6 bytes); 0: none")
	f.duration(&lf.maxLag, "max-lag", "MEDCARD_MOVE_MAX_LAG", d.MaxLag,
		"freeze a shard only when a change at the source reaches the target within this (the catch-up gate)")
	f.duration(&lf.freezeBound, "freeze-bound", "MEDCARD_MOVE_FREEZE_BOUND", d.FreezeBound,
		"longest a shard's writes stay frozen; a freeze whose last changes have not reached the target by then is lifted and tried again")
	f.intVar(&lf.freezeTries, "freeze-tries", "MEDCARD_MOVE_FREEZE_TRIES", d.FreezeTries,
		"freezes a move attempts before it fails")
	f.duration(&lf.fenceWait, "fence-wait", "MEDCARD_MOVE_FENCE_WAIT", d.FenceWait,
		"wait after raising a frozen shard's cache fence before the target takes writes; must be at least every gateway's --cache-timeout/2")
}

// limits checks the flags and returns the mover's limits.
func (lf *limitFlags) limits() (move.Limits, error) {
	switch {
	case lf.parallel < 1 || lf.parallel > maxParallel:
		return move.Limits{}, fmt.Errorf("--parallel must be 1 to %d (the mover's pool on a shard database holds 8 connections, and a freeze needs two)", maxParallel)
	case lf.maxRateMB < 0:
		return move.Limits{}, errors.New("--max-rate must be 0 (no limit) or more")
	case lf.maxLag <= 0:
		return move.Limits{}, errors.New("--max-lag must be more than 0")
	case lf.freezeBound <= 0:
		return move.Limits{}, errors.New("--freeze-bound must be more than 0")
	case lf.freezeTries < 1:
		return move.Limits{}, errors.New("--freeze-tries must be at least 1")
	case lf.fenceWait < 0:
		return move.Limits{}, errors.New("--fence-wait must be 0 or more")
	case lf.fenceWait >= lf.freezeBound:
		// The fence wait is part of every freeze: each would overrun.
		return move.Limits{}, fmt.Errorf("--fence-wait %v must be shorter than --freeze-bound %v, which it is part of", lf.fenceWait, lf.freezeBound)
	}
	return move.Limits{PerDatabase: lf.parallel, CopyRate: lf.maxRateMB * 1e6, MaxLag: lf.maxLag,
		FreezeBound: lf.freezeBound, FreezeTries: lf.freezeTries, FenceWait: lf.fenceWait}, nil
}

func runShardAddDB(ctx context.Context, args []string) error {
	var cf clusterFlags
	f := newClusterFlags("shard add-db NAME DSN", "Registers an empty PostgreSQL database as shard database NAME: migrates it, checks that it\n"+
		"has wal_level = logical (moves need it) and adds it to the catalog, owning no shard yet.\n"+
		"Move shards onto it with 'gateway shard plan', then 'gateway shard rebalance PLAN'.\n"+
		"Running it again with the same NAME and DSN changes nothing.", &cf)
	pos, err := f.parseArgs(args)
	if err != nil {
		return err
	}
	if len(pos) != 2 {
		return errors.New("shard add-db: name the database and its DSN: gateway shard add-db NAME DSN")
	}
	c, _, closeC, err := cf.open(ctx)
	if err != nil {
		return err
	}
	defer closeC()
	res, err := c.AddDatabase(ctx, pos[0], pos[1])
	if err != nil {
		return err
	}
	if cf.asJSON {
		return writeJSON(res)
	}
	if !res.Created {
		fmt.Printf("shard database %s is registered already with this DSN (schema version %d); nothing changed\n", res.Name, res.SchemaVersion)
		return nil
	}
	fmt.Printf("shard database %s added (schema version %d); it owns no shards yet.\n"+
		"Plan moves onto it with 'gateway shard plan', then run the plan with 'gateway shard rebalance PLAN'.\n", res.Name, res.SchemaVersion)
	return nil
}

func runShardRemoveDB(ctx context.Context, args []string) error {
	var cf clusterFlags
	f := newClusterFlags("shard remove-db NAME", "Unregisters shard database NAME. Refused while the map gives it shards (drain it first:\n"+
		"'gateway shard plan --drain NAME'), a move onto or off it is unfinished, or it still holds rows\n"+
		"of moved shards ('gateway shard cleanup'). The database itself is left as it is.", &cf)
	pos, err := f.parseArgs(args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return errors.New("shard remove-db: name the database: gateway shard remove-db NAME")
	}
	c, _, closeC, err := cf.open(ctx)
	if err != nil {
		return err
	}
	defer closeC()
	if err := c.RemoveDatabase(ctx, pos[0]); err != nil {
		return err
	}
	if cf.asJSON {
		return writeJSON(map[string]string{"removed": pos[0]})
	}
	fmt.Printf("shard database %s removed from the catalog; the database itself is untouched (drop it when you no longer need it)\n", pos[0])
	return nil
}

// planShownMoves is how many moves plan prints without --all.
const planShownMoves = 20

func runShardPlan(ctx context.Context, args []string) error {
	var cf clusterFlags
	var by, drain, to string
	var shardNo int
	var all bool
	f := newClusterFlags("shard plan", "Measures every logical shard and plans moves: even out --by shards, cards or bytes over the\n"+
		"databases, or --drain one (then even out the rest), or --move one shard --to a database.\n"+
		"Prints the map before and after and the moves, and saves the plan bound to the map's epoch:\n"+
		"'gateway shard rebalance PLAN' runs it, and is refused if the map changed meanwhile.\n"+
		"A plan with nothing to move is not saved.", &cf)
	f.StringVar(&by, "by", string(move.ByShards), "what to even out: shards, cards or bytes")
	f.StringVar(&drain, "drain", "", "move every shard off this database (before removing it)")
	f.IntVar(&shardNo, "move", -1, "plan the move of this one logical shard (with --to)")
	f.StringVar(&to, "to", "", "the database --move moves the shard to")
	f.BoolVar(&all, "all", false, fmt.Sprintf("list every move, not only the first %d", planShownMoves))
	pos, err := f.parseArgs(args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return fmt.Errorf("shard plan: unexpected argument %q (see --help)", pos[0])
	}
	goal := move.Goal{Balance: move.Balance(by), Drain: drain}
	switch {
	case (shardNo >= 0) != (to != ""):
		return errors.New("shard plan: --move SHARD and --to NAME go together")
	case shardNo >= 0 && drain != "":
		return errors.New("shard plan: --move and --drain are different plans; make one at a time")
	case shardNo >= 0:
		goal = move.Goal{Balance: move.ByShards, Shard: &shardNo, To: to}
	}
	c, _, closeC, err := cf.open(ctx)
	if err != nil {
		return err
	}
	defer closeC()
	p, err := c.MakePlan(ctx, goal)
	if err != nil {
		return err
	}
	if cf.asJSON {
		return writeJSON(p)
	}
	printPlan(p, all)
	return nil
}

// printPlan prints a plan's map before and after, its moves and what to
// run next.
func printPlan(p *move.Plan, all bool) {
	fmt.Printf("plan: %s (map epoch %d)\n\n", p.Goal, p.Epoch)
	after := map[string]move.DatabaseLoad{}
	for _, l := range p.After {
		after[l.Name] = l
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "DATABASE\tSHARDS\tAFTER\tCARDS\tAFTER\tSIZE\tAFTER\t")
	var tb, ta move.DatabaseLoad
	for _, b := range p.Before {
		a := after[b.Name]
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%s\t%s\t\n", b.Name, b.Shards, a.Shards, b.Cards, a.Cards, humanBytes(b.Bytes), humanBytes(a.Bytes))
		tb.Shards, tb.Cards, tb.Bytes = tb.Shards+b.Shards, tb.Cards+b.Cards, tb.Bytes+b.Bytes
		ta.Shards, ta.Cards, ta.Bytes = ta.Shards+a.Shards, ta.Cards+a.Cards, ta.Bytes+a.Bytes
	}
	fmt.Fprintf(tw, "total\t%d\t%d\t%d\t%d\t%s\t%s\t\n", tb.Shards, ta.Shards, tb.Cards, ta.Cards, humanBytes(tb.Bytes), humanBytes(ta.Bytes))
	_ = tw.Flush()
	if len(p.Moves) == 0 {
		fmt.Println("\nnothing to move: the map already meets the goal; no plan saved")
		return
	}
	var cards, bytes int64
	for _, m := range p.Moves {
		cards, bytes = cards+m.Cards, bytes+m.Bytes
	}
	fmt.Printf("\n%d moves, %d cards, %s:\n", len(p.Moves), cards, humanBytes(bytes))
	tw = tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "SHARD\tFROM\tTO\tCARDS\tSIZE\t")
	shown := p.Moves
	if !all && len(shown) > planShownMoves {
		shown = shown[:planShownMoves]
	}
	for _, m := range shown {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%d\t%s\t\n", m.Shard, m.From, m.To, m.Cards, humanBytes(m.Bytes))
	}
	_ = tw.Flush()
	if n := len(p.Moves) - len(shown); n > 0 {
		fmt.Printf("... and %d more (--all lists every move)\n", n)
	}
	fmt.Printf("\nplan %d saved. Run it with:\n\n  gateway shard rebalance %d\n\n"+
		"It is refused if the shard map changes before it starts; then make a new plan.\n", p.ID, p.ID)
}

func runShardRebalance(ctx context.Context, args []string) error {
	var cf clusterFlags
	var lf limitFlags
	f := newClusterFlags("shard rebalance PLAN", "Runs the moves of a plan saved by 'gateway shard plan', online: each shard is copied while\n"+
		"it takes writes, caught up, frozen for a moment (--freeze-bound), flipped to its new database\n"+
		"and verified. Refused if the shard map changed since the plan was made. Every step is\n"+
		"journaled: after Ctrl-C or a crash, run the same command again to resume. Shows a progress\n"+
		"bar on a terminal and a line per finished move.", &cf)
	lf.declare(f)
	pos, err := f.parseArgs(args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return errors.New("shard rebalance: name the plan: gateway shard rebalance PLAN (the ID 'gateway shard plan' printed)")
	}
	id, err := strconv.ParseInt(pos[0], 10, 64)
	if err != nil || id <= 0 {
		return fmt.Errorf("shard rebalance: %q is not a plan ID; 'gateway shard plan' makes one and prints its ID", pos[0])
	}
	lim, err := lf.limits()
	if err != nil {
		return err
	}
	c, log, closeC, err := cf.open(ctx)
	if err != nil {
		return err
	}
	defer closeC()
	p, err := c.LoadPlan(ctx, id)
	if err != nil {
		return err
	}
	moves, err := c.StartPlan(ctx, p)
	if err != nil {
		return err
	}
	todo := unfinished(moves)
	if len(todo) == 0 {
		if cf.asJSON {
			return writeJSON(moveRun{Plan: id, Moves: orDefault(moves), Done: countState(moves, move.Done)})
		}
		fmt.Printf("plan %d is finished (%s); nothing to resume\n", id, stateCounts(moves))
		return nil
	}
	if !cf.asJSON {
		verb := "running"
		if len(todo) < len(moves) || slices.ContainsFunc(todo, func(m *move.Move) bool { return m.State != move.Pending }) {
			verb = "resuming"
		}
		fmt.Printf("plan %d (%s): %s %d of %d moves, at most %d at once per database\n", id, p.Goal, verb, len(todo), len(moves), lim.PerDatabase)
	}
	return runMoves(ctx, c, log, lim, todo, id, cf.asJSON, fmt.Sprintf("gateway shard rebalance %d", id))
}

func runShardMove(ctx context.Context, args []string) error {
	var cf clusterFlags
	var lf limitFlags
	var to string
	f := newClusterFlags("shard move SHARD --to NAME", "Moves one logical shard to shard database NAME, online, as a one-move plan made and run at\n"+
		"once (see 'gateway shard rebalance --help'). If the shard has an unfinished move to NAME,\n"+
		"it resumes that one.", &cf)
	f.StringVar(&to, "to", "", "the shard database to move the shard to (required)")
	lf.declare(f)
	pos, err := f.parseArgs(args)
	if err != nil {
		return err
	}
	if len(pos) != 1 || to == "" {
		return errors.New("shard move: name the shard and its new database: gateway shard move SHARD --to NAME")
	}
	s, err := strconv.Atoi(pos[0])
	if err != nil || s < 0 || s >= shard.Count {
		return fmt.Errorf("shard move: %q is not a logical shard (0-%d); 'gateway shard status' shows where they live", pos[0], shard.Count-1)
	}
	lim, err := lf.limits()
	if err != nil {
		return err
	}
	c, log, closeC, err := cf.open(ctx)
	if err != nil {
		return err
	}
	defer closeC()
	again := fmt.Sprintf("gateway shard move %d --to %s", s, to)

	open, err := c.Moves(ctx, move.MoveFilter{Open: true})
	if err != nil {
		return err
	}
	for _, m := range open {
		if m.Shard != s {
			continue
		}
		if m.Target != to {
			return fmt.Errorf("shard %d has an unfinished move %d to %s (at %s): resume it with 'gateway shard move %d --to %s', or cancel it with 'gateway shard cancel %d'",
				s, m.ID, m.Target, m.State, s, m.Target, m.ID)
		}
		if !cf.asJSON {
			fmt.Printf("resuming move %d of shard %d, %s→%s, at %s\n", m.ID, s, m.Source, m.Target, m.State)
		}
		return runMoves(ctx, c, log, lim, []*move.Move{m}, 0, cf.asJSON, again)
	}

	// Plan and start at once; a flip elsewhere in between (another mover)
	// refuses the plan, so plan again a few times.
	var p *move.Plan
	var moves []*move.Move
	for try := 1; ; try++ {
		p, err = c.MakePlan(ctx, move.Goal{Balance: move.ByShards, Shard: &s, To: to})
		if err != nil {
			return err
		}
		if len(p.Moves) == 0 {
			if cf.asJSON {
				return writeJSON(moveRun{Moves: []*move.Move{}})
			}
			fmt.Printf("shard %d is on %s already; nothing to move\n", s, to)
			return nil
		}
		moves, err = c.StartPlan(ctx, p)
		if errors.Is(err, move.ErrMapChanged) && try < 5 {
			continue
		}
		if err != nil {
			return err
		}
		break
	}
	if !cf.asJSON {
		fmt.Printf("moving shard %d, %s→%s (%d cards, %s), plan %d\n", s, p.Moves[0].From, to, p.Moves[0].Cards, humanBytes(p.Moves[0].Bytes), p.ID)
	}
	return runMoves(ctx, c, log, lim, unfinished(moves), p.ID, cf.asJSON, again)
}

// moveRun is what rebalance and move print with --json.
type moveRun struct {
	Plan           int64        `json:"plan,omitempty"`
	ElapsedSeconds float64      `json:"elapsedSeconds"`
	Interrupted    bool         `json:"interrupted"`
	Done           int          `json:"done"`
	Failed         int          `json:"failed"`
	Moves          []*move.Move `json:"moves"`
}

// runMoves runs moves with the mover, reports them as they finish and
// sums them up; again is the command that resumes them.
func runMoves(ctx context.Context, c *move.Cluster, log *zap.Logger, lim move.Limits, todo []*move.Move, planID int64, asJSON bool, again string) error {
	warnReplicationSettings(ctx, c, todo, lim.PerDatabase)
	// Figures and the summary are read with a context of their own: ctx
	// is cancelled by Ctrl-C, and the operator still wants to know where
	// every move stopped.
	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	started := time.Now()
	rep := newMoveReporter(rctx, c, todo, planID, !asJSON)
	runErr := move.NewMover(c, lim, log, rep.event).Run(ctx, todo)
	rep.finish(runErr)
	elapsed := time.Since(started)

	sctx, cancelSummary := context.WithTimeout(rctx, 30*time.Second)
	defer cancelSummary()
	final, err := reload(sctx, c, todo, planID)
	if err != nil {
		return errors.Join(runErr, err)
	}
	interrupted := ctx.Err() != nil
	var left []*move.Move
	for _, m := range final {
		if m.State != move.Done {
			left = append(left, m)
		}
	}
	done := countState(final, move.Done)
	if asJSON {
		if err := writeJSON(moveRun{Plan: planID, ElapsedSeconds: elapsed.Seconds(), Interrupted: interrupted,
			Done: done, Failed: len(left), Moves: final}); err != nil {
			return err
		}
	} else {
		printRunSummary(final, planID, elapsed)
	}
	switch {
	case interrupted:
		if !asJSON {
			fmt.Fprintf(os.Stderr, "\ninterrupted: %d of %d moves done; the others are journaled at the step each reached.\n"+
				"Run the same command again to resume them (%s), or cancel one with 'gateway shard cancel MOVE'\n"+
				"('gateway shard moves' shows them).\n", done, len(final), again)
		}
		return fmt.Errorf("interrupted with %d moves unfinished; run '%s' again to resume", len(left), again)
	case len(left) > 0:
		if !asJSON {
			fmt.Fprintf(os.Stderr, "\n%d moves did not finish:\n", len(left))
			for _, m := range left {
				fmt.Fprintf(os.Stderr, "  move %d  shard %d  %s→%s  at %s: %s\n", m.ID, m.Shard, m.Source, m.Target, m.State, deref(m.Error, "no error recorded"))
			}
			fmt.Fprintf(os.Stderr, "Each is journaled at its step: fix what the error names and run the same command again (%s),\n"+
				"or cancel a move with 'gateway shard cancel MOVE'.\n", again)
		}
		if runErr == nil {
			runErr = errors.New("some moves did not finish")
		}
		return fmt.Errorf("%d of %d moves did not finish: %w", len(left), len(final), runErr)
	}
	return nil
}

// movedTablesPerMove is how many tables a move's subscription copies
// (cards, write_outcomes, audit_log, open_orders, move_markers: shard/move's
// movedTables), each with a table-sync worker of its own at the target.
const movedTablesPerMove = 5

// slowRetry is the wal_retrieve_retry_interval above which moves wait
// noticeably for their replication workers.
const slowRetry = time.Second

// warnReplicationSettings warns on stderr about target settings that make
// every move seconds slower: the logical replication launcher starts new
// subscriptions' workers at most once per wal_retrieve_retry_interval
// (PostgreSQL 15: one round per interval for all of them), a table sync
// that finds no free worker slot waits as long to try again, and the
// moves that may run at once onto a target can need more workers than
// max_logical_replication_workers.
func warnReplicationSettings(ctx context.Context, c *move.Cluster, todo []*move.Move, perDatabase int) {
	onto := map[string]int{}
	for _, m := range todo {
		onto[m.Target]++
	}
	for _, target := range slices.Sorted(maps.Keys(onto)) {
		db, err := c.DB(target)
		if err != nil {
			continue // the move reports it
		}
		var workers, perSub int
		var retryMs int64
		var retryText string
		if err := db.QueryRow(ctx, `SELECT current_setting('max_logical_replication_workers')::int,
			current_setting('max_sync_workers_per_subscription')::int,
			(SELECT setting::bigint FROM pg_settings WHERE name = 'wal_retrieve_retry_interval'),
			current_setting('wal_retrieve_retry_interval')`).Scan(&workers, &perSub, &retryMs, &retryText); err != nil {
			continue
		}
		if time.Duration(retryMs)*time.Millisecond >= slowRetry { // pg_settings gives milliseconds
			fmt.Fprintf(os.Stderr, "warning: %s's server has wal_retrieve_retry_interval = %s: its logical replication launcher starts\n"+
				"new subscriptions' workers at most once per interval, so each move may wait that long before its copy starts.\n"+
				"On that server: ALTER SYSTEM SET wal_retrieve_retry_interval = '200ms'; SELECT pg_reload_conf();\n", target, retryText)
		}
		each := 1 + min(movedTablesPerMove, perSub) // an apply worker and the table syncs
		at := min(perDatabase, onto[target])
		if at*each > workers {
			fmt.Fprintf(os.Stderr, "warning: %s allows %d logical replication workers (max_logical_replication_workers), and %d moves onto it\n"+
				"at once need up to %d (an apply worker and %d table-sync workers each); a copy that finds no free worker\n"+
				"waits wal_retrieve_retry_interval (%s) to try again. Use --parallel %d, or raise max_logical_replication_workers\n"+
				"(and max_worker_processes) on its server.\n", target, workers, at, at*each, each-1, retryText, max(1, workers/each))
		}
	}
}

// printRunSummary prints one line on what a run of moves did.
func printRunSummary(final []*move.Move, planID int64, elapsed time.Duration) {
	var rows, bytes int64
	var copySecs float64
	var freezes []float64
	for _, m := range final {
		if m.State != move.Done {
			continue
		}
		rows, bytes = rows+m.RowsCopied, bytes+m.BytesTotal
		if m.CopySeconds != nil {
			copySecs += *m.CopySeconds
		}
		if m.FreezeMs != nil {
			freezes = append(freezes, *m.FreezeMs)
		}
	}
	what := "moves"
	if planID > 0 {
		what = fmt.Sprintf("plan %d", planID)
	}
	fmt.Printf("%s: %d of %d moves done in %s; %d rows, %s copied (%s/s)", what, countState(final, move.Done), len(final),
		elapsed.Round(100*time.Millisecond), rows, humanBytes(bytes), humanBytes(int64(float64(bytes)/max(elapsed.Seconds(), 0.001))))
	if len(freezes) > 0 {
		sort.Float64s(freezes)
		fmt.Printf("; writes frozen per shard: median %.1f ms, max %.1f ms", freezes[len(freezes)/2], freezes[len(freezes)-1])
	}
	fmt.Println()
}

// reload reads moves again from the journal, in the order given.
func reload(ctx context.Context, c *move.Cluster, moves []*move.Move, planID int64) ([]*move.Move, error) {
	byID := map[int64]*move.Move{}
	if planID > 0 {
		all, err := c.Moves(ctx, move.MoveFilter{PlanID: planID})
		if err != nil {
			return nil, err
		}
		for _, m := range all {
			byID[m.ID] = m
		}
	}
	out := make([]*move.Move, 0, len(moves))
	for _, m := range moves {
		fm, ok := byID[m.ID]
		if !ok {
			var err error
			if fm, err = c.GetMove(ctx, m.ID); err != nil {
				return nil, err
			}
		}
		out = append(out, fm)
	}
	return out, nil
}

// unfinished are the moves with steps left, oldest first: the order the
// plan put them in (the journal lists newest first).
func unfinished(moves []*move.Move) []*move.Move {
	var out []*move.Move
	for _, m := range moves {
		if !m.State.Finished() {
			out = append(out, m)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

func countState(moves []*move.Move, s move.State) int {
	n := 0
	for _, m := range moves {
		if m.State == s {
			n++
		}
	}
	return n
}

// stateCounts says how many moves are in each state, in the order moves
// go through them, e.g. "2 copy, 340 done".
func stateCounts(moves []*move.Move) string {
	counts := map[move.State]int{}
	var states []move.State
	for _, m := range moves {
		if counts[m.State] == 0 {
			states = append(states, m.State)
		}
		counts[m.State]++
	}
	slices.SortFunc(states, func(a, b move.State) int { return stateRank(a) - stateRank(b) })
	parts := make([]string, 0, len(states))
	for _, s := range states {
		parts = append(parts, fmt.Sprintf("%d %s", counts[s], s))
	}
	if len(parts) == 0 {
		return "no moves"
	}
	return strings.Join(parts, ", ")
}

// stateOrder is the order moves go through their states, for summaries.
var stateOrder = []move.State{move.Pending, move.Prepare, move.Copy, move.CatchUp, move.Freeze, move.Flip,
	move.Unsubscribe, move.Verify, move.Done, move.Cancelling, move.Cancelled, move.Cleaned}

func stateRank(s move.State) int {
	if i := slices.Index(stateOrder, s); i >= 0 {
		return i
	}
	return len(stateOrder)
}

// movesShown is how many finished moves `moves` lists without --all.
const movesShown = 20

func runShardMoves(ctx context.Context, args []string) error {
	var cf clusterFlags
	var planID int64
	var all bool
	f := newClusterFlags("shard moves [MOVE]", fmt.Sprintf("Lists moves from the journal with their progress and figures: the unfinished ones and the\n"+
		"last %d (--all: every one; --plan: one plan's). With a MOVE ID, shows that move and its\n"+
		"journaled steps.", movesShown), &cf)
	f.Int64Var(&planID, "plan", 0, "only the moves of this plan")
	f.BoolVar(&all, "all", false, "every move, not only the unfinished and the last ones")
	pos, err := f.parseArgs(args)
	if err != nil {
		return err
	}
	if len(pos) > 1 {
		return errors.New("shard moves: name at most one move: gateway shard moves [MOVE]")
	}
	c, _, closeC, err := cf.open(ctx)
	if err != nil {
		return err
	}
	defer closeC()
	if len(pos) == 1 {
		id, err := strconv.ParseInt(pos[0], 10, 64)
		if err != nil {
			return fmt.Errorf("shard moves: %q is not a move ID ('gateway shard moves' lists them)", pos[0])
		}
		return showMove(ctx, c, id, cf.asJSON)
	}
	every, err := c.Moves(ctx, move.MoveFilter{PlanID: planID}) // newest first
	if err != nil {
		return err
	}
	var shown []*move.Move
	for i, m := range every {
		if all || i < movesShown || !m.State.Finished() {
			shown = append(shown, m)
		}
	}
	slices.Reverse(shown) // oldest first, the latest next to the prompt
	if cf.asJSON {
		return writeJSON(map[string]any{"moves": orDefault(shown), "total": len(every), "open": len(unfinished(every))})
	}
	if len(every) == 0 {
		if planID > 0 {
			fmt.Printf("plan %d has no moves in the journal (it starts with 'gateway shard rebalance %d')\n", planID, planID)
		} else {
			fmt.Println("no moves yet: plan some with 'gateway shard plan'")
		}
		return nil
	}
	printMoves(shown, time.Now())
	what := "moves"
	if planID > 0 {
		what = fmt.Sprintf("moves of plan %d", planID)
	}
	fmt.Printf("\n%d %s: %s", len(every), what, stateCounts(every))
	if len(shown) < len(every) {
		fmt.Printf("; %d shown (the unfinished and the last %d; --all shows every one)", len(shown), movesShown)
	}
	fmt.Println()
	return nil
}

// printMoves prints the table of moves.
func printMoves(moves []*move.Move, now time.Time) {
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSHARD\tMOVE\tSTATE\tROWS\tSIZE\tRATE\tETA\tLAG ms\tFREEZE ms\tTRIES\tMISMATCHES\tLAST ERROR")
	for _, m := range moves {
		rate := "-"
		if m.CopySeconds != nil && *m.CopySeconds > 0 {
			rate = humanBytes(int64(float64(m.BytesTotal)/(*m.CopySeconds))) + "/s"
		}
		fmt.Fprintf(tw, "%d\t%d\t%s→%s\t%s\t%d/%d\t%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", m.ID, m.Shard, m.Source, m.Target, m.State,
			m.RowsCopied, m.RowsTotal, humanBytes(m.BytesTotal), rate, copyETA(m, now), ms(m.LagMs), ms(m.FreezeMs), m.FreezeTries,
			count(m.Mismatches), truncate(deref(m.Error, "-"), 60))
	}
	_ = tw.Flush()
}

// copyETA estimates when a copy under way ends, from its rows copied so
// far since the move started.
func copyETA(m *move.Move, now time.Time) string {
	if m.State != move.Copy || m.StartedAt == nil || m.RowsTotal == 0 {
		return "-"
	}
	if m.RowsCopied == 0 {
		return "?"
	}
	took := m.UpdatedAt.Sub(*m.StartedAt)
	left := time.Duration(float64(took) * float64(m.RowsTotal-m.RowsCopied) / float64(m.RowsCopied))
	left -= now.Sub(m.UpdatedAt)
	return max(left, 0).Round(time.Second).String()
}

// showMove prints one move and its journaled steps.
func showMove(ctx context.Context, c *move.Cluster, id int64, asJSON bool) error {
	m, err := c.GetMove(ctx, id)
	if err != nil {
		return err
	}
	steps, err := c.Steps(ctx, id)
	if err != nil {
		return fmt.Errorf("read the steps of move %d: %w", id, err)
	}
	if asJSON {
		if steps == nil {
			steps = []move.Step{}
		}
		return writeJSON(map[string]any{"move": m, "steps": steps})
	}
	plan := ""
	if m.PlanID != nil {
		plan = fmt.Sprintf(" (plan %d)", *m.PlanID)
	}
	fmt.Printf("move %d%s: shard %d, %s→%s, %s\n\n", m.ID, plan, m.Shard, m.Source, m.Target, m.State)
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "created\t%s\n", m.CreatedAt.Local().Format(time.DateTime))
	fmt.Fprintf(tw, "started\t%s\n", timeOr(m.StartedAt))
	fmt.Fprintf(tw, "finished\t%s\n", timeOr(m.FinishedAt))
	fmt.Fprintf(tw, "cleaned up\t%s\n", timeOr(m.CleanedAt))
	copied := fmt.Sprintf("%d of %d rows, %s", m.RowsCopied, m.RowsTotal, humanBytes(m.BytesTotal))
	if m.CopySeconds != nil {
		copied += fmt.Sprintf(", in %.2f s", *m.CopySeconds)
		if *m.CopySeconds > 0 {
			copied += fmt.Sprintf(" (%s/s)", humanBytes(int64(float64(m.BytesTotal) / *m.CopySeconds)))
		}
	}
	fmt.Fprintf(tw, "copy\t%s\n", copied)
	fmt.Fprintf(tw, "catch-up lag\t%s ms\n", ms(m.LagMs))
	fmt.Fprintf(tw, "freeze\t%s ms, %d %s\n", ms(m.FreezeMs), m.FreezeTries, plural(m.FreezeTries, "try", "tries"))
	if m.FlipEpoch != nil {
		fmt.Fprintf(tw, "flipped at epoch\t%d\n", *m.FlipEpoch)
	}
	fmt.Fprintf(tw, "mismatches\t%s\n", count(m.Mismatches))
	fmt.Fprintf(tw, "last error\t%s\n", deref(m.Error, "-"))
	_ = tw.Flush()
	if len(steps) == 0 {
		fmt.Println("\nno steps journaled yet")
		return nil
	}
	fmt.Println()
	tw = tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SEQ\tSTEP\tSTARTED\tTOOK\tDETAIL")
	for _, s := range steps {
		took := "running"
		if s.FinishedAt != nil {
			took = roundDuration(s.FinishedAt.Sub(s.StartedAt))
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", s.Seq, s.Step, s.StartedAt.Local().Format("15:04:05.000"), took, s.Detail)
	}
	return tw.Flush()
}

func runShardVerify(ctx context.Context, args []string) error {
	var cf clusterFlags
	f := newClusterFlags("shard verify [SHARD...]", fmt.Sprintf("Checks the logical shards named (all %d by default): each is owned by the database the map\n"+
		"names and by no other, and every copy a move left at an old database is held in full, and no\n"+
		"older, by the owner. Exits 1 when a shard has a problem.", shard.Count), &cf)
	pos, err := f.parseArgs(args)
	if err != nil {
		return err
	}
	var shards []int
	for _, a := range pos {
		s, err := strconv.Atoi(a)
		if err != nil || s < 0 || s >= shard.Count {
			return fmt.Errorf("shard verify: %q is not a logical shard (0-%d)", a, shard.Count-1)
		}
		shards = append(shards, s)
	}
	c, _, closeC, err := cf.open(ctx)
	if err != nil {
		return err
	}
	defer closeC()
	total := len(shards)
	if total == 0 {
		total = shard.Count
	}
	bar := newTermBar(!cf.asJSON, int64(total), "verify", "shards")
	checks, err := c.VerifyShards(ctx, shards, func(done, total int) { bar.add(1) })
	bar.finish(err)
	if err != nil {
		return err
	}
	var bad, leftover []move.ShardCheck
	copies := 0
	for _, sc := range checks {
		if len(sc.Problems) > 0 {
			bad = append(bad, sc)
		}
		if len(sc.Copies) > 0 {
			leftover = append(leftover, sc)
			copies += len(sc.Copies)
		}
	}
	if cf.asJSON {
		listed := []move.ShardCheck{}
		for _, sc := range checks {
			if len(sc.Problems) > 0 || len(sc.Copies) > 0 {
				listed = append(listed, sc)
			}
		}
		if err := writeJSON(map[string]any{"checked": len(checks), "withProblems": len(bad), "leftoverCopies": copies, "shards": listed}); err != nil {
			return err
		}
	} else {
		if len(bad) > 0 {
			tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "SHARD\tMAP SAYS\tOWNED BY\tCARDS\tPROBLEM")
			for _, sc := range bad {
				for _, p := range sc.Problems {
					fmt.Fprintf(tw, "%d\t%s\t%s\t%d\t%s\n", sc.Shard, sc.Owner, strings.Join(sc.OwnedBy, ","), sc.Cards, p)
				}
			}
			_ = tw.Flush()
			fmt.Println()
		}
		fmt.Printf("%d shards checked, %d with problems, %d leftover copies found", len(checks), len(bad), copies)
		if copies > 0 {
			fmt.Printf(" (rows of %d moved shards at their old databases: 'gateway shard cleanup' deletes those of done moves after its grace period)", len(leftover))
		}
		fmt.Println()
	}
	if len(bad) > 0 {
		return fmt.Errorf("verify: %d shards with problems; 'gateway shard moves' shows the moves that may have left them so", len(bad))
	}
	return nil
}

func runShardCancel(ctx context.Context, args []string) error {
	var cf clusterFlags
	f := newClusterFlags("shard cancel MOVE", "Cancels a move that has not flipped the map: the source keeps the shard and takes its writes,\n"+
		"and the copy at the target and the move's replication artefacts are removed. Stop the\n"+
		"command running the move first (Ctrl-C). Running it again after an interruption goes on\n"+
		"where it stopped; a finished move is left as it is.", &cf)
	pos, err := f.parseArgs(args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return errors.New("shard cancel: name the move: gateway shard cancel MOVE ('gateway shard moves' lists them)")
	}
	id, err := strconv.ParseInt(pos[0], 10, 64)
	if err != nil {
		return fmt.Errorf("shard cancel: %q is not a move ID ('gateway shard moves' lists them)", pos[0])
	}
	c, log, closeC, err := cf.open(ctx)
	if err != nil {
		return err
	}
	defer closeC()
	before, err := c.GetMove(ctx, id)
	if err != nil {
		return err
	}
	m, err := move.NewMover(c, move.Limits{}, log, nil).Cancel(ctx, id)
	if err != nil {
		return err
	}
	if cf.asJSON {
		return writeJSON(m)
	}
	if before.State.Finished() {
		fmt.Printf("move %d (shard %d, %s→%s) is %s already; nothing changed\n", m.ID, m.Shard, m.Source, m.Target, before.State)
		return nil
	}
	fmt.Printf("move %d (shard %d, %s→%s) cancelled at %s: %s keeps the shard and takes its writes; the copy at %s is removed\n",
		m.ID, m.Shard, m.Source, m.Target, before.State, m.Source, m.Target)
	return nil
}

func runShardCleanup(ctx context.Context, args []string) error {
	var cf clusterFlags
	var grace time.Duration
	f := newClusterFlags("shard cleanup", "Deletes the rows that done moves left at their old databases, for moves that finished more\n"+
		"than --grace ago and verified without mismatches, in small batches while the databases serve.", &cf)
	f.duration(&grace, "grace", "MEDCARD_MOVE_CLEANUP_GRACE", time.Hour, "keep the old copy of a shard at least this long after its move finished")
	pos, err := f.parseArgs(args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return fmt.Errorf("shard cleanup: unexpected argument %q (see --help)", pos[0])
	}
	if grace < 0 {
		return errors.New("--grace must be 0 or more")
	}
	c, _, closeC, err := cf.open(ctx)
	if err != nil {
		return err
	}
	defer closeC()
	bar := newTermBar(!cf.asJSON, -1, "cleanup", "rows")
	res, err := c.Cleanup(ctx, grace, func(n int64) { bar.add(int(n)) })
	bar.finish(err)
	var deleted int64
	for _, r := range res {
		deleted += r.Deleted
	}
	if cf.asJSON {
		if res == nil {
			res = []move.CleanupResult{}
		}
		if jerr := writeJSON(map[string]any{"cleaned": res, "deletedRows": deleted}); jerr != nil {
			return errors.Join(err, jerr)
		}
		return err
	}
	if len(res) > 0 {
		tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "MOVE\tSHARD\tOLD DATABASE\tDELETED ROWS\t")
		for _, r := range res {
			fmt.Fprintf(tw, "%d\t%d\t%s\t%d\t\n", r.Move, r.Shard, r.Source, r.Deleted)
		}
		_ = tw.Flush()
		fmt.Printf("\n%d moves cleaned up, %d rows deleted from their old databases\n", len(res), deleted)
	} else if err == nil {
		fmt.Printf("nothing to clean up: no done move that finished more than %s ago holds rows at its old database\n", grace)
	}
	if err != nil {
		return fmt.Errorf("%w; run 'gateway shard cleanup' again to go on", err)
	}
	return nil
}

// writeJSON prints v as indented JSON on stdout.
func writeJSON(v any) error {
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// humanBytes prints a size in B, kB, MB, GB or TB (powers of 1000).
func humanBytes(n int64) string {
	if n < 1000 {
		return fmt.Sprintf("%d B", n)
	}
	units := []string{"kB", "MB", "GB", "TB"}
	f, u := float64(n)/1000, 0
	for f >= 999.5 && u < len(units)-1 {
		f, u = f/1000, u+1
	}
	if f < 9.95 {
		return fmt.Sprintf("%.1f %s", f, units[u])
	}
	return fmt.Sprintf("%.0f %s", f, units[u])
}

func ms(p *float64) string {
	if p == nil {
		return "-"
	}
	return fmt.Sprintf("%.1f", *p)
}

func count(p *int64) string {
	if p == nil {
		return "-"
	}
	return strconv.FormatInt(*p, 10)
}

func deref(p *string, none string) string {
	if p == nil || *p == "" {
		return none
	}
	return *p
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// roundDuration keeps three significant digits or so: 600µs, 65.1ms, 1.115s.
func roundDuration(d time.Duration) string {
	switch {
	case d < 10*time.Millisecond:
		return d.Round(10 * time.Microsecond).String()
	case d < time.Second:
		return d.Round(100 * time.Microsecond).String()
	}
	return d.Round(time.Millisecond).String()
}

func timeOr(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.Local().Format(time.DateTime)
}

func truncate(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

func orDefault(moves []*move.Move) []*move.Move {
	if moves == nil {
		return []*move.Move{}
	}
	return moves
}
