package robustness

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/anishathalye/porcupine"
)

// Report files. The directory should be under a git-ignored folder: the
// history names the (synthetic) persons.
const (
	HistoryFile   = "history.json"
	VerdictFile   = "verdict.txt"
	PorcupineFile = "porcupine.html"
)

// reportFindings is how many findings of each checker verdict.txt lists.
const reportFindings = 20

// visualizePersons is how many failing cards porcupine.html draws.
const visualizePersons = 10

// historyJSON is the form of history.json.
type historyJSON struct {
	Operations []Operation          `json:"operations"`
	Final      map[string]finalJSON `json:"final"`
	Moves      []MoveStep           `json:"moves,omitempty"`
}

// finalJSON is a FinalCard in history.json.
type finalJSON struct {
	Version int64    `json:"version"`
	Tags    []string `json:"tags"`
}

// WriteReport writes the report of a run into dir, creating it: the
// history, the verdict, and, when porcupine found the history not
// linearizable, its visualisation of the failing cards. timeout bounds the
// check porcupine runs again over just those cards.
func WriteReport(dir string, h History, r Result, timeout time.Duration) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	hj := historyJSON{Operations: h.Operations, Final: make(map[string]finalJSON, len(h.Final)), Moves: h.Moves}
	for p, fc := range h.Final {
		hj.Final[p] = finalJSON{Version: fc.Version, Tags: fc.Tags}
	}
	b, err := json.MarshalIndent(hj, "", " ")
	if err != nil {
		return fmt.Errorf("report: encode history: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, HistoryFile), b, 0o644); err != nil {
		return fmt.Errorf("report: %w", err)
	}

	f, err := os.Create(filepath.Join(dir, VerdictFile))
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	err = WriteVerdict(f, r)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("report: write verdict: %w", err)
	}

	l := r.Linearizability
	if l.Result == porcupine.Illegal {
		info := l.IllegalInfo(visualizePersons, timeout)
		if err := porcupine.VisualizePath(l.Model, info, filepath.Join(dir, PorcupineFile)); err != nil {
			return fmt.Errorf("report: visualize: %w", err)
		}
	}
	return nil
}

// WriteVerdict writes r for people: which checkers failed, the first
// findings of each, and the summary.
func WriteVerdict(w io.Writer, r Result) error {
	ew := &errWriter{w: w}
	failed := r.Failed()
	switch {
	case len(failed) > 0:
		names := make([]string, len(failed))
		for i, c := range failed {
			names[i] = string(c)
		}
		ew.printf("FAIL: %s\n", strings.Join(names, ", "))
	case r.Inconclusive():
		ew.printf("INCONCLUSIVE: the set checks passed; porcupine timed out after %v\n", r.Linearizability.Timeout)
	default:
		ew.printf("OK\n")
	}

	l := r.Linearizability
	ew.printf("\nlinearizable: %s (%d cards, took %v", orUnchecked(l.Result), len(l.Persons), l.Took.Round(time.Millisecond))
	if l.Timeout > 0 {
		ew.printf(", timeout %v", l.Timeout)
	}
	ew.printf(")\n")
	if len(l.Illegal) > 0 {
		ew.printf("  %d cards no order explains; %s draws the first %d\n", len(l.Illegal), PorcupineFile, min(len(l.Illegal), visualizePersons))
		for i, p := range l.Illegal {
			if i == reportFindings {
				ew.printf("  … %d more\n", len(l.Illegal)-i)
				break
			}
			ew.printf("  person %s\n", p)
		}
	}

	for _, c := range checkOrder {
		fs := r.Of(c)
		if len(fs) == 0 {
			continue
		}
		ew.printf("\n%s: %d findings\n", c, len(fs))
		for i, f := range fs {
			if i == reportFindings {
				ew.printf("  … %d more\n", len(fs)-i)
				break
			}
			ew.printf("  person %s: %s\n", f.Person, f)
		}
	}

	ew.printf("\n")
	if ew.err == nil {
		ew.err = WriteSummaryTable(w, []Summary{r.Summary})
	}
	s := r.Summary
	ew.printf("\nops by outcome: %s; writes %d, reads %d, final cards %d; longest request op %d\n",
		formatCounts(s.ByOutcome), s.Writes, s.Reads, s.FinalCards, s.LongestRequestOp)
	return ew.err
}

