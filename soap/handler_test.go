package soap

import (
	"bytes"
	"context"
	"encoding/xml"
	"flag"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/zap"

	"github.com/sharedmedcard/gateway/internal/credential"
	"github.com/sharedmedcard/gateway/medcard"
	"github.com/sharedmedcard/gateway/soap/envelope"
	"github.com/sharedmedcard/gateway/wsdl"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

var testNow = time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)

// fakeService answers from fixed data; the real service is tested with
// real databases in cmd/gateway. When got is set, each write stores the
// domain request it received there.
type fakeService struct{ got *any }

func fakeCard(person string) (*medcard.Card, error) {
	p, err := medcard.ParsePersonID(person)
	if err != nil {
		return nil, err
	}
	stamp := medcard.Stamp{By: medcard.Modifier{AuthorisationID: "A1B2C", Role: medcard.RoleDoctor, Organisation: "SOR:1", System: "gp"}, At: testNow}
	pharmacy := medcard.Stamp{By: medcard.Modifier{Role: medcard.RolePharmacist, Organisation: "SOR:apotek", System: "pharmacy"}, At: testNow.Add(time.Hour)}
	dm := medcard.DrugMedication{
		ID: 1, Version: 2, CardVersion: 5, Status: medcard.DrugMedicationActive,
		Drug:      medcard.Drug{Identifier: "28100636072", Name: "Pinex & co", Strength: "500 mg"},
		Dosage:    medcard.Dosage{Text: "2 tabletter"},
		BeginDate: "2026-01-01", Created: stamp, Modified: stamp,
	}
	theirs, ours := dm, dm
	ours.Dosage = medcard.Dosage{Text: "3 tabletter"}
	ours.EndDate = "2026-12-31"
	dm.Conflict = &medcard.Conflict{Rule: "UpdateDrugMedication/UpdateDrugMedication: two different dosages", At: testNow,
		Variants: []medcard.DrugMedication{theirs, ours}}
	return &medcard.Card{PersonID: p, Version: 5,
		Reviewed:        &medcard.Reviewed{By: stamp.By, At: testNow, CardVersion: 2},
		DrugMedications: []medcard.DrugMedication{dm},
		Prescriptions: []medcard.Prescription{{
			ID: 2, Version: 2, CardVersion: 4, DrugMedicationID: 1, Status: medcard.PrescriptionOpen,
			Drug: medcard.Drug{Identifier: "28100636072", Name: "Pinex"}, PackageNumber: "043298", PackageQuantity: 1,
			Iterations: 1, ValidFrom: "2026-01-01", ValidTo: "2028-01-01", DosageText: "2 tabletter",
			Created: stamp, Modified: pharmacy, Dispensings: 1, PackagesDispensed: 1, LastDispensedAt: pharmacy.At,
		}},
		Orders: []medcard.Order{{ID: 3, Version: 3, CardVersion: 4, PrescriptionID: 2, Pharmacy: "SOR:apotek",
			Status: medcard.OrderCompleted, Created: pharmacy, Modified: pharmacy}},
		Effectuations: []medcard.Effectuation{{ID: 4, Version: 1, CardVersion: 4, PrescriptionID: 2, OrderID: 3,
			Packages: 1, Pharmacy: "SOR:apotek", Created: pharmacy, Modified: pharmacy}},
	}, nil
}

func (fakeService) GetMedicineCard(_ context.Context, _ medcard.Call, q medcard.CardQuery) (*medcard.Card, error) {
	return fakeCard(q.PersonID)
}

func (fakeService) GetDrugMedication(_ context.Context, _ medcard.Call, person string, id int64) (*medcard.DrugMedicationView, error) {
	card, err := fakeCard(person)
	if err != nil {
		return nil, err
	}
	if id != 1 {
		return nil, medcard.Errorf(medcard.FaultDrugMedicationNotFound, "no such drug medication")
	}
	return &medcard.DrugMedicationView{CardVersion: card.Version, DrugMedication: card.DrugMedications[0]}, nil
}

func (fakeService) GetNewOrders(_ context.Context, call medcard.Call, q medcard.InboxQuery) ([]medcard.InboxEntry, error) {
	return []medcard.InboxEntry{{Person: "0101701234", OrderID: int64(q.Limit), Status: medcard.OrderOpen, Pharmacy: call.Caller.Organisation,
		OrderedAt: testNow, Drug: medcard.Drug{Name: "Pinex"}, PackageNumber: "043298", PackageQuantity: 2}}, nil
}

func (fakeService) GetPrescription(_ context.Context, _ medcard.Call, person string, _ []int64) (*medcard.PrescriptionsView, error) {
	card, err := fakeCard(person)
	if err != nil {
		return nil, err
	}
	return &medcard.PrescriptionsView{CardVersion: card.Version, Prescriptions: card.Prescriptions,
		Orders: card.Orders, Effectuations: card.Effectuations}, nil
}

// GetAccessLog answers a page of two entries, the first one of this very
// call (its consent, override and acting person as the service got them),
// the second a fixed one, with a token for the next page.
func (fakeService) GetAccessLog(_ context.Context, call medcard.Call, q medcard.AccessLogQuery) (*medcard.AccessLogPage, error) {
	if _, err := medcard.ParsePersonID(q.PersonID); err != nil {
		return nil, err
	}
	return &medcard.AccessLogPage{Entries: []medcard.AuditEntry{
		{Operation: medcard.OpGetAccessLog, At: testNow, System: call.Caller.System, Organisation: call.Caller.Organisation,
			Role: call.Caller.Role, AuthorisationID: call.Caller.AuthorisationID, MessageID: call.MessageID, FlowID: call.FlowID,
			Consent: call.Consent, EmergencyOverride: call.EmergencyOverride},
		{Operation: medcard.OpCreateOrder, At: testNow.Add(-time.Hour), System: "web-ui", Organisation: "SOR:apotek",
			Role: medcard.RolePharmacist, ActingUser: "hanne", Consent: medcard.ConsentGiven, CardVersion: 7,
			Items: []string{"Order:3"}},
	}, NextPageToken: "next-" + q.PageToken}, nil
}

