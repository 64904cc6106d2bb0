package medcard

import (
	"errors"
	"fmt"
)

// Code is one of the few error classes that survive every boundary: the SOAP
// edge maps a code to a fault class, the store maps SQLSTATEs to a code, and
// logs and metrics carry it as a label.
type Code string

// The codes. Keep this list short: integrators branch on Fault IDs, operators
// on codes.
const (
	CodeInvalid      Code = "invalid"      // the request can never succeed as sent
	CodeNotFound     Code = "not_found"    // the thing named does not exist
	CodeConflict     Code = "conflict"     // the request clashes with the card's state
	CodeUnauthorized Code = "unauthorized" // the caller may not do this
	CodeUnavailable  Code = "unavailable"  // try again later with the same MessageID
	CodeInternal     Code = "internal"     // our bug; logged at the edge
)

// Fault is one entry of the public fault catalogue: a stable ID that
// integrators may match on forever, and the code it belongs to. IDs are never
// renamed or reused; add new ones at the end of their group.
type Fault struct {
	ID   string
	Code Code
}

// The fault catalogue. Every fault the gateway can answer with is listed here
// and nowhere else.
var (
	// Request shape (mostly raised at the SOAP edge).
	FaultMalformedMessage   = Fault{"MalformedMessage", CodeInvalid}
	FaultMessageTooLarge    = Fault{"MessageTooLarge", CodeInvalid}
	FaultUnknownOperation   = Fault{"UnknownOperation", CodeInvalid}
	FaultWrongNamespace     = Fault{"WrongNamespace", CodeInvalid}
	FaultMustUnderstand     = Fault{"HeaderNotUnderstood", CodeInvalid}
	FaultVersionMismatch    = Fault{"SOAPVersionMismatch", CodeInvalid}
	FaultMissingMessageID   = Fault{"MissingMessageID", CodeInvalid}
	FaultRequiredField      = Fault{"RequiredFieldMissing", CodeInvalid}
	FaultInvalidField       = Fault{"InvalidFieldValue", CodeInvalid}
	FaultInvalidPersonID    = Fault{"InvalidPersonIdentifier", CodeInvalid}
	FaultInvalidCardVersion = Fault{"InvalidMedicineCardVersion", CodeInvalid}

	// WS-Addressing (raised at the SOAP edge): named after the faults of
	// the WS-Addressing 1.0 SOAP binding they stand for.
	FaultActionNotSupported      = Fault{"ActionNotSupported", CodeInvalid}
	FaultOnlyAnonymousAddress    = Fault{"OnlyAnonymousAddressSupported", CodeInvalid}
	FaultInvalidAddressingHeader = Fault{"InvalidAddressingHeader", CodeInvalid}

	// Idempotency.
	FaultMessageIDReused = Fault{"MessageIDReusedWithDifferentRequest", CodeConflict}

	// Items named by a request that are not on the card.
	FaultDrugMedicationNotFound = Fault{"DrugMedicationNotFound", CodeNotFound}
	FaultPrescriptionNotFound   = Fault{"PrescriptionNotFound", CodeNotFound}
	FaultOrderNotFound          = Fault{"OrderNotFound", CodeNotFound}
	FaultEffectuationNotFound   = Fault{"EffectuationNotFound", CodeNotFound}

	// Business rules (rules.go): the request clashes with the card's state.
	FaultTransitionNotAllowed      = Fault{"StatusTransitionNotAllowed", CodeConflict}
	FaultItemInConflict            = Fault{"ItemHasUnresolvedConflict", CodeConflict}
	FaultNoConflict                = Fault{"NoConflictToResolve", CodeConflict}
	FaultDrugMedicationNotActive   = Fault{"DrugMedicationNotActive", CodeConflict}
	FaultPrescriptionNotOpen       = Fault{"PrescriptionNotOpen", CodeConflict}
	FaultPrescriptionNotValidToday = Fault{"PrescriptionNotValidToday", CodeConflict}
	FaultNoDispensingsLeft         = Fault{"NoDispensingsLeft", CodeConflict}
	FaultIterationTooEarly         = Fault{"IterationIntervalNotPassed", CodeConflict}
	FaultTooManyPackages           = Fault{"PackagesExceedPrescribed", CodeConflict}
	FaultOpenOrderExists           = Fault{"OpenOrderExists", CodeConflict}
	FaultOrderOfAnotherPharmacy    = Fault{"OrderHeldByAnotherPharmacy", CodeConflict}
	FaultEffectuationNotStarted    = Fault{"EffectuationNotStarted", CodeConflict}
	FaultEffectuationUndone        = Fault{"EffectuationAlreadyUndone", CodeConflict}

	// Security.
	FaultNotAuthenticated = Fault{"NotAuthenticated", CodeUnauthorized}
	FaultRoleNotAllowed   = Fault{"RoleNotAllowed", CodeUnauthorized}
	// FaultPasswordTextNeedsTLS: a PasswordText token over plain HTTP,
	// refused before its password is looked at (the fix is HTTPS or a
	// PasswordDigest, not another password).
	FaultPasswordTextNeedsTLS = Fault{"PasswordTextRequiresTLS", CodeUnauthorized}
	FaultMessageExpired       = Fault{"MessageExpired", CodeUnauthorized} // the wsu:Timestamp's Expires has passed
	// FaultAccessRestricted: the citizen restricted access to the card and
	// the caller is not the citizen and asked for no emergency override
	// (restriction.go). Not retryable: only the citizen's lifting it, or a
	// doctor's override, changes the answer.
	FaultAccessRestricted = Fault{"AccessRestricted", CodeUnauthorized}

	// Availability: the caller should resend with the same MessageID.
	FaultCardBusy       = Fault{"MedicineCardBusy", CodeUnavailable}
	FaultUnavailable    = Fault{"ServiceUnavailable", CodeUnavailable}
	FaultOutcomeUnknown = Fault{"OutcomeUnknown", CodeUnavailable}

	// Our bugs.
	FaultInternal = Fault{"InternalError", CodeInternal}
)

// Error is a domain error: a catalogue fault and a message a clinician or an
// integrator can act on. The message must never contain a person identifier,
// a name or card content: it is sent to the client and may be logged.
type Error struct {
	Fault   Fault
	Message string
	Err     error // the cause, for logs; never sent to clients
}

// Errorf returns an *Error for fault f with a formatted message.
func Errorf(f Fault, format string, args ...any) *Error {
	return &Error{Fault: f, Message: fmt.Sprintf(format, args...)}
}

// WrapError returns an *Error for fault f that keeps err as its cause.
func WrapError(f Fault, err error, message string) *Error {
	return &Error{Fault: f, Message: message, Err: err}
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Fault.ID, e.Message, e.Err)
	}
	return fmt.Sprintf("%s: %s", e.Fault.ID, e.Message)
}

func (e *Error) Unwrap() error { return e.Err }

// FaultOf returns the catalogue fault of err: that of the outermost *Error in
// its chain, or FaultInternal for anything else.
func FaultOf(err error) Fault {
	var e *Error
	if errors.As(err, &e) {
		return e.Fault
	}
	return FaultInternal
}

// MessageOf returns the client-safe message of err. Errors that are not
// *Error are internal and get a fixed text, so that nothing of their content
// leaks to a client.
func MessageOf(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "internal error"
}

// ErrLostRace is returned by a Store when the card changed between the read
// and the compare-and-set write, or when another request with the same
// MessageID committed first. The service reads again and retries.
var ErrLostRace = errors.New("card changed since it was read")
