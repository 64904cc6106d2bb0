package seed

import (
	"cmp"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/sharedmedcard/gateway/medcard"
)

var today = time.Date(2026, 3, 15, 0, 0, 0, 0, time.UTC)

// sampleSize is how many cards the card tests look at.
const sampleSize = 20000

// sample is the first sampleSize cards of seed 1, made once per test binary.
var sample []*medcard.Card

func sampleCards(t *testing.T) []*medcard.Card {
	t.Helper()
	if sample == nil {
		g := New(1, today)
		for i := range sampleSize {
			sample = append(sample, g.Card(i))
		}
	}
	return sample
}

func TestSameSeedSameCards(t *testing.T) {
	a, b := New(7, today), New(7, today.Add(5*time.Hour)) // the same day
	for i := range 2000 {
		if x, y := a.Card(i), b.Card(i); !reflect.DeepEqual(x, y) {
			t.Fatalf("Card(%d) differs between two generators of seed 7 (-first +second):\n%s", i, gocmp.Diff(x, y))
		}
	}
	other := New(8, today)
	same := 0
	for i := range 2000 {
		if a.Person(i) == other.Person(i) {
			same++
		}
	}
	if same > 10 {
		t.Errorf("seeds 7 and 8 give the same person at %d of the first 2000 indexes, want (almost) none", same)
	}
}

// TestShapeDoesNotDependOnToday: generated on another day, a card has the
// same items, versions and states, and its times are as long before that
// day as they were before the first.
func TestShapeDoesNotDependOnToday(t *testing.T) {
	later := today.AddDate(0, 4, 3)
	a, b := New(3, today), New(3, later)
	for i := range 500 {
		want, got := relativeTo(t, a.Card(i), today), relativeTo(t, b.Card(i), later)
		if !reflect.DeepEqual(want, got) {
			diff := gocmp.Diff(want, got)
			t.Fatalf("Card(%d) generated on %s and on %s differs (-first +second, times as before the day):\n%s",
				i, today.Format(time.DateOnly), later.Format(time.DateOnly), diff)
		}
	}
}

// relativeTo returns c as generic JSON with every time and date replaced
// by how long before day it is. Prescriptions' validTo (two calendar years
// on) is left out: leap days make it no fixed distance.
func relativeTo(t *testing.T, c *medcard.Card, day time.Time) any {
	t.Helper()
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	var walk func(any) any
	walk = func(v any) any {
		switch v := v.(type) {
		case map[string]any:
			delete(v, "validTo")
			for k, x := range v {
				v[k] = walk(x)
			}
		case []any:
			for k, x := range v {
				v[k] = walk(x)
			}
		case string:
			if tm, err := time.Parse(time.RFC3339, v); err == nil {
				return "-" + day.Sub(tm).String()
			}
			if tm, err := time.Parse(time.DateOnly, v); err == nil {
				return fmt.Sprintf("-%dd", int(day.Sub(tm).Hours()/24))
			}
		}
		return v
	}
	return walk(v)
}

func TestPersonsDistinctAndValid(t *testing.T) {
	const n = 200000
	g := New(1, today)
	seen := make(map[medcard.PersonID]int, n)
	for i := range n {
		p := g.Person(i)
		if j, dup := seen[p]; dup {
			t.Fatalf("Person(%d) = Person(%d)", i, j)
		}
		seen[p] = i
		if _, err := medcard.ParsePersonID(string(p)); err != nil {
			t.Fatalf("Person(%d) = %s: %v", i, p, err)
		}
		if y := p.BirthDate().Year(); y < 1925 || y > 2024 {
			t.Fatalf("Person(%d) born in %d, want 1925-2024", i, y)
		}
	}
}

// TestPersonSpace: every birth date from 1925 to 2024 gives valid CPR
// numbers with all its century digits, and the space holds far more than
// the 10 million persons a seed needs to have distinct.
func TestPersonSpace(t *testing.T) {
	s := personSpace()
	for d, day := range s.days {
		if !validDay(day) {
			t.Errorf("birth day %d (%s, century digits %s) gives invalid CPR numbers", d, day.ddmmyy, day.century)
		}
	}
	if want := 10_000_000; Capacity() < want {
		t.Errorf("Capacity() = %d, want at least %d", Capacity(), want)
	}
	if got, want := len(s.days), 36525; got != want {
		t.Errorf("%d birth days, want %d (1925-2024)", got, want)
	}
	// The Feistel walk is a permutation of the space: check it exactly on
	// a small one.
	small := &space{slots: 1000, bits: 10}
	g := New(5, today)
	hit := make([]bool, small.slots)
	for x := range small.slots {
		y := g.permute(small, x)
		if y >= small.slots || hit[y] {
			t.Fatalf("permute(%d) = %d: out of range or repeated", x, y)
		}
		hit[y] = true
	}
}

