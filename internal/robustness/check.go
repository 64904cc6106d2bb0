package robustness

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/sharedmedcard/gateway/shard"
)

// CheckName names one checker of a run.
type CheckName string

// The checkers, in the order reports list them.
const (
	// CheckNoFinal fails when a history with writes has no final cards, so
	// the checks that need them could not run.
	CheckNoFinal CheckName = "no-final-cards"
	// CheckLost fails on an acknowledged write whose tag is not on the
	// person's final card.
	CheckLost CheckName = "lost"
	// CheckDuplicated fails on a tag that is more than once on a final card.
	CheckDuplicated CheckName = "duplicated"
	// CheckAppliedDespiteFault fails on a write that ended with a definite
	// fault and whose tag is on the final card.
	CheckAppliedDespiteFault CheckName = "applied-despite-fault"
	// CheckStaleRead fails on a read invoked after a write of the same
	// person was acknowledged that answers an older version than the write.
	CheckStaleRead CheckName = "stale-read"
	// CheckVersion fails on two acknowledged writes of one person that
	// answer the same version (a lost update), and on a read or final card
	// whose number of tags is not its version.
	CheckVersion CheckName = "version"
	// CheckResendAnswer fails on an acknowledged write whose deliberate
	// resend with the same MessageID answered another version: the resend
	// was applied again, or its stored answer was not returned.
	CheckResendAnswer CheckName = "resend-answer"
	// CheckInternalError fails on any answer InternalError: a fault a
	// client must not resend, which a server starting up, a lost connection
	// or a contended card must never produce.
	CheckInternalError CheckName = "internal-error"
	// CheckClientFault fails, in the classes that promise clients see no
	// fault at all (shard-move), on any send that got no success answer:
	// a fault, retryable or not, or no SOAP answer. See CheckNoClientFaults.
	CheckClientFault CheckName = "client-fault"
	// CheckMoveTraffic fails, in the same classes, on a shard move with no
	// client operation on its shard in flight from its freeze to a second
	// after its flip: such a run cannot show that clients do not see a
	// move. See MovesTraffic.
	CheckMoveTraffic CheckName = "move-traffic"
	// CheckLinearizable fails when porcupine finds no order of the
	// operations that the card model explains.
	CheckLinearizable CheckName = "linearizable"
)

// checkOrder is the order reports list the checkers in.
var checkOrder = []CheckName{
	CheckNoFinal, CheckLost, CheckDuplicated, CheckAppliedDespiteFault,
	CheckStaleRead, CheckVersion, CheckResendAnswer, CheckInternalError, CheckClientFault, CheckMoveTraffic, CheckLinearizable,
}

// Finding is one violation a checker found.
type Finding struct {
	Check  CheckName `json:"check"`
	Person string    `json:"person,omitempty"` // synthetic persons only
	Ops    []int     `json:"ops,omitempty"`    // Operation.IDs involved, the one at fault first
	// Lag is, for a stale read, how long after the write's acknowledgement
	// the read was invoked.
	Lag    time.Duration `json:"lag,omitempty"`
	Detail string        `json:"detail"`
}

// String returns the finding on one line.
func (f Finding) String() string {
	s := fmt.Sprintf("%s: ops %v: %s", f.Check, f.Ops, f.Detail)
	if f.Lag > 0 {
		s += fmt.Sprintf(" (%v after the ack)", f.Lag)
	}
	return s
}

