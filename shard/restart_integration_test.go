package shard

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sharedmedcard/gateway/internal/testservers"
	"github.com/sharedmedcard/gateway/medcard"
)

// yyRestart is the birth year of the persons of the restart test.
const yyRestart = 70

// faultTally counts the errors that writes through a Store got, by fault
// and SQLSTATE, and keeps the first few that a client would not resend
// (anything not CodeUnavailable, which the SOAP edge sends with
// Retryable=false).
type faultTally struct {
	mu     sync.Mutex
	counts map[string]int // "ServiceUnavailable 57P03", "OutcomeUnknown -"
	bad    []error
	ok     atomic.Int64
}

func newFaultTally() *faultTally { return &faultTally{counts: map[string]int{}} }

// add records the result of one write.
func (ft *faultTally) add(err error) {
	if err == nil {
		ft.ok.Add(1)
		return
	}
	state := sqlState(err)
	if state == "" {
		state = "-"
	}
	var e *medcard.Error
	retryable := errors.As(err, &e) && e.Fault.Code == medcard.CodeUnavailable
	key := "not *medcard.Error " + state
	if e != nil {
		key = e.Fault.ID + " " + state
	}
	ft.mu.Lock()
	defer ft.mu.Unlock()
	ft.counts[key]++
	if !retryable && len(ft.bad) < 5 {
		ft.bad = append(ft.bad, err)
	}
}

// seen returns how many errors carried SQLSTATE state.
func (ft *faultTally) seen(state string) int {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	n := 0
	for k, c := range ft.counts {
		if strings.HasSuffix(k, " "+state) {
			n += c
		}
	}
	return n
}

// check fails the test for every error a client would not resend and
// logs the tally.
func (ft *faultTally) check(t *testing.T, phase string) {
	t.Helper()
	ft.mu.Lock()
	defer ft.mu.Unlock()
	keys := make([]string, 0, len(ft.counts))
	for k := range ft.counts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		b.WriteString("\n\t" + k + ": " + strconv.Itoa(ft.counts[k]))
	}
	t.Logf("%s: %d writes committed; errors:%s", phase, ft.ok.Load(), b.String())
	for _, err := range ft.bad {
		t.Errorf("%s: write error %v (fault %s), want a retryable (CodeUnavailable) *medcard.Error",
			phase, err, medcard.FaultOf(err).ID)
	}
}

// restartWriter writes new cards through store, each for a person of its
// own under a MessageID of its own, so that no write depends on another's
// outcome, alternating the one-statement write and the locked one.
type restartWriter struct {
	t     *testing.T
	store *Store
	mu    sync.Mutex // guards ps: persons is not safe for concurrent use
	ps    *persons
	n     atomic.Int64
}

// write runs one write with a short deadline, so a dead connection cannot
// hold the loop up.
func (rw *restartWriter) write(ctx context.Context) error {
	rw.mu.Lock()
	person := rw.ps.draw(nil)
	msgID := messageID(rw.t)
	rw.mu.Unlock()
	w := newWrite(person, 0, msgID)
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if rw.n.Add(1)%2 == 0 {
		return rw.store.WriteLocked(ctx, person, w.Key, func(*medcard.Card, *medcard.StoredOutcome) (*medcard.CardWrite, error) {
			return w, nil
		})
	}
	return rw.store.WriteCard(ctx, w)
}

// until writes in a tight loop until done says so or the deadline passes,
// and reports whether done said so.
func (rw *restartWriter) until(ctx context.Context, ft *faultTally, within time.Duration, done func() bool) bool {
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if ctx.Err() != nil {
			return false
		}
		ft.add(rw.write(ctx))
		if done() {
			return true
		}
	}
	return false
}

