package testservers

import (
	"bufio"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestPostgres starts a real server, creates a database and queries it
// through psql, then checks that Stop cleans up and is idempotent.
func TestPostgres(t *testing.T) {
	start := time.Now()
	pg, err := StartPostgres()
	RequireT(t, err)
	t.Cleanup(func() { pg.Stop() })
	t.Logf("StartPostgres took %v (port %d, dir %s)", time.Since(start), pg.Port, pg.Dir)

	if pg.Host != "127.0.0.1" || pg.Port == 0 {
		t.Fatalf("bad address %s:%d", pg.Host, pg.Port)
	}
	if err := pg.CreateDatabase("medcard_it"); err != nil {
		t.Fatal(err)
	}
	if err := pg.CreateDatabase("medcard_it"); err == nil {
		t.Fatal("creating the same database twice should fail")
	}
	out, err := pg.psql("medcard_it", "select 1")
	if err != nil || strings.TrimSpace(out) != "1" {
		t.Fatalf("psql select 1: %q, %v", out, err)
	}
	out, err = pg.psql("medcard_it", "select current_database() || ' ' || current_user || ' ' || pg_encoding_to_char(encoding) from pg_database where datname = current_database()")
	if err != nil || strings.TrimSpace(out) != "medcard_it postgres UTF8" {
		t.Fatalf("database check: %q, %v", out, err)
	}
	want := "postgres://postgres@127.0.0.1:" + itoa(pg.Port) + "/medcard_it?sslmode=disable"
	if got := pg.DSN("medcard_it"); got != want {
		t.Fatalf("DSN = %q, want %q", got, want)
	}
	// psql accepts the DSN too, which proves it is a usable libpq URL.
	if out, err := exec.Command(psqlPath(pg), "-X", "-tAc", "select 2", pg.DSN("medcard_it")).CombinedOutput(); err != nil || strings.TrimSpace(string(out)) != "2" {
		t.Fatalf("psql via DSN: %q, %v", out, err)
	}

	if err := pg.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := pg.Stop(); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
	if _, err := os.Stat(pg.Dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("dir %s still exists after Stop: %v", pg.Dir, err)
	}
	if c, err := net.DialTimeout("tcp", net.JoinHostPort(pg.Host, itoa(pg.Port)), time.Second); err == nil {
		c.Close()
		t.Fatal("server still accepts connections after Stop")
	}
}

// TestRedis starts a real redis-server and PINGs it over raw TCP.
func TestRedis(t *testing.T) {
	start := time.Now()
	r, err := StartRedis()
	RequireT(t, err)
	t.Cleanup(func() { r.Stop() })
	t.Logf("StartRedis took %v (%s)", time.Since(start), r.Addr)

	if !strings.HasPrefix(r.Addr, "127.0.0.1:") {
		t.Fatalf("Addr = %q", r.Addr)
	}
	c, err := net.DialTimeout("tcp", r.Addr, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(2 * time.Second))
	io.WriteString(c, "PING\r\n")
	line, err := bufio.NewReader(c).ReadString('\n')
	c.Close()
	if err != nil || !strings.HasPrefix(line, "+PONG") {
		t.Fatalf("PING reply %q, %v", line, err)
	}

	if err := r.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := r.Stop(); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
	if _, err := os.Stat(r.Dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("dir %s still exists after Stop: %v", r.Dir, err)
	}
	if pingRedis(r.Addr) == nil {
		t.Fatal("redis still answers after Stop")
	}
}

// TestNilStop checks the nil-safety that the TestMain pattern relies on.
func TestNilStop(t *testing.T) {
	var pg *Postgres
	var r *Redis
	if pg.Stop() != nil || r.Stop() != nil {
		t.Fatal("Stop on nil must return nil")
	}
	if !MainOrSkip(nil) {
		t.Fatal("MainOrSkip(nil) must be true")
	}
}

// TestPGBinDirOverride checks that PG_BINDIR wins and is validated.
func TestPGBinDirOverride(t *testing.T) {
	t.Setenv("PG_BINDIR", t.TempDir())
	if _, err := findPGBinDir(); err == nil {
		t.Fatal("PG_BINDIR without initdb should be an error")
	}
}

func psqlPath(p *Postgres) string {
	if path, err := exec.LookPath(p.binDir + "/psql"); err == nil {
		return path
	}
	return "psql"
}

func itoa(i int) string { return strconv.Itoa(i) }

// TestWatchdogCleansUpAfterKill SIGKILLs a child test binary that holds both
// servers and checks that the watchdogs stop them and remove their dirs.
func TestWatchdogCleansUpAfterKill(t *testing.T) {
	if os.Getenv("TESTSERVERS_HELPER") == "1" {
		t.Skip("helper mode")
	}
	if testing.Short() {
		t.Skip("short mode")
	}
	_, pgErr := findPGBinDir()
	_, redisErr := exec.LookPath("redis-server")
	RequireT(t, errors.Join(pgErr, redisErr))

	cmd := exec.Command(os.Args[0], "-test.run=^TestWatchdogHelper$", "-test.v")
	cmd.Env = append(os.Environ(), "TESTSERVERS_HELPER=1")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var fields []string
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "HELPER "); ok {
			fields = strings.Fields(rest)
			break
		}
	}
	cmd.Process.Kill()
	cmd.Wait()
	if len(fields) != 4 {
		t.Fatalf("helper did not report its servers (got %q)", fields)
	}
	pgAddr, pgDir, redisAddr, redisDir := fields[0], fields[1], fields[2], fields[3]

	deadline := time.Now().Add(15 * time.Second)
	for {
		pgUp := dialOK(pgAddr)
		redisUp := dialOK(redisAddr)
		_, e1 := os.Stat(pgDir)
		_, e2 := os.Stat(redisDir)
		if !pgUp && !redisUp && errors.Is(e1, os.ErrNotExist) && errors.Is(e2, os.ErrNotExist) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not cleaned up after kill: pg up=%v redis up=%v pgDir=%v redisDir=%v", pgUp, redisUp, e1, e2)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestWatchdogHelper is the child of TestWatchdogCleansUpAfterKill: it starts
// both servers, reports them on stdout and waits to be killed.
func TestWatchdogHelper(t *testing.T) {
	if os.Getenv("TESTSERVERS_HELPER") != "1" {
		t.Skip("only run as a helper process")
	}
	pg, err := StartPostgres()
	if err != nil {
		t.Fatal(err)
	}
	r, err := StartRedis()
	if err != nil {
		t.Fatal(err)
	}
	os.Stdout.WriteString("HELPER " + pg.Host + ":" + itoa(pg.Port) + " " + pg.Dir + " " + r.Addr + " " + r.Dir + "\n")
	time.Sleep(time.Minute)
}

func dialOK(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
	if err != nil {
		return false
	}
	c.Close()
	return true
}
