package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/sharedmedcard/gateway/internal/app"
	"github.com/sharedmedcard/gateway/internal/soapclient"
	"github.com/sharedmedcard/gateway/internal/testcluster"
	"github.com/sharedmedcard/gateway/internal/testservers"
	"github.com/sharedmedcard/gateway/seed"
	"github.com/sharedmedcard/gateway/shard"
)

// env is the stack every test in this package shares: the test cluster
// (two PostgreSQL servers, catalog and shard1 on one, shard2 on the other,
// and Redis) and an in-process gateway behind a real HTTP server.
var env *testEnv

type testEnv struct {
	cluster  *testcluster.Cluster
	server   *httptest.Server
	endpoint string
	soap     *soapclient.Client // the tests' client of the gateway at endpoint
	gw       *app.Gateway
	logs     *lockedBuffer
	// persons are all person identifiers the tests sent; no log line may
	// contain any of them.
	persons sync.Map
	// clock is the gateway's clinical clock; tests may move it forward.
	clock testClock
	// systemsAfterPlainSeed are the systems the catalog held after a
	// `gateway seed` without --demo.
	systemsAfterPlainSeed []shard.SystemEntry
}

// testClock is the real time plus an offset tests can advance, e.g. past a
// prescription's iteration interval.
type testClock struct {
	mu     sync.Mutex
	offset time.Duration
}

func (c *testClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

// advance moves the clock forward by d for the rest of the test binary.
func (c *testClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset += d
}

// seededPersons is how many synthetic persons TestMain loads. Persons
// below benchPersons are the load generator's to change; the rest are left
// as seeded for tests that compare a card with its generator.
const (
	seededPersons = 300
	benchPersons  = 200
)

func TestMain(m *testing.M) {
	var err error
	env, err = startEnv()
	if !testservers.MainOrSkip(err) {
		env.stop()
		env = nil
	}
	code := m.Run()
	if env != nil && code == 0 {
		if leaked := env.personsInLogs(); len(leaked) > 0 {
			fmt.Fprintf(os.Stderr, "FAIL: %d person identifiers appear in the gateway's logs\n", len(leaked))
			code = 1
		}
	}
	env.stop()
	removeGatewayBinary()
	os.Exit(code)
}

func startEnv() (*testEnv, error) {
	ctx := context.Background()
	e := &testEnv{logs: &lockedBuffer{}}
	var err error
	if e.cluster, err = testcluster.Start(ctx, testcluster.Options{Redis: true}); err != nil {
		return e, err
	}

	// The commands `make run` sets the cluster up with run over it too:
	// migrate and shard init find nothing to do, seed registers the demo
	// systems and loads the persons.
	for _, args := range [][]string{
		{"migrate", "--catalog-dsn", e.cluster.CatalogDSN, "--shard-dsns", e.cluster.ShardFlag()},
		{"shard", "init", "--catalog-dsn", e.cluster.CatalogDSN, "--shard-dsns", e.cluster.ShardFlag()},
		// A plain seed first: TestDemoSystemsOnlyWithDemo checks it
		// registered no system.
		{"seed", "--catalog-dsn", e.cluster.CatalogDSN, "--persons", "0"},
		{"seed", "--demo", "--secret-key-file", e.cluster.SecretKeyFile, "--catalog-dsn", e.cluster.CatalogDSN, "--persons", fmt.Sprint(seededPersons)},
	} {
		if err := run(ctx, args); err != nil {
			return e, fmt.Errorf("gateway %s: %w", strings.Join(args[:1], " "), err)
		}
		if args[0] == "seed" && e.systemsAfterPlainSeed == nil {
			systems, err := shard.NewCatalog(e.cluster.Catalog, time.Now).Systems(ctx)
			if err != nil {
				return e, err
			}
			e.systemsAfterPlainSeed = append([]shard.SystemEntry{}, systems...)
		}
	}

	e.server = httptest.NewUnstartedServer(nil)
	e.endpoint = "http://" + e.server.Listener.Addr().String() + app.SOAPPath
	e.soap = soapclient.New(e.endpoint, nil)
	if e.gw, err = app.New(ctx, e.config(e.endpoint, e.cluster.Redis.Addr)); err != nil {
		return e, err
	}
	e.server.Config.Handler = e.gw.Handler()
	e.server.Start()
	return e, nil
}

// config is the configuration of the gateways under test: as `gateway
// serve` defaults it, on env's catalog, with env's clinical clock, logging
// into env's log buffer (so its logs are checked for person identifiers).
func (e *testEnv) config(endpoint, redisAddr string) app.Config {
	cfg := app.DefaultConfig()
	cfg.CatalogDSN, cfg.PublicURL, cfg.RedisAddr = e.cluster.CatalogDSN, endpoint, redisAddr
	cfg.SecretKeyFile = e.cluster.SecretKeyFile
	// A Redis call may take longer than production's 50 ms under -race
	// on a busy two-core CI machine; a timed-out nonce check would let
	// TestReplayedNonceRefused's replay through.
	cfg.CacheTimeout = 250 * time.Millisecond
	cfg.Now = e.clock.now
	cfg.Log = e.logger()
	return cfg
}

// logger returns the logger of the gateways under test: production JSON
// into the buffer TestMain checks for person identifiers.
func (e *testEnv) logger() *zap.Logger {
	return zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()),
		zapcore.AddSync(e.logs), zap.DebugLevel))
}

