package soap

import (
	"context"
	"encoding/xml"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/sharedmedcard/gateway/medcard"
)

// callRecorder is the fake service keeping the Call of the last request
// that reached it.
type callRecorder struct {
	fakeService
	got *medcard.Call
}

func (c callRecorder) GetMedicineCard(ctx context.Context, call medcard.Call, q medcard.CardQuery) (*medcard.Card, error) {
	*c.got = call
	c.got.Admit = nil // a func: the Call is compared without it
	return c.fakeService.GetMedicineCard(ctx, call, q)
}

// TestConsentHeaderReachesTheCall: the ConsentHeader's consent and
// emergency override and the MessageHeader's FlowID reach the service in
// the Call (and so the audit row); a request without them is Consent None
// without an override; a bad value is InvalidFieldValue and reaches
// nothing.
func TestConsentHeaderReachesTheCall(t *testing.T) {
	const get = `<mc:GetMedicineCardRequest><mc:PersonIdentifier>0101701234</mc:PersonIdentifier></mc:GetMedicineCardRequest>`
	message := `<mc:MessageHeader><mc:MessageID>m1</mc:MessageID><mc:FlowID> flow-7 </mc:FlowID></mc:MessageHeader>`
	consent := func(inner string) string { return `<mc:ConsentHeader>` + inner + `</mc:ConsentHeader>` }
	cases := []struct {
		name    string
		headers string
		want    *medcard.Call // nil: refused with wantFault
		fault   string
	}{
		{"none", message, &medcard.Call{MessageID: "m1", FlowID: "flow-7", Consent: medcard.ConsentNone}, ""},
		{"given and override", message + consent(`<mc:Consent>Given</mc:Consent><mc:EmergencyOverride>true</mc:EmergencyOverride>`),
			&medcard.Call{MessageID: "m1", FlowID: "flow-7", Consent: medcard.ConsentGiven, EmergencyOverride: true}, ""},
		{"withdrawn, override 0", message + consent(`<mc:Consent> Withdrawn </mc:Consent><mc:EmergencyOverride>0</mc:EmergencyOverride>`),
			&medcard.Call{MessageID: "m1", FlowID: "flow-7", Consent: medcard.ConsentWithdrawn}, ""},
		{"override alone", message + consent(`<mc:EmergencyOverride>1</mc:EmergencyOverride>`),
			&medcard.Call{MessageID: "m1", FlowID: "flow-7", Consent: medcard.ConsentNone, EmergencyOverride: true}, ""},
		{"unknown consent", message + consent(`<mc:Consent>Maybe</mc:Consent>`), nil, medcard.FaultInvalidField.ID},
		{"bad override", message + consent(`<mc:EmergencyOverride>yes</mc:EmergencyOverride>`), nil, medcard.FaultInvalidField.ID},
		{"foreign element", message + `<mc:ConsentHeader><x:Consent xmlns:x="urn:other">Given</x:Consent></mc:ConsentHeader>`,
			nil, medcard.FaultWrongNamespace.ID},
		{"long FlowID", `<mc:MessageHeader><mc:MessageID>m1</mc:MessageID><mc:FlowID>` + strings.Repeat("f", 201) + `</mc:FlowID></mc:MessageHeader>`,
			nil, medcard.FaultInvalidField.ID},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var got medcard.Call
			h := NewHandler(callRecorder{got: &got}, fakeSystems{}, nil, zap.NewNop(), Config{Now: func() time.Time { return testNow }})
			req := httptest.NewRequest(http.MethodPost, "/medcard", strings.NewReader(testEnvelopeWith(nsSOAP12, tc.headers, get)))
			req.Header.Set("Content-Type", "application/soap+xml")
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if tc.want == nil {
				if id := faultIDOf(rec.Body.Bytes()); id != tc.fault {
					t.Errorf("fault %q, want %q: %s", id, tc.fault, rec.Body.String())
				}
				if !reflect.DeepEqual(got, medcard.Call{}) {
					t.Errorf("a refused request reached the service with %+v", got)
				}
				return
			}
			if rec.Code != http.StatusOK {
				t.Fatalf("status %d: %s", rec.Code, rec.Body.String())
			}
			want := *tc.want
			want.Caller = medcard.Caller{System: "gp", Organisation: "SOR:1", Role: medcard.RoleDoctor}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("Call = %+v, want %+v", got, want)
			}
		})
	}
}

