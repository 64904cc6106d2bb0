// Package testservers starts real, throwaway PostgreSQL and Redis servers for
// integration tests: each lives in its own temp dir, listens only on a free
// 127.0.0.1 port, and is removed again by Stop.
//
// Typical TestMain pattern (servers shared by all tests of a package):
//
//	var pg *testservers.Postgres
//
//	func TestMain(m *testing.M) {
//		var err error
//		pg, err = testservers.StartPostgres()
//		if !testservers.MainOrSkip(err) { // exits 1 under CI=true
//			pg = nil // tests call t.Skip when pg == nil
//		}
//		code := m.Run()
//		pg.Stop() // nil-safe; os.Exit skips defers, so call it explicitly
//		os.Exit(code)
//	}
//
//	func TestSomething(t *testing.T) {
//		if pg == nil {
//			t.Skip("no PostgreSQL")
//		}
//		...
//	}
//
// Or per test: pg, err := testservers.StartPostgres(); testservers.RequireT(t, err);
// t.Cleanup(func() { pg.Stop() }).
//
// Missing binaries make tests skip locally but fail when CI=true, so CI can
// never go green by silently skipping the integration tests.
//
// Each server also gets a tiny watchdog shell process that holds a pipe from
// the test binary: if the binary dies without calling Stop (go test -timeout,
// a panic, SIGKILL) the pipe closes and the watchdog stops the server and
// removes its dir, so no orphaned servers pile up on developer machines or CI.
package testservers

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Postgres is a throwaway PostgreSQL server started for a test binary.
type Postgres struct {
	Port int
	Host string // always "127.0.0.1"
	Dir  string // temp dir holding data/, sock/ and postgres.log

	binDir        string
	runAsPostgres bool // true when we are root: postgres refuses to run as root
	watchdog      *watchdog

	mu      sync.Mutex
	stopped bool
}

// Redis is a throwaway redis-server started for a test binary.
type Redis struct {
	Addr string // 127.0.0.1:PORT
	process
}

const (
	loopback     = "127.0.0.1"
	startRetries = 3 // fresh port per try: another process may grab the probed port
)

// StartPostgres initdb's a fresh cluster in a temp dir and starts it on a
// free loopback port. It returns an error (never panics) when the PostgreSQL
// binaries are missing or the server does not come up.
func StartPostgres() (*Postgres, error) {
	return startPostgres((*Postgres).initdb)
}

// startPostgres makes the temp dir, fills the data dir with makeData
// (initdb, or a base backup of a primary) and starts the server on a free
// loopback port.
func startPostgres(makeData func(*Postgres) error) (*Postgres, error) {
	binDir, err := findPGBinDir()
	if err != nil {
		return nil, err
	}
	p := &Postgres{Host: loopback, binDir: binDir, runAsPostgres: os.Geteuid() == 0}
	if p.runAsPostgres {
		if _, err := exec.LookPath("runuser"); err != nil {
			return nil, fmt.Errorf("testservers: running as root needs runuser to start postgres as the postgres user: %w", err)
		}
	}

	p.Dir, err = os.MkdirTemp(os.TempDir(), "testservers-pg-")
	if err != nil {
		return nil, fmt.Errorf("testservers: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			p.Stop()
		}
	}()
	if p.runAsPostgres {
		if err := chownToPostgres(p.Dir); err != nil {
			return nil, err
		}
		// The postgres user must be able to reach the dir; a TMPDIR under
		// e.g. /root is not, so fall back to /tmp.
		if exec.Command("runuser", "-u", "postgres", "--", "test", "-x", p.Dir).Run() != nil {
			os.RemoveAll(p.Dir)
			if p.Dir, err = os.MkdirTemp("/tmp", "testservers-pg-"); err != nil {
				return nil, fmt.Errorf("testservers: %w", err)
			}
			if err := chownToPostgres(p.Dir); err != nil {
				return nil, err
			}
		}
	}
	if err := os.Mkdir(p.sockDir(), 0o700); err != nil {
		return nil, fmt.Errorf("testservers: %w", err)
	}
	if p.runAsPostgres {
		if err := chownToPostgres(p.sockDir()); err != nil {
			return nil, err
		}
	}

	if err := makeData(p); err != nil {
		return nil, err
	}

	// Arm the watchdog before the server exists so that even a crash during
	// start cannot leak it.
	stopArgv := p.command("pg_ctl", "stop", "-D", p.dataDir(), "-m", "immediate", "-w").Args
	p.watchdog, err = startWatchdog(shellJoin(stopArgv)+" >/dev/null 2>&1", p.Dir)
	if err != nil {
		return nil, err
	}

	var lastErr error
	for try := 0; try < startRetries; try++ {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		if lastErr = p.start(port); lastErr == nil {
			p.Port = port
			ok = true
			return p, nil
		}
		// Make sure a half-started server is gone before the next try.
		p.command("pg_ctl", "stop", "-D", p.dataDir(), "-m", "immediate", "-w").Run()
	}
	return nil, lastErr
}

