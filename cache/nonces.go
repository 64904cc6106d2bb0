// Package cache is the gateway's Redis adapter. Redis holds nothing that is
// the only copy of anything: every call has a short timeout, a breaker
// stops calling a Redis that keeps failing, and callers go on without it.
package cache

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/sony/gobreaker/v2"
	"go.uber.org/zap"
)

// NonceFallback keeps nonces where Redis cannot: the catalog database
// (shard.Catalog implements it).
type NonceFallback interface {
	// FirstUseNonce records nonce for ttl and reports whether it was unseen.
	FirstUseNonce(ctx context.Context, system, nonce string, ttl time.Duration) (bool, error)
	// NoncesLive reports whether any recorded nonce has not expired yet.
	NoncesLive(ctx context.Context) (bool, error)
	// PurgeNonces deletes the expired nonces.
	PurgeNonces(ctx context.Context) (int64, error)
}

// Nonces remembers WS-Security UsernameToken nonces, so that a replayed
// token is refused by every gateway, not only the one that saw it.
//
// Redis answers while it can. When it cannot (an error, a timeout, the
// breaker open), the nonce is recorded in the fallback, the catalog
// database, instead: the replay check never turns off while Redis is down,
// and only when neither can answer does FirstUse return an error, which
// the SOAP layer turns into a retryable fault. A nonce recorded in the
// database during an outage is unknown to Redis, so while the database
// holds live nonces (some gateway fell back within a token's lifetime)
// every nonce that is new to Redis is checked there too. Each gateway
// learns that from its own fallback at once and from another gateway's
// within Watch's poll interval; that interval is the one window in which a
// token used at a gateway cut off from Redis could be replayed at another.
type Nonces struct {
	rdb      redis.Cmdable // nil: the fallback alone
	fallback NonceFallback // nil: Redis alone (tests)
	timeout  time.Duration
	breaker  *gobreaker.CircuitBreaker[bool]
	log      *zap.Logger
	checks   *prometheus.CounterVec

	// markPrefix and marks make each check's value in Redis unique
	// (nextMark), so a retried SET NX can tell its own from a replay's.
	markPrefix string
	marks      atomic.Uint64

	// crossCheckUntil is the Unix nanosecond time until which a nonce new
	// to Redis is also checked in the fallback: a token's lifetime after
	// this gateway's last fallback, or after Watch last saw live nonces.
	crossCheckUntil atomic.Int64
}

// NoncesOptions configures Nonces beyond its Redis client.
type NoncesOptions struct {
	// Timeout bounds each Redis call.
	Timeout time.Duration
	// Fallback records nonces while Redis cannot; nil: none (tests only).
	Fallback NonceFallback
	// Registerer receives medcard_nonce_checks_total; nil registers none.
	Registerer prometheus.Registerer
	// Log gets one line when the check falls back and when it fails.
	Log *zap.Logger
}

// NewNonces returns a nonce store over rdb (nil: the fallback alone). Each
// Redis call gives up after o.Timeout, and after five failures in a row
// calls fail at once for two seconds, so a dead Redis costs a request one
// database round trip instead.
func NewNonces(rdb redis.Cmdable, o NoncesOptions) *Nonces {
	n := &Nonces{rdb: rdb, fallback: o.Fallback, timeout: o.Timeout, log: o.Log,
		breaker: gobreaker.NewCircuitBreaker[bool](gobreaker.Settings{
			Name:         "redis-nonces",
			MaxRequests:  1,
			Timeout:      2 * time.Second,
			ReadyToTrip:  func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= 5 },
			IsSuccessful: func(err error) bool { return err == nil || errors.Is(err, context.Canceled) },
		}),
		checks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "medcard_nonce_checks_total",
			Help: "WS-Security nonce replay checks by the store that answered (redis; database: Redis could not; both: Redis and the database, while the database holds nonces of an outage; failed: neither could, the request was refused as retryable).",
		}, []string{"store"}),
	}
	var prefix [9]byte
	_, _ = rand.Read(prefix[:]) // never fails (crypto/rand)
	n.markPrefix = base64.RawURLEncoding.EncodeToString(prefix[:]) + "."
	if n.log == nil {
		n.log = zap.NewNop()
	}
	if o.Registerer != nil {
		o.Registerer.MustRegister(n.checks)
	}
	return n
}

