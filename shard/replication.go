package shard

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Synchronous replication: a write is acknowledged only once the number of
// standbys the deployment asks for (Config.SyncStandbys, `gateway serve
// --sync-standbys`) hold it, as Riak's node_confirms. PostgreSQL does the
// waiting (synchronous_standby_names = 'ANY n (…)', synchronous_commit on or
// remote_apply); the gateway checks that every database is set up to
// wait for at least that many, refuses to start when one cannot ever be
// (more confirmations than standbys named), reports each database's
// standbys, and bounds the wait (see commitBound).

// Replication is what one database says of its synchronous replication.
type Replication struct {
	DB string `json:"db"`
	// SynchronousStandbyNames and SynchronousCommit are the settings as the
	// gateway's sessions see them.
	SynchronousStandbyNames string `json:"synchronousStandbyNames"`
	SynchronousCommit       string `json:"synchronousCommit"`
	// Method is ANY (a quorum) or FIRST (by priority); empty when no
	// standby is asked to confirm.
	Method string `json:"method,omitempty"`
	// Confirmations is how many standbys must confirm a commit.
	Confirmations int `json:"confirmations"`
	// Named are the standbys synchronous_standby_names lists; nil for "*"
	// (any standby).
	Named []string `json:"named"`
	// Standbys are the standbys streaming or catching up from it now.
	Standbys []Standby `json:"standbys"`
}

// Standby is one walsender of a database: a standby connected to it.
type Standby struct {
	Name string `json:"name"` // its application_name
	// State is the walsender's: streaming, catchup, startup, backup.
	State string `json:"state"`
	// SyncState is async, potential, sync or quorum.
	SyncState string `json:"syncState"`
	// LagBytes is how far its replay is behind the primary's WAL.
	LagBytes int64 `json:"lagBytes"`
	// ReplayLag is how long the primary's last commits took to be replayed
	// there (pg_stat_replication.replay_lag); 0 when idle.
	ReplayLag time.Duration `json:"replayLagNs"`
}

// Confirming is how many standbys confirm commits now: streaming and
// counted by synchronous_standby_names.
func (r Replication) Confirming() int {
	n := 0
	for _, s := range r.Standbys {
		if s.State == "streaming" && (s.SyncState == "sync" || s.SyncState == "quorum") {
			n++
		}
	}
	return n
}

// Check says whether the database is set up to confirm commits with at
// least required standbys: an error names what is wrong and how to set it.
// It looks at the settings, not at which standbys are up (Ready does).
func (r Replication) Check(required int) error {
	if required <= 0 {
		return nil
	}
	if r.Confirmations < required {
		return fmt.Errorf("database %s confirms a commit with %d standbys (synchronous_standby_names = %q); "+
			"the gateway is set to require %d: set synchronous_standby_names = 'ANY %d (…)' there, or lower --sync-standbys",
			r.DB, r.Confirmations, r.SynchronousStandbyNames, required, required)
	}
	if r.Named != nil && len(r.Named) < r.Confirmations {
		return fmt.Errorf("database %s asks %d standbys to confirm but names only %d (synchronous_standby_names = %q): "+
			"no commit could ever be confirmed", r.DB, r.Confirmations, len(r.Named), r.SynchronousStandbyNames)
	}
	if r.SynchronousCommit != "on" && r.SynchronousCommit != "remote_apply" {
		return fmt.Errorf("database %s has synchronous_commit = %s: a commit would be acknowledged before a standby "+
			"has it on disk; set it to on or remote_apply", r.DB, r.SynchronousCommit)
	}
	return nil
}

// Ready says whether required standbys confirm commits now; when not,
// writes to the database wait for them and fail after the commit bound.
func (r Replication) Ready(required int) error {
	if required <= 0 {
		return nil
	}
	if n := r.Confirming(); n < required {
		return fmt.Errorf("database %s: %d standbys confirm commits, %d must", r.DB, n, required)
	}
	return nil
}

