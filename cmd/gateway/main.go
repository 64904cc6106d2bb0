// Command gateway is the one binary of the shared medicine card service:
//
//	gateway serve         run the SOAP gateway
//	gateway migrate       apply the catalog and shard database schemas
//	gateway seed          load synthetic persons and demo systems
//	gateway shard init       create the cluster over the shard databases
//	gateway shard status     show where the shards live and what they hold
//	gateway shard add-db     register a new, empty shard database
//	gateway shard remove-db  unregister a shard database that holds nothing
//	gateway shard plan       plan moves (even out, drain, one shard); saved
//	gateway shard rebalance  run a saved plan's moves online, or resume it
//	gateway shard move       move one logical shard online
//	gateway shard moves      list moves and their progress, or one's steps
//	gateway shard verify     check ownership and the copies moves left
//	gateway shard cancel     cancel a move that has not flipped the map
//	gateway shard cleanup    delete the rows moves left at old databases
//	gateway user          the web UI's users: add, list, disable, reset-password
//	gateway system list   the integrating systems and their client certificates
//	gateway system cert   require a system's TLS client certificate, or no longer
//	gateway audit         the audit log's monthly partitions: made ahead, dropped past the retention
//	gateway dev-cert      a local CA and certificates to serve HTTPS with (make run)
//	gateway bench         SOAP load generator (package loadgen)
//
// Every flag has an environment variable fallback, named in --help. This
// package holds the flags, the environment, the logger and the commands;
// package internal/app builds the gateway that serve runs (and the tests).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/sharedmedcard/gateway/internal/credential"
	"github.com/sharedmedcard/gateway/shard"
)

// command is one subcommand: its name, a line of help and what it runs.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string) error
}

func commands() []command {
	return []command{
		{"serve", "run the SOAP gateway", runServe},
		{"migrate", "apply the catalog and shard database schemas (idempotent)", runMigrate},
		{"seed", "load synthetic persons with cards and the demo systems", runSeed},
		{"shard", "the shard map and online moves: init, status, add-db, plan, rebalance, move, moves, verify, ...", runShard},
		{"user", "the web UI's users: add, list, disable, reset-password", runUser},
		{"system", "the integrating systems: list, cert (require a TLS client certificate)", runSystem},
		{"audit", "make the audit log's months ahead and drop those past the retention", runAudit},
		{"dev-cert", "make a local CA and certificates to serve HTTPS with (make run does)", runDevCert},
		{"bench", "generate SOAP load and report latency per operation", runBench},
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0) // --help was asked for and answered
		}
		fmt.Fprintln(os.Stderr, "gateway:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage()
		if len(args) == 0 {
			return errors.New("name a command")
		}
		return nil
	}
	for _, c := range commands() {
		if c.name == args[0] {
			return c.run(ctx, args[1:])
		}
	}
	usage()
	return fmt.Errorf("unknown command %q", args[0])
}

