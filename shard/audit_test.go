package shard

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/sharedmedcard/gateway/medcard"
)

// Birth years of the audit writer tests' persons, apart from those of
// store_integration_test.go.
const (
	yyAuditOnce = 80 + iota
	yyAuditRun
	yyAuditFull
	yyAuditDown
	yyAuditStale
	yyAuditStop
	yyAuditDurable
)

// auditLook is one look-up to audit: the person and the audit entry.
type auditLook struct {
	person medcard.PersonID
	entry  medcard.AuditEntry
}

// auditLooks returns n look-ups of persons in turn, each with its own MessageID
// and fields that differ from row to row.
func auditLooks(t *testing.T, persons []medcard.PersonID, n int) []auditLook {
	t.Helper()
	out := make([]auditLook, n)
	for i := range out {
		out[i] = auditLook{persons[i%len(persons)], medcard.AuditEntry{
			Operation:       []medcard.Operation{medcard.OpGetMedicineCard, medcard.OpGetPrescription}[i%2],
			At:              testTime.Add(time.Duration(i) * time.Millisecond),
			System:          "test",
			Organisation:    fmt.Sprintf("org-%d", i%7),
			Role:            []medcard.Role{medcard.RolePharmacist, medcard.RoleDoctor, medcard.RoleNurse}[i%3],
			AuthorisationID: fmt.Sprintf("auth-%d", i%11),
			MessageID:       messageID(t),
			CardVersion:     int64(i % 5),
		}}
	}
	return out
}

// drawOnEach draws n persons on each shard database of m.
func drawOnEach(ps *persons, m *Map, n int) []medcard.PersonID {
	ps.t.Helper()
	var out []medcard.PersonID
	for range n {
		for _, db := range shardDBs {
			out = append(out, ps.draw(on(m, db)))
		}
	}
	return out
}

// storedAudit is an audit row as read back from a shard database.
type storedAudit struct {
	DB              string
	Shard           int
	Person          string
	At              time.Time
	Operation       string
	System          string
	Organisation    string
	Role            string
	AuthorisationID string
	MessageID       string
	CardVersion     int64
}

// wantAudit is the row l should leave in database db.
func wantAudit(db string, l auditLook) storedAudit {
	e := l.entry
	return storedAudit{DB: db, Shard: Of(string(l.person)), Person: string(l.person), At: e.At.UTC(),
		Operation: string(e.Operation), System: e.System, Organisation: e.Organisation, Role: string(e.Role),
		AuthorisationID: e.AuthorisationID, MessageID: e.MessageID, CardVersion: e.CardVersion}
}

// storedAudits reads, from every shard database, the audit rows of ls by
// MessageID.
func storedAudits(t *testing.T, ls []auditLook) map[string][]storedAudit {
	t.Helper()
	ids := make([]string, len(ls))
	for i, l := range ls {
		ids[i] = l.entry.MessageID
	}
	got := map[string][]storedAudit{}
	for _, db := range shardDBs {
		rows, err := it.db[db].Query(context.Background(), `
			SELECT shard, person, at, operation, system, organisation, role, authorisation_id, message_id, card_version
			FROM audit_log WHERE message_id = ANY($1)`, ids)
		if err != nil {
			t.Fatalf("%s: read audit rows: %v", db, err)
		}
		as, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (storedAudit, error) {
			a := storedAudit{DB: db}
			err := row.Scan(&a.Shard, &a.Person, &a.At, &a.Operation, &a.System, &a.Organisation, &a.Role,
				&a.AuthorisationID, &a.MessageID, &a.CardVersion)
			a.At = a.At.UTC()
			return a, err
		})
		if err != nil {
			t.Fatalf("%s: read audit rows: %v", db, err)
		}
		for _, a := range as {
			got[a.MessageID] = append(got[a.MessageID], a)
		}
	}
	return got
}

// checkAudited checks that every look-up of ls left exactly one audit row,
// the right one, on the database that owns its person's shard in m.
func checkAudited(t *testing.T, m *Map, ls []auditLook) {
	t.Helper()
	got := storedAudits(t, ls)
	bad := 0
	for i, l := range ls {
		rows := got[l.entry.MessageID]
		want := wantAudit(m.Owner[Of(string(l.person))], l)
		switch {
		case len(rows) != 1:
			t.Errorf("look-up %d left %d audit rows, want 1", i, len(rows))
		default:
			if diff := cmp.Diff(want, rows[0]); diff != "" {
				t.Errorf("look-up %d: audit row mismatch (-want +got):\n%s", i, diff)
			} else {
				continue
			}
		}
		if bad++; bad == 5 {
			t.Fatalf("more look-ups with bad audit rows: stopping")
		}
	}
}

