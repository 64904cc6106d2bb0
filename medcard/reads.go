package medcard

import (
	"context"
	"sync"
	"time"
)

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
// Errors: FaultRoleNotAllowed, FaultInvalidPersonID, FaultInvalidField, and
// the Store's.
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
	return card, nil
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
// FaultDrugMedicationNotFound, and the Store's.
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
// FaultPrescriptionNotFound, and the Store's.
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
// validation (invalid), then the read (from the cache when there is one)
// and its audit row.
func (s *Service) read(ctx context.Context, call Call, op Operation, personID string, invalid error) (*Card, error) {
	if err := authorize(call.Caller.Role, op); err != nil {
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
	if err := s.reads.RecordRead(ctx, person, audit); err != nil {
		return nil, err
	}
	return card, nil
}

// flightTimeout bounds a database read shared by several readers; it is
// detached from the first reader's context so that one caller giving up
// does not fail the others.
const flightTimeout = 5 * time.Second

// readCached serves a read from the cache, or else from one database read
// shared by the concurrent readers of the person on this gateway (see
// flights), which then fills the cache. The slot (and with it the fence
// generation and the fill lease) is taken before the database read, so a
// fill can only ever label a card with a generation it was current for.
func (s *Service) readCached(ctx context.Context, person PersonID) (*Card, error) {
	slot := s.cache.Slot(person)
	if slot.Usable {
		if card := s.cache.Get(ctx, &slot); card != nil {
			return card, nil
		}
	}
	shared, _, err := s.flights.do(ctx, person, func() (*Card, error) {
		flightCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), flightTimeout)
		defer cancel()
		card, err := s.store.ReadCard(flightCtx, person)
		if err != nil {
			return nil, err
		}
		card.PersonID = person
		// A read that found the shard moved (and followed it) must not fill
		// the old place: readers still on the old map would be served it
		// after the next write at the new one. Where readers now look, it
		// holds no lease.
		target := slot
		if now := s.cache.Slot(person); now.Key != slot.Key {
			target = CacheSlot{Key: now.Key, Generation: now.Generation}
		}
		moved := target.Key != slot.Key
		switch {
		case card.Moving:
			// Read from a shard frozen for a move: enter nothing (see
			// Card.Moving); the move's cache fence covers what is there.
		case s.fence != nil && card.ChangedAgo < s.fence.Window():
			// Its writer may not have settled the cache yet: another
			// gateway could still serve the older card after this one
			// is answered. Hold it in the cache, or else fence.
			if moved || !s.cache.Hold(flightCtx, slot, card) {
				if err := s.fenceRead(flightCtx, person, target.Key, card); err != nil {
					return nil, err
				}
			}
		case target.Lease != "":
			s.cache.Fill(flightCtx, target, card)
		default:
			// Read without a lease of its own, past the window: its writer
			// may still have stopped between its commit and its
			// write-through (a paused gateway), leaving an older card in
			// the cache that would be served after this one is answered.
			// Raise that in place, or else fence if one can be there.
			if !s.cache.Raise(flightCtx, target, card) && s.fence != nil && card.ChangedAgo < s.cache.Retention() {
				if err := s.fenceRead(flightCtx, person, target.Key, card); err != nil {
					return nil, err
				}
			}
		}
		return card, nil
	})
	if err != nil {
		return nil, err
	}
	// A fence of ours may not be in force everywhere yet.
	if s.fence != nil {
		s.fence.Settled(ctx, person)
	}
	return shared.clone(), nil
}

// fenceRead raises a cache fence for a card read from the primary under
// key, unless a fence this gateway raised already covers it.
//
// A fence raised after the card was read (or, by its writer, committed)
// covers every later answer of that version or an older one: once it is in
// force no gateway serves an entry of an older generation, and an entry of
// its generation or a newer one was stored by a fill whose lease, and so
// whose database read, came after the fence, or by a write committed after
// it; neither can be older than the card. During a Redis outage a gateway
// so raises at most one fence per card version it reads, not one per read.
//
// Errors: FaultUnavailable when the fence cannot be raised.
func (s *Service) fenceRead(ctx context.Context, person PersonID, key string, card *Card) error {
	if s.fenced.covers(person, key, card.Version) {
		return nil
	}
	if err := s.fence.Fence(ctx, person); err != nil {
		return err
	}
	s.fenced.add(person, key, card.Version)
	return nil
}

// fencedVersions remembers, per person, the newest card version this
// gateway had read or committed under a cache key before one of its
// fences went into force (see Service.fenceRead). It is bounded: past
// maxFenced persons it forgets them all, which costs a fence more each.
type fencedVersions struct {
	mu       sync.Mutex
	byPerson map[PersonID]fencedVersion
}

type fencedVersion struct {
	key     string
	version int64
}

const maxFenced = 10_000

func (f *fencedVersions) covers(person PersonID, key string, version int64) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	v, ok := f.byPerson[person]
	return ok && v.key == key && v.version >= version
}

func (f *fencedVersions) add(person PersonID, key string, version int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if v, ok := f.byPerson[person]; ok && v.key == key && v.version >= version {
		return
	}
	if f.byPerson == nil || len(f.byPerson) >= maxFenced {
		f.byPerson = map[PersonID]fencedVersion{}
	}
	f.byPerson[person] = fencedVersion{key: key, version: version}
}
