package soap

import (
	"bytes"
	"encoding/xml"
	"errors"
	"net/http"

	"github.com/sharedmedcard/gateway/medcard"
	"github.com/sharedmedcard/gateway/soap/envelope"
)

// wireFaults is the one place a wire error of package envelope becomes a
// catalogue fault.
var wireFaults = map[envelope.Kind]medcard.Fault{
	envelope.Malformed:            medcard.FaultMalformedMessage,
	envelope.TooLarge:             medcard.FaultMessageTooLarge,
	envelope.TooDeep:              medcard.FaultMalformedMessage,
	envelope.VersionMismatch:      medcard.FaultVersionMismatch,
	envelope.NotUnderstood:        medcard.FaultMustUnderstand,
	envelope.WrongNamespace:       medcard.FaultWrongNamespace,
	envelope.UnknownBody:          medcard.FaultUnknownOperation,
	envelope.InvalidAddressing:    medcard.FaultInvalidAddressingHeader,
	envelope.ActionNotSupported:   medcard.FaultActionNotSupported,
	envelope.OnlyAnonymousAddress: medcard.FaultOnlyAnonymousAddress,
	envelope.Expired:              medcard.FaultMessageExpired,
	envelope.InvalidTimestamp:     medcard.FaultNotAuthenticated,
}

// catalogued returns err with an *envelope.Error in it turned into the
// catalogue fault of its kind, keeping the wire error as the cause (the
// fault writer reads NotUnderstood from it). A kind without a fault is our
// bug: InternalError.
func catalogued(err error) error {
	if err == nil {
		return nil // before the errors.As target, which would be allocated
	}
	var we *envelope.Error
	if !errors.As(err, &we) {
		return err
	}
	f, ok := wireFaults[we.Kind]
	if !ok {
		return medcard.WrapError(medcard.FaultInternal, err, "unmapped envelope error")
	}
	return medcard.WrapError(f, we, we.Message)
}

// faultClass is the SOAP fault code a domain code maps to: the sender
// (client) or the receiver (server) is to blame, or the envelope itself is
// wrong in a way SOAP names.
type faultClass int

const (
	classSender faultClass = iota
	classReceiver
	classVersionMismatch
	classMustUnderstand
)

// classify is the one place a domain fault becomes a SOAP fault class; see
// doc.go.
func classify(f medcard.Fault) faultClass {
	switch {
	case f == medcard.FaultVersionMismatch:
		return classVersionMismatch
	case f == medcard.FaultMustUnderstand:
		return classMustUnderstand
	case f.Code == medcard.CodeUnavailable || f.Code == medcard.CodeInternal:
		return classReceiver
	default:
		return classSender
	}
}

// faultDetail is our namespaced fault detail: the stable fault ID, its code,
// whether resending the same message may succeed, and the request id to
// quote to support.
type faultDetail struct {
	XMLName   xml.Name `xml:"http://sharedmedcard.example/2026/01/medcard MedicineCardFault"`
	FaultID   string   `xml:"FaultIdentifier"`
	Code      string   `xml:"Code"`
	Message   string   `xml:"Message"`
	Retryable bool     `xml:"Retryable"`
	RequestID string   `xml:"RequestIdentifier"`
}

// writeFault answers err as a SOAP fault in the answer's version. It never
// includes anything of an internal error but its fault ID.
//
// Every QName prefix in the fault's content (the env: of the Code, the mc:
// of the Subcode) is declared on env:Fault itself, not only on the
// Envelope: WCF reads a SOAP 1.2 fault out of its envelope and could not
// resolve mc: otherwise. Each header block declares its own namespaces.
func (h *Handler) writeFault(w http.ResponseWriter, a answer, err error, requestID string) {
	f := medcard.FaultOf(err)
	class := classify(f)
	detail := faultDetail{
		FaultID: f.ID, Code: string(f.Code), Message: medcard.MessageOf(err),
		Retryable: f.Code == medcard.CodeUnavailable, RequestID: requestID,
	}
	detailXML, _ := xml.Marshal(detail)
	var notUnderstood []xml.Name
	if we := (*envelope.Error)(nil); errors.As(err, &we) {
		notUnderstood = we.NotUnderstood
	}

	b := responseBuffers.Get().(*bytes.Buffer)
	defer putResponseBuffer(b)
	b.WriteString(xml.Header)
	if a.version == envelope.SOAP12 {
		code := map[faultClass]string{classSender: "Sender", classReceiver: "Receiver",
			classVersionMismatch: "VersionMismatch", classMustUnderstand: "MustUnderstand"}[class]
		b.WriteString(`<env:Envelope xmlns:env="` + nsSOAP12 + `">`)
		if len(notUnderstood) > 0 || !a.headers.Empty() {
			b.WriteString(`<env:Header>`)
			for _, n := range notUnderstood {
				envelope.WriteNotUnderstood(b, "env", n)
			}
			a.headers.Write(b, faultAction(a.op, f, class), h.now(), tokenFreshness)
			b.WriteString(`</env:Header>`)
		}
		b.WriteString(`<env:Body><env:Fault xmlns:env="` + nsSOAP12 + `" xmlns:mc="` + Namespace + `">`)
		b.WriteString(`<env:Code><env:Value>env:` + code + `</env:Value><env:Subcode><env:Value>mc:` + f.ID + `</env:Value></env:Subcode></env:Code>`)
		b.WriteString(`<env:Reason><env:Text xml:lang="en">`)
		_ = xml.EscapeText(b, []byte(detail.Message))
		b.WriteString(`</env:Text></env:Reason><env:Detail>`)
		b.Write(detailXML)
		b.WriteString(`</env:Detail></env:Fault></env:Body></env:Envelope>`)
	} else {
		code := map[faultClass]string{classSender: "Client", classReceiver: "Server",
			classVersionMismatch: "VersionMismatch", classMustUnderstand: "MustUnderstand"}[class]
		b.WriteString(`<soap:Envelope xmlns:soap="` + nsSOAP11 + `">`)
		if !a.headers.Empty() {
			b.WriteString(`<soap:Header>`)
			a.headers.Write(b, faultAction(a.op, f, class), h.now(), tokenFreshness)
			b.WriteString(`</soap:Header>`)
		}
		b.WriteString(`<soap:Body><soap:Fault>`)
		b.WriteString(`<faultcode>soap:` + code + `</faultcode><faultstring>`)
		_ = xml.EscapeText(b, []byte(detail.Message))
		b.WriteString(`</faultstring><detail>`)
		b.Write(detailXML)
		b.WriteString(`</detail></soap:Fault></soap:Body></soap:Envelope>`)
	}
	// 500 for every fault, in both versions: see doc.go.
	send(w, a, http.StatusInternalServerError, b.Bytes())
}

// faultAction is a fault's wsa:Action: WS-Addressing's own for a fault
// about the addressing headers or the SOAP envelope, else the operation's
// MedicineCardFault action (doc.go).
func faultAction(op *operation, f medcard.Fault, class faultClass) string {
	switch {
	case f == medcard.FaultActionNotSupported || f == medcard.FaultOnlyAnonymousAddress || f == medcard.FaultInvalidAddressingHeader:
		return envelope.FaultAction
	case op == nil || class == classMustUnderstand || class == classVersionMismatch || f == medcard.FaultMalformedMessage:
		return envelope.SOAPFaultAction
	}
	return op.faultAction
}