// recordLooks queues every look-up of ls and fails the test on an error.
func recordLooks(t *testing.T, w *AuditWriter, ls []auditLook) {
	t.Helper()
	for _, l := range ls {
		if err := w.RecordRead(t.Context(), l.person, l.entry); err != nil {
			t.Fatalf("RecordRead: %v", err)
		}
	}
}

// observedLogger returns a logger that keeps its entries for the test to check.
func observedLogger() (*zap.Logger, *observer.ObservedLogs) {
	core, logs := observer.New(zapcore.DebugLevel)
	return zap.New(core), logs
}

// checkLogsClean fails the test if any log entry names a person or carries
// a MessageID of ls (row content).
func checkLogsClean(t *testing.T, logs *observer.ObservedLogs, ls []auditLook) {
	t.Helper()
	for _, e := range logs.All() {
		text := e.Message + " " + fmt.Sprint(e.ContextMap())
		for _, l := range ls {
			if strings.Contains(text, string(l.person)) || strings.Contains(text, l.entry.MessageID) {
				t.Fatalf("log entry %q carries a person or row content: %s", e.Message, text)
			}
		}
	}
}

// loggedWarnings counts the warnings and errors logged, by message.
func loggedWarnings(logs *observer.ObservedLogs) map[string]int {
	n := map[string]int{}
	for _, e := range logs.All() {
		if e.Level >= zapcore.WarnLevel {
			n[e.Message]++
		}
	}
	return n
}

// startAuditRun runs w.Run in a goroutine and returns a function that ends it
// and returns when Run has. The test's cleanup ends it too.
func startAuditRun(t *testing.T, w *AuditWriter) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		w.Run(ctx)
	}()
	stop = sync.OnceFunc(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			t.Errorf("Run did not return after its context ended")
		}
	})
	t.Cleanup(stop)
	return stop
}

// flushAudit calls w.Flush with a generous deadline and fails the test on an
// error.
func flushAudit(t *testing.T, w *AuditWriter) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if err := w.Flush(ctx); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	if n := w.Pending(); n != 0 {
		t.Errorf("Pending() after Flush = %d, want 0", n)
	}
}

