package main

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestMedian(t *testing.T) {
	for _, c := range []struct {
		xs   []float64
		want float64
	}{
		{nil, 0}, {[]float64{3}, 3}, {[]float64{5, 1, 3}, 3}, {[]float64{4, 1, 3, 2}, 2.5},
	} {
		if got := median(c.xs); got != c.want {
			t.Errorf("median(%v) = %v, want %v", c.xs, got, c.want)
		}
	}
}

func TestLinearFit(t *testing.T) {
	a, b, r2 := linearFit([]float64{1, 5, 20, 50}, []float64{0.3 + 0.02, 0.3 + 0.1, 0.3 + 0.4, 0.3 + 1.0})
	if math.Abs(a-0.3) > 1e-9 || math.Abs(b-0.02) > 1e-9 || math.Abs(r2-1) > 1e-9 {
		t.Errorf("linearFit(exact line 0.3 + 0.02·N) = %v, %v, R² %v", a, b, r2)
	}
	// A curve the line cannot follow has R² below 1.
	if _, _, r2 := linearFit([]float64{1, 5, 20, 50}, []float64{1, 25, 400, 2500}); r2 >= 0.99 {
		t.Errorf("linearFit(N²) R² = %v, want below 0.99", r2)
	}
}

// TestSummarise: the median of each cell's repeats, a cell noisy by its
// spread, a run's own load average not judged, and the fit over the card sizes with its per-kB
// figure from the data sets' card sizes.
func TestSummarise(t *testing.T) {
	var runs []Run
	for _, n := range []int64{1, 5, 20, 50} {
		for rep, rps := range []float64{1000, 1100, 900} {
			runs = append(runs, Run{Part: partCards, Size: n, Repeat: rep + 1, Scenario: "cached-read", RPS: rps / float64(n),
				P99Ms: float64(n), CPUMs: 0.2 + 0.01*float64(n) + 0.001*float64(rep), Load1: 0.5})
		}
	}
	runs = append(runs,
		Run{Part: partPersons, Size: 100000, Repeat: 1, Scenario: "uncached-read", RPS: 3000, P99Ms: 20, Load1: 0.4},
		Run{Part: partPersons, Size: 100000, Repeat: 2, Scenario: "uncached-read", RPS: 1000, P99Ms: 40, Load1: 0.4},
		Run{Part: partPersons, Size: 1000000, Repeat: 1, Scenario: "uncached-read", RPS: 2000, P99Ms: 30, Load1: 3.2},
		Run{Part: partPersons, Size: 1000000, Repeat: 2, Scenario: "uncached-read", RPS: 2100, P99Ms: 30, Load1: 3.4})
	sets := []DataSet{{Part: partCards, Size: 1, CardJSONBytes: 3000 + 3000}, {Part: partCards, Size: 50, CardJSONBytes: 3000 + 50*3000}}
	res := summarise(runs, sets, "0.90 0.50 0.20", 1.5, 0.25)
	if res.BusyAtStart {
		t.Error("BusyAtStart at a load average of 0.90")
	}
	if len(res.Cells) != 6 {
		t.Fatalf("%d cells, want 6: %+v", len(res.Cells), res.Cells)
	}
	c := res.Cells[0]
	if c.Size != 1 || c.RPS != 1000 || c.Repeats != 3 || math.Abs(c.CPUMs-0.211) > 1e-9 || math.Abs(c.Spread-0.2) > 1e-9 || c.Noisy {
		t.Errorf("first cell = %+v, want 1 medication, 1000 req/s, CPU 0.211 ms, spread 0.2, not noisy", c)
	}
	if p := res.Cells[4]; p.Part != partPersons || p.Size != 100000 || p.RPS != 2000 || !p.Noisy {
		t.Errorf("fifth cell = %+v, want 100,000 persons at the median 2000 req/s, noisy by its spread", p)
	}
	if p := res.Cells[5]; p.Size != 1000000 || p.Noisy || p.MaxLoad != 3.4 {
		t.Errorf("last cell = %+v, want 1,000,000 persons, its repeats' load recorded, not noisy", p)
	}
	// Busy when the bench began: every cell is noisy.
	busy := summarise(runs, sets, "2.10 1.00 0.50", 1.5, 0.25)
	for _, c := range busy.Cells {
		if !c.Noisy {
			t.Errorf("load 2.10 at the start: cell %s %d %s not noisy", c.Part, c.Size, c.Scenario)
		}
	}
	if len(res.Fits) != 1 {
		t.Fatalf("fits = %+v, want one (cached-read)", res.Fits)
	}
	f := res.Fits[0]
	if math.Abs(f.PerMedication-0.01) > 1e-9 || math.Abs(f.FixedMs-0.201) > 1e-9 || math.Abs(f.PerKB-0.01/3) > 1e-9 {
		t.Errorf("fit = %+v, want 0.201 ms + 0.01 ms per drug medication, 0.01/3 ms per kB", f)
	}
}

// TestRun writes the three files from the script's two inputs; the plot
// is well-formed XML and the table names the fit.
func TestRun(t *testing.T) {
	dir := t.TempDir()
	runs := filepath.Join(dir, "runs.jsonl")
	sizes := filepath.Join(dir, "sizes.jsonl")
	var rb, sb bytes.Buffer
	for _, n := range []int64{1, 5, 20, 50} {
		sb.WriteString(mustJSON(t, DataSet{Part: partCards, Size: n, Persons: 2000, Cards: 2000, CardJSONBytes: 3000 * n, SharedBuffers: "128MB"}))
		for _, sc := range scenarios {
			rb.WriteString(mustJSON(t, Run{Part: partCards, Size: n, Repeat: 1, Scenario: sc, RPS: 1000 / float64(n), P50Ms: 1, P99Ms: float64(n), CPUMs: 0.1 * float64(n)}))
		}
	}
	for _, p := range []int64{100000, 1000000, 5000000} {
		sb.WriteString(mustJSON(t, DataSet{Part: partPersons, Size: p, Persons: p}))
		rb.WriteString(mustJSON(t, Run{Part: partPersons, Size: p, Repeat: 1, Scenario: "uncached-read", RPS: 3000, P50Ms: 5, P99Ms: 20, Load1: 2}))
	}
	for f, b := range map[string][]byte{runs: rb.Bytes(), sizes: sb.Bytes()} {
		if err := os.WriteFile(f, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var out bytes.Buffer
	if err := run(runs, sizes, dir, "2.00 1.00 0.50", 1.5, 0.25, &out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"uncached-read", "5000000", "per drug medication", "load average when the bench began: 2.00 1.00 0.50: busy", "*"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, out.String())
		}
	}
	svg, err := os.ReadFile(filepath.Join(dir, "scale.svg"))
	if err != nil {
		t.Fatal(err)
	}
	d := xml.NewDecoder(bytes.NewReader(svg))
	paths := 0
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("scale.svg is not well-formed: %v", err)
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "path" {
			paths++
		}
	}
	if paths != 3+3+2 {
		t.Errorf("scale.svg has %d lines, want 8 (three scenarios in two panels, p50 and p99)", paths)
	}
	var res Results
	b, err := os.ReadFile(filepath.Join(dir, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &res); err != nil || len(res.Cells) != 15 || len(res.Runs) != 15 {
		t.Errorf("results.json: %v, %d cells and %d runs, want 15 and 15", err, len(res.Cells), len(res.Runs))
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b) + "\n"
}
