package medcard

import (
	"context"
	"fmt"
)

// DrugMedicationChange is one change to an existing drug medication: an
// update (new dosage, and optionally indication and end date), a pause or
// its end, a withdrawal or its undoing.
type DrugMedicationChange struct {
	Op               Operation // one of drugMedicationChanges
	DrugMedicationID int64
	// For updates only.
	Dosage     Dosage
	Indication Indication // empty: unchanged
	EndDate    string     // empty: unchanged
}

// DrugMedicationRequest is a single change to one drug medication.
type DrugMedicationRequest struct {
	PersonID           string
	BasedOnCardVersion int64
	Change             DrugMedicationChange
}

// UpdateDrugMedication gives a drug medication a new dosage (and
// optionally indication and end date).
//
// Errors: as ChangeDrugMedication.
func (s *Service) UpdateDrugMedication(ctx context.Context, call Call, req DrugMedicationRequest) (*WriteResult, error) {
	req.Change.Op = OpUpdateDrugMedication
	return s.changeDrugMedication(ctx, call, req)
}

// PauseDrugMedication pauses an active drug medication.
func (s *Service) PauseDrugMedication(ctx context.Context, call Call, req DrugMedicationRequest) (*WriteResult, error) {
	req.Change.Op = OpPauseDrugMedication
	return s.changeDrugMedication(ctx, call, req)
}

// UnpauseDrugMedication resumes a paused drug medication.
func (s *Service) UnpauseDrugMedication(ctx context.Context, call Call, req DrugMedicationRequest) (*WriteResult, error) {
	req.Change.Op = OpUnpauseDrugMedication
	return s.changeDrugMedication(ctx, call, req)
}

// WithdrawDrugMedication stops a drug medication.
func (s *Service) WithdrawDrugMedication(ctx context.Context, call Call, req DrugMedicationRequest) (*WriteResult, error) {
	req.Change.Op = OpWithdrawDrugMedication
	return s.changeDrugMedication(ctx, call, req)
}

// UnwithdrawDrugMedication reinstates a withdrawn drug medication as active.
func (s *Service) UnwithdrawDrugMedication(ctx context.Context, call Call, req DrugMedicationRequest) (*WriteResult, error) {
	req.Change.Op = OpUnwithdrawDrugMedication
	return s.changeDrugMedication(ctx, call, req)
}

// changeDrugMedication runs one drug medication change.
//
// Errors: FaultRoleNotAllowed, FaultMissingMessageID, FaultInvalidPersonID,
// FaultRequiredField, FaultInvalidField, FaultInvalidCardVersion,
// FaultDrugMedicationNotFound, FaultItemInConflict,
// FaultTransitionNotAllowed, FaultMessageIDReused, FaultCardBusy, and the
// Store's.
func (s *Service) changeDrugMedication(ctx context.Context, call Call, req DrugMedicationRequest) (*WriteResult, error) {
	return s.modify(ctx, call, req.Change.Op, req.PersonID, req.BasedOnCardVersion, req,
		func(v *validator) change {
			apply := req.Change.validate(v, "")
			return func(m *mutation) error { return apply(m) }
		})
}

// validate checks the change's own fields and returns the change that
// applies it, resolving against changes made since the request's base.
func (ch DrugMedicationChange) validate(v *validator, prefix string) func(m *mutation) error {
	v.identifier(prefix+"DrugMedicationIdentifier", ch.DrugMedicationID)
	var end Date
	if ch.Op == OpUpdateDrugMedication {
		v.required(prefix+"Dosage/Text", ch.Dosage.Text)
		v.maxLength(prefix+"Dosage/Text", ch.Dosage.Text, 1000)
		v.maxLength(prefix+"Indication/Text", ch.Indication.Text, 500)
		v.maxLength(prefix+"Indication/Code", ch.Indication.Code, 50)
		end = v.date(prefix+"EndDate", ch.EndDate, false)
	}
	return func(m *mutation) error {
		dm, err := m.card.findDrugMedication(ch.DrugMedicationID)
		if err != nil {
			return err
		}
		if dm.Conflict != nil {
			return Errorf(FaultItemInConflict, "drug medication %d has an unresolved conflict; resolve it first", dm.ID)
		}
		proposed := *dm
		ch.applyTo(&proposed, end)
		if ch.Op == OpUpdateDrugMedication && end != "" && end < proposed.BeginDate {
			return Errorf(FaultInvalidField, "%sEndDate is before the drug medication's BeginDate", prefix)
		}
		// A change this request already made to the item is its own,
		// not one made since its base.
		if m.changedSince(dm.CardVersion) {
			cell := merge(dm.LastOperation, ch.Op)
			resolution, why := cell.Resolution, cell.Why
			if ch.Op == OpUpdateDrugMedication && sameTreatment(*dm, proposed) {
				resolution, why = KeepTheirs, "the same change was made since" // the same update twice is one update
			}
			switch resolution {
			case KeepTheirs:
				m.warn(WarningSuperseded, fmt.Sprintf("drug medication %d: %s was not applied: %s", dm.ID, ch.Op, why))
				return nil
			case NeedsPerson:
				current := *dm
				dm.Conflict = &Conflict{Rule: string(cell.Theirs) + "/" + string(cell.Ours) + ": " + cell.Why,
					At: m.stamp.At, Variants: []DrugMedication{current, proposed}}
				m.bump(dm, ch.Op)
				m.warn(WarningConflict, fmt.Sprintf("drug medication %d: %s clashes with a change made since: %s; both variants are kept until the conflict is resolved",
					dm.ID, ch.Op, cell.Why))
				return nil
			}
		}
		if err := checkDrugMedicationTransition(dm.Status, ch.Op); err != nil {
			return err
		}
		*dm = proposed
		m.bump(dm, ch.Op)
		return nil
	}
}

