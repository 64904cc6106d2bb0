package envelope

import (
	"bytes"
	"encoding/xml"
	"errors"
	goparser "go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/google/go-cmp/cmp"
)

const appNS = "urn:example:app"

// echoRequest and routeHeader are the test application's body and header.
type echoRequest struct {
	Text  string `xml:"Text"`
	Inner struct {
		Value string `xml:"Value"`
	} `xml:"Inner"`
}

type routeHeader struct {
	Hop string `xml:"Hop"`
}

// testApp serves EchoRequest and understands the Route header block.
type testApp struct{ route *routeHeader }

func (a *testApp) Header(name string) any {
	if name == "Route" {
		a.route = &routeHeader{}
		return a.route
	}
	return nil
}

func (a *testApp) Body(name string) any {
	if name == "EchoRequest" {
		return &echoRequest{}
	}
	return nil
}

var testConfig = Config{Limits: Limits{MaxBytes: 4096, MaxDepth: 12, MaxTokens: 400}, Namespace: appNS}

func doc(ns, headers, body string) string {
	return `<s:Envelope xmlns:s="` + ns + `" xmlns:x="` + appNS + `" xmlns:wsa="` + NamespaceWSA + `" xmlns:wsse="` + NamespaceWSSE + `" xmlns:wsu="` + NamespaceWSU + `">` +
		`<s:Header>` + headers + `</s:Header><s:Body>` + body + `</s:Body></s:Envelope>`
}

const echo = `<x:EchoRequest><x:Text>hi</x:Text></x:EchoRequest>`

func parse(t *testing.T, body []byte, charset string) (*Message, *testApp, error) {
	t.Helper()
	var m Message
	app := &testApp{}
	err := Parse(&m, body, charset, testConfig, app)
	if err != nil {
		var e *Error
		if !errors.As(err, &e) {
			t.Fatalf("Parse returned %T %v, want an *Error", err, err)
		}
	}
	return &m, app, err
}

func kindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return 0
}

func utf16Of(s string, littleEndian bool) []byte {
	var out []byte
	for _, u := range utf16.Encode([]rune(s)) {
		if littleEndian {
			out = append(out, byte(u), byte(u>>8))
		} else {
			out = append(out, byte(u>>8), byte(u))
		}
	}
	return out
}

