package cache

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

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
type Cards struct {
	rdb     redis.UniversalClient
	ttl     time.Duration
	timeout time.Duration
	scope   func(person medcard.PersonID) string
}

// NewCards returns a card cache over rdb. Entries live for ttl; every call
// gives up after timeout. scope names the key scope of a person's card.
func NewCards(rdb redis.UniversalClient, ttl, timeout time.Duration, scope func(medcard.PersonID) string) *Cards {
	return &Cards{rdb: rdb, ttl: ttl, timeout: timeout, scope: scope}
}

// setIfNewer stores a card only if the entry holds no card or an older
// version. KEYS[1] the entry; ARGV: version, encoded card, TTL in ms.
// Returns 1 when stored, 0 when the entry already had that version or a
// newer one.
var setIfNewer = redis.NewScript(`
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

// Get returns the cached card of person, or ok false on a miss.
func (c *Cards) Get(ctx context.Context, person medcard.PersonID) (card *medcard.Card, ok bool, err error) {
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
	if err := json.Unmarshal([]byte(body), card); err != nil {
		return nil, false, fmt.Errorf("cache entry unreadable: %w", err)
	}
	if v, _ := vals[0].(string); v != strconv.FormatInt(card.Version, 10) {
		return nil, false, errors.New("cache entry version does not match its card")
	}
	card.PersonID = person
	return card, true, nil
}

// Put stores card unless the cache holds the same or a newer version, and
// reports whether it stored it.
func (c *Cards) Put(ctx context.Context, person medcard.PersonID, card *medcard.Card) (bool, error) {
	body, err := json.Marshal(card)
	if err != nil {
		return false, fmt.Errorf("cache encode: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	stored, err := setIfNewer.Run(ctx, c.rdb, []string{c.key(person)}, card.Version, body, c.ttl.Milliseconds()).Int()
	if err != nil {
		return false, fmt.Errorf("cache put: %w", err)
	}
	return stored == 1, nil
}

// Delete drops the cached card of person.
func (c *Cards) Delete(ctx context.Context, person medcard.PersonID) error {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	if err := c.rdb.Del(ctx, c.key(person)).Err(); err != nil {
		return fmt.Errorf("cache delete: %w", err)
	}
	return nil
}