// Change is always busy for CreateDrugMedication and answers every other
// write with the same result.
func (f fakeService) Change(_ context.Context, _ medcard.Call, req medcard.ChangeRequest) (*medcard.WriteResult, error) {
	if _, ok := req.(medcard.CreateDrugMedicationRequest); ok {
		return nil, medcard.Errorf(medcard.FaultCardBusy, "busy")
	}
	if f.got != nil {
		*f.got = req
	}
	return &medcard.WriteResult{CardVersion: 6,
		Items: []medcard.ItemVersion{{Kind: medcard.ItemDrugMedication, ID: 1, Version: 3}, {Kind: medcard.ItemOrder, ID: 3, Version: 4}},
		Warnings: []medcard.Warning{{Code: medcard.WarningVersionMismatch, Message: "the card changed since; merged"},
			{Code: medcard.WarningConflict, Message: "both variants are kept"}}}, nil
}

// fakeSystems knows gp, whose secret is s3cret (readable, as with the
// gateways' key), portal (a citizen portal, the same secret), and
// textonly, whose secret s3cret is stored hashed only
// (no key), so it may use PasswordText alone.
type fakeSystems struct{}

func (fakeSystems) System(_ context.Context, name string) (medcard.System, error) {
	switch name {
	case "gp":
		return medcard.System{Name: "gp", Secret: "s3cret", PasswordHash: testSecretHash(), Roles: []medcard.Role{medcard.RoleDoctor}}, nil
	case "portal":
		return medcard.System{Name: "portal", Secret: "s3cret", PasswordHash: testSecretHash(), Roles: []medcard.Role{medcard.RoleCitizen}}, nil
	case "textonly":
		return medcard.System{Name: "textonly", PasswordHash: testSecretHash(), Roles: []medcard.Role{medcard.RoleDoctor}}, nil
	}
	return medcard.System{}, medcard.Errorf(medcard.FaultNotAuthenticated, "unknown system")
}

// testSecretHash is s3cret's argon2id hash, as the catalog stores it.
var testSecretHash = sync.OnceValue(func() string {
	h, err := credential.HashPassword("s3cret")
	if err != nil {
		panic(err)
	}
	return h
})

// testEnvelope is a request of system gp with a PasswordDigest made at
// testNow (a PasswordText would need TLS, transport_test.go).
func testEnvelope(ns, body string) string {
	return testEnvelopeWith(ns, `<mc:MessageHeader><mc:MessageID>m1</mc:MessageID></mc:MessageHeader>`, body)
}

// testEnvelopeWith is testEnvelope with headers of its own in place of the
// MessageHeader.
func testEnvelopeWith(ns, headers, body string) string {
	return `<s:Envelope xmlns:s="` + ns + `" xmlns:mc="` + Namespace + `" xmlns:wsse="` + nsWSSE + `" xmlns:wsu="` + nsWSU + `"><s:Header>` +
		`<wsse:Security>` + testDigestToken("gp", "s3cret") + `</wsse:Security>` + headers +
		`<mc:WhitelistingHeader><mc:SystemName>gp</mc:SystemName><mc:OrganisationIdentifier>SOR:1</mc:OrganisationIdentifier><mc:RequestedRole>Doctor</mc:RequestedRole></mc:WhitelistingHeader>` +
		`</s:Header><s:Body>` + body + `</s:Body></s:Envelope>`
}

