package move

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
)

// State is the step a move is at. The steps run in this order; every one
// is recorded in the catalog before it is carried out and is safe to run
// again, so a mover that died resumes at the step it had reached.
type State string

// The states of a move (doc.go tells what each does).
const (
	Pending     State = "pending"
	Prepare     State = "prepare"
	Copy        State = "copy"
	CatchUp     State = "catch-up"
	Freeze      State = "freeze"
	Flip        State = "flip"
	Unsubscribe State = "unsubscribe"
	Verify      State = "verify"
	Done        State = "done"
	Cancelling  State = "cancelling"
	Cancelled   State = "cancelled"
	Cleaned     State = "cleaned"
)

// Finished says whether a move in state s has nothing left to run (the
// source's rows of a done move wait for cleanup).
func (s State) Finished() bool { return s == Done || s == Cancelled || s == Cleaned }

// Move is one row of the journal.
type Move struct {
	ID          int64      `json:"id"`
	PlanID      *int64     `json:"planId,omitempty"`
	Shard       int        `json:"shard"`
	Source      string     `json:"source"`
	Target      string     `json:"target"`
	State       State      `json:"state"`
	CreatedAt   time.Time  `json:"createdAt"`
	StartedAt   *time.Time `json:"startedAt,omitempty"`
	UpdatedAt   time.Time  `json:"updatedAt"`
	FinishedAt  *time.Time `json:"finishedAt,omitempty"`
	CleanedAt   *time.Time `json:"cleanedAt,omitempty"`
	RowsTotal   int64      `json:"rowsTotal"`
	BytesTotal  int64      `json:"bytesTotal"`
	RowsCopied  int64      `json:"rowsCopied"`
	BytesCopied int64      `json:"bytesCopied"`
	CopySeconds *float64   `json:"copySeconds,omitempty"`
	LagMs       *float64   `json:"catchUpLagMs,omitempty"`
	FreezeMs    *float64   `json:"freezeMs,omitempty"`
	FreezeTries int        `json:"freezeTries"`
	Mismatches  *int64     `json:"mismatches,omitempty"`
	FlipEpoch   *int64     `json:"flipEpoch,omitempty"`
	Error       *string    `json:"error,omitempty"`
}

// name is the name of every replication artefact the move creates (its
// publication and slot at the source, its subscription at the target):
// one name per move, so a crashed move's leftovers are found by it.
func (m *Move) name() string { return fmt.Sprintf("mcmove_%d", m.ID) }

const moveColumns = `id, plan_id, shard, source, target, state, created_at, started_at, updated_at, finished_at,
	cleaned_at, rows_total, bytes_total, rows_copied, bytes_copied, copy_seconds, lag_ms, freeze_ms,
	freeze_tries, mismatches, flip_epoch, error`

func scanMove(row pgx.Row) (*Move, error) {
	m := &Move{}
	var state string
	err := row.Scan(&m.ID, &m.PlanID, &m.Shard, &m.Source, &m.Target, &state, &m.CreatedAt, &m.StartedAt,
		&m.UpdatedAt, &m.FinishedAt, &m.CleanedAt, &m.RowsTotal, &m.BytesTotal, &m.RowsCopied, &m.BytesCopied,
		&m.CopySeconds, &m.LagMs, &m.FreezeMs, &m.FreezeTries, &m.Mismatches, &m.FlipEpoch, &m.Error)
	m.State = State(state)
	return m, err
}

// ErrNoSuchMove is returned for a move ID the journal does not hold.
var ErrNoSuchMove = errors.New("no such move (see 'gateway shard moves')")

