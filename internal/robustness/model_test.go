package robustness

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/google/go-cmp/cmp"
)

// syntheticConfig shapes a history of a correct (linearizable) system.
type syntheticConfig struct {
	seed      uint64
	ops       int
	persons   int
	clients   int
	unknown   float64 // share of writes that end unknown, half of them applied
	fault     float64 // share of writes that end with a definite fault
	writeRate float64 // share of operations that are writes
}

// syntheticHistory returns a history of cfg.clients clients, each running
// one operation at a time on random persons, against a card store that
// applies every operation at one instant within its interval (an unknown
// write possibly long after its client gave up), and the final cards that
// store ends with.
func syntheticHistory(cfg syntheticConfig) History {
	rng := rand.New(rand.NewPCG(cfg.seed, 0))
	type pending struct {
		op      int
		at      time.Time // the linearization point
		applied bool
	}
	ops := make([]Operation, 0, cfg.ops)
	points := make([]pending, 0, cfg.ops)
	clock := make([]time.Duration, cfg.clients)
	for i := range cfg.ops {
		c := rng.IntN(cfg.clients)
		inv := clock[c] + time.Duration(rng.IntN(2000))*time.Microsecond
		d := time.Duration(1+rng.IntN(20)) * time.Millisecond
		if rng.IntN(100) == 0 {
			d = 300 * time.Millisecond
		}
		clock[c] = inv + d
		op := Operation{
			ID: i, Client: c, Person: fmt.Sprintf("person-%03d", rng.IntN(cfg.persons)),
			Invoke: t0.Add(inv), Return: t0.Add(inv + d), Outcome: OutcomeOK, Attempts: 1,
		}
		p := pending{op: i, at: t0.Add(inv + time.Duration(rng.Int64N(int64(d)))), applied: true}
		if rng.Float64() < cfg.writeRate {
			op.Kind, op.Tag = OpWrite, fmt.Sprintf("t%d", i)
			op.MessageID = "m-" + op.Tag
			switch r := rng.Float64(); {
			case r < cfg.unknown:
				op.Outcome, op.Return, op.Attempts = OutcomeUnknown, time.Time{}, 3
				p.applied = rng.IntN(2) == 0
				p.at = t0.Add(inv + time.Duration(rng.Int64N(int64(3*d))))
			case r < cfg.unknown+cfg.fault:
				op.Outcome, op.FaultCode = OutcomeFault, "E_INVALID"
				p.applied = false
			}
		} else {
			op.Kind = OpRead
		}
		ops = append(ops, op)
		points = append(points, p)
	}
	sort.SliceStable(points, func(i, j int) bool { return points[i].at.Before(points[j].at) })
	cards := make(map[string]*FinalCard)
	for _, p := range points {
		op := &ops[p.op]
		card := cards[op.Person]
		if card == nil {
			card = &FinalCard{Person: op.Person}
			cards[op.Person] = card
		}
		switch {
		case op.Kind == OpWrite && p.applied:
			card.Version++
			card.Tags = append(card.Tags, op.Tag)
			if op.Outcome == OutcomeOK {
				op.Version = card.Version
			}
		case op.Kind == OpRead:
			op.Version, op.Tags = card.Version, slices.Clone(card.Tags)
		}
	}
	final := make(map[string]FinalCard, len(cards))
	for p, c := range cards {
		final[p] = *c
	}
	return History{Operations: ops, Final: final}
}

func TestSyntheticHistoriesPass(t *testing.T) {
	tests := []syntheticConfig{
		{seed: 1, ops: 2000, persons: 5, clients: 8, unknown: 0.02, fault: 0.02, writeRate: 0.5},
		{seed: 2, ops: 2000, persons: 1, clients: 4, unknown: 0.01, fault: 0.05, writeRate: 0.3},
		{seed: 3, ops: 5000, persons: 20, clients: 16, unknown: 0.05, fault: 0, writeRate: 0.7},
	}
	for _, cfg := range tests {
		r := Check(syntheticHistory(cfg), time.Minute)
		if !r.OK() {
			t.Errorf("Check(syntheticHistory(%+v)).OK() = false, want true; failed %v, first findings %v", cfg, r.Failed(), r.Findings[:min(5, len(r.Findings))])
		}
	}
}

