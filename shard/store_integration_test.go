package shard

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"go.uber.org/zap"

	"github.com/sharedmedcard/gateway/medcard"
)

// Each test draws its persons from its own birth year so that no two tests
// touch the same card (the tests share one cluster).
const (
	yyRouting = 50 + iota
	yyWrongDB
	yyStale
	yyCAS
	yyRead
	yyLocked
	yyLoad
)

// shardDBs are the shard databases of the test cluster.
var shardDBs = []string{"shard1", "shard2"}

// persons hands out distinct valid CPR numbers born in 19yy: day 1-28,
// month 1-12 and a sequence number 0000-3999 (a seventh digit of 0-3 puts
// the birth year in the 1900s).
type persons struct {
	t    *testing.T
	yy   int
	next *int
}

// drawn remembers, per birth year, how many candidates were used, so that
// running the tests again (-count) in the same cluster gets fresh persons.
var drawn [100]int

func newPersons(t *testing.T, yy int) *persons { return &persons{t: t, yy: yy, next: &drawn[yy]} }

// draw returns the next person whose logical shard satisfies want (nil:
// any shard).
func (ps *persons) draw(want func(shard int) bool) medcard.PersonID {
	ps.t.Helper()
	for ; *ps.next < 28*12*4000; *ps.next++ {
		n := *ps.next
		s := fmt.Sprintf("%02d%02d%02d%04d", 1+n%28, 1+(n/28)%12, ps.yy, n/(28*12))
		if want != nil && !want(Of(s)) {
			continue
		}
		*ps.next++
		p, err := medcard.ParsePersonID(s)
		if err != nil {
			ps.t.Fatalf("ParsePersonID(%q): %v", s, err)
		}
		return p
	}
	ps.t.Fatalf("no more persons born in 19%02d", ps.yy)
	return ""
}

// on returns a shard predicate: the shard belongs to database db in m.
func on(m *Map, db string) func(int) bool {
	return func(shard int) bool { return m.Owner[shard] == db }
}

var messageSeq atomic.Int64

// messageID returns a MessageID no other write in this test binary uses.
func messageID(t *testing.T) string {
	return fmt.Sprintf("%s/%d", t.Name(), messageSeq.Add(1))
}

var testTime = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

// drugMedication is the item a write at card version v adds (its id is v).
func drugMedication(v int64) medcard.DrugMedication {
	stamp := medcard.Stamp{
		By: medcard.Modifier{Role: medcard.RoleDoctor, Organisation: "org", System: "test"},
		At: testTime.Add(time.Duration(v) * time.Minute),
	}
	return medcard.DrugMedication{
		ID: v, Version: 1, CardVersion: v, Status: medcard.DrugMedicationActive,
		Drug:       medcard.Drug{Identifier: fmt.Sprint(28100000000 + v), Name: "Panodil", ATCCode: "N02BE01"},
		Dosage:     medcard.Dosage{Text: "1 tablet 3 times daily"},
		Indication: medcard.Indication{Text: "pain"},
		BeginDate:  "2024-05-01",
		Created:    stamp,
		Modified:   stamp,
	}
}

// cardAt is the card after v writes that each added one drug medication.
func cardAt(person medcard.PersonID, v int64) *medcard.Card {
	c := &medcard.Card{PersonID: person, Version: v, LastItemID: v, Prescriptions: []medcard.Prescription{}}
	for i := int64(1); i <= v; i++ {
		c.DrugMedications = append(c.DrugMedications, drugMedication(i))
	}
	return c
}

// newWrite is a write that takes person's card from version base to base+1
// under the key ("test", msgID).
func newWrite(person medcard.PersonID, base int64, msgID string) *medcard.CardWrite {
	v := base + 1
	hash := sha256.Sum256([]byte(string(person) + "\x00" + msgID))
	return &medcard.CardWrite{
		Person:      person,
		BaseVersion: base,
		Card:        cardAt(person, v),
		Key:         medcard.OutcomeKey{System: "test", MessageID: msgID},
		RequestHash: hash[:],
		Result: medcard.WriteResult{CardVersion: v,
			Items: []medcard.ItemVersion{{Kind: medcard.ItemDrugMedication, ID: v, Version: 1}}},
		Audit: medcard.AuditEntry{Operation: medcard.OpCreateDrugMedication, At: time.Now(), System: "test",
			Organisation: "org", Role: medcard.RoleDoctor, MessageID: msgID, CardVersion: v},
	}
}

