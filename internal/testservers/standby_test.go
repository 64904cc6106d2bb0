package testservers

import (
	"strings"
	"testing"
	"time"
)

// TestStandby: a standby streams from its primary, serves what the primary
// committed under ANY 1 synchronous replication, comes back after a crash,
// and takes writes once promoted.
func TestStandby(t *testing.T) {
	primary, err := StartPostgres()
	RequireT(t, err)
	t.Cleanup(func() { primary.Stop() })
	standby, err := StartStandby(primary, "s1")
	RequireT(t, err)
	t.Cleanup(func() { standby.Stop() })
	if err := primary.SetSynchronousStandbys("ANY 1 (s1)"); err != nil {
		t.Fatal(err)
	}
	if out, err := primary.psql("postgres", "CREATE TABLE t (v int); INSERT INTO t VALUES (7)"); err != nil {
		t.Fatalf("write on the primary: %v\n%s", err, out)
	}
	// remote flush, not remote apply: the row may need a moment to show.
	if err := waitFor(10*time.Second, func() error {
		out, err := standby.psql("postgres", "SELECT v FROM t")
		if err != nil || strings.TrimSpace(out) != "7" {
			return errString("standby has " + strings.TrimSpace(out))
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if out, err := standby.psql("postgres", "INSERT INTO t VALUES (8)"); err == nil || !strings.Contains(out, "read-only") {
		t.Errorf("a write on the standby = %v %q, want it refused as read-only", err, out)
	}

	if err := standby.StopImmediate(); err != nil {
		t.Fatal(err)
	}
	if err := standby.Start(); err != nil {
		t.Fatal(err)
	}
	if err := primary.WaitStreaming("s1", 30*time.Second); err != nil {
		t.Fatalf("after a crash the standby does not stream again: %v\n%s", err, standby.LogTail(20))
	}

	if err := standby.Promote(); err != nil {
		t.Fatal(err)
	}
	if out, err := standby.psql("postgres", "INSERT INTO t VALUES (9)"); err != nil {
		t.Errorf("a write on the promoted standby: %v\n%s", err, out)
	}
}

type errString string

func (e errString) Error() string { return string(e) }