// Summary counts what happened in a run. Check fills in everything but
// Class and RecoveryTime, which the runner sets.
type Summary struct {
	Class string `json:"class,omitempty"` // the run's fault class, set by the runner

	Ops       int             `json:"ops"`
	Writes    int             `json:"writes"`
	Reads     int             `json:"reads"`
	ByOutcome map[Outcome]int `json:"byOutcome"`

	// FailedSends is how many sends (first sends, resends and deliberate
	// resends) got no success answer: faults of any kind and no answer.
	FailedSends int `json:"failedSends"`

	Acked        int            `json:"acked"`        // writes that ended ok
	FailedByCode map[string]int `json:"failedByCode"` // writes that ended with a definite fault, by FaultCode
	Unknown      int            `json:"unknown"`      // writes that ended unknown
	// UnknownApplied and UnknownNotApplied split Unknown by whether the
	// final card holds the write's tag. Neither is a failure.
	UnknownApplied    int `json:"unknownApplied"`
	UnknownNotApplied int `json:"unknownNotApplied"`

	FinalCards          int `json:"finalCards"`
	Lost                int `json:"lost"`
	Duplicated          int `json:"duplicated"`
	StaleReads          int `json:"staleReads"`
	AppliedDespiteFault int `json:"appliedDespiteFault"`
	VersionAnomalies    int `json:"versionAnomalies"`

	// LongestRequest is the longest Return-Invoke of an operation that
	// returned; LongestRequestOp is its ID.
	LongestRequest   time.Duration `json:"longestRequest"`
	LongestRequestOp int           `json:"longestRequestOp"`
	// RecoveryTime is how long the system took to serve again after the
	// nemesis healed; the runner measures and sets it.
	RecoveryTime time.Duration `json:"recoveryTime"`
}

// Verdict is the outcome of the set checks over one history.
type Verdict struct {
	Summary  Summary
	Findings []Finding
}

// OK reports whether the set checks found nothing.
func (v Verdict) OK() bool { return len(v.Findings) == 0 }

// Failed returns the checkers with findings, in report order.
func (v Verdict) Failed() []CheckName {
	var failed []CheckName
	for _, c := range checkOrder {
		if len(v.Of(c)) > 0 {
			failed = append(failed, c)
		}
	}
	return failed
}

// Of returns the findings of checker c.
func (v Verdict) Of(c CheckName) []Finding {
	var fs []Finding
	for _, f := range v.Findings {
		if f.Check == c {
			fs = append(fs, f)
		}
	}
	return fs
}

// CheckSets runs the set checks (every checker but CheckLinearizable) over
// h. A person missing from a non-nil h.Final has no card: version 0, no
// tags. A nil h.Final means no final read was taken; with any writes in h
// that is itself a finding, since nothing then says which writes survived.
func CheckSets(h History) Verdict {
	var v Verdict
	s := &v.Summary
	s.ByOutcome = make(map[Outcome]int)
	s.FailedByCode = make(map[string]int)
	s.FinalCards = len(h.Final)

	byPerson := make(map[string][]*Operation)
	var persons []string
	for i := range h.Operations {
		op := &h.Operations[i]
		s.Ops++
		s.ByOutcome[op.Outcome]++
		s.FailedSends += len(op.Failures)
		switch op.Kind {
		case OpWrite:
			s.Writes++
			switch op.Outcome {
			case OutcomeOK:
				s.Acked++
			case OutcomeFault:
				s.FailedByCode[op.FaultCode]++
			case OutcomeUnknown:
				s.Unknown++
			}
		case OpRead:
			s.Reads++
		}
		if !op.Return.IsZero() {
			if d := op.Return.Sub(op.Invoke); d > s.LongestRequest {
				s.LongestRequest, s.LongestRequestOp = d, op.ID
			}
		}
		if op.Kind == OpWrite && op.Outcome == OutcomeOK && op.ResendVersion != 0 && op.ResendVersion != op.Version {
			v.Findings = append(v.Findings, Finding{
				Check: CheckResendAnswer, Person: op.Person, Ops: []int{op.ID},
				Detail: fmt.Sprintf("write %s answered v%d, its resend with the same MessageID v%d", op.Tag, op.Version, op.ResendVersion),
			})
		}
		if op.FaultCode == "InternalError" {
			v.Findings = append(v.Findings, Finding{
				Check: CheckInternalError, Person: op.Person, Ops: []int{op.ID},
				Detail: fmt.Sprintf("%s answered InternalError after %d attempts", op.Kind, op.Attempts),
			})
		}
		if _, ok := byPerson[op.Person]; !ok {
			persons = append(persons, op.Person)
		}
		byPerson[op.Person] = append(byPerson[op.Person], op)
	}
	for p := range h.Final {
		if _, ok := byPerson[p]; !ok {
			persons = append(persons, p)
		}
	}
	sort.Strings(persons)

	if h.Final == nil && s.Writes > 0 {
		v.Findings = append(v.Findings, Finding{
			Check:  CheckNoFinal,
			Detail: fmt.Sprintf("no final cards for %d writes: lost, duplicated, applied-despite-fault and unknown resolution not checked", s.Writes),
		})
	}
	for _, p := range persons {
		ops := byPerson[p]
		if h.Final != nil {
			checkFinal(&v, p, ops, h.Final[p])
		}
		checkStale(&v, p, ops)
		checkVersions(&v, p, ops)
	}

	for _, f := range v.Findings {
		switch f.Check {
		case CheckLost:
			s.Lost++
		case CheckDuplicated:
			s.Duplicated++
		case CheckAppliedDespiteFault:
			s.AppliedDespiteFault++
		case CheckStaleRead:
			s.StaleReads++
		case CheckVersion:
			s.VersionAnomalies++
		}
	}
	return v
}

