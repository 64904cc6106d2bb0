package medcard

import (
	"context"
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// updateRules rewrites the generated sections of RULES.md. Its name is its
// own so that it cannot clash with an -update flag of golden-file tests.
var updateRules = flag.Bool("update-rules", false, "rewrite the generated sections of RULES.md from rules.go and merge.go")

// The generated sections of RULES.md, each between
// <!-- name:begin --> and <!-- name:end -->.
var rulesSections = []struct {
	name   string
	render func() string
}{
	{"transitions", renderTransitions},
	{"merge-table", renderMergeTable},
}

// TestRulesDocument keeps the tables in RULES.md equal to the ones the code
// uses: it renders them from rules.go and merge.go and compares. Run with
// -update-rules to rewrite them.
func TestRulesDocument(t *testing.T) {
	const path = "RULES.md"
	old, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	doc := string(old)
	for _, s := range rulesSections {
		doc, err = replaceSection(doc, s.name, s.render())
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
	}
	if *updateRules {
		if doc != string(old) {
			if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
				t.Fatalf("write %s: %v", path, err)
			}
			t.Logf("rewrote the generated sections of %s", path)
		}
		return
	}
	if diff := cmp.Diff(string(old), doc); diff != "" {
		t.Errorf("%s is not what rules.go and merge.go say; run\n\tgo test ./medcard -run TestRulesDocument -update-rules\n(-file +generated):\n%s", path, diff)
	}
}

// replaceSection returns doc with the text between the section's markers
// replaced by body.
func replaceSection(doc, name, body string) (string, error) {
	begin, end := "<!-- "+name+":begin -->", "<!-- "+name+":end -->"
	i := strings.Index(doc, begin)
	j := strings.Index(doc, end)
	if i < 0 || j < 0 || j < i {
		return "", fmt.Errorf("markers %q and %q not found in that order", begin, end)
	}
	if strings.Count(doc, begin) != 1 || strings.Count(doc, end) != 1 {
		return "", fmt.Errorf("markers of section %q appear more than once", name)
	}
	return doc[:i+len(begin)] + "\n" + body + doc[j:], nil
}

// mergeRows are the rows of the merge table: every operation that can
// have changed a drug medication since a request's base.
var mergeRows = []Operation{
	OpCreateDrugMedication, OpUpdateDrugMedication, OpPauseDrugMedication,
	OpUnpauseDrugMedication, OpWithdrawDrugMedication, OpUnwithdrawDrugMedication,
}

var drugMedicationStatuses = []DrugMedicationStatus{DrugMedicationActive, DrugMedicationPaused, DrugMedicationWithdrawn}

var orderStatuses = []OrderStatus{OrderOpen, OrderInProgress, OrderCompleted, OrderCancelled}

// orderOps are the operations of orderTransitions in the order RULES.md
// shows them.
var orderOps = []Operation{OpCancelOrder, OpStartEffectuation, OpAbortEffectuation, OpCreatePharmacyEffectuation, OpAcknowledgeOrders}

// shortOp names a drug medication operation without its noun, for the
// table headings.
func shortOp(op Operation) string { return strings.TrimSuffix(string(op), "DrugMedication") }

func resolutionName(r Resolution) string {
	switch r {
	case Apply:
		return "Apply"
	case KeepTheirs:
		return "KeepTheirs"
	case NeedsPerson:
		return "**NeedsPerson**"
	}
	return string(r)
}

// renderTransitions renders what checkDrugMedicationTransition and
// checkOrder answer for every state and operation.
func renderTransitions() string {
	var b strings.Builder
	b.WriteString("Drug medications (`checkDrugMedicationTransition`): the state the change leaves the item in, or the fault.\n\n")
	b.WriteString("| Change ↓ · State → |")
	for _, s := range drugMedicationStatuses {
		fmt.Fprintf(&b, " %s |", s)
	}
	b.WriteString("\n|---|")
	for range drugMedicationStatuses {
		b.WriteString("---|")
	}
	b.WriteString("\n")
	for _, op := range drugMedicationChanges {
		fmt.Fprintf(&b, "| %s |", op)
		for _, s := range drugMedicationStatuses {
			if err := checkDrugMedicationTransition(s, op); err != nil {
				fmt.Fprintf(&b, " %s |", FaultOf(err).ID)
				continue
			}
			to := drugMedicationTransitions[op].to
			if to == "" {
				to = s
			}
			fmt.Fprintf(&b, " → %s |", to)
		}
		b.WriteString("\n")
	}
	b.WriteString("\nOrders (`checkOrder`, for the pharmacy holding the order; any other pharmacy gets `OrderHeldByAnotherPharmacy`): ✓ or the fault.\n\n")
	b.WriteString("| Operation ↓ · Order state → |")
	for _, s := range orderStatuses {
		fmt.Fprintf(&b, " %s |", s)
	}
	b.WriteString("\n|---|")
	for range orderStatuses {
		b.WriteString("---|")
	}
	b.WriteString("\n")
	for _, op := range orderOps {
		fmt.Fprintf(&b, "| %s |", op)
		for _, s := range orderStatuses {
			if err := checkOrder(&Order{Status: s, Pharmacy: "A"}, op, "A"); err != nil {
				fmt.Fprintf(&b, " %s |", FaultOf(err).ID)
				continue
			}
			b.WriteString(" ✓ |")
		}
		b.WriteString("\n")
	}
	return b.String()
}

// renderMergeTable renders mergeTable as a matrix, then every cell with its
// reason, then prescriptionMergeTable.
func renderMergeTable() string {
	cells := map[mergeKey]mergeCell{}
	for _, c := range mergeTable {
		cells[mergeKey{c.Theirs, c.Ours}] = c
	}
	var b strings.Builder
	b.WriteString("Drug medications. Rows: the item's last change since the request's base (theirs); columns: the request's change (ours).\n\n")
	b.WriteString("| Theirs ↓ · Ours → |")
	for _, ours := range drugMedicationChanges {
		fmt.Fprintf(&b, " %s |", shortOp(ours))
	}
	b.WriteString("\n|---|")
	for range drugMedicationChanges {
		b.WriteString("---|")
	}
	b.WriteString("\n")
	for _, theirs := range mergeRows {
		fmt.Fprintf(&b, "| **%s** |", shortOp(theirs))
		for _, ours := range drugMedicationChanges {
			c, ok := cells[mergeKey{theirs, ours}]
			if !ok {
				b.WriteString(" — |")
				continue
			}
			fmt.Fprintf(&b, " %s |", resolutionName(c.Resolution))
		}
		b.WriteString("\n")
	}
	b.WriteString("\nEvery cell with its reason:\n\n")
	writeCells(&b, mergeTable)
	b.WriteString("\nPrescriptions (pairs not listed are applied under the business rules):\n\n")
	writeCells(&b, prescriptionMergeTable)
	return b.String()
}

func writeCells(b *strings.Builder, cells []mergeCell) {
	b.WriteString("| Theirs | Ours | Resolution | Why |\n|---|---|---|---|\n")
	for _, c := range cells {
		fmt.Fprintf(b, "| %s | %s | %s | %s |\n", c.Theirs, c.Ours, resolutionName(c.Resolution), strings.ReplaceAll(c.Why, "|", `\|`))
	}
}

// --- The rules on their own -------------------------------------------------

