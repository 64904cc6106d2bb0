package robustness

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sharedmedcard/gateway/shard"
)

// t0 is when every synthetic history starts.
var t0 = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

// at returns the time ms milliseconds into a synthetic history.
func at(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }

// ackedWrite returns an acknowledged write of tag by person "p" over
// [inv, ret] milliseconds that answered version.
func ackedWrite(id, inv, ret int, tag string, version int64) Operation {
	return Operation{
		ID: id, Client: id % 4, Kind: OpWrite, Person: "p", Tag: tag, MessageID: "m-" + tag,
		Invoke: at(inv), Return: at(ret), Outcome: OutcomeOK, Attempts: 1, Version: version,
	}
}

// unknownWrite returns a write of tag by person "p" invoked at inv
// milliseconds that never got a definite answer.
func unknownWrite(id, inv int, tag string) Operation {
	return Operation{
		ID: id, Client: id % 4, Kind: OpWrite, Person: "p", Tag: tag, MessageID: "m-" + tag,
		Invoke: at(inv), Outcome: OutcomeUnknown, Attempts: 3,
	}
}

// faultedWrite returns a write of tag by person "p" over [inv, ret]
// milliseconds that ended with the definite fault code.
func faultedWrite(id, inv, ret int, tag, code string) Operation {
	return Operation{
		ID: id, Client: id % 4, Kind: OpWrite, Person: "p", Tag: tag, MessageID: "m-" + tag,
		Invoke: at(inv), Return: at(ret), Outcome: OutcomeFault, FaultCode: code, Attempts: 1,
	}
}

// okRead returns a successful read of person "p" over [inv, ret]
// milliseconds that answered version and tags.
func okRead(id, inv, ret int, version int64, tags ...string) Operation {
	return Operation{
		ID: id, Client: id % 4, Kind: OpRead, Person: "p",
		Invoke: at(inv), Return: at(ret), Outcome: OutcomeOK, Attempts: 1, Version: version, Tags: tags,
	}
}

// final returns the Final of a history where person "p" ends at version
// with tags.
func final(version int64, tags ...string) map[string]FinalCard {
	return map[string]FinalCard{"p": {Person: "p", Version: version, Tags: tags}}
}

