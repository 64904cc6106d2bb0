package shard

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// PoolCollector exports the connection pool of every shard database the
// Store has open, labelled by database name: how many connections are in
// use, and how often and how long requests waited for one. A pool that is
// always empty is the first thing to look at when every request of one
// database slows down at once (for example while its writes wait on a
// checkpoint's fsyncs and hold every connection).
//
// It reads the pools at scrape time, so databases the Store opens later
// (after a map reload) appear without registering anything.
// github.com/IBM/pgxpoolprometheus exports the same statistics but for a
// fixed set of pools given up front, which this Store does not have.
type PoolCollector struct {
	store *Store

	acquired, idle, max     *prometheus.Desc
	acquires, waited, waits *prometheus.Desc
}

var _ prometheus.Collector = (*PoolCollector)(nil)

// NewPoolCollector returns a collector over store's pools.
func NewPoolCollector(store *Store) *PoolCollector {
	desc := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, []string{"db"}, nil)
	}
	return &PoolCollector{
		store:    store,
		acquired: desc("medcard_db_pool_acquired_conns", "Connections of the shard database pool in use."),
		idle:     desc("medcard_db_pool_idle_conns", "Idle connections of the shard database pool."),
		max:      desc("medcard_db_pool_max_conns", "Most connections the shard database pool opens."),
		acquires: desc("medcard_db_pool_acquires_total", "Connections taken from the shard database pool."),
		waited:   desc("medcard_db_pool_waited_acquires_total", "Connections taken from the pool only after waiting, because every connection was in use."),
		waits:    desc("medcard_db_pool_wait_seconds_total", "Time requests spent waiting for a connection of the pool."),
	}
}

// Describe implements prometheus.Collector.
func (c *PoolCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.acquired, c.idle, c.max, c.acquires, c.waited, c.waits} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *PoolCollector) Collect(ch chan<- prometheus.Metric) {
	c.store.mu.Lock()
	defer c.store.mu.Unlock()
	for db, p := range c.store.pools {
		st := p.Stat()
		ch <- prometheus.MustNewConstMetric(c.acquired, prometheus.GaugeValue, float64(st.AcquiredConns()), db)
		ch <- prometheus.MustNewConstMetric(c.idle, prometheus.GaugeValue, float64(st.IdleConns()), db)
		ch <- prometheus.MustNewConstMetric(c.max, prometheus.GaugeValue, float64(st.MaxConns()), db)
		ch <- prometheus.MustNewConstMetric(c.acquires, prometheus.CounterValue, float64(st.AcquireCount()), db)
		ch <- prometheus.MustNewConstMetric(c.waited, prometheus.CounterValue, float64(st.EmptyAcquireCount()), db)
		ch <- prometheus.MustNewConstMetric(c.waits, prometheus.CounterValue, st.EmptyAcquireWaitTime().Seconds(), db)
	}
}

// FenceCollector exports the cache fences: how many this gateway raised
// and, per shard database, how old its view of the generations is. A view
// older than the fence lease means the cache is bypassed for that
// database's cards (its polls fail or lag).
type FenceCollector struct {
	fences       *Fences
	raised, ages *prometheus.Desc
}

var _ prometheus.Collector = (*FenceCollector)(nil)

// NewFenceCollector returns a collector over f.
func NewFenceCollector(f *Fences) *FenceCollector {
	return &FenceCollector{
		fences: f,
		raised: prometheus.NewDesc("medcard_cache_fences_raised_total",
			"Cache fences this gateway raised because a write-through did not land in time.", nil, nil),
		ages: prometheus.NewDesc("medcard_cache_fence_view_age_seconds",
			"Time since the last successful poll of the shard database's cache fences began.", []string{"db"}, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *FenceCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.raised; ch <- c.ages }

// Collect implements prometheus.Collector.
func (c *FenceCollector) Collect(ch chan<- prometheus.Metric) {
	c.fences.mu.Lock()
	defer c.fences.mu.Unlock()
	ch <- prometheus.MustNewConstMetric(c.raised, prometheus.CounterValue, float64(c.fences.raised))
	for db, v := range c.fences.views {
		ch <- prometheus.MustNewConstMetric(c.ages, prometheus.GaugeValue, time.Since(v.polledAt).Seconds(), db)
	}
}
