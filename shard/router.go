package shard

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/zap"

	"github.com/sharedmedcard/gateway/medcard"
)

// Store implements medcard.Store over the shard databases. It routes every
// call by the person's logical shard through the current shard map, and
// reloads the map when a database says it no longer owns a shard.
type Store struct {
	catalog *Catalog
	log     *zap.Logger
	poolCfg func(*pgxpool.Config)

	current atomic.Pointer[Map]

	mu    sync.Mutex
	pools map[string]*pgxpool.Pool // by database name
}

// Open loads the shard map from catalog and connects to every shard
// database. configure, if not nil, adjusts each pool's configuration.
func Open(ctx context.Context, catalog *Catalog, log *zap.Logger, configure func(*pgxpool.Config)) (*Store, error) {
	s := &Store{catalog: catalog, log: log, poolCfg: configure, pools: map[string]*pgxpool.Pool{}}
	if err := s.Reload(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// Close closes every pool.
func (s *Store) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for name, p := range s.pools {
		p.Close()
		delete(s.pools, name)
	}
}

// Map returns the shard map the store routes by.
func (s *Store) Map() *Map { return s.current.Load() }

// Reload reads the shard map from the catalog and opens pools for databases
// it has not seen.
func (s *Store) Reload(ctx context.Context) error {
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
			}
			return nil
		}
	}
}

// Watch polls the catalog epoch every interval and reloads the map when it
// changed, until ctx ends.
func (s *Store) Watch(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		epoch, err := s.catalog.Epoch(ctx)
		if err != nil {
			if ctx.Err() == nil {
				s.log.Warn("shard map poll failed", zap.Error(err))
			}
			continue
		}
		if m := s.current.Load(); m != nil && m.Epoch == epoch {
			continue
		}
		if err := s.Reload(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("shard map reload failed", zap.Error(err))
		}
	}
}

// Ping checks that every shard database answers.
func (s *Store) Ping(ctx context.Context) error {
	m := s.current.Load()
	for name, dsn := range m.Databases {
		p, err := s.pool(name, dsn)
		if err != nil {
			return err
		}
		if err := p.Ping(ctx); err != nil {
			return fmt.Errorf("shard database %s: %w", name, err)
		}
	}
	return nil
}

func (s *Store) pool(name, dsn string) (*pgxpool.Pool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p, ok := s.pools[name]; ok {
		return p, nil
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("shard database %s: bad DSN: %w", name, err)
	}
	if s.poolCfg != nil {
		s.poolCfg(cfg)
	}
	if seededBugNoFence {
		cfg.ConnConfig.RuntimeParams["session_replication_role"] = "replica"
	}
	p, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		return nil, fmt.Errorf("shard database %s: %w", name, err)
	}
	s.pools[name] = p
	return p, nil
}

// route is where one call for a person goes.
type route struct {
	shard int
	db    string
	pool  *pgxpool.Pool
}

func (s *Store) route(person medcard.PersonID) (route, error) {
	m := s.current.Load()
	shard := Of(string(person))
	db := m.Owner[shard]
	p, err := s.pool(db, m.Databases[db])
	return route{shard: shard, db: db, pool: p}, err
}

// frozenWait bounds how long a write waits out a shard frozen for a move.
const (
	frozenWait  = 2 * time.Second
	frozenRetry = 20 * time.Millisecond
)

// onShard runs fn against the database that owns person's shard. When that
// database refuses the shard (the map was stale) it reloads the map and
// tries again once; while the shard is frozen for a move it waits and
// retries for up to frozenWait.
func (s *Store) onShard(ctx context.Context, person medcard.PersonID, fn func(route) error) error {
	reloaded := false
	deadline := time.Now().Add(frozenWait)
	for {
		r, err := s.route(person)
		if err != nil {
			return medcard.WrapError(medcard.FaultUnavailable, err, "the card's database is unavailable")
		}
		medcard.NoteShard(ctx, r.shard, r.db)
		err = fn(r)
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) {
			return err
		}
		switch pgErr.Code {
		case sqlstateShardNotOwned:
			if reloaded {
				return medcard.WrapError(medcard.FaultUnavailable, err, "the card's shard is moving; resend")
			}
			reloaded = true
			s.log.Info("shard not owned where the map said; reloading map", zap.Int("shard", r.shard), zap.String("db", r.db))
			if err := s.Reload(ctx); err != nil {
				return medcard.WrapError(medcard.FaultUnavailable, err, "the shard map is unavailable")
			}
		case sqlstateShardFrozen:
			if time.Now().After(deadline) {
				return medcard.WrapError(medcard.FaultUnavailable, err, "the card's shard is moving; resend")
			}
			select {
			case <-ctx.Done():
				return medcard.WrapError(medcard.FaultUnavailable, ctx.Err(), "the card's shard is moving; resend")
			case <-time.After(frozenRetry):
			}
		default:
			return err
		}
	}
}
