package medcard

import (
	"context"
	"slices"
)

// CardCache keeps hot cards for pure reads (package cache implements it
// over Redis). It never fails a request: a cache that cannot answer reports
// a miss, and its errors are its own business (counted, not returned).
type CardCache interface {
	// Get returns the cached card of person, or false.
	Get(ctx context.Context, person PersonID) (*Card, bool)
	// Fill offers a card just read from the primary; the cache keeps it
	// unless it already holds that version or a newer one.
	Fill(ctx context.Context, person PersonID, card *Card)
	// Written stores a card just committed, or drops the person's entry if
	// it cannot; it returns when the cache no longer serves an older
	// version (or has given up trying).
	Written(ctx context.Context, person PersonID, card *Card)
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
