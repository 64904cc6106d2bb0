package loadgen

import (
	"bytes"
	"context"
	"encoding/xml"
	"io"
	"maps"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sharedmedcard/gateway/internal/soapclient"
)

// run runs cfg against the fake gateway and fails the test on an error or
// on a protocol mistake the fake caught.
func run(t *testing.T, f *fakeGateway, cfg Config) *Report {
	t.Helper()
	if cfg.Persons == 0 {
		cfg.Persons = 50
	}
	rep, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if _, _, problems, _ := f.snapshot(); len(problems) > 0 {
		t.Errorf("the fake gateway caught mistakes: %v", problems)
	}
	return rep
}

func opCount(rep *Report, op string) int64 {
	for _, s := range rep.Ops {
		if s.Op == op {
			return s.Count
		}
	}
	return 0
}

func TestClosedLoopCountAndDuration(t *testing.T) {
	f, srv := newFakeGateway(t)
	f.delay = func(time.Time) time.Duration { return 2 * time.Millisecond }
	const workers = 4
	cfg := Config{URL: srv.URL, Concurrency: workers, Duration: 600 * time.Millisecond, Warmup: 200 * time.Millisecond,
		Mix: []MixEntry{{ActGetMedicineCard, 1}}}
	start := time.Now()
	rep := run(t, f, cfg)
	took := time.Since(start)

	if took < 800*time.Millisecond || took > 2*time.Second {
		t.Errorf("Run took %v, want about 800ms (warmup + duration)", took)
	}
	if rep.MeasuredSeconds < 0.59 || rep.MeasuredSeconds > 0.61 {
		t.Errorf("MeasuredSeconds = %v, want 0.6", rep.MeasuredSeconds)
	}
	// Each worker has one request in flight and each takes at least 2ms.
	maxCount := int64(workers * (600/2 + 1))
	if n := rep.Total.Count; n < 20 || n > maxCount {
		t.Errorf("Total.Count = %d, want between 20 and %d", n, maxCount)
	}
	if rep.WarmupRequests == 0 {
		t.Error("WarmupRequests = 0, want the warmup's requests counted apart")
	}
	ops, _, _, _ := f.snapshot()
	// The fake also saw the preflight read and the warmup.
	if got, want := int64(ops["GetMedicineCard"]), rep.Total.Count+rep.WarmupRequests+1; got != want {
		t.Errorf("the server saw %d reads, the report %d (with warmup and preflight)", got, want)
	}
	if rep.Total.Errors != 0 || rep.Total.Latency.P50Ms < 2 {
		t.Errorf("Total = %+v, want no errors and p50 >= 2ms", rep.Total)
	}
	if rep.ClientCPU.Error != "" || rep.ClientCPU.Seconds <= 0 {
		t.Errorf("ClientCPU = %+v, want some CPU seconds", rep.ClientCPU)
	}
	if len(rep.Series) != 1 { // 0.6 s: one partial second
		t.Errorf("Series has %d points, want 1", len(rep.Series))
	}
}

func TestOpenLoopKeepsTheRate(t *testing.T) {
	f, srv := newFakeGateway(t)
	f.delay = func(time.Time) time.Duration { return time.Millisecond }
	const rate = 100.0
	cfg := Config{URL: srv.URL, Rate: rate, Duration: 2 * time.Second, Warmup: 100 * time.Millisecond,
		Mix: []MixEntry{{ActGetMedicineCard, 1}}}
	rep := run(t, f, cfg)

	want := rate * 2
	if n := float64(rep.Total.Count); math.Abs(n-want) > want/10 {
		t.Errorf("Total.Count = %v, want %v ±10%%", n, want)
	}
	// The server must have seen every measured action too (the window's
	// start is not checked on the server's clock: on a starved machine the
	// preflight may shift it).
	if _, _, _, received := f.snapshot(); float64(len(received)) < float64(rep.Total.Count) {
		t.Errorf("the server received %d requests, fewer than the %d measured", len(received), rep.Total.Count)
	}
	if len(rep.Series) != 2 {
		t.Fatalf("Series = %+v, want 2 points", rep.Series)
	}
	// A starved machine may fall a little behind at the end.
	if rep.Config.Mode != "open" || float64(rep.Unsent) > want/10 {
		t.Errorf("Mode %q, Unsent %d; want open, at most a few unsent", rep.Config.Mode, rep.Unsent)
	}
}

