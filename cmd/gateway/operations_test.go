package main

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	gowsdl "github.com/hooklift/gowsdl/soap"

	"github.com/sharedmedcard/gateway/internal/wsdlclient"
	"github.com/sharedmedcard/gateway/medcard"
	"github.com/sharedmedcard/gateway/shard"
	"github.com/sharedmedcard/gateway/soap"
)

// The tests in this file call every operation of the WSDL end to end, in
// SOAP 1.1 and 1.2. Requests are built with the types gowsdl generated
// from the WSDL, so they are what an integrator reading only the WSDL
// would send; responses are read with the gateway's own payload types.

// actor is who sends a request: an integrating system, the role it asks
// for and the organisation it acts for (for a pharmacy, the pharmacy).
type actor struct{ system, secret, role, org string }

var (
	doctor          = actor{system: "demo-gp", role: "Doctor"}
	nurse           = actor{system: "demo-gp", role: "Nurse"}
	pharmacist      = actor{system: "demo-pharmacy", role: "Pharmacist", org: "SOR:pharmacy-1"}
	otherPharmacist = actor{system: "demo-pharmacy", role: "Pharmacist", org: "SOR:pharmacy-2"}
)

// send marshals req, a request type of the generated client, and sends it
// as a.
func (a actor) send(t *testing.T, soap12 bool, req any) (int, []byte) {
	t.Helper()
	body, err := xml.Marshal(req)
	if err != nil {
		t.Fatalf("marshal %T: %v", req, err)
	}
	return call{soap12: soap12, system: a.system, secret: a.secret, role: a.role, org: a.org, body: string(body)}.do(t)
}

// operationOf names the operation of a generated request type.
func operationOf(req any) string {
	return strings.TrimSuffix(reflect.TypeOf(req).Elem().Name(), "Request")
}

// fixture is one fresh person's card as a test builds it up, with the
// card version after the last write and the items it made.
type fixture struct {
	soap12                      bool
	person                      string
	v                           int64
	dm, rx, order, effectuation int64
}

// newFixture gives a fresh person an active drug medication and an open
// prescription for it: 2 packages per dispensing, 2 dispensings, no
// interval.
func newFixture(t *testing.T, soap12 bool) *fixture {
	t.Helper()
	f := &fixture{soap12: soap12, person: freshPerson(t)}
	f.dm = itemOf(t, f.write(t, doctor, f.createDM("Pinex")), "DrugMedication")
	f.rx = itemOf(t, f.write(t, doctor, f.prescribe(f.dm, 2, 1, 0)), "Prescription")
	return f
}

func (f *fixture) pid() *wsdlclient.PersonIdentifierType {
	p := wsdlclient.PersonIdentifierType(f.person)
	return &p
}

// write sends req as by, based on the current card version, and requires
// that it succeeds without warnings, answered with the operation's own
// response element and the next card version.
func (f *fixture) write(t *testing.T, by actor, req any) soap.WriteResponse {
	t.Helper()
	res := f.writeWarned(t, by, req)
	if len(res.Warning) > 0 {
		t.Errorf("%s warned %+v, want no warning", operationOf(req), res.Warning)
	}
	return res
}

// writeWarned is write without the check for warnings.
func (f *fixture) writeWarned(t *testing.T, by actor, req any) soap.WriteResponse {
	t.Helper()
	status, raw := by.send(t, f.soap12, req)
	var res soap.WriteResponse
	responseBody(t, status, raw, &res)
	if want := (xml.Name{Space: nsMedcard, Local: operationOf(req) + "Response"}); res.XMLName != want {
		t.Errorf("%s answered with %s, want %s", operationOf(req), res.XMLName.Local, want.Local)
	}
	if res.MedicineCardVersion != f.v+1 {
		t.Errorf("%s: card version %d, want %d", operationOf(req), res.MedicineCardVersion, f.v+1)
	}
	f.v = res.MedicineCardVersion
	return res
}

// refused sends req as by and requires the fault faultID as a client
// fault in the request's SOAP version, and that the card did not change.
func (f *fixture) refused(t *testing.T, by actor, req any, faultID string) {
	t.Helper()
	status, raw := by.send(t, f.soap12, req)
	wantStatus, wantCode := http.StatusInternalServerError, "soap:Client"
	if f.soap12 {
		wantCode = "env:Sender" // HTTP 500 too: soap/doc.go says why
	}
	if got := parseFault(t, raw); status != wantStatus || got.Code != wantCode || got.Identifier != faultID {
		t.Errorf("%s = %d %s %s, want %d %s %s; body: %.600s", operationOf(req), status, got.Code, got.Identifier,
			wantStatus, wantCode, faultID, raw)
	}
	if v := f.card(t).MedicineCard.MedicineCardVersion; v != f.v {
		t.Errorf("refused %s changed the card from version %d to %d", operationOf(req), f.v, v)
	}
}

// card reads the whole card: prescriptions, orders, effectuations and
// withdrawn drug medications included.
func (f *fixture) card(t *testing.T) soap.GetMedicineCardResponse {
	t.Helper()
	var resp soap.GetMedicineCardResponse
	status, raw := doctor.send(t, f.soap12, &wsdlclient.GetMedicineCardRequest{PersonIdentifier: f.pid(),
		IncludePrescriptions: true, IncludeEffectuations: true, IncludeWithdrawnSince: date(1900, 1, 1)})
	responseBody(t, status, raw, &resp)
	return resp
}

func date(y int, m time.Month, d int) gowsdl.XSDDate {
	return gowsdl.CreateXsdDate(time.Date(y, m, d, 0, 0, 0, 0, time.UTC), false)
}

// --- requests ------------------------------------------------------------------

func (f *fixture) createDM(name string) *wsdlclient.CreateDrugMedicationRequest {
	return &wsdlclient.CreateDrugMedicationRequest{PersonIdentifier: f.pid(), MedicineCardVersion: f.v,
		DrugMedication: &wsdlclient.NewDrugMedicationType{
			Drug:       &wsdlclient.DrugType{Identifier: "28100636072", Name: name, Form: "tabletter", Strength: "500 mg"},
			Dosage:     &wsdlclient.DosageType{Text: "2 tabletter 3 gange daglig"},
			Indication: &wsdlclient.IndicationType{Text: "mod smerter"},
			BeginDate:  date(2026, 11, 1),
		}}
}

