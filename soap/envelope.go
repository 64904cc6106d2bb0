package soap

import (
	"bytes"
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
	nsWSA    = "http://www.w3.org/2005/08/addressing"
	nsXML    = "http://www.w3.org/XML/1998/namespace"
)

// The SOAP roles (1.2) and actors (1.1) we play: a header block targeted
// at anything else is not ours and is ignored, mustUnderstand or not
// (SOAP 1.2 part 1, 2.2 and 2.6; SOAP 1.1, 4.2.2). A block with no role
// is for the ultimate receiver, which we are.
const (
	roleNext             = "http://www.w3.org/2003/05/soap-envelope/role/next"
	roleUltimateReceiver = "http://www.w3.org/2003/05/soap-envelope/role/ultimateReceiver"
	actorNext            = "http://schemas.xmlsoap.org/soap/actor/next"
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
// decompression, on the document as UTF-8 (see toUTF8).
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
	addressing   addressingHeaders
	op           *operation
	request      any
}

// nsBinding is one namespace declaration in scope: prefix ("" for the
// default namespace) bound to uri by the element at depth.
type nsBinding struct {
	prefix, uri string
	depth       int
}

// limitedTokens feeds the XML decoder raw tokens and refuses DOCTYPEs and
// documents that are too deep or have too many tokens. Because the decoder
// reads through it, the limits hold inside DecodeElement too.
//
// It also keeps the namespace declarations in scope, so that while a
// wrapper element or one of our header blocks is decoded (expectWithin)
// it can refuse a descendant in another namespace: encoding/xml matches a
// struct field by local name alone, so without this a request whose
// children were all in a wrong namespace was served as if they were ours.
type limitedTokens struct {
	raw    *xml.Decoder
	limits Limits
	depth  int
	tokens int

	bindings []nsBinding
	inline   [8]nsBinding // bindings' first array: no allocation for a usual envelope

	expect       string // the namespace every element below expectParent must be in; "" checks nothing
	expectParent xml.StartElement
	expectDepth  int
}

func newLimitedTokens(raw *xml.Decoder, limits Limits) *limitedTokens {
	l := &limitedTokens{raw: raw, limits: limits}
	l.bindings = l.inline[:0]
	return l
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
		for _, a := range t.Attr {
			switch {
			case a.Name.Space == "xmlns":
				l.bindings = append(l.bindings, nsBinding{prefix: a.Name.Local, uri: a.Value, depth: l.depth})
			case a.Name.Space == "" && a.Name.Local == "xmlns":
				l.bindings = append(l.bindings, nsBinding{prefix: "", uri: a.Value, depth: l.depth})
			}
		}
		if l.expect != "" && l.depth > l.expectDepth {
			if space := l.resolve(t.Name.Space); space != l.expect {
				return nil, wrongChildNamespace(t.Name.Local, space, l.expectParent.Name.Local, l.expect)
			}
		}
	case xml.EndElement:
		for len(l.bindings) > 0 && l.bindings[len(l.bindings)-1].depth == l.depth {
			l.bindings = l.bindings[:len(l.bindings)-1]
		}
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

// resolve returns the namespace prefix is bound to, "" if it is bound to
// none.
func (l *limitedTokens) resolve(prefix string) string {
	if prefix == "xml" {
		return nsXML
	}
	for i := len(l.bindings) - 1; i >= 0; i-- {
		if l.bindings[i].prefix == prefix {
			return l.bindings[i].uri
		}
	}
	return ""
}

// expectWithin makes every element below parent, which the decoder has
// just returned, be in namespace ns until expectNothing.
func (l *limitedTokens) expectWithin(parent xml.StartElement, ns string) {
	l.expect, l.expectParent, l.expectDepth = ns, parent, l.depth
}

func (l *limitedTokens) expectNothing() { l.expect = "" }

func wrongChildNamespace(child, space, parent, want string) error {
	if space == "" {
		return medcard.Errorf(medcard.FaultWrongNamespace, "%s in %s is in no namespace (or an undeclared prefix); it must be in %s", child, parent, want)
	}
	return medcard.Errorf(medcard.FaultWrongNamespace, "%s in %s is in the namespace %s; it must be in %s", child, parent, space, want)
}

// envelopeReader reads one envelope: the decoder the parser asks for
// tokens and the filter under it.
type envelopeReader struct {
	dec *xml.Decoder
	lim *limitedTokens
}

// parseEnvelope reads one SOAP envelope from doc, the request's document
// as UTF-8 within the size limit (toUTF8 made it so; fromUTF16 says it was
// sent as UTF-16, which its XML declaration may then name).
func parseEnvelope(doc []byte, fromUTF16 bool, limits Limits, ops map[xml.Name]*operation) (*envelope, error) {
	raw := xml.NewDecoder(bytes.NewReader(doc))
	raw.Strict = true
	raw.CharsetReader = refuseDeclaredCharset
	if fromUTF16 {
		raw.CharsetReader = acceptDeclaredUTF16
	}
	lim := newLimitedTokens(raw, limits)
	r := envelopeReader{dec: xml.NewTokenDecoder(lim), lim: lim}
	env := &envelope{}

	root, err := nextStart(r.dec)
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
		t, err := r.dec.Token()
		if err != nil {
			return fail(syntaxError(err))
		}
		switch t := t.(type) {
		case xml.StartElement:
			switch {
			case t.Name.Space == root.Name.Space && t.Name.Local == "Header" && !sawBody:
				if err := env.readHeaders(r); err != nil {
					return fail(err)
				}
			case t.Name.Space == root.Name.Space && t.Name.Local == "Body" && !sawBody:
				sawBody = true
				if err := env.readBody(r, ops); err != nil {
					return fail(err)
				}
			default:
				return fail(medcard.Errorf(medcard.FaultMalformedMessage, "unexpected element %s in the envelope", t.Name.Local))
			}
		case xml.EndElement:
			if !sawBody {
				return fail(medcard.Errorf(medcard.FaultMalformedMessage, "the envelope has no Body"))
			}
			if err := env.addressing.check(env.op); err != nil {
				return fail(err)
			}
			return env, nil
		case xml.CharData:
			if strings.TrimSpace(string(t)) != "" {
				return fail(medcard.Errorf(medcard.FaultMalformedMessage, "text directly in the envelope"))
			}
		}
	}
}

