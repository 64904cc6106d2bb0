package shard

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/zap"

	"github.com/sharedmedcard/gateway/medcard"
)

// Birth years of the access log tests' persons.
const (
	yyAccessLog = 90 + iota
	yyAuditFarTimes
)

// TestAccessLogOfTheStore: the store's page read returns one person's rows
// in the range, newest first by time and then id, every column as written:
// those the AuditWriter batches (look-ups) and those a write commits with
// the card (changes, with their items), on both databases.
func TestAccessLogOfTheStore(t *testing.T) {
	c := needCluster(t)
	ctx := t.Context()
	m := catalogMap(t)
	ps := newPersons(t, yyAccessLog)
	for _, db := range shardDBs {
		person := ps.draw(on(m, db))
		t.Run(db, func(t *testing.T) {
			w := NewAuditWriter(c.store, zap.NewNop(), AuditOptions{})
			t0 := time.Now().UTC().Truncate(time.Millisecond)
			look := medcard.AuditEntry{Operation: medcard.OpGetMedicineCard, At: t0, System: "gp", Organisation: "SOR:1",
				Role: medcard.RoleDoctor, AuthorisationID: "AUTH1", MessageID: "look-1", FlowID: "flow-1",
				Consent: medcard.ConsentGiven, EmergencyOverride: true}
			web := medcard.AuditEntry{Operation: medcard.OpGetPrescription, At: t0.Add(2 * time.Second), System: "web-ui",
				Organisation: "SOR:apotek", Role: medcard.RolePharmacist, ActingUser: "hanne", MessageID: "look-2",
				Consent: medcard.ConsentWithdrawn, CardVersion: 1}
			for _, e := range []medcard.AuditEntry{look, web} {
				if err := w.RecordRead(ctx, person, e); err != nil {
					t.Fatal(err)
				}
			}
			flushAudit(t, w)
			change := medcard.AuditEntry{Operation: medcard.OpCreateDrugMedication, At: t0.Add(time.Second), System: "gp",
				Organisation: "SOR:1", Role: medcard.RoleDoctor, MessageID: "change-1", Consent: medcard.ConsentNone,
				CardVersion: 1, Items: []string{"DrugMedication:1"}}
			hash := []byte("h")
			if err := c.store.WriteCard(ctx, &medcard.CardWrite{Person: person, Card: &medcard.Card{PersonID: person, Version: 1},
				Key: medcard.OutcomeKey{System: "gp", MessageID: "change-1"}, RequestHash: hash,
				Result: medcard.WriteResult{CardVersion: 1}, Audit: change}); err != nil {
				t.Fatal(err)
			}
			end := medcard.AccessLogCursor{At: t0.Add(time.Hour)}
			got, err := c.store.ReadAccessLog(ctx, person, medcard.AccessLogRange{From: t0, Before: end, Limit: 10})
			if err != nil {
				t.Fatal(err)
			}
			want := []medcard.AuditEntry{web, change, look}
			if diff := cmp.Diff(want, entries(got)); diff != "" {
				t.Errorf("ReadAccessLog (-want +got):\n%s", diff)
			}
			// A page of one, then the rest after its cursor; the range's
			// From is inclusive.
			first, err := c.store.ReadAccessLog(ctx, person, medcard.AccessLogRange{From: t0, Before: end, Limit: 1})
			if err != nil || len(first) != 1 {
				t.Fatalf("first page = %v, %v", first, err)
			}
			rest, err := c.store.ReadAccessLog(ctx, person, medcard.AccessLogRange{From: t0,
				Before: medcard.AccessLogCursor{At: first[0].Entry.At, ID: first[0].ID}, Limit: 10})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want[1:], entries(rest)); diff != "" {
				t.Errorf("page after the first (-want +got):\n%s", diff)
			}
			// Another person on the same database has none of these.
			stranger := ps.draw(on(m, db))
			if other, err := c.store.ReadAccessLog(ctx, stranger, medcard.AccessLogRange{From: t0, Before: end, Limit: 10}); err != nil || len(other) != 0 {
				t.Errorf("another person's log = %v, %v; want empty", other, err)
			}
		})
	}
}

