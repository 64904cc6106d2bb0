package robustness

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/rs/zerolog"

	"github.com/sharedmedcard/gateway/internal/testcluster"
	"github.com/sharedmedcard/gateway/internal/testservers"
	"github.com/sharedmedcard/gateway/seed"
)

// Cluster is the topology every run works on:
//
//	client ─▶ gateway A ─▶ toxiproxy redis-A ─▶ Redis (or Sentinels' primary)
//	client ─▶ gateway B ─▶ toxiproxy redis-B ─▶ Redis
//	gateways ─▶ toxiproxy shard1 ─▶ PG1/shard1,  toxiproxy shard2 ─▶ PG2/shard2
//	  (or, ClusterOptions.Patroni: gateways ─▶ multi-host DSN ─▶ the leader
//	   of Patroni nodes 1-3, holding catalog and shard2, each replica
//	   streaming from the leader through toxiproxy replication-nodeN)
//	gateway A ─▶ toxiproxy catalog-A ─▶ PG1/catalog
//	gateway B ─▶ toxiproxy catalog-B ─▶ PG1/catalog
//
// The shard databases are registered in the catalog under their proxy
// DSNs, so the gateways reach them only through the proxies, and so does
// the shard mover of the class shard-move, its subscriptions included;
// migrations, the orphan check and the final read use the direct DSNs. The
// gateways are real `gateway serve` processes, kept running across runs
// that use the same binary and Redis mode.
type Cluster struct {
	Storage *testcluster.Cluster
	// Dir holds the gateway binaries and logs.
	Dir string

	toxi *toxiproxy.ApiServer
	// ShardProxies are the gateways' links to the shard databases, by
	// name; a database on Patroni has none (the gateways use its
	// multi-host DSN, to follow its leader).
	ShardProxies map[string]*toxiproxy.Proxy
	// ReplicationProxies are, with ClusterOptions.Patroni, each Patroni
	// node's link from the other nodes (streaming replication, pg_rewind),
	// by node name: a class cuts the leader's to partition it from its
	// standbys while clients still reach it.
	ReplicationProxies map[string]*toxiproxy.Proxy

	// Sentinel mode (redis-failover): a primary, a replica and three
	// Sentinels; started on first use.
	SentinelPrimary, SentinelReplica *testservers.Redis
	Sentinels                        []*testservers.Sentinel

	Gateways []*Gateway
	spec     GatewaySpec

	// standbys are PG2's streaming standbys (the standby classes); started
	// on first use, under mu.
	standbys []*testservers.Postgres

	mu       sync.Mutex
	binaries map[string]string // build tag ("" for none) → path
	// nextPerson is the index of the next fresh synthetic person.
	nextPerson int
	runs       int
}

// GatewaySpec is what kind of gateways a run needs.
type GatewaySpec struct {
	// Tag is the build tag of the binary ("" for the shipped one).
	Tag string
	// Sentinel starts the gateways with --redis-sentinels instead of a
	// single Redis behind toxiproxy.
	Sentinel bool
}

// Gateway is one `gateway serve` process.
type Gateway struct {
	Name    string // "A", "B"
	Addr    string // 127.0.0.1:PORT
	URL     string // the SOAP endpoint
	LogPath string
	// RedisProxy is this gateway's own link to Redis; nil in Sentinel mode.
	RedisProxy *toxiproxy.Proxy
	// CatalogProxy is this gateway's own link to the catalog, by which it
	// hears of and loads every new shard map.
	CatalogProxy *toxiproxy.Proxy

	binary string
	args   []string
	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
	log    *os.File
}

// personSeed is the seed of the suite's synthetic persons, other than the
// demo's (1), so they are fresh and have no card.
const personSeed = 4242

// cacheTimeout is the gateways' --cache-timeout; redis-latency adds more
// than this to one gateway's Redis link, and shard-move's mover waits out
// half of it (the gateways' fence lease) in each freeze.
const cacheTimeout = 100 * time.Millisecond

// ClusterOptions say what storage a cluster runs on.
type ClusterOptions struct {
	// Patroni puts the catalog and shard2 on a three-node Patroni cluster
	// in strict synchronous mode (the failover classes), each node reached
	// by the others through a proxy (ReplicationProxies).
	Patroni bool
}

