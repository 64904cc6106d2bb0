package main

import (
	"context"
	"encoding/xml"
	"errors"
	"testing"

	"github.com/sharedmedcard/gateway/internal/wsdlclient"
	"github.com/sharedmedcard/gateway/medcard"
	"github.com/sharedmedcard/gateway/shard"
	"github.com/sharedmedcard/gateway/soap"
)

// citizenPortal is a citizen portal's system, granted the Citizen role
// only, registered by registerCitizenPortal.
var citizenPortal = actor{system: "test-citizen-portal", secret: "test-citizen-portal-secret", role: "Citizen", org: "SOR:min-log"}

func registerCitizenPortal(t *testing.T) {
	t.Helper()
	catalog, err := env.cluster.NewCatalog()
	if err != nil {
		t.Fatal(err)
	}
	err = catalog.AddSystem(context.Background(), medcard.System{Name: citizenPortal.system, Secret: citizenPortal.secret,
		Roles: []medcard.Role{medcard.RoleCitizen}})
	if err != nil && !errors.Is(err, shard.ErrSystemExists) {
		t.Fatal(err)
	}
}

// consentHeader is a ConsentHeader block as a request's extra header.
func consentHeader(consent, override string) string {
	return `<c:ConsentHeader xmlns:c="` + soap.Namespace + `"><c:Consent>` + consent + `</c:Consent>` +
		`<c:EmergencyOverride>` + override + `</c:EmergencyOverride></c:ConsentHeader>`
}

// TestAccessLogEndToEnd: through the whole gateway, a citizen portal reads
// a person's access log, newest first and paged: the changes made (with
// the items they touched) and the look-ups, each with its system,
// organisation, role, consent and emergency override as sent in the
// ConsentHeader. A clinician may not read the log, a nurse may not ask for
// an override, and the portal's own reads are in the log.
func TestAccessLogEndToEnd(t *testing.T) {
	requireEnv(t)
	registerCitizenPortal(t)
	for _, soap12 := range []bool{false, true} {
		f := newFixture(t, soap12) // a drug medication and a prescription, by the doctor
		body, err := xml.Marshal(&wsdlclient.GetMedicineCardRequest{PersonIdentifier: f.pid()})
		if err != nil {
			t.Fatal(err)
		}
		status, raw := call{soap12: soap12, system: pharmacist.system, role: pharmacist.role, org: pharmacist.org,
			extraHeader: consentHeader("Given", "false"), body: string(body)}.do(t)
		responseBody(t, status, raw, &soap.GetMedicineCardResponse{})
		status, raw = call{soap12: soap12, extraHeader: consentHeader("Withdrawn", "true"), body: string(body)}.do(t)
		responseBody(t, status, raw, &soap.GetMedicineCardResponse{})
		status, raw = call{soap12: soap12, role: "Nurse", extraHeader: consentHeader("None", "true"), body: string(body)}.do(t)
		if id := parseFault(t, raw).Identifier; status != 500 || id != "RoleNotAllowed" {
			t.Errorf("a nurse's override = %d %s, want RoleNotAllowed", status, id)
		}
		if err := env.gw.FlushAudits(context.Background()); err != nil {
			t.Fatal(err)
		}

		type seen struct {
			op, system, org, role, consent string
			override                       bool
			items                          int
		}
		want := []seen{
			{"GetMedicineCard", "demo-gp", "SOR:483711000016009", "Doctor", "Withdrawn", true, 0},
			{"GetMedicineCard", "demo-pharmacy", pharmacist.org, "Pharmacist", "Given", false, 0},
			{"CreatePrescription", "demo-gp", "SOR:483711000016009", "Doctor", "None", false, 1},
			{"CreateDrugMedication", "demo-gp", "SOR:483711000016009", "Doctor", "None", false, 1},
		}
		var got []seen
		req := &wsdlclient.GetAccessLogRequest{PersonIdentifier: f.pid(), PageSize: 3}
		for pages := 0; pages < 3; pages++ {
			status, raw := citizenPortal.send(t, soap12, req)
			var page soap.GetAccessLogResponse
			responseBody(t, status, raw, &page)
			if len(page.Entry) > 3 {
				t.Fatalf("page of %d entries, asked for 3", len(page.Entry))
			}
			for _, e := range page.Entry {
				got = append(got, seen{e.Operation, e.SystemName, e.OrganisationIdentifier, e.Role, e.Consent, e.EmergencyOverride, len(e.Item)})
			}
			if page.NextPageToken == "" {
				break
			}
			req.PageToken = page.NextPageToken
		}
		if len(got) != len(want) {
			t.Fatalf("soap12=%v: log = %+v, want %+v", soap12, got, want)
		}
		for i := range want {
			if got[i] != want[i] {
				t.Errorf("soap12=%v: entry %d = %+v, want %+v", soap12, i, got[i], want[i])
			}
		}

		// The portal's reads of the log are in it now.
		if err := env.gw.FlushAudits(context.Background()); err != nil {
			t.Fatal(err)
		}
		status, raw = citizenPortal.send(t, soap12, &wsdlclient.GetAccessLogRequest{PersonIdentifier: f.pid(), PageSize: 1})
		var newest soap.GetAccessLogResponse
		responseBody(t, status, raw, &newest)
		if len(newest.Entry) != 1 || newest.Entry[0].Operation != "GetAccessLog" || newest.Entry[0].SystemName != citizenPortal.system {
			t.Errorf("newest entry = %+v, want the portal's read of the log", newest.Entry)
		}
		f.refused(t, doctor, &wsdlclient.GetAccessLogRequest{PersonIdentifier: f.pid()}, "RoleNotAllowed")
		f.refused(t, citizenPortal, &wsdlclient.GetAccessLogRequest{PersonIdentifier: f.pid(), PageToken: "forged"}, "InvalidFieldValue")
	}
}
