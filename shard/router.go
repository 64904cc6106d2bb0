package shard

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
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
	loads   coalescedLoads // of loadMap
	// newerMap is closed, and replaced, when the store routes by a map of
	// a newer epoch: writes waiting out a frozen shard wake on it.
	newerMap atomic.Pointer[chan struct{}]

	mu    sync.Mutex
	pools map[string]*pgxpool.Pool // by database name

	unconfirmed *unconfirmedCommits // writes whose wait for synchronous standbys was cancelled
	commitBound time.Duration       // of every write; 0: the caller's deadline only
	// requiredConfirmations is --sync-standbys: every write first checks,
	// in its own transaction, that its commit will wait for that many
	// standbys (requireConfirmationsSQL); 0: no check.
	requiredConfirmations int
}

// Open loads the shard map from catalog and connects to every shard
// database. configure, if not nil, adjusts each pool's configuration.
func Open(ctx context.Context, catalog *Catalog, log *zap.Logger, configure func(*pgxpool.Config)) (*Store, error) {
	s := &Store{catalog: catalog, log: log, poolCfg: configure, pools: map[string]*pgxpool.Pool{}, unconfirmed: newUnconfirmedCommits()}
	s.loads.load = s.loadMap
	s.newerMap.Store(new(make(chan struct{})))
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

// Watch keeps the map the store routes by current until ctx ends. On a
// catalog connection of its own it listens for the epochs the catalog
// announces (channel shard_map) and reloads the map as soon as a newer one
// arrives. Every interval it also reads the epoch itself, so a missed
// notification or a lost connection delays a change by at most one
// interval; a lost listener is connected again at the next poll, and until
// then the poll reads the epoch through the catalog's pool.
func (s *Store) Watch(ctx context.Context, interval time.Duration) {
	w := &mapWatcher{store: s, timeout: max(interval, minWatchTimeout)}
	defer w.hangUp()
	for {
		w.listen(ctx)
		w.poll(ctx)
		next := time.Now().Add(interval)
		for w.conn != nil && ctx.Err() == nil && time.Now().Before(next) {
			w.await(ctx, next)
		}
		if ctx.Err() != nil || sleepUntil(ctx, next) != nil {
			return
		}
	}
}

// minWatchTimeout is the least time Watch gives the catalog to connect or
// answer a poll, however short the poll interval.
const minWatchTimeout = time.Second

// mapWatcher is the state of one Watch: the listener's connection (nil
// while there is none) and whether the listener is failing, so that a
// failure is logged once and not every interval.
type mapWatcher struct {
	store   *Store
	timeout time.Duration
	conn    *pgx.Conn
	failing bool
}

// listen connects the listener if it is not connected.
func (w *mapWatcher) listen(ctx context.Context) {
	if w.conn != nil {
		return
	}
	connectCtx, cancel := context.WithTimeout(ctx, w.timeout)
	defer cancel()
	conn, err := w.store.catalog.listenMap(connectCtx)
	if err != nil {
		w.fail(ctx, err)
		return
	}
	w.conn = conn
	if w.failing {
		w.failing = false
		w.store.log.Info("shard map listener connected again")
	}
}

// poll reads the epoch, on the listener's connection when there is one
// (which also proves that connection alive) and else through the catalog's
// pool, and reloads the map if the epoch is newer.
func (w *mapWatcher) poll(ctx context.Context) {
	if w.conn != nil {
		epoch, err := w.readEpoch(ctx, w.conn)
		if err == nil {
			w.store.reloadIfNewer(ctx, epoch)
			return
		}
		w.fail(ctx, err)
	}
	epoch, err := w.readEpoch(ctx, w.store.catalog.pool)
	if err != nil {
		if ctx.Err() == nil {
			w.store.log.Warn("shard map poll failed", zap.Error(err))
		}
		return
	}
	w.store.reloadIfNewer(ctx, epoch)
}

// readEpoch reads the epoch through q, waiting for its answer no longer
// than the watch's timeout.
func (w *mapWatcher) readEpoch(ctx context.Context, q execer) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, w.timeout)
	defer cancel()
	return readEpoch(ctx, q)
}