// StartCluster starts the storage side (PostgreSQL servers and Redis), the
// toxiproxy proxies, and registers the proxies as the shard databases'
// DSNs. Gateways are started by EnsureGateways.
func StartCluster(ctx context.Context, o ClusterOptions) (c *Cluster, err error) {
	dir, err := os.MkdirTemp("", "robustness-")
	if err != nil {
		return nil, err
	}
	c = &Cluster{Dir: dir, ShardProxies: map[string]*toxiproxy.Proxy{}, ReplicationProxies: map[string]*toxiproxy.Proxy{},
		binaries: map[string]string{}}
	defer func() {
		if err != nil {
			c.Stop()
			c = nil
		}
	}()
	c.toxi = toxiproxy.NewServer(toxiproxy.NewMetricsContainer(nil), zerolog.Nop())
	storage := testcluster.Options{Redis: true, Systems: seed.DemoSystems}
	if o.Patroni {
		storage.OnPatroni = &testservers.PatroniOptions{Strict: true,
			ReplicationAddress: func(node string, port int) (string, error) {
				p, err := c.newProxy("replication-"+node, net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
				if err != nil {
					return "", err
				}
				c.ReplicationProxies[node] = p
				return p.Listen, nil
			}}
	}
	if c.Storage, err = testcluster.Start(ctx, storage); err != nil {
		return c, err
	}
	for _, name := range testcluster.ShardNames {
		if name == "shard2" && o.Patroni {
			continue
		}
		u, err := url.Parse(c.Storage.ShardDSNs[name])
		if err != nil {
			return c, err
		}
		p, err := c.newProxy("pg-"+name, u.Host)
		if err != nil {
			return c, err
		}
		c.ShardProxies[name] = p
		u.Host = p.Listen
		if _, err := c.Storage.Catalog.Exec(ctx, `UPDATE shard_databases SET dsn = $2 WHERE name = $1`, name, u.String()); err != nil {
			return c, fmt.Errorf("robustness: register proxy DSN of %s: %w", name, err)
		}
		// PostgreSQL 15's logical replication launcher starts the workers
		// of new subscriptions at most once per wal_retrieve_retry_interval
		// (5 s by default), so of two moves onto one server the second's
		// copy began 5-10 s late. A cluster that moves shards wants it
		// short (it also paces restarts of failed workers); ALTER SYSTEM
		// keeps it across the pg-restart class's restarts.
		for _, sql := range []string{`ALTER SYSTEM SET wal_retrieve_retry_interval = '200ms'`, `SELECT pg_reload_conf()`} {
			if _, err := c.Storage.Shards[name].Exec(ctx, sql); err != nil {
				return c, fmt.Errorf("robustness: configure the server of %s: %w", name, err)
			}
		}
	}
	return c, nil
}

func (c *Cluster) newProxy(name, upstream string) (*toxiproxy.Proxy, error) {
	p := toxiproxy.NewProxy(c.toxi, name, "127.0.0.1:0", upstream)
	if err := p.Start(); err != nil {
		return nil, fmt.Errorf("robustness: proxy %s: %w", name, err)
	}
	return p, nil
}

// Stop stops the gateways, the proxies and every server; nil-safe.
func (c *Cluster) Stop() error {
	if c == nil {
		return nil
	}
	var errs []error
	for _, g := range c.Gateways {
		errs = append(errs, g.Stop())
	}
	c.Gateways = nil
	for _, p := range c.ShardProxies {
		p.Stop()
	}
	for _, s := range c.Sentinels {
		errs = append(errs, s.Stop())
	}
	errs = append(errs, stopStandbys(c), c.SentinelReplica.Stop(), c.SentinelPrimary.Stop(), c.Storage.Stop())
	for _, p := range c.ReplicationProxies {
		p.Stop()
	}
	if c.Dir != "" {
		os.RemoveAll(c.Dir)
	}
	return errors.Join(errs...)
}

// binary builds the gateway with the build tag once per test binary run.
func (c *Cluster) binary(ctx context.Context, tag string) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if b, ok := c.binaries[tag]; ok {
		return b, nil
	}
	root, err := repoRoot()
	if err != nil {
		return "", err
	}
	out := filepath.Join(c.Dir, "gateway")
	args := []string{"build", "-o"}
	if tag != "" {
		out += "-" + tag
		args = append(args, out, "-tags", tag)
	} else {
		args = append(args, out)
	}
	cmd := exec.CommandContext(ctx, goTool(), append(args, "./cmd/gateway")...)
	cmd.Dir = root
	if msg, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("robustness: go build (tag %q): %v\n%s", tag, err, msg)
	}
	c.binaries[tag] = out
	return out, nil
}

