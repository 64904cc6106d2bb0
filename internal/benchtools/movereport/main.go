// Command movereport summarises the moves of a rebalance from the
// catalog's journal for `make bench-rebalance`: how long it took, the copy
// rate, the write freeze per shard (median, p99, max), and an SVG of the
// freeze of every move in the order they flipped, beside the client
// latency over the same seconds (from the load generator's bench.json).
//
//	movereport --catalog-dsn DSN --plan ID [--bench bench.json] --out DIR [--json]
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Summary is what the report prints and saves as moves.json.
type Summary struct {
	Plan            int64   `json:"plan"`
	Moves           int     `json:"moves"`
	Done            int     `json:"done"`
	TotalSeconds    float64 `json:"totalSeconds"`
	CopiedBytes     int64   `json:"copiedBytes"`
	CopiedRows      int64   `json:"copiedRows"`
	CopyMBps        float64 `json:"copyMBps"`        // bytes copied / the rebalance's wall time
	PerMoveCopyMBps float64 `json:"perMoveCopyMBps"` // median of each move's bytes / its copy time
	FreezeP50Ms     float64 `json:"freezeP50Ms"`
	FreezeP99Ms     float64 `json:"freezeP99Ms"`
	FreezeMaxMs     float64 `json:"freezeMaxMs"`
	FreezeRetries   int     `json:"freezeRetries"` // freezes abandoned and tried again
	// UntilFlip is the freeze until the map named the target: from then a
	// gateway on the current map (told at once, LISTEN/NOTIFY) writes at
	// the target; only one still on the old map waits for the release,
	// which the freeze above counts.
	UntilFlipP50Ms float64 `json:"untilFlipP50Ms"`
	UntilFlipP99Ms float64 `json:"untilFlipP99Ms"`
	UntilFlipMaxMs float64 `json:"untilFlipMaxMs"`
	// Parts are the freeze's parts (p50 and p99 of each, in ms), from the
	// journal of each move's last freeze step.
	Parts      []FreezePart `json:"parts"`
	Mismatches int64        `json:"mismatches"`
}

// FreezePart is one part of the freeze, over every move.
type FreezePart struct {
	Name  string  `json:"name"`
	P50Ms float64 `json:"p50Ms"`
	P99Ms float64 `json:"p99Ms"`
}

// freezeMarks are the marks of a freeze step's journal detail (shard/move:
// freezeTimings and flipAndRelease), each the time since the freeze began;
// a part is the time from the mark before.
var freezeMarks = []struct{ name, label string }{
	{"freeze statement", "frozen at"},
	{"last changes to the target, owned there", "last changes at the target and owned there"},
	{"rest of the fence wait", "fence held"},
	{"to the flip", "flip from"},
	{"map flip in the catalog", "map flipped"},
	{"release at the source", "released"},
}

// mapFlipped is the index of the mark of the map's flip.
var mapFlipped = slices.IndexFunc(freezeMarks, func(m struct{ name, label string }) bool { return m.label == "map flipped" })

// parseFreezeDetail reads the marks of a freeze step's detail; ok is false
// when one is missing.
func parseFreezeDetail(detail string) (marks []float64, ok bool) {
	for _, m := range freezeMarks {
		i := strings.LastIndex(detail, m.label+" ")
		if i < 0 {
			return nil, false
		}
		var v float64
		if _, err := fmt.Sscanf(detail[i+len(m.label)+1:], "%f", &v); err != nil {
			return nil, false
		}
		marks = append(marks, v)
	}
	return marks, true
}

type moveRow struct {
	id                 int64
	shard              int
	started, finished  time.Time
	bytes, rows        int64
	copySecs, freezeMs float64
	tries              int
	mismatches         int64
	freezeDetail       string // the last freeze step's journal detail
}

