// Command uiload measures the pharmacists' web UI under concurrent
// signed-in users (make bench-ui, docs/performance.md): it adds --users
// users of one pharmacy, places --orders open orders for that pharmacy on
// seeded persons' open prescriptions (through the medicine card service,
// in process, over the cluster's databases), then lets every user sign in
// and, for --duration, open seeded citizens' card pages (POST /ui/card)
// and, --inbox-share of the time, the pharmacy's inbox, each user waiting
// for one page (and --think) before the next; pages in the first --warmup are
// not counted. It reports per page the count, errors and
// latency p50/p95/p99/max, as a table or --json.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"regexp"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/zap"

	"github.com/sharedmedcard/gateway/medcard"
	"github.com/sharedmedcard/gateway/seed"
	"github.com/sharedmedcard/gateway/shard"
	"github.com/sharedmedcard/gateway/web/account"
)

type config struct {
	base, catalogDSN, pharmacy string
	users, orders, persons     int
	seedValue                  uint64
	duration, think, warmup    time.Duration
	inboxShare                 float64
	asJSON                     bool
}

func main() {
	var c config
	flag.StringVar(&c.base, "url", "http://127.0.0.1:8080", "the gateway's root URL (the UI is under /ui/)")
	flag.StringVar(&c.catalogDSN, "catalog-dsn", os.Getenv("MEDCARD_CATALOG_DSN"), "catalog database (env MEDCARD_CATALOG_DSN)")
	flag.StringVar(&c.pharmacy, "pharmacy", seed.DemoPharmacy, "the users' pharmacy (organisation)")
	flag.IntVar(&c.users, "users", 50, "concurrent signed-in users")
	flag.IntVar(&c.orders, "orders", 200, "open orders to place for the pharmacy before measuring (the inbox's content)")
	flag.IntVar(&c.persons, "persons", 1000000, "seeded persons to draw citizens from (as `gateway seed --persons`)")
	flag.Uint64Var(&c.seedValue, "seed", 1, "the seed of `gateway seed`")
	flag.DurationVar(&c.duration, "duration", 30*time.Second, "how long to measure")
	flag.DurationVar(&c.warmup, "warmup", 5*time.Second, "how long users browse before the measurement starts (the gateway's pools and caches fill; not counted)")
	flag.Float64Var(&c.inboxShare, "inbox-share", 0.1, "share of page views that are the inbox")
	flag.DurationVar(&c.think, "think", 0, "a user's pause between pages, on average (0.5 to 1.5 times it); 0: none, every user at full speed")
	flag.BoolVar(&c.asJSON, "json", false, "print JSON instead of a table")
	flag.Usage = func() {
		fmt.Fprintln(flag.CommandLine.Output(), "Usage: uiload --catalog-dsn DSN [flags]\n\nMeasures the web UI's card page and inbox under concurrent signed-in users.\n\nFlags:")
		flag.PrintDefaults()
	}
	flag.Parse()
	if c.catalogDSN == "" {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(context.Background(), c); err != nil {
		fmt.Fprintln(os.Stderr, "uiload:", err)
		os.Exit(1)
	}
}

const benchPassword = "bench-ui-user-password"

func run(ctx context.Context, c config) error {
	pool, err := pgxpool.New(ctx, c.catalogDSN)
	if err != nil {
		return err
	}
	defer pool.Close()
	accounts := account.NewStore(pool, account.Options{})
	names := make([]string, c.users)
	for i := range names {
		names[i] = fmt.Sprintf("bench-ui-%03d", i)
		u := account.User{Name: names[i], Organisation: c.pharmacy, Role: medcard.RolePharmacist}
		err := accounts.AddUser(ctx, u, benchPassword)
		if errors.Is(err, account.ErrUserExists) {
			err = accounts.ResetPassword(ctx, u.Name, benchPassword)
		}
		if err != nil {
			return fmt.Errorf("user %s: %w", u.Name, err)
		}
	}
	gen := seed.New(c.seedValue, time.Now())
	placed, err := placeOrders(ctx, pool, gen, c)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "uiload: %d users of %s; %d open orders placed; warming up for %s, then measuring for %s\n",
		c.users, c.pharmacy, placed, c.warmup, c.duration)

	// Every user signs in first (argon2 costs about 30 ms of a core each),
	// and the clock starts when all have.
	browsers := make([]*browser, len(names))
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	for i, name := range names {
		wg.Go(func() {
			b, err := signIn(c.base, name)
			mu.Lock()
			defer mu.Unlock()
			browsers[i], firstErr = b, errors.Join(firstErr, err)
		})
	}
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	pages := map[string]*hdrhistogram.Histogram{"card": newHist(), "inbox": newHist()}
	errs := map[string]int{}
	measureFrom := time.Now().Add(c.warmup)
	deadline := measureFrom.Add(c.duration)
	for i, b := range browsers {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(i), 7))
			// Users at a counter do not click in step: each starts at its
			// own moment within one pause.
			if c.think > 0 {
				time.Sleep(time.Duration(r.Float64() * float64(c.think)))
			}
			for time.Now().Before(deadline) {
				page := "card"
				var status int
				var err error
				start := time.Now()
				if r.Float64() < c.inboxShare {
					page = "inbox"
					status, err = b.get("/inbox")
				} else {
					status, err = b.post("/card", url.Values{"cpr": {string(gen.Person(r.IntN(c.persons)))}})
				}
				took := time.Since(start)
				if !start.Before(measureFrom) {
					mu.Lock()
					if err != nil || status != http.StatusOK {
						errs[page]++
					} else {
						_ = pages[page].RecordValue(took.Microseconds())
					}
					mu.Unlock()
				}
				if c.think > 0 {
					time.Sleep(time.Duration((0.5 + r.Float64()) * float64(c.think)))
				}
			}
		})
	}
	wg.Wait()
	return report(c, pages, errs)
}

