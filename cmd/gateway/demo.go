package main

import (
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"

	"github.com/sharedmedcard/gateway/internal/soapclient"
	"github.com/sharedmedcard/gateway/seed"
	"github.com/sharedmedcard/gateway/web"
)

// demoAddresses are where the demo gateway answers.
type demoAddresses struct {
	endpoint      string // the SOAP endpoint's public URL
	plainEndpoint string // the plain HTTP endpoint beside HTTPS (--listen-http); "" for none
	caFile        string // the CA certificate a client must trust (--demo-ca); "" for none
	// passwordTextAccepted: over TLS, to us or to a proxy in front, so
	// the printed curl's PasswordText is accepted.
	passwordTextAccepted bool
}

// printDemo prints what a new user needs to call the gateway by hand: the
// endpoint, the WSDL and a curl that reads the demo person's card.
func printDemo(w io.Writer, a demoAddresses) {
	person := demoPerson()
	fmt.Fprintf(w, `
  SOAP endpoint  %[1]s
  WSDL           %[1]s?wsdl
  Demo system    demo-gp / demo-secret (roles Doctor, Nurse)
  Demo person    %[2]s
  Pharmacist UI  %[3]s  (user %[4]s, password %[5]s)
`, a.endpoint, person, uiURL(a.endpoint), seed.DemoPharmacist, seed.DemoPharmacistPassword)
	if a.plainEndpoint != "" {
		fmt.Fprintf(w, `  Plain HTTP     %s and %s, for tools that do not trust the CA yet:
                 the same service, but PasswordText is refused there (PasswordDigest works)
`, a.plainEndpoint, uiURL(a.plainEndpoint))
	}
	cacert := ""
	if a.caFile != "" {
		cacert = "--cacert " + shellWord(a.caFile) + " "
		fmt.Fprintf(w, `  Local CA       %[1]s signed the server certificate: pass it to curl as below,
                 or trust it (Debian: cp %[1]s /usr/local/share/ca-certificates/medcard-dev-ca.crt
                 && update-ca-certificates; browsers: import it under their certificate authorities)
`, a.caFile)
	}
	if !a.passwordTextAccepted {
		fmt.Fprintf(w, `
  The demo curl sends a PasswordText, which the gateway refuses over plain HTTP. Serve HTTPS
  to try it: gateway dev-cert makes a local certificate, then serve --tls-cert and --tls-key.

`)
		return
	}
	fmt.Fprintf(w, `
  Read the demo person's medicine card:

curl -s %[3]s%[1]s -H 'Content-Type: text/xml; charset=utf-8' --data-binary '%[4]s'

`, a.endpoint, person, cacert, demoEnvelope(a.endpoint, person))
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

// shellWord is s as one word of a shell command line: as it is when it
// holds nothing a shell reads specially, else in single quotes.
func shellWord(s string) string {
	if s != "" && strings.IndexFunc(s, func(c rune) bool {
		return !(c == '/' || c == '.' || c == '-' || c == '_' || c == ':' || c == '+' || c == '=' || c == ',' ||
			(c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
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