// TestCheckLinearizabilityIllegal breaks one person's card in a correct
// history and wants porcupine to name that person, and only it.
func TestCheckLinearizabilityIllegal(t *testing.T) {
	h := syntheticHistory(syntheticConfig{seed: 4, ops: 3000, persons: 10, clients: 8, writeRate: 0.5})
	victim := ""
	for i := range h.Operations {
		op := &h.Operations[i]
		if op.Kind == OpRead && op.Version >= 2 {
			n := len(op.Tags) // the last two writes seen in an order they were not applied in
			op.Tags[n-2], op.Tags[n-1] = op.Tags[n-1], op.Tags[n-2]
			victim = op.Person
			break
		}
	}
	l := CheckLinearizability(h, time.Minute)
	if l.Result != porcupine.Illegal {
		t.Fatalf("CheckLinearizability(broken history).Result = %s, want %s", l.Result, porcupine.Illegal)
	}
	if diff := cmp.Diff([]string{victim}, l.Illegal); diff != "" {
		t.Errorf("CheckLinearizability(broken history).Illegal mismatch (-want +got):\n%s", diff)
	}
	path := filepath.Join(t.TempDir(), PorcupineFile)
	if err := porcupine.VisualizePath(l.Model, l.IllegalInfo(10, time.Minute), path); err != nil {
		t.Fatalf("VisualizePath(IllegalInfo) = %v, want nil", err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Size() == 0 {
		t.Errorf("Stat(%s) = %v, %v; want a non-empty file", path, fi, err)
	}
}

func TestCardModelDescribe(t *testing.T) {
	h := History{
		Operations: []Operation{ackedWrite(1, 0, 10, "a", 1), unknownWrite(2, 0, "b"), okRead(3, 20, 30, 1, "a")},
		Final:      final(2, "a", "b"),
	}
	ops, _, tags := porcupineOperations(h)
	m := newCardModel(tags)
	var got []string
	state := m.Init()
	for _, op := range ops[0] {
		got = append(got, m.DescribeOperation(op.Input, op.Output))
		if ok, next := m.Step(state, op.Input, op.Output); ok {
			state = next
		}
	}
	got = append(got, m.DescribeState(state))
	want := []string{"write(a) -> v1", "write(b) -> unknown, v2 on the final card", "read() -> v1 [a]", "final card: v2 [a b]", "v2 [a b]"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("DescribeOperation/DescribeState mismatch (-want +got):\n%s", diff)
	}
}

// largeHistory is the size the suite checks after a run.
var largeHistory = syntheticConfig{seed: 5, ops: 100_000, persons: 200, clients: 8, unknown: 0.01, fault: 0.01, writeRate: 0.5}

// TestCheckLargeHistory checks a 100,000-operation history in reasonable
// time. It is skipped with -short.
func TestCheckLargeHistory(t *testing.T) {
	if testing.Short() {
		t.Skip("100,000 operations")
	}
	h := syntheticHistory(largeHistory)
	start := time.Now()
	r := Check(h, 2*time.Minute)
	took := time.Since(start)
	if !r.OK() {
		t.Fatalf("Check(100,000 ops).OK() = false, want true; failed %v, linearizable %s", r.Failed(), r.Linearizability.Result)
	}
	t.Logf("Check of %d ops over %d persons, %d clients: %v (porcupine %v)", len(h.Operations), largeHistory.persons, largeHistory.clients, took, r.Linearizability.Took)
}

func BenchmarkCheck100k(b *testing.B) {
	h := syntheticHistory(largeHistory)
	for b.Loop() {
		if r := Check(h, 2*time.Minute); !r.OK() {
			b.Fatalf("Check(100,000 ops).OK() = false, want true")
		}
	}
}
