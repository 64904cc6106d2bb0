package testservers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Etcd is a throwaway single-node etcd (Debian package etcd-server) on
// loopback, the DCS of a PatroniCluster. Patroni talks to it through the
// v3 API (its etcd3: section, etcd's gRPC gateway under /v3).
type Etcd struct {
	ClientURL string // http://127.0.0.1:PORT
	process
}

// StartEtcd starts etcd on free loopback client and peer ports with its
// data in a temp dir, and waits until it reports itself healthy.
func StartEtcd() (*Etcd, error) {
	bin, err := exec.LookPath("etcd")
	if err != nil {
		return nil, fmt.Errorf("testservers: etcd not found (apt-get install etcd-server): %w", err)
	}
	dir, err := os.MkdirTemp(os.TempDir(), "testservers-etcd-")
	if err != nil {
		return nil, fmt.Errorf("testservers: %w", err)
	}
	logFile := filepath.Join(dir, "etcd.log")
	var lastErr error
	for try := 0; try < startRetries; try++ {
		clientPort, err := freePort()
		if err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
		peerPort, err := freePort()
		if err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
		e := &Etcd{ClientURL: fmt.Sprintf("http://%s:%d", loopback, clientPort), process: process{Dir: dir}}
		peerURL := fmt.Sprintf("http://%s:%d", loopback, peerPort)
		dataDir := filepath.Join(dir, fmt.Sprintf("data%d", try))
		args := []string{
			"--name", "testservers", "--data-dir", dataDir,
			"--listen-client-urls", e.ClientURL, "--advertise-client-urls", e.ClientURL,
			"--listen-peer-urls", peerURL, "--initial-advertise-peer-urls", peerURL,
			"--initial-cluster", "testservers=" + peerURL, "--initial-cluster-state", "new",
			"--initial-cluster-token", filepath.Base(dir),
			// A faster first election of its single member.
			"--heartbeat-interval", "50", "--election-timeout", "500",
		}
		if lastErr = e.start(bin, args, logFile); lastErr == nil {
			return e, nil
		}
		e.kill()
	}
	os.RemoveAll(dir)
	return nil, lastErr
}

func (e *Etcd) start(bin string, args []string, logFile string) error {
	log, err := os.OpenFile(logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("testservers: %w", err)
	}
	defer log.Close()
	e.cmd = exec.Command(bin, args...)
	e.cmd.Dir = e.Dir
	e.cmd.Stdout, e.cmd.Stderr = log, log
	e.cmd.Env = cleanEnv()
	if err := e.cmd.Start(); err != nil {
		return fmt.Errorf("testservers: start etcd: %w", err)
	}
	e.exited = make(chan struct{})
	go func() { e.cmd.Wait(); close(e.exited) }()
	e.watchdog, err = startWatchdog("kill -9 "+strconv.Itoa(e.cmd.Process.Pid)+" 2>/dev/null", e.Dir)
	if err != nil {
		return err
	}
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-e.exited:
			return fmt.Errorf("testservers: etcd at %s exited early (%v); log tail:\n%s", e.ClientURL, e.cmd.ProcessState, Tail(logFile, 20))
		default:
		}
		if e.healthy() == nil {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("testservers: etcd at %s not healthy within 20s (%v); log tail:\n%s", e.ClientURL, e.healthy(), Tail(logFile, 20))
}

// healthy asks GET /health, which answers {"health":"true"} once the
// member has a leader (itself), and checks that the v3 gateway answers.
func (e *Etcd) healthy() error {
	var h struct {
		Health string `json:"health"`
	}
	if err := getJSON(e.ClientURL+"/health", &h); err != nil {
		return err
	}
	if h.Health != "true" {
		return fmt.Errorf("testservers: etcd health %q", h.Health)
	}
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Post(e.ClientURL+"/v3/maintenance/status", "application/json", strings.NewReader("{}"))
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("testservers: etcd v3 gateway answers %s", resp.Status)
	}
	return nil
}

// Stop kills etcd and removes its dir; nil-safe and idempotent.
func (e *Etcd) Stop() error {
	if e == nil {
		return nil
	}
	return e.stop()
}