func (p *Postgres) dataDir() string { return filepath.Join(p.Dir, "data") }
func (p *Postgres) sockDir() string { return filepath.Join(p.Dir, "sock") }
func (p *Postgres) logFile() string { return filepath.Join(p.Dir, "postgres.log") }

// command builds a command for a PostgreSQL binary, wrapped in
// `runuser -u postgres --` when we are root.
func (p *Postgres) command(name string, args ...string) *exec.Cmd {
	bin := filepath.Join(p.binDir, name)
	var cmd *exec.Cmd
	if p.runAsPostgres {
		cmd = exec.Command("runuser", append([]string{"-u", "postgres", "--", bin}, args...)...)
	} else {
		cmd = exec.Command(bin, args...)
	}
	// A cwd the postgres user can enter avoids "could not change directory" noise.
	cmd.Dir = p.Dir
	return cmd
}

func (p *Postgres) initdb() error {
	base := []string{"-D", p.dataDir(), "-U", "postgres", "--auth=trust", "--encoding=UTF8", "--no-sync"}
	out, err := p.command("initdb", append(base, "--locale=C.UTF-8")...).CombinedOutput()
	if err == nil {
		return nil
	}
	// Older or stripped-down systems may lack the C.UTF-8 locale.
	os.RemoveAll(p.dataDir())
	out2, err2 := p.command("initdb", append(base, "--no-locale")...).CombinedOutput()
	if err2 == nil {
		return nil
	}
	return fmt.Errorf("testservers: initdb failed: %v\n%s\n(with --locale=C.UTF-8: %v\n%s)", err2, out2, err, out)
}

// serverOptions are the postgres options of every start on port.
func (p *Postgres) serverOptions(port int) string {
	return fmt.Sprintf("-p %d -c listen_addresses=%s -c unix_socket_directories=%s"+
		" -c fsync=off -c full_page_writes=off -c max_connections=200 -c shared_buffers=64MB"+
		// Shard moves copy and catch up with logical replication; the
		// launcher starts a new subscription's worker at most once per
		// wal_retrieve_retry_interval (5 s by default), which made every
		// move of a rebalance wait seconds.
		" -c wal_level=logical -c max_replication_slots=32 -c max_wal_senders=32"+
		" -c max_worker_processes=48 -c max_logical_replication_workers=40 -c max_sync_workers_per_subscription=5 -c wal_retrieve_retry_interval=200ms"+
		// pg_basebackup --create-slot creates its slot only once the copy
		// has begun, so a checkpoint in between may remove WAL the copy
		// still needs ("requested WAL segment ... has already been
		// removed", seen once in CI): keep the last 128 MB regardless.
		" -c wal_keep_size=128MB",
		port, loopback, shellQuote(p.sockDir()))
}

func (p *Postgres) start(port int) error {
	opts := p.serverOptions(port)
	out, err := p.command("pg_ctl", "start", "-w", "-t", "60", "-D", p.dataDir(), "-l", p.logFile(), "-o", opts).CombinedOutput()
	if err != nil {
		return fmt.Errorf("testservers: pg_ctl start on port %d failed: %v\n%s\nserver log tail:\n%s",
			port, err, strings.TrimSpace(string(out)), Tail(p.logFile(), 20))
	}
	return nil
}

// DSN returns a libpq URL for database db as the trusted superuser "postgres".
func (p *Postgres) DSN(db string) string {
	return fmt.Sprintf("postgres://postgres@%s:%d/%s?sslmode=disable", p.Host, p.Port, db)
}

// CreateDatabase runs CREATE DATABASE name through psql over TCP.
func (p *Postgres) CreateDatabase(name string) error {
	ident := `"` + strings.ReplaceAll(name, `"`, `""`) + `"`
	if out, err := p.psql("postgres", "CREATE DATABASE "+ident); err != nil {
		return fmt.Errorf("testservers: create database %s: %v\n%s", name, err, out)
	}
	return nil
}

