package main

import (
	"bufio"
	"context"
	"encoding/xml"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/sharedmedcard/gateway/cache"
	"github.com/sharedmedcard/gateway/internal/app"
	"github.com/sharedmedcard/gateway/internal/soapclient"
	"github.com/sharedmedcard/gateway/internal/testservers"
	"github.com/sharedmedcard/gateway/medcard"
	"github.com/sharedmedcard/gateway/shard"
)

// TestReadYourWritesAcrossGateways: two gateways share Redis and the shard
// databases; writers on one, readers on both, on a few hot persons. After a
// write is acknowledged, no read that starts later may return an older card
// version, on either gateway.
func TestReadYourWritesAcrossGateways(t *testing.T) {
	e := requireEnv(t)
	gw1 := &testGateway{endpoint: e.endpoint, base: e.server.URL}
	gw2 := startGateway(t, func(endpoint string) app.Config { return e.config(endpoint, e.cluster.Redis.Addr) })
	load := newCardLoad(t, 5, gw1, []*testGateway{gw1, gw2})
	before1, before2 := gw1.scrape(t, load.client), gw2.scrape(t, load.client)

	load.start(4, 8, 20*time.Millisecond)
	time.Sleep(4 * time.Second)
	load.stop()

	after1, after2 := gw1.scrape(t, load.client), gw2.scrape(t, load.client)
	hits1, reads1 := cacheReads(before1, after1)
	hits2, reads2 := cacheReads(before2, after2)
	s := load.summary()
	violations := load.violations(time.Time{})
	t.Logf("read-your-writes over 2 gateways, %d hot persons, %v: %d writes, %d reads, %d failed requests, %d stale reads; "+
		"cache hits %.0f of %.0f look-ups on the writing gateway, %.0f of %.0f on the other (cache errors %.0f)",
		len(load.persons), s.took.Round(10*time.Millisecond), s.writes, s.reads, s.failed, len(violations),
		hits1, reads1, hits2, reads2, delta(before1, after1, `medcard_cache_reads_total{result="error"}`)+delta(before2, after2, `medcard_cache_reads_total{result="error"}`))
	load.requireNoFailures(t)
	requireNoStaleReads(t, violations)
	if hits2 == 0 || hits1 == 0 {
		t.Errorf("cache hits = %.0f on the writing gateway and %.0f on the other, want both > 0: the cache was not used", hits1, hits2)
	}
	if s.writes < 10 || s.reads < 50 {
		t.Errorf("only %d writes and %d reads in %v: too little load to tell anything", s.writes, s.reads, s.took)
	}
}