// PatroniNode is one member of a PatroniCluster: a patroni process and the
// PostgreSQL it manages, in Dir (data/, sock/, patroni.yml, patroni.log).
type PatroniNode struct {
	Name    string // node1, node2, ...: Patroni's member name, also its application_name
	Port    int    // PostgreSQL on 127.0.0.1
	APIPort int    // Patroni's REST API on 127.0.0.1
	// ReplicationAddr is where the other nodes reach this one's
	// PostgreSQL (PatroniOptions.ReplicationAddress; else 127.0.0.1:Port).
	ReplicationAddr string
	Dir             string

	cmd    *exec.Cmd
	exited chan struct{}
}

// APIURL is the node's Patroni REST API, e.g. http://127.0.0.1:8008.
func (n *PatroniNode) APIURL() string { return fmt.Sprintf("http://%s:%d", loopback, n.APIPort) }

// LogFile is where the node's patroni writes (its stderr); PostgreSQL's own
// log goes to data/log/ (logging_collector).
func (n *PatroniNode) LogFile() string { return filepath.Join(n.Dir, "patroni.log") }

func (n *PatroniNode) dataDir() string    { return filepath.Join(n.Dir, "data") }
func (n *PatroniNode) configFile() string { return filepath.Join(n.Dir, "patroni.yml") }

// DSN is a libpq URL for database db on this node alone.
func (n *PatroniNode) DSN(db string) string {
	return fmt.Sprintf("postgres://postgres@%s:%d/%s?sslmode=disable", loopback, n.Port, db)
}

// PatroniCluster is a throwaway Patroni-managed PostgreSQL cluster on
// loopback: one leader, the others streaming replicas, synchronous_mode on
// with one synchronous standby, etcd as the DCS.
type PatroniCluster struct {
	Scope string
	Dir   string
	Nodes []*PatroniNode

	etcd          *Etcd
	opts          PatroniOptions
	patroniBin    string
	binDir        string
	runAsPostgres bool
	uid, gid      uint32
	watchdog      *watchdog

	mu      sync.Mutex
	stopped bool
}

// Patroni's timings in the cluster's DCS configuration: ttl is the leader
// key's lease, the time a lost leader keeps it; 10 is what the docs name
// as the least sensible value. loop_wait is the HA loop's sleep.
const (
	patroniTTL          = 10
	patroniLoopWait     = 1
	patroniRetryTimeout = 5
)

// PatroniOptions are the choices a caller of StartPatroniCluster makes.
type PatroniOptions struct {
	// Strict sets synchronous_mode_strict: with no synchronous standby
	// left the leader commits nothing (rather than dropping the
	// requirement, as plain synchronous_mode does), so a commit the
	// leader acknowledges is always on a second node.
	Strict bool
	// ReplicationAddress, when set, gives the address (host:port) the
	// other nodes reach node's PostgreSQL at (Patroni's
	// postgresql.connect_address: streaming, pg_rewind, base backups),
	// e.g. a proxy in front of port that a test can cut; clients still
	// use port itself (DSN). Called once per node, before it starts.
	ReplicationAddress func(node string, port int) (string, error)
}

