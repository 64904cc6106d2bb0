package medcard

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestCreateDrugMedicationNewPerson(t *testing.T) {
	s, m := newTestService(t)
	req := validRequest(testPerson)
	got := mustCreate(t, s, doctor, "m1", req)

	want := &WriteResult{CardVersion: 1, Items: []ItemVersion{{Kind: ItemDrugMedication, ID: 1, Version: 1}}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("CreateDrugMedication (-want +got):\n%s", diff)
	}

	stamp := Stamp{
		By: Modifier{AuthorisationID: "ABC12", Role: RoleDoctor, Organisation: "Region H", System: "EPJ-A"},
		At: fixedNow.UTC(),
	}
	wantCard := &Card{
		Version:    1,
		LastItemID: 1,
		DrugMedications: []DrugMedication{{
			ID: 1, Version: 1, CardVersion: 1, Status: DrugMedicationActive,
			Drug: req.Drug, Dosage: req.Dosage, Indication: req.Indication,
			BeginDate: "2026-03-01", EndDate: "2026-06-30",
			Created: stamp, Modified: stamp, LastOperation: OpCreateDrugMedication,
		}},
	}
	card := m.storedCard(t, testPerson)
	if diff := cmp.Diff(wantCard, card); diff != "" {
		t.Errorf("stored card (-want +got):\n%s", diff)
	}
	if card != nil && len(card.DrugMedications) == 1 {
		if loc := card.DrugMedications[0].Created.At.Location(); loc != time.UTC {
			t.Errorf("Created.At location = %v, want UTC", loc)
		}
	}

	wantAudit := []AuditEntry{{
		Operation: OpCreateDrugMedication, At: fixedNow.UTC(), System: "EPJ-A", Organisation: "Region H",
		Role: RoleDoctor, AuthorisationID: "ABC12", MessageID: "m1", CardVersion: 1, Consent: ConsentNone,
		Items: []string{"DrugMedication:1"},
	}}
	if diff := cmp.Diff(wantAudit, m.auditRows()); diff != "" {
		t.Errorf("audit (-want +got):\n%s", diff)
	}

	// GetMedicineCard reads the same card back with the person set.
	read, err := s.GetMedicineCard(context.Background(), Call{Caller: nurse, MessageID: "r1"}, CardQuery{PersonID: testPerson})
	if err != nil {
		t.Fatalf("GetMedicineCard = %v, want nil error", err)
	}
	wantCard.PersonID = testPerson
	if diff := cmp.Diff(wantCard, read); diff != "" {
		t.Errorf("GetMedicineCard (-want +got):\n%s", diff)
	}
}