func (f *fixture) updateDM(dm int64, dosage string) *wsdlclient.UpdateDrugMedicationRequest {
	return &wsdlclient.UpdateDrugMedicationRequest{PersonIdentifier: f.pid(), MedicineCardVersion: f.v,
		DrugMedicationIdentifier: dm, Dosage: &wsdlclient.DosageType{Text: dosage}}
}

func (f *fixture) pauseDM(dm int64) *wsdlclient.PauseDrugMedicationRequest {
	return &wsdlclient.PauseDrugMedicationRequest{PersonIdentifier: f.pid(), MedicineCardVersion: f.v, DrugMedicationIdentifier: dm}
}

func (f *fixture) withdrawDM(dm int64) *wsdlclient.WithdrawDrugMedicationRequest {
	return &wsdlclient.WithdrawDrugMedicationRequest{PersonIdentifier: f.pid(), MedicineCardVersion: f.v, DrugMedicationIdentifier: dm}
}

func (f *fixture) reviewed() *wsdlclient.SetMedicineCardReviewedRequest {
	return &wsdlclient.SetMedicineCardReviewedRequest{PersonIdentifier: f.pid(), MedicineCardVersion: f.v}
}

// prescribe prescribes the drug of dm: packages per dispensing, iterations
// after the first, at least interval days apart, valid from today for the
// default two years.
func (f *fixture) prescribe(dm int64, packages, iterations, interval int32) *wsdlclient.CreatePrescriptionRequest {
	return &wsdlclient.CreatePrescriptionRequest{PersonIdentifier: f.pid(), MedicineCardVersion: f.v,
		DrugMedicationIdentifier: dm, PackageNumber: "043298", PackageQuantity: packages,
		Iterations: iterations, IterationIntervalDays: interval, DosageText: "2 tabletter 3 gange daglig"}
}

func (f *fixture) createOrder(rx int64) *wsdlclient.CreateOrderRequest {
	return &wsdlclient.CreateOrderRequest{PersonIdentifier: f.pid(), MedicineCardVersion: f.v, PrescriptionIdentifier: rx}
}

func (f *fixture) startEffectuation(order int64) *wsdlclient.StartEffectuationRequest {
	return &wsdlclient.StartEffectuationRequest{PersonIdentifier: f.pid(), MedicineCardVersion: f.v, OrderIdentifier: order}
}

func (f *fixture) dispense(order int64, packages int32, terminate bool) *wsdlclient.CreatePharmacyEffectuationRequest {
	return &wsdlclient.CreatePharmacyEffectuationRequest{PersonIdentifier: f.pid(), MedicineCardVersion: f.v,
		OrderIdentifier: order, PackagesDispensed: packages, Terminate: terminate}
}

func (f *fixture) undo(effectuation int64) *wsdlclient.UndoEffectuationRequest {
	return &wsdlclient.UndoEffectuationRequest{PersonIdentifier: f.pid(), MedicineCardVersion: f.v, EffectuationIdentifier: effectuation}
}

// ordered, started and dispensed move the fixture's prescription along
// the pharmacy's steps.
func (f *fixture) ordered(t *testing.T) {
	t.Helper()
	f.order = itemOf(t, f.write(t, pharmacist, f.createOrder(f.rx)), "Order")
}

func (f *fixture) started(t *testing.T) {
	t.Helper()
	f.ordered(t)
	f.write(t, pharmacist, f.startEffectuation(f.order))
}

func (f *fixture) dispensed(t *testing.T) {
	t.Helper()
	f.started(t)
	f.effectuation = itemOf(t, f.write(t, pharmacist, f.dispense(f.order, 1, false)), "Effectuation")
}

// conflicted gives the fixture's drug medication two clashing dosages:
// an update, then another based on the version before it.
func (f *fixture) conflicted(t *testing.T) {
	t.Helper()
	base := f.v
	f.write(t, doctor, f.updateDM(f.dm, "3 tabletter daglig"))
	stale := f.updateDM(f.dm, "4 tabletter daglig")
	stale.MedicineCardVersion = base
	res := f.writeWarned(t, doctor, stale)
	if !hasWarning(res, "ConflictWarning") {
		t.Fatalf("a second dosage based on version %d warned %+v, want ConflictWarning", base, res.Warning)
	}
}

// --- reading answers -------------------------------------------------------------

// itemOf returns the identifier of the one item of kind that res touched.
func itemOf(t *testing.T, res soap.WriteResponse, kind string) int64 {
	t.Helper()
	var ids []int64
	for _, it := range res.Item {
		if it.Type == kind {
			ids = append(ids, it.Identifier)
		}
	}
	if len(ids) != 1 {
		t.Fatalf("the write touched %d items of kind %s (%+v), want 1", len(ids), kind, res.Item)
	}
	return ids[0]
}

func hasWarning(res soap.WriteResponse, code string) bool {
	for _, w := range res.Warning {
		if w.Code == code {
			return true
		}
	}
	return false
}

// byID returns the item of items whose Identifier is id; items is one of
// the payload's item lists.
func byID[T any](t *testing.T, items []T, id int64) T {
	t.Helper()
	for _, it := range items {
		if reflect.ValueOf(it).FieldByName("Identifier").Int() == id {
			return it
		}
	}
	t.Fatalf("no item %d among %d %T", id, len(items), items)
	var zero T
	return zero
}

// checkTouched checks that res touched items of exactly kinds, and that
// the card shows each at the version res answered, changed in res's card
// version.
func checkTouched(t *testing.T, card soap.GetMedicineCardResponse, res soap.WriteResponse, kinds ...string) {
	t.Helper()
	type key struct {
		kind string
		id   int64
	}
	shown := map[key][2]int64{}
	c := card.MedicineCard
	for _, it := range c.DrugMedication {
		shown[key{"DrugMedication", it.Identifier}] = [2]int64{it.Version, it.ChangedInCardVersion}
	}
	for _, it := range c.Prescription {
		shown[key{"Prescription", it.Identifier}] = [2]int64{it.Version, it.ChangedInCardVersion}
	}
	for _, it := range c.Order {
		shown[key{"Order", it.Identifier}] = [2]int64{it.Version, it.ChangedInCardVersion}
	}
	for _, it := range c.Effectuation {
		shown[key{"Effectuation", it.Identifier}] = [2]int64{it.Version, it.ChangedInCardVersion}
	}
	var got []string
	for _, it := range res.Item {
		got = append(got, it.Type)
		want := [2]int64{it.Version, res.MedicineCardVersion}
		if v, ok := shown[key{it.Type, it.Identifier}]; !ok || v != want {
			t.Errorf("%s %d: the card shows version/changed-in %v (found %v), the write answered %v", it.Type, it.Identifier, v, ok, want)
		}
	}
	slices.Sort(got)
	kinds = slices.Sorted(slices.Values(kinds))
	if !slices.Equal(got, kinds) {
		t.Errorf("the write touched %v, want %v", got, kinds)
	}
	if c.MedicineCardVersion != res.MedicineCardVersion {
		t.Errorf("the card is at version %d, the write answered %d", c.MedicineCardVersion, res.MedicineCardVersion)
	}
}

