package medcard

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestDispensingFlow follows one prescription through its life with a
// clock that moves: prescribed with 2 iterations at least 30 days apart,
// ordered, dispensed, refused before the interval, dispensed after it with
// Terminate, and closed.
func TestDispensingFlow(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	dm := f.createDM()
	p := f.prescribe(prescriptionRequest(dm))

	o1 := f.placeOrder(p)
	if got := f.order(o1); got.Status != OrderOpen || got.Pharmacy != pharmacist.Organisation || got.PrescriptionID != p {
		t.Fatalf("order = %+v, want open, held by %s, on prescription %d", got, pharmacist.Organisation, p)
	}
	f.mustStart(o1)
	if got := f.order(o1).Status; got != OrderInProgress {
		t.Fatalf("order after StartEffectuation = %s, want %s", got, OrderInProgress)
	}
	first := f.clock.Now().UTC()
	e1 := f.mustDispense(o1, 2, false)
	wantE1 := Effectuation{ID: e1, Version: 1, CardVersion: f.version(), PrescriptionID: p, OrderID: o1, Packages: 2,
		Pharmacy: pharmacist.Organisation, Created: f.stamp(pharmacist), Modified: f.stamp(pharmacist)}
	if diff := cmp.Diff(wantE1, f.effectuation(e1)); diff != "" {
		t.Errorf("effectuation (-want +got):\n%s", diff)
	}
	if got := f.order(o1).Status; got != OrderCompleted {
		t.Errorf("order after CreatePharmacyEffectuation = %s, want %s", got, OrderCompleted)
	}
	got := f.prescription(p)
	if got.Status != PrescriptionOpen || got.Dispensings != 1 || got.PackagesDispensed != 2 || !got.LastDispensedAt.Equal(first) {
		t.Errorf("prescription after the first dispensing = %s, %d dispensings, %d packages, last %v; want Open, 1, 2, %v",
			got.Status, got.Dispensings, got.PackagesDispensed, got.LastDispensedAt, first)
	}

	// The next iteration may be ordered ahead of time, but not started.
	o2 := f.placeOrder(p)
	f.clock.addDays(29)
	snap := f.m.snapshot()
	_, err := f.orderAct(pharmacist, OpStartEffectuation, o2, f.version())
	wantFault(t, "StartEffectuation after 29 days", err, FaultIterationTooEarly)
	if msg := MessageOf(err); !strings.Contains(msg, "2026-03-31") {
		t.Errorf("IterationIntervalNotPassed message %q does not name the date 2026-03-31", msg)
	}
	wantUnchanged(t, f.m, snap)

	f.clock.addDays(1)
	f.mustStart(o2)
	e2 := f.mustDispense(o2, 1, true)
	got = f.prescription(p)
	if got.Status != PrescriptionClosed || got.Dispensings != 2 || got.PackagesDispensed != 3 {
		t.Errorf("prescription after the terminating dispensing = %s, %d dispensings, %d packages; want Closed, 2, 3",
			got.Status, got.Dispensings, got.PackagesDispensed)
	}
	if e := f.effectuation(e2); !e.Terminated || e.Packages != 1 {
		t.Errorf("terminating effectuation = %+v, want Terminated with 1 package", e)
	}

	snap = f.m.snapshot()
	_, err = f.createOrder(pharmacist, p, f.version())
	wantFault(t, "CreateOrder on a closed prescription", err, FaultPrescriptionNotOpen)
	wantUnchanged(t, f.m, snap)

	// A closed prescription is no longer among the open ones.
	view, err := f.s.GetPrescription(ctx, Call{Caller: pharmacist, MessageID: "r1"}, testPerson, nil)
	if err != nil {
		t.Fatalf("GetPrescription = %v, want nil error", err)
	}
	if len(view.Prescriptions) != 0 || len(view.Orders) != 0 || len(view.Effectuations) != 0 {
		t.Errorf("GetPrescription(open) = %+v, want nothing", view)
	}
}

func TestCreateOrder(t *testing.T) {
	f := newFixture(t)
	p := f.prescribe(prescriptionRequest(f.createDM()))
	res, err := f.createOrder(pharmacist, p, f.version())
	if err != nil {
		t.Fatalf("CreateOrder = %v, want nil error", err)
	}
	o := itemID(t, res, ItemOrder)
	stamp := f.stamp(pharmacist)
	want := Order{ID: o, Version: 1, CardVersion: res.CardVersion, PrescriptionID: p, Pharmacy: "Apotek 1",
		Status: OrderOpen, Created: stamp, Modified: stamp}
	if diff := cmp.Diff(want, f.order(o)); diff != "" {
		t.Errorf("CreateOrder (-want +got):\n%s", diff)
	}
}

