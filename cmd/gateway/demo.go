package main

import (
	"fmt"
	"io"
	"net/url"
	"time"

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

curl -s %[1]s -H 'Content-Type: text/xml; charset=utf-8' --data-binary '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" xmlns:mc="http://sharedmedcard.example/2026/01/medcard" xmlns:wsse="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"><soap:Header><wsse:Security><wsse:UsernameToken><wsse:Username>demo-gp</wsse:Username><wsse:Password Type="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordText">demo-secret</wsse:Password></wsse:UsernameToken></wsse:Security><mc:MessageHeader><mc:MessageID>demo-1</mc:MessageID></mc:MessageHeader><mc:WhitelistingHeader><mc:SystemName>demo-gp</mc:SystemName><mc:OrganisationIdentifier>SOR:483711000016009</mc:OrganisationIdentifier><mc:RequestedRole>Doctor</mc:RequestedRole></mc:WhitelistingHeader></soap:Header><soap:Body><mc:GetMedicineCardRequest><mc:PersonIdentifier>%[2]s</mc:PersonIdentifier><mc:IncludePrescriptions>true</mc:IncludePrescriptions></mc:GetMedicineCardRequest></soap:Body></soap:Envelope>'

`, endpoint, person, uiURL(endpoint), seed.DemoPharmacist, seed.DemoPharmacistPassword)
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
