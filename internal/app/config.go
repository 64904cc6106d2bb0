package app

import (
	"time"

	"go.uber.org/zap"
)

// SOAPPath is where the SOAP endpoint is mounted.
const SOAPPath = "/medcard"

// Config is everything a gateway is built from. It knows no flags or
// environment variables: `gateway serve` fills it from those, tests fill it
// by hand. Start from DefaultConfig; the zero value of a field is not
// always its default.
type Config struct {
	// CatalogDSN is the PostgreSQL URL of the catalog database, which names
	// the shard databases.
	CatalogDSN string
	// PublicURL is the SOAP endpoint's public address, written into the WSDL.
	PublicURL string

	// RedisAddr is the host:port of Redis for the card cache and the
	// WS-Security nonces; empty: no Redis (no cache; nonces are kept in the
	// catalog database, cache.Nonces).
	RedisAddr string
	// RedisSentinels are the host:port of Sentinels; when set, the gateway
	// follows RedisMaster's current primary through them instead of
	// RedisAddr.
	RedisSentinels []string
	// RedisMaster is the Sentinel master name.
	RedisMaster string
	// RedisAutoPipeline batches concurrent requests' Redis commands into
	// shared round trips (go-redis AutoPipeline).
	RedisAutoPipeline bool
	// Cache serves pure reads from the Redis card cache (with Redis
	// configured).
	Cache bool
	// CacheTTL is the lifetime of a cached card.
	CacheTTL time.Duration
	// CacheTimeout is the deadline of one Redis call; past it the call
	// counts as a miss.
	CacheTimeout time.Duration

	// RequestTimeout is the deadline for one request's work.
	RequestTimeout time.Duration
	// SyncStandbys is how many standbys must confirm a commit before the
	// gateway acknowledges it. The gateway refuses to start unless the
	// catalog and every shard database are set to wait for at least that
	// many (synchronous_standby_names = 'ANY n (…)', synchronous_commit on
	// or remote_apply), and /readyz fails while fewer confirm. 0: none.
	SyncStandbys int
	// CommitTimeout bounds one write, its wait for the standbys' confirmation
	// included; past it the write fails retryably (FaultOutcomeUnknown when
	// it may have committed). 0: RequestTimeout only.
	CommitTimeout time.Duration
	// DurableReadAudits answers a look-up only once its audit row is
	// committed (group-committed; shard.AuditOptions.Durable). Off, the
	// row is queued and written within about 50 ms, and a crash of the
	// gateway loses what is queued (docs/reliability.md).
	DurableReadAudits bool
	// DBMaxConns is the most connections per shard database pool (a
	// pool_max_conns in the DSN wins); 0: pgx's default, max(4, CPUs).
	DBMaxConns int

	// TLSCertFile and TLSKeyFile are the PEM certificate (chain) and key
	// the gateway serves HTTPS with; both empty: plain HTTP. The files are
	// read again when they change (looked at on a handshake, at most every
	// 10 s), so a renewed certificate is served without a restart.
	TLSCertFile, TLSKeyFile string
	// TLSClientCAFile is a PEM bundle of the CAs whose client certificates
	// the gateway asks for in the handshake, without requiring one, and
	// verifies. A system registered with certificate fingerprints (`gateway
	// system cert`) must present one of them; others authenticate as
	// before. Read at start only. Empty: no client certificate is asked for.
	TLSClientCAFile string
	// TLSTerminatedUpstream says TLS ends at a proxy in front of the
	// gateway, so requests without TLS of their own crossed the network
	// encrypted: PasswordText is accepted on them and the UI's cookies are
	// Secure. Unset, PasswordText is refused without TLS to the gateway
	// itself (soap.Config.TLSTerminatedUpstream).
	TLSTerminatedUpstream bool

	// SecretKeyFile holds the key the systems' secrets are sealed with in
	// the catalog (32 random bytes, raw or base64; internal/credential).
	// Empty: no PasswordDigest can be checked, and every system
	// authenticates with PasswordText (over TLS) only.
	SecretKeyFile string

	// HTTP bounds what one client connection may cost (server.go):
	// Gateway.NewServer and Gateway.Listener apply it.
	HTTP HTTPLimits

	// AuditAheadMonths is how many months after this one the audit log's
	// partitions are made ahead; AuditRetentionMonths, when above zero, how
	// many months back it is kept: older months are dropped whole. The
	// gateway does both at start and every AuditMaintenanceEvery
	// (shard.Store.MaintainAuditPartitions); several gateways doing it is
	// harmless.
	AuditAheadMonths      int
	AuditRetentionMonths  int
	AuditMaintenanceEvery time.Duration

	// Now is the domain's clinical clock (dispensing intervals, validity,
	// stamps); nil: time.Now. Tests move it; token freshness always uses
	// the real clock.
	Now func() time.Time
	// Log receives the gateway's logs; nil: none.
	Log *zap.Logger
}

// DefaultConfig returns the configuration `gateway serve` runs with when no
// flag or environment variable says otherwise. CatalogDSN and PublicURL
// have no default.
func DefaultConfig() Config {
	return Config{
		RedisMaster:           "medcard",
		RedisAutoPipeline:     true,
		Cache:                 true,
		CacheTTL:              time.Minute,
		CacheTimeout:          50 * time.Millisecond,
		RequestTimeout:        10 * time.Second,
		CommitTimeout:         5 * time.Second,
		DBMaxConns:            16,
		HTTP:                  DefaultHTTPLimits(),
		AuditAheadMonths:      3,
		AuditMaintenanceEvery: 6 * time.Hour,
	}
}
