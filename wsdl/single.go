package wsdl

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strings"
)

// headersSuffix ends the name of the message that SeparateHeaderMessages
// makes for an input message's header parts: GetMedicineCardRequest's go
// to GetMedicineCardRequest_Headers, the name WCF gives such a message when
// it describes a message contract with headers.
const headersSuffix = "_Headers"

// soapNS is the WSDL SOAP 1.1 binding namespace (soap12NS is 1.2's).
const soapNS = "http://schemas.xmlsoap.org/wsdl/soap/"

// RenderSingle returns the view of the WSDL served at ?singleWsdl, for the
// .NET contract importers, with every port's address set to endpoint: the
// header parts of each message in a message of their own
// (SeparateHeaderMessages). Mono's svcutil imports no operation whose
// message has a part besides "parameters"; WCF's svcutil reads the same
// form as a message contract with headers. The error is
// SeparateHeaderMessages'.
func RenderSingle(endpoint string) ([]byte, error) {
	view, err := SeparateHeaderMessages(source)
	if err != nil {
		return nil, err
	}
	return withAddress(view, endpoint), nil
}

// RenderSingleSOAP11 returns RenderSingle's view with the SOAP 1.2 binding
// and port left out (SOAP11Only), served at ?singleWsdl&soap=1.1.
func RenderSingleSOAP11(endpoint string) ([]byte, error) {
	view, err := SeparateHeaderMessages(source)
	if err == nil {
		view, err = SOAP11Only(view)
	}
	if err != nil {
		return nil, err
	}
	return withAddress(view, endpoint), nil
}

// SeparateHeaderMessages returns doc with the header parts of its messages
// moved out: every part that a binding's soap:header or soap12:header (or
// headerfault) names goes from its message M, a top-level wsdl:message of
// doc's target namespace, to a new message M_Headers placed right after M,
// and each header element naming M and that part names M_Headers instead.
// The message a portType operation takes then holds its body alone (in
// our WSDL the one part "parameters"), and the headers are still bound, to
// the same elements: the messages on the wire do not change. Everything
// else is kept byte for byte.
//
// The error says doc does not parse, already has a message named
// M_Headers, or names a message in an attribute this function cannot
// rewrite (one written with a character reference).
func SeparateHeaderMessages(doc []byte) ([]byte, error) {
	parsed, err := scanMessages(doc)
	if err != nil {
		return nil, err
	}
	var edits []edit
	moved := map[string]bool{} // "message part" of every header part moved
	for _, h := range parsed.headers {
		m := parsed.messages[h.message]
		if m == nil || m.part(h.part) == nil {
			continue // a header of another namespace's message, or a broken reference: left as it is
		}
		if parsed.messages[h.message+headersSuffix] != nil {
			return nil, fmt.Errorf("message %s: a message %s%s is there already", h.message, h.message, headersSuffix)
		}
		moved[h.message+" "+h.part] = true
		e, err := replaceAttr(doc, h.start, h.tagEnd, "message", h.rawMessage+headersSuffix, h.rawMessage)
		if err != nil {
			return nil, fmt.Errorf("header of message %s: %w", h.message, err)
		}
		edits = append(edits, e)
	}
	for _, m := range parsed.order {
		var parts []span
		for _, p := range m.parts {
			if moved[m.name+" "+p.name] {
				parts = append(parts, p.span)
			}
		}
		if len(parts) == 0 {
			continue
		}
		e, err := headerMessage(doc, m, parts)
		if err != nil {
			return nil, fmt.Errorf("message %s: %w", m.name, err)
		}
		edits = append(edits, e...)
	}
	sort.SliceStable(edits, func(i, j int) bool { return edits[i].from < edits[j].from })
	var out bytes.Buffer
	at := int64(0)
	for _, e := range edits {
		out.Write(doc[at:e.from])
		out.WriteString(e.text)
		at = e.to
	}
	out.Write(doc[at:])
	return out.Bytes(), nil
}

// edit replaces doc[from:to] with text.
type edit struct {
	from, to int64
	text     string
}

// span is an element's place in the document: from its "<" to the end of
// its start tag and to the end of its end tag.
type span struct {
	start, tagEnd, end int64
}

type message struct {
	name  string
	span  span
	parts []part
}

type part struct {
	name string
	span span
}

func (m *message) part(name string) *part {
	for i := range m.parts {
		if m.parts[i].name == name {
			return &m.parts[i]
		}
	}
	return nil
}

// header is a binding's soap:header, soap12:header or headerfault: the
// local name of the message it names (in the target namespace), the name
// as written in the attribute, and the part.
type header struct {
	message, rawMessage, part string
	start, tagEnd             int64
}

type scanned struct {
	messages map[string]*message // the top-level messages by name
	order    []*message
	headers  []header
}

