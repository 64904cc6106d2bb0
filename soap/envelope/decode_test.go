package envelope

import (
	"encoding/json"
	"encoding/xml"
	"testing"
)

// refSecurity and the types under it are Security's without the
// UnmarshalXML methods: what encoding/xml's reflection makes of a block.
type refSecurity struct {
	UsernameToken *refUsernameToken `xml:"http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd UsernameToken"`
	Timestamp     *refTimestamp     `xml:"http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd Timestamp"`
}

type refUsernameToken struct {
	Username string      `xml:"http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd Username"`
	Password refPassword `xml:"http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd Password"`
	Nonce    string      `xml:"http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd Nonce"`
	Created  string      `xml:"http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd Created"`
}

type refPassword struct {
	Type  string `xml:"Type,attr"`
	Value string `xml:",chardata"`
}

type refTimestamp struct {
	Created string `xml:"http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd Created"`
	Expires string `xml:"http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd Expires"`
}

// CheckHandDecoding fails unless decoding doc into got (a type with
// UnmarshalXML) gives what encoding/xml's reflection gives into ref (the
// same fields without the method), compared as JSON, or both fail.
func CheckHandDecoding(t *testing.T, doc string, got, ref any) {
	t.Helper()
	gotErr, refErr := xml.Unmarshal([]byte(doc), got), xml.Unmarshal([]byte(doc), ref)
	if (gotErr != nil) != (refErr != nil) {
		t.Fatalf("%q: hand decoding error %v, encoding/xml error %v", doc, gotErr, refErr)
	}
	if gotErr != nil {
		return
	}
	g, _ := json.Marshal(got)
	r, _ := json.Marshal(ref)
	if string(g) != string(r) {
		t.Fatalf("%q:\n hand decoding %s\n encoding/xml  %s", doc, g, r)
	}
}

// securityBlock wraps inner in a wsse:Security block with the prefixes
// the cases use.
func securityBlock(inner string) string {
	return `<wsse:Security xmlns:wsse="` + NamespaceWSSE + `" xmlns:wsu="` + NamespaceWSU + `" xmlns:x="urn:x">` + inner + `</wsse:Security>`
}

var securityCases = []string{
	``,
	`<wsse:UsernameToken><wsse:Username>u</wsse:Username><wsse:Password Type="` + PasswordText + `">p</wsse:Password></wsse:UsernameToken>`,
	`<wsse:UsernameToken><wsse:Username> u <!-- c --> v </wsse:Username><wsse:Password>p<x:b>skipped</x:b>q</wsse:Password><wsse:Nonce>bm9uY2U=</wsse:Nonce><wsu:Created>2026-11-22T12:00:00Z</wsu:Created></wsse:UsernameToken>`,
	`<wsse:UsernameToken><wsse:Username>first</wsse:Username><wsse:Username>second</wsse:Username><x:Username>other ns</x:Username><wsse:Created>wrong ns</wsse:Created></wsse:UsernameToken>`,
	`<wsse:UsernameToken><wsse:Password Type="a" x:Type="b">one</wsse:Password><wsse:Password>two</wsse:Password></wsse:UsernameToken>`,
	`<wsse:UsernameToken><wsse:Username>a</wsse:Username></wsse:UsernameToken><wsse:UsernameToken><wsse:Nonce>n</wsse:Nonce></wsse:UsernameToken>`,
	`<wsu:Timestamp><wsu:Created>c</wsu:Created><wsu:Expires>e</wsu:Expires><wsse:Expires>wrong ns</wsse:Expires></wsu:Timestamp><x:Timestamp><wsu:Created>other</wsu:Created></x:Timestamp>`,
	`text<x:Other><wsse:UsernameToken><wsse:Username>nested</wsse:Username></wsse:UsernameToken></x:Other>`,
	`<wsse:UsernameToken><wsse:Username>unclosed</wsse:UsernameToken>`,
	`<wsse:UsernameToken><wsse:Username><![CDATA[<cdata>]]>&amp;&#65;</wsse:Username></wsse:UsernameToken>`,
}

// TestHandDecodingMatchesEncodingXML: Security's UnmarshalXML decodes as
// encoding/xml's reflection decodes the same struct.
func TestHandDecodingMatchesEncodingXML(t *testing.T) {
	for _, c := range securityCases {
		CheckHandDecoding(t, securityBlock(c), &Security{}, &refSecurity{})
	}
}

// FuzzHandDecoding: for any content of a wsse:Security block.
func FuzzHandDecoding(f *testing.F) {
	for _, c := range securityCases {
		f.Add(c)
	}
	f.Fuzz(func(t *testing.T, inner string) {
		CheckHandDecoding(t, securityBlock(inner), &Security{}, &refSecurity{})
	})
}