// TestAuditRowsAtAnyTime: an audit row far in the future or the past (a
// clock gone wrong) is taken, by the default partition, and read back;
// when the month of a future one is made, the row moves into it.
func TestAuditRowsAtAnyTime(t *testing.T) {
	c := needCluster(t)
	ctx := t.Context()
	m := catalogMap(t)
	person := newPersons(t, yyAuditFarTimes).draw(nil)
	db := m.Owner[Of(string(person))]
	w := NewAuditWriter(c.store, zap.NewNop(), AuditOptions{})
	times := []time.Time{
		time.Date(2190, 3, 15, 12, 0, 0, 0, time.UTC),
		time.Date(1901, 1, 2, 0, 0, 0, 0, time.UTC),
	}
	for i, at := range times {
		e := medcard.AuditEntry{Operation: medcard.OpGetMedicineCard, At: at, System: "gp", Organisation: "SOR:1",
			Role: medcard.RoleDoctor, MessageID: fmt.Sprintf("far-%d", i), Consent: medcard.ConsentNone}
		if err := w.RecordRead(ctx, person, e); err != nil {
			t.Fatal(err)
		}
	}
	flushAudit(t, w)
	wide := medcard.AccessLogRange{From: time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC),
		Before: medcard.AccessLogCursor{At: time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC)}, Limit: 10}
	got, err := c.store.ReadAccessLog(ctx, person, wide)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || !got[0].Entry.At.Equal(times[0]) || !got[1].Entry.At.Equal(times[1]) {
		t.Fatalf("rows far in time = %v, want at %v", entries(got), times)
	}
	wantPartitions := func(want ...string) {
		t.Helper()
		var parts []string
		if err := c.db[db].QueryRow(ctx, `SELECT array_agg(tableoid::regclass::text ORDER BY at DESC) FROM audit_log WHERE person = $1`,
			string(person)).Scan(&parts); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, parts); diff != "" {
			t.Errorf("partitions of the rows (-want +got):\n%s", diff)
		}
	}
	wantPartitions("audit_log_default", "audit_log_default")
	if _, err := c.store.MaintainAuditPartitions(ctx, times[0], 0, 0); err != nil {
		t.Fatal(err)
	}
	wantPartitions("audit_log_p219003", "audit_log_default")
	if again, err := c.store.ReadAccessLog(ctx, person, wide); err != nil || len(again) != 2 {
		t.Errorf("rows after their month was made = %v, %v", entries(again), err)
	}
}

