package medcard

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"sync"
	"time"
)

// Service is the medicine card's application service: every SOAP operation,
// UI action and CLI command goes through it. It implements
// read-resolve-modify-write on top of a Store.
type Service struct {
	store Store
	now   func() time.Time
	// reads records every look-up in the audit trail.
	reads ReadAuditor

	// cache serves pure reads when set. flights collapses concurrent cache
	// misses for one person into one database read. fence is the way
	// around a cache a write could not reach, raised when a write-through
	// has not landed within fencePatience.
	cache         CardCache
	fence         CacheFence
	fencePatience time.Duration
	flights       flights
	// fenced is what the fences this gateway raised cover (fenceRead).
	fenced fencedVersions

	// optimisticAttempts is how often a write is tried with compare-and-set
	// before it falls back to writing under a row lock.
	optimisticAttempts int
	// lockedAttempts bounds the locked fallback (which can only lose to the
	// creation of a card that did not exist yet).
	lockedAttempts int
}

// NewService returns a Service over store that records look-ups with reads;
// now is the clock (time.Now in production, a fixed clock in tests).
func NewService(store Store, reads ReadAuditor, now func() time.Time, opts ...Option) *Service {
	s := &Service{store: store, reads: reads, now: now, optimisticAttempts: 3, lockedAttempts: 3}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Option configures a Service.
type Option func(*Service)

// WithCache serves pure reads from cache and writes every committed card
// through to it before the write is answered. A write-through that has not
// landed within patience is raced by fence (nil: none, for tests of the
// cache alone), and the write is answered when either is done. Keep
// patience plus the fence lease within the cache timeout, so that a slow
// cache costs a write no more than that.
func WithCache(cache CardCache, fence CacheFence, patience time.Duration) Option {
	return func(s *Service) { s.cache, s.fence, s.fencePatience = cache, fence, patience }
}

// Caller is an authenticated caller: the integrating system, the
// organisation it acts for, the requested role and, when the header named
// one, the person acting.
type Caller struct {
	System          string
	Organisation    string
	Role            Role
	AuthorisationID string
}

func (c Caller) modifier() Modifier {
	return Modifier{AuthorisationID: c.AuthorisationID, Role: c.Role, Organisation: c.Organisation, System: c.System}
}

// Call is one request to the service as its consumer received it: who
// asks, and the message's MessageID, which is the idempotency key of a
// write and the message id the audit records for a read.
type Call struct {
	Caller    Caller
	MessageID string
}

func (c Call) audit(op Operation, at time.Time) AuditEntry {
	return AuditEntry{
		Operation: op, At: at, System: c.Caller.System, Organisation: c.Caller.Organisation,
		Role: c.Caller.Role, AuthorisationID: c.Caller.AuthorisationID, MessageID: c.MessageID,
	}
}

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
		return &CardWrite{Person: person, BaseVersion: base, Card: card, Key: key,
			RequestHash: hash, Result: *res, Audit: audit}, res, nil
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
			// A resend of a committed write: the first attempt may have died
			// before its write-through, so this answer must make the card as
			// read (at least that write's version) visible as well.
			return res, s.settleCache(ctx, slot, person, card)
		}
		err = s.store.WriteCard(ctx, w)
		if err == nil {
			return res, s.settleCache(ctx, slot, person, w.Card)
		}
		if FaultOf(err) == FaultOutcomeUnknown {
			// It may have committed: drop the cached card, so that reads
			// cannot flip between it and the new one.
			_ = s.settleCache(ctx, slot, person, nil)
			return nil, err
		}
		if !errors.Is(err, ErrLostRace) {
			return nil, err
		}
	}
	// The card is contended: queue behind its row lock so that this request
	// cannot keep losing.
	for range s.lockedAttempts {
		var res *WriteResult
		var settled *Card // the card to make visible before answering
		slot := s.cacheSlot(person)
		err := s.store.WriteLocked(ctx, person, key, func(card *Card, prior *StoredOutcome) (*CardWrite, error) {
			w, r, err := decide(card, prior)
			res, settled = r, card
			if w != nil {
				settled = w.Card
			}
			return w, err
		})
		if err == nil {
			return res, s.settleCache(ctx, slot, person, settled)
		}
		if FaultOf(err) == FaultOutcomeUnknown {
			_ = s.settleCache(ctx, slot, person, nil)
			return nil, err
		}
		if !errors.Is(err, ErrLostRace) {
			return nil, err
		}
	}
	return nil, Errorf(FaultCardBusy, "the medicine card is being changed by others; resend with the same MessageID")
}

// cacheSlot is the person's cache slot, or the zero slot without a cache.
func (s *Service) cacheSlot(person PersonID) CacheSlot {
	if s.cache == nil {
		return CacheSlot{}
	}
	return s.cache.Slot(person)
}

