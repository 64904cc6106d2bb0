package loadgen

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// Schema names the JSON report's format; it changes when a field changes
// meaning.
const Schema = "sharedmedcard.bench/v1"

// Report is the outcome of a run: bench.json is its JSON.
type Report struct {
	Schema string       `json:"schema"`
	Name   string       `json:"name"`
	Config ReportConfig `json:"config"`
	// Started is when the measurement (after warmup) began.
	Started time.Time `json:"started"`
	// MeasuredSeconds is how long the measurement ran; shorter than the
	// configured duration when the run was interrupted.
	MeasuredSeconds float64 `json:"measured_seconds"`
	Interrupted     bool    `json:"interrupted,omitempty"`
	// Total sums every operation.
	Total OpSummary   `json:"total"`
	Ops   []OpSummary `json:"ops"`
	// Actions counts the actions the mix chose during the measurement.
	Actions map[string]int64 `json:"actions"`
	// Unsent counts, in the open loop, actions the schedule called for
	// that no worker got to before the end: the service (or the client)
	// fell behind.
	Unsent         int64 `json:"unsent,omitempty"`
	WarmupRequests int64 `json:"warmup_requests"`
	// Series has one point per second of measurement, by completion time.
	Series     []Point `json:"series"`
	ClientCPU  CPU     `json:"client_cpu"`
	GatewayCPU *CPU    `json:"gateway_cpu,omitempty"`
}

// ReportConfig is the run's configuration as the report records it (no
// secrets).
type ReportConfig struct {
	URL         string     `json:"url"`
	Mode        string     `json:"mode"` // "closed" or "open"
	Concurrency int        `json:"concurrency"`
	Rate        float64    `json:"rate,omitempty"`
	Duration    string     `json:"duration"`
	Actions     int64      `json:"actions,omitempty"`
	Warmup      string     `json:"warmup"`
	Timeout     string     `json:"timeout"`
	Mix         []MixEntry `json:"mix"`
	Persons     int        `json:"persons"`
	Seed        uint64     `json:"seed"`
	Zipf        float64    `json:"zipf"`
	// IncludePrescriptions: GetMedicineCard asked for the whole card.
	IncludePrescriptions bool   `json:"include_prescriptions,omitempty"`
	SOAP                 string `json:"soap"`
	Auth                 string `json:"auth"` // "PasswordDigest" or "PasswordText"
	Doctor               Caller `json:"doctor"`
	Pharmacy             Caller `json:"pharmacy"`
	GatewayPID           int    `json:"gateway_pid,omitempty"`
	GoMaxProcs           int    `json:"gomaxprocs"`
}

// Caller is an Identity without its secret.
type Caller struct {
	System       string `json:"system"`
	Organisation string `json:"organisation"`
	Role         string `json:"role"`
}

// OpSummary is one operation's requests (or all of them, as "all").
type OpSummary struct {
	Op    string `json:"op"`
	Count int64  `json:"count"`
	// RPS is Count per measured second.
	RPS float64 `json:"rps"`
	// Errors are faults and failures other than the expected ones.
	Errors        int64            `json:"errors"`
	ErrorsByFault map[string]int64 `json:"errors_by_fault,omitempty"`
	// Expected are the faults the package doc names as expected.
	Expected        int64            `json:"expected"`
	ExpectedByFault map[string]int64 `json:"expected_by_fault,omitempty"`
	// Warnings counts the warnings of successful writes by code.
	Warnings map[string]int64 `json:"warnings,omitempty"`
	Latency  Latency          `json:"latency"`
	// HDR is the latency histogram (µs) in the HdrHistogram V2 compressed
	// Base64 encoding, for merging runs or plotting with HdrHistogram tools.
	HDR string `json:"hdr,omitempty"`
}

// Latency are percentiles of an operation's latencies, in milliseconds.
type Latency struct {
	P50Ms  float64 `json:"p50_ms"`
	P90Ms  float64 `json:"p90_ms"`
	P95Ms  float64 `json:"p95_ms"`
	P99Ms  float64 `json:"p99_ms"`
	P999Ms float64 `json:"p999_ms"`
	MaxMs  float64 `json:"max_ms"`
	MeanMs float64 `json:"mean_ms"`
}

// Point is one second of the measurement: the requests completed in it.
type Point struct {
	T        int     `json:"t"` // seconds since the measurement began
	Requests int64   `json:"requests"`
	RPS      float64 `json:"rps"`
	Errors   int64   `json:"errors"`
	P50Ms    float64 `json:"p50_ms"`
	P99Ms    float64 `json:"p99_ms"`
	MaxMs    float64 `json:"max_ms"`
}

// CPU is a process's CPU time (user and system) over the measurement.
type CPU struct {
	PID     int     `json:"pid,omitempty"`
	Seconds float64 `json:"seconds"`
	// PerThousandRequests is CPU seconds per 1,000 measured requests.
	PerThousandRequests float64 `json:"per_1000_requests"`
	// Cores is the average number of cores busy: Seconds per measured
	// second.
	Cores float64 `json:"cores"`
	Error string  `json:"error,omitempty"`
}

