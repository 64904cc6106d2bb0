package soap

import (
	"bytes"
	"encoding/xml"
	"strings"
	"time"

	"github.com/sharedmedcard/gateway/medcard"
)

// WS-Addressing 1.0, which WCF's WSHttpBinding and most custom bindings
// send with mustUnderstand="1". We understand Action, MessageID, To,
// ReplyTo and FaultTo (the anonymous address only: the answer goes back on
// the HTTP connection the request came on), and From and RelatesTo, whose
// content we do not use. See doc.go for the actions.
const (
	wsaAnonymous = nsWSA + "/anonymous"
	// wsaFaultAction is the action of a fault about the addressing
	// headers themselves, wsaSOAPFaultAction that of a SOAP fault
	// (MustUnderstand, VersionMismatch, a malformed message): WS-Addressing
	// 1.0 SOAP binding, 6.
	wsaFaultAction     = nsWSA + "/fault"
	wsaSOAPFaultAction = nsWSA + "/soap/fault"

	// portTypeName is the WSDL's portType, which the default action
	// pattern of WS-Addressing 1.0 Metadata (4.4.4) puts in the actions
	// of the answers.
	portTypeName = "MedicineCardPortType"
)

// maxMessageIDLength bounds a MessageID, ours or WS-Addressing's: it is
// stored with every write.
const maxMessageIDLength = 200

// The WS-Addressing headers a request carried, as bits.
const (
	sawAction uint8 = 1 << iota
	sawMessageID
	sawTo
	sawReplyTo
	sawFaultTo
	sawFrom
)

// addressingHeaders are the WS-Addressing headers of a request.
type addressingHeaders struct {
	saw       uint8
	action    string
	messageID string
	replyTo   string // the address of the endpoint reference
	faultTo   string
}

func (a *addressingHeaders) used() bool { return a.saw != 0 }

// endpointReference is a wsa:ReplyTo or wsa:FaultTo; of its content only
// the address matters to us.
type endpointReference struct {
	Address *string `xml:"http://www.w3.org/2005/08/addressing Address"`
}

// read decodes the WS-Addressing header block el. It reports false, having
// read nothing, for a block it does not understand.
//
// Errors: FaultInvalidAddressingHeader.
func (a *addressingHeaders) read(dec *xml.Decoder, el xml.StartElement) (bool, error) {
	invalid := func(format string, args ...any) (bool, error) {
		return true, medcard.Errorf(medcard.FaultInvalidAddressingHeader, format, args...)
	}
	var bit uint8
	var text, address *string
	var ignored string
	switch el.Name.Local {
	case "Action":
		bit, text = sawAction, &a.action
	case "MessageID":
		bit, text = sawMessageID, &a.messageID
	case "To":
		bit, text = sawTo, &ignored // we are the destination, whatever it calls us
	case "ReplyTo":
		bit, address = sawReplyTo, &a.replyTo
	case "FaultTo":
		bit, address = sawFaultTo, &a.faultTo
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
	case bit == sawAction && a.action == "":
		return invalid("wsa:Action is empty")
	case bit == sawMessageID && a.messageID == "":
		return invalid("wsa:MessageID is empty")
	case bit == sawMessageID && len(a.messageID) > maxMessageIDLength:
		return invalid("wsa:MessageID is longer than %d characters", maxMessageIDLength)
	}
	return true, nil
}

// check holds the addressing headers against the operation the body
// names: a request using WS-Addressing has a wsa:Action, the operation's,
// and wants its answer on the connection it came on.
//
// Errors: FaultInvalidAddressingHeader, FaultActionNotSupported,
// FaultOnlyAnonymousAddress.
func (a *addressingHeaders) check(op *operation) error {
	if !a.used() {
		return nil
	}
	if a.saw&sawAction == 0 {
		return medcard.Errorf(medcard.FaultInvalidAddressingHeader, "a message with WS-Addressing headers needs a wsa:Action")
	}
	if a.action != op.soapAction && a.action != op.inputAction {
		return medcard.Errorf(medcard.FaultActionNotSupported, "wsa:Action %s is not the action of %s, which is %s",
			a.action, op.element.Local, op.soapAction)
	}
	if a.saw&sawReplyTo != 0 && a.replyTo != wsaAnonymous {
		return medcard.Errorf(medcard.FaultOnlyAnonymousAddress,
			"wsa:ReplyTo must be the anonymous address %s: the answer goes back on the HTTP connection", wsaAnonymous)
	}
	if a.saw&sawFaultTo != 0 && a.faultTo != wsaAnonymous {
		return medcard.Errorf(medcard.FaultOnlyAnonymousAddress,
			"wsa:FaultTo must be the anonymous address %s: a fault goes back on the HTTP connection", wsaAnonymous)
	}
	return nil
}

// messageKey is the request's wsa:MessageID as an idempotency key, "" if
// it sent none: a urn:uuid: IRI in the lower-case form RFC 9562 writes (a
// UUID's letters are case-insensitive, and the stacks that send them
// differ), any other IRI as sent.
func (a *addressingHeaders) messageKey() string {
	id := a.messageID
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

// replyHeaders are the header blocks an answer carries because of what its
// request sent: wsa:Action and wsa:RelatesTo when it used WS-Addressing,
// and a wsse:Security header with a wsu:Timestamp when its security header
// had one (WCF takes an answer without it, in that mode, as unsecured).
type replyHeaders struct {
	addressing bool
	relatesTo  string // the request's wsa:MessageID as sent; "" if none
	timestamp  bool
}

func replyHeadersOf(env *envelope) replyHeaders {
	return replyHeaders{
		addressing: env.addressing.used(),
		relatesTo:  env.addressing.messageID,
		timestamp:  env.security != nil && env.security.Timestamp != nil,
	}
}

func (rh replyHeaders) empty() bool { return !rh.addressing && !rh.timestamp }

// answerTimestampFormat is how our wsu:Timestamp writes times: UTC with
// milliseconds, as WCF writes and expects them.
const answerTimestampFormat = "2006-01-02T15:04:05.000Z"

// write appends the header blocks to b, each declaring the namespace it
// uses, so that a reader taking one out of the envelope can still read it.
// action is the answer's wsa:Action.
func (rh replyHeaders) write(b *bytes.Buffer, action string, now time.Time) {
	if rh.timestamp {
		now = now.UTC()
		b.WriteString(`<wsse:Security xmlns:wsse="` + nsWSSE + `" xmlns:wsu="` + nsWSU + `"><wsu:Timestamp><wsu:Created>`)
		b.WriteString(now.Format(answerTimestampFormat))
		b.WriteString(`</wsu:Created><wsu:Expires>`)
		b.WriteString(now.Add(tokenFreshness).Format(answerTimestampFormat))
		b.WriteString(`</wsu:Expires></wsu:Timestamp></wsse:Security>`)
	}
	if rh.addressing {
		b.WriteString(`<wsa:Action xmlns:wsa="` + nsWSA + `">`)
		_ = xml.EscapeText(b, []byte(action))
		b.WriteString(`</wsa:Action>`)
		if rh.relatesTo != "" {
			b.WriteString(`<wsa:RelatesTo xmlns:wsa="` + nsWSA + `">`)
			_ = xml.EscapeText(b, []byte(rh.relatesTo))
			b.WriteString(`</wsa:RelatesTo>`)
		}
	}
}
