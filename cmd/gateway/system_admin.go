package main

// gateway system add | grant | revoke | rotate-secret | disable | enable:
// the integrating systems' registration, roles, secrets and state. A secret
// is made up and printed once, or read from stdin; the catalog keeps it
// hashed and, with --secret-key-file, sealed (shard/catalog_secrets.go).

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"

	"github.com/sharedmedcard/gateway/medcard"
	"github.com/sharedmedcard/gateway/shard"
)

// systemFlags are the flags the changing system subcommands share.
type systemFlags struct {
	catalogDSN  string
	keyFile     string
	asJSON      bool
	secretStdin bool
}

func newSystemFlags(name, synopsis string, sf *systemFlags, withSecret bool) flags {
	f := newFlags(name, synopsis)
	f.catalogDSN(&sf.catalogDSN)
	f.BoolVar(&sf.asJSON, "json", false, "print JSON instead of text")
	if withSecret {
		f.secretKeyFile(&sf.keyFile)
		f.BoolVar(&sf.secretStdin, "secret-stdin", false,
			"read the secret from the first line of stdin; without it one is made up and printed once")
	}
	return f
}

// open connects to the catalog, with the secret key when given.
func (sf *systemFlags) open(ctx context.Context) (*shard.Catalog, func(), error) {
	catalog, closeCatalog, err := openCatalog(ctx, sf.catalogDSN)
	if err != nil {
		return nil, nil, err
	}
	if err := loadSecretKey(catalog, sf.keyFile); err != nil {
		closeCatalog()
		return nil, nil, err
	}
	return catalog, closeCatalog, nil
}

// minSystemSecretLength is the shortest secret read from stdin: a shared
// secret guessed offline from a captured digest must not be short.
const minSystemSecretLength = 16

// secret is the secret to set: from stdin with --secret-stdin, otherwise
// made up (generated says so, to print it).
func (sf *systemFlags) secret() (secret string, generated bool, err error) {
	if !sf.secretStdin {
		return madeUpPassword() + madeUpPassword(), true, nil
	}
	line, err := bufio.NewReader(os.Stdin).ReadString('\n')
	if err != nil && line == "" {
		return "", false, fmt.Errorf("--secret-stdin: no secret on stdin: %w", err)
	}
	secret = strings.TrimRight(line, "\r\n")
	if len([]rune(secret)) < minSystemSecretLength {
		return "", false, fmt.Errorf("--secret-stdin: a system's secret needs at least %d characters (without --secret-stdin one is made up)", minSystemSecretLength)
	}
	return secret, false, nil
}

// printSecret reports a secret set, showing it only if made up here, and
// says what the system can use with it.
func (sf *systemFlags) printSecret(name, what, secret string, generated, sealed bool) error {
	if sf.asJSON {
		out := map[string]any{"system": name, "result": what, "passwordDigest": sealed}
		if generated {
			out["secret"] = secret
		}
		return writeJSON(out)
	}
	fmt.Printf("system %s %s\n", name, what)
	if generated {
		fmt.Printf("secret: %s\n(shown once; hand it over safely. 'gateway system rotate-secret %s' sets a new one.)\n", secret, name)
	}
	if !sealed {
		fmt.Println("Without --secret-key-file the secret is stored hashed only: the system can authenticate with PasswordText over TLS,\n" +
			"not PasswordDigest. Rotate it with the gateways' key (--secret-key-file) to allow PasswordDigest.")
	}
	return nil
}

// systemRefused explains a refusal of the catalog, with what to do.
func systemRefused(err error, name string) error {
	switch {
	case errors.Is(err, shard.ErrNoSuchSystem):
		return fmt.Errorf("no system %q ('gateway system list' shows them)", name)
	case errors.Is(err, shard.ErrSystemExists):
		return fmt.Errorf("system %q exists ('gateway system rotate-secret %s' gives it a new secret, 'gateway system grant' more roles)", name, name)
	}
	return err
}

// systemName is what a system may be called: its WS-Security username and
// WhitelistingHeader/SystemName.
var systemName = regexp.MustCompile(`^[a-z][a-z0-9._-]{1,62}$`)

// parseRoles reads --role values (repeatable, or comma-separated).
func parseRoles(given []string) ([]medcard.Role, error) {
	var roles []medcard.Role
	for _, g := range given {
		for _, r := range strings.Split(g, ",") {
			role, err := medcard.ParseRole(strings.TrimSpace(r))
			if err != nil {
				return nil, fmt.Errorf("--role %q: want Doctor, Nurse or Pharmacist", r)
			}
			roles = append(roles, role)
		}
	}
	return roles, nil
}

