// Package devcert makes the certificates a local gateway serves HTTPS with
// (`gateway dev-cert`, which `make run` calls): a self-signed CA, a server
// certificate it signs for the local host names, and client certificates
// for trying a system's client authentication. Keys are ECDSA P-256, which
// every integrator toolchain we serve (.NET, Java, PHP, Python) accepts.
//
// It uses crypto/x509 rather than openssl in a script so that `make run`
// needs no openssl binary, the tests use the very code that makes the demo's
// certificates, and the files are kept or renewed by rules in one place:
// the CA is kept as long as it is valid, so a browser or trust store that
// trusts it once keeps trusting the gateway; the server certificate is
// remade when it nears its end or no longer names the hosts asked for.
//
// These certificates are for a developer's machine only: the CA's key lies
// beside them, unprotected but for its file mode.
package devcert

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"time"
)

// Validity and renewal. A server certificate lives 397 days, the most
// Apple's platforms accept; it is remade within renewBefore of its end.
const (
	caValidity     = 10 * 365 * 24 * time.Hour
	leafValidity   = 397 * 24 * time.Hour
	renewBefore    = 30 * 24 * time.Hour
	backdate       = time.Hour // for clocks a little behind ours
	caCommonName   = "Medicine card gateway local development CA"
	serverFileName = "server"
	caFileName     = "ca"
)

// DefaultHosts are the names a local gateway is reached by.
var DefaultHosts = []string{"localhost", "127.0.0.1", "::1"}

// Files are the paths of a directory's CA and server certificate and keys.
type Files struct {
	CACert, CAKey, ServerCert, ServerKey string
}

// FilesIn returns the paths Ensure writes in dir.
func FilesIn(dir string) Files {
	return Files{
		CACert: filepath.Join(dir, caFileName+".pem"), CAKey: filepath.Join(dir, caFileName+"-key.pem"),
		ServerCert: filepath.Join(dir, serverFileName+".pem"), ServerKey: filepath.Join(dir, serverFileName+"-key.pem"),
	}
}

// Result is what Ensure found or made.
type Result struct {
	Files
	CA, Server *x509.Certificate
	// CACreated: there was no CA, so clients must be told to trust the
	// new one. ServerCreated: the server certificate is new.
	CACreated, ServerCreated bool
}

// Ensure makes sure dir holds a CA and a server certificate for hosts
// (DNS names or IP addresses) valid at now, making what is missing: the CA
// when it has neither certificate nor key, the server certificate when it
// is missing, ends within 30 days, is not the CA's or does not name every
// host. A half-present or unreadable CA is an error, never overwritten.
func Ensure(dir string, hosts []string, now time.Time) (*Result, error) {
	if len(hosts) == 0 {
		hosts = DefaultHosts
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("dev-cert: %w", err)
	}
	res := &Result{Files: FilesIn(dir)}
	ca, caKey, err := loadPair(res.CACert, res.CAKey)
	switch {
	case errors.Is(err, fs.ErrNotExist) && !exists(res.CACert) && !exists(res.CAKey):
		if ca, caKey, err = newCA(now); err != nil {
			return nil, err
		}
		if err := writePair(res.CACert, res.CAKey, ca, caKey); err != nil {
			return nil, err
		}
		res.CACreated = true
	case err != nil:
		return nil, fmt.Errorf("dev-cert: the CA in %s cannot be used (%w); remove %s and %s to make a new one, and trust that instead", dir, err, res.CACert, res.CAKey)
	case now.After(ca.NotAfter):
		return nil, fmt.Errorf("dev-cert: the CA %s expired on %s; remove it and %s to make a new one", res.CACert, ca.NotAfter.Format(time.DateOnly), res.CAKey)
	}
	res.CA = ca

	server, _, err := loadPair(res.ServerCert, res.ServerKey)
	if err != nil || !serverCertFits(server, ca, hosts, now) {
		leaf, key, err := newLeaf(ca, caKey, hostsSubject(hosts), hosts, x509.ExtKeyUsageServerAuth, now)
		if err != nil {
			return nil, err
		}
		if err := writePair(res.ServerCert, res.ServerKey, leaf, key); err != nil {
			return nil, err
		}
		server, res.ServerCreated = leaf, true
	}
	res.Server = server
	return res, nil
}

// serverCertFits reports whether c may go on serving: the CA's, valid past
// renewBefore from now, naming every host.
func serverCertFits(c, ca *x509.Certificate, hosts []string, now time.Time) bool {
	if c.CheckSignatureFrom(ca) != nil || now.Add(renewBefore).After(c.NotAfter) || now.Before(c.NotBefore) {
		return false
	}
	for _, h := range hosts {
		if c.VerifyHostname(h) != nil {
			return false
		}
	}
	return true
}

