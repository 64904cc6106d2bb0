package robustness

import (
	"context"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/sharedmedcard/gateway/shard"
)

// RunConfig says what one run does.
type RunConfig struct {
	// Class is the fault class (see Classes).
	Class string
	// Tag is the gateway binary's build tag ("" for the shipped binary;
	// seedbug_* plant a bug).
	Tag string
	// Duration is how long the clients run when Ops is 0.
	Duration time.Duration
	// Ops, when set, makes the run go on until at least this many
	// operations ended (and at least one fault cycle and its recovery
	// window passed), repeating the fault every cycle; bounded by MaxDuration.
	Ops         int
	MaxDuration time.Duration
	// Cycles, when set, makes the run inject its fault at least this many
	// times (each cycle as in an Ops run), e.g. ten failovers to measure.
	Cycles int
	// Writers and Readers are the client counts (default 8 and 8).
	Writers, Readers int
	// Persons is the number of hot persons (default 20); RetireAfter the
	// writes after which a person is replaced by a fresh one (default 60).
	Persons, RetireAfter int
	// ResultsDir is where failing runs' reports go (default
	// <repo>/robustness-results).
	ResultsDir string
	// Logf receives progress lines (e.g. t.Logf); nil: none.
	Logf func(format string, args ...any)
}

func (c *RunConfig) defaults() {
	if c.Duration == 0 && c.Ops == 0 {
		c.Duration = 6 * time.Second
	}
	if c.MaxDuration == 0 {
		c.MaxDuration = 30 * time.Minute
	}
	if c.Writers == 0 {
		c.Writers = 8
	}
	if c.Readers == 0 {
		c.Readers = 8
	}
	if c.Persons == 0 {
		c.Persons = 20
	}
	if c.RetireAfter == 0 {
		c.RetireAfter = 60
	}
	if c.Logf == nil {
		c.Logf = func(string, ...any) {}
	}
}

// RunStats is the summary of one run, one row of the summary table.
type RunStats struct {
	Class, Tag string
	Ops        int
	Writes     int
	Acked      int            // acknowledged writes
	Failed     map[string]int // writes with a definite fault, by FaultIdentifier
	Unknown    int            // writes that stayed unknown
	// FailedSends are the sends (resends included) that got no success
	// answer: faults of any kind, retryable or not, and no answer at all.
	FailedSends int
	// UnknownApplied are unknown writes found on the final card.
	UnknownApplied int
	Lost           int
	Duplicated     int
	Stale          int // reads older than a write acknowledged before they began
	// NotLinearizable is how many persons' operations porcupine found no
	// order for (reads going back in time among them); -1 when it timed
	// out before deciding.
	NotLinearizable int
	AppliedFault    int
	Internal        int // operations answered InternalError
	// Caught names the checks that failed the run, with their findings.
	Caught string
	// LongestRequest is the longest write exchange (Invoke to Return) or
	// read that got an answer.
	LongestRequest time.Duration
	// Recovery is, for the fault cycle that took longest to recover, the
	// time from the heal until every gateway had acknowledged a write
	// attempt sent to it after the heal; -1 when some gateway never did
	// before the clients stopped; 0 for the class none.
	Recovery time.Duration
	// WritePauses are, for each fault cycle, the longest time some shard
	// database acknowledged no write while clients were writing to it:
	// the gap between two consecutive acknowledged writes of its persons
	// that overlaps the cycle (from the fault until the end of its
	// recovery window). For a failover, the time without writes.
	WritePauses []time.Duration
	Elapsed     time.Duration
	// OK is the judge's verdict; Verdict its text; Report the report
	// directory of a failing run.
	OK      bool
	Verdict string
	Report  string
	// NemesisErr is an error of the nemesis itself (a fault it could not
	// inject or heal); a run with one is failed.
	NemesisErr string
}

// recoveryWindow is how long the clients go on after a heal before the
// run may end, so that recovery is measured and late damage seen.
const recoveryWindow = 3 * time.Second