func TestCreateDrugMedicationVersioning(t *testing.T) {
	s, m := newTestService(t)
	for i := int64(1); i <= 3; i++ {
		req := validRequest(testPerson)
		req.BasedOnCardVersion = i - 1
		got := mustCreate(t, s, nurse, fmt.Sprintf("m%d", i), req)
		want := &WriteResult{CardVersion: i, Items: []ItemVersion{{ItemDrugMedication, i, 1}}}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("create %d (-want +got):\n%s", i, diff)
		}
	}
	card := m.storedCard(t, testPerson)
	if card.Version != 3 || card.LastItemID != 3 {
		t.Errorf("card Version %d, LastItemID %d; want 3, 3", card.Version, card.LastItemID)
	}
	var ids, cardVersions, versions []int64
	for _, dm := range card.DrugMedications {
		ids = append(ids, dm.ID)
		cardVersions = append(cardVersions, dm.CardVersion)
		versions = append(versions, dm.Version)
	}
	if diff := cmp.Diff([]int64{1, 2, 3}, ids); diff != "" {
		t.Errorf("item IDs (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]int64{1, 2, 3}, cardVersions); diff != "" {
		t.Errorf("item CardVersions (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]int64{1, 1, 1}, versions); diff != "" {
		t.Errorf("item Versions (-want +got):\n%s", diff)
	}
	var auditVersions []int64
	for _, a := range m.auditRows() {
		auditVersions = append(auditVersions, a.CardVersion)
	}
	if diff := cmp.Diff([]int64{1, 2, 3}, auditVersions); diff != "" {
		t.Errorf("audit CardVersions (-want +got):\n%s", diff)
	}
}

func TestCreateDrugMedicationBasedOnCardVersion(t *testing.T) {
	tests := []struct {
		name         string
		existing     int   // creates before the one under test
		basedOn      int64 // its BasedOnCardVersion
		wantFault    *Fault
		wantWarnings []WarningCode
	}{
		{name: "new card, based on 0", existing: 0, basedOn: 0},
		{name: "current", existing: 2, basedOn: 2},
		{name: "older", existing: 2, basedOn: 1, wantWarnings: []WarningCode{WarningVersionMismatch}},
		{name: "much older", existing: 2, basedOn: 0, wantWarnings: []WarningCode{WarningVersionMismatch}},
		{name: "newer", existing: 2, basedOn: 3, wantFault: &FaultInvalidCardVersion},
		{name: "newer than a new card", existing: 0, basedOn: 1, wantFault: &FaultInvalidCardVersion},
		{name: "negative", existing: 2, basedOn: -1, wantFault: &FaultInvalidCardVersion},
		{name: "negative on a new card", existing: 0, basedOn: -1, wantFault: &FaultInvalidCardVersion},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, m := newTestService(t)
			for i := range tt.existing {
				mustCreate(t, s, doctor, fmt.Sprintf("pre%d", i), validRequest(testPerson))
			}
			before := m.snapshot()
			req := validRequest(testPerson)
			req.BasedOnCardVersion = tt.basedOn
			got, err := s.Change(context.Background(), Call{Caller: doctor, MessageID: "m1"}, req)
			if tt.wantFault != nil {
				wantFault(t, "CreateDrugMedication", err, *tt.wantFault)
				if strings.Contains(err.Error(), testPerson) {
					t.Errorf("error %q contains the person identifier", err)
				}
				wantUnchanged(t, m, before)
				return
			}
			if err != nil {
				t.Fatalf("CreateDrugMedication(BasedOnCardVersion %d) = %v, want nil error", tt.basedOn, err)
			}
			var codes []WarningCode
			for _, w := range got.Warnings {
				codes = append(codes, w.Code)
				if w.Message == "" {
					t.Errorf("warning %s has no message", w.Code)
				}
			}
			if diff := cmp.Diff(tt.wantWarnings, codes); diff != "" {
				t.Errorf("warnings (-want +got):\n%s", diff)
			}
			want := int64(tt.existing + 1)
			if got.CardVersion != want {
				t.Errorf("CardVersion = %d, want %d", got.CardVersion, want)
			}
			if n := len(m.storedCard(t, testPerson).DrugMedications); n != tt.existing+1 {
				t.Errorf("items = %d, want %d (the change is applied)", n, tt.existing+1)
			}
		})
	}
}

