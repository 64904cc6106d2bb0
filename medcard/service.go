package medcard

import "time"

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
// one, the person acting; for the web UI, the signed-in user.
type Caller struct {
	System          string
	Organisation    string
	Role            Role
	AuthorisationID string
	ActingUser      string
}

func (c Caller) modifier() Modifier {
	return Modifier{AuthorisationID: c.AuthorisationID, Role: c.Role, Organisation: c.Organisation, System: c.System}
}

// Call is one request to the service as its consumer received it: who
// asks, the message's MessageID, which is the idempotency key of a write
// and the message id the audit records for a read, its FlowID, and what
// the caller declared of consent and emergency override. All of it goes
// into the request's audit row.
type Call struct {
	Caller    Caller
	MessageID string
	FlowID    string
	Consent   Consent // empty: ConsentNone
	// EmergencyOverride asks to see the card past the citizen's
	// restrictions; only a doctor may ask (authorizeOverride), and it is
	// always audited.
	EmergencyOverride bool
	// Admit, if set, is the request's last admission check (the SOAP
	// layer's WS-Security nonce), made alongside the request so that a
	// cached read's look-up and the nonce check reach Redis in one round
	// trip. A read calls it before its audit row; it reports whether the
	// request may go on.
	Admit func() error
}

// admitted is nil when the request may have effects (Call.Admit).
func (c Call) admitted() error {
	if c.Admit == nil {
		return nil
	}
	return c.Admit()
}

func (c Call) audit(op Operation, at time.Time) AuditEntry {
	consent := c.Consent
	if consent == "" {
		consent = ConsentNone
	}
	return AuditEntry{
		Operation: op, At: at, System: c.Caller.System, Organisation: c.Caller.Organisation,
		Role: c.Caller.Role, AuthorisationID: c.Caller.AuthorisationID, ActingUser: c.Caller.ActingUser,
		MessageID: c.MessageID, FlowID: c.FlowID, Consent: consent, EmergencyOverride: c.EmergencyOverride,
	}
}
