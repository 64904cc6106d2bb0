package shard

import (
	"sync"
	"testing"
	"time"

	"github.com/sharedmedcard/gateway/medcard"
)

// TestSystemsOutliveACatalogOutage: while the catalog cannot be read (its
// primary lost, a failover under way) a system that authenticated lately
// goes on authenticating, promptly, up to systemStaleLimit; a change of a
// system still reaches the gateway once the catalog is back.
func TestSystemsOutliveACatalogOutage(t *testing.T) {
	pg, pool := startCatalog(t)
	ctx := t.Context()
	var mu sync.Mutex
	clock := time.Now()
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	advance := func(d time.Duration) { mu.Lock(); clock = clock.Add(d); mu.Unlock() }
	c := NewCatalog(pool, now)
	gp := medcard.System{Name: "gp", Secret: "s3cret", Roles: []medcard.Role{medcard.RoleDoctor}}
	if err := c.PutSystem(ctx, gp); err != nil {
		t.Fatal(err)
	}
	if _, err := c.System(ctx, "gp"); err != nil {
		t.Fatal(err)
	}

	if err := pg.Crash(); err != nil {
		t.Fatal(err)
	}
	for _, after := range []time.Duration{systemCacheTTL + time.Second, time.Second, systemCacheTTL, time.Minute} {
		advance(after)
		start := time.Now()
		s, err := c.System(ctx, "gp")
		if err != nil || s.PasswordHash == "" || s.Name != gp.Name {
			t.Fatalf("System during the outage = %+v, %v; want the system as it last was", s, err)
		}
		if took := time.Since(start); took > systemRefreshTimeout+300*time.Millisecond {
			t.Errorf("System during the outage took %v, want at most the refresh timeout %v", took, systemRefreshTimeout)
		}
	}
	if _, err := c.System(ctx, "nobody"); medcard.FaultOf(err) != medcard.FaultUnavailable {
		t.Errorf("an unknown system during the outage = %v, want FaultUnavailable", err)
	}
	advance(systemStaleLimit)
	if _, err := c.System(ctx, "gp"); medcard.FaultOf(err) != medcard.FaultUnavailable {
		t.Errorf("System past the stale limit = %v, want FaultUnavailable", err)
	}

	if err := pg.Restart(); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `UPDATE systems SET enabled = false WHERE name = 'gp'`); err != nil {
		t.Fatal(err)
	}
	advance(systemCacheTTL)
	if _, err := c.System(ctx, "gp"); medcard.FaultOf(err) != medcard.FaultNotAuthenticated {
		t.Errorf("a disabled system once the catalog is back = %v, want FaultNotAuthenticated", err)
	}
}
