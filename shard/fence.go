package shard

import (
	"context"
	"strconv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"go.uber.org/zap"

	"github.com/sharedmedcard/gateway/medcard"
)

var _ medcard.CacheFence = (*Fences)(nil)

// Fences implements medcard.CacheFence over the shard databases, and tells
// the card cache the fence generation of every logical shard.
//
// The promise: once Fence returns, no read that starts afterwards, on any
// gateway, is served a cached card entered before the fence. Each gateway
// reads every shard database's generations every lease/4 on a connection of
// its own (so a busy pool cannot delay it) and trusts what it learnt only
// while the poll that learnt it started less than the lease ago; past that
// it bypasses the cache. Fence raises the generation and then waits out the
// lease, so any poll a gateway can still trust began after the raise
// committed and saw it. Both sides measure only durations on their own
// monotonic clocks.
type Fences struct {
	store  *Store
	lease  time.Duration
	settle time.Duration // see Window
	log    *zap.Logger

	mu    sync.Mutex
	views map[string]*fenceView // by shard database
	// pending is, per logical shard, when the last fence this gateway
	// raised is in force everywhere (see Settled).
	pending map[int]time.Time
	raised  int64 // fences raised, for FenceCollector
}

// fenceView is one shard database's generations as a poll that started at
// polledAt found them. Replaced whole, never changed.
type fenceView struct {
	generations map[int]int64
	polledAt    time.Time
}

// NewFences returns the cache fences of store's shard databases, trusted
// for lease. settle is how long after a commit its writer may still be
// settling the cache (the write-through's patience, a round trip and the
// lease; see Window). Run Watch to learn generations; until then the cache
// is bypassed.
func NewFences(store *Store, lease, settle time.Duration, log *zap.Logger) *Fences {
	return &Fences{store: store, lease: lease, settle: settle, log: log, views: map[string]*fenceView{}, pending: map[int]time.Time{}}
}

// trustFor is how long a poll's answer is trusted: a little less than the
// lease, for the drift between two hosts' clocks over that interval and
// the time between taking a poll's start and its snapshot.
func (f *Fences) trustFor() time.Duration { return f.lease * 9 / 10 }

// Scope is the cache scope of person's card (cache.CardsOptions.Scope):
// the key scope from the shard map (the logical shard and the epoch at
// which it last moved, so a move makes every cached card of the shard
// unreachable at once), and the fence generation of the card's logical
// shard, current if the owning database was polled recently.
func (f *Fences) Scope(person medcard.PersonID) (key string, generation int64, current bool) {
	m := f.store.Map()
	shard := Of(string(person))
	key = "s" + strconv.Itoa(shard) + "e" + strconv.FormatInt(m.Moved[shard], 10)
	f.mu.Lock()
	v := f.views[m.Owner[shard]]
	f.mu.Unlock()
	if v != nil {
		generation = v.generations[shard]
		current = time.Since(v.polledAt) < f.trustFor()
	}
	return key, generation, current
}

// raiseFenceSQL raises a logical shard's generation; raises of different
// shards do not wait for each other.
const raiseFenceSQL = `
INSERT INTO cache_fences (shard, generation) VALUES ($1, 1)
ON CONFLICT (shard) DO UPDATE SET generation = cache_fences.generation + 1`

// Fence implements medcard.CacheFence.
func (f *Fences) Fence(ctx context.Context, person medcard.PersonID) error {
	r, err := f.store.route(person)
	if err != nil {
		return medcard.WrapError(medcard.FaultUnavailable, err, "the card's database is unavailable")
	}
	if _, err := r.pool.Exec(ctx, raiseFenceSQL, r.shard); err != nil {
		return translate(err, false, "raise cache fence")
	}
	inForce := time.Now().Add(f.lease)
	f.mu.Lock()
	f.raised++
	if inForce.After(f.pending[r.shard]) {
		f.pending[r.shard] = inForce
	}
	f.mu.Unlock()
	f.log.Info("cache fence raised", zap.Int("shard", r.shard), zap.String("db", r.db))
	return sleepUntil(ctx, inForce)
}

// Settled implements medcard.CacheFence.
func (f *Fences) Settled(ctx context.Context, person medcard.PersonID) {
	shard := Of(string(person))
	f.mu.Lock()
	until, ok := f.pending[shard]
	if ok && !time.Now().Before(until) {
		delete(f.pending, shard)
		ok = false
	}
	f.mu.Unlock()
	if ok {
		_ = sleepUntil(ctx, until)
	}
}

// Window implements medcard.CacheFence. A card's age is measured by the
// database's clock (Card.ChangedAgo), so no two hosts' clocks are
// compared.
func (f *Fences) Window() time.Duration { return f.settle }

func sleepUntil(ctx context.Context, t time.Time) error {
	d := time.Until(t)
	if d <= 0 {
		return nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		return medcard.WrapError(medcard.FaultUnavailable, ctx.Err(), "the cache fence was not in force in time")
	}
}

// Watch polls the generations of every shard database in the map, each on
// a connection of its own, until ctx ends.
func (f *Fences) Watch(ctx context.Context) {
	interval := f.lease / 4
	var wg sync.WaitGroup
	defer wg.Wait()
	watching := map[string]bool{}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		for name, dsn := range f.store.Map().Databases {
			if !watching[name] {
				watching[name] = true
				wg.Add(1)
				go func() {
					defer wg.Done()
					f.watchDatabase(ctx, name, dsn, interval)
				}()
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C: // databases added to the map
		}
	}
}

// watchDatabase polls one shard database every interval, reconnecting
// after an error.
func (f *Fences) watchDatabase(ctx context.Context, name, dsn string, interval time.Duration) {
	var conn *pgx.Conn
	defer func() {
		if conn != nil {
			conn.Close(context.Background())
		}
	}()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	failing := false
	for {
		if conn == nil {
			cfg, err := pgx.ParseConfig(dsn)
			if err == nil {
				cfg.ConnectTimeout = f.lease
				conn, err = pgx.ConnectConfig(ctx, cfg)
			}
			if err != nil {
				conn = nil
			}
		}
		if conn != nil {
			if err := f.poll(ctx, conn, name, interval); err != nil {
				if !failing && ctx.Err() == nil {
					f.log.Warn("cache fence poll failed; the cache is bypassed for this database until it answers", zap.String("db", name), zap.Error(err))
				}
				failing = true
				conn.Close(context.Background())
				conn = nil
			} else if failing {
				f.log.Info("cache fence poll answers again", zap.String("db", name))
				failing = false
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// poll reads one database's generations.
func (f *Fences) poll(ctx context.Context, conn *pgx.Conn, name string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, max(timeout, f.lease))
	defer cancel()
	started := time.Now()
	rows, err := conn.Query(ctx, `SELECT shard, generation FROM cache_fences`)
	if err != nil {
		return err
	}
	gens := map[int]int64{}
	var shard int
	var gen int64
	if _, err := pgx.ForEachRow(rows, []any{&shard, &gen}, func() error { gens[shard] = gen; return nil }); err != nil {
		return err
	}
	f.mu.Lock()
	f.views[name] = &fenceView{generations: gens, polledAt: started}
	f.mu.Unlock()
	return nil
}
