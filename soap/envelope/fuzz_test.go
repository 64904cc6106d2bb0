package envelope

import (
	"bytes"
	"encoding/xml"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
)

// The fuzz targets of the wire layer (`make fuzz` runs each for a while,
// `make test` for a few seconds; plain go test runs their seeds and the
// findings under testdata/fuzz). Each checks properties, not only that
// Parse returns: a refusal is an *Error of a named Kind whose message is
// short, valid UTF-8 and quotes no person identifier; what Parse accepts
// reads back the same from its canonical re-encoding; and a large input
// costs allocations in proportion to its size.

// fuzzConfig is testConfig with the gateway's depth and a size that lets
// the fuzzer reach the limits.
var fuzzConfig = Config{Limits: Limits{MaxBytes: 64 << 10, MaxDepth: 32, MaxTokens: 2000}, Namespace: appNS}

// maxErrorMessage bounds an Error's message: it quotes names, cut short,
// never a document's content, so it stays a line whatever was sent.
const maxErrorMessage = 400

// personLike is a run of ten digits, the shape of a CPR number: no
// message of ours has one, so one in a refusal came from the request.
var personLike = regexp.MustCompile(`[0-9]{10}`)

// Allocation bounds of one Parse, checked for inputs of bigInput bytes or
// more: encoding/xml keeps a token's names and attributes as strings, the
// UTF-16 path a UTF-8 copy, so some bytes per input byte are expected; a
// blow-up (a copy per nesting level, say) is far more.
const (
	bigInput        = 16 << 10
	allocPerByte    = 40
	allocBaseline   = 256 << 10
	fuzzDocumentCap = 2 * (64 << 10) // beyond twice MaxBytes the HTTP layer refuses before Parse
)

// goldenBodies are the envelopes of ../testdata (the golden answers and
// faults, the raw wire cases' answers): the body of each .xml file, and of
// each .http file what follows its blank line.
func goldenBodies(tb testing.TB) [][]byte {
	tb.Helper()
	files, err := filepath.Glob(filepath.Join("..", "testdata", "*"))
	if err != nil || len(files) == 0 {
		tb.Fatalf("no golden envelopes in ../testdata (%v)", err)
	}
	var out [][]byte
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			tb.Fatal(err)
		}
		if strings.HasSuffix(name, ".http") {
			_, body, ok := bytes.Cut(b, []byte("\n\n"))
			if !ok {
				continue
			}
			b = body
		}
		out = append(out, b)
	}
	return out
}

// seedDocuments are the test application's own messages: each header and
// body shape Parse reads, in both versions.
func seedDocuments() []string {
	mu := `s:mustUnderstand="1"`
	sec := `<wsse:Security><wsu:Timestamp><wsu:Created>2026-11-22T12:00:00Z</wsu:Created><wsu:Expires>2026-11-22T12:05:00Z</wsu:Expires></wsu:Timestamp>` +
		`<wsse:UsernameToken><wsse:Username>gp</wsse:Username><wsse:Password Type="` + PasswordDigest + `">ZGlnZXN0</wsse:Password>` +
		`<wsse:Nonce>bm9uY2Vub25jZQ==</wsse:Nonce><wsu:Created>2026-11-22T12:00:00Z</wsu:Created></wsse:UsernameToken></wsse:Security>`
	wsa := `<wsa:Action ` + mu + `>urn:echo</wsa:Action><wsa:MessageID>urn:uuid:6C4D2F0E-1B7A-4F3C-9A51-2E0B6D8C7F10</wsa:MessageID>` +
		`<wsa:ReplyTo><wsa:Address>` + AnonymousAddress + `</wsa:Address></wsa:ReplyTo><wsa:FaultTo><wsa:Address>` + AnonymousAddress + `</wsa:Address></wsa:FaultTo>` +
		`<wsa:To ` + mu + `>https://gateway.example/medcard</wsa:To><wsa:From><wsa:Address>urn:x</wsa:Address></wsa:From><wsa:RelatesTo>urn:y</wsa:RelatesTo>`
	body := `<x:EchoRequest><x:Text>hi &amp; bye</x:Text><x:Inner><x:Value>1</x:Value></x:Inner></x:EchoRequest>`
	var out []string
	for _, ns := range []string{NamespaceSOAP11, NamespaceSOAP12} {
		out = append(out,
			doc(ns, "", echo),
			doc(ns, sec+wsa+`<x:Route><x:Hop>a</x:Hop></x:Route>`, body),
			doc(ns, `<o:Other xmlns:o="urn:other" `+mu+`/><o:Mine xmlns:o="urn:other" s:role="urn:someone-else" s:actor="urn:someone-else" `+mu+`/>`, echo),
			`<?xml version="1.0" encoding="utf-8"?>`+doc(ns, "", `<EchoRequest xmlns="`+appNS+`"><Text><![CDATA[<a>]]></Text></EchoRequest>`),
		)
	}
	return out
}

