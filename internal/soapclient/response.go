package soapclient

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// RequestIDHeader is the HTTP header in which the gateway answers the
// request id (the same as a fault's RequestIdentifier).
const RequestIDHeader = "X-Request-ID"

// Response is one HTTP answer to a request. Do overwrites it, reusing its
// buffer.
type Response struct {
	Status int
	Header http.Header
	// Body is the answer as received. It is valid until the Response is
	// reused.
	Body []byte
	// Fault is the SOAP fault the answer carries, if any. Only answers
	// with a status other than 200 are read for one: SOAP's HTTP binding
	// answers every fault so.
	Fault *Fault

	buf     bytes.Buffer
	limited io.LimitedReader
}

func (r *Response) reset() {
	r.Status, r.Header, r.Body, r.Fault = 0, nil, nil, nil
}

func (r *Response) read(hr *http.Response, limit int64) error {
	r.Status, r.Header = hr.StatusCode, hr.Header
	r.buf.Reset()
	r.limited = io.LimitedReader{R: hr.Body, N: limit + 1}
	_, err := r.buf.ReadFrom(&r.limited)
	r.limited.R = nil
	r.Body = r.buf.Bytes()
	if err != nil {
		return fmt.Errorf("read the answer: %w", err)
	}
	if int64(len(r.Body)) > limit {
		return fmt.Errorf("the answer is larger than %d bytes", limit)
	}
	if r.Status != http.StatusOK {
		if f, err := ParseFault(r.Body); err == nil {
			r.Fault = f
		}
	}
	return nil
}

// RequestID is the request id the gateway answered in its HTTP header.
func (r *Response) RequestID() string { return r.Header.Get(RequestIDHeader) }

// Err is nil for a success (HTTP 200), the *Fault of a fault, or a
// *StatusError for another HTTP answer.
func (r *Response) Err() error {
	switch {
	case r.Fault != nil:
		return r.Fault
	case r.Status != http.StatusOK:
		return &StatusError{Status: r.Status}
	}
	return nil
}

// Decode decodes the first element of the answer's SOAP Body into out, as
// encoding/xml does; an answer that is no success is its Err.
func (r *Response) Decode(out any) error {
	if err := r.Err(); err != nil {
		return err
	}
	return DecodeBody(r.Body, out)
}

// Headers reads the header blocks of the answer that the client knows.
func (r *Response) Headers() (ResponseHeaders, error) { return ParseHeaders(r.Body) }

// StatusError is an HTTP answer that is neither a success nor a SOAP
// fault (a 404, a proxy's 502).
type StatusError struct{ Status int }

func (e *StatusError) Error() string {
	return "HTTP " + strconv.Itoa(e.Status) + " without a SOAP fault"
}

// Fault is a SOAP 1.1 or 1.2 fault, with the gateway's detail when it has
// one. Codes are as written in the answer, prefix included ("soap:Client",
// "env:Sender", "mc:NotAuthenticated").
type Fault struct {
	Version Version
	// Code is the 1.1 faultcode or the 1.2 Code/Value.
	Code string
	// Subcode is the 1.2 Code/Subcode/Value ("" in 1.1).
	Subcode string
	// Reason is the 1.1 faultstring or the first 1.2 Reason/Text.
	Reason string

	// The detail's mc:MedicineCardFault; all empty without one.
	Identifier string // FaultIdentifier, the stable fault ID
	DetailCode string // Code: invalid, not_found, conflict, unauthorized, unavailable, internal
	Message    string
	Retryable  bool   // resending the same message may succeed
	RequestID  string // RequestIdentifier, to quote to support
}

func (f *Fault) Error() string {
	s := "SOAP fault " + f.Code
	if f.Identifier != "" {
		s += " " + f.Identifier
	}
	if m := f.Message; m != "" || f.Reason != "" {
		if m == "" {
			m = f.Reason
		}
		s += ": " + m
	}
	return s
}

// LocalName is a QName as written ("mc:NotAuthenticated") without its
// prefix.
func LocalName(qname string) string {
	_, local, found := strings.Cut(qname, ":")
	if !found {
		return qname
	}
	return local
}

