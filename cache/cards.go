package cache

import (
	"context"
	"crypto/rand"
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

// Cards keeps whole medicine cards in Redis for pure reads. An entry is a
// hash of the card (c), its version (v), the cache fence generation it was
// entered under (g) and, while the card is missing, a fill lease (l).
//
// Three rules keep a cached card from ever hiding an acknowledged write:
//   - A write through never replaces a newer version with an older one, and
//     it revokes any fill lease (writeThrough). The comparison runs inside
//     Redis, so a slow write-through of N cannot overwrite N+1.
//   - A fill lands only with the lease a miss was granted before the
//     database read, and only if no write reached the entry since
//     (Facebook's memcache leases): a fill that read the primary before a
//     write cannot land after that write's write-through. A Redis that
//     restarted empty or was failed over holds no lease, so fills begun
//     before are refused.
//   - A card is served only if it was entered under the generation the
//     reader knows for its shard (see medcard.CacheFence): when a write
//     could not reach Redis, its shard's generation is raised and every
//     older entry of the shard stops being served.
//   - A card read from the primary without a lease never creates an entry,
//     but it raises an older cached card to itself in place, and it sets a
//     floor under a pending fill (v without c) so that no fill of an older
//     version can land (fillOrRaise). A writer stopped between its commit
//     and its write-through then cannot leave an older card to be served
//     after a read that answered the newer one.
//
// Keys are card:{<scope>}:<hash of the person>. The scope comes from the
// shard map (the logical shard and the epoch at which it last moved), so
// after a shard move every old entry of that shard is bypassed at once and
// expires by its TTL. The person is hashed so that no CPR number appears in
// Redis keys (MONITOR, slow logs, key dumps).
//
// Entries are not replicated: a replica holds no cards, so a replica that
// Sentinel promotes starts with an empty cache (and no leases). A
// replicated entry could be older than a write acknowledged while the
// primary was down, and the promoted replica would serve it.
type Cards struct {
	rdb      redis.Cmdable
	ttl      time.Duration
	leaseTTL time.Duration
	timeout  time.Duration
	scope    func(person medcard.PersonID) (key string, generation int64, current bool)
	breaker  *gobreaker.CircuitBreaker[any]
	metrics  *cardMetrics
	// decoded spares a hit the decoding of bytes it decoded before
	// (decoded.go); nil: every hit decodes.
	decoded *decodedCards
}

var _ medcard.CardCache = (*Cards)(nil)

// CardsOptions configures a card cache.
type CardsOptions struct {
	// TTL bounds how long an entry lives.
	TTL time.Duration
	// Timeout bounds every Redis call, and all the Redis calls of one
	// request together when the request's context carries a budget (see
	// WithBudget); keep it short: a slow Redis must cost a request little
	// more than a miss.
	Timeout time.Duration
	// Scope tells what the shard map and the cache fences say of a
	// person's card: the key scope, the fence generation of its shard, and
	// whether the gateway knows that generation to be current.
	Scope func(person medcard.PersonID) (key string, generation int64, current bool)
	// BreakAfter consecutive failures open the breaker; it stays open for
	// BreakFor, then lets one call through to probe.
	BreakAfter uint32
	BreakFor   time.Duration
	// Registerer receives the cache's metrics; nil registers none.
	Registerer prometheus.Registerer
	// Log receives one line per breaker state change; nil logs nothing.
	Log *zap.Logger
	// DecodedBytes bounds the card bodies whose decoding is kept for the
	// next hit on the same bytes (decoded.go); 0: 8 MiB, negative: none.
	DecodedBytes int64
}

// leaseTTL bounds how long a fill lease blocks other fills of a card whose
// filler died; a fill comes within the shared read's flightTimeout (5 s).
const leaseTTL = 5 * time.Second

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
	c := &Cards{rdb: rdb, ttl: o.TTL, leaseTTL: leaseTTL, timeout: o.Timeout, scope: o.Scope, metrics: newCardMetrics(o.Registerer)}
	switch {
	case o.DecodedBytes == 0:
		c.decoded = newDecodedCards(defaultDecodedBytes)
	case o.DecodedBytes > 0:
		c.decoded = newDecodedCards(o.DecodedBytes)
	}
	c.breaker = gobreaker.NewCircuitBreaker[any](gobreaker.Settings{
		Name:        "redis-cards",
		MaxRequests: 1,
		Timeout:     o.BreakFor,
		ReadyToTrip: func(counts gobreaker.Counts) bool { return counts.ConsecutiveFailures >= o.BreakAfter },
		// A caller that gave up, or whose request spent its Redis budget,
		// is not Redis failing.
		IsSuccessful: func(err error) bool {
			return err == nil || errors.Is(err, context.Canceled) || errors.Is(err, errBudgetSpent)
		},
		OnStateChange: func(_ string, from, to gobreaker.State) {
			c.metrics.breaker.Set(float64(to))
			o.Log.Warn("redis breaker state changed", zap.String("from", from.String()), zap.String("to", to.String()))
		},
	})
	return c
}