func TestCreateOrderRules(t *testing.T) {
	tests := []struct {
		name   string
		caller Caller
		req    CreatePrescriptionRequest
		setup  func(f *fixture, dm, p int64)
		id     int64 // 0: the prescription
		want   *Fault
	}{
		{name: "first order"},
		{name: "second open order, same pharmacy", setup: func(f *fixture, _, p int64) { f.placeOrder(p) }, want: &FaultOpenOrderExists},
		{name: "second open order, another pharmacy", caller: otherPharmacy, setup: func(f *fixture, _, p int64) { f.placeOrder(p) },
			want: &FaultOpenOrderExists},
		{name: "order in progress", setup: func(f *fixture, _, p int64) { f.mustStart(f.placeOrder(p)) }, want: &FaultOpenOrderExists},
		{name: "after the open order was cancelled", setup: func(f *fixture, _, p int64) {
			if _, err := f.orderAct(pharmacist, OpCancelOrder, f.placeOrder(p), f.version()); err != nil {
				f.t.Fatalf("CancelOrder = %v", err)
			}
		}},
		{name: "another pharmacy after a completed order", caller: otherPharmacy, setup: func(f *fixture, _, p int64) { f.dispenseOnce(p, false) }},
		{name: "before the iteration interval", setup: func(f *fixture, _, p int64) { f.dispenseOnce(p, false) }},
		{name: "expired", setup: func(f *fixture, _, _ int64) { f.clock.addDays(2*366 + 1) }, want: &FaultPrescriptionNotValidToday},
		{name: "on its last day", setup: func(f *fixture, _, _ int64) {
			f.clock.set(time.Date(2028, time.March, 1, 22, 0, 0, 0, time.UTC))
		}},
		{name: "not yet valid", req: CreatePrescriptionRequest{ValidFrom: "2026-03-02"}, want: &FaultPrescriptionNotValidToday},
		{name: "cancelled", setup: func(f *fixture, _, p int64) {
			if _, err := f.cancelPrescription(doctor, p, f.version()); err != nil {
				f.t.Fatalf("CancelPrescription = %v", err)
			}
		}, want: &FaultPrescriptionNotOpen},
		{name: "drug medication withdrawn", setup: func(f *fixture, dm, _ int64) { f.mustChangeDM(OpWithdrawDrugMedication, dm, "") },
			want: &FaultDrugMedicationNotActive},
		{name: "drug medication paused", setup: func(f *fixture, dm, _ int64) { f.mustChangeDM(OpPauseDrugMedication, dm, "") }},
		{name: "drug medication in conflict", setup: func(f *fixture, dm, _ int64) { f.makeConflict(dm) }, want: &FaultItemInConflict},
		{name: "unknown prescription", id: 99, want: &FaultPrescriptionNotFound},
		{name: "no identifier", id: -1, want: &FaultRequiredField},
		{name: "doctor", caller: doctor, want: &FaultRoleNotAllowed},
		{name: "nurse", caller: nurse, want: &FaultRoleNotAllowed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			dm := f.createDM()
			req := prescriptionRequest(dm)
			req.ValidFrom = tt.req.ValidFrom
			p := f.prescribe(req)
			if tt.setup != nil {
				tt.setup(f, dm, p)
			}
			id := p
			switch {
			case tt.id > 0:
				id = tt.id
			case tt.id < 0:
				id = 0
			}
			caller := tt.caller
			if caller.Role == "" {
				caller = pharmacist
			}
			snap := f.m.snapshot()
			res, err := f.createOrder(caller, id, f.version())
			if tt.want != nil {
				wantFault(t, "CreateOrder("+tt.name+")", err, *tt.want)
				wantUnchanged(t, f.m, snap)
				return
			}
			if err != nil {
				t.Fatalf("CreateOrder(%s) = %v, want nil error", tt.name, err)
			}
			o := f.order(itemID(t, res, ItemOrder))
			if o.Status != OrderOpen || o.Pharmacy != caller.Organisation || o.PrescriptionID != p {
				t.Errorf("CreateOrder(%s) = %+v, want an open order of %s on %d", tt.name, o, caller.Organisation, p)
			}
		})
	}
}

