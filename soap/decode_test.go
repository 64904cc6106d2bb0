package soap

import (
	"encoding/json"
	"encoding/xml"
	"testing"
)

// The types of decode.go without their UnmarshalXML methods: what
// encoding/xml's reflection makes of the same elements.
type (
	refMessageHeader struct {
		MessageID string `xml:"MessageID"`
		FlowID    string `xml:"FlowID"`
	}
	refWhitelistingHeader struct {
		SystemName             string `xml:"SystemName"`
		SystemVersion          string `xml:"SystemVersion"`
		OrganisationIdentifier string `xml:"OrganisationIdentifier"`
		OrganisationName       string `xml:"OrganisationName"`
		RequestedRole          string `xml:"RequestedRole"`
	}
	refOnBehalfOfHeader struct {
		AuthorisationIdentifier string `xml:"AuthorisationIdentifier"`
		Role                    string `xml:"Role"`
	}
	refGetMedicineCardRequest struct {
		XMLName               xml.Name `xml:"http://sharedmedcard.example/2026/01/medcard GetMedicineCardRequest"`
		PersonIdentifier      string   `xml:"PersonIdentifier"`
		IncludePrescriptions  bool     `xml:"IncludePrescriptions,omitempty"`
		IncludeEffectuations  bool     `xml:"IncludeEffectuations,omitempty"`
		IncludeWithdrawnSince string   `xml:"IncludeWithdrawnSince,omitempty"`
	}
)

// decodingPairs is, per element, a fresh value of our type and of its
// reference type.
func decodingPairs() map[string][2]any {
	return map[string][2]any{
		"MessageHeader":          {&messageHeader{}, &refMessageHeader{}},
		"WhitelistingHeader":     {&whitelistingHeader{}, &refWhitelistingHeader{}},
		"OnBehalfOf":             {&onBehalfOfHeader{}, &refOnBehalfOfHeader{}},
		"GetMedicineCardRequest": {&GetMedicineCardRequest{}, &refGetMedicineCardRequest{}},
	}
}

// checkHandDecoding fails unless doc decodes into got as encoding/xml's
// reflection decodes it into ref (compared as JSON), or both fail.
func checkHandDecoding(t *testing.T, doc string, got, ref any) {
	t.Helper()
	gotErr, refErr := xml.Unmarshal([]byte(doc), got), xml.Unmarshal([]byte(doc), ref)
	if (gotErr != nil) != (refErr != nil) {
		t.Fatalf("%q: hand decoding error %v, encoding/xml error %v", doc, gotErr, refErr)
	}
	if gotErr != nil {
		return
	}
	if g, r := mustJSON(t, got), mustJSON(t, ref); g != r {
		t.Fatalf("%q:\n hand decoding %s\n encoding/xml  %s", doc, g, r)
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// inOurElement wraps inner in element name in our namespace.
func inOurElement(name, inner string) string {
	return `<mc:` + name + ` xmlns:mc="` + Namespace + `" xmlns:x="urn:x">` + inner + `</mc:` + name + `>`
}

var handDecodingCases = []string{
	``,
	`<mc:MessageID>m-1</mc:MessageID><mc:FlowID>f</mc:FlowID>`,
	`<mc:MessageID> a <!-- c --> b <x:i>skipped</x:i>c</mc:MessageID><mc:MessageID>second wins</mc:MessageID>`,
	`<mc:SystemName>s</mc:SystemName><mc:SystemVersion>1</mc:SystemVersion><mc:OrganisationIdentifier>SOR:1</mc:OrganisationIdentifier><mc:OrganisationName>Lægehuset &amp; co</mc:OrganisationName><mc:RequestedRole>Doctor</mc:RequestedRole>`,
	`<mc:AuthorisationIdentifier>A1</mc:AuthorisationIdentifier><mc:Role>Nurse</mc:Role><x:Role>any namespace matches</x:Role>`,
	`<mc:PersonIdentifier>0101701234</mc:PersonIdentifier><mc:IncludePrescriptions>true</mc:IncludePrescriptions><mc:IncludeEffectuations> 1 </mc:IncludeEffectuations><mc:IncludeWithdrawnSince>2026-01-01</mc:IncludeWithdrawnSince>`,
	`<mc:IncludePrescriptions></mc:IncludePrescriptions><mc:IncludeEffectuations>false</mc:IncludeEffectuations>`,
	`<mc:IncludePrescriptions>yes</mc:IncludePrescriptions>`,
	`<mc:IncludePrescriptions>true<x:i/></mc:IncludePrescriptions>`,
	`text<mc:Unknown><mc:PersonIdentifier>nested is not ours</mc:PersonIdentifier></mc:Unknown><mc:PersonIdentifier><![CDATA[p]]></mc:PersonIdentifier>`,
	`<mc:PersonIdentifier>unclosed</mc:MessageID>`,
}

// TestHandDecodingMatchesEncodingXML: decode.go decodes our header blocks
// and GetMedicineCard's request as encoding/xml's reflection does.
func TestHandDecodingMatchesEncodingXML(t *testing.T) {
	for _, c := range handDecodingCases {
		for name, pair := range decodingPairs() {
			checkHandDecoding(t, inOurElement(name, c), pair[0], pair[1])
		}
	}
}

// FuzzHandDecoding: for any content of each element.
func FuzzHandDecoding(f *testing.F) {
	for _, c := range handDecodingCases {
		f.Add(c)
	}
	f.Fuzz(func(t *testing.T, inner string) {
		for name, pair := range decodingPairs() {
			checkHandDecoding(t, inOurElement(name, inner), pair[0], pair[1])
		}
	})
}
