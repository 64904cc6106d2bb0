package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/sharedmedcard/gateway/internal/app"
	"github.com/sharedmedcard/gateway/loadgen"
)

const benchSynopsis = `Generates SOAP load against a running gateway and reports latency per operation.

  gateway bench [--concurrency N | --rate R] [--duration D] [--warmup W]
                [--mix Op=w,...] [--persons N --seed S] [--zipf s] [--include-prescriptions]
                [--soap 1.1|1.2]
                [--url URL] [--out DIR] [--name LABEL] [--gateway-pid PID]

Closed loop by default (--concurrency workers, each sending its next request when
the last is answered); --rate runs an open loop at R actions per second, timing
each from when it was due (coordinated omission corrected). The persons are those
'gateway seed --persons N --seed S' loaded. Output: a table on stdout, and
bench.json and bench.svg (throughput and p50/p99 over time) in --out.

Only loopback URLs are accepted unless --allow-remote is given.`

// benchOptions are the flags of `gateway bench` beyond loadgen.Config.
type benchOptions struct {
	out   string
	quiet bool
	soap  string
}

func runBench(ctx context.Context, args []string) error {
	cfg, opts, err := parseBenchFlags(args)
	if err != nil {
		return err
	}
	return bench(ctx, cfg, opts, os.Stdout, os.Stderr)
}

func parseBenchFlags(args []string) (loadgen.Config, benchOptions, error) {
	var cfg loadgen.Config
	var opts benchOptions
	var mix string
	f := newFlags("bench", benchSynopsis)
	f.string(&cfg.URL, "url", "MEDCARD_BENCH_URL", "http://127.0.0.1:8080"+app.SOAPPath, "SOAP endpoint to load")
	f.BoolVar(&cfg.AllowRemote, "allow-remote", false, "allow a URL whose host is not loopback (never point this at production)")
	f.IntVar(&cfg.Concurrency, "concurrency", 0, "closed loop: workers; open loop: most requests in flight (default 16, or 256 with --rate)")
	f.Float64Var(&cfg.Rate, "rate", 0, "open loop: actions per second (0: closed loop)")
	f.duration(&cfg.Duration, "duration", "MEDCARD_BENCH_DURATION", 30*time.Second, "how long to measure")
	f.Int64Var(&cfg.Actions, "actions", 0, "stop after this many measured actions (0: run for --duration)")
	f.duration(&cfg.Warmup, "warmup", "MEDCARD_BENCH_WARMUP", 5*time.Second, "load before measuring, not recorded")
	f.duration(&cfg.Timeout, "timeout", "MEDCARD_BENCH_TIMEOUT", 10*time.Second, "timeout of one request")
	f.string(&mix, "mix", "MEDCARD_BENCH_MIX", loadgen.DefaultMix,
		"weighted actions: "+strings.Join(loadgen.Actions, ", "))
	f.IntVar(&cfg.Persons, "persons", defaultSeedPersons, "persons to choose among: the first N of 'gateway seed'")
	f.Uint64Var(&cfg.Seed, "seed", demoSeed, "the seed 'gateway seed' used")
	f.Float64Var(&cfg.Zipf, "zipf", 0, "choose persons by a Zipf law with this exponent (above 1, e.g. 1.1); 0 is uniform")
	f.BoolVar(&cfg.IncludePrescriptions, "include-prescriptions", false, "GetMedicineCard asks for the prescriptions and their orders too (the whole card)")
	f.StringVar(&opts.soap, "soap", "1.1", "SOAP version: 1.1 or 1.2")
	f.BoolVar(&cfg.PasswordText, "password-text", false, "send the secret as PasswordText instead of a PasswordDigest with a fresh nonce (a gateway refuses it over plain HTTP unless serving with --tls-terminated-upstream)")
	f.string(&cfg.Doctor.System, "system", "MEDCARD_BENCH_SYSTEM", loadgen.DefaultDoctor.System, "system for the clinical operations")
	f.string(&cfg.Doctor.Secret, "secret", "MEDCARD_BENCH_SECRET", loadgen.DefaultDoctor.Secret, "secret of --system")
	f.string(&cfg.Doctor.Role, "role", "MEDCARD_BENCH_ROLE", loadgen.DefaultDoctor.Role, "role of --system (CreatePrescription needs Doctor)")
	f.string(&cfg.Doctor.Organisation, "org", "MEDCARD_BENCH_ORG", loadgen.DefaultDoctor.Organisation, "organisation of --system")
	f.string(&cfg.Pharmacy.System, "pharmacy-system", "MEDCARD_BENCH_PHARMACY_SYSTEM", loadgen.DefaultPharmacy.System, "system for the pharmacy operations (role Pharmacist)")
	f.string(&cfg.Pharmacy.Secret, "pharmacy-secret", "MEDCARD_BENCH_PHARMACY_SECRET", loadgen.DefaultPharmacy.Secret, "secret of --pharmacy-system")
	f.string(&cfg.Pharmacy.Organisation, "pharmacy-org", "MEDCARD_BENCH_PHARMACY_ORG", loadgen.DefaultPharmacy.Organisation, "the pharmacy's organisation")
	f.string(&opts.out, "out", "MEDCARD_BENCH_OUT", "bench-results", "directory for bench.json and bench.svg, in a subdirectory per run; empty: none")
	f.string(&cfg.Name, "name", "MEDCARD_BENCH_NAME", "", "scenario label for the report and the plot")
	f.IntVar(&cfg.GatewayPID, "gateway-pid", 0, "the gateway's process id: report its CPU seconds per 1,000 requests (Linux)")
	f.BoolVar(&opts.quiet, "quiet", false, "no per-second progress on stderr")
	if err := f.Parse(args); err != nil {
		return cfg, opts, err
	}
	if f.NArg() > 0 {
		return cfg, opts, fmt.Errorf("bench: unexpected arguments %q", f.Args())
	}
	var err error
	if cfg.Mix, err = loadgen.ParseMix(mix); err != nil {
		return cfg, opts, err
	}
	switch opts.soap {
	case "1.1":
	case "1.2":
		cfg.SOAP12 = true
	default:
		return cfg, opts, fmt.Errorf("--soap %q: use 1.1 or 1.2", opts.soap)
	}
	cfg.Pharmacy.Role = "Pharmacist"
	// Refuse a remote URL before anything else happens.
	return cfg, opts, loadgen.CheckURL(cfg.URL, cfg.AllowRemote)
}

