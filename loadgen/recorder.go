package loadgen

import (
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Histogram bounds: latencies in microseconds from 1 µs to 60 s; longer
// ones are recorded as 60 s.
const (
	histMin     = 1
	histMax     = 60_000_000
	histSigFigs = 3
	// seriesSigFigs is the precision of the per-second histograms: two
	// digits keep a long run's memory small and are plenty for a plot.
	seriesSigFigs = 2
)

// outcome is how one request ended.
type outcome struct {
	// errKey names an error (fault identifier, transport or HTTP failure);
	// empty for success.
	errKey string
	// expected marks errKey as an expected fault (see the package doc).
	expected bool
	warnings []string
}

// opStats accumulates one operation's requests.
type opStats struct {
	hist     *hdrhistogram.Histogram
	errors   int64
	expected int64
	byFault  map[string]int64
	expFault map[string]int64
	warnings map[string]int64
}

// secondStats accumulates the requests completed in one second.
type secondStats struct {
	hist   *hdrhistogram.Histogram
	errors int64
}

// recorder collects the measured requests. It is safe for concurrent use.
type recorder struct {
	start  time.Time     // measurement start
	length time.Duration // measurement length; completions after it stay out of the series

	mu      sync.Mutex
	ops     map[string]*opStats
	actions map[string]int64
	warmup  int64
	open    map[int]*secondStats // seconds not yet turned into points
	points  []Point              // finished seconds, index = second
	spare   []*hdrhistogram.Histogram
}

func newRecorder(start time.Time, length time.Duration) *recorder {
	return &recorder{start: start, length: length, ops: map[string]*opStats{},
		actions: map[string]int64{}, open: map[int]*secondStats{}}
}

func micros(d time.Duration) int64 {
	us := d.Microseconds()
	return min(max(us, histMin), histMax)
}

// action counts one action the mix chose, if it started after warmup.
func (r *recorder) action(name string, started time.Time) {
	if started.Before(r.start) {
		return
	}
	r.mu.Lock()
	r.actions[name]++
	r.mu.Unlock()
}

// record adds one request of op that was due at started and completed at
// done. Requests due before the measurement start are warmup.
func (r *recorder) record(op string, started, done time.Time, o outcome) {
	if started.Before(r.start) {
		r.mu.Lock()
		r.warmup++
		r.mu.Unlock()
		return
	}
	us := micros(done.Sub(started))
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.ops[op]
	if s == nil {
		s = &opStats{hist: hdrhistogram.New(histMin, histMax, histSigFigs),
			byFault: map[string]int64{}, expFault: map[string]int64{}, warnings: map[string]int64{}}
		r.ops[op] = s
	}
	_ = s.hist.RecordValue(us) // in range by construction
	for _, w := range o.warnings {
		s.warnings[w]++
	}
	switch {
	case o.errKey == "":
	case o.expected:
		s.expected++
		s.expFault[o.errKey]++
	default:
		s.errors++
		s.byFault[o.errKey]++
	}

	at := done.Sub(r.start)
	if at < 0 || at >= r.length {
		return
	}
	sec := int(at / time.Second)
	if sec < len(r.points) { // a straggler for a finished second
		r.points[sec].Requests++
		if o.errKey != "" && !o.expected {
			r.points[sec].Errors++
		}
		return
	}
	ss := r.open[sec]
	if ss == nil {
		ss = &secondStats{hist: r.newSeriesHist()}
		r.open[sec] = ss
	}
	_ = ss.hist.RecordValue(us)
	if o.errKey != "" && !o.expected {
		ss.errors++
	}
}

func (r *recorder) newSeriesHist() *hdrhistogram.Histogram {
	if n := len(r.spare); n > 0 {
		h := r.spare[n-1]
		r.spare = r.spare[:n-1]
		return h
	}
	return hdrhistogram.New(histMin, histMax, seriesSigFigs)
}

// flush turns every second before until into points and returns the new
// ones. A second is flushed once: later stragglers only add to its counts.
func (r *recorder) flush(until time.Time) []Point {
	r.mu.Lock()
	defer r.mu.Unlock()
	last := int(until.Sub(r.start) / time.Second) // seconds [0, last) are over
	last = min(last, int((r.length+time.Second-1)/time.Second))
	first := len(r.points)
	for sec := first; sec < last; sec++ {
		p := Point{T: sec}
		if ss := r.open[sec]; ss != nil {
			p.Requests = ss.hist.TotalCount()
			p.Errors = ss.errors
			p.P50Ms = ms(ss.hist.ValueAtQuantile(50))
			p.P99Ms = ms(ss.hist.ValueAtQuantile(99))
			p.MaxMs = ms(ss.hist.Max())
			ss.hist.Reset()
			r.spare = append(r.spare, ss.hist)
			delete(r.open, sec)
		}
		// A second may be shorter than one at the end of the measurement.
		span := min(time.Second, r.length-time.Duration(sec)*time.Second)
		p.RPS = float64(p.Requests) / span.Seconds()
		r.points = append(r.points, p)
	}
	if first >= len(r.points) {
		return nil
	}
	return slices.Clone(r.points[first:])
}

// finish flushes every second, the last one partial, of a measurement
// that lasted measured, and returns all points.
func (r *recorder) finish(measured time.Duration) []Point {
	r.mu.Lock()
	r.length = measured
	r.mu.Unlock()
	r.flush(r.start.Add(measured + time.Second - 1))
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.points
}

func ms(us int64) float64 { return float64(us) / 1000 }

// summaries returns the per-operation summaries, in a stable order, and
// the total over all operations. measured is the measurement's length.
func (r *recorder) summaries(measured time.Duration) ([]OpSummary, OpSummary) {
	r.mu.Lock()
	defer r.mu.Unlock()
	all := &opStats{hist: hdrhistogram.New(histMin, histMax, histSigFigs),
		byFault: map[string]int64{}, expFault: map[string]int64{}, warnings: map[string]int64{}}
	var out []OpSummary
	for _, op := range slices.Sorted(maps.Keys(r.ops)) {
		s := r.ops[op]
		out = append(out, summarize(op, s, measured))
		all.hist.Merge(s.hist)
		all.errors += s.errors
		all.expected += s.expected
		for k, v := range s.byFault {
			all.byFault[k] += v
		}
		for k, v := range s.expFault {
			all.expFault[k] += v
		}
		for k, v := range s.warnings {
			all.warnings[k] += v
		}
	}
	slices.SortStableFunc(out, func(a, b OpSummary) int { return opRank(a.Op) - opRank(b.Op) })
	return out, summarize("all", all, measured)
}

// opRank orders operations as a reader expects: reads, then clinical
// writes, then the pharmacy flow in its order.
func opRank(op string) int {
	order := []string{"GetMedicineCard", "GetPrescription", "CreateDrugMedication", "PauseDrugMedication",
		"CreatePrescription", "CreateOrder", "StartEffectuation", "CreatePharmacyEffectuation"}
	if i := slices.Index(order, op); i >= 0 {
		return i
	}
	return len(order)
}

func summarize(op string, s *opStats, measured time.Duration) OpSummary {
	h := s.hist
	sum := OpSummary{
		Op: op, Count: h.TotalCount(), Errors: s.errors, Expected: s.expected,
		Latency: Latency{
			P50Ms: ms(h.ValueAtQuantile(50)), P90Ms: ms(h.ValueAtQuantile(90)), P95Ms: ms(h.ValueAtQuantile(95)),
			P99Ms: ms(h.ValueAtQuantile(99)), P999Ms: ms(h.ValueAtQuantile(99.9)), MaxMs: ms(h.Max()),
			MeanMs: h.Mean() / 1000,
		},
		ErrorsByFault: nonEmpty(s.byFault), ExpectedByFault: nonEmpty(s.expFault), Warnings: nonEmpty(s.warnings),
	}
	if measured > 0 {
		sum.RPS = float64(sum.Count) / measured.Seconds()
	}
	if enc, err := h.Encode(hdrhistogram.V2CompressedEncodingCookieBase); err == nil {
		sum.HDR = string(enc)
	}
	return sum
}

func nonEmpty(m map[string]int64) map[string]int64 {
	if len(m) == 0 {
		return nil
	}
	return maps.Clone(m)
}
