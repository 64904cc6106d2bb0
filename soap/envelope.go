package soap

import (
	"bufio"
	"encoding/xml"
	"errors"
	"io"
	"strings"

	"github.com/sharedmedcard/gateway/medcard"
)

// Namespaces.
const (
	// Namespace is the one target namespace of our WSDL and schema.
	Namespace = "http://sharedmedcard.example/2026/01/medcard"

	nsSOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
	nsSOAP12 = "http://www.w3.org/2003/05/soap-envelope"
	nsWSSE   = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
	nsWSU    = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
)

// Version is the SOAP version of a message; we answer in the version we
// were asked in.
type Version int

// SOAP versions.
const (
	SOAP11 Version = 11
	SOAP12 Version = 12
)

func (v Version) namespace() string {
	if v == SOAP12 {
		return nsSOAP12
	}
	return nsSOAP11
}

func (v Version) contentType() string {
	if v == SOAP12 {
		return "application/soap+xml; charset=utf-8"
	}
	return "text/xml; charset=utf-8"
}

// Limits bound what a request may cost us to parse. Size is checked after
// decompression.
type Limits struct {
	MaxBytes  int64
	MaxDepth  int
	MaxTokens int
}

// DefaultLimits fit the largest legitimate request (a discharge with a few
// hundred items) with room to spare.
var DefaultLimits = Limits{MaxBytes: 1 << 20, MaxDepth: 32, MaxTokens: 50_000}

// envelope is a parsed request: its version, the headers we understand and
// the body's wrapper element, decoded into the operation's request type.
type envelope struct {
	version      Version
	security     *securityHeader
	message      *messageHeader
	whitelisting *whitelistingHeader
	onBehalfOf   *onBehalfOfHeader
	op           *operation
	request      any
}

// limitedTokens feeds the XML decoder raw tokens and refuses DOCTYPEs and
// documents that are too deep or have too many tokens. Because the decoder
// reads through it, the limits hold inside DecodeElement too.
type limitedTokens struct {
	raw    *xml.Decoder
	limits Limits
	depth  int
	tokens int
}

func (l *limitedTokens) Token() (xml.Token, error) {
	t, err := l.raw.RawToken()
	if err != nil {
		return nil, err
	}
	l.tokens++
	if l.tokens > l.limits.MaxTokens {
		return nil, medcard.Errorf(medcard.FaultMessageTooLarge, "the message has more than %d XML tokens", l.limits.MaxTokens)
	}
	switch t := t.(type) {
	case xml.StartElement:
		l.depth++
		if l.depth > l.limits.MaxDepth {
			return nil, medcard.Errorf(medcard.FaultMalformedMessage, "the message nests deeper than %d elements", l.limits.MaxDepth)
		}
	case xml.EndElement:
		l.depth--
	case xml.Directive:
		return nil, medcard.Errorf(medcard.FaultMalformedMessage, "DOCTYPE and other XML directives are not allowed")
	case xml.ProcInst:
		if t.Target != "xml" {
			return nil, medcard.Errorf(medcard.FaultMalformedMessage, "processing instructions are not allowed")
		}
	}
	return t, nil
}

// parseEnvelope reads one SOAP envelope from r, which the caller has
// already limited in size.
func parseEnvelope(r io.Reader, limits Limits, ops map[xml.Name]*operation) (*envelope, error) {
	raw := xml.NewDecoder(skipByteOrderMark(r))
	raw.Strict = true
	dec := xml.NewTokenDecoder(&limitedTokens{raw: raw, limits: limits})
	env := &envelope{}

	root, err := nextStart(dec)
	if err != nil {
		return nil, err
	}
	if root.Name.Local != "Envelope" {
		return nil, medcard.Errorf(medcard.FaultMalformedMessage, "the document is not a SOAP envelope")
	}
	switch root.Name.Space {
	case nsSOAP11:
		env.version = SOAP11
	case nsSOAP12:
		env.version = SOAP12
	default:
		return nil, medcard.Errorf(medcard.FaultVersionMismatch, "the envelope namespace is neither SOAP 1.1 nor SOAP 1.2")
	}
	// A fault found from here on is answered in the request's version.
	fail := func(err error) (*envelope, error) { return env, err }

	sawBody := false
	for {
		t, err := dec.Token()
		if err != nil {
			return fail(syntaxError(err))
		}
		switch t := t.(type) {
		case xml.StartElement:
			switch {
			case t.Name.Space == root.Name.Space && t.Name.Local == "Header" && !sawBody:
				if err := env.readHeaders(dec); err != nil {
					return fail(err)
				}
			case t.Name.Space == root.Name.Space && t.Name.Local == "Body" && !sawBody:
				sawBody = true
				if err := env.readBody(dec, ops); err != nil {
					return fail(err)
				}
			default:
				return fail(medcard.Errorf(medcard.FaultMalformedMessage, "unexpected element %s in the envelope", t.Name.Local))
			}
		case xml.EndElement:
			if !sawBody {
				return fail(medcard.Errorf(medcard.FaultMalformedMessage, "the envelope has no Body"))
			}
			return env, nil
		case xml.CharData:
			if strings.TrimSpace(string(t)) != "" {
				return fail(medcard.Errorf(medcard.FaultMalformedMessage, "text directly in the envelope"))
			}
		}
	}
}

