package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// defaultAuditAhead is how many months after this one the audit log's
// partitions are made ahead, by `gateway audit` and by serve.
const defaultAuditAhead = 3

func runAudit(ctx context.Context, args []string) error {
	var catalogDSN, retention string
	var ahead int
	var asJSON bool
	f := newFlags("audit", "Keeps the audit log's monthly partitions at every shard database (the citizen's access log,\n"+
		"docs/operations.md): makes this month and --ahead months after it, and with --retention drops,\n"+
		"whole, every month that ended before that many months back (26mo on 3 December 2026 keeps\n"+
		"October 2024 on). Rows of a month not made go to a default partition and move into the month when\n"+
		"it is made, so an insert never fails. Safe to run at any time; serve does the same at start and\n"+
		"every six hours (serve --audit-retention).")
	f.catalogDSN(&catalogDSN)
	f.intVar(&ahead, "ahead", "MEDCARD_AUDIT_AHEAD", defaultAuditAhead, "months after this one to make partitions for")
	f.string(&retention, "retention", "MEDCARD_AUDIT_RETENTION", "off", "months of the audit log to keep, as 26mo or 2y; off: keep everything")
	f.BoolVar(&asJSON, "json", false, "print JSON instead of a table")
	if err := f.Parse(args); err != nil {
		return err
	}
	if f.NArg() > 0 {
		return fmt.Errorf("audit: unexpected argument %q", f.Arg(0))
	}
	keep, err := parseRetention(retention)
	if err != nil {
		return err
	}
	if ahead < 0 || ahead > 120 {
		return fmt.Errorf("audit: --ahead %d: give 0 to 120 months", ahead)
	}
	_, store, closeAll, err := openStore(ctx, catalogDSN)
	if err != nil {
		return err
	}
	defer closeAll()
	res, err := store.MaintainAuditPartitions(ctx, time.Now(), ahead, keep)
	if asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		if jerr := enc.Encode(res); jerr != nil {
			return jerr
		}
		return err
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "DATABASE\tMONTHS MADE\tMONTHS DROPPED\tOLDEST MONTH KEPT")
	for _, r := range res {
		kept := "all"
		if !r.Cutoff.IsZero() {
			kept = r.Cutoff.Format("2006-01")
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\n", r.Database, r.Created, r.Dropped, kept)
	}
	if ferr := tw.Flush(); ferr != nil {
		return ferr
	}
	return err
}

// parseRetention reads a retention in months: "26mo", "2y" (24 months),
// a bare number of months, or "off" / "0" (keep everything, 0).
func parseRetention(s string) (int, error) {
	s = strings.TrimSpace(strings.ToLower(s))
	if s == "" || s == "off" || s == "0" {
		return 0, nil
	}
	n, unit := s, 1
	switch {
	case strings.HasSuffix(s, "mo"):
		n = strings.TrimSuffix(s, "mo")
	case strings.HasSuffix(s, "y"):
		n, unit = strings.TrimSuffix(s, "y"), 12
	}
	v, err := strconv.Atoi(n)
	if err != nil || v < 1 || v*unit > 1200 {
		return 0, fmt.Errorf("retention %q: give months as 26mo or years as 2y (at most 100 years), or off", s)
	}
	return v * unit, nil
}
