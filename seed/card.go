package seed

import (
	"cmp"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/sharedmedcard/gateway/medcard"
)

// MaxDrugMedications is the most drug medications a generated card has.
const MaxDrugMedications = 20

// MaxFixedDrugMedications bounds Generator.DrugMedications: a card of 100
// drug medications with their prescriptions is about 300 kB of JSON, far
// past any real card, and a larger number would only fill memory and disk.
const MaxFixedDrugMedications = 100

// A card's history is planned first, as events at minutes before Today,
// then replayed in time order (replay) with the effects the medcard
// service gives each operation. Every choice is drawn from the card's own
// random stream and expressed relative to Today, so the shape of a card
// does not depend on the day it is generated.

type eventKind uint8

const (
	evCreateDrugMedication eventKind = iota
	evUpdateDrugMedication
	evPauseDrugMedication
	evWithdrawDrugMedication
	evCreatePrescription
	evCancelPrescription
	evCreateOrder
	evStartEffectuation
	evCreatePharmacyEffectuation
	evUndoEffectuation
	evSetReviewed
)

// event is one operation of a card's history.
type event struct {
	ago  int64 // minutes before Today
	seq  int32 // the order planned, for events at the same minute
	kind eventKind
	item int32 // index into plan.dms, plan.rxs or plan.disps, by kind
}

type dmPlan struct {
	product *product
	by      *medcard.Modifier
}

type rxPlan struct {
	dm                             int
	by                             *medcard.Modifier
	quantity, iterations, interval int
}

// dispPlan is one order: dispensed (created, started, effectuated and
// maybe undone) or left open.
type dispPlan struct {
	rx        int
	by        *medcard.Modifier
	packages  int
	terminate bool
}

type plan struct {
	dms      []dmPlan
	rxs      []rxPlan
	disps    []dispPlan
	reviewBy *medcard.Modifier
	events   []event
}

func (p *plan) add(kind eventKind, item int, ago int64) {
	p.events = append(p.events, event{ago: ago, seq: int32(len(p.events)), kind: kind, item: int32(item)})
}

// atDay returns a time between 08:00 and 17:00 on the day daysAgo days
// before Today, in minutes before Today.
func atDay(r *rand.Rand, daysAgo int) int64 {
	return int64(daysAgo)*24*60 - int64(8*60+r.IntN(9*60))
}

// dayOf is the day (days before Today) of a time ago minutes before Today.
func dayOf(ago int64) int { return int((ago + 24*60 - 1) / (24 * 60)) }

// drugCount draws how many drug medications a person of the given age
// has: none for some (most children, few of the old), otherwise a
// log-normal number that grows with age, cut at MaxDrugMedications.
func drugCount(r *rand.Rand, age int) int {
	var none, mu float64
	switch {
	case age < 18:
		none, mu = 0.55, -0.5
	case age < 40:
		none, mu = 0.40, -0.1
	case age < 65:
		none, mu = 0.22, 0.5
	case age < 80:
		none, mu = 0.08, 1.3
	default:
		none, mu = 0.05, 1.7
	}
	if r.Float64() < none {
		return 0
	}
	for {
		if n := 1 + int(math.Exp(mu+0.85*r.NormFloat64())); n <= MaxDrugMedications {
			return n
		}
	}
}