func TestCreateDrugMedicationValidation(t *testing.T) {
	with := func(f func(*CreateDrugMedicationRequest)) CreateDrugMedicationRequest {
		r := validRequest(testPerson)
		f(&r)
		return r
	}
	tests := []struct {
		name      string
		req       CreateDrugMedicationRequest
		wantFault Fault
	}{
		{"no Drug/Identifier", with(func(r *CreateDrugMedicationRequest) { r.Drug.Identifier = "" }), FaultRequiredField},
		{"blank Drug/Identifier", with(func(r *CreateDrugMedicationRequest) { r.Drug.Identifier = " \t" }), FaultRequiredField},
		{"no Drug/Name", with(func(r *CreateDrugMedicationRequest) { r.Drug.Name = "" }), FaultRequiredField},
		{"blank Drug/Name", with(func(r *CreateDrugMedicationRequest) { r.Drug.Name = "  " }), FaultRequiredField},
		{"no Dosage/Text", with(func(r *CreateDrugMedicationRequest) { r.Dosage.Text = "" }), FaultRequiredField},
		{"no Indication/Text", with(func(r *CreateDrugMedicationRequest) { r.Indication.Text = "" }), FaultRequiredField},
		{"no BeginDate", with(func(r *CreateDrugMedicationRequest) { r.BeginDate = "" }), FaultRequiredField},
		{"BeginDate 30 February", with(func(r *CreateDrugMedicationRequest) { r.BeginDate = "2026-02-30" }), FaultInvalidField},
		{"BeginDate two-digit year", with(func(r *CreateDrugMedicationRequest) { r.BeginDate = "26-01-01" }), FaultInvalidField},
		{"BeginDate tomorrow", with(func(r *CreateDrugMedicationRequest) { r.BeginDate = "tomorrow" }), FaultInvalidField},
		{"BeginDate with time", with(func(r *CreateDrugMedicationRequest) { r.BeginDate = "2026-03-01T00:00:00Z" }), FaultInvalidField},
		{"BeginDate month 13", with(func(r *CreateDrugMedicationRequest) { r.BeginDate = "2026-13-01" }), FaultInvalidField},
		{"EndDate 30 February", with(func(r *CreateDrugMedicationRequest) { r.EndDate = "2026-02-30" }), FaultInvalidField},
		{"EndDate tomorrow", with(func(r *CreateDrugMedicationRequest) { r.EndDate = "tomorrow" }), FaultInvalidField},
		{"EndDate before BeginDate", with(func(r *CreateDrugMedicationRequest) { r.EndDate = "2026-02-28" }), FaultInvalidField},
		{"EndDate a year before", with(func(r *CreateDrugMedicationRequest) { r.EndDate = "2025-12-31" }), FaultInvalidField},
		{"Drug/Name 201 characters", with(func(r *CreateDrugMedicationRequest) { r.Drug.Name = strings.Repeat("x", 201) }), FaultInvalidField},
		{"Drug/Name 201 letters æ", with(func(r *CreateDrugMedicationRequest) { r.Drug.Name = strings.Repeat("æ", 201) }), FaultInvalidField},
		{"Dosage/Text 1001 characters", with(func(r *CreateDrugMedicationRequest) { r.Dosage.Text = strings.Repeat("x", 1001) }), FaultInvalidField},
		{"Indication/Text 501 characters", with(func(r *CreateDrugMedicationRequest) { r.Indication.Text = strings.Repeat("x", 501) }), FaultInvalidField},
		{"invalid person", with(func(r *CreateDrugMedicationRequest) { r.PersonID = "3201801234" }), FaultInvalidPersonID},
		{"short person", with(func(r *CreateDrugMedicationRequest) { r.PersonID = "010180123" }), FaultInvalidPersonID},
		{"no person", with(func(r *CreateDrugMedicationRequest) { r.PersonID = "" }), FaultInvalidPersonID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, m := newTestService(t)
			before := m.snapshot()
			res, err := s.Change(context.Background(), Call{Caller: doctor, MessageID: "m1"}, tt.req)
			wantFault(t, "CreateDrugMedication", err, tt.wantFault)
			if res != nil {
				t.Errorf("CreateDrugMedication result = %+v, want nil", res)
			}
			for _, p := range []string{testPerson, tt.req.PersonID} {
				if p == "" {
					continue
				}
				if strings.Contains(err.Error(), p) || strings.Contains(MessageOf(err), p) {
					t.Errorf("CreateDrugMedication error %q contains the person identifier", err)
				}
			}
			wantUnchanged(t, m, before)
			if r, w, l := m.calls(); r+w+l != 0 {
				t.Errorf("store calls = %d, %d, %d; want none for an invalid request", r, w, l)
			}
		})
	}
}