// notUnderstoodError is the MustUnderstand fault: the header blocks
// targeted at us, marked mustUnderstand, that we do not understand. A
// SOAP 1.2 fault names each in an env:NotUnderstood header block.
type notUnderstoodError struct {
	err     *medcard.Error
	headers []xml.Name
}

func (e *notUnderstoodError) Error() string { return e.err.Error() }
func (e *notUnderstoodError) Unwrap() error { return e.err }

// readHeaders decodes the header blocks we understand, skips those not
// targeted at us, and refuses, all at once, unknown ones marked
// mustUnderstand.
func (env *envelope) readHeaders(r envelopeReader) error {
	var notUnderstood []xml.Name
	for {
		t, err := r.dec.Token()
		if err != nil {
			return syntaxError(err)
		}
		switch t := t.(type) {
		case xml.EndElement:
			if len(notUnderstood) > 0 {
				names := make([]string, len(notUnderstood))
				for i, n := range notUnderstood {
					names[i] = n.Local + " {" + n.Space + "}"
				}
				format := "header %s is not understood"
				if len(names) > 1 {
					format = "headers %s are not understood"
				}
				return &notUnderstoodError{headers: notUnderstood,
					err: medcard.Errorf(medcard.FaultMustUnderstand, format, strings.Join(names, ", "))}
			}
			return nil
		case xml.StartElement:
			if !env.targetsUs(t) {
				if err := r.dec.Skip(); err != nil {
					return syntaxError(err)
				}
				continue
			}
			var target any
			ours := false // our own blocks, whose children must all be in our namespace
			switch t.Name {
			case xml.Name{Space: nsWSSE, Local: "Security"}:
				env.security = &securityHeader{}
				target = env.security
			case xml.Name{Space: Namespace, Local: "MessageHeader"}:
				env.message = &messageHeader{}
				target, ours = env.message, true
			case xml.Name{Space: Namespace, Local: "WhitelistingHeader"}:
				env.whitelisting = &whitelistingHeader{}
				target, ours = env.whitelisting, true
			case xml.Name{Space: Namespace, Local: "OnBehalfOf"}:
				env.onBehalfOf = &onBehalfOfHeader{}
				target, ours = env.onBehalfOf, true
			default:
				if t.Name.Space == nsWSA {
					understood, err := env.addressing.read(r.dec, t)
					if err != nil {
						return err
					}
					if understood {
						continue
					}
				}
				if env.mustUnderstand(t) {
					notUnderstood = append(notUnderstood, t.Name)
				}
				if err := r.dec.Skip(); err != nil {
					return syntaxError(err)
				}
				continue
			}
			if ours {
				r.lim.expectWithin(t, Namespace)
			}
			err := r.dec.DecodeElement(target, &t)
			r.lim.expectNothing()
			if err != nil {
				return syntaxError(err)
			}
		}
	}
}

// targetsUs reports whether a header block is for us: SOAP 1.2 blocks
// with no role or the roles next and ultimateReceiver, SOAP 1.1 blocks
// with no actor or the actor next. The role none and any other role or
// actor are someone else's.
func (env *envelope) targetsUs(el xml.StartElement) bool {
	name, ns := "actor", nsSOAP11
	if env.version == SOAP12 {
		name, ns = "role", nsSOAP12
	}
	for _, a := range el.Attr {
		if a.Name.Local == name && a.Name.Space == ns {
			v := strings.TrimSpace(a.Value)
			if env.version == SOAP12 {
				return v == "" || v == roleUltimateReceiver || v == roleNext
			}
			return v == "" || v == actorNext
		}
	}
	return true
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
// qualified name and decodes it into the operation's request type, every
// element within it in our namespace.
func (env *envelope) readBody(r envelopeReader, ops map[xml.Name]*operation) error {
	for {
		t, err := r.dec.Token()
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
			r.lim.expectWithin(t, Namespace)
			err := r.dec.DecodeElement(env.request, &t)
			r.lim.expectNothing()
			if err != nil {
				return syntaxError(err)
			}
		}
	}
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