func TestCheckDrugMedicationTransition(t *testing.T) {
	// Written out by hand: the clinical reading of the life cycle.
	allowed := map[DrugMedicationStatus][]Operation{
		DrugMedicationActive:    {OpUpdateDrugMedication, OpPauseDrugMedication, OpWithdrawDrugMedication},
		DrugMedicationPaused:    {OpUpdateDrugMedication, OpUnpauseDrugMedication, OpWithdrawDrugMedication},
		DrugMedicationWithdrawn: {OpUnwithdrawDrugMedication},
	}
	for _, from := range drugMedicationStatuses {
		for _, op := range drugMedicationChanges {
			err := checkDrugMedicationTransition(from, op)
			if slices.Contains(allowed[from], op) {
				if err != nil {
					t.Errorf("checkDrugMedicationTransition(%s, %s) = %v, want nil", from, op, err)
				}
				continue
			}
			if got := FaultOf(err); err == nil || got != FaultTransitionNotAllowed {
				t.Errorf("checkDrugMedicationTransition(%s, %s) = %v, want fault %v", from, op, err, FaultTransitionNotAllowed)
			}
		}
		for _, op := range []Operation{OpCreateDrugMedication, OpResolveConflict, OpCreatePrescription, ""} {
			if err := checkDrugMedicationTransition(from, op); FaultOf(err) != FaultTransitionNotAllowed {
				t.Errorf("checkDrugMedicationTransition(%s, %q) = %v, want fault %v", from, op, err, FaultTransitionNotAllowed)
			}
		}
	}

	wantTo := map[Operation]DrugMedicationStatus{
		OpUpdateDrugMedication:     "", // keeps the state
		OpPauseDrugMedication:      DrugMedicationPaused,
		OpUnpauseDrugMedication:    DrugMedicationActive,
		OpWithdrawDrugMedication:   DrugMedicationWithdrawn,
		OpUnwithdrawDrugMedication: DrugMedicationActive,
	}
	if len(drugMedicationTransitions) != len(wantTo) {
		t.Errorf("drugMedicationTransitions has %d operations, want %d", len(drugMedicationTransitions), len(wantTo))
	}
	for op, to := range wantTo {
		if got := drugMedicationTransitions[op].to; got != to {
			t.Errorf("drugMedicationTransitions[%s].to = %q, want %q", op, got, to)
		}
	}
	var keys []Operation
	for op := range drugMedicationTransitions {
		keys = append(keys, op)
	}
	if diff := cmp.Diff(slices.Sorted(slices.Values(drugMedicationChanges)), slices.Sorted(slices.Values(keys))); diff != "" {
		t.Errorf("drugMedicationChanges and drugMedicationTransitions name different operations (-changes +transitions):\n%s", diff)
	}
}

func TestCheckOrder(t *testing.T) {
	ens, tna := &FaultEffectuationNotStarted, &FaultTransitionNotAllowed
	// Written out by hand; nil: allowed.
	want := map[OrderStatus]map[Operation]*Fault{
		OrderOpen:       {OpCancelOrder: nil, OpStartEffectuation: nil, OpAbortEffectuation: ens, OpCreatePharmacyEffectuation: ens, OpAcknowledgeOrders: nil},
		OrderInProgress: {OpCancelOrder: tna, OpStartEffectuation: tna, OpAbortEffectuation: nil, OpCreatePharmacyEffectuation: nil, OpAcknowledgeOrders: nil},
		OrderCompleted:  {OpCancelOrder: tna, OpStartEffectuation: tna, OpAbortEffectuation: ens, OpCreatePharmacyEffectuation: ens, OpAcknowledgeOrders: tna},
		OrderCancelled:  {OpCancelOrder: tna, OpStartEffectuation: tna, OpAbortEffectuation: ens, OpCreatePharmacyEffectuation: ens, OpAcknowledgeOrders: tna},
	}
	if len(orderTransitions) != len(orderOps) {
		t.Errorf("orderTransitions has %d operations, want %d", len(orderTransitions), len(orderOps))
	}
	for _, s := range orderStatuses {
		for _, op := range orderOps {
			o := &Order{Status: s, Pharmacy: "Apotek 1"}
			err := checkOrder(o, op, "Apotek 1")
			if w := want[s][op]; w == nil {
				if err != nil {
					t.Errorf("checkOrder(%s order, %s) = %v, want nil", s, op, err)
				}
			} else if FaultOf(err) != *w || err == nil {
				t.Errorf("checkOrder(%s order, %s) = %v, want fault %v", s, op, err, *w)
			}
			// Another pharmacy learns only that, whatever the state.
			if err := checkOrder(o, op, "Apotek 2"); FaultOf(err) != FaultOrderOfAnotherPharmacy || err == nil {
				t.Errorf("checkOrder(%s order, %s, another pharmacy) = %v, want fault %v", s, op, err, FaultOrderOfAnotherPharmacy)
			}
		}
		if err := checkOrder(&Order{Status: s, Pharmacy: "A"}, OpCreateOrder, "A"); FaultOf(err) != FaultTransitionNotAllowed {
			t.Errorf("checkOrder(%s order, %s) = %v, want fault %v", s, OpCreateOrder, err, FaultTransitionNotAllowed)
		}
	}
}

func TestCheckPrescribable(t *testing.T) {
	conflict := &Conflict{Rule: "r", Variants: make([]DrugMedication, 2)}
	tests := []struct {
		name string
		dm   DrugMedication
		want *Fault
	}{
		{"active", DrugMedication{Status: DrugMedicationActive}, nil},
		{"paused", DrugMedication{Status: DrugMedicationPaused}, &FaultDrugMedicationNotActive},
		{"withdrawn", DrugMedication{Status: DrugMedicationWithdrawn}, &FaultDrugMedicationNotActive},
		{"active in conflict", DrugMedication{Status: DrugMedicationActive, Conflict: conflict}, &FaultItemInConflict},
		{"withdrawn in conflict", DrugMedication{Status: DrugMedicationWithdrawn, Conflict: conflict}, &FaultItemInConflict},
	}
	for _, tt := range tests {
		err := checkPrescribable(&tt.dm)
		if tt.want == nil && err != nil || tt.want != nil && (err == nil || FaultOf(err) != *tt.want) {
			t.Errorf("checkPrescribable(%s) = %v, want %v", tt.name, err, tt.want)
		}
	}
}

func TestCheckPackages(t *testing.T) {
	tests := []struct {
		quantity, packages int
		want               *Fault
	}{
		{2, -1, &FaultInvalidField},
		{2, 0, &FaultInvalidField},
		{2, 1, nil},
		{2, 2, nil},
		{2, 3, &FaultTooManyPackages},
		{1, 1, nil},
		{1, 2, &FaultTooManyPackages},
		{99, 99, nil},
	}
	for _, tt := range tests {
		err := checkPackages(&Prescription{PackageQuantity: tt.quantity}, tt.packages)
		if tt.want == nil && err != nil || tt.want != nil && (err == nil || FaultOf(err) != *tt.want) {
			t.Errorf("checkPackages(quantity %d, %d packages) = %v, want %v", tt.quantity, tt.packages, err, tt.want)
		}
	}
}

