// Package seed generates realistic synthetic medicine cards, deterministic
// from a seed, for demos, tests and benchmarks. The persons are synthetic:
// valid CPR numbers (real dates, the right century digit) that are not
// meant to belong to anyone.
//
// A card is the outcome of a made-up history of the operations the gateway
// offers, replayed in time order with the same effects the medcard service
// has: drug medications created, some updated, paused or withdrawn;
// prescriptions with iterations; orders, started effectuations and
// dispensings, a few undone; some prescriptions cancelled; some cards
// reviewed. So card versions, item versions, LastOperation and the
// prescriptions' dispensing counters are what the gateway itself would
// have written.
//
// DemoSystems are the integrating systems that call the gateway in the demo.
package seed

import (
	"math/rand/v2"
	"time"

	"github.com/sharedmedcard/gateway/medcard"
)

// Generator makes persons and cards from a seed. The i-th person is the
// same for the same seed on every machine and every day; the i-th card is
// too, except that its dates are relative to Today (its shape, the items
// and their versions, does not depend on Today).
type Generator struct {
	seed uint64
	// Today anchors dates on the cards: every event on a card happens
	// before it (midnight UTC).
	Today time.Time
	// DrugMedications, if above 0, gives every card exactly this many drug
	// medications (at most MaxFixedDrugMedications), each prescribed with
	// its dispensings and none withdrawn, so a GetMedicineCard shows all of
	// them: cards of one size, for measuring how a request's cost grows
	// with the card (scripts/bench-scale.sh). 0 is the population's spread.
	// The persons are the same either way.
	DrugMedications int
	parties         parties
}

// New returns a generator for seed, with dates relative to today.
func New(seed uint64, today time.Time) *Generator {
	return &Generator{seed: seed, Today: today.UTC().Truncate(24 * time.Hour), parties: newParties()}
}

func (g *Generator) rng(i int, stream uint64) *rand.Rand {
	return rand.New(rand.NewPCG(g.seed^0x9e3779b97f4a7c15, uint64(i)<<8|stream))
}

// Person returns the i-th synthetic person's CPR number: a birth date
// between 1925 and 2024, spread like the population's ages, and a sequence
// number whose first digit gives the right century. Persons are distinct
// for i below Capacity().
func (g *Generator) Person(i int) medcard.PersonID {
	p, _ := g.person(i)
	return p
}

// Card returns the i-th person's card. Most persons have a few drug
// medications, older persons more, a few as many as 20 (MaxDrugMedications);
// some have none, and their card is empty (version 0, which the store keeps
// as no row at all). With DrugMedications set, every card has that many.
func (g *Generator) Card(i int) *medcard.Card {
	p, day := g.person(i)
	c := &medcard.Card{PersonID: p}
	g.history(g.rng(i, 2), int(day.ageDays)).replay(g, c)
	return c
}