// ErrNoFault is ParseFault's answer to a SOAP envelope without a fault.
var ErrNoFault = errors.New("the envelope holds no SOAP fault")

// mcFault is our fault detail; its children are qualified, as the schema
// says.
type mcFault struct {
	Identifier string `xml:"http://sharedmedcard.example/2026/01/medcard FaultIdentifier"`
	Code       string `xml:"http://sharedmedcard.example/2026/01/medcard Code"`
	Message    string `xml:"http://sharedmedcard.example/2026/01/medcard Message"`
	Retryable  bool   `xml:"http://sharedmedcard.example/2026/01/medcard Retryable"`
	RequestID  string `xml:"http://sharedmedcard.example/2026/01/medcard RequestIdentifier"`
}

// fault11's children are unqualified, as SOAP 1.1 has them.
type fault11 struct {
	Code   string `xml:"faultcode"`
	Reason string `xml:"faultstring"`
	Detail struct {
		MC *mcFault `xml:"http://sharedmedcard.example/2026/01/medcard MedicineCardFault"`
	} `xml:"detail"`
}

type fault12 struct {
	Code struct {
		Value   string `xml:"http://www.w3.org/2003/05/soap-envelope Value"`
		Subcode struct {
			Value string `xml:"http://www.w3.org/2003/05/soap-envelope Value"`
		} `xml:"http://www.w3.org/2003/05/soap-envelope Subcode"`
	} `xml:"http://www.w3.org/2003/05/soap-envelope Code"`
	Reason struct {
		Text []string `xml:"http://www.w3.org/2003/05/soap-envelope Text"`
	} `xml:"http://www.w3.org/2003/05/soap-envelope Reason"`
	Detail struct {
		MC *mcFault `xml:"http://sharedmedcard.example/2026/01/medcard MedicineCardFault"`
	} `xml:"http://www.w3.org/2003/05/soap-envelope Detail"`
}

// ParseFault reads the fault of a SOAP 1.1 or 1.2 envelope, namespaces
// checked: ErrNoFault if its Body holds something else, another error if
// it is no SOAP envelope.
func ParseFault(envelope []byte) (*Fault, error) {
	dec, v, first, err := bodyElement(envelope)
	if err != nil {
		return nil, err
	}
	if first.Name != (xml.Name{Space: v.Namespace(), Local: "Fault"}) {
		return nil, ErrNoFault
	}
	f := &Fault{Version: v}
	var detail *mcFault
	if v == SOAP12 {
		var x fault12
		if err := dec.DecodeElement(&x, &first); err != nil {
			return nil, fmt.Errorf("SOAP 1.2 fault: %w", err)
		}
		f.Code, f.Subcode, detail = strings.TrimSpace(x.Code.Value), strings.TrimSpace(x.Code.Subcode.Value), x.Detail.MC
		if len(x.Reason.Text) > 0 {
			f.Reason = x.Reason.Text[0]
		}
	} else {
		var x fault11
		if err := dec.DecodeElement(&x, &first); err != nil {
			return nil, fmt.Errorf("SOAP 1.1 fault: %w", err)
		}
		f.Code, f.Reason, detail = strings.TrimSpace(x.Code), x.Reason, x.Detail.MC
	}
	if detail != nil {
		f.Identifier, f.DetailCode = strings.TrimSpace(detail.Identifier), strings.TrimSpace(detail.Code)
		f.Message, f.Retryable, f.RequestID = detail.Message, detail.Retryable, strings.TrimSpace(detail.RequestID)
	}
	return f, nil
}

// DecodeBody decodes the first element of a SOAP envelope's Body into out,
// as encoding/xml does.
func DecodeBody(envelope []byte, out any) error {
	dec, _, first, err := bodyElement(envelope)
	if err != nil {
		return err
	}
	return dec.DecodeElement(out, &first)
}

