package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sharedmedcard/gateway/internal/app"
	"github.com/sharedmedcard/gateway/internal/credential"
	"github.com/sharedmedcard/gateway/internal/devcert"
	"github.com/sharedmedcard/gateway/medcard"
	"github.com/sharedmedcard/gateway/shard"
	"github.com/sharedmedcard/gateway/soap"
)

// httpsGateway is one more in-process gateway over env's databases (as
// startGateway's), serving HTTPS on a real loopback listener, as `gateway
// serve --tls-cert` does, with a certificate of a devcert CA of its own.
type httpsGateway struct {
	*testGateway
	certDir string          // devcert's directory (CA, server, clients)
	certs   *devcert.Result // the CA and the server certificate
	roots   *x509.CertPool  // trusts certs.CA
	client  *http.Client    // trusts the CA, presents no certificate
}

// startHTTPSGateway starts an httpsGateway; with clientCA it asks for
// client certificates of its CA. It is closed when t ends.
func startHTTPSGateway(t *testing.T, clientCA bool) *httpsGateway {
	t.Helper()
	e := requireEnv(t)
	hg := &httpsGateway{certDir: t.TempDir()}
	var err error
	if hg.certs, err = devcert.Ensure(hg.certDir, nil, time.Now()); err != nil {
		t.Fatal(err)
	}
	hg.roots = x509.NewCertPool()
	hg.roots.AddCert(hg.certs.CA)
	hg.client = hg.clientWith(nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "https://" + ln.Addr().String()
	cfg := e.config(base+app.SOAPPath, e.cluster.Redis.Addr)
	cfg.TLSCertFile, cfg.TLSKeyFile = hg.certs.ServerCert, hg.certs.ServerKey
	if clientCA {
		cfg.TLSClientCAFile = hg.certs.CACert
	}
	gw, err := app.New(t.Context(), cfg)
	if err != nil {
		ln.Close()
		t.Fatal(err)
	}
	hg.testGateway = &testGateway{gw: gw, endpoint: base + app.SOAPPath, base: base}
	srv := &http.Server{Handler: gw.Handler(), TLSConfig: gw.TLSConfig(), ErrorLog: log.New(io.Discard, "", 0)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.ServeTLS(ln, "", "") // the certificate comes from TLSConfig, as in serve
	}()
	t.Cleanup(func() { srv.Close(); <-done; gw.Close() })
	return hg
}

// clientWith is an HTTPS client that trusts the gateway's CA and presents
// cert (none for nil).
func (tg *httpsGateway) clientWith(cert *tls.Certificate) *http.Client {
	tc := &tls.Config{RootCAs: tg.roots}
	if cert != nil {
		tc.Certificates = []tls.Certificate{*cert}
	}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: tc}}
}

// issueClient makes a client certificate of the gateway's CA for name.
func (tg *httpsGateway) issueClient(t *testing.T, name string) (tls.Certificate, string) {
	t.Helper()
	_, certFile, keyFile, err := devcert.IssueClient(tg.certDir, name, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	return pair, certFile
}

// soapPost sends a SOAP 1.1 envelope with client to endpoint.
func soapPost(t *testing.T, client *http.Client, endpoint, envelope string) (int, []byte, error) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, endpoint, strings.NewReader(envelope))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "text/xml; charset=utf-8")
	req.Header.Set("SOAPAction", `""`)
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, body, err
}

// mustSOAP is soapPost that fails the test on a transport error.
func mustSOAP(t *testing.T, client *http.Client, endpoint, envelope string) (int, []byte) {
	t.Helper()
	status, body, err := soapPost(t, client, endpoint, envelope)
	if err != nil {
		t.Fatalf("POST %s: %v", endpoint, err)
	}
	return status, body
}

