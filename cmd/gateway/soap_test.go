package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/xml"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"

	"github.com/sharedmedcard/gateway/internal/app"
	"github.com/sharedmedcard/gateway/internal/soapclient"
	"github.com/sharedmedcard/gateway/seed"
	"github.com/sharedmedcard/gateway/shard"
	"github.com/sharedmedcard/gateway/soap"
)

func getCard(t *testing.T, person string, soap12 bool) soap.GetMedicineCardResponse {
	t.Helper()
	var resp soap.GetMedicineCardResponse
	status, raw := call{soap12: soap12, body: getCardBody(notePerson(person))}.do(t)
	responseBody(t, status, raw, &resp)
	return resp
}

func TestGetMedicineCardReturnsSeededCard(t *testing.T) {
	requireEnv(t)
	gen := seed.New(demoSeed, time.Now())
	want := gen.Card(benchPersons)
	for i := benchPersons; len(want.DrugMedications) == 0 && i < seededPersons; i++ {
		want = gen.Card(i) // the first untouched seeded person with a card
	}
	for _, soap12 := range []bool{false, true} {
		t.Run(fmt.Sprintf("soap12=%v", soap12), func(t *testing.T) {
			got := getCard(t, string(want.PersonID), soap12).MedicineCard
			if got.PersonIdentifier != string(want.PersonID) || got.MedicineCardVersion != want.Version {
				t.Errorf("card version = %d, want %d", got.MedicineCardVersion, want.Version)
			}
			if len(got.DrugMedication) != len(want.DrugMedications) || len(got.Prescription) != len(want.Prescriptions) {
				t.Fatalf("card has %d drug medications and %d prescriptions, want %d and %d",
					len(got.DrugMedication), len(got.Prescription), len(want.DrugMedications), len(want.Prescriptions))
			}
			for i, dm := range got.DrugMedication {
				w := want.DrugMedications[i]
				if dm.Identifier != w.ID || dm.Drug.Name != w.Drug.Name || dm.Dosage.Text != w.Dosage.Text || dm.Status != string(w.Status) {
					t.Errorf("drug medication %d = %+v, want %+v", i, dm, w)
				}
			}
		})
	}
}

func TestSOAP12AnswersInSOAP12(t *testing.T) {
	requireEnv(t)
	status, raw := call{soap12: true, body: getCardBody(freshPerson(t))}.do(t)
	if status != http.StatusOK || !bytes.Contains(raw, []byte(nsEnv12)) || bytes.Contains(raw, []byte(nsEnv11)) {
		t.Fatalf("SOAP 1.2 request answered with status %d: %s", status, raw)
	}
}

func TestCreateDrugMedicationThenRead(t *testing.T) {
	requireEnv(t)
	person := freshPerson(t)
	for i, soap12 := range []bool{false, true} {
		var created soap.CreateDrugMedicationResponse
		status, raw := call{soap12: soap12, body: createBody(person, int64(i), "Pinex")}.do(t)
		responseBody(t, status, raw, &created)
		if created.MedicineCardVersion != int64(i+1) || created.DrugMedicationIdentifier != int64(i+1) || created.DrugMedicationVersion != 1 {
			t.Errorf("create %d = %+v, want card version %d, item %d at version 1", i, created, i+1, i+1)
		}
		if len(created.Warning) != 0 {
			t.Errorf("create %d warned %+v, want no warning", i, created.Warning)
		}
	}
	card := getCard(t, person, false).MedicineCard
	if card.MedicineCardVersion != 2 || len(card.DrugMedication) != 2 {
		t.Fatalf("card = version %d with %d items, want version 2 with 2", card.MedicineCardVersion, len(card.DrugMedication))
	}
	dm := card.DrugMedication[1]
	if dm.ChangedInCardVersion != 2 || dm.Created.System != "demo-gp" || dm.Created.Role != "Doctor" || dm.BeginDate != "2026-11-01" {
		t.Errorf("second item = %+v", dm)
	}
}

func TestStaleVersionIsMergedWithWarning(t *testing.T) {
	requireEnv(t)
	person := freshPerson(t)
	for range 2 {
		status, raw := call{body: createBody(person, 0, "Pinex")}.do(t)
		var created soap.CreateDrugMedicationResponse
		responseBody(t, status, raw, &created)
		if created.MedicineCardVersion == 2 && (len(created.Warning) != 1 || created.Warning[0].Code != "VersionMismatchWarning") {
			t.Errorf("create based on version 0 of a version-1 card warned %+v, want VersionMismatchWarning", created.Warning)
		}
	}
	status, raw := call{body: createBody(person, 5, "Pinex")}.do(t)
	if f := parseFault(t, raw); status != http.StatusInternalServerError || f.Identifier != "InvalidMedicineCardVersion" {
		t.Errorf("create based on a future version = %d %+v, want 500 InvalidMedicineCardVersion", status, f)
	}
}