// waitAudited polls until every look-up of ls has an audit row, up to
// limit, and returns how long that took.
func waitAudited(t *testing.T, ls []auditLook, limit time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		got := storedAudits(t, ls)
		n := 0
		for _, l := range ls {
			if len(got[l.entry.MessageID]) > 0 {
				n++
			}
		}
		if n == len(ls) {
			return time.Since(start)
		}
		if time.Since(start) > limit {
			t.Fatalf("after %v only %d of %d audit rows were written", limit, n, len(ls))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestAuditRetryAfter(t *testing.T) {
	tests := []struct {
		failures int
		want     time.Duration
	}{
		{1, 50 * time.Millisecond},
		{2, 100 * time.Millisecond},
		{3, 200 * time.Millisecond},
		{5, 800 * time.Millisecond},
		{6, time.Second},
		{1000, time.Second},
	}
	for _, tt := range tests {
		if got := auditRetryAfter(tt.failures); got != tt.want {
			t.Errorf("auditRetryAfter(%d) = %v, want %v", tt.failures, got, tt.want)
		}
	}
}

func TestAuditWriterWritesEveryRowOnce(t *testing.T) {
	c := needCluster(t)
	m := catalogMap(t)
	ps := newPersons(t, yyAuditOnce)
	tests := []struct {
		name string
		run  bool // Run writes alongside the callers; Flush writes the rest
	}{
		{"Flush alone", false},
		{"Run and Flush", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			log, logs := observedLogger()
			w := NewAuditWriter(c.store, log, AuditOptions{MaxBatch: 64, FlushEvery: 5 * time.Millisecond})
			if tt.run {
				startAuditRun(t, w)
			}
			ls := auditLooks(t, drawOnEach(ps, m, 25), 1000)
			const callers = 20
			start := time.Now()
			var wg sync.WaitGroup
			errs := make([]error, callers)
			for g := range callers {
				wg.Go(func() {
					for i := g; i < len(ls); i += callers {
						if err := w.RecordRead(t.Context(), ls[i].person, ls[i].entry); err != nil {
							errs[g] = err
							return
						}
					}
				})
			}
			wg.Wait()
			queued := time.Since(start)
			for g, err := range errs {
				if err != nil {
					t.Fatalf("caller %d: RecordRead: %v", g, err)
				}
			}
			flushAudit(t, w)
			t.Logf("%d rows queued by %d callers in %v, all written after %v", len(ls), callers, queued, time.Since(start))
			checkAudited(t, m, ls)
			if n := loggedWarnings(logs); len(n) > 0 {
				t.Errorf("warnings with healthy databases: %v", n)
			}
			checkLogsClean(t, logs, ls)
		})
	}
}

func TestAuditWriterRunWritesWithoutFlush(t *testing.T) {
	c := needCluster(t)
	m := catalogMap(t)
	const every = 20 * time.Millisecond
	w := NewAuditWriter(c.store, zap.NewNop(), AuditOptions{FlushEvery: every})
	startAuditRun(t, w)
	ls := auditLooks(t, drawOnEach(newPersons(t, yyAuditRun), m, 5), 10)
	recordLooks(t, w, ls)
	took := waitAudited(t, ls, 2*time.Second)
	t.Logf("rows written by Run %v after being queued (FlushEvery %v)", took, every)
	checkAudited(t, m, ls)
	if n := w.Pending(); n != 0 {
		t.Errorf("Pending() = %d after Run wrote every row, want 0", n)
	}
}

// TestAuditWriterDurable: with Durable, RecordRead returns only once its
// row is committed, however long the flush interval, with many callers at
// once (their rows share statements); without Run nothing is committed
// and RecordRead gives up when its context ends.
func TestAuditWriterDurable(t *testing.T) {
	c := needCluster(t)
	m := catalogMap(t)
	ps := newPersons(t, yyAuditDurable)

	idle := NewAuditWriter(c.store, zap.NewNop(), AuditOptions{Durable: true})
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	l := auditLooks(t, drawOnEach(ps, m, 1), 1)[0]
	if err := idle.RecordRead(ctx, l.person, l.entry); medcard.FaultOf(err) != medcard.FaultUnavailable {
		t.Errorf("durable RecordRead with nothing writing = %v, want ServiceUnavailable", err)
	}

	w := NewAuditWriter(c.store, zap.NewNop(), AuditOptions{Durable: true, FlushEvery: time.Hour})
	startAuditRun(t, w)
	ls := auditLooks(t, drawOnEach(ps, m, 10), 400)
	const callers = 16
	var wg sync.WaitGroup
	errs := make([]error, callers)
	var slowest atomic.Int64
	for g := range callers {
		wg.Go(func() {
			for i := g; i < len(ls); i += callers {
				start := time.Now()
				if err := w.RecordRead(t.Context(), ls[i].person, ls[i].entry); err != nil {
					errs[g] = err
					return
				}
				// Committed when RecordRead returned: the row is there.
				if got := storedAudits(t, ls[i:i+1]); len(got[ls[i].entry.MessageID]) != 1 {
					errs[g] = fmt.Errorf("look-up %d: RecordRead returned before its row was committed", i)
					return
				}
				if d := time.Since(start); int64(d) > slowest.Load() {
					slowest.Store(int64(d))
				}
			}
		})
	}
	wg.Wait()
	for g, err := range errs {
		if err != nil {
			t.Fatalf("caller %d: %v", g, err)
		}
	}
	t.Logf("%d durable look-ups by %d callers, the slowest RecordRead %v (FlushEvery an hour)", len(ls), callers, time.Duration(slowest.Load()))
	checkAudited(t, m, ls)
}

func TestAuditWriterQueueFull(t *testing.T) {
	c := needCluster(t)
	m := catalogMap(t)
	ps := newPersons(t, yyAuditFull)
	const limit = 10
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name string
		ctx  func(t *testing.T) (context.Context, context.CancelFunc)
	}{
		{"deadline", func(t *testing.T) (context.Context, context.CancelFunc) {
			return context.WithTimeout(t.Context(), 50*time.Millisecond)
		}},
		{"cancelled", func(*testing.T) (context.Context, context.CancelFunc) { return cancelled, func() {} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Without Run nothing is written, like a database down for long.
			w := NewAuditWriter(c.store, zap.NewNop(), AuditOptions{QueueLimit: limit})
			ls := auditLooks(t, drawOnEach(ps, m, 2), limit+2)
			recordLooks(t, w, ls[:limit])

			ctx, cancel := tt.ctx(t)
			defer cancel()
			refused := ls[limit]
			err := w.RecordRead(ctx, refused.person, refused.entry)
			if f := medcard.FaultOf(err); f != medcard.FaultUnavailable {
				t.Fatalf("RecordRead on a full queue = %v (fault %s), want fault %s", err, f.ID, medcard.FaultUnavailable.ID)
			}
			if n := w.Pending(); n != limit {
				t.Errorf("Pending() = %d, want %d", n, limit)
			}

			// A caller with time to wait gets in once rows are written.
			waiter := ls[limit+1]
			waited := make(chan error, 1)
			go func() { waited <- w.RecordRead(t.Context(), waiter.person, waiter.entry) }()
			select {
			case err := <-waited:
				t.Fatalf("RecordRead on a full queue returned %v before any row was written", err)
			case <-time.After(50 * time.Millisecond):
			}
			// The waiter may get in while this Flush runs (room frees when
			// it takes the queued rows), so Pending is checked after the next.
			if err := w.Flush(t.Context()); err != nil {
				t.Fatalf("Flush: %v", err)
			}
			if err := <-waited; err != nil {
				t.Fatalf("RecordRead waiting for room: %v", err)
			}
			flushAudit(t, w)

			written := append(ls[:limit:limit], waiter)
			checkAudited(t, m, written)
			if got := storedAudits(t, []auditLook{refused}); len(got) != 0 {
				t.Errorf("the refused look-up left an audit row: %v", got)
			}
		})
	}
}

