package shard

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sharedmedcard/gateway/medcard"
)

// Bulk loading, for `gateway seed`: whole cards go straight to their shard
// databases with COPY, without audit rows or stored outcomes.
//
// COPY has no ON CONFLICT, so each database's part of a call is one
// transaction that first asks which of its persons already have a card
// (an index probe per person) and copies only the others. A card created
// between that look-up and the COPY (by a gateway, or a second seeder)
// makes the COPY fail with a unique violation; the part is then rolled
// back and written again with INSERT ... ON CONFLICT DO NOTHING. Either way
// a person who has a card keeps it, and loading the same cards twice
// writes nothing the second time.

// LoadCards writes whole cards straight to their shard databases, for
// seeding: no audit rows, no stored outcomes. A person who already has a
// card keeps it, and an empty card (version 0) is no row. The databases
// are written in parallel. It returns how many cards were written.
//
// When a database refuses a shard because the map changed (a move), it
// reloads the map and loads again what was not written; when a shard is
// frozen for a move, it waits for up to the freeze bound.
func (s *Store) LoadCards(ctx context.Context, cards []*medcard.Card) (int, error) {
	written := 0
	deadline := time.Now().Add(frozenWait)
	for {
		epoch := s.current.Load().Epoch
		n, err := s.loadCards(ctx, cards)
		written += n
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) {
			return written, err
		}
		switch {
		case pgErr.Code == sqlstateShardNotOwned && time.Now().Before(deadline):
			// Again only by a newer map (see onShard).
			if err := s.Reload(ctx); err != nil {
				return written, err
			}
			if s.current.Load().Epoch <= epoch {
				return written, err
			}
		case pgErr.Code == sqlstateShardFrozen && time.Now().Before(deadline):
			select {
			case <-ctx.Done():
				return written, ctx.Err()
			case <-time.After(frozenRetry):
			}
		default:
			return written, err
		}
		// Loading again is safe: what was written is skipped.
	}
}

// loadRows is one database's part of a load, column by column.
type loadRows struct {
	persons []string
	shards  []int32
	vers    []int64
	cards   []*medcard.Card
}

func (s *Store) loadCards(ctx context.Context, cards []*medcard.Card) (int, error) {
	m := s.current.Load()
	byDB := map[string]*loadRows{}
	for _, c := range cards {
		if c.Version == 0 {
			continue // an empty card is no row
		}
		shard := Of(string(c.PersonID))
		db := m.Owner[shard]
		b := byDB[db]
		if b == nil {
			b = &loadRows{}
			byDB[db] = b
		}
		b.persons = append(b.persons, string(c.PersonID))
		b.shards = append(b.shards, int32(shard))
		b.vers = append(b.vers, c.Version)
		b.cards = append(b.cards, c)
	}

	var (
		mu      sync.Mutex
		written int
		errs    []error
		wg      sync.WaitGroup
	)
	for db, b := range byDB {
		p, err := s.pool(db, m.Databases[db])
		if err != nil {
			return 0, err
		}
		wg.Go(func() {
			n, err := loadInto(ctx, p, b)
			mu.Lock()
			defer mu.Unlock()
			written += n
			if err != nil {
				errs = append(errs, fmt.Errorf("load cards into %s: %w", db, err))
			}
		})
	}
	wg.Wait()
	return written, errors.Join(errs...)
}

// loadInto writes b's cards that are not in the database yet, in one
// transaction: COPY, or INSERT ... ON CONFLICT DO NOTHING when a card
// appeared meanwhile.
func loadInto(ctx context.Context, p *pgxpool.Pool, b *loadRows) (int, error) {
	n, err := copyNew(ctx, p, b)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == sqlstateUniqueViolation {
		return insertNew(ctx, p, b)
	}
	return n, err
}

// copyNew copies the cards of persons without a card; a concurrent
// writer makes it fail with a unique violation and write nothing.
func copyNew(ctx context.Context, p *pgxpool.Pool, b *loadRows) (int, error) {
	tx, err := p.Begin(ctx)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback(ctx)
	rows, err := tx.Query(ctx, `SELECT person FROM cards WHERE person = ANY($1)`, b.persons)
	if err != nil {
		return 0, err
	}
	have, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return 0, err
	}
	src := &copySource{rows: b, row: -1}
	if len(have) > 0 {
		src.skip = make(map[string]bool, len(have))
		for _, person := range have {
			src.skip[person] = true
		}
	}
	if len(have) == len(b.persons) {
		return 0, nil
	}
	n, err := tx.CopyFrom(ctx, pgx.Identifier{"cards"}, []string{"person", "shard", "version", "card"}, src)
	if err != nil {
		return 0, err
	}
	if err := insertOpenOrders(ctx, tx, b, func(i int) bool { return !src.skip[b.persons[i]] }); err != nil {
		return 0, err
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, err
	}
	return int(n), nil
}