func usage() {
	fmt.Fprintln(os.Stderr, "Usage: gateway <command> [flags]\n\nCommands:")
	for _, c := range commands() {
		fmt.Fprintf(os.Stderr, "  %-8s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(os.Stderr, "\nRun 'gateway <command> --help' for its flags.")
}

// flags is a flag set whose flags fall back to environment variables.
type flags struct {
	*flag.FlagSet
	envErrs *[]error // environment values that do not parse, reported by Parse
}

func newFlags(name, synopsis string) flags {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: gateway %s\n\n%s\n\nFlags:\n", name, synopsis)
		fs.PrintDefaults()
	}
	return flags{FlagSet: fs, envErrs: new([]error)}
}

// Parse parses args, then reports environment values that did not parse.
func (f flags) Parse(args []string) error {
	if err := f.FlagSet.Parse(args); err != nil {
		return err
	}
	return errors.Join(*f.envErrs...)
}

// parseArgs parses args whose flags may come before, between and after
// the positional arguments (`gateway shard move 7 --to shard3`), and
// returns the positional ones; everything after "--" is positional.
func (f flags) parseArgs(args []string) ([]string, error) {
	var pos []string
	for {
		if err := f.FlagSet.Parse(args); err != nil {
			return nil, err
		}
		rest := f.FlagSet.Args()
		if len(rest) == 0 {
			break
		}
		if used := len(args) - len(rest); used > 0 && args[used-1] == "--" {
			pos = append(pos, rest...)
			break
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
	return pos, errors.Join(*f.envErrs...)
}

func (f flags) string(p *string, name, env, def, usage string) {
	if v, ok := os.LookupEnv(env); ok {
		def = v
	}
	f.StringVar(p, name, def, fmt.Sprintf("%s (env %s)", usage, env))
}

func (f flags) duration(p *time.Duration, name, env string, def time.Duration, usage string) {
	if v, ok := os.LookupEnv(env); ok {
		d, err := time.ParseDuration(v)
		if err != nil {
			*f.envErrs = append(*f.envErrs, fmt.Errorf("%s: %w", env, err))
		}
		def = d
	}
	f.DurationVar(p, name, def, fmt.Sprintf("%s (env %s)", usage, env))
}

// intVar declares an int flag that falls back to the environment variable env.
func (f flags) intVar(p *int, name, env string, def int, usage string) {
	if v, ok := os.LookupEnv(env); ok {
		n, err := strconv.Atoi(v)
		if err != nil {
			*f.envErrs = append(*f.envErrs, fmt.Errorf("%s: %w", env, err))
		}
		def = n
	}
	f.IntVar(p, name, def, fmt.Sprintf("%s (env %s)", usage, env))
}

// boolVar declares a bool flag that falls back to the environment variable
// env (true, false, 1, 0, as strconv.ParseBool reads them).
func (f flags) boolVar(p *bool, name, env string, def bool, usage string) {
	if v, ok := os.LookupEnv(env); ok {
		b, err := strconv.ParseBool(v)
		if err != nil {
			*f.envErrs = append(*f.envErrs, fmt.Errorf("%s: %w", env, err))
		}
		def = b
	}
	f.BoolVar(p, name, def, fmt.Sprintf("%s (env %s)", usage, env))
}

// float64Var declares a float flag that falls back to the environment variable env.
func (f flags) float64Var(p *float64, name, env string, def float64, usage string) {
	if v, ok := os.LookupEnv(env); ok {
		n, err := strconv.ParseFloat(v, 64)
		if err != nil {
			*f.envErrs = append(*f.envErrs, fmt.Errorf("%s: %w", env, err))
		}
		def = n
	}
	f.Float64Var(p, name, def, fmt.Sprintf("%s (env %s)", usage, env))
}

// catalogDSN declares the --catalog-dsn flag every command needs.
func (f flags) catalogDSN(p *string) {
	f.string(p, "catalog-dsn", "MEDCARD_CATALOG_DSN", "",
		"PostgreSQL URL of the catalog database, e.g. postgres://user@host:5432/medcard_catalog")
}

// secretKeyFile declares --secret-key-file, the key the systems' secrets
// are sealed with in the catalog (internal/credential).
func (f flags) secretKeyFile(p *string) {
	f.string(p, "secret-key-file", "MEDCARD_SECRET_KEY_FILE", "",
		"file of the key the systems' secrets are sealed with in the catalog, 32 random bytes raw or base64 "+
			"(make one: openssl rand -base64 32 > FILE; chmod 600 FILE); without it PasswordDigest cannot be checked")
}

// loadSecretKey gives catalog the key in file; empty file: none.
func loadSecretKey(catalog *shard.Catalog, file string) error {
	if file == "" {
		return nil
	}
	key, err := credential.LoadKeyFile(file)
	if err != nil {
		return err
	}
	catalog.SetSecretKey(key)
	return nil
}

// shardDSNs declares --shard-dsns: name=dsn pairs of shard databases.
func (f flags) shardDSNs(p *string) {
	f.string(p, "shard-dsns", "MEDCARD_SHARD_DSNS", "",
		"comma-separated name=URL pairs of shard databases, e.g. shard1=postgres://...,shard2=postgres://... "+
			"(a URL may name several hosts, postgres://a:5432,b:5432/db?target_session_attrs=read-write)")
}

// parseShardDSNs splits name=URL pairs at commas. A multi-host URL has
// commas of its own (postgres://a:5432,b:5432/db), so a comma starts a new
// pair only where a database name and '=' follow it; anything else goes on
// the URL before it.
func parseShardDSNs(s string) ([]shard.Database, error) {
	var out []shard.Database
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		name, dsn, ok := strings.Cut(part, "=")
		if !ok || !shardDatabaseName.MatchString(name) {
			if len(out) == 0 {
				return nil, fmt.Errorf("--shard-dsns: %q is not name=URL", part)
			}
			out[len(out)-1].DSN += "," + part
			continue
		}
		if dsn == "" {
			return nil, fmt.Errorf("--shard-dsns: %q is not name=URL", part)
		}
		out = append(out, shard.Database{Name: name, DSN: dsn})
	}
	return out, nil
}

// shardDatabaseName is what may stand before '=' in --shard-dsns: never
// a host, port or path, which have '.', ':', '/' or '@' in them or no '='.
var shardDatabaseName = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

func requireCatalog(dsn string) error {
	if dsn == "" {
		return errors.New("--catalog-dsn (or MEDCARD_CATALOG_DSN) is required")
	}
	return nil
}
