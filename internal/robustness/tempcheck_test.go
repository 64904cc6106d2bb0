package robustness

import (
	"testing"
	"time"
)

// TestTempCheck feeds the stand-in checker small histories with one
// violation each and requires it to name that violation, and only it.
func TestTempCheck(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	write := func(tag string, from, to int, out Outcome, v int64) Operation {
		return Operation{Kind: OpWrite, Person: "p", Tag: tag, Invoke: at(from), Return: at(to), Outcome: out, Version: v}
	}
	read := func(from, to int, v int64, tags ...string) Operation {
		return Operation{Kind: OpRead, Person: "p", Invoke: at(from), Return: at(to), Outcome: OutcomeOK, Version: v, Tags: tags}
	}
	final := func(v int64, tags ...string) map[string]FinalCard {
		return map[string]FinalCard{"p": {Person: "p", Version: v, Tags: tags}}
	}
	faulted := write("b", 20, 30, OutcomeFault, 0)
	faulted.FaultCode = "RoleNotAllowed"
	internal := write("b", 20, 30, OutcomeFault, 0)
	internal.FaultCode = "InternalError"
	resent := write("b", 20, 30, OutcomeOK, 2)
	resent.ResendVersion = 3
	for _, tt := range []struct {
		name string
		h    History
		want func(tempFindings) int // the count that must be 1
	}{
		{"lost", History{Operations: []Operation{write("a", 0, 10, OutcomeOK, 1), write("b", 20, 30, OutcomeOK, 2)}, Final: final(1, "a")},
			func(f tempFindings) int { return len(f.Lost) }},
		{"duplicated", History{Operations: []Operation{write("a", 0, 10, OutcomeOK, 1)}, Final: final(2, "a", "a")},
			func(f tempFindings) int { return len(f.Duplicated) }},
		{"resend answered another version", History{Operations: []Operation{write("a", 0, 10, OutcomeOK, 1), resent}, Final: final(2, "a", "b")},
			func(f tempFindings) int { return len(f.Duplicated) }},
		{"stale", History{Operations: []Operation{write("a", 0, 10, OutcomeOK, 1), write("b", 20, 30, OutcomeOK, 2), read(40, 45, 1, "a")}, Final: final(2, "a", "b")},
			func(f tempFindings) int { return len(f.Stale) }},
		{"regressed", History{Operations: []Operation{write("a", 0, 100, OutcomeUnknown, 0), read(10, 20, 1, "a"), read(30, 40, 0)}, Final: final(1, "a")},
			func(f tempFindings) int { return len(f.Regressed) }},
		{"applied despite a fault", History{Operations: []Operation{write("a", 0, 10, OutcomeOK, 1), faulted}, Final: final(2, "a", "b")},
			func(f tempFindings) int { return len(f.AppliedFault) }},
		{"internal error", History{Operations: []Operation{write("a", 0, 10, OutcomeOK, 1), internal}, Final: final(1, "a")},
			func(f tempFindings) int { return len(f.Internal) }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			for i := range tt.h.Operations {
				tt.h.Operations[i].ID = i
			}
			f := tempCheck(tt.h)
			if got := tt.want(f); got != 1 || f.ok() {
				t.Errorf("tempCheck(%s) = %d findings of the kind, ok %v, want 1, false:\n%s", tt.name, got, f.ok(), f.text())
			}
			total := len(f.Lost) + len(f.Duplicated) + len(f.Stale) + len(f.Regressed) + len(f.AppliedFault) + len(f.Internal) + len(f.NoFinal)
			if total != 1 {
				t.Errorf("tempCheck(%s) found %d things, want only the one:\n%s", tt.name, total, f.text())
			}
		})
	}
	// A concurrent read may see either side of a write; an unknown write
	// that was applied is allowed.
	ok := History{Operations: []Operation{write("a", 0, 10, OutcomeOK, 1), write("b", 20, 40, OutcomeOK, 2), read(25, 30, 1, "a"),
		read(50, 55, 3, "a", "b", "c"), write("c", 21, 0, OutcomeUnknown, 0)}, Final: final(3, "a", "b", "c")}
	ok.Operations[4].Return = time.Time{}
	if f := tempCheck(ok); !f.ok() || f.UnknownApplied != 1 {
		t.Errorf("tempCheck(a valid history) = ok %v, unknown applied %d, want true, 1:\n%s", f.ok(), f.UnknownApplied, f.text())
	}
}