// history plans the card of a person ageDays old (on 1 January 2025).
func (g *Generator) history(r *rand.Rand, ageDays int) *plan {
	p := &plan{}
	fixed := g.DrugMedications > 0
	n := min(g.DrugMedications, MaxFixedDrugMedications)
	if !fixed {
		n = drugCount(r, ageDays/365)
	}
	if n == 0 {
		return p
	}
	// At most five years of history, never before birth.
	histDays := max(1, min(5*365, ageDays))
	gp := &g.parties.gps[r.IntN(len(g.parties.gps))]
	pharmacy := &g.parties.pharmacies[r.IntN(len(g.parties.pharmacies))]
	var chosen uint64 // formulary indexes already on the card
	first := int64(0) // when the first drug medication was created
	for range n {
		drug := pickDrug(r, &chosen)
		by := gp
		if r.IntN(5) == 0 {
			by = &g.parties.hospitals[r.IntN(len(g.parties.hospitals))]
		}
		dm := len(p.dms)
		p.dms = append(p.dms, dmPlan{product: &formulary[drug], by: by})
		prod := p.dms[dm].product

		beganDay := 1 + r.IntN(histDays)
		created := atDay(r, beganDay)
		first = max(first, created)
		p.add(evCreateDrugMedication, dm, created)

		// The treatment's prescriptions and dispensings happen after
		// stopDay (days before Today): the day it was paused or withdrawn.
		stopDay, stopAt, withdrawn := 0, int64(0), false
		switch x := r.IntN(100); {
		case prod.course == 0 && x < 12 && beganDay >= 15 && fixed:
			// Not withdrawn: the card of a fixed size shows every one.
		case prod.course == 0 && x < 12 && beganDay >= 15:
			stopDay = 1 + r.IntN(beganDay-14)
			stopAt, withdrawn = atDay(r, stopDay), true
			p.add(evWithdrawDrugMedication, dm, stopAt)
		case prod.course == 0 && x < 16 && beganDay >= 3:
			stopDay = 1 + r.IntN(beganDay-1)
			stopAt = atDay(r, stopDay)
			p.add(evPauseDrugMedication, dm, stopAt)
		case prod.alt != "" && x < 26 && beganDay >= 2:
			p.add(evUpdateDrugMedication, dm, atDay(r, 1+r.IntN(beganDay-1)))
		}

		if !fixed && (prod.course > 0 && r.IntN(10) == 0 || prod.course == 0 && r.IntN(100) >= 65) {
			continue // no prescription
		}
		p.prescribe(r, dm, prescription{
			began: beganDay, created: created, stopDay: stopDay, stopAt: stopAt, withdrawn: withdrawn, pharmacy: pharmacy,
		}, g.parties.pharmacies)
	}
	reviewPercent := 15
	if ageDays/365 >= 65 {
		reviewPercent = 45
	}
	if r.IntN(100) < reviewPercent {
		p.reviewBy = gp
		p.add(evSetReviewed, 0, min(atDay(r, 1+r.IntN(dayOf(first))), first-1))
	}
	return p
}

// pickDrug draws a drug by popularity that is not on the card yet. Once
// every drug of the formulary is (only a card of more drug medications
// than the formulary has drugs, Generator.DrugMedications), drugs come
// round again: a second treatment with the same drug.
func pickDrug(r *rand.Rand, chosen *uint64) int {
	if *chosen == 1<<len(formulary)-1 {
		*chosen = 0
	}
	total := formularyWeights[len(formularyWeights)-1]
	for range 64 {
		k, _ := slices.BinarySearch(formularyWeights, r.IntN(total)+1)
		if *chosen&(1<<k) == 0 {
			*chosen |= 1 << k
			return k
		}
	}
	for k := range formulary { // unlikely: the first drug not on the card
		if *chosen&(1<<k) == 0 {
			*chosen |= 1 << k
			return k
		}
	}
	return 0 // unreachable: the mask is cleared when every drug is chosen
}

// prescription is what prescribe needs to know of the drug medication.
type prescription struct {
	began     int   // day the drug medication began
	created   int64 // when it was created
	stopDay   int   // day it was paused or withdrawn, 0 if neither
	stopAt    int64 // when
	withdrawn bool
	pharmacy  *medcard.Modifier // the person's usual pharmacy
}

