package main

// The integrating systems: gateway system list, cert (the catalog keeps
// them; system_admin.go adds and changes them; `gateway seed --demo`
// registers the demo ones).

import (
	"context"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sharedmedcard/gateway/shard"
	"github.com/sharedmedcard/gateway/soap"
)

func systemCommands() []command {
	return []command{
		{"list", "list the integrating systems: roles, state, PasswordDigest possible, the client certificates they must present", runSystemList},
		{"add", "register a system: add NAME --role ROLE [--secret-key-file FILE]; its secret is printed once", runSystemAdd},
		{"grant", "let a system request more roles: grant NAME --role ROLE", runSystemGrant},
		{"revoke", "take roles from a system: revoke NAME --role ROLE", runSystemRevoke},
		{"rotate-secret", "give a system a new secret, printed once; the old one stops working", runSystemRotateSecret},
		{"disable", "refuse every request of a system, keeping it: disable NAME", runSystemDisable},
		{"enable", "let a disabled system back: enable NAME", runSystemEnable},
		{"cert", "require a TLS client certificate of a system, or no longer: cert SYSTEM --cert FILE | --fingerprint SHA256 | --clear", runSystemCert},
	}
}

func runSystem(ctx context.Context, args []string) error {
	names := make([]string, 0, len(systemCommands()))
	for _, c := range systemCommands() {
		names = append(names, c.name)
	}
	if len(args) == 0 {
		return fmt.Errorf("system: name a subcommand: %s ('gateway system --help' tells what each does)", strings.Join(names, ", "))
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		var b strings.Builder
		b.WriteString("Usage: gateway system <subcommand> [arguments] [flags]\n\nThe integrating systems that call the SOAP service, kept in the catalog.\n\nSubcommands:\n")
		for _, c := range systemCommands() {
			fmt.Fprintf(&b, "  %-13s %s\n", c.name, c.summary)
		}
		b.WriteString("\nRun 'gateway system <subcommand> --help' for its arguments and flags.")
		fmt.Println(b.String())
		return nil
	}
	for _, c := range systemCommands() {
		if c.name == args[0] {
			return c.run(ctx, args[1:])
		}
	}
	return fmt.Errorf("system: unknown subcommand %q (%s)", args[0], strings.Join(names, ", "))
}

// openCatalog connects to the catalog for a system subcommand.
func openCatalog(ctx context.Context, catalogDSN string) (*shard.Catalog, func(), error) {
	if err := requireCatalog(catalogDSN); err != nil {
		return nil, nil, err
	}
	pool, err := pgxpool.New(ctx, catalogDSN)
	if err != nil {
		return nil, nil, err
	}
	return shard.NewCatalog(pool, time.Now), pool.Close, nil
}