// TestGoldenEnvelopes pins what integrators see, byte for byte: responses
// and faults in both SOAP versions. Run with -update after a deliberate
// change and review the diff.
func TestGoldenEnvelopes(t *testing.T) {
	get := `<mc:GetMedicineCardRequest><mc:PersonIdentifier>0101701234</mc:PersonIdentifier></mc:GetMedicineCardRequest>`
	create := `<mc:CreateDrugMedicationRequest><mc:PersonIdentifier>0101701234</mc:PersonIdentifier></mc:CreateDrugMedicationRequest>`
	badPerson := `<mc:GetMedicineCardRequest><mc:PersonIdentifier>3213701234</mc:PersonIdentifier></mc:GetMedicineCardRequest>`
	pause := `<mc:PauseDrugMedicationRequest><mc:PersonIdentifier>0101701234</mc:PersonIdentifier><mc:MedicineCardVersion>4</mc:MedicineCardVersion><mc:DrugMedicationIdentifier>1</mc:DrugMedicationIdentifier></mc:PauseDrugMedicationRequest>`
	getDM := `<mc:GetDrugMedicationRequest><mc:PersonIdentifier>0101701234</mc:PersonIdentifier><mc:DrugMedicationIdentifier>1</mc:DrugMedicationIdentifier></mc:GetDrugMedicationRequest>`
	getRx := `<mc:GetPrescriptionRequest><mc:PersonIdentifier>0101701234</mc:PersonIdentifier></mc:GetPrescriptionRequest>`
	accessLog := `<mc:GetAccessLogRequest><mc:PersonIdentifier>0101701234</mc:PersonIdentifier><mc:From>2025-01-01T00:00:00Z</mc:From>` +
		`<mc:PageSize>2</mc:PageSize><mc:PageToken>t1</mc:PageToken></mc:GetAccessLogRequest>`
	consentHeaders := `<mc:MessageHeader><mc:MessageID>m1</mc:MessageID><mc:FlowID>f1</mc:FlowID></mc:MessageHeader>` +
		`<mc:ConsentHeader><mc:Consent>Given</mc:Consent><mc:EmergencyOverride>true</mc:EmergencyOverride></mc:ConsentHeader>`
	setRestriction := `<mc:SetAccessRestrictionRequest><mc:PersonIdentifier>0101701234</mc:PersonIdentifier>` +
		`<mc:MedicineCardVersion>0</mc:MedicineCardVersion><mc:Restricted>true</mc:Restricted></mc:SetAccessRestrictionRequest>`
	cases := []struct {
		golden      string
		contentType string
		body        string
		status      int
		svc         CardService // nil: fakeService
	}{
		{"set-access-restriction-11.xml", "text/xml", portalEnvelope(nsSOAP11, setRestriction), 200, memService(t, false)},
		{"set-access-restriction-12.xml", "application/soap+xml", portalEnvelope(nsSOAP12, setRestriction), 200, memService(t, false)},
		{"fault-access-restricted-11.xml", "text/xml", testEnvelope(nsSOAP11, get), 500, memService(t, true)},
		{"fault-access-restricted-12.xml", "application/soap+xml", testEnvelope(nsSOAP12, get), 500, memService(t, true)},
		{"get-access-log-11.xml", "text/xml", testEnvelopeWith(nsSOAP11, consentHeaders, accessLog), 200, nil},
		{"get-access-log-12.xml", "application/soap+xml", testEnvelopeWith(nsSOAP12, consentHeaders, accessLog), 200, nil},
		{"get-card-11.xml", "text/xml", testEnvelope(nsSOAP11, get), 200, nil},
		{"get-card-12.xml", "application/soap+xml", testEnvelope(nsSOAP12, get), 200, nil},
		{"fault-invalid-person-11.xml", "text/xml", testEnvelope(nsSOAP11, badPerson), 500, nil},
		{"fault-invalid-person-12.xml", "application/soap+xml", testEnvelope(nsSOAP12, badPerson), 500, nil},
		{"fault-busy-11.xml", "text/xml", testEnvelope(nsSOAP11, create), 500, nil},
		{"fault-busy-12.xml", "application/soap+xml", testEnvelope(nsSOAP12, create), 500, nil},
		{"write-result-11.xml", "text/xml", testEnvelope(nsSOAP11, pause), 200, nil},
		{"write-result-12.xml", "application/soap+xml", testEnvelope(nsSOAP12, pause), 200, nil},
		{"get-drug-medication-11.xml", "text/xml", testEnvelope(nsSOAP11, getDM), 200, nil},
		{"get-prescription-12.xml", "application/soap+xml", testEnvelope(nsSOAP12, getRx), 200, nil},
	}
	for _, tc := range cases {
		t.Run(tc.golden, func(t *testing.T) {
			var svc CardService = fakeService{}
			if tc.svc != nil {
				svc = tc.svc
			}
			h := NewHandler(svc, fakeSystems{}, nil, zap.NewNop(), Config{Now: func() time.Time { return testNow }})
			req := httptest.NewRequest(http.MethodPost, "/medcard", strings.NewReader(tc.body))
			req.Header.Set("Content-Type", tc.contentType)
			req.Header.Set(RequestIDHeader, "req-1")
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tc.status {
				t.Errorf("status = %d, want %d", rec.Code, tc.status)
			}
			if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, tc.contentType) {
				t.Errorf("Content-Type = %q, want %s", ct, tc.contentType)
			}
			path := filepath.Join("testdata", tc.golden)
			if *update {
				if err := os.WriteFile(path, rec.Body.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test ./soap -update to create it)", err)
			}
			if !bytes.Equal(rec.Body.Bytes(), want) {
				t.Errorf("response differs from %s:\ngot:  %s\nwant: %s", path, rec.Body.Bytes(), want)
			}
		})
	}
}

// TestWSDLServedOnGet: ?wsdl serves the WSDL and ?singleWsdl its view for
// .NET's importers, each with soap=1.1 its SOAP-1.1-only view (?wsdl when
// both are asked); without a view for .NET ?singleWsdl serves the WSDL;
// any other view, or a GET without either, is refused.
func TestWSDLServedOnGet(t *testing.T) {
	views := Config{WSDL: []byte("<wsdl/>"), WSDLSOAP11: []byte("<wsdl11/>"),
		SingleWSDL: []byte("<single/>"), SingleWSDLSOAP11: []byte("<single11/>")}
	cases := []struct {
		cfg    Config
		target string
		status int
		body   string
	}{
		{views, "/medcard?wsdl", 200, "<wsdl/>"},
		{views, "/medcard?WSDL", 200, "<wsdl/>"},
		{views, "/medcard?singleWsdl", 200, "<single/>"},
		{views, "/medcard?wsdl&soap=1.1", 200, "<wsdl11/>"},
		{views, "/medcard?singleWsdl&soap=1.1", 200, "<single11/>"},
		{views, "/medcard?singleWsdl&wsdl", 200, "<wsdl/>"},
		{views, "/medcard?wsdl&soap=1.2", http.StatusNotFound, ""},
		{views, "/medcard?singleWsdl&soap=1.2", http.StatusNotFound, ""},
		{views, "/medcard?wsdl&soap=", http.StatusNotFound, ""},
		{views, "/medcard", http.StatusMethodNotAllowed, ""},
		{views, "/medcard?soap=1.1", http.StatusMethodNotAllowed, ""},
		{Config{WSDL: []byte("<wsdl/>"), WSDLSOAP11: []byte("<wsdl11/>")}, "/medcard?singleWsdl", 200, "<wsdl/>"},
		{Config{WSDL: []byte("<wsdl/>"), WSDLSOAP11: []byte("<wsdl11/>")}, "/medcard?singleWsdl&soap=1.1", 200, "<wsdl11/>"},
		{Config{WSDL: []byte("<wsdl/>")}, "/medcard?wsdl&soap=1.1", http.StatusNotFound, ""},
		{Config{WSDL: []byte("<wsdl/>"), SingleWSDL: []byte("<single/>")}, "/medcard?singleWsdl&soap=1.1", http.StatusNotFound, ""},
	}
	for _, tc := range cases {
		h := NewHandler(fakeService{}, fakeSystems{}, nil, zap.NewNop(), tc.cfg)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, tc.target, nil))
		if rec.Code != tc.status || tc.status == 200 && rec.Body.String() != tc.body {
			t.Errorf("GET %s = %d %q, want %d %q", tc.target, rec.Code, rec.Body.String(), tc.status, tc.body)
		}
	}
}