// --- every write ------------------------------------------------------------------

// writeCase is one write operation: the state it needs, a request that
// succeeds, what it touches and how the card shows it, then a request of
// the same operation that the card as it is now refuses.
type writeCase struct {
	op       string
	setup    func(t *testing.T, f *fixture)
	by       actor
	req      func(f *fixture) any
	touches  []string
	check    func(t *testing.T, f *fixture, res soap.WriteResponse, card soap.GetMedicineCardResponse)
	refuseBy actor
	refuse   func(f *fixture) any
	faultID  string
}

var writeCases = []writeCase{
	{
		op: "CreateDrugMedication", by: doctor,
		req:     func(f *fixture) any { return f.createDM("Amlodipin") },
		touches: []string{"DrugMedication"},
		check: func(t *testing.T, f *fixture, res soap.WriteResponse, card soap.GetMedicineCardResponse) {
			dm := byID(t, card.MedicineCard.DrugMedication, itemOf(t, res, "DrugMedication"))
			if dm.Drug.Name != "Amlodipin" || dm.Status != "Active" || dm.Version != 1 || dm.Created.System != "demo-gp" {
				t.Errorf("new drug medication = %+v", dm)
			}
		},
		refuseBy: pharmacist, refuse: func(f *fixture) any { return f.createDM("Amlodipin") }, faultID: "RoleNotAllowed",
	},
	{
		op: "UpdateDrugMedication", by: doctor,
		req: func(f *fixture) any {
			req := f.updateDM(f.dm, "1 tablet morgen og aften")
			req.Indication = &wsdlclient.IndicationType{Code: "R52", Text: "mod gigtsmerter"}
			req.EndDate = date(2027, 6, 30)
			return req
		},
		touches: []string{"DrugMedication"},
		check: func(t *testing.T, f *fixture, res soap.WriteResponse, card soap.GetMedicineCardResponse) {
			dm := byID(t, card.MedicineCard.DrugMedication, f.dm)
			if dm.Dosage.Text != "1 tablet morgen og aften" || dm.Indication.Code != "R52" || dm.Indication.Text != "mod gigtsmerter" ||
				dm.EndDate != "2027-06-30" || dm.Status != "Active" || dm.Drug.Name != "Pinex" {
				t.Errorf("updated drug medication = %+v", dm)
			}
		},
		refuseBy: doctor, refuse: func(f *fixture) any { return f.updateDM(999, "1 tablet") }, faultID: "DrugMedicationNotFound",
	},
	{
		op: "PauseDrugMedication", by: doctor,
		req:     func(f *fixture) any { return f.pauseDM(f.dm) },
		touches: []string{"DrugMedication"},
		check:   wantDMStatus("Paused"),
		// Paused already.
		refuseBy: doctor, refuse: func(f *fixture) any { return f.pauseDM(f.dm) }, faultID: "StatusTransitionNotAllowed",
	},
	{
		op: "UnpauseDrugMedication", by: nurse,
		setup: func(t *testing.T, f *fixture) { f.write(t, doctor, f.pauseDM(f.dm)) },
		req: func(f *fixture) any {
			return &wsdlclient.UnpauseDrugMedicationRequest{PersonIdentifier: f.pid(), MedicineCardVersion: f.v, DrugMedicationIdentifier: f.dm}
		},
		touches:  []string{"DrugMedication"},
		check:    wantDMStatus("Active"),
		refuseBy: doctor, refuse: func(f *fixture) any {
			return &wsdlclient.UnpauseDrugMedicationRequest{PersonIdentifier: f.pid(), MedicineCardVersion: f.v, DrugMedicationIdentifier: f.dm}
		}, faultID: "StatusTransitionNotAllowed",
	},
	{
		op: "WithdrawDrugMedication", by: doctor,
		req:      func(f *fixture) any { return f.withdrawDM(f.dm) },
		touches:  []string{"DrugMedication"},
		check:    wantDMStatus("Withdrawn"),
		refuseBy: pharmacist, refuse: func(f *fixture) any { return f.withdrawDM(f.dm) }, faultID: "RoleNotAllowed",
	},
	{
		op: "UnwithdrawDrugMedication", by: doctor,
		setup: func(t *testing.T, f *fixture) { f.write(t, doctor, f.withdrawDM(f.dm)) },
		req: func(f *fixture) any {
			return &wsdlclient.UnwithdrawDrugMedicationRequest{PersonIdentifier: f.pid(), MedicineCardVersion: f.v, DrugMedicationIdentifier: f.dm}
		},
		touches:  []string{"DrugMedication"},
		check:    wantDMStatus("Active"),
		refuseBy: doctor, refuse: func(f *fixture) any {
			return &wsdlclient.UnwithdrawDrugMedicationRequest{PersonIdentifier: f.pid(), MedicineCardVersion: f.v, DrugMedicationIdentifier: f.dm}
		}, faultID: "StatusTransitionNotAllowed",
	},
	{
		op: "SetMedicineCardReviewed", by: doctor,
		req: func(f *fixture) any { return f.reviewed() },
		check: func(t *testing.T, f *fixture, res soap.WriteResponse, card soap.GetMedicineCardResponse) {
			r := card.MedicineCard.Reviewed
			if r == nil || r.MedicineCardVersion != res.MedicineCardVersion-1 || r.By.Role != "Doctor" || r.By.System != "demo-gp" || r.By.Time.IsZero() {
				t.Errorf("Reviewed = %+v, want by a Doctor of demo-gp at card version %d", r, res.MedicineCardVersion-1)
			}
		},
		// Only doctors mark a card reviewed.
		refuseBy: nurse, refuse: func(f *fixture) any { return f.reviewed() }, faultID: "RoleNotAllowed",
	},
	{
		op: "SetMedicineCardNotReviewed", by: doctor,
		setup: func(t *testing.T, f *fixture) { f.write(t, doctor, f.reviewed()) },
		req: func(f *fixture) any {
			return &wsdlclient.SetMedicineCardNotReviewedRequest{PersonIdentifier: f.pid(), MedicineCardVersion: f.v}
		},
		check: func(t *testing.T, f *fixture, res soap.WriteResponse, card soap.GetMedicineCardResponse) {
			if r := card.MedicineCard.Reviewed; r != nil {
				t.Errorf("Reviewed = %+v, want none", r)
			}
		},
		refuseBy: doctor, refuse: func(f *fixture) any {
			return &wsdlclient.SetMedicineCardNotReviewedRequest{PersonIdentifier: f.pid(), MedicineCardVersion: f.v + 5}
		}, faultID: "InvalidMedicineCardVersion",
	},
	{
		// The restriction's other half, restricting, is
		// TestAccessRestrictionEndToEnd's: a restricted card is not the
		// doctor's to read here.
		op: "SetAccessRestriction", by: citizenPortal,
		setup: func(t *testing.T, f *fixture) {
			registerCitizenPortal(t)
			f.write(t, citizenPortal, f.restriction(true))
		},
		req: func(f *fixture) any { return f.restriction(false) },
		check: func(t *testing.T, f *fixture, res soap.WriteResponse, card soap.GetMedicineCardResponse) {
			if card.MedicineCard.MedicineCardVersion != res.MedicineCardVersion || len(card.MedicineCard.DrugMedication) != 1 {
				t.Errorf("the doctor's read after lifting = %+v, want the card at version %d", card.MedicineCard, res.MedicineCardVersion)
			}
		},
		// Only the citizen restricts their card.
		refuseBy: doctor, refuse: func(f *fixture) any { return f.restriction(true) }, faultID: "RoleNotAllowed",
	},
	{
		op: "UpdateMedicineCard", by: doctor,
		req: func(f *fixture) any {
			pause := wsdlclient.DrugMedicationOperationTypePause
			return &wsdlclient.UpdateMedicineCardRequest{PersonIdentifier: f.pid(), MedicineCardVersion: f.v,
				CreateDrugMedication: []*wsdlclient.NewDrugMedicationType{f.createDM("Amlodipin").DrugMedication},
				Change:               []*wsdlclient.DrugMedicationChangeType{{Operation: &pause, DrugMedicationIdentifier: f.dm}},
				SetReviewed:          true}
		},
		touches: []string{"DrugMedication", "DrugMedication"},
		check: func(t *testing.T, f *fixture, res soap.WriteResponse, card soap.GetMedicineCardResponse) {
			c := card.MedicineCard
			if dm := byID(t, c.DrugMedication, f.dm); dm.Status != "Paused" {
				t.Errorf("changed drug medication is %s, want Paused", dm.Status)
			}
			if len(c.DrugMedication) != 2 || c.DrugMedication[1].Drug.Name != "Amlodipin" || c.DrugMedication[1].Status != "Active" {
				t.Errorf("drug medications = %+v, want Pinex and a new active Amlodipin", c.DrugMedication)
			}
			if c.Reviewed == nil || c.Reviewed.MedicineCardVersion != res.MedicineCardVersion-1 {
				t.Errorf("Reviewed = %+v, want at card version %d", c.Reviewed, res.MedicineCardVersion-1)
			}
		},
		// An update without a dosage fails the whole request, the
		// creation in it included.
		refuseBy: doctor, refuse: func(f *fixture) any {
			update := wsdlclient.DrugMedicationOperationTypeUpdate
			return &wsdlclient.UpdateMedicineCardRequest{PersonIdentifier: f.pid(), MedicineCardVersion: f.v,
				CreateDrugMedication: []*wsdlclient.NewDrugMedicationType{f.createDM("Metformin").DrugMedication},
				Change:               []*wsdlclient.DrugMedicationChangeType{{Operation: &update, DrugMedicationIdentifier: f.dm}}}
		}, faultID: "RequiredFieldMissing",
	},
	{
		op: "CreatePrescription", by: doctor,
		req:     func(f *fixture) any { return f.prescribe(f.dm, 1, 2, 14) },
		touches: []string{"Prescription"},
		check: func(t *testing.T, f *fixture, res soap.WriteResponse, card soap.GetMedicineCardResponse) {
			p := byID(t, card.MedicineCard.Prescription, itemOf(t, res, "Prescription"))
			from, _ := time.Parse(time.DateOnly, p.ValidFrom)
			if p.Status != "Open" || p.DrugMedicationIdentifier != f.dm || p.Drug.Name != "Pinex" || p.PackageQuantity != 1 ||
				p.Iterations != 2 || p.IterationIntervalDays != 14 || p.Dispensings != 0 || p.LastDispensed != nil ||
				p.ValidTo != from.AddDate(2, 0, 0).Format(time.DateOnly) || p.Created.Role != "Doctor" {
				t.Errorf("new prescription = %+v", p)
			}
		},
		// Only doctors prescribe.
		refuseBy: nurse, refuse: func(f *fixture) any { return f.prescribe(f.dm, 1, 0, 0) }, faultID: "RoleNotAllowed",
	},
	{
		op: "CancelPrescription", by: doctor,
		req: func(f *fixture) any {
			return &wsdlclient.CancelPrescriptionRequest{PersonIdentifier: f.pid(), MedicineCardVersion: f.v, PrescriptionIdentifier: f.rx}
		},
		touches: []string{"Prescription"},
		check: func(t *testing.T, f *fixture, res soap.WriteResponse, card soap.GetMedicineCardResponse) {
			if p := byID(t, card.MedicineCard.Prescription, f.rx); p.Status != "Cancelled" {
				t.Errorf("prescription is %s, want Cancelled", p.Status)
			}
		},
		refuseBy: doctor, refuse: func(f *fixture) any {
			return &wsdlclient.CancelPrescriptionRequest{PersonIdentifier: f.pid(), MedicineCardVersion: f.v, PrescriptionIdentifier: f.rx}
		}, faultID: "PrescriptionNotOpen",
	},
	{
		op: "CreateOrder", by: pharmacist,
		req: func(f *fixture) any { return f.createOrder(f.rx) },
		// The order locks the prescription, a change of it.
		touches: []string{"Order", "Prescription"},
		check: func(t *testing.T, f *fixture, res soap.WriteResponse, card soap.GetMedicineCardResponse) {
			o := byID(t, card.MedicineCard.Order, itemOf(t, res, "Order"))
			if o.Status != "Open" || o.PrescriptionIdentifier != f.rx || o.Pharmacy != pharmacist.org || o.Created.Role != "Pharmacist" {
				t.Errorf("new order = %+v", o)
			}
		},
		// One open order per prescription.
		refuseBy: otherPharmacist, refuse: func(f *fixture) any { return f.createOrder(f.rx) }, faultID: "OpenOrderExists",
	},
	{
		op: "CancelOrder", by: pharmacist,
		setup: func(t *testing.T, f *fixture) { f.ordered(t) },
		req: func(f *fixture) any {
			return &wsdlclient.CancelOrderRequest{PersonIdentifier: f.pid(), MedicineCardVersion: f.v, OrderIdentifier: f.order}
		},
		touches:  []string{"Order"},
		check:    wantOrderStatus("Cancelled"),
		refuseBy: pharmacist, refuse: func(f *fixture) any {
			return &wsdlclient.CancelOrderRequest{PersonIdentifier: f.pid(), MedicineCardVersion: f.v, OrderIdentifier: f.order}
		}, faultID: "StatusTransitionNotAllowed",
	},
	{
		op: "StartEffectuation", by: pharmacist,
		setup:   func(t *testing.T, f *fixture) { f.ordered(t) },
		req:     func(f *fixture) any { return f.startEffectuation(f.order) },
		touches: []string{"Order"},
		check:   wantOrderStatus("InProgress"),
		// The order locks the prescription to the pharmacy that placed it.
		refuseBy: otherPharmacist, refuse: func(f *fixture) any { return f.startEffectuation(f.order) }, faultID: "OrderHeldByAnotherPharmacy",
	},
	{
		op: "AbortEffectuation", by: pharmacist,
		setup: func(t *testing.T, f *fixture) { f.started(t) },
		req: func(f *fixture) any {
			return &wsdlclient.AbortEffectuationRequest{PersonIdentifier: f.pid(), MedicineCardVersion: f.v, OrderIdentifier: f.order}
		},
		touches:  []string{"Order"},
		check:    wantOrderStatus("Open"),
		refuseBy: pharmacist, refuse: func(f *fixture) any {
			return &wsdlclient.AbortEffectuationRequest{PersonIdentifier: f.pid(), MedicineCardVersion: f.v, OrderIdentifier: f.order}
		}, faultID: "EffectuationNotStarted",
	},
	{
		// Terminate closes the prescription although a dispensing is left.
		op: "CreatePharmacyEffectuation", by: pharmacist,
		setup:   func(t *testing.T, f *fixture) { f.started(t) },
		req:     func(f *fixture) any { return f.dispense(f.order, 2, true) },
		touches: []string{"Prescription", "Order", "Effectuation"},
		check: func(t *testing.T, f *fixture, res soap.WriteResponse, card soap.GetMedicineCardResponse) {
			c := card.MedicineCard
			p := byID(t, c.Prescription, f.rx)
			if p.Status != "Closed" || p.Dispensings != 1 || p.PackagesDispensed != 2 || p.LastDispensed == nil || p.Modified.Role != "Pharmacist" {
				t.Errorf("prescription after a terminating dispensing = %+v, want Closed after 1 dispensing of 2 packages", p)
			}
			if o := byID(t, c.Order, f.order); o.Status != "Completed" {
				t.Errorf("order is %s, want Completed", o.Status)
			}
			e := byID(t, c.Effectuation, itemOf(t, res, "Effectuation"))
			if e.OrderIdentifier != f.order || e.PrescriptionIdentifier != f.rx || e.PackagesDispensed != 2 || !e.Terminated || e.Undone || e.Pharmacy != pharmacist.org {
				t.Errorf("effectuation = %+v", e)
			}
		},
		refuseBy: pharmacist, refuse: func(f *fixture) any { return f.dispense(f.order, 1, false) }, faultID: "EffectuationNotStarted",
	},
	{
		op: "UndoEffectuation", by: pharmacist,
		setup:   func(t *testing.T, f *fixture) { f.dispensed(t) },
		req:     func(f *fixture) any { return f.undo(f.effectuation) },
		touches: []string{"Effectuation", "Prescription"},
		check: func(t *testing.T, f *fixture, res soap.WriteResponse, card soap.GetMedicineCardResponse) {
			c := card.MedicineCard
			if e := byID(t, c.Effectuation, f.effectuation); !e.Undone || e.Terminated {
				t.Errorf("effectuation = %+v, want undone", e)
			}
			if p := byID(t, c.Prescription, f.rx); p.Status != "Open" || p.Dispensings != 0 || p.PackagesDispensed != 0 || p.LastDispensed != nil {
				t.Errorf("prescription = %+v, want open with no dispensing", p)
			}
		},
		refuseBy: pharmacist, refuse: func(f *fixture) any { return f.undo(f.effectuation) }, faultID: "EffectuationAlreadyUndone",
	},
	{
		op: "ResolveConflict", by: doctor,
		setup: func(t *testing.T, f *fixture) { f.conflicted(t) },
		req: func(f *fixture) any {
			return &wsdlclient.ResolveConflictRequest{PersonIdentifier: f.pid(), MedicineCardVersion: f.v, DrugMedicationIdentifier: f.dm, ChosenVariant: 2}
		},
		touches: []string{"DrugMedication"},
		check: func(t *testing.T, f *fixture, res soap.WriteResponse, card soap.GetMedicineCardResponse) {
			dm := byID(t, card.MedicineCard.DrugMedication, f.dm)
			if card.MedicineCard.NeedsAttention || dm.Conflict != nil || dm.Dosage.Text != "4 tabletter daglig" {
				t.Errorf("after ResolveConflict: needs attention %v, drug medication %+v; want no conflict and variant 2's dosage",
					card.MedicineCard.NeedsAttention, dm)
			}
		},
		refuseBy: doctor, refuse: func(f *fixture) any {
			return &wsdlclient.ResolveConflictRequest{PersonIdentifier: f.pid(), MedicineCardVersion: f.v, DrugMedicationIdentifier: f.dm, ChosenVariant: 1}
		}, faultID: "NoConflictToResolve",
	},
}

