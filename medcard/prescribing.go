package medcard

import (
	"fmt"
	"time"
)

// CreatePrescriptionRequest prescribes a drug, normally for one of the
// card's drug medications (CreatePrescription); the prescription is open
// for dispensing from ValidFrom.
//
// Errors, besides Change's: FaultRequiredField, FaultInvalidField,
// FaultDrugMedicationNotFound, FaultItemInConflict,
// FaultDrugMedicationNotActive.
type CreatePrescriptionRequest struct {
	PersonID           string
	BasedOnCardVersion int64
	// DrugMedicationID ties the prescription to a drug medication (whose
	// drug it takes); 0 prescribes Drug on its own.
	DrugMedicationID      int64
	Drug                  Drug
	PackageNumber         string
	PackageQuantity       int // packages per dispensing
	Iterations            int // dispensings after the first
	IterationIntervalDays int // minimum days between dispensings
	ValidFrom             string
	ValidTo               string // empty: two years after ValidFrom
	DosageText            string
}

// Limits of a prescription.
const (
	maxPackagesPerDispensing = 99
	maxIterations            = 99
	maxIntervalDays          = 365
	maxValidityYears         = 2
)

// Operation is OpCreatePrescription.
func (CreatePrescriptionRequest) Operation() Operation { return OpCreatePrescription }

func (r CreatePrescriptionRequest) target() (string, int64) { return r.PersonID, r.BasedOnCardVersion }

func (r CreatePrescriptionRequest) validate(v *validator) change {
	if r.DrugMedicationID == 0 {
		v.required("Drug/Identifier", r.Drug.Identifier)
		v.required("Drug/Name", r.Drug.Name)
	}
	v.drug("", r.Drug)
	v.required("PackageNumber", r.PackageNumber)
	v.maxLength("PackageNumber", r.PackageNumber, 20)
	v.between("PackageQuantity", r.PackageQuantity, 1, maxPackagesPerDispensing)
	v.between("Iterations", r.Iterations, 0, maxIterations)
	v.between("IterationIntervalDays", r.IterationIntervalDays, 0, maxIntervalDays)
	v.required("DosageText", r.DosageText)
	v.maxLength("DosageText", r.DosageText, 1000)
	from := v.date("ValidFrom", r.ValidFrom, false)
	to := v.date("ValidTo", r.ValidTo, false)
	return func(m *mutation) error {
		from, to := from, to // defaults are per attempt
		if from == "" {
			from = m.today()
		}
		fromTime, _ := time.Parse(time.DateOnly, string(from))
		latest := Date(fromTime.AddDate(maxValidityYears, 0, 0).Format(time.DateOnly))
		if to == "" {
			to = latest
		}
		if to < from {
			return Errorf(FaultInvalidField, "ValidTo is before ValidFrom")
		}
		if to > latest {
			return Errorf(FaultInvalidField, "a prescription is valid for at most %d years", maxValidityYears)
		}
		drug := r.Drug
		if r.DrugMedicationID != 0 {
			dm, err := m.card.findDrugMedication(r.DrugMedicationID)
			if err != nil {
				return err
			}
			if err := checkPrescribable(dm); err != nil {
				return err
			}
			drug = dm.Drug
		}
		p := Prescription{
			ID: m.card.nextItemID(), Version: 1, CardVersion: m.card.Version,
			DrugMedicationID: r.DrugMedicationID, Status: PrescriptionOpen, Drug: drug,
			PackageNumber: r.PackageNumber, PackageQuantity: r.PackageQuantity,
			Iterations: r.Iterations, IterationIntervalDays: r.IterationIntervalDays,
			ValidFrom: from, ValidTo: to, DosageText: r.DosageText,
			Created: m.stamp, Modified: m.stamp, LastOperation: OpCreatePrescription,
		}
		m.card.Prescriptions = append(m.card.Prescriptions, p)
		m.touched(ItemPrescription, p.ID, p.Version)
		return nil
	}
}

// CancelPrescriptionRequest cancels what is left of an open prescription,
// and its open order (CancelPrescription). What was dispensed stays
// dispensed.
//
// Errors, besides Change's: FaultRequiredField, FaultPrescriptionNotFound,
// FaultPrescriptionNotOpen, FaultTransitionNotAllowed (an effectuation is
// in progress).
type CancelPrescriptionRequest struct {
	PersonID           string
	BasedOnCardVersion int64
	PrescriptionID     int64
}

// Operation is OpCancelPrescription.
func (CancelPrescriptionRequest) Operation() Operation { return OpCancelPrescription }

func (r CancelPrescriptionRequest) target() (string, int64) { return r.PersonID, r.BasedOnCardVersion }

func (r CancelPrescriptionRequest) validate(v *validator) change {
	v.identifier("PrescriptionIdentifier", r.PrescriptionID)
	return func(m *mutation) error {
		p, err := m.card.findPrescription(r.PrescriptionID)
		if err != nil {
			return err
		}
		if m.changedSince(p.CardVersion) {
			cell := merge(p.LastOperation, OpCancelPrescription)
			if cell.Resolution == KeepTheirs {
				m.warn(WarningSuperseded, fmt.Sprintf("prescription %d: %s", p.ID, cell.Why))
				return nil
			}
		}
		if p.Status != PrescriptionOpen {
			return Errorf(FaultPrescriptionNotOpen, "the prescription is %s", p.Status)
		}
		if o := m.card.openOrder(p.ID); o != nil {
			if o.Status == OrderInProgress {
				return Errorf(FaultTransitionNotAllowed, "a pharmacy is dispensing the prescription right now; try again when it is done")
			}
			o.Status = OrderCancelled
			m.bumpOrder(o)
		}
		p.Status = PrescriptionCancelled
		m.bumpPrescription(p, OpCancelPrescription)
		return nil
	}
}

func (m *mutation) bumpPrescription(p *Prescription, op Operation) {
	p.Version++
	p.CardVersion = m.card.Version
	p.Modified = m.stamp
	p.LastOperation = op
	m.touched(ItemPrescription, p.ID, p.Version)
}