// portalEnvelope is a request of the citizen portal (role Citizen).
func portalEnvelope(ns, body string) string {
	return `<s:Envelope xmlns:s="` + ns + `" xmlns:mc="` + Namespace + `" xmlns:wsse="` + nsWSSE + `" xmlns:wsu="` + nsWSU + `"><s:Header>` +
		`<wsse:Security>` + testDigestToken("portal", "s3cret") + `</wsse:Security>` +
		`<mc:MessageHeader><mc:MessageID>log-1</mc:MessageID></mc:MessageHeader>` +
		`<mc:WhitelistingHeader><mc:SystemName>portal</mc:SystemName><mc:OrganisationIdentifier>SOR:min-log</mc:OrganisationIdentifier><mc:RequestedRole>Citizen</mc:RequestedRole></mc:WhitelistingHeader>` +
		`</s:Header><s:Body>` + body + `</s:Body></s:Envelope>`
}

// TestGetAccessLogOverSOAP drives the real service through the SOAP edge:
// a doctor's look-up is in the citizen portal's answer with its consent
// and override; a doctor may not read the log; a bad From, PageSize 0 and
// a forged PageToken are InvalidFieldValue.
func TestGetAccessLogOverSOAP(t *testing.T) {
	store := &memCards{cards: map[medcard.PersonID][]byte{}, outcomes: map[medcard.OutcomeKey][]byte{}}
	svc := medcard.NewService(store, store, func() time.Time { return testNow })
	h := NewHandler(svc, fakeSystems{}, nil, zap.NewNop(), Config{Now: func() time.Time { return testNow.Add(time.Minute) }})
	send := func(envelope string) (int, []byte) {
		req := httptest.NewRequest(http.MethodPost, "/medcard", strings.NewReader(envelope))
		req.Header.Set("Content-Type", "text/xml")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Code, rec.Body.Bytes()
	}
	get := `<mc:GetMedicineCardRequest><mc:PersonIdentifier>0101701234</mc:PersonIdentifier></mc:GetMedicineCardRequest>`
	if code, body := send(testEnvelopeWith(nsSOAP11, `<mc:MessageHeader><mc:MessageID>r1</mc:MessageID></mc:MessageHeader>`+
		`<mc:ConsentHeader><mc:Consent>Given</mc:Consent><mc:EmergencyOverride>true</mc:EmergencyOverride></mc:ConsentHeader>`, get)); code != 200 {
		t.Fatalf("look-up: %d %s", code, body)
	}
	logOf := func(extra string) string {
		return `<mc:GetAccessLogRequest><mc:PersonIdentifier>0101701234</mc:PersonIdentifier>` + extra + `</mc:GetAccessLogRequest>`
	}
	// The service's clock is testNow, and a period ends before now: the
	// look-up, at testNow, is in a period that ends a minute later.
	code, body := send(portalEnvelope(nsSOAP11, logOf(`<mc:To>2026-11-22T12:01:00Z</mc:To>`)))
	if code != 200 {
		t.Fatalf("GetAccessLog: %d %s", code, body)
	}
	var answer struct {
		Entries []xmlAccessLogEntry `xml:"Body>GetAccessLogResponse>Entry"`
	}
	if err := xml.Unmarshal(body, &answer); err != nil {
		t.Fatal(err)
	}
	want := []xmlAccessLogEntry{{At: testNow, Operation: "GetMedicineCard", SystemName: "gp", OrganisationIdentifier: "SOR:1",
		Role: "Doctor", Consent: "Given", EmergencyOverride: true}}
	if len(answer.Entries) != 1 || !answer.Entries[0].At.Equal(want[0].At) {
		t.Fatalf("entries = %+v, want %+v", answer.Entries, want)
	}
	if got := answer.Entries[0]; got.Operation != want[0].Operation || got.SystemName != want[0].SystemName ||
		got.Role != want[0].Role || got.Consent != want[0].Consent || got.EmergencyOverride != want[0].EmergencyOverride ||
		got.OrganisationIdentifier != want[0].OrganisationIdentifier {
		t.Errorf("entry = %+v, want %+v", got, want[0])
	}
	for name, tc := range map[string]struct{ envelope, fault string }{
		"a doctor":    {testEnvelope(nsSOAP11, logOf("")), medcard.FaultRoleNotAllowed.ID},
		"bad From":    {portalEnvelope(nsSOAP11, logOf(`<mc:From>last week</mc:From>`)), medcard.FaultInvalidField.ID},
		"PageSize 0":  {portalEnvelope(nsSOAP11, logOf(`<mc:PageSize>0</mc:PageSize>`)), medcard.FaultInvalidField.ID},
		"forged page": {portalEnvelope(nsSOAP11, logOf(`<mc:PageToken>Zm9yZ2Vk</mc:PageToken>`)), medcard.FaultInvalidField.ID},
	} {
		if code, body := send(tc.envelope); code != 500 || faultIDOf(body) != tc.fault {
			t.Errorf("%s: %d %s, want fault %s", name, code, faultIDOf(body), tc.fault)
		}
	}
}