// TestStaleFillNeverReplacesWriteThrough forces, in the service over the
// real shard store and Redis, the interleaving fill leases exist for: a
// cache miss reads version N from the database, a write commits N+1 and
// writes it through (revoking the lease), and only then the fill of N
// reaches Redis. Redis must keep N+1, and the refused fill must be counted.
func TestStaleFillNeverReplacesWriteThrough(t *testing.T) {
	e := requireEnv(t)
	ctx := context.Background()
	rdb := redis.NewClient(&redis.Options{Addr: e.cluster.Redis.Addr})
	t.Cleanup(func() { rdb.Close() })
	reg := prometheus.NewRegistry()
	fences := shard.NewFences(e.gw.Store(), time.Second, 0, zap.NewNop())
	fenceCtx, stopFences := context.WithCancel(ctx)
	fencesDone := make(chan struct{})
	go func() { defer close(fencesDone); fences.Watch(fenceCtx) }()
	t.Cleanup(func() { stopFences(); <-fencesDone })
	cards := cache.NewCards(rdb, cache.CardsOptions{
		TTL: time.Minute, Timeout: time.Second, Registerer: reg,
		// Keys of our own, so that the entries env's gateway writes through
		// for this person do not take part.
		Scope: func(p medcard.PersonID) (string, int64, bool) {
			key, gen, current := fences.Scope(p)
			return "stalefill-" + key, gen, current
		},
	})
	held := &heldFill{CardCache: cards, arrived: make(chan int64, 1), release: make(chan struct{})}
	audits := shard.NewAuditWriter(e.gw.Store(), zap.NewNop(), shard.AuditOptions{})
	svc := medcard.NewService(e.gw.Store(), audits, e.clock.now, medcard.WithCache(held, fences, time.Second))
	caller := medcard.Caller{System: "demo-gp", Organisation: "SOR:483711000016009", Role: medcard.RoleDoctor}
	person := freshPerson(t)
	create := func(basedOn int64) int64 {
		t.Helper()
		res, err := svc.Change(ctx, medcard.Call{Caller: caller, MessageID: soapclient.NewMessageID()}, medcard.CreateDrugMedicationRequest{
			PersonID: person, BasedOnCardVersion: basedOn,
			Drug:   medcard.Drug{Identifier: "28100636072", Name: "Pinex", Form: "tabletter", Strength: "500 mg", ATCCode: "N02BE01"},
			Dosage: medcard.Dosage{Text: "2 tabletter 3 gange daglig"}, Indication: medcard.Indication{Text: "mod smerter"},
			BeginDate: "2026-11-01",
		})
		if err != nil {
			t.Fatalf("CreateDrugMedication(based on %d) = %v", basedOn, err)
		}
		return res.CardVersion
	}
	cached := func() int64 {
		t.Helper()
		slot := cards.Slot(medcard.PersonID(person))
		card := cards.Get(ctx, &slot)
		if card == nil {
			t.Fatal("Get = miss, want the cached card")
		}
		return card.Version
	}
	for deadline := time.Now().Add(5 * time.Second); !cards.Slot(medcard.PersonID(person)).Usable; {
		if time.Now().After(deadline) {
			t.Fatal("the cache fences were never polled")
		}
		time.Sleep(10 * time.Millisecond)
	}

	// Version 1 is committed through env's gateway, whose write-through
	// goes to its own keys: ours hold nothing, so the next read misses.
	client := newLoadClient(t)
	if v, err := createVersion(client, e.endpoint, person, 0, "Pinex"); err != nil || v != 1 {
		t.Fatalf("first write = card version %d (%v), want 1", v, err)
	}
	read := make(chan *medcard.Card, 1)
	go func() {
		card, err := svc.GetMedicineCard(ctx, medcard.Call{Caller: caller, MessageID: soapclient.NewMessageID()}, medcard.CardQuery{PersonID: person})
		if err != nil {
			t.Errorf("GetMedicineCard = %v", err)
		}
		read <- card
	}()
	select {
	case v := <-held.arrived:
		if v != 1 {
			t.Fatalf("the held fill carries version %d, want 1", v)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no fill reached the cache within 10s")
	}
	// The fill of version 1 is held; version 2 commits and is written through.
	if v := create(1); v != 2 {
		t.Fatalf("second write = card version %d, want 2", v)
	}
	if v := cached(); v != 2 {
		t.Fatalf("after the write-through Get = version %d, want 2", v)
	}
	close(held.release)
	stale := <-read
	if stale == nil || stale.Version != 1 {
		t.Fatalf("the read that started before the write returned %+v, want version 1", stale)
	}
	if v := cached(); v != 2 {
		t.Errorf("after the late fill of version 1 Get = version %d, want 2", v)
	}
	// The same order once more, straight on the interface: the held
	// fill's lease was revoked by the write-through.
	var c medcard.CardCache = cards
	c.Fill(ctx, held.slot, stale)
	if v := cached(); v != 2 {
		t.Errorf("Fill(version 1) after Written(version 2): Get = version %d, want 2", v)
	}
	card, err := svc.GetMedicineCard(ctx, medcard.Call{Caller: caller, MessageID: soapclient.NewMessageID()}, medcard.CardQuery{PersonID: person})
	if err != nil || card.Version != 2 {
		t.Errorf("GetMedicineCard after the race = %+v, %v; want version 2", card, err)
	}
	if err := audits.Flush(ctx); err != nil {
		t.Errorf("flush read audits: %v", err)
	}

	for _, m := range []struct {
		name, result string
		want         float64
	}{
		{"medcard_cache_fills_total", "stale_refused", 2}, // the held fill and the direct one
		{"medcard_cache_fills_total", "stored", 0},
		{"medcard_cache_write_through_total", "stored", 1}, // version 2
		{"medcard_cache_reads_total", "miss", 1},           // the read that filled
		{"medcard_cache_reads_total", "hit", 4},            // three checks and the last read
	} {
		if got := gathered(t, reg, m.name, m.result); got != m.want {
			t.Errorf(`%s{result=%q} = %v, want %v`, m.name, m.result, got, m.want)
		}
	}
}

// heldFill holds the first Fill until release is closed, after telling
// arrived the version it carries.
type heldFill struct {
	medcard.CardCache
	once    sync.Once
	arrived chan int64
	release chan struct{}
	slot    medcard.CacheSlot // the held fill's, with its lease
}

func (h *heldFill) Fill(ctx context.Context, slot medcard.CacheSlot, card *medcard.Card) {
	h.once.Do(func() {
		h.slot = slot
		h.arrived <- card.Version
		select {
		case <-h.release:
		case <-time.After(20 * time.Second):
		}
	})
	h.CardCache.Fill(ctx, slot, card)
}

// TestRedisKilledUnderLoad: Redis is killed during a read/write load and
// later restarted at the same address. No client request may fail, no read
// may return a version older than an acknowledged write, and once Redis is
// back the cache serves most reads again.
func TestRedisKilledUnderLoad(t *testing.T) {
	e := requireEnv(t)
	r, err := testservers.StartRedis()
	testservers.RequireT(t, err)
	t.Cleanup(func() { r.Stop() })
	_, portText, _ := net.SplitHostPort(r.Addr)
	port, _ := strconv.Atoi(portText)
	gw := startGateway(t, func(endpoint string) app.Config { return e.config(endpoint, r.Addr) })
	load := newCardLoad(t, 5, gw, []*testGateway{gw})

	load.start(2, 6, 20*time.Millisecond)
	time.Sleep(2 * time.Second)
	m0 := gw.scrape(t, load.client)
	downAt := time.Now()
	if err := r.Stop(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * time.Second)
	m1 := gw.scrape(t, load.client)
	r2, err := testservers.StartRedisOnPort(port)
	if err != nil {
		load.stop()
		t.Fatalf("restart Redis on port %d: %v", port, err)
	}
	t.Cleanup(func() { r2.Stop() })
	upAt := time.Now()
	// The breaker may have opened just before the restart: it lets a probe
	// through at most 2s later. Measure the last second of 4.
	time.Sleep(time.Until(upAt.Add(3 * time.Second)))
	m2 := gw.scrape(t, load.client)
	time.Sleep(time.Until(upAt.Add(4 * time.Second)))
	m3 := gw.scrape(t, load.client)
	load.stop()

	s := load.summary()
	ratio := func(a, b metrics) string {
		hits, reads := cacheReads(a, b)
		return fmt.Sprintf("%.0f/%.0f", hits, reads)
	}
	hits, reads := cacheReads(m2, m3)
	violations := load.violations(time.Time{})
	t.Logf("Redis killed under load (%v): %d writes, %d reads, %d failed requests, %d stale reads; cache hits/look-ups: "+
		"before the kill %s, while down %s (breaker_open %.0f), last second after the restart %.0f/%.0f = %.0f%%",
		s.took.Round(10*time.Millisecond), s.writes, s.reads, s.failed, len(violations), ratio(nil, m0), ratio(m0, m1),
		delta(m0, m1, `medcard_cache_reads_total{result="breaker_open"}`), hits, reads, 100*hits/max(reads, 1))
	load.requireNoFailures(t)
	requireNoStaleReads(t, violations)
	if reads == 0 || hits/reads <= 0.5 {
		t.Errorf("hit ratio in the last second after the restart = %.0f/%.0f, want > 50%%", hits, reads)
	}
	if load.readsBetween(downAt, upAt) == 0 {
		t.Errorf("no read was served while Redis was down")
	}
}

// --- helpers shared by the cache, Sentinel and benchmark tests ---------------

// testGateway is a gateway under test: env's, or one more in-process
// gateway over env's databases behind its own HTTP server.
type testGateway struct {
	gw       *app.Gateway
	endpoint string // the SOAP endpoint
	base     string // http://host:port
}

// startGateway runs another gateway configured by cfg (given its endpoint;
// env.config is the usual start); it is closed when tb ends.
func startGateway(tb testing.TB, cfg func(endpoint string) app.Config) *testGateway {
	tb.Helper()
	srv := httptest.NewUnstartedServer(nil)
	endpoint := "http://" + srv.Listener.Addr().String() + app.SOAPPath
	gw, err := app.New(context.Background(), cfg(endpoint))
	if err != nil {
		srv.Listener.Close()
		tb.Fatalf("start gateway: %v", err)
	}
	srv.Config.Handler = gw.Handler()
	srv.Start()
	tb.Cleanup(func() {
		srv.Close()
		gw.Close()
	})
	return &testGateway{gw: gw, endpoint: endpoint, base: srv.URL}
}

// newLoadClient returns an HTTP client that keeps connections alive for
// many concurrent requests to a few gateways.
func newLoadClient(tb testing.TB) *http.Client {
	tr := &http.Transport{MaxIdleConns: 512, MaxIdleConnsPerHost: 256, IdleConnTimeout: time.Minute}
	tb.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 20 * time.Second}
}

