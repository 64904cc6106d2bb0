package testservers

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// ack is one insert the cluster acknowledged: at when its commit returned,
// port the server that answered.
type ack struct {
	id   int64
	at   time.Time
	port int
}

// writer inserts rows through dsn from one goroutine, one at a time, each
// with a short timeout, reconnecting (a new connection through the
// multi-host DSN) after any error. Only an insert that returned without
// error and without the server's "canceled wait for synchronous
// replication" warning counts as acknowledged.
type writer struct {
	dsn string

	next   atomic.Int64
	mu     sync.Mutex
	acks   []ack
	errs   int
	lastEr error
}

func (w *writer) run(ctx context.Context) {
	var conn *pgx.Conn
	var unconfirmed atomic.Bool
	defer func() {
		if conn != nil {
			conn.Close(context.Background())
		}
	}()
	for ctx.Err() == nil {
		if conn == nil {
			cfg, err := pgx.ParseConfig(w.dsn)
			if err != nil {
				w.fail(err)
				return
			}
			cfg.OnNotice = func(_ *pgconn.PgConn, n *pgconn.Notice) {
				if strings.Contains(n.Message, "synchronous replication") {
					unconfirmed.Store(true)
				}
			}
			cctx, cancel := context.WithTimeout(ctx, time.Second)
			conn, err = pgx.ConnectConfig(cctx, cfg)
			cancel()
			if err != nil {
				conn = nil
				w.fail(err)
				time.Sleep(20 * time.Millisecond)
				continue
			}
		}
		id := w.next.Add(1)
		unconfirmed.Store(false)
		ictx, cancel := context.WithTimeout(ctx, 2*time.Second)
		var port int
		err := conn.QueryRow(ictx, "INSERT INTO failover_rows (id) VALUES ($1) RETURNING inet_server_port()", id).Scan(&port)
		cancel()
		if err == nil && unconfirmed.Load() {
			err = fmt.Errorf("insert %d: committed locally only (sync wait cancelled)", id)
		}
		if err != nil {
			w.fail(err)
			conn.Close(context.Background())
			conn = nil
			continue
		}
		w.mu.Lock()
		w.acks = append(w.acks, ack{id: id, at: time.Now(), port: port})
		w.mu.Unlock()
	}
}

func (w *writer) fail(err error) {
	w.mu.Lock()
	w.errs++
	w.lastEr = err
	w.mu.Unlock()
}

func (w *writer) snapshot() ([]ack, int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]ack(nil), w.acks...), w.errs, w.lastEr
}

// waitAcks waits until pred holds for the acknowledged inserts.
func (w *writer) waitAcks(within time.Duration, pred func([]ack) bool) error {
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		acks, _, _ := w.snapshot()
		if pred(acks) {
			return nil
		}
		time.Sleep(5 * time.Millisecond)
	}
	acks, errs, last := w.snapshot()
	return fmt.Errorf("not within %v (%d acks, %d errors, last: %v)", within, len(acks), errs, last)
}

// scalarOn runs a one-value query on node n alone.
func scalarOn(n *PatroniNode, sql string, dest any) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, n.DSN("postgres"))
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	return conn.QueryRow(ctx, sql).Scan(dest)
}

// missingOn returns the acknowledged ids that n does not have.
func missingOn(n *PatroniNode, acks []ack) ([]int64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, n.DSN("postgres"))
	if err != nil {
		return nil, err
	}
	defer conn.Close(ctx)
	ids := make([]int64, len(acks))
	for i, a := range acks {
		ids[i] = a.id
	}
	rows, err := conn.Query(ctx, "SELECT x FROM unnest($1::bigint[]) x WHERE NOT EXISTS (SELECT 1 FROM failover_rows WHERE id = x) ORDER BY x", ids)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[int64])
}

