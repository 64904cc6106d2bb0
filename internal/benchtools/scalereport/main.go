// Command scalereport summarises `make bench-scale` (scripts/bench-scale.sh):
// from the runs the script measured (one JSON object per line: the part,
// its size, the repeat, the scenario and its figures) and the facts of
// each seeded data set, it takes the median of the repeats per scenario
// and size, marks a cell noisy when its repeats disagree or when the
// machine was busy before the bench began (a run's own load average is
// mostly the bench's previous run: it is recorded, not judged), fits the CPU per request against the number of
// drug medications (a + b·N, least squares), and writes table.txt,
// results.json and scale.svg into --out.
//
//	scalereport --runs runs.jsonl --sizes sizes.jsonl --out DIR [--load "7.42 5.74 4.78"] [--noisy-load 1.5]
package main

import (
	"bufio"
	"cmp"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// The parts of the bench and the scenarios of each.
const (
	partCards   = "cards"   // size: drug medications per card
	partPersons = "persons" // size: persons seeded
)

var scenarios = []string{"cached-read", "uncached-read", "write"}

// Run is one measured run, as the script writes it.
type Run struct {
	Part     string  `json:"part"`
	Size     int64   `json:"size"`
	Repeat   int     `json:"repeat"`
	Scenario string  `json:"scenario"`
	RPS      float64 `json:"rps"`
	P50Ms    float64 `json:"p50_ms"`
	P95Ms    float64 `json:"p95_ms"`
	P99Ms    float64 `json:"p99_ms"`
	// CPUMs is the gateway's CPU milliseconds per request.
	CPUMs  float64 `json:"cpu_ms"`
	Errors int64   `json:"errors"`
	// Load1 is the one-minute load average when the run began.
	Load1 float64 `json:"load1"`
}

// DataSet is what the script measured of one seeded data set.
type DataSet struct {
	Part        string  `json:"part"`
	Size        int64   `json:"size"`
	Persons     int64   `json:"persons"`
	Cards       int64   `json:"cards"`
	SeedSeconds float64 `json:"seed_seconds"`
	// DBBytes is pg_database_size of the shard databases, summed.
	DBBytes int64 `json:"db_bytes"`
	// BytesPerCard is the cards table (with TOAST and indexes) per card.
	BytesPerCard int64 `json:"bytes_per_card"`
	// CardJSONBytes is the average card's JSON text.
	CardJSONBytes int64  `json:"card_json_bytes"`
	SharedBuffers string `json:"shared_buffers"`
}

// Cell is the median of one scenario's repeats at one size.
type Cell struct {
	Part     string  `json:"part"`
	Size     int64   `json:"size"`
	Scenario string  `json:"scenario"`
	Repeats  int     `json:"repeats"`
	RPS      float64 `json:"rps"`
	P50Ms    float64 `json:"p50_ms"`
	P99Ms    float64 `json:"p99_ms"`
	CPUMs    float64 `json:"cpu_ms"`
	Errors   int64   `json:"errors"`
	// Spread is (max - min) / median of the repeats' req/s.
	Spread float64 `json:"spread"`
	// MaxLoad is the highest 1-minute load average a repeat began with.
	MaxLoad float64 `json:"max_load1"`
	Noisy   bool    `json:"noisy"`
	// AllRPS and AllCPUMs are every repeat's figures, in repeat order.
	AllRPS   []float64 `json:"all_rps"`
	AllCPUMs []float64 `json:"all_cpu_ms"`
}

// Fit is CPU ms per request = Fixed + PerMedication·N over the card sizes.
type Fit struct {
	Scenario      string  `json:"scenario"`
	FixedMs       float64 `json:"fixed_ms"`
	PerMedication float64 `json:"per_medication_ms"`
	// PerKB is PerMedication over the card JSON a drug medication adds.
	PerKB float64 `json:"per_kb_ms"`
	R2    float64 `json:"r2"`
}

// Results is results.json.
type Results struct {
	Load      string  `json:"load_at_start"`
	NoisyLoad float64 `json:"noisy_load"`
	// BusyAtStart: the 1-minute load average was above NoisyLoad when the
	// bench began, and every cell is noisy.
	BusyAtStart bool      `json:"busy_at_start"`
	Cells       []Cell    `json:"cells"`
	DataSets    []DataSet `json:"data_sets"`
	Fits        []Fit     `json:"fits"`
	Runs        []Run     `json:"runs"`
}

func main() {
	var runsFile, sizesFile, out, load string
	var noisyLoad, noisySpread float64
	flag.StringVar(&runsFile, "runs", "", "the runs, one JSON object per line")
	flag.StringVar(&sizesFile, "sizes", "", "the data sets, one JSON object per line")
	flag.StringVar(&out, "out", ".", "directory for table.txt, results.json and scale.svg")
	flag.StringVar(&load, "load", "", "the load averages when the bench began, as uptime prints them")
	flag.Float64Var(&noisyLoad, "noisy-load", 1.5, "every cell is noisy if the 1-minute load average (the first of --load) was above this when the bench began")
	flag.Float64Var(&noisySpread, "noisy-spread", 0.25, "a cell is noisy if its repeats' req/s spread (max-min)/median is above this")
	flag.Usage = func() {
		fmt.Fprintln(flag.CommandLine.Output(), "Usage: scalereport --runs runs.jsonl --sizes sizes.jsonl [--out DIR] [--load L] [--noisy-load X] [--noisy-spread Y]\n\n"+
			"Summarises make bench-scale: medians of the repeats, noisy cells marked, CPU per request\n"+
			"fitted against the drug medications per card; writes table.txt, results.json and scale.svg.\n\nFlags:")
		flag.PrintDefaults()
	}
	flag.Parse()
	if runsFile == "" || sizesFile == "" {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(runsFile, sizesFile, out, load, noisyLoad, noisySpread, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "scalereport:", err)
		os.Exit(1)
	}
}

func run(runsFile, sizesFile, out, load string, noisyLoad, noisySpread float64, stdout io.Writer) error {
	var runs []Run
	if err := readLines(runsFile, &runs); err != nil {
		return err
	}
	var sets []DataSet
	if err := readLines(sizesFile, &sets); err != nil {
		return err
	}
	res := summarise(runs, sets, load, noisyLoad, noisySpread)
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	var table strings.Builder
	writeTable(&table, res)
	if _, err := io.WriteString(stdout, table.String()); err != nil {
		return err
	}
	js, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return err
	}
	for name, body := range map[string][]byte{"table.txt": []byte(table.String()), "results.json": append(js, '\n'), "scale.svg": []byte(plot(res))} {
		if err := os.WriteFile(filepath.Join(out, name), body, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// readLines decodes one JSON value per line of file into *into (a slice).
func readLines[T any](file string, into *[]T) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		var v T
		if err := json.Unmarshal([]byte(line), &v); err != nil {
			return fmt.Errorf("%s:%d: %w", file, n, err)
		}
		*into = append(*into, v)
	}
	return sc.Err()
}

func summarise(runs []Run, sets []DataSet, load string, noisyLoad, noisySpread float64) Results {
	res := Results{Load: load, NoisyLoad: noisyLoad, DataSets: sets, Runs: runs}
	if f := strings.Fields(load); len(f) > 0 {
		l1, err := strconv.ParseFloat(f[0], 64)
		res.BusyAtStart = err == nil && l1 > noisyLoad
	}
	type key struct {
		part     string
		size     int64
		scenario string
	}
	groups := map[key][]Run{}
	var order []key
	for _, r := range runs {
		k := key{r.Part, r.Size, r.Scenario}
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], r)
	}
	slices.SortStableFunc(order, func(a, b key) int {
		if a.part != b.part {
			return strings.Compare(a.part, b.part) // cards before persons
		}
		if a.size != b.size {
			return cmp.Compare(a.size, b.size)
		}
		return slices.Index(scenarios, a.scenario) - slices.Index(scenarios, b.scenario)
	})
	for _, k := range order {
		rs := groups[k]
		c := Cell{Part: k.part, Size: k.size, Scenario: k.scenario, Repeats: len(rs)}
		pick := func(f func(Run) float64) []float64 {
			xs := make([]float64, len(rs))
			for i, r := range rs {
				xs[i] = f(r)
			}
			return xs
		}
		c.AllRPS = pick(func(r Run) float64 { return r.RPS })
		c.AllCPUMs = pick(func(r Run) float64 { return r.CPUMs })
		c.RPS = median(c.AllRPS)
		c.P50Ms = median(pick(func(r Run) float64 { return r.P50Ms }))
		c.P99Ms = median(pick(func(r Run) float64 { return r.P99Ms }))
		c.CPUMs = median(c.AllCPUMs)
		for _, r := range rs {
			c.Errors += r.Errors
			c.MaxLoad = math.Max(c.MaxLoad, r.Load1)
		}
		if c.RPS > 0 {
			c.Spread = (slices.Max(c.AllRPS) - slices.Min(c.AllRPS)) / c.RPS
		}
		c.Noisy = res.BusyAtStart || c.Spread > noisySpread
		res.Cells = append(res.Cells, c)
	}
	// Card JSON per drug medication, for the fit's per-kB figure.
	var ns, bytes []float64
	for _, s := range sets {
		if s.Part == partCards && s.CardJSONBytes > 0 {
			ns = append(ns, float64(s.Size))
			bytes = append(bytes, float64(s.CardJSONBytes))
		}
	}
	_, bytesPerMed, _ := linearFit(ns, bytes)
	for _, sc := range scenarios {
		var xs, ys []float64
		for _, c := range res.Cells {
			if c.Part == partCards && c.Scenario == sc {
				xs = append(xs, float64(c.Size))
				ys = append(ys, c.CPUMs)
			}
		}
		if len(xs) < 2 {
			continue
		}
		a, b, r2 := linearFit(xs, ys)
		f := Fit{Scenario: sc, FixedMs: a, PerMedication: b, R2: r2}
		if bytesPerMed > 0 {
			f.PerKB = b / (bytesPerMed / 1000)
		}
		res.Fits = append(res.Fits, f)
	}
	return res
}

