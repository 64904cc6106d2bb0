package shard

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/jackc/pgx/v5"
	"go.uber.org/zap"

	"github.com/sharedmedcard/gateway/medcard"
	"github.com/sharedmedcard/gateway/seed"
)

// seedBlock hands out ranges of seed indexes, so that every call of
// seededCards (and every -count run) gets persons no other has loaded.
var seedBlock atomic.Int64

// seededCards generates n persons and returns their cards, the empty ones
// included, keeping only persons born since 2000: the other tests' persons
// are all born in the 1900s.
func seededCards(t *testing.T, n int) (cards []*medcard.Card, nonEmpty int) {
	t.Helper()
	g := seed.New(42, time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC))
	start := int(seedBlock.Add(int64(n))) - n
	for i := start; i < start+n; i++ {
		if g.Person(i).BirthDate().Year() < 2000 {
			continue
		}
		c := g.Card(i)
		cards = append(cards, c)
		if c.Version > 0 {
			nonEmpty++
		}
	}
	if nonEmpty == 0 || nonEmpty == len(cards) {
		t.Fatalf("%d persons with %d cards: want some empty and some not", len(cards), nonEmpty)
	}
	return cards, nonEmpty
}

// loadInChunks loads cards as `gateway seed` does, a chunk per call.
func loadInChunks(t *testing.T, s *Store, cards []*medcard.Card, chunk int) int {
	t.Helper()
	written := 0
	for start := 0; start < len(cards); start += chunk {
		n, err := s.LoadCards(t.Context(), cards[start:min(start+chunk, len(cards))])
		if err != nil {
			t.Fatalf("LoadCards: %v", err)
		}
		written += n
	}
	return written
}

// where returns, for each person with a row in some shard database, the
// databases holding one and the row's shard and version.
type row struct {
	db      string
	shard   int
	version int64
}

func rowsOf(t *testing.T, cards []*medcard.Card) map[medcard.PersonID][]row {
	t.Helper()
	persons := make([]string, len(cards))
	for i, c := range cards {
		persons[i] = string(c.PersonID)
	}
	out := map[medcard.PersonID][]row{}
	for _, db := range shardDBs {
		rows, err := it.db[db].Query(t.Context(), `SELECT person, shard, version FROM cards WHERE person = ANY($1)`, persons)
		if err != nil {
			t.Fatalf("%s: %v", db, err)
		}
		var p string
		var r row
		r.db = db
		_, err = pgx.ForEachRow(rows, []any{&p, &r.shard, &r.version}, func() error {
			out[medcard.PersonID(p)] = append(out[medcard.PersonID(p)], r)
			return nil
		})
		if err != nil {
			t.Fatalf("%s: %v", db, err)
		}
	}
	return out
}

// checkLoaded: every non-empty card is one row on the database that owns
// its shard, at its version; no empty card has a row.
func checkLoaded(t *testing.T, m *Map, cards []*medcard.Card) {
	t.Helper()
	rows := rowsOf(t, cards)
	for _, c := range cards {
		got := rows[c.PersonID]
		if c.Version == 0 {
			if len(got) != 0 {
				t.Errorf("an empty card has rows %v", got)
			}
			continue
		}
		shard := Of(string(c.PersonID))
		want := []row{{db: m.Owner[shard], shard: shard, version: c.Version}}
		if diff := cmp.Diff(want, got, cmp.AllowUnexported(row{})); diff != "" {
			t.Errorf("rows of a card on shard %d (-want +got):\n%s", shard, diff)
		}
	}
}

func TestLoadSeededCards(t *testing.T) {
	c := needCluster(t)
	cards, nonEmpty := seededCards(t, 12000)
	if n := loadInChunks(t, c.store, cards, 700); n != nonEmpty {
		t.Errorf("loading %d cards of %d persons wrote %d, want %d", nonEmpty, len(cards), n, nonEmpty)
	}
	checkLoaded(t, catalogMap(t), cards)

	// The cards read back as generated, without an audit row.
	for i, want := range cards {
		if want.Version == 0 || i%25 != 0 {
			continue
		}
		got, _, err := c.store.ReadForWrite(t.Context(), want.PersonID, medcard.OutcomeKey{System: "test", MessageID: "none"})
		if err != nil {
			t.Fatalf("ReadForWrite: %v", err)
		}
		got.PersonID = want.PersonID
		if diff := cmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" {
			t.Fatalf("loaded card (-want +got):\n%s", diff)
		}
		if k := auditRows(t, catalogMap(t).Owner[Of(string(want.PersonID))], want.PersonID); k != 0 {
			t.Errorf("loading wrote %d audit rows, want 0", k)
		}
	}

	// Loading again writes nothing and fails nothing, in other chunks too.
	if n := loadInChunks(t, c.store, cards, 1300); n != 0 {
		t.Errorf("loading the same cards again wrote %d, want 0", n)
	}
	checkLoaded(t, catalogMap(t), cards)

	stored, bytes, err := c.store.CardStorage(t.Context())
	if err != nil {
		t.Fatalf("CardStorage: %v", err)
	}
	if stored < int64(nonEmpty) || bytes < stored*100 {
		t.Errorf("CardStorage() = %d cards in %d bytes, want at least %d cards of 100 bytes", stored, bytes, nonEmpty)
	}
}