// TestOpenLoopCountsTheStall checks the coordinated-omission correction:
// when the service stalls, requests due meanwhile are timed from when they
// were due, so the stall shows in the percentiles, not only in the max.
func TestOpenLoopCountsTheStall(t *testing.T) {
	var stallAt time.Time
	stall := func(start time.Time) func(time.Time) time.Duration {
		stallAt = start.Add(400 * time.Millisecond)
		done := false
		return func(at time.Time) time.Duration {
			if !done && at.After(stallAt) {
				done = true // one request takes 300 ms; it holds the only worker
				return 300 * time.Millisecond
			}
			return 0
		}
	}
	for _, tc := range []struct {
		name       string
		rate       float64
		wantP90Min float64 // ms
		wantP90Max float64
	}{
		// 100/s for 1 s: 30 of 100 requests are due during the stall,
		// late by 0-300 ms, so p90 is well above zero.
		{"open", 100, 50, 1e9},
		// The closed loop only sees one slow request.
		{"closed", 0, 0, 50},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, srv := newFakeGateway(t)
			f.delay = stall(time.Now())
			rep := run(t, f, Config{URL: srv.URL, Rate: tc.rate, Concurrency: 1, Duration: time.Second,
				Mix: []MixEntry{{ActGetMedicineCard, 1}}})
			if p90 := rep.Total.Latency.P90Ms; p90 < tc.wantP90Min || p90 > tc.wantP90Max {
				t.Errorf("p90 = %v ms, want in [%v, %v]", p90, tc.wantP90Min, tc.wantP90Max)
			}
			if rep.Total.Latency.MaxMs < 290 {
				t.Errorf("max = %v ms, want the 300 ms stall", rep.Total.Latency.MaxMs)
			}
		})
	}
}

func TestMixProportions(t *testing.T) {
	mix, err := ParseMix(DefaultMix)
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, e := range mix {
		sum += e.Weight
	}
	check := func(t *testing.T, actions map[string]int64, tolerance func(p float64, n int64) float64) {
		t.Helper()
		var n int64
		for _, c := range actions {
			n += c
		}
		for _, e := range mix {
			want := e.Weight / sum
			got := float64(actions[e.Action]) / float64(n)
			if tol := tolerance(want, n); math.Abs(got-want) > tol {
				t.Errorf("%s: %.4f of %d actions, want %.2f ±%.3f", e.Action, got, n, want, tol)
			}
		}
	}

	t.Run("pick", func(t *testing.T) {
		r := &runner{cfg: Config{Mix: mix, Persons: 1}}
		for _, e := range mix {
			sum := e.Weight
			if len(r.mixCum) > 0 {
				sum += r.mixCum[len(r.mixCum)-1]
			}
			r.mixCum = append(r.mixCum, sum)
		}
		w := r.newWorker(0)
		actions := map[string]int64{}
		for range 100_000 {
			actions[w.pick()]++
		}
		check(t, actions, func(float64, int64) float64 { return 0.03 })
	})

	t.Run("run", func(t *testing.T) {
		t.Parallel()
		f, srv := newFakeGateway(t)
		rep := run(t, f, Config{URL: srv.URL, Concurrency: 8, Duration: time.Second, Mix: mix, Persons: 200})
		// ±3%, or four standard deviations on a slow machine that sent few.
		check(t, rep.Actions, func(p float64, n int64) float64 {
			return math.Max(0.03, 4*math.Sqrt(p*(1-p)/float64(n)))
		})
		if rep.Total.Errors != 0 {
			t.Errorf("errors: %v", rep.Total.ErrorsByFault)
		}
		// Every pharmacy action is one whole flow.
		flows := rep.Actions[ActCreatePharmacyEffectuation]
		for _, op := range []string{"CreateOrder", "StartEffectuation", "CreatePharmacyEffectuation"} {
			if n := opCount(rep, op); n != flows {
				t.Errorf("%s: %d requests for %d pharmacy flows", op, n, flows)
			}
		}
		if n := opCount(rep, "CreatePrescription"); flows > 0 && (n < 1 || n > flows) {
			t.Errorf("CreatePrescription: %d requests for %d flows, want one per person at most", n, flows)
		}
		if rep.Total.Warnings["VersionMismatchWarning"] == 0 {
			t.Error("the fake's warnings were not counted")
		}
	})
}