// checkFinal compares person p's writes with its final card fc: lost,
// duplicated and applied-despite-fault writes, and how unknown writes
// resolved.
func checkFinal(v *Verdict, p string, ops []*Operation, fc FinalCard) {
	count := make(map[string]int, len(fc.Tags))
	for _, t := range fc.Tags {
		count[t]++
	}
	writers := make(map[string][]int)
	for _, op := range ops {
		if op.Kind != OpWrite {
			continue
		}
		writers[op.Tag] = append(writers[op.Tag], op.ID)
		applied := count[op.Tag] > 0
		switch {
		case op.Outcome == OutcomeOK && !applied:
			v.Findings = append(v.Findings, Finding{
				Check: CheckLost, Person: p, Ops: []int{op.ID},
				Detail: fmt.Sprintf("write %s acknowledged at v%d is not on the final card (v%d, %d tags)", op.Tag, op.Version, fc.Version, len(fc.Tags)),
			})
		case op.Outcome == OutcomeFault && applied:
			v.Findings = append(v.Findings, Finding{
				Check: CheckAppliedDespiteFault, Person: p, Ops: []int{op.ID},
				Detail: fmt.Sprintf("write %s ended with fault %q but is on the final card", op.Tag, op.FaultCode),
			})
		case op.Outcome == OutcomeUnknown && applied:
			v.Summary.UnknownApplied++
		case op.Outcome == OutcomeUnknown:
			v.Summary.UnknownNotApplied++
		}
	}
	var dups []string
	for t, n := range count {
		if n > 1 {
			dups = append(dups, t)
		}
	}
	sort.Strings(dups)
	for _, t := range dups {
		v.Findings = append(v.Findings, Finding{
			Check: CheckDuplicated, Person: p, Ops: writers[t],
			Detail: fmt.Sprintf("tag %s is %d times on the final card", t, count[t]),
		})
	}
	if int64(len(fc.Tags)) != fc.Version {
		v.Findings = append(v.Findings, Finding{
			Check: CheckVersion, Person: p,
			Detail: fmt.Sprintf("final card at v%d holds %d tags", fc.Version, len(fc.Tags)),
		})
	}
}

