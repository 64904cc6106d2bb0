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
	"sync"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/sharedmedcard/gateway/cache"
	"github.com/sharedmedcard/gateway/medcard"
	"github.com/sharedmedcard/gateway/shard"
	"github.com/sharedmedcard/gateway/soap"
	"github.com/sharedmedcard/gateway/wsdl"
)

// serveConfig is everything `gateway serve` is configured with.
type serveConfig struct {
	catalogDSN     string
	listen         string
	publicURL      string
	redisAddr      string
	redisSentinels string // comma-separated host:port of Sentinels
	redisMaster    string
	cache          string // on or off
	cacheTTL       time.Duration
	cacheTimeout   time.Duration
	redisPipeline  string // on or off: go-redis automatic pipelining
	logFormat      string
	timeout        time.Duration
	demo           bool
	pprof          string // loopback address for net/http/pprof; empty: off
	dbMaxConns     int    // connections per shard database pool; 0: pgx's default
	gcPercent      int    // the Go GC target; 0: leave the runtime's (GOGC)
}

// gcMemoryLimit is the soft heap limit set with --gc-percent: under it the
// GC runs by the percentage, near it as often as it must.
const gcMemoryLimit = 150 << 20

// soapPath is where the SOAP endpoint is mounted.
const soapPath = "/medcard"

