package main

import (
	"fmt"
	"testing"

	"github.com/sharedmedcard/gateway/internal/app"
)

// TestPoolMetrics checks that /metrics shows each shard database's
// connection pool and that requests move its counters: what an operator
// looks at when one database's requests all slow down at once.
func TestPoolMetrics(t *testing.T) {
	requireEnv(t)
	gw := startGateway(t, func(endpoint string) app.Config {
		cfg := env.config(endpoint, env.cluster.Redis.Addr)
		cfg.Cache = false // every read takes a connection
		return cfg
	})
	client := newLoadClient(t)
	before := gw.scrape(t, client)
	for range 20 {
		var answer struct{}
		if err := send(client, gw.endpoint, call{body: getCardBody(freshPerson(t))}, "GetMedicineCardResponse", &answer); err != nil {
			t.Fatalf("GetMedicineCard: %v", err)
		}
	}
	after := gw.scrape(t, client)
	var acquires float64
	for _, db := range []string{"shard1", "shard2"} {
		if max := after[fmt.Sprintf(`medcard_db_pool_max_conns{db=%q}`, db)]; max < 1 {
			t.Errorf("medcard_db_pool_max_conns{db=%q} = %v, want at least 1", db, max)
		}
		acquires += delta(before, after, fmt.Sprintf(`medcard_db_pool_acquires_total{db=%q}`, db))
	}
	if acquires < 20 {
		t.Errorf("medcard_db_pool_acquires_total grew by %v over both databases for 20 uncached reads, want at least 20", acquires)
	}
}
