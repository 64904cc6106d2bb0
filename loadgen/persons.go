package loadgen

import (
	"math/rand/v2"
	"sync"
	"time"

	"github.com/sharedmedcard/gateway/seed"
)

// chooser picks person indexes, uniformly or by a Zipf law. It is not safe
// for concurrent use: each worker has its own.
type chooser struct {
	r    *rand.Rand
	n    int
	zipf *rand.Zipf
}

func newChooser(r *rand.Rand, persons int, s float64) *chooser {
	c := &chooser{r: r, n: persons}
	if s > 1 && persons > 1 {
		c.zipf = rand.NewZipf(r, s, 1, uint64(persons-1))
	}
	return c
}

// next returns a person index in [0, n); under Zipf, index 0 is the most
// popular, then 1, and so on.
func (c *chooser) next() int {
	if c.zipf != nil {
		return int(c.zipf.Uint64())
	}
	return c.r.IntN(c.n)
}

// personState is what the generator knows of one person's card.
type personState struct {
	mu sync.Mutex
	// version is the highest card version seen in an answer.
	version int64
	// active are drug medications last seen Active and without a conflict,
	// not yet claimed for a pause.
	active []int64

	// dispensing is held for the whole of a pharmacy flow: an order locks
	// its prescription, so one person's flows must not overlap.
	dispensing sync.Mutex
	// rx is the generator's open prescription and rxLeft its dispensings
	// left; guarded by dispensing.
	rx     int64
	rxLeft int
}

// seen records the card version of an answer.
func (p *personState) seen(version int64) {
	p.mu.Lock()
	if version > p.version {
		p.version = version
	}
	p.mu.Unlock()
}

// forgetVersion drops the known version, after the service said it is
// newer than the card.
func (p *personState) forgetVersion() {
	p.mu.Lock()
	p.version = 0
	p.mu.Unlock()
}

func (p *personState) currentVersion() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.version
}

// sawCard replaces what is known of the drug medications by a card's.
func (p *personState) sawCard(version int64, dms []drugMedication) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if version < p.version {
		return // an older read overtaken by a write: keep what we have
	}
	p.version = version
	p.active = p.active[:0]
	for _, dm := range dms {
		if dm.status == "Active" && !dm.conflict {
			p.active = append(p.active, dm.id)
		}
	}
}

// addActive records a drug medication the generator created.
func (p *personState) addActive(id int64) {
	p.mu.Lock()
	p.active = append(p.active, id)
	p.mu.Unlock()
}

// claimActive takes an Active drug medication to pause, or returns 0.
func (p *personState) claimActive(r *rand.Rand) int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.active) == 0 {
		return 0
	}
	i := r.IntN(len(p.active))
	id := p.active[i]
	p.active[i] = p.active[len(p.active)-1]
	p.active = p.active[:len(p.active)-1]
	return id
}

// persons holds the state of every person the run touched, in shards to
// keep lock contention low.
type persons struct {
	gen    *seed.Generator
	shards [64]struct {
		mu sync.Mutex
		m  map[int]*personEntry
	}
}

type personEntry struct {
	id    string
	state personState
}

func newPersons(seedValue uint64, now time.Time) *persons {
	ps := &persons{gen: seed.New(seedValue, now)}
	for i := range ps.shards {
		ps.shards[i].m = make(map[int]*personEntry)
	}
	return ps
}

// get returns person i's identifier and state.
func (ps *persons) get(i int) *personEntry {
	sh := &ps.shards[i%len(ps.shards)]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	e := sh.m[i]
	if e == nil {
		e = &personEntry{id: string(ps.gen.Person(i))}
		sh.m[i] = e
	}
	return e
}
