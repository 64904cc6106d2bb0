package medcard

// AccessRestrictionRequest sets (Restricted) or lifts the citizen's
// restriction of the card: with it set, a look-up by anyone but the
// citizen is refused with FaultAccessRestricted, unless a doctor asks for
// an emergency override (Call.EmergencyOverride), which is audited and
// shown in the citizen's access log. Changes stay open to the roles that
// make them, so that a pharmacy still dispenses and a doctor still
// prescribes for a citizen who restricted the card; what they are
// answered is the change's outcome, not the card.
//
// Errors: only Change's.
type AccessRestrictionRequest struct {
	PersonID           string
	BasedOnCardVersion int64
	Restricted         bool
}

// Operation is OpSetAccessRestriction.
func (r AccessRestrictionRequest) Operation() Operation { return OpSetAccessRestriction }

func (r AccessRestrictionRequest) target() (string, int64) { return r.PersonID, r.BasedOnCardVersion }

func (r AccessRestrictionRequest) validate(*validator) change {
	return func(m *mutation) error { m.card.AccessRestricted = r.Restricted; return nil }
}

// checkRestriction refuses a look-up of a restricted card by anyone but
// the citizen (whose portal reads the access log, not the card, today),
// unless the call asks for an emergency override (which authorizeOverride
// has limited to doctors). A refused look-up shows the
// caller nothing and writes no audit row.
//
// Errors: FaultAccessRestricted.
func checkRestriction(call Call, card *Card) error {
	if !card.AccessRestricted || call.Caller.Role == RoleCitizen || call.EmergencyOverride {
		return nil
	}
	return Errorf(FaultAccessRestricted, "the citizen has restricted access to the medicine card; in an emergency a doctor may look with the ConsentHeader's EmergencyOverride, which the citizen sees in their access log")
}
