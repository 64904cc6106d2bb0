package move

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// lockFreeTriggerSQL is the ownership trigger as it was before
// migrations/shard/004_online_moves.sql: it reads owned_shards without a
// lock. The fence race test installs it to show that the race it forces
// loses a write without the lock.
const lockFreeTriggerSQL = `
CREATE OR REPLACE FUNCTION refuse_foreign_shard() RETURNS trigger
    LANGUAGE plpgsql AS $$
DECLARE
    is_writable boolean;
BEGIN
    SELECT writable INTO is_writable FROM owned_shards WHERE shard = NEW.shard;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'logical shard % is not owned by this database', NEW.shard USING ERRCODE = 'MC001';
    END IF;
    IF NOT is_writable AND TG_ARGV[0] = 'write' THEN
        RAISE EXCEPTION 'logical shard % is frozen for a move', NEW.shard USING ERRCODE = 'MC002';
    END IF;
    RETURN NEW;
END
$$`

// TestFenceRace forces the interleaving of point 3 of the shard-move
// issue: a write passes the ownership check at the source, a move freezes
// the shard, copies the last changes and flips, and only then does the
// write commit. With the shipped trigger the freeze waits for the write,
// so it commits before the barrier and reaches the target. With the old
// lock-free trigger the move finishes first and the write, acknowledged,
// lands only at the source, which no longer owns the shard: lost.
func TestFenceRace(t *testing.T) {
	for _, tc := range []struct {
		name     string
		lockFree bool
	}{
		{"shipped trigger", false},
		{"lock-free trigger of before", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := startEnv(t)
			const s = 17
			source := e.store.Map().Owner[s]
			src, err := e.c.DB(source)
			if err != nil {
				t.Fatal(err)
			}
			if tc.lockFree {
				if _, err := src.Exec(t.Context(), lockFreeTriggerSQL); err != nil {
					t.Fatal(err)
				}
			}
			m := e.planMove(t, s, other(source))
			mv := NewMover(e.c, Limits{FreezeBound: 20 * time.Second, MaxLag: time.Second}, e.log, nil)
			// Run the move up to its freeze.
			for m.State != Freeze {
				if err := mv.advance(t.Context(), m); err != nil {
					t.Fatal(err)
				}
			}

			// The write: its statement passes the trigger; it has not committed.
			person := personsOf(s, 1)[0]
			w := writeFor(person, 0, "race-1")
			tx, err := src.Begin(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Rollback(context.Background())
			var writerPID int
			if err := tx.QueryRow(t.Context(), `SELECT pg_backend_pid()`).Scan(&writerPID); err != nil {
				t.Fatal(err)
			}
			if _, err := tx.Exec(t.Context(), `INSERT INTO cards (person, shard, version, card) VALUES ($1, $2, 1, '{}')`,
				string(w.Person), s); err != nil {
				t.Fatal(err)
			}

			// The rest of the move, while the write is open.
			moved := make(chan error, 1)
			go func() {
				for !m.State.Finished() {
					if err := mv.advance(context.Background(), m); err != nil {
						moved <- err
						return
					}
				}
				moved <- nil
			}()
			// Either the freeze waits for the write, or the move finishes
			// without waiting: commit the write then.
			deadline := time.Now().Add(30 * time.Second)
			waited := false
		watch:
			for time.Now().Before(deadline) {
				select {
				case err := <-moved:
					moved <- err
					break watch
				case <-time.After(5 * time.Millisecond):
				}
				if blockedBy(t, src, writerPID) {
					waited = true
					break
				}
			}
			if err := tx.Commit(t.Context()); err != nil {
				t.Fatalf("commit the write: %v", err)
			}
			if err := <-moved; err != nil {
				t.Fatalf("the move: %v", err)
			}
			dst, _ := e.c.DB(m.Target)
			var atTarget int
			if err := dst.QueryRow(t.Context(), `SELECT count(*) FROM cards WHERE person = $1`, string(person)).Scan(&atTarget); err != nil {
				t.Fatal(err)
			}
			lost := atTarget == 0
			t.Logf("the freeze waited for the write: %v; the write at the target: %v", waited, !lost)
			if tc.lockFree {
				if !lost || waited {
					t.Errorf("with the lock-free trigger the race must lose the write (waited %v, lost %v): the test does not force it", waited, lost)
				}
				return
			}
			if !waited {
				t.Error("the freeze did not wait for the write in flight")
			}
			if lost {
				t.Error("a write committed at the source is not at the target after the move: lost")
			}
			e.checkNothingOrphaned(t)
		})
	}
}

