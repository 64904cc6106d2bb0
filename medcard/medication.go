package medcard

import "fmt"

// CreateDrugMedicationRequest adds an active drug medication to a
// person's card (CreateDrugMedication).
//
// Errors, besides Change's: FaultRequiredField, FaultInvalidField.
type CreateDrugMedicationRequest struct {
	PersonID string
	// BasedOnCardVersion is the card version the caller last saw
	// (MedicineCardVersion); adding an item never conflicts, so an older
	// one only earns a VersionMismatchWarning.
	BasedOnCardVersion int64
	Drug               Drug
	Dosage             Dosage
	Indication         Indication
	BeginDate          string
	EndDate            string // optional
}

// Operation is OpCreateDrugMedication.
func (CreateDrugMedicationRequest) Operation() Operation { return OpCreateDrugMedication }

func (r CreateDrugMedicationRequest) target() (string, int64) {
	return r.PersonID, r.BasedOnCardVersion
}

func (r CreateDrugMedicationRequest) validate(v *validator) change {
	nd := NewDrugMedication{Drug: r.Drug, Dosage: r.Dosage, Indication: r.Indication, BeginDate: r.BeginDate, EndDate: r.EndDate}
	add := nd.validate(v, "")
	return func(m *mutation) error { add(m); return nil }
}

// NewDrugMedication is a drug medication to add, in CreateDrugMedication
// and UpdateMedicineCard.
type NewDrugMedication struct {
	Drug       Drug
	Dosage     Dosage
	Indication Indication
	BeginDate  string
	EndDate    string // optional
}

// validate checks a new drug medication and returns the change that adds
// it. prefix names its place in the message for fault texts.
func (nd NewDrugMedication) validate(v *validator, prefix string) func(m *mutation) {
	v.required(prefix+"Drug/Identifier", nd.Drug.Identifier)
	v.required(prefix+"Drug/Name", nd.Drug.Name)
	v.required(prefix+"Dosage/Text", nd.Dosage.Text)
	v.required(prefix+"Indication/Text", nd.Indication.Text)
	v.drug(prefix, nd.Drug)
	v.maxLength(prefix+"Dosage/Text", nd.Dosage.Text, 1000)
	v.maxLength(prefix+"Indication/Text", nd.Indication.Text, 500)
	v.maxLength(prefix+"Indication/Code", nd.Indication.Code, 50)
	begin := v.date(prefix+"BeginDate", nd.BeginDate, true)
	end := v.date(prefix+"EndDate", nd.EndDate, false)
	if v.err == nil && end != "" && end < begin {
		v.fail(Errorf(FaultInvalidField, "%sEndDate is before BeginDate", prefix))
	}
	return func(m *mutation) {
		dm := DrugMedication{
			ID: m.card.nextItemID(), Version: 1, CardVersion: m.card.Version,
			Status: DrugMedicationActive, Drug: nd.Drug, Dosage: nd.Dosage, Indication: nd.Indication,
			BeginDate: begin, EndDate: end, Created: m.stamp, Modified: m.stamp, LastOperation: OpCreateDrugMedication,
		}
		m.card.DrugMedications = append(m.card.DrugMedications, dm)
		m.touched(ItemDrugMedication, dm.ID, dm.Version)
	}
}

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

// DrugMedicationRequest is a single change to one drug medication;
// Change.Op says which: UpdateDrugMedication gives it a new dosage (and
// optionally indication and end date), PauseDrugMedication pauses an
// active one, UnpauseDrugMedication resumes a paused one,
// WithdrawDrugMedication stops it and UnwithdrawDrugMedication reinstates
// a withdrawn one as active. A change to an item changed since
// BasedOnCardVersion is settled by the merge table (merge.go).
//
// Errors, besides Change's: FaultRequiredField, FaultInvalidField,
// FaultDrugMedicationNotFound, FaultItemInConflict,
// FaultTransitionNotAllowed.
type DrugMedicationRequest struct {
	PersonID           string
	BasedOnCardVersion int64
	Change             DrugMedicationChange
}

// Operation is Change.Op.
func (r DrugMedicationRequest) Operation() Operation { return r.Change.Op }

func (r DrugMedicationRequest) target() (string, int64) { return r.PersonID, r.BasedOnCardVersion }

func (r DrugMedicationRequest) validate(v *validator) change { return r.Change.validate(v, "") }