func main() {
	var dsn, out, benchFile string
	var plan int64
	var asJSON bool
	flag.StringVar(&dsn, "catalog-dsn", os.Getenv("MEDCARD_CATALOG_DSN"), "catalog database (env MEDCARD_CATALOG_DSN)")
	flag.Int64Var(&plan, "plan", 0, "the rebalance's plan ID")
	flag.StringVar(&benchFile, "bench", "", "bench.json of the load that ran during the rebalance (for the latency panel)")
	flag.StringVar(&out, "out", ".", "directory for moves.json and moves.svg")
	flag.BoolVar(&asJSON, "json", false, "print JSON instead of a table")
	flag.Usage = func() {
		fmt.Fprintln(flag.CommandLine.Output(), "Usage: movereport --catalog-dsn DSN --plan ID [--bench bench.json] [--out DIR] [--json]\n\nSummarises a rebalance's moves from the catalog journal; writes moves.json and moves.svg.\n\nFlags:")
		flag.PrintDefaults()
	}
	flag.Parse()
	if dsn == "" || plan == 0 {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(dsn, plan, benchFile, out, asJSON); err != nil {
		fmt.Fprintln(os.Stderr, "movereport:", err)
		os.Exit(1)
	}
}

func run(dsn string, plan int64, benchFile, out string, asJSON bool) error {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT id, shard, coalesce(started_at, created_at), coalesce(finished_at, updated_at),
		bytes_total, rows_copied, coalesce(copy_seconds, 0), coalesce(freeze_ms, 0), freeze_tries, coalesce(mismatches, 0),
		coalesce((SELECT detail FROM move_steps WHERE move_id = moves.id AND step = 'freeze' ORDER BY seq DESC LIMIT 1), '')
		FROM moves WHERE plan_id = $1 AND state IN ('done', 'cleaned') ORDER BY finished_at`, plan)
	if err != nil {
		return err
	}
	moves, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (moveRow, error) {
		var m moveRow
		err := r.Scan(&m.id, &m.shard, &m.started, &m.finished, &m.bytes, &m.rows, &m.copySecs, &m.freezeMs, &m.tries, &m.mismatches, &m.freezeDetail)
		return m, err
	})
	if err != nil {
		return err
	}
	var total int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM moves WHERE plan_id = $1`, plan).Scan(&total); err != nil {
		return err
	}
	if len(moves) == 0 {
		return fmt.Errorf("plan %d has no finished moves", plan)
	}
	s := Summary{Plan: plan, Moves: total, Done: len(moves)}
	first, last := moves[0].started, moves[0].finished
	var freezes, rates, untilFlip []float64
	parts := make([][]float64, len(freezeMarks))
	for _, m := range moves {
		if marks, ok := parseFreezeDetail(m.freezeDetail); ok {
			untilFlip = append(untilFlip, marks[mapFlipped])
			for i := range marks {
				prev := 0.0
				if i > 0 {
					prev = marks[i-1]
				}
				parts[i] = append(parts[i], marks[i]-prev)
			}
		}
		if m.started.Before(first) {
			first = m.started
		}
		if m.finished.After(last) {
			last = m.finished
		}
		s.CopiedBytes += m.bytes
		s.CopiedRows += m.rows
		s.FreezeRetries += max(0, m.tries-1)
		s.Mismatches += m.mismatches
		freezes = append(freezes, m.freezeMs)
		if m.copySecs > 0 {
			rates = append(rates, float64(m.bytes)/m.copySecs/1e6)
		}
	}
	s.TotalSeconds = last.Sub(first).Seconds()
	if s.TotalSeconds > 0 {
		s.CopyMBps = float64(s.CopiedBytes) / s.TotalSeconds / 1e6
	}
	s.PerMoveCopyMBps = quantile(rates, 0.5)
	s.FreezeP50Ms = quantile(freezes, 0.5)
	s.FreezeP99Ms = quantile(freezes, 0.99)
	s.FreezeMaxMs = quantile(freezes, 1)
	s.UntilFlipP50Ms = quantile(untilFlip, 0.5)
	s.UntilFlipP99Ms = quantile(untilFlip, 0.99)
	s.UntilFlipMaxMs = quantile(untilFlip, 1)
	for i, m := range freezeMarks {
		s.Parts = append(s.Parts, FreezePart{Name: m.name, P50Ms: quantile(parts[i], 0.5), P99Ms: quantile(parts[i], 0.99)})
	}

	var latency []point
	if benchFile != "" {
		if latency, err = readSeries(benchFile); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	body, _ := json.MarshalIndent(s, "", "  ")
	if err := os.WriteFile(filepath.Join(out, "moves.json"), body, 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(out, "moves.svg"), []byte(plot(moves, first, latency, s)), 0o644); err != nil {
		return err
	}
	if asJSON {
		fmt.Println(string(body))
		return nil
	}
	fmt.Printf("plan %d: %d of %d moves done in %.1f s; %.1f MB (%d rows) copied, %.2f MB/s overall, %.2f MB/s per move (median)\n",
		plan, s.Done, s.Moves, s.TotalSeconds, float64(s.CopiedBytes)/1e6, s.CopiedRows, s.CopyMBps, s.PerMoveCopyMBps)
	fmt.Printf("write freeze per shard: p50 %.1f ms, p99 %.1f ms, max %.1f ms; %d freezes abandoned and retried; verify mismatches %d\n",
		s.FreezeP50Ms, s.FreezeP99Ms, s.FreezeMaxMs, s.FreezeRetries, s.Mismatches)
	fmt.Printf("  of it until the map named the target: p50 %.1f ms, p99 %.1f ms, max %.1f ms (%d of %d moves journaled it)\n",
		s.UntilFlipP50Ms, s.UntilFlipP99Ms, s.UntilFlipMaxMs, len(untilFlip), len(moves))
	fmt.Printf("  %-40s %8s %8s\n", "part of the freeze", "p50 ms", "p99 ms")
	for _, p := range s.Parts {
		fmt.Printf("  %-40s %8.1f %8.1f\n", p.Name, p.P50Ms, p.P99Ms)
	}
	return nil
}

func quantile(xs []float64, q float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	i := int(math.Ceil(q*float64(len(s)))) - 1
	return s[max(0, min(i, len(s)-1))]
}

// point is one second of the load generator's series.
type point struct {
	T     float64 // seconds since the rebalance's first move began
	P99Ms float64
	Errs  int64
}

func readSeries(file string) ([]point, error) {
	body, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	var r struct {
		Started time.Time `json:"started"`
		Series  []struct {
			T      int     `json:"t"`
			P99Ms  float64 `json:"p99_ms"`
			Errors int64   `json:"errors"`
		} `json:"series"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	out := make([]point, len(r.Series))
	for i, p := range r.Series {
		// Kept relative to the load's start here; plot shifts it.
		out[i] = point{T: float64(p.T) + float64(r.Started.Unix()), P99Ms: p.P99Ms, Errs: p.Errors}
	}
	return out, nil
}

// plot draws two panels over the rebalance's seconds: each move's write
// freeze at the moment it finished (with the p99 as a line), and the
// clients' p99 latency per second.
func plot(moves []moveRow, first time.Time, latency []point, s Summary) string {
	const w, h, left, right = 960.0, 600.0, 70.0, 930.0
	top1, bot1, top2, bot2 := 60.0, 280.0, 340.0, 560.0
	span := max(s.TotalSeconds, 1)
	x := func(t float64) float64 { return left + (right-left)*t/span }
	maxFreeze := max(s.FreezeMaxMs, 1)
	y1 := func(v float64) float64 { return bot1 - (bot1-top1)*v/maxFreeze }
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" font-family="sans-serif" font-size="12">`, w, h)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`)
	fmt.Fprintf(&b, `<text x="%.0f" y="25" font-size="15">Rebalance, plan %d: %d moves in %.0f s; write freeze per shard p50 %.0f ms, p99 %.0f ms, max %.0f ms</text>`,
		left, s.Plan, s.Done, s.TotalSeconds, s.FreezeP50Ms, s.FreezeP99Ms, s.FreezeMaxMs)
	axes := func(top, bot float64, label string, maxV float64) {
		fmt.Fprintf(&b, `<line x1="%.0f" y1="%.0f" x2="%.0f" y2="%.0f" stroke="black"/>`, left, bot, right, bot)
		fmt.Fprintf(&b, `<line x1="%.0f" y1="%.0f" x2="%.0f" y2="%.0f" stroke="black"/>`, left, top, left, bot)
		fmt.Fprintf(&b, `<text x="10" y="%.0f">%s</text>`, top-8, label)
		for i := 0; i <= 4; i++ {
			v := maxV * float64(i) / 4
			yy := bot - (bot-top)*float64(i)/4
			fmt.Fprintf(&b, `<text x="%.0f" y="%.0f" text-anchor="end">%.0f</text>`, left-5, yy+4, v)
			fmt.Fprintf(&b, `<line x1="%.0f" y1="%.1f" x2="%.0f" y2="%.1f" stroke="#eee"/>`, left, yy, right, yy)
		}
		for i := 0; i <= 6; i++ {
			t := span * float64(i) / 6
			fmt.Fprintf(&b, `<text x="%.1f" y="%.0f" text-anchor="middle">%.0f s</text>`, x(t), bot+16, t)
		}
	}
	axes(top1, bot1, "write freeze per shard (ms), at the moment each move finished", maxFreeze)
	for _, m := range moves {
		fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="2" fill="#1f77b4"/>`, x(m.finished.Sub(first).Seconds()), y1(m.freezeMs))
	}
	fmt.Fprintf(&b, `<line x1="%.0f" y1="%.1f" x2="%.0f" y2="%.1f" stroke="#d62728" stroke-dasharray="4 3"/><text x="%.0f" y="%.1f" fill="#d62728">p99</text>`,
		left, y1(s.FreezeP99Ms), right, y1(s.FreezeP99Ms), right-25, y1(s.FreezeP99Ms)-4)
	if len(latency) > 0 {
		maxLat := 1.0
		for _, p := range latency {
			maxLat = max(maxLat, p.P99Ms)
		}
		axes(top2, bot2, "clients' p99 latency per second (ms); red: seconds with failed requests", maxLat)
		y2 := func(v float64) float64 { return bot2 - (bot2-top2)*v/maxLat }
		var path strings.Builder
		for _, p := range latency {
			t := p.T - float64(first.Unix())
			if t < 0 || t > span {
				continue
			}
			cmd := "L"
			if path.Len() == 0 {
				cmd = "M"
			}
			fmt.Fprintf(&path, "%s%.1f %.1f ", cmd, x(t), y2(p.P99Ms))
			if p.Errs > 0 {
				fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="3" fill="#d62728"/>`, x(t), y2(p.P99Ms))
			}
		}
		fmt.Fprintf(&b, `<path d="%s" fill="none" stroke="#2ca02c" stroke-width="1.5"/>`, path.String())
	}
	b.WriteString(`</svg>`)
	return b.String()
}