// prescribe plans a prescription on drug medication dm and its dispensings,
// each at least the iteration interval after the last, until it is used
// up, terminated, expired, the treatment stopped, or Today. Some are
// never picked up, some are cancelled, some have an open order.
func (p *plan) prescribe(r *rand.Rand, dm int, d prescription, pharmacies []medcard.Modifier) {
	prod := p.dms[dm].product
	lo, hi := d.stopDay+1, min(d.began, d.stopDay+700)
	if hi < lo {
		return
	}
	rxDay := d.began
	if prod.course == 0 {
		rxDay = lo + r.IntN(hi-lo+1)
	}
	created := atDay(r, rxDay)
	if rxDay == d.began {
		created = d.created - 1 - int64(r.IntN(30)) // at the same visit
	}
	rx := rxPlan{dm: dm, by: p.dms[dm].by, quantity: 1}
	switch x := r.IntN(100); {
	case x < 5:
		rx.quantity = 3
	case x < 25:
		rx.quantity = 2
	}
	if prod.course == 0 {
		switch x := r.IntN(100); {
		case x < 12:
			rx.iterations = 5
		case x < 30:
			rx.iterations = 3
		case x < 45:
			rx.iterations = 2
		case x < 60:
			rx.iterations = 1
		}
	}
	if rx.iterations > 0 {
		rx.interval = []int{30, 30, 30, 60, 90, 90}[r.IntN(6)]
	}
	k := len(p.rxs)
	p.rxs = append(p.rxs, rx)
	p.add(evCreatePrescription, k, created)

	last := created // the prescription's last event so far
	counted, closed := 0, false
	if r.IntN(100) >= 8 { // 8% are never picked up
		day := rxDay - r.IntN(10)
		for day > d.stopDay && day >= 1 && rxDay-day <= 729 && counted < 1+rx.iterations {
			by := d.pharmacy
			if r.IntN(100) < 15 {
				by = &pharmacies[r.IntN(len(pharmacies))]
			}
			disp := dispPlan{rx: k, by: by, packages: rx.quantity, terminate: r.IntN(100) < 2}
			if r.IntN(100) < 15 {
				disp.packages = 1 + r.IntN(rx.quantity)
			}
			ordered := min(atDay(r, day), last-1-int64(r.IntN(30)))
			started := ordered - 5 - int64(r.IntN(55))
			dispensed := started - 1 - int64(r.IntN(10))
			i := len(p.disps)
			p.disps = append(p.disps, disp)
			p.add(evCreateOrder, i, ordered)
			p.add(evStartEffectuation, i, started)
			p.add(evCreatePharmacyEffectuation, i, dispensed)
			last = dispensed
			if !disp.terminate && r.IntN(100) == 0 {
				// Undone within the hour; picked up again days later.
				last = dispensed - 1 - int64(r.IntN(60))
				p.add(evUndoEffectuation, i, last)
				day -= 1 + r.IntN(3)
				continue
			}
			counted++
			if disp.terminate || counted == 1+rx.iterations {
				closed = true
				break
			}
			day -= rx.interval + r.IntN(15)
		}
	}
	if closed {
		return
	}
	switch {
	case d.withdrawn:
		// A withdrawn treatment's open prescription is cancelled first.
		p.add(evCancelPrescription, k, d.stopAt+1)
	case d.stopDay == 0 && rxDay <= 729 && r.IntN(100) < 8:
		// An order placed in the last days, not yet dispensed.
		i := len(p.disps)
		by := d.pharmacy
		p.disps = append(p.disps, dispPlan{rx: k, by: by})
		p.add(evCreateOrder, i, min(atDay(r, 1+r.IntN(3)), last-1-int64(r.IntN(30))))
	case d.stopDay == 0 && r.IntN(100) < 4:
		p.add(evCancelPrescription, k, min(atDay(r, 1+r.IntN(dayOf(last))), last-1-int64(r.IntN(30))))
	}
}

