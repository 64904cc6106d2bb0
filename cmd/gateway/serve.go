package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
	"github.com/jackc/pgx/v5/pgxpool"
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
	catalogDSN string
	listen     string
	publicURL  string
	redisAddr  string
	logFormat  string
	timeout    string
	demo       bool
}

// soapPath is where the SOAP endpoint is mounted.
const soapPath = "/medcard"

func runServe(ctx context.Context, args []string) error {
	var cfg serveConfig
	f := newFlags("serve", "Runs the SOAP gateway until interrupted. POST envelopes to /medcard, GET /medcard?wsdl,\n/healthz (alive) and /readyz (catalog and every shard database answer).")
	f.catalogDSN(&cfg.catalogDSN)
	f.string(&cfg.listen, "listen", "MEDCARD_LISTEN", "127.0.0.1:8080", "address to listen on")
	f.string(&cfg.publicURL, "public-url", "MEDCARD_PUBLIC_URL", "", "public URL of the SOAP endpoint, written into the WSDL (default http://<listen>/medcard)")
	f.string(&cfg.redisAddr, "redis-addr", "MEDCARD_REDIS_ADDR", "", "Redis host:port for nonces (empty: no Redis)")
	f.string(&cfg.logFormat, "log-format", "MEDCARD_LOG_FORMAT", "json", "log format: json or console")
	f.string(&cfg.timeout, "request-timeout", "MEDCARD_REQUEST_TIMEOUT", "10s", "deadline for one request's work")
	f.BoolVar(&cfg.demo, "demo", false, "print a demo person and a copy-paste curl once listening")
	if err := f.Parse(args); err != nil {
		return err
	}
	if err := requireCatalog(cfg.catalogDSN); err != nil {
		return err
	}
	timeout, err := time.ParseDuration(cfg.timeout)
	if err != nil {
		return fmt.Errorf("--request-timeout: %w", err)
	}
	log, err := newLogger(cfg.logFormat)
	if err != nil {
		return err
	}
	defer log.Sync()

	ln, err := net.Listen("tcp", cfg.listen)
	if err != nil {
		return err
	}
	if cfg.publicURL == "" {
		cfg.publicURL = "http://" + ln.Addr().String() + soapPath
	}
	gw, err := newGateway(ctx, cfg, timeout, log, time.Now)
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

	watchCtx, stopWatch := context.WithCancel(ctx)
	watchDone := make(chan struct{})
	go func() {
		defer close(watchDone)
		gw.store.Watch(watchCtx, time.Second)
	}()
	defer func() { stopWatch(); <-watchDone }()

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

// gateway is the wired service: the HTTP handler and what it holds open.
type gateway struct {
	handler http.Handler
	store   *shard.Store
	close   func()
}

// newGateway connects to the catalog, the shard databases and Redis, and
// wires the domain service behind the SOAP endpoint and health checks.
// clinicalNow is the domain's clock (dispensing intervals, validity,
// stamps); tests move it, while token freshness always uses the real clock.
func newGateway(ctx context.Context, cfg serveConfig, timeout time.Duration, log *zap.Logger, clinicalNow func() time.Time) (*gateway, error) {
	catalogPool, err := pgxpool.New(ctx, cfg.catalogDSN)
	if err != nil {
		return nil, fmt.Errorf("catalog: %w", err)
	}
	catalog := shard.NewCatalog(catalogPool, time.Now)
	store, err := shard.Open(ctx, catalog, log, nil)
	if err != nil {
		catalogPool.Close()
		return nil, fmt.Errorf("open shard store: %w", err)
	}
	closers := []func(){store.Close, catalogPool.Close}

	var nonces soap.Nonces
	if cfg.redisAddr != "" {
		rdb := redis.NewClient(&redis.Options{Addr: cfg.redisAddr, DialTimeout: 200 * time.Millisecond,
			ReadTimeout: 100 * time.Millisecond, WriteTimeout: 100 * time.Millisecond, MaxRetries: 0})
		closers = append([]func(){func() { rdb.Close() }}, closers...)
		nonces = cache.NewNonces(rdb, 150*time.Millisecond)
	}

	svc := medcard.NewService(store, clinicalNow)
	handler := soap.NewHandler(svc, catalog, nonces, log, soap.Config{
		WSDL: wsdl.Render(cfg.publicURL), Timeout: timeout, Now: time.Now,
	})
	return &gateway{
		handler: newRouter(handler, catalog, store),
		store:   store,
		close: func() {
			for _, c := range closers {
				c()
			}
		},
	}, nil
}

// pinger is anything /readyz asks.
type pinger interface{ Ping(context.Context) error }

// newRouter mounts the SOAP endpoint and the health checks.
func newRouter(soapHandler http.Handler, catalog, shards pinger) http.Handler {
	r := chi.NewRouter()
	r.Use(middleware.Recoverer)
	r.Handle(soapPath, soapHandler)
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