// TestWritesRetryableWhileServerRestarts crashes the PostgreSQL server of
// every shard database under a write load and brings it back, and then
// holds it in recovery: every write error until the server serves again
// must be one a client resends (CodeUnavailable, Retryable=true at the SOAP
// edge), never FaultInternal. The test runs its own server so that the
// shared cluster of the other tests is not disturbed.
//
// The crash phase may miss the short window in which the restarted server
// answers 57P03 ("the database system is starting up"), so two phases hold
// the server in a state on purpose: a hot standby (standby.signal), where a
// write gets 25006 as after a failover, and a standby with hot_standby off,
// which refuses every connection with 57P03 like a server in crash
// recovery.
func TestWritesRetryableWhileServerRestarts(t *testing.T) {
	pg, err := testservers.StartPostgres()
	testservers.RequireT(t, err) // fails under CI=true
	t.Cleanup(func() { pg.Stop() })
	ctx := t.Context()
	setup, cancel := context.WithTimeout(ctx, time.Minute)
	c, err := newCluster(setup, pg, pg) // catalog, shard1 and shard2 on one server
	cancel()
	if err != nil {
		t.Fatalf("set up the cluster: %v", err)
	}
	t.Cleanup(c.close)
	rw := &restartWriter{t: t, store: c.store, ps: newPersons(t, yyRestart)}
	restart := func(t *testing.T, between func()) {
		t.Helper()
		if err := pg.StopImmediate(); err != nil {
			t.Fatal(err)
		}
		if between != nil {
			between()
		}
		if err := pg.Start(); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("crash", func(t *testing.T) {
		warm := newFaultTally()
		if !rw.until(ctx, warm, 10*time.Second, func() bool { return warm.ok.Load() >= 10 }) {
			t.Fatalf("no writes before the crash:\n%s", pg.LogTail(20))
		}
		warm.check(t, "before the crash")

		ft := newFaultTally()
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				for {
					select {
					case <-stop:
						return
					default:
					}
					ft.add(rw.write(ctx))
				}
			})
		}
		time.Sleep(100 * time.Millisecond) // writes in flight when it crashes
		restart(t, nil)
		okAtRestart := ft.ok.Load()
		deadline := time.Now().Add(30 * time.Second)
		for ft.ok.Load() < okAtRestart+20 && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		close(stop)
		wg.Wait()
		ft.check(t, "crash and restart")
		if ft.ok.Load() < okAtRestart+20 {
			t.Fatalf("writes did not come back within 30s of the restart:\n%s", pg.LogTail(20))
		}
		if n := ft.seen(pgerrcodeCannotConnectNow); n == 0 {
			t.Logf("the writes missed the start-up window (no %s); the recovery phase below covers it", pgerrcodeCannotConnectNow)
		}
	})

	signal := filepath.Join(pg.DataDir(), "standby.signal")
	t.Run("hot standby", func(t *testing.T) {
		ft := newFaultTally()
		restart(t, func() {
			if err := os.WriteFile(signal, nil, 0o600); err != nil {
				t.Fatal(err)
			}
		})
		if !rw.until(ctx, ft, 30*time.Second, func() bool { return ft.seen(pgerrcodeReadOnly) >= 10 }) {
			t.Errorf("writes to a hot standby got no %s within 30s:\n%s", pgerrcodeReadOnly, pg.LogTail(20))
		}
		ft.check(t, "hot standby")
		if n := ft.ok.Load(); n > 0 {
			t.Errorf("%d writes to a hot standby committed", n)
		}
	})

	t.Run("in recovery", func(t *testing.T) {
		ft := newFaultTally()
		restart(t, func() {
			f, err := os.OpenFile(filepath.Join(pg.DataDir(), "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if _, err := f.WriteString("\nhot_standby = off\n"); err != nil {
				t.Fatal(err)
			}
		})
		if !rw.until(ctx, ft, 30*time.Second, func() bool { return ft.seen(pgerrcodeCannotConnectNow) >= 10 }) {
			t.Errorf("writes to a server in recovery got no %s within 30s:\n%s", pgerrcodeCannotConnectNow, pg.LogTail(20))
		}
		ft.check(t, "in recovery")
		if n := ft.ok.Load(); n > 0 {
			t.Errorf("%d writes to a server in recovery committed", n)
		}
	})
}

// SQLSTATEs the restart test waits for.
const (
	pgerrcodeCannotConnectNow = "57P03"
	pgerrcodeReadOnly         = "25006"
)