// checkCases are small histories with the checkers each must fail; a
// history with no failed checkers must pass.
var checkCases = []struct {
	name   string
	h      History
	failed []CheckName
}{
	// Histories that must pass.
	{
		name: "empty",
	},
	{
		name: "write then read",
		h: History{
			Operations: []Operation{ackedWrite(1, 0, 10, "a", 1), okRead(2, 20, 30, 1, "a")},
			Final:      final(1, "a"),
		},
	},
	{
		name: "unknown write applied",
		h: History{
			Operations: []Operation{unknownWrite(1, 0, "a"), okRead(2, 50, 60, 1, "a")},
			Final:      final(1, "a"),
		},
	},
	{
		name: "unknown write not applied",
		h: History{
			Operations: []Operation{unknownWrite(1, 0, "a"), ackedWrite(2, 100, 110, "b", 1), okRead(3, 120, 130, 1, "b")},
			Final:      final(1, "b"),
		},
	},
	{
		name: "unknown write applied after every other operation",
		h: History{
			Operations: []Operation{unknownWrite(1, 0, "a"), ackedWrite(2, 100, 110, "b", 1), okRead(3, 120, 130, 1, "b")},
			Final:      final(2, "b", "a"),
		},
	},
	{
		name: "resend answered with the stored version",
		h: History{
			Operations: []Operation{
				// Applied at once, answer lost; the resend to the other
				// gateway at 400 is answered v1 from the stored answer.
				func() Operation {
					w := ackedWrite(1, 0, 500, "a", 1)
					w.Attempts, w.Gateways = 2, []string{"gw-a", "gw-b"}
					return w
				}(),
				okRead(2, 20, 30, 1, "a"),
				ackedWrite(3, 100, 150, "b", 2),
				okRead(4, 160, 170, 2, "a", "b"),
				okRead(5, 510, 520, 2, "a", "b"),
			},
			Final: final(2, "a", "b"),
		},
	},
	{
		name: "concurrent overlapping writes and reads",
		h: History{
			Operations: []Operation{
				ackedWrite(1, 0, 100, "a", 2),
				ackedWrite(2, 10, 60, "b", 1),
				okRead(3, 5, 15, 0),
				okRead(4, 20, 30, 1, "b"),
				okRead(5, 40, 120, 2, "b", "a"),
				okRead(6, 110, 115, 2, "b", "a"),
			},
			Final: final(2, "b", "a"),
		},
	},
	{
		name: "faulted write not applied, failed reads ignored",
		h: History{
			Operations: []Operation{
				faultedWrite(1, 0, 10, "a", "E_INVALID"),
				{ID: 2, Kind: OpRead, Person: "p", Invoke: at(20), Outcome: OutcomeUnknown},
				{ID: 3, Kind: OpRead, Person: "p", Invoke: at(20), Return: at(25), Outcome: OutcomeFault, FaultCode: "E_UNAVAILABLE"},
				okRead(4, 30, 40, 0),
			},
			Final: final(0),
		},
	},

	// Histories that must fail.
	{
		name: "lost write",
		h: History{
			Operations: []Operation{ackedWrite(1, 0, 10, "a", 1)},
			Final:      final(0),
		},
		failed: []CheckName{CheckLost, CheckLinearizable},
	},
	{
		name: "duplicated write",
		h: History{
			Operations: []Operation{ackedWrite(1, 0, 10, "a", 1)},
			Final:      final(2, "a", "a"),
		},
		failed: []CheckName{CheckDuplicated, CheckLinearizable},
	},
	{
		name: "applied despite a definite fault",
		h: History{
			Operations: []Operation{faultedWrite(1, 0, 10, "a", "E_CONFLICT")},
			Final:      final(1, "a"),
		},
		failed: []CheckName{CheckAppliedDespiteFault, CheckLinearizable},
	},
	{
		name: "stale read",
		h: History{
			Operations: []Operation{ackedWrite(1, 0, 10, "a", 1), okRead(2, 20, 30, 0)},
			Final:      final(1, "a"),
		},
		failed: []CheckName{CheckStaleRead, CheckLinearizable},
	},
	{
		name: "lost update: two writes answer the same version",
		h: History{
			Operations: []Operation{ackedWrite(1, 0, 10, "a", 1), ackedWrite(2, 0, 10, "b", 1)},
			Final:      final(2, "a", "b"),
		},
		failed: []CheckName{CheckVersion, CheckLinearizable},
	},
	{
		name: "read whose tags do not match its version",
		h: History{
			Operations: []Operation{ackedWrite(1, 0, 10, "a", 1), ackedWrite(2, 20, 30, "b", 2), okRead(3, 40, 50, 2, "b")},
			Final:      final(2, "a", "b"),
		},
		failed: []CheckName{CheckVersion, CheckLinearizable},
	},
	{
		name: "read of v2 then a later read of v1, no writes between",
		h: History{
			Operations: []Operation{
				ackedWrite(1, 0, 100, "a", 1),
				ackedWrite(2, 0, 100, "b", 2),
				okRead(3, 10, 20, 2, "a", "b"),
				okRead(4, 30, 40, 1, "a"),
			},
			Final: final(2, "a", "b"),
		},
		failed: []CheckName{CheckLinearizable},
	},
	{
		name: "unknown write applied before it was invoked",
		h: History{
			Operations: []Operation{ackedWrite(1, 0, 10, "b", 1), unknownWrite(2, 20, "a")},
			Final:      final(2, "a", "b"),
		},
		failed: []CheckName{CheckLinearizable},
	},
	{
		name: "card order other than the acknowledged versions",
		h: History{
			Operations: []Operation{ackedWrite(1, 0, 10, "a", 1), ackedWrite(2, 0, 10, "b", 2)},
			Final:      final(2, "b", "a"),
		},
		failed: []CheckName{CheckLinearizable},
	},
	{
		name: "no final cards",
		h: History{
			Operations: []Operation{ackedWrite(1, 0, 10, "a", 1)},
		},
		failed: []CheckName{CheckNoFinal},
	},
}

