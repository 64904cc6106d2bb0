package robustness

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"syscall"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"

	"github.com/sharedmedcard/gateway/internal/testservers"
)

// NemesisEnv is what a nemesis acts on.
type NemesisEnv struct {
	Cluster *Cluster
	// HotPersons are the persons the clients work on right now.
	HotPersons func() []string
	// PinPersons keeps hot persons hot (never retired) until unpin.
	PinPersons func(persons []string) (unpin func())
	Logf       func(format string, args ...any)

	mu    sync.Mutex
	moves []MoveStep // History.Moves
}

// noteMoves records journaled steps of the nemesis's shard moves.
func (e *NemesisEnv) noteMoves(steps ...MoveStep) {
	e.mu.Lock()
	e.moves = append(e.moves, steps...)
	e.mu.Unlock()
}

// movesSoFar returns the recorded move steps.
func (e *NemesisEnv) movesSoFar() []MoveStep {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]MoveStep(nil), e.moves...)
}

// nemesis is one fault class: run injects the fault, holds it, heals it
// and returns when it healed (zero for none); heal undoes whatever a
// failed run may have left (idempotent), and is called after every run.
// noClientFaults makes the run fail on any send a client made that got no
// success answer (CheckClientFault): the class's fault is one clients
// must not see at all.
type nemesis struct {
	doc            string
	run            func(ctx context.Context, e *NemesisEnv) (time.Time, error)
	heal           func(ctx context.Context, e *NemesisEnv) error
	needsSentinel  bool
	noClientFaults bool
	// needsPatroni: the class runs on the cluster whose catalog and
	// shard2 are on Patroni (ClusterOptions.Patroni).
	needsPatroni bool
	// spared are shard databases the fault does not touch: an operation
	// on one of them with a send that got no success answer fails the run
	// (as noClientFaults, for their persons only).
	spared []string
}

// classOrder lists the classes in the order TestRobustness runs them; the
// Sentinel class comes after the others, since it needs gateways of its
// own, and the Patroni classes last, on a cluster of their own.
var classOrder = []string{
	"none", "gateway-kill", "gateway-pause", "pg-restart", "pg-latency", "pg-reset",
	"standby-lost", "standbys-lost", "redis-kill", "redis-pause", "redis-latency", "redis-jitter", "redis-reset", "shard-move", "redis-failover",
	"primary-kill", "old-primary-back", "primary-partition",
}

// NeedsPatroni reports whether class runs on a cluster made with
// ClusterOptions.Patroni.
func NeedsPatroni(class string) bool { return nemeses[class].needsPatroni }

// Classes are the fault classes, in the order a full pass runs them.
func Classes() []string { return append([]string(nil), classOrder...) }

// ClassDoc says what a class does.
func ClassDoc(class string) string { return nemeses[class].doc }

