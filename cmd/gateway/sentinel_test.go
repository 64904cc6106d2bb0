package main

import (
	"fmt"
	"os/exec"
	"testing"
	"time"

	"github.com/sharedmedcard/gateway/internal/app"
	"github.com/sharedmedcard/gateway/internal/testservers"
)

// TestSentinelFailover: a Redis primary, one replica and a Sentinel, with a
// gateway that finds the primary through the Sentinel, under a read/write
// load on a few hot persons. The primary is killed while writes go on; the
// Sentinel promotes the replica and the gateway follows it.
//
// The bound checked is the one without a failover: a read that starts after
// a write was acknowledged returns that card version or a newer one, for
// writes acknowledged before the kill, while the primary was down, and after
// the promotion. It holds because card entries are not replicated
// (cache.Cards writes them with replication off), so the promoted replica
// starts with an empty cache. With replicated entries it would not: the
// replica would serve each hot person's version as of the kill until that
// person's next write, older than every write acknowledged while the
// primary was down (their write-throughs had nowhere to go) and possibly
// older than the last write-throughs the primary acknowledged but had not
// yet sent on. Waiting for the replica after each write-through (WAIT 1)
// would close only the second of those gaps.
//
// Not covered, and not closed by the fix: a write whose write-through and
// delete both fail while the same Redis stays primary (a timeout, a short
// partition) leaves the older entry up to the cache TTL; and a primary that
// rejoins as a replica by partial resync may keep its own old entries, which a
// second failover back to it within the TTL would serve.
func TestSentinelFailover(t *testing.T) {
	e := requireEnv(t)
	if _, err := exec.LookPath("redis-sentinel"); err != nil {
		testservers.RequireT(t, fmt.Errorf("redis-sentinel not found (apt-get install redis-sentinel): %w", err))
	}
	primary, err := testservers.StartRedis()
	testservers.RequireT(t, err)
	t.Cleanup(func() { primary.Stop() })
	replica, err := testservers.StartRedisReplica(primary)
	testservers.RequireT(t, err)
	t.Cleanup(func() { replica.Stop() })
	sentinel, err := testservers.StartSentinel("medcard", primary, time.Second, 5*time.Second)
	testservers.RequireT(t, err)
	t.Cleanup(func() { sentinel.Stop() })
	if err := sentinel.WaitReplicas(1, 15*time.Second); err != nil {
		t.Fatal(err)
	}
	gw := startGateway(t, func(endpoint string) app.Config {
		cfg := e.config(endpoint, "")
		cfg.RedisSentinels, cfg.RedisMaster = []string{sentinel.Addr}, sentinel.Master
		return cfg
	})
	load := newCardLoad(t, 4, gw, []*testGateway{gw})
	load.start(2, 4, 20*time.Millisecond)
	time.Sleep(1500 * time.Millisecond)
	m0 := gw.scrape(t, load.client)

	killAt := time.Now()
	if err := primary.Stop(); err != nil {
		t.Fatal(err)
	}
	var switchedAt time.Time
	for deadline := killAt.Add(20 * time.Second); switchedAt.IsZero() && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if addr, err := sentinel.MasterAddr(); err == nil && addr == replica.Addr {
			switchedAt = time.Now()
		}
	}
	if switchedAt.IsZero() {
		load.stop()
		t.Fatal("the Sentinel did not promote the replica within 20s of the kill")
	}

	// Readers only, until the gateway serves hits from the promoted replica
	// (its breaker may still be open for up to 2s): any entry it holds from
	// before the failover is read now, before a write could replace it.
	load.pauseWrites.Store(true)
	m1 := gw.scrape(t, load.client)
	var hitsAt time.Time
	for deadline := switchedAt.Add(10 * time.Second); hitsAt.IsZero() && time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if m := gw.scrape(t, load.client); delta(m1, m, `medcard_cache_reads_total{result="hit"}`) > 0 {
			hitsAt = time.Now()
		}
	}
	time.Sleep(500 * time.Millisecond)
	m2 := gw.scrape(t, load.client)
	load.pauseWrites.Store(false)
	time.Sleep(1500 * time.Millisecond)
	load.stop()
	m3 := gw.scrape(t, load.client)

	// Once the load ends, every hot person reads back its newest version,
	// normally from the cache (a write-through that timed out leaves a miss).
	for p, person := range load.persons {
		v, err := readVersion(load.client, gw.endpoint, person)
		if want := load.latest[p].Load(); err != nil || v != want {
			t.Errorf("after the load hot person %d reads back version %d (%v), want %d", p, v, err, want)
		}
	}
	m4 := gw.scrape(t, load.client)

	s := load.summary()
	writesDuringOutage := load.acksBetween(killAt, switchedAt)
	strict, sinceKill := load.violations(time.Time{}), load.violations(killAt)
	t.Logf("Sentinel failover under load (%v): promoted %v after the kill, cache hits again %v after that; "+
		"%d writes (%d while the primary was down), %d reads, %d failed requests; "+
		"stale reads: %d against writes acknowledged before the kill, %d against any acknowledged write; "+
		"write-throughs while down: %.0f failed; after the failover %.0f stored, %.0f cache hits",
		s.took.Round(10*time.Millisecond), switchedAt.Sub(killAt).Round(10*time.Millisecond), hitsAt.Sub(switchedAt).Round(10*time.Millisecond),
		s.writes, writesDuringOutage, s.reads, s.failed, len(sinceKill), len(strict),
		delta(m0, m1, `medcard_cache_write_through_total{result="error"}`),
		delta(m1, m4, `medcard_cache_write_through_total{result="stored"}`), delta(m1, m4, `medcard_cache_reads_total{result="hit"}`))
	load.requireNoFailures(t)
	requireNoStaleReads(t, strict)
	if hitsAt.IsZero() {
		t.Error("no cache hit within 10s of the promotion: the gateway did not follow the promoted replica")
	}
	if writesDuringOutage == 0 {
		t.Error("no write was acknowledged while the primary was down: the test did not exercise the failover window")
	}
	if n := delta(m2, m3, `medcard_cache_write_through_total{result="stored"}`); n == 0 {
		t.Error("no write-through was stored after the failover")
	}
	if n := delta(m3, m4, `medcard_cache_reads_total{result="hit"}`); n == 0 {
		t.Errorf("none of the %d reads after the load was a cache hit", len(load.persons))
	}
}
