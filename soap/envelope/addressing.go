package envelope

import (
	"encoding/xml"
	"strings"
)

// WS-Addressing 1.0, which WCF's WSHttpBinding and most custom bindings
// send with mustUnderstand="1". Action, MessageID, To, ReplyTo and FaultTo
// are understood (the anonymous address only: the answer goes back on the
// HTTP connection the request came on), and From and RelatesTo, whose
// content nothing here uses.
const (
	AnonymousAddress = NamespaceWSA + "/anonymous"
	// FaultAction is the wsa:Action of a fault about the addressing
	// headers themselves, SOAPFaultAction that of a SOAP fault
	// (MustUnderstand, VersionMismatch, a malformed message):
	// WS-Addressing 1.0 SOAP binding, 6.
	FaultAction     = NamespaceWSA + "/fault"
	SOAPFaultAction = NamespaceWSA + "/soap/fault"
)

// MaxMessageIDLength bounds a wsa:MessageID: an IRI naming one message
// needs no more, and an application may store it with what it did.
const MaxMessageIDLength = 200

// The WS-Addressing headers a message carried, as bits.
const (
	sawAction uint8 = 1 << iota
	sawMessageID
	sawTo
	sawReplyTo
	sawFaultTo
	sawFrom
)

// Addressing holds the WS-Addressing headers of a message, trimmed.
type Addressing struct {
	Action    string
	MessageID string
	ReplyTo   string // the address of the endpoint reference; "" if absent
	FaultTo   string
	saw       uint8
}

// Used reports whether the message sent any WS-Addressing header.
func (a *Addressing) Used() bool { return a.saw != 0 }

// endpointReference is a wsa:ReplyTo or wsa:FaultTo; of its content only
// the address matters here.
type endpointReference struct {
	Address *string `xml:"http://www.w3.org/2005/08/addressing Address"`
}

// read decodes the WS-Addressing header block el. It reports false, having
// read nothing, for a block it does not understand.
//
// Errors: InvalidAddressing, Malformed.
func (a *Addressing) read(dec *xml.Decoder, el xml.StartElement) (bool, error) {
	invalid := func(format string, args ...any) (bool, error) {
		return true, errorf(InvalidAddressing, format, args...)
	}
	var bit uint8
	var text, address *string
	var ignored string
	switch el.Name.Local {
	case "Action":
		bit, text = sawAction, &a.Action
	case "MessageID":
		bit, text = sawMessageID, &a.MessageID
	case "To":
		bit, text = sawTo, &ignored // we are the destination, whatever it calls us
	case "ReplyTo":
		bit, address = sawReplyTo, &a.ReplyTo
	case "FaultTo":
		bit, address = sawFaultTo, &a.FaultTo
	case "From":
		bit = sawFrom
	case "RelatesTo": // several are allowed; a request relating to others means nothing to us
		if err := dec.Skip(); err != nil {
			return true, syntaxError(err)
		}
		return true, nil
	default:
		return false, nil
	}
	if a.saw&bit != 0 {
		return invalid("the message has more than one wsa:%s header", el.Name.Local)
	}
	a.saw |= bit
	switch {
	case text != nil:
		if err := dec.DecodeElement(text, &el); err != nil {
			return true, syntaxError(err)
		}
		*text = strings.TrimSpace(*text)
	case address != nil:
		var epr endpointReference
		if err := dec.DecodeElement(&epr, &el); err != nil {
			return true, syntaxError(err)
		}
		if epr.Address == nil {
			return invalid("wsa:%s has no wsa:Address", el.Name.Local)
		}
		*address = strings.TrimSpace(*epr.Address)
	default:
		if err := dec.Skip(); err != nil {
			return true, syntaxError(err)
		}
	}
	switch {
	case bit == sawAction && a.Action == "":
		return invalid("wsa:Action is empty")
	case bit == sawMessageID && a.MessageID == "":
		return invalid("wsa:MessageID is empty")
	case bit == sawMessageID && len(a.MessageID) > MaxMessageIDLength:
		return invalid("wsa:MessageID is longer than %d characters", MaxMessageIDLength)
	}
	return true, nil
}

// Check holds the headers of a message that used WS-Addressing to the
// body's actions, the first of which it names in a refusal: it must have
// a wsa:Action, one of actions, and want its answer on the connection it
// came on. A message without WS-Addressing passes.
//
// Errors: InvalidAddressing, ActionNotSupported, OnlyAnonymousAddress.
func (a *Addressing) Check(body string, actions ...string) error {
	if !a.Used() {
		return nil
	}
	if a.saw&sawAction == 0 {
		return errorf(InvalidAddressing, "a message with WS-Addressing headers needs a wsa:Action")
	}
	found := false
	for _, action := range actions {
		found = found || a.Action == action
	}
	if !found {
		want := ""
		if len(actions) > 0 {
			want = actions[0]
		}
		return errorf(ActionNotSupported, "wsa:Action %s is not the action of %s, which is %s", quoted(a.Action), body, want)
	}
	if a.saw&sawReplyTo != 0 && a.ReplyTo != AnonymousAddress {
		return errorf(OnlyAnonymousAddress,
			"wsa:ReplyTo must be the anonymous address %s: the answer goes back on the HTTP connection", AnonymousAddress)
	}
	if a.saw&sawFaultTo != 0 && a.FaultTo != AnonymousAddress {
		return errorf(OnlyAnonymousAddress,
			"wsa:FaultTo must be the anonymous address %s: a fault goes back on the HTTP connection", AnonymousAddress)
	}
	return nil
}

// MessageKey is the wsa:MessageID as an idempotency key, "" if the message
// sent none: a urn:uuid: IRI in the lower-case form RFC 9562 writes (a
// UUID's letters are case-insensitive, and the stacks that send them
// differ), any other IRI as sent.
func (a *Addressing) MessageKey() string {
	id := a.MessageID
	const scheme = "urn:uuid:"
	if len(id) != len(scheme)+36 || !strings.EqualFold(id[:len(scheme)], scheme) || !isUUID(id[len(scheme):]) {
		return id
	}
	if id[:len(scheme)] == scheme && strings.ToLower(id) == id {
		return id // already canonical: no allocation on the usual path
	}
	return scheme + strings.ToLower(id[len(scheme):])
}

// isUUID reports whether s is a UUID's 8-4-4-4-12 hex form.
func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
				return false
			}
		}
	}
	return true
}