// insertNew writes the cards with INSERT ... ON CONFLICT DO NOTHING, and
// the open orders of those it wrote, in one transaction.
func insertNew(ctx context.Context, p *pgxpool.Pool, b *loadRows) (int, error) {
	bodies := make([][]byte, len(b.cards))
	for i, c := range b.cards {
		body, err := medcard.EncodeCard(c)
		if err != nil {
			return 0, err
		}
		bodies[i] = body
	}
	tx, err := p.Begin(ctx)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback(ctx)
	rows, err := tx.Query(ctx, `
		INSERT INTO cards (person, shard, version, card)
		SELECT * FROM unnest($1::text[], $2::int[], $3::bigint[], $4::json[])
		ON CONFLICT (person) DO NOTHING RETURNING person`, b.persons, b.shards, b.vers, bodies)
	if err != nil {
		return 0, err
	}
	written, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return 0, err
	}
	wrote := make(map[string]bool, len(written))
	for _, person := range written {
		wrote[person] = true
	}
	if err := insertOpenOrders(ctx, tx, b, func(i int) bool { return wrote[b.persons[i]] }); err != nil {
		return 0, err
	}
	return len(written), tx.Commit(ctx)
}

// insertOpenOrders writes the open orders (open_orders) of the cards of b
// that loaded says were loaded.
func insertOpenOrders(ctx context.Context, tx pgx.Tx, b *loadRows, loaded func(i int) bool) error {
	var shards []int32
	var persons []string
	var rows []any // openOrderColumns' arrays, appended card by card
	for i, c := range b.cards {
		if !loaded(i) {
			continue
		}
		cols := openOrderColumns(c)
		for range len(cols[0].([]int64)) {
			shards, persons = append(shards, b.shards[i]), append(persons, b.persons[i])
		}
		if rows == nil {
			rows = cols
			continue
		}
		for k := range rows {
			rows[k] = appendColumn(rows[k], cols[k])
		}
	}
	if len(persons) == 0 {
		return nil
	}
	_, err := tx.Exec(ctx, `
		INSERT INTO open_orders (shard, person, order_id, pharmacy, status, created_at, drug_name, drug_strength, package_number, package_quantity,
		    card_version, acknowledged)
		SELECT * FROM unnest($1::int[], $2::text[], $3::bigint[], $4::text[], $5::text[], $6::timestamptz[], $7::text[], $8::text[], $9::text[], $10::int[],
		    $11::bigint[], $12::boolean[])
		ON CONFLICT DO NOTHING`, append([]any{shards, persons}, rows...)...)
	return err
}

// appendColumn appends column b to column a, both of one of
// openOrderColumns' types.
func appendColumn(a, b any) any {
	switch a := a.(type) {
	case []int64:
		return append(a, b.([]int64)...)
	case []string:
		return append(a, b.([]string)...)
	case []time.Time:
		return append(a, b.([]time.Time)...)
	case []int32:
		return append(a, b.([]int32)...)
	case []bool:
		return append(a, b.([]bool)...)
	}
	panic(fmt.Sprintf("appendColumn: %T", a))
}

// copySource feeds COPY the rows not in skip, encoding each card as it
// goes, so a batch is never held encoded in full.
type copySource struct {
	rows   *loadRows
	skip   map[string]bool
	row    int
	values [4]any
	err    error
}

func (s *copySource) Next() bool {
	for s.row++; s.row < len(s.rows.persons); s.row++ {
		if !s.skip[s.rows.persons[s.row]] {
			return true
		}
	}
	return false
}

func (s *copySource) Values() ([]any, error) {
	i := s.row
	body, err := medcard.EncodeCard(s.rows.cards[i])
	if err != nil {
		s.err = err
		return nil, s.err
	}
	s.values = [4]any{s.rows.persons[i], s.rows.shards[i], s.rows.vers[i], body}
	return s.values[:], nil
}

func (s *copySource) Err() error { return s.err }

// CardStorage returns how many cards the shard databases hold and the
// bytes the cards table takes on disk with its TOAST data and indexes,
// summed over the databases.
func (s *Store) CardStorage(ctx context.Context) (cards, bytes int64, err error) {
	m := s.current.Load()
	for name, dsn := range m.Databases {
		p, err := s.pool(name, dsn)
		if err != nil {
			return 0, 0, err
		}
		var n, b int64
		if err := p.QueryRow(ctx, `SELECT count(*), pg_total_relation_size('cards') FROM cards`).Scan(&n, &b); err != nil {
			return 0, 0, fmt.Errorf("shard database %s: %w", name, err)
		}
		cards += n
		bytes += b
	}
	return cards, bytes, nil
}