func wantDMStatus(status string) func(*testing.T, *fixture, soap.WriteResponse, soap.GetMedicineCardResponse) {
	return func(t *testing.T, f *fixture, _ soap.WriteResponse, card soap.GetMedicineCardResponse) {
		t.Helper()
		if dm := byID(t, card.MedicineCard.DrugMedication, f.dm); dm.Status != status || dm.Dosage.Text == "" {
			t.Errorf("drug medication = %+v, want %s", dm, status)
		}
	}
}

func wantOrderStatus(status string) func(*testing.T, *fixture, soap.WriteResponse, soap.GetMedicineCardResponse) {
	return func(t *testing.T, f *fixture, _ soap.WriteResponse, card soap.GetMedicineCardResponse) {
		t.Helper()
		if o := byID(t, card.MedicineCard.Order, f.order); o.Status != status || o.Modified.System != "demo-pharmacy" {
			t.Errorf("order = %+v, want %s", o, status)
		}
	}
}

// TestEveryWriteOperation runs every write of the WSDL in SOAP 1.1 and
// 1.2: it succeeds, answers the next card version and the items it
// touched at the versions the card then shows, and the card reflects it;
// then the same operation is refused as the card now stands, with its
// fault, and writes nothing.
func TestEveryWriteOperation(t *testing.T) {
	requireEnv(t)
	covered := map[string]bool{}
	for _, soap12 := range []bool{false, true} {
		for _, tc := range writeCases {
			covered[tc.op] = true
			t.Run(fmt.Sprintf("%s/soap12=%v", tc.op, soap12), func(t *testing.T) {
				f := newFixture(t, soap12)
				if tc.setup != nil {
					tc.setup(t, f)
				}
				req := tc.req(f)
				if operationOf(req) != tc.op {
					t.Fatalf("case %s sends %s", tc.op, operationOf(req))
				}
				res := f.write(t, tc.by, req)
				card := f.card(t)
				checkTouched(t, card, res, tc.touches...)
				tc.check(t, f, res, card)
				f.refused(t, tc.refuseBy, tc.refuse(f), tc.faultID)
			})
		}
	}
	// Every write of the WSDL has a case here; reads are
	// TestReadOperations'.
	var wsdlOps []string
	portType := reflect.TypeFor[wsdlclient.MedicineCardPortType]()
	for i := range portType.NumMethod() {
		name := portType.Method(i).Name
		if strings.HasSuffix(name, "Context") || strings.HasPrefix(name, "Get") {
			continue
		}
		if name == "AcknowledgeOrders" { // a write on several cards, answered per order: TestOrderInboxInTheUI
			continue
		}
		wsdlOps = append(wsdlOps, name)
		if !covered[name] {
			t.Errorf("the WSDL's write %s has no case in writeCases", name)
		}
	}
	if len(wsdlOps) != len(covered) {
		t.Errorf("writeCases covers %d operations, the WSDL has %d writes", len(covered), len(wsdlOps))
	}
}

