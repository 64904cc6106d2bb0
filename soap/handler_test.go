package soap

import (
	"bytes"
	"context"
	"flag"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/sharedmedcard/gateway/medcard"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

var testNow = time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)

// fakeService answers from fixed data; the real service is tested with
// real databases in cmd/gateway.
type fakeService struct{}

func (fakeService) GetMedicineCard(_ context.Context, _ medcard.Caller, _ string, q medcard.CardQuery) (*medcard.Card, error) {
	p, err := medcard.ParsePersonID(q.PersonID)
	if err != nil {
		return nil, err
	}
	stamp := medcard.Stamp{By: medcard.Modifier{AuthorisationID: "A1B2C", Role: medcard.RoleDoctor, Organisation: "SOR:1", System: "gp"}, At: testNow}
	return &medcard.Card{PersonID: p, Version: 3, DrugMedications: []medcard.DrugMedication{{
		ID: 1, Version: 1, CardVersion: 1, Status: medcard.DrugMedicationActive,
		Drug:      medcard.Drug{Identifier: "28100636072", Name: "Pinex & co", Strength: "500 mg"},
		Dosage:    medcard.Dosage{Text: "2 tabletter"},
		BeginDate: "2026-01-01", Created: stamp, Modified: stamp,
	}}, Prescriptions: []medcard.Prescription{{
		ID: 2, Version: 1, CardVersion: 2, DrugMedicationID: 1, Status: medcard.PrescriptionOpen,
		Drug: medcard.Drug{Identifier: "28100636072", Name: "Pinex"}, PackageNumber: "043298", PackageQuantity: 1,
		ValidFrom: "2026-01-01", ValidTo: "2028-01-01", DosageText: "2 tabletter", Created: stamp,
	}}}, nil
}

func (fakeService) CreateDrugMedication(context.Context, medcard.Caller, string, medcard.CreateDrugMedicationRequest) (*medcard.WriteResult, error) {
	return nil, medcard.Errorf(medcard.FaultCardBusy, "busy")
}

type fakeSystems struct{}

func (fakeSystems) System(_ context.Context, name string) (medcard.System, error) {
	if name != "gp" {
		return medcard.System{}, medcard.Errorf(medcard.FaultNotAuthenticated, "unknown system")
	}
	return medcard.System{Name: "gp", Secret: "s3cret", Roles: []medcard.Role{medcard.RoleDoctor}}, nil
}

func testEnvelope(ns, body string) string {
	return `<s:Envelope xmlns:s="` + ns + `" xmlns:mc="` + Namespace + `" xmlns:wsse="` + nsWSSE + `"><s:Header>` +
		`<wsse:Security><wsse:UsernameToken><wsse:Username>gp</wsse:Username><wsse:Password>s3cret</wsse:Password></wsse:UsernameToken></wsse:Security>` +
		`<mc:MessageHeader><mc:MessageID>m1</mc:MessageID></mc:MessageHeader>` +
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
	cases := []struct {
		golden      string
		contentType string
		body        string
		status      int
	}{
		{"get-card-11.xml", "text/xml", testEnvelope(nsSOAP11, get), 200},
		{"get-card-12.xml", "application/soap+xml", testEnvelope(nsSOAP12, get), 200},
		{"fault-invalid-person-11.xml", "text/xml", testEnvelope(nsSOAP11, badPerson), 500},
		{"fault-invalid-person-12.xml", "application/soap+xml", testEnvelope(nsSOAP12, badPerson), 400},
		{"fault-busy-11.xml", "text/xml", testEnvelope(nsSOAP11, create), 500},
		{"fault-busy-12.xml", "application/soap+xml", testEnvelope(nsSOAP12, create), 500},
	}
	h := NewHandler(fakeService{}, fakeSystems{}, nil, zap.NewNop(), Config{Now: func() time.Time { return testNow }})
	for _, tc := range cases {
		t.Run(tc.golden, func(t *testing.T) {
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

func TestWSDLServedOnGet(t *testing.T) {
	h := NewHandler(fakeService{}, fakeSystems{}, nil, zap.NewNop(), Config{WSDL: []byte("<wsdl/>")})
	for _, target := range []string{"/medcard?wsdl", "/medcard?WSDL"} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, target, nil))
		if rec.Code != 200 || rec.Body.String() != "<wsdl/>" {
			t.Errorf("GET %s = %d %q, want 200 <wsdl/>", target, rec.Code, rec.Body.String())
		}
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/medcard", nil))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("GET without ?wsdl = %d, want 405", rec.Code)
	}
}

func TestDigestToken(t *testing.T) {
	h := NewHandler(fakeService{}, fakeSystems{}, nil, zap.NewNop(), Config{Now: func() time.Time { return testNow }})
	created := testNow.Add(-time.Minute).Format(time.RFC3339)
	nonce := []byte("0123456789abcdef")
	tok := func(created, password string) *usernameToken {
		return &usernameToken{Username: "gp", Password: tokenPassword{Type: passwordDigest, Value: password},
			Nonce: "MDEyMzQ1Njc4OWFiY2RlZg==", Created: created}
	}
	good := digestOf(nonce, created, "s3cret")
	cases := []struct {
		name string
		tok  *usernameToken
		ok   bool
	}{
		{"valid", tok(created, good), true},
		{"wrong secret", tok(created, digestOf(nonce, created, "nope")), false},
		{"created too old", tok(testNow.Add(-6*time.Minute).Format(time.RFC3339), digestOf(nonce, testNow.Add(-6*time.Minute).Format(time.RFC3339), "s3cret")), false},
		{"created in the future", tok(testNow.Add(6*time.Minute).Format(time.RFC3339), digestOf(nonce, testNow.Add(6*time.Minute).Format(time.RFC3339), "s3cret")), false},
		{"no created", tok("", good), false},
		{"short nonce", &usernameToken{Username: "gp", Password: tokenPassword{Type: passwordDigest, Value: good}, Nonce: "YWI=", Created: created}, false},
	}
	for _, tc := range cases {
		err := h.checkDigest(context.Background(), tc.tok, "s3cret")
		if (err == nil) != tc.ok {
			t.Errorf("checkDigest(%s) = %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
}