// Slot implements medcard.CardCache.
func (c *Cards) Slot(person medcard.PersonID) medcard.CacheSlot {
	scope, generation, current := c.scope(person)
	sum := sha256.Sum256([]byte(person))
	return medcard.CacheSlot{
		Key:        "card:{" + scope + "}:" + hex.EncodeToString(sum[:16]),
		Generation: generation,
		Usable:     current,
	}
}

// Get implements medcard.CardCache: a Redis failure, an open breaker or an
// unreadable entry is a miss without a lease.
func (c *Cards) Get(ctx context.Context, slot *medcard.CacheSlot) *medcard.Card {
	if !slot.Usable {
		c.metrics.reads.WithLabelValues("fence_unknown").Inc()
		return nil
	}
	var card *medcard.Card
	_, err := c.execute(ctx, func(ctx context.Context) error {
		var err error
		card, slot.Lease, err = c.lookup(ctx, *slot)
		return err
	})
	switch {
	case err != nil:
		c.metrics.count(c.metrics.reads, err, "error")
		return nil
	case card != nil:
		c.metrics.reads.WithLabelValues("hit").Inc()
	default:
		c.metrics.reads.WithLabelValues("miss").Inc()
	}
	return card
}

// Peek implements medcard.CardCache: one HMGET, no lease; like Get, a
// failure is a miss.
func (c *Cards) Peek(ctx context.Context, slot medcard.CacheSlot) *medcard.Card {
	if !slot.Usable {
		return nil
	}
	var card *medcard.Card
	_, err := c.execute(ctx, func(ctx context.Context) error {
		var err error
		card, err = c.peek(ctx, slot, nil)
		return err
	})
	result := "hit"
	switch {
	case err != nil:
		c.metrics.count(c.metrics.peeks, err, "error")
		return nil
	case card == nil:
		result = "miss"
	}
	c.metrics.peeks.WithLabelValues(result).Inc()
	return card
}

// Fill implements medcard.CardCache: fillOrRaise with the slot's lease.
// A fill whose lease was revoked still raises an older card in place.
func (c *Cards) Fill(ctx context.Context, slot medcard.CacheSlot, card *medcard.Card) {
	if slot.Lease == "" || !slot.Usable {
		return
	}
	c.fillOrRaise(ctx, slot.Lease, slot, card, "stale_refused")
}

// Raise implements medcard.CardCache: fillOrRaise without a lease.
func (c *Cards) Raise(ctx context.Context, slot medcard.CacheSlot, card *medcard.Card) bool {
	return c.fillOrRaise(ctx, "", slot, card, "unchanged")
}

// Retention implements medcard.CardCache: the TTL plus twice the lease
// time. A card older than a change of it is stored at the latest by a fill
// whose lease was granted before the change (the fill comes within the
// lease time: medcard's shared read is bounded by as much) or by the
// write-through of a write committed before it (within its request's Redis
// budget, one cache timeout), and then lives for the TTL: neither a raise
// nor a lease extends an entry's TTL. The second lease time is margin, for
// a command held up in the network and for the rates of the database's,
// Redis's and the gateways' clocks.
func (c *Cards) Retention() time.Duration { return c.ttl + 2*c.leaseTTL }

// fillOrRaise runs the fillOrRaise script and counts its result, with
// unchanged naming the result when nothing was stored or raised. It
// reports whether the script ran.
func (c *Cards) fillOrRaise(ctx context.Context, lease string, slot medcard.CacheSlot, card *medcard.Card, unchanged string) bool {
	var result int64
	_, err := c.execute(ctx, func(ctx context.Context) error {
		var err error
		result, err = c.run(ctx, fillOrRaise, slot, lease, card)
		return err
	})
	switch {
	case err != nil:
		c.metrics.count(c.metrics.fills, err, "error")
		return false
	case result == 1:
		c.metrics.fills.WithLabelValues("stored").Inc()
	case result == 2:
		c.metrics.fills.WithLabelValues("raised").Inc()
	case result == 3:
		c.metrics.fills.WithLabelValues("floor_set").Inc()
	default:
		c.metrics.fills.WithLabelValues(unchanged).Inc()
	}
	return true
}

// Hold implements medcard.CardCache.
func (c *Cards) Hold(ctx context.Context, slot medcard.CacheSlot, card *medcard.Card) bool {
	var held bool
	_, err := c.execute(ctx, func(ctx context.Context) error {
		result, err := c.run(ctx, holdWithLease, slot, slot.Lease, card)
		held = result == 1
		return err
	})
	if err != nil {
		c.metrics.count(c.metrics.fills, err, "error")
		return false
	}
	if held {
		c.metrics.fills.WithLabelValues("held").Inc()
	} else {
		c.metrics.fills.WithLabelValues("not_held").Inc()
	}
	return held
}

