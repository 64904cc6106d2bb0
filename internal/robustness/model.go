package robustness

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/anishathalye/porcupine"
)

// This file holds the porcupine model of one person's medicine card and the
// conversion of a History into porcupine operations.
//
// The model is a card whose state is its version and the ordered tags of
// its drug medications. Every write adds its tag and increments the version
// by one; a read must see exactly the version and tags of the state it is
// linearized at. Histories are partitioned by person, so each partition is
// one card, starting empty at version 0 (the runner uses fresh persons).
//
// How outcomes become porcupine operations:
//
//   - An acknowledged write must have answered the version the model gives
//     it.
//   - A write that ended unknown is modelled as applied, with its return at
//     +infinity (math.MaxInt64): porcupine may linearize it at any point
//     after its invoke, including after every other operation, where its
//     effect is observed by nothing.
//   - The person's FinalCard is a last read, invoked and returned after
//     every finite timestamp of the run. An unknown write whose tag is on
//     the final card has to be linearized before that read; one that was
//     never applied is linearized after it, which its infinite return
//     allows.
//   - With final cards, both of those are settled before porcupine runs,
//     because left open they make it try every order of the unknown writes
//     in flight: an unknown write whose tag is not on the final card is left
//     out (placed after the final read, nothing sees it), and one whose tag
//     is there answers the version of its place on the card, as an
//     acknowledged write answers its own (in any linearization ending in
//     the final card, the write at place i made version i+1). This accepts
//     exactly the histories the open form accepts, and is what keeps a
//     card with a dozen unknown writes checkable in milliseconds.
//   - A write that ended with a definite fault is left out: it must not
//     have been applied, so if its tag is on a card, no linearization can
//     explain that card (and the set checks name the write).
//   - A read that did not succeed says nothing about the card and is left
//     out.

// modelKind says which of the card's operations a porcupine input is.
type modelKind uint8

const (
	modelWrite modelKind = iota
	modelRead
	modelFinal
)

// modelInput is the Input of a porcupine operation.
type modelInput struct {
	kind   modelKind
	person int32 // index into Linearizability.Persons, for partitioning
	tag    int32 // for a write: index into the tag table
}

// modelOutput is the Output of a porcupine operation. An unknown write has
// a nil output; every other output is a *modelOutput.
type modelOutput struct {
	version int64
	tags    []int32 // for a read: tag indices in card order
	hash    uint64  // for a read: the tag sequence's hash, as cardState.hash
	// resolved marks an unknown write whose version is its place on the
	// final card.
	resolved bool
}

// cardState is one state of a card, as an immutable list linked from the
// newest drug medication back to the empty card, so a write step allocates
// one node and shares the rest. The empty card has a nil prev and version 0.
type cardState struct {
	prev    *cardState
	tag     int32
	version int64
	hash    uint64 // polynomial hash of the tags, oldest first
}

// emptyCard is the state every partition starts in.
var emptyCard = &cardState{}

// hashPrime is the multiplier of the tag-sequence hash.
const hashPrime = 1099511628211

// extendHash returns the hash of a tag sequence with tag appended, given
// the hash of the sequence before it.
func extendHash(h uint64, tag int32) uint64 {
	return h*hashPrime + uint64(tag) + 1
}

// sameTags reports whether the card s holds exactly tags, in order.
func (s *cardState) sameTags(tags []int32) bool {
	if s.version != int64(len(tags)) {
		return false
	}
	for i := len(tags) - 1; i >= 0; i-- {
		if s.tag != tags[i] {
			return false
		}
		s = s.prev
	}
	return true
}

// equalCards reports whether a and b are the same card.
func equalCards(a, b *cardState) bool {
	for a != b {
		if a.version != b.version || a.hash != b.hash || a.tag != b.tag {
			return false
		}
		a, b = a.prev, b.prev
	}
	return true
}

// cardStep is the model's step function.
func cardStep(state, input, output any) (bool, any) {
	s := state.(*cardState)
	in := input.(modelInput)
	switch in.kind {
	case modelWrite:
		next := &cardState{prev: s, tag: in.tag, version: s.version + 1, hash: extendHash(s.hash, in.tag)}
		if out, ok := output.(*modelOutput); ok && out.version != next.version {
			return false, s
		}
		return true, next
	default:
		out := output.(*modelOutput)
		if out.version != s.version || out.hash != s.hash || !s.sameTags(out.tags) {
			return false, s
		}
		return true, s
	}
}