// blockedBy reports whether a backend of db waits for a lock held by pid.
func blockedBy(t *testing.T, db *pgxpool.Pool, pid int) bool {
	t.Helper()
	var n int
	if err := db.QueryRow(t.Context(), `SELECT count(*) FROM pg_stat_activity WHERE $1 = ANY (pg_blocking_pids(pid))`, pid).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n > 0
}

// TestFreezeOverrunIsAbandoned holds a write open at the source longer
// than the freeze bound: the freeze gives up waiting for it (writes
// resume at the source), and a later try, after the write ended, flips.
func TestFreezeOverrunIsAbandoned(t *testing.T) {
	e := startEnv(t)
	const s = 21
	source := e.store.Map().Owner[s]
	src, _ := e.c.DB(source)
	m := e.planMove(t, s, other(source))
	mv := NewMover(e.c, Limits{FreezeBound: 300 * time.Millisecond, MaxLag: time.Second}, e.log, nil)
	for m.State != Freeze {
		if err := mv.advance(t.Context(), m); err != nil {
			t.Fatal(err)
		}
	}
	tx, err := src.Begin(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(context.Background())
	if _, err := tx.Exec(t.Context(), `INSERT INTO cards (person, shard, version, card) VALUES ($1, $2, 1, '{}')`,
		string(personsOf(s, 1)[0]), s); err != nil {
		t.Fatal(err)
	}
	// The first freeze waits for the open write, overruns and is lifted:
	// the move goes back to catch-up and the shard takes writes again.
	if err := mv.advance(t.Context(), m); err != nil {
		t.Fatal(err)
	}
	if m.State != CatchUp {
		t.Fatalf("after a freeze blocked past its bound: state %s, want catch-up", m.State)
	}
	var writable bool
	if err := src.QueryRow(t.Context(), `SELECT writable FROM owned_shards WHERE shard = $1`, s).Scan(&writable); err != nil || !writable {
		t.Fatalf("after an abandoned freeze the shard is writable = %v (%v), want true", writable, err)
	}
	if err := tx.Commit(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := mv.RunMove(t.Context(), m.ID); err != nil {
		t.Fatal(err)
	}
	m, err = e.c.GetMove(t.Context(), m.ID)
	if err != nil {
		t.Fatal(err)
	}
	if m.State != Done || m.FreezeTries < 2 {
		t.Errorf("move = %s after %d freezes, want done after at least 2", m.State, m.FreezeTries)
	}
	e.checkNothingOrphaned(t)
}

// TestAuditRowsDoNotHoldUpTheFreeze holds an audit row of a read open at
// the source (the audit batcher's transaction, which goes on during a
// freeze) while the shard moves. The freeze and its commit to the flip
// must not wait for it (migrations/shard/005_audit_fence_key_share.sql:
// with FOR SHARE they did, 30-90 ms of a freeze's tail under load); the
// release at the source must, so the row, committed then, still reaches
// the target before the subscription goes.
func TestAuditRowsDoNotHoldUpTheFreeze(t *testing.T) {
	e := startEnv(t)
	const s = 23
	source := e.store.Map().Owner[s]
	src, _ := e.c.DB(source)
	m := e.planMove(t, s, other(source))
	mv := NewMover(e.c, Limits{FreezeBound: 2 * time.Second, MaxLag: time.Second}, e.log, nil)
	for m.State != Freeze {
		if err := mv.advance(t.Context(), m); err != nil {
			t.Fatal(err)
		}
	}
	person := personsOf(s, 1)[0]
	tx, err := src.Begin(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(context.Background())
	var auditPID int
	if err := tx.QueryRow(t.Context(), `SELECT pg_backend_pid()`).Scan(&auditPID); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(t.Context(), `INSERT INTO audit_log (shard, person, at, operation, system, organisation, role, message_id, card_version)
		VALUES ($1, $2, now(), 'GetMedicineCard', 'test', 'org', 'doctor', 'held-audit-row', 0)`, s, string(person)); err != nil {
		t.Fatal(err)
	}

	moved := make(chan error, 1)
	go func() {
		for !m.State.Finished() {
			if err := mv.advance(context.Background(), m); err != nil {
				moved <- err
				return
			}
		}
		moved <- nil
	}()
	// Wait until some statement of the move waits for the audit row.
	var blocked string
	deadline := time.Now().Add(30 * time.Second)
	for blocked == "" && time.Now().Before(deadline) {
		select {
		case err := <-moved:
			t.Fatalf("the move finished (%v) with an audit row of its shard still open at the source", err)
		case <-time.After(5 * time.Millisecond):
		}
		err := src.QueryRow(t.Context(), `SELECT coalesce(max(query), '') FROM pg_stat_activity WHERE $1 = ANY (pg_blocking_pids(pid))`, auditPID).Scan(&blocked)
		if err != nil {
			t.Fatal(err)
		}
	}
	var owner string
	if err := e.c.catalog.QueryRow(t.Context(), `SELECT database FROM shard_map WHERE shard = $1`, s).Scan(&owner); err != nil {
		t.Fatal(err)
	}
	t.Logf("blocked by the open audit row: %q; the map names %s", blocked, owner)
	if !strings.HasPrefix(strings.TrimSpace(blocked), "DELETE FROM owned_shards") {
		t.Errorf("the statement that waits for the audit row is %q, want the release (DELETE FROM owned_shards)", blocked)
	}
	if owner != m.Target {
		t.Errorf("while the release waits for the audit row the map names %s, want the target %s (flipped)", owner, m.Target)
	}
	if err := tx.Commit(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := <-moved; err != nil {
		t.Fatalf("the move: %v", err)
	}
	dst, _ := e.c.DB(m.Target)
	var n int
	if err := dst.QueryRow(t.Context(), `SELECT count(*) FROM audit_log WHERE shard = $1 AND message_id = 'held-audit-row'`, s).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Errorf("the audit row committed at the source before the release: %d at the target, want 1", n)
	}
	e.checkNothingOrphaned(t)
}

// TestStoppedFreezeIsLifted: a freeze does not lapse by itself, so the
// mover lifts one whose last changes do not reach the target, whether the
// bound ran out or the mover was interrupted (Ctrl-C) while waiting; the
// shard takes writes at the source again and the target gives it up.
func TestStoppedFreezeIsLifted(t *testing.T) {
	e := startEnv(t)
	const s = 27
	source := e.store.Map().Owner[s]
	src, _ := e.c.DB(source)
	dst, _ := e.c.DB(other(source))
	m := e.planMove(t, s, other(source))
	mv := NewMover(e.c, Limits{FreezeBound: 2 * time.Second, MaxLag: time.Second}, e.log, nil)
	for m.State != Freeze {
		if err := mv.advance(t.Context(), m); err != nil {
			t.Fatal(err)
		}
	}
	// The target hears no more changes, so no barrier arrives.
	if _, err := dst.Exec(t.Context(), `ALTER SUBSCRIPTION `+m.name()+` DISABLE`); err != nil {
		t.Fatal(err)
	}
	requireLifted := func(when string) {
		t.Helper()
		var writable bool
		var frozenUntil *time.Time
		if err := src.QueryRow(t.Context(), `SELECT writable, frozen_until FROM owned_shards WHERE shard = $1`, s).Scan(&writable, &frozenUntil); err != nil {
			t.Fatal(err)
		}
		if !writable || frozenUntil != nil {
			t.Errorf("%s: at the source writable = %v, frozen_until = %v; want writable, no freeze", when, writable, frozenUntil)
		}
		var ownedAtTarget bool
		if err := dst.QueryRow(t.Context(), `SELECT EXISTS (SELECT 1 FROM owned_shards WHERE shard = $1)`, s).Scan(&ownedAtTarget); err != nil {
			t.Fatal(err)
		}
		if ownedAtTarget {
			t.Errorf("%s: the target owns the shard", when)
		}
	}

	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	err := mv.advance(ctx, m)
	cancel()
	if err == nil {
		t.Fatal("a freeze interrupted while waiting for the target returned no error")
	}
	requireLifted("after an interrupted freeze")
	if m.State != Freeze {
		t.Errorf("after an interrupted freeze: state %s, want freeze (run again to retry)", m.State)
	}

	mv = NewMover(e.c, Limits{FreezeBound: 300 * time.Millisecond, MaxLag: time.Second}, e.log, nil)
	if err := mv.advance(t.Context(), m); err != nil {
		t.Fatal(err)
	}
	if m.State != CatchUp {
		t.Errorf("after a freeze whose barrier never arrived: state %s, want catch-up", m.State)
	}
	requireLifted("after a freeze that overran")

	if _, err := dst.Exec(t.Context(), `ALTER SUBSCRIPTION `+m.name()+` ENABLE`); err != nil {
		t.Fatal(err)
	}
	if err := mv.RunMove(t.Context(), m.ID); err != nil {
		t.Fatal(err)
	}
	e.checkNothingOrphaned(t)
}
