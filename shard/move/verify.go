package move

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"sort"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sharedmedcard/gateway/shard"
)

// TableCheck compares one table's rows of a shard at a move's source with
// those at its target.
type TableCheck struct {
	Table      string `json:"table"`
	SourceRows int64  `json:"sourceRows"`
	TargetRows int64  `json:"targetRows"`
	// Missing rows are at the source and not at the target.
	Missing int64 `json:"missing"`
	// Behind cards are older at the target than at the source.
	Behind int64 `json:"behind"`
	// The checksums are over (key, version) in key order; they are equal
	// until the target takes writes after the flip.
	SourceSum string `json:"sourceChecksum"`
	TargetSum string `json:"targetChecksum"`
}

// MoveCheck is the verification of one shard's copy: every row the source
// holds must be at the target, no card older there.
type MoveCheck struct {
	Shard  int          `json:"shard"`
	Tables []TableCheck `json:"tables"`
}

// Mismatches counts rows missing or behind at the target.
func (c MoveCheck) Mismatches() int64 {
	var n int64
	for _, t := range c.Tables {
		n += t.Missing + t.Behind
	}
	return n
}

func (c MoveCheck) String() string {
	s := ""
	for _, t := range c.Tables {
		s += fmt.Sprintf("%s %d/%d missing %d behind %d; ", t.Table, t.SourceRows, t.TargetRows, t.Missing, t.Behind)
	}
	return s
}

// keyedRow is one row's key and version, for comparing.
type keyedRow struct {
	key     string
	version int64
}

// shardRows reads a table's (key, version) of shard s in key order.
var shardRowsSQL = map[string]string{
	"cards":          `SELECT person, version FROM cards WHERE shard = $1 ORDER BY person`,
	"write_outcomes": `SELECT system || '/' || message_id, 0 FROM write_outcomes WHERE shard = $1 ORDER BY 1`,
	"audit_log":      `SELECT lpad(id::text, 20, '0'), 0 FROM audit_log WHERE shard = $1 ORDER BY 1`,
}

func shardRows(ctx context.Context, db *pgxpool.Pool, table string, s int) ([]keyedRow, error) {
	rows, err := db.Query(ctx, shardRowsSQL[table], s)
	if err != nil {
		return nil, fmt.Errorf("read %s of shard %d: %w", table, s, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (keyedRow, error) {
		var k keyedRow
		err := r.Scan(&k.key, &k.version)
		return k, err
	})
	if err != nil {
		return nil, fmt.Errorf("read %s of shard %d: %w", table, s, err)
	}
	// Compare in Go's byte order, whatever the databases' collations.
	sort.Slice(out, func(i, j int) bool { return out[i].key < out[j].key })
	return out, nil
}

func checksum(rows []keyedRow) string {
	h := sha256.New()
	for _, r := range rows {
		fmt.Fprintf(h, "%s:%d\n", r.key, r.version)
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// verifyMove compares shard s's rows at src with those at dst.
func verifyMove(ctx context.Context, src, dst *pgxpool.Pool, s int) (MoveCheck, error) {
	res := MoveCheck{Shard: s}
	for _, table := range []string{"cards", "write_outcomes", "audit_log"} {
		a, err := shardRows(ctx, src, table, s)
		if err != nil {
			return res, err
		}
		b, err := shardRows(ctx, dst, table, s)
		if err != nil {
			return res, err
		}
		t := TableCheck{Table: table, SourceRows: int64(len(a)), TargetRows: int64(len(b)), SourceSum: checksum(a), TargetSum: checksum(b)}
		j := 0
		for _, r := range a {
			for j < len(b) && b[j].key < r.key {
				j++
			}
			switch {
			case j == len(b) || b[j].key != r.key:
				t.Missing++
			case b[j].version < r.version:
				t.Behind++
			}
		}
		res.Tables = append(res.Tables, t)
	}
	return res, nil
}

// ShardCheck is `gateway shard verify`'s finding for one logical shard.
type ShardCheck struct {
	Shard int    `json:"shard"`
	Owner string `json:"owner"` // in the map
	// OwnedBy are the databases whose owned_shards list the shard: exactly
	// the owner, or the shard is owned twice or not at all.
	OwnedBy []string `json:"ownedBy"`
	Cards   int64    `json:"cards"` // at the owner
	// Copies are the shard's rows left at other databases (sources of
	// moves not cleaned up), each checked against the owner.
	Copies   map[string]MoveCheck `json:"copies,omitempty"`
	Problems []string             `json:"problems,omitempty"`
}

// VerifyShards checks shards (all when none is named): each owned by the
// database the map names and by no other, and every leftover copy of it
// held in full by the owner.
func (c *Cluster) VerifyShards(ctx context.Context, shards []int, progress func(done, total int)) ([]ShardCheck, error) {
	m, err := c.LoadMap(ctx)
	if err != nil {
		return nil, err
	}
	if len(shards) == 0 {
		for s := range shard.Count {
			shards = append(shards, s)
		}
	}
	ownedBy := map[int][]string{}
	cards := map[string]map[int]int64{} // database -> shard -> rows of any moved table
	for name := range m.Databases {
		db, err := c.DB(name)
		if err != nil {
			return nil, err
		}
		rows, err := db.Query(ctx, `SELECT shard FROM owned_shards`)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		owned, err := pgx.CollectRows(rows, pgx.RowTo[int32])
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		for _, s := range owned {
			ownedBy[int(s)] = append(ownedBy[int(s)], name)
		}
		cards[name] = map[int]int64{}
		rows, err = db.Query(ctx, `SELECT shard, count(*) FROM (
			SELECT shard FROM cards UNION ALL SELECT shard FROM write_outcomes UNION ALL SELECT shard FROM audit_log
			UNION ALL SELECT shard FROM open_orders) x GROUP BY shard`)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		var s int
		var n int64
		if _, err := pgx.ForEachRow(rows, []any{&s, &n}, func() error { cards[name][s] = n; return nil }); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
	}
	var out []ShardCheck
	for i, s := range shards {
		if s < 0 || s >= shard.Count {
			return nil, fmt.Errorf("shard %d is out of range 0-%d", s, shard.Count-1)
		}
		sc := ShardCheck{Shard: s, Owner: m.Owner[s], OwnedBy: ownedBy[s]}
		slices.Sort(sc.OwnedBy)
		if len(sc.OwnedBy) != 1 || sc.OwnedBy[0] != sc.Owner {
			sc.Problems = append(sc.Problems, fmt.Sprintf("the map says %s, the databases say %v", sc.Owner, sc.OwnedBy))
		}
		owner, err := c.DB(sc.Owner)
		if err != nil {
			return nil, err
		}
		if err := owner.QueryRow(ctx, `SELECT count(*) FROM cards WHERE shard = $1`, s).Scan(&sc.Cards); err != nil {
			return nil, fmt.Errorf("%s: %w", sc.Owner, err)
		}
		for name := range m.Databases {
			if name == sc.Owner || cards[name][s] == 0 {
				continue
			}
			db, err := c.DB(name)
			if err != nil {
				return nil, err
			}
			check, err := verifyMove(ctx, db, owner, s)
			if err != nil {
				return nil, err
			}
			if sc.Copies == nil {
				sc.Copies = map[string]MoveCheck{}
			}
			sc.Copies[name] = check
			if n := check.Mismatches(); n > 0 {
				sc.Problems = append(sc.Problems, fmt.Sprintf("%d rows at %s are missing or older at the owner %s", n, name, sc.Owner))
			}
		}
		out = append(out, sc)
		if progress != nil {
			progress(i+1, len(shards))
		}
	}
	return out, nil
}
