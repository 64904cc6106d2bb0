package move

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"

	"github.com/jackc/pgx/v5"

	"github.com/sharedmedcard/gateway/shard"
)

// Balance says what a plan evens out over the databases.
type Balance string

// What a plan can even out.
const (
	ByShards Balance = "shards" // logical shards per database
	ByCards  Balance = "cards"  // cards per database
	ByBytes  Balance = "bytes"  // bytes of cards per database
)

// Goal is what a plan is for: even out Balance over the databases that
// are not draining, empty Drain, or move one Shard To a database.
type Goal struct {
	Balance Balance `json:"balance"`
	Drain   string  `json:"drain,omitempty"`
	Shard   *int    `json:"shard,omitempty"`
	To      string  `json:"to,omitempty"`
}

// String describes the goal for people.
func (g Goal) String() string {
	switch {
	case g.Shard != nil:
		return fmt.Sprintf("move shard %d to %s", *g.Shard, g.To)
	case g.Drain != "":
		return fmt.Sprintf("drain %s, then even out %s", g.Drain, g.Balance)
	}
	return "even out " + string(g.Balance)
}

// ShardLoad is one logical shard's size where it lives now.
type ShardLoad struct {
	Shard    int    `json:"shard"`
	Database string `json:"database"`
	Cards    int64  `json:"cards"`
	Bytes    int64  `json:"bytes"`
}

// DatabaseLoad is one database's share of the map.
type DatabaseLoad struct {
	Name   string `json:"name"`
	Shards int    `json:"shards"`
	Cards  int64  `json:"cards"`
	Bytes  int64  `json:"bytes"`
}

// PlannedMove is one move of a plan.
type PlannedMove struct {
	Shard int    `json:"shard"`
	From  string `json:"from"`
	To    string `json:"to"`
	Cards int64  `json:"cards"`
	Bytes int64  `json:"bytes"`
}

// Plan is a set of moves computed against the map at Epoch. It may only be
// executed while the map is still at Epoch.
type Plan struct {
	ID     int64          `json:"id"`
	Epoch  int64          `json:"epoch"`
	Goal   Goal           `json:"goal"`
	Before []DatabaseLoad `json:"before"`
	After  []DatabaseLoad `json:"after"`
	Moves  []PlannedMove  `json:"moves"`
}

// minGain is the smallest improvement of the heaviest-lightest gap, as a
// share of the mean load, that is worth a move when evening out cards or
// bytes: moving a shard to gain less than this costs a freeze for nothing.
const minGain = 0.01

