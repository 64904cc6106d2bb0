package envelope

import (
	"encoding/xml"
	"fmt"
	"strings"
	"unicode/utf8"
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
	// error, in the order of the message: the first 16 with a qname of at
	// most 256 bytes (notUnderstoodError), so a fault naming them stays
	// small.
	NotUnderstood []xml.Name
}

func errorf(kind Kind, format string, args ...any) *Error {
	return &Error{Kind: kind, Message: fmt.Sprintf(format, args...)}
}

func (e *Error) Error() string { return e.Kind.String() + ": " + e.Message }

// maxQuoted bounds what an Error quotes of a message (a name, a namespace,
// an action): enough to recognise it, never a document's worth.
const maxQuoted = 80

// quoted is s as an Error may quote it: cut to maxQuoted bytes at a rune
// boundary (marked with "…"), invalid UTF-8 replaced, and every run of six
// or more digits masked with "#", so that a person identifier is never
// echoed, even one sent as an element name or an action.
func quoted(s string) string {
	s = strings.ToValidUTF8(s, "\ufffd")
	if len(s) > maxQuoted {
		cut := maxQuoted
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	digits := 0
	for i := 0; i < len(s); i++ {
		if '0' <= s[i] && s[i] <= '9' {
			digits++
			continue
		}
		if digits >= 6 {
			s = s[:i-digits] + strings.Repeat("#", digits) + s[i:]
		}
		digits = 0
	}
	if digits >= 6 {
		s = s[:len(s)-digits] + strings.Repeat("#", digits)
	}
	return s
}

// syntaxMessage is what an Error says of encoding/xml's complaint msg:
// what is wrong, without what the document held there. An undefined entity
// is quoted with the text after its "&" (a drug name with a bare "&", say),
// so that one is named by its kind alone.
func syntaxMessage(msg string) string {
	if strings.HasPrefix(msg, "invalid character entity") {
		return "invalid character entity (write & as &amp; and < as &lt;)"
	}
	return quoted(msg)
}