// TestConcurrentCreatesSamePerson: 50 concurrent creates for one person are
// all acknowledged, all land, and the card version advances by exactly 50.
func TestConcurrentCreatesSamePerson(t *testing.T) {
	requireEnv(t)
	person := string(seed.New(demoSeed, time.Now()).Person(3))
	before := getCard(t, person, false).MedicineCard
	const n = 50
	var wg sync.WaitGroup
	errs := make(chan string, n)
	versions := make(chan int64, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			status, raw := call{soap12: i%2 == 1, body: createBody(person, before.MedicineCardVersion, fmt.Sprintf("Drug %02d", i))}.do(t)
			if status != http.StatusOK {
				errs <- fmt.Sprintf("request %d: status %d: %s", i, status, raw)
				return
			}
			var created soap.CreateDrugMedicationResponse
			if err := soapclient.DecodeBody(raw, &created); err != nil {
				errs <- err.Error()
				return
			}
			versions <- created.MedicineCardVersion
		}()
	}
	wg.Wait()
	close(errs)
	close(versions)
	for e := range errs {
		t.Error(e)
	}
	seen := map[int64]bool{}
	for v := range versions {
		if seen[v] {
			t.Errorf("two writes were acknowledged with card version %d", v)
		}
		seen[v] = true
	}
	after := getCard(t, person, false).MedicineCard
	if after.MedicineCardVersion != before.MedicineCardVersion+n {
		t.Errorf("card version = %d, want %d + %d", after.MedicineCardVersion, before.MedicineCardVersion, n)
	}
	names := map[string]bool{}
	for _, dm := range after.DrugMedication {
		names[dm.Drug.Name] = true
	}
	for i := range n {
		if !names[fmt.Sprintf("Drug %02d", i)] {
			t.Errorf("Drug %02d is missing from the card", i)
		}
	}
	if len(after.DrugMedication) != len(before.DrugMedication)+n {
		t.Errorf("card has %d drug medications, want %d", len(after.DrugMedication), len(before.DrugMedication)+n)
	}
}

// TestResendIsIdempotent: the same request sent 5 times with one MessageID
// is applied once and answered the same every time.
func TestResendIsIdempotent(t *testing.T) {
	requireEnv(t)
	person := freshPerson(t)
	messageID := soapclient.NewMessageID()
	auditBefore := countRows(t, "audit_log WHERE operation = 'CreateDrugMedication'")
	var first soap.CreateDrugMedicationResponse
	for i := range 5 {
		status, raw := call{soap12: i%2 == 1, messageID: messageID, body: createBody(person, 0, "Pinex")}.do(t)
		var got soap.CreateDrugMedicationResponse
		responseBody(t, status, raw, &got)
		if i == 0 {
			first = got
			continue
		}
		if diff := cmp.Diff(first, got); diff != "" {
			t.Errorf("resend %d answered differently (-first +resend):\n%s", i, diff)
		}
	}
	card := getCard(t, person, false).MedicineCard
	if card.MedicineCardVersion != 1 || len(card.DrugMedication) != 1 {
		t.Errorf("after 5 sends the card is at version %d with %d items, want 1 and 1", card.MedicineCardVersion, len(card.DrugMedication))
	}
	if got := countRows(t, "audit_log WHERE operation = 'CreateDrugMedication'") - auditBefore; got != 1 {
		t.Errorf("%d change audit rows written, want 1", got)
	}

	// The same MessageID with a different body is refused and changes nothing.
	status, raw := call{messageID: messageID, body: createBody(person, 1, "Something else")}.do(t)
	if f := parseFault(t, raw); status != http.StatusInternalServerError || f.Identifier != "MessageIDReusedWithDifferentRequest" {
		t.Errorf("reused MessageID = %d %+v, want 500 MessageIDReusedWithDifferentRequest", status, f)
	}
	if v := getCard(t, person, false).MedicineCard.MedicineCardVersion; v != 1 {
		t.Errorf("card version after a refused reuse = %d, want 1", v)
	}
}

