package medcard

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var citizen = Caller{System: "borger.dk", Organisation: "Min Log", Role: RoleCitizen}

// TestAccessLogListsLookUpsAndChanges: the log of a person holds every
// look-up and change made, newest first, with who, what and when, the
// consent and override declared, and the items a change touched; paged
// by the tokens it gives; reading it is itself logged; another person's
// look-ups are not in it.
func TestAccessLogListsLookUpsAndChanges(t *testing.T) {
	m := newMemStore()
	now := fixedNow
	s := NewService(m, m, func() time.Time { return now })
	ctx := context.Background()
	tick := func() { now = now.Add(time.Minute) }

	if _, err := s.GetMedicineCard(ctx, Call{Caller: doctor, MessageID: "r1", FlowID: "f1", Consent: ConsentGiven, EmergencyOverride: true},
		CardQuery{PersonID: testPerson}); err != nil {
		t.Fatal(err)
	}
	tick()
	res := mustCreate(t, s, nurse, "w1", validRequest(testPerson))
	tick()
	if _, err := s.GetMedicineCard(ctx, Call{Caller: pharmacist, MessageID: "r2"}, CardQuery{PersonID: otherPerson}); err != nil {
		t.Fatal(err)
	}
	tick()
	webUser := Caller{System: "web-ui", Organisation: "Apotek 1", Role: RolePharmacist, ActingUser: "hanne"}
	if _, err := s.GetDrugMedication(ctx, Call{Caller: webUser, MessageID: "r3", Consent: ConsentWithdrawn}, testPerson, res.Items[0].ID); err != nil {
		t.Fatal(err)
	}
	tick()

	utc := fixedNow.UTC()
	want := []AuditEntry{
		{Operation: OpGetDrugMedication, At: utc.Add(3 * time.Minute), System: "web-ui", Organisation: "Apotek 1", Role: RolePharmacist,
			ActingUser: "hanne", MessageID: "r3", Consent: ConsentWithdrawn, CardVersion: 1},
		{Operation: OpCreateDrugMedication, At: utc.Add(time.Minute), System: "EPJ-A", Organisation: "Region H", Role: RoleNurse,
			MessageID: "w1", Consent: ConsentNone, CardVersion: 1, Items: []string{ItemRef(ItemDrugMedication, res.Items[0].ID)}},
		{Operation: OpGetMedicineCard, At: utc, System: "EPJ-A", Organisation: "Region H", Role: RoleDoctor, AuthorisationID: "ABC12",
			MessageID: "r1", FlowID: "f1", Consent: ConsentGiven, EmergencyOverride: true},
	}
	var got []AuditEntry
	q := AccessLogQuery{PersonID: testPerson, PageSize: 2}
	for pages := 0; ; pages++ {
		if pages > 3 {
			t.Fatal("the log does not end")
		}
		page, err := s.GetAccessLog(ctx, Call{Caller: citizen, MessageID: "log"}, q)
		if err != nil {
			t.Fatalf("GetAccessLog = %v", err)
		}
		if len(page.Entries) > 2 {
			t.Fatalf("page of %d entries, asked for 2", len(page.Entries))
		}
		got = append(got, page.Entries...)
		if page.NextPageToken == "" {
			break
		}
		q.PageToken = page.NextPageToken
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("access log (-want +got):\n%s", diff)
	}

	// The two reads of the log (two pages) are in it now, newest first.
	tick()
	page, err := s.GetAccessLog(ctx, Call{Caller: citizen, MessageID: "log2"}, AccessLogQuery{PersonID: testPerson, PageSize: 3})
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range page.Entries[:2] {
		if e.Operation != OpGetAccessLog || e.Role != RoleCitizen || e.System != "borger.dk" || e.MessageID != "log" {
			t.Errorf("entry %d = %+v, want the earlier read of the log", i, e)
		}
	}
}

