package shard

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"go.uber.org/zap"
)

// watching opens a store over the test catalog and runs its Watch with
// interval until the test ends.
func watching(t *testing.T, c *cluster, interval time.Duration, log *zap.Logger) *Store {
	t.Helper()
	store, err := Open(t.Context(), c.catalog, log, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		store.Watch(ctx, interval)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		store.Close()
		// The next test looks for its own store's listener.
		deadline := time.Now().Add(10 * time.Second)
		for count(t, "catalog", `SELECT count(*) FROM pg_stat_activity WHERE application_name = $1`, mapListenerName) > 0 {
			if time.Now().After(deadline) {
				t.Fatal("the map listener's backend outlived its Watch")
			}
			time.Sleep(5 * time.Millisecond)
		}
	})
	return store
}

// listenerPID waits until the catalog has exactly one map listener's
// backend, other than the one with pid not, idle (its LISTEN done), and
// returns its pid.
func listenerPID(t *testing.T, not int32) int32 {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var pids []int32
		rows, err := it.db["catalog"].Query(context.Background(),
			`SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND state = 'idle' AND pid <> $2`,
			mapListenerName, not)
		if err == nil {
			pids, err = pgx.CollectRows(rows, pgx.RowTo[int32])
		}
		if err != nil {
			t.Fatalf("find the map listener: %v", err)
		}
		if len(pids) == 1 {
			return pids[0]
		}
		if time.Now().After(deadline) {
			t.Fatalf("map listener backends (idle, not pid %d) = %v, want exactly one", not, pids)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// bumpEpoch raises the cluster epoch without changing the map, and returns
// the new epoch and when the statement was sent. With announce false it
// runs as a replica's session does, where the catalog's notify trigger
// does not fire: a change only a poll can find.
func bumpEpoch(t *testing.T, announce bool) (epoch int64, sent time.Time) {
	t.Helper()
	ctx := context.Background()
	sent = time.Now()
	err := pgx.BeginFunc(ctx, it.db["catalog"], func(tx pgx.Tx) error {
		if !announce {
			if _, err := tx.Exec(ctx, `SET LOCAL session_replication_role = replica`); err != nil {
				return err
			}
		}
		return tx.QueryRow(ctx, `UPDATE cluster SET epoch = epoch + 1 RETURNING epoch`).Scan(&epoch)
	})
	if err != nil {
		t.Fatalf("bump the epoch: %v", err)
	}
	return epoch, sent
}

// reaches waits up to within for store to route by a map at epoch or
// later, and returns how long after since that happened.
func reaches(store *Store, epoch int64, since time.Time, within time.Duration) (time.Duration, bool) {
	for {
		if store.Map().Epoch >= epoch {
			return time.Since(since), true
		}
		if time.Since(since) > within {
			return 0, false
		}
		time.Sleep(time.Millisecond)
	}
}

// TestWatchHearsMapChanges measures how long a change of the map takes to
// reach a watching store. Its poll interval is 10 s, so only the catalog's
// notification can bring a change within 1 s (the first round might meet
// the store's first poll; the later ones cannot).
func TestWatchHearsMapChanges(t *testing.T) {
	c := needCluster(t)
	store := watching(t, c, 10*time.Second, zap.NewNop())
	listenerPID(t, 0)
	const rounds = 5
	var worst time.Duration
	for round := range rounds {
		epoch, sent := bumpEpoch(t, true)
		took, ok := reaches(store, epoch, sent, time.Second)
		if !ok {
			t.Fatalf("round %d: store at epoch %d 1s after the catalog went to epoch %d, want it there within 1s",
				round, store.Map().Epoch, epoch)
		}
		t.Logf("round %d: epoch %d reached the store %v after the UPDATE was sent", round, epoch, took)
		worst = max(worst, took)
	}
	t.Logf("notify latency (UPDATE sent to map reloaded): worst %v of %d rounds", worst, rounds)

	// A real change of owner arrives the same way, whole.
	const shard = 7
	from, to := store.Map().Owner[shard], "shard2"
	if from == to {
		to = "shard1"
	}
	before := store.Map().Epoch
	moveShard(t, shard, from, to)
	moved := time.Now()
	t.Cleanup(func() {
		moveShard(t, shard, to, from)
		if err := c.store.Reload(context.Background()); err != nil {
			t.Errorf("reload after moving shard %d back: %v", shard, err)
		}
	})
	if _, ok := reaches(store, before+1, moved, time.Second); !ok {
		t.Fatalf("store at epoch %d 1s after moving shard %d, want epoch > %d", store.Map().Epoch, shard, before)
	}
	if got := store.Map().Owner[shard]; got != to {
		t.Errorf("after the move the store routes shard %d to %q, want %q", shard, got, to)
	}
}

// TestWatchPollsWithoutNotifications checks the fallback: changes that no
// notification announces, with the listener alive and with its connection
// killed, still reach a watching store by its poll.
func TestWatchPollsWithoutNotifications(t *testing.T) {
	c := needCluster(t)
	const interval = 200 * time.Millisecond
	log, logs := observedLogger()
	store := watching(t, c, interval, log)
	pid := listenerPID(t, 0)

	epoch, sent := bumpEpoch(t, false)
	took, ok := reaches(store, epoch, sent, 5*interval)
	if !ok {
		t.Fatalf("unannounced change: store at epoch %d %v after the catalog went to epoch %d, want it there (poll every %v)",
			store.Map().Epoch, 5*interval, epoch, interval)
	}
	t.Logf("unannounced change, listener alive: reached the store after %v", took)

	var killed bool
	if err := it.db["catalog"].QueryRow(context.Background(), `SELECT pg_terminate_backend($1)`, pid).Scan(&killed); err != nil || !killed {
		t.Fatalf("pg_terminate_backend(map listener %d) = %v, %v", pid, killed, err)
	}
	epoch, sent = bumpEpoch(t, false)
	took, ok = reaches(store, epoch, sent, 10*interval)
	if !ok {
		t.Fatalf("listener killed: store at epoch %d %v after the catalog went to epoch %d, want it there (poll every %v)",
			store.Map().Epoch, 10*interval, epoch, interval)
	}
	t.Logf("unannounced change, listener killed: reached the store after %v", took)

	// The listener is back on a connection of its own, and said so once.
	listenerPID(t, pid)
	if n := loggedWarnings(logs)["shard map listener failed; polling the epoch until it is back"]; n != 1 {
		t.Errorf("listener failure logged %d times, want once; warnings: %v", n, loggedWarnings(logs))
	}
	deadline := time.Now().Add(5 * time.Second)
	for logs.FilterMessage("shard map listener connected again").Len() != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("no log line of the listener connected again; warnings: %v", loggedWarnings(logs))
		}
		time.Sleep(5 * time.Millisecond)
	}
	for _, e := range logs.All() {
		if text := fmt.Sprint(e.Message, e.ContextMap()); strings.Contains(text, "postgres://") {
			t.Errorf("log entry %q names a DSN: %s", e.Message, text)
		}
	}
}
