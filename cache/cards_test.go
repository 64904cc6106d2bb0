package cache

import (
	"context"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sharedmedcard/gateway/internal/testservers"
	"github.com/sharedmedcard/gateway/medcard"
)

var testRedis *testservers.Redis

func TestMain(m *testing.M) {
	var err error
	testRedis, err = testservers.StartRedis()
	if !testservers.MainOrSkip(err) {
		testRedis = nil
	}
	code := m.Run()
	testRedis.Stop()
	os.Exit(code)
}

func newClient(tb testing.TB) *redis.Client {
	tb.Helper()
	if testRedis == nil {
		tb.Skip("no Redis (CI=true makes this a failure)")
	}
	rdb := redis.NewClient(&redis.Options{Addr: testRedis.Addr})
	tb.Cleanup(func() { rdb.Close() })
	return rdb
}

const person = medcard.PersonID("0101701234")

func cardAt(version int64, dosage string) *medcard.Card {
	return &medcard.Card{Version: version, DrugMedications: []medcard.DrugMedication{{ID: 1, Version: version, Dosage: medcard.Dosage{Text: dosage}}}}
}

// scopeOf returns a Scope function over variables the test changes.
func scopeOf(key *string, generation *int64) func(medcard.PersonID) (string, int64, bool) {
	return func(medcard.PersonID) (string, int64, bool) { return *key, *generation, true }
}

// TestWriteThroughNeverReplacesNewer: write-throughs arriving out of order
// never lower the cached version.
func TestWriteThroughNeverReplacesNewer(t *testing.T) {
	ctx := context.Background()
	key, gen := "s1e1", int64(0)
	c := NewCards(newClient(t), CardsOptions{TTL: time.Minute, Timeout: time.Second, Scope: scopeOf(&key, &gen)})
	for _, s := range []struct {
		put     int64
		wantVer int64
	}{{2, 2}, {1, 2}, {2, 2}, {3, 3}} {
		if !c.Written(ctx, c.Slot(person), cardAt(s.put, "write-through")) {
			t.Fatalf("Written(version %d) = false, want true", s.put)
		}
		slot := c.Slot(person)
		got := c.Get(ctx, &slot)
		if got == nil || got.Version != s.wantVer {
			t.Errorf("after Written(version %d) Get = %+v, want version %d", s.put, got, s.wantVer)
		}
	}
	// A new scope (the shard moved) bypasses every old entry.
	key = "s1e2"
	slot := c.Slot(person)
	if got := c.Get(ctx, &slot); got != nil {
		t.Errorf("Get in a new scope = version %d, want a miss", got.Version)
	}
}

// TestFillNeedsItsLease forces the interleavings leases exist for: a miss
// reads version N from the database, a write commits N+1, and the fill of
// N arrives after the write-through, or after Redis lost everything, or
// after another gateway's write-through was missed altogether.
func TestFillNeedsItsLease(t *testing.T) {
	ctx := context.Background()
	rdb := newClient(t)
	key, gen := "s2e1", int64(0)
	c := NewCards(rdb, CardsOptions{TTL: time.Minute, Timeout: time.Second, Scope: scopeOf(&key, &gen)})
	get := func() (*medcard.Card, medcard.CacheSlot) {
		slot := c.Slot(person)
		return c.Get(ctx, &slot), slot
	}

	// Miss: a lease; a second reader meanwhile gets none.
	card, filler := get()
	if card != nil || filler.Lease == "" {
		t.Fatalf("Get of a missing card = %v, lease %q; want a miss with a lease", card, filler.Lease)
	}
	if _, other := get(); other.Lease != "" {
		t.Errorf("second Get while a lease is pending got lease %q, want none", other.Lease)
	}
	// A write-through of version 2 lands first and revokes the lease.
	c.Written(ctx, c.Slot(person), cardAt(2, "written"))
	c.Fill(ctx, filler, cardAt(1, "read before the write"))
	if card, _ := get(); card == nil || card.Version != 2 {
		t.Fatalf("after the late fill Get = %+v, want version 2", card)
	}

	// Redis restarted empty: a lease granted before is worthless.
	rdb.Del(ctx, filler.Key)
	_, filler = get()
	rdb.Del(ctx, filler.Key) // everything gone, as after a restart
	c.Fill(ctx, filler, cardAt(1, "read before the restart"))
	if card, _ := get(); card != nil {
		t.Errorf("a fill with a lease from before the restart landed: Get = version %d, want a miss", card.Version)
	}

	// A fill with its own lease lands, labelled with its generation.
	rdb.Del(ctx, filler.Key)
	_, filler = get()
	c.Fill(ctx, filler, cardAt(3, "fresh"))
	if card, _ := get(); card == nil || card.Version != 3 {
		t.Errorf("after a fill with its lease Get = %+v, want version 3", card)
	}

	// A fence raised the shard's generation: the entry of the old one is
	// no longer served, even though nothing deleted it.
	gen = 7
	card, filler = get()
	if card != nil {
		t.Errorf("Get under a newer generation = version %d, want a miss", card.Version)
	}
	c.Fill(ctx, filler, cardAt(4, "read after the fence"))
	if card, _ := get(); card == nil || card.Version != 4 {
		t.Errorf("after a fill under the new generation Get = %+v, want version 4", card)
	}
	// A slot taken while the generation was unknown is never read.
	unusable := medcard.CacheSlot{Key: filler.Key}
	if card := c.Get(ctx, &unusable); card != nil || unusable.Lease != "" {
		t.Errorf("Get with an unusable slot = %v, lease %q; want a miss without a lease", card, unusable.Lease)
	}
}

