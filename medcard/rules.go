package medcard

import "time"

// The business rules of the medicine card, in one place. RULES.md
// describes them for clinicians and integrators; every rule has table
// tests in rules_test.go.

// drugMedicationTransitions says from which states each change of a drug
// medication is allowed, and the state it leaves the item in ("" keeps
// the state).
var drugMedicationTransitions = map[Operation]struct {
	from []DrugMedicationStatus
	to   DrugMedicationStatus
}{
	OpUpdateDrugMedication:     {from: []DrugMedicationStatus{DrugMedicationActive, DrugMedicationPaused}},
	OpPauseDrugMedication:      {from: []DrugMedicationStatus{DrugMedicationActive}, to: DrugMedicationPaused},
	OpUnpauseDrugMedication:    {from: []DrugMedicationStatus{DrugMedicationPaused}, to: DrugMedicationActive},
	OpWithdrawDrugMedication:   {from: []DrugMedicationStatus{DrugMedicationActive, DrugMedicationPaused}, to: DrugMedicationWithdrawn},
	OpUnwithdrawDrugMedication: {from: []DrugMedicationStatus{DrugMedicationWithdrawn}, to: DrugMedicationActive},
}

// checkDrugMedicationTransition refuses op on an item in state from.
//
// Errors: FaultTransitionNotAllowed.
func checkDrugMedicationTransition(from DrugMedicationStatus, op Operation) error {
	t, ok := drugMedicationTransitions[op]
	if ok {
		for _, s := range t.from {
			if s == from {
				return nil
			}
		}
	}
	return Errorf(FaultTransitionNotAllowed, "%s is not allowed on a drug medication that is %s", op, from)
}

// orderTransitions says from which order states each pharmacy operation
// is allowed.
var orderTransitions = map[Operation][]OrderStatus{
	OpCancelOrder:                {OrderOpen},
	OpStartEffectuation:          {OrderOpen},
	OpAbortEffectuation:          {OrderInProgress},
	OpCreatePharmacyEffectuation: {OrderInProgress},
	OpAcknowledgeOrders:          {OrderOpen, OrderInProgress},
}

// checkOrder refuses op on an order in its current state or held by
// another pharmacy.
//
// Errors: FaultOrderOfAnotherPharmacy, FaultEffectuationNotStarted,
// FaultTransitionNotAllowed.
func checkOrder(o *Order, op Operation, pharmacy string) error {
	if o.Pharmacy != pharmacy {
		return Errorf(FaultOrderOfAnotherPharmacy, "the order is held by another pharmacy")
	}
	for _, s := range orderTransitions[op] {
		if s == o.Status {
			return nil
		}
	}
	if op == OpCreatePharmacyEffectuation || op == OpAbortEffectuation {
		return Errorf(FaultEffectuationNotStarted, "no effectuation is in progress on the order (it is %s)", o.Status)
	}
	return Errorf(FaultTransitionNotAllowed, "%s is not allowed on an order that is %s", op, o.Status)
}

// checkPrescribable refuses a prescription on a drug medication that is
// not active or has an unsettled conflict.
//
// Errors: FaultItemInConflict, FaultDrugMedicationNotActive.
func checkPrescribable(dm *DrugMedication) error {
	if dm.Conflict != nil {
		return Errorf(FaultItemInConflict, "the drug medication has an unresolved conflict; resolve it first")
	}
	if dm.Status != DrugMedicationActive {
		return Errorf(FaultDrugMedicationNotActive, "a prescription needs an active drug medication; this one is %s", dm.Status)
	}
	return nil
}

// checkDispensable is every rule a dispensing must pass, checked when an
// order is placed (some), when the effectuation starts and when it is
// recorded: the prescription is open and valid today, has dispensings
// left, the iteration interval has passed, and its drug medication (if
// any) is not withdrawn and has no unsettled conflict.
//
// Errors: FaultPrescriptionNotOpen, FaultPrescriptionNotValidToday,
// FaultNoDispensingsLeft, FaultIterationTooEarly, FaultItemInConflict,
// FaultDrugMedicationNotActive.
func checkDispensable(card *Card, p *Prescription, now time.Time, checkInterval bool) error {
	if p.Status != PrescriptionOpen {
		return Errorf(FaultPrescriptionNotOpen, "the prescription is %s", p.Status)
	}
	today := dateOf(now)
	if today < p.ValidFrom {
		return Errorf(FaultPrescriptionNotValidToday, "the prescription is valid from %s", p.ValidFrom)
	}
	if today > p.ValidTo {
		return Errorf(FaultPrescriptionNotValidToday, "the prescription expired on %s", p.ValidTo)
	}
	if p.Dispensings >= 1+p.Iterations {
		return Errorf(FaultNoDispensingsLeft, "all %d dispensings of the prescription are used", 1+p.Iterations)
	}
	if next := p.intervalEnd(); checkInterval && today < next {
		return Errorf(FaultIterationTooEarly, "the next iteration may be dispensed from %s", next)
	}
	if p.DrugMedicationID != 0 {
		if dm := card.drugMedication(p.DrugMedicationID); dm != nil {
			if dm.Conflict != nil {
				return Errorf(FaultItemInConflict, "the prescription's drug medication has an unresolved conflict; it must be resolved before dispensing")
			}
			if dm.Status == DrugMedicationWithdrawn {
				return Errorf(FaultDrugMedicationNotActive, "the prescription's drug medication is withdrawn")
			}
		}
	}
	return nil
}

// checkPackages refuses a dispensing of more packages than the
// prescription allows per dispensing, or of none.
//
// Errors: FaultTooManyPackages, FaultInvalidField.
func checkPackages(p *Prescription, packages int) error {
	if packages < 1 {
		return Errorf(FaultInvalidField, "PackagesDispensed must be at least 1")
	}
	if packages > p.PackageQuantity {
		return Errorf(FaultTooManyPackages, "the prescription allows %d package(s) per dispensing", p.PackageQuantity)
	}
	return nil
}

// intervalEnd is the first date the iteration interval allows the next
// dispensing on ("" when no interval applies: none dispensed yet, or no
// interval).
func (p *Prescription) intervalEnd() Date {
	if p.Dispensings == 0 || p.IterationIntervalDays <= 0 {
		return ""
	}
	return dateOf(p.LastDispensedAt.In(clinicalZone).AddDate(0, 0, p.IterationIntervalDays))
}

// DispensingsLeft is how many more dispensings the prescription allows.
func (p *Prescription) DispensingsLeft() int {
	if p.Status != PrescriptionOpen {
		return 0
	}
	return max(0, 1+p.Iterations-p.Dispensings)
}

// NextDispensingDate is the first date the next dispensing is allowed on,
// by the validity and the iteration interval; "" when none is left.
func (p *Prescription) NextDispensingDate() Date {
	if p.DispensingsLeft() == 0 {
		return ""
	}
	return max(p.ValidFrom, p.intervalEnd())
}