func TestAges(t *testing.T) {
	g := New(1, today)
	const n = 50000
	old, total := 0, 0
	for i := range n {
		age := 2025 - g.Person(i).BirthDate().Year()
		total += age
		if age > 85 {
			old++
		}
	}
	if mean := float64(total) / n; mean < 35 || mean > 50 {
		t.Errorf("mean age %.1f, want 35-50", mean)
	}
	if share := float64(old) / n; share > 0.05 {
		t.Errorf("%.1f%% over 85, want at most 5%%", 100*share)
	}
}

func TestDrugMedicationDistribution(t *testing.T) {
	var counts [MaxDrugMedications + 1]int
	total := 0
	for i, c := range sampleCards(t) {
		n := len(c.DrugMedications)
		if n > MaxDrugMedications {
			t.Fatalf("Card(%d) has %d drug medications, want at most %d", i, n, MaxDrugMedications)
		}
		if (n == 0) != (c.Version == 0) {
			t.Fatalf("Card(%d) has %d drug medications at version %d", i, n, c.Version)
		}
		counts[n]++
		total += n
	}
	share := func(lo, hi int) float64 {
		k := 0
		for n := lo; n <= hi; n++ {
			k += counts[n]
		}
		return float64(k) / sampleSize
	}
	mean := float64(total) / sampleSize
	t.Logf("drug medications per person: %v, mean %.2f", counts, mean)
	for _, c := range []struct {
		what           string
		got, min, maxi float64
	}{
		{"share with none", share(0, 0), 0.20, 0.40},
		{"share with 0-3", share(0, 3), 0.70, 0.90},
		{"share with 10 or more", share(10, 20), 0.01, 0.08},
		{"share with 15-20", share(15, 20), 0.002, 0.03},
		{"mean", mean, 1.5, 3.5},
	} {
		if c.got < c.min || c.got > c.maxi {
			t.Errorf("%s = %.3f, want %.3f-%.3f", c.what, c.got, c.min, c.maxi)
		}
	}
	if counts[MaxDrugMedications] == 0 {
		t.Errorf("no card with %d drug medications among %d", MaxDrugMedications, sampleSize)
	}
}

// TestSomeOfEverything: the cards show every state the gateway can put
// an item in that the generator claims to make.
func TestSomeOfEverything(t *testing.T) {
	seen := map[string]int{}
	for _, c := range sampleCards(t) {
		if c.Reviewed != nil {
			seen["reviewed"]++
		}
		for _, dm := range c.DrugMedications {
			seen["drug medication "+string(dm.Status)]++
			seen["drug medication "+string(dm.LastOperation)]++
		}
		for _, rx := range c.Prescriptions {
			seen["prescription "+string(rx.Status)]++
			if rx.Iterations > 0 {
				seen["prescription with iterations"]++
			}
			if rx.Dispensings > 1 {
				seen["prescription dispensed more than once"]++
			}
		}
		for _, o := range c.Orders {
			seen["order "+string(o.Status)]++
		}
		for _, e := range c.Effectuations {
			switch {
			case e.Undone:
				seen["effectuation undone"]++
			case e.Terminated:
				seen["effectuation terminated"]++
			default:
				seen["effectuation"]++
			}
		}
	}
	t.Logf("%v", seen)
	for _, want := range []string{"reviewed", "drug medication Active", "drug medication Paused", "drug medication Withdrawn",
		"drug medication UpdateDrugMedication", "prescription Open", "prescription Closed", "prescription Cancelled",
		"prescription with iterations", "prescription dispensed more than once", "order Open", "order Completed",
		"effectuation", "effectuation undone", "effectuation terminated"} {
		if seen[want] == 0 {
			t.Errorf("no %s among %d cards", want, sampleSize)
		}
	}
}

// TestCardsConsistent checks every sample card against the rules the
// medcard service keeps: versions, identifiers, references, and the
// prescriptions' dispensing counters against their effectuations.
func TestCardsConsistent(t *testing.T) {
	for i, c := range sampleCards(t) {
		for _, problem := range problems(c) {
			t.Errorf("Card(%d): %s", i, problem)
		}
		if t.Failed() {
			b, _ := json.MarshalIndent(c, "", "  ")
			t.Fatalf("Card(%d) is\n%s", i, b)
		}
	}
}

