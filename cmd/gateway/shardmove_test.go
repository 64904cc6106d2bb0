package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/sharedmedcard/gateway/internal/testcluster"
	"github.com/sharedmedcard/gateway/internal/testservers"
	"github.com/sharedmedcard/gateway/medcard"
	"github.com/sharedmedcard/gateway/seed"
	"github.com/sharedmedcard/gateway/shard"
	"github.com/sharedmedcard/gateway/shard/move"
)

// TestShardRebalanceFromTwoDatabasesToThree is the operator's rebalance,
// run with the built binary on a cluster of its own: add a third shard
// database, plan, rebalance (interrupted with Ctrl-C once, then resumed),
// and check the map is even, verify is clean, every card reads as before
// and every move is done; then the guards: a finished plan resumes as a
// no-op, a new plan finds nothing to move, remove-db refuses a database
// that owns shards, and a plan made before the map changed is refused.
func TestShardRebalanceFromTwoDatabasesToThree(t *testing.T) {
	bin := gatewayBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 12*time.Minute)
	defer cancel()
	tc, err := testcluster.Start(ctx, testcluster.Options{})
	testservers.RequireT(t, err)
	t.Cleanup(func() { tc.Stop() })
	if err := tc.PG2.CreateDatabase("shard3"); err != nil {
		t.Fatal(err)
	}
	// The commands take the catalog from the environment, and nothing
	// else from this process's MEDCARD_ variables.
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "MEDCARD_") })
	g := gatewayCLI{t: t, ctx: ctx, bin: bin, env: append(env, "MEDCARD_CATALOG_DSN="+tc.CatalogDSN)}

	g.ok("seed", "--persons", "300")
	persons := seed.New(demoSeed, time.Now())
	before := readCards(t, ctx, tc, persons, 300)
	if len(before) < 100 {
		t.Fatalf("seed gave %d cards, want a few hundred", len(before))
	}
	cardsBefore := statusOf(t, g).cards()

	out := g.ok("shard", "add-db", "shard3", tc.PG2.DSN("shard3"))
	wantIn(t, "add-db", out, "shard3 added")
	wantIn(t, "add-db again", g.ok("shard", "add-db", "shard3", tc.PG2.DSN("shard3")), "nothing changed")

	var plan move.Plan
	g.okJSON(&plan, "shard", "plan", "--json")
	if plan.ID == 0 || len(plan.Moves) < 300 {
		t.Fatalf("plan = id %d with %d moves, want a saved plan of about 341", plan.ID, len(plan.Moves))
	}
	for _, l := range plan.After {
		if l.Shards < 341 || l.Shards > 342 {
			t.Errorf("plan after: %s gets %d shards, want 341 or 342", l.Name, l.Shards)
		}
	}
	id := fmt.Sprint(plan.ID)
	t.Logf("plan %s: %d moves", id, len(plan.Moves))

	// Ctrl-C once the first moves are done: the rebalance stops and says
	// how to resume; the same command resumes it.
	started := time.Now()
	stderr := g.interruptAfter(3, "shard", "rebalance", id, "--parallel", "4")
	interrupted := time.Since(started)
	wantIn(t, "interrupted rebalance", stderr, "gateway shard rebalance "+id)
	wantIn(t, "interrupted rebalance", stderr, "again")
	resumed := time.Now()
	out = g.ok("shard", "rebalance", id, "--parallel", "4")
	took := time.Since(resumed)
	t.Logf("rebalance 2→3: %s until Ctrl-C, then %s to resume and finish (%s in all)",
		interrupted.Round(time.Second), took.Round(time.Second), (interrupted + took).Round(time.Second))
	wantIn(t, "rebalance", out, "resuming")
	t.Logf("rebalance summary: %s", lastLine(out))

	st := statusOf(t, g)
	if c, left := st.cards(), st.leftover(); c != cardsBefore || left == 0 {
		t.Errorf("status after the rebalance: %d cards of owned shards and %d left over; want %d, and the moved shards' old copies left over until cleanup", c, left, cardsBefore)
	}
	total := 0
	for _, d := range st.Databases {
		total += d.Shards
		if d.Shards < 341 || d.Shards > 342 {
			t.Errorf("after the rebalance %s has %d shards, want 341 or 342", d.Name, d.Shards)
		}
	}
	if len(st.Databases) != 3 || total != shard.Count {
		t.Errorf("status: %d databases with %d shards, want 3 with %d", len(st.Databases), total, shard.Count)
	}
	wantIn(t, "verify", g.ok("shard", "verify"), "1024 shards checked, 0 with problems")
	after := readCards(t, ctx, tc, persons, 300)
	for p, want := range before {
		if got := after[p]; got != want {
			t.Errorf("card of seeded person %d after the rebalance differs:\n got %s\nwant %s", p, got, want)
		}
	}

	var listed struct {
		Moves []*move.Move `json:"moves"`
		Total int          `json:"total"`
		Open  int          `json:"open"`
	}
	g.okJSON(&listed, "shard", "moves", "--json", "--plan", id, "--all")
	if len(listed.Moves) != len(plan.Moves) || listed.Open != 0 {
		t.Errorf("moves of plan %s: %d listed, %d open; want %d, none open", id, len(listed.Moves), listed.Open, len(plan.Moves))
	}
	for _, m := range listed.Moves {
		if m.State != move.Done || m.Mismatches == nil || *m.Mismatches != 0 {
			t.Errorf("move %d of shard %d is %s with mismatches %v, want done with 0", m.ID, m.Shard, m.State, m.Mismatches)
		}
	}
	wantIn(t, "moves", g.ok("shard", "moves"), fmt.Sprintf("%d done", len(plan.Moves)))

	// The guards.
	wantIn(t, "rebalance again", g.ok("shard", "rebalance", id), "nothing to resume")
	wantIn(t, "plan again", g.ok("shard", "plan"), "nothing to move")
	wantIn(t, "remove-db shard3", g.fails("shard", "remove-db", "shard3"), "drain it first")
	wantIn(t, "remove-db unknown", g.fails("shard", "remove-db", "shard9"), "no such shard database")

	owner := func(s int) string {
		var db string
		if err := tc.Catalog.QueryRow(ctx, `SELECT database FROM shard_map WHERE shard = $1`, s).Scan(&db); err != nil {
			t.Fatal(err)
		}
		return db
	}
	other := func(db string) string {
		if db == "shard3" {
			return "shard1"
		}
		return "shard3"
	}
	var older move.Plan
	g.okJSON(&older, "shard", "plan", "--json", "--move", "1", "--to", other(owner(1)))
	if older.ID == 0 || len(older.Moves) != 1 {
		t.Fatalf("plan --move 1 = id %d with %d moves, want a saved plan of one move", older.ID, len(older.Moves))
	}
	to0 := other(owner(0))
	out = g.ok("shard", "move", "0", "--to", to0)
	wantIn(t, "move 0", out, "1 of 1 moves done")
	if owner(0) != to0 {
		t.Errorf("after 'shard move 0 --to %s' the map gives shard 0 to %s", to0, owner(0))
	}
	wantIn(t, "move 0 again", g.ok("shard", "move", "0", "--to", to0), "nothing to move")
	wantIn(t, "rebalance of a plan older than the map", g.fails("shard", "rebalance", fmt.Sprint(older.ID)), move.ErrMapChanged.Error())

	var last struct {
		Moves []*move.Move `json:"moves"`
	}
	g.okJSON(&last, "shard", "moves", "--json")
	one := last.Moves[len(last.Moves)-1]
	if one.Shard != 0 || one.State != move.Done {
		t.Fatalf("the last move is of shard %d, %s; want shard 0, done", one.Shard, one.State)
	}
	shown := g.ok("shard", "moves", fmt.Sprint(one.ID))
	for _, step := range []string{"prepare", "copy", "freeze", "verify"} {
		wantIn(t, "moves MOVE", shown, step)
	}
	wantIn(t, "cancel a done move", g.ok("shard", "cancel", fmt.Sprint(one.ID)), "nothing changed")
	wantIn(t, "cancel no move", g.fails("shard", "cancel", "999999"), "no such move")

	started = time.Now()
	wantIn(t, "cleanup", g.ok("shard", "cleanup", "--grace", "0s"), "moves cleaned up")
	t.Logf("cleanup of %d moves' old copies: %s", len(plan.Moves)+1, time.Since(started).Round(100*time.Millisecond))
	wantIn(t, "verify after cleanup", g.ok("shard", "verify"), "0 with problems, 0 leftover copies")
	wantIn(t, "cleanup again", g.ok("shard", "cleanup", "--grace", "0s"), "nothing to clean up")
	if st := statusOf(t, g); st.cards() != cardsBefore || st.leftover() != 0 {
		t.Errorf("after the rebalance and cleanup the shard databases hold %d cards and %d left over; want %d and none", st.cards(), st.leftover(), cardsBefore)
	}
}

