package testservers

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestDeployPatroniConfigs checks every Patroni configuration under
// deploy/patroni/ with Patroni's own validator (the Debian patroni the
// failover tests run), and that each keeps the settings the gateway's
// promise rests on: strict synchronous mode and pg_rewind.
func TestDeployPatroniConfigs(t *testing.T) {
	bin, err := exec.LookPath("patroni")
	if err != nil {
		RequireT(t, err)
	}
	files, err := filepath.Glob("../../deploy/patroni/*.yml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no deploy/patroni/*.yml (%v)", err)
	}
	for _, f := range files {
		out, err := exec.Command(bin, "--validate-config", f).CombinedOutput()
		if err != nil {
			t.Errorf("patroni --validate-config %s: %v\n%s", f, err, out)
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"synchronous_mode: true", "synchronous_mode_strict: true", "use_pg_rewind: true", `synchronous_commit: "on"`} {
			if !strings.Contains(string(b), want) {
				t.Errorf("%s lacks %q", f, want)
			}
		}
	}
}