// validate checks the change's own fields and returns the change that
// applies it, resolving against changes made since the request's base.
func (ch DrugMedicationChange) validate(v *validator, prefix string) change {
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

// UpdateMedicineCardRequest is several changes to one card that must all
// happen or none: a hospital discharge, say (UpdateMedicineCard). All are
// applied in one atomic write, each resolved against changes made since
// the base as its single operation would be; the first failing change
// fails the whole request and nothing is written. SetReviewed needs the
// role of SetMedicineCardReviewed.
//
// Errors: as CreateDrugMedicationRequest's and DrugMedicationRequest's.
type UpdateMedicineCardRequest struct {
	PersonID           string
	BasedOnCardVersion int64
	Create             []NewDrugMedication
	Change             []DrugMedicationChange // Op must be one of the five drug medication changes
	SetReviewed        bool
}

// Operation is OpUpdateMedicineCard.
func (UpdateMedicineCardRequest) Operation() Operation { return OpUpdateMedicineCard }

func (r UpdateMedicineCardRequest) target() (string, int64) { return r.PersonID, r.BasedOnCardVersion }

func (r UpdateMedicineCardRequest) validate(v *validator) change {
	if len(r.Create)+len(r.Change) == 0 && !r.SetReviewed {
		v.fail(Errorf(FaultRequiredField, "UpdateMedicineCard needs at least one change"))
	}
	if len(r.Create)+len(r.Change) > 200 {
		v.fail(Errorf(FaultInvalidField, "UpdateMedicineCard takes at most 200 changes"))
	}
	var steps []change
	for i, nd := range r.Create {
		add := nd.validate(v, fmt.Sprintf("Create[%d]/", i+1))
		steps = append(steps, func(m *mutation) error { add(m); return nil })
	}
	for i, ch := range r.Change {
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
		if r.SetReviewed {
			return setReviewed(m)
		}
		return nil
	}
}

// ResolveConflictRequest settles a conflicted drug medication
// (ResolveConflict): either pick one of its variants (1 or 2), or give a
// replacement dosage (and optionally status) that supersedes both.
// Dispensing on it is allowed again afterwards.
//
// Errors, besides Change's: FaultRequiredField, FaultInvalidField,
// FaultDrugMedicationNotFound, FaultNoConflict, FaultTransitionNotAllowed
// (the item changed since BasedOnCardVersion).
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

// Operation is OpResolveConflict.
func (ResolveConflictRequest) Operation() Operation { return OpResolveConflict }

func (r ResolveConflictRequest) target() (string, int64) { return r.PersonID, r.BasedOnCardVersion }

func (r ResolveConflictRequest) validate(v *validator) change {
	v.identifier("DrugMedicationIdentifier", r.DrugMedicationID)
	switch {
	case (r.ChosenVariant == 0) == (r.Replacement == nil):
		v.fail(Errorf(FaultInvalidField, "give either ChosenVariant or Replacement"))
	case r.Replacement == nil && r.ChosenVariant != 1 && r.ChosenVariant != 2:
		v.fail(Errorf(FaultInvalidField, "ChosenVariant is 1 or 2"))
	case r.Replacement != nil:
		v.required("Replacement/Dosage/Text", r.Replacement.Dosage.Text)
		v.maxLength("Replacement/Dosage/Text", r.Replacement.Dosage.Text, 1000)
		switch r.Replacement.Status {
		case "", DrugMedicationActive, DrugMedicationPaused, DrugMedicationWithdrawn:
		default:
			v.fail(Errorf(FaultInvalidField, "Replacement/Status is Active, Paused or Withdrawn"))
		}
	}
	return func(m *mutation) error {
		dm, err := m.card.findDrugMedication(r.DrugMedicationID)
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
		if r.Replacement != nil {
			settled = dm.Conflict.Variants[0]
			settled.Dosage = r.Replacement.Dosage
			settled.Status = r.Replacement.Status
			if settled.Status == "" {
				settled.Status = DrugMedicationActive
			}
		} else {
			settled = dm.Conflict.Variants[r.ChosenVariant-1]
		}
		settled.ID, settled.Version, settled.Created, settled.Conflict = dm.ID, dm.Version, dm.Created, nil
		*dm = settled
		m.bump(dm, OpResolveConflict)
		return nil
	}
}
