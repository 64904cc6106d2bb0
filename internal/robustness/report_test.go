package robustness

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestWriteReport(t *testing.T) {
	tests := []struct {
		name      string
		h         History
		files     []string
		verdict   []string // lines verdict.txt must hold
		porcupine bool
	}{
		{
			name: "stale read",
			h: History{
				Operations: []Operation{ackedWrite(1, 0, 10, "a", 1), okRead(2, 20, 30, 0)},
				Final:      final(1, "a"),
			},
			verdict: []string{
				"FAIL: stale-read, linearizable",
				"stale-read: 1 findings",
				"  person p: stale-read: ops [2 1]: read answered v0, older than write a acknowledged at v1 (10ms after the ack)",
				"linearizable: Illegal (1 cards, took",
			},
			porcupine: true,
		},
		{
			name: "passing run",
			h: History{
				Operations: []Operation{ackedWrite(1, 0, 10, "a", 1), okRead(2, 20, 30, 1, "a")},
				Final:      final(1, "a"),
			},
			verdict: []string{"OK", "linearizable: Ok (1 cards, took"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "run")
			if err := WriteReport(dir, tc.h, Check(tc.h, time.Minute), time.Minute); err != nil {
				t.Fatalf("WriteReport(%s) = %v, want nil", tc.name, err)
			}
			verdict, err := os.ReadFile(filepath.Join(dir, VerdictFile))
			if err != nil {
				t.Fatal(err)
			}
			for _, line := range tc.verdict {
				if !strings.Contains(string(verdict), line) {
					t.Errorf("%s does not hold %q:\n%s", VerdictFile, line, verdict)
				}
			}
			_, err = os.Stat(filepath.Join(dir, PorcupineFile))
			if got := err == nil; got != tc.porcupine {
				t.Errorf("%s written = %v, want %v", PorcupineFile, got, tc.porcupine)
			}

			b, err := os.ReadFile(filepath.Join(dir, HistoryFile))
			if err != nil {
				t.Fatal(err)
			}
			var got historyJSON
			if err := json.Unmarshal(b, &got); err != nil {
				t.Fatalf("json.Unmarshal(%s) = %v, want nil", HistoryFile, err)
			}
			if diff := cmp.Diff(tc.h.Operations, got.Operations); diff != "" {
				t.Errorf("%s operations mismatch (-want +got):\n%s", HistoryFile, diff)
			}
		})
	}
}

func TestCopyLogTails(t *testing.T) {
	src := t.TempDir()
	long := filepath.Join(src, "gateway-a.log")
	if err := os.WriteFile(long, []byte("0123456789abcdef"), 0o644); err != nil {
		t.Fatal(err)
	}
	short := filepath.Join(src, "gateway-b.log")
	if err := os.WriteFile(short, []byte("abc"), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	logs := map[string]string{
		"gateway-a.log": long,
		"gateway-b.log": short,
		"postgres.log":  filepath.Join(src, "missing.log"),
	}
	if err := CopyLogTails(dir, logs, 6); err != nil {
		t.Fatalf("CopyLogTails(%v) = %v, want nil", logs, err)
	}
	want := map[string]string{
		"gateway-a.log": "abcdef",
		"gateway-b.log": "abc",
		"postgres.log":  "(no log at " + filepath.Join(src, "missing.log") + ")\n",
	}
	for name, content := range want {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil || string(b) != content {
			t.Errorf("copied %s = %q, %v; want %q", name, b, err, content)
		}
	}

	for _, name := range []string{"../escape.log", "sub/dir.log", ""} {
		if err := CopyLogTails(dir, map[string]string{name: long}, 6); err == nil {
			t.Errorf("CopyLogTails(%q) = nil, want an error", name)
		}
	}
}

func TestSummaryRow(t *testing.T) {
	tests := []struct {
		s    Summary
		want []string
	}{
		{
			s:    Summary{},
			want: []string{"-", "0", "0", "-", "0", "0", "0", "0", "0", "0", "0s", "0s"},
		},
		{
			s: Summary{
				Class: "partition-db", Ops: 1000, Acked: 480,
				FailedByCode: map[string]int{"E_UNAVAILABLE": 3, "E_CONFLICT": 1, "": 2},
				Unknown:      5, UnknownApplied: 2, Lost: 1, Duplicated: 2, StaleReads: 3, AppliedDespiteFault: 4,
				LongestRequest: 2345678 * time.Microsecond, RecoveryTime: 1500 * time.Millisecond,
			},
			want: []string{"partition-db", "1000", "480", "(none)=2,E_CONFLICT=1,E_UNAVAILABLE=3", "5", "2", "1", "2", "3", "4", "2.346s", "1.5s"},
		},
	}
	for _, tc := range tests {
		if diff := cmp.Diff(tc.want, SummaryRow(tc.s)); diff != "" {
			t.Errorf("SummaryRow(%+v) mismatch (-want +got):\n%s", tc.s, diff)
		}
	}
}

func TestWriteSummaryTable(t *testing.T) {
	var b bytes.Buffer
	runs := []Summary{{Class: "kill-gateway", Ops: 10}, {Class: "partition-redis", Ops: 20}}
	if err := WriteSummaryTable(&b, runs); err != nil {
		t.Fatalf("WriteSummaryTable = %v, want nil", err)
	}
	lines := strings.Split(strings.TrimRight(b.String(), "\n"), "\n")
	if len(lines) != 3 || !strings.Contains(lines[0], "recovery time") || !strings.Contains(lines[2], "partition-redis") {
		t.Errorf("WriteSummaryTable(%d runs) =\n%s\nwant a header and 2 rows", len(runs), b.String())
	}
}

func TestWriteSummaryJSON(t *testing.T) {
	runs := []Summary{{Class: "kill-gateway", Ops: 10, RecoveryTime: time.Second, FailedByCode: map[string]int{"E_UNAVAILABLE": 1}}}
	var b bytes.Buffer
	if err := WriteSummaryJSON(&b, runs); err != nil {
		t.Fatalf("WriteSummaryJSON = %v, want nil", err)
	}
	var got []Summary
	if err := json.Unmarshal(b.Bytes(), &got); err != nil {
		t.Fatalf("json.Unmarshal(WriteSummaryJSON) = %v, want nil", err)
	}
	if diff := cmp.Diff(runs, got); diff != "" {
		t.Errorf("WriteSummaryJSON round trip mismatch (-want +got):\n%s", diff)
	}
}