// await waits until next at most for an epoch announced on the listener's
// connection, and reloads the map if the epoch is newer.
func (w *mapWatcher) await(ctx context.Context, next time.Time) {
	waitCtx, cancel := context.WithDeadline(ctx, next)
	n, err := w.conn.WaitForNotification(waitCtx)
	cancel()
	switch {
	case err == nil:
		epoch, err := strconv.ParseInt(n.Payload, 10, 64)
		if err != nil {
			epoch = math.MaxInt64 // not an epoch: read the map to be sure
		}
		w.store.reloadIfNewer(ctx, epoch)
	case ctx.Err() != nil:
		// Watch ends.
	case waitCtx.Err() != nil && !w.conn.IsClosed():
		// The poll is due; the connection is fine.
	default:
		w.fail(ctx, err)
	}
}

// fail drops the listener's connection after err and logs the first
// failure of a run of them.
func (w *mapWatcher) fail(ctx context.Context, err error) {
	w.hangUp()
	if ctx.Err() != nil {
		return
	}
	if !w.failing {
		w.store.log.Warn("shard map listener failed; polling the epoch until it is back", zap.Error(err))
	}
	w.failing = true
}

// hangUp closes the listener's connection, if any.
func (w *mapWatcher) hangUp() {
	if w.conn == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), w.timeout)
	defer cancel()
	w.conn.Close(ctx)
	w.conn = nil
}

// reloadIfNewer reloads the map when epoch is newer than the map the store
// routes by.
func (s *Store) reloadIfNewer(ctx context.Context, epoch int64) {
	if m := s.current.Load(); m != nil && m.Epoch >= epoch {
		return
	}
	if err := s.Reload(ctx); err != nil && ctx.Err() == nil {
		s.log.Warn("shard map reload failed", zap.Error(err))
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
	s.unconfirmed.configurePool(cfg)
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

// route is where one call for a person goes, by the map of epoch epoch.
type route struct {
	shard int
	db    string
	pool  *pgxpool.Pool
	epoch int64
}

func (s *Store) route(person medcard.PersonID) (route, error) {
	m := s.current.Load()
	shard := Of(string(person))
	db := m.Owner[shard]
	p, err := s.pool(db, m.Databases[db])
	return route{shard: shard, db: db, pool: p, epoch: m.Epoch}, err
}

// frozenWait bounds how long a write waits out a shard frozen for a move.
const (
	frozenWait  = 2 * time.Second
	frozenRetry = 20 * time.Millisecond
)

// onShard runs fn against the database that owns person's shard. When that
// database refuses the shard (the map was stale) it reloads the map and
// tries again where the newer map says; while the shard is frozen for a
// move it waits and retries for up to frozenWait. A refusal the catalog
// cannot explain with a newer map (a move between its steps) is a
// retryable fault at once.
//
// One reload is not always enough: a gateway that hears of maps late (a
// slow catalog) can reload while the shard is already on its next move,
// and meet that move's freeze and release at the database the reload
// named.
func (s *Store) onShard(ctx context.Context, person medcard.PersonID, fn func(route) error) error {
	deadline := time.Now().Add(frozenWait)
	for {
		newerMap := *s.newerMap.Load() // before the route, so no flip is missed
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
			s.log.Info("shard not owned where the map said; reloading map", zap.Int("shard", r.shard), zap.String("db", r.db))
			if err := s.Reload(ctx); err != nil {
				return medcard.WrapError(medcard.FaultUnavailable, err, "the shard map is unavailable")
			}
			if s.current.Load().Epoch <= r.epoch {
				return medcard.WrapError(medcard.FaultUnavailable, err, "the card's shard is moving; resend")
			}
		case sqlstateShardFrozen:
			if time.Now().After(deadline) {
				return medcard.WrapError(medcard.FaultUnavailable, err, "the card's shard is moving; resend")
			}
			// Until the next try, or at once when the map flips (the
			// mover's flip is announced; the shard is most likely at its
			// new database then).
			select {
			case <-ctx.Done():
				return medcard.WrapError(medcard.FaultUnavailable, ctx.Err(), "the card's shard is moving; resend")
			case <-time.After(frozenRetry):
			case <-newerMap:
			}
		default:
			return err
		}
	}
}