func TestCheckDispensable(t *testing.T) {
	now := fixedNow.UTC() // 2026-03-01 09:30 UTC
	conflict := &Conflict{Rule: "r", Variants: make([]DrugMedication, 2)}
	tests := []struct {
		name          string
		change        func(c *Card, p *Prescription)
		checkInterval bool
		want          *Fault
	}{
		{"open and valid", nil, true, nil},
		{"cancelled", func(_ *Card, p *Prescription) { p.Status = PrescriptionCancelled }, true, &FaultPrescriptionNotOpen},
		{"closed", func(_ *Card, p *Prescription) { p.Status = PrescriptionClosed }, true, &FaultPrescriptionNotOpen},
		{"before ValidFrom", func(_ *Card, p *Prescription) { p.ValidFrom = "2026-03-02" }, true, &FaultPrescriptionNotValidToday},
		{"on ValidFrom", func(_ *Card, p *Prescription) { p.ValidFrom = "2026-03-01" }, true, nil},
		{"on ValidTo", func(_ *Card, p *Prescription) { p.ValidTo = "2026-03-01" }, true, nil},
		{"after ValidTo", func(_ *Card, p *Prescription) { p.ValidTo = "2026-02-28" }, true, &FaultPrescriptionNotValidToday},
		{"valid one day only", func(_ *Card, p *Prescription) { p.ValidFrom, p.ValidTo = "2026-03-01", "2026-03-01" }, true, nil},
		{"no iterations, not dispensed", func(_ *Card, p *Prescription) { p.Iterations = 0 }, true, nil},
		{"no iterations, dispensed once", func(_ *Card, p *Prescription) {
			p.Iterations, p.Dispensings, p.LastDispensedAt = 0, 1, now.AddDate(0, -6, 0)
		}, true, &FaultNoDispensingsLeft},
		{"2 iterations, dispensed twice", func(_ *Card, p *Prescription) {
			p.Dispensings, p.LastDispensedAt = 2, now.AddDate(0, 0, -60)
		}, true, nil},
		{"2 iterations, dispensed 3 times", func(_ *Card, p *Prescription) {
			p.Dispensings, p.LastDispensedAt = 3, now.AddDate(0, 0, -60)
		}, true, &FaultNoDispensingsLeft},
		{"used up, interval not checked", func(_ *Card, p *Prescription) {
			p.Dispensings, p.LastDispensedAt = 3, now
		}, false, &FaultNoDispensingsLeft},
		{"interval not passed", func(_ *Card, p *Prescription) {
			p.Dispensings, p.LastDispensedAt = 1, now.AddDate(0, 0, -29)
		}, true, &FaultIterationTooEarly},
		{"interval passed to the minute", func(_ *Card, p *Prescription) {
			p.Dispensings, p.LastDispensedAt = 1, now.AddDate(0, 0, -30)
		}, true, nil},
		// The interval is in days, and the fault names the date from which
		// the next iteration may be dispensed: on that date it may be.
		{"interval passed by date, earlier in the day", func(_ *Card, p *Prescription) {
			p.Dispensings, p.LastDispensedAt = 1, time.Date(2026, time.January, 30, 15, 0, 0, 0, time.UTC)
		}, true, nil},
		{"interval not passed, not checked", func(_ *Card, p *Prescription) {
			p.Dispensings, p.LastDispensedAt = 1, now.AddDate(0, 0, -1)
		}, false, nil},
		{"no interval", func(_ *Card, p *Prescription) {
			p.IterationIntervalDays, p.Dispensings, p.LastDispensedAt = 0, 1, now
		}, true, nil},
		{"drug medication in conflict", func(c *Card, _ *Prescription) { c.DrugMedications[0].Conflict = conflict }, true, &FaultItemInConflict},
		{"drug medication withdrawn", func(c *Card, _ *Prescription) { c.DrugMedications[0].Status = DrugMedicationWithdrawn }, true, &FaultDrugMedicationNotActive},
		{"drug medication withdrawn and in conflict", func(c *Card, _ *Prescription) {
			c.DrugMedications[0].Status, c.DrugMedications[0].Conflict = DrugMedicationWithdrawn, conflict
		}, true, &FaultItemInConflict},
		// A pause stops new prescriptions, not dispensing on existing ones.
		{"drug medication paused", func(c *Card, _ *Prescription) { c.DrugMedications[0].Status = DrugMedicationPaused }, true, nil},
		{"no drug medication", func(c *Card, p *Prescription) {
			p.DrugMedicationID = 0
			c.DrugMedications[0].Status = DrugMedicationWithdrawn
		}, true, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			card := &Card{
				DrugMedications: []DrugMedication{{ID: 1, Status: DrugMedicationActive}},
				Prescriptions: []Prescription{{
					ID: 2, DrugMedicationID: 1, Status: PrescriptionOpen, PackageQuantity: 2,
					Iterations: 2, IterationIntervalDays: 30, ValidFrom: "2026-01-01", ValidTo: "2027-01-01",
				}},
			}
			p := &card.Prescriptions[0]
			if tt.change != nil {
				tt.change(card, p)
			}
			err := checkDispensable(card, p, now, tt.checkInterval)
			if tt.want == nil && err != nil || tt.want != nil && (err == nil || FaultOf(err) != *tt.want) {
				t.Errorf("checkDispensable(%s, checkInterval %v) = %v, want %v", tt.name, tt.checkInterval, err, tt.want)
			}
		})
	}
}

// --- A fixture for driving the service --------------------------------------

// testClock is a clock the test can move.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) addDays(n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.AddDate(0, 0, n)
}

func (c *testClock) set(now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = now
}

