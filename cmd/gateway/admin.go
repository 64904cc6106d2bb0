package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/sharedmedcard/gateway/medcard"
	"github.com/sharedmedcard/gateway/seed"
	"github.com/sharedmedcard/gateway/shard"
	"github.com/sharedmedcard/gateway/web/account"
)

func runMigrate(ctx context.Context, args []string) error {
	var catalogDSN, shardDSNs, keyFile string
	f := newFlags("migrate", "Applies the catalog schema, then the shard schema to every shard database in the map\n"+
		"and to those named by --shard-dsns. Safe to run again and from several hosts at once.\n"+
		"System secrets stored in clear by an older version are hashed and sealed with --secret-key-file\n"+
		"(the key the gateways serve with); without it, migrate refuses to leave them so.")
	f.catalogDSN(&catalogDSN)
	f.shardDSNs(&shardDSNs)
	f.secretKeyFile(&keyFile)
	if err := f.Parse(args); err != nil {
		return err
	}
	if err := requireCatalog(catalogDSN); err != nil {
		return err
	}
	extra, err := parseShardDSNs(shardDSNs)
	if err != nil {
		return err
	}
	v, err := shard.MigrateCatalog(ctx, catalogDSN)
	if err != nil {
		return fmt.Errorf("catalog: %w", err)
	}
	fmt.Printf("catalog: schema version %d\n", v)

	dbs := map[string]string{}
	for _, db := range extra {
		dbs[db.Name] = db.DSN
	}
	pool, err := pgxpool.New(ctx, catalogDSN)
	if err != nil {
		return err
	}
	defer pool.Close()
	catalog := shard.NewCatalog(pool, time.Now)
	if err := loadSecretKey(catalog, keyFile); err != nil {
		return err
	}
	converted, err := catalog.ConvertPlainSecrets(ctx)
	if errors.Is(err, shard.ErrSecretKeyNeeded) {
		return fmt.Errorf("catalog: %w; run 'gateway migrate --secret-key-file FILE' with the key the gateways serve with "+
			"(make one: openssl rand -base64 32 > FILE), or give each system a new secret with 'gateway system rotate-secret'", err)
	}
	if err != nil {
		return fmt.Errorf("catalog: %w", err)
	}
	if len(converted) > 0 {
		fmt.Printf("catalog: the secrets of %s hashed and sealed; none is stored in clear any more\n", strings.Join(converted, ", "))
	}
	m, err := catalog.LoadMap(ctx)
	switch {
	case err == nil:
		for name, dsn := range m.Databases {
			dbs[name] = dsn
		}
	case errors.Is(err, shard.ErrNotInitialized):
	default:
		return err
	}
	for name, dsn := range dbs {
		v, err := shard.MigrateShardDatabase(ctx, dsn)
		if err != nil {
			return fmt.Errorf("shard database %s: %w", name, err)
		}
		fmt.Printf("shard database %s: schema version %d\n", name, v)
	}
	return nil
}

// shardCommands are the subcommands of `gateway shard`: the map's
// (init, status) here, the online moves' in shardmove.go.
func shardCommands() []command {
	return []command{
		{"init", "create the cluster: register the shard databases, spread the logical shards", runShardInit},
		{"status", "show each shard database's shards and cards", runShardStatus},
		{"add-db", "register a new, empty shard database: add-db NAME DSN", runShardAddDB},
		{"remove-db", "unregister a shard database that holds nothing any more: remove-db NAME", runShardRemoveDB},
		{"plan", "plan moves that even out the databases, drain one, or move one shard; saves the plan", runShardPlan},
		{"rebalance", "run a saved plan's moves online: rebalance PLAN (run it again to resume)", runShardRebalance},
		{"move", "move one logical shard online: move SHARD --to NAME", runShardMove},
		{"moves", "list moves with their progress, or one move's steps: moves [MOVE]", runShardMoves},
		{"verify", "check each shard is owned once, where the map says, and its old copies are complete", runShardVerify},
		{"cancel", "cancel a move that has not flipped the map: cancel MOVE", runShardCancel},
		{"cleanup", "delete the rows moved shards left at their old databases, after a grace period", runShardCleanup},
	}
}

func shardCommandNames() string {
	var names []string
	for _, c := range shardCommands() {
		names = append(names, c.name)
	}
	return strings.Join(names, ", ")
}

