package soap

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"encoding/xml"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/sharedmedcard/gateway/medcard"
	"github.com/sharedmedcard/gateway/wsdl"
)

// TestActionsFollowTheWSDL holds the actions of doc.go to the WSDL's names:
// the portType the default pattern names and every binding operation's
// soapAction, which is the request's wsa:Action.
func TestActionsFollowTheWSDL(t *testing.T) {
	var defs struct {
		PortType struct {
			Name string `xml:"name,attr"`
		} `xml:"portType"`
		Bindings []struct {
			Operations []struct {
				Name    string `xml:"name,attr"`
				Actions []struct {
					SOAPAction string `xml:"soapAction,attr"`
				} `xml:"operation"`
			} `xml:"operation"`
		} `xml:"binding"`
	}
	if err := xml.Unmarshal(wsdl.Source(), &defs); err != nil {
		t.Fatal(err)
	}
	if defs.PortType.Name != portTypeName {
		t.Errorf("the WSDL's portType is %q, the actions name %q", defs.PortType.Name, portTypeName)
	}
	byName := map[string]*operation{}
	for _, op := range operations {
		byName[string(op.name)] = op
	}
	for _, b := range defs.Bindings {
		for _, bo := range b.Operations {
			op := byName[bo.Name]
			if op == nil || len(bo.Actions) != 1 {
				continue // TestDispatchTableMatchesWSDL says so
			}
			if bo.Actions[0].SOAPAction != op.soapAction {
				t.Errorf("%s: soapAction %q in the WSDL, %q in the dispatch table", bo.Name, bo.Actions[0].SOAPAction, op.soapAction)
			}
		}
	}
}

// memCards is a Store and ReadAuditor over maps, for driving the real
// medcard.Service through the SOAP edge. Cards and outcomes are kept as
// JSON so nothing the service holds aliases them.
type memCards struct {
	mu       sync.Mutex
	cards    map[medcard.PersonID][]byte
	outcomes map[medcard.OutcomeKey][]byte
	writes   int
	audit    []loggedAccess
}

// loggedAccess is an audit row of memCards.
type loggedAccess struct {
	person medcard.PersonID
	entry  medcard.AuditEntry
}

var _ medcard.Store = (*memCards)(nil)

func (m *memCards) ReadCard(_ context.Context, person medcard.PersonID) (*medcard.Card, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.card(person)
}

func (m *memCards) card(person medcard.PersonID) (*medcard.Card, error) {
	raw, ok := m.cards[person]
	if !ok {
		return &medcard.Card{PersonID: person}, nil
	}
	var c medcard.Card
	return &c, json.Unmarshal(raw, &c)
}

func (m *memCards) outcome(key medcard.OutcomeKey) (*medcard.StoredOutcome, error) {
	raw, ok := m.outcomes[key]
	if !ok {
		return nil, nil
	}
	var o medcard.StoredOutcome
	return &o, json.Unmarshal(raw, &o)
}

func (m *memCards) ReadForWrite(_ context.Context, person medcard.PersonID, key medcard.OutcomeKey) (*medcard.Card, *medcard.StoredOutcome, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, err := m.card(person)
	if err != nil {
		return nil, nil, err
	}
	o, err := m.outcome(key)
	return c, o, err
}

func (m *memCards) WriteCard(_ context.Context, w *medcard.CardWrite) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.commit(w)
}

func (m *memCards) commit(w *medcard.CardWrite) error {
	current, err := m.card(w.Person)
	if err != nil {
		return err
	}
	if _, taken := m.outcomes[w.Key]; taken || current.Version != w.BaseVersion {
		return medcard.ErrLostRace
	}
	card, err := json.Marshal(w.Card)
	if err != nil {
		return err
	}
	outcome, err := json.Marshal(medcard.StoredOutcome{RequestHash: w.RequestHash, Result: w.Result})
	if err != nil {
		return err
	}
	m.cards[w.Person], m.outcomes[w.Key] = card, outcome
	m.audit = append(m.audit, loggedAccess{w.Person, w.Audit})
	m.writes++
	return nil
}

func (m *memCards) WriteLocked(_ context.Context, person medcard.PersonID, key medcard.OutcomeKey,
	decide func(*medcard.Card, *medcard.StoredOutcome) (*medcard.CardWrite, error)) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, err := m.card(person)
	if err != nil {
		return err
	}
	o, err := m.outcome(key)
	if err != nil {
		return err
	}
	w, err := decide(c, o)
	if err != nil || w == nil {
		return err
	}
	return m.commit(w)
}

