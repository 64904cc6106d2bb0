package robustness

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"

	"github.com/sharedmedcard/gateway/internal/testservers"
)

// The failover classes (issue 12) run on a cluster of their own
// (ClusterOptions.Patroni): the catalog and shard2 live on three Patroni
// nodes in strict synchronous mode, one synchronous standby, etcd as the
// store, as deploy/patroni/ runs them. The gateways reach them through the
// multi-host DSN with target_session_attrs=read-write, so after a
// promotion their new connections find the new leader by themselves.

// patroniOf is the Patroni cluster of e's storage, or an error for a class
// run on a cluster without one.
func patroniOf(e *NemesisEnv) (*testservers.PatroniCluster, error) {
	if p := e.Cluster.Storage.Patroni; p != nil {
		return p, nil
	}
	return nil, errors.New("this class needs the Patroni cluster (ClusterOptions.Patroni)")
}

// ensurePatroniHealthy starts again any node an earlier cycle left down and
// waits until the cluster has a leader and two streaming replicas, one of
// them synchronous; every replication link is up.
func ensurePatroniHealthy(ctx context.Context, e *NemesisEnv) error {
	pc, err := patroniOf(e)
	if err != nil {
		return err
	}
	if err := startProxies(replicationProxies(e)); err != nil {
		return err
	}
	for _, n := range pc.Nodes {
		if !pc.Running(n) {
			if err := pc.Restart(n); err != nil {
				return err
			}
		}
	}
	if err := pc.WaitHealthy(90 * time.Second); err != nil {
		return err
	}
	return ctx.Err()
}

// killLeader kills the leader as a lost server would be lost (SIGKILL to
// its patroni and its postmaster's whole process group) and waits until
// Patroni has promoted another node, out of recovery. It returns the
// killed node and when the promoted one first handed out a transaction
// id. Its commits are confirmed a little later still: strict synchronous
// mode waits until the other replica follows it as its synchronous
// standby (a loop or two of Patroni's); the run's write pause measures
// that whole time as the clients saw it.
func killLeader(ctx context.Context, e *NemesisEnv, class string) (*testservers.PatroniNode, time.Time, error) {
	if err := ensurePatroniHealthy(ctx, e); err != nil {
		return nil, time.Time{}, err
	}
	pc, _ := patroniOf(e)
	old, err := pc.Leader()
	if err != nil {
		return nil, time.Time{}, err
	}
	killed := time.Now()
	if err := pc.Kill(old); err != nil {
		return old, time.Time{}, err
	}
	var promoted *testservers.PatroniNode
	err = waitUntil(ctx, 60*time.Second, func() error {
		n, err := pc.Leader()
		if err != nil {
			return err
		}
		if n == old {
			return fmt.Errorf("%s still named the leader", old.Name)
		}
		ok, err := n.AcceptsWrite(ctx)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("%s is the leader but still in recovery", n.Name)
		}
		promoted = n
		return nil
	})
	if err != nil {
		return old, time.Time{}, fmt.Errorf("no promotion after killing %s: %w", old.Name, err)
	}
	at := time.Now()
	e.Logf("%s: killed leader %s; %s promoted (hands out transaction ids) %v later", class, old.Name, promoted.Name, at.Sub(killed).Round(time.Millisecond))
	return old, at, nil
}

// runPrimaryKill is the class primary-kill: the old leader stays down
// until the next cycle (or the heal) starts it again.
func runPrimaryKill(ctx context.Context, e *NemesisEnv) (time.Time, error) {
	_, promoted, err := killLeader(ctx, e, "primary-kill")
	return promoted, err
}

// runOldPrimaryBack is the class old-primary-back: after the promotion the
// old leader's node is started again at once, under load, and must come
// back as a replica of the new leader (rewound, if it had WAL the new one
// lacks) without ever taking a write: a probe asks it for a transaction id
// every 20 ms until the cluster is healthy again.
func runOldPrimaryBack(ctx context.Context, e *NemesisEnv) (time.Time, error) {
	old, _, err := killLeader(ctx, e, "old-primary-back")
	if err != nil {
		return time.Time{}, err
	}
	pc, _ := patroniOf(e)
	probeCtx, stopProbe := context.WithCancel(ctx)
	var (
		wg       sync.WaitGroup
		accepted time.Time
		answers  int
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for probeCtx.Err() == nil {
			ok, err := old.AcceptsWrite(probeCtx)
			if err == nil {
				answers++
			}
			if ok && accepted.IsZero() {
				accepted = time.Now()
			}
			sleepCtx(probeCtx, 20*time.Millisecond)
		}
	}()
	restarted := time.Now()
	err = pc.Restart(old)
	if err == nil {
		err = pc.WaitHealthy(90 * time.Second)
	}
	stopProbe()
	wg.Wait()
	if err != nil {
		return time.Time{}, err
	}
	if !accepted.IsZero() {
		return time.Time{}, fmt.Errorf("fence: the old primary %s took a write %v after its restart", old.Name, accepted.Sub(restarted).Round(time.Millisecond))
	}
	back := time.Now()
	e.Logf("old-primary-back: %s streams from the new leader %v after its restart; it answered the write probe %d times, always as a server in recovery",
		old.Name, back.Sub(restarted).Round(time.Millisecond), answers)
	return back, nil
}

// partitionHold is how long primary-partition keeps the leader from its
// standbys: twice the gateways' --commit-timeout.
const partitionHold = 2 * standbyCommitBound

// runPrimaryPartition is the class primary-partition: the leader's
// replication link is cut (its proxy closes every connection and refuses
// new ones) while clients and etcd still reach it. Strict synchronous mode
// lets it commit nothing no standby confirms, so its writes fail
// retryably after --commit-timeout; Patroni keeps the leader (it still
// holds the leader key), and once the link is back the standbys catch up.
func runPrimaryPartition(ctx context.Context, e *NemesisEnv) (time.Time, error) {
	if err := ensurePatroniHealthy(ctx, e); err != nil {
		return time.Time{}, err
	}
	pc, _ := patroniOf(e)
	leader, err := pc.Leader()
	if err != nil {
		return time.Time{}, err
	}
	p := e.Cluster.ReplicationProxies[leader.Name]
	if p == nil {
		return time.Time{}, fmt.Errorf("no replication proxy for %s", leader.Name)
	}
	p.Stop()
	sleepCtx(ctx, partitionHold)
	if err := startProxies(replicationProxies(e)); err != nil {
		return time.Time{}, err
	}
	healed := time.Now()
	if err := pc.WaitHealthy(60 * time.Second); err != nil {
		return healed, err
	}
	if now, err := pc.Leader(); err != nil || now != leader {
		return healed, fmt.Errorf("the leader changed during the partition (was %s): %v", leader.Name, err)
	}
	return healed, nil
}

func replicationProxies(e *NemesisEnv) []*toxiproxy.Proxy {
	out := make([]*toxiproxy.Proxy, 0, len(e.Cluster.ReplicationProxies))
	for _, p := range e.Cluster.ReplicationProxies {
		out = append(out, p)
	}
	return out
}