var nemeses = map[string]nemesis{
	"none": {doc: "no fault", run: func(context.Context, *NemesisEnv) (time.Time, error) { return time.Time{}, nil }},
	"gateway-kill": {doc: "kill -9 gateway A three times, 1 s apart; each time restart it on the same port after 0.5 s",
		run: func(ctx context.Context, e *NemesisEnv) (time.Time, error) {
			g := e.Cluster.Gateways[0]
			for i := range 3 {
				if i > 0 {
					sleepCtx(ctx, time.Second)
				}
				if err := g.Kill(); err != nil {
					return time.Time{}, err
				}
				sleepCtx(ctx, 500*time.Millisecond)
				if err := g.Start(ctx); err != nil {
					return time.Time{}, err
				}
			}
			return time.Now(), nil
		}},
	"gateway-pause": {doc: "SIGSTOP gateway A for 3 s, then SIGCONT",
		run: func(ctx context.Context, e *NemesisEnv) (time.Time, error) {
			g := e.Cluster.Gateways[0]
			if err := g.Signal(syscall.SIGSTOP); err != nil {
				return time.Time{}, err
			}
			sleepCtx(ctx, 3*time.Second)
			return time.Now(), g.Signal(syscall.SIGCONT)
		},
		heal: func(_ context.Context, e *NemesisEnv) error {
			if g := e.Cluster.Gateways[0]; g.Running() {
				return g.Signal(syscall.SIGCONT)
			}
			return nil
		}},
	"pg-restart": {doc: "immediate stop of PG2 (shard2), start again after 1 s",
		run: func(ctx context.Context, e *NemesisEnv) (time.Time, error) {
			pg := e.Cluster.Storage.PG2
			if err := pg.Crash(); err != nil {
				return time.Time{}, err
			}
			sleepCtx(ctx, time.Second)
			if err := pg.Restart(); err != nil {
				return time.Time{}, err
			}
			return time.Now(), nil
		}},
	"pg-latency": {doc: "100 ms ± 50 ms latency on both shard database links for 4 s",
		run: func(ctx context.Context, e *NemesisEnv) (time.Time, error) {
			return holdToxic(ctx, shardProxies(e), `{"name":"nemesis","type":"latency","stream":"downstream","attributes":{"latency":100,"jitter":50}}`, 4*time.Second)
		},
		heal: func(ctx context.Context, e *NemesisEnv) error { removeToxic(ctx, shardProxies(e)); return nil }},
	"pg-reset": {doc: "resets of half the shard database connections as answers flow for 2 s, then both links down for 0.5 s",
		run: func(ctx context.Context, e *NemesisEnv) (time.Time, error) {
			ps := shardProxies(e)
			if _, err := holdToxic(ctx, ps, `{"name":"nemesis","type":"reset_peer","stream":"downstream","toxicity":0.5,"attributes":{"timeout":0}}`, 2*time.Second); err != nil {
				return time.Time{}, err
			}
			for _, p := range ps {
				p.Stop()
			}
			sleepCtx(ctx, 500*time.Millisecond)
			return time.Now(), startProxies(ps)
		},
		heal: func(ctx context.Context, e *NemesisEnv) error {
			removeToxic(ctx, shardProxies(e))
			return startProxies(shardProxies(e))
		}},
	"standby-lost": {doc: "PG2 (shard2) commits only once one of its two standbys has the change (ANY 1); one standby is stopped as by a crash for 3 s, then started again: clients must not notice",
		run: func(ctx context.Context, e *NemesisEnv) (time.Time, error) {
			return loseStandbys(ctx, e, []int{0}, 3*time.Second)
		},
		heal: healStandbys, noClientFaults: true},
	"standbys-lost": {doc: "PG2 (shard2) commits only once one of its two standbys has the change (ANY 1); both are stopped as by a crash for 4 s: " +
		"its writes fail retryably after --commit-timeout (2 s), committed on PG2 but unconfirmed, and clients resend; then both start again",
		run: func(ctx context.Context, e *NemesisEnv) (time.Time, error) {
			return loseStandbys(ctx, e, []int{0, 1}, 4*time.Second)
		},
		heal: healStandbys},
	"redis-kill": {doc: "kill -9 Redis, restart it empty on the same port after 1.5 s; again 2.5 s later",
		run: func(ctx context.Context, e *NemesisEnv) (time.Time, error) {
			r := e.Cluster.Storage.Redis
			// The second kill comes while the gateways' breakers may still
			// be in different states from the first.
			for i := range 2 {
				if i > 0 {
					sleepCtx(ctx, 2500*time.Millisecond)
				}
				if err := r.Kill(); err != nil {
					return time.Time{}, err
				}
				sleepCtx(ctx, 1500*time.Millisecond)
				if err := r.RestartEmpty(); err != nil {
					return time.Time{}, err
				}
			}
			return time.Now(), nil
		},
		heal: func(_ context.Context, e *NemesisEnv) error {
			if r := e.Cluster.Storage.Redis; r.Pid() == 0 || r.Resume() != nil {
				return r.RestartEmpty()
			}
			return nil
		}},
	"redis-pause": {doc: "SIGSTOP Redis for 3 s, then SIGCONT",
		run: func(ctx context.Context, e *NemesisEnv) (time.Time, error) {
			r := e.Cluster.Storage.Redis
			if err := r.Pause(); err != nil {
				return time.Time{}, err
			}
			sleepCtx(ctx, 3*time.Second)
			return time.Now(), r.Resume()
		},
		heal: func(_ context.Context, e *NemesisEnv) error { return e.Cluster.Storage.Redis.Resume() }},
	"redis-latency": {doc: "latency of 3× --cache-timeout on gateway A's Redis link for 4 s",
		run: func(ctx context.Context, e *NemesisEnv) (time.Time, error) {
			ms := (3 * cacheTimeout).Milliseconds()
			return holdToxic(ctx, redisProxyA(e), fmt.Sprintf(`{"name":"nemesis","type":"latency","stream":"downstream","attributes":{"latency":%d,"jitter":%d}}`, ms, ms/3), 4*time.Second)
		},
		heal: func(ctx context.Context, e *NemesisEnv) error { removeToxic(ctx, redisProxyA(e)); return nil }},
	"redis-jitter": {doc: "latency of 30 ms ± 30 ms on the commands of both gateways' Redis links for 4 s: below the write-through's patience, so the gateways' Redis commands land out of order but in time",
		run: func(ctx context.Context, e *NemesisEnv) (time.Time, error) {
			return holdToxic(ctx, redisProxies(e), `{"name":"nemesis","type":"latency","stream":"upstream","attributes":{"latency":30,"jitter":30}}`, 4*time.Second)
		},
		heal: func(ctx context.Context, e *NemesisEnv) error { removeToxic(ctx, redisProxies(e)); return nil }},
	"redis-reset": {doc: "connection resets on gateway A's Redis link for 3 s",
		run: func(ctx context.Context, e *NemesisEnv) (time.Time, error) {
			return holdToxic(ctx, redisProxyA(e), `{"name":"nemesis","type":"reset_peer","stream":"downstream","attributes":{"timeout":0}}`, 3*time.Second)
		},
		heal: func(ctx context.Context, e *NemesisEnv) error { removeToxic(ctx, redisProxyA(e)); return nil }},
	"shard-move": {doc: "the real online mover (shard/move) moves the logical shards of 3 hot persons to the other shard database, and back after 1 s, " +
		"while gateway B hears of every new shard map late (100 ms latency on its catalog link), so it routes by the old map for a while after each flip; " +
		"clients must see no fault at all, and the moves must leave no replication artefact, stray row or doubly owned shard",
		run: runShardMoves, heal: healShardMoves, noClientFaults: true},
	"primary-kill": {doc: "the catalog and shard2 on three Patroni nodes (strict synchronous mode, one synchronous standby): kill -9 the leader's patroni and postmaster; " +
		"Patroni promotes the synchronous standby once the leader key's ttl (10 s) ran out, and the gateways' multi-host DSN finds it; the old node stays down until the next cycle. shard1, on a server of its own, must not notice the catalog's failover",
		run: runPrimaryKill, heal: ensurePatroniHealthy, needsPatroni: true, spared: []string{"shard1"}},
	"old-primary-back": {doc: "as primary-kill, then the old leader's node is started again at once under load: it must rejoin as a replica of the new leader " +
		"(pg_rewind) and never take a write (probed every 20 ms)",
		run: runOldPrimaryBack, heal: ensurePatroniHealthy, needsPatroni: true, spared: []string{"shard1"}},
	"primary-partition": {doc: "the Patroni leader (catalog and shard2) cut from its standbys (its replication proxy down) for 4 s while clients and etcd still reach it: " +
		"its writes fail retryably after --commit-timeout, committed locally but unconfirmed; no failover; then the standbys catch up",
		run: runPrimaryPartition, heal: ensurePatroniHealthy, needsPatroni: true, spared: []string{"shard1"}},
	"redis-failover": {doc: "kill -9 the Sentinels' Redis primary; a Sentinel promotes the replica; a new replica joins",
		needsSentinel: true,
		run: func(ctx context.Context, e *NemesisEnv) (time.Time, error) {
			c := e.Cluster
			old := c.SentinelPrimary
			if err := old.Kill(); err != nil {
				return time.Time{}, err
			}
			promoted := c.SentinelReplica.Addr
			if err := waitUntil(ctx, 30*time.Second, func() error {
				addr, err := c.Sentinels[0].MasterAddr()
				if err != nil {
					return err
				}
				if addr != promoted {
					return fmt.Errorf("sentinel still names %s", addr)
				}
				return nil
			}); err != nil {
				return time.Time{}, fmt.Errorf("failover: %w", err)
			}
			healed := time.Now()
			// A new replica for the next cycle.
			c.SentinelPrimary = c.SentinelReplica
			old.Stop()
			r, err := startReplica(c)
			if err != nil {
				return healed, err
			}
			c.SentinelReplica = r
			return healed, c.Sentinels[0].WaitReplicas(1, 20*time.Second)
		}},
}