func goTool() string {
	if p := filepath.Join(runtime.GOROOT(), "bin", "go"); fileExists(p) {
		return p
	}
	return "go"
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// repoRoot is the directory holding go.mod, found upwards from the working
// directory (a test runs in its package's directory).
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for range 20 {
		if fileExists(filepath.Join(dir, "go.mod")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			break
		}
		dir = parent
	}
	return "", errors.New("robustness: no go.mod above the working directory")
}

// EnsureGateways makes two gateways of spec run: the running ones are kept
// when they match, otherwise they are stopped and new ones started.
func (c *Cluster) EnsureGateways(ctx context.Context, spec GatewaySpec) error {
	if len(c.Gateways) == 2 && c.spec == spec {
		for _, g := range c.Gateways {
			if !g.Running() {
				if err := g.Start(ctx); err != nil {
					return err
				}
			}
		}
		return nil
	}
	for _, g := range c.Gateways {
		g.Stop()
		if g.RedisProxy != nil {
			g.RedisProxy.Stop()
		}
		if g.CatalogProxy != nil {
			g.CatalogProxy.Stop()
		}
	}
	c.Gateways = nil
	bin, err := c.binary(ctx, spec.Tag)
	if err != nil {
		return err
	}
	if spec.Sentinel {
		if err := c.startSentinels(); err != nil {
			return err
		}
	}
	c.spec = spec
	for _, name := range []string{"A", "B"} {
		port, err := freePort()
		if err != nil {
			return err
		}
		g := &Gateway{Name: name, Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), binary: bin}
		g.URL = "http://" + g.Addr + "/medcard"
		logName := "gateway-" + name
		if spec.Tag != "" {
			logName += "-" + spec.Tag
		}
		if spec.Sentinel {
			logName += "-sentinel"
		}
		g.LogPath = filepath.Join(c.Dir, logName+".log")
		catalogDSN, err := c.gatewayCatalogDSN(g)
		if err != nil {
			return err
		}
		g.args = []string{"serve", "--catalog-dsn", catalogDSN, "--secret-key-file", c.Storage.SecretKeyFile, "--listen", g.Addr,
			"--cache", "on", "--cache-timeout", cacheTimeout.String(), "--request-timeout", "5s", "--commit-timeout", standbyCommitBound.String(),
			"--log-format", "json", "--db-max-conns", "8"}
		if spec.Sentinel {
			addrs := make([]string, len(c.Sentinels))
			for i, s := range c.Sentinels {
				addrs[i] = s.Addr
			}
			g.args = append(g.args, "--redis-sentinels", strings.Join(addrs, ","), "--redis-master", c.Sentinels[0].Master)
		} else {
			if g.RedisProxy, err = c.newProxy("redis-"+name, c.Storage.Redis.Addr); err != nil {
				return err
			}
			g.args = append(g.args, "--redis-addr", g.RedisProxy.Listen)
		}
		c.Gateways = append(c.Gateways, g)
		if err := g.Start(ctx); err != nil {
			return err
		}
	}
	return nil
}

// gatewayCatalogDSN is the catalog DSN g starts with: through a proxy of
// its own, or, for a catalog on Patroni, the multi-host DSN itself (to
// follow the leader; g.CatalogProxy stays nil).
func (c *Cluster) gatewayCatalogDSN(g *Gateway) (string, error) {
	if c.Storage.Patroni != nil {
		return c.Storage.CatalogDSN, nil
	}
	u, err := url.Parse(c.Storage.CatalogDSN)
	if err != nil {
		return "", err
	}
	if g.CatalogProxy, err = c.newProxy("catalog-"+g.Name, u.Host); err != nil {
		return "", err
	}
	u.Host = g.CatalogProxy.Listen
	return u.String(), nil
}

