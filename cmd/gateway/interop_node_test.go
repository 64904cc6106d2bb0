package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// nodeSoapPackage is the npm package of node-soap, the SOAP client Node
// integrators use; testdata/interop/node/package.json pins its version and
// package-lock.json every dependency's, with their integrity.
const nodeSoapPackage = "soap"

// requireNodeSoap returns the node_modules directory `make test-deps`
// installs node-soap into with npm ci (.cache/node-soap; the Makefile
// passes it in MEDCARD_NODE_MODULES). It skips the test (fails it under
// CI=true) unless that directory holds node-soap at the pinned version.
func requireNodeSoap(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("MEDCARD_NODE_MODULES")
	if dir == "" {
		dir = filepath.Join("..", "..", ".cache", "node-soap", "node_modules")
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		t.Fatal(err)
	}
	var pinned struct {
		Dependencies map[string]string `json:"dependencies"`
	}
	readJSON(t, testdataPath(t, "node/package.json"), &pinned)
	want := pinned.Dependencies[nodeSoapPackage]
	if want == "" {
		t.Fatalf("testdata/interop/node/package.json pins no %s", nodeSoapPackage)
	}
	var installed struct {
		Version string `json:"version"`
	}
	raw, err := os.ReadFile(filepath.Join(dir, nodeSoapPackage, "package.json"))
	if err == nil {
		err = json.Unmarshal(raw, &installed)
	}
	if err != nil || installed.Version != want {
		msg := "node-soap " + want + " is not installed in " + dir + ": make test-deps installs it (npm ci)"
		if err != nil {
			msg += "; " + err.Error()
		} else {
			msg += "; found " + installed.Version
		}
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return dir
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err == nil {
		err = json.Unmarshal(raw, v)
	}
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
}

// TestInteropNode: node-soap (npm soap, pinned in testdata/interop/node)
// builds its client from ?wsdl, and testdata/interop/node/client.js calls
// the gateway through it on the SOAP 1.1 port and, with
// forceSoap12Headers, the SOAP 1.2 port: with a PasswordDigest from
// node-soap's WSSecurity over plain HTTP, and with its default
// PasswordText over HTTPS (a gateway of the test's own CA, trusted with
// NODE_EXTRA_CA_CERTS).
func TestInteropNode(t *testing.T) {
	e := requireEnv(t)
	requireToolchain(t, "nodejs npm", []string{"node"})
	// step runs node with the test's environment: NODE_PATH finds
	// node-soap, NODE_EXTRA_CA_CERTS trusts the HTTPS gateway.
	t.Setenv("NODE_PATH", requireNodeSoap(t))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	https := startHTTPSGateway(t, false)
	t.Setenv("NODE_EXTRA_CA_CERTS", https.certs.CACert)
	client := testdataPath(t, "node/client.js")
	for _, c := range []struct{ name, endpoint, version, password string }{
		{"soap11-digest", e.endpoint, "1.1", "digest"},
		{"soap12-digest", e.endpoint, "1.2", "digest"},
		{"soap11-text-https", https.endpoint, "1.1", "text"},
		{"soap12-text-https", https.endpoint, "1.2", "text"},
	} {
		t.Run(c.name, func(t *testing.T) {
			out := step(ctx, t, t.TempDir(), "node", client, c.endpoint+"?wsdl", c.version, freshPerson(t), c.password)
			requireOK(t, "the node-soap client", out)
		})
	}
}