// ReadReport reads a bench.json.
func ReadReport(r io.Reader) (*Report, error) {
	var rep Report
	if err := json.NewDecoder(r).Decode(&rep); err != nil {
		return nil, fmt.Errorf("read report: %w", err)
	}
	if rep.Schema != Schema {
		return nil, fmt.Errorf("read report: schema %q, want %q", rep.Schema, Schema)
	}
	return &rep, nil
}

// WriteJSON writes the report as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteFiles writes bench.json and bench.svg into dir, creating it, and
// returns their paths.
func (r *Report) WriteFiles(dir string) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	var paths []string
	for _, f := range []struct {
		name  string
		write func(io.Writer) error
	}{{"bench.json", r.WriteJSON}, {"bench.svg", r.WriteSVG}} {
		p := filepath.Join(dir, f.name)
		if err := writeFile(p, f.write); err != nil {
			return paths, err
		}
		paths = append(paths, p)
	}
	return paths, nil
}

func writeFile(path string, write func(io.Writer) error) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // after the rename there is nothing to remove
	if err := write(tmp); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// WriteTable writes the report for a person: the per-operation table,
// then errors, warnings and CPU use.
func (r *Report) WriteTable(w io.Writer) error {
	c := r.Config
	mode := fmt.Sprintf("closed loop, %d workers", c.Concurrency)
	if c.Mode == "open" {
		mode = fmt.Sprintf("open loop, %g actions/s (up to %d in flight)", c.Rate, c.Concurrency)
	}
	dist := "uniform"
	if c.Zipf > 0 {
		dist = fmt.Sprintf("Zipf s=%g", c.Zipf)
	}
	name := r.Name
	if name == "" {
		name = "bench"
	}
	fmt.Fprintf(w, "%s: %s, %.1fs measured after %s warmup, SOAP %s, %s, %d persons (%s)\n",
		name, mode, r.MeasuredSeconds, c.Warmup, c.SOAP, c.Auth, c.Persons, dist)
	if r.Interrupted {
		fmt.Fprintln(w, "interrupted: the figures cover the part that ran")
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "op\tcount\trps\terrors\tp50 ms\tp95 ms\tp99 ms\tmax ms\t")
	row := func(s OpSummary) {
		errs := fmt.Sprint(s.Errors)
		if s.Count > 0 && s.Errors > 0 {
			errs = fmt.Sprintf("%d (%.1f%%)", s.Errors, 100*float64(s.Errors)/float64(s.Count))
		}
		fmt.Fprintf(tw, "%s\t%d\t%.1f\t%s\t%s\t%s\t%s\t%s\t\n", s.Op, s.Count, s.RPS, errs,
			fmtMs(s.Latency.P50Ms), fmtMs(s.Latency.P95Ms), fmtMs(s.Latency.P99Ms), fmtMs(s.Latency.MaxMs))
	}
	for _, s := range r.Ops {
		row(s)
	}
	row(r.Total)
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	if len(r.Total.ErrorsByFault) > 0 {
		fmt.Fprintf(w, "errors: %s\n", fmtCounts(r.Total.ErrorsByFault))
	}
	if len(r.Total.ExpectedByFault) > 0 {
		fmt.Fprintf(w, "expected faults (not errors): %s\n", fmtCounts(r.Total.ExpectedByFault))
	}
	if len(r.Total.Warnings) > 0 {
		fmt.Fprintf(w, "warnings: %s\n", fmtCounts(r.Total.Warnings))
	}
	if r.Unsent > 0 {
		fmt.Fprintf(w, "unsent: %d actions the schedule called for were never sent (the target rate was not kept)\n", r.Unsent)
	}
	fmt.Fprintf(w, "actions: %s\n", fmtCounts(r.Actions))
	fmt.Fprintf(w, "client CPU: %s\n", fmtCPU(r.ClientCPU))
	if g := r.GatewayCPU; g != nil {
		fmt.Fprintf(w, "gateway CPU (pid %d): %s\n", g.PID, fmtCPU(*g))
	}
	return nil
}

func fmtMs(v float64) string {
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}

func fmtCPU(c CPU) string {
	if c.Error != "" {
		return "unknown (" + c.Error + ")"
	}
	return fmt.Sprintf("%.2f s (%.2f cores), %.3f s per 1,000 requests", c.Seconds, c.Cores, c.PerThousandRequests)
}

// fmtCounts writes "a=3 b=1", largest first.
func fmtCounts(m map[string]int64) string {
	keys := slices.Collect(maps.Keys(m))
	slices.SortFunc(keys, func(a, b string) int {
		if m[a] != m[b] {
			if m[a] > m[b] {
				return -1
			}
			return 1
		}
		return strings.Compare(a, b)
	})
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%d", k, m[k])
	}
	return strings.Join(parts, " ")
}