// TestLoadCardsTwiceAtOnce: two seeders loading the same cards at the same
// time write each card once between them, and neither fails.
func TestLoadCardsTwiceAtOnce(t *testing.T) {
	c := needCluster(t)
	cards, nonEmpty := seededCards(t, 8000)
	var wg sync.WaitGroup
	var written atomic.Int64
	for range 2 {
		wg.Go(func() {
			for start := 0; start < len(cards); start += 400 {
				n, err := c.store.LoadCards(context.Background(), cards[start:min(start+400, len(cards))])
				if err != nil {
					t.Errorf("LoadCards: %v", err)
					return
				}
				written.Add(int64(n))
			}
		})
	}
	wg.Wait()
	if n := written.Load(); n != int64(nonEmpty) {
		t.Errorf("two loads at once wrote %d cards, want %d", n, nonEmpty)
	}
	checkLoaded(t, catalogMap(t), cards)
}

// TestLoadCardsAfterConcurrentCreate: a card created after the look-up of
// existing cards makes the COPY fail; the load falls back to INSERT ... ON
// CONFLICT DO NOTHING, writes the others and keeps that card.
func TestLoadCardsAfterConcurrentCreate(t *testing.T) {
	c := needCluster(t)
	m := catalogMap(t)
	cards, nonEmpty := seededCards(t, 4000)
	var taken *medcard.Card
	for _, cd := range cards {
		if cd.Version > 0 {
			taken = cd
			break
		}
	}
	db := m.Owner[Of(string(taken.PersonID))]

	// A writer creates the card and holds its transaction open: the load's
	// look-up does not see the row, its COPY waits for the writer's
	// commit, and then fails with a unique violation.
	tx, err := it.db[db].Begin(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(context.Background())
	if _, err := tx.Exec(t.Context(), `INSERT INTO cards (person, shard, version, card) VALUES ($1, $2, 999, '{"version": 999}')`,
		string(taken.PersonID), Of(string(taken.PersonID))); err != nil {
		t.Fatal(err)
	}
	type result struct {
		n   int
		err error
	}
	done := make(chan result, 1)
	go func() {
		n, err := c.store.LoadCards(context.Background(), cards)
		done <- result{n, err}
	}()
	waitForLockWait(t, db)
	if err := tx.Commit(t.Context()); err != nil {
		t.Fatal(err)
	}
	res := <-done
	if res.err != nil || res.n != nonEmpty-1 {
		t.Errorf("LoadCards while a card was being created = %d, %v; want %d, nil", res.n, res.err, nonEmpty-1)
	}
	if v := storedVersion(t, db, taken.PersonID); v != 999 {
		t.Errorf("the card created meanwhile is at version %d, want 999 (kept)", v)
	}
	taken.Version = 999 // for checkLoaded
	checkLoaded(t, m, cards)
}

// waitForLockWait waits until a session of db waits for a lock.
func waitForLockWait(t *testing.T, db string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if count(t, db, `SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`) > 0 {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("no session of %s waited for a lock", db)
}

// TestLoadCardsThroughStaleMap: a shard moved since the store loaded its
// map is refused by its old database; the load reloads the map and writes
// the cards where the shard lives now.
func TestLoadCardsThroughStaleMap(t *testing.T) {
	c := needCluster(t)
	stale, err := Open(t.Context(), c.catalog, zap.NewNop(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer stale.Close()
	cards, nonEmpty := seededCards(t, 4000)
	var shard int
	for _, cd := range cards {
		if s := Of(string(cd.PersonID)); cd.Version > 0 && stale.Map().Owner[s] == "shard1" {
			shard = s
			break
		}
	}
	moveShard(t, shard, "shard1", "shard2")
	t.Cleanup(func() {
		moveShard(t, shard, "shard2", "shard1")
		if err := c.store.Reload(context.Background()); err != nil {
			t.Errorf("reload after moving shard %d back: %v", shard, err)
		}
	})

	n, err := stale.LoadCards(t.Context(), cards)
	if err != nil || n != nonEmpty {
		t.Errorf("LoadCards through a stale map = %d, %v; want %d, nil", n, err, nonEmpty)
	}
	if stale.Map().Owner[shard] != "shard2" {
		t.Errorf("after LoadCards the store routes shard %d to %s, want shard2 (reloaded)", shard, stale.Map().Owner[shard])
	}
	checkLoaded(t, catalogMap(t), cards)
}