func (c *testClock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// fixture is a service over a memStore with a movable clock, and helpers
// that build up testPerson's card through the service's real write path.
type fixture struct {
	t     *testing.T
	s     *Service
	m     *memStore
	clock *testClock
	seq   int
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	m := newMemStore()
	clock := &testClock{now: fixedNow}
	return &fixture{t: t, s: NewService(m, m, clock.Now), m: m, clock: clock}
}

var otherPharmacy = Caller{System: "Apotek2", Organisation: "Apotek 2", Role: RolePharmacist, AuthorisationID: "PH2"}

// msg returns a fresh MessageID.
func (f *fixture) msg() string {
	f.seq++
	return fmt.Sprintf("msg-%d", f.seq)
}

// call is a call by c with a fresh MessageID.
func (f *fixture) call(c Caller) Call { return Call{Caller: c, MessageID: f.msg()} }

// card returns testPerson's stored card (an empty one if there is none).
func (f *fixture) card() *Card {
	f.t.Helper()
	if c := f.m.storedCard(f.t, testPerson); c != nil {
		return c
	}
	return &Card{}
}

func (f *fixture) version() int64 {
	f.t.Helper()
	return f.card().Version
}

// stamp is what a write by c now records.
func (f *fixture) stamp(c Caller) Stamp { return Stamp{By: c.modifier(), At: f.clock.Now().UTC()} }

func (f *fixture) dm(id int64) DrugMedication {
	f.t.Helper()
	dm := f.card().drugMedication(id)
	if dm == nil {
		f.t.Fatalf("drug medication %d is not on the card", id)
	}
	return *dm
}

func (f *fixture) prescription(id int64) Prescription {
	f.t.Helper()
	p := f.card().prescription(id)
	if p == nil {
		f.t.Fatalf("prescription %d is not on the card", id)
	}
	return *p
}

func (f *fixture) order(id int64) Order {
	f.t.Helper()
	o := f.card().order(id)
	if o == nil {
		f.t.Fatalf("order %d is not on the card", id)
	}
	return *o
}

func (f *fixture) effectuation(id int64) Effectuation {
	f.t.Helper()
	e := f.card().effectuation(id)
	if e == nil {
		f.t.Fatalf("effectuation %d is not on the card", id)
	}
	return *e
}

// itemID returns the identifier of the item of kind that res touched.
func itemID(t *testing.T, res *WriteResult, kind ItemKind) int64 {
	t.Helper()
	for _, it := range res.Items {
		if it.Kind == kind {
			return it.ID
		}
	}
	t.Fatalf("write result %+v touched no %s", res, kind)
	return 0
}

// createDM adds validRequest's drug medication and returns its identifier.
func (f *fixture) createDM() int64 {
	f.t.Helper()
	req := validRequest(testPerson)
	req.BasedOnCardVersion = f.version()
	return itemID(f.t, mustCreate(f.t, f.s, doctor, f.msg(), req), ItemDrugMedication)
}

// changeDM runs one drug medication change as op; dosage is used by
// updates only.
func (f *fixture) changeDM(caller Caller, op Operation, id, basedOn int64, dosage string) (*WriteResult, error) {
	f.t.Helper()
	req := DrugMedicationRequest{PersonID: testPerson, BasedOnCardVersion: basedOn,
		Change: DrugMedicationChange{DrugMedicationID: id}}
	if op == OpUpdateDrugMedication {
		req.Change.Dosage = Dosage{Text: dosage}
	}
	if !slices.Contains(drugMedicationChanges, op) {
		f.t.Fatalf("changeDM: %s is not a drug medication change", op)
	}
	req.Change.Op = op
	return f.s.Change(context.Background(), f.call(caller), req)
}

// mustChangeDM makes a change based on the current card version.
func (f *fixture) mustChangeDM(op Operation, id int64, dosage string) *WriteResult {
	f.t.Helper()
	res, err := f.changeDM(doctor, op, id, f.version(), dosage)
	if err != nil {
		f.t.Fatalf("%s(%d) = %v, want nil error", op, id, err)
	}
	return res
}

// makeConflict makes two clinicians clash on drug medication id, based on
// the same card version, in a way that needs a person: two different
// dosages, or for a withdrawn item a reinstatement and a withdrawal.
func (f *fixture) makeConflict(id int64) {
	f.t.Helper()
	theirs, ours := OpUpdateDrugMedication, OpUpdateDrugMedication
	if f.dm(id).Status == DrugMedicationWithdrawn {
		theirs, ours = OpUnwithdrawDrugMedication, OpWithdrawDrugMedication
	}
	base := f.version()
	f.mustChangeDM(theirs, id, "1 tablet morgen")
	res, err := f.changeDM(doctor, ours, id, base, "1 tablet aften")
	if err != nil || !hasWarning(res, WarningConflict) {
		f.t.Fatalf("clashing %s = %+v, %v; want a ConflictWarning", ours, res, err)
	}
}

// prescriptionRequest is a valid prescription on drug medication dmID: 2
// packages per dispensing, 2 iterations at least 30 days apart.
func prescriptionRequest(dmID int64) CreatePrescriptionRequest {
	return CreatePrescriptionRequest{
		PersonID: testPerson, DrugMedicationID: dmID, PackageNumber: "123456",
		PackageQuantity: 2, Iterations: 2, IterationIntervalDays: 30, DosageText: "2 tabletter 3 gange daglig",
	}
}

// prescribe creates req based on the current card version and returns
// the prescription's identifier.
func (f *fixture) prescribe(req CreatePrescriptionRequest) int64 {
	f.t.Helper()
	req.BasedOnCardVersion = f.version()
	res, err := f.s.Change(context.Background(), f.call(doctor), req)
	if err != nil {
		f.t.Fatalf("CreatePrescription = %v, want nil error", err)
	}
	return itemID(f.t, res, ItemPrescription)
}

func (f *fixture) cancelPrescription(caller Caller, id, basedOn int64) (*WriteResult, error) {
	return f.s.Change(context.Background(), f.call(caller),
		CancelPrescriptionRequest{PersonID: testPerson, BasedOnCardVersion: basedOn, PrescriptionID: id})
}

func (f *fixture) createOrder(caller Caller, prescriptionID, basedOn int64) (*WriteResult, error) {
	return f.s.Change(context.Background(), f.call(caller),
		OrderRequest{PersonID: testPerson, BasedOnCardVersion: basedOn, PrescriptionID: prescriptionID})
}

// placeOrder orders the prescription as pharmacist and returns the order.
func (f *fixture) placeOrder(prescriptionID int64) int64 {
	f.t.Helper()
	res, err := f.createOrder(pharmacist, prescriptionID, f.version())
	if err != nil {
		f.t.Fatalf("CreateOrder(%d) = %v, want nil error", prescriptionID, err)
	}
	return itemID(f.t, res, ItemOrder)
}

// orderAct runs CancelOrder, StartEffectuation or AbortEffectuation.
func (f *fixture) orderAct(caller Caller, op Operation, orderID, basedOn int64) (*WriteResult, error) {
	f.t.Helper()
	switch op {
	case OpCancelOrder, OpStartEffectuation, OpAbortEffectuation, OpAcknowledgeOrders:
	default:
		f.t.Fatalf("orderAct: %s is not an order action", op)
	}
	req := OrderActionRequest{Op: op, PersonID: testPerson, BasedOnCardVersion: basedOn, OrderID: orderID}
	return f.s.Change(context.Background(), f.call(caller), req)
}

func (f *fixture) mustStart(orderID int64) {
	f.t.Helper()
	if _, err := f.orderAct(pharmacist, OpStartEffectuation, orderID, f.version()); err != nil {
		f.t.Fatalf("StartEffectuation(%d) = %v, want nil error", orderID, err)
	}
}

func (f *fixture) dispense(caller Caller, orderID, basedOn int64, packages int, terminate bool) (*WriteResult, error) {
	return f.s.Change(context.Background(), f.call(caller), EffectuationRequest{
		PersonID: testPerson, BasedOnCardVersion: basedOn, OrderID: orderID, PackagesDispensed: packages, Terminate: terminate})
}

// mustDispense records a dispensing on a started order and returns the
// effectuation.
func (f *fixture) mustDispense(orderID int64, packages int, terminate bool) int64 {
	f.t.Helper()
	res, err := f.dispense(pharmacist, orderID, f.version(), packages, terminate)
	if err != nil {
		f.t.Fatalf("CreatePharmacyEffectuation(%d) = %v, want nil error", orderID, err)
	}
	return itemID(f.t, res, ItemEffectuation)
}

// dispenseOnce orders, starts and dispenses 2 packages of the
// prescription, and returns the order and the effectuation.
func (f *fixture) dispenseOnce(prescriptionID int64, terminate bool) (orderID, effectuationID int64) {
	f.t.Helper()
	orderID = f.placeOrder(prescriptionID)
	f.mustStart(orderID)
	return orderID, f.mustDispense(orderID, 2, terminate)
}

func (f *fixture) undo(caller Caller, effectuationID int64) (*WriteResult, error) {
	return f.s.Change(context.Background(), f.call(caller),
		UndoEffectuationRequest{PersonID: testPerson, BasedOnCardVersion: f.version(), EffectuationID: effectuationID})
}

func warningCodes(res *WriteResult) []WarningCode {
	if res == nil {
		return nil
	}
	var codes []WarningCode
	for _, w := range res.Warnings {
		codes = append(codes, w.Code)
	}
	return codes
}

func hasWarning(res *WriteResult, code WarningCode) bool {
	return slices.Contains(warningCodes(res), code)
}

// --- Drug medications through the service -----------------------------------

func TestDrugMedicationTransitionsThroughService(t *testing.T) {
	// The state each allowed change leaves the item in, written out by
	// hand; a change missing from a row is refused.
	after := map[DrugMedicationStatus]map[Operation]DrugMedicationStatus{
		DrugMedicationActive: {
			OpUpdateDrugMedication: DrugMedicationActive, OpPauseDrugMedication: DrugMedicationPaused,
			OpWithdrawDrugMedication: DrugMedicationWithdrawn,
		},
		DrugMedicationPaused: {
			OpUpdateDrugMedication: DrugMedicationPaused, OpUnpauseDrugMedication: DrugMedicationActive,
			OpWithdrawDrugMedication: DrugMedicationWithdrawn,
		},
		DrugMedicationWithdrawn: {OpUnwithdrawDrugMedication: DrugMedicationActive},
	}
	reach := map[DrugMedicationStatus]Operation{DrugMedicationPaused: OpPauseDrugMedication, DrugMedicationWithdrawn: OpWithdrawDrugMedication}
	for _, from := range drugMedicationStatuses {
		for _, op := range drugMedicationChanges {
			t.Run(string(from)+"/"+string(op), func(t *testing.T) {
				f := newFixture(t)
				id := f.createDM()
				if r, ok := reach[from]; ok {
					f.mustChangeDM(r, id, "")
				}
				before := f.dm(id)
				snap := f.m.snapshot()
				f.clock.add(time.Hour)
				base := f.version()
				res, err := f.changeDM(nurse, op, id, base, "1 tablet dagligt")
				to, allowed := after[from][op]
				if !allowed {
					wantFault(t, fmt.Sprintf("%s on a %s item", op, from), err, FaultTransitionNotAllowed)
					wantUnchanged(t, f.m, snap)
					return
				}
				if err != nil {
					t.Fatalf("%s on a %s item = %v, want nil error", op, from, err)
				}
				want := before
				want.Status = to
				want.Version = before.Version + 1
				want.CardVersion = res.CardVersion
				want.Modified = f.stamp(nurse)
				want.LastOperation = op
				if op == OpUpdateDrugMedication {
					want.Dosage = Dosage{Text: "1 tablet dagligt"}
				}
				if diff := cmp.Diff(want, f.dm(id)); diff != "" {
					t.Errorf("%s on a %s item (-want +got):\n%s", op, from, diff)
				}
				wantRes := &WriteResult{CardVersion: base + 1, Items: []ItemVersion{{ItemDrugMedication, id, want.Version}}}
				if diff := cmp.Diff(wantRes, res); diff != "" {
					t.Errorf("%s result (-want +got):\n%s", op, diff)
				}
			})
		}
	}
}

func TestDrugMedicationChangeFaults(t *testing.T) {
	type request func(f *fixture, id int64) DrugMedicationRequest
	type faultCase struct {
		name    string
		op      Operation
		caller  Caller
		request request
		want    Fault
	}
	// plain is a valid request for op on the item, based on the current
	// card version; with, the same changed by change.
	plain := func(op Operation) request {
		return func(f *fixture, id int64) DrugMedicationRequest {
			return DrugMedicationRequest{PersonID: testPerson, BasedOnCardVersion: f.version(),
				Change: DrugMedicationChange{Op: op, DrugMedicationID: id, Dosage: Dosage{Text: "1 tablet"}}}
		}
	}
	with := func(op Operation, change func(f *fixture, r *DrugMedicationRequest)) request {
		return func(f *fixture, id int64) DrugMedicationRequest {
			r := plain(op)(f, id)
			change(f, &r)
			return r
		}
	}
	var tests []faultCase
	for _, op := range drugMedicationChanges {
		tests = append(tests,
			faultCase{"not found", op, doctor, with(op, func(_ *fixture, r *DrugMedicationRequest) { r.Change.DrugMedicationID = 99 }), FaultDrugMedicationNotFound},
			faultCase{"no identifier", op, doctor, with(op, func(_ *fixture, r *DrugMedicationRequest) { r.Change.DrugMedicationID = 0 }), FaultRequiredField},
			faultCase{"in conflict", op, doctor, func(f *fixture, id int64) DrugMedicationRequest {
				f.makeConflict(id)
				return plain(op)(f, id)
			}, FaultItemInConflict},
			faultCase{"pharmacist", op, pharmacist, plain(op), FaultRoleNotAllowed},
			faultCase{"base newer than the card", op, doctor, with(op, func(f *fixture, r *DrugMedicationRequest) { r.BasedOnCardVersion = f.version() + 1 }), FaultInvalidCardVersion},
			faultCase{"invalid person", op, doctor, with(op, func(_ *fixture, r *DrugMedicationRequest) { r.PersonID = "3201801234" }), FaultInvalidPersonID},
		)
	}
	update := func(change func(*DrugMedicationChange)) request {
		return with(OpUpdateDrugMedication, func(_ *fixture, r *DrugMedicationRequest) { change(&r.Change) })
	}
	tests = append(tests,
		faultCase{"no Dosage", OpUpdateDrugMedication, doctor, update(func(c *DrugMedicationChange) { c.Dosage.Text = "" }), FaultRequiredField},
		faultCase{"blank Dosage", OpUpdateDrugMedication, doctor, update(func(c *DrugMedicationChange) { c.Dosage.Text = "  " }), FaultRequiredField},
		faultCase{"Dosage 1001 characters", OpUpdateDrugMedication, doctor, update(func(c *DrugMedicationChange) { c.Dosage.Text = strings.Repeat("x", 1001) }), FaultInvalidField},
		faultCase{"EndDate before BeginDate", OpUpdateDrugMedication, doctor, update(func(c *DrugMedicationChange) { c.EndDate = "2026-02-28" }), FaultInvalidField},
		faultCase{"EndDate not a date", OpUpdateDrugMedication, doctor, update(func(c *DrugMedicationChange) { c.EndDate = "2026-02-30" }), FaultInvalidField},
		faultCase{"Indication/Text 501 characters", OpUpdateDrugMedication, doctor, update(func(c *DrugMedicationChange) { c.Indication.Text = strings.Repeat("x", 501) }), FaultInvalidField},
	)
	for _, tt := range tests {
		t.Run(string(tt.op)+"/"+tt.name, func(t *testing.T) {
			f := newFixture(t)
			id := f.createDM()
			// Each change starts from a state it is allowed in.
			switch tt.op {
			case OpUnpauseDrugMedication:
				f.mustChangeDM(OpPauseDrugMedication, id, "")
			case OpUnwithdrawDrugMedication:
				f.mustChangeDM(OpWithdrawDrugMedication, id, "")
			}
			req := tt.request(f, id)
			snap := f.m.snapshot()
			res, err := f.s.Change(context.Background(), f.call(tt.caller), req)
			wantFault(t, fmt.Sprintf("%s(%s)", tt.op, tt.name), err, tt.want)
			if res != nil {
				t.Errorf("%s(%s) result = %+v, want nil", tt.op, tt.name, res)
			}
			if strings.Contains(err.Error(), testPerson) {
				t.Errorf("error %q contains the person identifier", err)
			}
			wantUnchanged(t, f.m, snap)
		})
	}
}

func TestUpdateDrugMedicationFields(t *testing.T) {
	tests := []struct {
		name   string
		change DrugMedicationChange
		want   func(dm *DrugMedication)
	}{
		{"dosage only keeps indication and end date", DrugMedicationChange{Dosage: Dosage{Text: "1 tablet"}},
			func(dm *DrugMedication) { dm.Dosage = Dosage{Text: "1 tablet"} }},
		{"new indication and end date", DrugMedicationChange{Dosage: Dosage{Text: "1 tablet"},
			Indication: Indication{Code: "9", Text: "mod feber"}, EndDate: "2026-12-31"},
			func(dm *DrugMedication) {
				dm.Dosage = Dosage{Text: "1 tablet"}
				dm.Indication = Indication{Code: "9", Text: "mod feber"}
				dm.EndDate = "2026-12-31"
			}},
		{"EndDate on BeginDate", DrugMedicationChange{Dosage: Dosage{Text: "1 tablet"}, EndDate: "2026-03-01"},
			func(dm *DrugMedication) { dm.Dosage = Dosage{Text: "1 tablet"}; dm.EndDate = "2026-03-01" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			id := f.createDM()
			before := f.dm(id)
			tt.change.Op, tt.change.DrugMedicationID = OpUpdateDrugMedication, id
			res, err := f.s.Change(context.Background(), Call{Caller: doctor, MessageID: "u1"},
				DrugMedicationRequest{PersonID: testPerson, BasedOnCardVersion: 1, Change: tt.change})
			if err != nil {
				t.Fatalf("UpdateDrugMedication = %v, want nil error", err)
			}
			want := before
			tt.want(&want)
			want.Version, want.CardVersion, want.LastOperation, want.Modified = 2, 2, OpUpdateDrugMedication, f.stamp(doctor)
			if diff := cmp.Diff(want, f.dm(id)); diff != "" {
				t.Errorf("UpdateDrugMedication (-want +got):\n%s", diff)
			}
			if len(res.Warnings) != 0 {
				t.Errorf("UpdateDrugMedication warnings = %v, want none", res.Warnings)
			}
		})
	}
}

// --- The card ----------------------------------------------------------------

func TestSetMedicineCardReviewed(t *testing.T) {
	f := newFixture(t)
	f.createDM()
	f.createDM() // version 2
	ctx := context.Background()

	// The doctor reviewed the card as it was at version 1.
	res, err := f.s.Change(ctx, f.call(doctor), CardReviewRequest{Op: OpSetMedicineCardReviewed, PersonID: testPerson, BasedOnCardVersion: 1})
	if err != nil {
		t.Fatalf("SetMedicineCardReviewed = %v, want nil error", err)
	}
	if diff := cmp.Diff([]WarningCode{WarningVersionMismatch}, warningCodes(res)); diff != "" {
		t.Errorf("SetMedicineCardReviewed warnings (-want +got):\n%s", diff)
	}
	want := &Reviewed{By: doctor.modifier(), At: fixedNow.UTC(), CardVersion: 1}
	card := f.card()
	if diff := cmp.Diff(want, card.Reviewed); diff != "" {
		t.Errorf("Reviewed (-want +got):\n%s", diff)
	}
	if card.Version != 3 || res.CardVersion != 3 {
		t.Errorf("card version %d, result %d; want 3, 3", card.Version, res.CardVersion)
	}

	for _, c := range []Caller{nurse, pharmacist} {
		snap := f.m.snapshot()
		_, err := f.s.Change(ctx, f.call(c), CardReviewRequest{Op: OpSetMedicineCardReviewed, PersonID: testPerson, BasedOnCardVersion: 3})
		wantFault(t, "SetMedicineCardReviewed as "+string(c.Role), err, FaultRoleNotAllowed)
		_, err = f.s.Change(ctx, f.call(c), CardReviewRequest{Op: OpSetMedicineCardNotReviewed, PersonID: testPerson, BasedOnCardVersion: 3})
		wantFault(t, "SetMedicineCardNotReviewed as "+string(c.Role), err, FaultRoleNotAllowed)
		wantUnchanged(t, f.m, snap)
	}

	if _, err := f.s.Change(ctx, f.call(doctor), CardReviewRequest{Op: OpSetMedicineCardNotReviewed, PersonID: testPerson, BasedOnCardVersion: 3}); err != nil {
		t.Fatalf("SetMedicineCardNotReviewed = %v, want nil error", err)
	}
	if got := f.card().Reviewed; got != nil {
		t.Errorf("Reviewed after SetMedicineCardNotReviewed = %+v, want nil", got)
	}
}

func newDrugMedication(name, dosage string) NewDrugMedication {
	r := validRequest(testPerson)
	r.Drug.Name = name
	return NewDrugMedication{Drug: r.Drug, Dosage: Dosage{Text: dosage}, Indication: r.Indication, BeginDate: "2026-03-01"}
}

func TestUpdateMedicineCard(t *testing.T) {
	f := newFixture(t)
	dm1, dm2 := f.createDM(), f.createDM() // card version 2
	req := UpdateMedicineCardRequest{
		PersonID: testPerson, BasedOnCardVersion: 2,
		Create: []NewDrugMedication{newDrugMedication("Ibuprofen", "1 tablet"), newDrugMedication("Pinex", "2 tabletter")},
		Change: []DrugMedicationChange{
			{Op: OpUpdateDrugMedication, DrugMedicationID: dm1, Dosage: Dosage{Text: "1 tablet dagligt"}},
			{Op: OpPauseDrugMedication, DrugMedicationID: dm2},
		},
		SetReviewed: true,
	}
	res, err := f.s.Change(context.Background(), f.call(doctor), req)
	if err != nil {
		t.Fatalf("UpdateMedicineCard = %v, want nil error", err)
	}
	want := &WriteResult{CardVersion: 3, Items: []ItemVersion{
		{ItemDrugMedication, 3, 1}, {ItemDrugMedication, 4, 1}, {ItemDrugMedication, dm1, 2}, {ItemDrugMedication, dm2, 2},
	}}
	if diff := cmp.Diff(want, res); diff != "" {
		t.Errorf("UpdateMedicineCard (-want +got):\n%s", diff)
	}
	card := f.card()
	type line struct {
		Name        string
		Status      DrugMedicationStatus
		Dosage      string
		CardVersion int64
	}
	var got []line
	for _, dm := range card.DrugMedications {
		got = append(got, line{dm.Drug.Name, dm.Status, dm.Dosage.Text, dm.CardVersion})
	}
	wantLines := []line{
		{"Panodil", DrugMedicationActive, "1 tablet dagligt", 3},
		{"Panodil", DrugMedicationPaused, "2 tabletter 3 gange daglig", 3},
		{"Ibuprofen", DrugMedicationActive, "1 tablet", 3},
		{"Pinex", DrugMedicationActive, "2 tabletter", 3},
	}
	if diff := cmp.Diff(wantLines, got); diff != "" {
		t.Errorf("card after UpdateMedicineCard (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(&Reviewed{By: doctor.modifier(), At: fixedNow.UTC(), CardVersion: 2}, card.Reviewed); diff != "" {
		t.Errorf("Reviewed (-want +got):\n%s", diff)
	}
	if rows := f.m.auditRows(); rows[len(rows)-1].Operation != OpUpdateMedicineCard {
		t.Errorf("audit operation = %s, want %s", rows[len(rows)-1].Operation, OpUpdateMedicineCard)
	}
}

func TestUpdateMedicineCardRefused(t *testing.T) {
	tooMany := make([]DrugMedicationChange, 201)
	for i := range tooMany {
		tooMany[i] = DrugMedicationChange{Op: OpPauseDrugMedication, DrugMedicationID: 1}
	}
	noDosage := newDrugMedication("Ibuprofen", "")
	tests := []struct {
		name     string
		caller   Caller
		conflict bool // drug medication 1 has a conflict
		req      UpdateMedicineCardRequest
		want     Fault
	}{
		{"a change of an unknown item", doctor, false, UpdateMedicineCardRequest{
			Create: []NewDrugMedication{newDrugMedication("Ibuprofen", "1 tablet")},
			Change: []DrugMedicationChange{{Op: OpPauseDrugMedication, DrugMedicationID: 1}, {Op: OpPauseDrugMedication, DrugMedicationID: 99}},
		}, FaultDrugMedicationNotFound},
		{"a change not allowed", doctor, false, UpdateMedicineCardRequest{
			Change: []DrugMedicationChange{
				{Op: OpUpdateDrugMedication, DrugMedicationID: 1, Dosage: Dosage{Text: "1 tablet"}},
				{Op: OpUnpauseDrugMedication, DrugMedicationID: 2},
			},
			SetReviewed: true,
		}, FaultTransitionNotAllowed},
		{"an invalid create", doctor, false, UpdateMedicineCardRequest{
			Create: []NewDrugMedication{newDrugMedication("Ibuprofen", "1 tablet"), noDosage},
		}, FaultRequiredField},
		{"an update without dosage", doctor, false, UpdateMedicineCardRequest{
			Change: []DrugMedicationChange{{Op: OpUpdateDrugMedication, DrugMedicationID: 1}},
		}, FaultRequiredField},
		{"a change of a conflicted item", doctor, true, UpdateMedicineCardRequest{
			Change: []DrugMedicationChange{{Op: OpPauseDrugMedication, DrugMedicationID: 2}, {Op: OpWithdrawDrugMedication, DrugMedicationID: 1}},
		}, FaultItemInConflict},
		{"empty", doctor, false, UpdateMedicineCardRequest{}, FaultRequiredField},
		{"invalid operation", doctor, false, UpdateMedicineCardRequest{
			Change: []DrugMedicationChange{{Op: OpCreateDrugMedication, DrugMedicationID: 1}},
		}, FaultInvalidField},
		{"no operation", doctor, false, UpdateMedicineCardRequest{
			Change: []DrugMedicationChange{{DrugMedicationID: 1}},
		}, FaultInvalidField},
		{"201 changes", doctor, false, UpdateMedicineCardRequest{Change: tooMany}, FaultInvalidField},
		{"pharmacist", pharmacist, false, UpdateMedicineCardRequest{
			Change: []DrugMedicationChange{{Op: OpPauseDrugMedication, DrugMedicationID: 1}},
		}, FaultRoleNotAllowed},
		// Only doctors mark the card reviewed (SetMedicineCardReviewed);
		// UpdateMedicineCard is no way around that.
		{"nurse marks the card reviewed", nurse, false, UpdateMedicineCardRequest{
			Change:      []DrugMedicationChange{{Op: OpPauseDrugMedication, DrugMedicationID: 1}},
			SetReviewed: true,
		}, FaultRoleNotAllowed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			f.createDM()
			f.createDM()
			if tt.conflict {
				f.makeConflict(1)
			}
			tt.req.PersonID, tt.req.BasedOnCardVersion = testPerson, f.version()
			snap := f.m.snapshot()
			res, err := f.s.Change(context.Background(), f.call(tt.caller), tt.req)
			wantFault(t, "UpdateMedicineCard("+tt.name+")", err, tt.want)
			if res != nil {
				t.Errorf("UpdateMedicineCard result = %+v, want nil", res)
			}
			wantUnchanged(t, f.m, snap)
		})
	}
}

func TestUpdateMedicineCardNurse(t *testing.T) {
	f := newFixture(t)
	id := f.createDM()
	_, err := f.s.Change(context.Background(), f.call(nurse), UpdateMedicineCardRequest{
		PersonID: testPerson, BasedOnCardVersion: 1,
		Change: []DrugMedicationChange{{Op: OpPauseDrugMedication, DrugMedicationID: id}},
	})
	if err != nil {
		t.Fatalf("UpdateMedicineCard as nurse = %v, want nil error", err)
	}
	if got := f.dm(id).Status; got != DrugMedicationPaused {
		t.Errorf("status = %s, want %s", got, DrugMedicationPaused)
	}
}

// TestUpdateMedicineCardTwoChangesToOneItem checks that a request's own
// earlier change to an item is not taken for someone else's: the changes
// apply in order, without a conflict.
func TestUpdateMedicineCardTwoChangesToOneItem(t *testing.T) {
	tests := []struct {
		name       string
		changes    []DrugMedicationChange
		wantStatus DrugMedicationStatus
		wantDosage string
	}{
		{"update twice", []DrugMedicationChange{
			{Op: OpUpdateDrugMedication, Dosage: Dosage{Text: "1 tablet"}},
			{Op: OpUpdateDrugMedication, Dosage: Dosage{Text: "2 tabletter"}},
		}, DrugMedicationActive, "2 tabletter"},
		{"pause then resume", []DrugMedicationChange{
			{Op: OpPauseDrugMedication}, {Op: OpUnpauseDrugMedication},
		}, DrugMedicationActive, "2 tabletter 3 gange daglig"},
		{"update then withdraw", []DrugMedicationChange{
			{Op: OpUpdateDrugMedication, Dosage: Dosage{Text: "1 tablet"}}, {Op: OpWithdrawDrugMedication},
		}, DrugMedicationWithdrawn, "1 tablet"},
		{"pause twice", []DrugMedicationChange{
			{Op: OpPauseDrugMedication}, {Op: OpPauseDrugMedication},
		}, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			id := f.createDM()
			for i := range tt.changes {
				tt.changes[i].DrugMedicationID = id
			}
			snap := f.m.snapshot()
			res, err := f.s.Change(context.Background(), f.call(doctor),
				UpdateMedicineCardRequest{PersonID: testPerson, BasedOnCardVersion: 1, Change: tt.changes})
			if tt.wantStatus == "" {
				wantFault(t, "UpdateMedicineCard("+tt.name+")", err, FaultTransitionNotAllowed)
				wantUnchanged(t, f.m, snap)
				return
			}
			if err != nil {
				t.Fatalf("UpdateMedicineCard(%s) = %v, want nil error", tt.name, err)
			}
			if len(res.Warnings) != 0 {
				t.Errorf("UpdateMedicineCard(%s) warnings = %v, want none", tt.name, res.Warnings)
			}
			dm := f.dm(id)
			if dm.Conflict != nil || dm.Status != tt.wantStatus || dm.Dosage.Text != tt.wantDosage {
				t.Errorf("UpdateMedicineCard(%s): item %s %q, conflict %v; want %s %q, no conflict",
					tt.name, dm.Status, dm.Dosage.Text, dm.Conflict != nil, tt.wantStatus, tt.wantDosage)
			}
			if diff := cmp.Diff([]ItemVersion{{ItemDrugMedication, id, 3}}, res.Items); diff != "" {
				t.Errorf("Items (-want +got):\n%s", diff)
			}
		})
	}
}