// Run runs one class against c: starts gateways of the right binary (kept
// from the previous run when they match), starts the clients, lets the
// nemesis inject and heal its fault (at a third of the run; every cycle of
// cycleEvery again in an Ops run), stops the clients, reads the final
// cards, judges the history, and on a failing run writes a report under
// ResultsDir. The error is for a run that could not be set up; a run that
// was set up returns its history and stats, failing or not.
func Run(ctx context.Context, c *Cluster, cfg RunConfig) (History, RunStats, error) {
	cfg.defaults()
	nem, ok := nemeses[cfg.Class]
	if !ok {
		return History{}, RunStats{}, fmt.Errorf("robustness: unknown class %q (have %s)", cfg.Class, strings.Join(Classes(), ", "))
	}
	if nem.needsPatroni != (c.Storage.Patroni != nil) {
		return History{}, RunStats{}, fmt.Errorf("robustness: class %s needs a cluster started with ClusterOptions{Patroni: %v}", cfg.Class, nem.needsPatroni)
	}
	spec := GatewaySpec{Tag: cfg.Tag, Sentinel: nem.needsSentinel}
	if err := c.EnsureGateways(ctx, spec); err != nil {
		return History{}, RunStats{}, err
	}
	c.mu.Lock()
	c.runs++
	runTag := fmt.Sprintf("r%d", c.runs)
	persons := newPersonPool(&c.nextPerson, cfg.Persons, cfg.RetireAfter)
	c.mu.Unlock()
	logStart := c.logSizes()

	w := &workload{gateways: c.Gateways, persons: persons, rec: &recorder{}, http: newHTTPClient(clientTimeout),
		runTag: runTag, today: time.Now().Format("2006-01-02")}
	env := &NemesisEnv{Cluster: c, HotPersons: persons.hotNow, PinPersons: persons.pin, Logf: cfg.Logf}

	start := time.Now()
	stop := make(chan struct{})
	clientsDone := make(chan struct{})
	go func() { w.runClients(stop, cfg.Writers, cfg.Readers); close(clientsDone) }()

	var heals []time.Time
	var cycles []faultCycle
	var nemErr error
	first := cfg.Duration / 3
	repeat := cfg.Ops > 0 || cfg.Cycles > 1
	if repeat {
		first = 2 * time.Second
	}
	sleepCtx(ctx, first)
	for cycle := 0; ; cycle++ {
		cfg.Logf("%s: fault cycle %d at %v (%d ops so far)", cfg.Class, cycle, time.Since(start).Round(time.Millisecond), w.rec.done.Load())
		cycleStart := time.Now()
		healed, err := nem.run(ctx, env)
		cycles = append(cycles, faultCycle{start: cycleStart, end: time.Now().Add(recoveryWindow)})
		if err != nil {
			nemErr = fmt.Errorf("cycle %d: %w", cycle, err)
			cfg.Logf("%s: nemesis: %v", cfg.Class, nemErr)
			break
		}
		if !healed.IsZero() {
			heals = append(heals, healed)
		}
		sleepCtx(ctx, recoveryWindow)
		enough := int(w.rec.done.Load()) >= cfg.Ops && cycle+1 >= cfg.Cycles
		if !repeat || enough || time.Since(start) > cfg.MaxDuration || ctx.Err() != nil {
			break
		}
		sleepCtx(ctx, cycleEvery)
	}
	if !repeat {
		sleepCtx(ctx, cfg.Duration-time.Since(start))
	}
	close(stop)
	<-clientsDone
	// A fault a nemesis could not heal must not outlive the run.
	if nem.heal != nil {
		if err := nem.heal(context.WithoutCancel(ctx), env); err != nil && nemErr == nil {
			nemErr = fmt.Errorf("final heal: %w", err)
		}
	}
	if err := c.EnsureGateways(ctx, spec); err != nil && nemErr == nil {
		nemErr = fmt.Errorf("gateways after the run: %w", err)
	}

	h := History{Operations: w.rec.ops, Moves: env.movesSoFar()}
	final, err := readFinal(ctx, c, persons.everyone())
	if err != nil {
		return h, RunStats{}, err
	}
	h.Final = final

	res := judge(h, nem)
	st := stats(h, cfg, res)
	st.Elapsed = time.Since(start)
	st.Recovery = recovery(heals, w.rec.acks, len(c.Gateways))
	byDB := writePauses(h, cycles)
	st.WritePauses = make([]time.Duration, len(cycles))
	for _, db := range slices.Sorted(maps.Keys(byDB)) {
		pauses := byDB[db]
		for i, p := range pauses {
			st.WritePauses[i] = max(st.WritePauses[i], p)
		}
		if len(pauses) > 0 {
			cfg.Logf("%s: %s's longest write pause in each of %d fault cycles: p50 %v, max %v", cfg.Class, db, len(pauses),
				median(pauses).Round(time.Millisecond), slices.Max(pauses).Round(time.Millisecond))
		}
	}
	logLongest(cfg, h, res)
	for _, t := range MovesTraffic(h) {
		cfg.Logf("%s: move %d (shard %d %s→%s): %d reads and %d writes in flight from its freeze to %v after its flip",
			cfg.Class, t.Move, t.Shard, t.Source, t.Target, t.Reads, t.Writes, staleMapWindow)
	}
	if cfg.Class == "none" {
		st.Recovery = 0
	}
	ok = res.OK()
	var verdict strings.Builder
	_ = WriteVerdict(&verdict, res)
	text := verdict.String()
	if nemErr != nil {
		ok = false
		st.NemesisErr = nemErr.Error()
		text = "nemesis error: " + nemErr.Error() + "\n" + text
	}
	st.OK, st.Verdict = ok, text
	if !ok {
		dir, err := saveFailedRun(c, cfg, h, res, st, logStart)
		if err != nil {
			cfg.Logf("%s: writing the report: %v", cfg.Class, err)
		}
		st.Report = dir
	}
	return h, st, nil
}

