package main

// gateway dev-cert: the local CA and certificates `make run` serves HTTPS
// with (package internal/devcert makes them).

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"time"

	"github.com/sharedmedcard/gateway/internal/credential"
	"github.com/sharedmedcard/gateway/internal/devcert"
	"github.com/sharedmedcard/gateway/soap"
)

// stringList is a flag that may be given several times.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

func runDevCert(_ context.Context, args []string) error {
	var dir, hosts, secretKey string
	var clients stringList
	var asJSON bool
	f := newFlags("dev-cert", "Makes what a gateway on this machine serves HTTPS with: a local CA (ca.pem, kept once made, so\n"+
		"whatever trusts it goes on trusting) and a server certificate it signs for --hosts (server.pem,\n"+
		"remade when it nears its end or lacks a host), and with --client a client certificate per name\n"+
		"(client-NAME.pem) for trying a system's client authentication. For development only: the CA's\n"+
		"key lies beside it. Serve with: gateway serve --tls-cert DIR/server.pem --tls-key DIR/server-key.pem")
	f.string(&dir, "dir", "MEDCARD_DEV_CERT_DIR", ".stack/tls", "directory of the certificates and keys")
	f.string(&hosts, "hosts", "MEDCARD_DEV_CERT_HOSTS", strings.Join(devcert.DefaultHosts, ","), "comma-separated DNS names and IP addresses the server certificate is for")
	f.StringVar(&secretKey, "secret-key", "", "also make the key the systems' secrets are sealed with at this path, if no file is there (serve --secret-key-file); for a stack without a shell, as docker-compose's")
	f.Var(&clients, "client", "also make a client certificate with this name (a system's; repeatable)")
	f.BoolVar(&asJSON, "json", false, "print JSON instead of text")
	if err := f.Parse(args); err != nil {
		return err
	}
	if f.NArg() > 0 {
		return fmt.Errorf("dev-cert takes no arguments (got %q); the directory is --dir", f.Args())
	}
	var hostList []string
	for _, h := range strings.Split(hosts, ",") {
		if h = strings.TrimSpace(h); h != "" {
			hostList = append(hostList, h)
		}
	}
	now := time.Now()
	res, err := devcert.Ensure(dir, hostList, now)
	if err != nil {
		return err
	}
	keyMade := false
	if secretKey != "" {
		if _, err := os.Stat(secretKey); errors.Is(err, fs.ErrNotExist) {
			if err := credential.NewKeyFile(secretKey); err != nil {
				return err
			}
			keyMade = true
		} else if err != nil {
			return err
		}
	}
	type clientOut struct {
		Name     string `json:"name"`
		Cert     string `json:"cert"`
		Key      string `json:"key"`
		SHA256   string `json:"sha256"`
		NotAfter string `json:"notAfter"`
	}
	var made []clientOut
	for _, name := range clients {
		cert, certFile, keyFile, err := devcert.IssueClient(dir, name, now)
		if err != nil {
			return err
		}
		made = append(made, clientOut{name, certFile, keyFile, soap.CertSHA256(cert), cert.NotAfter.Format(time.DateOnly)})
	}
	if asJSON {
		return writeJSON(map[string]any{
			"caCert": res.CACert, "caCreated": res.CACreated, "caSha256": soap.CertSHA256(res.CA),
			"serverCert": res.ServerCert, "serverKey": res.ServerKey, "serverCreated": res.ServerCreated,
			"hosts": hostList, "serverNotAfter": res.Server.NotAfter.Format(time.DateOnly), "clients": made,
			"secretKey": secretKey, "secretKeyCreated": keyMade,
		})
	}
	state := func(created bool) string {
		if created {
			return "made"
		}
		return "kept"
	}
	fmt.Printf("CA                  %s (%s; SHA-256 %s)\n", res.CACert, state(res.CACreated), soap.CertSHA256(res.CA))
	fmt.Printf("server certificate  %s and %s (%s; for %s; until %s)\n", res.ServerCert, res.ServerKey,
		state(res.ServerCreated), strings.Join(hostList, ", "), res.Server.NotAfter.Format(time.DateOnly))
	if secretKey != "" {
		fmt.Printf("secret key          %s (%s; serve, seed and system take it as --secret-key-file)\n", secretKey, state(keyMade))
	}
	for _, c := range made {
		fmt.Printf("client certificate  %s and %s (for %s; SHA-256 %s; until %s)\n", c.Cert, c.Key, c.Name, c.SHA256, c.NotAfter)
	}
	fmt.Printf("\nServe HTTPS:  gateway serve --tls-cert %s --tls-key %s --tls-client-ca %s\n", res.ServerCert, res.ServerKey, res.CACert)
	if res.CACreated {
		fmt.Printf("Trust the CA: curl --cacert %[1]s; Debian: cp %[1]s /usr/local/share/ca-certificates/medcard-dev-ca.crt\n"+
			"              && update-ca-certificates; browsers: import it under their certificate authorities.\n", res.CACert)
	}
	for _, c := range made {
		fmt.Printf("Require it:   gateway system cert %s --cert %s  (then curl --cert %s --key %s)\n", c.Name, c.Cert, c.Cert, c.Key)
	}
	return nil
}