// TestOrderActions covers CancelOrder, StartEffectuation,
// AbortEffectuation and CreatePharmacyEffectuation in every order state,
// from the wrong pharmacy, and with the wrong number of packages.
func TestOrderActions(t *testing.T) {
	type state int
	const (
		open state = iota
		inProgress
		completed
		cancelled
	)
	type orderCase struct {
		name      string
		op        Operation
		state     state
		caller    Caller                     // empty: pharmacist
		packages  int                        // CreatePharmacyEffectuation only; 0: 2, -1: 0
		setup     func(f *fixture, dm int64) // after the order reached its state
		id        int64                      // 0: the order; -1: no identifier
		want      *Fault
		wantOrder OrderStatus
	}
	tests := []orderCase{
		{name: "cancel open", op: OpCancelOrder, state: open, wantOrder: OrderCancelled},
		{name: "cancel in progress", op: OpCancelOrder, state: inProgress, want: &FaultTransitionNotAllowed},
		{name: "cancel completed", op: OpCancelOrder, state: completed, want: &FaultTransitionNotAllowed},
		{name: "cancel cancelled", op: OpCancelOrder, state: cancelled, want: &FaultTransitionNotAllowed},
		{name: "cancel another pharmacy's", op: OpCancelOrder, state: open, caller: otherPharmacy, want: &FaultOrderOfAnotherPharmacy},

		{name: "acknowledge open", op: OpAcknowledgeOrders, state: open, wantOrder: OrderOpen},
		{name: "acknowledge in progress", op: OpAcknowledgeOrders, state: inProgress, wantOrder: OrderInProgress},
		{name: "acknowledge completed", op: OpAcknowledgeOrders, state: completed, want: &FaultTransitionNotAllowed},
		{name: "acknowledge another pharmacy's", op: OpAcknowledgeOrders, state: open, caller: otherPharmacy, want: &FaultOrderOfAnotherPharmacy},

		{name: "start open", op: OpStartEffectuation, state: open, wantOrder: OrderInProgress},
		{name: "start in progress", op: OpStartEffectuation, state: inProgress, want: &FaultTransitionNotAllowed},
		{name: "start completed", op: OpStartEffectuation, state: completed, want: &FaultTransitionNotAllowed},
		{name: "start cancelled", op: OpStartEffectuation, state: cancelled, want: &FaultTransitionNotAllowed},
		{name: "start another pharmacy's", op: OpStartEffectuation, state: open, caller: otherPharmacy, want: &FaultOrderOfAnotherPharmacy},
		{name: "start, drug medication withdrawn", op: OpStartEffectuation, state: open,
			setup: func(f *fixture, dm int64) { f.mustChangeDM(OpWithdrawDrugMedication, dm, "") }, want: &FaultDrugMedicationNotActive},
		{name: "start, drug medication paused", op: OpStartEffectuation, state: open,
			setup: func(f *fixture, dm int64) { f.mustChangeDM(OpPauseDrugMedication, dm, "") }, wantOrder: OrderInProgress},
		{name: "start, drug medication in conflict", op: OpStartEffectuation, state: open,
			setup: func(f *fixture, dm int64) { f.makeConflict(dm) }, want: &FaultItemInConflict},
		{name: "start, expired", op: OpStartEffectuation, state: open,
			setup: func(f *fixture, _ int64) { f.clock.addDays(3 * 365) }, want: &FaultPrescriptionNotValidToday},

		{name: "abort in progress", op: OpAbortEffectuation, state: inProgress, wantOrder: OrderOpen},
		{name: "abort open", op: OpAbortEffectuation, state: open, want: &FaultEffectuationNotStarted},
		{name: "abort completed", op: OpAbortEffectuation, state: completed, want: &FaultEffectuationNotStarted},
		{name: "abort cancelled", op: OpAbortEffectuation, state: cancelled, want: &FaultEffectuationNotStarted},
		{name: "abort another pharmacy's", op: OpAbortEffectuation, state: inProgress, caller: otherPharmacy, want: &FaultOrderOfAnotherPharmacy},

		{name: "dispense in progress", op: OpCreatePharmacyEffectuation, state: inProgress, wantOrder: OrderCompleted},
		{name: "dispense one package", op: OpCreatePharmacyEffectuation, state: inProgress, packages: 1, wantOrder: OrderCompleted},
		{name: "dispense open", op: OpCreatePharmacyEffectuation, state: open, want: &FaultEffectuationNotStarted},
		{name: "dispense completed", op: OpCreatePharmacyEffectuation, state: completed, want: &FaultEffectuationNotStarted},
		{name: "dispense cancelled", op: OpCreatePharmacyEffectuation, state: cancelled, want: &FaultEffectuationNotStarted},
		{name: "dispense another pharmacy's", op: OpCreatePharmacyEffectuation, state: inProgress, caller: otherPharmacy, want: &FaultOrderOfAnotherPharmacy},
		{name: "dispense too many packages", op: OpCreatePharmacyEffectuation, state: inProgress, packages: 3, want: &FaultTooManyPackages},
		{name: "dispense no packages", op: OpCreatePharmacyEffectuation, state: inProgress, packages: -1, want: &FaultInvalidField},
		{name: "dispense, drug medication withdrawn", op: OpCreatePharmacyEffectuation, state: inProgress,
			setup: func(f *fixture, dm int64) { f.mustChangeDM(OpWithdrawDrugMedication, dm, "") }, want: &FaultDrugMedicationNotActive},
		{name: "dispense, drug medication in conflict", op: OpCreatePharmacyEffectuation, state: inProgress,
			setup: func(f *fixture, dm int64) { f.makeConflict(dm) }, want: &FaultItemInConflict},
	}
	for _, op := range orderOps {
		tests = append(tests,
			orderCase{name: "unknown order", op: op, id: 99, want: &FaultOrderNotFound},
			orderCase{name: "no order identifier", op: op, id: -1, want: &FaultRequiredField},
			orderCase{name: "doctor", op: op, caller: doctor, want: &FaultRoleNotAllowed},
		)
	}
	for _, tt := range tests {
		t.Run(string(tt.op)+"/"+tt.name, func(t *testing.T) {
			f := newFixture(t)
			dm := f.createDM()
			p := f.prescribe(prescriptionRequest(dm))
			o := f.placeOrder(p)
			switch tt.state {
			case inProgress:
				f.mustStart(o)
			case completed:
				f.mustStart(o)
				f.mustDispense(o, 2, false)
			case cancelled:
				if _, err := f.orderAct(pharmacist, OpCancelOrder, o, f.version()); err != nil {
					t.Fatalf("CancelOrder = %v", err)
				}
			}
			if tt.setup != nil {
				tt.setup(f, dm)
			}
			id := o
			switch {
			case tt.id > 0:
				id = tt.id
			case tt.id < 0:
				id = 0
			}
			caller := tt.caller
			if caller.Role == "" {
				caller = pharmacist
			}
			packages := tt.packages
			switch packages {
			case 0:
				packages = 2
			case -1:
				packages = 0
			}
			beforeOrder, beforeP := f.order(o), f.prescription(p)
			snap := f.m.snapshot()
			var res *WriteResult
			var err error
			if tt.op == OpCreatePharmacyEffectuation {
				res, err = f.dispense(caller, id, f.version(), packages, false)
			} else {
				res, err = f.orderAct(caller, tt.op, id, f.version())
			}
			if tt.want != nil {
				wantFault(t, fmt.Sprintf("%s(%s)", tt.op, tt.name), err, *tt.want)
				wantUnchanged(t, f.m, snap)
				return
			}
			if err != nil {
				t.Fatalf("%s(%s) = %v, want nil error", tt.op, tt.name, err)
			}
			wantOrder := beforeOrder
			wantOrder.Status, wantOrder.Version, wantOrder.CardVersion, wantOrder.Modified = tt.wantOrder, beforeOrder.Version+1, res.CardVersion, f.stamp(caller)
			if tt.op == OpAcknowledgeOrders {
				stamp := f.stamp(caller)
				wantOrder.Acknowledged = &stamp
			}
			if diff := cmp.Diff(wantOrder, f.order(o)); diff != "" {
				t.Errorf("%s(%s): order (-want +got):\n%s", tt.op, tt.name, diff)
			}
			wantP := beforeP
			if tt.op == OpCreatePharmacyEffectuation {
				wantP.Dispensings, wantP.PackagesDispensed, wantP.LastDispensedAt = 1, packages, f.clock.Now().UTC()
				wantP.Version, wantP.CardVersion, wantP.Modified = beforeP.Version+1, res.CardVersion, f.stamp(caller)
				wantP.LastOperation = OpCreatePharmacyEffectuation
			}
			if diff := cmp.Diff(wantP, f.prescription(p)); diff != "" {
				t.Errorf("%s(%s): prescription (-want +got):\n%s", tt.op, tt.name, diff)
			}
		})
	}
}