// --- Prescriptions -----------------------------------------------------------

func TestCreatePrescription(t *testing.T) {
	f := newFixture(t)
	dm := f.createDM()
	req := prescriptionRequest(dm)
	req.BasedOnCardVersion = 1
	res, err := f.s.Change(context.Background(), Call{Caller: doctor, MessageID: "p1"}, req)
	if err != nil {
		t.Fatalf("CreatePrescription = %v, want nil error", err)
	}
	if diff := cmp.Diff(&WriteResult{CardVersion: 2, Items: []ItemVersion{{ItemPrescription, 2, 1}}}, res); diff != "" {
		t.Errorf("CreatePrescription (-want +got):\n%s", diff)
	}
	stamp := f.stamp(doctor)
	want := Prescription{
		ID: 2, Version: 1, CardVersion: 2, DrugMedicationID: dm, Status: PrescriptionOpen,
		Drug: validRequest(testPerson).Drug, PackageNumber: "123456", PackageQuantity: 2, Iterations: 2,
		IterationIntervalDays: 30, ValidFrom: "2026-03-01", ValidTo: "2028-03-01", DosageText: req.DosageText,
		Created: stamp, Modified: stamp, LastOperation: OpCreatePrescription,
	}
	if diff := cmp.Diff(want, f.prescription(2)); diff != "" {
		t.Errorf("stored prescription (-want +got):\n%s", diff)
	}
}