func TestEntriesExpireAndCarryNoPersonInKey(t *testing.T) {
	ctx := context.Background()
	rdb := newClient(t)
	key, gen := "s7e1", int64(0)
	c := NewCards(rdb, CardsOptions{TTL: 150 * time.Millisecond, Timeout: time.Second, Scope: scopeOf(&key, &gen)})
	slot := c.Slot(person)
	if !c.Written(ctx, slot, cardAt(1, "x")) {
		t.Fatal("Written = false")
	}
	keys, err := rdb.Keys(ctx, "card:*").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if strings.Contains(k, string(person)) {
			t.Errorf("cache key %q contains the person identifier", k)
		}
	}
	if ttl := rdb.PTTL(ctx, slot.Key).Val(); ttl <= 0 || ttl > 150*time.Millisecond {
		t.Errorf("entry TTL = %v, want (0, 150ms]", ttl)
	}
	time.Sleep(300 * time.Millisecond)
	if card := c.Get(ctx, &slot); card != nil {
		t.Errorf("entry still there after its TTL")
	}
	if !c.Forget(ctx, slot) {
		t.Errorf("Forget of a missing entry = false")
	}
}

// TestBudgetBoundsAllCallsOfARequest: a stopped Redis costs a request one
// budget, however many calls it makes.
func TestBudgetBoundsAllCallsOfARequest(t *testing.T) {
	// A listener that accepts and never answers, like a paused Redis.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { conn.Close() })
		}
	}()
	// As the gateway configures it (app.newRedisClient).
	rdb := redis.NewClient(&redis.Options{Addr: ln.Addr().String(), MaxRetries: -1, DialerRetries: 1,
		DialTimeout: 200 * time.Millisecond, ReadTimeout: 100 * time.Millisecond, WriteTimeout: 100 * time.Millisecond})
	t.Cleanup(func() { rdb.Close() })
	key, gen := "s3e1", int64(0)
	c := NewCards(rdb, CardsOptions{TTL: time.Minute, Timeout: 100 * time.Millisecond, Scope: scopeOf(&key, &gen), BreakAfter: 100})

	ctx := WithBudget(context.Background(), 100*time.Millisecond)
	start := time.Now()
	slot := c.Slot(person)
	c.Get(ctx, &slot)
	if c.Written(ctx, slot, cardAt(1, "x")) {
		t.Error("Written to a Redis that never answers = true")
	}
	c.Forget(ctx, slot)
	if took := time.Since(start); took > 200*time.Millisecond {
		t.Errorf("three calls to a stopped Redis took %v, want about the budget of 100ms", took)
	}
}

// TestHoldNeverStoresWithoutItsLease: a reader of a recently changed card
// learns whether the cache holds that version, storing it only with its
// lease.
func TestHoldNeverStoresWithoutItsLease(t *testing.T) {
	ctx := context.Background()
	rdb := newClient(t)
	key, gen := "s4e1", int64(0)
	c := NewCards(rdb, CardsOptions{TTL: time.Minute, Timeout: time.Second, Scope: scopeOf(&key, &gen)})
	miss := func() medcard.CacheSlot {
		slot := c.Slot(person)
		if card := c.Get(ctx, &slot); card != nil {
			t.Fatalf("Get = version %d, want a miss", card.Version)
		}
		return slot
	}
	withLease := miss()
	if !c.Hold(ctx, withLease, cardAt(3, "read")) {
		t.Fatal("Hold with the lease = false, want true (stored)")
	}
	if !c.Hold(ctx, medcard.CacheSlot{Key: withLease.Key}, cardAt(2, "older")) {
		t.Error("Hold of an older version than cached = false, want true")
	}
	if c.Hold(ctx, medcard.CacheSlot{Key: withLease.Key}, cardAt(4, "newer, no lease")) {
		t.Error("Hold of a newer version without a lease = true, want false")
	}
	rdb.Del(ctx, withLease.Key)
	revoked := miss()
	c.Written(ctx, c.Slot(person), cardAt(5, "written"))
	if !c.Hold(ctx, revoked, cardAt(5, "same")) {
		t.Error("Hold of the written version = false, want true")
	}
	rdb.Del(ctx, withLease.Key)
	revoked = miss()
	rdb.HDel(ctx, revoked.Key, "l") // as a write-through to a Redis that then lost it would
	if c.Hold(ctx, revoked, cardAt(6, "lease gone")) {
		t.Error("Hold with a revoked lease = true, want false")
	}
}

