package loadgen

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/sharedmedcard/gateway/internal/soapclient"
)

// runner is what the workers of one run share.
type runner struct {
	cfg      Config
	soap     *soapclient.Client
	version  soapclient.Version
	security soapclient.Security
	persons  *persons
	rec      *recorder
	mixCum   []float64 // cumulative weights of cfg.Mix
	today    string
}

// Run generates the load cfg describes and reports on it. It returns when
// the duration is over and the requests in flight are answered (or timed
// out), or early with what it measured so far when ctx is cancelled. It
// fails before sending any load if cfg is invalid, the URL is not loopback
// (unless allowed), or the service does not answer a first read with
// either identity.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	client := cfg.Client
	if client == nil {
		client = NewClient(cfg.Concurrency, cfg.AllowRemote)
		defer client.CloseIdleConnections()
	}
	now := time.Now()
	r := &runner{cfg: cfg, soap: soapclient.New(cfg.URL, client), persons: newPersons(cfg.Seed, now), today: now.Format(time.DateOnly)}
	if cfg.SOAP12 {
		r.version = soapclient.SOAP12
	}
	if cfg.PasswordText {
		r.security = soapclient.TextToken
	}
	total := 0.0
	for _, e := range cfg.Mix {
		total += e.Weight
		r.mixCum = append(r.mixCum, total)
	}
	if err := r.preflight(ctx); err != nil {
		return nil, err
	}

	begin := time.Now()
	measureStart := begin.Add(cfg.Warmup)
	end := measureStart.Add(cfg.Duration)
	r.rec = newRecorder(measureStart, cfg.Duration)

	// The ticker starts the CPU meters when the measurement starts, then
	// turns each second into a point.
	tickDone := make(chan struct{})
	stopTick := make(chan struct{})
	var clientCPU, gatewayCPU *cpuMeter
	go func() {
		defer close(tickDone)
		if !sleepUntil(stopTick, measureStart) {
			return
		}
		clientCPU = startCPU(0)
		if cfg.GatewayPID > 0 {
			gatewayCPU = startCPU(cfg.GatewayPID)
		}
		for next := measureStart.Add(time.Second); ; next = next.Add(time.Second) {
			if !sleepUntil(stopTick, next) {
				return
			}
			for _, p := range r.rec.flush(next) {
				if cfg.Progress != nil {
					cfg.Progress(p)
				}
			}
		}
	}()

	var unsent int64
	var wg sync.WaitGroup
	if cfg.Rate > 0 {
		jobs := make(chan time.Time)
		for i := range cfg.Concurrency {
			w := r.newWorker(i)
			wg.Go(func() {
				for due := range jobs {
					w.act(ctx, due)
				}
			})
		}
		unsent = schedule(ctx, jobs, cfg.Rate, cfg.Actions, begin, measureStart, end)
		close(jobs)
	} else {
		var started atomic.Int64 // measured actions
		for i := range cfg.Concurrency {
			w := r.newWorker(i)
			wg.Go(func() {
				for ctx.Err() == nil {
					start := time.Now()
					if !start.Before(end) {
						return
					}
					if cfg.Actions > 0 && !start.Before(measureStart) && started.Add(1) > cfg.Actions {
						return
					}
					w.act(ctx, start)
				}
			})
		}
	}
	wg.Wait()
	stopped := time.Now()
	close(stopTick)
	<-tickDone

	last := stopped
	if last.After(end) && cfg.Actions == 0 {
		last = end // the tail of requests in flight at the end is not measured time
	}
	measured := last.Sub(measureStart)
	interrupted := ctx.Err() != nil && stopped.Before(end)
	if measured < 0 {
		measured = 0
	}
	series := r.rec.finish(measured)
	ops, all := r.rec.summaries(measured)
	rep := &Report{
		Schema: Schema, Name: cfg.Name, Config: reportConfig(cfg), Started: measureStart.Round(0),
		MeasuredSeconds: measured.Seconds(), Interrupted: interrupted,
		Total: all, Ops: ops, Actions: r.rec.actions, Unsent: unsent, WarmupRequests: r.rec.warmup,
		Series: series,
	}
	if clientCPU != nil {
		rep.ClientCPU = clientCPU.stop(all.Count, stopped.Sub(measureStart))
		if gatewayCPU != nil {
			c := gatewayCPU.stop(all.Count, stopped.Sub(measureStart))
			rep.GatewayCPU = &c
		}
	} else {
		rep.ClientCPU.Error = "the run ended before the measurement started"
	}
	return rep, nil
}

