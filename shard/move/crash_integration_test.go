package move

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// TestMoverKilledAtEachStep kills the mover process with SIGKILL at each
// step of a move in turn, then runs it again (or cancels it): the move
// completes or cancels, nothing is orphaned (no slot, publication or
// subscription on any database; every shard owned by exactly the database
// the map names) and verify finds no mismatch.
func TestMoverKilledAtEachStep(t *testing.T) {
	e := startEnv(t)
	e.seedCards(t, 2000)
	const s = 9
	persons := personsOf(s, 3)
	for i, p := range persons {
		if err := e.store.WriteCard(t.Context(), writeFor(p, 0, fmt.Sprintf("crash-seed-%d", i))); err != nil {
			t.Fatal(err)
		}
	}
	steps := []State{Prepare, Copy, "copied", "subscribed", CatchUp, Freeze, "freezing", "owned", "frozen", "flipped", Unsubscribe, Verify}
	for _, step := range steps {
		for _, then := range []string{"resume", "cancel"} {
			t.Run(fmt.Sprintf("%s/%s", step, then), func(t *testing.T) {
				from := e.store.Map().Owner[s]
				if err := e.store.Reload(t.Context()); err != nil {
					t.Fatal(err)
				}
				from = e.store.Map().Owner[s]
				m := e.planMove(t, s, other(from))
				killed := e.runKilledMover(t, m.ID, step)
				if !killed {
					t.Fatalf("the mover was not killed at %s", step)
				}
				m, err := e.c.GetMove(t.Context(), m.ID)
				if err != nil {
					t.Fatal(err)
				}
				mv := NewMover(e.c, testLimits(), e.log, nil)
				switch then {
				case "resume":
					if err := mv.RunMove(t.Context(), m.ID); err != nil {
						t.Fatalf("resume after a kill at %s (journal at %s): %v", step, m.State, err)
					}
				case "cancel":
					_, err := mv.Cancel(t.Context(), m.ID)
					if errors.Is(err, ErrPastFlip) {
						// Past the flip a move can only finish.
						if err := mv.RunMove(t.Context(), m.ID); err != nil {
							t.Fatalf("resume after a kill at %s: %v", step, err)
						}
					} else if err != nil {
						t.Fatalf("cancel after a kill at %s (journal at %s): %v", step, m.State, err)
					}
				}
				m, err = e.c.GetMove(t.Context(), m.ID)
				if err != nil {
					t.Fatal(err)
				}
				if m.State != Done && m.State != Cancelled {
					t.Fatalf("after a kill at %s and %s: state %s, want done or cancelled", step, then, m.State)
				}
				t.Logf("killed at %s, %s: %s", step, then, m.State)
				e.checkNothingOrphaned(t)
				e.checkArtefactsJournaledDropped(t, m)
				checks, err := e.c.VerifyShards(t.Context(), []int{s}, nil)
				if err != nil {
					t.Fatal(err)
				}
				for _, c := range checks {
					if len(c.Problems) > 0 {
						t.Errorf("verify shard %d: %v", c.Shard, c.Problems)
					}
				}
				if err := e.store.Reload(t.Context()); err != nil {
					t.Fatal(err)
				}
				for _, p := range persons {
					card, err := e.store.ReadCard(t.Context(), p)
					if err != nil || card.Version != 1 {
						t.Errorf("ReadCard(%s) = %v, %v; want version 1", p, card, err)
					}
				}
			})
		}
	}
}

// runKilledMover runs move id in a child process that kills itself at
// step, and reports whether it died of SIGKILL.
func (e *env) runKilledMover(t *testing.T, id int64, step State) bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "MOVE_TEST_MOVER=1", fmt.Sprintf("MOVE_TEST_MOVE=%d", id),
		"MOVE_TEST_CATALOG="+e.tc.CatalogDSN, "MOVE_TEST_KILL_AT="+string(step))
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		if ws, ok := exit.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL {
			return true
		}
	}
	t.Logf("mover process: %v\n%s", err, out)
	return false
}

// checkArtefactsJournaledDropped fails if move m's journal lists an
// artefact that is not marked dropped.
func (e *env) checkArtefactsJournaledDropped(t *testing.T, m *Move) {
	t.Helper()
	rows, err := e.c.Catalog().Query(t.Context(), `SELECT kind, database FROM move_artefacts WHERE move_id = $1 AND dropped_at IS NULL`, m.ID)
	if err != nil {
		t.Fatal(err)
	}
	left, err := pgx.CollectRows(rows, pgx.RowToStructByPos[struct{ Kind, Database string }])
	if err != nil {
		t.Fatal(err)
	}
	if len(left) > 0 {
		t.Errorf("move %d: artefacts journaled but not dropped: %+v", m.ID, left)
	}
}

// TestSubscriptionThatLostItsSlot is a DROP SUBSCRIPTION cancelled between
// its two servers (an operator's Ctrl-C at unsubscribe or during a
// cancel): the slot is gone at the source, the subscription is still at
// the target and its worker fails. Resuming the move, or cancelling it,
// still finishes, promptly, with nothing orphaned.
func TestSubscriptionThatLostItsSlot(t *testing.T) {
	e := startEnv(t)
	e.seedCards(t, 500)
	for _, tc := range []struct {
		shard  int
		killAt State
		then   string
	}{{21, Unsubscribe, "resume"}, {22, CatchUp, "cancel"}} {
		t.Run(string(tc.killAt)+"/"+tc.then, func(t *testing.T) {
			if err := e.store.Reload(t.Context()); err != nil {
				t.Fatal(err)
			}
			s := tc.shard
			m := e.planMove(t, s, other(e.store.Map().Owner[s]))
			if !e.runKilledMover(t, m.ID, tc.killAt) {
				t.Fatalf("the mover was not killed at %s", tc.killAt)
			}
			e.loseSlot(t, m)
			ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
			defer cancel()
			mv := NewMover(e.c, testLimits(), e.log, nil)
			var err error
			if tc.then == "resume" {
				err = mv.RunMove(ctx, m.ID)
			} else {
				_, err = mv.Cancel(ctx, m.ID)
			}
			if err != nil {
				t.Fatalf("%s a move whose subscription lost its slot: %v", tc.then, err)
			}
			m, err = e.c.GetMove(t.Context(), m.ID)
			if err != nil {
				t.Fatal(err)
			}
			if want := map[string]State{"resume": Done, "cancel": Cancelled}[tc.then]; m.State != want {
				t.Fatalf("state %s, want %s", m.State, want)
			}
			e.checkNothingOrphaned(t)
			e.checkArtefactsJournaledDropped(t, m)
		})
	}
}

// loseSlot leaves move m's subscription at the target without its slot at
// the source, enabled, as a DROP SUBSCRIPTION cancelled halfway does.
func (e *env) loseSlot(t *testing.T, m *Move) {
	t.Helper()
	src, dst, err := e.c.ends(m)
	if err != nil {
		t.Fatal(err)
	}
	sub := pgx.Identifier{m.name()}.Sanitize()
	if _, err := dst.Exec(t.Context(), `ALTER SUBSCRIPTION `+sub+` DISABLE`); err != nil {
		t.Fatal(err)
	}
	if err := dropSlot(t.Context(), src, m.name()); err != nil {
		t.Fatal(err)
	}
	if _, err := dst.Exec(t.Context(), `ALTER SUBSCRIPTION `+sub+` ENABLE`); err != nil {
		t.Fatal(err)
	}
}
