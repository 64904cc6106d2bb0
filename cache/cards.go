package cache

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/sony/gobreaker/v2"
	"go.uber.org/zap"

	"github.com/sharedmedcard/gateway/medcard"
)

// Cards keeps whole medicine cards in Redis for pure reads. Every entry
// carries its card version, and a write into the cache never replaces a
// newer version with an older one: the comparison runs inside Redis
// (setIfNewer), so a slow fill that read version N cannot overwrite N+1
// written through meanwhile.
//
// Keys are card:{<scope>}:<hash of the person>. The scope comes from the
// shard map (the logical shard and the epoch at which it last moved), so
// after a shard move every old entry of that shard is bypassed at once and
// expires by its TTL. The person is hashed so that no CPR number appears in
// Redis keys (MONITOR, slow logs, key dumps).
//
// Entries are not replicated: a replica holds no cards, so a replica that
// Sentinel promotes starts with an empty cache. A replicated entry could be
// older than a write acknowledged while the primary was down (its
// write-through had nowhere to go) or than a write-through the primary
// acknowledged just before it died, and the promoted replica would serve it
// until the person's next write.
type Cards struct {
	rdb     redis.Cmdable
	ttl     time.Duration
	timeout time.Duration
	scope   func(person medcard.PersonID) string
	breaker *gobreaker.CircuitBreaker[any]
	metrics *cardMetrics
}

var _ medcard.CardCache = (*Cards)(nil)

// CardsOptions configures a card cache.
type CardsOptions struct {
	// TTL bounds how long an entry lives; it also bounds how long a card
	// may be served stale after a write whose write-through and delete
	// both failed.
	TTL time.Duration
	// Timeout bounds every Redis call; keep it short: a slow Redis must
	// cost a request little more than a miss.
	Timeout time.Duration
	// Scope names the key scope of a person's card (see Cards).
	Scope func(person medcard.PersonID) string
	// BreakAfter consecutive failures open the breaker; it stays open for
	// BreakFor, then lets one call through to probe.
	BreakAfter uint32
	BreakFor   time.Duration
	// Registerer receives the cache's metrics; nil registers none.
	Registerer prometheus.Registerer
	// Log receives one line per breaker state change; nil logs nothing.
	Log *zap.Logger
}

// NewCards returns a card cache over rdb.
func NewCards(rdb redis.Cmdable, o CardsOptions) *Cards {
	if o.BreakAfter == 0 {
		o.BreakAfter = 5
	}
	if o.BreakFor == 0 {
		o.BreakFor = 2 * time.Second
	}
	if o.Log == nil {
		o.Log = zap.NewNop()
	}
	c := &Cards{rdb: rdb, ttl: o.TTL, timeout: o.Timeout, scope: o.Scope, metrics: newCardMetrics(o.Registerer)}
	c.breaker = gobreaker.NewCircuitBreaker[any](gobreaker.Settings{
		Name:        "redis-cards",
		MaxRequests: 1,
		Timeout:     o.BreakFor,
		ReadyToTrip: func(counts gobreaker.Counts) bool { return counts.ConsecutiveFailures >= o.BreakAfter },
		// A caller that gave up is not Redis failing.
		IsSuccessful: func(err error) bool { return err == nil || errors.Is(err, context.Canceled) },
		OnStateChange: func(_ string, from, to gobreaker.State) {
			c.metrics.breaker.Set(float64(to))
			o.Log.Warn("redis breaker state changed", zap.String("from", from.String()), zap.String("to", to.String()))
		},
	})
	return c
}

// Get implements medcard.CardCache: a Redis failure, an open breaker or an
// unreadable entry is a miss.
func (c *Cards) Get(ctx context.Context, person medcard.PersonID) (*medcard.Card, bool) {
	var card *medcard.Card
	var ok bool
	_, err := c.breaker.Execute(func() (any, error) {
		var err error
		card, ok, err = c.lookup(ctx, person)
		return nil, err
	})
	switch {
	case err != nil:
		c.metrics.count(c.metrics.reads, err, "error")
		return nil, false
	case ok:
		c.metrics.reads.WithLabelValues("hit").Inc()
	default:
		c.metrics.reads.WithLabelValues("miss").Inc()
	}
	return card, ok
}