// sleepUntil waits until t and reports true, or false if stop closes first.
func sleepUntil(stop <-chan struct{}, t time.Time) bool {
	timer := time.NewTimer(time.Until(t))
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-stop:
		return false
	}
}

// schedule hands the workers one due time per 1/rate seconds from begin
// until end, or until it handed out limit measured ones (if limit > 0).
// When every worker is busy it blocks, and then hands out the due times it
// owes at once, late: the lateness counts in their latency. It returns how
// many measured actions it never handed out.
func schedule(ctx context.Context, jobs chan<- time.Time, rate float64, limit int64, begin, measureStart, end time.Time) (unsent int64) {
	interval := time.Duration(float64(time.Second) / rate)
	if interval <= 0 {
		interval = 1
	}
	dueAt := func(k int64) time.Time { return begin.Add(time.Duration(float64(k) * float64(time.Second) / rate)) }
	timer := time.NewTimer(0)
	defer timer.Stop()
	<-timer.C
	var handed int64 // measured due times handed out
	for k := int64(0); ; k++ {
		due := dueAt(k)
		isMeasured := !due.Before(measureStart)
		if !due.Before(end) || (isMeasured && limit > 0 && handed == limit) {
			return 0
		}
		if wait := time.Until(due); wait > 0 {
			timer.Reset(wait)
			select {
			case <-timer.C:
			case <-ctx.Done():
				return 0
			}
		}
		if !time.Now().Before(end) {
			// Behind schedule at the end: what is still owed was never sent.
			for ; due.Before(end) && (limit == 0 || handed+unsent < limit); due = due.Add(interval) {
				if !due.Before(measureStart) {
					unsent++
				}
			}
			return unsent
		}
		select {
		case jobs <- due:
			if isMeasured {
				handed++
			}
		case <-ctx.Done():
			return 0
		}
	}
}