// GetMove reads one move.
func (c *Cluster) GetMove(ctx context.Context, id int64) (*Move, error) {
	m, err := scanMove(c.catalog.QueryRow(ctx, `SELECT `+moveColumns+` FROM moves WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("move %d: %w", id, ErrNoSuchMove)
	}
	if err != nil {
		return nil, fmt.Errorf("read move %d: %w", id, err)
	}
	return m, nil
}

// MoveFilter selects moves for Moves.
type MoveFilter struct {
	PlanID int64 // 0: any
	Open   bool  // only moves not finished
	Limit  int   // 0: no limit
}

// Moves lists moves, newest first.
func (c *Cluster) Moves(ctx context.Context, f MoveFilter) ([]*Move, error) {
	q := `SELECT ` + moveColumns + ` FROM moves WHERE ($1 = 0 OR plan_id = $1)
		AND (NOT $2 OR state NOT IN ('done', 'cancelled', 'cleaned')) ORDER BY id DESC`
	args := []any{f.PlanID, f.Open}
	if f.Limit > 0 {
		q += ` LIMIT $3`
		args = append(args, f.Limit)
	}
	rows, err := c.catalog.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list moves: %w", err)
	}
	defer rows.Close()
	var out []*Move
	for rows.Next() {
		m, err := scanMove(rows)
		if err != nil {
			return nil, fmt.Errorf("list moves: %w", err)
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// ErrMapChanged refuses a plan made against an older map.
var ErrMapChanged = errors.New("the shard map changed since the plan was made: make a new plan with 'gateway shard plan'")

// StartPlan registers a plan's moves in the journal, once: it is refused
// if the map's epoch is no longer the plan's, unless the plan was started
// already (running it again resumes it). It returns the plan's moves.
func (c *Cluster) StartPlan(ctx context.Context, p *Plan) ([]*Move, error) {
	err := pgx.BeginFunc(ctx, c.catalog, func(tx pgx.Tx) error {
		var epoch int64
		if err := tx.QueryRow(ctx, `SELECT epoch FROM cluster FOR UPDATE`).Scan(&epoch); err != nil {
			return fmt.Errorf("read epoch: %w", err)
		}
		var started *time.Time
		if err := tx.QueryRow(ctx, `SELECT started_at FROM move_plans WHERE id = $1 FOR UPDATE`, p.ID).Scan(&started); err != nil {
			return fmt.Errorf("plan %d: %w", p.ID, err)
		}
		if started != nil {
			return nil
		}
		if epoch != p.Epoch {
			return fmt.Errorf("plan %d was made at epoch %d, the map is at %d: %w", p.ID, p.Epoch, epoch, ErrMapChanged)
		}
		if p.Goal.Drain != "" {
			if _, err := tx.Exec(ctx, `UPDATE shard_databases SET draining = true WHERE name = $1`, p.Goal.Drain); err != nil {
				return err
			}
		}
		for _, mv := range p.Moves {
			_, err := tx.Exec(ctx, `INSERT INTO moves (plan_id, shard, source, target, rows_total, bytes_total)
				VALUES ($1, $2, $3, $4, $5, $6)`, p.ID, mv.Shard, mv.From, mv.To, mv.Cards, mv.Bytes)
			var pgErr interface{ SQLState() string }
			if errors.As(err, &pgErr) && pgErr.SQLState() == "23505" {
				return fmt.Errorf("shard %d already has a move in progress: finish or cancel it first ('gateway shard moves')", mv.Shard)
			}
			if err != nil {
				return fmt.Errorf("register move of shard %d: %w", mv.Shard, err)
			}
		}
		_, err := tx.Exec(ctx, `UPDATE move_plans SET started_at = now() WHERE id = $1`, p.ID)
		return err
	})
	if err != nil {
		return nil, err
	}
	moves, err := c.Moves(ctx, MoveFilter{PlanID: p.ID})
	slices.Reverse(moves) // in the plan's order
	return moves, err
}

// setState records that move m is at state s, with extra column updates
// (a SQL fragment over $2.. and its arguments), before the step runs.
func (c *Cluster) setState(ctx context.Context, m *Move, s State, set string, args ...any) error {
	q := `UPDATE moves SET state = $1, updated_at = now(), error = NULL`
	if set != "" {
		q += `, ` + set
	}
	q += fmt.Sprintf(` WHERE id = $%d`, len(args)+2)
	all := append([]any{string(s)}, args...)
	all = append(all, m.ID)
	if _, err := c.catalog.Exec(ctx, q, all...); err != nil {
		return fmt.Errorf("journal move %d %s: %w", m.ID, s, err)
	}
	m.State = s
	return nil
}

// note updates move m's figures without changing its state.
func (c *Cluster) note(ctx context.Context, m *Move, set string, args ...any) error {
	q := `UPDATE moves SET updated_at = now(), ` + set + fmt.Sprintf(` WHERE id = $%d`, len(args)+1)
	if _, err := c.catalog.Exec(ctx, q, append(args, m.ID)...); err != nil {
		return fmt.Errorf("journal move %d: %w", m.ID, err)
	}
	return nil
}

// step records one step of a move with what it found; done finishes it.
func (c *Cluster) step(ctx context.Context, m *Move, name, detail string) (done func(detail string), err error) {
	var seq int
	err = c.catalog.QueryRow(ctx, `INSERT INTO move_steps (move_id, seq, step, detail)
		SELECT $1, coalesce(max(seq), 0) + 1, $2, $3 FROM move_steps WHERE move_id = $1 RETURNING seq`,
		m.ID, name, detail).Scan(&seq)
	if err != nil {
		return nil, fmt.Errorf("journal move %d step %s: %w", m.ID, name, err)
	}
	return func(detail string) {
		// Best effort: the step's effect is already recorded in the move's state.
		_, _ = c.catalog.Exec(context.WithoutCancel(ctx), `UPDATE move_steps SET finished_at = clock_timestamp(),
			detail = CASE WHEN $3 = '' THEN detail ELSE $3 END WHERE move_id = $1 AND seq = $2`, m.ID, seq, detail)
	}, nil
}

// Step is one journaled step of a move.
type Step struct {
	Seq        int        `json:"seq"`
	Step       string     `json:"step"`
	StartedAt  time.Time  `json:"startedAt"`
	FinishedAt *time.Time `json:"finishedAt,omitempty"`
	Detail     string     `json:"detail"`
}

// Steps lists a move's journaled steps in order.
func (c *Cluster) Steps(ctx context.Context, id int64) ([]Step, error) {
	rows, err := c.catalog.Query(ctx, `SELECT seq, step, started_at, finished_at, detail FROM move_steps WHERE move_id = $1 ORDER BY seq`, id)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowToStructByPos[Step])
}

// artefact is a replication object a move creates.
type artefact struct {
	database string
	kind     string // publication, subscription, slot
	name     string
}

// artefacts are what move m creates: a subscription at the target, a
// slot and a publication at the source, in the order they are dropped
// (a slot is in use until its subscription is gone).
func (m *Move) artefacts() []artefact {
	return []artefact{
		{m.Target, "subscription", m.name()},
		{m.Source, "slot", m.name()},
		{m.Source, "publication", m.name()},
	}
}

// register journals move m's artefacts before any of them is created.
func (c *Cluster) register(ctx context.Context, m *Move) error {
	for _, a := range m.artefacts() {
		_, err := c.catalog.Exec(ctx, `INSERT INTO move_artefacts (move_id, database, kind, name) VALUES ($1, $2, $3, $4)
			ON CONFLICT DO NOTHING`, m.ID, a.database, a.kind, a.name)
		if err != nil {
			return fmt.Errorf("register %s %s: %w", a.kind, a.name, err)
		}
	}
	return nil
}

// dropped journals that an artefact is gone.
func (c *Cluster) dropped(ctx context.Context, m *Move, a artefact) error {
	_, err := c.catalog.Exec(ctx, `UPDATE move_artefacts SET dropped_at = now() WHERE move_id = $1 AND database = $2 AND kind = $3 AND dropped_at IS NULL`,
		m.ID, a.database, a.kind)
	return err
}