// StartPatroniCluster starts nodes patroni processes in scope on etcd, each
// with its own REST API and PostgreSQL port on 127.0.0.1 and its data under
// a temp dir, and waits until one is the leader and the others stream from
// it (one of them its synchronous standby).
func StartPatroniCluster(etcd *Etcd, scope string, nodes int, opts PatroniOptions) (*PatroniCluster, error) {
	if etcd == nil {
		return nil, errors.New("testservers: a Patroni cluster needs an etcd")
	}
	if nodes < 1 {
		return nil, errors.New("testservers: a Patroni cluster needs at least one node")
	}
	patroniBin, err := exec.LookPath("patroni")
	if err != nil {
		return nil, fmt.Errorf("testservers: patroni not found (apt-get install patroni): %w", err)
	}
	binDir, err := findPGBinDir()
	if err != nil {
		return nil, err
	}
	c := &PatroniCluster{Scope: scope, etcd: etcd, opts: opts, patroniBin: patroniBin, binDir: binDir, runAsPostgres: os.Geteuid() == 0}
	if c.runAsPostgres {
		u, err := user.Lookup("postgres")
		if err != nil {
			return nil, fmt.Errorf("testservers: running as root needs a postgres OS user: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		c.uid, c.gid = uint32(uid), uint32(gid)
	}
	if c.Dir, err = c.makeDir(); err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			c.Stop()
		}
	}()

	// The watchdog kills every patroni (pid files, rewritten at each
	// start) and then stops every postmaster: Patroni starts PostgreSQL in
	// a session of its own, so it outlives a killed patroni.
	pgStop := shellJoin(c.pgCommand("pg_ctl", "stop", "-m", "immediate", "-w", "-D", "DATADIR").Args)
	pgStop = strings.ReplaceAll(pgStop, "'DATADIR'", `"$d"`)
	cleanup := fmt.Sprintf(`for f in %[1]s/*/patroni.pid; do [ -f "$f" ] && kill -9 "$(cat "$f")" 2>/dev/null; done; `+
		`for d in %[1]s/*/data; do [ -f "$d/postmaster.pid" ] && %[2]s >/dev/null 2>&1; done`, shellQuote(c.Dir), pgStop)
	if c.watchdog, err = startWatchdog(cleanup, c.Dir); err != nil {
		return nil, err
	}

	used := map[int]bool{}
	port := func() (int, error) {
		for {
			p, err := freePort()
			if err != nil || !used[p] {
				used[p] = true
				return p, err
			}
		}
	}
	for i := 1; i <= nodes; i++ {
		n := &PatroniNode{Name: fmt.Sprintf("node%d", i), Dir: filepath.Join(c.Dir, fmt.Sprintf("node%d", i))}
		if n.Port, err = port(); err != nil {
			return nil, err
		}
		if n.APIPort, err = port(); err != nil {
			return nil, err
		}
		n.ReplicationAddr = net.JoinHostPort(loopback, strconv.Itoa(n.Port))
		if opts.ReplicationAddress != nil {
			if n.ReplicationAddr, err = opts.ReplicationAddress(n.Name, n.Port); err != nil {
				return nil, err
			}
		}
		if err := c.writeNodeConfig(n); err != nil {
			return nil, err
		}
		c.Nodes = append(c.Nodes, n)
	}
	// The first node alone, so that it is the one that bootstraps (initdb)
	// and the others start as replicas with a base backup of it.
	if err := c.startNode(c.Nodes[0]); err != nil {
		return nil, err
	}
	if err := waitFor(60*time.Second, func() error {
		if err := c.nodeExited(c.Nodes[0]); err != nil {
			return err
		}
		return getStatus(c.Nodes[0].APIURL()+"/leader", http.StatusOK)
	}); err != nil {
		return nil, fmt.Errorf("testservers: %s did not become the leader: %v\npatroni log tail:\n%s", c.Nodes[0].Name, err, Tail(c.Nodes[0].LogFile(), 30))
	}
	for _, n := range c.Nodes[1:] {
		if err := c.startNode(n); err != nil {
			return nil, err
		}
	}
	if err := c.WaitHealthy(90 * time.Second); err != nil {
		return nil, err
	}
	ok = true
	return c, nil
}

// makeDir makes the cluster's temp dir, owned by and reachable for the
// postgres user when we are root (a TMPDIR under /root is not: /tmp then).
func (c *PatroniCluster) makeDir() (string, error) {
	dir, err := os.MkdirTemp(os.TempDir(), "testservers-patroni-")
	if err != nil {
		return "", fmt.Errorf("testservers: %w", err)
	}
	if !c.runAsPostgres {
		return dir, nil
	}
	if err := chownToPostgres(dir); err != nil {
		os.RemoveAll(dir)
		return "", err
	}
	if exec.Command("runuser", "-u", "postgres", "--", "test", "-x", dir).Run() == nil {
		return dir, nil
	}
	os.RemoveAll(dir)
	if dir, err = os.MkdirTemp("/tmp", "testservers-patroni-"); err != nil {
		return "", fmt.Errorf("testservers: %w", err)
	}
	if err := chownToPostgres(dir); err != nil {
		os.RemoveAll(dir)
		return "", err
	}
	return dir, nil
}

// pgCommand is a PostgreSQL binary run as the postgres user when we are root.
func (c *PatroniCluster) pgCommand(name string, args ...string) *exec.Cmd {
	bin := filepath.Join(c.binDir, name)
	if c.runAsPostgres {
		return exec.Command("runuser", append([]string{"-u", "postgres", "--", bin}, args...)...)
	}
	return exec.Command(bin, args...)
}