// gatewayCLI runs the built gateway binary for one test.
type gatewayCLI struct {
	t   *testing.T
	ctx context.Context
	bin string
	env []string
}

func (g gatewayCLI) command(args ...string) *exec.Cmd {
	cmd := exec.CommandContext(g.ctx, g.bin, args...)
	cmd.Env = g.env
	return cmd
}

func (g gatewayCLI) run(args ...string) (stdout, stderr string, err error) {
	var o, e bytes.Buffer
	cmd := g.command(args...)
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	return o.String(), e.String(), err
}

// ok runs the gateway and returns its stdout; it must exit 0.
func (g gatewayCLI) ok(args ...string) string {
	g.t.Helper()
	out, errOut, err := g.run(args...)
	if err != nil {
		g.t.Fatalf("gateway %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, tail(out, 30), errOut)
	}
	return out
}

// okJSON runs the gateway and decodes its stdout into v.
func (g gatewayCLI) okJSON(v any, args ...string) {
	g.t.Helper()
	out := g.ok(args...)
	if err := json.Unmarshal([]byte(out), v); err != nil {
		g.t.Fatalf("gateway %s: %v\n%s", strings.Join(args, " "), err, tail(out, 30))
	}
}

// fails runs the gateway, which must exit 1, and returns its stderr.
func (g gatewayCLI) fails(args ...string) string {
	g.t.Helper()
	out, errOut, err := g.run(args...)
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		g.t.Fatalf("gateway %s = %v, want exit 1\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, tail(out, 30), errOut)
	}
	return errOut
}

// interruptAfter runs the gateway, sends it SIGINT (Ctrl-C) once n moves
// are done, and returns its stderr; it must exit 1.
func (g gatewayCLI) interruptAfter(n int, args ...string) string {
	g.t.Helper()
	cmd := g.command(args...)
	var errOut bytes.Buffer
	cmd.Stderr = &errOut
	pipe, err := cmd.StdoutPipe()
	if err != nil {
		g.t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		g.t.Fatal(err)
	}
	var out strings.Builder
	done, sent := 0, false
	sc := bufio.NewScanner(pipe)
	for sc.Scan() {
		line := sc.Text()
		out.WriteString(line + "\n")
		if strings.HasPrefix(line, "done ") {
			done++
		}
		if done >= n && !sent {
			sent = true
			if err := cmd.Process.Signal(os.Interrupt); err != nil {
				g.t.Fatal(err)
			}
		}
	}
	_, _ = io.Copy(io.Discard, pipe)
	err = cmd.Wait()
	var exit *exec.ExitError
	if !sent || !errors.As(err, &exit) || exit.ExitCode() != 1 {
		g.t.Fatalf("gateway %s interrupted after %d moves = %v (signal sent: %v), want exit 1\nstdout:\n%s\nstderr:\n%s",
			strings.Join(args, " "), n, err, sent, tail(out.String(), 30), errOut.String())
	}
	g.t.Logf("interrupted: %s", strings.TrimSpace(tail(out.String(), 8)))
	return errOut.String()
}

// shardStatus is `gateway shard status --json`.
type shardStatus struct {
	Epoch       int64                  `json:"epoch"`
	Databases   []shard.DatabaseStatus `json:"databases"`
	Replication []shard.Replication    `json:"replication"`
}

func (s shardStatus) cards() int64 {
	var n int64
	for _, d := range s.Databases {
		n += d.Cards
	}
	return n
}

func (s shardStatus) leftover() int64 {
	var n int64
	for _, d := range s.Databases {
		n += d.LeftoverCards
	}
	return n
}

func statusOf(t *testing.T, g gatewayCLI) shardStatus {
	t.Helper()
	var st shardStatus
	g.okJSON(&st, "shard", "status", "--json")
	// The standbys of the catalog and of every database (the test
	// servers have none, so none confirm).
	if len(st.Replication) != len(st.Databases)+1 || st.Replication[0].DB != "catalog" || st.Replication[0].Confirmations != 0 {
		t.Errorf("shard status lists the replication of %+v, want the catalog's and each of the %d databases'", st.Replication, len(st.Databases))
	}
	return st
}

// readCards reads the cards of the first n seeded persons through a
// gateway's store (on the map as it is now), as JSON by person number;
// persons without a card are left out.
func readCards(t *testing.T, ctx context.Context, tc *testcluster.Cluster, gen *seed.Generator, n int) map[int]string {
	t.Helper()
	store, err := shard.Open(ctx, shard.NewCatalog(tc.Catalog, time.Now), zap.NewNop(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	out := map[int]string{}
	for i := range n {
		card, err := store.ReadCard(ctx, gen.Person(i))
		if err != nil {
			t.Fatalf("ReadCard(seeded person %d) = %v", i, err)
		}
		if card.Version == 0 {
			continue
		}
		out[i] = cardJSON(t, card)
	}
	return out
}

func cardJSON(t *testing.T, c *medcard.Card) string {
	t.Helper()
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func wantIn(t *testing.T, what, out, want string) {
	t.Helper()
	if !strings.Contains(out, want) {
		t.Errorf("%s: output does not say %q:\n%s", what, want, tail(out, 30))
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// tail is the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = append([]string{fmt.Sprintf("[... %d lines]", len(lines)-n)}, lines[len(lines)-n:]...)
	}
	return strings.Join(lines, "\n")
}

func TestFlagsParseArgs(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		wantPos []string
		wantTo  string
	}{
		{[]string{"7", "--to", "shard3"}, []string{"7"}, "shard3"},
		{[]string{"--to", "shard3", "7"}, []string{"7"}, "shard3"},
		{[]string{"a", "--to=x", "b"}, []string{"a", "b"}, "x"},
		{[]string{"--to", "x", "--", "-1", "--to"}, []string{"-1", "--to"}, "x"},
		{nil, nil, ""},
	} {
		f := newFlags("test", "")
		var to string
		f.StringVar(&to, "to", "", "")
		pos, err := f.parseArgs(tc.args)
		if err != nil || !slices.Equal(pos, tc.wantPos) || to != tc.wantTo {
			t.Errorf("parseArgs(%q) = %q, --to %q, %v; want %q, --to %q", tc.args, pos, to, err, tc.wantPos, tc.wantTo)
		}
	}
}

func TestHumanBytes(t *testing.T) {
	for _, tc := range []struct {
		n    int64
		want string
	}{
		{0, "0 B"}, {999, "999 B"}, {1000, "1.0 kB"}, {1234, "1.2 kB"}, {99_949, "100 kB"}, {999_499, "999 kB"},
		{999_500, "1.0 MB"}, {12_345_678, "12 MB"}, {3_000_000_000, "3.0 GB"}, {5_000_000_000_000_000, "5000 TB"},
	} {
		if got := humanBytes(tc.n); got != tc.want {
			t.Errorf("humanBytes(%d) = %q, want %q", tc.n, got, tc.want)
		}
	}
}
