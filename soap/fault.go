package soap

import (
	"bytes"
	"encoding/xml"
	"net/http"

	"github.com/sharedmedcard/gateway/medcard"
)

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

// writeFault answers err as a SOAP fault of version v. It never includes
// anything of an internal error but its fault ID.
func writeFault(w http.ResponseWriter, v Version, err error, requestID string) {
	f := medcard.FaultOf(err)
	class := classify(f)
	detail := faultDetail{
		FaultID: f.ID, Code: string(f.Code), Message: medcard.MessageOf(err),
		Retryable: f.Code == medcard.CodeUnavailable, RequestID: requestID,
	}
	detailXML, _ := xml.Marshal(detail)
	var reason bytes.Buffer
	_ = xml.EscapeText(&reason, []byte(detail.Message))

	var b bytes.Buffer
	status := http.StatusInternalServerError
	b.WriteString(xml.Header)
	if v == SOAP12 {
		code := map[faultClass]string{classSender: "Sender", classReceiver: "Receiver",
			classVersionMismatch: "VersionMismatch", classMustUnderstand: "MustUnderstand"}[class]
		if class == classSender || class == classMustUnderstand {
			status = http.StatusBadRequest // SOAP 1.2 part 2, 7.5.1.2
		}
		b.WriteString(`<env:Envelope xmlns:env="` + nsSOAP12 + `" xmlns:mc="` + Namespace + `"><env:Body><env:Fault>`)
		b.WriteString(`<env:Code><env:Value>env:` + code + `</env:Value><env:Subcode><env:Value>mc:` + f.ID + `</env:Value></env:Subcode></env:Code>`)
		b.WriteString(`<env:Reason><env:Text xml:lang="en">`)
		b.Write(reason.Bytes())
		b.WriteString(`</env:Text></env:Reason><env:Detail>`)
		b.Write(detailXML)
		b.WriteString(`</env:Detail></env:Fault></env:Body></env:Envelope>`)
	} else {
		code := map[faultClass]string{classSender: "Client", classReceiver: "Server",
			classVersionMismatch: "VersionMismatch", classMustUnderstand: "MustUnderstand"}[class]
		b.WriteString(`<soap:Envelope xmlns:soap="` + nsSOAP11 + `"><soap:Body><soap:Fault>`)
		b.WriteString(`<faultcode>soap:` + code + `</faultcode><faultstring>`)
		b.Write(reason.Bytes())
		b.WriteString(`</faultstring><detail>`)
		b.Write(detailXML)
		b.WriteString(`</detail></soap:Fault></soap:Body></soap:Envelope>`)
	}
	w.Header().Set("Content-Type", v.contentType())
	w.WriteHeader(status)
	_, _ = w.Write(b.Bytes())
}