// mustWrite writes through store and fails the test on an error.
func mustWrite(t *testing.T, store *Store, w *medcard.CardWrite) {
	t.Helper()
	if err := store.WriteCard(t.Context(), w); err != nil {
		t.Fatalf("WriteCard(base %d -> %d): %v", w.BaseVersion, w.Card.Version, err)
	}
}

// count runs a count query on database db (catalog, shard1 or shard2). It
// uses a background context so that cleanups may call it.
func count(t *testing.T, db, query string, args ...any) int {
	t.Helper()
	var n int
	if err := it.db[db].QueryRow(context.Background(), query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %s: %v", db, query, err)
	}
	return n
}

func cardRows(t *testing.T, db string, p medcard.PersonID) int {
	t.Helper()
	return count(t, db, `SELECT count(*) FROM cards WHERE person = $1`, string(p))
}

func auditRows(t *testing.T, db string, p medcard.PersonID) int {
	t.Helper()
	return count(t, db, `SELECT count(*) FROM audit_log WHERE person = $1`, string(p))
}

func outcomeRows(t *testing.T, db, msgID string) int {
	t.Helper()
	return count(t, db, `SELECT count(*) FROM write_outcomes WHERE system = 'test' AND message_id = $1`, msgID)
}

// storedVersion is the card version of p in db, 0 without a row.
func storedVersion(t *testing.T, db string, p medcard.PersonID) int64 {
	t.Helper()
	var v int64
	err := it.db[db].QueryRow(context.Background(), `SELECT version FROM cards WHERE person = $1`, string(p)).Scan(&v)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		t.Fatalf("%s: read version: %v", db, err)
	}
	return v
}

// catalogMap reads the shard map from the catalog as it is now.
func catalogMap(t *testing.T) *Map {
	t.Helper()
	m, err := it.catalog.LoadMap(context.Background())
	if err != nil {
		t.Fatalf("LoadMap: %v", err)
	}
	return m
}

// sqlState returns the SQLSTATE of err, or "" when it is no PostgreSQL error.
func sqlState(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code
	}
	return ""
}

func TestShardOfMatchesSQL(t *testing.T) {
	c := needCluster(t)
	type vector struct {
		person string
		golden int // -1: no golden value, only Go against SQL
	}
	var vectors []vector
	for _, g := range goldenShards {
		vectors = append(vectors, vector{g.person, g.shard})
	}
	// CPR-like strings: ten digits spread over days, months, years and
	// sequence numbers, valid dates or not (the hash does not care).
	for n := range 2000 {
		s := fmt.Sprintf("%02d%02d%02d%04d", n%32, 1+(n/32)%12, (n*7)%100, (n*7919)%10000)
		vectors = append(vectors, vector{s, -1})
	}
	for _, db := range shardDBs {
		t.Run(db, func(t *testing.T) {
			got := make([]int, len(vectors))
			b := &pgx.Batch{}
			for i, v := range vectors {
				b.Queue(`SELECT shard_of($1)`, v.person).QueryRow(func(row pgx.Row) error { return row.Scan(&got[i]) })
			}
			if err := c.db[db].SendBatch(t.Context(), b).Close(); err != nil {
				t.Fatalf("SELECT shard_of: %v", err)
			}
			for i, v := range vectors {
				if of := Of(v.person); of != got[i] {
					t.Errorf("Of(%q) = %d, want %d (shard_of in SQL)", v.person, of, got[i])
				}
				if v.golden >= 0 && got[i] != v.golden {
					t.Errorf("shard_of(%q) = %d, want %d (golden)", v.person, got[i], v.golden)
				}
			}
		})
	}
}