// wantFault checks a SOAP 1.1 fault answer carries faultID.
func wantFault(t *testing.T, what string, status int, body []byte, faultID string) {
	t.Helper()
	if status != http.StatusInternalServerError {
		t.Errorf("%s: status %d, want 500 with fault %s; body: %.600s", what, status, faultID, body)
		return
	}
	if f := parseFault(t, body); f.Identifier != faultID || f.Code != "soap:Client" {
		t.Errorf("%s: fault %s %s, want soap:Client %s; body: %.600s", what, f.Code, f.Identifier, faultID, body)
	}
}

// rowCounts are the rows a write leaves: cards, stored outcomes, audit rows.
func rowCounts(t *testing.T) [3]int64 {
	t.Helper()
	return [3]int64{countRows(t, "cards"), countRows(t, "write_outcomes"), countRows(t, "audit_log")}
}

// TestPasswordTextNeedsTLS: a PasswordText over plain HTTP is refused with
// PasswordTextRequiresTLS, right password or not, and writes nothing; it is
// served over HTTPS and behind a proxy that ended TLS
// (--tls-terminated-upstream); a PasswordDigest is served over plain HTTP.
func TestPasswordTextNeedsTLS(t *testing.T) {
	e := requireEnv(t)
	overTLS := startHTTPSGateway(t, false)
	upstream := startGateway(t, func(endpoint string) app.Config {
		cfg := e.config(endpoint, e.cluster.Redis.Addr)
		cfg.TLSTerminatedUpstream = true
		return cfg
	})
	plain := &http.Client{Timeout: 10 * time.Second}

	person := freshPerson(t)
	before := rowCounts(t)
	for _, secret := range []string{"demo-secret", "guess"} {
		status, body := mustSOAP(t, plain, env.endpoint, call{textPwd: true, secret: secret, body: createBody(person, 0, "Pinex")}.envelope())
		wantFault(t, "PasswordText over plain HTTP", status, body, "PasswordTextRequiresTLS")
	}
	if after := rowCounts(t); after != before {
		t.Fatalf("rows in cards, write_outcomes, audit_log went from %v to %v; a refused PasswordText must write nothing", before, after)
	}

	for i, to := range []struct {
		name     string
		client   *http.Client
		endpoint string
	}{
		{"over HTTPS", overTLS.client, overTLS.endpoint},
		{"behind a proxy that ended TLS", plain, upstream.endpoint},
	} {
		status, body := mustSOAP(t, to.client, to.endpoint, call{textPwd: true, body: createBody(person, int64(i), "Pinex")}.envelope())
		var res soap.WriteResponse
		responseBody(t, status, body, &res)
		if res.MedicineCardVersion != int64(i+1) {
			t.Errorf("PasswordText %s: card version %d, want %d", to.name, res.MedicineCardVersion, i+1)
		}
	}
	status, body := mustSOAP(t, plain, env.endpoint, call{body: createBody(person, 2, "Pinex")}.envelope())
	var res soap.WriteResponse
	responseBody(t, status, body, &res)
	if res.MedicineCardVersion != 3 {
		t.Errorf("PasswordDigest over plain HTTP: card version %d, want 3", res.MedicineCardVersion)
	}

	// The UI's cookies are Secure where the browser speaks HTTPS.
	for _, ui := range []struct {
		name   string
		client *http.Client
		base   string
		secure bool
	}{
		{"plain HTTP", plain, uiURL(env.endpoint), false},
		{"HTTPS", overTLS.client, uiURL(overTLS.endpoint), true},
		{"behind a proxy that ended TLS", plain, uiURL(upstream.endpoint), true},
	} {
		resp, err := ui.client.Get(ui.base + "signin")
		if err != nil {
			t.Fatalf("UI %s: %v", ui.name, err)
		}
		resp.Body.Close()
		if len(resp.Cookies()) == 0 {
			t.Errorf("UI %s: the sign-in page set no cookie", ui.name)
		}
		for _, c := range resp.Cookies() {
			if c.Secure != ui.secure {
				t.Errorf("UI %s: cookie %s Secure = %v, want %v", ui.name, c.Name, c.Secure, ui.secure)
			}
		}
	}
}