func TestAuditWriterDatabaseDown(t *testing.T) {
	c := needCluster(t)
	m := catalogMap(t)
	// A store whose shard databases cannot be reached: every pool dials a
	// port nobody listens on.
	down, err := Open(t.Context(), c.catalog, zap.NewNop(), func(cfg *pgxpool.Config) { cfg.ConnConfig.Port = 1 })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(down.Close) // after Run has ended (cleanups run last first)
	log, logs := observedLogger()
	const limit = 10
	w := NewAuditWriter(down, log, AuditOptions{QueueLimit: limit, FlushEvery: 5 * time.Millisecond})
	w.grace = 100 * time.Millisecond
	stop := startAuditRun(t, w)
	ls := auditLooks(t, drawOnEach(newPersons(t, yyAuditDown), m, limit/2), limit+1)
	recordLooks(t, w, ls[:limit])

	time.Sleep(500 * time.Millisecond) // several failed attempts per database
	if n := w.Pending(); n != limit {
		t.Errorf("Pending() = %d with the databases down, want %d (kept)", n, limit)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if err := w.RecordRead(ctx, ls[limit].person, ls[limit].entry); medcard.FaultOf(err) != medcard.FaultUnavailable {
		t.Errorf("RecordRead on a full queue = %v, want fault %s", err, medcard.FaultUnavailable.ID)
	}
	start := time.Now()
	stop()
	t.Logf("Run returned %v after its context ended (grace %v)", time.Since(start), w.grace)
	if err := w.RecordRead(t.Context(), ls[0].person, ls[0].entry); medcard.FaultOf(err) != medcard.FaultUnavailable {
		t.Errorf("RecordRead after Run returned = %v, want fault %s", err, medcard.FaultUnavailable.ID)
	}

	// One warning per database for the whole failure streak, and one error
	// for the rows left at shutdown.
	want := map[string]int{"audit rows not written; retrying": len(shardDBs), "audit rows not written at shutdown": 1}
	if diff := cmp.Diff(want, loggedWarnings(logs)); diff != "" {
		t.Errorf("warnings and errors logged (-want +got):\n%s", diff)
	}
	for _, e := range logs.FilterMessage("audit rows not written; retrying").All() {
		keys := slices.Sorted(maps.Keys(e.ContextMap()))
		if diff := cmp.Diff([]string{"db", "error", "rows"}, keys); diff != "" {
			t.Errorf("warning fields (-want +got):\n%s", diff)
		}
	}
	checkLogsClean(t, logs, ls)
	if got := storedAudits(t, ls); len(got) != 0 {
		t.Errorf("%d look-ups audited through an unreachable store", len(got))
	}
}

func TestAuditWriterStaleMap(t *testing.T) {
	const refusedMsg = "audit rows refused: shard not owned where the map said; reloading map"
	c := needCluster(t)
	ps := newPersons(t, yyAuditStale)
	tests := []struct {
		name string
		run  bool // Run writes the rows; else Flush
	}{
		{"Flush", false},
		{"Run", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stale, err := Open(t.Context(), c.catalog, zap.NewNop(), nil)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(stale.Close) // after Run has ended (cleanups run last first)
			m := stale.Map()
			a := ps.draw(on(m, "shard1"))
			shard := Of(string(a))
			b := ps.draw(func(s int) bool { return s == shard })
			other := ps.draw(func(s int) bool { return s != shard && m.Owner[s] == "shard1" })

			moveShard(t, shard, "shard1", "shard2")
			t.Cleanup(func() {
				moveShard(t, shard, "shard2", "shard1")
				if err := c.store.Reload(context.Background()); err != nil {
					t.Errorf("reload after moving shard %d back: %v", shard, err)
				}
			})

			// The stale store routes the moved shard's rows, and those of
			// another shard, to shard1 in one statement; shard1 refuses it
			// (MC001), and the writer must reload the map and route again.
			log, logs := observedLogger()
			w := NewAuditWriter(stale, log, AuditOptions{FlushEvery: 5 * time.Millisecond})
			ls := auditLooks(t, []medcard.PersonID{a, b, other}, 9)
			recordLooks(t, w, ls)
			if tt.run {
				startAuditRun(t, w)
				waitAudited(t, ls, 2*time.Second)
			} else {
				flushAudit(t, w)
			}

			moved := catalogMap(t)
			if moved.Owner[shard] != "shard2" {
				t.Fatalf("catalog: shard %d on %s, want shard2", shard, moved.Owner[shard])
			}
			checkAudited(t, moved, ls)
			if got := stale.Map(); got.Epoch <= m.Epoch || got.Owner[shard] != "shard2" {
				t.Errorf("writer's map afterwards: epoch %d owner %q, want epoch > %d owner shard2",
					got.Epoch, got.Owner[shard], m.Epoch)
			}
			if logs.FilterMessage(refusedMsg).Len() == 0 {
				t.Errorf("no database refused a row: the test did not exercise a stale map")
			}
			if n := loggedWarnings(logs); len(n) > 0 {
				t.Errorf("a stale map was logged as a failure: %v", n)
			}
			checkLogsClean(t, logs, ls)
		})
	}
}