func runShard(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("shard: name a subcommand: %s ('gateway shard --help' tells what each does)", shardCommandNames())
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		var b strings.Builder
		b.WriteString("Usage: gateway shard <subcommand> [arguments] [flags]\n\nSubcommands:\n")
		for _, c := range shardCommands() {
			fmt.Fprintf(&b, "  %-10s %s\n", c.name, c.summary)
		}
		b.WriteString("\nA rebalance: add-db, plan, rebalance PLAN, verify, and after the grace period cleanup.\n" +
			"Run 'gateway shard <subcommand> --help' for its arguments and flags.")
		fmt.Println(b.String())
		return nil
	}
	for _, c := range shardCommands() {
		if c.name == args[0] {
			return c.run(ctx, args[1:])
		}
	}
	return fmt.Errorf("shard: unknown subcommand %q (%s)", args[0], shardCommandNames())
}

// parseClusterFlags parses the flags of commands that name the catalog and
// shard databases: --catalog-dsn (required) and --shard-dsns.
func parseClusterFlags(name, synopsis string, args []string) (string, []shard.Database, error) {
	var catalogDSN, shardDSNs string
	f := newFlags(name, synopsis)
	f.catalogDSN(&catalogDSN)
	f.shardDSNs(&shardDSNs)
	if err := f.Parse(args); err != nil {
		return "", nil, err
	}
	if err := requireCatalog(catalogDSN); err != nil {
		return "", nil, err
	}
	dbs, err := parseShardDSNs(shardDSNs)
	return catalogDSN, dbs, err
}

func runShardInit(ctx context.Context, args []string) error {
	catalogDSN, dbs, err := parseClusterFlags("shard init", fmt.Sprintf("Creates the cluster: registers the shard databases and spreads the %d logical shards over them\nin equal contiguous ranges. Migrate first. Running it again with the same databases changes nothing.", shard.Count), args)
	if err != nil {
		return err
	}
	pool, err := pgxpool.New(ctx, catalogDSN)
	if err != nil {
		return err
	}
	defer pool.Close()
	created, err := shard.NewCatalog(pool, time.Now).Init(ctx, dbs)
	if err != nil {
		return err
	}
	if created {
		fmt.Printf("cluster initialised: %d logical shards over %d shard databases\n", shard.Count, len(dbs))
	} else {
		fmt.Printf("cluster already initialised over these %d shard databases; nothing changed\n", len(dbs))
	}
	return nil
}

func runShardStatus(ctx context.Context, args []string) error {
	var catalogDSN string
	var asJSON bool
	f := newFlags("shard status", "Shows each shard database: the shards the map gives it, what the database itself records,\nand how many cards it holds.")
	f.catalogDSN(&catalogDSN)
	f.BoolVar(&asJSON, "json", false, "print JSON instead of a table")
	if err := f.Parse(args); err != nil {
		return err
	}
	catalog, store, closeStore, err := openStore(ctx, catalogDSN)
	if err != nil {
		return err
	}
	defer closeStore()
	epoch, rows, err := store.Status(ctx)
	if err != nil {
		return err
	}
	replication, replErr := shard.AllReplication(ctx, catalog, store)
	if asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(map[string]any{"epoch": epoch, "shardCount": shard.Count, "databases": rows, "replication": replication})
	}
	fmt.Printf("shard map epoch %d, %d logical shards\n\n", epoch, shard.Count)
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "DATABASE\tSHARDS\tOWNED (DB)\tFROZEN\tCARDS\tLEFTOVER\t  SHARDS (RUNS)")
	var total, leftover int64
	for _, r := range rows {
		if r.Unreachable != "" {
			fmt.Fprintf(tw, "%s\t%d\tunreachable\t\t\t\t  %s\n", r.Name, r.Shards, shardRuns(r.ShardRanges))
			continue
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t  %s\n", r.Name, r.Shards, r.OwnedInDB, r.FrozenInDB, r.Cards, r.LeftoverCards, shardRuns(r.ShardRanges))
		total += r.Cards
		leftover += r.LeftoverCards
	}
	fmt.Fprintf(tw, "total\t%d\t\t\t%d\t%d\t\n", shard.Count, total, leftover)
	if err := tw.Flush(); err != nil {
		return err
	}
	if leftover > 0 {
		fmt.Printf("\nLEFTOVER are cards of shards a database no longer owns (a finished move's old copy);\n'gateway shard cleanup' removes them after the grace period.\n")
	}
	return printReplication(replication, replErr)
}