// writeNodeConfig makes n's dir and writes its patroni.yml (JSON, which is
// YAML). The data dir is left to Patroni: it must not exist (or be empty)
// for the bootstrap or the base backup.
func (c *PatroniCluster) writeNodeConfig(n *PatroniNode) error {
	sock := filepath.Join(n.Dir, "sock")
	if err := os.MkdirAll(sock, 0o700); err != nil {
		return fmt.Errorf("testservers: %w", err)
	}
	hba := []string{
		"local all all trust",
		"host all all 127.0.0.1/32 trust",
		"host replication all 127.0.0.1/32 trust",
	}
	params := map[string]any{
		"wal_level":                    "logical",
		"max_wal_senders":              32,
		"max_replication_slots":        32,
		"fsync":                        "off",
		"max_connections":              200,
		"shared_buffers":               "64MB",
		"wal_keep_size":                "128MB",
		"hot_standby":                  "on",
		"max_worker_processes":         48,
		"unix_socket_directories":      sock,
		"wal_receiver_status_interval": "1s",
		// A replica whose stream broke retries every 200 ms, not 5 s.
		"wal_retrieve_retry_interval": "200ms",
	}
	addr := func(p int) string { return net.JoinHostPort(loopback, strconv.Itoa(p)) }
	conf := map[string]any{
		"scope":     c.Scope,
		"namespace": "/testservers/",
		"name":      n.Name,
		"log":       map[string]any{"level": "INFO"},
		"restapi": map[string]any{
			"listen":          addr(n.APIPort),
			"connect_address": addr(n.APIPort),
		},
		"etcd3": map[string]any{"hosts": []string{strings.TrimPrefix(c.etcd.ClientURL, "http://")}, "protocol": "http"},
		"bootstrap": map[string]any{
			"dcs": map[string]any{
				"ttl":                     patroniTTL,
				"loop_wait":               patroniLoopWait,
				"retry_timeout":           patroniRetryTimeout,
				"maximum_lag_on_failover": 1 << 30,
				"synchronous_mode":        true,
				"synchronous_mode_strict": c.opts.Strict,
				"synchronous_node_count":  1,
				"postgresql": map[string]any{
					"use_slots":     true,
					"use_pg_rewind": true,
					"parameters":    params,
					"pg_hba":        hba,
				},
			},
			"initdb": []any{map[string]string{"encoding": "UTF8"}, map[string]string{"locale": "C.UTF-8"}, "no-sync"},
		},
		"postgresql": map[string]any{
			"listen":          addr(n.Port),
			"connect_address": n.ReplicationAddr,
			"data_dir":        n.dataDir(),
			"bin_dir":         c.binDir,
			"pgpass":          filepath.Join(n.Dir, "pgpass"),
			"authentication": map[string]any{
				"superuser":   map[string]string{"username": "postgres"},
				"replication": map[string]string{"username": "postgres"},
			},
			"pg_hba":     hba,
			"parameters": params,
			// After a kill -9 the old leader may hold WAL its successor
			// never received: rewind it rather than refuse to follow.
			"use_pg_rewind": true,
			"remove_data_directory_on_rewind_failure":     true,
			"remove_data_directory_on_diverged_timelines": true,
			"basebackup": []any{map[string]string{"checkpoint": "fast"}},
		},
	}
	b, err := json.MarshalIndent(conf, "", "  ")
	if err != nil {
		return fmt.Errorf("testservers: %w", err)
	}
	if err := os.WriteFile(n.configFile(), b, 0o600); err != nil {
		return fmt.Errorf("testservers: %w", err)
	}
	if c.runAsPostgres {
		return chownToPostgres(n.Dir)
	}
	return nil
}