func problems(c *medcard.Card) []string {
	var out []string
	bad := func(format string, args ...any) { out = append(out, fmt.Sprintf(format, args...)) }
	ids := map[int64]bool{}
	// The last change of each item: later card versions are later in time.
	type change struct {
		cardVersion int64
		at          time.Time
		what        string
	}
	var changes []change
	item := func(kind string, id, version, cardVersion int64, created, modified medcard.Stamp) {
		if id < 1 || id > c.LastItemID || ids[id] {
			bad("%s %d: identifier not in 1..%d or used twice", kind, id, c.LastItemID)
		}
		ids[id] = true
		if version < 1 || cardVersion < 1 || cardVersion > c.Version {
			bad("%s %d: version %d at card version %d of %d", kind, id, version, cardVersion, c.Version)
		}
		if modified.At.Before(created.At) || !created.At.Before(today) || !modified.At.Before(today) {
			bad("%s %d: created %s, modified %s, today %s", kind, id, created.At, modified.At, today)
		}
		if version == 1 && (modified.By != created.By || !modified.At.Equal(created.At)) {
			bad("%s %d: at version 1 but modified since it was created", kind, id)
		}
		changes = append(changes, change{cardVersion, modified.At, fmt.Sprintf("%s %d", kind, id)})
	}
	dms := map[int64]*medcard.DrugMedication{}
	for k := range c.DrugMedications {
		dm := &c.DrugMedications[k]
		item("drug medication", dm.ID, dm.Version, dm.CardVersion, dm.Created, dm.Modified)
		dms[dm.ID] = dm
		if dm.Version == 1 && dm.LastOperation != medcard.OpCreateDrugMedication {
			bad("drug medication %d: version 1 after %s", dm.ID, dm.LastOperation)
		}
		if string(dm.BeginDate) != dm.Created.At.Format(time.DateOnly) {
			bad("drug medication %d: begins %s, created %s", dm.ID, dm.BeginDate, dm.Created.At)
		}
	}
	rxs := map[int64]*medcard.Prescription{}
	for k := range c.Prescriptions {
		rx := &c.Prescriptions[k]
		item("prescription", rx.ID, rx.Version, rx.CardVersion, rx.Created, rx.Modified)
		rxs[rx.ID] = rx
		dm := dms[rx.DrugMedicationID]
		if dm == nil || dm.ID > rx.ID {
			bad("prescription %d: drug medication %d missing or newer", rx.ID, rx.DrugMedicationID)
			continue
		}
		if dm.Status == medcard.DrugMedicationWithdrawn && rx.Status == medcard.PrescriptionOpen {
			bad("prescription %d: open on a withdrawn drug medication", rx.ID)
		}
		if rx.Drug != dm.Drug {
			bad("prescription %d: drug %v, its drug medication's %v", rx.ID, rx.Drug, dm.Drug)
		}
		if rx.Iterations > 0 && rx.IterationIntervalDays == 0 {
			bad("prescription %d: %d iterations without an interval", rx.ID, rx.Iterations)
		}
	}
	orders := map[int64]*medcard.Order{}
	open := map[int64]int{}
	for k := range c.Orders {
		o := &c.Orders[k]
		item("order", o.ID, o.Version, o.CardVersion, o.Created, o.Modified)
		orders[o.ID] = o
		rx := rxs[o.PrescriptionID]
		if rx == nil || rx.ID > o.ID {
			bad("order %d: prescription %d missing or newer", o.ID, o.PrescriptionID)
			continue
		}
		if o.Pharmacy != o.Created.By.Organisation || o.Created.By.Role != medcard.RolePharmacist {
			bad("order %d: pharmacy %s placed by %+v", o.ID, o.Pharmacy, o.Created.By)
		}
		switch o.Status {
		case medcard.OrderOpen, medcard.OrderInProgress:
			open[rx.ID]++
			if rx.Status != medcard.PrescriptionOpen || rx.Dispensings >= 1+rx.Iterations {
				bad("order %d: open on prescription %d that is %s with %d of %d dispensings", o.ID, rx.ID, rx.Status, rx.Dispensings, 1+rx.Iterations)
			}
		}
	}
	for rx, n := range open {
		if n > 1 {
			bad("prescription %d: %d open orders", rx, n)
		}
	}

	// The prescriptions' counters against their effectuations.
	type tally struct {
		dispensings, packages int
		last                  time.Time
		terminated            bool
	}
	tallies := map[int64]*tally{}
	effOfOrder := map[int64]int{}
	var lastOf = map[int64]time.Time{}
	for k := range c.Effectuations {
		e := &c.Effectuations[k]
		item("effectuation", e.ID, e.Version, e.CardVersion, e.Created, e.Modified)
		rx, o := rxs[e.PrescriptionID], orders[e.OrderID]
		if rx == nil || o == nil || o.PrescriptionID != rx.ID || o.ID > e.ID {
			bad("effectuation %d: prescription %d or order %d missing, mismatched or newer", e.ID, e.PrescriptionID, e.OrderID)
			continue
		}
		effOfOrder[o.ID]++
		if o.Status != medcard.OrderCompleted || e.Pharmacy != o.Pharmacy {
			bad("effectuation %d: order %d is %s at pharmacy %s, effectuation at %s", e.ID, o.ID, o.Status, o.Pharmacy, e.Pharmacy)
		}
		if e.Packages < 1 || e.Packages > rx.PackageQuantity {
			bad("effectuation %d: %d packages, prescription allows 1-%d", e.ID, e.Packages, rx.PackageQuantity)
		}
		if d := medcard.Date(e.Created.At.Format(time.DateOnly)); d < rx.ValidFrom || d > rx.ValidTo {
			bad("effectuation %d: on %s, prescription valid %s to %s", e.ID, d, rx.ValidFrom, rx.ValidTo)
		}
		if e.Undone != (e.Version == 2) {
			bad("effectuation %d: undone %v at version %d", e.ID, e.Undone, e.Version)
		}
		if e.Undone {
			continue
		}
		// Iterations are at least the interval apart (by date).
		if prev, ok := lastOf[rx.ID]; ok && rx.IterationIntervalDays > 0 {
			next := prev.AddDate(0, 0, rx.IterationIntervalDays).Format(time.DateOnly)
			if e.Created.At.Format(time.DateOnly) < next {
				bad("effectuation %d: on %s, before the next iteration on %s", e.ID, e.Created.At.Format(time.DateOnly), next)
			}
		}
		lastOf[rx.ID] = e.Created.At
		tl := tallies[rx.ID]
		if tl == nil {
			tl = &tally{}
			tallies[rx.ID] = tl
		}
		tl.dispensings++
		tl.packages += e.Packages
		if e.Created.At.After(tl.last) {
			tl.last = e.Created.At
		}
		tl.terminated = tl.terminated || e.Terminated
	}
	for k := range c.Orders {
		o := &c.Orders[k]
		want := 0
		if o.Status == medcard.OrderCompleted {
			want = 1
		}
		if effOfOrder[o.ID] != want {
			bad("order %d: %s with %d effectuations", o.ID, o.Status, effOfOrder[o.ID])
		}
	}
	for k := range c.Prescriptions {
		rx := &c.Prescriptions[k]
		tl := tallies[rx.ID]
		if tl == nil {
			tl = &tally{}
		}
		if rx.Dispensings != tl.dispensings || rx.PackagesDispensed != tl.packages || !rx.LastDispensedAt.Equal(tl.last) {
			bad("prescription %d: counts %d dispensings, %d packages, last %s; its effectuations %d, %d, %s",
				rx.ID, rx.Dispensings, rx.PackagesDispensed, rx.LastDispensedAt, tl.dispensings, tl.packages, tl.last)
		}
		if rx.Dispensings > 1+rx.Iterations {
			bad("prescription %d: %d dispensings of %d", rx.ID, rx.Dispensings, 1+rx.Iterations)
		}
		usedUp := tl.terminated || rx.Dispensings == 1+rx.Iterations
		if usedUp != (rx.Status == medcard.PrescriptionClosed) {
			bad("prescription %d: %s with %d of %d dispensings (terminated %v)", rx.ID, rx.Status, rx.Dispensings, 1+rx.Iterations, tl.terminated)
		}
	}
	if r := c.Reviewed; r != nil && (r.CardVersion >= c.Version || r.By.Role != medcard.RoleDoctor) {
		bad("reviewed at card version %d of %d by %+v", r.CardVersion, c.Version, r.By)
	}
	slices.SortFunc(changes, func(a, b change) int { return cmp.Compare(a.cardVersion, b.cardVersion) })
	for k := 1; k < len(changes); k++ {
		if a, b := changes[k-1], changes[k]; a.at.After(b.at) {
			bad("%s changed at card version %d on %s, after %s at card version %d on %s", a.what, a.cardVersion, a.at, b.what, b.cardVersion, b.at)
		}
	}
	if int64(len(ids)) != c.LastItemID {
		bad("%d items, last item identifier %d", len(ids), c.LastItemID)
	}
	return out
}

