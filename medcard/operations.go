package medcard

import (
	"context"
	"strings"
	"unicode/utf8"
)

// GetMedicineCard returns the person's card, read from the primary, and
// records the look-up in the audit trail. A person without a card gets an
// empty card at version 0.
//
// Errors: FaultRoleNotAllowed, FaultInvalidPersonID, and the Store's.
func (s *Service) GetMedicineCard(ctx context.Context, caller Caller, messageID, personID string) (*Card, error) {
	if err := authorize(caller.Role, OpGetMedicineCard); err != nil {
		return nil, err
	}
	person, err := ParsePersonID(personID)
	if err != nil {
		return nil, err
	}
	card, err := s.store.ReadCard(ctx, person, caller.audit(OpGetMedicineCard, s.now().UTC(), messageID))
	if err != nil {
		return nil, err
	}
	card.PersonID = person
	return card, nil
}

// CreateDrugMedicationRequest adds a drug medication to a person's card.
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

// CreateDrugMedication adds an active drug medication to the card.
//
// Errors: FaultRoleNotAllowed, FaultMissingMessageID, FaultInvalidPersonID,
// FaultRequiredField, FaultInvalidField, FaultInvalidCardVersion,
// FaultMessageIDReused, FaultCardBusy, and the Store's.
func (s *Service) CreateDrugMedication(ctx context.Context, caller Caller, messageID string, req CreateDrugMedicationRequest) (*WriteResult, error) {
	// The role first: a caller without it learns nothing of our validation.
	if err := authorize(caller.Role, OpCreateDrugMedication); err != nil {
		return nil, err
	}
	person, err := ParsePersonID(req.PersonID)
	if err != nil {
		return nil, err
	}
	var v validator
	v.required("Drug/Identifier", req.Drug.Identifier)
	v.required("Drug/Name", req.Drug.Name)
	v.required("Dosage/Text", req.Dosage.Text)
	v.required("Indication/Text", req.Indication.Text)
	v.maxLength("Drug/Identifier", req.Drug.Identifier, 50)
	v.maxLength("Drug/Name", req.Drug.Name, 200)
	v.maxLength("Drug/Form", req.Drug.Form, 100)
	v.maxLength("Drug/Strength", req.Drug.Strength, 100)
	v.maxLength("Drug/ATCCode", req.Drug.ATCCode, 10)
	v.maxLength("Indication/Code", req.Indication.Code, 50)
	v.maxLength("Dosage/Text", req.Dosage.Text, 1000)
	v.maxLength("Indication/Text", req.Indication.Text, 500)
	begin := v.date("BeginDate", req.BeginDate, true)
	end := v.date("EndDate", req.EndDate, false)
	if v.err == nil && end != "" && end < begin {
		v.err = Errorf(FaultInvalidField, "EndDate is before BeginDate")
	}
	if req.BasedOnCardVersion < 0 {
		v.fail(Errorf(FaultInvalidCardVersion, "MedicineCardVersion cannot be negative"))
	}
	if v.err != nil {
		return nil, v.err
	}
	return s.write(ctx, caller, messageID, person, OpCreateDrugMedication, req.BasedOnCardVersion, req,
		func(card *Card, stamp Stamp, res *WriteResult) error {
			dm := DrugMedication{
				ID: card.nextItemID(), Version: 1, CardVersion: card.Version,
				Status: DrugMedicationActive, Drug: req.Drug, Dosage: req.Dosage, Indication: req.Indication,
				BeginDate: begin, EndDate: end, Created: stamp, Modified: stamp,
			}
			card.DrugMedications = append(card.DrugMedications, dm)
			res.Items = append(res.Items, ItemVersion{Kind: ItemDrugMedication, ID: dm.ID, Version: dm.Version})
			return nil
		})
}

// validator collects the first validation failure of a request, so that a
// request is checked field by field without an if per line.
type validator struct{ err error }

func (v *validator) fail(err error) {
	if v.err == nil {
		v.err = err
	}
}

func (v *validator) required(field, value string) {
	if strings.TrimSpace(value) == "" {
		v.fail(Errorf(FaultRequiredField, "%s is required", field))
	}
}

func (v *validator) maxLength(field, value string, max int) {
	if utf8.RuneCountInString(value) > max {
		v.fail(Errorf(FaultInvalidField, "%s is longer than %d characters", field, max))
	}
}

func (v *validator) date(field, value string, required bool) Date {
	value = strings.TrimSpace(value)
	if value == "" {
		if required {
			v.fail(Errorf(FaultRequiredField, "%s is required", field))
		}
		return ""
	}
	d, err := ParseDate(field, value)
	if err != nil {
		v.fail(err)
	}
	return d
}