func startReplica(c *Cluster) (*testservers.Redis, error) {
	return testservers.StartRedisReplica(c.SentinelPrimary)
}

func shardProxies(e *NemesisEnv) []*toxiproxy.Proxy {
	var out []*toxiproxy.Proxy
	for _, p := range e.Cluster.ShardProxies {
		out = append(out, p)
	}
	return out
}

func redisProxies(e *NemesisEnv) []*toxiproxy.Proxy {
	var out []*toxiproxy.Proxy
	for _, g := range e.Cluster.Gateways {
		if g.RedisProxy != nil {
			out = append(out, g.RedisProxy)
		}
	}
	return out
}

func redisProxyA(e *NemesisEnv) []*toxiproxy.Proxy {
	if p := e.Cluster.Gateways[0].RedisProxy; p != nil {
		return []*toxiproxy.Proxy{p}
	}
	return nil
}

// holdToxic adds the toxic (named "nemesis") to every proxy, holds it for
// d and removes it; it returns when it removed it.
func holdToxic(ctx context.Context, ps []*toxiproxy.Proxy, toxicJSON string, d time.Duration) (time.Time, error) {
	if err := addToxic(ps, toxicJSON); err != nil {
		return time.Time{}, err
	}
	sleepCtx(ctx, d)
	removeToxic(ctx, ps)
	return time.Now(), nil
}