func runSystemAdd(ctx context.Context, args []string) error {
	var sf systemFlags
	var roleArgs stringList
	f := newSystemFlags("system add NAME", "Registers an integrating system that may call the SOAP service as --role (repeatable).\n"+
		"Its secret is made up and printed once (or read with --secret-stdin); the catalog keeps it\n"+
		"hashed and, with --secret-key-file (the gateways' key), sealed so PasswordDigest works.", &sf, true)
	f.Var(&roleArgs, "role", "a role the system may request: Doctor, Nurse or Pharmacist (repeatable; required)")
	pos, err := f.parseArgs(args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return errors.New("system add: name the system: gateway system add NAME --role Doctor")
	}
	name := pos[0]
	if !systemName.MatchString(name) {
		return fmt.Errorf("system add: %q is not a system name: lowercase letters, digits, '.', '_', '-', starting with a letter, 2-63 long", name)
	}
	roles, err := parseRoles(roleArgs)
	if err != nil {
		return err
	}
	if len(roles) == 0 {
		return errors.New("system add: give at least one --role (Doctor, Nurse or Pharmacist)")
	}
	secret, generated, err := sf.secret()
	if err != nil {
		return err
	}
	catalog, closeCatalog, err := sf.open(ctx)
	if err != nil {
		return err
	}
	defer closeCatalog()
	if err := catalog.AddSystem(ctx, medcard.System{Name: name, Secret: secret, Roles: roles}); err != nil {
		return systemRefused(err, name)
	}
	return sf.printSecret(name, "added", secret, generated, catalog.HasSecretKey())
}

func runSystemRotateSecret(ctx context.Context, args []string) error {
	var sf systemFlags
	f := newSystemFlags("system rotate-secret NAME", "Gives system NAME a new secret, made up and printed once (or read with --secret-stdin).\n"+
		"The old secret stops working at once on this host and within 5 seconds on every gateway.", &sf, true)
	pos, err := f.parseArgs(args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return errors.New("system rotate-secret: name the system: gateway system rotate-secret NAME ('gateway system list' shows them)")
	}
	secret, generated, err := sf.secret()
	if err != nil {
		return err
	}
	catalog, closeCatalog, err := sf.open(ctx)
	if err != nil {
		return err
	}
	defer closeCatalog()
	sealed, err := catalog.RotateSecret(ctx, pos[0], secret)
	if err != nil {
		return systemRefused(err, pos[0])
	}
	return sf.printSecret(pos[0], "has a new secret; the old one no longer works", secret, generated, sealed)
}

func runSystemGrant(ctx context.Context, args []string) error {
	return runSystemRoles(ctx, "grant", "Lets system NAME request --role besides the roles it may.", args)
}

func runSystemRevoke(ctx context.Context, args []string) error {
	return runSystemRoles(ctx, "revoke", "Takes --role from the roles system NAME may request (gateways apply it within 5 s).", args)
}

func runSystemRoles(ctx context.Context, verb, synopsis string, args []string) error {
	var sf systemFlags
	var roleArgs stringList
	f := newSystemFlags("system "+verb+" NAME", synopsis, &sf, false)
	f.Var(&roleArgs, "role", "a role: Doctor, Nurse or Pharmacist (repeatable; required)")
	pos, err := f.parseArgs(args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return fmt.Errorf("system %s: name the system: gateway system %s NAME --role ROLE ('gateway system list' shows them)", verb, verb)
	}
	roles, err := parseRoles(roleArgs)
	if err != nil {
		return err
	}
	if len(roles) == 0 {
		return fmt.Errorf("system %s: give at least one --role (Doctor, Nurse or Pharmacist)", verb)
	}
	catalog, closeCatalog, err := sf.open(ctx)
	if err != nil {
		return err
	}
	defer closeCatalog()
	change := catalog.GrantRoles
	if verb == "revoke" {
		change = catalog.RevokeRoles
	}
	now, err := change(ctx, pos[0], roles)
	if err != nil {
		return systemRefused(err, pos[0])
	}
	if sf.asJSON {
		return writeJSON(map[string]any{"system": pos[0], "roles": now})
	}
	if len(now) == 0 {
		fmt.Printf("system %s may request no role: it can call nothing ('gateway system grant %s --role ROLE' gives one)\n", pos[0], pos[0])
		return nil
	}
	fmt.Printf("system %s may request: %s (gateways apply it within 5 s)\n", pos[0], strings.Join(now, ", "))
	return nil
}

func runSystemDisable(ctx context.Context, args []string) error {
	return runSystemEnabled(ctx, false, args)
}

func runSystemEnable(ctx context.Context, args []string) error {
	return runSystemEnabled(ctx, true, args)
}

func runSystemEnabled(ctx context.Context, enabled bool, args []string) error {
	verb, synopsis := "disable", "Refuses every request of system NAME (within 5 s on every gateway), keeping its secret,\nroles and certificates; 'gateway system enable NAME' lets it back."
	if enabled {
		verb, synopsis = "enable", "Lets system NAME, disabled before, call the service again with its secret and roles."
	}
	var sf systemFlags
	f := newSystemFlags("system "+verb+" NAME", synopsis, &sf, false)
	pos, err := f.parseArgs(args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return fmt.Errorf("system %s: name the system: gateway system %s NAME ('gateway system list' shows them)", verb, verb)
	}
	catalog, closeCatalog, err := sf.open(ctx)
	if err != nil {
		return err
	}
	defer closeCatalog()
	if err := catalog.SetSystemEnabled(ctx, pos[0], enabled); err != nil {
		return systemRefused(err, pos[0])
	}
	if sf.asJSON {
		return writeJSON(map[string]any{"system": pos[0], "enabled": enabled})
	}
	fmt.Printf("system %s %sd (gateways apply it within 5 s)\n", pos[0], verb)
	return nil
}