// scanMessages reads doc's top-level messages with their parts, and the
// header elements that name a message of doc's target namespace.
func scanMessages(doc []byte) (*scanned, error) {
	type open struct {
		name   xml.Name
		prefix map[string]string // namespaces declared on this element, by prefix ("" the default)
		start  int64
		tagEnd int64
		msg    *message
	}
	var (
		d      = xml.NewDecoder(bytes.NewReader(doc))
		stack  []*open
		target string
		s      = &scanned{messages: map[string]*message{}}
	)
	// resolve returns the namespace and local name of a QName attribute
	// value, with the declarations in scope.
	resolve := func(qname string) (string, string) {
		prefix, local, ok := strings.Cut(qname, ":")
		if !ok {
			prefix, local = "", qname
		}
		for i := len(stack) - 1; i >= 0; i-- {
			if ns, ok := stack[i].prefix[prefix]; ok {
				return ns, local
			}
		}
		return "", local
	}
	for {
		start := d.InputOffset()
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("read WSDL: %w", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			el := &open{name: t.Name, prefix: map[string]string{}, start: start, tagEnd: d.InputOffset()}
			for _, a := range t.Attr {
				switch {
				case a.Name.Space == "xmlns":
					el.prefix[a.Name.Local] = a.Value
				case a.Name.Space == "" && a.Name.Local == "xmlns":
					el.prefix[""] = a.Value
				}
			}
			stack = append(stack, el)
			depth := len(stack)
			switch {
			case depth == 1 && t.Name.Space == wsdlNS && t.Name.Local == "definitions":
				target = attrValue(t, "targetNamespace")
			case depth == 2 && t.Name.Space == wsdlNS && t.Name.Local == "message":
				el.msg = &message{name: attrValue(t, "name")}
			case depth == 3 && t.Name.Space == wsdlNS && t.Name.Local == "part" && stack[1].msg != nil:
				m := stack[1].msg
				m.parts = append(m.parts, part{name: attrValue(t, "name")})
			case (t.Name.Space == soapNS || t.Name.Space == soap12NS) && (t.Name.Local == "header" || t.Name.Local == "headerfault"):
				raw := attrValue(t, "message")
				if ns, local := resolve(raw); ns == target && raw != "" {
					s.headers = append(s.headers, header{message: local, rawMessage: raw, part: attrValue(t, "part"),
						start: start, tagEnd: el.tagEnd})
				}
			}
		case xml.EndElement:
			el := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			sp := span{start: el.start, tagEnd: el.tagEnd, end: d.InputOffset()}
			switch {
			case el.msg != nil:
				el.msg.span = sp
				if s.messages[el.msg.name] == nil {
					s.order = append(s.order, el.msg)
				}
				s.messages[el.msg.name] = el.msg
			case len(stack) == 2 && stack[1].msg != nil && el.name.Space == wsdlNS && el.name.Local == "part":
				m := stack[1].msg
				m.parts[len(m.parts)-1].span = sp
			}
		}
	}
	return s, nil
}

func attrValue(e xml.StartElement, local string) string {
	for _, a := range e.Attr {
		if a.Name.Space == "" && a.Name.Local == local {
			return a.Value
		}
	}
	return ""
}

// headerMessage returns the edits that move parts (each within m) out of
// m into the new message m_Headers after it: the parts cut, with the lines
// they stood on, and the new message inserted, on lines of its own when m
// and the parts stand on lines of their own, else right after m. Its start
// tag is m's with the new name, so that any declaration there still holds.
func headerMessage(doc []byte, m *message, parts []span) ([]edit, error) {
	open, err := replaceAttr(doc, m.span.start, m.span.tagEnd, "name", m.name+headersSuffix, m.name)
	if err != nil {
		return nil, err
	}
	startTag := string(doc[m.span.start:open.from]) + open.text + string(doc[open.to:m.span.tagEnd])
	closeTag := "</" + tagName(doc[m.span.start:]) + ">"

	var edits []edit
	lines := true
	var body strings.Builder
	for _, p := range parts {
		from, to := wholeLines(doc, p.start, p.end)
		lines = lines && to != p.end
		body.Write(doc[from:to])
		edits = append(edits, edit{from: from, to: to})
	}
	if from, to := wholeLines(doc, m.span.start, m.span.end); lines && to != m.span.end {
		indent := string(doc[from:m.span.start])
		return append(edits, edit{from: to, to: to, text: indent + startTag + "\n" + body.String() + indent + closeTag + "\n"}), nil
	}
	var compact strings.Builder
	for _, p := range parts {
		compact.Write(doc[p.start:p.end])
	}
	return append(edits, edit{from: m.span.end, to: m.span.end, text: startTag + compact.String() + closeTag}), nil
}

// tagName returns the qualified name of the start tag at the beginning of
// tag, as written ("wsdl:message").
func tagName(tag []byte) string {
	end := bytes.IndexAny(tag[1:], " \t\r\n/>")
	return string(tag[1 : end+1])
}

var attrPattern = regexp.MustCompile(`[ \t\r\n]([A-Za-z_][-.\w]*)[ \t\r\n]*=[ \t\r\n]*("[^"]*"|'[^']*')`)

// replaceAttr returns the edit that gives the unqualified attribute name of
// the start tag doc[start:tagEnd] the value value. The value written there
// must be want (the decoded value), so that a character reference in it is
// never cut apart.
func replaceAttr(doc []byte, start, tagEnd int64, name, value, want string) (edit, error) {
	tag := doc[start:tagEnd]
	for _, m := range attrPattern.FindAllSubmatchIndex(tag, -1) {
		if string(tag[m[2]:m[3]]) != name {
			continue
		}
		if raw := string(tag[m[4]+1 : m[5]-1]); raw != want {
			return edit{}, fmt.Errorf("attribute %s is written %q, not %q", name, raw, want)
		}
		return edit{from: start + int64(m[4]) + 1, to: start + int64(m[5]) - 1, text: value}, nil
	}
	return edit{}, fmt.Errorf("no attribute %s in %s", name, tag)
}
