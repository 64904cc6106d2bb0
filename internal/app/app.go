// Package app builds a whole gateway from a Config: the shard store over
// the catalog and shard databases, the read audit writer, the Redis card
// cache and nonce store, the domain service behind the SOAP endpoint, the
// health checks and the metrics. `gateway serve` and the tests build their
// gateways with New, so the tests run the gateway as it is wired in
// production.
package app

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"

	"github.com/sharedmedcard/gateway/cache"
	"github.com/sharedmedcard/gateway/internal/credential"
	"github.com/sharedmedcard/gateway/medcard"
	"github.com/sharedmedcard/gateway/shard"
	"github.com/sharedmedcard/gateway/soap"
	"github.com/sharedmedcard/gateway/web"
	"github.com/sharedmedcard/gateway/web/account"
	"github.com/sharedmedcard/gateway/wsdl"
)

// Gateway is the wired service: the HTTP handler, the background loops it
// runs (shard map watch, read audit writer) and what it holds open.
type Gateway struct {
	handler http.Handler
	tls     *tls.Config // nil: plain HTTP
	store   *shard.Store
	audits  *shard.AuditWriter
	stop    context.CancelFunc
	loops   sync.WaitGroup
	closers []func() // run in order by Close, after the loops ended

	httpLimits   HTTPLimits         // of NewServer and Listener (server.go)
	refusedConns prometheus.Counter // connections Listener closed
}