// ParseSynchronousStandbyNames reads PostgreSQL's synchronous_standby_names:
// empty (none), 'ANY n (list)', 'FIRST n (list)', 'n (list)' (FIRST) or a bare
// list (FIRST 1). names is nil when the list is '*'.
func ParseSynchronousStandbyNames(s string) (method string, n int, names []string, err error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", 0, []string{}, nil
	}
	method, n = "FIRST", 1
	rest := s
	if word, after, ok := strings.Cut(rest, " "); ok && (strings.EqualFold(word, "ANY") || strings.EqualFold(word, "FIRST")) {
		method, rest = strings.ToUpper(word), strings.TrimSpace(after)
		num, list, ok := strings.Cut(rest, "(")
		if !ok {
			return "", 0, nil, fmt.Errorf("synchronous_standby_names %q: %s without a list in parentheses", s, method)
		}
		if n, err = strconv.Atoi(strings.TrimSpace(num)); err != nil {
			return "", 0, nil, fmt.Errorf("synchronous_standby_names %q: %q is not a number", s, strings.TrimSpace(num))
		}
		rest = "(" + list
	} else if num, list, ok := strings.Cut(rest, "("); ok {
		if n, err = strconv.Atoi(strings.TrimSpace(num)); err != nil {
			return "", 0, nil, fmt.Errorf("synchronous_standby_names %q: %q is not a number", s, strings.TrimSpace(num))
		}
		rest = "(" + list
	}
	if strings.HasPrefix(rest, "(") {
		if !strings.HasSuffix(rest, ")") {
			return "", 0, nil, fmt.Errorf("synchronous_standby_names %q: the list is not closed", s)
		}
		rest = rest[1 : len(rest)-1]
	}
	for name := range strings.SplitSeq(rest, ",") {
		name = strings.TrimSpace(name)
		if name == "*" {
			return method, n, nil, nil
		}
		if unquoted, err := strconv.Unquote(name); err == nil && strings.HasPrefix(name, `"`) {
			name = unquoted
		} else {
			name = strings.ToLower(name) // PostgreSQL folds unquoted names
		}
		if name != "" && !slices.Contains(names, name) {
			names = append(names, name)
		}
	}
	return method, n, names, nil
}

// replicationSQL reads the settings and the walsenders in one round trip.
// Without superuser or pg_monitor the walsenders' columns are null.
const replicationSQL = `
SELECT current_setting('synchronous_standby_names'), current_setting('synchronous_commit'),
       r.application_name, r.state, r.sync_state,
       coalesce(pg_wal_lsn_diff(pg_current_wal_lsn(), r.replay_lsn), 0)::bigint,
       coalesce(extract(epoch FROM r.replay_lag), 0)::float8
FROM (SELECT 1) one LEFT JOIN pg_stat_replication r ON true
ORDER BY r.application_name`

// readReplication reads db's replication state over q.
func readReplication(ctx context.Context, q interface {
	Query(context.Context, string, ...any) (pgx.Rows, error)
}, db string) (Replication, error) {
	r := Replication{DB: db}
	rows, err := q.Query(ctx, replicationSQL)
	if err != nil {
		return r, err
	}
	defer rows.Close()
	for rows.Next() {
		var name, state, syncState *string
		var lag int64
		var replayLag float64
		if err := rows.Scan(&r.SynchronousStandbyNames, &r.SynchronousCommit, &name, &state, &syncState, &lag, &replayLag); err != nil {
			return r, err
		}
		if state == nil { // the left join's row of no walsender, or a walsender we may not see
			continue
		}
		r.Standbys = append(r.Standbys, Standby{Name: deref(name), State: *state, SyncState: deref(syncState),
			LagBytes: lag, ReplayLag: time.Duration(replayLag * float64(time.Second))})
	}
	if err := rows.Err(); err != nil {
		return r, err
	}
	r.Method, r.Confirmations, r.Named, err = ParseSynchronousStandbyNames(r.SynchronousStandbyNames)
	return r, err
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// Replication reads the replication state of every shard database of the
// map, in name order.
func (s *Store) Replication(ctx context.Context) ([]Replication, error) {
	m := s.current.Load()
	names := make([]string, 0, len(m.Databases))
	for name := range m.Databases {
		names = append(names, name)
	}
	slices.Sort(names)
	out := make([]Replication, 0, len(names))
	for _, name := range names {
		p, err := s.pool(name, m.Databases[name])
		if err != nil {
			return out, err
		}
		r, err := readReplication(ctx, p, name)
		if err != nil {
			return out, fmt.Errorf("shard database %s: replication state: %w", name, err)
		}
		out = append(out, r)
	}
	return out, nil
}

// Replication reads the catalog database's replication state (as DB
// "catalog").
func (c *Catalog) Replication(ctx context.Context) (Replication, error) {
	r, err := readReplication(ctx, c.pool, "catalog")
	if err != nil {
		return r, fmt.Errorf("catalog: replication state: %w", err)
	}
	return r, nil
}

// AllReplication is the replication state of the catalog and every shard
// database, the catalog first.
func AllReplication(ctx context.Context, catalog *Catalog, store *Store) ([]Replication, error) {
	c, err := catalog.Replication(ctx)
	if err != nil {
		return nil, err
	}
	shards, err := store.Replication(ctx)
	return append([]Replication{c}, shards...), err
}