// logLongest logs the run's longest request, placed among the shard
// moves of the run if it had any.
func logLongest(cfg RunConfig, h History, res Result) {
	s := res.Verdict.Summary
	if s.LongestRequest == 0 || s.LongestRequestOp >= len(h.Operations) {
		return
	}
	op := h.Operations[s.LongestRequestOp]
	where := ""
	if len(h.Moves) > 0 {
		where = "; it began " + moveStepAt(h.Moves, shard.Of(op.Person), op.Invoke)
	}
	cfg.Logf("%s: longest request %v: op %d, a %s of shard %d, %d attempts on %v, outcome %s%s", cfg.Class,
		s.LongestRequest.Round(time.Millisecond), op.ID, op.Kind, shard.Of(op.Person), op.Attempts, op.Gateways, op.Outcome, where)
}

// cycleEvery is the pause between fault cycles of an Ops run.
const cycleEvery = 4 * time.Second

func sleepCtx(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// checkTimeout bounds porcupine's search in one run.
const checkTimeout = 2 * time.Minute

// judge is the one place the checkers are called: the set checks and
// porcupine's linearizability per person (check.go, model.go); for a
// class whose fault clients must not see, CheckNoClientFaults and
// CheckMovesTraffic; for a class that spares databases, CheckNoClientFaults
// over their persons' operations.
func judge(h History, nem nemesis) Result {
	res := Check(h, checkTimeout)
	if nem.noClientFaults {
		res.Verdict.Findings = append(res.Verdict.Findings, CheckNoClientFaults(h)...)
		res.Verdict.Findings = append(res.Verdict.Findings, CheckMovesTraffic(h)...)
	}
	if len(nem.spared) > 0 {
		spared := History{Moves: h.Moves, Final: h.Final}
		for _, op := range h.Operations {
			if slices.Contains(nem.spared, h.Final[op.Person].Database) {
				spared.Operations = append(spared.Operations, op)
			}
		}
		res.Verdict.Findings = append(res.Verdict.Findings, CheckNoClientFaults(spared)...)
	}
	return res
}

// stats counts what the summary table shows.
func stats(h History, cfg RunConfig, res Result) RunStats {
	s := res.Verdict.Summary
	st := RunStats{Class: cfg.Class, Tag: cfg.Tag, Ops: len(h.Operations), Failed: s.FailedByCode,
		Writes: s.Writes, Acked: s.Acked, Unknown: s.Unknown, UnknownApplied: s.UnknownApplied, FailedSends: s.FailedSends,
		Lost: s.Lost, Duplicated: s.Duplicated, Stale: s.StaleReads, AppliedFault: s.AppliedDespiteFault,
		LongestRequest: s.LongestRequest, NotLinearizable: len(res.Linearizability.Illegal)}
	if res.Inconclusive() {
		st.NotLinearizable = -1
	}
	var caught []string
	for _, check := range res.Failed() {
		n := len(res.Verdict.Of(check))
		switch check {
		case CheckLinearizable:
			n = len(res.Linearizability.Illegal)
		case CheckInternalError:
			st.Internal = n
		case CheckResendAnswer:
			st.Duplicated += n
		}
		caught = append(caught, fmt.Sprintf("%s (%d)", check, n))
	}
	if res.Inconclusive() {
		caught = append(caught, "linearizable (porcupine timed out)")
	}
	st.Caught = strings.Join(caught, ", ")
	return st
}

// faultCycle is when one nemesis cycle began and when its recovery window
// ended.
type faultCycle struct{ start, end time.Time }

// writePauses is, per shard database and for each cycle, the longest gap
// between consecutive acknowledged writes (their answers) to the database
// that overlaps the cycle; the database of a person is the one holding its
// shard at the end of the run (History.Final).
func writePauses(h History, cycles []faultCycle) map[string][]time.Duration {
	acks := map[string][]time.Time{}
	for _, op := range h.Operations {
		if op.Kind == OpWrite && op.Outcome == OutcomeOK {
			db := h.Final[op.Person].Database
			acks[db] = append(acks[db], op.Return)
		}
	}
	for _, ts := range acks {
		slices.SortFunc(ts, time.Time.Compare)
	}
	out := map[string][]time.Duration{}
	for db, ts := range acks {
		pauses := make([]time.Duration, len(cycles))
		for i, c := range cycles {
			for j := 1; j < len(ts); j++ {
				if ts[j].After(c.start) && ts[j-1].Before(c.end) {
					pauses[i] = max(pauses[i], ts[j].Sub(ts[j-1]))
				}
			}
		}
		out[db] = pauses
	}
	return out
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

// recovery is the longest time over heals until every gateway acknowledged
// a write attempt after it, or -1 when some gateway never did.
func recovery(heals []time.Time, acks []gatewayAck, gateways int) time.Duration {
	var worst time.Duration
	for _, heal := range heals {
		first := map[string]time.Time{}
		for _, a := range acks {
			if a.at.After(heal) {
				if t, ok := first[a.gateway]; !ok || a.at.Before(t) {
					first[a.gateway] = a.at
				}
			}
		}
		if len(first) < gateways {
			return -1
		}
		for _, t := range first {
			worst = max(worst, t.Sub(heal))
		}
	}
	return worst
}

// saveFailedRun writes a failing run's report: the history, the verdict,
// the stats and what each log got during the run (the last 4 MiB of it).
func saveFailedRun(c *Cluster, cfg RunConfig, h History, res Result, st RunStats, logStart map[string]int64) (string, error) {
	base := cfg.ResultsDir
	if base == "" {
		root, err := repoRoot()
		if err != nil {
			return "", err
		}
		base = filepath.Join(root, "robustness-results")
	}
	name := cfg.Class
	if cfg.Tag != "" {
		name += "-" + cfg.Tag
	}
	dir := filepath.Join(base, name+"-"+time.Now().Format("20060102-150405.000"))
	if err := os.MkdirAll(filepath.Join(dir, "logs"), 0o755); err != nil {
		return "", err
	}
	// history.json, verdict.txt and, when porcupine found no order,
	// porcupine.html; summary.txt is this run's row of the table.
	if err := WriteReport(dir, h, res, checkTimeout); err != nil {
		return dir, err
	}
	summary := FormatSummary([]RunStats{st})
	if st.NemesisErr != "" {
		summary += "\nnemesis error: " + st.NemesisErr + "\n"
	}
	if err := os.WriteFile(filepath.Join(dir, "summary.txt"), []byte(summary), 0o644); err != nil {
		return dir, err
	}
	for name, path := range c.logFiles() {
		copyLogSlice(path, filepath.Join(dir, "logs", name), logStart[name])
	}
	return dir, nil
}

// copyLogSlice copies what src got from offset on, at most its last 4 MiB.
func copyLogSlice(src, dst string, offset int64) {
	const most = 4 << 20
	in, err := os.Open(src)
	if err != nil {
		return
	}
	defer in.Close()
	st, err := in.Stat()
	if err != nil {
		return
	}
	if st.Size() < offset { // the file was replaced (a restarted server)
		offset = 0
	}
	offset = max(offset, st.Size()-most)
	if _, err := in.Seek(offset, io.SeekStart); err != nil {
		return
	}
	out, err := os.Create(dst)
	if err != nil {
		return
	}
	defer out.Close()
	io.Copy(out, io.LimitReader(in, most))
}

// FormatSummary is the table of runs: one row per run.
func FormatSummary(rows []RunStats) string {
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 2, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "class\tops\twrites\tacked\tfailed sends\tfailed by fault\tunknown\tunknown-applied\tlost\tduplicated\tstale reads\tnot linearizable\tapplied-despite-fault\tlongest request\trecovery\twrite pause\tverdict\t")
	for _, r := range rows {
		notLin := fmt.Sprint(r.NotLinearizable)
		if r.NotLinearizable < 0 {
			notLin = "timeout"
		}
		codes := make([]string, 0, len(r.Failed))
		for code, n := range r.Failed {
			codes = append(codes, fmt.Sprintf("%s=%d", code, n))
		}
		sort.Strings(codes)
		failed := strings.Join(codes, " ")
		if failed == "" {
			failed = "-"
		}
		rec := r.Recovery.Round(time.Millisecond).String()
		if r.Recovery < 0 {
			rec = "never"
		}
		class := r.Class
		if r.Tag != "" {
			class += " [" + r.Tag + "]"
		}
		verdict := "ok"
		if !r.OK {
			verdict = "FAIL"
		}
		pause := "-"
		if len(r.WritePauses) > 0 {
			pause = slices.Max(r.WritePauses).Round(time.Millisecond).String()
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%s\t%d\t%d\t%d\t%d\t%d\t%s\t%d\t%v\t%s\t%s\t%s\t\n", class, r.Ops, r.Writes, r.Acked, r.FailedSends, failed,
			r.Unknown, r.UnknownApplied, r.Lost, r.Duplicated, r.Stale, notLin, r.AppliedFault,
			r.LongestRequest.Round(time.Millisecond), rec, pause, verdict)
	}
	tw.Flush()
	return b.String()
}