// TestReadOperations reads a card with a dispensing on it through the
// three reads, in SOAP 1.1 and 1.2, and checks each read's fault.
func TestReadOperations(t *testing.T) {
	requireEnv(t)
	for _, soap12 := range []bool{false, true} {
		t.Run(fmt.Sprintf("soap12=%v", soap12), func(t *testing.T) {
			f := newFixture(t, soap12)
			f.dispensed(t)

			t.Run("GetMedicineCard", func(t *testing.T) {
				status, raw := pharmacist.send(t, soap12, &wsdlclient.GetMedicineCardRequest{PersonIdentifier: f.pid()})
				var plain soap.GetMedicineCardResponse
				responseBody(t, status, raw, &plain)
				c := plain.MedicineCard
				if c.MedicineCardVersion != f.v || c.NeedsAttention || c.Reviewed != nil || len(c.DrugMedication) != 1 ||
					len(c.Prescription)+len(c.Order)+len(c.Effectuation) != 0 {
					t.Errorf("card without includes = %+v", c)
				}
				if !strings.Contains(string(raw), "<NeedsAttention>false</NeedsAttention>") {
					t.Errorf("NeedsAttention is required and must be sent when false: %s", raw)
				}
				full := f.card(t).MedicineCard
				if len(full.Prescription) != 1 || len(full.Order) != 1 || len(full.Effectuation) != 1 {
					t.Fatalf("card with includes has %d prescriptions, %d orders, %d effectuations, want 1 of each",
						len(full.Prescription), len(full.Order), len(full.Effectuation))
				}
				if e := full.Effectuation[0]; e.Identifier != f.effectuation || e.OrderIdentifier != f.order || e.PackagesDispensed != 1 {
					t.Errorf("effectuation = %+v", e)
				}
				if p := full.Prescription[0]; p.Dispensings != 1 || p.PackagesDispensed != 1 || p.LastDispensed == nil || p.Status != "Open" {
					t.Errorf("prescription = %+v", p)
				}
				bad := wsdlclient.PersonIdentifierType(notePerson("3213701234"))
				f.refused(t, doctor, &wsdlclient.GetMedicineCardRequest{PersonIdentifier: &bad}, "InvalidPersonIdentifier")
			})

			t.Run("GetDrugMedication", func(t *testing.T) {
				status, raw := nurse.send(t, soap12, &wsdlclient.GetDrugMedicationRequest{PersonIdentifier: f.pid(), DrugMedicationIdentifier: f.dm})
				var got soap.GetDrugMedicationResponse
				responseBody(t, status, raw, &got)
				dm := got.DrugMedication
				if got.MedicineCardVersion != f.v || dm.Identifier != f.dm || dm.Version != 1 || dm.Status != "Active" || dm.Drug.Name != "Pinex" || dm.Conflict != nil {
					t.Errorf("GetDrugMedication = %+v", got)
				}
				f.refused(t, doctor, &wsdlclient.GetDrugMedicationRequest{PersonIdentifier: f.pid(), DrugMedicationIdentifier: 999}, "DrugMedicationNotFound")
			})

			t.Run("GetPrescription", func(t *testing.T) {
				second := itemOf(t, f.write(t, doctor, f.prescribe(f.dm, 1, 0, 0)), "Prescription")
				f.write(t, doctor, &wsdlclient.CancelPrescriptionRequest{PersonIdentifier: f.pid(), MedicineCardVersion: f.v, PrescriptionIdentifier: second})
				get := func(ids ...int64) soap.GetPrescriptionResponse {
					t.Helper()
					status, raw := pharmacist.send(t, soap12, &wsdlclient.GetPrescriptionRequest{PersonIdentifier: f.pid(), PrescriptionIdentifier: ids})
					var got soap.GetPrescriptionResponse
					responseBody(t, status, raw, &got)
					return got
				}
				open := get()
				if open.MedicineCardVersion != f.v || len(open.Prescription) != 1 || open.Prescription[0].Identifier != f.rx ||
					len(open.Order) != 1 || open.Order[0].Identifier != f.order || len(open.Effectuation) != 1 || open.Effectuation[0].Identifier != f.effectuation {
					t.Errorf("open prescriptions = %+v, want %d with its order and effectuation", open, f.rx)
				}
				named := get(second, f.rx)
				var ids []int64
				for _, p := range named.Prescription {
					ids = append(ids, p.Identifier)
				}
				if !slices.Equal(ids, []int64{f.rx, second}) || named.Prescription[1].Status != "Cancelled" {
					t.Errorf("named prescriptions = %+v, want %d and the cancelled %d", named.Prescription, f.rx, second)
				}
				f.refused(t, pharmacist, &wsdlclient.GetPrescriptionRequest{PersonIdentifier: f.pid(), PrescriptionIdentifier: []int64{f.rx, 999}}, "PrescriptionNotFound")
			})
		})
	}
}