func TestRouting(t *testing.T) {
	c := needCluster(t)
	m := catalogMap(t)
	ps := newPersons(t, yyRouting)
	const n = 200
	var all []string
	for range n {
		p := ps.draw(nil)
		all = append(all, string(p))
		ctx, rl := medcard.WithRequestLog(t.Context())
		if err := c.store.WriteCard(ctx, newWrite(p, 0, messageID(t))); err != nil {
			t.Fatalf("WriteCard: %v", err)
		}
		if want := Of(string(p)); rl.Shard != want || rl.Database != m.Owner[want] {
			t.Errorf("request log of a write: shard %d on %s, want %d on %s", rl.Shard, rl.Database, want, m.Owner[want])
		}
	}

	where := map[string]string{} // person -> database holding its card
	for _, db := range shardDBs {
		// The shards the catalog gives this database, from the catalog.
		var owned []int32
		if err := c.db["catalog"].QueryRow(t.Context(),
			`SELECT coalesce(array_agg(shard), '{}') FROM shard_map WHERE database = $1`, db).Scan(&owned); err != nil {
			t.Fatalf("read shard_map: %v", err)
		}
		for _, table := range []string{"cards", "write_outcomes", "audit_log"} {
			if k := count(t, db, `SELECT count(*) FROM `+table+` WHERE NOT (shard = ANY($1))`, owned); k != 0 {
				t.Errorf("%s: %d rows in %s for shards the catalog maps elsewhere", db, k, table)
			}
		}
		if k := count(t, db, `SELECT count(*) FROM cards WHERE shard <> shard_of(person)`); k != 0 {
			t.Errorf("%s: %d cards whose shard column is not shard_of(person)", db, k)
		}

		rows, err := c.db[db].Query(t.Context(), `SELECT person, shard FROM cards WHERE person = ANY($1)`, all)
		if err != nil {
			t.Fatalf("%s: %v", db, err)
		}
		var person string
		var shard int
		got := 0
		_, err = pgx.ForEachRow(rows, []any{&person, &shard}, func() error {
			got++
			if prev, dup := where[person]; dup {
				t.Errorf("person %s has a card in %s and in %s", person, prev, db)
			}
			where[person] = db
			if of := Of(person); of != shard {
				t.Errorf("%s: Of(%q) = %d, want %d (the row's shard column)", db, person, of, shard)
			}
			return nil
		})
		if err != nil {
			t.Fatalf("%s: %v", db, err)
		}
		if got == 0 {
			t.Errorf("%s got none of the %d cards", db, n)
		}
		// Each card's audit row and stored outcome live with it.
		if k := count(t, db, `SELECT count(*) FROM audit_log WHERE person = ANY($1)`, all); k != got {
			t.Errorf("%s: %d audit rows for its %d cards", db, k, got)
		}
		t.Logf("%s holds %d of the %d cards", db, got, n)
	}
	for _, p := range all {
		if where[p] == "" {
			t.Errorf("person %s has no card in any database", p)
		} else if want := m.Owner[Of(p)]; where[p] != want {
			t.Errorf("person %s (shard %d) is in %s, want %s", p, Of(p), where[p], want)
		}
	}
}