// TestCardsSurviveJSON: the store keeps cards as JSON; a generated card
// reads back the same.
func TestCardsSurviveJSON(t *testing.T) {
	for i, c := range sampleCards(t)[:1000] {
		b, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		got := &medcard.Card{}
		if err := json.Unmarshal(b, got); err != nil {
			t.Fatal(err)
		}
		got.PersonID = c.PersonID
		// Generated cards have no empty non-nil lists, so DeepEqual holds.
		if !reflect.DeepEqual(c, got) {
			t.Fatalf("Card(%d) through JSON (-want +got):\n%s", i, gocmp.Diff(c, got, cmpopts.EquateEmpty()))
		}
	}
}

// TestDemoPerson: the demo (cmd/gateway) shows the first of the default
// 1000 persons of seed 1 with at least three drug medications and a
// prescription; there must be one, and early.
func TestDemoPerson(t *testing.T) {
	for i, c := range sampleCards(t)[:1000] {
		if len(c.DrugMedications) >= 3 && len(c.Prescriptions) > 0 {
			t.Logf("demo person: index %d", i)
			return
		}
	}
	t.Error("no card among the first 1000 of seed 1 has three drug medications and a prescription")
}

func BenchmarkCard(b *testing.B) {
	g := New(1, today)
	for i := 0; b.Loop(); i++ {
		g.Card(i)
	}
}