// TestClientCertificatePerSystem: a system registered with a client
// certificate (`gateway system cert`) is served only when the handshake
// presented that certificate; one of another CA does not get through the
// handshake, one of our CA that is not the system's is refused
// NotAuthenticated, and neither writes anything. A system without one
// authenticates as before, with a certificate or without.
func TestClientCertificatePerSystem(t *testing.T) {
	e := requireEnv(t)
	tg := startHTTPSGateway(t, true)
	catalog, err := e.cluster.NewCatalog()
	if err != nil {
		t.Fatal(err)
	}
	lab := medcard.System{Name: "tls-lab", Secret: "lab-secret", Roles: []medcard.Role{medcard.RoleDoctor}}
	if err := catalog.PutSystem(t.Context(), lab); err != nil {
		t.Fatal(err)
	}
	labCert, labCertFile := tg.issueClient(t, "tls-lab")
	otherCert, _ := tg.issueClient(t, "someone-else")
	strangerDir := t.TempDir()
	if _, err := devcert.Ensure(strangerDir, nil, time.Now()); err != nil {
		t.Fatal(err)
	}
	_, strangerFile, strangerKey, err := devcert.IssueClient(strangerDir, "tls-lab", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	strangerCert, err := tls.LoadX509KeyPair(strangerFile, strangerKey)
	if err != nil {
		t.Fatal(err)
	}

	g := gatewayCLI{t: t, ctx: t.Context(), bin: gatewayBinary(t), env: append(
		slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "MEDCARD_") }),
		"MEDCARD_CATALOG_DSN="+e.cluster.CatalogDSN)}
	out := g.ok("system", "cert", "tls-lab", "--cert", labCertFile)
	labPin := soap.CertSHA256(labCert.Leaf)
	wantIn(t, "system cert", out, labPin)
	wantIn(t, "system cert", out, "--tls-client-ca")

	person := freshPerson(t)
	labCall := func(base int64) string {
		return call{system: "tls-lab", secret: "lab-secret", body: createBody(person, base, "Pinex")}.envelope()
	}
	before := rowCounts(t)
	status, body := mustSOAP(t, tg.client, tg.endpoint, labCall(0))
	wantFault(t, "tls-lab without a certificate", status, body, "NotAuthenticated")
	status, body = mustSOAP(t, tg.clientWith(&otherCert), tg.endpoint, labCall(0))
	wantFault(t, "tls-lab with another system's certificate", status, body, "NotAuthenticated")
	if _, _, err := soapPost(t, tg.clientWith(&strangerCert), tg.endpoint, labCall(0)); err == nil ||
		!strings.Contains(err.Error(), "certificate") {
		t.Errorf("tls-lab with a certificate of another CA: err %v, want the handshake refused for its certificate", err)
	}
	if after := rowCounts(t); after != before {
		t.Fatalf("rows in cards, write_outcomes, audit_log went from %v to %v; refused requests must write nothing", before, after)
	}

	status, body = mustSOAP(t, tg.clientWith(&labCert), tg.endpoint, labCall(0))
	var res soap.WriteResponse
	responseBody(t, status, body, &res)
	for i, client := range []*http.Client{tg.client, tg.clientWith(&otherCert)} {
		status, body := mustSOAP(t, client, tg.endpoint, call{body: createBody(person, int64(i+1), "Pinex")}.envelope())
		responseBody(t, status, body, &res)
	}
	if res.MedicineCardVersion != 3 {
		t.Errorf("card version after tls-lab's and demo-gp's writes = %d, want 3", res.MedicineCardVersion)
	}

	// The command's other forms, and its refusals with what to do next.
	var listed []shard.SystemEntry
	g.okJSON(&listed, "system", "list", "--json")
	pins := map[string][]string{}
	for _, s := range listed {
		pins[s.Name] = s.ClientCertSHA256
	}
	if !slices.Equal(pins["tls-lab"], []string{labPin}) || len(pins["demo-gp"]) != 0 {
		t.Errorf("system list --json: tls-lab %v, demo-gp %v; want [%s] and none", pins["tls-lab"], pins["demo-gp"], labPin)
	}
	wantIn(t, "system list", g.ok("system", "list"), labPin[:16])
	otherPin := soap.CertSHA256(otherCert.Leaf)
	colons := strings.ToUpper(regexp.MustCompile(`..`).ReplaceAllString(otherPin, "$0:"))
	g.ok("system", "cert", "tls-lab", "--fingerprint", strings.TrimSuffix(colons, ":"), "--add")
	g.okJSON(&listed, "system", "list", "--json")
	for _, s := range listed {
		if s.Name == "tls-lab" && len(s.ClientCertSHA256) != 2 {
			t.Errorf("after --add: tls-lab pins %v, want both certificates", s.ClientCertSHA256)
		}
	}
	wantIn(t, "system cert unknown", g.fails("system", "cert", "nobody", "--cert", labCertFile), "gateway system list")
	wantIn(t, "system cert server certificate", g.fails("system", "cert", "tls-lab", "--cert", tg.certs.ServerCert), "clientAuth")
	wantIn(t, "system cert bad fingerprint", g.fails("system", "cert", "tls-lab", "--fingerprint", "abc"), "64 hex digits")
	wantIn(t, "system cert nothing", g.fails("system", "cert", "tls-lab"), "--cert FILE")
	wantIn(t, "system cert --clear with --cert", g.fails("system", "cert", "tls-lab", "--clear", "--cert", labCertFile), "--clear goes alone")
	wantIn(t, "system cert --clear", g.ok("system", "cert", "tls-lab", "--clear"), "no longer needs a client certificate")
}

