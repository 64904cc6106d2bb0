package medcard

import (
	"context"
	"strconv"
	"time"
)

// Store keeps cards, the stored outcome of every write (for idempotent
// resends) and the audit trail. The shard package implements it over
// hash-sharded PostgreSQL.
//
// Every method reads from and writes to the primary that owns the person's
// shard. Errors are *Error values with CodeUnavailable when the database
// cannot be reached or the outcome of a commit is unknown, ErrLostRace as
// documented, and anything else is internal.
type Store interface {
	// ReadCard returns the person's card from the primary. A person
	// without a card gets an empty card at version 0. The look-up's audit
	// row is the ReadAuditor's.
	ReadCard(ctx context.Context, person PersonID) (*Card, error)

	// ReadForWrite returns the person's card and, if a write with key was
	// committed before, its stored outcome.
	ReadForWrite(ctx context.Context, person PersonID, key OutcomeKey) (*Card, *StoredOutcome, error)

	// WriteCard commits w atomically: the card if its stored version is
	// still w.BaseVersion, the outcome under w.Key, and the audit row. It
	// returns ErrLostRace when the card moved on or w.Key was taken.
	WriteCard(ctx context.Context, w *CardWrite) error

	// WriteLocked reads the card and the stored outcome with the card locked
	// against other writers, lets decide compute the write (nil: nothing to
	// write) and commits it before releasing the lock. It is the fallback
	// for a contended card, where optimistic writes keep losing. It returns
	// ErrLostRace only if the card did not yet exist and another writer
	// created it meanwhile.
	WriteLocked(ctx context.Context, person PersonID, key OutcomeKey, decide func(*Card, *StoredOutcome) (*CardWrite, error)) error

	// ReadAccessLog returns the person's audit rows in r, newest first
	// (by time, then row id), at most r.Limit of them: one page of the
	// citizen's access log.
	ReadAccessLog(ctx context.Context, person PersonID, r AccessLogRange) ([]LoggedAccess, error)
}

// OutcomeKey identifies a write for idempotency: the calling system and the
// MessageID it chose.
type OutcomeKey struct {
	System    string
	MessageID string
}

// StoredOutcome is what the first write with a key answered.
type StoredOutcome struct {
	RequestHash []byte
	Result      WriteResult
}

// CardWrite is one atomic change of a card.
type CardWrite struct {
	Person      PersonID
	BaseVersion int64 // the version the change was computed from; 0: the card is new
	Card        *Card
	Key         OutcomeKey
	RequestHash []byte
	Result      WriteResult
	Audit       AuditEntry
}

// AuditEntry is one line of the citizen's access log: who looked at or
// changed the card (system, organisation, role, the acting person), what
// (operation, items, card version), when, under which message and flow,
// and the consent and emergency override the caller declared.
type AuditEntry struct {
	Operation       Operation
	At              time.Time
	System          string
	Organisation    string
	Role            Role
	AuthorisationID string // the acting person named by OnBehalfOf
	ActingUser      string // the signed-in UI user
	MessageID       string
	FlowID          string
	Consent         Consent
	// EmergencyOverride: the caller asked to see the card past the
	// citizen's restrictions.
	EmergencyOverride bool
	CardVersion       int64 // the version read or written
	// Items are the items a change touched, as "Kind:ID" (ItemRef); none
	// for a look-up.
	Items []string
}

// ItemRef names an item of a card in an audit row: its kind and id, as
// "DrugMedication:12".
func ItemRef(kind ItemKind, id int64) string { return string(kind) + ":" + strconv.FormatInt(id, 10) }

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
