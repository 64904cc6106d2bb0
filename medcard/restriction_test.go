package medcard

import (
	"context"
	"encoding/hex"
	"testing"
	"time"
)

// restrict sets (or lifts) the citizen's restriction and fails the test
// on error.
func restrict(t *testing.T, s *Service, messageID string, basedOn int64, restricted bool) *WriteResult {
	t.Helper()
	res, err := s.Change(context.Background(), Call{Caller: citizen, MessageID: messageID},
		AccessRestrictionRequest{PersonID: testPerson, BasedOnCardVersion: basedOn, Restricted: restricted})
	if err != nil {
		t.Fatalf("SetAccessRestriction(%v) = %v, want nil error", restricted, err)
	}
	return res
}

// readAll runs the three reads of testPerson's card (dm is a drug
// medication on it) and returns their errors by operation.
func readAll(ctx context.Context, s *Service, call Call, dm int64) map[Operation]error {
	_, errCard := s.GetMedicineCard(ctx, call, CardQuery{PersonID: testPerson, IncludePrescriptions: true})
	_, errDM := s.GetDrugMedication(ctx, call, testPerson, dm)
	_, errRx := s.GetPrescription(ctx, call, testPerson, nil)
	return map[Operation]error{OpGetMedicineCard: errCard, OpGetDrugMedication: errDM, OpGetPrescription: errRx}
}

// TestAccessRestriction: the citizen restricts the card (a versioned,
// audited write applied once per MessageID); then every read by a doctor,
// nurse or pharmacist is refused with AccessRestricted and records
// nothing, a doctor's emergency override is shown the card and audited as
// one (and noted for the edge), a nurse may not ask for an override, the
// citizen always sees their card, writes by clinicians go on, and lifting
// the restriction opens the card again.
func TestAccessRestriction(t *testing.T) {
	s, m := newTestService(t)
	ctx := context.Background()
	dm := mustCreate(t, s, doctor, "w1", validRequest(testPerson)).Items[0].ID

	res := restrict(t, s, "r1", 1, true)
	if res.CardVersion != 2 || len(res.Items) != 0 || res.Replayed {
		t.Errorf("SetAccessRestriction = %+v, want card version 2, no items, not replayed", res)
	}
	if card := m.storedCard(t, testPerson); !card.AccessRestricted || card.Version != 2 {
		t.Fatalf("stored card = version %d, restricted %v, want version 2, restricted", card.Version, card.AccessRestricted)
	}
	rows := m.auditRows()
	if last := rows[len(rows)-1]; last.Operation != OpSetAccessRestriction || last.Role != RoleCitizen || last.CardVersion != 2 {
		t.Errorf("audit row of the restriction = %+v", last)
	}
	// A resend is answered again and changes nothing; the same MessageID
	// asking for the opposite is another request.
	again := restrict(t, s, "r1", 1, true)
	if !again.Replayed || again.CardVersion != 2 {
		t.Errorf("resend = %+v, want the stored answer (version 2, replayed)", again)
	}
	if v := m.storedCard(t, testPerson).Version; v != 2 {
		t.Errorf("card version after the resend = %d, want 2", v)
	}
	_, err := s.Change(ctx, Call{Caller: citizen, MessageID: "r1"}, AccessRestrictionRequest{PersonID: testPerson, BasedOnCardVersion: 1})
	wantFault(t, "lifting under the restriction's MessageID", err, FaultMessageIDReused)

	before := m.snapshot()
	for _, c := range []Caller{doctor, nurse, pharmacist} {
		for op, err := range readAll(ctx, s, Call{Caller: c, MessageID: "look"}, dm) {
			wantFault(t, string(op)+" as "+string(c.Role)+" while restricted", err, FaultAccessRestricted)
		}
	}
	for _, c := range []Caller{doctor, nurse, pharmacist} {
		_, err := s.Change(ctx, Call{Caller: c, MessageID: "not-yours"}, AccessRestrictionRequest{PersonID: testPerson, BasedOnCardVersion: 2})
		wantFault(t, "SetAccessRestriction as "+string(c.Role), err, FaultRoleNotAllowed)
	}
	for op, err := range readAll(ctx, s, Call{Caller: nurse, EmergencyOverride: true}, dm) {
		wantFault(t, string(op)+" with an override as a nurse", err, FaultRoleNotAllowed)
	}
	wantUnchanged(t, m, before)

	// The doctor's emergency override: shown, audited as an override, noted.
	for op, err := range readAll(ctx, s, Call{Caller: doctor, MessageID: "emergency", EmergencyOverride: true}, dm) {
		if err != nil {
			t.Errorf("%s with an override as a doctor = %v, want the card", op, err)
		}
	}
	rows = m.auditRows()
	for _, row := range rows[len(before.Audit):] {
		if !row.EmergencyOverride || row.Role != RoleDoctor || row.MessageID != "emergency" {
			t.Errorf("audit row of an override look-up = %+v, want a doctor's with EmergencyOverride", row)
		}
	}
	if n := len(rows) - len(before.Audit); n != 3 {
		t.Errorf("override look-ups wrote %d audit rows, want 3", n)
	}
	noted, log := WithRequestLog(ctx)
	if _, err := s.GetMedicineCard(noted, Call{Caller: doctor, EmergencyOverride: true}, CardQuery{PersonID: testPerson}); err != nil {
		t.Fatal(err)
	}
	if !log.RestrictionOverridden {
		t.Error("an override of a restriction is not noted in the request's log")
	}

	// The citizen sees their own card.
	for op, err := range readAll(ctx, s, Call{Caller: citizen}, dm) {
		if err != nil {
			t.Errorf("%s as the citizen = %v, want the card", op, err)
		}
	}

	// Writes go on: the doctor pauses the medication.
	paused, err := s.Change(ctx, Call{Caller: doctor, MessageID: "w2"}, DrugMedicationRequest{PersonID: testPerson, BasedOnCardVersion: 2,
		Change: DrugMedicationChange{Op: OpPauseDrugMedication, DrugMedicationID: dm}})
	if err != nil || paused.CardVersion != 3 {
		t.Fatalf("PauseDrugMedication while restricted = %+v, %v, want card version 3", paused, err)
	}
	if card := m.storedCard(t, testPerson); !card.AccessRestricted {
		t.Error("a clinician's write lifted the restriction")
	}

	// Lifted: the card is open again, and an override is no longer noted.
	if res := restrict(t, s, "r2", 3, false); res.CardVersion != 4 {
		t.Errorf("lifting = %+v, want card version 4", res)
	}
	for _, c := range []Caller{doctor, nurse, pharmacist} {
		for op, err := range readAll(ctx, s, Call{Caller: c}, dm) {
			if err != nil {
				t.Errorf("%s as %s after lifting = %v, want the card", op, c.Role, err)
			}
		}
	}
	noted, log = WithRequestLog(ctx)
	if _, err := s.GetMedicineCard(noted, Call{Caller: doctor, EmergencyOverride: true}, CardQuery{PersonID: testPerson}); err != nil {
		t.Fatal(err)
	}
	if log.RestrictionOverridden {
		t.Error("an override of an unrestricted card is noted as one of a restriction")
	}
}