// send posts c to endpoint and decodes the response's body element into
// out; an HTTP status other than 200, a fault or a response of another
// operation is an error.
func send(client *http.Client, endpoint string, c call, wantElement string, out any) error {
	var resp soapclient.Response
	if err := soapclient.New(endpoint, client).Do(context.Background(), c.request(), &resp); err != nil {
		return err
	}
	if resp.Status != http.StatusOK {
		return fmt.Errorf("status %d, fault %s", resp.Status, faultIDOf(&resp))
	}
	var name struct{ XMLName xml.Name }
	if err := resp.Decode(&name); err != nil || name.XMLName.Local != wantElement {
		return fmt.Errorf("answered %q (%v), want %s", name.XMLName.Local, err, wantElement)
	}
	return resp.Decode(out)
}

// faultIDOf returns the FaultIdentifier of a fault response, or a note.
func faultIDOf(resp *soapclient.Response) string {
	if resp.Fault == nil || resp.Fault.Identifier == "" {
		return "(none)"
	}
	return resp.Fault.Identifier
}

// readVersion reads person's card and returns its version.
func readVersion(client *http.Client, endpoint, person string) (int64, error) {
	var got struct {
		Version int64 `xml:"MedicineCard>MedicineCardVersion"`
	}
	err := send(client, endpoint, call{body: getCardBody(person)}, "GetMedicineCardResponse", &got)
	return got.Version, err
}

