package medcard

import (
	"context"
	"fmt"
	"time"
)

// CreatePrescriptionRequest prescribes a drug, normally for one of the
// card's drug medications.
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

// CreatePrescription prescribes a drug, open for dispensing from ValidFrom.
//
// Errors: FaultRoleNotAllowed, FaultMissingMessageID, FaultInvalidPersonID,
// FaultRequiredField, FaultInvalidField, FaultInvalidCardVersion,
// FaultDrugMedicationNotFound, FaultItemInConflict,
// FaultDrugMedicationNotActive, FaultMessageIDReused, FaultCardBusy, and the
// Store's.
func (s *Service) CreatePrescription(ctx context.Context, call Call, req CreatePrescriptionRequest) (*WriteResult, error) {
	return s.modify(ctx, call, OpCreatePrescription, req.PersonID, req.BasedOnCardVersion, req,
		func(v *validator) change {
			if req.DrugMedicationID == 0 {
				v.required("Drug/Identifier", req.Drug.Identifier)
				v.required("Drug/Name", req.Drug.Name)
			}
			v.drug("", req.Drug)
			v.required("PackageNumber", req.PackageNumber)
			v.maxLength("PackageNumber", req.PackageNumber, 20)
			v.between("PackageQuantity", req.PackageQuantity, 1, maxPackagesPerDispensing)
			v.between("Iterations", req.Iterations, 0, maxIterations)
			v.between("IterationIntervalDays", req.IterationIntervalDays, 0, maxIntervalDays)
			v.required("DosageText", req.DosageText)
			v.maxLength("DosageText", req.DosageText, 1000)
			from := v.date("ValidFrom", req.ValidFrom, false)
			to := v.date("ValidTo", req.ValidTo, false)
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
				drug := req.Drug
				if req.DrugMedicationID != 0 {
					dm, err := m.card.findDrugMedication(req.DrugMedicationID)
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
					DrugMedicationID: req.DrugMedicationID, Status: PrescriptionOpen, Drug: drug,
					PackageNumber: req.PackageNumber, PackageQuantity: req.PackageQuantity,
					Iterations: req.Iterations, IterationIntervalDays: req.IterationIntervalDays,
					ValidFrom: from, ValidTo: to, DosageText: req.DosageText,
					Created: m.stamp, Modified: m.stamp, LastOperation: OpCreatePrescription,
				}
				m.card.Prescriptions = append(m.card.Prescriptions, p)
				m.touched(ItemPrescription, p.ID, p.Version)
				return nil
			}
		})
}

// CancelPrescriptionRequest cancels what is left of a prescription.
type CancelPrescriptionRequest struct {
	PersonID           string
	BasedOnCardVersion int64
	PrescriptionID     int64
}

// CancelPrescription cancels an open prescription and its open order.
// What was dispensed stays dispensed.
//
// Errors: FaultRoleNotAllowed, FaultMissingMessageID, FaultInvalidPersonID,
// FaultRequiredField, FaultInvalidCardVersion, FaultPrescriptionNotFound,
// FaultPrescriptionNotOpen, FaultTransitionNotAllowed (an effectuation is in
// progress), FaultMessageIDReused, FaultCardBusy, and the Store's.
func (s *Service) CancelPrescription(ctx context.Context, call Call, req CancelPrescriptionRequest) (*WriteResult, error) {
	return s.modify(ctx, call, OpCancelPrescription, req.PersonID, req.BasedOnCardVersion, req,
		func(v *validator) change {
			v.identifier("PrescriptionIdentifier", req.PrescriptionID)
			return func(m *mutation) error {
				p, err := m.card.findPrescription(req.PrescriptionID)
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
		})
}

func (m *mutation) bumpPrescription(p *Prescription, op Operation) {
	p.Version++
	p.CardVersion = m.card.Version
	p.Modified = m.stamp
	p.LastOperation = op
	m.touched(ItemPrescription, p.ID, p.Version)
}
