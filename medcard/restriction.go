package medcard

import "context"

// AccessRestrictionRequest restricts access to the card (Restricted) or
// lifts the restriction (Restricted false): the citizen's "negative
// consent" of Danish health law. Only the citizen asks for it
// (OpSetAccessRestriction, RoleCitizen). It is a write like any other:
// versioned, applied once per MessageID, audited with the change. Setting
// what is already set still writes a new card version, as the citizen's
// request is itself in their access log.
//
// While the card is restricted, a read of it by anyone but the citizen is
// refused with FaultAccessRestricted, unless a doctor asks for an
// emergency override (Call.EmergencyOverride; "værdispring"); see
// checkRestriction. Writes are not refused: a clinician may still record
// a medication and a pharmacist still dispense what was prescribed, which
// answers them versions only, never the card's content.
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

// checkRestriction decides whether call may be shown card: always when
// the card is not restricted or the caller is the citizen; else only with
// an emergency override (authorizeOverride let only a doctor ask for
// one), which it notes in the request's log (NoteOverride) for the edge
// to count and log. A refusal records nothing, as no card content is
// shown: the refused look-up is not in the access log.
//
// Errors: FaultAccessRestricted.
func checkRestriction(ctx context.Context, call Call, card *Card) error {
	if !card.AccessRestricted || call.Caller.Role == RoleCitizen {
		return nil
	}
	if !call.EmergencyOverride {
		return Errorf(FaultAccessRestricted, "the citizen has restricted access to this medicine card; "+
			"a doctor may look at it in an emergency with EmergencyOverride in the ConsentHeader")
	}
	NoteOverride(ctx)
	return nil
}