// --- a dispensing through SOAP -----------------------------------------------------

// TestDispensingFlow dispenses a prescription of three dispensings 30 days
// apart through SOAP, alternating SOAP 1.1 and 1.2: too early is refused,
// moving the clock on allows it, a terminating dispensing closes the
// prescription and nothing can be ordered on it after.
func TestDispensingFlow(t *testing.T) {
	requireEnv(t)
	f := &fixture{person: freshPerson(t)}
	step := 0
	next := func() *fixture { step++; f.soap12 = step%2 == 0; return f }

	f.dm = itemOf(t, next().write(t, doctor, f.createDM("Pinex")), "DrugMedication")
	f.rx = itemOf(t, next().write(t, doctor, f.prescribe(f.dm, 1, 2, 30)), "Prescription")
	dispense := func(terminate bool) (order, effectuation int64) {
		t.Helper()
		order = itemOf(t, next().write(t, pharmacist, f.createOrder(f.rx)), "Order")
		next().write(t, pharmacist, f.startEffectuation(order))
		effectuation = itemOf(t, next().write(t, pharmacist, f.dispense(order, 1, terminate)), "Effectuation")
		return order, effectuation
	}
	prescription := func() soap.GetPrescriptionResponse {
		t.Helper()
		status, raw := pharmacist.send(t, f.soap12, &wsdlclient.GetPrescriptionRequest{PersonIdentifier: f.pid(), PrescriptionIdentifier: []int64{f.rx}})
		var got soap.GetPrescriptionResponse
		responseBody(t, status, raw, &got)
		return got
	}

	dispense(false)
	if p := prescription().Prescription[0]; p.Status != "Open" || p.Dispensings != 1 || p.PackagesDispensed != 1 {
		t.Fatalf("after the first dispensing: %+v", p)
	}

	// The next order may be placed ahead of time; the effectuation may
	// not start before the interval has passed.
	order := itemOf(t, next().write(t, pharmacist, f.createOrder(f.rx)), "Order")
	next().refused(t, pharmacist, f.startEffectuation(order), "IterationIntervalNotPassed")
	env.clock.advance(31 * 24 * time.Hour)
	next().write(t, pharmacist, f.startEffectuation(order))
	next().refused(t, pharmacist, f.dispense(order, 2, false), "PackagesExceedPrescribed")
	next().write(t, pharmacist, f.dispense(order, 1, false))
	if p := prescription().Prescription[0]; p.Status != "Open" || p.Dispensings != 2 || p.PackagesDispensed != 2 {
		t.Fatalf("after the second dispensing: %+v", p)
	}

	env.clock.advance(31 * 24 * time.Hour)
	_, last := dispense(true)
	got := prescription()
	if p := got.Prescription[0]; p.Status != "Closed" || p.Dispensings != 3 || p.PackagesDispensed != 3 {
		t.Errorf("after the terminating dispensing: %+v, want Closed after 3", p)
	}
	if len(got.Order) != 3 || len(got.Effectuation) != 3 {
		t.Errorf("the prescription has %d orders and %d effectuations, want 3 and 3", len(got.Order), len(got.Effectuation))
	}
	for _, o := range got.Order {
		if o.Status != "Completed" {
			t.Errorf("order %d is %s, want Completed", o.Identifier, o.Status)
		}
	}
	if e := byID(t, got.Effectuation, last); !e.Terminated {
		t.Errorf("the last effectuation = %+v, want Terminated", e)
	}
	next().refused(t, pharmacist, f.createOrder(f.rx), "PrescriptionNotOpen")
	next().refused(t, otherPharmacist, f.createOrder(f.rx), "PrescriptionNotOpen")
	status, raw := pharmacist.send(t, false, &wsdlclient.GetPrescriptionRequest{PersonIdentifier: f.pid()})
	var open soap.GetPrescriptionResponse
	responseBody(t, status, raw, &open)
	if len(open.Prescription) != 0 {
		t.Errorf("open prescriptions = %+v, want none", open.Prescription)
	}
}