func TestActionsLimit(t *testing.T) {
	t.Parallel()
	for _, rate := range []float64{0, 1000} {
		f, srv := newFakeGateway(t)
		start := time.Now()
		rep := run(t, f, Config{URL: srv.URL, Concurrency: 3, Rate: rate, Actions: 40, Duration: 10 * time.Second,
			Mix: []MixEntry{{ActGetMedicineCard, 1}}})
		if took := time.Since(start); took > 5*time.Second {
			t.Errorf("rate %v: 40 actions took %v", rate, took)
		}
		if rep.Actions[ActGetMedicineCard] != 40 || rep.Total.Count != 40 {
			t.Errorf("rate %v: %d actions, %d requests; want 40", rate, rep.Actions[ActGetMedicineCard], rep.Total.Count)
		}
	}
}

func TestZipfSkew(t *testing.T) {
	t.Parallel()
	const persons, draws = 1000, 100_000
	for _, tc := range []struct {
		s                  float64
		minShare, maxShare float64 // of the most chosen person
	}{
		{1.1, 0.10, 0.30}, // 1/H(1000, 1.1) ≈ 0.18
		{0, 0, 0.003},     // 1/1000, with room for chance
	} {
		c := newChooser(rand.New(rand.NewPCG(1, 2)), persons, tc.s)
		counts := make([]int, persons)
		for range draws {
			i := c.next()
			if i < 0 || i >= persons {
				t.Fatalf("s=%v: person %d out of range", tc.s, i)
			}
			counts[i]++
		}
		top := 0
		for _, n := range counts {
			top = max(top, n)
		}
		if share := float64(top) / draws; share < tc.minShare || share > tc.maxShare {
			t.Errorf("s=%v: the most chosen person got %.4f of the draws, want [%v, %v]", tc.s, share, tc.minShare, tc.maxShare)
		}
	}

	// And end to end: the server sees the skew.
	f, srv := newFakeGateway(t)
	rep := run(t, f, Config{URL: srv.URL, Concurrency: 4, Duration: 300 * time.Millisecond, Zipf: 1.1, Persons: 1000,
		Mix: []MixEntry{{ActGetMedicineCard, 1}}})
	_, byPerson, _, _ := f.snapshot()
	top := 0
	for _, n := range byPerson {
		top = max(top, n)
	}
	if share := float64(top) / float64(rep.Total.Count+1); share < 0.1 {
		t.Errorf("the server's most requested person got %.3f of the reads, want > 0.1", share)
	}
}

func TestSOAP12AndPasswordText(t *testing.T) {
	t.Parallel()
	f, srv := newFakeGateway(t)
	f.soap12 = true
	f.forced["CreateDrugMedication"] = "MedicineCardBusy"
	rep := run(t, f, Config{URL: srv.URL, Concurrency: 2, Duration: 200 * time.Millisecond, SOAP12: true, PasswordText: true,
		Mix: []MixEntry{{ActGetMedicineCard, 1}, {ActCreateDrugMedication, 1}}})
	if rep.Config.SOAP != "1.2" || rep.Config.Auth != "PasswordText" {
		t.Errorf("Config = %+v", rep.Config)
	}
	// The fake answers SOAP 1.2 faults; they count by FaultIdentifier.
	if n := rep.Total.ErrorsByFault["MedicineCardBusy"]; n == 0 || n != opCount(rep, "CreateDrugMedication") {
		t.Errorf("ErrorsByFault = %v, want every CreateDrugMedication as MedicineCardBusy", rep.Total.ErrorsByFault)
	}
}

