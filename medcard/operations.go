package medcard

import (
	"strings"
	"unicode/utf8"
)

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

func (v *validator) drug(prefix string, d Drug) {
	v.maxLength(prefix+"Drug/Identifier", d.Identifier, 50)
	v.maxLength(prefix+"Drug/Name", d.Name, 200)
	v.maxLength(prefix+"Drug/Form", d.Form, 100)
	v.maxLength(prefix+"Drug/Strength", d.Strength, 100)
	v.maxLength(prefix+"Drug/ATCCode", d.ATCCode, 10)
}

func (v *validator) between(field string, value, min, max int) {
	if value < min || value > max {
		v.fail(Errorf(FaultInvalidField, "%s must be between %d and %d", field, min, max))
	}
}

func (v *validator) identifier(field string, id int64) {
	if id <= 0 {
		v.fail(Errorf(FaultRequiredField, "%s is required", field))
	}
}
