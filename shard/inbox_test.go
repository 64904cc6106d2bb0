package shard

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/zap"

	"github.com/sharedmedcard/gateway/medcard"
)

const yyInbox = 66

// withOrders is card with one order per status given, for pharmacy.
func withOrders(c *medcard.Card, pharmacy string, statuses ...medcard.OrderStatus) *medcard.Card {
	for _, st := range statuses {
		c.LastItemID++
		c.Orders = append(c.Orders, medcard.Order{ID: c.LastItemID, PrescriptionID: 1, Pharmacy: pharmacy, Status: st})
	}
	return c
}

// queryCounter counts, per database, the statements that search open
// orders, as a pgx tracer on the store's pools.
type queryCounter struct {
	mu sync.Mutex
	n  map[string]int
}

func (q *queryCounter) TraceQueryStart(ctx context.Context, conn *pgx.Conn, data pgx.TraceQueryStartData) context.Context {
	if strings.Contains(data.SQL, "FROM open_orders o") {
		q.mu.Lock()
		q.n[conn.Config().Database]++
		q.mu.Unlock()
	}
	return ctx
}

func (q *queryCounter) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

// TestOrderInbox: the open and started orders of a pharmacy, written by
// WriteCard or loaded by LoadCards, are found on both databases with one
// query each, by the index, oldest first, and nothing else: not closed
// orders, not another pharmacy's; a card write that closes an order takes
// it out.
func TestOrderInbox(t *testing.T) {
	c := needCluster(t)
	ctx := t.Context()
	counter := &queryCounter{n: map[string]int{}}
	store, err := Open(ctx, c.catalog, zap.NewNop(), func(cfg *pgxpool.Config) { cfg.ConnConfig.Tracer = counter })
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	const pharmacy = "SOR:inbox-test"
	ps := newPersons(t, yyInbox)
	m := store.Map()
	onDB := func(db string) func(int) bool { return func(s int) bool { return m.Owner[s] == db } }

	var want []medcard.PersonID
	var load []*medcard.Card
	for i, db := range []string{"shard1", "shard2", "shard1", "shard2"} {
		p := ps.draw(onDB(db))
		card := cardAt(p, 1)
		switch i {
		case 0:
			withOrders(card, pharmacy, medcard.OrderOpen)
		case 1:
			withOrders(card, pharmacy, medcard.OrderCompleted, medcard.OrderInProgress)
		case 2:
			withOrders(card, pharmacy, medcard.OrderCompleted, medcard.OrderCancelled) // closed: not in the inbox
		case 3:
			withOrders(card, "SOR:another", medcard.OrderOpen) // another pharmacy's
		}
		if i < 2 {
			want = append(want, p)
		}
		load = append(load, card)
	}
	if _, err := store.LoadCards(ctx, load); err != nil {
		t.Fatal(err)
	}
	// Written by a card write: an order opens on one card, and the order
	// of another is completed (it leaves the inbox).
	opened := ps.draw(onDB("shard2"))
	mustWrite(t, store, newWrite(opened, 0, "inbox-create"))
	w := newWrite(opened, 1, "inbox-order")
	withOrders(w.Card, pharmacy, medcard.OrderOpen)
	mustWrite(t, store, w)
	want = append(want, opened)
	closing := load[0]
	w = newWrite(closing.PersonID, 1, "inbox-complete")
	w.Card = withOrders(cardAt(closing.PersonID, 2), pharmacy, medcard.OrderCompleted)
	mustWrite(t, store, w)
	want = slices.DeleteFunc(want, func(p medcard.PersonID) bool { return p == closing.PersonID })

	entries, err := store.OpenOrders(ctx, pharmacy, medcard.InboxQuery{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	var got []medcard.PersonID
	for i, e := range entries {
		got = append(got, e.Person)
		if i > 0 && e.OrderedAt.Before(entries[i-1].OrderedAt) {
			t.Errorf("inbox entry %d is older than the one before it", i)
		}
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("inbox of %s = %v, want %v", pharmacy, got, want)
	}
	if few, err := store.OpenOrders(ctx, pharmacy, medcard.InboxQuery{Limit: 1}); err != nil || len(few) != 1 {
		t.Errorf("OpenOrders with limit 1 = %d entries, %v", len(few), err)
	}
	counter.mu.Lock()
	counter.n = map[string]int{"shard1": counter.n["shard1"] - 1, "shard2": counter.n["shard2"] - 1} // the limit-1 call's
	counter.mu.Unlock()
	if want := map[string]int{"shard1": 1, "shard2": 1}; fmt.Sprint(counter.n) != fmt.Sprint(want) {
		t.Errorf("inbox queries per database = %v, want %v (one per database, never one per shard)", counter.n, want)
	}

	// The plan: the index, with 20,000 open orders of forty other
	// pharmacies beside the test's (about what a database holds at
	// 1,000,000 persons); they are removed afterwards.
	for _, db := range shardDBs {
		if _, err := c.db[db].Exec(ctx, `INSERT INTO open_orders
			SELECT s.shard, 'filler-' || g, g, 'SOR:filler-' || (g % 40), 'Open', now() - g * interval '1 minute', '', '', '', 1, 1, false
			FROM generate_series(1, 20000) g, (SELECT min(shard) AS shard FROM owned_shards) s`); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			c.db[db].Exec(context.Background(), `DELETE FROM open_orders WHERE person LIKE 'filler-%'`)
		})
	}
	for _, db := range shardDBs {
		if _, err := c.db[db].Exec(ctx, `ANALYZE cards`); err != nil {
			t.Fatal(err)
		}
		if _, err := c.db[db].Exec(ctx, `ANALYZE open_orders`); err != nil {
			t.Fatal(err)
		}
		rows, err := c.db[db].Query(ctx, "EXPLAIN "+openOrdersSQL, pharmacy, 100, true)
		if err != nil {
			t.Fatal(err)
		}
		plan, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		if text := strings.Join(plan, "\n"); !strings.Contains(text, "open_orders_pharmacy") {
			t.Errorf("%s: the inbox query does not use the index open_orders_pharmacy:\n%s", db, text)
		}
	}
}