func (e *testEnv) stop() {
	if e == nil {
		return
	}
	if e.server != nil {
		e.server.Close()
	}
	if e.gw != nil {
		e.gw.Close()
	}
	e.cluster.Stop()
}

// personsInLogs returns the person identifiers sent by tests or seeded
// that appear anywhere in the captured logs.
func (e *testEnv) personsInLogs() []string {
	logs := e.logs.String()
	var leaked []string
	check := func(p string) {
		if strings.Contains(logs, p) {
			leaked = append(leaked, p)
		}
	}
	e.persons.Range(func(k, _ any) bool { check(k.(string)); return true })
	gen := seed.New(demoSeed, time.Now())
	for i := range seededPersons {
		check(string(gen.Person(i)))
	}
	return leaked
}

func requireEnv(t *testing.T) *testEnv {
	t.Helper()
	if env == nil {
		t.Skip("no PostgreSQL/Redis on this machine (CI=true makes this a failure)")
	}
	return env
}

type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// --- the tests' SOAP requests (internal/soapclient writes them) -----------

const (
	nsMedcard = soapclient.Namespace
	nsEnv11   = soapclient.NamespaceSOAP11
	nsEnv12   = soapclient.NamespaceSOAP12
)

// call describes one SOAP request as the tests vary it; zero values give a
// valid demo-gp Doctor request in SOAP 1.1 with a fresh MessageID and a
// password digest.
type call struct {
	soap12      bool
	system      string
	secret      string
	role        string
	org         string // WhitelistingHeader/OrganisationIdentifier; default the demo GP practice
	messageID   string
	noMessageID bool
	textPwd     bool
	extraHeader string
	body        string // the body's wrapper element
}

// request is c with the tests' defaults filled in.
func (c call) request() *soapclient.Request {
	or := func(v, def string) string {
		if v == "" {
			return def
		}
		return v
	}
	r := &soapclient.Request{Body: c.body, ExtraHeaders: c.extraHeader, Identity: soapclient.Identity{
		System: or(c.system, "demo-gp"), Secret: or(c.secret, "demo-secret"), SystemVersion: "1.0",
		Organisation: or(c.org, "SOR:483711000016009"), Role: or(c.role, "Doctor"),
	}}
	if c.soap12 {
		r.Version = soapclient.SOAP12
	}
	if c.textPwd {
		r.Security = soapclient.TextToken
	}
	if !c.noMessageID {
		r.MessageID = or(c.messageID, soapclient.NewMessageID())
	}
	return r
}

// envelope is the envelope c sends now, with a fresh nonce: for the tests
// that cut, wrap or replay one.
func (c call) envelope() string { return string(env.soap.Envelope(c.request())) }

// post sends raw bytes to the endpoint with the content type of the SOAP
// version and returns the status and body.
func post(t *testing.T, soap12 bool, body []byte, header http.Header) (int, []byte) {
	t.Helper()
	r := &soapclient.Request{Raw: body, HTTPHeader: header}
	if soap12 {
		r.Version = soapclient.SOAP12
	}
	return exchange(t, r)
}

// do sends c and returns the HTTP status and the response body.
func (c call) do(t *testing.T) (int, []byte) {
	t.Helper()
	return exchange(t, c.request())
}

func exchange(t *testing.T, r *soapclient.Request) (int, []byte) {
	t.Helper()
	var resp soapclient.Response
	if err := env.soap.Do(context.Background(), r, &resp); err != nil {
		t.Fatalf("POST: %v", err)
	}
	return resp.Status, resp.Body
}

// responseBody decodes the first element of the response's SOAP Body into
// out, failing the test on a fault.
func responseBody(t *testing.T, status int, raw []byte, out any) {
	t.Helper()
	if status != http.StatusOK {
		t.Fatalf("status %d, want 200; body: %s", status, raw)
	}
	if err := soapclient.DecodeBody(raw, out); err != nil {
		t.Fatalf("decode response: %v; body: %s", err, raw)
	}
}

