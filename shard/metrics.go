package shard

import (
	"context"
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

// ReplicationCollector exports, per database (the catalog and every shard
// database), how many standbys must confirm a commit, how many confirm now,
// and each standby's lag. It asks the databases at scrape time, within a
// second; a database that does not answer is left out of that scrape.
type ReplicationCollector struct {
	catalog *Catalog
	store   *Store

	confirmations, confirming, lagBytes, lagSeconds *prometheus.Desc
}

var _ prometheus.Collector = (*ReplicationCollector)(nil)

// NewReplicationCollector returns a collector over catalog's and store's
// databases.
func NewReplicationCollector(catalog *Catalog, store *Store) *ReplicationCollector {
	return &ReplicationCollector{
		catalog: catalog, store: store,
		confirmations: prometheus.NewDesc("medcard_db_sync_confirmations",
			"Standbys that must confirm a commit of the database (its synchronous_standby_names).", []string{"db"}, nil),
		confirming: prometheus.NewDesc("medcard_db_standbys_confirming",
			"Standbys streaming from the database and counted for its commits now.", []string{"db"}, nil),
		lagBytes: prometheus.NewDesc("medcard_db_standby_replay_lag_bytes",
			"How far the standby's replay is behind the database's WAL.", []string{"db", "standby"}, nil),
		lagSeconds: prometheus.NewDesc("medcard_db_standby_replay_lag_seconds",
			"How long the database's last commits took to be replayed on the standby.", []string{"db", "standby"}, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *ReplicationCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.confirmations, c.confirming, c.lagBytes, c.lagSeconds} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *ReplicationCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	states, _ := AllReplication(ctx, c.catalog, c.store) // what answered
	for _, r := range states {
		ch <- prometheus.MustNewConstMetric(c.confirmations, prometheus.GaugeValue, float64(r.Confirmations), r.DB)
		ch <- prometheus.MustNewConstMetric(c.confirming, prometheus.GaugeValue, float64(r.Confirming()), r.DB)
		for _, s := range r.Standbys {
			ch <- prometheus.MustNewConstMetric(c.lagBytes, prometheus.GaugeValue, float64(s.LagBytes), r.DB, s.Name)
			ch <- prometheus.MustNewConstMetric(c.lagSeconds, prometheus.GaugeValue, s.ReplayLag.Seconds(), r.DB, s.Name)
		}
	}
}