// addToxic adds the toxic (named "nemesis") to every proxy, or to none.
func addToxic(ps []*toxiproxy.Proxy, toxicJSON string) error {
	if len(ps) == 0 {
		return errors.New("no proxy to add a toxic to")
	}
	for _, p := range ps {
		if _, err := p.Toxics.AddToxicJson(strings.NewReader(toxicJSON)); err != nil {
			removeToxic(context.Background(), ps)
			return fmt.Errorf("toxic on %s: %w", p.Name, err)
		}
	}
	return nil
}

func removeToxic(ctx context.Context, ps []*toxiproxy.Proxy) {
	for _, p := range ps {
		_ = p.Toxics.RemoveToxic(ctx, "nemesis") // not found: nothing to heal
	}
}

func startProxies(ps []*toxiproxy.Proxy) error {
	var errs []error
	for _, p := range ps {
		if err := p.Start(); err != nil && !errors.Is(err, toxiproxy.ErrProxyAlreadyStarted) {
			errs = append(errs, fmt.Errorf("start proxy %s: %w", p.Name, err))
		}
	}
	return errors.Join(errs...)
}

func waitUntil(ctx context.Context, within time.Duration, check func() error) error {
	deadline := time.Now().Add(within)
	for {
		err := check()
		if err == nil || time.Now().After(deadline) || ctx.Err() != nil {
			return err
		}
		sleepCtx(ctx, 100*time.Millisecond)
	}
}