// createVersion adds a drug medication to person's card based on version
// basedOn and returns the new card version.
func createVersion(client *http.Client, endpoint, person string, basedOn int64, drug string) (int64, error) {
	var got struct {
		Version int64 `xml:"MedicineCardVersion"`
	}
	err := send(client, endpoint, call{body: createBody(person, basedOn, drug)}, "CreateDrugMedicationResponse", &got)
	return got.Version, err
}

// metrics are the samples of a gateway's /metrics by series, e.g.
// medcard_cache_reads_total{result="hit"}.
type metrics map[string]float64

func (g *testGateway) scrape(tb testing.TB, client *http.Client) metrics {
	tb.Helper()
	resp, err := client.Get(g.base + "/metrics")
	if err != nil {
		tb.Fatalf("GET /metrics: %v", err)
	}
	defer resp.Body.Close()
	m := metrics{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if v, err := strconv.ParseFloat(line[i+1:], 64); i > 0 && err == nil {
			m[line[:i]] = v
		}
	}
	if err := sc.Err(); err != nil {
		tb.Fatalf("read /metrics: %v", err)
	}
	return m
}

// delta is how much series grew from a to b (a nil: from zero).
func delta(a, b metrics, series string) float64 { return b[series] - a[series] }

// cacheReads returns the cache hits and all cache look-ups from a to b.
func cacheReads(a, b metrics) (hits, reads float64) {
	for series := range b {
		if strings.HasPrefix(series, "medcard_cache_reads_total{") {
			reads += delta(a, b, series)
		}
	}
	return delta(a, b, `medcard_cache_reads_total{result="hit"}`), reads
}