// --- two systems, one drug medication ----------------------------------------------

// hospital is a second integrating system with clinicians, registered by
// registerHospital.
var hospital = actor{system: "test-hospital", secret: "test-hospital-secret", role: "Doctor", org: "SOR:hospital-1"}

func registerHospital(t *testing.T) {
	t.Helper()
	catalog, err := env.cluster.NewCatalog()
	if err != nil {
		t.Fatal(err)
	}
	err = catalog.AddSystem(context.Background(), medcard.System{Name: hospital.system, Secret: hospital.secret,
		Roles: []medcard.Role{medcard.RoleDoctor, medcard.RoleNurse}})
	if err != nil && !errors.Is(err, shard.ErrSystemExists) {
		t.Fatal(err)
	}
}

// TestConcurrentDosagesConflict: a GP system and a hospital system change
// the dosage of one drug medication at the same moment, both based on the
// same card version. Both are acknowledged, exactly one is told of the
// conflict, the card needs attention with both dosages kept, dispensing on
// the drug medication's prescriptions is refused until the conflict is
// resolved, and allowed again after.
func TestConcurrentDosagesConflict(t *testing.T) {
	requireEnv(t)
	registerHospital(t)
	f := newFixture(t, false)
	f.ordered(t) // an order placed before the conflict
	other := itemOf(t, f.write(t, doctor, f.prescribe(f.dm, 1, 0, 0)), "Prescription")
	base := f.v

	senders := []struct {
		by     actor
		soap12 bool
		dosage string
	}{
		{doctor, false, "1 tablet morgen"},
		{hospital, true, "2 tabletter morgen og aften"},
	}
	results := make([]soap.WriteResponse, len(senders))
	t.Run("together", func(t *testing.T) {
		for i, s := range senders {
			t.Run(s.by.system, func(t *testing.T) {
				t.Parallel()
				req := f.updateDM(f.dm, s.dosage)
				req.MedicineCardVersion = base
				status, raw := s.by.send(t, s.soap12, req)
				responseBody(t, status, raw, &results[i])
			})
		}
	})
	if t.Failed() {
		t.FailNow()
	}
	conflicts := 0
	var versions []int64
	for i, res := range results {
		versions = append(versions, res.MedicineCardVersion)
		if hasWarning(res, "ConflictWarning") {
			conflicts++
			if !hasWarning(res, "VersionMismatchWarning") {
				t.Errorf("%s: warnings %+v, want VersionMismatchWarning with the ConflictWarning", senders[i].by.system, res.Warning)
			}
		} else if len(res.Warning) != 0 {
			t.Errorf("%s: warnings %+v, want none", senders[i].by.system, res.Warning)
		}
		if itemOf(t, res, "DrugMedication") != f.dm {
			t.Errorf("%s touched %+v, want drug medication %d", senders[i].by.system, res.Item, f.dm)
		}
	}
	slices.Sort(versions)
	if conflicts != 1 || !slices.Equal(versions, []int64{base + 1, base + 2}) {
		t.Fatalf("%d of 2 answers carry ConflictWarning with card versions %v; want exactly 1, versions %d and %d",
			conflicts, versions, base+1, base+2)
	}
	f.v = base + 2

	card := f.card(t).MedicineCard
	dm := byID(t, card.DrugMedication, f.dm)
	if !card.NeedsAttention || dm.Conflict == nil {
		t.Fatalf("card needs attention %v, drug medication conflict %+v; want both", card.NeedsAttention, dm.Conflict)
	}
	var dosages []string
	for _, v := range dm.Conflict.Variant {
		dosages = append(dosages, v.Dosage.Text)
		if v.Status != "Active" {
			t.Errorf("variant %+v, want Active", v)
		}
	}
	slices.Sort(dosages)
	if want := []string{senders[0].dosage, senders[1].dosage}; !slices.Equal(dosages, want) {
		t.Errorf("conflict variants have dosages %q, want %q", dosages, want)
	}
	if dm.Conflict.Rule == "" || dm.Conflict.Time.IsZero() {
		t.Errorf("conflict = %+v, want its rule and time", dm.Conflict)
	}

	// Nothing moves on the drug medication until a person settles it.
	f.refused(t, pharmacist, f.startEffectuation(f.order), "ItemHasUnresolvedConflict")
	f.refused(t, pharmacist, f.createOrder(other), "ItemHasUnresolvedConflict")
	f.refused(t, doctor, f.updateDM(f.dm, "3 tabletter"), "ItemHasUnresolvedConflict")
	f.refused(t, doctor, f.prescribe(f.dm, 1, 0, 0), "ItemHasUnresolvedConflict")

	// The pharmacist settles it at the counter with the doctor: variant 2.
	chosen := dm.Conflict.Variant[1].Dosage.Text
	f.soap12 = true
	f.write(t, pharmacist, &wsdlclient.ResolveConflictRequest{PersonIdentifier: f.pid(), MedicineCardVersion: f.v,
		DrugMedicationIdentifier: f.dm, ChosenVariant: 2})
	card = f.card(t).MedicineCard
	if dm := byID(t, card.DrugMedication, f.dm); card.NeedsAttention || dm.Conflict != nil || dm.Dosage.Text != chosen {
		t.Fatalf("after ResolveConflict: needs attention %v, drug medication %+v; want settled with dosage %q", card.NeedsAttention, dm, chosen)
	}
	f.write(t, pharmacist, f.startEffectuation(f.order))
	e := itemOf(t, f.write(t, pharmacist, f.dispense(f.order, 1, false)), "Effectuation")
	itemOf(t, f.write(t, pharmacist, f.createOrder(other)), "Order")
	if got := byID(t, f.card(t).MedicineCard.Effectuation, e); got.PrescriptionIdentifier != f.rx {
		t.Errorf("effectuation = %+v", got)
	}
}