// printReplication is shard status's table of standbys: per database, the
// confirmations a commit waits for and each standby's state and lag.
func printReplication(states []shard.Replication, readErr error) error {
	fmt.Printf("\nstandbys (a commit waits for CONFIRMS of them; see docs/operations.md)\n\n")
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "DATABASE\tCONFIRMS\tCONFIRMING\tSYNCHRONOUS_COMMIT\tSTANDBYS (STATE, SYNC, REPLAY LAG)")
	for _, r := range states {
		confirms := "none"
		if r.Confirmations > 0 {
			confirms = fmt.Sprintf("%s %d", r.Method, r.Confirmations)
		}
		var standbys []string
		for _, sb := range r.Standbys {
			standbys = append(standbys, fmt.Sprintf("%s (%s, %s, %s)", sb.Name, sb.State, sb.SyncState, humanBytes(sb.LagBytes)))
		}
		if len(standbys) == 0 {
			standbys = []string{"-"}
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\n", r.DB, confirms, r.Confirming(), r.SynchronousCommit, strings.Join(standbys, ", "))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if readErr != nil {
		fmt.Printf("\nnot every database answered: %v\n", readErr)
	}
	return nil
}

// shardRuns shows a database's runs of shards, the first few of them.
func shardRuns(runs []string) string {
	const shown = 3
	if len(runs) == 0 {
		return "-"
	}
	if len(runs) <= shown {
		return strings.Join(runs, ", ")
	}
	return fmt.Sprintf("%s … (%d runs)", strings.Join(runs[:shown], ", "), len(runs))
}

// openStore connects to the catalog and every shard database.
func openStore(ctx context.Context, catalogDSN string) (*shard.Catalog, *shard.Store, func(), error) {
	if err := requireCatalog(catalogDSN); err != nil {
		return nil, nil, nil, err
	}
	pool, err := pgxpool.New(ctx, catalogDSN)
	if err != nil {
		return nil, nil, nil, err
	}
	catalog := shard.NewCatalog(pool, time.Now)
	store, err := shard.Open(ctx, catalog, zap.NewNop(), nil)
	if err != nil {
		pool.Close()
		return nil, nil, nil, err
	}
	return catalog, store, func() { store.Close(); pool.Close() }, nil
}

// demoSeed is the default seed, so the demo person is the same everywhere.
const (
	demoSeed           = 1
	defaultSeedPersons = 1000
)