func TestCreatePrescriptionRules(t *testing.T) {
	ownDrug := Drug{Identifier: "0123", Name: "Morfin"}
	tests := []struct {
		name   string
		caller Caller
		setup  func(f *fixture, dm int64) // before the request
		change func(r *CreatePrescriptionRequest)
		want   *Fault
		// For requests that succeed: the stored validity and drug.
		wantFrom, wantTo Date
		wantDrug         string
	}{
		{name: "without a drug medication", change: func(r *CreatePrescriptionRequest) { r.DrugMedicationID, r.Drug = 0, ownDrug },
			wantFrom: "2026-03-01", wantTo: "2028-03-01", wantDrug: "Morfin"},
		{name: "a drug medication's drug wins", change: func(r *CreatePrescriptionRequest) { r.Drug = ownDrug },
			wantFrom: "2026-03-01", wantTo: "2028-03-01", wantDrug: "Panodil"},
		{name: "without a drug medication or drug identifier", change: func(r *CreatePrescriptionRequest) {
			r.DrugMedicationID, r.Drug = 0, Drug{Name: "Morfin"}
		}, want: &FaultRequiredField},
		{name: "without a drug medication or drug name", change: func(r *CreatePrescriptionRequest) {
			r.DrugMedicationID, r.Drug = 0, Drug{Identifier: "0123"}
		}, want: &FaultRequiredField},
		{name: "unknown drug medication", change: func(r *CreatePrescriptionRequest) { r.DrugMedicationID = 99 }, want: &FaultDrugMedicationNotFound},
		{name: "withdrawn drug medication", setup: func(f *fixture, dm int64) { f.mustChangeDM(OpWithdrawDrugMedication, dm, "") },
			want: &FaultDrugMedicationNotActive},
		{name: "paused drug medication", setup: func(f *fixture, dm int64) { f.mustChangeDM(OpPauseDrugMedication, dm, "") },
			want: &FaultDrugMedicationNotActive},
		{name: "conflicted drug medication", setup: func(f *fixture, dm int64) { f.makeConflict(dm) }, want: &FaultItemInConflict},
		{name: "PackageQuantity 0", change: func(r *CreatePrescriptionRequest) { r.PackageQuantity = 0 }, want: &FaultInvalidField},
		{name: "PackageQuantity 100", change: func(r *CreatePrescriptionRequest) { r.PackageQuantity = 100 }, want: &FaultInvalidField},
		{name: "PackageQuantity 1", change: func(r *CreatePrescriptionRequest) { r.PackageQuantity = 1 }, wantFrom: "2026-03-01", wantTo: "2028-03-01", wantDrug: "Panodil"},
		{name: "PackageQuantity 99", change: func(r *CreatePrescriptionRequest) { r.PackageQuantity = 99 }, wantFrom: "2026-03-01", wantTo: "2028-03-01", wantDrug: "Panodil"},
		{name: "Iterations -1", change: func(r *CreatePrescriptionRequest) { r.Iterations = -1 }, want: &FaultInvalidField},
		{name: "Iterations 100", change: func(r *CreatePrescriptionRequest) { r.Iterations = 100 }, want: &FaultInvalidField},
		{name: "Iterations 0", change: func(r *CreatePrescriptionRequest) { r.Iterations = 0 }, wantFrom: "2026-03-01", wantTo: "2028-03-01", wantDrug: "Panodil"},
		{name: "Iterations 99", change: func(r *CreatePrescriptionRequest) { r.Iterations = 99 }, wantFrom: "2026-03-01", wantTo: "2028-03-01", wantDrug: "Panodil"},
		{name: "IterationIntervalDays -1", change: func(r *CreatePrescriptionRequest) { r.IterationIntervalDays = -1 }, want: &FaultInvalidField},
		{name: "IterationIntervalDays 366", change: func(r *CreatePrescriptionRequest) { r.IterationIntervalDays = 366 }, want: &FaultInvalidField},
		{name: "IterationIntervalDays 0", change: func(r *CreatePrescriptionRequest) { r.IterationIntervalDays = 0 }, wantFrom: "2026-03-01", wantTo: "2028-03-01", wantDrug: "Panodil"},
		{name: "IterationIntervalDays 365", change: func(r *CreatePrescriptionRequest) { r.IterationIntervalDays = 365 }, wantFrom: "2026-03-01", wantTo: "2028-03-01", wantDrug: "Panodil"},
		{name: "ValidTo defaults to two years after ValidFrom", change: func(r *CreatePrescriptionRequest) { r.ValidFrom = "2026-04-15" },
			wantFrom: "2026-04-15", wantTo: "2028-04-15", wantDrug: "Panodil"},
		{name: "ValidFrom and ValidTo", change: func(r *CreatePrescriptionRequest) { r.ValidFrom, r.ValidTo = "2026-04-01", "2026-10-01" },
			wantFrom: "2026-04-01", wantTo: "2026-10-01", wantDrug: "Panodil"},
		{name: "ValidTo on ValidFrom", change: func(r *CreatePrescriptionRequest) { r.ValidFrom, r.ValidTo = "2026-04-01", "2026-04-01" },
			wantFrom: "2026-04-01", wantTo: "2026-04-01", wantDrug: "Panodil"},
		{name: "ValidTo exactly two years", change: func(r *CreatePrescriptionRequest) { r.ValidTo = "2028-03-01" },
			wantFrom: "2026-03-01", wantTo: "2028-03-01", wantDrug: "Panodil"},
		{name: "ValidTo before ValidFrom", change: func(r *CreatePrescriptionRequest) { r.ValidFrom, r.ValidTo = "2026-04-01", "2026-03-31" },
			want: &FaultInvalidField},
		{name: "ValidTo before today's default ValidFrom", change: func(r *CreatePrescriptionRequest) { r.ValidTo = "2026-02-28" },
			want: &FaultInvalidField},
		{name: "ValidTo beyond two years", change: func(r *CreatePrescriptionRequest) { r.ValidTo = "2028-03-02" }, want: &FaultInvalidField},
		{name: "ValidFrom not a date", change: func(r *CreatePrescriptionRequest) { r.ValidFrom = "2026-02-30" }, want: &FaultInvalidField},
		{name: "ValidTo not a date", change: func(r *CreatePrescriptionRequest) { r.ValidTo = "soon" }, want: &FaultInvalidField},
		{name: "no PackageNumber", change: func(r *CreatePrescriptionRequest) { r.PackageNumber = "" }, want: &FaultRequiredField},
		{name: "PackageNumber 21 characters", change: func(r *CreatePrescriptionRequest) { r.PackageNumber = strings.Repeat("1", 21) }, want: &FaultInvalidField},
		{name: "no DosageText", change: func(r *CreatePrescriptionRequest) { r.DosageText = " " }, want: &FaultRequiredField},
		{name: "nurse", caller: nurse, want: &FaultRoleNotAllowed},
		{name: "pharmacist", caller: pharmacist, want: &FaultRoleNotAllowed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			dm := f.createDM()
			if tt.setup != nil {
				tt.setup(f, dm)
			}
			req := prescriptionRequest(dm)
			req.BasedOnCardVersion = f.version()
			if tt.change != nil {
				tt.change(&req)
			}
			caller := tt.caller
			if caller.Role == "" {
				caller = doctor
			}
			snap := f.m.snapshot()
			res, err := f.s.Change(context.Background(), f.call(caller), req)
			if tt.want != nil {
				wantFault(t, "CreatePrescription("+tt.name+")", err, *tt.want)
				wantUnchanged(t, f.m, snap)
				return
			}
			if err != nil {
				t.Fatalf("CreatePrescription(%s) = %v, want nil error", tt.name, err)
			}
			p := f.prescription(itemID(t, res, ItemPrescription))
			if p.ValidFrom != tt.wantFrom || p.ValidTo != tt.wantTo || p.Drug.Name != tt.wantDrug {
				t.Errorf("CreatePrescription(%s) = valid %s to %s, drug %q; want %s to %s, %q",
					tt.name, p.ValidFrom, p.ValidTo, p.Drug.Name, tt.wantFrom, tt.wantTo, tt.wantDrug)
			}
			if p.Status != PrescriptionOpen || p.PackageQuantity != req.PackageQuantity || p.Iterations != req.Iterations ||
				p.IterationIntervalDays != req.IterationIntervalDays {
				t.Errorf("CreatePrescription(%s) = %+v, want an open prescription with the request's quantities", tt.name, p)
			}
		})
	}
}

