package medcard

import "context"

// CardQuery says which card to read and how much of it.
type CardQuery struct {
	PersonID             string
	IncludePrescriptions bool // with their orders
	IncludeEffectuations bool
	// IncludeWithdrawnSince also returns drug medications withdrawn on or
	// after this date (YYYY-MM-DD); empty leaves withdrawn ones out. One
	// with an unsettled conflict is always returned.
	IncludeWithdrawnSince string
}

// GetMedicineCard returns the person's card, read from the primary, and
// records the look-up in the audit trail. A person without a card gets an
// empty card at version 0.
//
// Errors: FaultRoleNotAllowed, FaultInvalidPersonID, FaultInvalidField,
// FaultAccessRestricted (checkRestriction), and the Store's.
func (s *Service) GetMedicineCard(ctx context.Context, call Call, q CardQuery) (*Card, error) {
	var v validator
	since := v.date("IncludeWithdrawnSince", q.IncludeWithdrawnSince, false)
	card, err := s.read(ctx, call, OpGetMedicineCard, q.PersonID, v.err)
	if err != nil {
		return nil, err
	}
	var shown []DrugMedication
	for _, dm := range card.DrugMedications {
		if dm.Status != DrugMedicationWithdrawn || dm.Conflict != nil || (since != "" && dateOf(dm.Modified.At) >= since) {
			shown = append(shown, dm)
		}
	}
	card.DrugMedications = shown
	if !q.IncludePrescriptions {
		card.Prescriptions, card.Orders = nil, nil
	}
	if !q.IncludeEffectuations {
		card.Effectuations = nil
	}
	// The view is the stored card filtered by the query and nothing else
	// (not by who asks): with the card's Renditions it names the answer.
	if card.Renditions != nil {
		card.View = cardView(q.IncludePrescriptions, q.IncludeEffectuations, since)
	}
	return card, nil
}

// cardView names GetMedicineCard's view of a card (Card.View).
func cardView(prescriptions, effectuations bool, withdrawnSince Date) string {
	v := "GetMedicineCard"
	if prescriptions {
		v += " prescriptions"
	}
	if effectuations {
		v += " effectuations"
	}
	if withdrawnSince != "" {
		v += " withdrawnSince=" + string(withdrawnSince)
	}
	return v
}

// DrugMedicationView is one drug medication with the card version it was
// read at.
type DrugMedicationView struct {
	CardVersion    int64
	DrugMedication DrugMedication
}

// GetDrugMedication returns one drug medication of the person's card.
//
// Errors: FaultRoleNotAllowed, FaultInvalidPersonID, FaultRequiredField,
// FaultAccessRestricted, FaultDrugMedicationNotFound, and the Store's.
func (s *Service) GetDrugMedication(ctx context.Context, call Call, personID string, id int64) (*DrugMedicationView, error) {
	var v validator
	v.identifier("DrugMedicationIdentifier", id)
	card, err := s.read(ctx, call, OpGetDrugMedication, personID, v.err)
	if err != nil {
		return nil, err
	}
	dm, err := card.findDrugMedication(id)
	if err != nil {
		return nil, err
	}
	return &DrugMedicationView{CardVersion: card.Version, DrugMedication: *dm}, nil
}

// PrescriptionsView is prescriptions of a card with their orders and
// effectuations, and the card version they were read at.
type PrescriptionsView struct {
	CardVersion   int64
	Prescriptions []Prescription
	Orders        []Order
	Effectuations []Effectuation
}

// GetPrescription returns the named prescriptions of the person's card, or
// all open ones when ids is empty, with their orders and effectuations.
//
// Errors: FaultRoleNotAllowed, FaultInvalidPersonID, FaultInvalidField,
// FaultAccessRestricted, FaultPrescriptionNotFound, and the Store's.
func (s *Service) GetPrescription(ctx context.Context, call Call, personID string, ids []int64) (*PrescriptionsView, error) {
	var v validator
	if len(ids) > 100 {
		v.fail(Errorf(FaultInvalidField, "ask for at most 100 prescriptions at a time"))
	}
	card, err := s.read(ctx, call, OpGetPrescription, personID, v.err)
	if err != nil {
		return nil, err
	}
	view := &PrescriptionsView{CardVersion: card.Version}
	want := map[int64]bool{}
	for _, id := range ids {
		if _, err := card.findPrescription(id); err != nil {
			return nil, err
		}
		want[id] = true
	}
	for _, p := range card.Prescriptions {
		if want[p.ID] || (len(ids) == 0 && p.Status == PrescriptionOpen) {
			view.Prescriptions = append(view.Prescriptions, p)
		}
	}
	for _, o := range card.Orders {
		if want[o.PrescriptionID] || (len(ids) == 0 && card.prescription(o.PrescriptionID).Status == PrescriptionOpen) {
			view.Orders = append(view.Orders, o)
		}
	}
	for _, e := range card.Effectuations {
		if want[e.PrescriptionID] || (len(ids) == 0 && card.prescription(e.PrescriptionID).Status == PrescriptionOpen) {
			view.Effectuations = append(view.Effectuations, e)
		}
	}
	return view, nil
}

// read is the common front of every read: role, person, the request's own
// validation (invalid), then the read (from the cache when there is one),
// the nonce's verdict, the citizen's restriction (checkRestriction), and
// the audit row.
func (s *Service) read(ctx context.Context, call Call, op Operation, personID string, invalid error) (*Card, error) {
	if err := authorize(call.Caller.Role, op); err != nil {
		return nil, err
	}
	if err := authorizeOverride(call); err != nil {
		return nil, err
	}
	person, err := ParsePersonID(personID)
	if err != nil {
		return nil, err
	}
	if invalid != nil {
		return nil, invalid
	}
	audit := call.audit(op, s.now().UTC())
	var card *Card
	if s.cache == nil {
		card, err = s.store.ReadCard(ctx, person)
	} else {
		card, err = s.readCached(ctx, person)
	}
	if err != nil {
		return nil, err
	}
	card.PersonID = person
	audit.CardVersion = card.Version
	// Nothing recorded, nothing answered for a request refused now.
	if err := call.admitted(); err != nil {
		return nil, err
	}
	// The card as read, from the cache or the primary, says whether the
	// citizen restricted it; a refusal records nothing.
	if err := checkRestriction(ctx, call, card); err != nil {
		return nil, err
	}
	if err := s.reads.RecordRead(ctx, person, audit); err != nil {
		return nil, err
	}
	return card, nil
}