// TestParseRefuses: every way a message is refused, by kind.
func TestParseRefuses(t *testing.T) {
	mu := `s:mustUnderstand="1"`
	for _, tc := range []struct {
		name    string
		body    string
		charset string
		want    Kind
	}{
		{"not XML", "this is not xml", "", Malformed},
		{"truncated", doc(NamespaceSOAP11, "", echo)[:120], "", Malformed},
		{"DOCTYPE", `<!DOCTYPE x [<!ENTITY a "a">]>` + doc(NamespaceSOAP11, "", echo), "", Malformed},
		{"processing instruction", `<?php echo 1; ?>` + doc(NamespaceSOAP11, "", echo), "", Malformed},
		{"text before the envelope", `x` + doc(NamespaceSOAP11, "", echo), "", Malformed},
		{"not an envelope", `<s:Letter xmlns:s="` + NamespaceSOAP11 + `"/>`, "", Malformed},
		{"an envelope in no namespace", `<Envelope><Body/></Envelope>`, "", VersionMismatch},
		{"another envelope namespace", `<s:Envelope xmlns:s="urn:soap:0.9"><s:Body/></s:Envelope>`, "", VersionMismatch},
		{"no Body", `<s:Envelope xmlns:s="` + NamespaceSOAP12 + `"><s:Header/></s:Envelope>`, "", Malformed},
		{"empty Body", doc(NamespaceSOAP12, "", ""), "", Malformed},
		{"two body elements", doc(NamespaceSOAP12, "", echo+echo), "", Malformed},
		{"text in the Body", doc(NamespaceSOAP12, "", "text"+echo), "", Malformed},
		{"element after the Body", strings.Replace(doc(NamespaceSOAP11, "", echo), "</s:Envelope>", "<s:Trailer/></s:Envelope>", 1), "", Malformed},
		{"too large", doc(NamespaceSOAP11, strings.Repeat(" ", 5000), echo), "", TooLarge},
		{"too many tokens", doc(NamespaceSOAP11, strings.Repeat("<y/>", 300), echo), "", TooLarge},
		{"too deep", doc(NamespaceSOAP11, "", `<x:EchoRequest>`+strings.Repeat("<x:a>", 12)+strings.Repeat("</x:a>", 12)+`</x:EchoRequest>`), "", TooDeep},
		{"many attributes", doc(NamespaceSOAP11, "", `<x:EchoRequest`+strings.Repeat(` a=""`, 65)+`/>`), "", TooLarge},
		{"a huge attribute", doc(NamespaceSOAP11, "", `<x:EchoRequest a="`+strings.Repeat("a", 4097)+`"/>`), "", TooLarge},
		{"a huge attribute name", doc(NamespaceSOAP11, "", `<x:EchoRequest `+strings.Repeat("a", 257)+`=""/>`), "", TooLarge},
		{"a huge element name", doc(NamespaceSOAP11, "", `<x:`+strings.Repeat("E", 256)+`/>`), "", TooLarge},
		{"unknown body", doc(NamespaceSOAP11, "", `<x:EraseRequest/>`), "", UnknownBody},
		{"wrapper in another namespace", doc(NamespaceSOAP11, "", `<o:EchoRequest xmlns:o="urn:other"/>`), "", WrongNamespace},
		{"child in another namespace", doc(NamespaceSOAP11, "", `<x:EchoRequest><o:Text xmlns:o="urn:other">hi</o:Text></x:EchoRequest>`), "", WrongNamespace},
		{"child unqualified", doc(NamespaceSOAP11, "", `<x:EchoRequest><Text>hi</Text></x:EchoRequest>`), "", WrongNamespace},
		{"child with an undeclared prefix", doc(NamespaceSOAP11, "", `<x:EchoRequest><u:Text>hi</u:Text></x:EchoRequest>`), "", WrongNamespace},
		{"grandchild in another namespace", doc(NamespaceSOAP11, "", `<x:EchoRequest><x:Inner><Value xmlns="urn:other">1</Value></x:Inner></x:EchoRequest>`), "", WrongNamespace},
		{"header child in another namespace", doc(NamespaceSOAP11, `<x:Route><o:Hop xmlns:o="urn:other">1</o:Hop></x:Route>`, echo), "", WrongNamespace},
		{"unknown mustUnderstand header", doc(NamespaceSOAP12, `<o:Other xmlns:o="urn:other" `+mu+`/>`, echo), "", NotUnderstood},
		{"unknown mustUnderstand header of ours", doc(NamespaceSOAP12, `<x:Consent `+mu+`/>`, echo), "", NotUnderstood},
		{"unknown WS-Addressing header", doc(NamespaceSOAP11, `<wsa:Frobnicate `+mu+`/>`, echo), "", NotUnderstood},
		{"two wsa:Action", doc(NamespaceSOAP12, `<wsa:Action>a</wsa:Action><wsa:Action>a</wsa:Action>`, echo), "", InvalidAddressing},
		{"empty wsa:MessageID", doc(NamespaceSOAP12, `<wsa:MessageID> </wsa:MessageID>`, echo), "", InvalidAddressing},
		{"overlong wsa:MessageID", doc(NamespaceSOAP12, `<wsa:MessageID>urn:`+strings.Repeat("x", MaxMessageIDLength)+`</wsa:MessageID>`, echo), "", InvalidAddressing},
		{"wsa:ReplyTo without an address", doc(NamespaceSOAP12, `<wsa:ReplyTo/>`, echo), "", InvalidAddressing},
		{"UTF-16 of odd length", string(append(append([]byte("\xff\xfe"), utf16Of(doc(NamespaceSOAP11, "", echo), true)...), 0)), "", Malformed},
		{"UTF-16 declared, UTF-8 sent", `<?xml version="1.0" encoding="UTF-16"?>` + doc(NamespaceSOAP11, "", echo), "", Malformed},
		{"Latin-1 declared", `<?xml version="1.0" encoding="ISO-8859-1"?>` + doc(NamespaceSOAP11, "", echo), "", Malformed},
		{"UTF-16 too large as UTF-8", string(utf16Of(doc(NamespaceSOAP11, "<x:Route><x:Hop>"+strings.Repeat("\u836f", 1500)+"</x:Hop></x:Route>", echo), false)), "utf-16", TooLarge},
	} {
		_, _, err := parse(t, []byte(tc.body), tc.charset)
		if got := kindOf(err); got != tc.want {
			t.Errorf("Parse(%s) = %v, want kind %v", tc.name, err, tc.want)
		}
	}
}