func runServe(ctx context.Context, args []string) error {
	var cfg serveConfig
	f := newFlags("serve", "Runs the SOAP gateway until interrupted. POST envelopes to /medcard, GET /medcard?wsdl,\n/healthz (alive) and /readyz (catalog and every shard database answer).")
	f.catalogDSN(&cfg.catalogDSN)
	f.string(&cfg.listen, "listen", "MEDCARD_LISTEN", "127.0.0.1:8080", "address to listen on")
	f.string(&cfg.publicURL, "public-url", "MEDCARD_PUBLIC_URL", "", "public URL of the SOAP endpoint, written into the WSDL (default http://<listen>/medcard)")
	f.string(&cfg.redisAddr, "redis-addr", "MEDCARD_REDIS_ADDR", "", "Redis host:port for the card cache and WS-Security nonces (empty: no Redis)")
	f.string(&cfg.redisSentinels, "redis-sentinels", "MEDCARD_REDIS_SENTINELS", "", "comma-separated Sentinel host:port list; with --redis-master, used instead of --redis-addr")
	f.string(&cfg.redisMaster, "redis-master", "MEDCARD_REDIS_MASTER", "medcard", "Sentinel master name")
	f.string(&cfg.cache, "cache", "MEDCARD_CACHE", "on", "serve pure reads from the Redis card cache: on or off")
	f.duration(&cfg.cacheTTL, "cache-ttl", "MEDCARD_CACHE_TTL", time.Minute, "lifetime of a cached card")
	f.duration(&cfg.cacheTimeout, "cache-timeout", "MEDCARD_CACHE_TIMEOUT", 50*time.Millisecond, "deadline of one Redis call; past it the call counts as a miss")
	f.string(&cfg.redisPipeline, "redis-autopipeline", "MEDCARD_REDIS_AUTOPIPELINE", "on", "batch concurrent requests' Redis commands into shared round trips (go-redis AutoPipeline): on or off")
	f.string(&cfg.logFormat, "log-format", "MEDCARD_LOG_FORMAT", "json", "log format: json or console")
	f.duration(&cfg.timeout, "request-timeout", "MEDCARD_REQUEST_TIMEOUT", 10*time.Second, "deadline for one request's work")
	f.string(&cfg.pprof, "pprof", "MEDCARD_PPROF", "", "loopback address (e.g. 127.0.0.1:6060) for net/http/pprof on its own listener; empty: off")
	f.intVar(&cfg.dbMaxConns, "db-max-conns", "MEDCARD_DB_MAX_CONNS", 16, "most connections per shard database (a pool_max_conns in the DSN wins); 0: pgx's default, max(4, CPUs)")
	f.intVar(&cfg.gcPercent, "gc-percent", "MEDCARD_GC_PERCENT", 400, "Go GC target percentage (like GOGC, which wins when set); 0: the runtime's default")
	f.BoolVar(&cfg.demo, "demo", false, "print a demo person and a copy-paste curl once listening")
	if err := f.Parse(args); err != nil {
		return err
	}
	if err := requireCatalog(cfg.catalogDSN); err != nil {
		return err
	}
	if cfg.cache != "on" && cfg.cache != "off" {
		return fmt.Errorf("--cache: %q is neither on nor off", cfg.cache)
	}
	if cfg.redisPipeline != "on" && cfg.redisPipeline != "off" {
		return fmt.Errorf("--redis-autopipeline: %q is neither on nor off", cfg.redisPipeline)
	}
	log, err := newLogger(cfg.logFormat)
	if err != nil {
		return err
	}
	defer log.Sync()
	if _, set := os.LookupEnv("GOGC"); !set && cfg.gcPercent > 0 {
		// Fewer collections for a heap that stays small (tens of MB under
		// load, see docs/performance.md); the memory limit keeps a burst
		// from growing the heap without bound.
		debug.SetGCPercent(cfg.gcPercent)
		if _, set := os.LookupEnv("GOMEMLIMIT"); !set {
			debug.SetMemoryLimit(gcMemoryLimit)
		}
	}

	ln, err := net.Listen("tcp", cfg.listen)
	if err != nil {
		return err
	}
	if cfg.publicURL == "" {
		cfg.publicURL = "http://" + ln.Addr().String() + soapPath
	}
	gw, err := newGateway(ctx, cfg, log, time.Now)
	if err != nil {
		ln.Close()
		return err
	}
	defer gw.close()
	srv := &http.Server{
		Handler:           gw.handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		IdleTimeout:       120 * time.Second,
	}

	if cfg.pprof != "" {
		stopPprof, err := servePprof(cfg.pprof, log)
		if err != nil {
			return err
		}
		defer stopPprof()
	}

	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	log.Info("gateway listening", zap.String("addr", ln.Addr().String()), zap.String("endpoint", cfg.publicURL))
	if cfg.demo {
		printDemo(os.Stdout, cfg.publicURL)
	}

	select {
	case err := <-serveErr:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return err
	}
	if err := <-serveErr; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// gateway is the wired service: the HTTP handler, the background loops it
// runs (shard map watch, read audit writer) and what it holds open.
type gateway struct {
	handler http.Handler
	store   *shard.Store
	audits  *shard.AuditWriter
	stop    context.CancelFunc
	loops   sync.WaitGroup
	closers []func() // run in order by close, after the loops ended
}

// close stops the background loops (the audit writer flushes what it
// queued) and then closes connections.
func (g *gateway) close() {
	g.stop()
	g.loops.Wait()
	for _, c := range g.closers {
		c()
	}
}

// newGateway connects to the catalog, the shard databases and Redis, wires
// the domain service behind the SOAP endpoint, health checks and metrics,
// and starts the background loops. clinicalNow is the domain's clock
// (dispensing intervals, validity, stamps); tests move it, while token
// freshness always uses the real clock.
func newGateway(ctx context.Context, cfg serveConfig, log *zap.Logger, clinicalNow func() time.Time) (*gateway, error) {
	g := &gateway{}
	loopCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	g.stop = stop
	fail := func(err error) (*gateway, error) { g.close(); return nil, err }

	catalogPool, err := pgxpool.New(ctx, cfg.catalogDSN)
	if err != nil {
		return fail(fmt.Errorf("catalog: %w", err))
	}
	g.closers = append(g.closers, catalogPool.Close)
	catalog := shard.NewCatalog(catalogPool, time.Now)
	store, err := shard.Open(ctx, catalog, log, poolConfig(cfg.dbMaxConns))
	if err != nil {
		return fail(fmt.Errorf("open shard store: %w", err))
	}
	g.store = store
	g.closers = append([]func(){store.Close}, g.closers...)
	g.background(func() { store.Watch(loopCtx, time.Second) })

	registry := prometheus.NewRegistry()
	registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		shard.NewPoolCollector(store))

	g.audits = shard.NewAuditWriter(store, log, shard.AuditOptions{})
	g.background(func() { g.audits.Run(loopCtx) })

	var nonces soap.Nonces
	var opts []medcard.Option
	var redisBudget time.Duration
	if rdb := newRedisClient(cfg); rdb != nil {
		g.closers = append([]func(){func() { rdb.Close() }}, g.closers...)
		cmds, err := redisCommands(rdb, cfg.redisPipeline)
		if err != nil {
			return fail(err)
		}
		nonces = cache.NewNonces(cmds, cfg.cacheTimeout)
		if cfg.cache == "on" {
			// The fence lease and the write-through's patience share the
			// cache timeout, so a write that cannot reach Redis still
			// costs at most about that (see medcard.WithCache).
			fences := shard.NewFences(store, cfg.cacheTimeout/2, log)
			g.background(func() { fences.Watch(loopCtx) })
			cards := cache.NewCards(cmds, cache.CardsOptions{
				TTL: cfg.cacheTTL, Timeout: cfg.cacheTimeout, Scope: fences.Scope, Registerer: registry, Log: log,
			})
			opts = append(opts, medcard.WithCache(cards, fences, cfg.cacheTimeout*2/5))
		}
		redisBudget = cfg.cacheTimeout
	}

	svc := medcard.NewService(store, g.audits, clinicalNow, opts...)
	handler := soap.NewHandler(svc, catalog, nonces, log, soap.Config{
		WSDL: wsdl.Render(cfg.publicURL), Timeout: cfg.timeout, Now: time.Now, Registerer: registry,
	})
	g.handler = newRouter(withRedisBudget(handler, redisBudget), catalog, store, promhttp.HandlerFor(registry, promhttp.HandlerOpts{}))
	return g, nil
}