func runSeed(ctx context.Context, args []string) error {
	var catalogDSN, keyFile string
	var persons, workers, medications int
	var seedValue uint64
	var demoSystems bool
	f := newFlags("seed", "Loads synthetic persons with realistic cards (deterministic from --seed) with COPY, in\n"+
		"parallel per shard database, and adds the demo pharmacist of the web UI. Persons who already\n"+
		"have a card keep it, so running it again writes nothing new. Shows a progress bar on a terminal.\n"+
		"With --demo it also registers (or re-enables) the demo systems demo-gp and demo-pharmacy, whose\n"+
		"secret is the published demo-secret: for a local demo stack only, never a shared one.")
	f.catalogDSN(&catalogDSN)
	f.BoolVar(&demoSystems, "demo", false, "register the demo systems demo-gp and demo-pharmacy (secret demo-secret); for a local demo stack only")
	f.secretKeyFile(&keyFile)
	f.IntVar(&persons, "persons", defaultSeedPersons, "number of persons to generate")
	f.Uint64Var(&seedValue, "seed", demoSeed, "random seed; the same seed gives the same persons")
	f.IntVar(&workers, "workers", defaultSeedWorkers(), "persons generated and loaded in parallel, a chunk each")
	f.IntVar(&medications, "medications", 0, fmt.Sprintf("give every card exactly this many drug medications (1-%d), each prescribed, none withdrawn: "+
		"cards of one size, for benchmarks (0: the population's spread, many persons with none)", seed.MaxFixedDrugMedications))
	if err := f.Parse(args); err != nil {
		return err
	}
	if persons < 0 || persons > seed.Capacity() {
		return fmt.Errorf("--persons must be between 0 and %d", seed.Capacity())
	}
	if medications < 0 || medications > seed.MaxFixedDrugMedications {
		return fmt.Errorf("--medications must be between 0 and %d", seed.MaxFixedDrugMedications)
	}
	if workers < 1 {
		return errors.New("--workers must be at least 1")
	}
	if err := requireCatalog(catalogDSN); err != nil {
		return err
	}
	pool, err := pgxpool.New(ctx, catalogDSN)
	if err != nil {
		return err
	}
	defer pool.Close()
	catalog := shard.NewCatalog(pool, time.Now)
	// Each worker holds at most one connection per shard database.
	store, err := shard.Open(ctx, catalog, zap.NewNop(), func(cfg *pgxpool.Config) {
		cfg.MaxConns = int32(workers) + 1
	})
	if err != nil {
		return err
	}
	defer store.Close()
	if err := loadSecretKey(catalog, keyFile); err != nil {
		return err
	}
	systemsNote := "no demo systems (--demo registers them)"
	if demoSystems {
		for _, s := range seed.DemoSystems {
			if err := catalog.PutSystem(ctx, s); err != nil {
				return err
			}
		}
		systemsNote = "demo systems: demo-gp, demo-pharmacy"
		if !catalog.HasSecretKey() {
			systemsNote += " (PasswordText only: no --secret-key-file to seal their secret for PasswordDigest)"
		}
	}
	demo := account.User{Name: seed.DemoPharmacist, Organisation: seed.DemoPharmacy, Role: medcard.RolePharmacist}
	if err := account.NewStore(pool, account.Options{}).AddUser(ctx, demo, seed.DemoPharmacistPassword); err != nil &&
		!errors.Is(err, account.ErrUserExists) {
		return fmt.Errorf("add the demo pharmacist: %w", err)
	}

	started := time.Now()
	gen := seed.New(seedValue, started)
	gen.DrugMedications = medications
	res, err := seedCards(ctx, store, gen, persons, workers, newTermBar(true, int64(persons), "seed", "persons"))
	if err != nil {
		return err
	}
	elapsed := time.Since(started)
	cards, bytes, err := store.CardStorage(ctx)
	if err != nil {
		return err
	}
	perCard := int64(0)
	if cards > 0 {
		perCard = bytes / cards
	}
	fmt.Printf("seed: %d persons (seed %d, %d without medication, so no card) in %s, %.0f persons/s; %d new cards written; "+
		"the shard databases hold %d cards, %d bytes per card on disk; %s; demo UI user: %s\n",
		persons, seedValue, res.empty, elapsed.Round(100*time.Millisecond), float64(persons)/elapsed.Seconds(),
		res.written, cards, perCard, systemsNote, seed.DemoPharmacist)
	return nil
}

// seedChunk is how many persons a seed worker generates and loads at once:
// about 1,400 cards (seven persons in ten have one), one COPY per shard
// database. 500 to 5,000 measured the same within noise.
const seedChunk = 2000

// defaultSeedWorkers overlaps generating and encoding (Go) with loading
// (PostgreSQL) on every core.
func defaultSeedWorkers() int { return 2 * runtime.GOMAXPROCS(0) }

type seedResult struct {
	written, empty int64
}

// seedCards generates persons [0, persons) and loads their cards, chunk by
// chunk, on workers goroutines. The first error stops them all.
func seedCards(ctx context.Context, store *shard.Store, gen *seed.Generator, persons, workers int, progress *termBar) (seedResult, error) {
	var next, written, empty atomic.Int64
	g, ctx := errgroup.WithContext(ctx)
	for range workers {
		g.Go(func() error {
			cards := make([]*medcard.Card, 0, seedChunk)
			for {
				start := int(next.Add(seedChunk)) - seedChunk
				if start >= persons {
					return nil
				}
				end := min(start+seedChunk, persons)
				cards = cards[:0]
				for i := start; i < end; i++ {
					c := gen.Card(i)
					if c.Version == 0 {
						empty.Add(1)
					}
					cards = append(cards, c)
				}
				n, err := store.LoadCards(ctx, cards)
				written.Add(int64(n))
				if err != nil {
					return err
				}
				progress.add(end - start)
			}
		})
	}
	err := g.Wait()
	progress.finish(err)
	return seedResult{written: written.Load(), empty: empty.Load()}, err
}