// settleCache runs after a write is durable and before it is answered: no
// read that starts after the answer may be served an older card from the
// cache, on any gateway. card is the committed card (written through), or
// nil when the write's outcome is unknown (the entry is dropped). If the
// cache does not confirm within the patience, a fence is raised in
// parallel, and whichever is done first lets the answer go. Only if both
// fail is the write answered with a retryable fault: it is committed, and
// a resend with the same MessageID gets the stored answer and settles the
// cache again. (Database reads already under way are never shared with
// later readers; see flights.)
func (s *Service) settleCache(ctx context.Context, slot CacheSlot, person PersonID, card *Card) error {
	if s.cache == nil || seededBugSkipWriteThrough {
		return nil
	}
	if now := s.cache.Slot(person); now.Key != slot.Key {
		// The shard moved while the write was under way: write where
		// readers now look, under the lowest generation, which predates
		// the commit whatever the new database's fences say.
		slot = CacheSlot{Key: now.Key}
	}
	// Both helpers below end before this returns: cancel, then wait.
	var wg sync.WaitGroup
	defer wg.Wait()
	cacheCtx, cancel := context.WithCancel(ctx)
	defer cancel()

	reached := make(chan bool, 1)
	wg.Add(1)
	go func() {
		defer wg.Done()
		if card == nil {
			reached <- s.cache.Forget(cacheCtx, slot)
			return
		}
		card.PersonID = person
		reached <- s.cache.Written(cacheCtx, slot, card)
	}()
	patience := time.NewTimer(s.fencePatience)
	defer patience.Stop()
	select {
	case ok := <-reached:
		if ok {
			return nil
		}
		reached = nil
	case <-patience.C:
	}
	if s.fence == nil {
		return nil
	}
	fenced := make(chan error, 1)
	wg.Add(1)
	go func() {
		defer wg.Done()
		fenced <- s.fence.Fence(cacheCtx, person)
	}()
	for {
		select {
		case ok := <-reached:
			if ok {
				return nil
			}
			reached = nil
		case err := <-fenced:
			if err == nil {
				if card != nil {
					// Raised after the commit: it covers reads of this
					// version here (fenceRead).
					s.fenced.add(person, slot.Key, card.Version)
				}
				return nil
			}
			if reached == nil {
				return WrapError(FaultUnavailable, err,
					"the change is saved but could not yet be made visible to every reader; resend with the same MessageID")
			}
			fenced = nil
		}
	}
}

// requestHash identifies the content of a request, so that a resend can be
// told from a different request reusing a MessageID. It hashes a canonical
// form (canonicalRequest) rather than the Go struct's encoding, so that a
// field added to a request type in a later version does not change the hash
// of a resend that spans the deploy: an old client's request has the new
// field at its zero value, and zero values are left out. The form is
// versioned by its prefix and held by a golden vector in the tests.
//
// The operation is hashed on its own, beside the form. A request type that
// carries its operation in a field of its own (CardReviewRequest.Op,
// OrderActionRequest.Op) tags it `json:"-"`, so that the form, and the
// hash of a resend stored before the type carried it, stay as they were.
// DrugMedicationChange.Op was always a member of the form and stays one.
func requestHash(op Operation, person PersonID, request any) ([]byte, error) {
	body, err := canonicalRequest(request)
	if err != nil {
		return nil, WrapError(FaultInternal, err, "hash request")
	}
	h := sha256.New()
	h.Write([]byte("medcard-request-v1"))
	h.Write([]byte{0})
	h.Write([]byte(op))
	h.Write([]byte{0})
	h.Write([]byte(person))
	h.Write([]byte{0})
	h.Write(body)
	return h.Sum(nil), nil
}

// canonicalRequest is the canonical form of a request: compact UTF-8 JSON
// of its members by field name (or json tag), sorted at every level,
// numbers as written, no HTML escaping, with every member whose value is
// null, false, 0, "" or an empty array or object left out. The golden
// vector in the tests was computed independently (Python's json.dumps with
// sort_keys, compact separators, ensure_ascii=False, and hashlib.sha256).
// Field names are part of the form: they mirror the WSDL's element names,
// whose renaming breaks integrators anyway.
func canonicalRequest(request any) ([]byte, error) {
	raw, err := json.Marshal(request)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	v, _ = dropZero(v)
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false)              // plain UTF-8, as any other language writes it
	if err := enc.Encode(v); err != nil { // maps encode with sorted keys
		return nil, err
	}
	return bytes.TrimSuffix(out.Bytes(), []byte("\n")), nil
}

// dropZero removes zero-valued members from a decoded JSON value and
// reports whether what is left is itself zero.
func dropZero(v any) (any, bool) {
	switch x := v.(type) {
	case nil:
		return nil, true
	case bool:
		return x, !x
	case string:
		return x, x == ""
	case json.Number:
		f, err := x.Float64()
		return x, err == nil && f == 0
	case []any:
		for i, e := range x {
			x[i], _ = dropZero(e) // an element keeps its place even if zero
		}
		return x, len(x) == 0
	case map[string]any:
		for k, e := range x {
			var zero bool
			if x[k], zero = dropZero(e); zero {
				delete(x, k)
			}
		}
		return x, len(x) == 0
	}
	return v, false
}