// TestFaultsWriteNothing sends bad requests of every kind and checks each
// gets the right fault, and that nothing was written for any of them.
func TestFaultsWriteNothing(t *testing.T) {
	requireEnv(t)
	person := freshPerson(t)
	valid := createBody(person, 0, "Pinex")
	big := strings.Repeat("<!-- padding -->", (1<<20)/16+1)
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	_, _ = zw.Write([]byte(call{body: valid}.envelope() + big))
	_ = zw.Close()

	cases := []struct {
		name     string
		soap12   bool
		raw      string // sent as is when set
		header   http.Header
		c        call
		status   int
		code     string // faultcode (1.1) or Code/Value (1.2)
		faultID  string
		retrying bool
	}{
		{name: "not XML", raw: "this is not xml", status: 500, code: "soap:Client", faultID: "MalformedMessage"},
		{name: "truncated", raw: call{body: valid}.envelope()[:300], status: 500, code: "soap:Client", faultID: "MalformedMessage"},
		{name: "not an envelope", raw: `<Envelope><Body/></Envelope>`, status: 500, code: "soap:VersionMismatch", faultID: "SOAPVersionMismatch"},
		{name: "DOCTYPE", raw: `<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]>` + call{body: valid}.envelope()[len(`<?xml version="1.0" encoding="UTF-8"?>`):], status: 500, code: "soap:Client", faultID: "MalformedMessage"},
		{name: "oversize", raw: call{body: valid}.envelope() + big, status: 500, code: "soap:Client", faultID: "MessageTooLarge"},
		{name: "oversize after gunzip", raw: gz.String(), header: http.Header{"Content-Encoding": {"gzip"}}, status: 500, code: "soap:Client", faultID: "MessageTooLarge"},
		{name: "too deep", c: call{body: `<mc:CreateDrugMedicationRequest>` + strings.Repeat("<mc:a>", 40) + strings.Repeat("</mc:a>", 40) + `</mc:CreateDrugMedicationRequest>`}, status: 500, code: "soap:Client", faultID: "MalformedMessage"},
		{name: "unknown operation", c: call{body: `<mc:EraseEverythingRequest/>`}, status: 500, code: "soap:Client", faultID: "UnknownOperation"},
		{name: "undeclared prefix", c: call{body: strings.ReplaceAll(valid, "mc:", "other:")}, status: 500, code: "soap:Client", faultID: "WrongNamespace"},
		{name: "wrong namespace", c: call{body: `<x:CreateDrugMedicationRequest xmlns:x="urn:other"><x:PersonIdentifier>` + person + `</x:PersonIdentifier></x:CreateDrugMedicationRequest>`}, status: 500, code: "soap:Client", faultID: "WrongNamespace"},
		{name: "two body elements", c: call{body: valid + valid}, status: 500, code: "soap:Client", faultID: "MalformedMessage"},
		{name: "mustUnderstand header", c: call{body: valid, extraHeader: `<x:Unknown xmlns:x="urn:x" s:mustUnderstand="1"/>`}, status: 500, code: "soap:MustUnderstand", faultID: "HeaderNotUnderstood"},
		{name: "wrong password", c: call{body: valid, secret: "guess"}, status: 500, code: "soap:Client", faultID: "NotAuthenticated"},
		{name: "text password over plain HTTP", c: call{body: valid, textPwd: true}, status: 500, code: "soap:Client", faultID: "PasswordTextRequiresTLS"},
		{name: "wrong text password over plain HTTP", c: call{body: valid, secret: "guess", textPwd: true}, status: 500, code: "soap:Client", faultID: "PasswordTextRequiresTLS"},
		{name: "unknown system", c: call{body: valid, system: "intruder"}, status: 500, code: "soap:Client", faultID: "NotAuthenticated"},
		{name: "role the system lacks", c: call{body: valid, role: "Pharmacist"}, status: 500, code: "soap:Client", faultID: "RoleNotAllowed"},
		{name: "role not allowed for operation", c: call{body: valid, system: "demo-pharmacy", role: "Pharmacist"}, status: 500, code: "soap:Client", faultID: "RoleNotAllowed"},
		{name: "invalid CPR date", c: call{body: createBody(notePerson("3102801234"), 0, "Pinex")}, status: 500, code: "soap:Client", faultID: "InvalidPersonIdentifier"},
		{name: "missing MessageID", c: call{body: valid, noMessageID: true}, status: 500, code: "soap:Client", faultID: "MissingMessageID"},
		{name: "missing drug name", c: call{body: strings.Replace(valid, "<mc:Name>Pinex</mc:Name>", "", 1)}, status: 500, code: "soap:Client", faultID: "RequiredFieldMissing"},
		{name: "version not a number", c: call{body: strings.Replace(valid, "<mc:MedicineCardVersion>0<", "<mc:MedicineCardVersion>zero<", 1)}, status: 500, code: "soap:Client", faultID: "MalformedMessage"},
		{name: "SOAP 1.2 unknown operation", soap12: true, c: call{soap12: true, body: `<mc:EraseEverythingRequest/>`}, status: 500, code: "env:Sender", faultID: "UnknownOperation"},
		{name: "SOAP 1.2 wrong password", soap12: true, c: call{soap12: true, body: valid, secret: "guess"}, status: 500, code: "env:Sender", faultID: "NotAuthenticated"},
		{name: "SOAP 1.2 mustUnderstand", soap12: true, c: call{soap12: true, body: valid, extraHeader: `<x:Unknown xmlns:x="urn:x" s:mustUnderstand="true"/>`}, status: 500, code: "env:MustUnderstand", faultID: "HeaderNotUnderstood"},
		{name: "SOAP 1.2 malformed", soap12: true, raw: "<nope", status: 500, code: "env:Sender", faultID: "MalformedMessage"},
	}
	before := [3]int64{countRows(t, "cards"), countRows(t, "write_outcomes"), countRows(t, "audit_log")}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			body := tc.raw
			if body == "" {
				body = tc.c.envelope()
			}
			status, raw := post(t, tc.soap12, []byte(body), tc.header)
			if status != tc.status {
				t.Errorf("status = %d, want %d; body: %.400s", status, tc.status, raw)
			}
			f := parseFault(t, raw)
			if f.Code != tc.code || f.Identifier != tc.faultID {
				t.Errorf("fault = %s %s, want %s %s; body: %.600s", f.Code, f.Identifier, tc.code, tc.faultID, raw)
			}
			if bytes.Contains(raw, []byte("goroutine")) || bytes.Contains(raw, []byte(".go:")) {
				t.Errorf("fault carries a stack trace: %s", raw)
			}
		})
	}
	after := [3]int64{countRows(t, "cards"), countRows(t, "write_outcomes"), countRows(t, "audit_log")}
	if before != after {
		t.Errorf("rows in cards, write_outcomes, audit_log went from %v to %v; bad requests must write nothing", before, after)
	}
	// And the gateway still serves.
	getCard(t, person, false)
}