// applyTo makes the change on dm, without checking whether it is allowed.
// It also builds the second variant of a conflict: an update of a
// withdrawn item is a wish to continue the treatment, so that variant is
// active.
func (ch DrugMedicationChange) applyTo(dm *DrugMedication, end Date) {
	switch ch.Op {
	case OpUpdateDrugMedication:
		dm.Dosage = ch.Dosage
		if ch.Indication.Text != "" {
			dm.Indication = ch.Indication
		}
		if end != "" {
			dm.EndDate = end
		}
		if dm.Status == DrugMedicationWithdrawn {
			dm.Status = DrugMedicationActive
		}
	default:
		if to := drugMedicationTransitions[ch.Op].to; to != "" {
			dm.Status = to
		}
	}
}

// sameTreatment reports whether two variants of a drug medication say the
// same thing to a patient.
func sameTreatment(a, b DrugMedication) bool {
	return a.Status == b.Status && a.Dosage == b.Dosage && a.Indication == b.Indication && a.EndDate == b.EndDate
}

// bump records that dm changed in this write by op.
func (m *mutation) bump(dm *DrugMedication, op Operation) {
	dm.Version++
	dm.CardVersion = m.card.Version
	dm.Modified = m.stamp
	dm.LastOperation = op
	m.touched(ItemDrugMedication, dm.ID, dm.Version)
}

// CardReviewRequest marks the card reviewed or not reviewed.
type CardReviewRequest struct {
	PersonID           string
	BasedOnCardVersion int64
}

// SetMedicineCardReviewed records that a doctor reviewed the card as it
// was at BasedOnCardVersion: what they saw, not changes made since.
//
// Errors: FaultRoleNotAllowed, FaultMissingMessageID, FaultInvalidPersonID,
// FaultInvalidCardVersion, FaultMessageIDReused, FaultCardBusy, and the
// Store's.
func (s *Service) SetMedicineCardReviewed(ctx context.Context, call Call, req CardReviewRequest) (*WriteResult, error) {
	return s.modify(ctx, call, OpSetMedicineCardReviewed, req.PersonID, req.BasedOnCardVersion, req,
		func(*validator) change { return setReviewed })
}

// SetMedicineCardNotReviewed removes the reviewed marker.
//
// Errors: as SetMedicineCardReviewed.
func (s *Service) SetMedicineCardNotReviewed(ctx context.Context, call Call, req CardReviewRequest) (*WriteResult, error) {
	return s.modify(ctx, call, OpSetMedicineCardNotReviewed, req.PersonID, req.BasedOnCardVersion, req,
		func(*validator) change {
			return func(m *mutation) error { m.card.Reviewed = nil; return nil }
		})
}

func setReviewed(m *mutation) error {
	m.card.Reviewed = &Reviewed{By: m.stamp.By, At: m.stamp.At, CardVersion: m.basedOn}
	return nil
}

// UpdateMedicineCardRequest is several changes to one card that must all
// happen or none: a hospital discharge, say.
type UpdateMedicineCardRequest struct {
	PersonID           string
	BasedOnCardVersion int64
	Create             []NewDrugMedication
	Change             []DrugMedicationChange // Op must be one of the five drug medication changes
	SetReviewed        bool
}

