package soapclient

import (
	"bytes"
	"crypto/sha1"
	"encoding/base64"
	"encoding/xml"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite testdata/*.xml from the envelopes written now")

// counting is a predictable random source for envelopes pinned byte for
// byte: 0, 1, 2, ...
type counting struct{ next byte }

func (c *counting) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = c.next
		c.next++
	}
	return len(p), nil
}

var (
	testNow = time.Date(2026, 11, 3, 9, 30, 15, 123456789, time.UTC)
	demoGP  = Identity{System: "demo-gp", Secret: "demo-secret", SystemVersion: "1.0", Organisation: "SOR:483711000016009", Role: "Doctor"}
)

func testClient() *Client {
	c := New("https://gateway.example/medcard", nil)
	c.Now = func() time.Time { return testNow }
	c.random = &counting{}
	return c
}

// envelopeCases are the requests whose envelopes testdata pins.
var envelopeCases = []struct {
	file string
	req  Request
}{
	{"get-card-11-digest.xml", Request{Operation: "GetMedicineCard", Params: "<mc:PersonIdentifier>0101901234</mc:PersonIdentifier>",
		Identity: demoGP, MessageID: "m-1"}},
	{"create-12-text-addressing.xml", Request{Version: SOAP12, Operation: "CreateDrugMedication",
		Body:     `<x:CreateDrugMedicationRequest xmlns:x="` + Namespace + `"><x:PersonIdentifier>0101901234</x:PersonIdentifier></x:CreateDrugMedicationRequest>`,
		Identity: Identity{System: "a&b <gp>", Secret: `p<"&'>`, Organisation: "SOR:1", OrganisationName: "Læge & co", Role: "Nurse"},
		Security: TextToken, Timestamp: 5 * time.Minute, MessageID: "m-2", FlowID: "flow-1",
		OnBehalfOf:   &OnBehalfOf{AuthorisationIdentifier: "ABC12", Role: "Doctor"},
		Addressing:   &Addressing{ReplyTo: AnonymousAddress, MustUnderstand: true},
		ExtraHeaders: `<x:Other xmlns:x="urn:x" s:mustUnderstand="1"/>`}},
	{"odd-no-security-no-message-header.xml", Request{Operation: "GetMedicineCard", Security: NoSecurity,
		Identity: Identity{System: "demo-gp", Role: "Doctor"}, Addressing: &Addressing{Action: "urn:other", MessageID: "urn:uuid:given", To: "urn:to"}}},
}

// TestEnvelopeGolden pins the envelopes the client writes, byte for byte:
// the load generator and every test send these. go test -update rewrites
// them; review the diff.
func TestEnvelopeGolden(t *testing.T) {
	for _, tc := range envelopeCases {
		got := testClient().Envelope(&tc.req)
		path := filepath.Join("testdata", tc.file)
		if *update {
			if err := os.WriteFile(path, append(got, '\n'), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(string(bytes.TrimSuffix(want, []byte("\n"))), string(got)); diff != "" {
			t.Errorf("%s differs (-golden +written):\n%s", tc.file, diff)
		}
	}
}

// sentEnvelope is what a server reads from the client's envelopes, by
// namespace.
type sentEnvelope struct {
	XMLName xml.Name
	Header  struct {
		Security *struct {
			MustUnderstand string `xml:"mustUnderstand,attr"`
			Timestamp      *struct {
				Created string `xml:"http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd Created"`
				Expires string `xml:"http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd Expires"`
			} `xml:"http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd Timestamp"`
			Token *struct {
				Username string `xml:"http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd Username"`
				Password struct {
					Type  string `xml:"Type,attr"`
					Value string `xml:",chardata"`
				} `xml:"http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd Password"`
				Nonce   string `xml:"http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd Nonce"`
				Created string `xml:"http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd Created"`
			} `xml:"http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd UsernameToken"`
		} `xml:"http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd Security"`
		Action *struct {
			MustUnderstand string `xml:"mustUnderstand,attr"`
			Value          string `xml:",chardata"`
		} `xml:"http://www.w3.org/2005/08/addressing Action"`
		WSAMessageID string `xml:"http://www.w3.org/2005/08/addressing MessageID"`
		ReplyTo      string `xml:"http://www.w3.org/2005/08/addressing ReplyTo>Address"`
		To           string `xml:"http://www.w3.org/2005/08/addressing To"`
		Message      *struct {
			MessageID string `xml:"http://sharedmedcard.example/2026/01/medcard MessageID"`
			FlowID    string `xml:"http://sharedmedcard.example/2026/01/medcard FlowID"`
		} `xml:"http://sharedmedcard.example/2026/01/medcard MessageHeader"`
		Whitelisting struct {
			SystemName       string `xml:"http://sharedmedcard.example/2026/01/medcard SystemName"`
			SystemVersion    string `xml:"http://sharedmedcard.example/2026/01/medcard SystemVersion"`
			Organisation     string `xml:"http://sharedmedcard.example/2026/01/medcard OrganisationIdentifier"`
			OrganisationName string `xml:"http://sharedmedcard.example/2026/01/medcard OrganisationName"`
			Role             string `xml:"http://sharedmedcard.example/2026/01/medcard RequestedRole"`
		} `xml:"http://sharedmedcard.example/2026/01/medcard WhitelistingHeader"`
		OnBehalfOf *struct {
			AuthorisationIdentifier string `xml:"http://sharedmedcard.example/2026/01/medcard AuthorisationIdentifier"`
			Role                    string `xml:"http://sharedmedcard.example/2026/01/medcard Role"`
		} `xml:"http://sharedmedcard.example/2026/01/medcard OnBehalfOf"`
		Other *struct{} `xml:"urn:x Other"`
	} `xml:"Header"`
	Body struct {
		Wrapper struct {
			XMLName xml.Name
			Person  string `xml:"http://sharedmedcard.example/2026/01/medcard PersonIdentifier"`
		} `xml:",any"`
	} `xml:"Body"`
}

func parseSent(t *testing.T, envelope []byte) sentEnvelope {
	t.Helper()
	var env sentEnvelope
	if err := xml.Unmarshal(envelope, &env); err != nil {
		t.Fatalf("the envelope does not parse: %v\n%s", err, envelope)
	}
	return env
}

// TestEnvelopeReadsBack reads the written envelopes as a server would, by
// namespace, and checks every header and the password digest against the
// UsernameToken profile's formula: Base64(SHA-1(nonce + created + secret)).
func TestEnvelopeReadsBack(t *testing.T) {
	c := testClient()
	digest := parseSent(t, c.Envelope(&envelopeCases[0].req))
	if digest.XMLName != (xml.Name{Space: NamespaceSOAP11, Local: "Envelope"}) || digest.Body.Wrapper.XMLName.Local != "GetMedicineCardRequest" ||
		digest.Body.Wrapper.XMLName.Space != Namespace || digest.Body.Wrapper.Person != "0101901234" {
		t.Errorf("envelope %v with body %+v, want a SOAP 1.1 GetMedicineCardRequest for 0101901234", digest.XMLName, digest.Body.Wrapper)
	}
	h := digest.Header
	if h.Security == nil || h.Security.Token == nil || h.Security.MustUnderstand != "1" || h.Security.Timestamp != nil {
		t.Fatalf("security header %+v, want a mustUnderstand UsernameToken without Timestamp", h.Security)
	}
	tok := h.Security.Token
	nonce, err := base64.StdEncoding.DecodeString(tok.Nonce)
	if err != nil || len(nonce) != 16 {
		t.Fatalf("nonce %q: %v, want 16 bytes", tok.Nonce, err)
	}
	sum := sha1.Sum([]byte(string(nonce) + tok.Created + demoGP.Secret))
	if tok.Password.Type != passwordDigestType || tok.Password.Value != base64.StdEncoding.EncodeToString(sum[:]) {
		t.Errorf("password %+v, want the digest of nonce, created and secret", tok.Password)
	}
	if created, err := time.Parse(time.RFC3339Nano, tok.Created); err != nil || !created.Equal(testNow) {
		t.Errorf("Created %q, want %v", tok.Created, testNow)
	}
	if h.Message == nil || h.Message.MessageID != "m-1" || h.Whitelisting.SystemName != "demo-gp" || h.Whitelisting.SystemVersion != "1.0" ||
		h.Whitelisting.Organisation != demoGP.Organisation || h.Whitelisting.Role != "Doctor" || h.Action != nil || h.OnBehalfOf != nil {
		t.Errorf("headers %+v, want MessageID m-1, demo-gp's whitelisting and nothing else", h)
	}
	// Two sends never share a nonce.
	again := parseSent(t, New("http://x", nil).Envelope(&envelopeCases[0].req))
	other := parseSent(t, New("http://x", nil).Envelope(&envelopeCases[0].req))
	if again.Header.Security.Token.Nonce == other.Header.Security.Token.Nonce {
		t.Errorf("two envelopes carry the nonce %s", other.Header.Security.Token.Nonce)
	}

	text := parseSent(t, c.Envelope(&envelopeCases[1].req))
	h = text.Header
	id := envelopeCases[1].req.Identity
	if text.XMLName.Space != NamespaceSOAP12 || text.Body.Wrapper.XMLName != (xml.Name{Space: Namespace, Local: "CreateDrugMedicationRequest"}) {
		t.Errorf("envelope %v with body %v, want SOAP 1.2 with the given body", text.XMLName, text.Body.Wrapper.XMLName)
	}
	if tok := h.Security.Token; tok.Password.Type != passwordTextType || tok.Password.Value != id.Secret || tok.Username != id.System || tok.Nonce != "" {
		t.Errorf("token %+v, want the secret %q as PasswordText for %q", tok, id.Secret, id.System)
	}
	if ts := h.Security.Timestamp; ts == nil || ts.Created != testNow.Format(time.RFC3339Nano) || ts.Expires != testNow.Add(5*time.Minute).Format(time.RFC3339Nano) {
		t.Errorf("timestamp %+v, want created now and expiring in 5 minutes", ts)
	}
	if h.Action == nil || h.Action.Value != Namespace+"/CreateDrugMedication" || h.Action.MustUnderstand != "1" ||
		len(h.WSAMessageID) != len("urn:uuid:00000000-0000-4000-8000-000000000000") || h.ReplyTo != AnonymousAddress || h.To != c.Endpoint {
		t.Errorf("addressing: Action %+v, MessageID %q, ReplyTo %q, To %q", h.Action, h.WSAMessageID, h.ReplyTo, h.To)
	}
	if h.Message == nil || h.Message.MessageID != "m-2" || h.Message.FlowID != "flow-1" ||
		h.Whitelisting.SystemName != id.System || h.Whitelisting.OrganisationName != id.OrganisationName || h.Whitelisting.SystemVersion != "" ||
		h.OnBehalfOf == nil || h.OnBehalfOf.AuthorisationIdentifier != "ABC12" || h.OnBehalfOf.Role != "Doctor" || h.Other == nil {
		t.Errorf("headers %+v, want the message, whitelisting, on-behalf-of and extra headers given", h)
	}

	odd := parseSent(t, c.Envelope(&envelopeCases[2].req))
	h = odd.Header
	if h.Security != nil || h.Message != nil || h.Action == nil || h.Action.Value != "urn:other" || h.Action.MustUnderstand != "" ||
		h.WSAMessageID != "urn:uuid:given" || h.To != "urn:to" || h.ReplyTo != "" {
		t.Errorf("headers %+v, want no security, no MessageHeader, and the addressing given", h)
	}
}

func TestNewUUID(t *testing.T) {
	got := newUUID(&counting{})
	if want := "urn:uuid:00010203-0405-4607-8809-0a0b0c0d0e0f"; got != want {
		t.Errorf("newUUID = %s, want %s", got, want)
	}
	if a, b := NewMessageID(), NewMessageID(); a == b || len(a) != 32 {
		t.Errorf("NewMessageID gave %q and %q, want two different 32-digit ids", a, b)
	}
}

func TestContentType(t *testing.T) {
	for _, tc := range []struct {
		v      Version
		action string
		want   string
	}{
		{SOAP11, "urn:a", "text/xml; charset=utf-8"},
		{SOAP12, "urn:a", `application/soap+xml; charset=utf-8; action="urn:a"`},
		{SOAP12, "", "application/soap+xml; charset=utf-8"},
	} {
		if got := tc.v.ContentType(tc.action); got != tc.want {
			t.Errorf("%v.ContentType(%q) = %q, want %q", tc.v, tc.action, got, tc.want)
		}
	}
}

// BenchmarkEnvelope is the load generator's cost of writing a request.
func BenchmarkEnvelope(b *testing.B) {
	c := New("http://127.0.0.1:8080/medcard", nil)
	r := Request{Operation: "GetMedicineCard", Params: "<mc:PersonIdentifier>0101901234</mc:PersonIdentifier>", Identity: demoGP, MessageID: "0123456789abcdef0123456789abcdef"}
	var buf bytes.Buffer
	b.ReportAllocs()
	for b.Loop() {
		buf.Reset()
		c.writeEnvelope(&buf, &r, testNow)
	}
}