// TestAuditRetentionDropsWholeMonths: maintenance makes the months ahead
// and drops, whole, every month that ended before the retention; the
// month the cutoff falls in, and everything newer, stays, and so do the
// default partition's rows after the cutoff. It runs on a database of its
// own: a retention as of a time to come would drop the other tests' rows.
func TestAuditRetentionDropsWholeMonths(t *testing.T) {
	c := needCluster(t)
	ctx := t.Context()
	if _, err := c.db["catalog"].Exec(ctx, `DROP DATABASE IF EXISTS audit_retention`); err != nil {
		t.Fatal(err)
	}
	if _, err := c.db["catalog"].Exec(ctx, `CREATE DATABASE audit_retention`); err != nil {
		t.Fatal(err)
	}
	dsn := strings.Replace(c.dsn["catalog"], "/catalog?", "/audit_retention?", 1)
	if _, err := MigrateShardDatabase(ctx, dsn); err != nil {
		t.Fatal(err)
	}
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()

	now := time.Date(2327, 12, 3, 10, 0, 0, 0, time.UTC)
	// The 20th of the months 30, 27, 26 and 1 back, of this one, and a
	// row in the default partition on either side of the cutoff.
	var ats []time.Time
	for _, back := range []int{30, 27, 26, 1, 0} {
		ats = append(ats, time.Date(2327, 12-time.Month(back), 20, 0, 0, 0, 0, time.UTC))
	}
	if _, err := pool.Exec(ctx, `SELECT audit_log_ensure_months($1, 31)`, ats[0]); err != nil {
		t.Fatal(err)
	}
	ats = append(ats, time.Date(2190, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2328, 9, 1, 0, 0, 0, 0, time.UTC))
	if _, err := pool.Exec(ctx, `INSERT INTO owned_shards (shard) VALUES (0)`); err != nil {
		t.Fatal(err)
	}
	for i, at := range ats {
		if _, err := pool.Exec(ctx, `INSERT INTO audit_log (shard, person, at, operation, system, organisation, role, message_id, card_version)
			VALUES (0, 'p', $1, 'GetMedicineCard', 'gp', 'SOR:1', 'Doctor', $2, 0)`, at, fmt.Sprintf("ret-%d", i)); err != nil {
			t.Fatal(err)
		}
	}

	// The months before the cutoff: the migration's, around today, and
	// 2325-06 to -09.
	var before int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
		WHERE i.inhparent = 'audit_log'::regclass AND c.relname ~ '^audit_log_p' AND c.relname < 'audit_log_p232510'`).Scan(&before); err != nil {
		t.Fatal(err)
	}
	res, err := maintainAuditPartitions(ctx, pool, now, 3, 26)
	if err != nil {
		t.Fatal(err)
	}
	// Those months are dropped; 2328-01 to -03 are made ahead (this month
	// exists).
	if want := (AuditPartitions{Created: 3, Dropped: before, Cutoff: time.Date(2325, 10, 1, 0, 0, 0, 0, time.UTC)}); before < 4 || res != want {
		t.Errorf("maintainAuditPartitions = %+v, want %+v", res, want)
	}
	for month, want := range map[string]bool{
		"audit_log_p232506": false, "audit_log_p232509": false, "audit_log_p232510": true,
		"audit_log_p232711": true, "audit_log_p232712": true, "audit_log_p232803": true, "audit_log_p232804": false,
	} {
		var exists bool
		if err := pool.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, month).Scan(&exists); err != nil {
			t.Fatal(err)
		}
		if exists != want {
			t.Errorf("partition %s exists = %v, want %v", month, exists, want)
		}
	}
	var kept []string
	if err := pool.QueryRow(ctx, `SELECT array_agg(message_id ORDER BY at DESC) FROM audit_log`).Scan(&kept); err != nil {
		t.Fatal(err)
	}
	// 30 and 27 months back (2325-06, 2325-09) went with their months;
	// 26 months back (2325-10) is the oldest month kept; of the default
	// partition's rows, the one before the cutoff went.
	if diff := cmp.Diff([]string{"ret-6", "ret-4", "ret-3", "ret-2"}, kept); diff != "" {
		t.Errorf("rows kept (-want +got):\n%s", diff)
	}
	// Run again: nothing more to do.
	if again, err := maintainAuditPartitions(ctx, pool, now, 3, 26); err != nil || again.Created+again.Dropped != 0 {
		t.Errorf("maintenance again = %+v, %v; want nothing done", again, err)
	}
}

// TestMaintainAuditPartitionsMakesMonthsAhead: on the cluster's databases,
// maintenance as of now makes this month and the next three, and a
// retention of a century drops nothing.
func TestMaintainAuditPartitionsMakesMonthsAhead(t *testing.T) {
	c := needCluster(t)
	ctx := t.Context()
	now := time.Now().UTC()
	res, err := c.store.MaintainAuditPartitions(ctx, now, 3, 1200)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != len(shardDBs) {
		t.Fatalf("maintained %d databases, want %d", len(res), len(shardDBs))
	}
	for _, r := range res {
		if r.Dropped != 0 {
			t.Errorf("%s: %d months dropped with a retention of a century", r.Database, r.Dropped)
		}
		for i := range 4 {
			month := time.Date(now.Year(), now.Month()+time.Month(i), 1, 0, 0, 0, 0, time.UTC)
			var exists bool
			if err := c.db[r.Database].QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, month.Format("audit_log_p200601")).Scan(&exists); err != nil {
				t.Fatal(err)
			}
			if !exists {
				t.Errorf("%s: no partition for %s", r.Database, month.Format("2006-01"))
			}
		}
	}
}

func entries(ls []medcard.LoggedAccess) []medcard.AuditEntry {
	out := make([]medcard.AuditEntry, len(ls))
	for i, l := range ls {
		out[i] = l.Entry
		if len(out[i].Items) == 0 {
			out[i].Items = nil
		}
	}
	return out
}