// TestParseTypedValueErrorSaysLittle: a value that does not decode is
// Malformed without quoting it (it could be a person identifier).
func TestParseTypedValueErrorSaysLittle(t *testing.T) {
	type numbered struct {
		N int `xml:"N"`
	}
	var m Message
	app := appFunc(func(string) any { return &numbered{} })
	err := Parse(&m, []byte(doc(NamespaceSOAP11, "", `<x:EchoRequest><x:N>0101701234x</x:N></x:EchoRequest>`)), "", testConfig, app)
	if kindOf(err) != Malformed || strings.Contains(err.Error(), "0101701234") {
		t.Errorf("Parse of a number that does not parse = %v, want Malformed without the value", err)
	}
}

type appFunc func(string) any

func (f appFunc) Header(string) any    { return nil }
func (f appFunc) Body(name string) any { return f(name) }

// TestNotUnderstoodNamesEveryRefusedHeader: the headers for us marked
// mustUnderstand that nobody understands, all of them, in order; headers
// for other roles and actors, and unmarked ones, are not among them.
func TestNotUnderstoodNamesEveryRefusedHeader(t *testing.T) {
	headers := `<o:One xmlns:o="urn:o" s:mustUnderstand="true"/>` +
		`<o:Skipped xmlns:o="urn:o"/>` +
		`<o:Proxy xmlns:o="urn:o" s:role="urn:example:proxy" s:mustUnderstand="1"/>` +
		`<o:Nobody xmlns:o="urn:o" s:role="http://www.w3.org/2003/05/soap-envelope/role/none" s:mustUnderstand="1"/>` +
		`<o:Next xmlns:o="urn:o" s:role="http://www.w3.org/2003/05/soap-envelope/role/next" s:mustUnderstand="1"/>` +
		`<Two xmlns="urn:t" s:mustUnderstand="1"/>`
	_, _, err := parse(t, []byte(doc(NamespaceSOAP12, headers, echo)), "")
	var e *Error
	if !errors.As(err, &e) || e.Kind != NotUnderstood {
		t.Fatalf("Parse = %v, want NotUnderstood", err)
	}
	want := []xml.Name{{Space: "urn:o", Local: "One"}, {Space: "urn:o", Local: "Next"}, {Space: "urn:t", Local: "Two"}}
	if diff := cmp.Diff(want, e.NotUnderstood); diff != "" {
		t.Errorf("NotUnderstood differs (-want +got):\n%s", diff)
	}
}