func TestCancelPrescription(t *testing.T) {
	tests := []struct {
		name      string
		caller    Caller
		setup     func(f *fixture, p int64) (order int64)
		id        int64 // 0: the prescription
		want      *Fault
		wantOrder OrderStatus // of the order setup made, when the cancel succeeds
	}{
		{name: "open"},
		{name: "its open order is cancelled with it", setup: func(f *fixture, p int64) int64 { return f.placeOrder(p) },
			wantOrder: OrderCancelled},
		{name: "a completed order stays completed", setup: func(f *fixture, p int64) int64 {
			o, _ := f.dispenseOnce(p, false)
			return o
		}, wantOrder: OrderCompleted},
		{name: "an effectuation in progress", setup: func(f *fixture, p int64) int64 {
			o := f.placeOrder(p)
			f.mustStart(o)
			return o
		}, want: &FaultTransitionNotAllowed},
		{name: "already cancelled", setup: func(f *fixture, p int64) int64 {
			if _, err := f.cancelPrescription(doctor, p, f.version()); err != nil {
				f.t.Fatalf("CancelPrescription = %v", err)
			}
			return 0
		}, want: &FaultPrescriptionNotOpen},
		{name: "closed", setup: func(f *fixture, p int64) int64 {
			f.dispenseOnce(p, true)
			return 0
		}, want: &FaultPrescriptionNotOpen},
		{name: "unknown", id: 99, want: &FaultPrescriptionNotFound},
		{name: "no identifier", id: -1, want: &FaultRequiredField},
		{name: "nurse", caller: nurse, want: &FaultRoleNotAllowed},
		{name: "pharmacist", caller: pharmacist, want: &FaultRoleNotAllowed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			p := f.prescribe(prescriptionRequest(f.createDM()))
			var order int64
			if tt.setup != nil {
				order = tt.setup(f, p)
			}
			id := p
			switch {
			case tt.id > 0:
				id = tt.id
			case tt.id < 0:
				id = 0
			}
			caller := tt.caller
			if caller.Role == "" {
				caller = doctor
			}
			before := f.prescription(p)
			snap := f.m.snapshot()
			res, err := f.cancelPrescription(caller, id, f.version())
			if tt.want != nil {
				wantFault(t, "CancelPrescription("+tt.name+")", err, *tt.want)
				wantUnchanged(t, f.m, snap)
				return
			}
			if err != nil {
				t.Fatalf("CancelPrescription(%s) = %v, want nil error", tt.name, err)
			}
			want := before
			want.Status, want.Version, want.CardVersion = PrescriptionCancelled, before.Version+1, res.CardVersion
			want.Modified, want.LastOperation = f.stamp(doctor), OpCancelPrescription
			if diff := cmp.Diff(want, f.prescription(p)); diff != "" {
				t.Errorf("CancelPrescription(%s) (-want +got):\n%s", tt.name, diff)
			}
			if order != 0 {
				if got := f.order(order).Status; got != tt.wantOrder {
					t.Errorf("order after CancelPrescription(%s) = %s, want %s", tt.name, got, tt.wantOrder)
				}
			}
			// Nothing more can be ordered.
			_, err = f.createOrder(pharmacist, p, f.version())
			wantFault(t, "CreateOrder on a cancelled prescription", err, FaultPrescriptionNotOpen)
		})
	}
}

