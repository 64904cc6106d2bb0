package wsdl

import (
	"bytes"
	"encoding/xml"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// definitions is what the tests read of a WSDL: its messages, the
// messages its operations take, and the headers its bindings bind.
type definitions struct {
	Messages []struct {
		Name  string `xml:"name,attr"`
		Parts []struct {
			Name    string `xml:"name,attr"`
			Element string `xml:"element,attr"`
		} `xml:"http://schemas.xmlsoap.org/wsdl/ part"`
	} `xml:"http://schemas.xmlsoap.org/wsdl/ message"`
	Operations []struct {
		Name   string `xml:"name,attr"`
		Input  qref   `xml:"http://schemas.xmlsoap.org/wsdl/ input"`
		Output qref   `xml:"http://schemas.xmlsoap.org/wsdl/ output"`
	} `xml:"http://schemas.xmlsoap.org/wsdl/ portType>operation"`
	Bindings []struct {
		Name       string `xml:"name,attr"`
		Operations []struct {
			Name  string `xml:"name,attr"`
			Input struct {
				Headers []struct {
					XMLName xml.Name
					Message string `xml:"message,attr"`
					Part    string `xml:"part,attr"`
				} `xml:"header"` // soap:header and soap12:header
			} `xml:"http://schemas.xmlsoap.org/wsdl/ input"`
		} `xml:"http://schemas.xmlsoap.org/wsdl/ operation"`
	} `xml:"http://schemas.xmlsoap.org/wsdl/ binding"`
}

type qref struct {
	Message string `xml:"message,attr"`
}

func parseDefinitions(t *testing.T, doc []byte) definitions {
	t.Helper()
	var d definitions
	if err := xml.Unmarshal(doc, &d); err != nil {
		t.Fatalf("parse WSDL: %v", err)
	}
	return d
}

// parts returns the "name element" of each part of the message named by
// the QName ref ("tns:Name"), and whether there is such a message.
func (d definitions) parts(ref string) ([]string, bool) {
	local := ref[strings.IndexByte(ref, ':')+1:]
	for _, m := range d.Messages {
		if m.Name == local {
			var parts []string
			for _, p := range m.Parts {
				parts = append(parts, p.Name+" "+p.Element)
			}
			return parts, true
		}
	}
	return nil, false
}

// boundHeaders returns, for every binding operation, the elements its
// input headers bind, read through the messages and parts they name.
func (d definitions) boundHeaders(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, b := range d.Bindings {
		for _, op := range b.Operations {
			for _, h := range op.Input.Headers {
				parts, _ := d.parts(h.Message)
				element := ""
				for _, p := range parts {
					if name, el, _ := strings.Cut(p, " "); name == h.Part {
						element = el
					}
				}
				if element == "" {
					t.Errorf("binding %s operation %s: header %s part %s names no part", b.Name, op.Name, h.Message, h.Part)
				}
				out = append(out, b.Name+" "+op.Name+" "+h.XMLName.Space+" "+element)
			}
		}
	}
	return out
}

// TestSingleView holds the view served at ?singleWsdl to the whole WSDL
// with the header parts moved into messages of their own: every operation's
// input and output is the one part "parameters" (what Mono's svcutil
// imports), every header is still bound to the same element in the same
// binding operation, the header messages hold exactly the parts moved, and
// everything else is the same.
func TestSingleView(t *testing.T) {
	const endpoint = "https://gw.example/medcard?a=1&b=2"
	view, err := RenderSingle(endpoint)
	if err != nil {
		t.Fatalf("RenderSingle: %v", err)
	}
	full := Render(endpoint)
	fullDefs, viewDefs := parseDefinitions(t, full), parseDefinitions(t, view)

	if len(viewDefs.Operations) == 0 {
		t.Fatal("the view has no operations")
	}
	for _, op := range viewDefs.Operations {
		for _, ref := range []string{op.Input.Message, op.Output.Message} {
			parts, ok := viewDefs.parts(ref)
			if !ok || len(parts) != 1 || !strings.HasPrefix(parts[0], "parameters ") {
				t.Errorf("operation %s: message %s has parts %q, want the one part parameters", op.Name, ref, parts)
			}
		}
	}

	fullHeaders := fullDefs.boundHeaders(t)
	if want := 3 * 2 * len(fullDefs.Operations); len(fullHeaders) != want {
		t.Errorf("the whole WSDL binds %d input headers, want %d (three per operation in two bindings)", len(fullHeaders), want)
	}
	if diff := cmp.Diff(fullHeaders, viewDefs.boundHeaders(t)); diff != "" {
		t.Errorf("the view binds other headers (-whole +view):\n%s", diff)
	}

	// Every header message holds the parts its request had besides
	// parameters, in order; there is one per operation.
	moved := map[string]bool{} // "message part" moved out of message
	headerMessages := 0
	for _, m := range viewDefs.Messages {
		request, ok := strings.CutSuffix(m.Name, headersSuffix)
		if !ok {
			continue
		}
		headerMessages++
		was, _ := fullDefs.parts("tns:" + request)
		got, _ := viewDefs.parts("tns:" + m.Name)
		if len(was) == 0 || !cmp.Equal(was[1:], got) {
			t.Errorf("message %s has parts %q, want %s's less parameters: %q", m.Name, got, request, was)
		}
		for _, p := range m.Parts {
			moved[request+" "+p.Name] = true
		}
	}
	if headerMessages != len(fullDefs.Operations) {
		t.Errorf("the view has %d header messages, want one per operation (%d)", headerMessages, len(fullDefs.Operations))
	}

	// The rest: the whole WSDL less the parts moved equals the view less
	// its header messages, once the headers' message names are read back.
	movedPart := func(path []xml.StartElement) bool {
		e := path[len(path)-1]
		return len(path) == 3 && e.Name.Space == wsdlNS && e.Name.Local == "part" && moved[attr(path[1], "name")+" "+attr(e, "name")]
	}
	headerMessage := func(path []xml.StartElement) bool {
		e := path[len(path)-1]
		return len(path) == 2 && e.Name.Space == wsdlNS && e.Name.Local == "message" && strings.HasSuffix(attr(e, "name"), headersSuffix)
	}
	viewTokens := tokens(t, view, headerMessage)
	for i, line := range viewTokens {
		if strings.HasPrefix(line, "<"+soapNS+" header ") || strings.HasPrefix(line, "<"+soap12NS+" header ") {
			viewTokens[i] = strings.Replace(line, headersSuffix+" ", " ", 1)
		}
	}
	if diff := cmp.Diff(tokens(t, full, movedPart), viewTokens); diff != "" {
		t.Errorf("the view differs from the whole WSDL by more than its header messages (-want +got):\n%s", diff)
	}
	if !bytes.Contains(view, []byte(`location="https://gw.example/medcard?a=1&amp;b=2"`)) {
		t.Errorf("the view's address is not the endpoint, escaped")
	}
}

// TestSingleSOAP11View: ?singleWsdl&soap=1.1 is the ?singleWsdl view less
// its SOAP 1.2 binding and port.
func TestSingleSOAP11View(t *testing.T) {
	const endpoint = "https://gw.example/medcard"
	view, err := RenderSingleSOAP11(endpoint)
	if err != nil {
		t.Fatalf("RenderSingleSOAP11: %v", err)
	}
	single, err := RenderSingle(endpoint)
	if err != nil {
		t.Fatalf("RenderSingle: %v", err)
	}
	isSOAP12 := func(path []xml.StartElement) bool {
		e := path[len(path)-1]
		return e.Name.Space == wsdlNS && (e.Name.Local == "binding" && attr(e, "name") == "MedicineCardSoap12Binding" ||
			e.Name.Local == "port" && attr(e, "binding") == "tns:MedicineCardSoap12Binding")
	}
	keepAll := func([]xml.StartElement) bool { return false }
	if diff := cmp.Diff(tokens(t, single, isSOAP12), tokens(t, view, keepAll)); diff != "" {
		t.Errorf("the SOAP 1.1 view of ?singleWsdl differs from ?singleWsdl less its SOAP 1.2 binding and port (-want +got):\n%s", diff)
	}
	if d := parseDefinitions(t, view); len(d.Bindings) != 1 {
		t.Errorf("the view has %d bindings, want 1", len(d.Bindings))
	}
}

// TestSeparateHeaderMessagesKeepsTheRest moves the header parts of a small
// document: the parts bound as headers (by a SOAP 1.1 and a SOAP 1.2
// binding) go, with their lines, into a message after theirs, and the
// headers name it; a message written on one line gets its header message
// on that line; a part no header names, a header naming another
// namespace's message and everything else stay byte for byte.
func TestSeparateHeaderMessagesKeepsTheRest(t *testing.T) {
	doc := `<d:definitions xmlns:d="http://schemas.xmlsoap.org/wsdl/" xmlns:s="http://schemas.xmlsoap.org/wsdl/soap/" xmlns:s12="http://schemas.xmlsoap.org/wsdl/soap12/" targetNamespace="urn:t" xmlns:t="urn:t" xmlns:o="urn:other">
  <d:message name="A" xmlns:h="urn:h">
    <d:part name="parameters" element="t:A"/>
    <d:part name="Auth" element="h:Auth"/>
    <d:part name="Extra" element="t:Extra"/>
    <d:part name="Trace" element="h:Trace"/>
  </d:message>
  <d:message name="B"><d:part name="parameters" element="t:B"/><d:part name="Auth" element="t:Auth"/></d:message>
  <d:binding name="B11">
    <d:operation name="A"><d:input>
      <s:body parts="parameters Extra" use="literal"/>
      <s:header message="t:A" part="Auth" use="literal"/>
      <s:header message='t:A' part="Trace" use="literal"/>
      <s:header message="o:A" part="Extra" use="literal"/>
    </d:input></d:operation>
    <d:operation name="B"><d:input><s:header part="Auth" message="t:B"/></d:input></d:operation>
  </d:binding>
  <d:binding name="B12">
    <d:operation name="A"><d:input><s12:header
        message="t:A" part="Auth"/></d:input></d:operation>
  </d:binding>
</d:definitions>`
	want := `<d:definitions xmlns:d="http://schemas.xmlsoap.org/wsdl/" xmlns:s="http://schemas.xmlsoap.org/wsdl/soap/" xmlns:s12="http://schemas.xmlsoap.org/wsdl/soap12/" targetNamespace="urn:t" xmlns:t="urn:t" xmlns:o="urn:other">
  <d:message name="A" xmlns:h="urn:h">
    <d:part name="parameters" element="t:A"/>
    <d:part name="Extra" element="t:Extra"/>
  </d:message>
  <d:message name="A_Headers" xmlns:h="urn:h">
    <d:part name="Auth" element="h:Auth"/>
    <d:part name="Trace" element="h:Trace"/>
  </d:message>
  <d:message name="B"><d:part name="parameters" element="t:B"/></d:message><d:message name="B_Headers"><d:part name="Auth" element="t:Auth"/></d:message>
  <d:binding name="B11">
    <d:operation name="A"><d:input>
      <s:body parts="parameters Extra" use="literal"/>
      <s:header message="t:A_Headers" part="Auth" use="literal"/>
      <s:header message='t:A_Headers' part="Trace" use="literal"/>
      <s:header message="o:A" part="Extra" use="literal"/>
    </d:input></d:operation>
    <d:operation name="B"><d:input><s:header part="Auth" message="t:B_Headers"/></d:input></d:operation>
  </d:binding>
  <d:binding name="B12">
    <d:operation name="A"><d:input><s12:header
        message="t:A_Headers" part="Auth"/></d:input></d:operation>
  </d:binding>
</d:definitions>`
	got, err := SeparateHeaderMessages([]byte(doc))
	if err != nil {
		t.Fatalf("SeparateHeaderMessages: %v", err)
	}
	if string(got) != want {
		t.Errorf("SeparateHeaderMessages =\n%s\nwant\n%s", got, want)
	}
}

// TestSeparateHeaderMessagesRefuses: a document that does not parse, one
// that has a message by the name the header message would take, and one
// whose header names its message with a character reference (which a
// rewrite of the name could cut apart) are refused.
func TestSeparateHeaderMessagesRefuses(t *testing.T) {
	const head = `<d:definitions xmlns:d="http://schemas.xmlsoap.org/wsdl/" xmlns:s="http://schemas.xmlsoap.org/wsdl/soap/" targetNamespace="urn:t" xmlns:t="urn:t">`
	for name, doc := range map[string]string{
		"truncated": head + `<d:message name="A">`,
		"taken": head + `<d:message name="A"><d:part name="parameters" element="t:A"/><d:part name="H" element="t:H"/></d:message>` +
			`<d:message name="A_Headers"/><d:binding><s:header message="t:A" part="H"/></d:binding></d:definitions>`,
		"reference": head + `<d:message name="A"><d:part name="parameters" element="t:A"/><d:part name="H" element="t:H"/></d:message>` +
			`<d:binding><s:header message="t:&#65;" part="H"/></d:binding></d:definitions>`,
	} {
		if got, err := SeparateHeaderMessages([]byte(doc)); err == nil {
			t.Errorf("SeparateHeaderMessages(%s) = %s, want an error", name, got)
		}
	}
}
