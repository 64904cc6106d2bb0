package shard

import (
	"context"
	"sync"
	"time"

	"go.uber.org/zap"
)

// coalescedLoads coalesces the store's map reloads. When a shard moves,
// every request on it that went to the old database asks for a reload at
// about the same time; loaded one by one they queued for the catalog's few
// connections, and with a slow catalog a request waited seconds. A caller
// needs a map read after it asked (a database has just refused a shard),
// never one read before, so callers that arrive while a load runs share
// the one load that starts when it ends: at most one load runs, and one
// waits. (golang.org/x/sync/singleflight would join the running load,
// which may have read the map before the caller's refusal.)
type coalescedLoads struct {
	load func(context.Context) error

	mu      sync.Mutex
	running bool
	next    *sharedLoad // not started yet; shared by every caller since the running load began
}

// sharedLoad is one load, shared by the callers that joined it.
type sharedLoad struct {
	done chan struct{}
	err  error
}

// mapLoadTimeout bounds one load of the map, which runs for every caller
// that joined it, whatever becomes of the caller's own context.
const mapLoadTimeout = 10 * time.Second

// do runs a load that starts after do was called, or joins one that has
// not started yet, and returns its error.
func (c *coalescedLoads) do(ctx context.Context) error {
	c.mu.Lock()
	l := c.next
	if l == nil {
		l = &sharedLoad{done: make(chan struct{})}
		c.next = l
		if !c.running {
			c.startNext()
		}
	}
	c.mu.Unlock()
	select {
	case <-l.done:
		return l.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// startNext starts the waiting load; c.mu is held.
func (c *coalescedLoads) startNext() {
	l := c.next
	c.next, c.running = nil, true
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), mapLoadTimeout)
		l.err = c.load(ctx)
		cancel()
		close(l.done)
		c.mu.Lock()
		c.running = false
		if c.next != nil {
			c.startNext()
		}
		c.mu.Unlock()
	}()
}

// Reload reads the shard map from the catalog and opens pools for databases
// it has not seen. The map is read after Reload was called; concurrent
// calls share one read (coalescedLoads).
func (s *Store) Reload(ctx context.Context) error { return s.loads.do(ctx) }

// loadMap is one read of the map; the store routes by it if it is not older
// than the map it has.
func (s *Store) loadMap(ctx context.Context) error {
	m, err := s.catalog.LoadMap(ctx)
	if err != nil {
		return err
	}
	for name, dsn := range m.Databases {
		if _, err := s.pool(name, dsn); err != nil {
			return err
		}
	}
	// Two reloads may finish out of order; never go back to an older map.
	for {
		old := s.current.Load()
		if old != nil && old.Epoch > m.Epoch {
			return nil
		}
		if s.current.CompareAndSwap(old, m) {
			if old == nil || old.Epoch != m.Epoch {
				s.log.Info("shard map loaded", zap.Int64("epoch", m.Epoch), zap.Int("databases", len(m.Databases)))
				close(*s.newerMap.Swap(new(make(chan struct{}))))
			}
			return nil
		}
	}
}