func TestCreateDrugMedicationBoundaries(t *testing.T) {
	with := func(f func(*CreateDrugMedicationRequest)) CreateDrugMedicationRequest {
		r := validRequest(testPerson)
		f(&r)
		return r
	}
	tests := []struct {
		name string
		req  CreateDrugMedicationRequest
	}{
		{"no EndDate", with(func(r *CreateDrugMedicationRequest) { r.EndDate = "" })},
		{"EndDate equals BeginDate", with(func(r *CreateDrugMedicationRequest) { r.EndDate = r.BeginDate })},
		{"leap day", with(func(r *CreateDrugMedicationRequest) { r.BeginDate, r.EndDate = "2028-02-29", "2028-03-01" })},
		{"Drug/Name 200 characters", with(func(r *CreateDrugMedicationRequest) { r.Drug.Name = strings.Repeat("x", 200) })},
		{"Drug/Name 200 letters æ", with(func(r *CreateDrugMedicationRequest) { r.Drug.Name = strings.Repeat("æ", 200) })},
		{"Dosage/Text 1000 characters", with(func(r *CreateDrugMedicationRequest) { r.Dosage.Text = strings.Repeat("x", 1000) })},
		{"Indication/Text 500 characters", with(func(r *CreateDrugMedicationRequest) { r.Indication.Text = strings.Repeat("x", 500) })},
		{"optional drug fields empty", with(func(r *CreateDrugMedicationRequest) {
			r.Drug = Drug{Identifier: "1", Name: "n"}
			r.Indication.Code = ""
		})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, m := newTestService(t)
			mustCreate(t, s, doctor, "m1", tt.req)
			dm := m.storedCard(t, testPerson).DrugMedications[0]
			if dm.Drug != tt.req.Drug || dm.BeginDate != Date(tt.req.BeginDate) || dm.EndDate != Date(tt.req.EndDate) {
				t.Errorf("stored item = %+v, want the request's drug and dates", dm)
			}
		})
	}
}

func TestCreateDrugMedicationRoles(t *testing.T) {
	tests := []struct {
		caller    Caller
		wantFault *Fault
	}{
		{doctor, nil},
		{nurse, nil},
		{pharmacist, &FaultRoleNotAllowed},
		{Caller{System: "EPJ-A", Role: ""}, &FaultRoleNotAllowed},
		{Caller{System: "EPJ-A", Role: "Admin"}, &FaultRoleNotAllowed},
	}
	for _, tt := range tests {
		t.Run(string(tt.caller.Role), func(t *testing.T) {
			s, m := newTestService(t)
			before := m.snapshot()
			_, err := s.Change(context.Background(), Call{Caller: tt.caller, MessageID: "m1"}, validRequest(testPerson))
			if tt.wantFault == nil {
				if err != nil {
					t.Fatalf("CreateDrugMedication as %q = %v, want nil error", tt.caller.Role, err)
				}
				return
			}
			wantFault(t, "CreateDrugMedication as "+string(tt.caller.Role), err, *tt.wantFault)
			if strings.Contains(err.Error(), testPerson) {
				t.Errorf("error %q contains the person identifier", err)
			}
			wantUnchanged(t, m, before)
		})
	}
}

func TestGetMedicineCard(t *testing.T) {
	for _, caller := range []Caller{doctor, nurse, pharmacist} {
		t.Run(string(caller.Role), func(t *testing.T) {
			s, m := newTestService(t)
			mustCreate(t, s, doctor, "m1", validRequest(testPerson))
			card, err := s.GetMedicineCard(context.Background(), Call{Caller: caller, MessageID: "r1"}, CardQuery{PersonID: testPerson})
			if err != nil {
				t.Fatalf("GetMedicineCard as %s = %v, want nil error", caller.Role, err)
			}
			if card.PersonID != testPerson || card.Version != 1 || len(card.DrugMedications) != 1 {
				t.Errorf("GetMedicineCard as %s = version %d with %d items, want version 1 with 1 item",
					caller.Role, card.Version, len(card.DrugMedications))
			}
			rows := m.auditRows()
			want := AuditEntry{
				Operation: OpGetMedicineCard, At: fixedNow.UTC(), System: caller.System, Organisation: caller.Organisation,
				Role: caller.Role, AuthorisationID: caller.AuthorisationID, MessageID: "r1", CardVersion: 1, Consent: ConsentNone,
			}
			if diff := cmp.Diff(want, rows[len(rows)-1]); diff != "" {
				t.Errorf("audit row of the read (-want +got):\n%s", diff)
			}
		})
	}
}

