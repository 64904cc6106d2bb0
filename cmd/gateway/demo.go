package main

import (
	"fmt"
	"io"
	"net/url"
	"time"

	"github.com/sharedmedcard/gateway/internal/soapclient"
	"github.com/sharedmedcard/gateway/seed"
	"github.com/sharedmedcard/gateway/web"
)

// printDemo prints what a new user needs to call the gateway by hand: the
// endpoint, the WSDL and a curl that reads the demo person's card.
func printDemo(w io.Writer, endpoint string) {
	person := demoPerson()
	fmt.Fprintf(w, `
  SOAP endpoint  %[1]s
  WSDL           %[1]s?wsdl
  Demo system    demo-gp / demo-secret (roles Doctor, Nurse)
  Demo person    %[2]s
  Pharmacist UI  %[3]s  (user %[4]s, password %[5]s)

  Read the demo person's medicine card:

curl -s %[1]s -H 'Content-Type: text/xml; charset=utf-8' --data-binary '%[6]s'

`, endpoint, person, uiURL(endpoint), seed.DemoPharmacist, seed.DemoPharmacistPassword, demoEnvelope(endpoint, person))
}

// demoEnvelope reads person's card as demo-gp, with the secret as
// PasswordText: a request a person can read and send again (a digest
// would need a fresh nonce every time).
func demoEnvelope(endpoint, person string) string {
	r := soapclient.Request{Operation: "GetMedicineCard",
		Params:   "<mc:PersonIdentifier>" + person + "</mc:PersonIdentifier><mc:IncludePrescriptions>true</mc:IncludePrescriptions>",
		Identity: soapclient.Identity{System: "demo-gp", Secret: "demo-secret", Organisation: "SOR:483711000016009", Role: "Doctor"},
		Security: soapclient.TextToken, MessageID: "demo-1"}
	return string(soapclient.New(endpoint, nil).Envelope(&r))
}

// uiURL is the web UI's address on the host of the SOAP endpoint.
func uiURL(endpoint string) string {
	u, err := url.Parse(endpoint)
	if err != nil {
		return web.Path + "/"
	}
	u.Path, u.RawQuery = web.Path+"/", ""
	return u.String()
}

// demoPerson is the first seeded person whose card shows a bit of
// everything: several drug medications and a prescription.
func demoPerson() string {
	gen := seed.New(demoSeed, time.Now())
	for i := range defaultSeedPersons {
		if c := gen.Card(i); len(c.DrugMedications) >= 3 && len(c.Prescriptions) > 0 {
			return string(c.PersonID)
		}
	}
	return string(gen.Person(0))
}
