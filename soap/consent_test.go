package soap

import (
	"context"
	"net/http"
	"net/http/httptest"
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
				if got != (medcard.Call{}) {
					t.Errorf("a refused request reached the service with %+v", got)
				}
				return
			}
			if rec.Code != http.StatusOK {
				t.Fatalf("status %d: %s", rec.Code, rec.Body.String())
			}
			want := *tc.want
			want.Caller = medcard.Caller{System: "gp", Organisation: "SOR:1", Role: medcard.RoleDoctor}
			if got != want {
				t.Errorf("Call = %+v, want %+v", got, want)
			}
		})
	}
}