// TestIncludePrescriptions: with IncludePrescriptions every GetMedicineCard,
// the preflight's too, asks for the whole card, and the report says so;
// without it none does.
func TestIncludePrescriptions(t *testing.T) {
	t.Parallel()
	for _, include := range []bool{false, true} {
		f, srv := newFakeGateway(t)
		rep := run(t, f, Config{URL: srv.URL, Concurrency: 2, Duration: 200 * time.Millisecond, IncludePrescriptions: include,
			Mix: []MixEntry{{ActGetMedicineCard, 1}}})
		f.mu.Lock()
		reads := maps.Clone(f.cardReads)
		f.mu.Unlock()
		want := ""
		if include {
			want = "true"
		}
		if reads[want] == 0 || len(reads) != 1 {
			t.Errorf("IncludePrescriptions %v: GetMedicineCard requests by their IncludePrescriptions = %v, want all %q", include, reads, want)
		}
		if rep.Config.IncludePrescriptions != include {
			t.Errorf("IncludePrescriptions %v: the report's config says %v", include, rep.Config.IncludePrescriptions)
		}
	}
}

func TestExpectedFaultsAreNotErrors(t *testing.T) {
	t.Parallel()
	f, srv := newFakeGateway(t)
	f.forced["PauseDrugMedication"] = "StatusTransitionNotAllowed"
	rep := run(t, f, Config{URL: srv.URL, Concurrency: 2, Duration: 200 * time.Millisecond,
		Mix: []MixEntry{{ActPauseDrugMedication, 1}}})
	pauses := opCount(rep, "PauseDrugMedication")
	if pauses == 0 || rep.Total.Errors != 0 || rep.Total.Expected != pauses {
		t.Errorf("%d pauses: errors %d, expected %d; want 0 errors and every pause expected", pauses, rep.Total.Errors, rep.Total.Expected)
	}
}

func TestPreflightFailsOnClosedPort(t *testing.T) {
	_, srv := newFakeGateway(t)
	url := srv.URL
	srv.Close()
	start := time.Now()
	if _, err := Run(context.Background(), Config{URL: url, Persons: 10, Duration: time.Second}); err == nil {
		t.Error("Run against a closed port: no error")
	}
	if took := time.Since(start); took > 500*time.Millisecond {
		t.Errorf("Run against a closed port took %v, want it to fail at once", took)
	}
}

func TestRefusesNonLoopback(t *testing.T) {
	for _, tc := range []struct {
		url    string
		remote bool
		ok     bool
	}{
		{"http://127.0.0.1:8080/medcard", false, true},
		{"http://127.9.9.9/medcard", false, true},
		{"http://localhost:8080/medcard", false, true},
		{"https://[::1]:8443/medcard", false, true},
		{"http://10.0.0.7:8080/medcard", false, false},
		{"http://gateway.prod.example:443/medcard", false, false},
		{"http://[2001:db8::1]/medcard", false, false},
		{"http://localhost.evil.example/medcard", false, false},
		{"http://10.0.0.7:8080/medcard", true, true},
		{"ftp://127.0.0.1/medcard", false, false},
		{"127.0.0.1:8080", false, false},
	} {
		err := CheckURL(tc.url, tc.remote)
		if (err == nil) != tc.ok {
			t.Errorf("CheckURL(%q, %v) = %v, want ok %v", tc.url, tc.remote, err, tc.ok)
		}
	}
	// Run refuses before sending anything.
	_, err := Run(context.Background(), Config{URL: "http://192.0.2.1/medcard", Persons: 10})
	if err == nil || !strings.Contains(err.Error(), "allow-remote") {
		t.Errorf("Run with a remote URL = %v, want a refusal naming --allow-remote", err)
	}
	// The dialler checks again after name resolution.
	c := NewClient(1, false)
	if _, err := c.Get("http://192.0.2.1:1/"); err == nil || !strings.Contains(err.Error(), "not a loopback") {
		t.Errorf("GET of a remote address = %v, want refused by the dialler", err)
	}
}