func TestReplayedNonceRefused(t *testing.T) {
	requireEnv(t)
	envelope := call{body: getCardBody(freshPerson(t))}.envelope()
	if status, raw := post(t, false, []byte(envelope), nil); status != http.StatusOK {
		t.Fatalf("first use: status %d: %s", status, raw)
	}
	audits := countRows(t, "audit_log")
	status, raw := post(t, false, []byte(envelope), nil)
	if f := parseFault(t, raw); status != http.StatusInternalServerError || f.Identifier != "NotAuthenticated" {
		t.Errorf("replayed token = %d %+v, want 500 NotAuthenticated", status, f)
	}
	// The read ran alongside its nonce check; refused, it left no audit row.
	if after := countRows(t, "audit_log"); after != audits {
		t.Errorf("audit rows went from %d to %d after a replayed read; a refused read records nothing", audits, after)
	}
}

// TestWSDLCarriesPublicAddress: the WSDL, at each of its URLs, names the
// gateway's public address in every port; the SOAP-1.1 view has the one
// SOAP 1.1 port.
func TestWSDLCarriesPublicAddress(t *testing.T) {
	requireEnv(t)
	for _, tc := range []struct {
		query string
		ports []string
	}{
		{"?wsdl", []string{"MedicineCardSoap11Port", "MedicineCardSoap12Port"}},
		{"?singleWsdl", []string{"MedicineCardSoap11Port", "MedicineCardSoap12Port"}},
		{"?wsdl&soap=1.1", []string{"MedicineCardSoap11Port"}},
		{"?singleWsdl&soap=1.1", []string{"MedicineCardSoap11Port"}},
	} {
		resp, err := http.Get(env.endpoint + tc.query)
		if err != nil {
			t.Fatal(err)
		}
		var defs struct {
			TargetNamespace string `xml:"targetNamespace,attr"`
			Ports           []struct {
				Name    string `xml:"name,attr"`
				Address struct {
					Location string `xml:"location,attr"`
				} `xml:"address"`
			} `xml:"service>port"`
		}
		err = xml.NewDecoder(resp.Body).Decode(&defs)
		resp.Body.Close()
		if err != nil {
			t.Fatalf("WSDL at %s does not parse: %v", tc.query, err)
		}
		var ports []string
		for _, p := range defs.Ports {
			ports = append(ports, p.Name)
			if p.Address.Location != env.endpoint {
				t.Errorf("%s: port %s address = %q, want %q", tc.query, p.Name, p.Address.Location, env.endpoint)
			}
		}
		if defs.TargetNamespace != nsMedcard || !slices.Equal(ports, tc.ports) {
			t.Errorf("WSDL at %s: namespace %q with ports %v, want %q with %v", tc.query, defs.TargetNamespace, ports, nsMedcard, tc.ports)
		}
	}
}