// newCardModel returns the porcupine model of cards whose tag indices name
// the strings in tags.
func newCardModel(tags []string) porcupine.Model {
	describeTags := func(idx []int32) string {
		const show = 12
		var b strings.Builder
		b.WriteByte('[')
		for i, t := range idx {
			if i == show && len(idx) > show+1 {
				fmt.Fprintf(&b, " … %d more", len(idx)-show)
				break
			}
			if i > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(tags[t])
		}
		b.WriteByte(']')
		return b.String()
	}
	return porcupine.Model{
		Partition: partitionByPerson,
		Init:      func() any { return emptyCard },
		Step:      cardStep,
		Equal:     func(a, b any) bool { return equalCards(a.(*cardState), b.(*cardState)) },
		Hash: func(state any) uint64 {
			s := state.(*cardState)
			return s.hash ^ uint64(s.version)<<48
		},
		DescribeOperation: func(input, output any) string {
			in := input.(modelInput)
			out, _ := output.(*modelOutput)
			switch {
			case in.kind == modelWrite && out == nil:
				return fmt.Sprintf("write(%s) -> unknown", tags[in.tag])
			case in.kind == modelWrite && out.resolved:
				return fmt.Sprintf("write(%s) -> unknown, v%d on the final card", tags[in.tag], out.version)
			case in.kind == modelWrite:
				return fmt.Sprintf("write(%s) -> v%d", tags[in.tag], out.version)
			case in.kind == modelRead:
				return fmt.Sprintf("read() -> v%d %s", out.version, describeTags(out.tags))
			default:
				return fmt.Sprintf("final card: v%d %s", out.version, describeTags(out.tags))
			}
		},
		DescribeState: func(state any) string {
			s := state.(*cardState)
			idx := make([]int32, s.version)
			for i := len(idx) - 1; i >= 0; i-- {
				idx[i] = s.tag
				s = s.prev
			}
			return fmt.Sprintf("v%d %s", len(idx), describeTags(idx))
		},
		DescribeOperationMetadata: func(info any) string {
			switch m := info.(type) {
			case *Operation:
				return fmt.Sprintf("op %d, client %d, %d attempts %v", m.ID, m.Client, m.Attempts, m.Gateways)
			case string:
				return m
			}
			return ""
		},
	}
}

// partitionByPerson splits porcupine operations into one partition per
// person, in the order of the persons' indices.
func partitionByPerson(ops []porcupine.Operation) [][]porcupine.Operation {
	var parts [][]porcupine.Operation
	for _, op := range ops {
		p := int(op.Input.(modelInput).person)
		for len(parts) <= p {
			parts = append(parts, nil)
		}
		parts[p] = append(parts[p], op)
	}
	return parts
}

// Linearizability is the result of checking a History against the card
// model with porcupine.
type Linearizability struct {
	// Result is porcupine's answer: Ok, Illegal, or Unknown when the check
	// timed out.
	Result porcupine.CheckResult
	// Timeout is the time the check was given; Took the time it used.
	Timeout time.Duration
	Took    time.Duration
	// Persons are the persons in partition order: partition i of Info is
	// Persons[i]'s card.
	Persons []string
	// Illegal are the persons whose operations no order explains, in
	// partition order. After a timeout it may also hold persons whose
	// check was cut short.
	Illegal []string
	// Model and Info are what porcupine.Visualize needs.
	Model porcupine.Model
	Info  porcupine.LinearizationInfo

	ops [][]porcupine.Operation // by partition, for a smaller visualisation
}

// CheckLinearizability checks whether h is linearizable against the card model,
// giving porcupine at most timeout (0 means no limit).
func CheckLinearizability(h History, timeout time.Duration) Linearizability {
	ops, persons, tags := porcupineOperations(h)
	model := newCardModel(tags)
	var flat []porcupine.Operation
	for _, p := range ops {
		flat = append(flat, p...)
	}
	start := time.Now()
	res, info := porcupine.CheckOperationsVerbose(model, flat, timeout)
	l := Linearizability{
		Result:  res,
		Timeout: timeout,
		Took:    time.Since(start),
		Persons: persons,
		Model:   model,
		Info:    info,
		ops:     ops,
	}
	if res != porcupine.Ok {
		for i, partials := range info.PartialLinearizations() {
			complete := false
			for _, p := range partials {
				if len(p) == len(ops[i]) {
					complete = true
					break
				}
			}
			if !complete {
				l.Illegal = append(l.Illegal, persons[i])
			}
		}
	}
	return l
}

// IllegalInfo checks again only the operations of the first max Illegal
// persons and returns that check's visualisation info: a failing run of
// 100,000 operations draws a page nobody can read, the few cards that fail
// draw one that shows the problem.
func (l Linearizability) IllegalInfo(max int, timeout time.Duration) porcupine.LinearizationInfo {
	illegal := make(map[string]bool, len(l.Illegal))
	for i, p := range l.Illegal {
		if i < max {
			illegal[p] = true
		}
	}
	var flat []porcupine.Operation
	// Renumber the chosen persons 0..n-1 so the partitions stay dense.
	n := int32(0)
	for i, p := range l.Persons {
		if !illegal[p] {
			continue
		}
		for _, op := range l.ops[i] {
			in := op.Input.(modelInput)
			in.person = n
			op.Input = in
			flat = append(flat, op)
		}
		n++
	}
	_, info := porcupine.CheckOperationsVerbose(l.Model, flat, timeout)
	return info
}

