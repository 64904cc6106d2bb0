package robustness

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sharedmedcard/gateway/internal/testservers"
)

// cluster is shared by every test of the package: the storage side is
// started once, the gateways are kept across runs of the same binary.
var cluster *Cluster

// patroniCluster is the failover classes' cluster (shard2 on Patroni),
// started when the first of them runs.
var patroniCluster *Cluster

func TestMain(m *testing.M) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	var err error
	cluster, err = StartCluster(ctx, ClusterOptions{})
	cancel()
	if !testservers.MainOrSkip(err) {
		cluster = nil
	}
	code := m.Run()
	cluster.Stop()
	patroniCluster.Stop()
	os.Exit(code)
}

// needPatroniCluster starts patroniCluster on first use; a machine without
// patroni or etcd skips (fails under CI=true).
func needPatroniCluster(t *testing.T) *Cluster {
	t.Helper()
	needCluster(t)
	if patroniCluster == nil {
		ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
		defer cancel()
		start := time.Now()
		c, err := StartCluster(ctx, ClusterOptions{Patroni: true})
		testservers.RequireT(t, err)
		patroniCluster = c
		t.Logf("the Patroni cluster (etcd, 3 nodes holding shard2) started in %v", time.Since(start).Round(time.Millisecond))
	}
	return patroniCluster
}

func needCluster(t *testing.T) *Cluster {
	t.Helper()
	if cluster == nil {
		t.Skip("no PostgreSQL/Redis on this machine (CI=true makes this a failure)")
	}
	return cluster
}

// opsFromEnv is ROBUSTNESS_OPS: each class runs at least that many
// operations; 0 (unset) is the short pass.
func opsFromEnv(t *testing.T) int { return countFromEnv(t, "ROBUSTNESS_OPS", "operations") }

// cyclesFromEnv is ROBUSTNESS_CYCLES: each class injects its fault at
// least that many times (make failover: ten failovers); 0 (unset): once
// unless ROBUSTNESS_OPS asks for more.
func cyclesFromEnv(t *testing.T) int { return countFromEnv(t, "ROBUSTNESS_CYCLES", "fault cycles") }

func countFromEnv(t *testing.T, name, what string) int {
	v := os.Getenv(name)
	if v == "" {
		return 0
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		t.Fatalf("%s=%q is not a count of %s", name, v, what)
	}
	return n
}

// shortRun is how long each class runs in the short pass.
const shortRun = 6 * time.Second

// TestRobustness runs every fault class once against the shipped gateway
// and judges each history: no acknowledged write lost, no write applied
// twice, no stale read, nothing applied that was answered with a definite
// fault. ROBUSTNESS_OPS makes every class run at least that many
// operations. The summary table is printed at the end.
func TestRobustness(t *testing.T) {
	c := needCluster(t)
	ops, cycles := opsFromEnv(t), cyclesFromEnv(t)
	var rows []RunStats
	defer func() {
		if len(rows) > 0 {
			fmt.Printf("\nrobustness summary (%s)\n%s\n", time.Now().Format(time.RFC3339), FormatSummary(rows))
		}
	}()
	for _, class := range Classes() {
		t.Run(class, func(t *testing.T) {
			if class == "redis-failover" && !haveSentinel() {
				testservers.RequireT(t, fmt.Errorf("redis-sentinel not installed"))
			}
			on := c
			if NeedsPatroni(class) {
				on = needPatroniCluster(t)
			}
			cfg := RunConfig{Class: class, Duration: shortRun, Ops: ops, Cycles: cycles, Logf: t.Logf}
			_, st, err := Run(t.Context(), on, cfg)
			if err != nil {
				t.Fatalf("Run(%s): %v", class, err)
			}
			rows = append(rows, st)
			t.Logf("%s: %s in %v, recovery %v", class, ClassDoc(class), st.Elapsed.Round(time.Millisecond), st.Recovery)
			if !st.OK {
				t.Errorf("%s: the gateway broke a promise (report %s):\n%s", class, st.Report, st.Verdict)
			}
		})
	}
}