// New connects to the catalog, the shard databases and Redis, wires the
// domain service behind the SOAP endpoint, health checks and metrics, and
// starts the background loops; Close stops them. ctx bounds the
// connecting only: the loops run until Close. It fails when the shard map
// cannot be loaded from the catalog (the cluster not initialised included)
// or a pool cannot be made; Redis being down is no error (requests are then
// served from PostgreSQL).
func New(ctx context.Context, cfg Config) (*Gateway, error) {
	log := cfg.Log
	if log == nil {
		log = zap.NewNop()
	}
	clinicalNow := cfg.Now
	if clinicalNow == nil {
		clinicalNow = time.Now
	}
	g := &Gateway{httpLimits: cfg.HTTP}
	loopCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	g.stop = stop
	fail := func(err error) (*Gateway, error) { g.Close(); return nil, err }

	// TLS first: a certificate that does not load stops the start before
	// anything is connected.
	var err error
	if g.tls, err = newTLSConfig(cfg, log); err != nil {
		return fail(err)
	}

	// The catalog and the shard store, which follows the shard map.
	catalogCfg, err := pgxpool.ParseConfig(cfg.CatalogDSN)
	if err != nil {
		return fail(fmt.Errorf("catalog: bad DSN: %w", err))
	}
	shard.CancelOnDeadline(catalogCfg)
	catalogPool, err := pgxpool.NewWithConfig(ctx, catalogCfg)
	if err != nil {
		return fail(fmt.Errorf("catalog: %w", err))
	}
	g.closers = append(g.closers, catalogPool.Close)
	catalog := shard.NewCatalog(catalogPool, time.Now)
	if cfg.SecretKeyFile != "" {
		key, err := credential.LoadKeyFile(cfg.SecretKeyFile)
		if err != nil {
			return fail(err)
		}
		catalog.SetSecretKey(key)
	} else {
		log.Warn("no secret key (--secret-key-file): PasswordDigest is refused, systems authenticate with PasswordText over TLS only")
	}
	store, err := shard.Open(ctx, catalog, log, poolConfig(cfg.DBMaxConns))
	if err != nil {
		return fail(fmt.Errorf("open shard store: %w", err))
	}
	g.store = store
	g.closers = append([]func(){store.Close}, g.closers...)
	store.SetCommitBound(cfg.CommitTimeout)
	store.SetRequiredConfirmations(cfg.SyncStandbys)
	if err := checkReplication(ctx, catalog, store, cfg.SyncStandbys); err != nil {
		return fail(err)
	}
	g.background(func() { store.Watch(loopCtx, time.Second) })

	// The metrics every part below registers with.
	registry := prometheus.NewRegistry()
	registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		shard.NewPoolCollector(store), shard.NewReplicationCollector(catalog, store))
	g.refusedConns = newRefusedConnections(registry)

	// The read audit writer, which batches the look-ups' audit rows.
	g.audits = shard.NewAuditWriter(store, log, shard.AuditOptions{Durable: cfg.DurableReadAudits})
	g.background(func() { g.audits.Run(loopCtx) })
	// What a crash now would lose of look-ups already answered (with
	// --durable-read-audits those look-ups wait for their rows, so none):
	// the bound docs/reliability.md reports.
	registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "medcard_audit_rows_pending",
		Help: "Look-ups' audit rows not yet committed (queued or being written). Without --durable-read-audits their look-ups were answered, and a crash of this gateway loses these rows; with it, those look-ups wait for them.",
	}, func() float64 { return float64(g.audits.Pending()) }))
	if cfg.AuditMaintenanceEvery > 0 {
		g.background(func() {
			maintainAudit(loopCtx, store, log, cfg.AuditAheadMonths, cfg.AuditRetentionMonths, cfg.AuditMaintenanceEvery)
		})
	}

	// Redis: the WS-Security nonces and, with the cache on, hot cards. The
	// nonces fall back to the catalog while Redis cannot answer, and live
	// there alone without Redis (cache.Nonces).
	var nonces *cache.Nonces
	var opts []medcard.Option
	var redisBudget time.Duration
	if rdb := newRedisClient(cfg); rdb != nil {
		g.closers = append([]func(){func() { rdb.Close() }}, g.closers...)
		cmds, err := redisCommands(rdb, cfg.RedisAutoPipeline)
		if err != nil {
			return fail(err)
		}
		nonces = cache.NewNonces(cmds, cache.NoncesOptions{Timeout: cfg.CacheTimeout, Fallback: catalog, Registerer: registry, Log: log})
		if cfg.Cache {
			// The cache fences, learnt by polling every shard database. The
			// fence lease (1/2) and the write-through's patience (2/5) share
			// the cache timeout, so a write that cannot reach Redis costs
			// about that, and a card read from the primary within one cache
			// timeout of its change waits out the rest (see medcard.WithCache,
			// shard.Fences and docs/reliability.md).
			fences := shard.NewFences(store, cfg.CacheTimeout/2, cfg.CacheTimeout, log)
			g.background(func() { fences.Watch(loopCtx) })
			registry.MustRegister(shard.NewFenceCollector(fences))
			cards := cache.NewCards(cmds, cache.CardsOptions{
				TTL: cfg.CacheTTL, Timeout: cfg.CacheTimeout, Scope: fences.Scope, Registerer: registry, Log: log,
			})
			opts = append(opts, medcard.WithCache(cards, fences, cfg.CacheTimeout*2/5))
		}
		redisBudget = cfg.CacheTimeout
	} else {
		nonces = cache.NewNonces(nil, cache.NoncesOptions{Fallback: catalog, Registerer: registry, Log: log})
	}
	g.background(func() { nonces.Watch(loopCtx, time.Second) })

	// The domain service behind the SOAP endpoint, the health checks and
	// the metrics.
	svc := medcard.NewService(store, g.audits, clinicalNow, opts...)
	wsdlSOAP11, err := wsdl.RenderSOAP11(cfg.PublicURL)
	if err != nil {
		return fail(fmt.Errorf("WSDL: %w", err))
	}
	singleWSDL, err := wsdl.RenderSingle(cfg.PublicURL)
	if err != nil {
		return fail(fmt.Errorf("WSDL: %w", err))
	}
	singleWSDLSOAP11, err := wsdl.RenderSingleSOAP11(cfg.PublicURL)
	if err != nil {
		return fail(fmt.Errorf("WSDL: %w", err))
	}
	handler := soap.NewHandler(svc, catalog, nonces, log, soap.Config{
		WSDL: wsdl.Render(cfg.PublicURL), WSDLSOAP11: wsdlSOAP11,
		SingleWSDL: singleWSDL, SingleWSDLSOAP11: singleWSDLSOAP11,
		Timeout: cfg.RequestTimeout, Now: time.Now, Registerer: registry,
		TLSTerminatedUpstream: cfg.TLSTerminatedUpstream,
	})
	// The pharmacists' web UI, its users and sessions in the catalog.
	ui, err := web.New(web.Config{Accounts: account.NewStore(catalogPool, account.Options{}), Cards: svc, Log: log,
		SecureCookies: cfg.TLSTerminatedUpstream})
	if err != nil {
		return fail(fmt.Errorf("web UI: %w", err))
	}
	g.handler = newRouter(withRedisBudget(handler, redisBudget), withRedisBudget(withDeadline(ui, cfg.RequestTimeout), redisBudget), catalog, store,
		replicationReadiness{catalog, store, cfg.SyncStandbys},
		promhttp.HandlerFor(registry, promhttp.HandlerOpts{}))
	return g, nil
}