// porcupineOperations converts h into porcupine operations grouped by
// person, with the persons in first-seen order and the tag table their
// inputs index.
func porcupineOperations(h History) (ops [][]porcupine.Operation, persons []string, tags []string) {
	personIdx := make(map[string]int32)
	person := func(p string) int32 {
		i, ok := personIdx[p]
		if !ok {
			i = int32(len(persons))
			personIdx[p] = i
			persons = append(persons, p)
			ops = append(ops, nil)
		}
		return i
	}
	tagIdx := make(map[string]int32)
	tag := func(t string) int32 {
		i, ok := tagIdx[t]
		if !ok {
			i = int32(len(tags))
			tagIdx[t] = i
			tags = append(tags, t)
		}
		return i
	}
	// A person's reads mostly repeat the card the previous read saw, so a
	// read's tags are compared with the last read's before the (slower)
	// tag table is asked.
	type seen struct {
		tags []string
		out  *modelOutput
	}
	lastRead := make(map[string]seen)
	readOutput := func(p string, version int64, ts []string) *modelOutput {
		out := &modelOutput{version: version, tags: make([]int32, len(ts))}
		prev := lastRead[p]
		same := 0
		for same < len(ts) && same < len(prev.tags) && ts[same] == prev.tags[same] {
			same++
		}
		if same > 0 {
			copy(out.tags, prev.out.tags[:same])
		}
		for i := same; i < len(ts); i++ {
			out.tags[i] = tag(ts[i])
		}
		for _, t := range out.tags {
			out.hash = extendHash(out.hash, t)
		}
		lastRead[p] = seen{tags: ts, out: out}
		return out
	}

	// finalPosition returns where on person p's final card tag is, if it
	// is there.
	positions := make(map[string]map[string]int64)
	finalPosition := func(p, t string) (int64, bool) {
		pos, ok := positions[p]
		if !ok {
			tags := h.Final[p].Tags
			pos = make(map[string]int64, len(tags))
			for i := len(tags) - 1; i >= 0; i-- {
				pos[tags[i]] = int64(i)
			}
			positions[p] = pos
		}
		i, ok := pos[t]
		return i, ok
	}

	var last int64 = math.MinInt64
	maxClient := 0
	for i := range h.Operations {
		op := &h.Operations[i]
		var in modelInput
		var out any
		switch {
		case op.Kind == OpWrite && op.Outcome == OutcomeOK:
			in = modelInput{kind: modelWrite, tag: tag(op.Tag)}
			out = &modelOutput{version: op.Version}
		case op.Kind == OpWrite && op.Outcome == OutcomeUnknown && h.Final != nil:
			pos, applied := finalPosition(op.Person, op.Tag)
			if !applied {
				continue // linearized after the final read, seen by nothing
			}
			in = modelInput{kind: modelWrite, tag: tag(op.Tag)}
			out = &modelOutput{version: pos + 1, resolved: true}
		case op.Kind == OpWrite && op.Outcome == OutcomeUnknown:
			in = modelInput{kind: modelWrite, tag: tag(op.Tag)}
		case op.Kind == OpRead && op.Outcome == OutcomeOK:
			in = modelInput{kind: modelRead}
			out = readOutput(op.Person, op.Version, op.Tags)
		default:
			continue
		}
		in.person = person(op.Person)
		call := op.Invoke.UnixNano()
		ret := int64(math.MaxInt64)
		if !op.Return.IsZero() && op.Outcome == OutcomeOK {
			ret = op.Return.UnixNano()
		}
		last = max(last, call)
		if ret != math.MaxInt64 {
			last = max(last, ret)
		}
		maxClient = max(maxClient, op.Client)
		pi := in.person
		ops[pi] = append(ops[pi], porcupine.Operation{
			ClientId: op.Client,
			Input:    in,
			Call:     call,
			Output:   out,
			Return:   ret,
			Metadata: op,
		})
	}

	// The final cards are read after every finite timestamp of the run, by
	// a client of their own, in a stable order. A person with operations
	// but no final card has none in the database: version 0, no tags.
	if h.Final == nil {
		return ops, persons, tags
	}
	finals := make([]string, 0, len(h.Final))
	for p := range h.Final {
		if _, ok := personIdx[p]; !ok {
			finals = append(finals, p)
		}
	}
	sort.Strings(finals)
	finals = append(append([]string(nil), persons...), finals...)
	at := last + 1
	for _, p := range finals {
		fc := h.Final[p]
		i := person(p)
		ops[i] = append(ops[i], porcupine.Operation{
			ClientId: maxClient + 1,
			Input:    modelInput{kind: modelFinal, person: i},
			Call:     at,
			Output:   readOutput(p, fc.Version, fc.Tags),
			Return:   at,
			Metadata: "final card from the database",
		})
	}
	return ops, persons, tags
}