// withRedisBudget gives every request one cache timeout for all its Redis
// calls together (nonce, card look-up, write-through): a slow Redis costs
// a request that, not that per call. 0: no Redis, no budget.
func withRedisBudget(next http.Handler, budget time.Duration) http.Handler {
	if budget <= 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(w, r.WithContext(cache.WithBudget(r.Context(), budget)))
	})
}

// poolConfig sizes each shard database pool to maxConns connections unless
// its DSN sets pool_max_conns; nil (pgx's defaults) for 0. pgx's default of
// max(4, CPUs) queues a small host's concurrent requests in the gateway
// (docs/performance.md). Every gateway opens up to maxConns connections to
// each shard database: size PostgreSQL's max_connections for the fleet.
func poolConfig(maxConns int) func(*pgxpool.Config) {
	if maxConns <= 0 {
		return nil
	}
	return func(c *pgxpool.Config) {
		if !strings.Contains(c.ConnString(), "pool_max_conns") {
			c.MaxConns = int32(maxConns)
		}
	}
}

// background runs loop in a goroutine that close waits for.
func (g *gateway) background(loop func()) {
	g.loops.Add(1)
	go func() {
		defer g.loops.Done()
		loop()
	}()
}

// silentRedisLogger drops go-redis's own log lines (one per failed dial,
// per request, while Redis is down): Redis failures are counted in the
// cache metrics and the breaker logs its state changes once.
type silentRedisLogger struct{}

func (silentRedisLogger) Printf(context.Context, string, ...any) {}

// newRedisClient returns a client for a single Redis or, with Sentinels
// configured, one that follows the Sentinels' current primary; nil when no
// Redis is configured. Timeouts are short: Redis must never hold up a
// request for long.
func newRedisClient(cfg serveConfig) *redis.Client {
	redis.SetLogger(silentRedisLogger{})
	dial, rw := 200*time.Millisecond, cfg.cacheTimeout
	if cfg.redisSentinels != "" {
		return redis.NewFailoverClient(&redis.FailoverOptions{
			MasterName: cfg.redisMaster, SentinelAddrs: strings.Split(cfg.redisSentinels, ","),
			DialTimeout: dial, ReadTimeout: rw, WriteTimeout: rw, MaxRetries: -1, DialerRetries: 1,
		})
	}
	if cfg.redisAddr == "" {
		return nil
	}
	// MaxRetries -1 is none (0 means the default, 3); one dial attempt.
	return redis.NewClient(&redis.Options{Addr: cfg.redisAddr, DialTimeout: dial, ReadTimeout: rw, WriteTimeout: rw,
		MaxRetries: -1, DialerRetries: 1})
}

// redisCommands is what the cache and the nonce store send their commands
// through. With pipelining on, go-redis's AutoPipeliner coalesces the
// commands of concurrent requests (nonce SET NX, card HMGET, fills) into
// one write and one read per batch instead of two system calls per command:
// on a hot read that cut the gateway's CPU per request by a quarter
// (docs/performance.md). Each caller still waits for its own reply, so
// nothing about ordering or timeouts changes for it. The API is marked
// experimental in go-redis v9.23; "off" is the way back.
func redisCommands(rdb *redis.Client, pipeline string) (redis.Cmdable, error) {
	if pipeline == "off" {
		return rdb, nil
	}
	ap, err := rdb.AutoPipeline()
	if err != nil {
		return nil, fmt.Errorf("redis autopipeline: %w", err)
	}
	return ap, nil
}

// pinger is anything /readyz asks.
type pinger interface{ Ping(context.Context) error }

// newRouter mounts the SOAP endpoint, the health checks and the metrics.
func newRouter(soapHandler http.Handler, catalog, shards pinger, metrics http.Handler) http.Handler {
	r := chi.NewRouter()
	r.Use(middleware.Recoverer)
	r.Handle(soapPath, soapHandler)
	r.Handle("/metrics", metrics)
	r.Get("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("ok\n"))
	})
	r.Get("/readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		var problems []string
		if err := catalog.Ping(ctx); err != nil {
			problems = append(problems, "catalog: unavailable")
		}
		if err := shards.Ping(ctx); err != nil {
			problems = append(problems, "shards: "+err.Error())
		}
		if len(problems) > 0 {
			http.Error(w, "not ready: "+strings.Join(problems, "; "), http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ready\n"))
	})
	return r
}

// newLogger builds the one logger of the process.
func newLogger(format string) (*zap.Logger, error) {
	var cfg zap.Config
	switch format {
	case "json":
		cfg = zap.NewProductionConfig()
		cfg.Sampling = nil // every request line matters
	case "console":
		cfg = zap.NewDevelopmentConfig()
		cfg.DisableStacktrace = true
	default:
		return nil, fmt.Errorf("--log-format: %q is neither json nor console", format)
	}
	cfg.DisableCaller = true
	return cfg.Build()
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
