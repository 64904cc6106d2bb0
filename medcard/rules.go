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
	if checkInterval && p.Dispensings > 0 && p.IterationIntervalDays > 0 {
		next := dateOf(p.LastDispensedAt.In(clinicalZone).AddDate(0, 0, p.IterationIntervalDays))
		if today < next {
			return Errorf(FaultIterationTooEarly, "the next iteration may be dispensed from %s", next)
		}
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

// openOrder returns the prescription's open or in-progress order, if any:
// there is at most one.
func (c *Card) openOrder(prescriptionID int64) *Order {
	for i := range c.Orders {
		o := &c.Orders[i]
		if o.PrescriptionID == prescriptionID && (o.Status == OrderOpen || o.Status == OrderInProgress) {
			return o
		}
	}
	return nil
}

func (c *Card) drugMedication(id int64) *DrugMedication {
	for i := range c.DrugMedications {
		if c.DrugMedications[i].ID == id {
			return &c.DrugMedications[i]
		}
	}
	return nil
}

func (c *Card) prescription(id int64) *Prescription {
	for i := range c.Prescriptions {
		if c.Prescriptions[i].ID == id {
			return &c.Prescriptions[i]
		}
	}
	return nil
}

func (c *Card) order(id int64) *Order {
	for i := range c.Orders {
		if c.Orders[i].ID == id {
			return &c.Orders[i]
		}
	}
	return nil
}

func (c *Card) effectuation(id int64) *Effectuation {
	for i := range c.Effectuations {
		if c.Effectuations[i].ID == id {
			return &c.Effectuations[i]
		}
	}
	return nil
}

// The find methods return an item named by a request, or the catalogue's
// not-found fault for it.

func (c *Card) findDrugMedication(id int64) (*DrugMedication, error) {
	if dm := c.drugMedication(id); dm != nil {
		return dm, nil
	}
	return nil, Errorf(FaultDrugMedicationNotFound, "there is no drug medication %d on the card", id)
}

func (c *Card) findPrescription(id int64) (*Prescription, error) {
	if p := c.prescription(id); p != nil {
		return p, nil
	}
	return nil, Errorf(FaultPrescriptionNotFound, "there is no prescription %d on the card", id)
}

func (c *Card) findOrder(id int64) (*Order, error) {
	if o := c.order(id); o != nil {
		return o, nil
	}
	return nil, Errorf(FaultOrderNotFound, "there is no order %d on the card", id)
}

func (c *Card) findEffectuation(id int64) (*Effectuation, error) {
	if e := c.effectuation(id); e != nil {
		return e, nil
	}
	return nil, Errorf(FaultEffectuationNotFound, "there is no effectuation %d on the card", id)
}