// startNode starts n's patroni, as the postgres user when we are root (set
// directly as the child's credentials, not through runuser, so that the
// pid we hold is patroni's own and Kill can kill it), its stderr appended
// to n.LogFile().
func (c *PatroniCluster) startNode(n *PatroniNode) error {
	log, err := os.OpenFile(n.LogFile(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("testservers: %w", err)
	}
	defer log.Close()
	fmt.Fprintf(log, "---- testservers: starting patroni %s at %s\n", n.Name, time.Now().Format(time.RFC3339Nano))
	cmd := exec.Command(c.patroniBin, n.configFile())
	cmd.Dir = n.Dir
	cmd.Stdout, cmd.Stderr = log, log
	cmd.Env = append(cleanEnv(), "HOME="+n.Dir, "PYTHONUNBUFFERED=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if c.runAsPostgres {
		cmd.Env = append(cmd.Env, "USER=postgres", "LOGNAME=postgres")
		cmd.SysProcAttr.Credential = &syscall.Credential{Uid: c.uid, Gid: c.gid, Groups: []uint32{}}
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("testservers: start patroni %s: %w", n.Name, err)
	}
	n.cmd = cmd
	exited := make(chan struct{})
	n.exited = exited
	go func() { cmd.Wait(); close(exited) }()
	pidFile := filepath.Join(n.Dir, "patroni.pid")
	if err := os.WriteFile(pidFile, []byte(strconv.Itoa(cmd.Process.Pid)+"\n"), 0o644); err != nil {
		return fmt.Errorf("testservers: %w", err)
	}
	return nil
}

func (c *PatroniCluster) nodeExited(n *PatroniNode) error {
	if n.exited == nil {
		return fmt.Errorf("testservers: patroni %s is not running", n.Name)
	}
	select {
	case <-n.exited:
		return fmt.Errorf("testservers: patroni %s exited (%v)", n.Name, n.cmd.ProcessState)
	default:
		return nil
	}
}

// PatroniMember is one member as GET /cluster describes it.
type PatroniMember struct {
	Name     string `json:"name"`
	Role     string `json:"role"`  // leader, sync_standby, replica
	State    string `json:"state"` // running, starting, stopped, ...
	Host     string `json:"host"`
	Port     int    `json:"port"`
	APIURL   string `json:"api_url"`
	Timeline int    `json:"timeline"`
	Lag      any    `json:"lag"`
}

// Members asks the REST API of the first node that answers for the
// cluster's members (GET /cluster, Patroni's view from the DCS).
func (c *PatroniCluster) Members() ([]PatroniMember, error) {
	var lastErr error
	for _, n := range c.Nodes {
		var resp struct {
			Members []PatroniMember `json:"members"`
		}
		if lastErr = getJSON(n.APIURL()+"/cluster", &resp); lastErr == nil {
			return resp.Members, nil
		}
	}
	return nil, fmt.Errorf("testservers: no Patroni REST API answers GET /cluster: %w", lastErr)
}

// Leader returns the node whose REST API answers GET /leader with 200:
// it holds the leader key and runs as the primary. An error when none or
// more than one do.
func (c *PatroniCluster) Leader() (*PatroniNode, error) {
	var leaders []*PatroniNode
	for _, n := range c.Nodes {
		if getStatus(n.APIURL()+"/leader", http.StatusOK) == nil {
			leaders = append(leaders, n)
		}
	}
	switch len(leaders) {
	case 1:
		return leaders[0], nil
	case 0:
		return nil, errors.New("testservers: no Patroni node is the leader")
	default:
		names := make([]string, len(leaders))
		for i, n := range leaders {
			names[i] = n.Name
		}
		return nil, fmt.Errorf("testservers: more than one Patroni leader: %s", strings.Join(names, ", "))
	}
}

// Node returns the node named name, or nil.
func (c *PatroniCluster) Node(name string) *PatroniNode {
	for _, n := range c.Nodes {
		if n.Name == name {
			return n
		}
	}
	return nil
}

// WaitHealthy waits until exactly one node is the leader, every other
// node's patroni is running as a replica that answers GET /replica, the
// leader's pg_stat_replication shows each of them streaming, and one of
// them is the synchronous standby (role sync_standby, and sync in
// pg_stat_replication).
func (c *PatroniCluster) WaitHealthy(within time.Duration) error {
	var last error
	err := waitFor(within, func() error {
		last = c.healthy()
		return last
	})
	if err != nil {
		var tails strings.Builder
		for _, n := range c.Nodes {
			fmt.Fprintf(&tails, "\n--- %s (pg %d, api %d) patroni log tail:\n%s", n.Name, n.Port, n.APIPort, Tail(n.LogFile(), 15))
		}
		return fmt.Errorf("testservers: Patroni cluster %s not healthy within %v: %v%s", c.Scope, within, err, tails.String())
	}
	return nil
}

func (c *PatroniCluster) healthy() error {
	for _, n := range c.Nodes {
		if err := c.nodeExited(n); err != nil {
			return err
		}
	}
	leader, err := c.Leader()
	if err != nil {
		return err
	}
	members, err := c.Members()
	if err != nil {
		return err
	}
	if len(members) != len(c.Nodes) {
		return fmt.Errorf("testservers: /cluster lists %d members, want %d", len(members), len(c.Nodes))
	}
	syncs := 0
	for _, m := range members {
		switch {
		case m.Name == leader.Name:
			if m.Role != "leader" || m.State != "running" {
				return fmt.Errorf("testservers: leader %s is %s/%s in /cluster", m.Name, m.Role, m.State)
			}
		case m.Role == "leader":
			return fmt.Errorf("testservers: /cluster names %s the leader, /leader answers on %s", m.Name, leader.Name)
		case m.State != "running":
			return fmt.Errorf("testservers: replica %s is %s", m.Name, m.State)
		case m.Role == "sync_standby":
			syncs++
		}
	}
	if want := min(1, len(c.Nodes)-1); syncs != want {
		return fmt.Errorf("testservers: %d synchronous standbys in /cluster, want %d", syncs, want)
	}
	for _, n := range c.Nodes {
		if n != leader {
			if err := getStatus(n.APIURL()+"/replica", http.StatusOK); err != nil {
				return fmt.Errorf("testservers: %s: %w", n.Name, err)
			}
		}
	}
	rows, err := c.replication(leader)
	if err != nil {
		return err
	}
	streaming, syncStreaming := 0, 0
	for _, r := range rows {
		if r.state == "streaming" && c.Node(r.name) != nil && r.name != leader.Name {
			streaming++
			if r.syncState == "sync" {
				syncStreaming++
			}
		}
	}
	if streaming != len(c.Nodes)-1 || syncStreaming != min(1, len(c.Nodes)-1) {
		return fmt.Errorf("testservers: leader %s has %d streaming replicas (%d sync), want %d (%d): %v",
			leader.Name, streaming, syncStreaming, len(c.Nodes)-1, min(1, len(c.Nodes)-1), rows)
	}
	return nil
}

type replicationRow struct{ name, state, syncState string }

// replication reads the leader's pg_stat_replication.
func (c *PatroniCluster) replication(leader *PatroniNode) ([]replicationRow, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, leader.DSN("postgres"))
	if err != nil {
		return nil, err
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, "SELECT application_name, state, sync_state FROM pg_stat_replication")
	if err != nil {
		return nil, err
	}
	var out []replicationRow
	for rows.Next() {
		var r replicationRow
		if err := rows.Scan(&r.name, &r.state, &r.syncState); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// postmasterPID reads the first line of n's postmaster.pid; 0 if none.
func (n *PatroniNode) postmasterPID() int {
	b, err := os.ReadFile(filepath.Join(n.dataDir(), "postmaster.pid"))
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(strings.SplitN(string(b), "\n", 2)[0]))
	return pid
}

// Kill simulates the loss of n's server: SIGKILL to its patroni and to its
// postmaster's whole process group (Patroni starts the postmaster in a
// session of its own, so the group is the postmaster and its backends:
// none is left to answer a client or a replica). It returns once patroni
// has exited and nothing listens on n's PostgreSQL port.
func (c *PatroniCluster) Kill(n *PatroniNode) error {
	var errs []error
	pm := n.postmasterPID()
	if n.cmd != nil && n.cmd.Process != nil {
		if err := n.cmd.Process.Signal(syscall.SIGKILL); err != nil && !errors.Is(err, os.ErrProcessDone) {
			errs = append(errs, fmt.Errorf("testservers: kill patroni %s: %w", n.Name, err))
		}
	}
	if pm > 0 {
		if pgid, err := syscall.Getpgid(pm); err == nil && pgid == pm {
			syscall.Kill(-pgid, syscall.SIGKILL)
		} else {
			syscall.Kill(pm, syscall.SIGKILL)
		}
	}
	if n.exited != nil {
		select {
		case <-n.exited:
		case <-time.After(10 * time.Second):
			errs = append(errs, fmt.Errorf("testservers: patroni %s did not exit after SIGKILL", n.Name))
		}
	}
	if err := waitFor(10*time.Second, func() error {
		if pm > 0 && syscall.Kill(pm, 0) == nil {
			return fmt.Errorf("testservers: postmaster %d of %s still alive", pm, n.Name)
		}
		conn, err := net.DialTimeout("tcp", net.JoinHostPort(loopback, strconv.Itoa(n.Port)), 200*time.Millisecond)
		if err == nil {
			conn.Close()
			return fmt.Errorf("testservers: port %d of %s still answers", n.Port, n.Name)
		}
		return nil
	}); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Restart starts n's patroni again on its dirs and ports (after Kill): it
// finds the data dir, the DCS and its leader, and rejoins as a replica
// (rewinding if it must). It does not wait; use WaitHealthy.
func (c *PatroniCluster) Restart(n *PatroniNode) error {
	if c.nodeExited(n) == nil {
		return fmt.Errorf("testservers: patroni %s is still running", n.Name)
	}
	return c.startNode(n)
}

// DSN returns a multi-host libpq URL for database db over all nodes with
// target_session_attrs=read-write: a client connects to whichever node
// takes writes.
func (c *PatroniCluster) DSN(db string) string {
	hosts := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		hosts[i] = net.JoinHostPort(loopback, strconv.Itoa(n.Port))
	}
	return fmt.Sprintf("postgres://postgres@%s/%s?sslmode=disable&target_session_attrs=read-write", strings.Join(hosts, ","), db)
}

// Stop kills every patroni, stops every PostgreSQL (immediate) and removes
// the temp dir; nil-safe and idempotent. It leaves the etcd alone.
func (c *PatroniCluster) Stop() error {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped {
		return nil
	}
	c.stopped = true
	c.watchdog.disarm()
	var errs []error
	for _, n := range c.Nodes {
		if n.cmd != nil && n.cmd.Process != nil && c.nodeExited(n) == nil {
			n.cmd.Process.Signal(syscall.SIGKILL)
			select {
			case <-n.exited:
			case <-time.After(10 * time.Second):
				errs = append(errs, fmt.Errorf("testservers: patroni %s did not exit", n.Name))
			}
		}
	}
	for _, n := range c.Nodes {
		if _, err := os.Stat(filepath.Join(n.dataDir(), "postmaster.pid")); err == nil {
			if out, err := c.pgCommand("pg_ctl", "stop", "-m", "immediate", "-w", "-D", n.dataDir()).CombinedOutput(); err != nil {
				// A stale pid file of a killed postmaster makes pg_ctl fail.
				if n.postmasterPID() > 0 && syscall.Kill(n.postmasterPID(), 0) == nil {
					errs = append(errs, fmt.Errorf("testservers: pg_ctl stop %s: %v\n%s", n.Name, err, out))
				}
			}
		}
	}
	if c.Dir != "" {
		if err := os.RemoveAll(c.Dir); err != nil {
			errs = append(errs, fmt.Errorf("testservers: %w", err))
		}
	}
	return errors.Join(errs...)
}

// cleanEnv is the environment without the developer's PG* settings.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PG") && !strings.HasPrefix(kv, "HOME=") && !strings.HasPrefix(kv, "USER=") && !strings.HasPrefix(kv, "LOGNAME=") {
			env = append(env, kv)
		}
	}
	return env
}

