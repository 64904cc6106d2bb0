package robustness

import (
	"context"
	"errors"
	"time"

	"github.com/sharedmedcard/gateway/internal/testservers"
)

// The standby classes (issue 12): PG2, which holds shard2, gets two
// streaming standbys on first use, and while such a class runs every
// commit on PG2 waits for one of them (ANY 1). After the class PG2 waits
// for none again, so the other classes are measured as before; the
// standbys keep streaming until the cluster stops.

// standbySyncNames is what PG2 waits for during a standby class.
const standbySyncNames = "ANY 1 (s1, s2)"

// standbyCommitBound is the gateways' --commit-timeout: a commit no
// standby confirms fails retryably after it.
const standbyCommitBound = 2 * time.Second

// ensureStandbys starts PG2's standbys if they are not there, brings back
// any that a class stopped, and makes PG2 wait for one of them.
func ensureStandbys(ctx context.Context, e *NemesisEnv) ([]*testservers.Postgres, error) {
	c := e.Cluster
	c.mu.Lock()
	defer c.mu.Unlock()
	pg2 := c.Storage.PG2
	for i, name := range []string{"s1", "s2"} {
		if len(c.standbys) <= i {
			s, err := testservers.StartStandby(pg2, name)
			if err != nil {
				return nil, err
			}
			c.standbys = append(c.standbys, s)
			continue
		}
		if err := pg2.WaitStreaming(name, 100*time.Millisecond); err != nil {
			if err := c.standbys[i].Start(); err != nil {
				return nil, err
			}
			if err := pg2.WaitStreaming(name, 30*time.Second); err != nil {
				return nil, err
			}
		}
	}
	if err := pg2.SetSynchronousStandbys(standbySyncNames); err != nil {
		return nil, err
	}
	return append([]*testservers.Postgres(nil), c.standbys...), ctx.Err()
}

// healStandbys brings every standby back and lets PG2 commit without them.
func healStandbys(ctx context.Context, e *NemesisEnv) error {
	if _, err := ensureStandbys(ctx, e); err != nil {
		return err
	}
	return e.Cluster.Storage.PG2.SetSynchronousStandbys("")
}

// loseStandbys stops the standbys at which (immediately, as a crash would)
// for hold, then starts them again.
func loseStandbys(ctx context.Context, e *NemesisEnv, which []int, hold time.Duration) (time.Time, error) {
	standbys, err := ensureStandbys(ctx, e)
	if err != nil {
		return time.Time{}, err
	}
	for _, i := range which {
		if err := standbys[i].StopImmediate(); err != nil {
			return time.Time{}, err
		}
	}
	sleepCtx(ctx, hold)
	var errs []error
	for _, i := range which {
		errs = append(errs, standbys[i].Start())
	}
	return time.Now(), errors.Join(errs...)
}

func stopStandbys(c *Cluster) error {
	var errs []error
	for _, s := range c.standbys {
		errs = append(errs, s.Stop())
	}
	c.standbys = nil
	return errors.Join(errs...)
}
