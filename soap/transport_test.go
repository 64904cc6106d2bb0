package soap

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/xml"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/sharedmedcard/gateway/medcard"
)

// testDigestToken is a UsernameToken with a PasswordDigest created at
// testNow.
func testDigestToken(system, secret string) string {
	nonce := []byte("test-nonce-16byt")
	created := testNow.Format(time.RFC3339)
	return `<wsse:UsernameToken><wsse:Username>` + system + `</wsse:Username>` +
		`<wsse:Password Type="` + passwordDigest + `">` + digestOf(nonce, created, secret) + `</wsse:Password>` +
		`<wsse:Nonce>` + base64.StdEncoding.EncodeToString(nonce) + `</wsse:Nonce><wsu:Created>` + created + `</wsu:Created></wsse:UsernameToken>`
}

// textToken is a UsernameToken with the secret as PasswordText; typ "" sends
// no Type attribute (which the profile reads as PasswordText).
func textToken(system, secret, typ string) string {
	attr := ""
	if typ != "" {
		attr = ` Type="` + typ + `"`
	}
	return `<wsse:UsernameToken><wsse:Username>` + system + `</wsse:Username><wsse:Password` + attr + `>` + secret + `</wsse:Password></wsse:UsernameToken>`
}

// tokenEnvelope is a SOAP 1.1 or 1.2 PauseDrugMedication (a write) of system
// with the given UsernameToken.
func tokenEnvelope(ns, system, token string) string {
	return `<s:Envelope xmlns:s="` + ns + `" xmlns:mc="` + Namespace + `" xmlns:wsse="` + nsWSSE + `" xmlns:wsu="` + nsWSU + `"><s:Header>` +
		`<wsse:Security>` + token + `</wsse:Security>` +
		`<mc:MessageHeader><mc:MessageID>m1</mc:MessageID></mc:MessageHeader>` +
		`<mc:WhitelistingHeader><mc:SystemName>` + system + `</mc:SystemName><mc:OrganisationIdentifier>SOR:1</mc:OrganisationIdentifier><mc:RequestedRole>Doctor</mc:RequestedRole></mc:WhitelistingHeader>` +
		`</s:Header><s:Body><mc:PauseDrugMedicationRequest><mc:PersonIdentifier>0101701234</mc:PersonIdentifier><mc:MedicineCardVersion>4</mc:MedicineCardVersion>` +
		`<mc:DrugMedicationIdentifier>1</mc:DrugMedicationIdentifier></mc:PauseDrugMedicationRequest></s:Body></s:Envelope>`
}

// pinnedSystems knows gp (no certificate required) and lab, which must
// present the certificate whose fingerprint is labPin.
type pinnedSystems struct{ labPin string }

func (p pinnedSystems) System(ctx context.Context, name string) (medcard.System, error) {
	if name == "lab" {
		return medcard.System{Name: "lab", Secret: "s3cret", PasswordHash: testSecretHash(), Roles: []medcard.Role{medcard.RoleDoctor}, ClientCertSHA256: []string{p.labPin}}, nil
	}
	return fakeSystems{}.System(ctx, name)
}

// testCert is a throwaway self-signed client certificate.
func testCert(t *testing.T, cn string) *x509.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: testNow.Add(-time.Hour), NotAfter: testNow.Add(time.Hour), ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// faultIDOf is the FaultIdentifier of a fault answer, "" for none.
func faultIDOf(body []byte) string {
	var f struct {
		ID11 string `xml:"Body>Fault>detail>MedicineCardFault>FaultIdentifier"`
		ID12 string `xml:"Body>Fault>Detail>MedicineCardFault>FaultIdentifier"`
	}
	_ = xml.Unmarshal(body, &f)
	return f.ID11 + f.ID12
}