// replay applies the planned events to c in time order, as the medcard
// service would have: each is one write that advances the card version.
func (p *plan) replay(g *Generator, c *medcard.Card) {
	if len(p.events) == 0 {
		return
	}
	slices.SortFunc(p.events, func(a, b event) int {
		if a.ago != b.ago {
			return cmp.Compare(b.ago, a.ago) // older first
		}
		return cmp.Compare(a.seq, b.seq)
	})
	// Where each planned item went on the card.
	dmAt := make([]int, len(p.dms))
	rxAt := make([]int, len(p.rxs))
	orderAt := make([]int, len(p.disps))
	effAt := make([]int, len(p.disps))
	// Empty lists stay nil, as on a card the service built.
	c.DrugMedications = make([]medcard.DrugMedication, 0, len(p.dms))
	if len(p.rxs) > 0 {
		c.Prescriptions = make([]medcard.Prescription, 0, len(p.rxs))
	}
	if len(p.disps) > 0 {
		c.Orders = make([]medcard.Order, 0, len(p.disps))
	}
	for _, e := range p.events {
		c.Version++
		at := g.Today.Add(-time.Duration(e.ago) * time.Minute)
		switch e.kind {
		case evCreateDrugMedication:
			pl := &p.dms[e.item]
			stamp := medcard.Stamp{By: *pl.by, At: at}
			prod := pl.product
			dm := medcard.DrugMedication{
				ID: nextItemID(c), Version: 1, CardVersion: c.Version, Status: medcard.DrugMedicationActive,
				Drug: prod.drug, Dosage: medcard.Dosage{Text: prod.dosage}, Indication: medcard.Indication{Text: prod.indication},
				BeginDate: date(at), Created: stamp, Modified: stamp, LastOperation: medcard.OpCreateDrugMedication,
			}
			if prod.course > 0 {
				dm.EndDate = date(at.AddDate(0, 0, prod.course))
			}
			dmAt[e.item] = len(c.DrugMedications)
			c.DrugMedications = append(c.DrugMedications, dm)
		case evUpdateDrugMedication, evPauseDrugMedication, evWithdrawDrugMedication:
			pl := &p.dms[e.item]
			dm := &c.DrugMedications[dmAt[e.item]]
			op := medcard.OpUpdateDrugMedication
			switch e.kind {
			case evUpdateDrugMedication:
				dm.Dosage.Text = pl.product.alt
			case evPauseDrugMedication:
				op, dm.Status = medcard.OpPauseDrugMedication, medcard.DrugMedicationPaused
			case evWithdrawDrugMedication:
				op, dm.Status = medcard.OpWithdrawDrugMedication, medcard.DrugMedicationWithdrawn
			}
			dm.Version++
			dm.CardVersion = c.Version
			dm.Modified = medcard.Stamp{By: *pl.by, At: at}
			dm.LastOperation = op
		case evCreatePrescription:
			pl := &p.rxs[e.item]
			dm := &c.DrugMedications[dmAt[pl.dm]]
			prod := p.dms[pl.dm].product
			stamp := medcard.Stamp{By: *pl.by, At: at}
			rxAt[e.item] = len(c.Prescriptions)
			c.Prescriptions = append(c.Prescriptions, medcard.Prescription{
				ID: nextItemID(c), Version: 1, CardVersion: c.Version, DrugMedicationID: dm.ID,
				Status: medcard.PrescriptionOpen, Drug: dm.Drug, PackageNumber: prod.pack,
				PackageQuantity: pl.quantity, Iterations: pl.iterations, IterationIntervalDays: pl.interval,
				ValidFrom: date(at), ValidTo: date(at.AddDate(2, 0, 0)), DosageText: dm.Dosage.Text,
				Created: stamp, Modified: stamp, LastOperation: medcard.OpCreatePrescription,
			})
		case evCancelPrescription:
			pl := &p.rxs[e.item]
			rx := &c.Prescriptions[rxAt[e.item]]
			rx.Status = medcard.PrescriptionCancelled
			bumpPrescription(c, rx, medcard.Stamp{By: *pl.by, At: at}, medcard.OpCancelPrescription)
		case evCreateOrder:
			pl := &p.disps[e.item]
			rx := &c.Prescriptions[rxAt[pl.rx]]
			stamp := medcard.Stamp{By: *pl.by, At: at}
			orderAt[e.item] = len(c.Orders)
			c.Orders = append(c.Orders, medcard.Order{
				ID: nextItemID(c), Version: 1, CardVersion: c.Version, PrescriptionID: rx.ID,
				Pharmacy: pl.by.Organisation, Status: medcard.OrderOpen, Created: stamp, Modified: stamp,
			})
			bumpPrescription(c, rx, stamp, medcard.OpCreateOrder)
		case evStartEffectuation:
			pl := &p.disps[e.item]
			o := &c.Orders[orderAt[e.item]]
			o.Status = medcard.OrderInProgress
			bumpOrder(c, o, medcard.Stamp{By: *pl.by, At: at})
		case evCreatePharmacyEffectuation:
			pl := &p.disps[e.item]
			o := &c.Orders[orderAt[e.item]]
			rx := &c.Prescriptions[rxAt[pl.rx]]
			stamp := medcard.Stamp{By: *pl.by, At: at}
			rx.Dispensings++
			rx.PackagesDispensed += pl.packages
			rx.LastDispensedAt = at
			if pl.terminate || rx.Dispensings >= 1+rx.Iterations {
				rx.Status = medcard.PrescriptionClosed
			}
			bumpPrescription(c, rx, stamp, medcard.OpCreatePharmacyEffectuation)
			o.Status = medcard.OrderCompleted
			effAt[e.item] = len(c.Effectuations)
			c.Effectuations = append(c.Effectuations, medcard.Effectuation{
				ID: nextItemID(c), Version: 1, CardVersion: c.Version, PrescriptionID: rx.ID, OrderID: o.ID,
				Packages: pl.packages, Pharmacy: o.Pharmacy, Terminated: pl.terminate, Created: stamp, Modified: stamp,
			})
			bumpOrder(c, o, stamp)
		case evUndoEffectuation:
			pl := &p.disps[e.item]
			ef := &c.Effectuations[effAt[e.item]]
			rx := &c.Prescriptions[rxAt[pl.rx]]
			stamp := medcard.Stamp{By: *pl.by, At: at}
			ef.Undone = true
			ef.Version++
			ef.CardVersion = c.Version
			ef.Modified = stamp
			rx.Dispensings--
			rx.PackagesDispensed -= ef.Packages
			rx.LastDispensedAt = lastDispensing(c, rx.ID)
			if rx.Status == medcard.PrescriptionClosed {
				rx.Status = medcard.PrescriptionOpen // never a terminating one (prescribe)
			}
			bumpPrescription(c, rx, stamp, medcard.OpUndoEffectuation)
		case evSetReviewed:
			c.Reviewed = &medcard.Reviewed{By: *p.reviewBy, At: at, CardVersion: c.Version - 1}
		}
	}
}

func nextItemID(c *medcard.Card) int64 {
	c.LastItemID++
	return c.LastItemID
}

func bumpPrescription(c *medcard.Card, rx *medcard.Prescription, stamp medcard.Stamp, op medcard.Operation) {
	rx.Version++
	rx.CardVersion = c.Version
	rx.Modified = stamp
	rx.LastOperation = op
}

func bumpOrder(c *medcard.Card, o *medcard.Order, stamp medcard.Stamp) {
	o.Version++
	o.CardVersion = c.Version
	o.Modified = stamp
}

// lastDispensing is when the prescription was last dispensed, by its
// effectuations that were not undone.
func lastDispensing(c *medcard.Card, rx int64) (last time.Time) {
	for _, e := range c.Effectuations {
		if e.PrescriptionID == rx && !e.Undone && e.Created.At.After(last) {
			last = e.Created.At
		}
	}
	return last
}

func date(t time.Time) medcard.Date { return medcard.Date(t.Format(time.DateOnly)) }
