package soap

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf16"

	"go.uber.org/zap"

	"github.com/sharedmedcard/gateway/medcard"
	"github.com/sharedmedcard/gateway/soap/envelope"
)

// utf8BOM is the UTF-8 byte-order mark WCF's text encoder writes before
// <?xml.
const utf8BOM = "\xef\xbb\xbf"

// recordingService is the fake service noting every call that reached it:
// which operation, under which MessageID. An empty record is the proof a
// refused request wrote (and read) nothing.
type recordingService struct {
	fakeService
	mu     *sync.Mutex
	served *[]string
}

func (s recordingService) note(op medcard.Operation, call medcard.Call) {
	s.mu.Lock()
	defer s.mu.Unlock()
	*s.served = append(*s.served, fmt.Sprintf("%s MessageID=%q", op, call.MessageID))
}

func (s recordingService) GetMedicineCard(ctx context.Context, call medcard.Call, q medcard.CardQuery) (*medcard.Card, error) {
	s.note(medcard.OpGetMedicineCard, call)
	return s.fakeService.GetMedicineCard(ctx, call, q)
}

func (s recordingService) GetDrugMedication(ctx context.Context, call medcard.Call, person string, id int64) (*medcard.DrugMedicationView, error) {
	s.note(medcard.OpGetDrugMedication, call)
	return s.fakeService.GetDrugMedication(ctx, call, person, id)
}

func (s recordingService) GetPrescription(ctx context.Context, call medcard.Call, person string, ids []int64) (*medcard.PrescriptionsView, error) {
	s.note(medcard.OpGetPrescription, call)
	return s.fakeService.GetPrescription(ctx, call, person, ids)
}

func (s recordingService) GetNewOrders(ctx context.Context, call medcard.Call, q medcard.InboxQuery) ([]medcard.InboxEntry, error) {
	s.note(medcard.OpGetNewOrders, call)
	return s.fakeService.GetNewOrders(ctx, call, q)
}

func (s recordingService) GetAccessLog(ctx context.Context, call medcard.Call, q medcard.AccessLogQuery) (*medcard.AccessLogPage, error) {
	s.note(medcard.OpGetAccessLog, call)
	return s.fakeService.GetAccessLog(ctx, call, q)
}

func (s recordingService) Change(ctx context.Context, call medcard.Call, req medcard.ChangeRequest) (*medcard.WriteResult, error) {
	s.note(req.Operation(), call)
	return s.fakeService.Change(ctx, call, req)
}

// Pieces of raw requests. The envelope prefix is s:, as in testEnvelope.
const (
	getCardBody   = `<mc:GetMedicineCardRequest><mc:PersonIdentifier>0101701234</mc:PersonIdentifier></mc:GetMedicineCardRequest>`
	pauseBody     = `<mc:PauseDrugMedicationRequest><mc:PersonIdentifier>0101701234</mc:PersonIdentifier><mc:MedicineCardVersion>4</mc:MedicineCardVersion><mc:DrugMedicationIdentifier>1</mc:DrugMedicationIdentifier></mc:PauseDrugMedicationRequest>`
	securityBlock = `<wsse:Security><wsse:UsernameToken><wsse:Username>gp</wsse:Username><wsse:Password>s3cret</wsse:Password></wsse:UsernameToken></wsse:Security>`
	whitelisting  = `<mc:WhitelistingHeader><mc:SystemName>gp</mc:SystemName><mc:OrganisationIdentifier>SOR:1</mc:OrganisationIdentifier><mc:RequestedRole>Doctor</mc:RequestedRole></mc:WhitelistingHeader>`
	wsaDecl       = ` xmlns:a="` + nsWSA + `"`
	getCardAction = Namespace + "/GetMedicineCard"
	pauseAction   = Namespace + "/PauseDrugMedication"
	anonymous     = `<a:Address>` + envelope.AnonymousAddress + `</a:Address>`
)

func messageHeaderBlock(id string) string {
	return `<mc:MessageHeader><mc:MessageID>` + id + `</mc:MessageID></mc:MessageHeader>`
}

