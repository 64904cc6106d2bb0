package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"runtime/debug"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/sharedmedcard/gateway/internal/app"
)

// serveFlags are the flags of `gateway serve` that are not the gateway's
// own configuration, and those whose flag form needs checking before they
// become an app.Config field.
type serveFlags struct {
	listen         string
	listenHTTP     string // with TLS, also plain HTTP here (the local demo)
	demoCA         string // with --demo, the CA the printed curl trusts
	redisSentinels string // comma-separated host:port of Sentinels
	cache          string // on or off
	redisPipeline  string // on or off: go-redis automatic pipelining
	logFormat      string
	demo           bool
	pprof          string // loopback address for net/http/pprof; empty: off
	gcPercent      int    // the Go GC target; 0: leave the runtime's (GOGC)
	auditRetention string // months of audit log kept (parseRetention)
}

// gcMemoryLimit is the soft heap limit set with --gc-percent: under it the
// GC runs by the percentage, near it as often as it must.
const gcMemoryLimit = 150 << 20

func runServe(ctx context.Context, args []string) error {
	cfg := app.DefaultConfig()
	var sf serveFlags
	f := newFlags("serve", "Runs the SOAP gateway until interrupted. POST envelopes to /medcard, GET /medcard?wsdl,\n/healthz (alive) and /readyz (catalog and every shard database answer).")
	f.catalogDSN(&cfg.CatalogDSN)
	f.string(&sf.listen, "listen", "MEDCARD_LISTEN", "127.0.0.1:8080", "address to listen on: HTTPS with --tls-cert, else plain HTTP")
	f.string(&cfg.PublicURL, "public-url", "MEDCARD_PUBLIC_URL", "", "public URL of the SOAP endpoint, written into the WSDL (default http(s)://<listen>/medcard)")
	f.string(&cfg.TLSCertFile, "tls-cert", "MEDCARD_TLS_CERT", "", "PEM certificate (chain) to serve HTTPS with, with --tls-key; reloaded when the file changes (empty: plain HTTP)")
	f.string(&cfg.TLSKeyFile, "tls-key", "MEDCARD_TLS_KEY", "", "PEM private key of --tls-cert")
	f.string(&cfg.TLSClientCAFile, "tls-client-ca", "MEDCARD_TLS_CLIENT_CA", "", "PEM CAs whose client certificates are asked for (not required) and verified; systems registered with 'gateway system cert' must present theirs (read at start)")
	f.boolVar(&cfg.TLSTerminatedUpstream, "tls-terminated-upstream", "MEDCARD_TLS_TERMINATED_UPSTREAM", false, "TLS ends at a proxy in front of this gateway: accept PasswordText without TLS here and mark the UI's cookies Secure (never set it when clients can reach the gateway directly)")
	f.string(&sf.listenHTTP, "listen-http", "MEDCARD_LISTEN_HTTP", "", "with --tls-cert, also serve plain HTTP on this address (PasswordText is refused there, PasswordDigest works); empty: none")
	f.secretKeyFile(&cfg.SecretKeyFile)
	f.string(&cfg.RedisAddr, "redis-addr", "MEDCARD_REDIS_ADDR", "", "Redis host:port for the card cache and WS-Security nonces (empty: no Redis)")
	f.string(&sf.redisSentinels, "redis-sentinels", "MEDCARD_REDIS_SENTINELS", "", "comma-separated Sentinel host:port list; with --redis-master, used instead of --redis-addr")
	f.string(&cfg.RedisMaster, "redis-master", "MEDCARD_REDIS_MASTER", cfg.RedisMaster, "Sentinel master name")
	f.string(&sf.cache, "cache", "MEDCARD_CACHE", onOff(cfg.Cache), "serve pure reads from the Redis card cache: on or off")
	f.duration(&cfg.CacheTTL, "cache-ttl", "MEDCARD_CACHE_TTL", cfg.CacheTTL, "lifetime of a cached card")
	f.duration(&cfg.CacheTimeout, "cache-timeout", "MEDCARD_CACHE_TIMEOUT", cfg.CacheTimeout, "deadline of one Redis call; past it the call counts as a miss")
	f.string(&sf.redisPipeline, "redis-autopipeline", "MEDCARD_REDIS_AUTOPIPELINE", onOff(cfg.RedisAutoPipeline), "batch concurrent requests' Redis commands into shared round trips (go-redis AutoPipeline): on or off")
	f.string(&sf.logFormat, "log-format", "MEDCARD_LOG_FORMAT", "json", "log format: json or console")
	f.duration(&cfg.RequestTimeout, "request-timeout", "MEDCARD_REQUEST_TIMEOUT", cfg.RequestTimeout, "deadline for one request's work")
	f.string(&sf.pprof, "pprof", "MEDCARD_PPROF", "", "loopback address (e.g. 127.0.0.1:6060) for net/http/pprof on its own listener; empty: off")
	f.intVar(&cfg.SyncStandbys, "sync-standbys", "MEDCARD_SYNC_STANDBYS", cfg.SyncStandbys, "standbys that must confirm a commit before it is acknowledged; every database must be set to wait for as many (synchronous_standby_names = 'ANY n (…)'), or the gateway refuses to start")
	f.duration(&cfg.CommitTimeout, "commit-timeout", "MEDCARD_COMMIT_TIMEOUT", cfg.CommitTimeout, "bound of one write, its wait for the standbys included; past it the write fails retryably")
	f.boolVar(&cfg.DurableReadAudits, "durable-read-audits", "MEDCARD_DURABLE_READ_AUDITS", cfg.DurableReadAudits, "answer a look-up only once its audit row is committed (group commit); off: the row is queued, written within about 50 ms, and lost if the gateway crashes first")
	f.intVar(&cfg.DBMaxConns, "db-max-conns", "MEDCARD_DB_MAX_CONNS", cfg.DBMaxConns, "most connections per shard database (a pool_max_conns in the DSN wins); 0: pgx's default, max(4, CPUs)")
	f.intVar(&sf.gcPercent, "gc-percent", "MEDCARD_GC_PERCENT", 400, "Go GC target percentage (like GOGC, which wins when set); 0: the runtime's default")
	f.duration(&cfg.HTTP.ReadHeaderTimeout, "read-header-timeout", "MEDCARD_READ_HEADER_TIMEOUT", cfg.HTTP.ReadHeaderTimeout, "bound of reading a request's headers (a client that dribbles them is cut)")
	f.duration(&cfg.HTTP.ReadTimeout, "read-timeout", "MEDCARD_READ_TIMEOUT", cfg.HTTP.ReadTimeout, "bound of reading a whole request, headers and body (a client that dribbles its body is cut)")
	f.duration(&cfg.HTTP.WriteTimeout, "write-timeout", "MEDCARD_WRITE_TIMEOUT", cfg.HTTP.WriteTimeout, "bound of a request from its headers to the last byte of its answer; more than --read-timeout and --request-timeout together")
	f.duration(&cfg.HTTP.IdleTimeout, "idle-timeout", "MEDCARD_IDLE_TIMEOUT", cfg.HTTP.IdleTimeout, "a keep-alive connection with no next request is closed after this")
	f.intVar(&cfg.HTTP.MaxHeaderBytes, "max-header-bytes", "MEDCARD_MAX_HEADER_BYTES", cfg.HTTP.MaxHeaderBytes, "most bytes of a request's HTTP headers (past it: 431)")
	f.intVar(&cfg.HTTP.MaxConnections, "max-connections", "MEDCARD_MAX_CONNECTIONS", cfg.HTTP.MaxConnections, "most client connections per listener at once; past it a new one is closed on accept; 0: no limit")
	f.string(&sf.auditRetention, "audit-retention", "MEDCARD_AUDIT_RETENTION", "off", "months of the audit log (the citizen's access log) to keep, as 26mo or 2y; older months are dropped whole at start and every six hours (off: keep everything)")
	f.BoolVar(&sf.demo, "demo", false, "print a demo person and a copy-paste curl once listening")
	f.string(&sf.demoCA, "demo-ca", "MEDCARD_DEMO_CA", "", "with --demo, the CA certificate the printed curl trusts (gateway dev-cert's ca.pem)")
	if err := f.Parse(args); err != nil {
		return err
	}
	if err := requireCatalog(cfg.CatalogDSN); err != nil {
		return err
	}
	var err error
	if cfg.Cache, err = parseOnOff("--cache", sf.cache); err != nil {
		return err
	}
	if cfg.RedisAutoPipeline, err = parseOnOff("--redis-autopipeline", sf.redisPipeline); err != nil {
		return err
	}
	if cfg.AuditRetentionMonths, err = parseRetention(sf.auditRetention); err != nil {
		return fmt.Errorf("--audit-retention: %w", err)
	}
	if sf.redisSentinels != "" {
		cfg.RedisSentinels = strings.Split(sf.redisSentinels, ",")
	}
	log, err := newLogger(sf.logFormat)
	if err != nil {
		return err
	}
	defer log.Sync()
	cfg.Log = log
	if _, set := os.LookupEnv("GOGC"); !set && sf.gcPercent > 0 {
		// Fewer collections for a heap that stays small (tens of MB under
		// load, see docs/performance.md); the memory limit keeps a burst
		// from growing the heap without bound.
		debug.SetGCPercent(sf.gcPercent)
		if _, set := os.LookupEnv("GOMEMLIMIT"); !set {
			debug.SetMemoryLimit(gcMemoryLimit)
		}
	}

	servesTLS := cfg.TLSCertFile != "" || cfg.TLSKeyFile != ""
	if sf.listenHTTP != "" && !servesTLS {
		return errors.New("--listen-http is for plain HTTP beside HTTPS: give --tls-cert and --tls-key, or serve plain HTTP on --listen alone")
	}
	ln, err := net.Listen("tcp", sf.listen)
	if err != nil {
		return err
	}
	scheme := "http"
	if servesTLS {
		scheme = "https"
	}
	if cfg.PublicURL == "" {
		cfg.PublicURL = scheme + "://" + ln.Addr().String() + app.SOAPPath
	}
	gw, err := app.New(ctx, cfg)
	if err != nil {
		ln.Close()
		return err
	}
	defer gw.Close()
	var lnHTTP net.Listener
	if sf.listenHTTP != "" {
		if lnHTTP, err = net.Listen("tcp", sf.listenHTTP); err != nil {
			ln.Close()
			return fmt.Errorf("--listen-http: %w", err)
		}
	}
	// TLS handshake failures (a client without our CA, plain HTTP to the
	// HTTPS port) are the clients' to fix; logged, not printed raw.
	srv := gw.NewServer(zap.NewStdLog(log.With(zap.String("component", "http"))))
	ln = gw.Listener(ln)
	if lnHTTP != nil {
		lnHTTP = gw.Listener(lnHTTP)
	}

	if sf.pprof != "" {
		stopPprof, err := servePprof(sf.pprof, log)
		if err != nil {
			return err
		}
		defer stopPprof()
	}

	// One server for both listeners: Shutdown ends both.
	serveErr := make(chan error, 2)
	serving := 1
	if servesTLS {
		go func() { serveErr <- srv.ServeTLS(ln, "", "") }() // the certificate comes from TLSConfig
	} else {
		go func() { serveErr <- srv.Serve(ln) }()
	}
	log.Info("gateway listening", zap.String("addr", ln.Addr().String()), zap.String("scheme", scheme),
		zap.String("endpoint", cfg.PublicURL), zap.Bool("client_certificates", cfg.TLSClientCAFile != ""),
		zap.Bool("tls_terminated_upstream", cfg.TLSTerminatedUpstream))
	demo := demoAddresses{endpoint: cfg.PublicURL, caFile: sf.demoCA, passwordTextAccepted: servesTLS || cfg.TLSTerminatedUpstream}
	if lnHTTP != nil {
		serving++
		go func() { serveErr <- srv.Serve(lnHTTP) }()
		demo.plainEndpoint = "http://" + lnHTTP.Addr().String() + app.SOAPPath
		log.Info("gateway listening", zap.String("addr", lnHTTP.Addr().String()), zap.String("scheme", "http"),
			zap.String("endpoint", demo.plainEndpoint))
	}
	if sf.demo {
		printDemo(os.Stdout, demo)
	}

	var failed error
	select {
	case failed = <-serveErr:
		serving--
		srv.Close() // and the other listener with it
	case <-ctx.Done():
		log.Info("shutting down")
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		if err := srv.Shutdown(shutdownCtx); err != nil {
			return err
		}
	}
	for range serving {
		if err := <-serveErr; failed == nil && !errors.Is(err, http.ErrServerClosed) {
			failed = err
		}
	}
	return failed
}

// onOff is the flag form of a switch.
func onOff(v bool) string {
	if v {
		return "on"
	}
	return "off"
}

// parseOnOff reads the value of an on/off flag.
func parseOnOff(flag, v string) (bool, error) {
	switch v {
	case "on":
		return true, nil
	case "off":
		return false, nil
	}
	return false, fmt.Errorf("%s: %q is neither on nor off", flag, v)
}

// servePprof serves net/http/pprof on its own listener at addr, which must
// be a loopback address: profiles show internals nobody outside the host
// should see. The returned function stops it.
func servePprof(addr string, log *zap.Logger) (func(), error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("--pprof: %w", err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil, fmt.Errorf("--pprof: %q is not a loopback address", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--pprof: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln)
	}()
	log.Info("pprof listening", zap.String("addr", ln.Addr().String()))
	return func() { srv.Close(); <-done }, nil
}
