package envelope

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Namespaces.
const (
	NamespaceSOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
	NamespaceSOAP12 = "http://www.w3.org/2003/05/soap-envelope"
	NamespaceWSSE   = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
	NamespaceWSU    = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
	NamespaceWSA    = "http://www.w3.org/2005/08/addressing"
	nsXML           = "http://www.w3.org/XML/1998/namespace"
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

// Version is the SOAP version of a message.
type Version int

// SOAP versions.
const (
	SOAP11 Version = 11
	SOAP12 Version = 12
)

// Namespace is the envelope namespace of v.
func (v Version) Namespace() string {
	if v == SOAP12 {
		return NamespaceSOAP12
	}
	return NamespaceSOAP11
}

// ContentType is the media type of a UTF-8 message of version v.
func (v Version) ContentType() string {
	if v == SOAP12 {
		return "application/soap+xml; charset=utf-8"
	}
	return "text/xml; charset=utf-8"
}

// Limits bound what a message may cost to parse. MaxBytes holds for the
// message as UTF-8 (see MayBeUTF16).
type Limits struct {
	MaxBytes  int64
	MaxDepth  int
	MaxTokens int
}

// Application is what Parse asks of the application whose messages it
// reads. Names are local names in Config.Namespace.
type Application interface {
	// Header returns the value to decode the application's header block
	// name into, or nil if the application does not understand it.
	Header(name string) any
	// Body returns a new value to decode the body's wrapper element name
	// into, or nil if the application serves no such element.
	Body(name string) any
}

// Config is what Parse needs besides the message.
type Config struct {
	Limits Limits
	// Namespace is the application's: its header blocks, the body's
	// wrapper element and every element inside them must be in it.
	Namespace string
	// Vocabulary is the application's names, which the lexer returns
	// without copying them (vocabulary.go); nil: the envelope's own only.
	Vocabulary *Vocabulary
}

// Message is a parsed SOAP message: its version, the security and
// addressing headers targeted at us, and the body's wrapper element,
// decoded into what the Application gave for it. The application's own
// header blocks were decoded into what it gave for them.
type Message struct {
	Version    Version
	Security   *Security // nil if the message has no wsse:Security for us
	Addressing Addressing
	BodyName   string // the wrapper element's local name
	Body       any
}

// Parse reads one SOAP 1.1 or 1.2 message into m: body is what the HTTP
// request carried (after any Content-Encoding), charset its
// Content-Type's. A failure is an *Error. Once the envelope's version is
// known, m holds the message as far as it was read, so that a fault can be
// answered in that version and with the reply headers it asks for; before,
// m.Version is zero. The caller provides m (as it would to
// xml.Unmarshal) so that it can live in the caller's own request value.
//
// The document may be UTF-8 or UTF-16 (charset.go), with a byte-order
// mark. DOCTYPEs, processing instructions, more than Limits.MaxDepth
// levels and more than Limits.MaxTokens tokens are refused.
//
// A UTF-8 message is read by our lexer (lexer.go) first, and read again
// by encoding/xml's tokenizer from the start if it holds anything the
// lexer leaves to it; so app may be asked for the same header block or
// body twice, and what it gave last is what was decoded.
func Parse(m *Message, body []byte, charset string, cfg Config, app Application) error {
	doc, fromUTF16, err := toUTF8(body, charset, cfg.Limits.MaxBytes)
	if err != nil {
		return err
	}
	if !fromUTF16 {
		lex := &lexer{doc: doc, vocab: cfg.Vocabulary}
		if lex.vocab == nil {
			lex.vocab = defaultVocabulary()
		}
		err := parseTokens(m, lex, cfg, app)
		if !lex.unusual {
			return err
		}
		*m = Message{}
	}
	if err := checkAttributeCounts(doc); err != nil {
		return err
	}
	raw := xml.NewDecoder(bytes.NewReader(doc))
	raw.Strict = true
	raw.CharsetReader = refuseDeclaredCharset
	if fromUTF16 {
		raw.CharsetReader = acceptDeclaredUTF16
	}
	return parseTokens(m, raw, cfg, app)
}

// rawTokens is where the parser's tokens come from: our lexer, or
// encoding/xml's tokenizer.
type rawTokens interface {
	RawToken() (xml.Token, error)
}

// parseTokens reads the message from raw's tokens.
func parseTokens(m *Message, raw rawTokens, cfg Config, app Application) error {
	lim := newLimitedTokens(raw, cfg.Limits)
	p := parser{dec: xml.NewTokenDecoder(lim), lim: lim, cfg: cfg, app: app, msg: m}

	root, err := p.nextStart()
	if err != nil {
		return err
	}
	if root.Name.Local != "Envelope" {
		return errorf(Malformed, "the document is not a SOAP envelope")
	}
	switch root.Name.Space {
	case NamespaceSOAP11:
		m.Version = SOAP11
	case NamespaceSOAP12:
		m.Version = SOAP12
	default:
		return errorf(VersionMismatch, "the envelope namespace is neither SOAP 1.1 nor SOAP 1.2")
	}

	sawBody := false
	for {
		t, err := p.dec.Token()
		if err != nil {
			return syntaxError(err)
		}
		switch t := t.(type) {
		case xml.StartElement:
			switch {
			case t.Name.Space == root.Name.Space && t.Name.Local == "Header" && !sawBody:
				if err := p.readHeaders(); err != nil {
					return err
				}
			case t.Name.Space == root.Name.Space && t.Name.Local == "Body" && !sawBody:
				sawBody = true
				if err := p.readBody(); err != nil {
					return err
				}
			default:
				return errorf(Malformed, "unexpected element %s in the envelope", quoted(t.Name.Local))
			}
		case xml.EndElement:
			if !sawBody {
				return errorf(Malformed, "the envelope has no Body")
			}
			return nil
		case xml.CharData:
			if strings.TrimSpace(string(t)) != "" {
				return errorf(Malformed, "text directly in the envelope")
			}
		}
	}
}

// parser reads one message: the decoder it asks for tokens, the filter
// under it, and what it has read so far.
type parser struct {
	dec *xml.Decoder
	lim *limitedTokens
	cfg Config
	app Application
	msg *Message
}

// readHeaders decodes the header blocks we understand, skips those not
// targeted at us, and refuses, all at once, unknown ones marked
// mustUnderstand.
func (p *parser) readHeaders() error {
	var notUnderstood []xml.Name
	for {
		t, err := p.dec.Token()
		if err != nil {
			return syntaxError(err)
		}
		switch t := t.(type) {
		case xml.EndElement:
			if len(notUnderstood) > 0 {
				return notUnderstoodError(notUnderstood)
			}
			return nil
		case xml.StartElement:
			if !p.targetsUs(t) {
				if err := p.dec.Skip(); err != nil {
					return syntaxError(err)
				}
				continue
			}
			var target any
			switch {
			case t.Name == xml.Name{Space: NamespaceWSSE, Local: "Security"}:
				p.msg.Security = &Security{}
				target = p.msg.Security
			case t.Name.Space == NamespaceWSA:
				understood, err := p.msg.Addressing.read(p.dec, t)
				if err != nil {
					return err
				}
				if understood {
					continue
				}
			case t.Name.Space == p.cfg.Namespace:
				target = p.app.Header(t.Name.Local)
				if target != nil {
					p.lim.expectWithin(t, p.cfg.Namespace)
				}
			}
			if target == nil {
				if p.mustUnderstand(t) {
					notUnderstood = append(notUnderstood, t.Name)
				}
				if err := p.dec.Skip(); err != nil {
					return syntaxError(err)
				}
				continue
			}
			err := p.dec.DecodeElement(target, &t)
			p.lim.expectNothing()
			if err != nil {
				return syntaxError(err)
			}
		}
	}
}

// Bounds of a NotUnderstood error, so that its fault stays small however
// many headers a message marks mustUnderstand: the message names the first
// notUnderstoodQuoted, Error.NotUnderstood (the SOAP 1.2 fault's
// NotUnderstood blocks) the first maxNotUnderstood whose qname is at most
// maxNotUnderstoodName bytes. One block is enough for the sender to see
// what to fix.
const (
	notUnderstoodQuoted  = 3
	maxNotUnderstood     = 16
	maxNotUnderstoodName = 256
)

func notUnderstoodError(names []xml.Name) error {
	var named []string
	for _, n := range names[:min(len(names), notUnderstoodQuoted)] {
		named = append(named, quoted(n.Local)+" {"+quoted(n.Space)+"}")
	}
	list := strings.Join(named, ", ")
	if more := len(names) - len(named); more > 0 {
		list += fmt.Sprintf(" and %d more", more)
	}
	format := "header %s is not understood"
	if len(names) > 1 {
		format = "headers %s are not understood"
	}
	e := errorf(NotUnderstood, format, list)
	for _, n := range names {
		if len(e.NotUnderstood) < maxNotUnderstood && len(n.Space)+len(n.Local) <= maxNotUnderstoodName {
			e.NotUnderstood = append(e.NotUnderstood, n)
		}
	}
	return e
}

// targetsUs reports whether a header block is for us: SOAP 1.2 blocks
// with no role or the roles next and ultimateReceiver, SOAP 1.1 blocks
// with no actor or the actor next. The role none and any other role or
// actor are someone else's.
func (p *parser) targetsUs(el xml.StartElement) bool {
	name, ns := "actor", NamespaceSOAP11
	if p.msg.Version == SOAP12 {
		name, ns = "role", NamespaceSOAP12
	}
	for _, a := range el.Attr {
		if a.Name.Local == name && a.Name.Space == ns {
			v := strings.TrimSpace(a.Value)
			if p.msg.Version == SOAP12 {
				return v == "" || v == roleUltimateReceiver || v == roleNext
			}
			return v == "" || v == actorNext
		}
	}
	return true
}

func (p *parser) mustUnderstand(el xml.StartElement) bool {
	for _, a := range el.Attr {
		if a.Name.Local == "mustUnderstand" && a.Name.Space == p.msg.Version.Namespace() {
			v := strings.TrimSpace(a.Value)
			return v == "1" || v == "true"
		}
	}
	return false
}

// readBody finds the body's one wrapper element, asks the application
// for its value and decodes it, every element within it in the
// application's namespace.
func (p *parser) readBody() error {
	for {
		t, err := p.dec.Token()
		if err != nil {
			return syntaxError(err)
		}
		switch t := t.(type) {
		case xml.EndElement:
			if p.msg.Body == nil {
				return errorf(Malformed, "the Body is empty")
			}
			return nil
		case xml.CharData:
			if strings.TrimSpace(string(t)) != "" {
				return errorf(Malformed, "text directly in the Body")
			}
		case xml.StartElement:
			if p.msg.Body != nil {
				return errorf(Malformed, "the Body has more than one element")
			}
			target := p.app.Body(t.Name.Local)
			switch {
			case target != nil && t.Name.Space != p.cfg.Namespace:
				return errorf(WrongNamespace, "%s must be in the namespace %s", quoted(t.Name.Local), p.cfg.Namespace)
			case target == nil:
				return errorf(UnknownBody, "there is no operation %s in %s", quoted(t.Name.Local), p.cfg.Namespace)
			}
			p.msg.BodyName, p.msg.Body = t.Name.Local, target
			p.lim.expectWithin(t, p.cfg.Namespace)
			err := p.dec.DecodeElement(target, &t)
			p.lim.expectNothing()
			if err != nil {
				return syntaxError(err)
			}
		}
	}
}

func (p *parser) nextStart() (xml.StartElement, error) {
	for {
		t, err := p.dec.Token()
		if err != nil {
			return xml.StartElement{}, syntaxError(err)
		}
		switch t := t.(type) {
		case xml.StartElement:
			return t, nil
		case xml.CharData:
			if strings.TrimSpace(string(t)) != "" {
				return xml.StartElement{}, errorf(Malformed, "text before the envelope")
			}
		}
	}
}

// syntaxError turns a decoder error into an *Error, keeping those our
// limits and charset readers raised as they are.
func syntaxError(err error) error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return errorf(Malformed, "the message ends before the envelope does")
	}
	var se *xml.SyntaxError
	if errors.As(err, &se) {
		return errorf(Malformed, "XML syntax error on line %d: %s", se.Line, syntaxMessage(se.Msg))
	}
	// Other decoder errors (a number that does not parse, say) quote the
	// offending value, which could be a person identifier: say less.
	return errorf(Malformed, "the message cannot be read: a value has the wrong type for its element")
}