func TestCheck(t *testing.T) {
	for _, tc := range checkCases {
		t.Run(tc.name, func(t *testing.T) {
			r := Check(tc.h, 10*time.Second)
			if diff := cmp.Diff(tc.failed, r.Failed()); diff != "" {
				t.Errorf("Check(%s).Failed() mismatch (-want +got):\n%s\nfindings: %v\nlinearizable: %s", tc.name, diff, r.Findings, r.Linearizability.Result)
			}
			if got, want := r.OK(), len(tc.failed) == 0; got != want {
				t.Errorf("Check(%s).OK() = %v, want %v", tc.name, got, want)
			}
		})
	}
}

func TestCheckSetsFindings(t *testing.T) {
	tests := []struct {
		name string
		h    History
		want []Finding
	}{
		{
			name: "stale read names the read, the newest write acked before it, and the lag",
			h: History{
				Operations: []Operation{
					ackedWrite(1, 0, 10, "a", 1),
					ackedWrite(2, 20, 30, "b", 2),
					ackedWrite(3, 25, 200, "c", 3), // acknowledged after the read started
					okRead(4, 75, 80, 1, "a"),
				},
				Final: final(3, "a", "b", "c"),
			},
			want: []Finding{{
				Check: CheckStaleRead, Person: "p", Ops: []int{4, 2}, Lag: 45 * time.Millisecond,
				Detail: "read answered v1, older than write b acknowledged at v2",
			}},
		},
		{
			name: "a duplicated tag names every write of it",
			h: History{
				Operations: []Operation{ackedWrite(1, 0, 10, "a", 1)},
				Final:      final(2, "a", "a"),
			},
			want: []Finding{{
				Check: CheckDuplicated, Person: "p", Ops: []int{1},
				Detail: "tag a is 2 times on the final card",
			}},
		},
		{
			name: "lost update names both writes",
			h: History{
				Operations: []Operation{ackedWrite(1, 0, 10, "a", 1), ackedWrite(2, 0, 10, "b", 1)},
				Final:      final(1, "b"),
			},
			want: []Finding{
				{Check: CheckLost, Person: "p", Ops: []int{1}, Detail: "write a acknowledged at v1 is not on the final card (v1, 1 tags)"},
				{Check: CheckVersion, Person: "p", Ops: []int{1, 2}, Detail: "2 acknowledged writes with different tags all answered v1 (lost update)"},
			},
		},
		{
			name: "final card whose tags do not match its version",
			h:    History{Final: final(3, "a")},
			want: []Finding{{Check: CheckVersion, Person: "p", Detail: "final card at v3 holds 1 tags"}},
		},
		{
			name: "a read invoked the instant the write was acked is concurrent with it",
			h: History{
				Operations: []Operation{ackedWrite(1, 0, 10, "a", 1), okRead(2, 10, 20, 0)},
				Final:      final(1, "a"),
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := CheckSets(tc.h).Findings
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("CheckSets(%s).Findings mismatch (-want +got):\n%s", tc.name, diff)
			}
		})
	}
}

func TestCheckSetsSummary(t *testing.T) {
	h := History{
		Operations: []Operation{
			ackedWrite(1, 0, 10, "a", 1),
			unknownWrite(2, 0, "b"),
			unknownWrite(3, 0, "c"),
			faultedWrite(4, 0, 5, "d", "E_INVALID"),
			faultedWrite(5, 0, 5, "e", "E_INVALID"),
			faultedWrite(6, 0, 250, "f", "E_UNAVAILABLE"),
			okRead(7, 20, 30, 2, "a", "b"),
			ackedWrite(8, 40, 50, "g", 3),
		},
		Final: final(3, "a", "b", "g"),
	}
	want := Summary{
		Ops: 8, Writes: 7, Reads: 1,
		ByOutcome:         map[Outcome]int{OutcomeOK: 3, OutcomeUnknown: 2, OutcomeFault: 3},
		Acked:             2,
		FailedByCode:      map[string]int{"E_INVALID": 2, "E_UNAVAILABLE": 1},
		Unknown:           2,
		UnknownApplied:    1,
		UnknownNotApplied: 1,
		FinalCards:        1,
		LongestRequest:    250 * time.Millisecond,
		LongestRequestOp:  6,
	}
	v := CheckSets(h)
	if diff := cmp.Diff(want, v.Summary); diff != "" {
		t.Errorf("CheckSets(h).Summary mismatch (-want +got):\n%s", diff)
	}
	if !v.OK() {
		t.Errorf("CheckSets(h).OK() = false, want true; findings: %v", v.Findings)
	}
}