func TestParseMix(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []MixEntry
		ok   bool
	}{
		{DefaultMix, []MixEntry{{ActGetMedicineCard, 90}, {ActCreateDrugMedication, 5}, {ActPauseDrugMedication, 3}, {ActCreatePharmacyEffectuation, 2}}, true},
		{" GetMedicineCard = 1 , GetPrescription=0.5", []MixEntry{{ActGetMedicineCard, 1}, {ActGetPrescription, 0.5}}, true},
		{"GetMedicineCard=1,Nope=2", nil, false},
		{"GetMedicineCard", nil, false},
		{"GetMedicineCard=-1", nil, false},
		{"GetMedicineCard=0", nil, false},
		{"GetMedicineCard=1,GetMedicineCard=2", nil, false},
	} {
		got, err := ParseMix(tc.in)
		if (err == nil) != tc.ok {
			t.Errorf("ParseMix(%q) error = %v, want ok %v", tc.in, err, tc.ok)
			continue
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("ParseMix(%q) mismatch (-want +got):\n%s", tc.in, diff)
		}
		if tc.ok {
			if again, _ := ParseMix(FormatMix(got)); !cmp.Equal(again, got) {
				t.Errorf("FormatMix(%v) does not parse back", got)
			}
		}
	}
}

func TestParseAnswer(t *testing.T) {
	for _, tc := range []struct {
		name string
		body string
		want answer
	}{
		{"card", `<e:Envelope xmlns:e="` + nsEnv11 + `"><e:Body><GetMedicineCardResponse xmlns="` + nsMedcard + `"><MedicineCard>
			<PersonIdentifier>0101901234</PersonIdentifier><MedicineCardVersion>7</MedicineCardVersion><NeedsAttention>true</NeedsAttention>
			<Reviewed><MedicineCardVersion>2</MedicineCardVersion></Reviewed>
			<DrugMedication><Identifier>1</Identifier><Status>Active</Status></DrugMedication>
			<DrugMedication><Identifier>2</Identifier><Status>Active</Status><Conflict><Rule>r</Rule></Conflict></DrugMedication>
			<Prescription><Identifier>3</Identifier><Status>Open</Status></Prescription>
			</MedicineCard></GetMedicineCardResponse></e:Body></e:Envelope>`,
			answer{card: true, cardVersion: 7, drugMedications: []drugMedication{{id: 1, status: "Active"}, {id: 2, status: "Active", conflict: true}}}},
		{"write", `<s:Envelope xmlns:s="` + nsEnv12 + `"><s:Body><mc:CreateOrderResponse xmlns:mc="` + nsMedcard + `">
			<mc:MedicineCardVersion>12</mc:MedicineCardVersion>
			<mc:Item><mc:Type>Prescription</mc:Type><mc:Identifier>4</mc:Identifier><mc:Version>2</mc:Version></mc:Item>
			<mc:Item><mc:Type>Order</mc:Type><mc:Identifier>9</mc:Identifier><mc:Version>1</mc:Version></mc:Item>
			<mc:Warning><mc:Code>VersionMismatchWarning</mc:Code><mc:Message>m</mc:Message></mc:Warning>
			</mc:CreateOrderResponse></s:Body></s:Envelope>`,
			answer{cardVersion: 12, items: []item{{"Prescription", 4}, {"Order", 9}}, warnings: []string{"VersionMismatchWarning"}}},
	} {
		got, err := parseAnswer([]byte(tc.body))
		if err != nil {
			t.Errorf("%s: parseAnswer: %v", tc.name, err)
			continue
		}
		if diff := cmp.Diff(tc.want, got, cmp.AllowUnexported(answer{}, item{}, drugMedication{})); diff != "" {
			t.Errorf("%s: parseAnswer mismatch (-want +got):\n%s", tc.name, diff)
		}
	}
}