// checkStale finds person p's reads that answered an older version than a
// write acknowledged before the read was invoked. Each stale read is
// reported once, against the newest such write.
func checkStale(v *Verdict, p string, ops []*Operation) {
	var acked []*Operation
	for _, op := range ops {
		if op.Kind == OpWrite && op.Outcome == OutcomeOK && !op.Return.IsZero() {
			acked = append(acked, op)
		}
	}
	if len(acked) == 0 {
		return
	}
	sort.Slice(acked, func(i, j int) bool { return acked[i].Return.Before(acked[j].Return) })
	// newest[i] is the write of the highest version among acked[:i+1].
	newest := make([]*Operation, len(acked))
	for i, w := range acked {
		newest[i] = w
		if i > 0 && newest[i-1].Version >= w.Version {
			newest[i] = newest[i-1]
		}
	}
	for _, r := range ops {
		if r.Kind != OpRead || r.Outcome != OutcomeOK {
			continue
		}
		// The writes acknowledged strictly before the read's invoke.
		n := sort.Search(len(acked), func(i int) bool { return !acked[i].Return.Before(r.Invoke) })
		if n == 0 {
			continue
		}
		w := newest[n-1]
		if r.Version < w.Version {
			v.Findings = append(v.Findings, Finding{
				Check: CheckStaleRead, Person: p, Ops: []int{r.ID, w.ID},
				Lag:    r.Invoke.Sub(w.Return),
				Detail: fmt.Sprintf("read answered v%d, older than write %s acknowledged at v%d", r.Version, w.Tag, w.Version),
			})
		}
	}
}

// checkVersions finds person p's acknowledged writes that answer the same
// version with different tags, and reads whose number of tags is not their
// version (persons start with no card, at version 0).
func checkVersions(v *Verdict, p string, ops []*Operation) {
	byVersion := make(map[int64][]*Operation)
	var versions []int64
	for _, op := range ops {
		switch {
		case op.Kind == OpWrite && op.Outcome == OutcomeOK:
			if _, ok := byVersion[op.Version]; !ok {
				versions = append(versions, op.Version)
			}
			byVersion[op.Version] = append(byVersion[op.Version], op)
		case op.Kind == OpRead && op.Outcome == OutcomeOK && int64(len(op.Tags)) != op.Version:
			v.Findings = append(v.Findings, Finding{
				Check: CheckVersion, Person: p, Ops: []int{op.ID},
				Detail: fmt.Sprintf("read answered v%d with %d tags", op.Version, len(op.Tags)),
			})
		}
	}
	slices.Sort(versions)
	for _, ver := range versions {
		ws := byVersion[ver]
		tags := make(map[string]bool)
		ids := make([]int, len(ws))
		for i, w := range ws {
			tags[w.Tag] = true
			ids[i] = w.ID
		}
		if len(tags) > 1 {
			v.Findings = append(v.Findings, Finding{
				Check: CheckVersion, Person: p, Ops: ids,
				Detail: fmt.Sprintf("%d acknowledged writes with different tags all answered v%d (lost update)", len(ws), ver),
			})
		}
	}
}

// CheckNoClientFaults finds every operation of h with a send that got no
// success answer (Operation.Failures), one finding per operation. Each
// failure is placed among the shard moves of h.Moves: the step of a move
// of the person's logical shard under way when the answer came, or else
// the last one that had finished before it.
func CheckNoClientFaults(h History) []Finding {
	var fs []Finding
	for _, op := range h.Operations {
		if len(op.Failures) == 0 {
			continue
		}
		s := shard.Of(op.Person)
		var parts []string
		for _, f := range op.Failures {
			parts = append(parts, fmt.Sprintf("%s on gateway %s at %s, %s", f.Fault, f.Gateway,
				f.At.Format("15:04:05.000"), moveStepAt(h.Moves, s, f.At)))
		}
		fs = append(fs, Finding{
			Check: CheckClientFault, Person: op.Person, Ops: []int{op.ID},
			Detail: fmt.Sprintf("%s of shard %d, %d attempts, outcome %s: %d sends failed: %s",
				op.Kind, s, op.Attempts, op.Outcome, len(op.Failures), strings.Join(parts, "; ")),
		})
	}
	return fs
}