func TestUndoEffectuation(t *testing.T) {
	t.Run("reopens a closed prescription", func(t *testing.T) {
		f := newFixture(t)
		req := prescriptionRequest(f.createDM())
		req.Iterations = 0
		p := f.prescribe(req)
		_, e := f.dispenseOnce(p, false)
		before := f.prescription(p)
		if before.Status != PrescriptionClosed {
			t.Fatalf("prescription after its only dispensing = %s, want %s", before.Status, PrescriptionClosed)
		}
		f.clock.add(time.Hour)
		res, err := f.undo(pharmacist, e)
		if err != nil {
			t.Fatalf("UndoEffectuation = %v, want nil error", err)
		}
		want := before
		want.Status, want.Dispensings, want.PackagesDispensed, want.LastDispensedAt = PrescriptionOpen, 0, 0, time.Time{}
		want.Version, want.CardVersion, want.Modified, want.LastOperation = before.Version+1, res.CardVersion, f.stamp(pharmacist), OpUndoEffectuation
		if diff := cmp.Diff(want, f.prescription(p)); diff != "" {
			t.Errorf("prescription after UndoEffectuation (-want +got):\n%s", diff)
		}
		if got := f.effectuation(e); !got.Undone || got.Version != 2 || got.CardVersion != res.CardVersion {
			t.Errorf("effectuation after UndoEffectuation = %+v, want undone at version 2", got)
		}
		// It can be dispensed again.
		f.dispenseOnce(p, false)

		snap := f.m.snapshot()
		_, err = f.undo(pharmacist, e)
		wantFault(t, "UndoEffectuation twice", err, FaultEffectuationUndone)
		wantUnchanged(t, f.m, snap)
	})

	t.Run("restores the dispensing count and the last dispensing", func(t *testing.T) {
		f := newFixture(t)
		p := f.prescribe(prescriptionRequest(f.createDM()))
		first := f.clock.Now().UTC()
		f.dispenseOnce(p, false)
		f.clock.addDays(30)
		_, e2 := f.dispenseOnce(p, false)
		if _, err := f.undo(pharmacist, e2); err != nil {
			t.Fatalf("UndoEffectuation = %v, want nil error", err)
		}
		got := f.prescription(p)
		if got.Status != PrescriptionOpen || got.Dispensings != 1 || got.PackagesDispensed != 2 || !got.LastDispensedAt.Equal(first) {
			t.Errorf("after undoing the second dispensing: %s, %d dispensings, %d packages, last %v; want Open, 1, 2, %v",
				got.Status, got.Dispensings, got.PackagesDispensed, got.LastDispensedAt, first)
		}
		// The interval counts from the first dispensing again.
		f.dispenseOnce(p, false)
	})

	t.Run("a prescription terminated by another dispensing stays closed", func(t *testing.T) {
		f := newFixture(t)
		req := prescriptionRequest(f.createDM())
		req.IterationIntervalDays = 0
		p := f.prescribe(req)
		_, e1 := f.dispenseOnce(p, false)
		_, e2 := f.dispenseOnce(p, true)
		if _, err := f.undo(pharmacist, e1); err != nil {
			t.Fatalf("UndoEffectuation(first) = %v, want nil error", err)
		}
		if got := f.prescription(p); got.Status != PrescriptionClosed || got.Dispensings != 1 {
			t.Errorf("after undoing a dispensing that did not terminate: %s with %d dispensings, want Closed with 1", got.Status, got.Dispensings)
		}
		// Undoing the terminating one reopens it.
		if _, err := f.undo(pharmacist, e2); err != nil {
			t.Fatalf("UndoEffectuation(terminating) = %v, want nil error", err)
		}
		if got := f.prescription(p); got.Status != PrescriptionOpen || got.Dispensings != 0 {
			t.Errorf("after undoing both: %s with %d dispensings, want Open with 0", got.Status, got.Dispensings)
		}
	})

	t.Run("a cancelled prescription stays cancelled", func(t *testing.T) {
		f := newFixture(t)
		p := f.prescribe(prescriptionRequest(f.createDM()))
		_, e := f.dispenseOnce(p, false)
		if _, err := f.cancelPrescription(doctor, p, f.version()); err != nil {
			t.Fatalf("CancelPrescription = %v", err)
		}
		if _, err := f.undo(pharmacist, e); err != nil {
			t.Fatalf("UndoEffectuation = %v, want nil error", err)
		}
		if got := f.prescription(p); got.Status != PrescriptionCancelled || got.Dispensings != 0 {
			t.Errorf("after undo: %s with %d dispensings, want Cancelled with 0", got.Status, got.Dispensings)
		}
	})

	for _, tt := range []struct {
		name   string
		caller Caller
		id     int64 // 0: the effectuation
		want   Fault
	}{
		{"another pharmacy", otherPharmacy, 0, FaultOrderOfAnotherPharmacy},
		{"unknown effectuation", pharmacist, 99, FaultEffectuationNotFound},
		{"no identifier", pharmacist, -1, FaultRequiredField},
		{"doctor", doctor, 0, FaultRoleNotAllowed},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			p := f.prescribe(prescriptionRequest(f.createDM()))
			_, e := f.dispenseOnce(p, false)
			switch {
			case tt.id > 0:
				e = tt.id
			case tt.id < 0:
				e = 0
			}
			snap := f.m.snapshot()
			_, err := f.undo(tt.caller, e)
			wantFault(t, "UndoEffectuation("+tt.name+")", err, tt.want)
			wantUnchanged(t, f.m, snap)
		})
	}
}