// checkRefusal holds an error of Parse (or of a check after it) to the
// package's promise: an *Error of a named Kind with a short, valid,
// identifier-free message; a NotUnderstood one names what it refused.
func checkRefusal(t *testing.T, err error) *Error {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %T %v, want an *Error", err, err)
	}
	if _, named := kindNames[e.Kind]; !named {
		t.Fatalf("error of kind %v, which has no name (and no fault)", e.Kind)
	}
	if len(e.Message) > maxErrorMessage || !utf8.ValidString(e.Message) {
		t.Fatalf("message of %d bytes (valid UTF-8: %v), want at most %d valid: %.200q", len(e.Message), utf8.ValidString(e.Message), maxErrorMessage, e.Message)
	}
	if personLike.MatchString(e.Message) {
		t.Fatalf("message quotes a person-like number: %q", e.Message)
	}
	if len(e.NotUnderstood) > maxNotUnderstood || e.Kind != NotUnderstood && len(e.NotUnderstood) > 0 {
		t.Fatalf("kind %v with %d headers named as not understood", e.Kind, len(e.NotUnderstood))
	}
	return e
}

// parseMeasured parses data with a fresh test application, checking the
// allocation bound when data is big.
func parseMeasured(t *testing.T, data []byte, charset string) (*Message, *testApp, error) {
	t.Helper()
	var m Message
	app := &testApp{}
	if len(data) < bigInput {
		return &m, app, Parse(&m, data, charset, fuzzConfig, app)
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	err := Parse(&m, data, charset, fuzzConfig, app)
	runtime.ReadMemStats(&after)
	if got, bound := after.TotalAlloc-before.TotalAlloc, uint64(allocPerByte*len(data)+allocBaseline); got > bound {
		t.Fatalf("Parse of %d bytes allocated %d bytes, want at most %d", len(data), got, bound)
	}
	return &m, app, err
}

// canonical writes what Parse read of m (the version, the security and
// addressing headers, the application's header and body) as a new message.
func canonical(t *testing.T, m *Message, app *testApp) []byte {
	t.Helper()
	var b bytes.Buffer
	enc := xml.NewEncoder(&b)
	encode := func(v any, space, local string) {
		if err := enc.EncodeElement(v, xml.StartElement{Name: xml.Name{Space: space, Local: local}}); err != nil {
			t.Fatalf("encode %s: %v", local, err)
		}
		if err := enc.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	b.WriteString(`<s:Envelope xmlns:s="` + m.Version.Namespace() + `"><s:Header>`)
	if m.Security != nil {
		encode(m.Security, NamespaceWSSE, "Security")
	}
	a := m.Addressing
	for _, h := range []struct {
		bit   uint8
		local string
		text  string
	}{{sawAction, "Action", a.Action}, {sawMessageID, "MessageID", a.MessageID}, {sawTo, "To", ""}} {
		if a.saw&h.bit != 0 {
			encode(h.text, NamespaceWSA, h.local)
		}
	}
	for _, h := range []struct {
		bit     uint8
		local   string
		address string
	}{{sawReplyTo, "ReplyTo", a.ReplyTo}, {sawFaultTo, "FaultTo", a.FaultTo}, {sawFrom, "From", ""}} {
		if a.saw&h.bit != 0 {
			encode(endpointReference{Address: &h.address}, NamespaceWSA, h.local)
		}
	}
	if app.route != nil {
		encode(app.route, appNS, "Route")
	}
	b.WriteString(`</s:Header><s:Body>`)
	encode(m.Body, appNS, m.BodyName)
	b.WriteString(`</s:Body></s:Envelope>`)
	return b.Bytes()
}

// FuzzParse: any document, in any charset. Parse refuses it as checkRefusal
// says, or reads a version, one body and what it understood, and the
// canonical form of what it read parses to the same values.
func FuzzParse(f *testing.F) {
	for _, b := range goldenBodies(f) {
		f.Add(b, "")
	}
	for _, d := range seedDocuments() {
		f.Add([]byte(d), "")
		f.Add(utf16Of("\ufeff"+d, true), "")
		f.Add(utf16Of(d, false), "utf-16")
	}
	f.Fuzz(func(t *testing.T, data []byte, charset string) {
		if len(data) > fuzzDocumentCap {
			return
		}
		m, app, err := parseMeasured(t, data, charset)
		if err != nil {
			checkRefusal(t, err)
			return
		}
		if m.Version != SOAP11 && m.Version != SOAP12 {
			t.Fatalf("accepted with version %v", m.Version)
		}
		if m.BodyName != "EchoRequest" || m.Body == nil {
			t.Fatalf("accepted with body %q %v", m.BodyName, m.Body)
		}
		again := canonical(t, m, app)
		m2, app2, err := parseMeasured(t, again, "")
		if err != nil {
			t.Fatalf("the canonical form of an accepted message is refused: %v\n%s", err, again)
		}
		opts := cmp.AllowUnexported(Addressing{})
		if diff := cmp.Diff(m, m2, opts); diff != "" {
			t.Fatalf("the canonical form reads differently (-first +again):\n%s\n%s", diff, again)
		}
		if diff := cmp.Diff(app.route, app2.route); diff != "" {
			t.Fatalf("the Route header reads differently (-first +again):\n%s", diff)
		}
		if ts := m.Security; ts != nil && ts.Timestamp != nil {
			if err := ts.Timestamp.Check(time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC), 5*time.Minute); err != nil {
				if e := checkRefusal(t, err); e.Kind != Expired && e.Kind != InvalidTimestamp {
					t.Fatalf("Timestamp.Check = %v, want Expired or InvalidTimestamp", err)
				}
			}
		}
	})
}

// FuzzAddressing: any WS-Addressing header blocks before a valid body.
// Check passes only a message that names its action and the anonymous
// address; MessageKey is the MessageID, bounded, and canonical (applying it
// again changes nothing); and the reply's headers are well-formed XML that
// relate to the MessageID sent and carry the answer's action.
func FuzzAddressing(f *testing.F) {
	f.Add(`<wsa:Action>urn:echo</wsa:Action><wsa:MessageID>urn:uuid:6C4D2F0E-1B7A-4F3C-9A51-2E0B6D8C7F10</wsa:MessageID>`)
	f.Add(`<wsa:Action s:mustUnderstand="1">urn:echo</wsa:Action><wsa:MessageID>urn:x:1</wsa:MessageID><wsa:ReplyTo><wsa:Address>` + AnonymousAddress + `</wsa:Address></wsa:ReplyTo>`)
	f.Add(`<wsa:Action>urn:echo</wsa:Action><wsa:FaultTo><wsa:Address>http://client.example/faults</wsa:Address></wsa:FaultTo><wsa:To>x</wsa:To>`)
	f.Add(`<wsa:MessageID>URN:UUID:0A1B2C3D-0000-4000-8000-00000000000F</wsa:MessageID><wsa:RelatesTo>a</wsa:RelatesTo><wsa:RelatesTo>b</wsa:RelatesTo>`)
	f.Add(`<wsa:Action>urn:other</wsa:Action><wsa:Frobnicate s:mustUnderstand="true"/><wsa:From><wsa:Address>urn:z</wsa:Address></wsa:From>`)
	f.Fuzz(func(t *testing.T, headers string) {
		m, _, err := parseMeasured(t, []byte(doc(NamespaceSOAP12, headers, echo)), "")
		if err != nil {
			checkRefusal(t, err)
			return
		}
		a := m.Addressing
		const action = "urn:echo"
		if err := a.Check("EchoRequest", action); err != nil {
			if e := checkRefusal(t, err); e.Kind != InvalidAddressing && e.Kind != ActionNotSupported && e.Kind != OnlyAnonymousAddress {
				t.Fatalf("Check = %v, want an addressing kind", err)
			}
		} else if a.Used() && (a.Action != action || a.saw&sawReplyTo != 0 && a.ReplyTo != AnonymousAddress || a.saw&sawFaultTo != 0 && a.FaultTo != AnonymousAddress) {
			t.Fatalf("Check passed %+v", a)
		}
		key := a.MessageKey()
		if len(key) > MaxMessageIDLength || !strings.EqualFold(key, a.MessageID) {
			t.Fatalf("MessageKey() = %q of MessageID %q", key, a.MessageID)
		}
		if again := (&Addressing{MessageID: key}).MessageKey(); again != key {
			t.Fatalf("MessageKey is not canonical: %q, then %q", key, again)
		}

		var b bytes.Buffer
		b.WriteString(`<h>`)
		m.Reply().Write(&b, action, time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC), time.Minute)
		b.WriteString(`</h>`)
		var reply struct {
			Action    []string `xml:"http://www.w3.org/2005/08/addressing Action"`
			RelatesTo []string `xml:"http://www.w3.org/2005/08/addressing RelatesTo"`
		}
		if err := xml.Unmarshal(b.Bytes(), &reply); err != nil {
			t.Fatalf("the reply's headers are not well-formed: %v\n%s", err, b.Bytes())
		}
		wantRelates := []string(nil)
		if a.MessageID != "" {
			wantRelates = []string{a.MessageID}
		}
		wantAction := []string(nil)
		if a.Used() {
			wantAction = []string{action}
		}
		if !cmp.Equal(reply.Action, wantAction) || !cmp.Equal(reply.RelatesTo, wantRelates) {
			t.Fatalf("reply headers Action %q RelatesTo %q, want %q and %q", reply.Action, reply.RelatesTo, wantAction, wantRelates)
		}
	})
}

