package wsdl

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// tokens returns doc's elements, attributes and non-blank text as lines,
// leaving out the subtrees for which skip is true. Every token is copied
// (the decoder reuses its buffers).
func tokens(t *testing.T, doc []byte, skip func(path []xml.StartElement) bool) []string {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(doc))
	var (
		out     []string
		path    []xml.StartElement
		skipped = -1 // depth of the subtree being left out, or -1
	)
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("parse: %v", err)
		}
		switch tt := tok.(type) {
		case xml.StartElement:
			path = append(path, tt.Copy())
			if skipped < 0 && skip(path) {
				skipped = len(path)
			}
			if skipped < 0 {
				line := "<" + tt.Name.Space + " " + tt.Name.Local
				for _, a := range tt.Attr {
					line += " " + a.Name.Space + ":" + a.Name.Local + "=" + a.Value
				}
				out = append(out, line)
			}
		case xml.EndElement:
			if skipped < 0 {
				out = append(out, "</"+tt.Name.Local)
			}
			if skipped == len(path) {
				skipped = -1
			}
			path = path[:len(path)-1]
		case xml.CharData:
			if s := strings.TrimSpace(string(tt)); s != "" && skipped < 0 {
				out = append(out, s)
			}
		}
	}
}

func attr(e xml.StartElement, name string) string {
	for _, a := range e.Attr {
		if a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

// TestSOAP11View holds the SOAP-1.1-only view to the whole WSDL less its
// SOAP 1.2 binding and port, and nothing else: no element of the SOAP 1.2
// binding namespace is left in it, one binding and one port remain, and
// every other element, attribute and text is the same.
func TestSOAP11View(t *testing.T) {
	const endpoint = "https://gw.example/medcard?a=1&b=2"
	view, err := RenderSOAP11(endpoint)
	if err != nil {
		t.Fatalf("RenderSOAP11: %v", err)
	}
	full := Render(endpoint)

	var bindings, ports, soap12 int
	tokens(t, view, func(path []xml.StartElement) bool {
		e := path[len(path)-1]
		switch {
		case e.Name.Space == soap12NS:
			soap12++
		case e.Name.Space == wsdlNS && e.Name.Local == "binding":
			bindings++
		case e.Name.Space == wsdlNS && e.Name.Local == "port":
			ports++
		}
		return false
	})
	if soap12 != 0 || bindings != 1 || ports != 1 {
		t.Errorf("the view has %d SOAP 1.2 elements, %d bindings, %d ports; want 0, 1, 1", soap12, bindings, ports)
	}

	isSOAP12 := func(path []xml.StartElement) bool {
		e := path[len(path)-1]
		return e.Name.Space == wsdlNS && (e.Name.Local == "binding" && attr(e, "name") == "MedicineCardSoap12Binding" ||
			e.Name.Local == "port" && attr(e, "binding") == "tns:MedicineCardSoap12Binding")
	}
	keepAll := func([]xml.StartElement) bool { return false }
	if diff := cmp.Diff(tokens(t, full, isSOAP12), tokens(t, view, keepAll)); diff != "" {
		t.Errorf("the view differs from the whole WSDL less its SOAP 1.2 binding and port (-want +got):\n%s", diff)
	}
	if !bytes.Contains(view, []byte(`location="https://gw.example/medcard?a=1&amp;b=2"`)) {
		t.Errorf("the view's address is not the endpoint, escaped")
	}
}

// TestSOAP11OnlyKeepsTheRest cuts a small document: the SOAP 1.2 binding,
// the port using it and the port with a soap12:address go, with the lines
// they stood on; everything else stays byte for byte.
func TestSOAP11OnlyKeepsTheRest(t *testing.T) {
	doc := `<d:definitions xmlns:d="http://schemas.xmlsoap.org/wsdl/" xmlns:s="http://schemas.xmlsoap.org/wsdl/soap/" xmlns:s12="http://schemas.xmlsoap.org/wsdl/soap12/" xmlns:t="urn:t">
  <d:binding name="B11"><s:binding/></d:binding>
  <d:binding name="B12">
    <s12:binding/>
  </d:binding>
  <d:service name="S">
    <d:port name="P11" binding="t:B11"><s:address location="x"/></d:port>
    <d:port name="P12" binding="t:B12"><s:address location="x"/></d:port>
    <d:port name="Q12" binding="t:Other"><s12:address location="x"/></d:port>
  </d:service>
</d:definitions>`
	want := `<d:definitions xmlns:d="http://schemas.xmlsoap.org/wsdl/" xmlns:s="http://schemas.xmlsoap.org/wsdl/soap/" xmlns:s12="http://schemas.xmlsoap.org/wsdl/soap12/" xmlns:t="urn:t">
  <d:binding name="B11"><s:binding/></d:binding>
  <d:service name="S">
    <d:port name="P11" binding="t:B11"><s:address location="x"/></d:port>
  </d:service>
</d:definitions>`
	got, err := SOAP11Only([]byte(doc))
	if err != nil {
		t.Fatalf("SOAP11Only: %v", err)
	}
	if string(got) != want {
		t.Errorf("SOAP11Only =\n%s\nwant\n%s", got, want)
	}
	if _, err := SOAP11Only([]byte(`<d:definitions xmlns:d="http://schemas.xmlsoap.org/wsdl/"><d:binding>`)); err == nil {
		t.Errorf("SOAP11Only of a truncated document: no error")
	}
}