// orUnchecked returns res, or "not checked" for the zero result.
func orUnchecked(res porcupine.CheckResult) string {
	if res == "" {
		return "not checked"
	}
	return string(res)
}

// errWriter remembers the first write error, so a report of many lines
// checks once.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) printf(format string, args ...any) {
	if e.err == nil {
		_, e.err = fmt.Fprintf(e.w, format, args...)
	}
}

// CopyLogTails copies the last maxBytes of each log file into dir, as the
// file named by its key: logs maps a name ("gateway-a.log") to the path of
// the log. A name must be a plain file name. A log that does not exist is
// noted in its copy rather than failing the report.
func CopyLogTails(dir string, logs map[string]string, maxBytes int64) error {
	names := make([]string, 0, len(logs))
	for name := range logs {
		names = append(names, name)
	}
	sort.Strings(names)
	var errs []error
	for _, name := range names {
		if name == "" || name != filepath.Base(name) || name == "." || name == ".." {
			errs = append(errs, fmt.Errorf("copy log %q: not a plain file name", name))
			continue
		}
		if err := copyTail(filepath.Join(dir, name), logs[name], maxBytes); err != nil {
			errs = append(errs, fmt.Errorf("copy log %s: %w", name, err))
		}
	}
	return errors.Join(errs...)
}

// copyTail writes the last maxBytes of the file at src into dst.
func copyTail(dst, src string, maxBytes int64) error {
	in, err := os.Open(src)
	if errors.Is(err, os.ErrNotExist) {
		return os.WriteFile(dst, []byte(fmt.Sprintf("(no log at %s)\n", src)), 0o644)
	}
	if err != nil {
		return err
	}
	defer in.Close()
	fi, err := in.Stat()
	if err != nil {
		return err
	}
	if skip := fi.Size() - maxBytes; skip > 0 {
		if _, err := in.Seek(skip, io.SeekStart); err != nil {
			return err
		}
	}
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, in)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return err
}

// summaryColumns are the columns of WriteSummaryTable.
var summaryColumns = []string{
	"class", "ops", "acked", "failed by code", "unknown", "unknown applied",
	"lost", "duplicated", "stale", "applied despite fault", "longest request", "recovery time",
}

// SummaryRow returns the cells of s's row in the summary table, in the
// order of its columns.
func SummaryRow(s Summary) []string {
	class := s.Class
	if class == "" {
		class = "-"
	}
	return []string{
		class,
		fmt.Sprint(s.Ops),
		fmt.Sprint(s.Acked),
		formatCounts(s.FailedByCode),
		fmt.Sprint(s.Unknown),
		fmt.Sprint(s.UnknownApplied),
		fmt.Sprint(s.Lost),
		fmt.Sprint(s.Duplicated),
		fmt.Sprint(s.StaleReads),
		fmt.Sprint(s.AppliedDespiteFault),
		s.LongestRequest.Round(time.Millisecond).String(),
		s.RecoveryTime.Round(time.Millisecond).String(),
	}
}

// WriteSummaryTable writes one row per run, under a header, in aligned
// columns.
func WriteSummaryTable(w io.Writer, runs []Summary) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, strings.Join(summaryColumns, "\t")+"\t")
	for _, s := range runs {
		fmt.Fprintln(tw, strings.Join(SummaryRow(s), "\t")+"\t")
	}
	return tw.Flush()
}

// WriteSummaryJSON writes runs as a JSON array; durations are nanoseconds,
// as encoding/json gives a time.Duration.
func WriteSummaryJSON(w io.Writer, runs []Summary) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", " ")
	return enc.Encode(runs)
}

// formatCounts returns counts as "key=n" pairs in key order, or "-" when
// there are none.
func formatCounts[K ~string](counts map[K]int) string {
	keys := make([]string, 0, len(counts))
	for k, n := range counts {
		if n > 0 {
			keys = append(keys, string(k))
		}
	}
	if len(keys) == 0 {
		return "-"
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		name := k
		if name == "" {
			name = "(none)"
		}
		parts[i] = fmt.Sprintf("%s=%d", name, counts[K(k)])
	}
	return strings.Join(parts, ",")
}