// TestRolesPrescribeAndDispense checks the split of duties: a pharmacist
// cannot prescribe, a doctor cannot order or dispense.
func TestRolesPrescribeAndDispense(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	dm := f.createDM()
	req := prescriptionRequest(dm)
	req.BasedOnCardVersion = f.version()
	_, err := f.s.Change(ctx, f.call(pharmacist), req)
	wantFault(t, "CreatePrescription as pharmacist", err, FaultRoleNotAllowed)

	p := f.prescribe(req)
	_, err = f.createOrder(doctor, p, f.version())
	wantFault(t, "CreateOrder as doctor", err, FaultRoleNotAllowed)
	o := f.placeOrder(p)
	for _, op := range []Operation{OpStartEffectuation, OpAbortEffectuation, OpCancelOrder} {
		_, err = f.orderAct(doctor, op, o, f.version())
		wantFault(t, string(op)+" as doctor", err, FaultRoleNotAllowed)
	}
	f.mustStart(o)
	_, err = f.dispense(doctor, o, f.version(), 1, false)
	wantFault(t, "CreatePharmacyEffectuation as doctor", err, FaultRoleNotAllowed)
	e := f.mustDispense(o, 1, false)
	_, err = f.undo(doctor, e)
	wantFault(t, "UndoEffectuation as doctor", err, FaultRoleNotAllowed)
	_, err = f.cancelPrescription(pharmacist, p, f.version())
	wantFault(t, "CancelPrescription as pharmacist", err, FaultRoleNotAllowed)
}

