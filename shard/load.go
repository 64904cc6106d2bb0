package shard

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/sharedmedcard/gateway/medcard"
)

// LoadCards writes whole cards straight to their shard databases, for
// seeding: no audit rows, no stored outcomes. A person who already has a
// card keeps it. It returns how many cards were written.
func (s *Store) LoadCards(ctx context.Context, cards []*medcard.Card) (int, error) {
	type batch struct {
		persons []string
		shards  []int32
		vers    []int64
		bodies  [][]byte
	}
	m := s.current.Load()
	byDB := map[string]*batch{}
	for _, c := range cards {
		if c.Version == 0 {
			continue // an empty card is no row
		}
		body, err := json.Marshal(c)
		if err != nil {
			return 0, fmt.Errorf("encode card: %w", err)
		}
		shard := Of(string(c.PersonID))
		b := byDB[m.Owner[shard]]
		if b == nil {
			b = &batch{}
			byDB[m.Owner[shard]] = b
		}
		b.persons = append(b.persons, string(c.PersonID))
		b.shards = append(b.shards, int32(shard))
		b.vers = append(b.vers, c.Version)
		b.bodies = append(b.bodies, body)
	}
	written := 0
	for db, b := range byDB {
		p, err := s.pool(db, m.Databases[db])
		if err != nil {
			return written, err
		}
		tag, err := p.Exec(ctx, `
			INSERT INTO cards (person, shard, version, card)
			SELECT * FROM unnest($1::text[], $2::int[], $3::bigint[], $4::jsonb[])
			ON CONFLICT (person) DO NOTHING`, b.persons, b.shards, b.vers, b.bodies)
		if err != nil {
			return written, fmt.Errorf("load cards into %s: %w", db, err)
		}
		written += int(tag.RowsAffected())
	}
	return written, nil
}