// TestParseReadsWhatIsOurs: a message as WCF sends it, with blocks for
// other roles and actors among ours.
func TestParseReadsWhatIsOurs(t *testing.T) {
	for _, v := range []Version{SOAP11, SOAP12} {
		other := `s:actor="urn:example:proxy"`
		if v == SOAP12 {
			other = `s:role="urn:example:proxy"`
		}
		headers := `<wsa:Action s:mustUnderstand="1">urn:echo</wsa:Action>` +
			`<wsa:MessageID>urn:uuid:6C4D2F0E-1B7A-4F3C-9A51-2E0B6D8C7F10</wsa:MessageID>` +
			`<wsa:ReplyTo><wsa:Address> ` + AnonymousAddress + ` </wsa:Address></wsa:ReplyTo>` +
			`<wsa:To s:mustUnderstand="1">https://gateway.example/medcard</wsa:To>` +
			`<wsa:RelatesTo>urn:x:earlier</wsa:RelatesTo>` +
			`<wsse:Security ` + other + ` s:mustUnderstand="1"><wsse:UsernameToken><wsse:Username>proxy</wsse:Username></wsse:UsernameToken></wsse:Security>` +
			`<wsse:Security s:mustUnderstand="1"><wsu:Timestamp wsu:Id="_0"><wsu:Created>2026-11-22T11:59:30.000Z</wsu:Created><wsu:Expires>2026-11-22T12:04:30.000Z</wsu:Expires></wsu:Timestamp>` +
			`<wsse:UsernameToken><wsse:Username>gp</wsse:Username><wsse:Password Type="` + PasswordText + `">s3cret</wsse:Password></wsse:UsernameToken></wsse:Security>` +
			`<x:Route ` + other + `><x:Hop>proxy</x:Hop></x:Route>` +
			`<x:Route><x:Hop>ours</x:Hop></x:Route>`
		body := `<EchoRequest xmlns="` + appNS + `"><Text>hi</Text><Inner><Value>1</Value></Inner></EchoRequest>`
		m, app, err := parse(t, []byte("\xef\xbb\xbf"+doc(v.Namespace(), headers, body)), "")
		if err != nil {
			t.Fatalf("SOAP %d: Parse = %v", v, err)
		}
		if m.Version != v || m.BodyName != "EchoRequest" {
			t.Errorf("SOAP %d: version %d, body %q", v, m.Version, m.BodyName)
		}
		if got, ok := m.Body.(*echoRequest); !ok || got.Text != "hi" || got.Inner.Value != "1" {
			t.Errorf("SOAP %d: body = %#v", v, m.Body)
		}
		if app.route == nil || app.route.Hop != "ours" {
			t.Errorf("SOAP %d: Route = %+v, want ours", v, app.route)
		}
		wantSecurity := &Security{
			UsernameToken: &UsernameToken{Username: "gp", Password: Password{Type: PasswordText, Value: "s3cret"}},
			Timestamp:     &Timestamp{Created: "2026-11-22T11:59:30.000Z", Expires: "2026-11-22T12:04:30.000Z"},
		}
		if diff := cmp.Diff(wantSecurity, m.Security); diff != "" {
			t.Errorf("SOAP %d: Security differs (-want +got):\n%s", v, diff)
		}
		a := m.Addressing
		if !a.Used() || a.Action != "urn:echo" || a.MessageID != "urn:uuid:6C4D2F0E-1B7A-4F3C-9A51-2E0B6D8C7F10" || a.ReplyTo != AnonymousAddress || a.FaultTo != "" {
			t.Errorf("SOAP %d: Addressing = %+v", v, a)
		}
		if err := a.Check("EchoRequest", "urn:echo"); err != nil {
			t.Errorf("SOAP %d: Check = %v", v, err)
		}
	}
}

