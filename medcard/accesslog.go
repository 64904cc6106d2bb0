package medcard

import (
	"context"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Consent is what the caller declared, in its ConsentHeader, of the
// citizen's consent to this look-up or change. It is recorded in the
// audit row and shown in the citizen's access log; the service does not
// decide on it.
type Consent string

// Consents.
const (
	ConsentNone      Consent = "None"      // no ConsentHeader, or one naming none
	ConsentGiven     Consent = "Given"     // the citizen consented
	ConsentWithdrawn Consent = "Withdrawn" // the citizen withdrew consent
)

// ParseConsent returns the Consent named s; empty is ConsentNone.
//
// Errors: FaultInvalidField.
func ParseConsent(s string) (Consent, error) {
	switch c := Consent(s); c {
	case "":
		return ConsentNone, nil
	case ConsentNone, ConsentGiven, ConsentWithdrawn:
		return c, nil
	}
	return "", Errorf(FaultInvalidField, "Consent must be None, Given or Withdrawn")
}

// emergencyRoles may ask for an emergency override: only a doctor, who
// takes the clinical responsibility for looking past a citizen's
// restriction in an emergency, as Danish health law puts it on the
// treating physician ("værdispring"); nurses act delegated by one, and
// pharmacists have no emergency that needs it.
var emergencyRoles = []Role{RoleDoctor}

// authorizeOverride checks that a call asking for an emergency override
// comes from a role that may ask for one.
//
// Errors: FaultRoleNotAllowed.
func authorizeOverride(call Call) error {
	if !call.EmergencyOverride {
		return nil
	}
	for _, r := range emergencyRoles {
		if call.Caller.Role == r {
			return nil
		}
	}
	return Errorf(FaultRoleNotAllowed, "role %s may not ask for an emergency override", call.Caller.Role)
}

// Bounds of an access log query.
const (
	// DefaultAccessLogPageSize is the page size of a query that names none.
	DefaultAccessLogPageSize = 50
	// MaxAccessLogPageSize bounds a page, so that one answer stays small.
	MaxAccessLogPageSize = 200
	// DefaultAccessLogPeriod is the period of a query that names no start:
	// two years, what the citizen is shown (and what FMK keeps).
	DefaultAccessLogPeriod = 2 * 365 * 24 * time.Hour
	// maxAccessLogPeriod bounds a query's period.
	maxAccessLogPeriod = 10 * 366 * 24 * time.Hour
)

// AccessLogQuery asks for one page of a person's access log: the look-ups
// and changes of the card from From (inclusive) to To (exclusive), newest
// first.
type AccessLogQuery struct {
	PersonID string
	From     time.Time // zero: To minus DefaultAccessLogPeriod
	To       time.Time // zero: now
	PageSize int       // zero: DefaultAccessLogPageSize
	// PageToken is the NextPageToken of the page before; empty: the first
	// page. The rest of the query must be the same as for that page.
	PageToken string
}

// AccessLogPage is one page of a person's access log.
type AccessLogPage struct {
	Entries []AuditEntry // newest first
	// NextPageToken asks for the next page; empty on the last page.
	NextPageToken string
}

// AccessLogRange is what the store reads for one page: the person's rows
// at or after From and before Before (by time, then id), newest first, at
// most Limit.
type AccessLogRange struct {
	From   time.Time
	Before AccessLogCursor
	Limit  int
}

// AccessLogCursor is a position in a person's log: the row at At with the
// store's row id ID. A row is before the cursor when it is older, or as
// old with a smaller id; the cursor {To, 0} is the end of a period.
type AccessLogCursor struct {
	At time.Time
	ID int64
}

// LoggedAccess is one row of the access log as the store holds it: the
// entry and its row id, which orders rows of the same instant.
type LoggedAccess struct {
	ID    int64
	Entry AuditEntry
}

// GetAccessLog returns one page of the person's access log: every look-up
// and change of the card in the period, newest first, with who (system,
// organisation, role, acting person), what (operation, items, card
// version), when, and the consent and emergency override declared. The
// read is itself audited, as a look-up of the log (OpGetAccessLog).
//
// Errors: FaultRoleNotAllowed (RoleCitizen and RolePharmacist read the
// log, see permissions),
// FaultInvalidPersonID, FaultInvalidField (period, page size, page token),
// and the Store's.
func (s *Service) GetAccessLog(ctx context.Context, call Call, q AccessLogQuery) (*AccessLogPage, error) {
	if err := authorize(call.Caller.Role, OpGetAccessLog); err != nil {
		return nil, err
	}
	if err := authorizeOverride(call); err != nil {
		return nil, err
	}
	person, err := ParsePersonID(q.PersonID)
	if err != nil {
		return nil, err
	}
	now := s.now().UTC()
	to := q.To
	if to.IsZero() {
		to = now
	}
	from := q.From
	if from.IsZero() {
		from = to.Add(-DefaultAccessLogPeriod)
	}
	size := q.PageSize
	if size == 0 {
		size = DefaultAccessLogPageSize
	}
	switch {
	case !from.Before(to):
		return nil, Errorf(FaultInvalidField, "the period's start must be before its end")
	case to.Sub(from) > maxAccessLogPeriod:
		return nil, Errorf(FaultInvalidField, "a period spans at most ten years")
	case size < 1 || size > MaxAccessLogPageSize:
		return nil, Errorf(FaultInvalidField, "PageSize must be 1 to %d", MaxAccessLogPageSize)
	}
	before := AccessLogCursor{At: to}
	if q.PageToken != "" {
		c, err := parsePageToken(q.PageToken)
		if err != nil {
			return nil, err
		}
		if c.At.Before(from) || c.At.After(to) {
			return nil, Errorf(FaultInvalidField, "PageToken is not of this period")
		}
		before = c
	}
	rows, err := s.store.ReadAccessLog(ctx, person, AccessLogRange{From: from, Before: before, Limit: size + 1})
	if err != nil {
		return nil, err
	}
	page := &AccessLogPage{}
	if len(rows) > size {
		rows = rows[:size]
		last := rows[size-1]
		page.NextPageToken = pageToken(AccessLogCursor{At: last.Entry.At, ID: last.ID})
	}
	for _, r := range rows {
		page.Entries = append(page.Entries, r.Entry)
	}
	if err := s.reads.RecordRead(ctx, person, call.audit(OpGetAccessLog, now)); err != nil {
		return nil, err
	}
	return page, nil
}

// pageToken encodes a cursor for a client to send back: opaque to it, and
// versioned so that its form can change.
func pageToken(c AccessLogCursor) string {
	return base64.RawURLEncoding.EncodeToString(fmt.Appendf(nil, "1:%d:%d", c.At.UnixNano(), c.ID))
}

// parsePageToken decodes pageToken's form.
//
// Errors: FaultInvalidField.
func parsePageToken(s string) (AccessLogCursor, error) {
	bad := Errorf(FaultInvalidField, "PageToken is not one this service gave")
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(raw) > 64 {
		return AccessLogCursor{}, bad
	}
	parts := strings.Split(string(raw), ":")
	if len(parts) != 3 || parts[0] != "1" {
		return AccessLogCursor{}, bad
	}
	at, err1 := strconv.ParseInt(parts[1], 10, 64)
	id, err2 := strconv.ParseInt(parts[2], 10, 64)
	if err1 != nil || err2 != nil || id < 0 {
		return AccessLogCursor{}, bad
	}
	return AccessLogCursor{At: time.Unix(0, at).UTC(), ID: id}, nil
}
