package envelope

import (
	"encoding/xml"
	"fmt"
)

// Kind is what is wrong with a message. The SOAP edge maps each kind to
// a fault of its catalogue (soap/fault.go); this package names none.
type Kind int

// The kinds of Error.
const (
	// Malformed: not well-formed XML, not shaped as a SOAP envelope, an
	// encoding that is not the message's, or a value of the wrong type.
	Malformed Kind = iota + 1
	// TooLarge: more bytes or XML tokens than the Limits allow.
	TooLarge
	// TooDeep: nested deeper than the Limits allow.
	TooDeep
	// VersionMismatch: the root is not a SOAP 1.1 or 1.2 Envelope.
	VersionMismatch
	// NotUnderstood: header blocks for us, marked mustUnderstand, that
	// we do not understand; Error.NotUnderstood names them.
	NotUnderstood
	// WrongNamespace: the body's wrapper, an element inside it or inside
	// one of the application's header blocks is not in the application's
	// namespace.
	WrongNamespace
	// UnknownBody: the body's wrapper names nothing the application serves.
	UnknownBody
	// InvalidAddressing: a WS-Addressing header is missing, repeated or
	// empty where WS-Addressing requires one.
	InvalidAddressing
	// ActionNotSupported: wsa:Action is not the action of the body.
	ActionNotSupported
	// OnlyAnonymousAddress: wsa:ReplyTo or wsa:FaultTo is not the
	// anonymous address.
	OnlyAnonymousAddress
	// Expired: the wsu:Timestamp's Expires has passed.
	Expired
	// InvalidTimestamp: the wsu:Timestamp cannot be read, was made in
	// the future, or expires before it was made.
	InvalidTimestamp
)

var kindNames = map[Kind]string{
	Malformed: "Malformed", TooLarge: "TooLarge", TooDeep: "TooDeep", VersionMismatch: "VersionMismatch",
	NotUnderstood: "NotUnderstood", WrongNamespace: "WrongNamespace", UnknownBody: "UnknownBody",
	InvalidAddressing: "InvalidAddressing", ActionNotSupported: "ActionNotSupported",
	OnlyAnonymousAddress: "OnlyAnonymousAddress", Expired: "Expired", InvalidTimestamp: "InvalidTimestamp",
}

func (k Kind) String() string {
	if s, ok := kindNames[k]; ok {
		return s
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Error is what is wrong with a message, with a text safe to send back:
// it quotes names, namespaces and the values of WS-Addressing headers,
// never element content.
type Error struct {
	Kind    Kind
	Message string
	// NotUnderstood names the refused header blocks of a NotUnderstood
	// error, in the order of the message.
	NotUnderstood []xml.Name
}

func errorf(kind Kind, format string, args ...any) *Error {
	return &Error{Kind: kind, Message: fmt.Sprintf(format, args...)}
}

func (e *Error) Error() string { return e.Kind.String() + ": " + e.Message }
