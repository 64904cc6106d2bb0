package main

import (
	"context"
	"encoding/xml"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/sharedmedcard/gateway/internal/app"
	"github.com/sharedmedcard/gateway/internal/wsdlclient"
	"github.com/sharedmedcard/gateway/soap"
)

// restriction is the citizen's SetAccessRestriction of f's card.
func (f *fixture) restriction(restricted bool) *wsdlclient.SetAccessRestrictionRequest {
	return &wsdlclient.SetAccessRestrictionRequest{PersonIdentifier: f.pid(), MedicineCardVersion: f.v, Restricted: restricted}
}

// readAs sends req (a read of the generated client) as by to endpoint,
// with extraHeader, and returns the status and the fault's identifier
// (empty for an answer).
func readAs(t *testing.T, endpoint string, soap12 bool, by actor, extraHeader string, req any) (int, string) {
	t.Helper()
	body, err := xml.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	c := call{soap12: soap12, system: by.system, secret: by.secret, role: by.role, org: by.org, extraHeader: extraHeader, body: string(body)}
	var resp struct{}
	err = send(newLoadClient(t), endpoint, c, operationOf(req)+"Response", &resp)
	if err == nil {
		return http.StatusOK, ""
	}
	if _, id, ok := strings.Cut(err.Error(), "fault "); ok {
		return http.StatusInternalServerError, id
	}
	t.Fatalf("%s: %v", operationOf(req), err)
	return 0, ""
}