// checkReplication refuses a gateway that would acknowledge writes fewer
// standbys hold than required: every database must be set to wait for at
// least that many, and name enough standbys to ever confirm.
func checkReplication(ctx context.Context, catalog *shard.Catalog, store *shard.Store, required int) error {
	if required < 0 {
		return fmt.Errorf("--sync-standbys %d: a number of standbys is 0 or more", required)
	}
	if required == 0 {
		return nil
	}
	states, err := shard.AllReplication(ctx, catalog, store)
	if err != nil {
		return err
	}
	for _, r := range states {
		if err := r.Check(required); err != nil {
			return fmt.Errorf("bad value for --sync-standbys %d: %w", required, err)
		}
	}
	return nil
}

// replicationReadiness is /readyz's check that enough standbys confirm
// writes now.
type replicationReadiness struct {
	catalog  *shard.Catalog
	store    *shard.Store
	required int
}

func (r replicationReadiness) Ping(ctx context.Context) error {
	if r.required == 0 {
		return nil
	}
	states, err := shard.AllReplication(ctx, r.catalog, r.store)
	if err != nil {
		return err
	}
	var problems []error
	for _, s := range states {
		if err := s.Ready(r.required); err != nil {
			problems = append(problems, err)
		}
	}
	return errors.Join(problems...)
}

// Handler serves the SOAP endpoint at SOAPPath, the web UI at web.Path,
// /healthz, /readyz and /metrics.
func (g *Gateway) Handler() http.Handler { return g.handler }

// TLSConfig is the configuration to serve Handler over TLS with (see
// Config.TLSCertFile), nil for plain HTTP. Serve with
// http.Server.ServeTLS(ln, "", ""): the certificate comes from it.
func (g *Gateway) TLSConfig() *tls.Config { return g.tls }

// Store is the gateway's shard store, for tests that build a service of
// their own over it.
func (g *Gateway) Store() *shard.Store { return g.store }

// FlushAudits writes the read audit rows queued so far, for tests that
// count them.
func (g *Gateway) FlushAudits(ctx context.Context) error { return g.audits.Flush(ctx) }

// Close stops the background loops (the audit writer flushes what it
// queued) and then closes connections.
func (g *Gateway) Close() {
	g.stop()
	g.loops.Wait()
	for _, c := range g.closers {
		c()
	}
}

// background runs loop in a goroutine that Close waits for.
func (g *Gateway) background(loop func()) {
	g.loops.Add(1)
	go func() {
		defer g.loops.Done()
		loop()
	}()
}

// withDeadline bounds each request's work to d, as the SOAP handler bounds
// its own (soap.Config.Timeout): a page whose database waits for absent
// standbys fails instead of hanging.
func withDeadline(next http.Handler, d time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), d)
		defer cancel()
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// withRedisBudget gives every request one cache timeout for all its Redis
// calls together (card look-up, write-through; the nonce check has its own): a slow Redis costs
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

// maintainAudit keeps the audit log's monthly partitions, now and every
// interval until ctx ends: the months ahead made, the months past the
// retention dropped. A failure is logged and tried again at the next
// round; inserts do not depend on it (the default partition takes a row
// of a month not made).
func maintainAudit(ctx context.Context, store *shard.Store, log *zap.Logger, ahead, keepMonths int, every time.Duration) {
	for {
		mctx, cancel := context.WithTimeout(ctx, time.Minute)
		res, err := store.MaintainAuditPartitions(mctx, time.Now(), ahead, keepMonths)
		cancel()
		for _, r := range res {
			if r.Created > 0 || r.Dropped > 0 {
				log.Info("audit partitions maintained", zap.String("db", r.Database), zap.Int("created", r.Created), zap.Int("dropped", r.Dropped))
			}
		}
		if err != nil && ctx.Err() == nil {
			log.Warn("audit partitions not maintained; trying again later", zap.Error(err))
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(every):
		}
	}
}
