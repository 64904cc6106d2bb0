// Package seed generates realistic synthetic medicine cards, deterministic
// from a seed, for demos, tests and benchmarks. The persons are synthetic:
// valid CPR numbers (real dates, the right century digit) that are not
// meant to belong to anyone.
package seed

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/sharedmedcard/gateway/medcard"
)

// Generator makes persons and cards from a seed; the i-th person and card
// are the same for the same seed on every machine.
type Generator struct {
	seed uint64
	// Today anchors dates on the cards.
	Today time.Time
}

// New returns a generator for seed, with dates relative to today.
func New(seed uint64, today time.Time) *Generator {
	return &Generator{seed: seed, Today: today.UTC().Truncate(24 * time.Hour)}
}

func (g *Generator) rng(i int, stream uint64) *rand.Rand {
	return rand.New(rand.NewPCG(g.seed^0x9e3779b97f4a7c15, uint64(i)<<8|stream))
}

// Person returns the i-th synthetic person's CPR number: a birth date
// between 1925 and 2024 and a sequence number whose first digit gives the
// right century.
func (g *Generator) Person(i int) medcard.PersonID {
	r := g.rng(i, 1)
	for {
		year := 1925 + r.IntN(100)
		birth := time.Date(year, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, r.IntN(365))
		var seventh int
		if year >= 2000 {
			seventh = 4 // 4 with yy <= 36 is 20xx
		} else {
			seventh = r.IntN(4) // 0-3 is 19xx
		}
		s := fmt.Sprintf("%s%d%03d", birth.Format("020106"), seventh, r.IntN(1000))
		p, err := medcard.ParsePersonID(s)
		if err == nil {
			return p
		}
	}
}

// drugs is a small formulary of common Danish prescriptions.
var drugs = []struct {
	drug       medcard.Drug
	dosage     string
	indication string
	pack       string
}{
	{medcard.Drug{Identifier: "28100636072", Name: "Pinex", Form: "tabletter", Strength: "500 mg", ATCCode: "N02BE01"}, "2 tabletter 3-4 gange daglig", "mod smerter", "043298"},
	{medcard.Drug{Identifier: "28100489874", Name: "Metformin \"Teva\"", Form: "filmovertrukne tabletter", Strength: "500 mg", ATCCode: "A10BA02"}, "1 tablet 2 gange daglig", "mod sukkersyge", "170282"},
	{medcard.Drug{Identifier: "28101004278", Name: "Amlodipin \"Sandoz\"", Form: "tabletter", Strength: "5 mg", ATCCode: "C08CA01"}, "1 tablet daglig", "mod forhøjet blodtryk", "438291"},
	{medcard.Drug{Identifier: "28100714281", Name: "Simvastatin \"Actavis\"", Form: "filmovertrukne tabletter", Strength: "40 mg", ATCCode: "C10AA01"}, "1 tablet daglig til aften", "mod forhøjet kolesterol", "097418"},
	{medcard.Drug{Identifier: "28100822376", Name: "Pantoprazol \"Krka\"", Form: "enterotabletter", Strength: "40 mg", ATCCode: "A02BC02"}, "1 tablet daglig før morgenmad", "mod mavesyre", "524683"},
	{medcard.Drug{Identifier: "28100563512", Name: "Hjertemagnyl", Form: "filmovertrukne tabletter", Strength: "75 mg", ATCCode: "B01AC06"}, "1 tablet daglig", "til forebyggelse af blodpropper", "011627"},
	{medcard.Drug{Identifier: "28101121493", Name: "Sertralin \"Accord\"", Form: "filmovertrukne tabletter", Strength: "50 mg", ATCCode: "N06AB06"}, "1 tablet daglig", "mod depression", "386015"},
	{medcard.Drug{Identifier: "28100948102", Name: "Furix", Form: "tabletter", Strength: "40 mg", ATCCode: "C03CA01"}, "1 tablet om morgenen", "vanddrivende", "148791"},
	{medcard.Drug{Identifier: "28101087614", Name: "Eltroxin", Form: "tabletter", Strength: "100 mikrog", ATCCode: "H03AA01"}, "1 tablet daglig fastende", "mod for lavt stofskifte", "473829"},
	{medcard.Drug{Identifier: "28100372810", Name: "Ventoline", Form: "inhalationspulver", Strength: "0,2 mg/dosis", ATCCode: "R03AC02"}, "1-2 inhalationer ved behov", "mod astma", "059233"},
}

var prescribers = []medcard.Modifier{
	{AuthorisationID: "A1B2C", Role: medcard.RoleDoctor, Organisation: "SOR:483711000016009", System: "demo-gp"},
	{AuthorisationID: "D4E5F", Role: medcard.RoleDoctor, Organisation: "SOR:28121000016001", System: "demo-hospital"},
}

// Card returns the i-th person's card: a long-tailed number of drug
// medications (most people few, some many), some with prescriptions.
func (g *Generator) Card(i int) *medcard.Card {
	r := g.rng(i, 2)
	card := &medcard.Card{PersonID: g.Person(i)}
	// Long tail: most people take one to four drugs, a few take 15-20.
	n := 1 + int(r.ExpFloat64()*3)
	if n > 20 {
		n = 20
	}
	for range n {
		d := drugs[r.IntN(len(drugs))]
		by := prescribers[r.IntN(len(prescribers))]
		began := g.Today.AddDate(0, 0, -r.IntN(3*365))
		stamp := medcard.Stamp{By: by, At: began.Add(time.Duration(8+r.IntN(8)) * time.Hour)}
		card.Version++
		card.LastItemID++
		dm := medcard.DrugMedication{
			ID: card.LastItemID, Version: 1, CardVersion: card.Version, Status: medcard.DrugMedicationActive,
			Drug: d.drug, Dosage: medcard.Dosage{Text: d.dosage}, Indication: medcard.Indication{Text: d.indication},
			BeginDate: medcard.Date(began.Format(time.DateOnly)), Created: stamp, Modified: stamp,
		}
		switch x := r.IntN(10); {
		case x == 0:
			dm.Status = medcard.DrugMedicationWithdrawn
			dm.EndDate = medcard.Date(began.AddDate(0, 0, 30+r.IntN(300)).Format(time.DateOnly))
		case x == 1:
			dm.Status = medcard.DrugMedicationPaused
		}
		card.DrugMedications = append(card.DrugMedications, dm)
		if dm.Status == medcard.DrugMedicationActive && r.IntN(2) == 0 {
			card.Version++
			card.LastItemID++
			validFrom := g.Today.AddDate(0, 0, -r.IntN(60))
			card.Prescriptions = append(card.Prescriptions, medcard.Prescription{
				ID: card.LastItemID, Version: 1, CardVersion: card.Version, DrugMedicationID: dm.ID,
				Status: medcard.PrescriptionOpen, Drug: d.drug, PackageNumber: d.pack,
				PackageQuantity: 1 + r.IntN(2), Iterations: r.IntN(4), IterationIntervalDays: 30 * r.IntN(2),
				ValidFrom:  medcard.Date(validFrom.Format(time.DateOnly)),
				ValidTo:    medcard.Date(validFrom.AddDate(2, 0, 0).Format(time.DateOnly)),
				DosageText: d.dosage, Created: stamp,
			})
		}
	}
	return card
}