// parseFault reads the fault of a response; an answer without one gives
// the zero Fault, which no test expects.
func parseFault(t *testing.T, raw []byte) soapclient.Fault {
	t.Helper()
	f, err := soapclient.ParseFault(raw)
	if errors.Is(err, soapclient.ErrNoFault) {
		return soapclient.Fault{}
	}
	if err != nil {
		t.Fatalf("fault does not parse: %v; body: %s", err, raw)
	}
	return *f
}

// notePerson records a person identifier a test sends, for the log check.
func notePerson(p string) string {
	env.persons.Store(p, true)
	return p
}

// freshPerson returns a valid person identifier no other test uses and
// that has no card yet: seeded persons are born 1925-2024, these in the
// 1860s-1890s (seventh digit 5-8 with a year of 58-99).
func freshPerson(t *testing.T) string {
	t.Helper()
	freshMu.Lock()
	defer freshMu.Unlock()
	freshNext++
	n := freshNext
	return notePerson(fmt.Sprintf("0101%02d%d%03d", 60+n/4000, 5+(n/1000)%4, n%1000))
}

var (
	freshMu   sync.Mutex
	freshNext int
)

func getCardBody(person string) string {
	return `<mc:GetMedicineCardRequest><mc:PersonIdentifier>` + person + `</mc:PersonIdentifier>` +
		`<mc:IncludePrescriptions>true</mc:IncludePrescriptions><mc:IncludeEffectuations>true</mc:IncludeEffectuations>` +
		`<mc:IncludeWithdrawnSince>1900-01-01</mc:IncludeWithdrawnSince></mc:GetMedicineCardRequest>`
}

func createBody(person string, basedOn int64, drugName string) string {
	return fmt.Sprintf(`<mc:CreateDrugMedicationRequest>
  <mc:PersonIdentifier>%s</mc:PersonIdentifier>
  <mc:MedicineCardVersion>%d</mc:MedicineCardVersion>
  <mc:DrugMedication>
    <mc:Drug><mc:Identifier>28100636072</mc:Identifier><mc:Name>%s</mc:Name><mc:Form>tabletter</mc:Form><mc:Strength>500 mg</mc:Strength><mc:ATCCode>N02BE01</mc:ATCCode></mc:Drug>
    <mc:Dosage><mc:Text>2 tabletter 3 gange daglig</mc:Text></mc:Dosage>
    <mc:Indication><mc:Text>mod smerter</mc:Text></mc:Indication>
    <mc:BeginDate>2026-11-01</mc:BeginDate>
  </mc:DrugMedication>
</mc:CreateDrugMedicationRequest>`, person, basedOn, drugName)
}

// countRows sums a table's rows over both shard databases, after the
// gateway's queued read audits are written.
func countRows(t *testing.T, table string) int64 {
	t.Helper()
	if err := env.gw.FlushAudits(context.Background()); err != nil {
		t.Fatalf("flush read audits: %v", err)
	}
	var total int64
	for name, p := range env.cluster.Shards {
		var n int64
		if err := p.QueryRow(context.Background(), "SELECT count(*) FROM "+table).Scan(&n); err != nil {
			t.Fatalf("count %s on %s: %v", table, name, err)
		}
		total += n
	}
	return total
}

// TestParseShardDSNsMultiHost: the URLs of databases on Patroni name every
// node, so their commas must not split a pair.
func TestParseShardDSNsMultiHost(t *testing.T) {
	got, err := parseShardDSNs("shard1=postgres://m@10.0.1.11:5432,10.0.1.12:5432,10.0.1.13:5432/medcard_shard1?target_session_attrs=read-write&sslmode=require," +
		" shard2=postgres://m@pg2a,pg2b/medcard_shard2?target_session_attrs=read-write,shard3=host=a,b port=5432,5433 dbname=s3")
	if err != nil {
		t.Fatal(err)
	}
	want := []shard.Database{
		{Name: "shard1", DSN: "postgres://m@10.0.1.11:5432,10.0.1.12:5432,10.0.1.13:5432/medcard_shard1?target_session_attrs=read-write&sslmode=require"},
		{Name: "shard2", DSN: "postgres://m@pg2a,pg2b/medcard_shard2?target_session_attrs=read-write"},
		{Name: "shard3", DSN: "host=a,b port=5432,5433 dbname=s3"},
	}
	if !slices.Equal(got, want) {
		t.Errorf("parseShardDSNs = %+v\nwant %+v", got, want)
	}
	for _, bad := range []string{"postgres://a,b/db", "shard1=", "=postgres://x"} {
		if _, err := parseShardDSNs(bad); err == nil {
			t.Errorf("parseShardDSNs(%q) = nil error, want a refusal", bad)
		}
	}
}