// rawEnvelope is an envelope of namespace ns with exactly the header
// blocks given.
func rawEnvelope(ns, headers, body string) string {
	return `<s:Envelope xmlns:s="` + ns + `" xmlns:mc="` + Namespace + `" xmlns:wsse="` + nsWSSE + `"` + wsaDecl + `><s:Header>` +
		headers + `</s:Header><s:Body>` + body + `</s:Body></s:Envelope>`
}

// withHeaders is testEnvelope's request with extra header blocks after ours.
func withHeaders(ns, extra, body string) string {
	return rawEnvelope(ns, securityBlock+messageHeaderBlock("m1")+whitelisting+extra, body)
}

// addressed is a request with WS-Addressing headers as WCF sends them.
func addressed(ns, action, messageID, body string) string {
	mu := `s:mustUnderstand="1"`
	return withHeaders(ns, `<a:Action `+mu+`>`+action+`</a:Action><a:MessageID>`+messageID+`</a:MessageID>`+
		`<a:ReplyTo>`+anonymous+`</a:ReplyTo><a:To `+mu+`>https://gateway.example/medcard</a:To>`, body)
}

// wcfRequest is a request as WCF's WSHttpBinding with
// TransportWithMessageCredential and a user name sends it: a UTF-8
// byte-order mark, WS-Addressing with mustUnderstand, and a
// mustUnderstand wsse:Security with a wsu:Timestamp before the token.
func wcfRequest(created, expires string) string {
	return utf8BOM + `<s:Envelope xmlns:s="` + nsSOAP12 + `" xmlns:a="` + nsWSA + `" xmlns:u="` + nsWSU + `"><s:Header>` +
		`<a:Action s:mustUnderstand="1">` + getCardAction + `</a:Action>` +
		`<a:MessageID>urn:uuid:6C4D2F0E-1B7A-4F3C-9A51-2E0B6D8C7F10</a:MessageID>` +
		`<a:ReplyTo><a:Address>http://www.w3.org/2005/08/addressing/anonymous</a:Address></a:ReplyTo>` +
		`<a:To s:mustUnderstand="1">https://gateway.example/medcard</a:To>` +
		`<o:Security s:mustUnderstand="1" xmlns:o="` + nsWSSE + `">` +
		`<u:Timestamp u:Id="_0"><u:Created>` + created + `</u:Created><u:Expires>` + expires + `</u:Expires></u:Timestamp>` +
		`<o:UsernameToken u:Id="uuid-1"><o:Username>gp</o:Username><o:Password Type="` + passwordText + `">s3cret</o:Password></o:UsernameToken>` +
		`</o:Security>` +
		`<MessageHeader xmlns="` + Namespace + `"><MessageID>wcf-1</MessageID></MessageHeader>` +
		`<WhitelistingHeader xmlns="` + Namespace + `"><SystemName>gp</SystemName><OrganisationIdentifier>SOR:1</OrganisationIdentifier><RequestedRole>Doctor</RequestedRole></WhitelistingHeader>` +
		`</s:Header><s:Body xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xsd="http://www.w3.org/2001/XMLSchema">` +
		`<GetMedicineCardRequest xmlns="` + Namespace + `"><PersonIdentifier>0101701234</PersonIdentifier></GetMedicineCardRequest>` +
		`</s:Body></s:Envelope>`
}

// timestamped is a request whose security header has a wsu:Timestamp.
func timestamped(ns, created, expires string) string {
	sec := `<wsse:Security xmlns:wsu="` + nsWSU + `"><wsu:Timestamp><wsu:Created>` + created + `</wsu:Created><wsu:Expires>` + expires + `</wsu:Expires></wsu:Timestamp>` +
		`<wsse:UsernameToken><wsse:Username>gp</wsse:Username><wsse:Password>s3cret</wsse:Password></wsse:UsernameToken></wsse:Security>`
	return rawEnvelope(ns, sec+messageHeaderBlock("m1")+whitelisting, getCardBody)
}