func runSystemList(ctx context.Context, args []string) error {
	var catalogDSN string
	var asJSON bool
	f := newFlags("system list", "Lists the integrating systems: the roles they may request, whether enabled, and the SHA-256\nfingerprints of the TLS client certificates they must present one of (none: the UsernameToken alone).")
	f.catalogDSN(&catalogDSN)
	f.BoolVar(&asJSON, "json", false, "print JSON instead of a table")
	if _, err := f.parseArgs(args); err != nil {
		return err
	}
	catalog, closeCatalog, err := openCatalog(ctx, catalogDSN)
	if err != nil {
		return err
	}
	defer closeCatalog()
	systems, err := catalog.Systems(ctx)
	if err != nil {
		return err
	}
	if asJSON {
		if systems == nil {
			systems = []shard.SystemEntry{}
		}
		return writeJSON(systems)
	}
	if len(systems) == 0 {
		fmt.Println("no systems yet: 'gateway system add NAME --role ROLE' registers one ('gateway seed --demo' the demo systems)")
		return nil
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SYSTEM\tROLES\tSTATE\tPASSWORD\tCLIENT CERTIFICATE (SHA-256)\tCREATED")
	for _, s := range systems {
		state := "enabled"
		if !s.Enabled {
			state = "disabled"
		}
		certs := "not required"
		if len(s.ClientCertSHA256) > 0 {
			short := make([]string, len(s.ClientCertSHA256))
			for i, pin := range s.ClientCertSHA256 {
				short[i] = pin[:16] + "…"
			}
			certs = strings.Join(short, ", ")
		}
		password := "text only (no sealed secret)"
		switch {
		case s.PlainSecret:
			password = "STORED IN CLEAR: run gateway migrate --secret-key-file FILE"
		case s.PasswordDigest:
			password = "digest or text"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", s.Name, strings.Join(s.Roles, ", "), state, password, certs, s.CreatedAt.Local().Format(time.DateOnly))
	}
	return tw.Flush()
}

func runSystemCert(ctx context.Context, args []string) error {
	var catalogDSN string
	var certFiles, fingerprints stringList
	var add, clear, asJSON bool
	f := newFlags("system cert SYSTEM", "Requires SYSTEM to present a TLS client certificate, besides its UsernameToken: one of\n"+
		"those named by --cert (PEM files; the first certificate in each) or --fingerprint (SHA-256 hex,\n"+
		"colons allowed, as 'openssl x509 -noout -fingerprint -sha256' prints it). Without --add they\n"+
		"replace the ones it had; --clear lifts the requirement. Gateways apply it within 5 seconds and\n"+
		"must ask for client certificates (serve --tls-client-ca, the CA that issued them). To rotate:\n"+
		"--cert NEW --add, switch the system over, then --cert NEW alone.")
	f.catalogDSN(&catalogDSN)
	f.Var(&certFiles, "cert", "PEM file of a certificate the system presents (repeatable)")
	f.Var(&fingerprints, "fingerprint", "SHA-256 fingerprint of a certificate the system presents (repeatable)")
	f.BoolVar(&add, "add", false, "keep the certificates the system has and add these (a rotation)")
	f.BoolVar(&clear, "clear", false, "require no client certificate of the system any more")
	f.BoolVar(&asJSON, "json", false, "print JSON instead of text")
	pos, err := f.parseArgs(args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return errors.New("system cert: name the system: gateway system cert SYSTEM --cert FILE ('gateway system list' shows them)")
	}
	name := pos[0]
	given := len(certFiles) + len(fingerprints)
	switch {
	case clear && (given > 0 || add):
		return errors.New("system cert: --clear goes alone; to replace the certificates give --cert or --fingerprint without it")
	case !clear && given == 0:
		return errors.New("system cert: give --cert FILE or --fingerprint SHA256 (or --clear to require none)")
	}
	var pins []string
	var described []string // what each --cert is, for the operator
	for _, file := range certFiles {
		cert, err := readClientCert(file)
		if err != nil {
			return err
		}
		pin := soap.CertSHA256(cert)
		pins = append(pins, pin)
		described = append(described, fmt.Sprintf("%s: %s, issued by %s, until %s, SHA-256 %s",
			file, cert.Subject, cert.Issuer, cert.NotAfter.Format(time.DateOnly), pin))
	}
	for _, fp := range fingerprints {
		pin, err := parseFingerprint(fp)
		if err != nil {
			return err
		}
		pins = append(pins, pin)
	}
	catalog, closeCatalog, err := openCatalog(ctx, catalogDSN)
	if err != nil {
		return err
	}
	defer closeCatalog()
	set, err := catalog.SetClientCerts(ctx, name, pins, add)
	if errors.Is(err, shard.ErrNoSuchSystem) {
		return fmt.Errorf("no system %q ('gateway system list' shows them)", name)
	}
	if err != nil {
		return err
	}
	if asJSON {
		return writeJSON(map[string]any{"system": name, "clientCertSha256": set, "required": len(set) > 0})
	}
	if len(set) == 0 {
		fmt.Printf("system %s no longer needs a client certificate (gateways apply it within 5 s)\n", name)
		return nil
	}
	for _, d := range described {
		fmt.Println(d)
	}
	fmt.Printf("system %s must now present one of %d client certificates (gateways apply it within 5 s):\n", name, len(set))
	for _, pin := range set {
		fmt.Printf("  %s\n", pin)
	}
	fmt.Println("Gateways must ask for client certificates: serve --tls-client-ca FILE, the CA that issued them.")
	return nil
}

// readClientCert reads the first certificate of a PEM file and refuses
// one that cannot authenticate a TLS client now.
func readClientCert(file string) (*x509.Certificate, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("--cert: %w", err)
	}
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			return nil, fmt.Errorf("--cert %s: no PEM certificate in it (convert DER with: openssl x509 -inform der -in FILE -out FILE.pem)", file)
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("--cert %s: %w", file, err)
		}
		if len(cert.ExtKeyUsage) > 0 && !slices.Contains(cert.ExtKeyUsage, x509.ExtKeyUsageClientAuth) &&
			!slices.Contains(cert.ExtKeyUsage, x509.ExtKeyUsageAny) {
			return nil, fmt.Errorf("--cert %s: %s cannot authenticate a TLS client (its extended key usage lacks clientAuth); the handshake would refuse it", file, cert.Subject)
		}
		if time.Now().After(cert.NotAfter) {
			return nil, fmt.Errorf("--cert %s: %s expired on %s", file, cert.Subject, cert.NotAfter.Format(time.DateOnly))
		}
		return cert, nil
	}
}

// parseFingerprint reads a SHA-256 fingerprint as tools print it: hex, any
// case, with or without colons or spaces, after an optional
// "SHA256 Fingerprint=".
func parseFingerprint(s string) (string, error) {
	if _, after, ok := strings.Cut(s, "="); ok {
		s = after
	}
	s = strings.ToLower(strings.NewReplacer(":", "", " ", "").Replace(strings.TrimSpace(s)))
	if b, err := hex.DecodeString(s); err != nil || len(b) != 32 {
		return "", fmt.Errorf("--fingerprint %q: want a SHA-256 fingerprint, 64 hex digits (colons allowed)", s)
	}
	return s, nil
}
