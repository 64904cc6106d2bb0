package robustness

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sharedmedcard/gateway/internal/soapclient"
	"github.com/sharedmedcard/gateway/medcard"
	"github.com/sharedmedcard/gateway/seed"
	"github.com/sharedmedcard/gateway/shard"
)

// Client limits. A write's exchange (first send and resends under one
// MessageID) is bounded in attempts and time; past either it stays unknown.
const (
	clientTimeout    = 3 * time.Second
	writeMaxAttempts = 15
	writeMaxTime     = 20 * time.Second
	// resendShare of acknowledged writes are sent once more, to the other
	// gateway, and must get the stored first answer back.
	resendShare = 0.05
)

// personPool is the set of hot persons the clients work on. A person is
// retired after RetireAfter writes and replaced by a fresh one, so cards
// stay small.
type personPool struct {
	mu          sync.Mutex
	gen         *seed.Generator
	next        *int // the cluster's index of the next fresh person
	hot         []*hotPerson
	all         []string
	retireAfter int
	// pinned persons are not retired (a nemesis works on their shards).
	pinned map[string]bool
}

type hotPerson struct {
	id     string
	writes int
}

func newPersonPool(next *int, hot, retireAfter int) *personPool {
	p := &personPool{gen: seed.New(personSeed, time.Now()), next: next, retireAfter: retireAfter}
	for range hot {
		p.hot = append(p.hot, &hotPerson{id: p.fresh()})
	}
	return p
}

func (p *personPool) fresh() string {
	id := string(p.gen.Person(*p.next))
	*p.next++
	p.all = append(p.all, id)
	return id
}

// forWrite draws a hot person for one write and counts it.
func (p *personPool) forWrite(rng *rand.Rand) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	i := rng.IntN(len(p.hot))
	h := p.hot[i]
	h.writes++
	if h.writes >= p.retireAfter && !p.pinned[h.id] {
		p.hot[i] = &hotPerson{id: p.fresh()}
	}
	return h.id
}

// forRead draws a hot person.
func (p *personPool) forRead(rng *rand.Rand) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.hot[rng.IntN(len(p.hot))].id
}

// pin keeps persons hot, however many writes they get, until unpin is
// called; then each is retired at its next write if it had its share.
func (p *personPool) pin(persons []string) (unpin func()) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.pinned == nil {
		p.pinned = map[string]bool{}
	}
	for _, id := range persons {
		p.pinned[id] = true
	}
	return func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		for _, id := range persons {
			delete(p.pinned, id)
		}
	}
}

// hotNow is a copy of the hot persons.
func (p *personPool) hotNow() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]string, len(p.hot))
	for i, h := range p.hot {
		out[i] = h.id
	}
	return out
}

// everyone is every person the run used.
func (p *personPool) everyone() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.all...)
}

// recorder collects the operations of all clients and every successful
// write attempt per gateway (for the recovery time).
type recorder struct {
	mu   sync.Mutex
	ops  []Operation
	acks []gatewayAck
	done atomic.Int64
}

type gatewayAck struct {
	gateway string
	at      time.Time
}

func (r *recorder) add(op Operation) {
	r.mu.Lock()
	op.ID = len(r.ops)
	r.ops = append(r.ops, op)
	r.mu.Unlock()
	r.done.Add(1)
}

func (r *recorder) ack(gateway string, at time.Time) {
	r.mu.Lock()
	r.acks = append(r.acks, gatewayAck{gateway, at})
	r.mu.Unlock()
}

// workload runs the writers and readers of one run.
type workload struct {
	gateways []*Gateway
	persons  *personPool
	rec      *recorder
	http     *http.Client
	runTag   string
	today    string
}

// runClients runs writers and readers until stop is closed, then lets the
// operations in flight end (each is bounded) and returns.
func (w *workload) runClients(stop <-chan struct{}, writers, readers int) {
	var wg sync.WaitGroup
	for i := range writers + readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), uint64(i)))
			seen := map[string]int64{}
			for seq := 0; ; seq++ {
				select {
				case <-stop:
					return
				default:
				}
				if i < writers {
					w.rec.add(w.write(i, seq, rng, seen))
				} else {
					w.rec.add(w.read(i, rng))
				}
			}
		}()
	}
	wg.Wait()
}