// startSentinels starts the primary, a replica and three Sentinels once;
// after a failover the promoted replica stays the primary.
func (c *Cluster) startSentinels() error {
	if c.SentinelPrimary != nil {
		return nil
	}
	var err error
	if c.SentinelPrimary, err = testservers.StartRedis(); err != nil {
		return err
	}
	if c.SentinelReplica, err = testservers.StartRedisReplica(c.SentinelPrimary); err != nil {
		return err
	}
	for range 3 {
		s, err := testservers.StartSentinel("medcard", c.SentinelPrimary, time.Second, 5*time.Second)
		if err != nil {
			return err
		}
		c.Sentinels = append(c.Sentinels, s)
	}
	return c.Sentinels[0].WaitReplicas(1, 15*time.Second)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Start starts the process on its address, its output appended to its log,
// and waits up to 30 s for /readyz.
func (g *Gateway) Start(ctx context.Context) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	f, err := os.OpenFile(g.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	cmd := exec.Command(g.binary, g.args...)
	cmd.Stdout, cmd.Stderr = f, f
	// Its own process group: a Ctrl-C to the test does not reach it first,
	// and the test's Stop ends it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		f.Close()
		return fmt.Errorf("robustness: start gateway %s: %w", g.Name, err)
	}
	g.cmd, g.log, g.exited = cmd, f, make(chan struct{})
	exited := g.exited
	go func() { cmd.Wait(); close(exited) }()
	return g.waitReady(ctx, exited, 30*time.Second)
}

func (g *Gateway) waitReady(ctx context.Context, exited chan struct{}, within time.Duration) error {
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return fmt.Errorf("robustness: gateway %s exited during start; log tail:\n%s", g.Name, testservers.Tail(g.LogPath, 20))
		case <-ctx.Done():
			return ctx.Err()
		default:
		}
		resp, err := client.Get("http://" + g.Addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("robustness: gateway %s not ready within %v; log tail:\n%s", g.Name, within, testservers.Tail(g.LogPath, 20))
}

// Running reports whether the process is alive.
func (g *Gateway) Running() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.cmd == nil {
		return false
	}
	select {
	case <-g.exited:
		return false
	default:
		return true
	}
}

// Kill sends SIGKILL and waits for the process to exit.
func (g *Gateway) Kill() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.cmd == nil {
		return nil
	}
	g.cmd.Process.Signal(syscall.SIGCONT) // a paused process dies as well, but be sure
	g.cmd.Process.Kill()
	select {
	case <-g.exited:
	case <-time.After(10 * time.Second):
		return fmt.Errorf("robustness: gateway %s did not exit after SIGKILL", g.Name)
	}
	g.log.Close()
	g.cmd = nil
	return nil
}

// Signal sends sig (SIGSTOP, SIGCONT) to the process.
func (g *Gateway) Signal(sig syscall.Signal) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.cmd == nil {
		return fmt.Errorf("robustness: gateway %s is not running", g.Name)
	}
	return g.cmd.Process.Signal(sig)
}

// Stop ends the process: SIGTERM, then SIGKILL after 5 s.
func (g *Gateway) Stop() error {
	g.mu.Lock()
	if g.cmd == nil {
		g.mu.Unlock()
		return nil
	}
	g.cmd.Process.Signal(syscall.SIGCONT)
	g.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-g.exited:
		g.log.Close()
		g.cmd = nil
		g.mu.Unlock()
		return nil
	case <-time.After(5 * time.Second):
	}
	g.mu.Unlock()
	return g.Kill()
}

// logFiles are the logs a report takes a slice of, by name.
func (c *Cluster) logFiles() map[string]string {
	files := map[string]string{
		"postgres-pg1.log": c.Storage.PG1.LogFile(),
		"redis.log":        c.Storage.Redis.LogFile(),
	}
	if c.Storage.PG2 != nil {
		files["postgres-pg2.log"] = c.Storage.PG2.LogFile()
	}
	if c.Storage.Patroni != nil {
		for _, n := range c.Storage.Patroni.Nodes {
			files["patroni-"+n.Name+".log"] = n.LogFile()
		}
	}
	for _, g := range c.Gateways {
		files[filepath.Base(g.LogPath)] = g.LogPath
	}
	if c.SentinelPrimary != nil {
		files["redis-sentinel-primary.log"] = c.SentinelPrimary.LogFile()
		files["redis-sentinel-replica.log"] = c.SentinelReplica.LogFile()
		for i, s := range c.Sentinels {
			files[fmt.Sprintf("sentinel-%d.log", i)] = s.LogFile()
		}
	}
	return files
}

// logSizes records where each log ends now, so a report can take what a
// run added.
func (c *Cluster) logSizes() map[string]int64 {
	out := map[string]int64{}
	for name, path := range c.logFiles() {
		if st, err := os.Stat(path); err == nil {
			out[name] = st.Size()
		}
	}
	return out
}