// median of xs (the mean of the middle two for an even count); 0 for none.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// linearFit is the least-squares line y = a + b·x and its R².
func linearFit(xs, ys []float64) (a, b, r2 float64) {
	n := float64(len(xs))
	if len(xs) < 2 {
		return 0, 0, 0
	}
	var sx, sy, sxx, sxy float64
	for i := range xs {
		sx += xs[i]
		sy += ys[i]
		sxx += xs[i] * xs[i]
		sxy += xs[i] * ys[i]
	}
	den := n*sxx - sx*sx
	if den == 0 {
		return sy / n, 0, 0
	}
	b = (n*sxy - sx*sy) / den
	a = (sy - b*sx) / n
	mean := sy / n
	var ssRes, ssTot float64
	for i := range xs {
		e := ys[i] - (a + b*xs[i])
		ssRes += e * e
		ssTot += (ys[i] - mean) * (ys[i] - mean)
	}
	if ssTot == 0 {
		return a, b, 1
	}
	return a, b, 1 - ssRes/ssTot
}

func writeTable(w io.Writer, res Results) {
	fmt.Fprintf(w, "\nmake bench-scale: medians of the repeats; * noisy (the repeats' req/s spread above the limit, or the load average above %.1f when the bench began)\n", res.NoisyLoad)
	if res.Load != "" {
		busy := ""
		if res.BusyAtStart {
			busy = ": busy, every figure noisy"
		}
		fmt.Fprintf(w, "load average when the bench began: %s%s\n", res.Load, busy)
	}
	for _, part := range []string{partCards, partPersons} {
		var sets []DataSet
		for _, s := range res.DataSets {
			if s.Part == part {
				sets = append(sets, s)
			}
		}
		if len(sets) == 0 {
			continue
		}
		fmt.Fprintln(w)
		unit := "MEDS"
		if part == partPersons {
			unit = "PERSONS"
		}
		fmt.Fprintf(w, "%-9s %9s %9s %10s %12s %10s %10s %s\n", unit, "PERSONS", "CARDS", "SEED s", "DB MB", "B/CARD", "JSON B", "SHARED_BUFFERS")
		for _, s := range sets {
			fmt.Fprintf(w, "%-9d %9d %9d %10.1f %12.1f %10d %10d %s\n", s.Size, s.Persons, s.Cards, s.SeedSeconds,
				float64(s.DBBytes)/1e6, s.BytesPerCard, s.CardJSONBytes, s.SharedBuffers)
		}
		fmt.Fprintf(w, "\n%-9s %-14s %9s %9s %9s %11s %7s %7s %8s  %s\n", unit, "SCENARIO", "REQ/S", "P50 ms", "P99 ms", "CPU ms/req", "ERRORS", "SPREAD", "MAX LOAD", "REQ/S OF EACH REPEAT")
		for _, c := range res.Cells {
			if c.Part != part {
				continue
			}
			mark := " "
			if c.Noisy {
				mark = "*"
			}
			each := make([]string, len(c.AllRPS))
			for i, v := range c.AllRPS {
				each[i] = fmt.Sprintf("%.0f", v)
			}
			fmt.Fprintf(w, "%-9d %-14s %9.0f %9.2f %9.2f %11.3f %7d %6.0f%% %8.2f %s %s\n", c.Size, c.Scenario, c.RPS, c.P50Ms, c.P99Ms,
				c.CPUMs, c.Errors, 100*c.Spread, c.MaxLoad, mark, strings.Join(each, " "))
		}
	}
	if len(res.Fits) > 0 {
		fmt.Fprintln(w, "\nCPU per request against the drug medications N per card, least squares (a + b·N):")
		for _, f := range res.Fits {
			fmt.Fprintf(w, "  %-14s a = %.3f ms, b = %.4f ms per drug medication (%.4f ms per kB of card JSON), R² = %.3f\n",
				f.Scenario, f.FixedMs, f.PerMedication, f.PerKB, f.R2)
		}
	}
}