// TestWithdrawnDrugMedicationInConflictIsShown: a withdrawal and a dosage
// change based on the same version clash; the drug medication stays
// withdrawn with both variants, and the card must show it (and need
// attention) even to a reader who leaves withdrawn items out.
func TestWithdrawnDrugMedicationInConflictIsShown(t *testing.T) {
	requireEnv(t)
	f := newFixture(t, true)
	base := f.v
	f.write(t, doctor, f.withdrawDM(f.dm))
	stale := f.updateDM(f.dm, "1 tablet daglig")
	stale.MedicineCardVersion = base
	if res := f.writeWarned(t, doctor, stale); !hasWarning(res, "ConflictWarning") {
		t.Fatalf("update after a withdrawal warned %+v, want ConflictWarning", res.Warning)
	}
	status, raw := doctor.send(t, f.soap12, &wsdlclient.GetMedicineCardRequest{PersonIdentifier: f.pid()})
	var got soap.GetMedicineCardResponse
	responseBody(t, status, raw, &got)
	c := got.MedicineCard
	if !c.NeedsAttention || len(c.DrugMedication) != 1 || c.DrugMedication[0].Conflict == nil || c.DrugMedication[0].Status != "Withdrawn" {
		t.Fatalf("card without withdrawn items = needs attention %v, drug medications %+v; want the withdrawn one in conflict",
			c.NeedsAttention, c.DrugMedication)
	}
	v := c.DrugMedication[0].Conflict.Variant
	if len(v) != 2 || v[0].Status != "Withdrawn" || v[1].Status != "Active" || v[1].Dosage.Text != "1 tablet daglig" {
		t.Errorf("variants = %+v, want the withdrawal and the active new dosage", v)
	}
	f.write(t, doctor, &wsdlclient.ResolveConflictRequest{PersonIdentifier: f.pid(), MedicineCardVersion: f.v,
		DrugMedicationIdentifier: f.dm, Replacement: &wsdlclient.ConflictReplacementType{Dosage: &wsdlclient.DosageType{Text: "1/2 tablet daglig"}}})
	dm := byID(t, f.card(t).MedicineCard.DrugMedication, f.dm)
	if dm.Status != "Active" || dm.Dosage.Text != "1/2 tablet daglig" || dm.Conflict != nil {
		t.Errorf("after a replacement = %+v, want active with the replacement dosage", dm)
	}
}