func encodeUTF16(s string, littleEndian, bom bool) []byte {
	var out []byte
	units := utf16.Encode([]rune(s))
	if bom {
		units = append([]uint16{0xfeff}, units...)
	}
	for _, u := range units {
		if littleEndian {
			out = append(out, byte(u), byte(u>>8))
		} else {
			out = append(out, byte(u>>8), byte(u))
		}
	}
	return out
}

func gzipped(s string) []byte {
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	_, _ = zw.Write([]byte(s))
	_ = zw.Close()
	return b.Bytes()
}

// rawLimits are the limits of the raw cases' handler: small, so that the
// size cases stay small.
var rawLimits = Limits{MaxBytes: 4096, MaxDepth: 32, MaxTokens: 50_000}

// rawWSDL is what the raw cases' handler serves at ?wsdl.
const rawWSDL = `<?xml version="1.0" encoding="UTF-8"?>` + "\n" + `<wsdl:definitions xmlns:wsdl="http://schemas.xmlsoap.org/wsdl/" targetNamespace="` + Namespace + `"/>`

// TestRawWireCases pins what an integrator's stack sees for each raw wire
// case of issue 13, golden file per case in testdata/wire-*.http: the
// status, the content headers, what reached the service (nothing, for a
// refused request) and the envelope (gunzipped if it came compressed).
// Run with -update after a deliberate change and review the diff.
func TestRawWireCases(t *testing.T) {
	ts := func(d time.Duration) string { return testNow.Add(d).Format("2006-01-02T15:04:05.000Z") }
	soap11, soap12 := "text/xml; charset=utf-8", "application/soap+xml; charset=utf-8"
	padding := strings.Repeat(" ", 2500)  // whitespace between header blocks
	cjk := strings.Repeat("\u836f", 1500) // 3000 bytes of UTF-16, 4500 of UTF-8
	gzipBomb := gzipped(withHeaders(nsSOAP11, strings.Repeat(" ", 20_000), getCardBody))
	cases := []struct {
		name        string
		method      string
		target      string
		contentType string
		header      map[string]string
		body        []byte
	}{
		// Byte-order mark and ?singleWsdl (the earlier items of the issue).
		{name: "bom-utf8-12", contentType: soap12, body: []byte(utf8BOM + `<?xml version="1.0" encoding="utf-8"?>` + testEnvelope(nsSOAP12, getCardBody))},
		{name: "single-wsdl", method: http.MethodGet, target: "/medcard?singleWsdl"},

		// WS-Addressing.
		{name: "wcf-wshttp-12", contentType: soap12 + `; action="` + getCardAction + `"`, body: []byte(wcfRequest(ts(-30*time.Second), ts(270*time.Second)))},
		{name: "wsa-get-11", contentType: soap11, header: map[string]string{"SOAPAction": `"` + getCardAction + `"`}, body: []byte(addressed(nsSOAP11, getCardAction, "urn:uuid:0a1b2c3d-0000-4000-8000-000000000001", getCardBody))},
		{name: "wsa-default-pattern-action-12", contentType: soap12, body: []byte(addressed(nsSOAP12, Namespace+"/MedicineCardPortType/GetMedicineCardRequest", "urn:uuid:0a1b2c3d-0000-4000-8000-000000000002", getCardBody))},
		{name: "wsa-action-mismatch-12", contentType: soap12, body: []byte(addressed(nsSOAP12, pauseAction, "urn:uuid:0a1b2c3d-0000-4000-8000-000000000003", getCardBody))},
		{name: "wsa-action-mismatch-11", contentType: soap11, body: []byte(addressed(nsSOAP11, "urn:erase-everything", "urn:uuid:0a1b2c3d-0000-4000-8000-000000000004", pauseBody))},
		{name: "wsa-no-action-12", contentType: soap12, body: []byte(withHeaders(nsSOAP12, `<a:MessageID>urn:uuid:0a1b2c3d-0000-4000-8000-000000000005</a:MessageID>`, getCardBody))},
		{name: "wsa-two-message-ids-12", contentType: soap12, body: []byte(withHeaders(nsSOAP12, `<a:Action>`+getCardAction+`</a:Action><a:MessageID>urn:x:1</a:MessageID><a:MessageID>urn:x:2</a:MessageID>`, getCardBody))},
		{name: "wsa-reply-to-elsewhere-12", contentType: soap12, body: []byte(withHeaders(nsSOAP12, `<a:Action>`+getCardAction+`</a:Action><a:MessageID>urn:x:3</a:MessageID><a:ReplyTo><a:Address>http://client.example/callback</a:Address></a:ReplyTo>`, getCardBody))},
		{name: "wsa-fault-to-elsewhere-11", contentType: soap11, body: []byte(withHeaders(nsSOAP11, `<a:Action>`+pauseAction+`</a:Action><a:MessageID>urn:x:4</a:MessageID><a:FaultTo><a:Address>http://client.example/faults</a:Address></a:FaultTo>`, pauseBody))},
		{name: "wsa-unknown-header-12", contentType: soap12, body: []byte(withHeaders(nsSOAP12, `<a:Action>`+getCardAction+`</a:Action><a:MessageID>urn:x:5</a:MessageID><a:Frobnicate s:mustUnderstand="true"/>`, getCardBody))},
		{name: "wsa-message-id-for-idempotency-11", contentType: soap11, body: []byte(rawEnvelope(nsSOAP11, securityBlock+whitelisting+
			`<a:Action s:mustUnderstand="1">`+pauseAction+`</a:Action><a:MessageID>URN:UUID:0A1B2C3D-0000-4000-8000-00000000000F</a:MessageID>`, pauseBody))},
		{name: "wsa-our-message-id-first-11", contentType: soap11, body: []byte(addressed(nsSOAP11, pauseAction, "urn:uuid:0a1b2c3d-0000-4000-8000-000000000010", pauseBody))},

		// wsu:Timestamp.
		{name: "timestamp-12", contentType: soap12, body: []byte(timestamped(nsSOAP12, ts(-time.Minute), ts(4*time.Minute)))},
		{name: "timestamp-11", contentType: soap11, body: []byte(timestamped(nsSOAP11, ts(-time.Minute), ts(4*time.Minute)))},
		{name: "timestamp-expired-12", contentType: soap12, body: []byte(timestamped(nsSOAP12, ts(-20*time.Minute), ts(-15*time.Minute)))},
		{name: "timestamp-expired-wcf-12", contentType: soap12, body: []byte(wcfRequest(ts(-20*time.Minute), ts(-15*time.Minute)))},

		// UTF-16.
		{name: "utf16le-bom-11", contentType: "text/xml; charset=utf-16", body: encodeUTF16(`<?xml version="1.0" encoding="utf-16"?>`+testEnvelope(nsSOAP11, getCardBody), true, true)},
		{name: "utf16be-charset-12", contentType: "application/soap+xml; charset=utf-16", body: encodeUTF16(testEnvelope(nsSOAP12, getCardBody), false, false)},
		{name: "utf16le-sniffed-11", contentType: "text/xml", body: encodeUTF16(`<?xml version="1.0" encoding="UTF-16"?>`+testEnvelope(nsSOAP11, getCardBody), true, false)},
		{name: "utf16-within-limit-as-utf8-12", contentType: "application/soap+xml; charset=utf-16", body: encodeUTF16(withHeaders(nsSOAP12, padding, getCardBody), true, true)},
		{name: "utf16-over-limit-as-utf8-12", contentType: "application/soap+xml; charset=utf-16", body: encodeUTF16(rawEnvelope(nsSOAP12, securityBlock+`<mc:MessageHeader><mc:MessageID>m1</mc:MessageID><mc:FlowID>`+cjk+`</mc:FlowID></mc:MessageHeader>`+whitelisting, getCardBody), true, true)},
		{name: "utf16-odd-length-11", contentType: "text/xml; charset=utf-16", body: append(encodeUTF16(testEnvelope(nsSOAP11, getCardBody), true, true), 0)},
		{name: "utf16-unpaired-surrogate-11", contentType: "text/xml; charset=utf-16", body: append(encodeUTF16(testEnvelope(nsSOAP11, getCardBody)[:200], true, true), 0x00, 0xd8, '<', 0)},
		{name: "utf8-declared-utf16-11", contentType: soap11, body: []byte(`<?xml version="1.0" encoding="UTF-16"?>` + testEnvelope(nsSOAP11, getCardBody))},
		{name: "latin1-declared-11", contentType: soap11, body: []byte(`<?xml version="1.0" encoding="ISO-8859-1"?>` + testEnvelope(nsSOAP11, getCardBody))},

		// Header blocks for other roles and actors.
		{name: "role-none-12", contentType: soap12, body: []byte(withHeaders(nsSOAP12, `<x:Audit xmlns:x="urn:x" s:role="http://www.w3.org/2003/05/soap-envelope/role/none" s:mustUnderstand="true"/>`, getCardBody))},
		{name: "role-other-12", contentType: soap12, body: []byte(withHeaders(nsSOAP12, `<x:Route xmlns:x="urn:x" s:role="urn:example:intermediary" s:mustUnderstand="1"/>`, getCardBody))},
		{name: "role-other-security-12", contentType: soap12, body: []byte(withHeaders(nsSOAP12, `<wsse:Security s:role="urn:example:proxy" s:mustUnderstand="1"><wsse:UsernameToken><wsse:Username>proxy</wsse:Username><wsse:Password>other</wsse:Password></wsse:UsernameToken></wsse:Security>`, getCardBody))},
		{name: "role-next-not-understood-12", contentType: soap12, body: []byte(withHeaders(nsSOAP12, `<x:Route xmlns:x="urn:x" s:role="http://www.w3.org/2003/05/soap-envelope/role/next" s:mustUnderstand="1"/>`, getCardBody))},
		{name: "two-not-understood-12", contentType: soap12, body: []byte(withHeaders(nsSOAP12, `<x:One xmlns:x="urn:x" s:mustUnderstand="true"/><Two xmlns="urn:y&amp;z" s:mustUnderstand="1"/><x:Ignored xmlns:x="urn:x"/>`, getCardBody))},
		{name: "actor-other-11", contentType: soap11, body: []byte(withHeaders(nsSOAP11, `<x:Route xmlns:x="urn:x" s:actor="urn:example:intermediary" s:mustUnderstand="1"/>`, getCardBody))},
		{name: "actor-next-not-understood-11", contentType: soap11, body: []byte(withHeaders(nsSOAP11, `<x:Route xmlns:x="urn:x" s:actor="http://schemas.xmlsoap.org/soap/actor/next" s:mustUnderstand="1"/>`, getCardBody))},

		// gzip.
		{name: "gzip-answer-11", contentType: soap11, header: map[string]string{"Accept-Encoding": "gzip, deflate"}, body: []byte(testEnvelope(nsSOAP11, getCardBody))},
		{name: "gzip-refused-q0-12", contentType: soap12, header: map[string]string{"Accept-Encoding": "gzip;q=0, *;q=1"}, body: []byte(testEnvelope(nsSOAP12, getCardBody))},
		{name: "gzip-small-fault-plain-12", contentType: soap12, header: map[string]string{"Accept-Encoding": "gzip"}, body: []byte(testEnvelope(nsSOAP12, `<mc:NoSuchRequest/>`))},
		{name: "gzip-request-11", contentType: soap11, header: map[string]string{"Content-Encoding": "gzip"}, body: gzipped(testEnvelope(nsSOAP11, getCardBody))},
		{name: "gzip-request-too-large-11", contentType: soap11, header: map[string]string{"Content-Encoding": "gzip"}, body: gzipBomb},

		// Namespaces of the wrapper's children and our header blocks.
		{name: "children-other-namespace-11", contentType: soap11, body: []byte(testEnvelope(nsSOAP11, `<mc:PauseDrugMedicationRequest xmlns:x="urn:other"><x:PersonIdentifier>0101701234</x:PersonIdentifier><x:MedicineCardVersion>4</x:MedicineCardVersion><x:DrugMedicationIdentifier>1</x:DrugMedicationIdentifier></mc:PauseDrugMedicationRequest>`))},
		{name: "children-default-namespace-12", contentType: soap12, body: []byte(testEnvelope(nsSOAP12, `<mc:PauseDrugMedicationRequest><PersonIdentifier xmlns="urn:other">0101701234</PersonIdentifier></mc:PauseDrugMedicationRequest>`))},
		{name: "children-unqualified-11", contentType: soap11, body: []byte(testEnvelope(nsSOAP11, `<mc:GetMedicineCardRequest><PersonIdentifier>0101701234</PersonIdentifier></mc:GetMedicineCardRequest>`))},
		{name: "grandchild-other-namespace-11", contentType: soap11, body: []byte(testEnvelope(nsSOAP11, `<mc:UpdateDrugMedicationRequest><mc:PersonIdentifier>0101701234</mc:PersonIdentifier><mc:Dosage><o:Text xmlns:o="urn:other">1</o:Text></mc:Dosage></mc:UpdateDrugMedicationRequest>`))},
		{name: "children-default-namespace-ours-12", contentType: soap12, body: []byte(testEnvelope(nsSOAP12, `<GetMedicineCardRequest xmlns="`+Namespace+`"><PersonIdentifier>0101701234</PersonIdentifier></GetMedicineCardRequest>`))},
		{name: "header-children-other-namespace-12", contentType: soap12, body: []byte(rawEnvelope(nsSOAP12, securityBlock+`<mc:MessageHeader><x:MessageID xmlns:x="urn:other">m1</x:MessageID></mc:MessageHeader>`+whitelisting, pauseBody))},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var mu sync.Mutex
			var served []string
			h := NewHandler(recordingService{mu: &mu, served: &served}, fakeSystems{}, nil, zap.NewNop(),
				Config{WSDL: []byte(rawWSDL), Limits: rawLimits, Now: func() time.Time { return testNow }})
			method, target := tc.method, tc.target
			if method == "" {
				method = http.MethodPost
			}
			if target == "" {
				target = "/medcard"
			}
			req := httptest.NewRequest(method, target, bytes.NewReader(tc.body))
			// Over HTTPS, as the toolchains send a PasswordText token
			// (transport_test.go has the plain-HTTP cases).
			req.TLS = &tls.ConnectionState{HandshakeComplete: true}
			if tc.contentType != "" {
				req.Header.Set("Content-Type", tc.contentType)
			}
			for k, v := range tc.header {
				req.Header.Set(k, v)
			}
			req.Header.Set(RequestIDHeader, "req-1")
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)

			got := dumpAnswer(t, rec, served)
			path := filepath.Join("testdata", "wire-"+tc.name+".http")
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test ./soap -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("answer differs from %s:\ngot:\n%s\nwant:\n%s", path, got, want)
			}
		})
	}
}