// --- Reads -------------------------------------------------------------------

func TestGetDrugMedication(t *testing.T) {
	f := newFixture(t)
	id := f.createDM()
	f.createDM()
	ctx := context.Background()
	for _, c := range []Caller{doctor, nurse, pharmacist} {
		got, err := f.s.GetDrugMedication(ctx, Call{Caller: c, MessageID: "r1"}, testPerson, id)
		if err != nil {
			t.Fatalf("GetDrugMedication as %s = %v, want nil error", c.Role, err)
		}
		if diff := cmp.Diff(&DrugMedicationView{CardVersion: 2, DrugMedication: f.dm(id)}, got); diff != "" {
			t.Errorf("GetDrugMedication as %s (-want +got):\n%s", c.Role, diff)
		}
	}
	for _, tt := range []struct {
		id   int64
		want Fault
	}{{99, FaultDrugMedicationNotFound}, {0, FaultRequiredField}, {-3, FaultRequiredField}} {
		got, err := f.s.GetDrugMedication(ctx, Call{Caller: doctor, MessageID: "r2"}, testPerson, tt.id)
		wantFault(t, fmt.Sprintf("GetDrugMedication(%d)", tt.id), err, tt.want)
		if got != nil {
			t.Errorf("GetDrugMedication(%d) = %+v, want nil", tt.id, got)
		}
	}
	_, err := f.s.GetDrugMedication(ctx, Call{Caller: doctor, MessageID: "r3"}, "3201801234", id)
	wantFault(t, "GetDrugMedication(invalid person)", err, FaultInvalidPersonID)
}

