package move

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sharedmedcard/gateway/medcard"
	"github.com/sharedmedcard/gateway/shard"
)

// strictClock is a clock that never answers the same instant twice (and
// in milliseconds, which PostgreSQL keeps exactly), so that a log's order
// is the order of the calls.
type strictClock struct {
	mu   sync.Mutex
	last time.Time
}

func (c *strictClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := time.Now().UTC().Truncate(time.Millisecond)
	if !t.After(c.last) {
		t = c.last.Add(time.Millisecond)
	}
	c.last = t
	return t
}

// TestAccessLogAcrossAMove: a person's access log lists exactly the
// look-ups and changes made of the card, with who, what and when, newest
// first, while its shard moves to another database: those audited at the
// source before and during the move, and at the target after it. Reading
// the log is itself in the log; a role without the right is refused.
func TestAccessLogAcrossAMove(t *testing.T) {
	e := startEnv(t)
	ctx := t.Context()
	const s = 9
	person := personsOf(s, 1)[0]
	m0, err := e.c.LoadMap(ctx)
	if err != nil {
		t.Fatal(err)
	}
	target := other(m0.Owner[s])

	audits := shard.NewAuditWriter(e.store, e.log, shard.AuditOptions{FlushEvery: 5 * time.Millisecond})
	runCtx, stopRun := context.WithCancel(context.Background())
	var run sync.WaitGroup
	run.Go(func() { audits.Run(runCtx) })
	defer func() { stopRun(); run.Wait() }()
	clock := &strictClock{}
	svc := medcard.NewService(e.store, audits, clock.now)

	gp := medcard.Caller{System: "gp-system", Organisation: "SOR:111", Role: medcard.RoleDoctor, AuthorisationID: "AUTH1"}
	counter := medcard.Caller{System: "web-ui", Organisation: "SOR:apotek", Role: medcard.RolePharmacist, ActingUser: "hanne"}
	var want []medcard.AuditEntry // in the order made
	look := func(call medcard.Call) {
		t.Helper()
		card, err := svc.GetMedicineCard(ctx, call, medcard.CardQuery{PersonID: string(person)})
		if err != nil {
			t.Fatalf("look-up %s: %v", call.MessageID, err)
		}
		want = append(want, entryOf(call, medcard.OpGetMedicineCard, card.Version, nil))
	}
	change := func(call medcard.Call) {
		t.Helper()
		today := time.Now().UTC().Format(time.DateOnly)
		res, err := svc.Change(ctx, call, medcard.CreateDrugMedicationRequest{PersonID: string(person),
			Drug:       medcard.Drug{Identifier: "28100636892", Name: "Panodil", Strength: "500 mg"},
			Dosage:     medcard.Dosage{Text: "2 tabletter 3 gange daglig"},
			Indication: medcard.Indication{Text: "mod smerter"}, BeginDate: today})
		if err != nil {
			t.Fatalf("change %s: %v", call.MessageID, err)
		}
		want = append(want, entryOf(call, medcard.OpCreateDrugMedication, res.CardVersion,
			[]string{medcard.ItemRef(res.Items[0].Kind, res.Items[0].ID)}))
	}

	look(medcard.Call{Caller: gp, MessageID: "before-1", FlowID: "flow-a", Consent: medcard.ConsentGiven})
	change(medcard.Call{Caller: gp, MessageID: "before-2", FlowID: "flow-a", Consent: medcard.ConsentGiven})
	look(medcard.Call{Caller: gp, MessageID: "before-3", EmergencyOverride: true})

	// Look-ups go on while the shard moves: their rows are taken at the
	// source until it lets the shard go, at the target after.
	moved := make(chan *Move, 1)
	go func() { moved <- e.moveOne(t, s, target, testLimits()) }()
	var mv *Move
	for i := 0; mv == nil; i++ {
		look(medcard.Call{Caller: counter, MessageID: fmt.Sprintf("during-%d", i), Consent: medcard.ConsentWithdrawn})
		select {
		case mv = <-moved:
		case <-time.After(20 * time.Millisecond):
		}
	}
	if mv.State != Done {
		t.Fatalf("move state %s, want done", mv.State)
	}
	change(medcard.Call{Caller: gp, MessageID: "after-1"})
	look(medcard.Call{Caller: counter, MessageID: "after-2"})
	if err := audits.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if e.store.Map().Owner[s] != target {
		t.Fatalf("shard %d is at %s, want %s", s, e.store.Map().Owner[s], target)
	}

	citizen := medcard.Call{Caller: medcard.Caller{System: "borger.dk", Organisation: "Min Log", Role: medcard.RoleCitizen}, MessageID: "log"}
	got := readWholeLog(t, svc, citizen, person)
	newestFirst := make([]medcard.AuditEntry, len(want))
	for i, w := range want {
		newestFirst[len(want)-1-i] = w
	}
	if diff := cmp.Diff(newestFirst, got); diff != "" {
		t.Errorf("access log after the move (-want +got):\n%s", diff)
	}
	t.Logf("%d entries, %d of them look-ups during the move", len(got), len(want)-5)

	// Reading the log was logged, once per page, at the target.
	if err := audits.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	page, err := svc.GetAccessLog(ctx, citizen, medcard.AccessLogQuery{PersonID: string(person), PageSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Entries) != 1 || page.Entries[0].Operation != medcard.OpGetAccessLog || page.Entries[0].Role != medcard.RoleCitizen {
		t.Errorf("newest entry after reading the log = %+v, want the read of the log", page.Entries)
	}
	nurse := gp
	nurse.Role = medcard.RoleNurse
	for _, c := range []medcard.Caller{gp, nurse} {
		_, err := svc.GetAccessLog(ctx, medcard.Call{Caller: c}, medcard.AccessLogQuery{PersonID: string(person)})
		if medcard.FaultOf(err) != medcard.FaultRoleNotAllowed {
			t.Errorf("GetAccessLog as %s = %v, want %s", c.Role, err, medcard.FaultRoleNotAllowed.ID)
		}
	}
}

// entryOf is the audit entry a call of op leaves.
func entryOf(call medcard.Call, op medcard.Operation, version int64, items []string) medcard.AuditEntry {
	consent := call.Consent
	if consent == "" {
		consent = medcard.ConsentNone
	}
	return medcard.AuditEntry{Operation: op, System: call.Caller.System, Organisation: call.Caller.Organisation,
		Role: call.Caller.Role, AuthorisationID: call.Caller.AuthorisationID, ActingUser: call.Caller.ActingUser,
		MessageID: call.MessageID, FlowID: call.FlowID, Consent: consent, EmergencyOverride: call.EmergencyOverride,
		CardVersion: version, Items: items}
}

// readWholeLog reads the person's log page by page (small pages, so that
// paging across the rows of both databases' ids is exercised) and checks
// that it is newest first; the times are left out for comparing.
func readWholeLog(t *testing.T, svc *medcard.Service, call medcard.Call, person medcard.PersonID) []medcard.AuditEntry {
	t.Helper()
	var got []medcard.AuditEntry
	q := medcard.AccessLogQuery{PersonID: string(person), PageSize: 3}
	for {
		page, err := svc.GetAccessLog(t.Context(), call, q)
		if err != nil {
			t.Fatalf("GetAccessLog: %v", err)
		}
		for _, e := range page.Entries {
			if n := len(got); n > 0 && !e.At.Before(got[n-1].At) {
				t.Errorf("entry %s at %v is not older than %s at %v", e.MessageID, e.At, got[n-1].MessageID, got[n-1].At)
			}
			got = append(got, e)
		}
		if page.NextPageToken == "" {
			break
		}
		q.PageToken = page.NextPageToken
	}
	// The times were checked for order; strip them for the comparison of
	// the rest, and empty item lists read back as none.
	for i := range got {
		got[i].At = time.Time{}
		if len(got[i].Items) == 0 {
			got[i].Items = nil
		}
	}
	return got
}