func (m *memCards) RecordRead(_ context.Context, person medcard.PersonID, e medcard.AuditEntry) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.audit = append(m.audit, loggedAccess{person, e})
	return nil
}

// ReadAccessLog answers the person's rows in r, newest first; a row's id is
// its position in the trail, plus one.
func (m *memCards) ReadAccessLog(_ context.Context, person medcard.PersonID, r medcard.AccessLogRange) ([]medcard.LoggedAccess, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []medcard.LoggedAccess
	for i := len(m.audit) - 1; i >= 0 && len(out) < r.Limit; i-- {
		a, id := m.audit[i], int64(i+1)
		before := a.entry.At.Before(r.Before.At) || (a.entry.At.Equal(r.Before.At) && id < r.Before.ID)
		if a.person == person && !a.entry.At.Before(r.From) && before {
			out = append(out, medcard.LoggedAccess{ID: id, Entry: a.entry})
		}
	}
	return out, nil
}

// TestResendWithTheSameAddressingMessageID: a system that sends no
// MessageHeader, only WS-Addressing (as a WCF client generated without our
// headers does), has its write applied once however often it resends the
// same wsa:MessageID, whatever the case of the UUID's letters; the same
// wsa:MessageID with a different request is refused.
func TestResendWithTheSameAddressingMessageID(t *testing.T) {
	store := &memCards{cards: map[medcard.PersonID][]byte{}, outcomes: map[medcard.OutcomeKey][]byte{}}
	svc := medcard.NewService(store, store, func() time.Time { return testNow })
	h := NewHandler(svc, fakeSystems{}, nil, zap.NewNop(), Config{Now: func() time.Time { return testNow }})
	create := func(drug string) string {
		return `<mc:CreateDrugMedicationRequest><mc:PersonIdentifier>0101701234</mc:PersonIdentifier><mc:MedicineCardVersion>0</mc:MedicineCardVersion>` +
			`<mc:DrugMedication><mc:Drug><mc:Identifier>28100636072</mc:Identifier><mc:Name>` + drug + `</mc:Name></mc:Drug>` +
			`<mc:Dosage><mc:Text>2 tabletter</mc:Text></mc:Dosage><mc:Indication><mc:Text>smerter</mc:Text></mc:Indication>` +
			`<mc:BeginDate>2026-11-22</mc:BeginDate></mc:DrugMedication></mc:CreateDrugMedicationRequest>`
	}
	send := func(messageID, body string) (int, string) {
		t.Helper()
		envelope := rawEnvelope(nsSOAP12, securityBlock+whitelisting+
			`<a:Action s:mustUnderstand="1">`+Namespace+`/CreateDrugMedication</a:Action><a:MessageID>`+messageID+`</a:MessageID>`, body)
		req := httptest.NewRequest(http.MethodPost, "/medcard", strings.NewReader(envelope))
		req.TLS = &tls.ConnectionState{HandshakeComplete: true} // PasswordText comes over HTTPS
		req.Header.Set("Content-Type", "application/soap+xml; charset=utf-8")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Code, rec.Body.String()
	}
	const id = "urn:uuid:5f0c8e4a-2d1b-4c7e-9a3f-6b8d0e1f2a3c"
	status, first := send(id, create("Pinex"))
	if status != http.StatusOK || !strings.Contains(first, `">`+id+`</wsa:RelatesTo>`) {
		t.Fatalf("first send = %d: %s", status, first)
	}
	for _, resend := range []string{id, strings.ToUpper(id[len("urn:uuid:"):])} {
		if resend != id {
			resend = "urn:uuid:" + resend
		}
		status, again := send(resend, create("Pinex"))
		if status != http.StatusOK {
			t.Fatalf("resend with %s = %d: %s", resend, status, again)
		}
		// The answer is the stored one; only RelatesTo echoes what was sent.
		if strings.Replace(again, resend, id, 1) != first {
			t.Errorf("resend with %s answered\n%s\nwant the first answer\n%s", resend, again, first)
		}
	}
	if store.writes != 1 {
		t.Errorf("three sends of one wsa:MessageID wrote %d times, want 1", store.writes)
	}
	status, reused := send(id, create("Panodil"))
	if status != http.StatusInternalServerError || !strings.Contains(reused, "mc:"+medcard.FaultMessageIDReused.ID) {
		t.Errorf("the same wsa:MessageID with another request = %d: %s, want %s", status, reused, medcard.FaultMessageIDReused.ID)
	}
	if store.writes != 1 {
		t.Errorf("after a reused wsa:MessageID the store has %d writes, want 1", store.writes)
	}
}