// clientName is what a client certificate may be named: it becomes part of
// a file name.
var clientName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// IssueClient makes a client certificate for name (its common name, e.g. a
// system's) signed by the CA in dir, writes it to client-NAME.pem and
// client-NAME-key.pem there, and returns the certificate and its paths.
// Ensure must have made the CA.
func IssueClient(dir, name string, now time.Time) (cert *x509.Certificate, certFile, keyFile string, err error) {
	if !clientName.MatchString(name) {
		return nil, "", "", fmt.Errorf("dev-cert: client name %q: use letters, digits, '.', '_' and '-'", name)
	}
	f := FilesIn(dir)
	ca, caKey, err := loadPair(f.CACert, f.CAKey)
	if err != nil {
		return nil, "", "", fmt.Errorf("dev-cert: no usable CA in %s (run gateway dev-cert --dir %s first): %w", dir, dir, err)
	}
	cert, key, err := newLeaf(ca, caKey, pkix.Name{CommonName: name, Organization: []string{"medcard local development"}}, nil, x509.ExtKeyUsageClientAuth, now)
	if err != nil {
		return nil, "", "", err
	}
	certFile, keyFile = filepath.Join(dir, "client-"+name+".pem"), filepath.Join(dir, "client-"+name+"-key.pem")
	if err := writePair(certFile, keyFile, cert, key); err != nil {
		return nil, "", "", err
	}
	return cert, certFile, keyFile, nil
}

func newCA(now time.Time) (*x509.Certificate, crypto.Signer, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("dev-cert: CA key: %w", err)
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, nil, err
	}
	host, _ := os.Hostname()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: caCommonName, OrganizationalUnit: []string{host}},
		NotBefore:             now.Add(-backdate),
		NotAfter:              now.Add(caValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, nil, fmt.Errorf("dev-cert: CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	return cert, key, err
}

// newLeaf makes a certificate signed by ca for usage: a server's names go
// in its subject alternative names.
func newLeaf(ca *x509.Certificate, caKey crypto.Signer, subject pkix.Name, hosts []string, usage x509.ExtKeyUsage, now time.Time) (*x509.Certificate, crypto.Signer, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("dev-cert: key: %w", err)
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      subject,
		NotBefore:    now.Add(-backdate),
		NotAfter:     minTime(now.Add(leafValidity), ca.NotAfter),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{usage},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, key.Public(), caKey)
	if err != nil {
		return nil, nil, fmt.Errorf("dev-cert: certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	return cert, key, err
}

func hostsSubject(hosts []string) pkix.Name {
	return pkix.Name{CommonName: hosts[0], Organization: []string{"medcard local development"}}
}

func randomSerial() (*big.Int, error) {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("dev-cert: serial number: %w", err)
	}
	return n.Add(n, big.NewInt(1)), nil
}

// loadPair reads a PEM certificate and its PKCS #8 key and checks they
// belong together.
func loadPair(certFile, keyFile string) (*x509.Certificate, crypto.Signer, error) {
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return nil, nil, err
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, nil, err
	}
	cb, _ := pem.Decode(certPEM)
	kb, _ := pem.Decode(keyPEM)
	if cb == nil || cb.Type != "CERTIFICATE" || kb == nil || kb.Type != "PRIVATE KEY" {
		return nil, nil, errors.New("not a PEM certificate and PKCS #8 key")
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return nil, nil, err
	}
	k, err := x509.ParsePKCS8PrivateKey(kb.Bytes)
	if err != nil {
		return nil, nil, err
	}
	signer, ok := k.(crypto.Signer)
	if !ok {
		return nil, nil, errors.New("the key cannot sign")
	}
	if pub, ok := signer.Public().(interface{ Equal(crypto.PublicKey) bool }); !ok || !pub.Equal(cert.PublicKey) {
		return nil, nil, errors.New("the key does not belong to the certificate")
	}
	return cert, signer, nil
}

// writePair writes cert (mode 0644) and key (0600), each through a
// temporary file renamed into place, so that a gateway reloading them never
// reads half a file.
func writePair(certFile, keyFile string, cert *x509.Certificate, key crypto.Signer) error {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("dev-cert: encode key: %w", err)
	}
	if err := writeAtomic(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		return err
	}
	return writeAtomic(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}), 0o644)
}

func writeAtomic(path string, data []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-"+filepath.Base(path))
	if err != nil {
		return fmt.Errorf("dev-cert: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("dev-cert: write %s: %w", path, err)
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return fmt.Errorf("dev-cert: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("dev-cert: write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("dev-cert: %w", err)
	}
	return nil
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
