package envelope

import (
	"bytes"
	"encoding/xml"
)

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
// wrapper element or an application header block is decoded
// (expectWithin) it can refuse a descendant in another namespace:
// encoding/xml matches a struct field by local name alone, so without this
// a request whose children were all in a wrong namespace was served as if
// they were right.
type limitedTokens struct {
	raw    rawTokens
	limits Limits
	depth  int
	tokens int

	bindings []nsBinding
	inline   [8]nsBinding // bindings' first array: no allocation for a usual envelope

	expect       string // the namespace every element below expectParent must be in; "" checks nothing
	expectParent string
	expectDepth  int
}

func newLimitedTokens(raw rawTokens, limits Limits) *limitedTokens {
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
		return nil, errorf(TooLarge, "the message has more than %d XML tokens", l.limits.MaxTokens)
	}
	switch t := t.(type) {
	case xml.StartElement:
		l.depth++
		if l.depth > l.limits.MaxDepth {
			return nil, errorf(TooDeep, "the message nests deeper than %d elements", l.limits.MaxDepth)
		}
		if err := checkElementSize(t); err != nil {
			return nil, err
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
				return nil, wrongChildNamespace(t.Name.Local, space, l.expectParent, l.expect)
			}
		}
	case xml.EndElement:
		for len(l.bindings) > 0 && l.bindings[len(l.bindings)-1].depth == l.depth {
			l.bindings = l.bindings[:len(l.bindings)-1]
		}
		l.depth--
	case xml.Directive:
		return nil, errorf(Malformed, "DOCTYPE and other XML directives are not allowed")
	case xml.ProcInst:
		if t.Target != "xml" {
			return nil, errorf(Malformed, "processing instructions are not allowed")
		}
	}
	return t, nil
}

// Bounds of one element, far above what any SOAP stack writes (a few
// namespace declarations, a wsu:Id, a password Type URI) and far below
// what a hostile one may: huge or many attributes and huge names cost the
// decoder memory for each, and a fault may quote a name.
const (
	maxAttributes          = 64
	maxNameBytes           = 256 // prefix and local name
	maxAttributeValueBytes = 4096
)

// checkElementSize refuses a start element beyond those bounds.
func checkElementSize(t xml.StartElement) error {
	if len(t.Attr) > maxAttributes {
		return errorf(TooLarge, "an element has more than %d attributes", maxAttributes)
	}
	if len(t.Name.Space)+len(t.Name.Local) > maxNameBytes {
		return errorf(TooLarge, "an element name is longer than %d bytes", maxNameBytes)
	}
	for _, a := range t.Attr {
		if len(a.Name.Space)+len(a.Name.Local) > maxNameBytes {
			return errorf(TooLarge, "an attribute name is longer than %d bytes", maxNameBytes)
		}
		if len(a.Value) > maxAttributeValueBytes {
			return errorf(TooLarge, "an attribute value is longer than %d bytes", maxAttributeValueBytes)
		}
	}
	return nil
}

// checkAttributeCounts refuses, before encoding/xml reads doc, a tag with
// more than maxAttributes attributes: the decoder keeps every attribute of
// a start element (two names, a value, a slice entry) before the token
// filter sees the element, and a tag of many short attributes cost 25
// bytes per byte sent (23 MB for 900 KB), five times what any other shape
// of a message costs. One pass over the bytes: an attribute is an "="
// outside quotes in a tag, and a tag is a "<" outside comments, CDATA
// sections and processing instructions (XML allows no "<" in text or in
// an attribute value). A document it misreads is malformed, and refused
// either way.
func checkAttributeCounts(doc []byte) error {
	skipTo := func(i int, end string) int {
		if j := bytes.Index(doc[i:], []byte(end)); j >= 0 {
			return i + j + len(end)
		}
		return len(doc)
	}
	for i := 0; i < len(doc); {
		lt := bytes.IndexByte(doc[i:], '<')
		if lt < 0 {
			return nil
		}
		i += lt + 1
		rest := doc[i:]
		switch {
		case bytes.HasPrefix(rest, []byte("!--")):
			i = skipTo(i+3, "-->")
		case bytes.HasPrefix(rest, []byte("![CDATA[")):
			i = skipTo(i+8, "]]>")
		case bytes.HasPrefix(rest, []byte("?")):
			i = skipTo(i+1, "?>")
		default:
			attrs, quote := 0, byte(0)
		tag:
			for ; i < len(doc); i++ {
				switch c := doc[i]; {
				case quote != 0:
					if c == quote {
						quote = 0
					}
				case c == '"' || c == '\'':
					quote = c
				case c == '=':
					if attrs++; attrs > maxAttributes {
						return errorf(TooLarge, "an element has more than %d attributes", maxAttributes)
					}
				case c == '>':
					break tag
				}
			}
		}
	}
	return nil
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
	l.expect, l.expectParent, l.expectDepth = ns, parent.Name.Local, l.depth
}

func (l *limitedTokens) expectNothing() { l.expect = "" }

func wrongChildNamespace(child, space, parent, want string) error {
	if space == "" {
		return errorf(WrongNamespace, "%s in %s is in no namespace (or an undeclared prefix); it must be in %s", quoted(child), quoted(parent), want)
	}
	return errorf(WrongNamespace, "%s in %s is in the namespace %s; it must be in %s", quoted(child), quoted(parent), quoted(space), want)
}