func TestCheckNoClientFaults(t *testing.T) {
	s := shard.Of("p")
	retried := ackedWrite(1, 0, 300, "a", 1)
	retried.Attempts = 2
	retried.Failures = []AttemptFailure{{At: at(150), Gateway: "A", Fault: "ServiceUnavailable (retryable)"}}
	lost := okRead(3, 400, 0, 0)
	lost.Outcome, lost.Return = OutcomeUnknown, time.Time{}
	lost.Failures = []AttemptFailure{{At: at(1200), Gateway: "B", Fault: "transport: EOF"}}
	h := History{
		Operations: []Operation{retried, okRead(2, 20, 30, 1, "a"), lost},
		Final:      final(1, "a"),
		Moves: []MoveStep{
			{Move: 7, Shard: s, Source: "shard1", Target: "shard2", Step: "copy", Started: at(0), Finished: at(100)},
			{Move: 7, Shard: s, Source: "shard1", Target: "shard2", Step: "freeze", Started: at(120), Finished: at(200), Detail: "try 1"},
			{Move: 8, Shard: s + 1, Source: "shard1", Target: "shard2", Step: "freeze", Started: at(1100), Finished: at(1300)},
		},
	}
	got := CheckNoClientFaults(h)
	want := []Finding{
		{Check: CheckClientFault, Person: "p", Ops: []int{1}, Detail: fmt.Sprintf("write of shard %d, 2 attempts, outcome ok: 1 sends failed: "+
			"ServiceUnavailable (retryable) on gateway A at 12:00:00.150, during move 7 (shard1→shard2) step freeze, 30ms into it [try 1]", s)},
		{Check: CheckClientFault, Person: "p", Ops: []int{3}, Detail: fmt.Sprintf("read of shard %d, 1 attempts, outcome unknown: 1 sends failed: "+
			"transport: EOF on gateway B at 12:00:01.200, 1s after move 7 (shard1→shard2) finished step freeze [try 1]", s)},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("CheckNoClientFaults(h) mismatch (-want +got):\n%s", diff)
	}
	if n := CheckSets(h).Summary.FailedSends; n != 2 {
		t.Errorf("CheckSets(h).Summary.FailedSends = %d, want 2", n)
	}
	if got := moveStepAt(h.Moves, s+2, at(50)); got != fmt.Sprintf("before any move of shard %d", s+2) {
		t.Errorf("moveStepAt(shard without moves) = %q", got)
	}
}

func TestMovesTraffic(t *testing.T) {
	s := shard.Of("p")
	h := History{
		Operations: []Operation{
			ackedWrite(1, 0, 50, "a", 1),       // before the freeze
			ackedWrite(2, 90, 130, "b", 2),     // into the freeze
			okRead(3, 1150, 1160, 2, "a", "b"), // in the second after the flip
			okRead(4, 1300, 1310, 2, "a", "b"), // after
		},
		Moves: []MoveStep{
			{Move: 7, Shard: s, Source: "shard1", Target: "shard2", Step: "copy", Started: at(0), Finished: at(80)},
			{Move: 7, Shard: s, Source: "shard1", Target: "shard2", Step: "freeze", Started: at(80), Finished: at(95), Detail: "try 1: overran"},
			{Move: 7, Shard: s, Source: "shard1", Target: "shard2", Step: "freeze", Started: at(100), Finished: at(200), Detail: "try 2"},
			{Move: 8, Shard: s + 1, Source: "shard2", Target: "shard1", Step: "freeze", Started: at(100), Finished: at(200)},
		},
	}
	want := []MoveTraffic{
		{Move: 7, Shard: s, Source: "shard1", Target: "shard2", Reads: 1, Writes: 1},
		{Move: 8, Shard: s + 1, Source: "shard2", Target: "shard1"},
	}
	if diff := cmp.Diff(want, MovesTraffic(h)); diff != "" {
		t.Errorf("MovesTraffic(h) mismatch (-want +got):\n%s", diff)
	}
	fs := CheckMovesTraffic(h)
	if len(fs) != 1 || fs[0].Check != CheckMoveTraffic {
		t.Errorf("CheckMovesTraffic(h) = %v, want one move-traffic finding (move 8)", fs)
	}
}
