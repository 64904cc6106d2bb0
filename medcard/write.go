package medcard

import (
	"context"
	"errors"
)

// ItemKind names the kind of a card item in a WriteResult.
type ItemKind string

// Item kinds.
const (
	ItemDrugMedication ItemKind = "DrugMedication"
	ItemPrescription   ItemKind = "Prescription"
	ItemOrder          ItemKind = "Order"
	ItemEffectuation   ItemKind = "Effectuation"
)

// ItemVersion is the identifier and new version of an item a write touched.
type ItemVersion struct {
	Kind    ItemKind `json:"kind"`
	ID      int64    `json:"id"`
	Version int64    `json:"version"`
}

// WarningCode names a warning answered with a successful write.
type WarningCode string

// Warnings.
const (
	// WarningVersionMismatch: the request was based on an older card
	// version; its change touched nothing changed since and was applied.
	WarningVersionMismatch WarningCode = "VersionMismatchWarning"
)

// Warning accompanies a successful write.
type Warning struct {
	Code    WarningCode `json:"code"`
	Message string      `json:"message"`
}

// WriteResult is the answer to every write: the new card version, each
// touched item's identifier and version, and warnings. It is stored with the
// write and answered again, unchanged, to a resend.
type WriteResult struct {
	CardVersion int64         `json:"cardVersion"`
	Items       []ItemVersion `json:"items"`
	Warnings    []Warning     `json:"warnings,omitempty"`
	// Replayed is true when this is the stored answer to an earlier request
	// with the same MessageID.
	Replayed bool `json:"-"`
}

// Warnings answered with a write that merged or superseded something.
const (
	// WarningConflict: the change clashed with a change made since the
	// request's card version in a way only a person can settle; both
	// variants are kept on the item until ResolveConflict.
	WarningConflict WarningCode = "ConflictWarning"
	// WarningSuperseded: a change made since the request's card version
	// already did what this change would, or outranks it; this change was
	// not applied to that item.
	WarningSuperseded WarningCode = "ChangeSupersededWarning"
)

// mutation is one write in progress: the card as read (and being changed),
// who changes it and when, the card version the request was based on, and
// the answer being built.
type mutation struct {
	card    *Card
	op      Operation
	stamp   Stamp
	basedOn int64
	res     *WriteResult
}

// changedSince reports whether an item last changed at cardVersion was
// changed after the version the request was based on.
// Changes made earlier in this same write (at the new card version) are
// the request's own and never count.
func (m *mutation) changedSince(cardVersion int64) bool {
	return cardVersion > m.basedOn && cardVersion < m.card.Version
}

// today is the calendar date of the write, for validity checks.
func (m *mutation) today() Date { return dateOf(m.stamp.At) }

func (m *mutation) warn(code WarningCode, message string) {
	m.res.Warnings = append(m.res.Warnings, Warning{Code: code, Message: message})
}

func (m *mutation) touched(kind ItemKind, id, version int64) {
	for i, it := range m.res.Items {
		if it.Kind == kind && it.ID == id {
			m.res.Items[i].Version = version
			return
		}
	}
	m.res.Items = append(m.res.Items, ItemVersion{Kind: kind, ID: id, Version: version})
}

// change is one operation's modification of a card, computed from the card
// as read. It mutates m.card and records what it touched in m.res.
type change func(m *mutation) error

