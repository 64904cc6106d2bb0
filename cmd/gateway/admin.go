package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/zap"

	"github.com/sharedmedcard/gateway/medcard"
	"github.com/sharedmedcard/gateway/seed"
	"github.com/sharedmedcard/gateway/shard"
)

func runMigrate(ctx context.Context, args []string) error {
	var catalogDSN, shardDSNs string
	f := newFlags("migrate", "Applies the catalog schema, then the shard schema to every shard database in the map\nand to those named by --shard-dsns. Safe to run again and from several hosts at once.")
	f.catalogDSN(&catalogDSN)
	f.shardDSNs(&shardDSNs)
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
	m, err := shard.NewCatalog(pool, time.Now).LoadMap(ctx)
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

func runShard(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return errors.New("shard: name a subcommand: init, status")
	}
	switch args[0] {
	case "init":
		return runShardInit(ctx, args[1:])
	case "status":
		return runShardStatus(ctx, args[1:])
	}
	return fmt.Errorf("shard: unknown subcommand %q (init, status)", args[0])
}

func runShardInit(ctx context.Context, args []string) error {
	var catalogDSN, shardDSNs string
	f := newFlags("shard init", fmt.Sprintf("Creates the cluster: registers the shard databases and spreads the %d logical shards over them\nin equal contiguous ranges. Migrate first. Running it again with the same databases changes nothing.", shard.Count))
	f.catalogDSN(&catalogDSN)
	f.shardDSNs(&shardDSNs)
	if err := f.Parse(args); err != nil {
		return err
	}
	if err := requireCatalog(catalogDSN); err != nil {
		return err
	}
	dbs, err := parseShardDSNs(shardDSNs)
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
	store, closeStore, err := openStore(ctx, catalogDSN)
	if err != nil {
		return err
	}
	defer closeStore()
	epoch, rows, err := store.Status(ctx)
	if err != nil {
		return err
	}
	if asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(map[string]any{"epoch": epoch, "shardCount": shard.Count, "databases": rows})
	}
	fmt.Printf("shard map epoch %d, %d logical shards\n\n", epoch, shard.Count)
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "DATABASE\tSHARDS\tRANGE\tOWNED (DB)\tFROZEN\tCARDS\t")
	var total int64
	for _, r := range rows {
		rng := "-"
		if r.Shards > 0 {
			rng = fmt.Sprintf("%d-%d", r.FirstShard, r.LastShard)
		}
		if r.Unreachable != "" {
			fmt.Fprintf(tw, "%s\t%d\t%s\tunreachable\t\t\t\n", r.Name, r.Shards, rng)
			continue
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%d\t%d\t%d\t\n", r.Name, r.Shards, rng, r.OwnedInDB, r.FrozenInDB, r.Cards)
		total += r.Cards
	}
	fmt.Fprintf(tw, "total\t%d\t\t\t\t%d\t\n", shard.Count, total)
	return tw.Flush()
}

// openStore connects to the catalog and every shard database, for commands
// that read or write cards.
func openStore(ctx context.Context, catalogDSN string) (*shard.Store, func(), error) {
	if err := requireCatalog(catalogDSN); err != nil {
		return nil, nil, err
	}
	pool, err := pgxpool.New(ctx, catalogDSN)
	if err != nil {
		return nil, nil, err
	}
	store, err := shard.Open(ctx, shard.NewCatalog(pool, time.Now), zap.NewNop(), nil)
	if err != nil {
		pool.Close()
		return nil, nil, err
	}
	return store, func() { store.Close(); pool.Close() }, nil
}

// Demo systems that `gateway seed` registers, for the demo and the README.
var demoSystems = []medcard.System{
	{Name: "demo-gp", Secret: "demo-secret", Roles: []medcard.Role{medcard.RoleDoctor, medcard.RoleNurse}},
	{Name: "demo-pharmacy", Secret: "demo-secret", Roles: []medcard.Role{medcard.RolePharmacist}},
}

// demoSeed is the default seed, so the demo person is the same everywhere.
const (
	demoSeed           = 1
	defaultSeedPersons = 1000
)

func runSeed(ctx context.Context, args []string) error {
	var catalogDSN string
	var persons int
	var seedValue uint64
	f := newFlags("seed", "Registers the demo systems and loads synthetic persons with realistic cards\n(deterministic from --seed). Persons who already have a card keep it.")
	f.catalogDSN(&catalogDSN)
	f.IntVar(&persons, "persons", defaultSeedPersons, "number of persons to generate")
	f.Uint64Var(&seedValue, "seed", demoSeed, "random seed; the same seed gives the same persons")
	if err := f.Parse(args); err != nil {
		return err
	}
	store, closeStore, err := openStore(ctx, catalogDSN)
	if err != nil {
		return err
	}
	defer closeStore()
	pool, err := pgxpool.New(ctx, catalogDSN)
	if err != nil {
		return err
	}
	defer pool.Close()
	catalog := shard.NewCatalog(pool, time.Now)
	for _, s := range demoSystems {
		if err := catalog.PutSystem(ctx, s); err != nil {
			return err
		}
	}

	gen := seed.New(seedValue, time.Now())
	const chunk = 5000
	written := 0
	for start := 0; start < persons; start += chunk {
		end := min(start+chunk, persons)
		cards := make([]*medcard.Card, 0, end-start)
		for i := start; i < end; i++ {
			cards = append(cards, gen.Card(i))
		}
		n, err := store.LoadCards(ctx, cards)
		if err != nil {
			return err
		}
		written += n
	}
	fmt.Printf("seed: %d persons generated, %d new cards written, demo systems: demo-gp, demo-pharmacy\n", persons, written)
	return nil
}
