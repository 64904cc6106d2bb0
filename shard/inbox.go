package shard

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5"

	"github.com/sharedmedcard/gateway/medcard"
)

// openOrdersSQL reads a pharmacy's oldest open and started orders by the
// index on open_orders (pharmacy, created_at)
// (migrations/shard/006_open_orders.sql), of the shards this database
// owns (not the copies a move left behind).
const openOrdersSQL = `
SELECT o.person, o.order_id, o.pharmacy, o.status, o.created_at, o.drug_name, o.drug_strength, o.package_number, o.package_quantity,
       o.card_version, o.acknowledged
FROM open_orders o
WHERE o.pharmacy = $1 AND NOT (o.acknowledged AND $3)
  AND EXISTS (SELECT 1 FROM owned_shards s WHERE s.shard = o.shard)
ORDER BY o.created_at, o.person, o.order_id
LIMIT $2`

// OpenOrders implements medcard.OrderInbox: one query per shard database,
// all at once, never one per logical shard; the oldest limit of all.
func (s *Store) OpenOrders(ctx context.Context, pharmacy string, q medcard.InboxQuery) ([]medcard.InboxEntry, error) {
	m := s.current.Load()
	type result struct {
		entries []medcard.InboxEntry
		err     error
	}
	results := make(map[string]*result, len(m.Databases))
	var wg sync.WaitGroup
	for name, dsn := range m.Databases {
		res := &result{}
		results[name] = res
		wg.Go(func() {
			p, err := s.pool(name, dsn)
			if err == nil {
				var rows pgx.Rows
				if rows, err = p.Query(ctx, openOrdersSQL, pharmacy, q.Limit, q.OnlyNew); err == nil {
					res.entries, err = pgx.CollectRows(rows, scanInboxEntry)
				}
			}
			if err != nil {
				res.err = medcard.WrapError(medcard.FaultUnavailable, fmt.Errorf("shard database %s: %w", name, err), "the order inbox is unavailable")
			}
		})
	}
	wg.Wait()
	var all []medcard.InboxEntry
	for _, res := range results {
		if res.err != nil {
			return nil, res.err
		}
		all = append(all, res.entries...)
	}
	slices.SortFunc(all, func(a, b medcard.InboxEntry) int {
		if c := a.OrderedAt.Compare(b.OrderedAt); c != 0 {
			return c
		}
		if c := strings.Compare(string(a.Person), string(b.Person)); c != 0 {
			return c
		}
		return int(a.OrderID - b.OrderID)
	})
	return all[:min(q.Limit, len(all))], nil
}

func scanInboxEntry(r pgx.CollectableRow) (medcard.InboxEntry, error) {
	var e medcard.InboxEntry
	var person, status string
	var quantity int32
	err := r.Scan(&person, &e.OrderID, &e.Pharmacy, &status, &e.OrderedAt, &e.Drug.Name, &e.Drug.Strength, &e.PackageNumber, &quantity,
		&e.CardVersion, &e.Acknowledged)
	e.Person, e.Status, e.PackageQuantity = medcard.PersonID(person), medcard.OrderStatus(status), int(quantity)
	return e, err
}