// TestAccessRestrictionEndToEnd: through whole gateways over PostgreSQL
// and Redis, the citizen portal restricts a card; a doctor's read served
// from the cache and one served by a gateway without a cache are both
// AccessRestricted, as are a nurse's and a pharmacist's reads; the
// citizen still reads it, and a pharmacy still orders; a doctor's
// emergency override reads it on either gateway, counted in
// medcard_emergency_overrides_total; the access log shows the restriction,
// the order and the two override reads (EmergencyOverride true) and none
// of the refused ones; lifted, the card reads as before.
func TestAccessRestrictionEndToEnd(t *testing.T) {
	requireEnv(t)
	registerCitizenPortal(t)
	uncached := startGateway(t, func(endpoint string) app.Config {
		cfg := env.config(endpoint, env.cluster.Redis.Addr)
		cfg.Cache = false
		return cfg
	})
	cached := &testGateway{gw: env.gw, endpoint: env.endpoint, base: env.server.URL}
	client := newLoadClient(t)
	override := consentHeader("None", "true")
	for _, soap12 := range []bool{false, true} {
		f := newFixture(t, soap12)
		getCard := &wsdlclient.GetMedicineCardRequest{PersonIdentifier: f.pid()}
		f.card(t) // in the cache now, if the write-through did not put it there
		f.write(t, citizenPortal, f.restriction(true))

		before := cached.scrape(t, client)
		if status, id := readAs(t, cached.endpoint, soap12, doctor, "", getCard); status != 500 || id != "AccessRestricted" {
			t.Errorf("soap12=%v: a doctor's cached read of a restricted card = %d %q, want AccessRestricted", soap12, status, id)
		}
		if hits, _ := cacheReads(before, cached.scrape(t, client)); hits < 1 {
			t.Errorf("soap12=%v: the doctor's read was not served from the cache (%v hits)", soap12, hits)
		}
		if status, id := readAs(t, uncached.endpoint, soap12, doctor, "", getCard); status != 500 || id != "AccessRestricted" {
			t.Errorf("soap12=%v: a doctor's uncached read of a restricted card = %d %q, want AccessRestricted", soap12, status, id)
		}
		for _, r := range []struct {
			by  actor
			req any
		}{
			{nurse, &wsdlclient.GetDrugMedicationRequest{PersonIdentifier: f.pid(), DrugMedicationIdentifier: f.dm}},
			{pharmacist, &wsdlclient.GetPrescriptionRequest{PersonIdentifier: f.pid()}},
			{pharmacist, getCard},
		} {
			if status, id := readAs(t, cached.endpoint, soap12, r.by, "", r.req); status != 500 || id != "AccessRestricted" {
				t.Errorf("soap12=%v: %s as %s = %d %q, want AccessRestricted", soap12, operationOf(r.req), r.by.role, status, id)
			}
		}
		if status, id := readAs(t, cached.endpoint, soap12, citizenPortal, "", getCard); status != 200 {
			t.Errorf("soap12=%v: the citizen's read of their restricted card = %d %q, want the card", soap12, status, id)
		}
		f.write(t, pharmacist, f.createOrder(f.rx)) // dispensing goes on

		// The doctor's emergency override, on each gateway: answered and counted.
		for _, g := range []*testGateway{cached, uncached} {
			before := g.scrape(t, client)
			if status, id := readAs(t, g.endpoint, soap12, doctor, override, getCard); status != 200 {
				t.Errorf("soap12=%v: a doctor's override read at %s = %d %q, want the card", soap12, g.base, status, id)
			}
			series := `medcard_emergency_overrides_total{op="GetMedicineCard"}`
			if n := delta(before, g.scrape(t, client), series); n != 1 {
				t.Errorf("soap12=%v: %s grew by %v, want 1", soap12, series, n)
			}
		}

		if err := env.gw.FlushAudits(context.Background()); err != nil {
			t.Fatal(err)
		}
		if err := uncached.gw.FlushAudits(context.Background()); err != nil {
			t.Fatal(err)
		}
		status, raw := citizenPortal.send(t, soap12, &wsdlclient.GetAccessLogRequest{PersonIdentifier: f.pid(), PageSize: 20})
		var page soap.GetAccessLogResponse
		responseBody(t, status, raw, &page)
		var sinceRestricted []string
		for _, e := range page.Entry {
			if e.Operation == "SetAccessRestriction" {
				if e.SystemName != citizenPortal.system || e.Role != "Citizen" {
					t.Errorf("soap12=%v: the restriction's entry = %+v, want the portal's", soap12, e)
				}
				break
			}
			if e.Role != "Citizen" {
				sinceRestricted = append(sinceRestricted, e.Operation+" override="+map[bool]string{true: "true", false: "false"}[e.EmergencyOverride])
			}
		}
		if want := "GetMedicineCard override=true\nGetMedicineCard override=true\nCreateOrder override=false"; strings.Join(sinceRestricted, "\n") != want {
			t.Errorf("soap12=%v: others' entries since the restriction, newest first:\n%s\nwant the two override reads and the order, none of the refused reads:\n%s",
				soap12, strings.Join(sinceRestricted, "\n"), want)
		}

		// Lifted (Restricted false, which the generated client leaves out):
		// every read is answered again, cached or not.
		f.write(t, citizenPortal, f.restriction(false))
		for _, g := range []*testGateway{cached, uncached} {
			if status, id := readAs(t, g.endpoint, soap12, doctor, "", getCard); status != 200 {
				t.Errorf("soap12=%v: a doctor's read at %s after lifting = %d %q, want the card", soap12, g.base, status, id)
			}
		}
		if status, id := readAs(t, cached.endpoint, soap12, pharmacist, "", getCard); status != 200 {
			t.Errorf("soap12=%v: a pharmacist's read after lifting = %d %q, want the card", soap12, status, id)
		}
	}
}

// TestRestrictedCardInTheUI: a pharmacist opening a card the citizen
// restricted is answered 403 with the UI's words, and no card content and
// no stack; lifted, the card page shows again.
func TestRestrictedCardInTheUI(t *testing.T) {
	e := requireEnv(t)
	registerCitizenPortal(t)
	f := newFixture(t, false)
	b := signedInPharmacist(t, e)
	f.write(t, citizenPortal, f.restriction(true))
	status, page := b.post("/card", url.Values{"cpr": {f.person}})
	if status != http.StatusForbidden || !strings.Contains(page, "The citizen has restricted access to this medicine card") {
		t.Fatalf("a restricted card's page = %d, want 403 saying the citizen restricted it:\n%s", status, page)
	}
	for _, leak := range []string{"Pinex", "goroutine", "EmergencyOverride", "ConsentHeader"} {
		if strings.Contains(page, leak) {
			t.Errorf("the restricted card's page shows %q:\n%s", leak, page)
		}
	}
	f.write(t, citizenPortal, f.restriction(false))
	if status, page := b.post("/card", url.Values{"cpr": {f.person}}); status != http.StatusOK || !strings.Contains(page, "Pinex") {
		t.Errorf("the card page after lifting = %d, want the card:\n%s", status, page)
	}
}