// dumpAnswer is the golden form of an answer: status, content headers,
// what reached the service, a blank line, and the body, gunzipped when
// Content-Encoding says gzip. It also checks Content-Length.
func dumpAnswer(t *testing.T, rec *httptest.ResponseRecorder, served []string) []byte {
	t.Helper()
	var b bytes.Buffer
	fmt.Fprintf(&b, "HTTP %d\n", rec.Code)
	for _, k := range []string{"Content-Type", "Content-Encoding", "Vary"} {
		if v := rec.Header().Get(k); v != "" {
			fmt.Fprintf(&b, "%s: %s\n", k, v)
		}
	}
	if cl := rec.Header().Get("Content-Length"); cl != "" && cl != strconv.Itoa(rec.Body.Len()) {
		t.Errorf("Content-Length %s, but the body has %d bytes", cl, rec.Body.Len())
	}
	if len(served) == 0 {
		b.WriteString("Served: nothing\n")
	}
	for _, s := range served {
		fmt.Fprintf(&b, "Served: %s\n", s)
	}
	b.WriteString("\n")
	body := rec.Body.Bytes()
	if rec.Header().Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(bytes.NewReader(body))
		if err != nil {
			t.Fatalf("the answer says gzip but is not: %v", err)
		}
		if body, err = io.ReadAll(zr); err != nil {
			t.Fatalf("the gzip answer does not decompress: %v", err)
		}
	}
	b.Write(body)
	return b.Bytes()
}