func TestAddressingCheck(t *testing.T) {
	for _, tc := range []struct {
		name    string
		headers string
		want    Kind
	}{
		{"no WS-Addressing", ``, 0},
		{"the action", `<wsa:Action>urn:echo</wsa:Action>`, 0},
		{"the other accepted action", `<wsa:Action>urn:app/Port/EchoRequest</wsa:Action>`, 0},
		{"another action", `<wsa:Action>urn:erase</wsa:Action>`, ActionNotSupported},
		{"no action", `<wsa:MessageID>urn:x:1</wsa:MessageID>`, InvalidAddressing},
		{"anonymous ReplyTo and FaultTo", `<wsa:Action>urn:echo</wsa:Action><wsa:ReplyTo><wsa:Address>` + AnonymousAddress + `</wsa:Address></wsa:ReplyTo><wsa:FaultTo><wsa:Address>` + AnonymousAddress + `</wsa:Address></wsa:FaultTo>`, 0},
		{"ReplyTo elsewhere", `<wsa:Action>urn:echo</wsa:Action><wsa:ReplyTo><wsa:Address>http://client.example/</wsa:Address></wsa:ReplyTo>`, OnlyAnonymousAddress},
		{"FaultTo none", `<wsa:Action>urn:echo</wsa:Action><wsa:FaultTo><wsa:Address>` + NamespaceWSA + `/none</wsa:Address></wsa:FaultTo>`, OnlyAnonymousAddress},
	} {
		m, _, err := parse(t, []byte(doc(NamespaceSOAP12, tc.headers, echo)), "")
		if err != nil {
			t.Fatalf("%s: Parse = %v", tc.name, err)
		}
		if got := kindOf(m.Addressing.Check("EchoRequest", "urn:echo", "urn:app/Port/EchoRequest")); got != tc.want {
			t.Errorf("Check(%s) = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestAddressingMessageKey(t *testing.T) {
	for _, tc := range []struct{ id, want string }{
		{"urn:uuid:6c4d2f0e-1b7a-4f3c-9a51-2e0b6d8c7f10", "urn:uuid:6c4d2f0e-1b7a-4f3c-9a51-2e0b6d8c7f10"},
		{"urn:uuid:6C4D2F0E-1B7A-4F3C-9A51-2E0B6D8C7F10", "urn:uuid:6c4d2f0e-1b7a-4f3c-9a51-2e0b6d8c7f10"},
		{"URN:UUID:6c4d2f0e-1b7a-4f3c-9a51-2e0b6d8c7f10", "urn:uuid:6c4d2f0e-1b7a-4f3c-9a51-2e0b6d8c7f10"},
		{"urn:uuid:6C4D2F0E-1B7A-4F3C-9A51-2E0B6D8C7F1G", "urn:uuid:6C4D2F0E-1B7A-4F3C-9A51-2E0B6D8C7F1G"}, // not a UUID: as sent
		{"urn:uuid:6C4D2F0E1B7A4F3C9A512E0B6D8C7F10", "urn:uuid:6C4D2F0E1B7A4F3C9A512E0B6D8C7F10"},
		{"http://client.example/Message/ABC", "http://client.example/Message/ABC"},
		{"uuid:6C4D2F0E-1B7A-4F3C-9A51-2E0B6D8C7F10", "uuid:6C4D2F0E-1B7A-4F3C-9A51-2E0B6D8C7F10"},
		{"", ""},
	} {
		a := Addressing{MessageID: tc.id}
		if got := a.MessageKey(); got != tc.want {
			t.Errorf("MessageKey(%q) = %q, want %q", tc.id, got, tc.want)
		}
	}
}

func TestTimestampCheck(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	at := func(d time.Duration) string { return now.Add(d).Format(time.RFC3339Nano) }
	for _, tc := range []struct {
		name             string
		created, expires string
		want             Kind // zero: accepted
	}{
		{"fresh", at(-time.Minute), at(4 * time.Minute), 0},
		{"only Created", at(-time.Minute), "", 0},
		{"only Expires", "", at(time.Minute), 0},
		{"neither", "", "", 0},
		{"expired within the clock skew", at(-6 * time.Minute), at(-time.Minute), 0},
		{"expired", at(-15 * time.Minute), at(-10 * time.Minute), Expired},
		{"expired a moment past the skew", at(-10 * time.Minute), at(-5*time.Minute - time.Millisecond), Expired},
		{"created in the future", at(6 * time.Minute), at(11 * time.Minute), InvalidTimestamp},
		{"expires before created", at(time.Minute), at(-time.Minute), InvalidTimestamp},
		{"no zone", "2026-11-22T11:59:00", at(time.Minute), InvalidTimestamp},
		{"not a time", at(-time.Minute), "soon", InvalidTimestamp},
	} {
		ts := &Timestamp{Created: tc.created, Expires: tc.expires}
		if got := kindOf(ts.Check(now, 5*time.Minute)); got != tc.want {
			t.Errorf("Check(%s) = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestEncodings: UTF-16 in both byte orders, told by a byte-order mark,
// the charset or the first character, reads as the UTF-8 message does.
func TestEncodings(t *testing.T) {
	plain := doc(NamespaceSOAP11, "", echo)
	decl := `<?xml version="1.0" encoding="UTF-16"?>`
	for _, tc := range []struct {
		name    string
		body    []byte
		charset string
	}{
		{"UTF-8", []byte(plain), ""},
		{"UTF-8 with a byte-order mark", []byte("\xef\xbb\xbf" + plain), "utf-8"},
		{"UTF-16LE, byte-order mark", append([]byte("\xff\xfe"), utf16Of(decl+plain, true)...), ""},
		{"UTF-16BE, byte-order mark", append([]byte("\xfe\xff"), utf16Of(decl+plain, false)...), "utf-16"},
		{"UTF-16, charset, big-endian by default", utf16Of(plain, false), "UTF-16"},
		{"UTF-16, charset, little-endian by its first character", utf16Of(plain, true), "utf-16"},
		{"UTF-16LE, charset", utf16Of(plain, true), "utf-16le"},
		{"UTF-16BE, charset", utf16Of(plain, false), "utf-16be"},
		{"UTF-16LE, sniffed", utf16Of(decl+plain, true), ""},
		{"UTF-16BE, sniffed", utf16Of(decl+plain, false), ""},
		{"UTF-16, a character beyond the BMP", append([]byte("\xff\xfe"), utf16Of(doc(NamespaceSOAP11, "", `<x:EchoRequest><x:Text>hi`+"\U0001F48A"+`</x:Text></x:EchoRequest>`), true)...), ""},
	} {
		m, _, err := parse(t, tc.body, tc.charset)
		if err != nil {
			t.Errorf("%s: Parse = %v", tc.name, err)
			continue
		}
		if got := m.Body.(*echoRequest).Text; !strings.HasPrefix(got, "hi") {
			t.Errorf("%s: Text = %q", tc.name, got)
		}
	}
	// The limit holds for the UTF-8 form: twice its bytes of ASCII UTF-16 read.
	padded := doc(NamespaceSOAP11, strings.Repeat(" ", 3000), echo)
	if _, _, err := parse(t, utf16Of(padded, true), "utf-16le"); err != nil || len(utf16Of(padded, true)) <= int(testConfig.Limits.MaxBytes) {
		t.Errorf("Parse of %d bytes of UTF-16 under the limit as UTF-8 = %v", len(utf16Of(padded, true)), err)
	}
}

func TestMayBeUTF16(t *testing.T) {
	for _, tc := range []struct {
		head    string
		charset string
		want    bool
	}{
		{"<?xm", "", false},
		{"\xef\xbb\xbf<", "", false},
		{"\xff\xfe<\x00", "", true},
		{"\xfe\xff\x00<", "", true},
		{"<\x00?\x00", "", true},
		{"\x00<\x00?", "", true},
		{"<?xm", "utf-16", true},
		{"<?xm", "UTF-16LE", true},
		{"<?xm", "iso-8859-1", false},
		{"", "", false},
	} {
		if got := MayBeUTF16([]byte(tc.head), tc.charset); got != tc.want {
			t.Errorf("MayBeUTF16(%q, %q) = %v, want %v", tc.head, tc.charset, got, tc.want)
		}
	}
}

func TestReplyWrite(t *testing.T) {
	now := time.Date(2026, 11, 22, 13, 0, 0, 0, time.FixedZone("CET", 3600))
	for _, tc := range []struct {
		name    string
		headers string
		want    string
	}{
		{"nothing", ``, ``},
		{"addressing", `<wsa:Action>urn:echo</wsa:Action><wsa:MessageID>urn:x:&lt;1&gt;</wsa:MessageID>`,
			`<wsa:Action xmlns:wsa="` + NamespaceWSA + `">urn:echo/answer&amp;more</wsa:Action><wsa:RelatesTo xmlns:wsa="` + NamespaceWSA + `">urn:x:&lt;1&gt;</wsa:RelatesTo>`},
		{"addressing without a MessageID", `<wsa:Action>urn:echo</wsa:Action>`,
			`<wsa:Action xmlns:wsa="` + NamespaceWSA + `">urn:echo/answer&amp;more</wsa:Action>`},
		{"timestamp", `<wsse:Security><wsu:Timestamp><wsu:Created>2026-11-22T11:59:00Z</wsu:Created></wsu:Timestamp></wsse:Security>`,
			`<wsse:Security xmlns:wsse="` + NamespaceWSSE + `" xmlns:wsu="` + NamespaceWSU + `"><wsu:Timestamp><wsu:Created>2026-11-22T12:00:00.000Z</wsu:Created><wsu:Expires>2026-11-22T12:05:00.000Z</wsu:Expires></wsu:Timestamp></wsse:Security>`},
		{"security without a timestamp", `<wsse:Security/>`, ``},
	} {
		m, _, err := parse(t, []byte(doc(NamespaceSOAP12, tc.headers, echo)), "")
		if err != nil {
			t.Fatalf("%s: Parse = %v", tc.name, err)
		}
		var b bytes.Buffer
		m.Reply().Write(&b, "urn:echo/answer&more", now, 5*time.Minute)
		if b.String() != tc.want || m.Reply().Empty() != (tc.want == "") {
			t.Errorf("%s: Reply writes %s (empty %v), want %s", tc.name, b.String(), m.Reply().Empty(), tc.want)
		}
	}
	var b bytes.Buffer
	WriteNotUnderstood(&b, "env", xml.Name{Space: "urn:a&b", Local: "One"})
	WriteNotUnderstood(&b, "env", xml.Name{Local: "Two"})
	if want := `<env:NotUnderstood xmlns:h="urn:a&amp;b" qname="h:One"/><env:NotUnderstood qname="Two"/>`; b.String() != want {
		t.Errorf("WriteNotUnderstood wrote %s, want %s", b.String(), want)
	}
}

// TestImportsNothingOfOurs holds the package to its promise: it imports
// nothing of this module, so the wire layer stays a layer.
func TestImportsNothingOfOurs(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil || len(files) == 0 {
		t.Fatalf("no Go files here (%v): the test must run in the package's directory", err)
	}
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := goparser.ParseFile(token.NewFileSet(), name, nil, goparser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			if strings.HasPrefix(path, "github.com/sharedmedcard/") {
				t.Errorf("%s imports %s", name, path)
			}
		}
	}
}

// TestRefusalsQuoteLittle: a refusal quotes a name or an action cut short
// and with digit runs masked, never a document's text (the fuzzer found an
// undefined entity echoed with what followed its "&", invalid UTF-8
// included), and names at most 16 headers not understood, 3 of them in its
// message, however many the message marked mustUnderstand.
func TestRefusalsQuoteLittle(t *testing.T) {
	mu := `s:mustUnderstand="1"`
	for _, tc := range []struct {
		name string
		body string
		want string // the message, exactly
	}{
		{"an entity in the text", doc(NamespaceSOAP11, "", `<x:EchoRequest><x:Text>Pinex &co;0101701234</x:Text></x:EchoRequest>`),
			"XML syntax error on line 1: invalid character entity (write & as &amp; and < as &lt;)"},
		{"an entity of invalid UTF-8", doc(NamespaceSOAP11, "", "<x:EchoRequest><x:Text>&\x94</x:Text></x:EchoRequest>"),
			"XML syntax error on line 1: invalid character entity (write & as &amp; and < as &lt;)"},
		{"a person as an element name", doc(NamespaceSOAP11, "", `<x:P0101701234/>`),
			"there is no operation P########## in " + appNS},
		{"a long element name", strings.Replace(doc(NamespaceSOAP11, "", echo), "<s:Body>", "<s:"+strings.Repeat("N", 200)+"/><s:Body>", 1),
			"unexpected element " + strings.Repeat("N", maxQuoted) + "… in the envelope"},
		{"a person as a namespace", doc(NamespaceSOAP11, "", `<x:EchoRequest><o:Text xmlns:o="urn:cpr:0101701234">1</o:Text></x:EchoRequest>`),
			"Text in EchoRequest is in the namespace urn:cpr:##########; it must be in " + appNS},
		{"a person as an encoding", `<?xml version="1.0" encoding="0101701234"?>` + doc(NamespaceSOAP11, "", echo),
			`the XML declaration names the encoding "##########", which is not the message's: send UTF-8 or UTF-16`},
	} {
		_, _, err := parse(t, []byte(tc.body), "")
		var e *Error
		if !errors.As(err, &e) || e.Message != tc.want {
			t.Errorf("Parse(%s) = %v, want the message %q", tc.name, err, tc.want)
		}
	}

	var many strings.Builder
	many.WriteString(`<o:L xmlns:o="urn:` + strings.Repeat("l", 300) + `" ` + mu + `/>`) // too long a qname for a NotUnderstood block
	for i := range 40 {
		many.WriteString(`<o:H` + strconv.Itoa(i) + ` xmlns:o="urn:other" ` + mu + `/>`)
	}
	_, _, err := parse(t, []byte(doc(NamespaceSOAP12, many.String(), echo)), "")
	var e *Error
	if !errors.As(err, &e) || e.Kind != NotUnderstood {
		t.Fatalf("Parse(41 headers not understood) = %v, want NotUnderstood", err)
	}
	if want := "headers L {urn:" + strings.Repeat("l", maxQuoted-4) + "…}, H0 {urn:other}, H1 {urn:other} and 38 more are not understood"; e.Message != want {
		t.Errorf("message %q, want %q", e.Message, want)
	}
	if len(e.NotUnderstood) != maxNotUnderstood || e.NotUnderstood[0].Local != "H0" || e.NotUnderstood[15].Local != "H15" {
		t.Errorf("NotUnderstood = %v, want H0 to H15", e.NotUnderstood)
	}
}