func TestGetPrescription(t *testing.T) {
	f := newFixture(t)
	dm := f.createDM()
	open := f.prescribe(prescriptionRequest(dm))
	cancelled := f.prescribe(prescriptionRequest(dm))
	closed := f.prescribe(prescriptionRequest(dm))
	other := f.prescribe(prescriptionRequest(dm))
	oOpen, eOpen := f.dispenseOnce(open, false)
	oOpen2 := f.placeOrder(open)
	if _, err := f.cancelPrescription(doctor, cancelled, f.version()); err != nil {
		t.Fatalf("CancelPrescription = %v", err)
	}
	oClosed, eClosed := f.dispenseOnce(closed, true)
	card := f.card()
	ctx := context.Background()
	type ids struct{ Prescriptions, Orders, Effectuations []int64 }
	idsOf := func(v *PrescriptionsView) ids {
		var got ids
		for _, p := range v.Prescriptions {
			got.Prescriptions = append(got.Prescriptions, p.ID)
		}
		for _, o := range v.Orders {
			got.Orders = append(got.Orders, o.ID)
		}
		for _, e := range v.Effectuations {
			got.Effectuations = append(got.Effectuations, e.ID)
		}
		return got
	}
	tests := []struct {
		name string
		ids  []int64
		want ids
	}{
		{"all open ones", nil, ids{[]int64{open, other}, []int64{oOpen, oOpen2}, []int64{eOpen}}},
		{"a closed one by name", []int64{closed}, ids{[]int64{closed}, []int64{oClosed}, []int64{eClosed}}},
		{"a cancelled and an open one", []int64{cancelled, open}, ids{[]int64{open, cancelled}, []int64{oOpen, oOpen2}, []int64{eOpen}}},
	}
	for _, tt := range tests {
		view, err := f.s.GetPrescription(ctx, Call{Caller: pharmacist, MessageID: "r1"}, testPerson, tt.ids)
		if err != nil {
			t.Fatalf("GetPrescription(%v) = %v, want nil error", tt.ids, err)
		}
		if view.CardVersion != card.Version {
			t.Errorf("GetPrescription(%v) CardVersion = %d, want %d", tt.ids, view.CardVersion, card.Version)
		}
		if diff := cmp.Diff(tt.want, idsOf(view)); diff != "" {
			t.Errorf("GetPrescription(%s) (-want +got):\n%s", tt.name, diff)
		}
	}
	view, err := f.s.GetPrescription(ctx, Call{Caller: doctor, MessageID: "r2"}, testPerson, []int64{open})
	if err != nil {
		t.Fatalf("GetPrescription(%d) = %v, want nil error", open, err)
	}
	if diff := cmp.Diff([]Prescription{*card.prescription(open)}, view.Prescriptions); diff != "" {
		t.Errorf("GetPrescription(%d) (-want +got):\n%s", open, diff)
	}
	_, err = f.s.GetPrescription(ctx, Call{Caller: pharmacist, MessageID: "r3"}, testPerson, []int64{open, 99})
	wantFault(t, "GetPrescription(unknown)", err, FaultPrescriptionNotFound)
	_, err = f.s.GetPrescription(ctx, Call{Caller: pharmacist, MessageID: "r4"}, testPerson, make([]int64, 101))
	wantFault(t, "GetPrescription(101 identifiers)", err, FaultInvalidField)
}

