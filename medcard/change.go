package medcard

import (
	"context"
	"fmt"
	"slices"
	"strings"
)

// ChangeRequest is a request to change a card, passed by value to
// Service.Change: CreateDrugMedicationRequest, DrugMedicationRequest,
// CardReviewRequest, UpdateMedicineCardRequest, ResolveConflictRequest,
// CreatePrescriptionRequest, CancelPrescriptionRequest, OrderRequest,
// OrderActionRequest, EffectuationRequest, UndoEffectuationRequest or
// AccessRestrictionRequest. Its
// unexported methods keep the implementations in this package, where the
// rules are.
type ChangeRequest interface {
	// Operation is the write the request asks for. A request type that
	// serves several (DrugMedicationRequest, CardReviewRequest,
	// OrderActionRequest) carries it in a field.
	Operation() Operation
	// target is the card the request changes and the card version it was
	// based on.
	target() (personID string, basedOn int64)
	// validate checks the request's own fields into v and returns the
	// change that applies it. Change calls it only after the caller's
	// role, the person and the base version passed.
	validate(v *validator) change
}

// changeRequests is the one table of write operations and the request type
// that serves each; Change refuses any other pairing, so that a request
// can never run under an operation whose role and rules it was not written
// for.
var changeRequests = map[Operation]func(ChangeRequest) bool{
	OpCreateDrugMedication:       is[CreateDrugMedicationRequest],
	OpUpdateDrugMedication:       is[DrugMedicationRequest],
	OpPauseDrugMedication:        is[DrugMedicationRequest],
	OpUnpauseDrugMedication:      is[DrugMedicationRequest],
	OpWithdrawDrugMedication:     is[DrugMedicationRequest],
	OpUnwithdrawDrugMedication:   is[DrugMedicationRequest],
	OpSetMedicineCardReviewed:    is[CardReviewRequest],
	OpSetMedicineCardNotReviewed: is[CardReviewRequest],
	OpUpdateMedicineCard:         is[UpdateMedicineCardRequest],
	OpResolveConflict:            is[ResolveConflictRequest],
	OpCreatePrescription:         is[CreatePrescriptionRequest],
	OpCancelPrescription:         is[CancelPrescriptionRequest],
	OpCreateOrder:                is[OrderRequest],
	OpCancelOrder:                is[OrderActionRequest],
	OpStartEffectuation:          is[OrderActionRequest],
	OpAbortEffectuation:          is[OrderActionRequest],
	OpAcknowledgeOrders:          is[OrderActionRequest],
	OpCreatePharmacyEffectuation: is[EffectuationRequest],
	OpUndoEffectuation:           is[UndoEffectuationRequest],
	OpSetAccessRestriction:       is[AccessRestrictionRequest],
}

func is[T ChangeRequest](req ChangeRequest) bool {
	_, ok := req.(T)
	return ok
}

// Change runs one write on a person's card: the caller's role first (a
// caller without it learns nothing of our validation), then the person,
// the base version and the request's own fields, then
// read-resolve-modify-write under the idempotency of call.MessageID: a
// resend of the same request gets the stored answer, with Replayed set.
// What each operation does, and the faults of its own, are documented
// with its request type.
//
// Errors: FaultInvalidField (also for an operation the request type does
// not serve), FaultRoleNotAllowed, FaultInvalidPersonID,
// FaultInvalidCardVersion, FaultMissingMessageID, FaultMessageIDReused,
// FaultCardBusy, FaultUnavailable (committed, not yet visible to every
// reader: resend), the operation's own, and the Store's.
func (s *Service) Change(ctx context.Context, call Call, req ChangeRequest) (*WriteResult, error) {
	if req == nil {
		return nil, Errorf(FaultInvalidField, "Change needs a request")
	}
	op := req.Operation()
	if serves, ok := changeRequests[op]; !ok || !serves(req) {
		return nil, unserved(req, op)
	}
	// Setting the reviewed marker with other changes needs the role that
	// setting it alone needs.
	if u, ok := req.(UpdateMedicineCardRequest); ok && u.SetReviewed {
		if err := authorize(call.Caller.Role, OpSetMedicineCardReviewed); err != nil {
			return nil, err
		}
	}
	if err := authorize(call.Caller.Role, op); err != nil {
		return nil, err
	}
	if err := authorizeOverride(call); err != nil {
		return nil, err
	}
	personID, basedOn := req.target()
	person, err := ParsePersonID(personID)
	if err != nil {
		return nil, err
	}
	var v validator
	if basedOn < 0 {
		v.fail(Errorf(FaultInvalidCardVersion, "MedicineCardVersion cannot be negative"))
	}
	apply := req.validate(&v)
	if v.err != nil {
		return nil, v.err
	}
	return s.write(ctx, call, person, op, basedOn, req, apply)
}

// unserved is the fault for a request naming an operation its type does
// not serve: it names the ones it does.
func unserved(req ChangeRequest, op Operation) error {
	name := strings.TrimPrefix(fmt.Sprintf("%T", req), "medcard.")
	var served []string
	for o, serves := range changeRequests {
		if serves(req) {
			served = append(served, string(o))
		}
	}
	slices.Sort(served)
	if len(served) == 0 {
		return Errorf(FaultInvalidField, "%s is not a request Change serves; pass one of the request types by value", name)
	}
	if op == "" {
		return Errorf(FaultInvalidField, "%s names no operation; it serves %s", name, strings.Join(served, ", "))
	}
	return Errorf(FaultInvalidField, "%s serves %s, not %s", name, strings.Join(served, ", "), op)
}