func newHist() *hdrhistogram.Histogram { return hdrhistogram.New(1, 60_000_000, 3) }

// placeOrders places c.orders open orders for c.pharmacy on seeded persons'
// open prescriptions, through the service over the cluster.
func placeOrders(ctx context.Context, catalogPool *pgxpool.Pool, gen *seed.Generator, c config) (int, error) {
	catalog := shard.NewCatalog(catalogPool, time.Now)
	store, err := shard.Open(ctx, catalog, zap.NewNop(), nil)
	if err != nil {
		return 0, err
	}
	defer store.Close()
	audits := shard.NewAuditWriter(store, zap.NewNop(), shard.AuditOptions{})
	stop := make(chan struct{})
	auditCtx, cancel := context.WithCancel(ctx)
	go func() { audits.Run(auditCtx); close(stop) }()
	defer func() { cancel(); <-stop }()
	svc := medcard.NewService(store, audits, time.Now)
	call := medcard.Call{Caller: medcard.Caller{System: "demo-pharmacy", Organisation: c.pharmacy, Role: medcard.RolePharmacist}}
	placed := 0
	for i := 0; placed < c.orders && i < c.persons; i++ {
		person := string(gen.Person(i))
		call.MessageID = fmt.Sprintf("uiload-read-%d-%d", time.Now().UnixNano(), i)
		card, err := svc.GetMedicineCard(ctx, call, medcard.CardQuery{PersonID: person, IncludePrescriptions: true})
		if err != nil {
			return placed, err
		}
		for _, p := range card.Prescriptions {
			if p.DispensingsLeft() == 0 || held(card, p.ID) {
				continue
			}
			call.MessageID = fmt.Sprintf("uiload-order-%d-%d", time.Now().UnixNano(), i)
			if _, err := svc.Change(ctx, call, medcard.OrderRequest{PersonID: person, BasedOnCardVersion: card.Version, PrescriptionID: p.ID}); err == nil {
				placed++
			}
			break
		}
	}
	return placed, nil
}

func held(card *medcard.Card, rx int64) bool {
	for _, o := range card.Orders {
		if o.PrescriptionID == rx && (o.Status == medcard.OrderOpen || o.Status == medcard.OrderInProgress) {
			return true
		}
	}
	return false
}

// browser is one signed-in user.
type browser struct {
	c    *http.Client
	base string
	csrf string
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func signIn(base, name string) (*browser, error) {
	jar, _ := cookiejar.New(nil)
	b := &browser{c: &http.Client{Jar: jar, Timeout: 30 * time.Second}, base: base + "/ui"}
	page, err := b.read(b.c.Get(b.base + "/signin"))
	if err != nil {
		return nil, err
	}
	m := csrfField.FindStringSubmatch(page)
	if m == nil {
		return nil, errors.New("no sign-in form at " + b.base + "/signin")
	}
	home, err := b.read(b.c.PostForm(b.base+"/signin", url.Values{"csrf": {m[1]}, "user": {name}, "password": {benchPassword}}))
	if err != nil {
		return nil, err
	}
	if m = csrfField.FindStringSubmatch(home); m == nil {
		return nil, fmt.Errorf("%s could not sign in", name)
	}
	b.csrf = m[1]
	return b, nil
}

func (b *browser) read(resp *http.Response, err error) (string, error) {
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return string(body), err
}

func (b *browser) get(path string) (int, error) {
	resp, err := b.c.Get(b.base + path)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, err = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, err
}

func (b *browser) post(path string, form url.Values) (int, error) {
	form.Set("csrf", b.csrf)
	resp, err := b.c.PostForm(b.base+path, form)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, err = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, err
}

// pageReport is one page's figures.
type pageReport struct {
	Page   string  `json:"page"`
	Count  int64   `json:"count"`
	Errors int     `json:"errors"`
	RPS    float64 `json:"rps"`
	P50Ms  float64 `json:"p50Ms"`
	P95Ms  float64 `json:"p95Ms"`
	P99Ms  float64 `json:"p99Ms"`
	MaxMs  float64 `json:"maxMs"`
}

func report(c config, pages map[string]*hdrhistogram.Histogram, errs map[string]int) error {
	ms := func(us int64) float64 { return float64(us) / 1000 }
	var out []pageReport
	for _, name := range []string{"card", "inbox"} {
		h := pages[name]
		out = append(out, pageReport{Page: name, Count: h.TotalCount(), Errors: errs[name],
			RPS:   float64(h.TotalCount()) / c.duration.Seconds(),
			P50Ms: ms(h.ValueAtQuantile(50)), P95Ms: ms(h.ValueAtQuantile(95)), P99Ms: ms(h.ValueAtQuantile(99)), MaxMs: ms(h.Max())})
	}
	if c.asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(map[string]any{"users": c.users, "persons": c.persons, "durationSeconds": c.duration.Seconds(),
			"thinkSeconds": c.think.Seconds(), "warmupSeconds": c.warmup.Seconds(), "pages": out})
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "page\tcount\terrors\tper s\tp50 ms\tp95 ms\tp99 ms\tmax ms\t\n")
	for _, p := range out {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%.1f\t%.1f\t%.1f\t%.1f\t%.1f\t\n", p.Page, p.Count, p.Errors, p.RPS, p.P50Ms, p.P95Ms, p.P99Ms, p.MaxMs)
	}
	return tw.Flush()
}
