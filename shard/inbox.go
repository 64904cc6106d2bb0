package shard

import (
	"context"
	"fmt"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sharedmedcard/gateway/medcard"
)

// openOrdersSQL finds the cards on which a pharmacy holds an open or
// started order, by the partial GIN index on open_orders
// (migrations/shard/006_open_orders.sql), of the shards this database
// owns (not the copies a move left behind).
const openOrdersSQL = `
SELECT c.person, c.version, c.card FROM cards c
WHERE c.open_orders @> ARRAY[$1::text] AND c.open_orders IS NOT NULL
  AND EXISTS (SELECT 1 FROM owned_shards o WHERE o.shard = c.shard)`

// CardsWithOpenOrders implements medcard.OrderInbox: one query per shard
// database, all at once, never one per logical shard.
func (s *Store) CardsWithOpenOrders(ctx context.Context, pharmacy string) ([]*medcard.Card, error) {
	m := s.current.Load()
	type result struct {
		cards []*medcard.Card
		err   error
	}
	results := make(map[string]*result, len(m.Databases))
	var wg sync.WaitGroup
	for name, dsn := range m.Databases {
		res := &result{}
		results[name] = res
		wg.Go(func() {
			p, err := s.pool(name, dsn)
			if err == nil {
				res.cards, err = openOrderCards(ctx, p, pharmacy)
			}
			if err != nil {
				res.err = medcard.WrapError(medcard.FaultUnavailable, fmt.Errorf("shard database %s: %w", name, err), "the order inbox is unavailable")
			}
		})
	}
	wg.Wait()
	var all []*medcard.Card
	for _, res := range results {
		if res.err != nil {
			return nil, res.err
		}
		all = append(all, res.cards...)
	}
	return all, nil
}

func openOrderCards(ctx context.Context, q *pgxpool.Pool, pharmacy string) ([]*medcard.Card, error) {
	rows, err := q.Query(ctx, openOrdersSQL, pharmacy)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (*medcard.Card, error) {
		var person string
		var version int64
		var body []byte
		if err := r.Scan(&person, &version, &body); err != nil {
			return nil, err
		}
		c, err := decodeCard(version, body)
		if err != nil {
			return nil, err
		}
		c.PersonID = medcard.PersonID(person)
		return c, nil
	})
}