func BenchmarkCardJSON(b *testing.B) {
	g := New(1, today)
	size := 0
	for i := 0; b.Loop(); i++ {
		body, err := json.Marshal(g.Card(i))
		if err != nil {
			b.Fatal(err)
		}
		size += len(body)
	}
	b.ReportMetric(float64(size)/float64(b.N), "bytes/card")
}

// TestDemoPharmacyDispensesOnSeededCards: the demo pharmacist's pharmacy is
// one of those on the seeded cards.
func TestDemoPharmacyDispensesOnSeededCards(t *testing.T) {
	if got := newParties().pharmacies[0].Organisation; got != DemoPharmacy {
		t.Errorf("the first seeded pharmacy is %s, DemoPharmacy %s", got, DemoPharmacy)
	}
}

// TestFixedDrugMedications: with DrugMedications set, every card has
// exactly that many drug medications, none withdrawn (a GetMedicineCard
// shows them all), each with a prescription; the cards keep the service's
// rules, the persons are those of the spread-out generator, and a card's
// size grows with the number. 50 is more than the formulary has drugs.
func TestFixedDrugMedications(t *testing.T) {
	spread := New(5, today)
	prev := 0
	for _, n := range []int{1, 5, 20, 50} {
		g := New(5, today)
		g.DrugMedications = n
		size := 0
		for i := range 200 {
			c := g.Card(i)
			if c.PersonID != spread.Person(i) {
				t.Fatalf("DrugMedications %d: Card(%d) is of person %s, want %s", n, i, c.PersonID, spread.Person(i))
			}
			if len(c.DrugMedications) != n {
				t.Fatalf("DrugMedications %d: Card(%d) has %d drug medications", n, i, len(c.DrugMedications))
			}
			prescribed := map[int64]bool{}
			for _, rx := range c.Prescriptions {
				prescribed[rx.DrugMedicationID] = true
			}
			for _, dm := range c.DrugMedications {
				if dm.Status == medcard.DrugMedicationWithdrawn {
					t.Errorf("DrugMedications %d: Card(%d): drug medication %d is withdrawn", n, i, dm.ID)
				}
				if !prescribed[dm.ID] {
					t.Errorf("DrugMedications %d: Card(%d): drug medication %d has no prescription", n, i, dm.ID)
				}
			}
			for _, problem := range problems(c) {
				t.Errorf("DrugMedications %d: Card(%d): %s", n, i, problem)
			}
			if t.Failed() {
				t.FailNow()
			}
			b, err := medcard.EncodeCard(c)
			if err != nil {
				t.Fatal(err)
			}
			size += len(b)
		}
		size /= 200
		t.Logf("%d drug medications: %d bytes of card JSON on average", n, size)
		if size <= prev {
			t.Errorf("cards of %d drug medications average %d bytes, no more than the smaller size's %d", n, size, prev)
		}
		prev = size
	}
}

// TestFixedDrugMedicationsBounded: a number beyond MaxFixedDrugMedications
// gives cards of MaxFixedDrugMedications.
func TestFixedDrugMedicationsBounded(t *testing.T) {
	g := New(5, today)
	g.DrugMedications = MaxFixedDrugMedications + 50
	if got := len(g.Card(0).DrugMedications); got != MaxFixedDrugMedications {
		t.Errorf("DrugMedications %d: Card(0) has %d drug medications, want %d", g.DrugMedications, got, MaxFixedDrugMedications)
	}
}
