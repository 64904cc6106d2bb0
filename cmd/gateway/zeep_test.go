package main

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestStrictZeepClient runs an independent strict client (python3-zeep,
// installed by `make test`) against the served WSDL: it calls every
// operation on the SOAP 1.1 and the SOAP 1.2 port, and validates every
// request and response against the schema in the WSDL. See
// testdata/zeep_client.py.
func TestStrictZeepClient(t *testing.T) {
	requireEnv(t)
	// Debian's python3-zeep installs for /usr/bin/python3; the python3
	// first on PATH may be another interpreter.
	const python = "/usr/bin/python3"
	if err := exec.Command(python, "-c", "import zeep, lxml").Run(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("python3-zeep is missing (make test installs it): %v", err)
		}
		t.Skipf("python3-zeep is missing (make test installs it): %v", err)
	}
	for _, port := range []string{"MedicineCardSoap11Port", "MedicineCardSoap12Port"} {
		t.Run(port, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			person := freshPerson(t)
			out, err := exec.CommandContext(ctx, python, "testdata/zeep_client.py", env.endpoint+"?wsdl", port, person).CombinedOutput()
			if err != nil {
				t.Fatalf("zeep client on %s: %v\n%s", port, err, out)
			}
			if !strings.Contains(string(out), "ok: ") {
				t.Fatalf("zeep client on %s did not finish:\n%s", port, out)
			}
			t.Logf("%s: %s", port, strings.TrimSpace(string(out)))
		})
	}
}