// TestNextDispensingDate: what the pharmacist's card page shows of a
// prescription: the dispensings left and the first date the next one is
// allowed on, by validity and the iteration interval.
func TestNextDispensingDate(t *testing.T) {
	last := time.Date(2026, 3, 10, 23, 30, 0, 0, time.UTC) // 11 March in Copenhagen (UTC+1)
	for _, tc := range []struct {
		name string
		p    Prescription
		left int
		next Date
	}{
		{"none dispensed yet", Prescription{Status: PrescriptionOpen, ValidFrom: "2026-03-01", Iterations: 2, IterationIntervalDays: 30}, 3, "2026-03-01"},
		{"interval after the last", Prescription{Status: PrescriptionOpen, ValidFrom: "2026-03-01", Iterations: 2, IterationIntervalDays: 30,
			Dispensings: 1, LastDispensedAt: last}, 2, "2026-04-10"},
		{"no interval", Prescription{Status: PrescriptionOpen, ValidFrom: "2026-03-01", Iterations: 2, Dispensings: 1, LastDispensedAt: last}, 1 + 2 - 1, "2026-03-01"},
		{"used up", Prescription{Status: PrescriptionOpen, ValidFrom: "2026-03-01", Iterations: 1, Dispensings: 2, LastDispensedAt: last}, 0, ""},
		{"cancelled", Prescription{Status: PrescriptionCancelled, ValidFrom: "2026-03-01", Iterations: 3}, 0, ""},
	} {
		if got := tc.p.DispensingsLeft(); got != tc.left {
			t.Errorf("%s: DispensingsLeft = %d, want %d", tc.name, got, tc.left)
		}
		if got := tc.p.NextDispensingDate(); got != tc.next {
			t.Errorf("%s: NextDispensingDate = %q, want %q", tc.name, got, tc.next)
		}
	}
}
