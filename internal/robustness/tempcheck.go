package robustness

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// This file is a stand-in checker for developing the runner; check.go and
// model.go (porcupine) replace it at merge through judge in run.go.

// tempFindings are the set checks' results.
type tempFindings struct {
	Lost       []string // tags of acknowledged writes missing from the final card
	Duplicated []string // tags applied more than once, or a resend answered with another version
	Stale      []string // reads that returned a card older than a write acknowledged before they began
	// Regressed are reads that returned a card older than another read
	// returned before they began (no acknowledged write in between): not
	// promise 3 in its letter, but not linearizable either.
	Regressed    []string
	AppliedFault []string // tags of writes answered with a definite fault that are on the final card
	// Internal are operations answered with InternalError: a bug of the
	// gateway by the fault catalogue's own definition (code internal),
	// e.g. a transient database error passed on as a definite failure.
	Internal       []string
	UnknownApplied int      // writes that stayed unknown but were applied (allowed)
	NoFinal        []string // persons with acknowledged writes and no final card
}

func (f tempFindings) ok() bool {
	return len(f.Lost)+len(f.Duplicated)+len(f.Stale)+len(f.Regressed)+len(f.AppliedFault)+len(f.Internal)+len(f.NoFinal) == 0
}

// tempCheck runs the set checks on h.
func tempCheck(h History) tempFindings {
	var f tempFindings
	count := map[string]map[string]int{} // person → tag → copies on the final card
	for p, fc := range h.Final {
		m := map[string]int{}
		for _, t := range fc.Tags {
			m[t]++
		}
		count[p] = m
	}
	for p, m := range count {
		for t, n := range m {
			if n > 1 {
				f.Duplicated = append(f.Duplicated, fmt.Sprintf("%s applied %d times (person #%s)", t, n, short(p)))
			}
		}
	}
	byPerson := map[string][]Operation{}
	for _, op := range h.Operations {
		byPerson[op.Person] = append(byPerson[op.Person], op)
		if op.Outcome == OutcomeFault && op.FaultCode == "InternalError" {
			f.Internal = append(f.Internal, fmt.Sprintf("%s #%d %s via %s", op.Kind, op.ID, op.Tag, strings.Join(op.Gateways, ",")))
		}
		if op.Kind != OpWrite {
			continue
		}
		m, has := count[op.Person]
		switch op.Outcome {
		case OutcomeOK:
			if !has {
				f.NoFinal = append(f.NoFinal, op.Tag)
			} else if m[op.Tag] == 0 {
				f.Lost = append(f.Lost, fmt.Sprintf("%s (acknowledged version %d)", op.Tag, op.Version))
			}
			if op.ResendVersion != 0 && op.ResendVersion != op.Version {
				f.Duplicated = append(f.Duplicated, fmt.Sprintf("%s answered version %d, its resend version %d",
					op.Tag, op.Version, op.ResendVersion))
			}
		case OutcomeFault:
			if m[op.Tag] > 0 {
				f.AppliedFault = append(f.AppliedFault, fmt.Sprintf("%s (fault %s)", op.Tag, op.FaultCode))
			}
		case OutcomeUnknown:
			if m[op.Tag] > 0 {
				f.UnknownApplied++
			}
		}
	}
	for _, ops := range byPerson {
		stale, regressed := tempStaleReads(ops)
		f.Stale = append(f.Stale, stale...)
		f.Regressed = append(f.Regressed, regressed...)
	}
	sort.Strings(f.Stale)
	sort.Strings(f.Regressed)
	return f
}

// tempStaleReads checks one person's reads: a read must return at least
// the version of every write acknowledged before it began, with that
// write's tag (else it is stale), and at least the version of every read
// that returned before it began (else it regressed).
func tempStaleReads(ops []Operation) (stale, regressed []string) {
	type done struct {
		at      time.Time
		version int64
		tag     string
		what    string
	}
	var before []done
	for _, op := range ops {
		if op.Outcome != OutcomeOK {
			continue
		}
		switch op.Kind {
		case OpWrite:
			before = append(before, done{op.Return, op.Version, op.Tag, "write " + op.Tag})
		case OpRead:
			before = append(before, done{op.Return, op.Version, "", fmt.Sprintf("read #%d", op.ID)})
		}
	}
	sort.Slice(before, func(i, j int) bool { return before[i].at.Before(before[j].at) })
	for _, r := range ops {
		if r.Kind != OpRead || r.Outcome != OutcomeOK {
			continue
		}
		tags := map[string]bool{}
		for _, t := range r.Tags {
			tags[t] = true
		}
		var staleBy, regressedBy *done
		for i := range before {
			d := &before[i]
			if !d.at.Before(r.Invoke) {
				break
			}
			switch {
			case d.tag != "" && (r.Version < d.version || !tags[d.tag]):
				if staleBy == nil {
					staleBy = d
				}
			case d.tag == "" && r.Version < d.version:
				if regressedBy == nil {
					regressedBy = d
				}
			}
		}
		say := func(d *done) string {
			return fmt.Sprintf("read #%d via %s at %s: version %d, but %s returned version %d at %s (%v earlier)",
				r.ID, strings.Join(r.Gateways, ","), r.Invoke.Format("15:04:05.000"), r.Version, d.what, d.version,
				d.at.Format("15:04:05.000"), r.Invoke.Sub(d.at).Round(time.Millisecond))
		}
		switch {
		case staleBy != nil:
			stale = append(stale, say(staleBy))
		case regressedBy != nil:
			regressed = append(regressed, say(regressedBy))
		}
	}
	return stale, regressed
}

// short is the last four digits of a synthetic person, enough to tell
// them apart in a verdict.
func short(p string) string {
	if len(p) > 4 {
		return p[len(p)-4:]
	}
	return p
}

// text is the verdict's body.
func (f tempFindings) text() string {
	var b strings.Builder
	section := func(name string, items []string) {
		fmt.Fprintf(&b, "%s: %d\n", name, len(items))
		for i, it := range items {
			if i == 20 {
				fmt.Fprintf(&b, "  ... and %d more\n", len(items)-20)
				break
			}
			fmt.Fprintf(&b, "  %s\n", it)
		}
	}
	section("lost", f.Lost)
	section("duplicated", f.Duplicated)
	section("stale reads (older than an acknowledged write)", f.Stale)
	section("regressed reads (older than an earlier read)", f.Regressed)
	section("applied despite a definite fault", f.AppliedFault)
	section("answered InternalError", f.Internal)
	section("no final card", f.NoFinal)
	fmt.Fprintf(&b, "unknown but applied (allowed): %d\n", f.UnknownApplied)
	return b.String()
}