func TestWrongDatabaseRefused(t *testing.T) {
	c := needCluster(t)
	m := catalogMap(t)
	ps := newPersons(t, yyWrongDB)

	t.Run("not owned", func(t *testing.T) {
		p := ps.draw(on(m, "shard1"))
		shard := Of(string(p))
		msgID := messageID(t)
		conn, err := pgx.Connect(t.Context(), c.dsn["shard2"])
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(context.Background())
		tests := []struct {
			table  string
			insert string
			args   []any
			count  string
			key    any
		}{
			{
				table:  "cards",
				insert: `INSERT INTO cards (person, shard, version, card) VALUES ($1, $2, 1, '{"version":1}')`,
				args:   []any{string(p), shard},
				count:  `SELECT count(*) FROM cards WHERE person = $1`,
				key:    string(p),
			},
			{
				table: "write_outcomes",
				insert: `INSERT INTO write_outcomes (system, message_id, shard, request_hash, result)
					VALUES ('test', $1, $2, '\x01', '{"cardVersion":1}')`,
				args:  []any{msgID, shard},
				count: `SELECT count(*) FROM write_outcomes WHERE message_id = $1`,
				key:   msgID,
			},
			{
				table: "audit_log",
				insert: `INSERT INTO audit_log (shard, person, at, operation, system, organisation, role, card_version)
					VALUES ($2, $1, now(), 'GetMedicineCard', 'test', 'org', 'Doctor', 0)`,
				args:  []any{string(p), shard},
				count: `SELECT count(*) FROM audit_log WHERE person = $1`,
				key:   string(p),
			},
		}
		for _, tt := range tests {
			_, err := conn.Exec(t.Context(), tt.insert, tt.args...)
			if got := sqlState(err); got != "MC001" {
				t.Errorf("INSERT INTO %s on shard2 for shard %d (owned by shard1): SQLSTATE %q (%v), want MC001",
					tt.table, shard, got, err)
			}
			if k := count(t, "shard2", tt.count, tt.key); k != 0 {
				t.Errorf("%s on shard2 has %d rows after the refused insert, want 0", tt.table, k)
			}
		}
		// The same rows are welcome on the owner: the refusal is the fence,
		// not a mistake in the statements.
		for _, tt := range tests {
			if _, err := c.db["shard1"].Exec(t.Context(), tt.insert, tt.args...); err != nil {
				t.Errorf("INSERT INTO %s on shard1 (the owner): %v", tt.table, err)
			}
		}
	})

	t.Run("frozen", func(t *testing.T) {
		p := ps.draw(on(m, "shard2"))
		shard := Of(string(p))
		owner := m.Owner[shard]
		setWritable := func(writable bool) {
			t.Helper()
			tag, err := c.db[owner].Exec(context.Background(),
				`UPDATE owned_shards SET writable = $2 WHERE shard = $1`, shard, writable)
			if err != nil || tag.RowsAffected() != 1 {
				t.Fatalf("set shard %d writable=%v on %s: %v (%d rows)", shard, writable, owner, err, tag.RowsAffected())
			}
		}
		setWritable(false)
		t.Cleanup(func() { setWritable(true) })

		w := newWrite(p, 0, messageID(t))
		start := time.Now()
		err := c.store.WriteCard(t.Context(), w)
		waited := time.Since(start)
		if err == nil {
			t.Fatal("WriteCard on a frozen shard succeeded")
		}
		if f := medcard.FaultOf(err); f.Code != medcard.CodeUnavailable {
			t.Errorf("WriteCard on a frozen shard: fault %v (%v), want code %s", f, err, medcard.CodeUnavailable)
		}
		if waited < frozenWait {
			t.Errorf("WriteCard gave up on a frozen shard after %v, want it to wait %v", waited, frozenWait)
		}
		if k := cardRows(t, owner, p); k != 0 {
			t.Errorf("frozen shard: %d card rows written, want 0", k)
		}
		if k := outcomeRows(t, owner, w.Key.MessageID); k != 0 {
			t.Errorf("frozen shard: %d outcome rows written, want 0", k)
		}
		if k := auditRows(t, owner, p); k != 0 {
			t.Errorf("frozen shard: %d audit rows written, want 0", k)
		}

		// Reads stay available while a shard is frozen, and so does their
		// audit trail.
		card, err := c.store.ReadCard(t.Context(), p)
		if err != nil || card.Version != 0 {
			t.Errorf("ReadCard on a frozen shard = %+v, %v; want an empty card", card, err)
		}
		audits := NewAuditWriter(c.store, zap.NewNop(), AuditOptions{})
		if err := audits.RecordRead(t.Context(), p, medcard.AuditEntry{Operation: medcard.OpGetMedicineCard,
			At: time.Now(), System: "test", Organisation: "org", Role: medcard.RoleNurse}); err != nil {
			t.Fatalf("RecordRead on a frozen shard: %v", err)
		}
		if err := audits.Flush(t.Context()); err != nil {
			t.Fatalf("Flush on a frozen shard: %v", err)
		}
		if k := auditRows(t, owner, p); k != 1 {
			t.Errorf("a look-up on a frozen shard left %d audit rows, want 1", k)
		}

		setWritable(true)
		mustWrite(t, c.store, w)
		if v := storedVersion(t, owner, p); v != 1 {
			t.Errorf("after thawing: card version %d, want 1", v)
		}

		// A write that meets a short freeze waits it out and succeeds.
		setWritable(false)
		thawed := make(chan struct{})
		go func() {
			defer close(thawed)
			time.Sleep(300 * time.Millisecond)
			if _, err := c.db[owner].Exec(context.Background(),
				`UPDATE owned_shards SET writable = true WHERE shard = $1`, shard); err != nil {
				t.Errorf("thaw: %v", err)
			}
		}()
		err = c.store.WriteCard(t.Context(), newWrite(p, 1, messageID(t)))
		<-thawed
		if err != nil {
			t.Errorf("WriteCard during a short freeze: %v", err)
		}
		if v := storedVersion(t, owner, p); v != 2 {
			t.Errorf("after a short freeze: card version %d, want 2", v)
		}
	})
}

