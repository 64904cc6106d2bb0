package move

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// ErrPastFlip refuses to cancel a move whose map already points at the target.
var ErrPastFlip = errors.New("the map already points at the target, so the move cannot be cancelled; move the shard back with 'gateway shard move SHARD --to SOURCE'")

// Cancel cancels a move that has not flipped the map: the source owns the
// shard again and takes writes, and the target, the artefacts and the
// copied rows are cleared. Running it again after an interruption goes
// on where it stopped. A finished move is left as it is.
func (mv *Mover) Cancel(ctx context.Context, id int64) (*Move, error) {
	unlock, err := mv.c.lockMove(ctx, id)
	if err != nil {
		return nil, err
	}
	defer unlock()
	m, err := mv.c.GetMove(ctx, id)
	if err != nil {
		return nil, err
	}
	if m.State.Finished() {
		return m, nil
	}
	return m, mv.cancel(ctx, m)
}

func (mv *Mover) cancel(ctx context.Context, m *Move) error {
	mp, err := mv.c.LoadMap(ctx)
	if err != nil {
		return err
	}
	if mp.Owner[m.Shard] != m.Source {
		return fmt.Errorf("move %d: %w", m.ID, ErrPastFlip)
	}
	if err := mv.c.setState(ctx, m, Cancelling, ""); err != nil {
		return err
	}
	mv.report(Event{Move: m, State: Cancelling})
	src, dst, err := mv.c.ends(m)
	if err != nil {
		return err
	}
	done, err := mv.c.step(ctx, m, "cancel", "")
	if err != nil {
		return err
	}
	// The target first gives up what a half-done flip gave it (no gateway
	// writes there: the map never named it), then the source thaws.
	if _, err := dst.Exec(ctx, `DELETE FROM owned_shards WHERE shard = $1`, m.Shard); err != nil {
		return fmt.Errorf("cancel: release at the target: %w", err)
	}
	if _, err := src.Exec(ctx, `UPDATE owned_shards SET writable = true, frozen_until = NULL WHERE shard = $1 AND NOT writable`, m.Shard); err != nil {
		return fmt.Errorf("cancel: thaw at the source: %w", err)
	}
	if err := mv.c.dropArtefacts(ctx, m, src, dst); err != nil {
		return err
	}
	n, err := deleteShardRows(ctx, dst, m.Shard, nil)
	if err != nil {
		return err
	}
	done(fmt.Sprintf("%d copied rows removed from the target", n))
	if err := mv.c.setState(ctx, m, Cancelled, `finished_at = now()`); err != nil {
		return err
	}
	mv.report(Event{Move: m, State: Cancelled})
	return nil
}

// CleanupResult is what Cleanup removed for one move.
type CleanupResult struct {
	Move    int64  `json:"move"`
	Shard   int    `json:"shard"`
	Source  string `json:"source"`
	Deleted int64  `json:"deletedRows"`
}

// Cleanup deletes the source rows of done moves that finished more than
// grace ago and verified without mismatches, and marks them cleaned.
// progress, if not nil, gets the rows deleted as they go.
func (c *Cluster) Cleanup(ctx context.Context, grace time.Duration, progress func(int64)) ([]CleanupResult, error) {
	rows, err := c.catalog.Query(ctx, `SELECT `+moveColumns+` FROM moves
		WHERE state = 'done' AND coalesce(mismatches, 0) = 0 AND finished_at < now() - $1::interval ORDER BY id`,
		fmt.Sprintf("%d milliseconds", grace.Milliseconds()))
	if err != nil {
		return nil, fmt.Errorf("list moves to clean up: %w", err)
	}
	var moves []*Move
	for rows.Next() {
		m, err := scanMove(rows)
		if err != nil {
			rows.Close()
			return nil, err
		}
		moves = append(moves, m)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	var out []CleanupResult
	for _, m := range moves {
		src, err := c.DB(m.Source)
		if err != nil {
			return out, err
		}
		n, err := c.cleanupMove(ctx, m, src, progress)
		if err != nil {
			return out, fmt.Errorf("clean up move %d (shard %d at %s): %w", m.ID, m.Shard, m.Source, err)
		}
		out = append(out, CleanupResult{Move: m.ID, Shard: m.Shard, Source: m.Source, Deleted: n})
	}
	return out, nil
}

func (c *Cluster) cleanupMove(ctx context.Context, m *Move, src *pgxpool.Pool, progress func(int64)) (int64, error) {
	unlock, err := c.lockMove(ctx, m.ID)
	if err != nil {
		return 0, err
	}
	defer unlock()
	mp, err := c.LoadMap(ctx)
	if err != nil {
		return 0, err
	}
	if mp.Owner[m.Shard] == m.Source {
		// The shard came back to its source since: its rows there are live.
		return 0, c.setState(ctx, m, Cleaned, `cleaned_at = now()`)
	}
	n, err := deleteShardRows(ctx, src, m.Shard, progress)
	if err != nil {
		return n, err
	}
	return n, c.setState(ctx, m, Cleaned, `cleaned_at = now()`)
}
