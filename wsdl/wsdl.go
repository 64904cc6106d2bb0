// Package wsdl holds the service description we own: the WSDL of the
// medicine card service with its schema inline, and the views of it that
// some toolkits need, made from it rather than kept by hand. The gateway
// serves the WSDL at ?wsdl (each header a part of its request message, so
// that wsimport, CXF and Axis give it an argument), its SOAP-1.1-only view
// at ?wsdl&soap=1.1 (Axis 1.4), and at ?singleWsdl the view for .NET's
// importers with the header parts in messages of their own (single.go);
// the test client in internal/wsdlclient is generated from the WSDL.
package wsdl

import (
	"bytes"
	_ "embed"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
)

//go:embed medcard.wsdl
var source []byte

// placeholderAddress is the soap:address location in the file; Render
// replaces it with the gateway's public address.
const placeholderAddress = "http://gateway.invalid/medcard"

// Namespaces of the WSDL 1.1 elements the SOAP-1.1 view looks at.
const (
	wsdlNS   = "http://schemas.xmlsoap.org/wsdl/"
	soap12NS = "http://schemas.xmlsoap.org/wsdl/soap12/"
)

// Source returns the WSDL as stored, with the placeholder address.
func Source() []byte { return bytes.Clone(source) }

// Render returns the WSDL with every port's address set to endpoint, the
// public URL of the SOAP endpoint.
func Render(endpoint string) []byte {
	return withAddress(source, endpoint)
}

// RenderSOAP11 returns the SOAP-1.1-only view of the WSDL with every port's
// address set to endpoint: the document without its SOAP 1.2 binding and
// port, for toolkits that refuse a WSDL naming SOAP 1.2 at all (Axis 1.4's
// WSDL2Java stops at the first soap12:fault). The error is SOAP11Only's.
func RenderSOAP11(endpoint string) ([]byte, error) {
	view, err := SOAP11Only(source)
	if err != nil {
		return nil, err
	}
	return withAddress(view, endpoint), nil
}

// SOAP11Only returns doc without the bindings that are SOAP 1.2 bindings
// (a wsdl:binding holding a soap12:binding) and without the ports that
// use them or have a soap12:address. Everything else is kept byte for
// byte, so the view differs from the whole document only by what it
// leaves out.
func SOAP11Only(doc []byte) ([]byte, error) {
	type open struct {
		name      xml.Name
		start     int64  // offset of the element's "<"
		bindingOf string // a port's binding attribute, without its prefix
		cut       bool
	}
	var (
		d       = xml.NewDecoder(bytes.NewReader(doc))
		stack   []*open
		cuts    [][2]int64
		removed = map[string]bool{} // local names of the SOAP 1.2 bindings
	)
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
			el := &open{name: t.Name, start: start}
			if t.Name.Space == wsdlNS && (t.Name.Local == "binding" || t.Name.Local == "port") {
				for _, a := range t.Attr {
					switch {
					case t.Name.Local == "binding" && a.Name.Local == "name":
						el.bindingOf = a.Value
					case t.Name.Local == "port" && a.Name.Local == "binding":
						el.bindingOf = a.Value[strings.IndexByte(a.Value, ':')+1:]
						el.cut = removed[el.bindingOf]
					}
				}
			}
			if len(stack) > 0 && t.Name.Space == soap12NS {
				parent := stack[len(stack)-1]
				if parent.name.Space == wsdlNS && (parent.name.Local == "binding" && t.Name.Local == "binding" ||
					parent.name.Local == "port" && t.Name.Local == "address") {
					parent.cut = true
				}
			}
			stack = append(stack, el)
		case xml.EndElement:
			el := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if el.cut {
				if el.name.Local == "binding" {
					removed[el.bindingOf] = true
				}
				cuts = append(cuts, [2]int64{el.start, d.InputOffset()})
			}
		}
	}
	var out bytes.Buffer
	at := int64(0)
	for _, c := range cuts {
		from, to := wholeLines(doc, c[0], c[1])
		out.Write(doc[at:from])
		at = to
	}
	out.Write(doc[at:])
	return out.Bytes(), nil
}

// wholeLines widens [from, to) over the indentation before it and the line
// break after it when the range stands on lines of its own, so that a cut
// leaves no blank line.
func wholeLines(doc []byte, from, to int64) (int64, int64) {
	f := from
	for f > 0 && (doc[f-1] == ' ' || doc[f-1] == '\t') {
		f--
	}
	if f > 0 && doc[f-1] != '\n' {
		return from, to
	}
	t := to
	if t < int64(len(doc)) && doc[t] == '\r' {
		t++
	}
	if t < int64(len(doc)) && doc[t] == '\n' {
		return f, t + 1
	}
	return from, to
}

// withAddress returns doc with the placeholder address replaced by
// endpoint, escaped for an attribute value.
func withAddress(doc []byte, endpoint string) []byte {
	var esc bytes.Buffer
	for _, r := range endpoint {
		switch r {
		case '&':
			esc.WriteString("&amp;")
		case '"':
			esc.WriteString("&quot;")
		case '<':
			esc.WriteString("&lt;")
		default:
			esc.WriteRune(r)
		}
	}
	return bytes.ReplaceAll(doc, []byte(placeholderAddress), esc.Bytes())
}
