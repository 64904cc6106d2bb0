package shard

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/zap"

	"github.com/sharedmedcard/gateway/internal/testservers"
	"github.com/sharedmedcard/gateway/medcard"
)

// syncCluster is a primary holding the catalog and one shard database
// (every logical shard), with two streaming standbys, s1 and s2.
type syncCluster struct {
	primary, s1, s2 *testservers.Postgres
	store           *Store
	shardDB         *pgxpool.Pool
}

func startSyncCluster(t *testing.T) *syncCluster {
	t.Helper()
	primary, err := testservers.StartPostgres()
	testservers.RequireT(t, err)
	t.Cleanup(func() { primary.Stop() })
	c := &syncCluster{primary: primary}
	var errs [2]error
	var wg sync.WaitGroup
	wg.Go(func() { c.s1, errs[0] = testservers.StartStandby(primary, "s1") })
	wg.Go(func() { c.s2, errs[1] = testservers.StartStandby(primary, "s2") })
	wg.Wait()
	t.Cleanup(func() { c.s1.Stop(); c.s2.Stop() })
	testservers.RequireT(t, errors.Join(errs[:]...))

	ctx := t.Context()
	for _, db := range []string{"catalog", "shard1"} {
		if err := primary.CreateDatabase(db); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := MigrateCatalog(ctx, primary.DSN("catalog")); err != nil {
		t.Fatal(err)
	}
	if _, err := MigrateShardDatabase(ctx, primary.DSN("shard1")); err != nil {
		t.Fatal(err)
	}
	catalogPool, err := pgxpool.New(ctx, primary.DSN("catalog"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(catalogPool.Close)
	catalog := NewCatalog(catalogPool, time.Now)
	if _, err := catalog.Init(ctx, []Database{{"shard1", primary.DSN("shard1")}}); err != nil {
		t.Fatal(err)
	}
	if c.store, err = Open(ctx, catalog, zap.NewNop(), nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.store.Close)
	if c.shardDB, err = pgxpool.New(ctx, primary.DSN("shard1")); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.shardDB.Close)
	return c
}

func (c *syncCluster) replication(t *testing.T) Replication {
	t.Helper()
	rs, err := c.store.Replication(t.Context())
	if err != nil || len(rs) != 1 {
		t.Fatalf("Replication = %+v, %v", rs, err)
	}
	return rs[0]
}

// commitBound is the bound the test sets on every write.
const commitBound = 2 * time.Second

// TestSynchronousStandbys is Spine's node_confirms sequence on PostgreSQL:
// with ANY 1 of two standbys, losing one keeps writes going; losing both
// makes a write fail retryably within the commit bound (committed on the
// primary, so FaultOutcomeUnknown), a resend keeps failing retryably while
// no standby confirms it and gets the stored answer once one is back;
// ANY 2 with one standby down fails writes retryably; a setting no
// commit could ever meet is refused.
func TestSynchronousStandbys(t *testing.T) {
	c := startSyncCluster(t)
	if err := c.primary.SetSynchronousStandbys("ANY 1 (s1, s2)"); err != nil {
		t.Fatal(err)
	}
	c.store.SetCommitBound(commitBound)
	r := c.replication(t)
	if r.Method != "ANY" || r.Confirmations != 1 || len(r.Named) != 2 || r.Confirming() != 2 || r.SynchronousCommit != "on" {
		t.Fatalf("replication state = %+v, want ANY 1 of s1 and s2, both confirming", r)
	}
	if err := r.Check(1); err != nil {
		t.Errorf("Check(1) with ANY 1 = %v", err)
	}
	if err := r.Check(2); err == nil {
		t.Error("Check(2) with ANY 1 = nil, want a refusal: the database confirms with fewer standbys than asked")
	}
	if err := r.Ready(1); err != nil {
		t.Errorf("Ready(1) with both standbys up = %v", err)
	}

	person := newPersons(t, 61).draw(nil)
	write := func(base int64, msgID string) (time.Duration, error) {
		start := time.Now()
		err := c.store.WriteCard(t.Context(), newWrite(person, base, msgID))
		return time.Since(start), err
	}
	if _, err := write(0, messageID(t)); err != nil {
		t.Fatalf("write with both standbys: %v", err)
	}
	if err := c.s1.StopImmediate(); err != nil {
		t.Fatal(err)
	}
	if took, err := write(1, messageID(t)); err != nil || took > commitBound/2 {
		t.Fatalf("write with one of two standbys (ANY 1) = %v after %v, want it to go through at once", err, took)
	}

	// Both standbys gone: the commit cannot be confirmed.
	if err := c.s2.StopImmediate(); err != nil {
		t.Fatal(err)
	}
	lost := messageID(t)
	took, err := write(2, lost)
	if f := medcard.FaultOf(err); f != medcard.FaultOutcomeUnknown || took > commitBound+1500*time.Millisecond {
		t.Fatalf("write with no standby = %v (%v) after %v, want FaultOutcomeUnknown within %v", err, f, took, commitBound)
	}
	if v := storedVersionIn(t, c.shardDB, person); v != 3 {
		t.Errorf("after the unconfirmed write the primary holds version %d, want 3 (committed locally)", v)
	}
	if err := c.replication(t).Ready(1); err == nil {
		t.Error("Ready(1) with no standby = nil, want not ready")
	}
	resend := func() (*medcard.StoredOutcome, time.Duration, error) {
		start := time.Now()
		_, outcome, err := c.store.ReadForWrite(t.Context(), person, medcard.OutcomeKey{System: "test", MessageID: lost})
		return outcome, time.Since(start), err
	}
	if _, took, err := resend(); medcard.FaultOf(err) != medcard.FaultOutcomeUnknown || took > commitBound+1500*time.Millisecond {
		t.Fatalf("resend while no standby confirms = %v after %v, want FaultOutcomeUnknown within the bound", err, took)
	}

	// A standby back: the resend gets the stored answer.
	if err := c.s2.Start(); err != nil {
		t.Fatal(err)
	}
	if err := c.primary.WaitStreaming("s2", 30*time.Second); err != nil {
		t.Fatal(err)
	}
	outcome, _, err := resend()
	if err != nil || outcome == nil || outcome.Result.CardVersion != 3 {
		t.Fatalf("resend with a standby back = %+v, %v; want the stored answer, version 3", outcome, err)
	}

	// ANY 2 with only s2 up: writes fail retryably and change nothing
	// anyone has been told of.
	if err := c.primary.SetSynchronousStandbys("ANY 2 (s1, s2)"); err != nil {
		t.Fatal(err)
	}
	if _, err := write(3, messageID(t)); medcard.FaultOf(err).Code != medcard.CodeUnavailable {
		t.Errorf("write with ANY 2 and one standby = %v, want a retryable fault", err)
	}
	if err := c.replication(t).Ready(2); err == nil {
		t.Error("Ready(2) with one standby = nil, want not ready")
	}

	// More confirmations than standbys named can never be met.
	if err := c.primary.SetSynchronousStandbys("ANY 3 (s1, s2)"); err != nil {
		t.Fatal(err)
	}
	if err := c.replication(t).Check(1); err == nil {
		t.Error("Check with ANY 3 of two named standbys = nil, want it refused as a bad value")
	}
	if err := c.primary.SetSynchronousStandbys(""); err != nil {
		t.Fatal(err)
	}
}

// TestRequiredConfirmations: with SetRequiredConfirmations(1) a write on a
// database that has stopped waiting for standbys (synchronous_standby_names
// emptied, as Patroni without strict mode does when its last standby goes)
// is refused retryably and commits nothing, and so is the stored answer a
// resend would get; once the database waits again the resend is applied.
func TestRequiredConfirmations(t *testing.T) {
	c := startSyncCluster(t)
	if err := c.primary.SetSynchronousStandbys("ANY 1 (s1, s2)"); err != nil {
		t.Fatal(err)
	}
	c.store.SetCommitBound(commitBound)
	c.store.SetRequiredConfirmations(1)
	person := newPersons(t, 62).draw(nil)
	first := messageID(t)
	if err := c.store.WriteCard(t.Context(), newWrite(person, 0, first)); err != nil {
		t.Fatalf("write with ANY 1 and one confirmation required: %v", err)
	}

	if err := c.primary.SetSynchronousStandbys(""); err != nil {
		t.Fatal(err)
	}
	refused := messageID(t)
	err := c.store.WriteCard(t.Context(), newWrite(person, 1, refused))
	if f := medcard.FaultOf(err); f != medcard.FaultUnavailable {
		t.Fatalf("write on a database that waits for no standby = %v (%v), want FaultUnavailable", err, f)
	}
	if v := storedVersionIn(t, c.shardDB, person); v != 1 {
		t.Errorf("after the refused write the database holds version %d, want 1: it must commit nothing", v)
	}
	if _, outcome, err := c.store.ReadForWrite(t.Context(), person, medcard.OutcomeKey{System: "test", MessageID: first}); medcard.FaultOf(err) != medcard.FaultUnavailable {
		t.Errorf("resend of a stored write while no standby would confirm = %+v, %v; want FaultUnavailable", outcome, err)
	}
	c.store.SetRequiredConfirmations(2)
	if err := c.primary.SetSynchronousStandbys("ANY 1 (s1, s2)"); err != nil {
		t.Fatal(err)
	}
	if err := c.store.WriteCard(t.Context(), newWrite(person, 1, refused)); medcard.FaultOf(err) != medcard.FaultUnavailable {
		t.Errorf("write with ANY 1 when two confirmations are required = %v, want FaultUnavailable", err)
	}

	c.store.SetRequiredConfirmations(1)
	if err := c.store.WriteCard(t.Context(), newWrite(person, 1, refused)); err != nil {
		t.Fatalf("resend once the database waits for a standby again: %v", err)
	}
	if v := storedVersionIn(t, c.shardDB, person); v != 2 {
		t.Errorf("after the resend the database holds version %d, want 2", v)
	}
	if err := c.primary.SetSynchronousStandbys(""); err != nil {
		t.Fatal(err)
	}
}

func storedVersionIn(t *testing.T, db *pgxpool.Pool, p medcard.PersonID) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	var v int64
	if err := db.QueryRow(ctx, `SELECT version FROM cards WHERE person = $1`, string(p)).Scan(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

// TestParseSynchronousStandbyNames reads every form PostgreSQL accepts.
func TestParseSynchronousStandbyNames(t *testing.T) {
	for _, tc := range []struct {
		in     string
		method string
		n      int
		names  []string
	}{
		{"", "", 0, []string{}},
		{"ANY 1 (s1, s2)", "ANY", 1, []string{"s1", "s2"}},
		{"any 2 (S1,\"S2\")", "ANY", 2, []string{"s1", "S2"}},
		{"FIRST 2 (a, b, c)", "FIRST", 2, []string{"a", "b", "c"}},
		{"2 (a, b)", "FIRST", 2, []string{"a", "b"}},
		{"a, b", "FIRST", 1, []string{"a", "b"}},
		{"*", "FIRST", 1, nil},
		{"ANY 1 (*)", "ANY", 1, nil},
	} {
		method, n, names, err := ParseSynchronousStandbyNames(tc.in)
		if err != nil || method != tc.method || n != tc.n || len(names) != len(tc.names) || (names == nil) != (tc.names == nil) {
			t.Errorf("Parse(%q) = %q %d %q %v, want %q %d %q", tc.in, method, n, names, err, tc.method, tc.n, tc.names)
			continue
		}
		for i := range names {
			if names[i] != tc.names[i] {
				t.Errorf("Parse(%q) names = %q, want %q", tc.in, names, tc.names)
			}
		}
	}
	for _, bad := range []string{"ANY x (a)", "ANY 1 a", "FIRST 1 (a"} {
		if _, _, _, err := ParseSynchronousStandbyNames(bad); err == nil {
			t.Errorf("Parse(%q) = nil error, want one", bad)
		}
	}
}