// TestRaiseWithoutLease: a card read from the primary without a lease
// raises an older cached card in place (keeping its generation and TTL),
// never lowers one, never creates an entry, and keeps a pending fill from
// storing an older card, while a pending fill of the same version lands.
func TestRaiseWithoutLease(t *testing.T) {
	ctx := context.Background()
	rdb := newClient(t)
	key, gen := "s5e1", int64(3)
	c := NewCards(rdb, CardsOptions{TTL: time.Minute, Timeout: time.Second, Scope: scopeOf(&key, &gen)})
	get := func() (*medcard.Card, medcard.CacheSlot) {
		t.Helper()
		slot := c.Slot(person)
		return c.Get(ctx, &slot), slot
	}
	raise := func(version int64) {
		t.Helper()
		if !c.Raise(ctx, medcard.CacheSlot{Key: c.Slot(person).Key, Generation: gen}, cardAt(version, "read without a lease")) {
			t.Fatalf("Raise(version %d) = false, want true", version)
		}
	}
	slot := c.Slot(person)
	rdb.Del(ctx, slot.Key) // the shared Redis may hold an earlier run's entry (-count)

	// Version 47 written through under generation 3; 48 was committed by
	// a writer that stopped before its write-through.
	c.Written(ctx, slot, cardAt(47, "written"))
	rdb.PExpire(ctx, slot.Key, 30*time.Second)
	gen = 5 // the reader knows a newer generation: its raise keeps 3
	raise(48)
	if g := rdb.HGet(ctx, slot.Key, "g").Val(); g != "3" {
		t.Errorf("after Raise the entry's generation = %q, want 3 (kept)", g)
	}
	if ttl := rdb.PTTL(ctx, slot.Key).Val(); ttl > 30*time.Second || ttl < 29*time.Second {
		t.Errorf("after Raise the entry's TTL = %v, want the 30s it had", ttl)
	}
	if card, _ := get(); card != nil {
		t.Errorf("Get under generation 5 = version %d, want a miss: a raised entry of generation 3 stays fenced", card.Version)
	}
	gen = 3
	if card, _ := get(); card == nil || card.Version != 48 {
		t.Fatalf("Get under generation 3 after Raise(48) = %+v, want version 48", card)
	}

	// Never lowered.
	raise(46)
	if card, _ := get(); card == nil || card.Version != 48 {
		t.Errorf("Get after Raise(46) = %+v, want version 48", card)
	}

	// Absent: nothing created (a Redis that restarted empty gets no card).
	rdb.Del(ctx, slot.Key)
	raise(49)
	if n := rdb.Exists(ctx, slot.Key).Val(); n != 0 {
		t.Errorf("Raise of a card not cached created an entry")
	}

	// A fill pending since before version 50 was committed: the older card
	// it read must not land after a read answered 50.
	card, filler := get()
	if card != nil || filler.Lease == "" {
		t.Fatalf("Get of a missing card = %v, lease %q; want a miss with a lease", card, filler.Lease)
	}
	raise(50)
	c.Fill(ctx, filler, cardAt(49, "read before 50"))
	if card, _ := get(); card != nil {
		t.Errorf("an older fill landed after Raise(50): Get = version %d, want a miss", card.Version)
	}
	// A pending fill of the same version as the raise still lands: readers
	// on other gateways do not keep a hot card out of the cache.
	rdb.Del(ctx, slot.Key)
	_, filler = get()
	raise(51)
	c.Fill(ctx, filler, cardAt(51, "read as 51"))
	if card, _ := get(); card == nil || card.Version != 51 {
		t.Errorf("a fill of the raised version = %+v, want version 51 stored", card)
	}

	// A fill whose lease a write-through revoked, and which a Redis that
	// lost the write-through still holds an older card for, raises it.
	rdb.Del(ctx, slot.Key)
	c.Written(ctx, slot, cardAt(52, "written"))
	gen = 4
	_, filler = get() // an entry of generation 3: a miss with a lease
	rdb.HDel(ctx, filler.Key, "l")
	c.Fill(ctx, filler, cardAt(53, "read after 52"))
	if v := rdb.HGet(ctx, slot.Key, "v").Val(); v != "53" {
		t.Errorf("after a fill with a revoked lease the entry holds version %s, want 53", v)
	}

	// Redis unreachable: Raise says so, and the caller fences.
	closed := NewCards(redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1}), CardsOptions{TTL: time.Minute, Timeout: 100 * time.Millisecond, Scope: scopeOf(&key, &gen)})
	if closed.Raise(ctx, slot, cardAt(54, "x")) {
		t.Error("Raise to an unreachable Redis = true, want false")
	}
}