// readHeaders decodes the header blocks we understand and refuses unknown
// ones marked mustUnderstand.
func (env *envelope) readHeaders(dec *xml.Decoder) error {
	for {
		t, err := dec.Token()
		if err != nil {
			return syntaxError(err)
		}
		switch t := t.(type) {
		case xml.EndElement:
			return nil
		case xml.StartElement:
			var target any
			switch t.Name {
			case xml.Name{Space: nsWSSE, Local: "Security"}:
				env.security = &securityHeader{}
				target = env.security
			case xml.Name{Space: Namespace, Local: "MessageHeader"}:
				env.message = &messageHeader{}
				target = env.message
			case xml.Name{Space: Namespace, Local: "WhitelistingHeader"}:
				env.whitelisting = &whitelistingHeader{}
				target = env.whitelisting
			case xml.Name{Space: Namespace, Local: "OnBehalfOf"}:
				env.onBehalfOf = &onBehalfOfHeader{}
				target = env.onBehalfOf
			default:
				if env.mustUnderstand(t) {
					return medcard.Errorf(medcard.FaultMustUnderstand, "header %s {%s} is not understood", t.Name.Local, t.Name.Space)
				}
				if err := dec.Skip(); err != nil {
					return syntaxError(err)
				}
				continue
			}
			if err := dec.DecodeElement(target, &t); err != nil {
				return syntaxError(err)
			}
		}
	}
}

func (env *envelope) mustUnderstand(el xml.StartElement) bool {
	for _, a := range el.Attr {
		if a.Name.Local == "mustUnderstand" && a.Name.Space == env.version.namespace() {
			v := strings.TrimSpace(a.Value)
			return v == "1" || v == "true"
		}
	}
	return false
}

// readBody finds the body's one wrapper element, dispatches on its
// qualified name and decodes it into the operation's request type.
func (env *envelope) readBody(dec *xml.Decoder, ops map[xml.Name]*operation) error {
	for {
		t, err := dec.Token()
		if err != nil {
			return syntaxError(err)
		}
		switch t := t.(type) {
		case xml.EndElement:
			if env.op == nil {
				return medcard.Errorf(medcard.FaultMalformedMessage, "the Body is empty")
			}
			return nil
		case xml.CharData:
			if strings.TrimSpace(string(t)) != "" {
				return medcard.Errorf(medcard.FaultMalformedMessage, "text directly in the Body")
			}
		case xml.StartElement:
			if env.op != nil {
				return medcard.Errorf(medcard.FaultMalformedMessage, "the Body has more than one element")
			}
			op, ok := ops[t.Name]
			if !ok {
				if _, known := ops[xml.Name{Space: Namespace, Local: t.Name.Local}]; known {
					return medcard.Errorf(medcard.FaultWrongNamespace,
						"%s must be in the namespace %s", t.Name.Local, Namespace)
				}
				return medcard.Errorf(medcard.FaultUnknownOperation, "there is no operation %s in %s", t.Name.Local, Namespace)
			}
			env.op = op
			env.request = op.newRequest()
			if err := dec.DecodeElement(env.request, &t); err != nil {
				return syntaxError(err)
			}
		}
	}
}

// utf8BOM is the UTF-8 byte-order mark, which XML allows before the
// document (XML 1.0, 4.3.3) and WCF's text encoder writes before <?xml.
const utf8BOM = "\xef\xbb\xbf"

// skipByteOrderMark returns r without a leading UTF-8 byte-order mark,
// which encoding/xml would read as text before the envelope.
func skipByteOrderMark(r io.Reader) io.Reader {
	br := bufio.NewReader(r)
	if b, err := br.Peek(len(utf8BOM)); err == nil && string(b) == utf8BOM {
		_, _ = br.Discard(len(utf8BOM))
	}
	return br
}

func nextStart(dec *xml.Decoder) (xml.StartElement, error) {
	for {
		t, err := dec.Token()
		if err != nil {
			return xml.StartElement{}, syntaxError(err)
		}
		switch t := t.(type) {
		case xml.StartElement:
			return t, nil
		case xml.CharData:
			if strings.TrimSpace(string(t)) != "" {
				return xml.StartElement{}, medcard.Errorf(medcard.FaultMalformedMessage, "text before the envelope")
			}
		}
	}
}

// syntaxError turns a decoder error into a fault, keeping faults our limits
// raised as they are.
func syntaxError(err error) error {
	var me *medcard.Error
	if errors.As(err, &me) {
		return err
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return medcard.Errorf(medcard.FaultMalformedMessage, "the message ends before the envelope does")
	}
	var se *xml.SyntaxError
	if errors.As(err, &se) {
		return medcard.Errorf(medcard.FaultMalformedMessage, "XML syntax error on line %d: %s", se.Line, se.Msg)
	}
	// Other decoder errors (a number that does not parse, say) quote the
	// offending value, which could be a person identifier: say less.
	return medcard.Errorf(medcard.FaultMalformedMessage, "the message cannot be read: a value has the wrong type for its element")
}