func TestAuditWriterRunFlushesOnStop(t *testing.T) {
	c := needCluster(t)
	m := catalogMap(t)
	// Run would neither tick nor be kicked before its context ends.
	w := NewAuditWriter(c.store, zap.NewNop(), AuditOptions{FlushEvery: time.Hour, MaxBatch: 1000})
	stop := startAuditRun(t, w)
	ls := auditLooks(t, drawOnEach(newPersons(t, yyAuditStop), m, 10), 100)
	recordLooks(t, w, ls)
	if n := w.Pending(); n != len(ls) {
		t.Fatalf("Pending() = %d before Run's context ended, want %d", n, len(ls))
	}
	if got := storedAudits(t, ls); len(got) != 0 {
		t.Fatalf("%d rows written before Run's context ended, want none yet", len(got))
	}
	start := time.Now()
	stop()
	t.Logf("Run flushed %d rows and returned %v after its context ended", len(ls), time.Since(start))
	if n := w.Pending(); n != 0 {
		t.Errorf("Pending() = %d after Run returned, want 0", n)
	}
	checkAudited(t, m, ls)
	if err := w.RecordRead(t.Context(), ls[0].person, ls[0].entry); medcard.FaultOf(err) != medcard.FaultUnavailable {
		t.Errorf("RecordRead after Run returned = %v, want fault %s", err, medcard.FaultUnavailable.ID)
	}
}