// checkSyncStandbyNames waits until the leader's synchronous_standby_names
// is in Patroni 3's format for synchronous_node_count 1, the bare member
// name of the one standby /cluster calls sync_standby, and returns it.
func checkSyncStandbyNames(t *testing.T, c *PatroniCluster, leader *PatroniNode) string {
	t.Helper()
	var got, want string
	err := waitFor(30*time.Second, func() error {
		if err := scalarOn(leader, "SHOW synchronous_standby_names", &got); err != nil {
			return err
		}
		members, err := c.Members()
		if err != nil {
			return err
		}
		want = ""
		for _, m := range members {
			if m.Role == "sync_standby" {
				want = m.Name
			}
		}
		if want == "" || want == leader.Name || got != want {
			return fmt.Errorf("synchronous_standby_names %q, /cluster's sync_standby %q (leader %s)", got, want, leader.Name)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("leader %s: %v", leader.Name, err)
	}
	return got
}

// TestPatroniFailover loses the leader of a three-node Patroni cluster
// (kill -9 of patroni and of its PostgreSQL) under a stream of writes,
// three times: writes through the multi-host DSN resume on the new leader,
// no acknowledged write is lost, and the old leader rejoins as a replica.
func TestPatroniFailover(t *testing.T) {
	testDeadline := time.Now().Add(8 * time.Minute)
	if d, ok := t.Deadline(); ok && d.Add(-30*time.Second).Before(testDeadline) {
		testDeadline = d.Add(-30 * time.Second)
	}
	etcd, err := StartEtcd()
	RequireT(t, err)
	t.Cleanup(func() { etcd.Stop() })
	start := time.Now()
	c, err := StartPatroniCluster(etcd, "failover", 3, PatroniOptions{})
	RequireT(t, err)
	t.Cleanup(func() { c.Stop() })
	t.Cleanup(func() {
		if t.Failed() {
			for _, n := range c.Nodes {
				t.Logf("--- %s (pg %d, api %d) patroni log tail:\n%s", n.Name, n.Port, n.APIPort, Tail(n.LogFile(), 40))
			}
		}
	})
	t.Logf("etcd %s; 3-node cluster healthy after %v", etcd.ClientURL, time.Since(start).Round(time.Millisecond))
	dsn := c.DSN("postgres")
	t.Logf("DSN %s", dsn)

	{
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			cancel()
			t.Fatal(err)
		}
		_, err = conn.Exec(ctx, "CREATE TABLE failover_rows (id bigint PRIMARY KEY, at timestamptz NOT NULL DEFAULT clock_timestamp())")
		conn.Close(ctx)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
	}

	w := &writer{dsn: dsn}
	ctx, cancel := context.WithDeadline(context.Background(), testDeadline)
	done := make(chan struct{})
	go func() { w.run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })

	portNode := map[int]*PatroniNode{}
	for _, n := range c.Nodes {
		portNode[n.Port] = n
	}
	var failovers []time.Duration
	const rounds = 3
	for round := 1; round <= rounds; round++ {
		if time.Until(testDeadline) < 2*time.Minute {
			t.Logf("round %d skipped: less than 2 minutes left", round)
			break
		}
		old, err := c.Leader()
		if err != nil {
			t.Fatal(err)
		}
		ssn := checkSyncStandbyNames(t, c, old)
		t.Logf("round %d: leader %s (pg %d), synchronous_standby_names = %q", round, old.Name, old.Port, ssn)

		// Writes flow to the leader before the loss.
		acks, _, _ := w.snapshot()
		before := len(acks)
		if err := w.waitAcks(30*time.Second, func(a []ack) bool {
			return len(a) >= before+50 && a[len(a)-1].port == old.Port
		}); err != nil {
			t.Fatalf("round %d: writes before the kill: %v", round, err)
		}

		killAt := time.Now()
		if err := c.Kill(old); err != nil {
			t.Fatalf("round %d: kill %s: %v", round, old.Name, err)
		}
		var first ack
		if err := w.waitAcks(90*time.Second, func(a []ack) bool {
			// An insert in flight at the kill may still have been
			// acknowledged by the old leader: the first write elsewhere.
			for i := len(a) - 1; i >= 0 && a[i].at.After(killAt); i-- {
				if a[i].port != old.Port {
					first = a[i]
				}
			}
			return !first.at.IsZero()
		}); err != nil {
			t.Fatalf("round %d: no write acknowledged after the kill of %s: %v", round, old.Name, err)
		}
		took := first.at.Sub(killAt)
		failovers = append(failovers, took)
		newLeader := portNode[first.port]
		if newLeader == nil || newLeader == old {
			t.Fatalf("round %d: first write after the kill answered by port %d (old leader %s on %d)", round, first.port, old.Name, old.Port)
		}
		acks, errs, lastErr := w.snapshot()
		t.Logf("round %d: killed %s; writes resumed on %s after %v (%d failed attempts so far, last: %v)",
			round, old.Name, newLeader.Name, took.Round(time.Millisecond), errs, strings.Join(strings.Fields(fmt.Sprint(lastErr)), " "))

		// More writes on the new leader, then check every acknowledged
		// one of them all is there.
		n := len(acks)
		if err := w.waitAcks(30*time.Second, func(a []ack) bool { return len(a) >= n+50 }); err != nil {
			t.Fatalf("round %d: writes after the failover: %v", round, err)
		}
		if l, err := c.Leader(); err != nil || l != newLeader {
			t.Fatalf("round %d: Patroni's leader %v (%v), writes go to %s", round, l, err, newLeader.Name)
		}
		acks, _, _ = w.snapshot()
		missing, err := missingOn(newLeader, acks)
		if err != nil {
			t.Fatal(err)
		}
		if len(missing) > 0 {
			t.Fatalf("round %d: new leader %s lacks %d of %d acknowledged rows, e.g. %v", round, newLeader.Name, len(missing), len(acks), missing[:min(10, len(missing))])
		}
		var inRecovery bool
		if err := scalarOn(newLeader, "SELECT pg_is_in_recovery()", &inRecovery); err != nil || inRecovery {
			t.Fatalf("round %d: new leader in recovery %v (%v)", round, inRecovery, err)
		}
		ssn = checkSyncStandbyNames(t, c, newLeader)
		t.Logf("round %d: all %d acknowledged rows on %s; its synchronous_standby_names = %q", round, len(acks), newLeader.Name, ssn)

		// The old leader comes back: as a replica, never a second leader.
		var leaderTrouble atomic.Value
		watchDone := make(chan struct{})
		watchStop := make(chan struct{})
		go func() {
			defer close(watchDone)
			for {
				select {
				case <-watchStop:
					return
				case <-time.After(50 * time.Millisecond):
				}
				if getStatus(old.APIURL()+"/leader", 200) == nil {
					leaderTrouble.Store(fmt.Sprintf("%s answered /leader with 200 at %v", old.Name, time.Now().Format(time.StampMilli)))
				}
				if l, err := c.Leader(); err != nil && strings.Contains(err.Error(), "more than one") {
					leaderTrouble.Store(err.Error())
				} else if l != nil && l != newLeader {
					leaderTrouble.Store("leader moved to " + l.Name)
				}
			}
		}()
		restartAt := time.Now()
		if err := c.Restart(old); err != nil {
			t.Fatal(err)
		}
		err = c.WaitHealthy(2 * time.Minute)
		close(watchStop)
		<-watchDone
		if err != nil {
			t.Fatalf("round %d: after restarting %s: %v", round, old.Name, err)
		}
		if v := leaderTrouble.Load(); v != nil {
			t.Fatalf("round %d: while %s rejoined: %v", round, old.Name, v)
		}
		if l, err := c.Leader(); err != nil || l != newLeader {
			t.Fatalf("round %d: leader after the rejoin %v (%v), want %s", round, l, err, newLeader.Name)
		}
		if err := scalarOn(old, "SELECT pg_is_in_recovery()", &inRecovery); err != nil || !inRecovery {
			t.Fatalf("round %d: rejoined %s in recovery %v (%v)", round, old.Name, inRecovery, err)
		}
		// Its copy has every acknowledged row (rewound, not diverged).
		acks, _, _ = w.snapshot()
		if err := waitFor(30*time.Second, func() error {
			missing, err := missingOn(old, acks)
			if err == nil && len(missing) > 0 {
				err = fmt.Errorf("%d of %d acknowledged rows missing, e.g. %v", len(missing), len(acks), missing[:min(10, len(missing))])
			}
			return err
		}); err != nil {
			t.Fatalf("round %d: rejoined %s: %v", round, old.Name, err)
		}
		how := "without a rewind"
		if b, err := os.ReadFile(old.LogFile()); err == nil && strings.Contains(string(b), "running pg_rewind from") {
			how = "after pg_rewind"
		}
		t.Logf("round %d: %s rejoined as a replica %s after %v, with all %d acknowledged rows", round, old.Name, how,
			time.Since(restartAt).Round(time.Millisecond), len(acks))
	}

	cancel()
	<-done
	acks, errs, _ := w.snapshot()
	ts := make([]string, len(failovers))
	for i, d := range failovers {
		ts[i] = d.Round(time.Millisecond).String()
	}
	t.Logf("failover times (kill -9 of the leader to the first acknowledged write through the DSN): %s; %d writes acknowledged, %d failed attempts, ttl %d s, loop_wait %d s",
		strings.Join(ts, ", "), len(acks), errs, patroniTTL, patroniLoopWait)
	if len(failovers) == 0 {
		t.Fatal("no failover ran")
	}
}
