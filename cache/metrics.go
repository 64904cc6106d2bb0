package cache

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sony/gobreaker/v2"
)

// cardMetrics are the card cache's Prometheus metrics. Labels name
// outcomes only, never a person or a key.
type cardMetrics struct {
	reads   *prometheus.CounterVec // result: hit, miss, error, breaker_open
	peeks   *prometheus.CounterVec // result: hit, miss, error, breaker_open
	fills   *prometheus.CounterVec // result: stored, stale_refused, raised, floor_set, unchanged, held, not_held, error, breaker_open
	writes  *prometheus.CounterVec // result: stored, deleted, error
	breaker prometheus.Gauge       // 0 closed, 1 half-open, 2 open
}

func newCardMetrics(reg prometheus.Registerer) *cardMetrics {
	m := &cardMetrics{
		reads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "medcard_cache_reads_total", Help: "Card cache look-ups by result.",
		}, []string{"result"}),
		peeks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "medcard_cache_write_bases_total", Help: "Card cache look-ups for the base of a write, by result (hit: the write tried that version first; the database's compare-and-set decides).",
		}, []string{"result"}),
		fills: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "medcard_cache_fills_total", Help: "Cards offered to the cache after a database read, by result (stale_refused: a fill found a newer card or its lease revoked; raised: an older cached card was replaced in place without a lease; floor_set: a pending fill may no longer store an older card; unchanged: a read without a lease found nothing older; held, not_held: a recently changed card is or is not held).",
		}, []string{"result"}),
		writes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "medcard_cache_write_through_total", Help: "Committed cards written through to the cache, by result (deleted: the write-through failed and the entry was dropped).",
		}, []string{"result"}),
		breaker: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "medcard_cache_breaker_state", Help: "State of the Redis circuit breaker: 0 closed, 1 half-open, 2 open.",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.reads, m.peeks, m.fills, m.writes, m.breaker)
	}
	return m
}

// count records a failed call, telling an open breaker (no Redis call was
// made) from a Redis error.
func (m *cardMetrics) count(v *prometheus.CounterVec, err error, label string) {
	if errors.Is(err, gobreaker.ErrOpenState) || errors.Is(err, gobreaker.ErrTooManyRequests) {
		label = "breaker_open"
	}
	v.WithLabelValues(label).Inc()
}