// write runs one CreateDrugMedication exchange: the first send to a random
// gateway, resends of the same request to the other gateway on a timeout,
// a connection error or a retryable fault, and now and then one deliberate
// resend after the answer.
func (w *workload) write(client, seq int, rng *rand.Rand, seen map[string]int64) Operation {
	person := w.persons.forWrite(rng)
	tag := fmt.Sprintf("%s-c%d-%d", w.runTag, client, seq)
	req := createDrugMedicationRequest(person, seen[person], tag, w.today)
	op := Operation{Client: client, Kind: OpWrite, Person: person, Tag: tag, MessageID: req.MessageID,
		Invoke: time.Now(), Outcome: OutcomeUnknown}
	gw := rng.IntN(len(w.gateways))
	backoff := 50 * time.Millisecond
	deadline := op.Invoke.Add(writeMaxTime)
	for attempt := 0; attempt < writeMaxAttempts; attempt++ {
		if attempt > 0 {
			time.Sleep(backoff/2 + rand.N(backoff/2))
			backoff = min(2*backoff, time.Second)
			gw = (gw + 1) % len(w.gateways)
			if time.Now().After(deadline) {
				break
			}
		}
		a := w.send(gw, req)
		op.Attempts++
		op.Gateways = append(op.Gateways, w.gateways[gw].Name)
		op.noteFailure(w.gateways[gw].Name, a)
		if a.fault {
			op.FaultCode = a.faultID
		}
		if !a.definite() {
			continue
		}
		op.Return = time.Now()
		if a.fault {
			op.Outcome = OutcomeFault
			break
		}
		op.Outcome, op.Version = OutcomeOK, a.version
		seen[person] = a.version
		w.rec.ack(w.gateways[gw].Name, op.Return)
		break
	}
	if op.Outcome == OutcomeOK && rng.Float64() < resendShare {
		other := (gw + 1) % len(w.gateways)
		a := w.send(other, req)
		op.Attempts++
		op.Gateways = append(op.Gateways, w.gateways[other].Name)
		op.noteFailure(w.gateways[other].Name, a)
		if a.transport == nil && !a.fault {
			op.ResendVersion = a.version
		}
	}
	return op
}

// read runs one GetMedicineCard on a random gateway.
func (w *workload) read(client int, rng *rand.Rand) Operation {
	person := w.persons.forRead(rng)
	req := getCardRequest(person)
	gw := rng.IntN(len(w.gateways))
	op := Operation{Client: client, Kind: OpRead, Person: person, MessageID: req.MessageID, Invoke: time.Now(),
		Attempts: 1, Gateways: []string{w.gateways[gw].Name}, Outcome: OutcomeUnknown}
	a := w.send(gw, req)
	op.noteFailure(w.gateways[gw].Name, a)
	if a.transport != nil {
		return op
	}
	op.Return = time.Now()
	if a.fault {
		op.Outcome, op.FaultCode = OutcomeFault, a.faultID
		if a.retryable {
			op.Outcome = OutcomeUnknown // a read that got no card; nothing to judge
		}
		return op
	}
	op.Outcome, op.Version, op.Tags = OutcomeOK, a.version, a.tags
	return op
}

// noteFailure records a send that got no success answer.
func (op *Operation) noteFailure(gateway string, a answer) {
	var fault string
	switch {
	case a.transport != nil:
		fault = "transport: " + a.transport.Error()
	case a.fault && a.retryable:
		fault = a.faultID + " (retryable)"
	case a.fault:
		fault = a.faultID
	default:
		return
	}
	op.Failures = append(op.Failures, AttemptFailure{At: time.Now(), Gateway: gateway, Fault: fault})
}

func (w *workload) send(gw int, req soapclient.Request) answer {
	ctx, cancel := context.WithTimeout(context.Background(), clientTimeout)
	defer cancel()
	return send(ctx, w.http, w.gateways[gw].URL, &req)
}

// readFinal reads the card of every person straight from the shard
// database that owns it by the catalog's map (direct DSNs, no gateway, no
// cache).
func readFinal(ctx context.Context, c *Cluster, persons []string) (map[string]FinalCard, error) {
	m, err := shard.NewCatalog(c.Storage.Catalog, time.Now).LoadMap(ctx)
	if err != nil {
		return nil, fmt.Errorf("robustness: load shard map: %w", err)
	}
	byDB := map[string][]string{}
	for _, p := range persons {
		db := m.Owner[shard.Of(p)]
		byDB[db] = append(byDB[db], p)
	}
	final := map[string]FinalCard{}
	for _, p := range persons {
		final[p] = FinalCard{Person: p, Database: m.Owner[shard.Of(p)], Tags: []string{}}
	}
	for db, ps := range byDB {
		pool, ok := c.Storage.Shards[db]
		if !ok {
			return nil, fmt.Errorf("robustness: the map names database %q, which the cluster does not have", db)
		}
		rows, err := pool.Query(ctx, `SELECT person, version, card::text FROM cards WHERE person = ANY($1)`, ps)
		if err != nil {
			return nil, fmt.Errorf("robustness: read final cards from %s: %w", db, err)
		}
		type row struct {
			person  string
			version int64
			card    string
		}
		got, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (row, error) {
			var x row
			return x, r.Scan(&x.person, &x.version, &x.card)
		})
		if err != nil {
			return nil, fmt.Errorf("robustness: read final cards from %s: %w", db, err)
		}
		for _, x := range got {
			var card medcard.Card
			if err := medcard.DecodeCard([]byte(x.card), &card); err != nil {
				return nil, fmt.Errorf("robustness: final card on %s: %w", db, err)
			}
			fc := FinalCard{Person: x.person, Database: db, Version: x.version, Tags: []string{}}
			for _, dm := range card.DrugMedications {
				fc.Tags = append(fc.Tags, dm.Indication.Text)
			}
			final[x.person] = fc
		}
	}
	return final, nil
}
