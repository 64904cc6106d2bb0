package cache

import (
	"context"
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

func newClient(t *testing.T) *redis.Client {
	t.Helper()
	if testRedis == nil {
		t.Skip("no Redis (CI=true makes this a failure)")
	}
	rdb := redis.NewClient(&redis.Options{Addr: testRedis.Addr})
	t.Cleanup(func() { rdb.Close() })
	return rdb
}

const person = medcard.PersonID("0101701234")

func cardAt(version int64, dosage string) *medcard.Card {
	return &medcard.Card{Version: version, DrugMedications: []medcard.DrugMedication{{ID: 1, Version: version, Dosage: medcard.Dosage{Text: dosage}}}}
}

// TestPutNeverReplacesNewer forces the stale-fill interleaving: a fill that
// read version N arrives after N+1 was written through.
func TestPutNeverReplacesNewer(t *testing.T) {
	ctx := context.Background()
	scope := "s1e1"
	c := NewCards(newClient(t), CardsOptions{TTL: time.Minute, Timeout: time.Second, Scope: func(medcard.PersonID) string { return scope }})
	steps := []struct {
		put       *medcard.Card
		wantStore bool
		wantVer   int64
	}{
		{cardAt(2, "write-through of version 2"), true, 2},
		{cardAt(1, "slow fill that read version 1"), false, 2},
		{cardAt(2, "second fill of version 2"), false, 2},
		{cardAt(3, "write-through of version 3"), true, 3},
	}
	for _, s := range steps {
		stored, err := c.store(ctx, person, s.put)
		if err != nil {
			t.Fatal(err)
		}
		if stored != s.wantStore {
			t.Errorf("Put(version %d) stored = %v, want %v", s.put.Version, stored, s.wantStore)
		}
		got, ok, err := c.lookup(ctx, person)
		if err != nil || !ok {
			t.Fatalf("Get = %v, %v", ok, err)
		}
		if got.Version != s.wantVer || got.PersonID != person {
			t.Errorf("after Put(version %d) Get = version %d, want %d", s.put.Version, got.Version, s.wantVer)
		}
	}

	// A new scope (the shard moved) bypasses every old entry.
	scope = "s1e2"
	if _, ok, err := c.lookup(ctx, person); ok || err != nil {
		t.Errorf("Get in a new scope = %v, %v; want a miss", ok, err)
	}
}

func TestEntriesExpireAndCarryNoPersonInKey(t *testing.T) {
	ctx := context.Background()
	rdb := newClient(t)
	c := NewCards(rdb, CardsOptions{TTL: 150 * time.Millisecond, Timeout: time.Second, Scope: func(medcard.PersonID) string { return "s7e1" }})
	if _, err := c.store(ctx, person, cardAt(1, "x")); err != nil {
		t.Fatal(err)
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
	if ttl := rdb.PTTL(ctx, c.key(person)).Val(); ttl <= 0 || ttl > 150*time.Millisecond {
		t.Errorf("entry TTL = %v, want (0, 150ms]", ttl)
	}
	time.Sleep(300 * time.Millisecond)
	if _, ok, _ := c.lookup(ctx, person); ok {
		t.Errorf("entry still there after its TTL")
	}
	if err := c.drop(ctx, person); err != nil {
		t.Errorf("Delete of a missing entry: %v", err)
	}
}