func getJSON(url string, v any) error {
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("testservers: GET %s: %s %s", url, resp.Status, strings.TrimSpace(string(b)))
	}
	return json.Unmarshal(b, v)
}

func getStatus(url string, want int) error {
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != want {
		return fmt.Errorf("testservers: GET %s: %s", url, resp.Status)
	}
	return nil
}

// AcceptsWrite reports whether n's PostgreSQL, reached directly (not
// through a multi-host DSN), takes a write: it asks for a transaction id,
// which only a primary hands out. false with a nil error means n answered
// as a server in recovery (a replica); an error means it did not answer.
// A fencing check: a demoted or restarted old primary must never say true.
func (n *PatroniNode) AcceptsWrite(ctx context.Context) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, n.DSN("postgres"))
	if err != nil {
		return false, err
	}
	defer conn.Close(context.Background())
	var xid int64
	err = conn.QueryRow(ctx, "SELECT txid_current()").Scan(&xid)
	var pgErr *pgconn.PgError
	switch {
	case err == nil:
		return true, nil
	case errors.As(err, &pgErr) && pgErr.Code == "25006": // read_only_sql_transaction: in recovery
		return false, nil
	default:
		return false, err
	}
}

// Running reports whether n's patroni is running (not killed, not exited).
func (c *PatroniCluster) Running(n *PatroniNode) bool { return c.nodeExited(n) == nil }