// FirstUse records the nonce for ttl and reports whether it was unseen. An
// error means no store could record it: the caller must refuse the token.
func (n *Nonces) FirstUse(ctx context.Context, system, nonce string, ttl time.Duration) (bool, error) {
	if n.rdb == nil {
		return n.inFallback(ctx, system, nonce, ttl, "database")
	}
	first, err := n.inRedis(ctx, system, nonce, ttl)
	switch {
	case err != nil && n.fallback != nil:
		if n.crossCheckUntil.Swap(time.Now().Add(ttl).UnixNano()) < time.Now().UnixNano() {
			n.log.Warn("the nonce replay check falls back to the catalog database: Redis cannot answer", zap.Error(err))
		}
		return n.inFallback(ctx, system, nonce, ttl, "database")
	case err != nil:
		n.checks.WithLabelValues("failed").Inc()
		return false, err
	case first && n.fallback != nil && time.Now().UnixNano() < n.crossCheckUntil.Load():
		// Redis has not seen it; the database may have, during an outage.
		// Redis recorded it, so a database that cannot answer now does not
		// reopen a replay of this token: take Redis's word.
		// It is bounded like a Redis call, so a catalog that hangs (failing
		// over, cut from its synchronous standby) does not hold requests.
		ctx, cancel := context.WithTimeout(ctx, n.timeout)
		defer cancel()
		seen, err := n.fallback.FirstUseNonce(ctx, system, nonce, ttl)
		n.checks.WithLabelValues("both").Inc()
		if err != nil {
			return true, nil
		}
		return seen, nil
	}
	n.checks.WithLabelValues("redis").Inc()
	return first, nil
}

// inRedis asks Redis, within the nonce store's own timeout. The request's
// Redis budget (WithBudget) is not applied: it is there so that optional
// cache calls cost a slow request little, and the nonce check is not
// optional. A request that spent its budget before it got here (a slow
// client, a busy host) would otherwise fall back to the catalog with Redis
// healthy, and be refused when the catalog fails over.
//
// A failed SET NX is tried once more before the fallback, inside the same
// breaker call: a read timeout ends every command in flight on the
// pipeliner's connection, so one slow reply failed a burst of nonce checks
// at once, opened the breaker, and sent every digest to the catalog for two
// seconds (CI's primary-kill run of 2026-12-03, where the catalog was the
// database failing over). The first SET NX may have been applied with its
// reply lost, so the retry (claimAgain) counts the nonce as first used if
// Redis holds this check's own mark under it.
func (n *Nonces) inRedis(ctx context.Context, system, nonce string, ttl time.Duration) (bool, error) {
	key, mark := "nonce:"+system+":"+nonce, n.nextMark()
	return n.breaker.Execute(func() (bool, error) {
		tctx, cancel := context.WithTimeout(ctx, n.timeout)
		first, err := n.rdb.SetNX(tctx, key, mark, ttl).Result()
		cancel()
		if err == nil || ctx.Err() != nil {
			return first, err
		}
		tctx, cancel = context.WithTimeout(ctx, n.timeout)
		defer cancel()
		return claimAgain(tctx, n.rdb, key, mark, ttl)
	})
}

// nextMark is a value no other check of any gateway writes: this process's
// random prefix and a counter.
func (n *Nonces) nextMark() string {
	return n.markPrefix + strconv.FormatUint(n.marks.Add(1), 36)
}

// claimNonce sets the nonce's key to this check's mark unless it is set,
// and reports 1 if the key now holds this check's mark (set now, or by an
// earlier attempt of the same check whose reply was lost).
var claimNonce = redis.NewScript(`
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
if redis.call('GET', KEYS[1]) == ARGV[1] then return 1 end
return 0
`)

// claimAgain is a repeated SET NX of key to mark: first use if the key was
// unset or already holds mark.
func claimAgain(ctx context.Context, rdb redis.Scripter, key, mark string, ttl time.Duration) (bool, error) {
	won, err := claimNonce.Run(ctx, rdb, []string{key}, mark, ttl.Milliseconds()).Int()
	return won == 1, err
}

func (n *Nonces) inFallback(ctx context.Context, system, nonce string, ttl time.Duration, store string) (bool, error) {
	first, err := n.fallback.FirstUseNonce(ctx, system, nonce, ttl)
	if err != nil {
		n.checks.WithLabelValues("failed").Inc()
		n.log.Warn("the nonce replay check cannot be made: neither Redis nor the catalog database answers", zap.Error(err))
		return false, err
	}
	n.checks.WithLabelValues(store).Inc()
	return first, nil
}

// Watch polls the fallback every interval until ctx ends: while it holds
// live nonces (another gateway fell back), nonces new to Redis are checked
// there too; expired nonces are deleted about once a minute.
func (n *Nonces) Watch(ctx context.Context, interval time.Duration) {
	if n.fallback == nil {
		return
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	lastPurge := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if n.rdb != nil {
			if live, err := n.fallback.NoncesLive(ctx); err == nil && live {
				// Until the tick after next: a poll that is late or fails
				// does not end the cross-check before the nonces expire.
				if until := time.Now().Add(2 * interval).UnixNano(); until > n.crossCheckUntil.Load() {
					n.crossCheckUntil.Store(until)
				}
			}
		}
		if time.Since(lastPurge) >= time.Minute {
			lastPurge = time.Now()
			if _, err := n.fallback.PurgeNonces(ctx); err != nil && ctx.Err() == nil {
				n.log.Warn("expired nonces not deleted from the catalog database", zap.Error(err))
			}
		}
	}
}