// ComputePlan computes the moves that reach goal from shards (every
// logical shard and where it lives now), over databases (every shard
// database; draining ones take no shards). It is pure: the same input
// gives the same plan.
func ComputePlan(shards []ShardLoad, databases []string, draining map[string]bool, goal Goal) ([]PlannedMove, error) {
	if goal.Balance == "" {
		goal.Balance = ByShards
	}
	weight := func(s ShardLoad) float64 {
		switch goal.Balance {
		case ByCards:
			return float64(s.Cards)
		case ByBytes:
			return float64(s.Bytes)
		}
		return 1
	}
	if goal.Balance != ByShards && goal.Balance != ByCards && goal.Balance != ByBytes {
		return nil, fmt.Errorf("plan: unknown balance %q (shards, cards or bytes)", goal.Balance)
	}
	known := map[string]bool{}
	for _, d := range databases {
		known[d] = true
	}
	owner := map[int]string{}
	byShard := map[int]ShardLoad{}
	for _, s := range shards {
		owner[s.Shard] = s.Database
		byShard[s.Shard] = s
	}
	var moves []PlannedMove
	moveTo := func(s int, to string) {
		l := byShard[s]
		moves = append(moves, PlannedMove{Shard: s, From: owner[s], To: to, Cards: l.Cards, Bytes: l.Bytes})
		owner[s] = to
	}

	if goal.Shard != nil {
		s := *goal.Shard
		if s < 0 || s >= shard.Count {
			return nil, fmt.Errorf("plan: shard %d is out of range 0-%d", s, shard.Count-1)
		}
		if !known[goal.To] {
			return nil, fmt.Errorf("plan: %s: %w", goal.To, ErrUnknownDatabase)
		}
		if owner[s] == goal.To {
			return nil, nil
		}
		moveTo(s, goal.To)
		return moves, nil
	}

	// The databases that may take shards.
	var takers []string
	for _, d := range databases {
		if !draining[d] && d != goal.Drain {
			takers = append(takers, d)
		}
	}
	if goal.Drain != "" && !known[goal.Drain] {
		return nil, fmt.Errorf("plan: %s: %w", goal.Drain, ErrUnknownDatabase)
	}
	if len(takers) == 0 {
		return nil, errors.New("plan: no database may take shards (all draining)")
	}
	load := map[string]float64{}
	count := map[string]int{}
	for _, d := range databases {
		load[d] = 0
	}
	for _, s := range shards {
		load[s.Database] += weight(s)
		count[s.Database]++
	}
	// lightest is the taker with the least load, then the fewest shards,
	// then the first name: deterministic.
	lightest := func() string {
		best := takers[0]
		for _, d := range takers[1:] {
			if load[d] < load[best] || (load[d] == load[best] && count[d] < count[best]) {
				best = d
			}
		}
		return best
	}
	apply := func(s int, to string) {
		w := weight(byShard[s])
		load[owner[s]] -= w
		count[owner[s]]--
		load[to] += w
		count[to]++
		moveTo(s, to)
	}
	// shardsOf lists a database's shards from the highest number down, so
	// moves take the ends of ranges and the map stays in few ranges.
	shardsOf := func(d string) []int {
		var out []int
		for s, o := range owner {
			if o == d {
				out = append(out, s)
			}
		}
		sort.Sort(sort.Reverse(sort.IntSlice(out)))
		return out
	}

	// Empty every database that may not hold shards.
	for _, d := range databases {
		if slices.Contains(takers, d) {
			continue
		}
		for _, s := range shardsOf(d) {
			apply(s, lightest())
		}
	}

	// Even out: move a shard from the heaviest to the lightest taker while
	// that narrows their gap by enough.
	var total float64
	for _, d := range takers {
		total += load[d]
	}
	mean := total / float64(len(takers))
	for range shard.Count * 2 {
		heavy := takers[0]
		for _, d := range takers[1:] {
			if load[d] > load[heavy] || (load[d] == load[heavy] && count[d] > count[heavy]) {
				heavy = d
			}
		}
		light := lightest()
		gap := load[heavy] - load[light]
		// The shard of heavy whose weight is nearest half the gap.
		best, bestGain := -1, 0.0
		for _, s := range shardsOf(heavy) {
			w := weight(byShard[s])
			gain := gap - abs(gap-2*w)
			if gain > bestGain {
				best, bestGain = s, gain
			}
		}
		worth := bestGain > 0
		if goal.Balance == ByShards {
			worth = gap >= 2 // one shard narrows the gap by two
		} else if mean > 0 {
			worth = worth && bestGain >= minGain*mean
		}
		if best < 0 || !worth {
			break
		}
		apply(best, light)
	}
	return coalesce(moves), nil
}

// coalesce keeps one move per shard (a shard moved twice while planning
// moves once, from where it is to where it ends), dropping moves that end
// where they began, in the order of their first appearance.
func coalesce(moves []PlannedMove) []PlannedMove {
	first := map[int]int{}
	var out []PlannedMove
	for _, m := range moves {
		if i, ok := first[m.Shard]; ok {
			out[i].To = m.To
			continue
		}
		first[m.Shard] = len(out)
		out = append(out, m)
	}
	kept := out[:0]
	for _, m := range out {
		if m.From != m.To {
			kept = append(kept, m)
		}
	}
	return kept
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}