// bodyElement reads envelope up to the first element in its Body and
// returns the decoder positioned after that start tag, and the version.
func bodyElement(envelope []byte) (*xml.Decoder, Version, xml.StartElement, error) {
	dec := xml.NewDecoder(bytes.NewReader(envelope))
	v, err := readEnvelopeStart(dec)
	if err != nil {
		return nil, v, xml.StartElement{}, err
	}
	for {
		se, err := nextStart(dec)
		if err != nil {
			return nil, v, se, err
		}
		switch {
		case se.Name == xml.Name{Space: v.Namespace(), Local: "Header"}:
			if err := dec.Skip(); err != nil {
				return nil, v, se, err
			}
		case se.Name == xml.Name{Space: v.Namespace(), Local: "Body"}:
			first, err := nextStart(dec)
			if errors.Is(err, errEndOfParent) {
				return nil, v, first, errors.New("the SOAP Body is empty")
			}
			return dec, v, first, err
		default:
			return nil, v, se, fmt.Errorf("unexpected element {%s}%s in the envelope", se.Name.Space, se.Name.Local)
		}
	}
}

// readEnvelopeStart reads the root element, which must be a SOAP 1.1 or
// 1.2 Envelope, and returns its version.
func readEnvelopeStart(dec *xml.Decoder) (Version, error) {
	root, err := nextStart(dec)
	if err != nil {
		return 0, fmt.Errorf("no SOAP envelope: %w", err)
	}
	switch root.Name {
	case xml.Name{Space: NamespaceSOAP11, Local: "Envelope"}:
		return SOAP11, nil
	case xml.Name{Space: NamespaceSOAP12, Local: "Envelope"}:
		return SOAP12, nil
	}
	return 0, fmt.Errorf("no SOAP envelope: the root element is {%s}%s", root.Name.Space, root.Name.Local)
}

var errEndOfParent = errors.New("end of the parent element")

// nextStart returns the next start tag, or errEndOfParent at the end of the
// element the decoder is in.
func nextStart(dec *xml.Decoder) (xml.StartElement, error) {
	for {
		t, err := dec.Token()
		if err != nil {
			return xml.StartElement{}, err
		}
		switch t := t.(type) {
		case xml.StartElement:
			return t, nil
		case xml.EndElement:
			return xml.StartElement{}, errEndOfParent
		}
	}
}

// ResponseHeaders are the header blocks of an answer the client knows:
// WS-Addressing's and the security header's timestamp, as written.
type ResponseHeaders struct {
	Action    string // wsa:Action
	MessageID string // wsa:MessageID
	RelatesTo string // wsa:RelatesTo: the request's wsa:MessageID
	// TimestampCreated and TimestampExpires are the wsse:Security
	// header's wsu:Timestamp.
	TimestampCreated string
	TimestampExpires string
}

type headerBlocks struct {
	Action    string `xml:"http://www.w3.org/2005/08/addressing Action"`
	MessageID string `xml:"http://www.w3.org/2005/08/addressing MessageID"`
	RelatesTo string `xml:"http://www.w3.org/2005/08/addressing RelatesTo"`
	Security  struct {
		Timestamp struct {
			Created string `xml:"http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd Created"`
			Expires string `xml:"http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd Expires"`
		} `xml:"http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd Timestamp"`
	} `xml:"http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd Security"`
}

// ParseHeaders reads the known header blocks of a SOAP envelope; an
// envelope without a Header has none.
func ParseHeaders(envelope []byte) (ResponseHeaders, error) {
	dec := xml.NewDecoder(bytes.NewReader(envelope))
	v, err := readEnvelopeStart(dec)
	if err != nil {
		return ResponseHeaders{}, err
	}
	se, err := nextStart(dec)
	if err != nil || se.Name != (xml.Name{Space: v.Namespace(), Local: "Header"}) {
		return ResponseHeaders{}, err
	}
	var h headerBlocks
	if err := dec.DecodeElement(&h, &se); err != nil {
		return ResponseHeaders{}, fmt.Errorf("SOAP Header: %w", err)
	}
	return ResponseHeaders{Action: strings.TrimSpace(h.Action), MessageID: strings.TrimSpace(h.MessageID),
		RelatesTo: strings.TrimSpace(h.RelatesTo), TimestampCreated: strings.TrimSpace(h.Security.Timestamp.Created),
		TimestampExpires: strings.TrimSpace(h.Security.Timestamp.Expires)}, nil
}
