package medcard

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestAccessRestriction: once the citizen restricts the card, every
// look-up by health staff is refused (AccessRestricted) and audited as
// nothing, unless a doctor asks for the emergency override, which is
// answered and audited as one; changes by staff go on; only the citizen may set or lift the restriction, a
// resend is applied once, and lifting it opens the card again.
func TestAccessRestriction(t *testing.T) {
	m := newMemStore()
	s := NewService(m, m, func() time.Time { return fixedNow })
	ctx := context.Background()
	created := mustCreate(t, s, doctor, "w1", validRequest(testPerson))
	dm := created.Items[0].ID
	restrict := func(who Caller, id string, on bool, base int64) (*WriteResult, error) {
		return s.Change(ctx, Call{Caller: who, MessageID: id}, AccessRestrictionRequest{PersonID: testPerson, BasedOnCardVersion: base, Restricted: on})
	}
	for _, c := range []Caller{doctor, nurse, pharmacist} {
		_, err := restrict(c, "r-"+string(c.Role), true, 1)
		wantFault(t, "SetAccessRestriction as "+string(c.Role), err, FaultRoleNotAllowed)
	}
	res, err := restrict(citizen, "restrict", true, 1)
	if err != nil || res.CardVersion != 2 {
		t.Fatalf("SetAccessRestriction as the citizen = %+v, %v; want card version 2", res, err)
	}
	if again, err := restrict(citizen, "restrict", true, 1); err != nil || !again.Replayed || again.CardVersion != 2 {
		t.Fatalf("the same request again = %+v, %v; want the stored answer (version 2, replayed)", again, err)
	}

	before := m.snapshot()
	reads := map[string]func(Call) error{
		"GetMedicineCard":   func(c Call) error { _, err := s.GetMedicineCard(ctx, c, CardQuery{PersonID: testPerson}); return err },
		"GetDrugMedication": func(c Call) error { _, err := s.GetDrugMedication(ctx, c, testPerson, dm); return err },
		"GetPrescription":   func(c Call) error { _, err := s.GetPrescription(ctx, c, testPerson, nil); return err },
	}
	for name, read := range reads {
		for _, c := range []Caller{doctor, nurse, pharmacist} {
			wantFault(t, name+" as "+string(c.Role)+" of a restricted card", read(Call{Caller: c, MessageID: "look"}), FaultAccessRestricted)
		}
		wantFault(t, name+" as a nurse with an override", read(Call{Caller: nurse, EmergencyOverride: true}), FaultRoleNotAllowed)
	}
	if diff := cmp.Diff(before, m.snapshot()); diff != "" {
		t.Errorf("refused look-ups changed the store (-before +after):\n%s", diff)
	}

	// The doctor's emergency override is answered and audited as one.
	card, err := s.GetMedicineCard(ctx, Call{Caller: doctor, MessageID: "emergency", EmergencyOverride: true}, CardQuery{PersonID: testPerson})
	if err != nil || len(card.DrugMedications) != 1 {
		t.Fatalf("GetMedicineCard with the override = %v; want the card", err)
	}
	audit := m.snapshot().Audit
	if last := audit[len(audit)-1]; last.Operation != OpGetMedicineCard || !last.EmergencyOverride || last.Role != RoleDoctor {
		t.Errorf("the override's audit row = %+v, want a doctor's GetMedicineCard with EmergencyOverride", last)
	}
	// Staff still change it.
	if _, err := s.Change(ctx, Call{Caller: doctor, MessageID: "w2"}, validRequest(testPerson)); err != nil {
		t.Errorf("a doctor's change of a restricted card = %v, want it done", err)
	}
	// Lifted, the card is open again.
	if _, err := restrict(citizen, "lift", false, 3); err != nil {
		t.Fatalf("lifting the restriction = %v", err)
	}
	for name, read := range reads {
		if err := read(Call{Caller: pharmacist}); err != nil {
			t.Errorf("%s as a pharmacist after the restriction was lifted = %v", name, err)
		}
	}
}