func haveSentinel() bool {
	for _, dir := range strings.Split(os.Getenv("PATH"), ":") {
		if fileExists(dir + "/redis-sentinel") {
			return true
		}
	}
	return false
}

// seededBugs are the gateway's bug-planting build tags and the class most
// likely to expose each.
var seededBugs = []struct {
	tag, class string
	cfg        func(*RunConfig)
}{
	// Few persons, many writers: concurrent writes on one card race.
	{"seedbug_nocas", "none", func(c *RunConfig) { c.Persons, c.Writers, c.Readers = 3, 12, 4 }},
	// The 5% deliberate resends to the other gateway apply again.
	{"seedbug_noidempotency", "none", nil},
	// An older write-through or fill lands after a newer one; later reads
	// see the older card. Jitter on both Redis links reorders the
	// gateways' commands without timing them out (which would fence and
	// hide the bug); under no fault the race needs luck (a -race run of
	// class none once missed it).
	{"seedbug_nocacheguard", "redis-jitter", func(c *RunConfig) { c.Persons, c.Writers, c.Readers = 3, 6, 12 }},
	// The cache keeps the card as it was before the write.
	{"seedbug_nowritethrough", "none", func(c *RunConfig) { c.Persons = 5 }},
	// A gateway with a stale map writes to (and reads from) the database
	// that gave the shard away, and writes through the freeze: the write
	// is lost with the source's rows, or its replication overwrites a
	// newer write at the target. A gateway hears of a flip within a
	// second, so only the operations of that second show the bug: all
	// three hot persons' shards are moved (and the nemesis keeps them hot).
	{"seedbug_nofence", "shard-move", func(c *RunConfig) { c.Persons = 3 }},
}

// TestSeededBugsAreCaught builds the gateway with each seeded bug and
// requires the judge to fail the run that should expose it; it reports
// which checks caught each bug.
func TestSeededBugsAreCaught(t *testing.T) {
	c := needCluster(t)
	for _, bug := range seededBugs {
		t.Run(bug.tag, func(t *testing.T) {
			if !tagInTree(t, bug.tag) {
				t.Errorf("%s: no //go:build line of the gateway's tree names this tag, so the build is the shipped gateway; "+
					"running it anyway", bug.tag)
			}
			cfg := RunConfig{Class: bug.class, Tag: bug.tag, Duration: shortRun, Logf: t.Logf,
				ResultsDir: t.TempDir()} // a caught bug is a success: keep its report out of the results
			if bug.cfg != nil {
				bug.cfg(&cfg)
			}
			_, st, err := Run(t.Context(), c, cfg)
			if err != nil {
				t.Fatalf("Run(%s, %s): %v", bug.class, bug.tag, err)
			}
			if st.OK {
				t.Errorf("%s under %s: the judge passed the run; the seeded bug went unnoticed (%d ops, %d acknowledged writes)",
					bug.tag, bug.class, st.Ops, st.Acked)
				return
			}
			t.Logf("%s under %s caught by: %s", bug.tag, bug.class, caughtBy(st))
		})
	}
}

// tagInTree reports whether some Go file's //go:build line names tag.
func tagInTree(t *testing.T, tag string) bool {
	t.Helper()
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || found {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") || d.Name() == "robustness-results" || d.Name() == "node_modules") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, line := range strings.SplitN(string(b), "\n", 30) {
			if strings.HasPrefix(line, "//go:build") && strings.Contains(line, tag) {
				found = true
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}

// caughtBy names the checks that failed a run.
func caughtBy(st RunStats) string {
	by := st.Caught
	if st.NemesisErr != "" {
		by += "; nemesis error: " + st.NemesisErr
	}
	if by == "" {
		return "the judge (no check named)"
	}
	return by
}
