package medcard

import (
	"context"
	"slices"
	"sync"
	"time"
)

// CardCache keeps hot cards for pure reads (package cache implements it
// over Redis). It never fails a request: a cache that cannot answer reports
// a miss, and its errors are its own business (counted, not returned).
//
// Every call names a CacheSlot, taken before the primary is read or
// written: where the card lives in the cache and the cache fence
// generation of its shard at that moment (see CacheFence). A card is only
// ever served if it was entered under the newest generation the reader
// knows, and a fill only lands if no write reached the cache since its
// lease was granted, so a fill that read the primary before a write can
// never hide that write.
type CardCache interface {
	// Slot returns the person's slot; no I/O. A slot that is not Usable
	// (the gateway does not know the current fence generation) must not
	// be read or filled.
	Slot(person PersonID) CacheSlot
	// Get returns the cached card, or nil on a miss; on a miss it may set
	// slot.Lease, the permission to Fill the card read from the primary
	// next.
	Get(ctx context.Context, slot *CacheSlot) *Card
	// Peek returns the cached card, or nil on a miss, granting no lease:
	// the base of a write, which the database's compare-and-set checks
	// (see writeOnCachedBase). A slot that is not Usable is a miss.
	Peek(ctx context.Context, slot CacheSlot) *Card
	// Fill offers a card read from the primary after Get granted a lease;
	// the cache keeps it only if no write reached it since and it holds no
	// newer version. A fill that lost its lease is a Raise.
	Fill(ctx context.Context, slot CacheSlot, card *Card)
	// Raise offers a card read from the primary without a lease of the
	// reader's own (its fence view was stale, a Redis call failed, another
	// reader's lease was pending, or the shard moved). It never creates an
	// entry (a Redis that restarted empty must not get an older card than
	// a write it acknowledged and lost), but it raises a cached card of an
	// older version to this one in place, keeping the entry's fence
	// generation (a raised entry of an old generation stays fenced), and
	// no fill pending meanwhile can store an older card. It reports
	// whether the cache could be reached: then it serves no version older
	// than card in slot, nor will it later (within Retention; see there);
	// if not, the caller must fence.
	Raise(ctx context.Context, slot CacheSlot, card *Card) bool
	// Retention bounds how long after a change of a card the cache may
	// still serve a version older than it: an older card's last store
	// (by a fill or write-through begun before the change) plus its
	// lifetime. A reader that could not Raise need not fence for a card
	// that changed longer ago than that.
	Retention() time.Duration
	// Written stores a card just committed, under the slot taken before the
	// commit. It reports whether the cache is now known to serve no older
	// version of the card: false when the cache could not be reached in
	// time, and then the caller must fence.
	Written(ctx context.Context, slot CacheSlot, card *Card) bool
	// Forget drops the person's entry (after a write whose outcome is
	// unknown) and reports whether it could.
	Forget(ctx context.Context, slot CacheSlot) bool
	// Hold is Fill for a card that changed within the settle window: it
	// fills with the slot's lease if it can, and reports whether the cache
	// now holds that version or a newer one. It never stores without the
	// lease (a Redis that restarted empty must not get an older card than
	// a write it acknowledged and lost).
	Hold(ctx context.Context, slot CacheSlot, card *Card) bool
}

// CacheSlot is where one person's card lives in the cache, as of the
// moment it was taken.
type CacheSlot struct {
	Key string
	// Generation is the cache fence generation of the person's shard the
	// gateway knew when the slot was taken.
	Generation int64
	// Usable is false when the gateway cannot tell the current generation
	// (its view of the fences is older than the fence lease): the cache
	// is then bypassed for reads.
	Usable bool
	// Lease is the fill permission Get was granted on a miss; empty: none.
	Lease string
}

// CacheFence is the way around a cache that a write could not reach: the
// shard database records a new fence generation for the person's shard,
// and every gateway stops serving the shard's cached cards entered under
// an older generation. Gateways learn generations by polling and trust
// what they learnt only for the fence lease, so once Fence returns, no
// read that starts afterwards, on any gateway, is served an older card.
type CacheFence interface {
	// Fence raises the generation of person's shard and returns when every
	// gateway must have seen it (the lease after the commit).
	//
	// Errors: FaultUnavailable when the shard database cannot be reached.
	Fence(ctx context.Context, person PersonID) error
	// Settled returns once the fences this gateway raised on person's
	// shard are in force everywhere. A read served from the primary waits
	// for it, so that it never shows a card another gateway may still be
	// serving an older version of from the cache.
	Settled(ctx context.Context, person PersonID)
	// Window is how long after a commit its writer may still be settling
	// the cache (the write-through's patience, a round trip, the lease).
	// A card read from the primary that changed more recently is held in
	// the cache (CardCache.Hold) or fenced by its reader before it is
	// answered, so that reads never go back in time across gateways. One
	// that changed longer ago is filled with the reader's lease or raised
	// (CardCache.Raise), since its writer may have been stopped for longer
	// than the window between its commit and its write-through.
	Window() time.Duration
}

// Clone returns a copy of c whose item slices can be changed without
// touching c, which may be shared by concurrent readers: the database read
// of concurrent readers (flights), the cache's decoded cards. What the
// items point to (a conflict, the review) is shared: a reader may replace
// such a pointer, never change what it points to.
func (c *Card) Clone() *Card {
	out := *c
	out.DrugMedications = slices.Clone(c.DrugMedications)
	out.Prescriptions = slices.Clone(c.Prescriptions)
	out.Orders = slices.Clone(c.Orders)
	out.Effectuations = slices.Clone(c.Effectuations)
	return &out
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
	return shared.Clone(), nil
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
