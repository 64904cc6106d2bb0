package shard

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/sharedmedcard/gateway/medcard"
)

// refusingServer listens on loopback and answers every start-up message
// with a FATAL error of SQLSTATE code, as PostgreSQL does while it starts
// up (57P03). It returns the address.
func refusingServer(t *testing.T, code string) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { l.Close(); <-done })
	go func() {
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.SetDeadline(time.Now().Add(5 * time.Second))
			b := pgproto3.NewBackend(c, c)
			if _, err := b.ReceiveStartupMessage(); err == nil {
				b.Send(&pgproto3.ErrorResponse{Severity: "FATAL", SeverityUnlocalized: "FATAL", Code: code,
					Message: "refused by the test server"})
				b.Flush()
			}
			c.Close()
		}
	}()
	return l.Addr().String()
}

// connectErr returns the error of pgconn.Connect to addr: a
// *pgconn.ConnectError, as the pool hands back for a connection it could
// not open.
func connectErr(t *testing.T, addr string) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := pgconn.Connect(ctx, "postgres://u@"+addr+"/db?sslmode=disable&connect_timeout=5")
	if err == nil {
		c.Close(ctx)
		t.Fatalf("Connect(%s) succeeded, want an error", addr)
	}
	var connectErr *pgconn.ConnectError
	if !errors.As(err, &connectErr) {
		t.Fatalf("Connect(%s) = %T %v, want a *pgconn.ConnectError", addr, err, err)
	}
	return err
}

// closedAddr returns a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func pgErr(code string) *pgconn.PgError {
	return &pgconn.PgError{Severity: "ERROR", Code: code, Message: "test"}
}

// safeToRetryErr is an error pgconn vouches was raised before anything was
// sent.
type safeToRetryErr struct{}

func (safeToRetryErr) Error() string     { return "not sent" }
func (safeToRetryErr) SafeToRetry() bool { return true }

// TestTranslate holds the classification of database errors: which are
// retryable (CodeUnavailable, Retryable=true at the SOAP edge) and which
// are internal.
func TestTranslate(t *testing.T) {
	startingUp := connectErr(t, refusingServer(t, "57P03"))
	tooMany := connectErr(t, refusingServer(t, "53300"))
	badPassword := connectErr(t, refusingServer(t, "28P01"))
	refused := connectErr(t, closedAddr(t))
	lostRace := medcard.ErrLostRace
	domain := medcard.Errorf(medcard.FaultInvalidField, "bad")

	type want struct {
		fault medcard.Fault // checked when same and sentinel are nil
		same  bool          // translate returns err itself
	}
	unavailable := want{fault: medcard.FaultUnavailable}
	busy := want{fault: medcard.FaultCardBusy}
	unknown := want{fault: medcard.FaultOutcomeUnknown}
	internal := want{fault: medcard.FaultInternal}
	same := want{same: true}
	tests := []struct {
		name    string
		err     error
		written bool
		want    want
	}{
		// The server answered the statement with an error: it did not
		// commit, so a transient code is a definite, retryable refusal even
		// for a write.
		{"57P03 cannot_connect_now", pgErr("57P03"), true, unavailable},
		{"57P01 admin_shutdown", pgErr("57P01"), true, unavailable},
		{"57P02 crash_shutdown", pgErr("57P02"), true, unavailable},
		{"57P05 idle_session_timeout", pgErr("57P05"), true, unavailable},
		{"57014 query_canceled", pgErr("57014"), true, unavailable},
		{"08000 connection_exception", pgErr("08000"), true, unavailable},
		{"08001 unable to connect", pgErr("08001"), true, unavailable},
		{"08006 connection_failure", pgErr("08006"), true, unavailable},
		{"53000 insufficient_resources", pgErr("53000"), true, unavailable},
		{"53100 disk_full", pgErr("53100"), true, unavailable},
		{"53200 out_of_memory", pgErr("53200"), true, unavailable},
		{"53300 too_many_connections", pgErr("53300"), true, unavailable},
		{"25006 read_only_sql_transaction", pgErr("25006"), true, unavailable},
		{"40001 serialization_failure", pgErr("40001"), true, busy},
		{"40P01 deadlock_detected", pgErr("40P01"), true, busy},
		{"55P03 lock_not_available", pgErr("55P03"), false, busy},
		{"wrapped 57P03", fmt.Errorf("write card: %w", pgErr("57P03")), true, unavailable},
		{"joined 25006", errors.Join(errors.New("x"), pgErr("25006")), true, unavailable},

		// Errors that a resend meets again.
		{"08P01 protocol_violation", pgErr("08P01"), true, internal},
		{"53400 configuration_limit_exceeded", pgErr("53400"), true, internal},
		{"42P01 undefined_table", pgErr("42P01"), false, internal},
		{"22P02 invalid_text_representation", pgErr("22P02"), true, internal},
		{"57P04 database_dropped", pgErr("57P04"), true, internal},

		// The fence and the MessageID race keep their meaning.
		{"MC001 shard not owned", pgErr("MC001"), true, same},
		{"MC002 shard frozen", pgErr("MC002"), true, same},
		{"domain error", domain, true, same},
		{"ErrLostRace", lostRace, true, same},

		// No connection: nothing was sent, whatever the server said.
		{"ConnectError 57P03", startingUp, true, unavailable},
		{"ConnectError 53300", tooMany, true, unavailable},
		{"ConnectError 28P01", badPassword, true, unavailable},
		{"ConnectError refused", refused, true, unavailable},
		{"wrapped ConnectError 57P03", fmt.Errorf("acquire: %w", startingUp), true, unavailable},

		// The connection broke under a statement.
		{"EOF during write", io.ErrUnexpectedEOF, true, unknown},
		{"EOF during read", io.ErrUnexpectedEOF, false, unavailable},
		{"safe to retry write", safeToRetryErr{}, true, unavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := translate(tt.err, tt.written, "step")
			switch {
			case tt.want.same:
				if got != tt.err {
					t.Fatalf("translate(%v, %v) = %v, want the error itself", tt.err, tt.written, got)
				}
			default:
				var e *medcard.Error
				if !errors.As(got, &e) || e.Fault != tt.want.fault {
					t.Fatalf("translate(%v, %v) = %v, want fault %s", tt.err, tt.written, got, tt.want.fault.ID)
				}
				if !errors.Is(got, tt.err) {
					t.Errorf("translate(%v, %v) = %v, does not wrap its cause", tt.err, tt.written, got)
				}
			}
		})
	}
	if err := translate(nil, true, "step"); err != nil {
		t.Errorf("translate(nil, true) = %v, want nil", err)
	}
	if lostRace := translate(pgErr(sqlstateUniqueViolation), true, "step"); lostRace != medcard.ErrLostRace {
		t.Errorf("translate(23505, true) = %v, want %v", lostRace, medcard.ErrLostRace)
	}
}