func TestReportJSONRoundTrip(t *testing.T) {
	t.Parallel()
	f, srv := newFakeGateway(t)
	rep := run(t, f, Config{URL: srv.URL, Name: "round trip", Concurrency: 2, Duration: 1100 * time.Millisecond,
		Mix: []MixEntry{{ActGetMedicineCard, 8}, {ActCreatePharmacyEffectuation, 2}}, GatewayPID: 1})
	var buf bytes.Buffer
	if err := rep.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	got, err := ReadReport(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(rep, got); diff != "" {
		t.Errorf("JSON round trip mismatch (-wrote +read):\n%s", diff)
	}
	if len(got.Ops) < 4 || len(got.Series) != 2 || got.Ops[0].HDR == "" || got.GatewayCPU == nil {
		t.Errorf("report lacks ops, series, histograms or the gateway's CPU: %+v", got)
	}
	if strings.Contains(buf.String(), DefaultDoctor.Secret) {
		t.Error("the JSON report contains a secret")
	}
	// Another schema is refused.
	if _, err := ReadReport(strings.NewReader(`{"schema":"other/v9"}`)); err == nil {
		t.Error("ReadReport of another schema: no error")
	}
}

func TestSVGIsWellFormed(t *testing.T) {
	series := []Point{{T: 0, Requests: 900, RPS: 900, P50Ms: 1.2, P99Ms: 9.5, MaxMs: 30},
		{T: 1, Requests: 0}, // a silent second breaks the latency lines
		{T: 2, Requests: 1000, RPS: 1000, Errors: 12, P50Ms: 1.1, P99Ms: 250, MaxMs: 900}}
	for _, tc := range []struct {
		name string
		rep  *Report
	}{
		{"series", &Report{Name: `a <b> & "c"`, Series: series, MeasuredSeconds: 3,
			Config: ReportConfig{Mode: "open", Rate: 1000, SOAP: "1.1", Mix: []MixEntry{{ActGetMedicineCard, 1}}}}},
		{"one point", &Report{Series: series[:1]}},
		{"empty", &Report{}},
	} {
		var buf bytes.Buffer
		if err := tc.rep.WriteSVG(&buf); err != nil {
			t.Fatalf("%s: WriteSVG: %v", tc.name, err)
		}
		d := xml.NewDecoder(&buf)
		root := ""
		for {
			tok, err := d.Token()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("%s: the SVG is not well-formed XML: %v\n%s", tc.name, err, buf.String())
			}
			if se, ok := tok.(xml.StartElement); ok && root == "" {
				root = se.Name.Space + " " + se.Name.Local
			}
		}
		if root != "http://www.w3.org/2000/svg svg" {
			t.Errorf("%s: root element %q, want svg", tc.name, root)
		}
	}
}

func TestParseProcStat(t *testing.T) {
	line := "4242 (gate way) (x)) S 1 4242 4242 0 -1 4194560 1234 0 0 0 250 75 0 0 20 0 12 0 100 0 0\n"
	got, err := parseProcStat([]byte(line))
	if err != nil || got != 3250*time.Millisecond {
		t.Errorf("parseProcStat = %v, %v; want 3.25s", got, err)
	}
	if _, err := parseProcStat([]byte("42 (x) S 1")); err == nil {
		t.Error("parseProcStat of a short line: no error")
	}
}