func TestGetMedicineCardNoCard(t *testing.T) {
	s, _ := newTestService(t)
	got, err := s.GetMedicineCard(context.Background(), Call{Caller: doctor, MessageID: "r1"}, CardQuery{PersonID: otherPerson})
	if err != nil {
		t.Fatalf("GetMedicineCard = %v, want nil error", err)
	}
	if diff := cmp.Diff(&Card{PersonID: otherPerson}, got); diff != "" {
		t.Errorf("GetMedicineCard without a card (-want +got):\n%s", diff)
	}
}

func TestGetMedicineCardRefused(t *testing.T) {
	tests := []struct {
		name      string
		caller    Caller
		person    string
		wantFault Fault
	}{
		{"unknown role", Caller{System: "EPJ-A", Role: "Admin"}, testPerson, FaultRoleNotAllowed},
		{"no role", Caller{System: "EPJ-A"}, testPerson, FaultRoleNotAllowed},
		{"invalid person", doctor, "3201801234", FaultInvalidPersonID},
		{"person with letters", doctor, "01018O1234", FaultInvalidPersonID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, m := newTestService(t)
			before := m.snapshot()
			card, err := s.GetMedicineCard(context.Background(), Call{Caller: tt.caller, MessageID: "r1"}, CardQuery{PersonID: tt.person})
			wantFault(t, "GetMedicineCard", err, tt.wantFault)
			if card != nil {
				t.Errorf("GetMedicineCard card = %+v, want nil", card)
			}
			if strings.Contains(err.Error(), tt.person) {
				t.Errorf("error %q contains the person identifier", err)
			}
			wantUnchanged(t, m, before)
		})
	}
}

func TestPermissions(t *testing.T) {
	tests := []struct {
		role Role
		op   Operation
		want bool
	}{
		{RoleDoctor, OpGetMedicineCard, true},
		{RoleNurse, OpGetMedicineCard, true},
		{RolePharmacist, OpGetMedicineCard, true},
		{RoleDoctor, OpCreateDrugMedication, true},
		{RoleNurse, OpCreateDrugMedication, true},
		{RolePharmacist, OpCreateDrugMedication, false},
		{"", OpGetMedicineCard, false},
		{RoleDoctor, "DeleteMedicineCard", false},
	}
	for _, tt := range tests {
		err := authorize(tt.role, tt.op)
		if got := err == nil; got != tt.want {
			t.Errorf("authorize(%q, %q) = %v, want allowed %v", tt.role, tt.op, err, tt.want)
		}
		if err != nil && FaultOf(err) != FaultRoleNotAllowed {
			t.Errorf("authorize(%q, %q) fault = %v, want %v", tt.role, tt.op, FaultOf(err), FaultRoleNotAllowed)
		}
	}
}

func TestParseRole(t *testing.T) {
	for _, r := range []Role{RoleDoctor, RoleNurse, RolePharmacist} {
		if got, err := ParseRole(string(r)); got != r || err != nil {
			t.Errorf("ParseRole(%q) = %q, %v; want %q, nil", r, got, err, r)
		}
	}
	for _, s := range []string{"", "doctor", "Admin", "Doctor "} {
		got, err := ParseRole(s)
		if got != "" || FaultOf(err) != FaultRoleNotAllowed {
			t.Errorf("ParseRole(%q) = %q, %v; want \"\", fault %v", s, got, err, FaultRoleNotAllowed)
		}
	}
	sys := System{Name: "EPJ-A", Roles: []Role{RoleDoctor, RoleNurse}}
	for _, tt := range []struct {
		role Role
		want bool
	}{{RoleDoctor, true}, {RoleNurse, true}, {RolePharmacist, false}} {
		if got := sys.MayActAs(tt.role); got != tt.want {
			t.Errorf("MayActAs(%q) = %v, want %v", tt.role, got, tt.want)
		}
	}
}