// NewClient returns an HTTP client for load: keep-alive with enough idle
// connections for concurrency, no proxy, no compression, no redirects,
// and — unless allowRemote — dialling loopback addresses only.
func NewClient(concurrency int, allowRemote bool) *http.Client {
	dialer := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	if !allowRemote {
		dialer.Control = func(_, address string, _ syscall.RawConn) error {
			host, _, err := net.SplitHostPort(address)
			if err != nil {
				return err
			}
			if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
				return fmt.Errorf("refusing to connect to %s: not a loopback address", address)
			}
			return nil
		}
	}
	transport := &http.Transport{
		Proxy:               nil,
		DialContext:         dialer.DialContext,
		MaxIdleConns:        concurrency + 16,
		MaxIdleConnsPerHost: concurrency + 16,
		IdleConnTimeout:     90 * time.Second,
		TLSHandshakeTimeout: 5 * time.Second,
		DisableCompression:  true,
	}
	return &http.Client{
		Transport:     transport,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

func reportConfig(c Config) ReportConfig {
	rc := ReportConfig{
		URL: c.URL, Mode: "closed", Concurrency: c.Concurrency, Rate: c.Rate,
		Duration: c.Duration.String(), Warmup: c.Warmup.String(), Timeout: c.Timeout.String(),
		Mix: c.Mix, Persons: c.Persons, Seed: c.Seed, Zipf: c.Zipf, IncludePrescriptions: c.IncludePrescriptions, SOAP: "1.1", Auth: "PasswordDigest",
		Doctor: callerOf(c.Doctor), Pharmacy: callerOf(c.Pharmacy), Actions: c.Actions, GatewayPID: c.GatewayPID, GoMaxProcs: runtime.GOMAXPROCS(0),
	}
	if c.Rate > 0 {
		rc.Mode = "open"
	}
	if c.SOAP12 {
		rc.SOAP = "1.2"
	}
	if c.PasswordText {
		rc.Auth = "PasswordText"
	}
	return rc
}

func callerOf(id Identity) Caller {
	return Caller{System: id.System, Organisation: id.Organisation, Role: id.Role}
}

// preflight reads one card with each identity the mix needs, so that a
// wrong URL or credentials fail at once rather than as 100% errors.
func (r *runner) preflight(ctx context.Context) error {
	w := r.newWorker(-1)
	ids := []Identity{r.cfg.Doctor}
	for _, e := range r.cfg.Mix {
		if e.Action == ActCreatePharmacyEffectuation {
			ids = append(ids, r.cfg.Pharmacy)
		}
	}
	person := r.persons.get(0)
	for _, id := range ids {
		a, key, err := w.send(ctx, "GetMedicineCard", id, bodyGetMedicineCard(person.id, r.cfg.IncludePrescriptions))
		if err != nil {
			return fmt.Errorf("preflight: %s: %w", r.cfg.URL, err)
		}
		if key != "" {
			return fmt.Errorf("preflight: GetMedicineCard as %s (%s): %s", id.System, id.Role, key)
		}
		if a.card {
			person.state.sawCard(a.cardVersion, a.drugMedications)
		}
	}
	return nil
}

// worker runs actions one at a time, with its own random source and
// answer buffer.
type worker struct {
	*runner
	rng    *rand.Rand
	choose *chooser
	resp   soapclient.Response
}

func (r *runner) newWorker(i int) *worker {
	rng := rand.New(rand.NewPCG(r.cfg.Seed, uint64(i+1)<<32|0x5eed))
	return &worker{runner: r, rng: rng, choose: newChooser(rng, r.cfg.Persons, r.cfg.Zipf)}
}

// pick chooses an action by the mix's weights.
func (w *worker) pick() string {
	x := w.rng.Float64() * w.mixCum[len(w.mixCum)-1]
	for i, c := range w.mixCum {
		if x < c {
			return w.cfg.Mix[i].Action
		}
	}
	return w.cfg.Mix[len(w.cfg.Mix)-1].Action
}

// act runs one action that was due at due.
func (w *worker) act(ctx context.Context, due time.Time) {
	action := w.pick()
	w.rec.action(action, due)
	doctor := w.cfg.Doctor
	switch action {
	case ActGetMedicineCard:
		p := w.persons.get(w.choose.next())
		if a, ok := w.call(ctx, due, &p.state, "GetMedicineCard", doctor, bodyGetMedicineCard(p.id, w.cfg.IncludePrescriptions)); ok && a.card {
			p.state.sawCard(a.cardVersion, a.drugMedications)
		}
	case ActGetPrescription:
		p := w.persons.get(w.choose.next())
		if a, ok := w.call(ctx, due, &p.state, "GetPrescription", doctor, bodyGetPrescription(p.id)); ok {
			p.state.seen(a.cardVersion)
		}
	case ActCreateDrugMedication:
		p := w.persons.get(w.choose.next())
		w.createDrugMedication(ctx, due, p, true)
	case ActPauseDrugMedication:
		p := w.persons.get(w.choose.next())
		dm := p.state.claimActive(w.rng)
		start := due
		if dm == 0 {
			// Ours to pause: not offered to other workers.
			if dm = w.createDrugMedication(ctx, due, p, false); dm == 0 {
				return
			}
			start = time.Now()
		}
		if a, ok := w.call(ctx, start, &p.state, "PauseDrugMedication", doctor,
			bodyPauseDrugMedication(p.id, p.state.currentVersion(), dm)); ok {
			p.state.seen(a.cardVersion)
		}
	case ActCreatePharmacyEffectuation:
		w.dispense(ctx, due)
	}
}

// createDrugMedication adds a drug medication to p's card and returns its
// identifier, or 0 if that failed. offer makes it a candidate for pauses.
func (w *worker) createDrugMedication(ctx context.Context, start time.Time, p *personEntry, offer bool) int64 {
	a, ok := w.call(ctx, start, &p.state, "CreateDrugMedication", w.cfg.Doctor,
		bodyCreateDrugMedication(p.id, p.state.currentVersion(), w.today))
	if !ok {
		return 0
	}
	p.state.seen(a.cardVersion)
	id := a.itemID("DrugMedication")
	if id != 0 && offer {
		p.state.addActive(id)
	}
	return id
}

// dispense runs the pharmacy flow on a person whose flow is not already
// running: a prescription if the person has none open from us, then
// CreateOrder, StartEffectuation and CreatePharmacyEffectuation.
func (w *worker) dispense(ctx context.Context, due time.Time) {
	var p *personEntry
	for try := 0; ; try++ {
		p = w.persons.get(w.choose.next())
		if p.state.dispensing.TryLock() {
			break
		}
		if try == 7 { // a very hot person: queue behind its flow
			p.state.dispensing.Lock()
			break
		}
	}
	defer p.state.dispensing.Unlock()
	st := &p.state
	start := due
	step := func(op string, id Identity, body string) (answer, bool) {
		a, ok := w.call(ctx, start, st, op, id, body)
		start = time.Now()
		if !ok {
			st.rx = 0 // start over with a new prescription next time
			return a, false
		}
		st.seen(a.cardVersion)
		return a, true
	}
	if st.rx == 0 || st.rxLeft <= 0 {
		a, ok := step("CreatePrescription", w.cfg.Doctor, bodyCreatePrescription(p.id, st.currentVersion()))
		if !ok {
			return
		}
		if st.rx = a.itemID("Prescription"); st.rx == 0 {
			return
		}
		st.rxLeft = 1 + rxIterations
	}
	pharmacy := w.cfg.Pharmacy
	a, ok := step("CreateOrder", pharmacy, bodyCreateOrder(p.id, st.currentVersion(), st.rx))
	if !ok {
		return
	}
	order := a.itemID("Order")
	if order == 0 {
		st.rx = 0
		return
	}
	if _, ok := step("StartEffectuation", pharmacy, bodyOrderAction(p.id, st.currentVersion(), order)); !ok {
		return
	}
	if _, ok := step("CreatePharmacyEffectuation", pharmacy, bodyCreatePharmacyEffectuation(p.id, st.currentVersion(), order)); ok {
		st.rxLeft--
	}
}

// expectedFaults are the faults of an operation the package doc explains.
var expectedFaults = map[string][]string{
	"PauseDrugMedication": {"StatusTransitionNotAllowed", "ItemHasUnresolvedConflict"},
}

func isExpected(op, key string) bool {
	for _, k := range expectedFaults[op] {
		if k == key {
			return true
		}
	}
	return false
}

// call sends one request about person p, due at start, and records it.
// It reports whether the answer was a success.
func (w *worker) call(ctx context.Context, start time.Time, p *personState, op string, id Identity, body string) (answer, bool) {
	a, key, err := w.send(ctx, op, id, body)
	done := time.Now()
	if err != nil {
		if ctx.Err() != nil {
			return a, false // interrupted: not the service's doing
		}
		key = transportKind(err)
	}
	if key == "InvalidMedicineCardVersion" {
		// The card is older than an answer said (say it was reloaded
		// meanwhile): an error, but start over from version 0.
		p.forgetVersion()
	}
	w.rec.record(op, start, done, outcome{errKey: key, expected: isExpected(op, key), warnings: a.warnings})
	return a, key == ""
}

// send posts one request and reads its answer. A transport failure is an
// error; a fault or an unusable answer is an error key.
func (w *worker) send(ctx context.Context, op string, id Identity, params string) (answer, string, error) {
	ctx, cancel := context.WithTimeout(ctx, w.cfg.Timeout)
	defer cancel()
	req := soapclient.Request{Version: w.version, Operation: op, Params: params, Identity: id.soapIdentity(),
		Security: w.security, MessageID: soapclient.NewMessageID()}
	if err := w.soap.Do(ctx, &req, &w.resp); err != nil {
		return answer{}, "", err
	}
	switch {
	case w.resp.Fault != nil:
		return answer{}, faultKey(w.resp.Fault), nil
	case w.resp.Status != http.StatusOK:
		return answer{}, fmt.Sprintf("HTTP %d", w.resp.Status), nil
	}
	a, err := parseAnswer(w.resp.Body)
	if err != nil {
		return a, "UnreadableResponse", nil
	}
	return a, "", nil
}

// transportKind names a transport failure for the report.
func transportKind(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()):
		return "transport:timeout"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "transport:connection-refused"
	case errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE):
		return "transport:connection-reset"
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		return "transport:eof"
	}
	return "transport:other"
}