// BenchmarkRun shows the generator in a Go benchmark: b.N actions against
// the fake gateway, with the latency percentiles as extra metrics.
func BenchmarkRun(b *testing.B) {
	_, srv := newFakeGateway(b)
	rep, err := Run(context.Background(), Config{URL: srv.URL, Concurrency: 8, Actions: int64(b.N), Duration: time.Minute,
		Persons: 100, Mix: []MixEntry{{ActGetMedicineCard, 9}, {ActCreateDrugMedication, 1}}})
	if err != nil {
		b.Fatal(err)
	}
	if rep.Total.Errors > 0 {
		b.Fatalf("errors: %v", rep.Total.ErrorsByFault)
	}
	b.ReportMetric(rep.Total.Latency.P50Ms*1000, "p50-µs")
	b.ReportMetric(rep.Total.Latency.P99Ms*1000, "p99-µs")
	b.ReportMetric(rep.Total.RPS, "req/s")
}

// TestFaultKey: a fault counts under its FaultIdentifier, else (SOAP 1.2)
// its subcode.
func TestFaultKey(t *testing.T) {
	for _, tc := range []struct {
		name, body, want string
	}{
		{"fault 1.1", `<soap:Envelope xmlns:soap="` + nsEnv11 + `"><soap:Body><soap:Fault><faultcode>soap:Client</faultcode><faultstring>x</faultstring>
			<detail><mc:MedicineCardFault xmlns:mc="` + nsMedcard + `"><mc:FaultIdentifier>OpenOrderExists</mc:FaultIdentifier></mc:MedicineCardFault></detail>
			</soap:Fault></soap:Body></soap:Envelope>`, "OpenOrderExists"},
		{"fault 1.1 without detail", `<soap:Envelope xmlns:soap="` + nsEnv11 + `"><soap:Body><soap:Fault><faultcode>soap:Client</faultcode><faultstring>x</faultstring>
			</soap:Fault></soap:Body></soap:Envelope>`, "Client"},
		{"fault 1.2 without detail", `<env:Envelope xmlns:env="` + nsEnv12 + `"><env:Body><env:Fault><env:Code><env:Value>env:Sender</env:Value>
			<env:Subcode><env:Value>mc:MalformedMessage</env:Value></env:Subcode></env:Code></env:Fault></env:Body></env:Envelope>`, "MalformedMessage"},
		{"fault 1.2 without subcode", `<env:Envelope xmlns:env="` + nsEnv12 + `"><env:Body><env:Fault><env:Code><env:Value>env:Sender</env:Value>
			</env:Code></env:Fault></env:Body></env:Envelope>`, "Fault"},
	} {
		f, err := soapclient.ParseFault([]byte(tc.body))
		if err != nil {
			t.Errorf("%s: ParseFault: %v", tc.name, err)
			continue
		}
		if got := faultKey(f); got != tc.want {
			t.Errorf("%s: faultKey = %q, want %q", tc.name, got, tc.want)
		}
	}
}

// TestParseAnswerGolden reads the gateway's golden GetMedicineCard answers
// (soap/testdata), SOAP 1.1 and 1.2: a card with its version and drug
// medications.
func TestParseAnswerGolden(t *testing.T) {
	for _, name := range []string{"get-card-11.xml", "get-card-12.xml"} {
		body, err := os.ReadFile(filepath.Join("..", "soap", "testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		a, err := parseAnswer(body)
		if err != nil {
			t.Fatalf("%s: parseAnswer: %v", name, err)
		}
		if !a.card || a.cardVersion == 0 || len(a.drugMedications) == 0 || a.drugMedications[0].id == 0 {
			t.Errorf("%s: parseAnswer = %+v, want a card with a version and drug medications", name, a)
		}
		if _, err := parseAnswer(body[:len(body)/2]); err == nil {
			t.Errorf("%s: parseAnswer of half the answer succeeded, want an error", name)
		}
	}
}

// BenchmarkParseAnswer is the load generator's cost of reading a card
// answer, paid on the same cores as the gateway it measures.
func BenchmarkParseAnswer(b *testing.B) {
	body, err := os.ReadFile(filepath.Join("..", "soap", "testdata", "get-card-11.xml"))
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := parseAnswer(body); err != nil {
			b.Fatal(err)
		}
	}
}