// moveShard moves logical shard shard from database from to database to the
// way a mover does: freeze at the source, own and copy at the target, give
// up and delete at the source, then point the catalog at the target.
func moveShard(t *testing.T, shard int, from, to string) {
	t.Helper()
	ctx := context.Background() // also runs in cleanups
	src, dst := it.db[from], it.db[to]
	exec := func(db, sql string, args ...any) {
		t.Helper()
		if _, err := it.db[db].Exec(ctx, sql, args...); err != nil {
			t.Fatalf("move shard %d: %s: %s: %v", shard, db, sql, err)
		}
	}
	exec(from, `UPDATE owned_shards SET writable = false WHERE shard = $1`, shard)
	exec(to, `INSERT INTO owned_shards (shard) VALUES ($1)`, shard)
	tables := []struct {
		name string
		cols []string
	}{
		{"cards", []string{"person", "shard", "version", "card", "updated_at"}},
		{"write_outcomes", []string{"system", "message_id", "shard", "request_hash", "result", "created_at"}},
		{"audit_log", []string{"shard", "person", "at", "operation", "system", "organisation", "role",
			"authorisation_id", "message_id", "card_version"}},
	}
	for _, tb := range tables {
		rows, err := src.Query(ctx, fmt.Sprintf(`SELECT %s FROM %s WHERE shard = $1`,
			strings.Join(tb.cols, ", "), tb.name), shard)
		if err != nil {
			t.Fatalf("move shard %d: read %s: %v", shard, tb.name, err)
		}
		vals, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) ([]any, error) { return row.Values() })
		if err != nil {
			t.Fatalf("move shard %d: read %s: %v", shard, tb.name, err)
		}
		if _, err := dst.CopyFrom(ctx, pgx.Identifier{tb.name}, tb.cols, pgx.CopyFromRows(vals)); err != nil {
			t.Fatalf("move shard %d: copy %s: %v", shard, tb.name, err)
		}
	}
	exec(from, `DELETE FROM owned_shards WHERE shard = $1`, shard)
	for _, tb := range tables {
		exec(from, `DELETE FROM `+tb.name+` WHERE shard = $1`, shard)
	}
	err := pgx.BeginFunc(ctx, it.db["catalog"], func(tx pgx.Tx) error {
		var epoch int64
		if err := tx.QueryRow(ctx, `UPDATE cluster SET epoch = epoch + 1 RETURNING epoch`).Scan(&epoch); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `UPDATE shard_map SET database = $2, epoch = $3 WHERE shard = $1`, shard, to, epoch)
		return err
	})
	if err != nil {
		t.Fatalf("move shard %d: update catalog: %v", shard, err)
	}
}

