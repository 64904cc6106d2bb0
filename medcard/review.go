package medcard

// CardReviewRequest marks the card reviewed or not reviewed: Op is
// SetMedicineCardReviewed, which records that a doctor reviewed the card
// as it was at BasedOnCardVersion (what they saw, not changes made
// since), or SetMedicineCardNotReviewed, which removes the marker.
//
// Errors: only Change's.
type CardReviewRequest struct {
	// Op is not a member of the request's canonical form: requestHash
	// hashes the operation on its own, as it did before the request
	// carried it, so a resend spanning the deploy still matches its
	// stored outcome.
	Op                 Operation `json:"-"`
	PersonID           string
	BasedOnCardVersion int64
}

// Operation is Op.
func (r CardReviewRequest) Operation() Operation { return r.Op }

func (r CardReviewRequest) target() (string, int64) { return r.PersonID, r.BasedOnCardVersion }

func (r CardReviewRequest) validate(*validator) change {
	if r.Op == OpSetMedicineCardNotReviewed {
		return func(m *mutation) error { m.card.Reviewed = nil; return nil }
	}
	return setReviewed // Change let no other operation through
}

// setReviewed marks the card reviewed as it was at the request's base.
func setReviewed(m *mutation) error {
	m.card.Reviewed = &Reviewed{By: m.stamp.By, At: m.stamp.At, CardVersion: m.basedOn}
	return nil
}