// hitCache is a fakeCache that answers every Get with a copy of card, as
// a cache hit does.
type hitCache struct {
	fakeCache
	card *Card
}

func (c *hitCache) Get(context.Context, *CacheSlot) *Card { return c.card.Clone() }

// TestAccessRestrictionOfACachedCard: a card served from the cache is
// checked as one read from the primary: the restriction is the cached
// card's own.
func TestAccessRestrictionOfACachedCard(t *testing.T) {
	m := newMemStore()
	c := &hitCache{fakeCache: fakeCache{mode: "ok"}, card: &Card{Version: 7, AccessRestricted: true}}
	s := NewService(m, m, func() time.Time { return fixedNow }, WithCache(c, &fakeFence{}, time.Second))
	ctx := context.Background()
	_, err := s.GetMedicineCard(ctx, Call{Caller: pharmacist}, CardQuery{PersonID: testPerson})
	wantFault(t, "GetMedicineCard of a restricted cached card", err, FaultAccessRestricted)
	if n := len(m.auditRows()); n != 0 {
		t.Errorf("the refusal wrote %d audit rows, want none", n)
	}
	card, err := s.GetMedicineCard(ctx, Call{Caller: doctor, EmergencyOverride: true}, CardQuery{PersonID: testPerson})
	if err != nil || card.Version != 7 {
		t.Fatalf("GetMedicineCard with an override = %+v, %v, want the cached card at version 7", card, err)
	}
}

// TestRequestHashOfAccessRestriction pins the canonical form and hash of
// SetAccessRestriction (computed independently, as the golden vector of
// idempotency_test.go): lifting leaves Restricted out, as a zero value.
func TestRequestHashOfAccessRestriction(t *testing.T) {
	for _, tt := range []struct {
		req      AccessRestrictionRequest
		wantBody string
		golden   string
	}{
		{AccessRestrictionRequest{PersonID: testPerson, BasedOnCardVersion: 2, Restricted: true},
			`{"BasedOnCardVersion":2,"PersonID":"0101801234","Restricted":true}`, "136372abe95c7430d4d58df1d998e1774262e66e2292e2c230b4144b13a11aad"},
		{AccessRestrictionRequest{PersonID: testPerson, BasedOnCardVersion: 2},
			`{"BasedOnCardVersion":2,"PersonID":"0101801234"}`, "db445c5450e64e94b3c8f909fb062a4f8d630a2f380238c0e0ea1ddc0f382ed2"},
	} {
		body, err := canonicalRequest(tt.req)
		if err != nil {
			t.Fatal(err)
		}
		if string(body) != tt.wantBody {
			t.Errorf("canonicalRequest(%+v) = %s, want %s", tt.req, body, tt.wantBody)
		}
		h, err := requestHash(tt.req.Operation(), PersonID(testPerson), tt.req)
		if err != nil {
			t.Fatal(err)
		}
		if got := hex.EncodeToString(h); got != tt.golden {
			t.Errorf("requestHash(%+v) = %s, want %s", tt.req, got, tt.golden)
		}
	}
}

// TestStoredCardWithoutRestriction: a card stored before the restriction
// existed reads as unrestricted, and an unrestricted card's stored form
// has no member for it.
func TestStoredCardWithoutRestriction(t *testing.T) {
	var card Card
	if err := DecodeCard([]byte(`{"version":3,"lastItemId":1,"drugMedications":[],"prescriptions":[]}`), &card); err != nil {
		t.Fatal(err)
	}
	if card.AccessRestricted {
		t.Error("a card stored without accessRestricted decodes as restricted")
	}
	body, err := EncodeCard(&Card{Version: 3})
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"version":3,"lastItemId":0,"drugMedications":null,"prescriptions":null}`; string(body) != want {
		t.Errorf("EncodeCard(unrestricted) = %s, want %s", body, want)
	}
	body, err = EncodeCard(&Card{Version: 3, AccessRestricted: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := DecodeCard(body, &card); err != nil || !card.AccessRestricted {
		t.Errorf("a restricted card's stored form %s decodes as unrestricted (%v)", body, err)
	}
}