func TestDigestToken(t *testing.T) {
	h := NewHandler(fakeService{}, fakeSystems{}, nil, zap.NewNop(), Config{Now: func() time.Time { return testNow }})
	created := testNow.Add(-time.Minute).Format(time.RFC3339)
	nonce := []byte("0123456789abcdef")
	tok := func(created, password string) *envelope.UsernameToken {
		return &envelope.UsernameToken{Username: "gp", Password: envelope.Password{Type: passwordDigest, Value: password},
			Nonce: "MDEyMzQ1Njc4OWFiY2RlZg==", Created: created}
	}
	good := digestOf(nonce, created, "s3cret")
	cases := []struct {
		name string
		tok  *envelope.UsernameToken
		ok   bool
	}{
		{"valid", tok(created, good), true},
		{"wrong secret", tok(created, digestOf(nonce, created, "nope")), false},
		{"created too old", tok(testNow.Add(-6*time.Minute).Format(time.RFC3339), digestOf(nonce, testNow.Add(-6*time.Minute).Format(time.RFC3339), "s3cret")), false},
		{"created in the future", tok(testNow.Add(6*time.Minute).Format(time.RFC3339), digestOf(nonce, testNow.Add(6*time.Minute).Format(time.RFC3339), "s3cret")), false},
		{"no created", tok("", good), false},
		{"short nonce", &envelope.UsernameToken{Username: "gp", Password: envelope.Password{Type: passwordDigest, Value: good}, Nonce: "YWI=", Created: created}, false},
	}
	for _, tc := range cases {
		err := h.checkDigest(context.Background(), tc.tok, "s3cret")
		if (err == nil) != tc.ok {
			t.Errorf("checkDigest(%s) = %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
}

// TestDispatchTableMatchesWSDL keeps the dispatch table and the WSDL we
// serve in step, in the shape the client generators need: every portType
// operation is served and nothing else; its input message has the wrapper
// element as its "parameters" part and a part for each header we read
// (wsse:Security, MessageHeader, WhitelistingHeader), bound as the body and
// as soap:header blocks of that same message in both bindings; its output
// is the response element, typed tns:WriteResultType wherever the table
// answers WriteResponse; its fault message is named apart from the
// detail element; no type derives from another (Mono's and .NET's
// importers refuse a wrapper that does); and both bindings carry the
// UsernameToken-over-HTTPS policy.
func TestDispatchTableMatchesWSDL(t *testing.T) {
	type ref struct {
		Message string `xml:"message,attr"`
		Part    string `xml:"part,attr"`
	}
	type named struct {
		Name    string `xml:"name,attr"`
		Type    string `xml:"type,attr"`
		Use     string `xml:"use,attr"`
		Parts   string `xml:"parts,attr"`
		Message string `xml:"message,attr"`
	}
	type bindingOp struct {
		Name    string  `xml:"name,attr"`
		Headers []ref   `xml:"input>header"`
		Body    []named `xml:"input>body"`
		Faults  []named `xml:"fault"`
	}
	type part struct {
		Name    string `xml:"name,attr"`
		Element string `xml:"element,attr"`
	}
	var defs struct {
		Policies []struct {
			ID  string `xml:"http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd Id,attr"`
			Raw string `xml:",innerxml"`
		} `xml:"http://www.w3.org/ns/ws-policy Policy"`
		Schemas []struct {
			TargetNamespace string  `xml:"targetNamespace,attr"`
			Elements        []named `xml:"element"`
			Raw             string  `xml:",innerxml"`
		} `xml:"types>schema"`
		Messages []struct {
			Name  string `xml:"name,attr"`
			Parts []part `xml:"part"`
		} `xml:"message"`
		Operations []struct {
			Name   string `xml:"name,attr"`
			Input  named  `xml:"input"`
			Output named  `xml:"output"`
			Fault  named  `xml:"fault"`
		} `xml:"portType>operation"`
		Bindings []struct {
			Name   string `xml:"name,attr"`
			Policy []struct {
				URI string `xml:"URI,attr"`
			} `xml:"http://www.w3.org/ns/ws-policy PolicyReference"`
			Operations []bindingOp `xml:"operation"`
		} `xml:"binding"`
	}
	if err := xml.Unmarshal(wsdl.Source(), &defs); err != nil {
		t.Fatalf("WSDL does not parse: %v", err)
	}
	elements := map[string]named{} // our schema's global elements
	for _, sc := range defs.Schemas {
		if sc.TargetNamespace == Namespace {
			for _, e := range sc.Elements {
				elements[e.Name] = e
			}
		}
		if strings.Contains(sc.Raw, "<xs:extension base=\"tns:") || strings.Contains(sc.Raw, "<xs:restriction base=\"tns:") {
			t.Errorf("schema %s derives a type from another of ours; Mono's and .NET's importers refuse such wrappers", sc.TargetNamespace)
		}
	}
	messages := map[string][]part{}
	for _, m := range defs.Messages {
		messages[m.Name] = m.Parts
	}
	served := map[string]*operation{}
	for _, op := range operations {
		served[string(op.name)] = op
		if want := (xml.Name{Space: Namespace, Local: string(op.name) + "Request"}); op.element != want {
			t.Errorf("%s is dispatched on %v, want %v", op.name, op.element, want)
		}
	}
	if len(defs.Bindings) != 2 {
		t.Fatalf("WSDL has %d bindings, want 2 (SOAP 1.1 and 1.2)", len(defs.Bindings))
	}
	inWSDL := map[string]bool{}
	for _, op := range defs.Operations {
		inWSDL[op.Name] = true
		entry := served[op.Name]
		if entry == nil {
			t.Errorf("WSDL operation %s has no entry in the dispatch table", op.Name)
			continue
		}
		request, response := op.Name+"Request", op.Name+"Response"
		if op.Input.Message != "tns:"+request || op.Output.Message != "tns:"+response {
			t.Errorf("%s: messages %s and %s, want tns:%s and tns:%s", op.Name, op.Input.Message, op.Output.Message, request, response)
		}
		wantInput := []part{{"parameters", "tns:" + request}, {"Security", "wsse:Security"},
			{"MessageHeader", "tns:MessageHeader"}, {"WhitelistingHeader", "tns:WhitelistingHeader"}}
		if got := messages[request]; !slices.Equal(got, wantInput) {
			t.Errorf("message %s has parts %v, want %v", request, got, wantInput)
		}
		if got, want := messages[response], []part{{"parameters", "tns:" + response}}; !slices.Equal(got, want) {
			t.Errorf("message %s has parts %v, want %v", response, got, want)
		}
		if _, ok := elements[request]; !ok {
			t.Errorf("the schema declares no element %s", request)
		}
		answer, ok := elements[response]
		switch {
		case !ok:
			t.Errorf("the schema declares no element %s", response)
		case entry.response == reflect.TypeFor[WriteResponse]() && answer.Type != "tns:WriteResultType":
			t.Errorf("element %s has type %q; %s answers WriteResponse, want tns:WriteResultType", response, answer.Type, op.Name)
		case entry.response != reflect.TypeFor[WriteResponse]() && answer.Type != "":
			t.Errorf("element %s has type %q; %s answers %v, which is not WriteResultType", response, answer.Type, op.Name, entry.response)
		}
		if op.Fault != (named{Name: "MedicineCardFault", Message: "tns:MedicineCardFaultMessage"}) {
			t.Errorf("%s: fault %+v, want MedicineCardFault with tns:MedicineCardFaultMessage", op.Name, op.Fault)
		}
		for _, b := range defs.Bindings {
			i := slices.IndexFunc(b.Operations, func(bo bindingOp) bool { return bo.Name == op.Name })
			if i < 0 {
				t.Errorf("binding %s lacks %s", b.Name, op.Name)
				continue
			}
			bo := b.Operations[i]
			wantHeaders := []ref{{"tns:" + request, "Security"}, {"tns:" + request, "MessageHeader"}, {"tns:" + request, "WhitelistingHeader"}}
			if !slices.Equal(bo.Headers, wantHeaders) || !slices.Equal(bo.Body, []named{{Use: "literal", Parts: "parameters"}}) || !slices.Equal(bo.Faults, []named{{Name: "MedicineCardFault"}}) {
				t.Errorf("binding %s, %s: headers %v, body %v, faults %v; want %v, the literal parameters, MedicineCardFault",
					b.Name, op.Name, bo.Headers, bo.Body, bo.Faults, wantHeaders)
			}
		}
	}
	if got, want := messages["MedicineCardFaultMessage"], []part{{"fault", "tns:MedicineCardFault"}}; !slices.Equal(got, want) {
		t.Errorf("message MedicineCardFaultMessage has parts %v, want %v", got, want)
	}
	for name := range elements {
		if _, ok := messages[name]; ok && !strings.HasSuffix(name, "Request") && !strings.HasSuffix(name, "Response") {
			t.Errorf("message %s shares its name with an element: Axis 1.4 then names one class %s_Element", name, name)
		}
	}
	for name := range served {
		if !inWSDL[name] {
			t.Errorf("dispatch table serves %s, which the WSDL's portType does not name", name)
		}
	}
	for _, b := range defs.Bindings {
		if len(b.Operations) != len(defs.Operations) {
			t.Errorf("binding %s has %d operations, the portType %d", b.Name, len(b.Operations), len(defs.Operations))
		}
		if len(b.Policy) != 1 || b.Policy[0].URI != "#UsernameTokenOverHttps" {
			t.Errorf("binding %s has policy references %+v, want #UsernameTokenOverHttps", b.Name, b.Policy)
		}
	}
	if len(defs.Policies) != 1 || defs.Policies[0].ID != "UsernameTokenOverHttps" {
		t.Fatalf("WSDL has policies %+v, want one, UsernameTokenOverHttps", defs.Policies)
	}
	for _, assertion := range []string{"<sp:TransportBinding>", "<sp:HttpsToken>", "<sp:SignedSupportingTokens>",
		`<sp:UsernameToken sp:IncludeToken="http://docs.oasis-open.org/ws-sx/ws-securitypolicy/200702/IncludeToken/AlwaysToRecipient">`,
		"<sp:WssUsernameToken10/>"} {
		if !strings.Contains(defs.Policies[0].Raw, assertion) {
			t.Errorf("the policy lacks %s", assertion)
		}
	}
}

// TestEveryOperationAnswersItsResponse sends every operation of the table
// and checks the answer is its own <Op>Response wrapper.
func TestEveryOperationAnswersItsResponse(t *testing.T) {
	h := NewHandler(fakeService{}, fakeSystems{}, nil, zap.NewNop(), Config{Now: func() time.Time { return testNow }})
	for _, op := range operations {
		for _, v := range []envelope.Version{envelope.SOAP11, envelope.SOAP12} {
			body := `<mc:` + string(op.name) + `Request><mc:PersonIdentifier>0101701234</mc:PersonIdentifier>` +
				`<mc:DrugMedicationIdentifier>1</mc:DrugMedicationIdentifier></mc:` + string(op.name) + `Request>`
			if op.name == medcard.OpAcknowledgeOrders { // takes orders, not a person
				body = `<mc:AcknowledgeOrdersRequest><mc:Order><mc:PersonIdentifier>0101701234</mc:PersonIdentifier>` +
					`<mc:MedicineCardVersion>1</mc:MedicineCardVersion><mc:OrderIdentifier>1</mc:OrderIdentifier></mc:Order></mc:AcknowledgeOrdersRequest>`
			}
			req := httptest.NewRequest(http.MethodPost, "/medcard", strings.NewReader(testEnvelope(v.Namespace(), body)))
			req.Header.Set("Content-Type", v.ContentType())
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if op.name == medcard.OpCreateDrugMedication { // the fake is always busy there
				continue
			}
			var env struct {
				Body struct {
					Response struct{ XMLName xml.Name } `xml:",any"`
				} `xml:"Body"`
			}
			if err := xml.Unmarshal(rec.Body.Bytes(), &env); err != nil || rec.Code != http.StatusOK {
				t.Errorf("%s (SOAP %d) = %d %v: %s", op.name, v, rec.Code, err, rec.Body.String())
				continue
			}
			if want := (xml.Name{Space: Namespace, Local: string(op.name) + "Response"}); env.Body.Response.XMLName != want {
				t.Errorf("%s (SOAP %d) answered %v, want %v", op.name, v, env.Body.Response.XMLName, want)
			}
		}
	}
}

// TestEveryWriteNamesItsOperation sends every write of the table and
// checks that the domain request it reaches Change with names the
// operation of its wrapper element: a request type serving several
// operations must be told the right one.
func TestEveryWriteNamesItsOperation(t *testing.T) {
	reads := map[medcard.Operation]bool{medcard.OpGetMedicineCard: true, medcard.OpGetDrugMedication: true, medcard.OpGetPrescription: true,
		medcard.OpGetNewOrders: true, medcard.OpAcknowledgeOrders: true, // AcknowledgeOrders: several writes, tested end to end
		medcard.OpGetAccessLog: true}
	for _, op := range operations {
		if reads[op.name] || op.name == medcard.OpCreateDrugMedication { // the fake is always busy there
			continue
		}
		var got any
		h := NewHandler(fakeService{got: &got}, fakeSystems{}, nil, zap.NewNop(), Config{Now: func() time.Time { return testNow }})
		body := `<mc:` + string(op.name) + `Request><mc:PersonIdentifier>0101701234</mc:PersonIdentifier></mc:` + string(op.name) + `Request>`
		req := httptest.NewRequest(http.MethodPost, "/medcard", strings.NewReader(testEnvelope(nsSOAP11, body)))
		req.Header.Set("Content-Type", "text/xml")
		h.ServeHTTP(httptest.NewRecorder(), req)
		change, ok := got.(medcard.ChangeRequest)
		if !ok {
			t.Errorf("%s reached Change with %T, want a medcard.ChangeRequest", op.name, got)
			continue
		}
		if change.Operation() != op.name {
			t.Errorf("%s reached Change as %T naming %q, want %q", op.name, change, change.Operation(), op.name)
		}
	}
}

// TestRequestMapping checks that wrapper elements reach the domain as the
// requests they stand for.
func TestRequestMapping(t *testing.T) {
	const p = `<mc:PersonIdentifier>0101701234</mc:PersonIdentifier><mc:MedicineCardVersion>7</mc:MedicineCardVersion>`
	cases := []struct {
		name string
		body string
		want any
	}{
		{"UpdateDrugMedication",
			`<mc:UpdateDrugMedicationRequest>` + p + `<mc:DrugMedicationIdentifier>3</mc:DrugMedicationIdentifier><mc:Dosage><mc:Text>1 dagligt</mc:Text></mc:Dosage>` +
				`<mc:Indication><mc:Code>K1</mc:Code><mc:Text>smerter</mc:Text></mc:Indication><mc:EndDate>2027-01-01</mc:EndDate></mc:UpdateDrugMedicationRequest>`,
			medcard.DrugMedicationRequest{PersonID: "0101701234", BasedOnCardVersion: 7, Change: medcard.DrugMedicationChange{
				Op: medcard.OpUpdateDrugMedication, DrugMedicationID: 3, Dosage: medcard.Dosage{Text: "1 dagligt"}, Indication: medcard.Indication{Code: "K1", Text: "smerter"}, EndDate: "2027-01-01"}}},
		{"UnwithdrawDrugMedication",
			`<mc:UnwithdrawDrugMedicationRequest>` + p + `<mc:DrugMedicationIdentifier>3</mc:DrugMedicationIdentifier></mc:UnwithdrawDrugMedicationRequest>`,
			medcard.DrugMedicationRequest{PersonID: "0101701234", BasedOnCardVersion: 7, Change: medcard.DrugMedicationChange{Op: medcard.OpUnwithdrawDrugMedication, DrugMedicationID: 3}}},
		{"SetMedicineCardNotReviewed",
			`<mc:SetMedicineCardNotReviewedRequest>` + p + `</mc:SetMedicineCardNotReviewedRequest>`,
			medcard.CardReviewRequest{Op: medcard.OpSetMedicineCardNotReviewed, PersonID: "0101701234", BasedOnCardVersion: 7}},
		{"SetAccessRestriction",
			`<mc:SetAccessRestrictionRequest>` + p + `<mc:Restricted>true</mc:Restricted></mc:SetAccessRestrictionRequest>`,
			medcard.AccessRestrictionRequest{PersonID: "0101701234", BasedOnCardVersion: 7, Restricted: true}},
		{"SetAccessRestriction lifting, Restricted absent",
			`<mc:SetAccessRestrictionRequest>` + p + `</mc:SetAccessRestrictionRequest>`,
			medcard.AccessRestrictionRequest{PersonID: "0101701234", BasedOnCardVersion: 7}},
		{"StartEffectuation",
			`<mc:StartEffectuationRequest>` + p + `<mc:OrderIdentifier>9</mc:OrderIdentifier></mc:StartEffectuationRequest>`,
			medcard.OrderActionRequest{Op: medcard.OpStartEffectuation, PersonID: "0101701234", BasedOnCardVersion: 7, OrderID: 9}},
		{"UpdateMedicineCard",
			`<mc:UpdateMedicineCardRequest>` + p +
				`<mc:CreateDrugMedication><mc:Drug><mc:Identifier>1</mc:Identifier><mc:Name>Pinex</mc:Name></mc:Drug><mc:Dosage><mc:Text>2</mc:Text></mc:Dosage><mc:Indication><mc:Text>smerter</mc:Text></mc:Indication><mc:BeginDate>2026-11-01</mc:BeginDate></mc:CreateDrugMedication>` +
				`<mc:Change><mc:Operation>Update</mc:Operation><mc:DrugMedicationIdentifier>1</mc:DrugMedicationIdentifier><mc:Dosage><mc:Text>3</mc:Text></mc:Dosage></mc:Change>` +
				`<mc:Change><mc:Operation>Pause</mc:Operation><mc:DrugMedicationIdentifier>2</mc:DrugMedicationIdentifier></mc:Change>` +
				`<mc:Change><mc:Operation>Unpause</mc:Operation><mc:DrugMedicationIdentifier>3</mc:DrugMedicationIdentifier></mc:Change>` +
				`<mc:Change><mc:Operation>Withdraw</mc:Operation><mc:DrugMedicationIdentifier>4</mc:DrugMedicationIdentifier></mc:Change>` +
				`<mc:Change><mc:Operation>Unwithdraw</mc:Operation><mc:DrugMedicationIdentifier>5</mc:DrugMedicationIdentifier></mc:Change>` +
				`<mc:Change><mc:Operation>Explode</mc:Operation><mc:DrugMedicationIdentifier>6</mc:DrugMedicationIdentifier></mc:Change>` +
				`<mc:SetReviewed>true</mc:SetReviewed></mc:UpdateMedicineCardRequest>`,
			medcard.UpdateMedicineCardRequest{PersonID: "0101701234", BasedOnCardVersion: 7, SetReviewed: true,
				Create: []medcard.NewDrugMedication{{Drug: medcard.Drug{Identifier: "1", Name: "Pinex"}, Dosage: medcard.Dosage{Text: "2"},
					Indication: medcard.Indication{Text: "smerter"}, BeginDate: "2026-11-01"}},
				Change: []medcard.DrugMedicationChange{
					{Op: medcard.OpUpdateDrugMedication, DrugMedicationID: 1, Dosage: medcard.Dosage{Text: "3"}},
					{Op: medcard.OpPauseDrugMedication, DrugMedicationID: 2},
					{Op: medcard.OpUnpauseDrugMedication, DrugMedicationID: 3},
					{Op: medcard.OpWithdrawDrugMedication, DrugMedicationID: 4},
					{Op: medcard.OpUnwithdrawDrugMedication, DrugMedicationID: 5},
					{Op: "", DrugMedicationID: 6}, // the domain refuses it
				}}},
		{"CreatePrescription",
			`<mc:CreatePrescriptionRequest>` + p + `<mc:Drug><mc:Identifier>1</mc:Identifier><mc:Name>Pinex</mc:Name></mc:Drug><mc:PackageNumber>043298</mc:PackageNumber>` +
				`<mc:PackageQuantity>2</mc:PackageQuantity><mc:Iterations>3</mc:Iterations><mc:IterationIntervalDays>30</mc:IterationIntervalDays>` +
				`<mc:ValidFrom>2026-11-01</mc:ValidFrom><mc:ValidTo>2027-11-01</mc:ValidTo><mc:DosageText>2 dagligt</mc:DosageText></mc:CreatePrescriptionRequest>`,
			medcard.CreatePrescriptionRequest{PersonID: "0101701234", BasedOnCardVersion: 7, Drug: medcard.Drug{Identifier: "1", Name: "Pinex"},
				PackageNumber: "043298", PackageQuantity: 2, Iterations: 3, IterationIntervalDays: 30,
				ValidFrom: "2026-11-01", ValidTo: "2027-11-01", DosageText: "2 dagligt"}},
		{"CreatePharmacyEffectuation",
			`<mc:CreatePharmacyEffectuationRequest>` + p + `<mc:OrderIdentifier>9</mc:OrderIdentifier><mc:PackagesDispensed>2</mc:PackagesDispensed><mc:Terminate>true</mc:Terminate></mc:CreatePharmacyEffectuationRequest>`,
			medcard.EffectuationRequest{PersonID: "0101701234", BasedOnCardVersion: 7, OrderID: 9, PackagesDispensed: 2, Terminate: true}},
		{"UndoEffectuation",
			`<mc:UndoEffectuationRequest>` + p + `<mc:EffectuationIdentifier>11</mc:EffectuationIdentifier></mc:UndoEffectuationRequest>`,
			medcard.UndoEffectuationRequest{PersonID: "0101701234", BasedOnCardVersion: 7, EffectuationID: 11}},
		{"ResolveConflict chosen",
			`<mc:ResolveConflictRequest>` + p + `<mc:DrugMedicationIdentifier>3</mc:DrugMedicationIdentifier><mc:ChosenVariant>2</mc:ChosenVariant></mc:ResolveConflictRequest>`,
			medcard.ResolveConflictRequest{PersonID: "0101701234", BasedOnCardVersion: 7, DrugMedicationID: 3, ChosenVariant: 2}},
		{"ResolveConflict replaced",
			`<mc:ResolveConflictRequest>` + p + `<mc:DrugMedicationIdentifier>3</mc:DrugMedicationIdentifier><mc:Replacement><mc:Dosage><mc:Text>1</mc:Text></mc:Dosage><mc:Status>Paused</mc:Status></mc:Replacement></mc:ResolveConflictRequest>`,
			medcard.ResolveConflictRequest{PersonID: "0101701234", BasedOnCardVersion: 7, DrugMedicationID: 3,
				Replacement: &medcard.ConflictReplacement{Dosage: medcard.Dosage{Text: "1"}, Status: medcard.DrugMedicationPaused}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var got any
			h := NewHandler(fakeService{got: &got}, fakeSystems{}, nil, zap.NewNop(), Config{Now: func() time.Time { return testNow }})
			req := httptest.NewRequest(http.MethodPost, "/medcard", strings.NewReader(testEnvelope(nsSOAP11, tc.body)))
			req.Header.Set("Content-Type", "text/xml")
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != http.StatusOK {
				t.Fatalf("status %d: %s", rec.Code, rec.Body.String())
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("domain request differs (-want +got):\n%s", diff)
			}
		})
	}
}

// TestByteOrderMarkBeforeTheEnvelope: WCF's text encoder writes a UTF-8
// byte-order mark before <?xml, which XML allows; the request is served.
// A mark anywhere else is still text before the envelope.
func TestByteOrderMarkBeforeTheEnvelope(t *testing.T) {
	get := `<mc:GetMedicineCardRequest><mc:PersonIdentifier>0101701234</mc:PersonIdentifier></mc:GetMedicineCardRequest>`
	h := NewHandler(fakeService{}, fakeSystems{}, nil, zap.NewNop(), Config{Now: func() time.Time { return testNow }})
	for _, tc := range []struct {
		name, body string
		status     int
	}{
		{"mark, then the declaration", utf8BOM + `<?xml version="1.0" encoding="utf-8"?>` + testEnvelope(nsSOAP12, get), 200},
		{"mark, then the envelope", utf8BOM + testEnvelope(nsSOAP12, get), 200},
		{"mark after the declaration", `<?xml version="1.0" encoding="utf-8"?>` + utf8BOM + testEnvelope(nsSOAP12, get), 500},
	} {
		req := httptest.NewRequest(http.MethodPost, "/medcard", strings.NewReader(tc.body))
		req.Header.Set("Content-Type", "application/soap+xml; charset=utf-8")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != tc.status {
			t.Errorf("%s: status %d, want %d: %s", tc.name, rec.Code, tc.status, rec.Body.String())
		}
	}
}

// TestVocabularyHasOurNames: the lexer's vocabulary holds the names our
// requests are made of, read from the payloads' xml tags.
func TestVocabularyHasOurNames(t *testing.T) {
	v := vocabularyOf(operations)
	for _, w := range []string{Namespace, "GetMedicineCardRequest", "PersonIdentifier", "IncludePrescriptions",
		"MessageHeader", "WhitelistingHeader", "RequestedRole", "DrugMedication", "Dosage", "Text", "Envelope", envelope.PasswordText} {
		if !v.Has(w) {
			t.Errorf("the vocabulary lacks %q", w)
		}
	}
}

// TestParsesWaitTheirTurn: with every parse turn taken, a request waits
// within its deadline and is then answered ServiceUnavailable (retryable),
// its body unparsed and nothing served; once a turn is free it is served.
func TestParsesWaitTheirTurn(t *testing.T) {
	var mu sync.Mutex
	var served []string
	h := NewHandler(recordingService{mu: &mu, served: &served}, fakeSystems{}, nil, zap.NewNop(),
		Config{Now: func() time.Time { return testNow }, Timeout: 50 * time.Millisecond, MaxConcurrentParses: 1})
	send := func() *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodPost, "/medcard", strings.NewReader(testEnvelope(nsSOAP11, getCardBody)))
		req.Header.Set("Content-Type", "text/xml")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	h.parses <- struct{}{} // another request's turn
	start := time.Now()
	rec := send()
	if took := time.Since(start); rec.Code != http.StatusInternalServerError || faultIDOf(rec.Body.Bytes()) != medcard.FaultUnavailable.ID || took < 50*time.Millisecond {
		t.Errorf("with no turn free: %d %s after %v, want %s after the 50 ms deadline", rec.Code, faultIDOf(rec.Body.Bytes()), took, medcard.FaultUnavailable.ID)
	}
	if len(served) != 0 {
		t.Errorf("served %v while waiting for a turn", served)
	}
	<-h.parses
	if rec := send(); rec.Code != http.StatusOK {
		t.Errorf("with a turn free: %d %s, want 200", rec.Code, rec.Body.String())
	}
}