// FuzzCharset: a document read as UTF-8 and the same document sent as
// UTF-16 (either byte order, with a byte-order mark, a charset or neither)
// are one message: the same values, or the same refusal. Documents with an
// XML declaration are left out (a UTF-16 one must say UTF-16, a UTF-8 one
// must not), as are those that start like UTF-16 themselves.
func FuzzCharset(f *testing.F) {
	for _, d := range seedDocuments() {
		if !strings.HasPrefix(d, "<?xml") {
			f.Add(d, uint8(0))
		}
	}
	f.Add(doc(NamespaceSOAP11, "<x:Route><x:Hop>\U0001F48A \u836f</x:Hop></x:Route>", echo), uint8(3))
	f.Fuzz(func(t *testing.T, d string, form uint8) {
		if !utf8.ValidString(d) || strings.Contains(d, "<?xml") || strings.ContainsRune(d, 0) || strings.HasPrefix(d, "\ufeff") || len(d) > fuzzDocumentCap/2 {
			return
		}
		m8, app8, err8 := parseMeasured(t, []byte(d), "")
		littleEndian, bom, charset := form&1 == 1, form&2 == 2, []string{"", "utf-16", "UTF-16LE", "utf-16be"}[form>>2&3]
		switch {
		case charset == "UTF-16LE":
			littleEndian = true
		case charset == "utf-16be":
			littleEndian = false
		case !bom && !strings.HasPrefix(d, "<") && (charset == "" || charset == "utf-16" && littleEndian):
			// Without a mark only a first "<" says UTF-16, and which
			// order an unmarked charset=utf-16 is in (RFC 2781: else
			// big-endian).
			return
		}
		sent := []byte(nil)
		if bom {
			sent = utf16Of("\ufeff", littleEndian)
		}
		sent = append(sent, utf16Of(d, littleEndian)...)
		m16, app16, err16 := parseMeasured(t, sent, charset)
		if (err8 == nil) != (err16 == nil) {
			t.Fatalf("as UTF-8: %v; as UTF-16 (form %d): %v", err8, form, err16)
		}
		if err8 != nil {
			e8, e16 := checkRefusal(t, err8), checkRefusal(t, err16)
			if e8.Kind != e16.Kind {
				t.Fatalf("as UTF-8: %v; as UTF-16 (form %d): %v", err8, form, err16)
			}
			return
		}
		if diff := cmp.Diff(m8, m16, cmp.AllowUnexported(Addressing{})); diff != "" {
			t.Fatalf("UTF-8 and UTF-16 read differently (-utf8 +utf16):\n%s", diff)
		}
		if diff := cmp.Diff(app8.route, app16.route); diff != "" {
			t.Fatalf("UTF-8 and UTF-16 read the Route header differently:\n%s", diff)
		}
	})
}
