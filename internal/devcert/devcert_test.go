package devcert

import (
	"crypto/tls"
	"crypto/x509"
	"os"
	"testing"
	"time"
)

// TestEnsureKeepsTheCAAndRenewsTheServerCertificate: a second run keeps
// both; a server certificate near its end, or without a host now asked
// for, is remade under the same CA; what is made verifies for its use.
func TestEnsureKeepsTheCAAndRenewsTheServerCertificate(t *testing.T) {
	dir := t.TempDir()
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	first, err := Ensure(dir, nil, now)
	if err != nil {
		t.Fatal(err)
	}
	if !first.CACreated || !first.ServerCreated {
		t.Fatalf("first Ensure created CA %v, server %v; want both", first.CACreated, first.ServerCreated)
	}
	roots := x509.NewCertPool()
	roots.AddCert(first.CA)
	for _, host := range DefaultHosts {
		if _, err := first.Server.Verify(x509.VerifyOptions{DNSName: host, Roots: roots, CurrentTime: now,
			KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
			t.Errorf("server certificate for %s: %v", host, err)
		}
	}
	if _, err := tls.LoadX509KeyPair(first.ServerCert, first.ServerKey); err != nil {
		t.Errorf("crypto/tls cannot load the server pair: %v", err)
	}
	for _, key := range []string{first.CAKey, first.ServerKey} {
		if fi, err := os.Stat(key); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, %v; want 0600", key, fi.Mode().Perm(), err)
		}
	}

	steps := []struct {
		name       string
		at         time.Time
		hosts      []string
		wantServer bool
	}{
		{"again", now.Add(time.Hour), nil, false},
		{"a month before the end", now.Add(leafValidity - renewBefore + time.Hour), nil, true},
		{"a new host", now.Add(2 * time.Hour), []string{"localhost", "gateway.test"}, true},
		{"the same hosts again", now.Add(3 * time.Hour), []string{"localhost", "gateway.test"}, false},
	}
	for _, s := range steps {
		res, err := Ensure(dir, s.hosts, s.at)
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if res.CACreated || !res.CA.Equal(first.CA) {
			t.Errorf("%s: the CA was remade", s.name)
		}
		if res.ServerCreated != s.wantServer {
			t.Errorf("%s: server certificate made %v, want %v", s.name, res.ServerCreated, s.wantServer)
		}
		if err := res.Server.CheckSignatureFrom(first.CA); err != nil {
			t.Errorf("%s: server certificate not the CA's: %v", s.name, err)
		}
	}
}

// TestEnsureRefusesAHalfCA: a CA certificate without its key is an
// operator's to sort out, never silently replaced (that would untrust the
// gateway everywhere the old CA was trusted).
func TestEnsureRefusesAHalfCA(t *testing.T) {
	dir := t.TempDir()
	res, err := Ensure(dir, nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(res.CAKey); err != nil {
		t.Fatal(err)
	}
	if _, err := Ensure(dir, nil, time.Now()); err == nil {
		t.Error("Ensure with the CA key gone succeeded, want a refusal")
	}
}

// TestIssueClient: a client certificate verifies against the CA for client
// authentication, and a name that would escape the directory is refused.
func TestIssueClient(t *testing.T) {
	dir := t.TempDir()
	res, err := Ensure(dir, nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	cert, certFile, keyFile, err := IssueClient(dir, "demo-gp", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(res.CA)
	if _, err := cert.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("client certificate: %v", err)
	}
	if cert.Subject.CommonName != "demo-gp" {
		t.Errorf("client certificate CN = %q, want demo-gp", cert.Subject.CommonName)
	}
	if _, err := tls.LoadX509KeyPair(certFile, keyFile); err != nil {
		t.Errorf("crypto/tls cannot load the client pair: %v", err)
	}
	for _, bad := range []string{"../x", "a/b", "", ".hidden"} {
		if _, _, _, err := IssueClient(dir, bad, time.Now()); err == nil {
			t.Errorf("IssueClient(%q) succeeded, want a refusal", bad)
		}
	}
}
