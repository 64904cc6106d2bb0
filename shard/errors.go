package shard

import (
	"errors"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/sharedmedcard/gateway/medcard"
)

// SQLSTATEs the store acts on: the fence trigger's own two, the check that
// a commit will be confirmed by enough standbys (require_confirmations),
// and the unique violation that means another request with the same
// MessageID won.
const (
	sqlstateShardNotOwned   = "MC001"
	sqlstateShardFrozen     = "MC002"
	sqlstateTooFewStandbys  = "MC003"
	sqlstateUniqueViolation = "23505"
)

// translate turns a database error into a domain error at the shard
// package's edge. written says whether a commit may have happened.
//
// The rules, in order:
//   - a domain error or ErrLostRace is passed on as it is;
//   - a *pgconn.ConnectError is FaultUnavailable whatever its cause (a
//     refused dial, or the server's own answer to the start-up message,
//     such as 57P03 while it recovers from a crash): no statement was
//     sent, so nothing can have committed, and a resend with the same
//     MessageID is safe once the server answers;
//   - a *pgconn.PgError is the server's answer to a statement, and a
//     statement answered with an error did not commit: the fence codes
//     MC001 and MC002 go back to onShard unchanged, 23505 is ErrLostRace,
//     MC003 (too few standbys would confirm the commit) FaultUnavailable,
//     a code that transientFault lists gets that fault, and anything else
//     is FaultInternal (our bug, or a schema that is not what we expect);
//   - any other error lost the connection: FaultOutcomeUnknown when the
//     call wrote and pgconn cannot vouch that nothing was sent
//     (pgconn.SafeToRetry), FaultUnavailable otherwise.
//
// Every fault but FaultInternal has CodeUnavailable, which the SOAP edge
// answers with Retryable=true. what names the step for FaultInternal.
func translate(err error, written bool, what string) error {
	if err == nil {
		return nil
	}
	var domainErr *medcard.Error
	if errors.As(err, &domainErr) || errors.Is(err, medcard.ErrLostRace) {
		return err
	}
	// Before PgError: a ConnectError may wrap the server's PgError.
	var connectErr *pgconn.ConnectError
	if errors.As(err, &connectErr) {
		return medcard.WrapError(medcard.FaultUnavailable, err, "the card's database is unavailable")
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case sqlstateShardNotOwned, sqlstateShardFrozen:
			return err // handled by onShard
		case sqlstateUniqueViolation:
			return medcard.ErrLostRace // another request with the same MessageID committed first
		case sqlstateTooFewStandbys:
			return medcard.WrapError(medcard.FaultUnavailable, err,
				"the card's database does not wait for its standbys' confirmation now; resend with the same MessageID")
		}
		if f, ok := transientFault(pgErr.Code); ok {
			return medcard.WrapError(f, err, transientMessage[f])
		}
		return medcard.WrapError(medcard.FaultInternal, err, what)
	}
	if written && !pgconn.SafeToRetry(err) {
		return medcard.WrapError(medcard.FaultOutcomeUnknown, err,
			"the outcome of the write is unknown; resend with the same MessageID")
	}
	return medcard.WrapError(medcard.FaultUnavailable, err, "the card's database is unavailable")
}

// transientMessage is the client's message for each fault transientFault
// returns.
var transientMessage = map[medcard.Fault]string{
	medcard.FaultUnavailable: "the card's database is unavailable; resend with the same MessageID",
	medcard.FaultCardBusy:    "the card is busy; resend with the same MessageID",
}

// transientFault reports whether SQLSTATE code says that the server could
// not do the statement now but may soon, and which retryable fault that is.
// The statement did not commit, so a resend is safe.
//
// FaultUnavailable, the database cannot serve now:
//   - class 08, connection exception, except 08P01 protocol_violation,
//     which is a driver bug and would fail again;
//   - 57P01 admin_shutdown, 57P02 crash_shutdown, 57P03 cannot_connect_now
//     (starting up, shutting down, recovering) and 57P05
//     idle_session_timeout: the server ends or refuses the session;
//   - 57014 query_canceled: statement_timeout or a cancel request, under
//     load; the statement was rolled back;
//   - class 53, insufficient resources (53300 too_many_connections,
//     53200 out_of_memory, 53100 disk_full), except 53400
//     configuration_limit_exceeded, which the same statement hits again;
//   - 25006 read_only_sql_transaction: the write reached a standby or a
//     demoted primary, as during a failover; the new primary will take it.
//
// FaultCardBusy, the card is contended: 40001 serialization_failure,
// 40P01 deadlock_detected and 55P03 lock_not_available. PostgreSQL rolled
// the transaction back, and a resend usually wins.
func transientFault(code string) (medcard.Fault, bool) {
	switch code {
	case "08P01", "53400":
		return medcard.Fault{}, false
	case "57P01", "57P02", "57P03", "57P05", "57014", "25006":
		return medcard.FaultUnavailable, true
	case "40001", "40P01", "55P03":
		return medcard.FaultCardBusy, true
	}
	if len(code) == 5 && (code[:2] == "08" || code[:2] == "53") {
		return medcard.FaultUnavailable, true
	}
	return medcard.Fault{}, false
}
