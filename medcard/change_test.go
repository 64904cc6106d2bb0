package medcard

import (
	"context"
	"strings"
	"testing"
)

// TestChangeRefusesAnOperationItsRequestDoesNotServe: a request naming an
// operation its type was not written for is invalid, whoever asks (even a
// role that may call the operation named), and nothing is written.
func TestChangeRefusesAnOperationItsRequestDoesNotServe(t *testing.T) {
	review := CardReviewRequest{PersonID: testPerson, BasedOnCardVersion: 1}
	tests := []struct {
		name   string
		caller Caller
		req    ChangeRequest
		// inMessage must appear in the fault's message.
		inMessage string
	}{
		{"review without an operation", doctor, review, "CardReviewRequest names no operation; it serves SetMedicineCardNotReviewed, SetMedicineCardReviewed"},
		{"review as a pause", doctor, CardReviewRequest{Op: OpPauseDrugMedication, PersonID: testPerson, BasedOnCardVersion: 1},
			"CardReviewRequest serves SetMedicineCardNotReviewed, SetMedicineCardReviewed, not PauseDrugMedication"},
		{"review as a read", pharmacist, CardReviewRequest{Op: OpGetMedicineCard, PersonID: testPerson, BasedOnCardVersion: 1}, "not GetMedicineCard"},
		{"drug medication change as a creation", doctor, DrugMedicationRequest{PersonID: testPerson, BasedOnCardVersion: 1,
			Change: DrugMedicationChange{Op: OpCreateDrugMedication, DrugMedicationID: 1}}, "not CreateDrugMedication"},
		{"drug medication change without an operation", nurse, DrugMedicationRequest{PersonID: testPerson, BasedOnCardVersion: 1,
			Change: DrugMedicationChange{DrugMedicationID: 1}}, "DrugMedicationRequest names no operation"},
		{"order action as a dispensing", pharmacist, OrderActionRequest{Op: OpCreatePharmacyEffectuation, PersonID: testPerson, BasedOnCardVersion: 1, OrderID: 1},
			"OrderActionRequest serves AbortEffectuation, AcknowledgeOrders, CancelOrder, StartEffectuation, not CreatePharmacyEffectuation"},
		{"order action without an operation", pharmacist, OrderActionRequest{PersonID: testPerson, BasedOnCardVersion: 1, OrderID: 1}, "names no operation"},
		{"a request by pointer", doctor, &CardReviewRequest{Op: OpSetMedicineCardReviewed, PersonID: testPerson, BasedOnCardVersion: 1}, "pass one of the request types by value"},
		{"no request", doctor, nil, "Change needs a request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			f.createDM()
			snap := f.m.snapshot()
			res, err := f.s.Change(context.Background(), f.call(tt.caller), tt.req)
			wantFault(t, "Change", err, FaultInvalidField)
			if res != nil {
				t.Errorf("Change result = %+v, want nil", res)
			}
			if !strings.Contains(MessageOf(err), tt.inMessage) {
				t.Errorf("Change fault message = %q, want it to contain %q", MessageOf(err), tt.inMessage)
			}
			wantUnchanged(t, f.m, snap)
		})
	}
}

// TestEveryWriteHasItsRequestType: every operation with roles that is not
// a read has a request type in changeRequests, and nothing else has.
func TestEveryWriteHasItsRequestType(t *testing.T) {
	reads := map[Operation]bool{OpGetMedicineCard: true, OpGetDrugMedication: true, OpGetPrescription: true, OpGetNewOrders: true,
		OpGetAccessLog: true}
	for op := range permissions {
		if _, ok := changeRequests[op]; ok == reads[op] {
			t.Errorf("changeRequests[%s] present = %v, want %v", op, ok, !reads[op])
		}
	}
	for op := range changeRequests {
		if _, ok := permissions[op]; !ok {
			t.Errorf("changeRequests names %s, which has no roles in permissions", op)
		}
	}
}

// TestChangeResendOfARequestCarryingItsOperation: the operation is part of
// the hash even where the request's canonical form leaves it out, so the
// same MessageID with the other operation is a different request.
func TestChangeResendOfARequestCarryingItsOperation(t *testing.T) {
	f := newFixture(t)
	f.createDM()
	ctx := context.Background()
	call := f.call(doctor)
	req := CardReviewRequest{Op: OpSetMedicineCardReviewed, PersonID: testPerson, BasedOnCardVersion: 1}
	first, err := f.s.Change(ctx, call, req)
	if err != nil {
		t.Fatalf("Change(%s) = %v, want nil error", req.Op, err)
	}
	again, err := f.s.Change(ctx, call, req)
	if err != nil || !again.Replayed || again.CardVersion != first.CardVersion {
		t.Errorf("resend of %s = %+v, %v; want the stored answer (card version %d)", req.Op, again, err, first.CardVersion)
	}
	req.Op = OpSetMedicineCardNotReviewed
	_, err = f.s.Change(ctx, call, req)
	wantFault(t, "Change(SetMedicineCardNotReviewed) under the MessageID of SetMedicineCardReviewed", err, FaultMessageIDReused)
}