// Written implements medcard.CardCache. With the breaker open it does not
// try: the caller fences instead, which costs a database round trip and
// the fence lease rather than a Redis timeout.
func (c *Cards) Written(ctx context.Context, slot medcard.CacheSlot, card *medcard.Card) bool {
	_, err := c.execute(ctx, func(ctx context.Context) error {
		_, err := c.run(ctx, writeThrough, slot, "", card)
		return err
	})
	if err != nil {
		c.metrics.count(c.metrics.writes, err, "error")
		return false
	}
	c.metrics.writes.WithLabelValues("stored").Inc()
	return true
}

// Forget implements medcard.CardCache.
func (c *Cards) Forget(ctx context.Context, slot medcard.CacheSlot) bool {
	_, err := c.execute(ctx, func(ctx context.Context) error {
		if err := c.rdb.Del(ctx, slot.Key).Err(); err != nil {
			return fmt.Errorf("cache delete: %w", err)
		}
		return nil
	})
	if err != nil {
		c.metrics.count(c.metrics.writes, err, "error")
		return false
	}
	c.metrics.writes.WithLabelValues("deleted").Inc()
	return true
}

// execute runs one Redis call through the breaker with the call's
// deadline: the cache timeout, or what is left of the request's budget.
func (c *Cards) execute(ctx context.Context, call func(ctx context.Context) error) (any, error) {
	ctx, cancel, err := callContext(ctx, c.timeout)
	if err != nil {
		return nil, err
	}
	defer cancel()
	return c.breaker.Execute(func() (any, error) { return nil, call(ctx) })
}

// getOrLease answers a look-up: {1, card} on a hit; on a miss {2} with a
// fill lease granted to ARGV[1] for ARGV[2] ms, or {3} when another
// reader's lease is pending. An entry entered under an older fence
// generation than ARGV[3] is a miss. KEYS[1] the entry.
var getOrLease = redis.NewScript(`
redis.set_repl(redis.REPL_NONE)
local e = redis.call('HMGET', KEYS[1], 'v', 'c', 'g', 'l')
if e[2] and tonumber(e[3] or '0') >= tonumber(ARGV[3]) then
  return {1, e[2], e[1]}
end
if e[4] then
  return {3}
end
redis.call('HSET', KEYS[1], 'l', ARGV[1])
if not e[2] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return {2}
`)

// fillOrRaise offers a card read from the primary. With the reader's
// lease ARGV[1] still in the entry it stores the card unless the entry
// holds a newer version, labelled with the reader's generation, and clears
// the lease (1; 0 when a newer card was there). Without it (ARGV[1] empty,
// or the lease was revoked by a write-through) it never creates an entry
// and keeps the entry's generation and TTL: a cached card of an older
// version is raised in place to this one (2); an entry without a card,
// where another reader's fill lease is pending, gets this version as its
// floor (v without c), so that the pending fill lands only if it is not
// older (3); otherwise nothing changes (0). A raised entry of an older
// generation stays fenced: the reader may not know the current one. ARGV:
// lease, version, card, TTL in ms, generation.
var fillOrRaise = redis.NewScript(seededBugFill + `
redis.set_repl(redis.REPL_NONE)
local e = redis.call('HMGET', KEYS[1], 'l', 'v', 'c')
if ARGV[1] ~= '' and e[1] == ARGV[1] then
  redis.call('HDEL', KEYS[1], 'l')
  if e[2] and tonumber(e[2]) > tonumber(ARGV[2]) then
    return 0
  end
  redis.call('HSET', KEYS[1], 'v', ARGV[2], 'c', ARGV[3], 'g', ARGV[5])
  redis.call('PEXPIRE', KEYS[1], ARGV[4])
  return 1
end
if e[2] and tonumber(e[2]) >= tonumber(ARGV[2]) then
  return 0
end
if e[3] then
  redis.call('HSET', KEYS[1], 'v', ARGV[2], 'c', ARGV[3])
  return 2
end
if e[1] then
  redis.call('HSET', KEYS[1], 'v', ARGV[2])
  return 3
end
return 0
`)