// Loads sums shards per database, over every database named.
func Loads(shards []ShardLoad, databases []string) []DatabaseLoad {
	by := map[string]*DatabaseLoad{}
	var out []DatabaseLoad
	for _, d := range databases {
		by[d] = &DatabaseLoad{Name: d}
	}
	for _, s := range shards {
		l := by[s.Database]
		if l == nil {
			l = &DatabaseLoad{Name: s.Database}
			by[s.Database] = l
		}
		l.Shards++
		l.Cards += s.Cards
		l.Bytes += s.Bytes
	}
	for _, l := range by {
		out = append(out, *l)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// after applies moves to shards.
func after(shards []ShardLoad, moves []PlannedMove) []ShardLoad {
	to := map[int]string{}
	for _, m := range moves {
		to[m.Shard] = m.To
	}
	out := make([]ShardLoad, len(shards))
	for i, s := range shards {
		if d, ok := to[s.Shard]; ok {
			s.Database = d
		}
		out[i] = s
	}
	return out
}

// MeasureShards reads every logical shard's cards and bytes from the
// database that owns it, with the map they were measured against.
func (c *Cluster) MeasureShards(ctx context.Context) (*shard.Map, []ShardLoad, error) {
	m, err := c.LoadMap(ctx)
	if err != nil {
		return nil, nil, err
	}
	sizes := map[int]ShardLoad{}
	for name := range m.Databases {
		p, err := c.DB(name)
		if err != nil {
			return nil, nil, err
		}
		rows, err := p.Query(ctx, `SELECT shard, count(*), coalesce(sum(pg_column_size(c.*)), 0)::bigint FROM cards c GROUP BY shard`)
		if err != nil {
			return nil, nil, fmt.Errorf("measure %s: %w", name, err)
		}
		var s int
		var n, b int64
		_, err = pgx.ForEachRow(rows, []any{&s, &n, &b}, func() error {
			if s >= 0 && s < shard.Count && m.Owner[s] == name {
				sizes[s] = ShardLoad{Shard: s, Database: name, Cards: n, Bytes: b}
			}
			return nil
		})
		if err != nil {
			return nil, nil, fmt.Errorf("measure %s: %w", name, err)
		}
	}
	out := make([]ShardLoad, shard.Count)
	for s := range shard.Count {
		l := sizes[s]
		l.Shard, l.Database = s, m.Owner[s]
		out[s] = l
	}
	return m, out, nil
}

// MakePlan measures the cluster, computes the moves that reach goal and
// saves the plan in the catalog, bound to the map's epoch. A plan with no
// moves is returned but not saved (ID 0).
func (c *Cluster) MakePlan(ctx context.Context, goal Goal) (*Plan, error) {
	if goal.Balance == "" {
		goal.Balance = ByShards
	}
	if err := c.refreshDatabases(ctx); err != nil {
		return nil, err
	}
	m, shards, err := c.MeasureShards(ctx)
	if err != nil {
		return nil, err
	}
	draining, err := c.draining(ctx)
	if err != nil {
		return nil, err
	}
	dbs := c.Databases()
	moves, err := ComputePlan(shards, dbs, draining, goal)
	if err != nil {
		return nil, err
	}
	p := &Plan{Epoch: m.Epoch, Goal: goal, Before: Loads(shards, dbs), After: Loads(after(shards, moves), dbs), Moves: moves}
	if p.Moves == nil {
		p.Moves = []PlannedMove{}
	}
	if len(moves) == 0 {
		return p, nil
	}
	body, err := json.Marshal(p)
	if err != nil {
		return nil, err
	}
	err = c.catalog.QueryRow(ctx, `INSERT INTO move_plans (epoch, goal, body) VALUES ($1, $2, $3) RETURNING id`,
		p.Epoch, goal.String(), body).Scan(&p.ID)
	if err != nil {
		return nil, fmt.Errorf("save plan: %w", err)
	}
	return p, nil
}

// ErrNoSuchPlan is returned for a plan ID the catalog does not hold.
var ErrNoSuchPlan = errors.New("no such plan (make one with 'gateway shard plan')")

// LoadPlan reads a saved plan.
func (c *Cluster) LoadPlan(ctx context.Context, id int64) (*Plan, error) {
	var body []byte
	err := c.catalog.QueryRow(ctx, `SELECT body FROM move_plans WHERE id = $1`, id).Scan(&body)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("plan %d: %w", id, ErrNoSuchPlan)
	}
	if err != nil {
		return nil, fmt.Errorf("load plan %d: %w", id, err)
	}
	p := &Plan{}
	if err := json.Unmarshal(body, p); err != nil {
		return nil, fmt.Errorf("load plan %d: %w", id, err)
	}
	p.ID = id
	return p, nil
}

func (c *Cluster) draining(ctx context.Context) (map[string]bool, error) {
	rows, err := c.catalog.Query(ctx, `SELECT name FROM shard_databases WHERE draining`)
	if err != nil {
		return nil, fmt.Errorf("read draining databases: %w", err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("read draining databases: %w", err)
	}
	out := map[string]bool{}
	for _, n := range names {
		out[n] = true
	}
	return out, nil
}
