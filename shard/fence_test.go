package shard

import (
	"context"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
)

// yyFence is the birth year of this file's persons (see persons).
const yyFence = 72

// TestFenceIsSeenEverywhereWhenItReturns is the fence's promise: once
// Fence returns on one gateway, another gateway either knows the new
// generation or does not trust its view at all. Without the wait for the
// lease, the other gateway would still report the old generation as current
// for up to a poll interval.
func TestFenceIsSeenEverywhereWhenItReturns(t *testing.T) {
	c := needCluster(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	// Long enough that a poll (every lease/4) finishes within the trust
	// of 0.9 × lease on a loaded two-core machine running other packages'
	// tests; 40 ms was not.
	const lease = 120 * time.Millisecond
	raiser, watcher := NewFences(c.store, lease, 0, zap.NewNop()), NewFences(c.store, lease, 0, zap.NewNop())
	var loops sync.WaitGroup
	defer loops.Wait()
	defer cancel()
	for _, f := range []*Fences{raiser, watcher} {
		loops.Go(func() { f.Watch(ctx) })
	}
	ps := newPersons(t, yyFence)
	a, b := ps.draw(on(c.store.Map(), "shard1")), ps.draw(on(c.store.Map(), "shard2"))

	waitCurrent := func() {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for {
			_, _, ca := watcher.Scope(a)
			_, _, cb := watcher.Scope(b)
			if ca && cb {
				return
			}
			if time.Now().After(deadline) {
				t.Fatal("the watcher never trusted its view of both shard databases")
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	waitCurrent()
	for i := range 30 {
		p := a
		if i%2 == 1 {
			p = b
		}
		_, before, _ := watcher.Scope(p)
		start := time.Now()
		if err := raiser.Fence(ctx, p); err != nil {
			t.Fatalf("Fence = %v", err)
		}
		if took := time.Since(start); took < lease {
			t.Errorf("Fence returned after %v, before the lease of %v", took, lease)
		}
		if _, after, current := watcher.Scope(p); current && after <= before {
			t.Fatalf("right after Fence the other gateway trusts generation %d, want > %d", after, before)
		}
		// The raiser's own reads of the shard wait no more once it is in force.
		settled := time.Now()
		raiser.Settled(ctx, p)
		if took := time.Since(settled); took > 5*time.Millisecond {
			t.Errorf("Settled after the fence was in force took %v", took)
		}
		waitCurrent()
	}
}

// TestFenceUntrustedWithoutPolls: a gateway that cannot poll a shard
// database stops trusting its view of it within the lease.
func TestFenceUntrustedWithoutPolls(t *testing.T) {
	c := needCluster(t)
	const lease = 40 * time.Millisecond
	f := NewFences(c.store, lease, 0, zap.NewNop())
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); f.Watch(ctx) }()
	p := newPersons(t, yyFence).draw(nil)
	deadline := time.Now().Add(5 * time.Second)
	for _, _, current := f.Scope(p); !current; _, _, current = f.Scope(p) {
		if time.Now().After(deadline) {
			t.Fatal("never current")
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel() // no more polls
	<-done
	time.Sleep(lease)
	if _, _, current := f.Scope(p); current {
		t.Errorf("Scope %v after the last poll = current, want not current", lease)
	}
}

// TestCardAgeByTheDatabase: ReadCard says how long ago the card changed,
// by the database's clock, which is what Window is compared with.
func TestCardAgeByTheDatabase(t *testing.T) {
	c := needCluster(t)
	p := newPersons(t, yyFence).draw(nil)
	mustWrite(t, c.store, newWrite(p, 0, messageID(t)))
	card, err := c.store.ReadCard(t.Context(), p)
	if err != nil {
		t.Fatal(err)
	}
	if card.ChangedAgo < 0 || card.ChangedAgo > time.Second {
		t.Fatalf("ReadCard right after the write: ChangedAgo = %v, want [0, 1s]", card.ChangedAgo)
	}
	time.Sleep(100 * time.Millisecond)
	if again, err := c.store.ReadCard(t.Context(), p); err != nil || again.ChangedAgo < card.ChangedAgo+90*time.Millisecond {
		t.Errorf("ReadCard 100ms later: ChangedAgo = %v (%v), want at least %v", again.ChangedAgo, err, card.ChangedAgo+90*time.Millisecond)
	}
}

// TestReadOfAFrozenShardIsMoving: a card read while its shard is frozen
// for a move says so, so that the reader enters nothing in the cache
// under the key scope the move is about to leave.
func TestReadOfAFrozenShardIsMoving(t *testing.T) {
	c := needCluster(t)
	p := newPersons(t, yyFence).draw(on(c.store.Map(), "shard1"))
	mustWrite(t, c.store, newWrite(p, 0, messageID(t)))
	shard := Of(string(p))
	setWritable := func(w bool) {
		t.Helper()
		if _, err := c.db["shard1"].Exec(context.Background(), `UPDATE owned_shards SET writable = $2 WHERE shard = $1`, shard, w); err != nil {
			t.Fatal(err)
		}
	}
	setWritable(false)
	t.Cleanup(func() { setWritable(true) })
	if card, err := c.store.ReadCard(t.Context(), p); err != nil || !card.Moving || card.Version != 1 {
		t.Errorf("ReadCard of a frozen shard = %+v, %v; want version 1, Moving", card, err)
	}
	setWritable(true)
	if card, err := c.store.ReadCard(t.Context(), p); err != nil || card.Moving {
		t.Errorf("ReadCard after the freeze = Moving %v, %v; want not moving", card.Moving, err)
	}
}