// write runs read-resolve-modify-write for one modifying request.
func (s *Service) write(ctx context.Context, call Call, person PersonID,
	op Operation, basedOn int64, request any, apply change) (*WriteResult, error) {
	if err := authorize(call.Caller.Role, op); err != nil {
		return nil, err
	}
	if call.MessageID == "" {
		return nil, Errorf(FaultMissingMessageID, "a write needs a MessageID in the message header")
	}
	if err := call.admitted(); err != nil {
		return nil, err
	}
	hash, err := requestHash(op, person, request)
	if err != nil {
		return nil, err
	}
	key := OutcomeKey{System: call.Caller.System, MessageID: call.MessageID}

	// decide turns the card as read into the write to commit; a nil write
	// with a result is the stored answer to a resend.
	decide := func(card *Card, prior *StoredOutcome) (*CardWrite, *WriteResult, error) {
		if prior != nil {
			if string(prior.RequestHash) != string(hash) {
				return nil, nil, Errorf(FaultMessageIDReused,
					"MessageID %s was used before for a different request", call.MessageID)
			}
			res := prior.Result
			res.Replayed = true
			return nil, &res, nil
		}
		if basedOn > card.Version {
			return nil, nil, Errorf(FaultInvalidCardVersion,
				"MedicineCardVersion %d is newer than the card (version %d)", basedOn, card.Version)
		}
		base := card.Version
		now := s.now().UTC()
		res := &WriteResult{}
		card.Version = base + 1
		if basedOn < base {
			res.Warnings = append(res.Warnings, Warning{Code: WarningVersionMismatch,
				Message: "the card changed since the version the request was based on; the change was merged"})
		}
		m := &mutation{card: card, op: op, stamp: Stamp{By: call.Caller.modifier(), At: now}, basedOn: basedOn, res: res}
		if err := apply(m); err != nil {
			return nil, nil, err
		}
		res.CardVersion = card.Version
		audit := call.audit(op, now)
		audit.CardVersion = card.Version
		for _, it := range res.Items {
			audit.Items = append(audit.Items, ItemRef(it.Kind, it.ID))
		}
		return &CardWrite{Person: person, BaseVersion: base, Card: card, Key: key,
			RequestHash: hash, Result: *res, Audit: audit}, res, nil
	}

	if res, done, err := s.writeOnCachedBase(ctx, person, decide); done {
		return res, err
	}
	for range s.optimisticAttempts {
		// The cache slot is taken before the read: the generation it names
		// predates the commit (see CardCache).
		slot := s.cacheSlot(person)
		card, prior, err := s.store.ReadForWrite(ctx, person, key)
		if err != nil {
			return nil, err
		}
		w, res, err := decide(card, prior)
		if err != nil {
			return nil, err
		}
		if w == nil {
			if card.Moving {
				// Read from a shard frozen for a move: enter nothing (see
				// Card.Moving); the move's cache fence covers what is there.
				return res, nil
			}
			// A resend of a committed write: the first attempt may have died
			// before its write-through, so this answer must make the card as
			// read (at least that write's version) visible as well.
			return res, s.settleCache(ctx, slot, person, card)
		}
		if over, res, err := s.afterWrite(ctx, slot, person, w.Card, res, s.store.WriteCard(ctx, w)); over {
			return res, err
		}
	}
	// The card is contended: queue behind its row lock so that this request
	// cannot keep losing.
	for range s.lockedAttempts {
		var res *WriteResult
		var settled *Card // the card to make visible before answering
		replayedMoving := false
		slot := s.cacheSlot(person)
		err := s.store.WriteLocked(ctx, person, key, func(card *Card, prior *StoredOutcome) (*CardWrite, error) {
			w, r, err := decide(card, prior)
			res, settled = r, card
			replayedMoving = w == nil && card.Moving
			if w != nil {
				settled = w.Card
			}
			return w, err
		})
		if err == nil && replayedMoving {
			return res, nil // as above: nothing enters the cache from a moving shard
		}
		if over, res, err := s.afterWrite(ctx, slot, person, settled, res, err); over {
			return res, err
		}
	}
	return nil, Errorf(FaultCardBusy, "the medicine card is being changed by others; resend with the same MessageID")
}

// writeOnCachedBase is a write's one-round-trip path: the card cached at
// what is normally its current version is the base, and the database's
// compare-and-set is the authority. The write statement commits only if
// the card is still at that version and the MessageID has no stored
// outcome (its insert would collide); otherwise it commits nothing and
// reports ErrLostRace, and the write goes the way it always went: read
// card and outcome from the database, decide again. A refusal decided on
// the cached card is not answered either (the card may be older than the
// database's), only one decided on the card as read. done is false when
// the caller must go on with that read.
func (s *Service) writeOnCachedBase(ctx context.Context, person PersonID,
	decide func(*Card, *StoredOutcome) (*CardWrite, *WriteResult, error)) (res *WriteResult, done bool, err error) {
	if s.cache == nil {
		return nil, false, nil
	}
	slot := s.cacheSlot(person)
	card := s.cache.Peek(ctx, slot)
	if card == nil {
		return nil, false, nil
	}
	w, res, err := decide(card, nil)
	if err != nil || w == nil {
		return nil, false, nil
	}
	over, res, err := s.afterWrite(ctx, slot, person, w.Card, res, s.store.WriteCard(ctx, w))
	return res, over, err
}

// afterWrite settles the cache after a write of card under slot that
// returned err, and reports whether the write is over, with its answer:
// committed (res, once the card is written through), of unknown outcome
// (it may have committed: the cached card is dropped, so that reads cannot
// flip between it and the new one), or failed other than by losing the
// race; a lost race is not over, and the caller tries again.
func (s *Service) afterWrite(ctx context.Context, slot CacheSlot, person PersonID, card *Card,
	res *WriteResult, err error) (over bool, _ *WriteResult, _ error) {
	switch {
	case err == nil:
		return true, res, s.settleCache(ctx, slot, person, card)
	case errors.Is(err, ErrLostRace):
		return false, nil, nil
	case FaultOf(err) == FaultOutcomeUnknown:
		_ = s.settleCache(ctx, slot, person, nil)
		return true, nil, err
	default:
		return true, nil, err
	}
}
