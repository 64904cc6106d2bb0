package move

import (
	"testing"
	"time"

	"github.com/sharedmedcard/gateway/medcard"
	"github.com/sharedmedcard/gateway/shard"
)

// TestMoveUnderWrites moves a shard while writers change its cards through
// a gateway-side Store: no write fails, every acknowledged write is at the
// target afterwards, the source takes none after the flip, verify is
// clean and nothing is left behind.
func TestMoveUnderWrites(t *testing.T) {
	e := startEnv(t)
	e.seedCards(t, 3000)
	m0, err := e.c.LoadMap(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	const s = 5
	source := m0.Owner[s]
	target := "shard2"
	if source == target {
		target = "shard1"
	}
	persons := personsOf(s, 9)
	lastPerson := persons[8]
	persons = persons[:8]
	// A gateway that will not hear of the move: opened now, never reloaded.
	stale, err := shard.Open(t.Context(), shard.NewCatalog(e.tc.Catalog, time.Now), e.log, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer stale.Close()
	stop := make(chan struct{})
	wait := e.writers(t, persons, stop)
	time.Sleep(300 * time.Millisecond)

	mv := e.moveOne(t, s, target, testLimits())
	time.Sleep(300 * time.Millisecond) // writes after the flip, at the target
	close(stop)
	acked, errs := wait()
	for _, err := range errs {
		t.Errorf("write during the move: %v", err)
	}
	if mv.State != Done {
		t.Fatalf("move state %s, want done", mv.State)
	}
	t.Logf("move: %d rows copied in %.3f s, freeze %.1f ms after %d tries, lag %.1f ms",
		mv.RowsCopied, deref(mv.CopySeconds), deref(mv.FreezeMs), mv.FreezeTries, deref(mv.LagMs))
	logSteps(t, e, mv.ID)
	if mv.Mismatches == nil || *mv.Mismatches != 0 {
		t.Errorf("verify mismatches %v, want 0", mv.Mismatches)
	}

	src, _ := e.c.DB(source)
	dst, _ := e.c.DB(target)
	for _, p := range persons {
		var atTarget, atSource int64
		if err := dst.QueryRow(t.Context(), `SELECT version FROM cards WHERE person = $1`, string(p)).Scan(&atTarget); err != nil {
			t.Errorf("%s at the target: %v", p, err)
		}
		_ = src.QueryRow(t.Context(), `SELECT version FROM cards WHERE person = $1`, string(p)).Scan(&atSource)
		if atTarget != acked[p] {
			t.Errorf("%s: version %d at the target, last acknowledged %d", p, atTarget, acked[p])
		}
		if atSource >= atTarget && acked[p] > 0 {
			t.Errorf("%s: version %d at the source, %d at the target: written at the source after the flip?", p, atSource, atTarget)
		}
	}
	if e.store.Map().Owner[s] != target {
		t.Errorf("the store routes shard %d to %s, want %s", s, e.store.Map().Owner[s], target)
	}
	card, err := e.store.ReadCard(t.Context(), persons[0])
	if err != nil || card.Version != acked[persons[0]] {
		t.Errorf("ReadCard after the move = %v, %v; want version %d", card, err, acked[persons[0]])
	}
	e.checkNothingOrphaned(t)

	// The stale gateway still routes the shard to the source, which
	// refuses it inside the database; it reloads and writes at the target.
	if stale.Map().Owner[s] != source {
		t.Fatalf("the stale store already knows the move")
	}
	ctx, log := medcard.WithRequestLog(t.Context())
	if err := stale.WriteCard(ctx, writeFor(lastPerson, 0, "stale-1")); err != nil {
		t.Errorf("write through a stale map: %v", err)
	} else if log.Database != target {
		t.Errorf("write through a stale map went to %q, want %s", log.Database, target)
	}
	var atSource int
	if err := src.QueryRow(t.Context(), `SELECT count(*) FROM cards WHERE person = $1`, string(lastPerson)).Scan(&atSource); err != nil || atSource != 0 {
		t.Errorf("the stale write is at the source (%d rows, %v)", atSource, err)
	}

	// The source's copy is a subset of the target's until cleanup deletes it.
	checks, err := e.c.VerifyShards(t.Context(), []int{s}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(checks[0].Problems) != 0 || len(checks[0].Copies) != 1 {
		t.Errorf("verify after the move = %+v, want one clean copy", checks[0])
	}
	cleaned, err := e.c.Cleanup(t.Context(), 0, nil)
	if err != nil || len(cleaned) != 1 || cleaned[0].Deleted == 0 {
		t.Errorf("Cleanup = %+v, %v; want the source rows of one move deleted", cleaned, err)
	}
	var left int
	if err := src.QueryRow(t.Context(), `SELECT count(*) FROM cards WHERE shard = $1`, s).Scan(&left); err != nil || left != 0 {
		t.Errorf("after cleanup the source holds %d cards of shard %d (%v), want 0", left, s, err)
	}
}

func deref(p *float64) float64 {
	if p == nil {
		return -1
	}
	return *p
}

func logSteps(t *testing.T, e *env, id int64) {
	t.Helper()
	steps, err := e.c.Steps(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range steps {
		t.Logf("move %d step %d %s: %s", id, s.Seq, s.Step, s.Detail)
	}
}