// TestAccessLogPeriod: only the period asked for is listed, From
// inclusive and To exclusive.
func TestAccessLogPeriod(t *testing.T) {
	m := newMemStore()
	now := fixedNow
	s := NewService(m, m, func() time.Time { return now })
	ctx := context.Background()
	for i := range 5 {
		if _, err := s.GetMedicineCard(ctx, Call{Caller: doctor, MessageID: string(rune('a' + i))}, CardQuery{PersonID: testPerson}); err != nil {
			t.Fatal(err)
		}
		now = now.Add(time.Hour)
	}
	page, err := s.GetAccessLog(ctx, Call{Caller: citizen}, AccessLogQuery{PersonID: testPerson,
		From: fixedNow.Add(time.Hour), To: fixedNow.Add(3 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, e := range page.Entries {
		ids = append(ids, e.MessageID)
	}
	if diff := cmp.Diff([]string{"c", "b"}, ids); diff != "" || page.NextPageToken != "" {
		t.Errorf("log of hours 1-3 (-want +got):\n%s (next %q)", diff, page.NextPageToken)
	}
}

// TestAccessLogRefusals: a clinician may not read the log;
// a non-doctor may not ask for an emergency override, here or anywhere;
// bad periods, page sizes and tokens are refused; none of it is logged.
func TestAccessLogRefusals(t *testing.T) {
	s, m := newTestService(t)
	ctx := context.Background()
	before := m.snapshot()
	for _, c := range []Caller{doctor, nurse} {
		_, err := s.GetAccessLog(ctx, Call{Caller: c}, AccessLogQuery{PersonID: testPerson})
		wantFault(t, "GetAccessLog as "+string(c.Role), err, FaultRoleNotAllowed)
	}
	_, err := s.GetAccessLog(ctx, Call{Caller: citizen, EmergencyOverride: true}, AccessLogQuery{PersonID: testPerson})
	wantFault(t, "GetAccessLog with an override", err, FaultRoleNotAllowed)
	for _, c := range []Caller{nurse, pharmacist} {
		_, err := s.GetMedicineCard(ctx, Call{Caller: c, EmergencyOverride: true}, CardQuery{PersonID: testPerson})
		wantFault(t, "GetMedicineCard with an override as "+string(c.Role), err, FaultRoleNotAllowed)
	}
	_, err = s.Change(ctx, Call{Caller: nurse, MessageID: "w", EmergencyOverride: true}, validRequest(testPerson))
	wantFault(t, "CreateDrugMedication with an override as a nurse", err, FaultRoleNotAllowed)
	_, err = s.GetNewOrders(ctx, Call{Caller: pharmacist, EmergencyOverride: true}, InboxQuery{Limit: 10})
	wantFault(t, "GetNewOrders with an override", err, FaultRoleNotAllowed)

	for name, q := range map[string]AccessLogQuery{
		"bad person":         {PersonID: "3213701234"},
		"page size 0":        {PersonID: testPerson, PageSize: -1},
		"page size 201":      {PersonID: testPerson, PageSize: MaxAccessLogPageSize + 1},
		"empty period":       {PersonID: testPerson, From: fixedNow, To: fixedNow},
		"eleven years":       {PersonID: testPerson, From: fixedNow.AddDate(-11, 0, 0), To: fixedNow},
		"garbage token":      {PersonID: testPerson, PageToken: "not a token"},
		"token of no period": {PersonID: testPerson, PageToken: pageToken(AccessLogCursor{At: fixedNow.AddDate(-5, 0, 0), ID: 3})},
	} {
		_, err := s.GetAccessLog(ctx, Call{Caller: citizen}, q)
		f := FaultInvalidField
		if name == "bad person" {
			f = FaultInvalidPersonID
		}
		wantFault(t, "GetAccessLog("+name+")", err, f)
	}
	wantUnchanged(t, m, before)
}

// TestPageTokenRoundTrip: a token gives back its cursor exactly.
func TestPageTokenRoundTrip(t *testing.T) {
	c := AccessLogCursor{At: time.Date(2026, 3, 1, 9, 30, 0, 123456000, time.UTC), ID: 987654321}
	got, err := parsePageToken(pageToken(c))
	if err != nil || !got.At.Equal(c.At) || got.ID != c.ID {
		t.Errorf("parsePageToken(pageToken(%v)) = %v, %v", c, got, err)
	}
}