// holdWithLease answers whether the entry holds version ARGV[2] or newer
// (or, without a card, has it as its floor: no older card can land),
// storing the card first if the entry still holds the reader's lease
// ARGV[1] (as fillOrRaise). ARGV as fillOrRaise. Returns 1 when held.
var holdWithLease = redis.NewScript(seededBugFill + `
redis.set_repl(redis.REPL_NONE)
local e = redis.call('HMGET', KEYS[1], 'l', 'v')
if e[2] and tonumber(e[2]) >= tonumber(ARGV[2]) then
  return 1
end
if ARGV[1] == '' or e[1] ~= ARGV[1] then
  return 0
end
redis.call('HSET', KEYS[1], 'v', ARGV[2], 'c', ARGV[3], 'g', ARGV[5])
redis.call('HDEL', KEYS[1], 'l')
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return 1
`)

// writeThrough stores a committed card unless the entry holds a newer
// version, and revokes any fill lease: a fill that read the primary before
// this commit must not land after it. ARGV: unused, version, card, TTL in
// ms, generation. Returns 1 when stored, 0 when a newer card was there.
// Neither script's writes reach replicas or the AOF (see Cards).
var writeThrough = redis.NewScript(seededBugWriteThrough + `
redis.set_repl(redis.REPL_NONE)
redis.call('HDEL', KEYS[1], 'l')
local current = redis.call('HGET', KEYS[1], 'v')
if current and tonumber(current) > tonumber(ARGV[2]) then
  return 0
end
redis.call('HSET', KEYS[1], 'v', ARGV[2], 'c', ARGV[3], 'g', ARGV[5])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return 1
`)

// peek returns the cached card entered under the slot's generation or a
// newer one, or nil. decoded, when not nil, may spare decoding it: pure
// reads only, since the base of a write is changed deep inside.
func (c *Cards) peek(ctx context.Context, slot medcard.CacheSlot, decoded *decodedCards) (*medcard.Card, error) {
	vals, err := c.rdb.HMGet(ctx, slot.Key, "v", "c", "g").Result()
	if err != nil {
		return nil, fmt.Errorf("cache get: %w", err)
	}
	body, ok := vals[1].(string)
	if !ok || generationOf(vals[2]) < slot.Generation {
		return nil, nil
	}
	return decodeEntry(decoded, slot.Key, vals[0], body)
}

// lookup returns the cached card, or on a miss the lease granted (empty
// if another reader holds one). A hit costs one HMGET, as it did before
// leases; only a miss runs getOrLease, which looks again and grants the
// lease (before the caller's database read, which is all a lease needs).
func (c *Cards) lookup(ctx context.Context, slot medcard.CacheSlot) (*medcard.Card, string, error) {
	if card, err := c.peek(ctx, slot, c.decoded); card != nil || err != nil {
		return card, "", err
	}
	token := newLeaseToken()
	res, err := getOrLease.Run(ctx, c.rdb, []string{slot.Key}, token, c.leaseTTL.Milliseconds(), slot.Generation).Slice()
	if err != nil {
		return nil, "", fmt.Errorf("cache get: %w", err)
	}
	if len(res) == 0 {
		return nil, "", errors.New("cache get: empty answer")
	}
	switch res[0] {
	case int64(2):
		return nil, token, nil
	case int64(3):
		return nil, "", nil
	}
	if len(res) != 3 {
		return nil, "", errors.New("cache get: malformed answer")
	}
	body, _ := res[1].(string)
	card, err := decodeEntry(c.decoded, slot.Key, res[2], body)
	return card, "", err
}

// generationOf reads an entry's g field; an entry without one is of
// generation 0.
func generationOf(field any) int64 {
	s, _ := field.(string)
	g, _ := strconv.ParseInt(s, 10, 64)
	return g
}

// decodeEntry decodes the cached card of the entry under key, through
// decoded when not nil, and checks it against the entry's version field.
func decodeEntry(decoded *decodedCards, key string, version any, body string) (*medcard.Card, error) {
	card, err := decoded.decode(key, body)
	if err != nil {
		return nil, fmt.Errorf("cache entry unreadable: %w", err)
	}
	if v, _ := version.(string); v != strconv.FormatInt(card.Version, 10) {
		return nil, errors.New("cache entry version does not match its card")
	}
	return card, nil
}

// run runs a storing script for card under slot and returns its result
// (1: stored; see each script).
func (c *Cards) run(ctx context.Context, script *redis.Script, slot medcard.CacheSlot, lease string, card *medcard.Card) (int64, error) {
	body, err := medcard.EncodeCard(card)
	if err != nil {
		return 0, fmt.Errorf("cache put: %w", err)
	}
	result, err := script.Run(ctx, c.rdb, []string{slot.Key}, lease, card.Version, body, c.ttl.Milliseconds(), slot.Generation).Int64()
	if err != nil {
		return 0, fmt.Errorf("cache put: %w", err)
	}
	return result, nil
}

// newLeaseToken returns a random lease token: random rather than counted,
// so that a Redis that restarted cannot hand out a token again that a
// filler from before the restart still holds.
func newLeaseToken() string {
	var b [12]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand)
	return hex.EncodeToString(b[:])
}