// Fill implements medcard.CardCache.
func (c *Cards) Fill(ctx context.Context, person medcard.PersonID, card *medcard.Card) {
	var stored bool
	_, err := c.breaker.Execute(func() (any, error) {
		var err error
		stored, err = c.store(ctx, person, card)
		return nil, err
	})
	switch {
	case err != nil:
		c.metrics.count(c.metrics.fills, err, "error")
	case stored:
		c.metrics.fills.WithLabelValues("stored").Inc()
	default:
		c.metrics.fills.WithLabelValues("stale_refused").Inc()
	}
}

// Written implements medcard.CardCache: it writes the committed card
// through, and if that fails tries to drop the entry so no older version
// is served. Both are tried even with the breaker open: a stale entry is
// worse than a slow write.
func (c *Cards) Written(ctx context.Context, person medcard.PersonID, card *medcard.Card) {
	if _, err := c.store(ctx, person, card); err == nil {
		c.metrics.writes.WithLabelValues("stored").Inc()
		return
	}
	if err := c.drop(ctx, person); err == nil {
		c.metrics.writes.WithLabelValues("deleted").Inc()
		return
	}
	c.metrics.writes.WithLabelValues("error").Inc()
}

// setIfNewer stores a card only if the entry holds no card or an older
// version. KEYS[1] the entry; ARGV: version, encoded card, TTL in ms.
// Returns 1 when stored, 0 when the entry already had that version or a
// newer one. Its writes reach neither replicas nor the AOF (see Cards).
var setIfNewer = redis.NewScript(`
redis.set_repl(redis.REPL_NONE)
local current = redis.call('HGET', KEYS[1], 'v')
if current and tonumber(current) >= tonumber(ARGV[1]) then
  return 0
end
redis.call('HSET', KEYS[1], 'v', ARGV[1], 'c', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
`)

func (c *Cards) key(person medcard.PersonID) string {
	sum := sha256.Sum256([]byte(person))
	return "card:{" + c.scope(person) + "}:" + hex.EncodeToString(sum[:16])
}

// lookup returns the cached card of person, or ok false on a miss.
func (c *Cards) lookup(ctx context.Context, person medcard.PersonID) (card *medcard.Card, ok bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	vals, err := c.rdb.HMGet(ctx, c.key(person), "v", "c").Result()
	if err != nil {
		return nil, false, fmt.Errorf("cache get: %w", err)
	}
	body, isString := vals[1].(string)
	if !isString {
		return nil, false, nil
	}
	card = &medcard.Card{}
	if err := medcard.DecodeCard([]byte(body), card); err != nil {
		return nil, false, fmt.Errorf("cache entry unreadable: %w", err)
	}
	if v, _ := vals[0].(string); v != strconv.FormatInt(card.Version, 10) {
		return nil, false, errors.New("cache entry version does not match its card")
	}
	card.PersonID = person
	return card, true, nil
}

// store stores card unless the cache holds the same or a newer version,
// and reports whether it stored it.
func (c *Cards) store(ctx context.Context, person medcard.PersonID, card *medcard.Card) (bool, error) {
	body, err := medcard.EncodeCard(card)
	if err != nil {
		return false, fmt.Errorf("cache put: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	stored, err := setIfNewer.Run(ctx, c.rdb, []string{c.key(person)}, card.Version, body, c.ttl.Milliseconds()).Int()
	if err != nil {
		return false, fmt.Errorf("cache put: %w", err)
	}
	return stored == 1, nil
}

// drop deletes the cached card of person.
func (c *Cards) drop(ctx context.Context, person medcard.PersonID) error {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	if err := c.rdb.Del(ctx, c.key(person)).Err(); err != nil {
		return fmt.Errorf("cache delete: %w", err)
	}
	return nil
}
