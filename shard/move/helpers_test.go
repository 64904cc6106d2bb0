package move

import (
	"context"
	"crypto/sha256"
	"fmt"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/sharedmedcard/gateway/internal/testcluster"
	"github.com/sharedmedcard/gateway/internal/testservers"
	"github.com/sharedmedcard/gateway/medcard"
	"github.com/sharedmedcard/gateway/seed"
	"github.com/sharedmedcard/gateway/shard"
)

// env is one test's cluster: two PostgreSQL servers (catalog and shard1 on
// the first, shard2 on the second), a gateway-side Store and the mover's
// Cluster.
type env struct {
	tc    *testcluster.Cluster
	store *shard.Store
	c     *Cluster
	log   *zap.Logger
}

// startEnv starts a fresh cluster for one test; it is stopped at the end.
func startEnv(t *testing.T) *env {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	tc, err := testcluster.Start(ctx, testcluster.Options{})
	testservers.RequireT(t, err)
	t.Cleanup(func() { tc.Stop() })
	log := zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel))
	store, err := shard.Open(ctx, shard.NewCatalog(tc.Catalog, time.Now), log, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(store.Close)
	c, err := Open(ctx, tc.CatalogDSN, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return &env{tc: tc, store: store, c: c, log: log}
}

// seedCards loads n synthetic persons' cards and returns the persons
// with a card.
func (e *env) seedCards(t *testing.T, n int) []medcard.PersonID {
	t.Helper()
	g := seed.New(7, time.Now())
	var cards []*medcard.Card
	var persons []medcard.PersonID
	for i := range n {
		c := g.Card(i)
		if c.Version == 0 {
			continue
		}
		cards = append(cards, c)
		persons = append(persons, c.PersonID)
	}
	if _, err := e.store.LoadCards(t.Context(), cards); err != nil {
		t.Fatal(err)
	}
	return persons
}

// personsOf returns n made-up persons on logical shard s.
func personsOf(s, n int) []medcard.PersonID {
	var out []medcard.PersonID
	for i := 0; len(out) < n; i++ {
		p := medcard.PersonID(fmt.Sprintf("%02d%02d%02d%04d", 1+i%28, 1+(i/28)%12, 50+(i/336)%50, (i/16800)%10000))
		if shard.Of(string(p)) == s {
			out = append(out, p)
		}
	}
	return out
}

// writeFor builds a write of person's card from version base to base+1.
func writeFor(person medcard.PersonID, base int64, msgID string) *medcard.CardWrite {
	v := base + 1
	hash := sha256.Sum256([]byte(string(person) + "\x00" + msgID))
	card := &medcard.Card{PersonID: person, Version: v}
	return &medcard.CardWrite{
		Person: person, BaseVersion: base, Card: card,
		Key:         medcard.OutcomeKey{System: "movetest", MessageID: msgID},
		RequestHash: hash[:],
		Result:      medcard.WriteResult{CardVersion: v},
		Audit: medcard.AuditEntry{Operation: medcard.OpCreateDrugMedication, At: time.Now(), System: "movetest",
			Organisation: "org", Role: medcard.RoleDoctor, MessageID: msgID, CardVersion: v},
	}
}

// writers writes to persons, one goroutine per person, each write based
// on the last acknowledged one, until stop is closed. It returns, per
// person, the last acknowledged version, and the writes that failed.
func (e *env) writers(t *testing.T, persons []medcard.PersonID, stop <-chan struct{}) func() (map[medcard.PersonID]int64, []error) {
	var mu sync.Mutex
	acked := map[medcard.PersonID]int64{}
	var errs []error
	var wg sync.WaitGroup
	for _, p := range persons {
		wg.Go(func() {
			var v int64
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				err := e.store.WriteCard(ctx, writeFor(p, v, fmt.Sprintf("%s-%d", p, i)))
				cancel()
				if err != nil {
					mu.Lock()
					errs = append(errs, fmt.Errorf("write %s v%d: %w", p, v+1, err))
					mu.Unlock()
					return
				}
				v++
				mu.Lock()
				acked[p] = v
				mu.Unlock()
				time.Sleep(2 * time.Millisecond)
			}
		})
	}
	return func() (map[medcard.PersonID]int64, []error) {
		wg.Wait()
		return acked, errs
	}
}

// checkNothingOrphaned fails the test if any database holds a replication
// slot, publication or subscription, or if any shard is not owned by
// exactly the database the map names.
func (e *env) checkNothingOrphaned(t *testing.T) {
	t.Helper()
	ctx := t.Context()
	m, err := e.c.LoadMap(ctx)
	if err != nil {
		t.Fatal(err)
	}
	owners := map[int][]string{}
	for name := range m.Databases {
		db, err := e.c.DB(name)
		if err != nil {
			t.Fatal(err)
		}
		var slots, pubs, subs int
		if err := db.QueryRow(ctx, `SELECT (SELECT count(*) FROM pg_replication_slots), (SELECT count(*) FROM pg_publication),
			(SELECT count(*) FROM pg_subscription WHERE subdbid = (SELECT oid FROM pg_database WHERE datname = current_database()))`).
			Scan(&slots, &pubs, &subs); err != nil {
			t.Fatal(err)
		}
		if slots+pubs+subs > 0 {
			t.Errorf("%s: %d slots, %d publications, %d subscriptions left, want none", name, slots, pubs, subs)
		}
		rows, err := db.Query(ctx, `SELECT shard, writable, frozen_until IS NOT NULL AND frozen_until <> 'infinity' FROM owned_shards`)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var s int
			var writable, lapsing bool
			if err := rows.Scan(&s, &writable, &lapsing); err != nil {
				t.Fatal(err)
			}
			owners[s] = append(owners[s], name)
			if !writable && !lapsing {
				t.Errorf("%s: shard %d is frozen", name, s)
			}
		}
		rows.Close()
	}
	for s := range shard.Count {
		if len(owners[s]) != 1 || owners[s][0] != m.Owner[s] {
			t.Errorf("shard %d: owned by %v, the map says %s", s, owners[s], m.Owner[s])
		}
	}
}

// moveOne plans and runs the move of shard s to target.
func (e *env) moveOne(t *testing.T, s int, target string, lim Limits) *Move {
	t.Helper()
	p, err := e.c.MakePlan(t.Context(), Goal{Shard: &s, To: target})
	if err != nil {
		t.Fatal(err)
	}
	moves, err := e.c.StartPlan(t.Context(), p)
	if err != nil {
		t.Fatal(err)
	}
	if err := NewMover(e.c, lim, e.log, nil).Run(t.Context(), moves); err != nil {
		t.Fatalf("move shard %d to %s: %v", s, target, err)
	}
	m, err := e.c.GetMove(t.Context(), moves[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// testLimits are the mover's limits in tests: generous, for a loaded
// machine, and still under the gateways' 2 s wait for a frozen shard.
func testLimits() Limits {
	return Limits{MaxLag: 300 * time.Millisecond, FreezeBound: time.Second}
}

// planMove plans and journals the move of shard s to target, without
// running it.
func (e *env) planMove(t *testing.T, s int, target string) *Move {
	t.Helper()
	p, err := e.c.MakePlan(t.Context(), Goal{Shard: &s, To: target})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Moves) != 1 {
		t.Fatalf("plan to move shard %d to %s has %d moves, want 1", s, target, len(p.Moves))
	}
	moves, err := e.c.StartPlan(t.Context(), p)
	if err != nil {
		t.Fatal(err)
	}
	return moves[0]
}

// other is the shard database a shard on db moves to.
func other(db string) string {
	if db == "shard1" {
		return "shard2"
	}
	return "shard1"
}
