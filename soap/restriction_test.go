package soap

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/sharedmedcard/gateway/medcard"
)

// memService is the real service over an empty memCards, with the card of
// 0101701234 restricted by its citizen when restricted is set.
func memService(t *testing.T, restricted bool) *medcard.Service {
	t.Helper()
	store := &memCards{cards: map[medcard.PersonID][]byte{}, outcomes: map[medcard.OutcomeKey][]byte{}}
	svc := medcard.NewService(store, store, func() time.Time { return testNow })
	if restricted {
		citizen := medcard.Caller{System: "portal", Organisation: "SOR:min-log", Role: medcard.RoleCitizen}
		if _, err := svc.Change(context.Background(), medcard.Call{Caller: citizen, MessageID: "restrict"},
			medcard.AccessRestrictionRequest{PersonID: "0101701234", Restricted: true}); err != nil {
			t.Fatal(err)
		}
	}
	return svc
}

// TestEmergencyOverrideReported: through the SOAP edge, a doctor's read
// of a restricted card is AccessRestricted and not counted; with an
// emergency override it is answered, counted in
// medcard_emergency_overrides_total by operation and logged once, with no
// person in the log.
func TestEmergencyOverrideReported(t *testing.T) {
	reg := prometheus.NewRegistry()
	core, logs := observer.New(zapcore.InfoLevel)
	h := NewHandler(memService(t, true), fakeSystems{}, nil, zap.New(core), Config{Now: func() time.Time { return testNow }, Registerer: reg})
	send := func(envelope string) (int, string) {
		req := httptest.NewRequest(http.MethodPost, "/medcard", strings.NewReader(envelope))
		req.Header.Set("Content-Type", "text/xml")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Code, rec.Body.String()
	}
	overrides := func() float64 {
		t.Helper()
		families, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range families {
			if f.GetName() != "medcard_emergency_overrides_total" {
				continue
			}
			for _, m := range f.GetMetric() {
				if l := m.GetLabel(); len(l) == 1 && l[0].GetName() == "op" && l[0].GetValue() == string(medcard.OpGetMedicineCard) {
					return m.GetCounter().GetValue()
				}
			}
		}
		return 0
	}
	get := `<mc:GetMedicineCardRequest><mc:PersonIdentifier>0101701234</mc:PersonIdentifier></mc:GetMedicineCardRequest>`
	override := `<mc:MessageHeader><mc:MessageID>m2</mc:MessageID></mc:MessageHeader>` +
		`<mc:ConsentHeader><mc:EmergencyOverride>true</mc:EmergencyOverride></mc:ConsentHeader>`

	if code, body := send(testEnvelope(nsSOAP11, get)); code != 500 || !strings.Contains(body, "<FaultIdentifier>AccessRestricted</FaultIdentifier>") {
		t.Fatalf("a doctor's read of a restricted card = %d %s, want the fault AccessRestricted", code, body)
	}
	if n := overrides(); n != 0 {
		t.Errorf("medcard_emergency_overrides_total after a refusal = %v, want 0", n)
	}
	if code, body := send(testEnvelopeWith(nsSOAP11, override, get)); code != 200 {
		t.Fatalf("a doctor's read with an override = %d %s, want the card", code, body)
	}
	if n := overrides(); n != 1 {
		t.Errorf("medcard_emergency_overrides_total{op=GetMedicineCard} = %v, want 1", n)
	}
	lines := logs.FilterMessage("emergency override").All()
	if len(lines) != 1 {
		t.Fatalf("%d emergency override log lines, want 1", len(lines))
	}
	fields := lines[0].ContextMap()
	if fields["op"] != "GetMedicineCard" || fields["restricted"] != true || lines[0].Level != zapcore.WarnLevel {
		t.Errorf("emergency override log line = %s %v, want a warning with op GetMedicineCard, restricted true", lines[0].Level, fields)
	}
	for _, l := range logs.All() {
		for k, v := range l.ContextMap() {
			if s, ok := v.(string); ok && strings.Contains(s, "0101701234") {
				t.Errorf("log line %q has the person in %s", l.Message, k)
			}
		}
	}
}