// TestServeHTTPS runs `gateway serve` as make run does: HTTPS with a
// certificate of `gateway dev-cert` and plain HTTP beside it. Over HTTPS
// the WSDL names the https address and a PasswordText is served; plain HTTP
// to the HTTPS port is refused with a clear answer; the plain HTTP listener
// serves the same gateway but refuses the PasswordText. Ctrl-C ends both.
func TestServeHTTPS(t *testing.T) {
	e := requireEnv(t)
	bin := gatewayBinary(t)
	dir := t.TempDir()
	clean := slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "MEDCARD_") })
	cliEnv := append(clean, "MEDCARD_CATALOG_DSN="+e.cluster.CatalogDSN, "MEDCARD_SECRET_KEY_FILE="+e.cluster.SecretKeyFile)
	g := gatewayCLI{t: t, ctx: t.Context(), bin: bin, env: cliEnv}
	out := g.ok("dev-cert", "--dir", dir)
	wantIn(t, "dev-cert", out, "made")
	wantIn(t, "dev-cert", out, "update-ca-certificates")
	if again := g.ok("dev-cert", "--dir", dir); strings.Contains(again, "made") {
		t.Errorf("dev-cert a second time made something:\n%s", again)
	}
	// With --secret-key it also makes the systems' key (docker-compose's
	// stack has no shell to make one), once.
	keyFile := filepath.Join(t.TempDir(), "secret.key")
	wantIn(t, "dev-cert --secret-key", g.ok("dev-cert", "--dir", dir, "--secret-key", keyFile), "secret key          "+keyFile+" (made")
	first, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := credential.LoadKeyFile(keyFile); err != nil {
		t.Fatalf("dev-cert --secret-key made a key that does not load: %v", err)
	}
	wantIn(t, "dev-cert --secret-key again", g.ok("dev-cert", "--dir", dir, "--secret-key", keyFile), "(kept;")
	if again, _ := os.ReadFile(keyFile); !bytes.Equal(again, first) {
		t.Error("dev-cert --secret-key a second time changed the key")
	}
	files := devcert.FilesIn(dir)

	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "serve", "--listen", "127.0.0.1:0", "--listen-http", "127.0.0.1:0",
		"--tls-cert", files.ServerCert, "--tls-key", files.ServerKey, "--tls-client-ca", files.CACert,
		"--demo", "--demo-ca", files.CACert, "--cache", "off")
	cmd.Env = cliEnv
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	banner := map[string]string{}
	lines := bufio.NewScanner(stdout)
	for lines.Scan() {
		line := strings.TrimSpace(lines.Text())
		for _, key := range []string{"SOAP endpoint", "Plain HTTP", "Local CA"} {
			if rest, ok := strings.CutPrefix(line, key); ok {
				banner[key] = strings.Fields(rest)[0]
			}
		}
		if strings.HasPrefix(line, "curl ") {
			banner["curl"] = line
			break
		}
	}
	go io.Copy(io.Discard, stdout)
	httpsURL, plainURL := banner["SOAP endpoint"], banner["Plain HTTP"]
	if !strings.HasPrefix(httpsURL, "https://127.0.0.1:") || !strings.HasPrefix(plainURL, "http://127.0.0.1:") ||
		banner["Local CA"] != files.CACert || !strings.Contains(banner["curl"], "--cacert "+files.CACert+" "+httpsURL) {
		t.Fatalf("demo banner %v, want the https and http endpoints, the CA and a curl trusting it; stderr:\n%s", banner, stderr.String())
	}

	roots := x509.NewCertPool()
	caPEM, err := os.ReadFile(files.CACert)
	if err != nil || !roots.AppendCertsFromPEM(caPEM) {
		t.Fatalf("read the CA: %v", err)
	}
	httpsClient := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
	resp, err := httpsClient.Get(httpsURL + "?wsdl")
	if err != nil {
		t.Fatalf("GET the WSDL over HTTPS: %v", err)
	}
	wsdl, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.TLS == nil || resp.TLS.Version < tls.VersionTLS12 || !bytes.Contains(wsdl, []byte(`location="`+httpsURL+`"`)) {
		t.Errorf("WSDL over HTTPS (TLS %+v): want TLS 1.2 or newer and the https address %s in it:\n%.400s", resp.TLS, httpsURL, wsdl)
	}
	tooOld := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, MaxVersion: tls.VersionTLS11}}}
	if _, err := tooOld.Get(httpsURL + "?wsdl"); err == nil {
		t.Error("a TLS 1.1 client was served, want the handshake refused")
	}

	person := notePerson(demoPerson())
	status, body := mustSOAP(t, httpsClient, httpsURL, call{textPwd: true, body: getCardBody(person)}.envelope())
	var card struct {
		Version int64 `xml:"MedicineCard>MedicineCardVersion"`
	}
	responseBody(t, status, body, &card)
	status, body = mustSOAP(t, httpsClient, plainURL, call{textPwd: true, body: getCardBody(person)}.envelope())
	wantFault(t, "PasswordText on the plain HTTP listener", status, body, "PasswordTextRequiresTLS")
	status, body = mustSOAP(t, httpsClient, plainURL, call{body: getCardBody(person)}.envelope())
	responseBody(t, status, body, &card)

	// Plain HTTP to the HTTPS port: Go's server answers 400 with a line
	// that says what happened, never a SOAP answer, and drops the
	// connection (so reading on may end in a reset).
	status, body, err = soapPost(t, &http.Client{Timeout: 10 * time.Second}, strings.Replace(httpsURL, "https://", "http://", 1),
		call{body: getCardBody(person)}.envelope())
	if status != http.StatusBadRequest || !bytes.Contains(body, []byte("HTTP request to an HTTPS server")) {
		t.Errorf("plain HTTP to the HTTPS port = %d %q, %v; want 400 saying it is an HTTPS server", status, body, err)
	}
	// And a client that does not trust the CA is told so by its TLS stack.
	if _, err := (&http.Client{Timeout: 10 * time.Second}).Get(httpsURL + "?wsdl"); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("a client without the CA: %v, want a certificate error", err)
	}

	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("gateway serve after Ctrl-C: %v, want exit 0\n%s", err, tail(stderr.String(), 20))
	}
	if strings.Contains(stderr.String(), person) {
		t.Error("the gateway's logs carry the person identifier")
	}
}