// TestTransportSecurity: a PasswordText is refused over plain HTTP, before
// the system is looked up and with nothing reaching the service, unless TLS
// ended at a proxy in front of us; a PasswordDigest is accepted either way;
// a system registered with a client certificate is refused without it.
func TestTransportSecurity(t *testing.T) {
	labCert, otherCert := testCert(t, "lab"), testCert(t, "someone else")
	systems := pinnedSystems{labPin: CertSHA256(labCert)}
	const (
		plain         = iota
		tlsNoPeer     // TLS, no client certificate
		tlsLab        // TLS, lab's certificate verified
		tlsOther      // TLS, another verified certificate
		tlsUnverified // TLS, lab's certificate presented but not verified
	)
	connState := map[int]*tls.ConnectionState{
		plain:         nil,
		tlsNoPeer:     {Version: tls.VersionTLS13},
		tlsLab:        {Version: tls.VersionTLS13, PeerCertificates: []*x509.Certificate{labCert}, VerifiedChains: [][]*x509.Certificate{{labCert}}},
		tlsOther:      {Version: tls.VersionTLS13, PeerCertificates: []*x509.Certificate{otherCert}, VerifiedChains: [][]*x509.Certificate{{otherCert}}},
		tlsUnverified: {Version: tls.VersionTLS13, PeerCertificates: []*x509.Certificate{labCert}},
	}
	for _, tc := range []struct {
		name     string
		soap12   bool
		upstream bool // Config.TLSTerminatedUpstream
		conn     int
		system   string
		token    string
		status   int
		faultID  string // "" for a served request
	}{
		{name: "text over plain HTTP", conn: plain, system: "gp", token: textToken("gp", "s3cret", passwordText), status: 500, faultID: "PasswordTextRequiresTLS"},
		{name: "text over plain HTTP, SOAP 1.2", soap12: true, conn: plain, system: "gp", token: textToken("gp", "s3cret", passwordText), status: 500, faultID: "PasswordTextRequiresTLS"},
		{name: "untyped password over plain HTTP", conn: plain, system: "gp", token: textToken("gp", "s3cret", ""), status: 500, faultID: "PasswordTextRequiresTLS"},
		{name: "wrong text password over plain HTTP", conn: plain, system: "gp", token: textToken("gp", "guess", passwordText), status: 500, faultID: "PasswordTextRequiresTLS"},
		{name: "text of an unknown system over plain HTTP", conn: plain, system: "nobody", token: textToken("nobody", "x", passwordText), status: 500, faultID: "PasswordTextRequiresTLS"},
		{name: "text over TLS", conn: tlsNoPeer, system: "gp", token: textToken("gp", "s3cret", passwordText), status: 200},
		{name: "wrong text password over TLS", conn: tlsNoPeer, system: "gp", token: textToken("gp", "guess", passwordText), status: 500, faultID: "NotAuthenticated"},
		{name: "text over plain HTTP, TLS ended upstream", upstream: true, conn: plain, system: "gp", token: textToken("gp", "s3cret", passwordText), status: 200},
		{name: "digest over plain HTTP", conn: plain, system: "gp", token: testDigestToken("gp", "s3cret"), status: 200},
		{name: "pinned system without a certificate", conn: tlsNoPeer, system: "lab", token: testDigestToken("lab", "s3cret"), status: 500, faultID: "NotAuthenticated"},
		{name: "pinned system over plain HTTP", conn: plain, system: "lab", token: testDigestToken("lab", "s3cret"), status: 500, faultID: "NotAuthenticated"},
		{name: "pinned system, TLS ended upstream", upstream: true, conn: plain, system: "lab", token: testDigestToken("lab", "s3cret"), status: 500, faultID: "NotAuthenticated"},
		{name: "pinned system with another certificate", conn: tlsOther, system: "lab", token: testDigestToken("lab", "s3cret"), status: 500, faultID: "NotAuthenticated"},
		{name: "pinned system with its certificate unverified", conn: tlsUnverified, system: "lab", token: testDigestToken("lab", "s3cret"), status: 500, faultID: "NotAuthenticated"},
		{name: "pinned system with its certificate", conn: tlsLab, system: "lab", token: testDigestToken("lab", "s3cret"), status: 200},
		{name: "pinned system with its certificate, text password", conn: tlsLab, system: "lab", token: textToken("lab", "s3cret", passwordText), status: 200},
		{name: "pinned system with its certificate, wrong password", conn: tlsLab, system: "lab", token: testDigestToken("lab", "guess"), status: 500, faultID: "NotAuthenticated"},
		{name: "unpinned system with a certificate", conn: tlsOther, system: "gp", token: testDigestToken("gp", "s3cret"), status: 200},
		{name: "hashed-only system, text over TLS", conn: tlsNoPeer, system: "textonly", token: textToken("textonly", "s3cret", passwordText), status: 200},
		{name: "hashed-only system, digest", conn: tlsNoPeer, system: "textonly", token: testDigestToken("textonly", "s3cret"), status: 500, faultID: "NotAuthenticated"},
		{name: "stolen hash as PasswordText", conn: tlsNoPeer, system: "gp", token: textToken("gp", testSecretHash(), passwordText), status: 500, faultID: "NotAuthenticated"},
		{name: "stolen hash as the digest's secret", conn: plain, system: "gp", token: testDigestToken("gp", testSecretHash()), status: 500, faultID: "NotAuthenticated"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got any
			h := NewHandler(fakeService{got: &got}, systems, nil, zap.NewNop(),
				Config{Now: func() time.Time { return testNow }, TLSTerminatedUpstream: tc.upstream})
			ns, ct := nsSOAP11, "text/xml; charset=utf-8"
			if tc.soap12 {
				ns, ct = nsSOAP12, "application/soap+xml; charset=utf-8"
			}
			req := httptest.NewRequest(http.MethodPost, "/medcard", strings.NewReader(tokenEnvelope(ns, tc.system, tc.token)))
			req.Header.Set("Content-Type", ct)
			req.TLS = connState[tc.conn]
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tc.status || faultIDOf(rec.Body.Bytes()) != tc.faultID {
				t.Fatalf("status %d, fault %q; want %d, %q; body: %s", rec.Code, faultIDOf(rec.Body.Bytes()), tc.status, tc.faultID, rec.Body.String())
			}
			if served := got != nil; served != (tc.faultID == "") {
				t.Errorf("the write reached the service: %v, want %v", served, tc.faultID == "")
			}
		})
	}
}