// UpdateMedicineCard applies all of req's changes in one atomic write, each
// resolved against changes made since the base as its single operation
// would be.
//
// Errors: as CreateDrugMedication and ChangeDrugMedication; the first
// failing change fails the whole request and nothing is written.
func (s *Service) UpdateMedicineCard(ctx context.Context, call Call, req UpdateMedicineCardRequest) (*WriteResult, error) {
	if req.SetReviewed {
		if err := authorize(call.Caller.Role, OpSetMedicineCardReviewed); err != nil {
			return nil, err
		}
	}
	return s.modify(ctx, call, OpUpdateMedicineCard, req.PersonID, req.BasedOnCardVersion, req,
		func(v *validator) change {
			if len(req.Create)+len(req.Change) == 0 && !req.SetReviewed {
				v.fail(Errorf(FaultRequiredField, "UpdateMedicineCard needs at least one change"))
			}
			if len(req.Create)+len(req.Change) > 200 {
				v.fail(Errorf(FaultInvalidField, "UpdateMedicineCard takes at most 200 changes"))
			}
			var steps []func(m *mutation) error
			for i, nd := range req.Create {
				add := nd.validate(v, fmt.Sprintf("Create[%d]/", i+1))
				steps = append(steps, func(m *mutation) error { add(m); return nil })
			}
			for i, ch := range req.Change {
				if _, ok := drugMedicationTransitions[ch.Op]; !ok {
					v.fail(Errorf(FaultInvalidField, "Change[%d] has no known operation", i+1))
					continue
				}
				steps = append(steps, ch.validate(v, fmt.Sprintf("Change[%d]/", i+1)))
			}
			return func(m *mutation) error {
				for _, step := range steps {
					if err := step(m); err != nil {
						return err
					}
				}
				if req.SetReviewed {
					return setReviewed(m)
				}
				return nil
			}
		})
}

// ResolveConflictRequest settles a conflicted drug medication: either pick
// one of its variants (1 or 2), or give a replacement dosage (and
// optionally status) that supersedes both.
type ResolveConflictRequest struct {
	PersonID           string
	BasedOnCardVersion int64
	DrugMedicationID   int64
	ChosenVariant      int                  // 1 or 2; 0 with a Replacement
	Replacement        *ConflictReplacement // nil with a ChosenVariant
}

// ConflictReplacement is a clinician's own answer to a conflict.
type ConflictReplacement struct {
	Dosage Dosage
	Status DrugMedicationStatus // empty: Active
}

// ResolveConflict settles a conflict on a drug medication; dispensing on
// it is allowed again afterwards.
//
// Errors: FaultRoleNotAllowed, FaultMissingMessageID, FaultInvalidPersonID,
// FaultRequiredField, FaultInvalidField, FaultDrugMedicationNotFound,
// FaultNoConflict, FaultMessageIDReused, FaultCardBusy, and the Store's.
func (s *Service) ResolveConflict(ctx context.Context, call Call, req ResolveConflictRequest) (*WriteResult, error) {
	return s.modify(ctx, call, OpResolveConflict, req.PersonID, req.BasedOnCardVersion, req,
		func(v *validator) change {
			v.identifier("DrugMedicationIdentifier", req.DrugMedicationID)
			switch {
			case (req.ChosenVariant == 0) == (req.Replacement == nil):
				v.fail(Errorf(FaultInvalidField, "give either ChosenVariant or Replacement"))
			case req.Replacement == nil && req.ChosenVariant != 1 && req.ChosenVariant != 2:
				v.fail(Errorf(FaultInvalidField, "ChosenVariant is 1 or 2"))
			case req.Replacement != nil:
				v.required("Replacement/Dosage/Text", req.Replacement.Dosage.Text)
				v.maxLength("Replacement/Dosage/Text", req.Replacement.Dosage.Text, 1000)
				switch req.Replacement.Status {
				case "", DrugMedicationActive, DrugMedicationPaused, DrugMedicationWithdrawn:
				default:
					v.fail(Errorf(FaultInvalidField, "Replacement/Status is Active, Paused or Withdrawn"))
				}
			}
			return func(m *mutation) error {
				dm, err := m.card.findDrugMedication(req.DrugMedicationID)
				if err != nil {
					return err
				}
				if dm.Conflict == nil {
					return Errorf(FaultNoConflict, "drug medication %d has no conflict to resolve", dm.ID)
				}
				if m.changedSince(dm.CardVersion) {
					// The caller has not seen the conflict as it stands now.
					return Errorf(FaultTransitionNotAllowed,
						"drug medication %d changed since MedicineCardVersion %d; read it again and resolve the conflict it shows", dm.ID, m.basedOn)
				}
				var settled DrugMedication
				if req.Replacement != nil {
					settled = dm.Conflict.Variants[0]
					settled.Dosage = req.Replacement.Dosage
					settled.Status = req.Replacement.Status
					if settled.Status == "" {
						settled.Status = DrugMedicationActive
					}
				} else {
					settled = dm.Conflict.Variants[req.ChosenVariant-1]
				}
				settled.ID, settled.Version, settled.Created, settled.Conflict = dm.ID, dm.Version, dm.Created, nil
				*dm = settled
				m.bump(dm, OpResolveConflict)
				return nil
			}
		})
}