// gathered returns the value of the counter name{result=result} in reg.
func gathered(tb testing.TB, reg *prometheus.Registry, name, result string) float64 {
	tb.Helper()
	families, err := reg.Gather()
	if err != nil {
		tb.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "result" && l.GetValue() == result {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

// requireNoStaleReads fails tb with the first few of violations.
func requireNoStaleReads(tb testing.TB, violations []string) {
	tb.Helper()
	if len(violations) > 0 {
		tb.Errorf("%d stale reads, want 0; the first: %s", len(violations), strings.Join(violations[:min(10, len(violations))], "; "))
	}
}

// cardLoad drives writers (CreateDrugMedication on one gateway) and readers
// (GetMedicineCard round-robin over gateways) on a few hot persons, and
// keeps the client-side history: when each write was acknowledged at which
// card version, when each read started and which version it returned.
type cardLoad struct {
	tb      testing.TB
	client  *http.Client
	persons []string
	writeTo *testGateway
	readAt  []*testGateway
	latest  []atomic.Int64 // by person: the newest acknowledged version

	pauseWrites atomic.Bool
	stopping    atomic.Bool
	wg          sync.WaitGroup
	began       time.Time
	ended       time.Time

	mu       sync.Mutex
	acks     [][]ack     // by person
	reads    [][]readRec // by person
	failed   int
	failures []string // the first few
}

type ack struct {
	at      time.Time // taken after the answer arrived
	version int64
}

type readRec struct {
	start   time.Time // taken before the request was sent
	version int64
	gateway int
}

// loadLimit bounds every load loop however long a test lets it run.
const (
	loadMaxDuration = 30 * time.Second
	loadMaxRequests = 50_000 // per goroutine
)

// newCardLoad makes n fresh persons and gives each a card through writeTo.
func newCardLoad(t *testing.T, n int, writeTo *testGateway, readAt []*testGateway) *cardLoad {
	t.Helper()
	l := &cardLoad{tb: t, client: newLoadClient(t), writeTo: writeTo, readAt: readAt,
		latest: make([]atomic.Int64, n), acks: make([][]ack, n), reads: make([][]readRec, n)}
	for i := range n {
		l.persons = append(l.persons, freshPerson(t))
		v, err := createVersion(l.client, writeTo.endpoint, l.persons[i], 0, "Pinex")
		if err != nil {
			t.Fatalf("first write for hot person %d: %v", i, err)
		}
		l.acked(i, v, time.Now())
	}
	t.Cleanup(l.stop) // a test that ends early must not leave the load running
	return l
}

// start runs writers and readers until stop; writers pause pace between
// writes (cards grow by one drug medication a write).
func (l *cardLoad) start(writers, readers int, pace time.Duration) {
	l.began = time.Now()
	hardStop := l.began.Add(loadMaxDuration)
	running := func(i int) bool { return i < loadMaxRequests && !l.stopping.Load() && time.Now().Before(hardStop) }
	for w := range writers {
		l.wg.Go(func() {
			for i := 0; running(i); i++ {
				if l.pauseWrites.Load() {
					time.Sleep(5 * time.Millisecond)
					continue
				}
				p := (w + i) % len(l.persons)
				v, err := createVersion(l.client, l.writeTo.endpoint, l.persons[p], l.latest[p].Load(), fmt.Sprintf("Drug %d-%d", w, i))
				if err != nil {
					l.fail("write", p, err)
				} else {
					l.acked(p, v, time.Now())
				}
				time.Sleep(pace)
			}
		})
	}
	for r := range readers {
		l.wg.Go(func() {
			for i := 0; running(i); i++ {
				p, g := (r+i)%len(l.persons), (r+i)%len(l.readAt)
				start := time.Now()
				v, err := readVersion(l.client, l.readAt[g].endpoint, l.persons[p])
				if err != nil {
					l.fail("read", p, err)
					continue
				}
				l.mu.Lock()
				l.reads[p] = append(l.reads[p], readRec{start: start, version: v, gateway: g})
				l.mu.Unlock()
			}
		})
	}
}

// stop ends the load and waits for its last requests; it may be called
// more than once.
func (l *cardLoad) stop() {
	first := !l.stopping.Swap(true)
	l.wg.Wait()
	if first {
		l.ended = time.Now()
	}
}

func (l *cardLoad) acked(p int, v int64, at time.Time) {
	l.mu.Lock()
	l.acks[p] = append(l.acks[p], ack{at: at, version: v})
	l.mu.Unlock()
	for {
		cur := l.latest[p].Load()
		if v <= cur || l.latest[p].CompareAndSwap(cur, v) {
			return
		}
	}
}

func (l *cardLoad) fail(op string, p int, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.failed++
	if len(l.failures) < 10 {
		l.failures = append(l.failures, fmt.Sprintf("%s of hot person %d at +%v: %v", op, p, time.Since(l.began).Round(time.Millisecond), err))
	}
}

type loadSummary struct {
	writes, reads, failed int
	took                  time.Duration
}

func (l *cardLoad) summary() loadSummary {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := loadSummary{failed: l.failed, took: l.ended.Sub(l.began)}
	for p := range l.persons {
		s.writes += len(l.acks[p]) - 1 // not the first write of newCardLoad
		s.reads += len(l.reads[p])
	}
	return s
}

// readsBetween counts the reads that started in [from, to).
func (l *cardLoad) readsBetween(from, to time.Time) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, reads := range l.reads {
		for _, r := range reads {
			if !r.start.Before(from) && r.start.Before(to) {
				n++
			}
		}
	}
	return n
}

// acksBetween counts the writes acknowledged in [from, to).
func (l *cardLoad) acksBetween(from, to time.Time) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, acks := range l.acks {
		for _, a := range acks {
			if !a.at.Before(from) && a.at.Before(to) {
				n++
			}
		}
	}
	return n
}

func (l *cardLoad) requireNoFailures(tb testing.TB) {
	tb.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.failed > 0 {
		tb.Errorf("%d client requests failed, want 0; first: %s", l.failed, strings.Join(l.failures, "; "))
	}
}

// violations returns every read that returned an older card version than
// one acknowledged before the read started. With a non-zero ackedBefore,
// only acknowledgements before that time count.
func (l *cardLoad) violations(ackedBefore time.Time) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for p := range l.persons {
		acks := slices.Clone(l.acks[p])
		if !ackedBefore.IsZero() {
			acks = slices.DeleteFunc(acks, func(a ack) bool { return !a.at.Before(ackedBefore) })
		}
		slices.SortFunc(acks, func(a, b ack) int { return a.at.Compare(b.at) })
		// newest[i] is the newest version acknowledged by acks[:i+1].
		newest := make([]int64, len(acks))
		for i, a := range acks {
			newest[i] = a.version
			if i > 0 {
				newest[i] = max(newest[i], newest[i-1])
			}
		}
		for _, r := range l.reads[p] {
			i, _ := slices.BinarySearchFunc(acks, r.start, func(a ack, t time.Time) int { return a.at.Compare(t) })
			if i > 0 && r.version < newest[i-1] {
				out = append(out, fmt.Sprintf("a read of hot person %d on gateway %d that started at +%v returned card version %d, but version %d was acknowledged before",
					p, r.gateway+1, r.start.Sub(l.began).Round(time.Millisecond), r.version, newest[i-1]))
			}
		}
	}
	return out
}
