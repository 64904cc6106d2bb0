package medcard

import (
	"context"
	"slices"
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

// ReadAuditor records every look-up of a card in the audit trail, whether
// the card came from the cache, a read shared with other readers or a read
// of its own. Rows are written in batches shortly after: committing one row
// per look-up made every uncached read wait for a WAL flush, which halved
// what a shard database could serve (docs/performance.md). RecordRead fails
// only when the row cannot even be queued (the audit store is down and the
// queue is full), and then the read must not be served. Changes are audited
// by the write itself, in its transaction, never here.
type ReadAuditor interface {
	RecordRead(ctx context.Context, person PersonID, entry AuditEntry) error
}

// clone returns a copy of c whose item slices can be changed without
// touching c, which may be shared by concurrent readers.
func (c *Card) clone() *Card {
	out := *c
	out.DrugMedications = slices.Clone(c.DrugMedications)
	out.Prescriptions = slices.Clone(c.Prescriptions)
	out.Orders = slices.Clone(c.Orders)
	out.Effectuations = slices.Clone(c.Effectuations)
	return &out
}