// psql runs one SQL command in database db and returns psql's output. It
// connects over TCP with trust auth, so it needs no OS user switch.
func (p *Postgres) psql(db, sql string) (string, error) {
	bin := filepath.Join(p.binDir, "psql")
	if _, err := os.Stat(bin); err != nil {
		if bin, err = exec.LookPath("psql"); err != nil {
			bin = "/usr/bin/psql"
		}
	}
	cmd := exec.Command(bin, "-X", "-q", "-tA", "-v", "ON_ERROR_STOP=1",
		"-h", p.Host, "-p", strconv.Itoa(p.Port), "-U", "postgres", "-d", db, "-c", sql)
	// Keep a developer's PG* settings (PGPASSWORD, PGSSLMODE, PGOPTIONS...)
	// from leaking into the connection.
	env := []string{"PGCONNECT_TIMEOUT=10"}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PG") {
			env = append(env, kv)
		}
	}
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// Stop stops the server (pg_ctl stop -m immediate) and removes the temp dir.
// It is nil-safe and safe to call more than once.
func (p *Postgres) Stop() error {
	if p == nil {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped {
		return nil
	}
	p.stopped = true
	p.watchdog.disarm()

	var errs []error
	if _, err := os.Stat(filepath.Join(p.dataDir(), "postmaster.pid")); err == nil {
		if out, err := p.command("pg_ctl", "stop", "-D", p.dataDir(), "-m", "immediate", "-w").CombinedOutput(); err != nil {
			errs = append(errs, fmt.Errorf("testservers: pg_ctl stop: %v\n%s", err, out))
		}
	}
	if p.Dir != "" {
		if err := os.RemoveAll(p.Dir); err != nil {
			errs = append(errs, fmt.Errorf("testservers: %w", err))
		}
	}
	return errors.Join(errs...)
}

// StartRedis starts redis-server as a child process (no persistence) on a
// free loopback port and waits until it answers PING.
func StartRedis() (*Redis, error) {
	return startRedisOnFreePort("testservers-redis-", nil, nil)
}

// startRedisOnFreePort starts redis-server with extra arguments on a free
// loopback port in a new temp dir, retrying on another port if the start
// fails, and waits until it answers PING and ready (if given) succeeds.
func startRedisOnFreePort(dirPrefix string, extra []string, ready func(*Redis) error) (*Redis, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, fmt.Errorf("testservers: redis-server not found (apt-get install redis-server): %w", err)
	}
	dir, err := os.MkdirTemp(os.TempDir(), dirPrefix)
	if err != nil {
		return nil, fmt.Errorf("testservers: %w", err)
	}
	var lastErr error
	for try := 0; try < startRetries; try++ {
		port, err := freePort()
		if err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
		r := &Redis{Addr: net.JoinHostPort(loopback, strconv.Itoa(port)), process: process{Dir: dir}}
		if lastErr = r.start(bin, port, extra...); lastErr == nil && ready != nil {
			lastErr = ready(r)
		}
		if lastErr == nil {
			return r, nil
		}
		r.kill()
	}
	os.RemoveAll(dir)
	return nil, lastErr
}

func (r *Redis) start(bin string, port int, extra ...string) error {
	logFile := filepath.Join(r.Dir, "redis.log")
	args := append([]string{
		"--port", strconv.Itoa(port), "--bind", loopback,
		"--save", "", "--appendonly", "no", "--dir", r.Dir,
		"--daemonize", "no", "--logfile", logFile}, extra...)
	return r.run(bin, args, port, logFile)
}

// run starts bin with args as r's process, arms its watchdog and waits
// until it answers PING on port.
func (r *Redis) run(bin string, args []string, port int, logFile string) error {
	r.cmd = exec.Command(bin, args...)
	r.cmd.Dir = r.Dir
	if err := r.cmd.Start(); err != nil {
		return fmt.Errorf("testservers: start %s: %w", filepath.Base(bin), err)
	}
	r.exited = make(chan struct{})
	go func() { r.cmd.Wait(); close(r.exited) }()

	var err error
	r.watchdog, err = startWatchdog("kill -9 "+strconv.Itoa(r.cmd.Process.Pid)+" 2>/dev/null", r.Dir)
	if err != nil {
		return err
	}

	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-r.exited:
			return fmt.Errorf("testservers: %s on port %d exited early (%v); log tail:\n%s", filepath.Base(bin),
				port, r.cmd.ProcessState, Tail(logFile, 20))
		default:
		}
		if answers(r.Addr, r.cmd.Process.Pid) == nil {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("testservers: %s on port %d did not answer PING within 10s; log tail:\n%s", filepath.Base(bin),
		port, Tail(logFile, 20))
}

// pingRedis sends an inline PING and expects +PONG.
func pingRedis(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Second))
	if _, err := io.WriteString(c, "PING\r\n"); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if strings.TrimSpace(line) != "+PONG" {
		return fmt.Errorf("unexpected PING reply %q", line)
	}
	return nil
}