func TestStaleMapReloads(t *testing.T) {
	c := needCluster(t)
	stale, err := Open(t.Context(), c.catalog, zap.NewNop(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer stale.Close()
	staleReader, err := Open(t.Context(), c.catalog, zap.NewNop(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer staleReader.Close()
	staleWriter, err := Open(t.Context(), c.catalog, zap.NewNop(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer staleWriter.Close()
	m := stale.Map()
	ps := newPersons(t, yyStale)
	a := ps.draw(on(m, "shard1"))
	shard := Of(string(a))
	b := ps.draw(func(s int) bool { return s == shard })
	mustWrite(t, c.store, newWrite(a, 0, messageID(t))) // copied by the move

	moveShard(t, shard, "shard1", "shard2")
	t.Cleanup(func() {
		moveShard(t, shard, "shard2", "shard1")
		if err := c.store.Reload(context.Background()); err != nil {
			t.Errorf("reload after moving shard %d back: %v", shard, err)
		}
	})

	// A read through a stale map must not be answered by shard1, which no
	// longer owns the shard (there it would find no card): it reloads the
	// map and reads the moved card on shard2.
	readCtx, readLog := medcard.WithRequestLog(t.Context())
	if card, err := staleReader.ReadCard(readCtx, a); err != nil {
		t.Errorf("ReadCard through a stale map: %v", err)
	} else if card.Version != 1 || readLog.Database != "shard2" {
		t.Errorf("ReadCard through a stale map = version %d from %q, want version 1 from shard2",
			card.Version, readLog.Database)
	}

	// A write's read through a stale map must not judge the request
	// against shard1's empty card (the client's card version would be
	// refused as too new, a resend's stored outcome missed): it reloads the
	// map and reads the moved card on shard2.
	if card, _, err := staleWriter.ReadForWrite(t.Context(), a, medcard.OutcomeKey{System: "s", MessageID: messageID(t)}); err != nil || card.Version != 1 {
		t.Errorf("ReadForWrite through a stale map = %+v, %v; want version 1", card, err)
	}

	// The stale store still routes the shard to shard1, which refuses it
	// (MC001); it must reload the map and write to shard2.
	ctx, rl := medcard.WithRequestLog(t.Context())
	if err := stale.WriteCard(ctx, newWrite(b, 0, messageID(t))); err != nil {
		t.Fatalf("WriteCard through a stale map: %v", err)
	}
	if rl.Database != "shard2" {
		t.Errorf("write through a stale map served by %q, want shard2", rl.Database)
	}
	if got := stale.Map(); got.Epoch <= m.Epoch || got.Owner[shard] != "shard2" {
		t.Errorf("stale store's map after the write: epoch %d owner %q, want epoch > %d owner shard2",
			got.Epoch, got.Owner[shard], m.Epoch)
	}
	// The card written before the move was moved along and can be changed.
	mustWrite(t, stale, newWrite(a, 1, messageID(t)))

	for _, tt := range []struct {
		person  medcard.PersonID
		version int64
	}{{a, 2}, {b, 1}} {
		if k := cardRows(t, "shard1", tt.person); k != 0 {
			t.Errorf("shard1 still has %d card rows for a person on moved shard %d", k, shard)
		}
		if v := storedVersion(t, "shard2", tt.person); v != tt.version {
			t.Errorf("shard2: card version %d, want %d", v, tt.version)
		}
		if k := auditRows(t, "shard2", tt.person); k != int(tt.version) {
			t.Errorf("shard2: %d audit rows, want %d", k, tt.version)
		}
	}
}

func TestCompareAndSet(t *testing.T) {
	c := needCluster(t)
	m := catalogMap(t)
	ps := newPersons(t, yyCAS)
	p := ps.draw(nil)
	db := m.Owner[Of(string(p))]

	// Two creations of the same card race; exactly one may win.
	ws := []*medcard.CardWrite{newWrite(p, 0, messageID(t)), newWrite(p, 0, messageID(t))}
	errs := make([]error, len(ws))
	var wg sync.WaitGroup
	ready := make(chan struct{})
	for i, w := range ws {
		wg.Go(func() {
			<-ready
			errs[i] = c.store.WriteCard(t.Context(), w)
		})
	}
	close(ready)
	wg.Wait()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner < 0:
			winner = i
		case err == nil:
			t.Errorf("both creations of the card succeeded")
		case !errors.Is(err, medcard.ErrLostRace):
			t.Errorf("creation %d: %v, want nil or ErrLostRace", i, err)
		}
	}
	if winner < 0 {
		t.Fatalf("no creation won: %v", errs)
	}
	loser := ws[1-winner]
	if k := outcomeRows(t, db, ws[winner].Key.MessageID); k != 1 {
		t.Errorf("winner's stored outcomes: %d, want 1", k)
	}
	if k := outcomeRows(t, db, loser.Key.MessageID); k != 0 {
		t.Errorf("loser's stored outcomes: %d, want 0", k)
	}
	if k := auditRows(t, db, p); k != 1 {
		t.Errorf("audit rows after the race: %d, want 1 (the winner's)", k)
	}

	update := newWrite(p, 1, messageID(t))
	// A resend concerns one person, so a key is unique per logical shard:
	// another person on the same shard collides.
	otherPerson := ps.draw(func(shard int) bool { return shard == Of(string(p)) })
	tests := []struct {
		name        string
		write       *medcard.CardWrite
		wantErr     error
		wantVersion int64 // of p afterwards
		wantAudits  int   // of p afterwards
	}{
		{"update at the current version", update, nil, 2, 2},
		{"update from an old version", newWrite(p, 1, messageID(t)), medcard.ErrLostRace, 2, 2},
		{"create an existing card", newWrite(p, 0, messageID(t)), medcard.ErrLostRace, 2, 2},
		{"reuse a MessageID for another person", newWrite(otherPerson, 0, update.Key.MessageID), medcard.ErrLostRace, 2, 2},
	}
	for _, tt := range tests {
		err := c.store.WriteCard(t.Context(), tt.write)
		if !errors.Is(err, tt.wantErr) {
			t.Errorf("%s: WriteCard = %v, want %v", tt.name, err, tt.wantErr)
		}
		if v := storedVersion(t, db, p); v != tt.wantVersion {
			t.Errorf("%s: card version %d, want %d", tt.name, v, tt.wantVersion)
		}
		if k := auditRows(t, db, p); k != tt.wantAudits {
			t.Errorf("%s: %d audit rows, want %d", tt.name, k, tt.wantAudits)
		}
		if tt.wantErr != nil && tt.write.Key.MessageID != update.Key.MessageID {
			if k := outcomeRows(t, db, tt.write.Key.MessageID); k != 0 {
				t.Errorf("%s: the loser stored %d outcomes, want 0", tt.name, k)
			}
		}
	}
	// The reused key kept its first outcome, and the other person got
	// nothing at all.
	var hash []byte
	if err := c.db[db].QueryRow(t.Context(), `SELECT request_hash FROM write_outcomes WHERE system = 'test' AND message_id = $1`,
		update.Key.MessageID).Scan(&hash); err != nil {
		t.Fatalf("read the reused key's outcome: %v", err)
	}
	if !bytes.Equal(hash, update.RequestHash) {
		t.Errorf("the reused key's stored request hash changed")
	}
	if k := cardRows(t, db, otherPerson) + auditRows(t, db, otherPerson); k != 0 {
		t.Errorf("a write with a reused key left %d card or audit rows for its person", k)
	}
}

// TestReadCardAndItsAuditRow reads cards at several versions from the
// primary and records each look-up the way the service does, through the
// AuditWriter: ReadCard itself writes nothing, the flushed row says who
// looked at which version.
func TestReadCardAndItsAuditRow(t *testing.T) {
	c := needCluster(t)
	m := catalogMap(t)
	ps := newPersons(t, yyRead)
	tests := []struct {
		name   string
		writes int64 // the card's version before the read
	}{
		{"no card", 0},
		{"card at version 1", 1},
		{"card at version 3", 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := ps.draw(nil)
			db := m.Owner[Of(string(p))]
			for v := range tt.writes {
				mustWrite(t, c.store, newWrite(p, v, messageID(t)))
			}
			before := auditRows(t, db, p)
			msgID := messageID(t)
			card, err := c.store.ReadCard(t.Context(), p)
			if err != nil {
				t.Fatalf("ReadCard: %v", err)
			}
			want := &medcard.Card{}
			if tt.writes > 0 {
				want = cardAt("", tt.writes) // the store does not set PersonID
			}
			// ChangedAgo is the database's measure of the card's age.
			if tt.writes > 0 && (card.ChangedAgo < 0 || card.ChangedAgo > time.Minute) {
				t.Errorf("ReadCard ChangedAgo = %v, want [0, 1m] right after a write", card.ChangedAgo)
			}
			if diff := cmp.Diff(want, card, cmpopts.IgnoreFields(medcard.Card{}, "ChangedAgo")); diff != "" {
				t.Errorf("ReadCard mismatch (-want +got):\n%s", diff)
			}
			if k := auditRows(t, db, p); k != before {
				t.Fatalf("ReadCard wrote %d audit rows itself, want 0 (look-ups are the AuditWriter's)", k-before)
			}
			audits := NewAuditWriter(c.store, zap.NewNop(), AuditOptions{})
			err = audits.RecordRead(t.Context(), p, medcard.AuditEntry{Operation: medcard.OpGetMedicineCard,
				At: testTime, System: "test", Organisation: "org", Role: medcard.RolePharmacist,
				AuthorisationID: "auth-1", MessageID: msgID, CardVersion: card.Version})
			if err != nil {
				t.Fatalf("RecordRead: %v", err)
			}
			if err := audits.Flush(t.Context()); err != nil {
				t.Fatalf("Flush: %v", err)
			}
			if k := auditRows(t, db, p); k != before+1 {
				t.Fatalf("the look-up wrote %d audit rows, want 1", k-before)
			}
			var got struct {
				shard                              int
				version                            int64
				op, system, org, role, authID, msg string
				at                                 time.Time
			}
			err = c.db[db].QueryRow(t.Context(), `
				SELECT shard, card_version, operation, system, organisation, role, authorisation_id, message_id, at
				FROM audit_log WHERE person = $1 ORDER BY id DESC LIMIT 1`, string(p)).
				Scan(&got.shard, &got.version, &got.op, &got.system, &got.org, &got.role, &got.authID, &got.msg, &got.at)
			if err != nil {
				t.Fatalf("read audit row: %v", err)
			}
			if got.version != tt.writes {
				t.Errorf("audit row card_version = %d, want %d", got.version, tt.writes)
			}
			if got.shard != Of(string(p)) {
				t.Errorf("audit row shard: Of(%q) = %d, want %d", p, Of(string(p)), got.shard)
			}
			if got.op != string(medcard.OpGetMedicineCard) || got.system != "test" || got.org != "org" ||
				got.role != string(medcard.RolePharmacist) || got.authID != "auth-1" || got.msg != msgID || !got.at.Equal(testTime) {
				t.Errorf("audit row = %+v, want the read's audit entry", got)
			}
		})
	}
}

func TestWriteLockedSerializes(t *testing.T) {
	c := needCluster(t)
	m := catalogMap(t)
	p := newPersons(t, yyLocked).draw(nil)
	db := m.Owner[Of(string(p))]
	const writers = 20
	errs := make([]error, writers)
	var lostRaces atomic.Int32
	var wg sync.WaitGroup
	msgIDs := make([]string, writers)
	for i := range msgIDs {
		msgIDs[i] = messageID(t)
	}
	ready := make(chan struct{})
	for i := range writers {
		wg.Go(func() {
			<-ready
			key := medcard.OutcomeKey{System: "test", MessageID: msgIDs[i]}
			decide := func(card *medcard.Card, prior *medcard.StoredOutcome) (*medcard.CardWrite, error) {
				if prior != nil {
					return nil, fmt.Errorf("writer %d: key already has an outcome", i)
				}
				next := *card
				next.Version = card.Version + 1
				next.LastItemID = card.LastItemID + 1
				next.DrugMedications = append(slices.Clone(card.DrugMedications), drugMedication(next.Version))
				w := newWrite(p, card.Version, key.MessageID)
				w.Card = &next
				return w, nil
			}
			// ErrLostRace can only happen while the card does not exist
			// yet, so a few attempts are plenty.
			for attempt := 1; ; attempt++ {
				err := c.store.WriteLocked(t.Context(), p, key, decide)
				if errors.Is(err, medcard.ErrLostRace) && attempt < 3 {
					lostRaces.Add(1)
					continue
				}
				errs[i] = err
				return
			}
		})
	}
	close(ready)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("writer %d: %v", i, err)
		}
	}
	card, _, err := c.store.ReadForWrite(t.Context(), p, medcard.OutcomeKey{System: "test", MessageID: "none"})
	if err != nil {
		t.Fatalf("ReadForWrite: %v", err)
	}
	if card.Version != writers || len(card.DrugMedications) != writers {
		t.Fatalf("after %d locked writes: version %d with %d drug medications, want %d and %d",
			writers, card.Version, len(card.DrugMedications), writers, writers)
	}
	for i, dm := range card.DrugMedications {
		if want := int64(i + 1); dm.ID != want || dm.CardVersion != want {
			t.Errorf("drug medication %d: id %d at card version %d, want %d at %d", i, dm.ID, dm.CardVersion, want, want)
		}
	}
	if k := auditRows(t, db, p); k != writers {
		t.Errorf("%d audit rows, want %d", k, writers)
	}
	if k := count(t, db, `SELECT count(*) FROM write_outcomes WHERE system = 'test' AND message_id = ANY($1)`,
		msgIDs); k != writers {
		t.Errorf("%d stored outcomes, want %d", k, writers)
	}
	t.Logf("%d lost races while the card was being created", lostRaces.Load())
}

func TestLoadCards(t *testing.T) {
	c := needCluster(t)
	m := catalogMap(t)
	ps := newPersons(t, yyLoad)
	var cards []*medcard.Card
	for i, db := range []string{"shard1", "shard2", "shard1", "shard2", "shard1", "shard2"} {
		cards = append(cards, cardAt(ps.draw(on(m, db)), int64(1+i%3)))
	}
	empty := cardAt(ps.draw(nil), 0) // version 0: no row

	n, err := c.store.LoadCards(t.Context(), append(slices.Clone(cards), empty))
	if err != nil {
		t.Fatalf("LoadCards: %v", err)
	}
	if n != len(cards) {
		t.Errorf("LoadCards wrote %d cards, want %d", n, len(cards))
	}
	for _, want := range cards {
		p := want.PersonID
		owner := m.Owner[Of(string(p))]
		for _, db := range shardDBs {
			wantRows := 0
			if db == owner {
				wantRows = 1
			}
			if k := cardRows(t, db, p); k != wantRows {
				t.Errorf("%s holds %d cards of a person on shard %d (owner %s), want %d", db, k, Of(string(p)), owner, wantRows)
			}
		}
		got, _, err := c.store.ReadForWrite(t.Context(), p, medcard.OutcomeKey{System: "test", MessageID: "none"})
		if err != nil {
			t.Fatalf("ReadForWrite: %v", err)
		}
		got.PersonID = p
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("loaded card mismatch (-want +got):\n%s", diff)
		}
		if k := auditRows(t, owner, p); k != 0 {
			t.Errorf("LoadCards wrote %d audit rows, want 0", k)
		}
	}
	for _, db := range shardDBs {
		if k := cardRows(t, db, empty.PersonID); k != 0 {
			t.Errorf("%s holds a row for a card at version 0", db)
		}
	}

	// Loading again changes nothing, even when the cards differ.
	again := make([]*medcard.Card, len(cards))
	for i, cd := range cards {
		again[i] = cardAt(cd.PersonID, cd.Version+5)
	}
	n, err = c.store.LoadCards(t.Context(), again)
	if err != nil || n != 0 {
		t.Errorf("LoadCards again = %d, %v; want 0, nil", n, err)
	}
	for _, cd := range cards {
		if v := storedVersion(t, m.Owner[Of(string(cd.PersonID))], cd.PersonID); v != cd.Version {
			t.Errorf("after loading again: version %d, want %d (kept)", v, cd.Version)
		}
	}
}