// bench runs the load and writes the table to stdout, progress to stderr
// and the files into a new directory under opts.out.
func bench(ctx context.Context, cfg loadgen.Config, opts benchOptions, stdout, stderr io.Writer) error {
	if !opts.quiet {
		fmt.Fprintf(stderr, "bench: %s for %s after %s warmup (Ctrl-C stops early and still reports)\n",
			cfg.URL, cfg.Duration, cfg.Warmup)
		cfg.Progress = func(p loadgen.Point) {
			fmt.Fprintf(stderr, "  %4ds  %8.1f req/s  p50 %8.2f ms  p99 %8.2f ms  max %8.2f ms  errors %d\n",
				p.T+1, p.RPS, p.P50Ms, p.P99Ms, p.MaxMs, p.Errors)
		}
	}
	rep, err := loadgen.Run(ctx, cfg)
	if err != nil {
		return err
	}
	if !opts.quiet {
		fmt.Fprintln(stderr)
	}
	if err := rep.WriteTable(stdout); err != nil {
		return err
	}
	if opts.out != "" {
		dir := filepath.Join(opts.out, benchDirName(rep))
		paths, err := rep.WriteFiles(dir)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "wrote %s\n", strings.Join(paths, ", "))
	}
	if rep.Total.Count == 0 {
		return errors.New("bench: no request was measured")
	}
	return nil
}

// benchDirName is a run's directory: its start time and name, so runs sort
// by time and never overwrite each other.
func benchDirName(rep *loadgen.Report) string {
	name := rep.Started.Format("20060102-150405")
	if rep.Name != "" {
		clean := strings.Map(func(r rune) rune {
			if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.' {
				return r
			}
			return '-'
		}, rep.Name)
		name += "-" + clean
	}
	return name
}