// Stop kills the server and removes its dir. It is nil-safe and safe to
// call more than once.
func (r *Redis) Stop() error {
	if r == nil {
		return nil
	}
	return r.stop()
}

// RequireT handles a server start error in a test: fatal under CI=true (CI
// must really run the integration tests), skip otherwise.
func RequireT(tb testing.TB, err error) {
	tb.Helper()
	if err == nil {
		return
	}
	if inCI() {
		tb.Fatalf("integration servers required under CI=true: %v", err)
	}
	tb.Skipf("skipping integration test: %v", err)
}

// MainOrSkip handles a server start error in TestMain. It returns true when
// err is nil. Under CI=true it prints err to stderr and exits 1; otherwise it
// prints "skipping integration tests: <err>" and returns false, and TestMain
// should still call m.Run() with tests skipping themselves (see the package
// doc for the pattern).
func MainOrSkip(err error) bool {
	if err == nil {
		return true
	}
	if inCI() {
		fmt.Fprintf(os.Stderr, "integration servers required under CI=true: %v\n", err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "skipping integration tests: %v\n", err)
	return false
}

func inCI() bool { return os.Getenv("CI") == "true" }

// findPGBinDir picks PG_BINDIR, else the newest /usr/lib/postgresql/*/bin
// with initdb (Debian keeps server binaries off PATH), else initdb on PATH.
func findPGBinDir() (string, error) {
	if d := os.Getenv("PG_BINDIR"); d != "" {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err != nil {
			return "", fmt.Errorf("testservers: PG_BINDIR=%s has no initdb: %w", d, err)
		}
		return d, nil
	}
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	best, bestVer := "", -1.0
	for _, m := range matches {
		verDir := filepath.Base(filepath.Dir(filepath.Dir(m)))
		v, err := strconv.ParseFloat(verDir, 64) // "15", "9.6"
		if err != nil {
			continue
		}
		if v > bestVer {
			best, bestVer = filepath.Dir(m), v
		}
	}
	if best != "" {
		return best, nil
	}
	if path, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(path), nil
	}
	return "", errors.New("testservers: PostgreSQL server binaries not found (no PG_BINDIR, no /usr/lib/postgresql/*/bin/initdb, no initdb on PATH; apt-get install postgresql)")
}

func chownToPostgres(path string) error {
	u, err := user.Lookup("postgres")
	if err != nil {
		return fmt.Errorf("testservers: running as root needs a postgres OS user: %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return filepath.Walk(path, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, gid)
	})
}

// freePort asks the kernel for a free loopback port. The port is released
// before the server binds it, hence the retries in the callers.
func freePort() (int, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(loopback, "0"))
	if err != nil {
		return 0, fmt.Errorf("testservers: find free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Tail returns the last n lines of a file, for error messages: a server's
// log, or a gateway's in the robustness suite.
func Tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// watchdog is a `sh` process reading a pipe held only by this process. EOF
// without a prior disarm means the test binary died without Stop, so the
// shell runs the cleanup command and removes the dir. It ignores INT/TERM/HUP
// so that a Ctrl-C to the process group cannot kill it before it cleans up.
type watchdog struct {
	cmd *exec.Cmd
	w   io.WriteCloser
}

func startWatchdog(cleanup, dir string) (*watchdog, error) {
	script := "trap '' INT TERM HUP; read line; [ \"$line\" = disarm ] && exit 0; " +
		cleanup + "; rm -rf " + shellQuote(dir)
	cmd := exec.Command("/bin/sh", "-c", script)
	cmd.Dir = "/" // the test's cwd may be gone by the time it runs
	w, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("testservers: watchdog: %w", err)
	}
	// No stdout/stderr: go test must not wait on pipes held by this process.
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("testservers: watchdog: %w", err)
	}
	return &watchdog{cmd: cmd, w: w}, nil
}

// disarm tells the watchdog to exit without cleaning up; nil-safe.
func (wd *watchdog) disarm() {
	if wd == nil || wd.w == nil {
		return
	}
	io.WriteString(wd.w, "disarm\n")
	wd.w.Close()
	wd.w = nil
	wd.cmd.Wait()
}

func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func shellJoin(argv []string) string {
	q := make([]string, len(argv))
	for i, a := range argv {
		q[i] = shellQuote(a)
	}
	return strings.Join(q, " ")
}

// Dump returns pg_dump's plain SQL of database db, schema and data: what
// an operator's backup of it holds.
func (p *Postgres) Dump(db string) (string, error) {
	out, err := exec.Command(filepath.Join(p.binDir, "pg_dump"), "--no-password", p.DSN(db)).Output()
	if err != nil {
		return "", fmt.Errorf("testservers: pg_dump %s: %w", db, err)
	}
	return string(out), nil
}
