package testservers

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// TestPostgresRestart crashes a server with StopImmediate, brings it back
// with Start on the same port and data dir, and checks that committed data
// survived and that both methods refuse after Stop.
func TestPostgresRestart(t *testing.T) {
	pg, err := StartPostgres()
	RequireT(t, err)
	t.Cleanup(func() { pg.Stop() })
	if err := pg.CreateDatabase("restart_it"); err != nil {
		t.Fatal(err)
	}
	if out, err := pg.psql("restart_it", "CREATE TABLE t (v int); INSERT INTO t VALUES (42)"); err != nil {
		t.Fatalf("psql: %v\n%s", err, out)
	}
	port := pg.Port

	if err := pg.StopImmediate(); err != nil {
		t.Fatal(err)
	}
	if out, err := pg.psql("restart_it", "SELECT 1"); err == nil {
		t.Fatalf("psql after StopImmediate answered %q, want an error", out)
	}
	if err := pg.Start(); err != nil {
		t.Fatal(err)
	}
	if pg.Port != port {
		t.Fatalf("Port after Start = %d, want %d", pg.Port, port)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, err := pg.psql("restart_it", "SELECT v FROM t")
		if err == nil {
			if got := strings.TrimSpace(out); got != "42" {
				t.Fatalf("SELECT v after restart = %q, want 42", got)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("server did not come back within 30s: %v\n%s\nlog:\n%s", err, out, pg.LogTail(20))
		}
		time.Sleep(20 * time.Millisecond)
	}

	if err := pg.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := pg.StopImmediate(); !errors.Is(err, errStopped) {
		t.Fatalf("StopImmediate after Stop = %v, want %v", err, errStopped)
	}
	if err := pg.Start(); !errors.Is(err, errStopped) {
		t.Fatalf("Start after Stop = %v, want %v", err, errStopped)
	}
}