func TestGetMedicineCardIncludes(t *testing.T) {
	f := newFixture(t)
	active := f.createDM()
	withdrawnFirst := f.createDM()
	withdrawnLater := f.createDM()
	p := f.prescribe(prescriptionRequest(active))
	o, e := f.dispenseOnce(p, false)
	f.mustChangeDM(OpWithdrawDrugMedication, withdrawnFirst, "") // on 2026-03-01
	f.clock.addDays(10)
	f.mustChangeDM(OpWithdrawDrugMedication, withdrawnLater, "") // on 2026-03-11
	ctx := context.Background()

	type ids struct{ DrugMedications, Prescriptions, Orders, Effectuations []int64 }
	tests := []struct {
		name string
		q    CardQuery
		want ids
	}{
		{"default", CardQuery{}, ids{DrugMedications: []int64{active}}},
		{"with prescriptions", CardQuery{IncludePrescriptions: true},
			ids{DrugMedications: []int64{active}, Prescriptions: []int64{p}, Orders: []int64{o}}},
		{"with effectuations", CardQuery{IncludeEffectuations: true},
			ids{DrugMedications: []int64{active}, Effectuations: []int64{e}}},
		{"with both", CardQuery{IncludePrescriptions: true, IncludeEffectuations: true},
			ids{DrugMedications: []int64{active}, Prescriptions: []int64{p}, Orders: []int64{o}, Effectuations: []int64{e}}},
		{"withdrawn since before both", CardQuery{IncludeWithdrawnSince: "2026-01-01"},
			ids{DrugMedications: []int64{active, withdrawnFirst, withdrawnLater}}},
		{"withdrawn since the day of the first", CardQuery{IncludeWithdrawnSince: "2026-03-01"},
			ids{DrugMedications: []int64{active, withdrawnFirst, withdrawnLater}}},
		{"withdrawn since the day after the first", CardQuery{IncludeWithdrawnSince: "2026-03-02"},
			ids{DrugMedications: []int64{active, withdrawnLater}}},
		{"withdrawn since the day of the second", CardQuery{IncludeWithdrawnSince: "2026-03-11"},
			ids{DrugMedications: []int64{active, withdrawnLater}}},
		{"withdrawn since after both", CardQuery{IncludeWithdrawnSince: "2026-03-12"},
			ids{DrugMedications: []int64{active}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.q.PersonID = testPerson
			card, err := f.s.GetMedicineCard(ctx, Call{Caller: doctor, MessageID: "r1"}, tt.q)
			if err != nil {
				t.Fatalf("GetMedicineCard(%+v) = %v, want nil error", tt.q, err)
			}
			var got ids
			for _, x := range card.DrugMedications {
				got.DrugMedications = append(got.DrugMedications, x.ID)
			}
			for _, x := range card.Prescriptions {
				got.Prescriptions = append(got.Prescriptions, x.ID)
			}
			for _, x := range card.Orders {
				got.Orders = append(got.Orders, x.ID)
			}
			for _, x := range card.Effectuations {
				got.Effectuations = append(got.Effectuations, x.ID)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("GetMedicineCard(%s) (-want +got):\n%s", tt.name, diff)
			}
			if card.Version != f.version() {
				t.Errorf("GetMedicineCard(%s) version = %d, want %d", tt.name, card.Version, f.version())
			}
		})
	}
	_, err := f.s.GetMedicineCard(ctx, Call{Caller: doctor, MessageID: "r2"}, CardQuery{PersonID: testPerson, IncludeWithdrawnSince: "2026-02-30"})
	wantFault(t, "GetMedicineCard(IncludeWithdrawnSince 2026-02-30)", err, FaultInvalidField)
}

// TestGetMedicineCardShowsConflicts checks that an item whose conflict
// needs a person is on the card even if its stored variant is withdrawn:
// the card says it needs attention, so the item to settle must be there.
func TestGetMedicineCardShowsConflicts(t *testing.T) {
	f := newFixture(t)
	id := f.createDM()
	base := f.version()
	f.mustChangeDM(OpWithdrawDrugMedication, id, "")
	if res, err := f.changeDM(doctor, OpUpdateDrugMedication, id, base, "1 tablet"); err != nil || !hasWarning(res, WarningConflict) {
		t.Fatalf("UpdateDrugMedication after a withdrawal = %+v, %v; want a ConflictWarning", res, err)
	}
	f.clock.addDays(5)
	card, err := f.s.GetMedicineCard(context.Background(), Call{Caller: doctor, MessageID: "r1"}, CardQuery{PersonID: testPerson})
	if err != nil {
		t.Fatalf("GetMedicineCard = %v, want nil error", err)
	}
	if !card.NeedsAttention() || len(card.DrugMedications) != 1 || card.DrugMedications[0].Conflict == nil {
		t.Errorf("GetMedicineCard = needs attention %v with %d items, want the conflicted item", card.NeedsAttention(), len(card.DrugMedications))
	}
}