func TestHealthAndReadiness(t *testing.T) {
	requireEnv(t)
	base := strings.TrimSuffix(env.endpoint, app.SOAPPath)
	for _, path := range []string{"/healthz", "/readyz"} {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s = %d, want 200", path, resp.StatusCode)
		}
	}
}

// TestCardsLandOnTheirShardDatabase checks in SQL that written cards live
// on the database the catalog maps their shard to.
func TestCardsLandOnTheirShardDatabase(t *testing.T) {
	requireEnv(t)
	ctx := context.Background()
	var persons []string
	for range 20 {
		p := freshPerson(t)
		status, raw := call{body: createBody(p, 0, "Pinex")}.do(t)
		if status != http.StatusOK {
			t.Fatalf("create: %d %s", status, raw)
		}
		persons = append(persons, p)
	}
	catalog, err := pgx.Connect(ctx, env.cluster.CatalogDSN)
	if err != nil {
		t.Fatal(err)
	}
	defer catalog.Close(ctx)
	for _, p := range persons {
		var owner string
		if err := catalog.QueryRow(ctx, `SELECT database FROM shard_map WHERE shard = $1`, shard.Of(p)).Scan(&owner); err != nil {
			t.Fatal(err)
		}
		for name, pool := range env.cluster.Shards {
			var n int
			if err := pool.QueryRow(ctx, `SELECT count(*) FROM cards WHERE person = $1 AND shard = shard_of($1)`, p).Scan(&n); err != nil {
				t.Fatal(err)
			}
			if want := map[bool]int{true: 1, false: 0}[name == owner]; n != want {
				t.Errorf("person on shard %d: %d rows on %s, want %d (owner %s)", shard.Of(p), n, name, want, owner)
			}
		}
	}
}

// TestLogsCarryNoPersonIdentifier runs a full request cycle, including
// faults about a person, and checks the captured logs for the identifiers.
func TestLogsCarryNoPersonIdentifier(t *testing.T) {
	requireEnv(t)
	person := freshPerson(t)
	call{body: createBody(person, 0, "Pinex")}.do(t)
	call{body: getCardBody(person)}.do(t)
	call{body: createBody(person, 99, "Pinex")}.do(t)             // fault: future version
	call{body: createBody(person, 0, "Pinex"), secret: "x"}.do(t) // fault: auth
	logs := env.logs.String()
	if !strings.Contains(logs, `"op":"CreateDrugMedication"`) || !strings.Contains(logs, `"shard":`) || !strings.Contains(logs, `"request_id":`) {
		t.Fatalf("logs lack the request fields; got:\n%.2000s", logs)
	}
	if leaked := env.personsInLogs(); len(leaked) > 0 {
		t.Errorf("%d person identifiers appear in the logs", len(leaked))
	}
}

// TestDemoCurlReadsTheCard sends the curl `make run` prints, as curl
// would, to a gateway serving HTTPS as `make run`'s does: it reads the
// demo person's card.
func TestDemoCurlReadsTheCard(t *testing.T) {
	requireEnv(t)
	hg := startHTTPSGateway(t, false)
	var out strings.Builder
	printDemo(&out, demoAddresses{endpoint: hg.endpoint, caFile: hg.certs.CACert, passwordTextAccepted: true})
	m := regexp.MustCompile(`curl -s --cacert (\S+) (\S+) -H 'Content-Type: ([^']+)' --data-binary '([^']+)'`).FindStringSubmatch(out.String())
	if m == nil || m[1] != hg.certs.CACert || m[2] != hg.endpoint || m[3] != "text/xml; charset=utf-8" {
		t.Fatalf("printDemo printed no curl to %s with its CA:\n%s", hg.endpoint, out.String())
	}
	person := notePerson(demoPerson())
	status, raw := mustSOAP(t, hg.client, hg.endpoint, m[4])
	var resp soap.GetMedicineCardResponse
	responseBody(t, status, raw, &resp)
	if resp.MedicineCard.PersonIdentifier != person {
		t.Errorf("the demo curl read the card of %q, want the demo person's", resp.MedicineCard.PersonIdentifier)
	}
}