// moveStepAt says where time at falls among the journaled steps of the
// moves of logical shard s.
func moveStepAt(steps []MoveStep, s int, at time.Time) string {
	var last *MoveStep
	for i := range steps {
		st := &steps[i]
		if st.Shard != s || st.Started.After(at) {
			continue
		}
		if st.Finished.IsZero() || !st.Finished.Before(at) {
			return fmt.Sprintf("during move %d (%s→%s) step %s, %v into it [%s]", st.Move, st.Source, st.Target,
				st.Step, at.Sub(st.Started).Round(time.Millisecond), st.Detail)
		}
		if last == nil || st.Finished.After(last.Finished) {
			last = st
		}
	}
	if last == nil {
		return fmt.Sprintf("before any move of shard %d", s)
	}
	return fmt.Sprintf("%v after move %d (%s→%s) finished step %s [%s]", at.Sub(last.Finished).Round(time.Millisecond),
		last.Move, last.Source, last.Target, last.Step, last.Detail)
}

// MoveTraffic is how many client operations on a move's logical shard
// were in flight in the move's window: from the start of its last freeze
// step (the freeze that led to the flip, with the flip) to staleMapWindow
// after its end, while gateways may still hold the old map.
type MoveTraffic struct {
	Move           int64
	Shard          int
	Source, Target string
	Reads, Writes  int
}

// staleMapWindow is how long after a flip a gateway may route by the old
// map (it polls the catalog's epoch every second).
const staleMapWindow = time.Second

// MovesTraffic returns the traffic of every move of h.Moves that reached a
// freeze, in the order of their first step.
func MovesTraffic(h History) []MoveTraffic {
	type window struct {
		t          MoveTraffic
		start, end time.Time
	}
	var order []int64
	last := map[int64]*window{}
	for _, st := range h.Moves {
		if st.Step != "freeze" || st.Finished.IsZero() {
			continue
		}
		w, ok := last[st.Move]
		if !ok {
			w = &window{t: MoveTraffic{Move: st.Move, Shard: st.Shard, Source: st.Source, Target: st.Target}}
			last[st.Move] = w
			order = append(order, st.Move)
		}
		w.start, w.end = st.Started, st.Finished.Add(staleMapWindow)
	}
	out := make([]MoveTraffic, 0, len(order))
	for _, id := range order {
		w := last[id]
		for _, op := range h.Operations {
			if shard.Of(op.Person) != w.t.Shard || op.Invoke.After(w.end) || (!op.Return.IsZero() && op.Return.Before(w.start)) {
				continue
			}
			if op.Kind == OpWrite {
				w.t.Writes++
			} else {
				w.t.Reads++
			}
		}
		out = append(out, w.t)
	}
	return out
}

// CheckMovesTraffic finds the moves of h no client operation was in flight
// for (MovesTraffic).
func CheckMovesTraffic(h History) []Finding {
	var fs []Finding
	for _, t := range MovesTraffic(h) {
		if t.Reads+t.Writes == 0 {
			fs = append(fs, Finding{Check: CheckMoveTraffic, Detail: fmt.Sprintf(
				"move %d (shard %d %s→%s): no client operation on the shard from its freeze to %v after its flip",
				t.Move, t.Shard, t.Source, t.Target, staleMapWindow)})
		}
	}
	return fs
}

// Result is the outcome of every checker over one history.
type Result struct {
	Verdict
	Linearizability Linearizability
}

// Check runs the set checks and the linearizability check over h, giving
// porcupine at most timeout (0 means no limit).
func Check(h History, timeout time.Duration) Result {
	return Result{
		Verdict:         CheckSets(h),
		Linearizability: CheckLinearizability(h, timeout),
	}
}

// Failed returns the checkers that failed, in report order.
func (r Result) Failed() []CheckName {
	failed := r.Verdict.Failed()
	if r.Linearizability.Result == porcupine.Illegal {
		failed = append(failed, CheckLinearizable)
	}
	return failed
}

// Inconclusive reports whether porcupine timed out before it decided.
func (r Result) Inconclusive() bool {
	return r.Linearizability.Result == porcupine.Unknown
}

// OK reports whether every checker passed and porcupine decided.
func (r Result) OK() bool {
	return len(r.Failed()) == 0 && !r.Inconclusive()
}
