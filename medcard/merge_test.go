package medcard

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

const (
	origDosage   = "2 tabletter 3 gange daglig" // validRequest's
	theirDosage  = "1 tablet morgen"
	ourDosage    = "1 tablet aften"
	settleDosage = "1 tablet middag"
)

// mergeOutcome is what one cell of mergeTable does, written out by hand
// from a clinician's reading of the table: for Apply, the item's state and
// dosage afterwards, or the fault of the business rules; for NeedsPerson,
// the second variant (ours) kept beside the stored one.
type mergeOutcome struct {
	resolution Resolution
	status     DrugMedicationStatus
	dosage     string
	fault      *Fault
}

var mergeOutcomes = map[mergeKey]mergeOutcome{
	{OpCreateDrugMedication, OpUpdateDrugMedication}:     {Apply, DrugMedicationActive, ourDosage, nil},
	{OpCreateDrugMedication, OpPauseDrugMedication}:      {Apply, DrugMedicationPaused, origDosage, nil},
	{OpCreateDrugMedication, OpUnpauseDrugMedication}:    {Apply, "", "", &FaultTransitionNotAllowed},
	{OpCreateDrugMedication, OpWithdrawDrugMedication}:   {Apply, DrugMedicationWithdrawn, origDosage, nil},
	{OpCreateDrugMedication, OpUnwithdrawDrugMedication}: {Apply, "", "", &FaultTransitionNotAllowed},

	{OpUpdateDrugMedication, OpUpdateDrugMedication}:     {NeedsPerson, DrugMedicationActive, ourDosage, nil},
	{OpUpdateDrugMedication, OpPauseDrugMedication}:      {Apply, DrugMedicationPaused, theirDosage, nil},
	{OpUpdateDrugMedication, OpUnpauseDrugMedication}:    {Apply, DrugMedicationActive, theirDosage, nil}, // paused at the base
	{OpUpdateDrugMedication, OpWithdrawDrugMedication}:   {NeedsPerson, DrugMedicationWithdrawn, theirDosage, nil},
	{OpUpdateDrugMedication, OpUnwithdrawDrugMedication}: {Apply, "", "", &FaultTransitionNotAllowed},

	{OpPauseDrugMedication, OpUpdateDrugMedication}:     {Apply, DrugMedicationPaused, ourDosage, nil},
	{OpPauseDrugMedication, OpPauseDrugMedication}:      {KeepTheirs, "", "", nil},
	{OpPauseDrugMedication, OpUnpauseDrugMedication}:    {NeedsPerson, DrugMedicationActive, origDosage, nil},
	{OpPauseDrugMedication, OpWithdrawDrugMedication}:   {Apply, DrugMedicationWithdrawn, origDosage, nil},
	{OpPauseDrugMedication, OpUnwithdrawDrugMedication}: {Apply, "", "", &FaultTransitionNotAllowed},

	{OpUnpauseDrugMedication, OpUpdateDrugMedication}:     {Apply, DrugMedicationActive, ourDosage, nil},
	{OpUnpauseDrugMedication, OpPauseDrugMedication}:      {NeedsPerson, DrugMedicationPaused, origDosage, nil},
	{OpUnpauseDrugMedication, OpUnpauseDrugMedication}:    {KeepTheirs, "", "", nil},
	{OpUnpauseDrugMedication, OpWithdrawDrugMedication}:   {Apply, DrugMedicationWithdrawn, origDosage, nil},
	{OpUnpauseDrugMedication, OpUnwithdrawDrugMedication}: {Apply, "", "", &FaultTransitionNotAllowed},

	// An update of a withdrawn drug medication is a wish to continue it.
	{OpWithdrawDrugMedication, OpUpdateDrugMedication}:     {NeedsPerson, DrugMedicationActive, ourDosage, nil},
	{OpWithdrawDrugMedication, OpPauseDrugMedication}:      {KeepTheirs, "", "", nil},
	{OpWithdrawDrugMedication, OpUnpauseDrugMedication}:    {KeepTheirs, "", "", nil},
	{OpWithdrawDrugMedication, OpWithdrawDrugMedication}:   {KeepTheirs, "", "", nil},
	{OpWithdrawDrugMedication, OpUnwithdrawDrugMedication}: {NeedsPerson, DrugMedicationActive, origDosage, nil},

	{OpUnwithdrawDrugMedication, OpUpdateDrugMedication}:     {Apply, DrugMedicationActive, ourDosage, nil},
	{OpUnwithdrawDrugMedication, OpPauseDrugMedication}:      {Apply, DrugMedicationPaused, origDosage, nil},
	{OpUnwithdrawDrugMedication, OpUnpauseDrugMedication}:    {Apply, "", "", &FaultTransitionNotAllowed},
	{OpUnwithdrawDrugMedication, OpWithdrawDrugMedication}:   {NeedsPerson, DrugMedicationWithdrawn, origDosage, nil},
	{OpUnwithdrawDrugMedication, OpUnwithdrawDrugMedication}: {KeepTheirs, "", "", nil},
}

func TestMergeTableShape(t *testing.T) {
	seen := map[mergeKey]bool{}
	for _, table := range [][]mergeCell{mergeTable, prescriptionMergeTable} {
		for _, c := range table {
			k := mergeKey{c.Theirs, c.Ours}
			if seen[k] {
				t.Errorf("merge table lists %s/%s twice", c.Theirs, c.Ours)
			}
			seen[k] = true
			if c.Why == "" {
				t.Errorf("merge cell %s/%s has no reason", c.Theirs, c.Ours)
			}
			if c.Resolution != Apply && c.Resolution != KeepTheirs && c.Resolution != NeedsPerson {
				t.Errorf("merge cell %s/%s has resolution %q", c.Theirs, c.Ours, c.Resolution)
			}
		}
	}
	for _, theirs := range mergeRows {
		for _, ours := range drugMedicationChanges {
			if !seen[mergeKey{theirs, ours}] {
				t.Errorf("merge table has no cell for %s/%s", theirs, ours)
			}
		}
	}
	if n := len(mergeRows) * len(drugMedicationChanges); len(mergeTable) != n {
		t.Errorf("mergeTable has %d cells, want %d", len(mergeTable), n)
	}
	for _, c := range mergeTable {
		if !slices.Contains(mergeRows, c.Theirs) || !slices.Contains(drugMedicationChanges, c.Ours) {
			t.Errorf("mergeTable cell %s/%s is outside the drug medication rows and columns", c.Theirs, c.Ours)
		}
		if _, ok := mergeOutcomes[mergeKey{c.Theirs, c.Ours}]; !ok {
			t.Errorf("merge cell %s/%s has no expected outcome in mergeOutcomes", c.Theirs, c.Ours)
		}
	}
	// A settled conflict counts as an update; a pair not in the table is
	// left to the rules.
	for _, ours := range drugMedicationChanges {
		if got, want := merge(OpResolveConflict, ours).Resolution, merge(OpUpdateDrugMedication, ours).Resolution; got != want {
			t.Errorf("merge(%s, %s) = %v, want %v (as after an update)", OpResolveConflict, ours, got, want)
		}
	}
	if got := merge(OpUndoEffectuation, OpCancelPrescription).Resolution; got != Apply {
		t.Errorf("merge(%s, %s) = %v, want %v", OpUndoEffectuation, OpCancelPrescription, got, Apply)
	}
}

// mergeCase is a card on which drug medication id's last change since the
// base version was theirs; it has a prescription on the item and an open
// order on that.
type mergeCase struct {
	f      *fixture
	id     int64
	order  int64
	base   int64
	before DrugMedication // the item as stored before ours
}

// setupMergeCase builds the card for cell theirs/ours.
func setupMergeCase(t *testing.T, theirs, ours Operation) *mergeCase {
	t.Helper()
	f := newFixture(t)
	c := &mergeCase{f: f}
	if theirs == OpCreateDrugMedication {
		c.base = f.version()
		c.id = f.createDM()
		c.order = f.placeOrder(f.prescribe(prescriptionRequest(c.id)))
	} else {
		c.id = f.createDM()
		c.order = f.placeOrder(f.prescribe(prescriptionRequest(c.id)))
		// The state at the base from which theirs is allowed.
		switch {
		case theirs == OpUnpauseDrugMedication, theirs == OpUpdateDrugMedication && ours == OpUnpauseDrugMedication:
			f.mustChangeDM(OpPauseDrugMedication, c.id, "")
		case theirs == OpUnwithdrawDrugMedication:
			f.mustChangeDM(OpWithdrawDrugMedication, c.id, "")
		}
		c.base = f.version()
		f.mustChangeDM(theirs, c.id, theirDosage)
	}
	c.before = f.dm(c.id)
	if c.before.LastOperation != theirs || c.before.CardVersion <= c.base {
		t.Fatalf("setup: item last changed by %s at %d, want %s after %d", c.before.LastOperation, c.before.CardVersion, theirs, c.base)
	}
	return c
}

// ours sends our change based on the base version.
func (c *mergeCase) ours(op Operation) (*WriteResult, error) {
	return c.f.changeDM(nurse, op, c.id, c.base, ourDosage)
}

// TestMergeCells drives every cell of mergeTable through the service.
func TestMergeCells(t *testing.T) {
	for _, cell := range mergeTable {
		t.Run(shortOp(cell.Theirs)+"/"+shortOp(cell.Ours), func(t *testing.T) {
			want := mergeOutcomes[mergeKey{cell.Theirs, cell.Ours}]
			if cell.Resolution != want.resolution {
				t.Fatalf("merge(%s, %s) = %v, want %v", cell.Theirs, cell.Ours, cell.Resolution, want.resolution)
			}
			c := setupMergeCase(t, cell.Theirs, cell.Ours)
			f := c.f
			snap := f.m.snapshot()
			res, err := c.ours(cell.Ours)
			switch cell.Resolution {
			case Apply:
				if want.fault != nil {
					wantFault(t, fmt.Sprintf("%s after %s", cell.Ours, cell.Theirs), err, *want.fault)
					wantUnchanged(t, f.m, snap)
					return
				}
				if err != nil {
					t.Fatalf("%s after %s = %v, want nil error", cell.Ours, cell.Theirs, err)
				}
				if diff := cmp.Diff([]WarningCode{WarningVersionMismatch}, warningCodes(res)); diff != "" {
					t.Errorf("warnings (-want +got):\n%s", diff)
				}
				w := c.before
				w.Status, w.Dosage = want.status, Dosage{Text: want.dosage}
				w.Version, w.CardVersion, w.Modified, w.LastOperation = c.before.Version+1, res.CardVersion, f.stamp(nurse), cell.Ours
				if diff := cmp.Diff(w, f.dm(c.id)); diff != "" {
					t.Errorf("item after %s on %s (-want +got):\n%s", cell.Ours, cell.Theirs, diff)
				}
				if diff := cmp.Diff([]ItemVersion{{ItemDrugMedication, c.id, w.Version}}, res.Items); diff != "" {
					t.Errorf("Items (-want +got):\n%s", diff)
				}

			case KeepTheirs:
				if err != nil {
					t.Fatalf("%s after %s = %v, want nil error", cell.Ours, cell.Theirs, err)
				}
				if diff := cmp.Diff([]WarningCode{WarningVersionMismatch, WarningSuperseded}, warningCodes(res)); diff != "" {
					t.Errorf("warnings (-want +got):\n%s", diff)
				}
				if diff := cmp.Diff(c.before, f.dm(c.id)); diff != "" {
					t.Errorf("item after a superseded %s (-want +got):\n%s", cell.Ours, diff)
				}
				if len(res.Items) != 0 {
					t.Errorf("Items = %v, want none", res.Items)
				}

			case NeedsPerson:
				if err != nil {
					t.Fatalf("%s after %s = %v, want nil error", cell.Ours, cell.Theirs, err)
				}
				checkConflict(t, c, cell, want, res)
				resolveEach(t, cell, want)
			}
		})
	}
}

// checkConflict checks the card after ours clashed with theirs: both
// variants kept, the card needing attention, dispensing refused.
func checkConflict(t *testing.T, c *mergeCase, cell mergeCell, want mergeOutcome, res *WriteResult) {
	t.Helper()
	f := c.f
	if diff := cmp.Diff([]WarningCode{WarningVersionMismatch, WarningConflict}, warningCodes(res)); diff != "" {
		t.Errorf("warnings (-want +got):\n%s", diff)
	}
	got := f.dm(c.id)
	if got.Conflict == nil {
		t.Fatalf("item after %s on %s has no conflict", cell.Ours, cell.Theirs)
	}
	ours := c.before
	ours.Status, ours.Dosage = want.status, Dosage{Text: want.dosage}
	if diff := cmp.Diff([]DrugMedication{c.before, ours}, got.Conflict.Variants); diff != "" {
		t.Errorf("conflict variants, stored first (-want +got):\n%s", diff)
	}
	if prefix := string(cell.Theirs) + "/" + string(cell.Ours); !strings.HasPrefix(got.Conflict.Rule, prefix) {
		t.Errorf("conflict rule %q, want it to begin with %q", got.Conflict.Rule, prefix)
	}
	if !got.Conflict.At.Equal(f.clock.Now()) {
		t.Errorf("conflict at %v, want %v", got.Conflict.At, f.clock.Now())
	}
	stored := c.before
	stored.Version, stored.CardVersion, stored.Modified, stored.LastOperation = c.before.Version+1, res.CardVersion, f.stamp(nurse), cell.Ours
	got.Conflict = nil
	if diff := cmp.Diff(stored, got); diff != "" {
		t.Errorf("conflicted item keeps the stored variant (-want +got):\n%s", diff)
	}
	if !f.card().NeedsAttention() {
		t.Errorf("NeedsAttention() = false, want true")
	}
	snap := f.m.snapshot()
	_, err := f.orderAct(pharmacist, OpStartEffectuation, c.order, f.version())
	wantFault(t, "StartEffectuation on a conflicted drug medication", err, FaultItemInConflict)
	wantUnchanged(t, f.m, snap)
}

// resolveEach settles the conflict of cell in each of the three ways, each
// on a card of its own.
func resolveEach(t *testing.T, cell mergeCell, want mergeOutcome) {
	t.Helper()
	tests := []struct {
		name   string
		caller Caller
		req    ResolveConflictRequest
		want   func(variants []DrugMedication) DrugMedication
	}{
		{"variant 1", doctor, ResolveConflictRequest{ChosenVariant: 1},
			func(v []DrugMedication) DrugMedication { return v[0] }},
		{"variant 2", pharmacist, ResolveConflictRequest{ChosenVariant: 2},
			func(v []DrugMedication) DrugMedication { return v[1] }},
		{"replacement", nurse, ResolveConflictRequest{Replacement: &ConflictReplacement{Dosage: Dosage{Text: settleDosage}}},
			func(v []DrugMedication) DrugMedication {
				r := v[0]
				r.Dosage, r.Status = Dosage{Text: settleDosage}, DrugMedicationActive
				return r
			}},
		{"paused replacement", doctor, ResolveConflictRequest{Replacement: &ConflictReplacement{Dosage: Dosage{Text: settleDosage}, Status: DrugMedicationPaused}},
			func(v []DrugMedication) DrugMedication {
				r := v[0]
				r.Dosage, r.Status = Dosage{Text: settleDosage}, DrugMedicationPaused
				return r
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := setupMergeCase(t, cell.Theirs, cell.Ours)
			f := c.f
			if _, err := c.ours(cell.Ours); err != nil {
				t.Fatalf("%s after %s = %v", cell.Ours, cell.Theirs, err)
			}
			conflicted := f.dm(c.id)
			f.clock.add(time.Hour)
			tt.req.PersonID, tt.req.BasedOnCardVersion, tt.req.DrugMedicationID = testPerson, f.version(), c.id
			res, err := f.s.Change(context.Background(), f.call(tt.caller), tt.req)
			if err != nil {
				t.Fatalf("ResolveConflict(%s) = %v, want nil error", tt.name, err)
			}
			w := tt.want(conflicted.Conflict.Variants)
			w.Version, w.CardVersion, w.Created = conflicted.Version+1, res.CardVersion, conflicted.Created
			w.Modified, w.LastOperation, w.Conflict = f.stamp(tt.caller), OpResolveConflict, nil
			if diff := cmp.Diff(w, f.dm(c.id)); diff != "" {
				t.Errorf("item after ResolveConflict(%s) (-want +got):\n%s", tt.name, diff)
			}
			if diff := cmp.Diff(&WriteResult{CardVersion: conflicted.CardVersion + 1, Items: []ItemVersion{{ItemDrugMedication, c.id, w.Version}}}, res); diff != "" {
				t.Errorf("ResolveConflict result (-want +got):\n%s", diff)
			}
			if f.card().NeedsAttention() {
				t.Errorf("NeedsAttention() after ResolveConflict = true, want false")
			}
			// Dispensing is decided by the rules again.
			_, err = f.orderAct(pharmacist, OpStartEffectuation, c.order, f.version())
			if w.Status == DrugMedicationWithdrawn {
				wantFault(t, "StartEffectuation on the withdrawn settled item", err, FaultDrugMedicationNotActive)
			} else if err != nil {
				t.Errorf("StartEffectuation after ResolveConflict(%s) = %v, want nil error", tt.name, err)
			}
		})
	}
}

// TestMergeIdenticalUpdates checks that the same update made twice is kept
// once and is not a conflict.
func TestMergeIdenticalUpdates(t *testing.T) {
	f := newFixture(t)
	id := f.createDM()
	base := f.version()
	f.mustChangeDM(OpUpdateDrugMedication, id, theirDosage)
	before := f.dm(id)
	res, err := f.changeDM(nurse, OpUpdateDrugMedication, id, base, theirDosage)
	if err != nil {
		t.Fatalf("the same UpdateDrugMedication again = %v, want nil error", err)
	}
	if diff := cmp.Diff([]WarningCode{WarningVersionMismatch, WarningSuperseded}, warningCodes(res)); diff != "" {
		t.Errorf("warnings (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(before, f.dm(id)); diff != "" {
		t.Errorf("item (-want +got):\n%s", diff)
	}
	if f.card().NeedsAttention() {
		t.Errorf("NeedsAttention() = true, want false")
	}
	// The warning says why the change was not applied: not the reason
	// two different dosages would need a person.
	cell := merge(OpUpdateDrugMedication, OpUpdateDrugMedication)
	if msg := res.Warnings[len(res.Warnings)-1].Message; strings.Contains(msg, cell.Why) {
		t.Errorf("ChangeSupersededWarning %q gives the reason for a conflict", msg)
	}
}

// TestMergeUntouchedItem checks that a change based on an old card version
// applies, with only a VersionMismatchWarning, when its item was not
// changed since that version.
func TestMergeUntouchedItem(t *testing.T) {
	for _, op := range drugMedicationChanges {
		t.Run(string(op), func(t *testing.T) {
			f := newFixture(t)
			id, other := f.createDM(), f.createDM()
			switch op {
			case OpUnpauseDrugMedication:
				f.mustChangeDM(OpPauseDrugMedication, id, "")
			case OpUnwithdrawDrugMedication:
				f.mustChangeDM(OpWithdrawDrugMedication, id, "")
			}
			base := f.version()
			f.mustChangeDM(OpUpdateDrugMedication, other, theirDosage)
			f.mustChangeDM(OpPauseDrugMedication, other, "")
			before := f.dm(id)
			res, err := f.changeDM(doctor, op, id, base, ourDosage)
			if err != nil {
				t.Fatalf("%s based on %d = %v, want nil error", op, base, err)
			}
			if diff := cmp.Diff([]WarningCode{WarningVersionMismatch}, warningCodes(res)); diff != "" {
				t.Errorf("warnings (-want +got):\n%s", diff)
			}
			if got := f.dm(id); got.Version != before.Version+1 || got.LastOperation != op || got.Conflict != nil {
				t.Errorf("item after %s = version %d, last %s, conflict %v; want %d, %s, none", op, got.Version, got.LastOperation, got.Conflict, before.Version+1, op)
			}
		})
	}
	// The same holds inside UpdateMedicineCard, change by change.
	f := newFixture(t)
	id, other := f.createDM(), f.createDM()
	base := f.version()
	f.mustChangeDM(OpPauseDrugMedication, other, "")
	res, err := f.s.Change(context.Background(), f.call(doctor), UpdateMedicineCardRequest{
		PersonID: testPerson, BasedOnCardVersion: base,
		Change: []DrugMedicationChange{
			{Op: OpUpdateDrugMedication, DrugMedicationID: id, Dosage: Dosage{Text: ourDosage}},
			{Op: OpUnpauseDrugMedication, DrugMedicationID: other}, // clashes with the pause since
		},
	})
	if err != nil {
		t.Fatalf("UpdateMedicineCard = %v, want nil error", err)
	}
	if diff := cmp.Diff([]WarningCode{WarningVersionMismatch, WarningConflict}, warningCodes(res)); diff != "" {
		t.Errorf("UpdateMedicineCard warnings (-want +got):\n%s", diff)
	}
	if got := f.dm(id); got.Dosage.Text != ourDosage || got.Conflict != nil {
		t.Errorf("untouched item = %q, conflict %v; want %q, none", got.Dosage.Text, got.Conflict, ourDosage)
	}
	if got := f.dm(other); got.Conflict == nil {
		t.Errorf("item paused since the base has no conflict after an unpause")
	}
}

// TestConflictedItemRefusesChanges checks that only ResolveConflict may
// change an item with a conflict, and that it settles only a conflict.
func TestConflictedItemRefusesChanges(t *testing.T) {
	f := newFixture(t)
	id := f.createDM()
	base := f.version()
	f.makeConflict(id)
	snap := f.m.snapshot()
	for _, op := range drugMedicationChanges {
		for _, basedOn := range []int64{base, f.version()} {
			_, err := f.changeDM(doctor, op, id, basedOn, ourDosage)
			wantFault(t, fmt.Sprintf("%s on a conflicted item based on %d", op, basedOn), err, FaultItemInConflict)
		}
	}
	req := prescriptionRequest(id)
	req.BasedOnCardVersion = f.version()
	_, err := f.s.Change(context.Background(), f.call(doctor), req)
	wantFault(t, "CreatePrescription on a conflicted item", err, FaultItemInConflict)
	wantUnchanged(t, f.m, snap)
}

func TestResolveConflictRefused(t *testing.T) {
	tests := []struct {
		name     string
		caller   Caller
		conflict bool
		req      ResolveConflictRequest
		want     Fault
	}{
		{"no conflict", doctor, false, ResolveConflictRequest{ChosenVariant: 1}, FaultNoConflict},
		{"unknown item", doctor, true, ResolveConflictRequest{DrugMedicationID: 99, ChosenVariant: 1}, FaultDrugMedicationNotFound},
		{"no item", doctor, true, ResolveConflictRequest{DrugMedicationID: -1, ChosenVariant: 1}, FaultRequiredField},
		{"variant 3", doctor, true, ResolveConflictRequest{ChosenVariant: 3}, FaultInvalidField},
		{"variant -1", doctor, true, ResolveConflictRequest{ChosenVariant: -1}, FaultInvalidField},
		{"neither variant nor replacement", doctor, true, ResolveConflictRequest{}, FaultInvalidField},
		{"both variant and replacement", doctor, true, ResolveConflictRequest{ChosenVariant: 1,
			Replacement: &ConflictReplacement{Dosage: Dosage{Text: settleDosage}}}, FaultInvalidField},
		{"replacement without dosage", doctor, true, ResolveConflictRequest{Replacement: &ConflictReplacement{}}, FaultRequiredField},
		{"replacement with an unknown status", doctor, true, ResolveConflictRequest{
			Replacement: &ConflictReplacement{Dosage: Dosage{Text: settleDosage}, Status: "Stopped"}}, FaultInvalidField},
		{"no role", Caller{System: "x"}, true, ResolveConflictRequest{ChosenVariant: 1}, FaultRoleNotAllowed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			id := f.createDM()
			if tt.conflict {
				f.makeConflict(id)
			}
			tt.req.PersonID, tt.req.BasedOnCardVersion = testPerson, f.version()
			switch tt.req.DrugMedicationID {
			case 0:
				tt.req.DrugMedicationID = id
			case -1:
				tt.req.DrugMedicationID = 0
			}
			snap := f.m.snapshot()
			_, err := f.s.Change(context.Background(), f.call(tt.caller), tt.req)
			wantFault(t, "ResolveConflict("+tt.name+")", err, tt.want)
			wantUnchanged(t, f.m, snap)
		})
	}
}

// TestSettledConflictCountsAsUpdate checks the row a settled conflict
// takes in the merge table: that of an update.
func TestSettledConflictCountsAsUpdate(t *testing.T) {
	for _, ours := range drugMedicationChanges {
		t.Run(string(ours), func(t *testing.T) {
			f := newFixture(t)
			id := f.createDM()
			f.makeConflict(id)
			base := f.version()
			if _, err := f.s.Change(context.Background(), f.call(doctor), ResolveConflictRequest{
				PersonID: testPerson, BasedOnCardVersion: base, DrugMedicationID: id, ChosenVariant: 2}); err != nil {
				t.Fatalf("ResolveConflict = %v", err)
			}
			res, err := f.changeDM(nurse, ours, id, base, "3 tabletter") // not what either variant said
			switch merge(OpUpdateDrugMedication, ours).Resolution {
			case NeedsPerson:
				if err != nil || !hasWarning(res, WarningConflict) {
					t.Errorf("%s after a settled conflict = %v, %v; want a ConflictWarning", ours, warningCodes(res), err)
				}
			case Apply:
				if err != nil && FaultOf(err) != FaultTransitionNotAllowed {
					t.Errorf("%s after a settled conflict = %v, want it applied under the rules", ours, err)
				}
				if err == nil && (hasWarning(res, WarningConflict) || hasWarning(res, WarningSuperseded)) {
					t.Errorf("%s after a settled conflict warnings = %v, want it applied", ours, warningCodes(res))
				}
			}
		})
	}
}

// TestPrescriptionMergeCells drives every cell of prescriptionMergeTable
// through the service.
func TestPrescriptionMergeCells(t *testing.T) {
	tests := map[mergeKey]func(t *testing.T){
		// A doctor cancels, not knowing that a pharmacy dispensed since.
		{OpCreatePharmacyEffectuation, OpCancelPrescription}: func(t *testing.T) {
			f := newFixture(t)
			p := f.prescribe(prescriptionRequest(f.createDM()))
			base := f.version()
			f.dispenseOnce(p, false)
			before := f.prescription(p)
			res, err := f.cancelPrescription(doctor, p, base)
			if err != nil {
				t.Fatalf("CancelPrescription after a dispensing = %v, want nil error", err)
			}
			if diff := cmp.Diff([]WarningCode{WarningVersionMismatch}, warningCodes(res)); diff != "" {
				t.Errorf("warnings (-want +got):\n%s", diff)
			}
			want := before
			want.Status, want.Version, want.CardVersion = PrescriptionCancelled, before.Version+1, res.CardVersion
			want.Modified, want.LastOperation = f.stamp(doctor), OpCancelPrescription
			if diff := cmp.Diff(want, f.prescription(p)); diff != "" {
				t.Errorf("prescription: what was dispensed stays dispensed (-want +got):\n%s", diff)
			}
		},
		// A pharmacy dispenses, not knowing that the doctor cancelled since.
		{OpCancelPrescription, OpCreatePharmacyEffectuation}: func(t *testing.T) {
			f := newFixture(t)
			p := f.prescribe(prescriptionRequest(f.createDM()))
			o := f.placeOrder(p)
			base := f.version()
			if _, err := f.cancelPrescription(doctor, p, base); err != nil {
				t.Fatalf("CancelPrescription = %v", err)
			}
			snap := f.m.snapshot()
			_, err := f.orderAct(pharmacist, OpStartEffectuation, o, base)
			wantFault(t, "StartEffectuation after a cancellation", err, FaultTransitionNotAllowed)
			_, err = f.dispense(pharmacist, o, base, 1, false)
			wantFault(t, "CreatePharmacyEffectuation after a cancellation", err, FaultEffectuationNotStarted)
			_, err = f.createOrder(pharmacist, p, base)
			wantFault(t, "CreateOrder after a cancellation", err, FaultPrescriptionNotOpen)
			wantUnchanged(t, f.m, snap)
		},
		{OpCancelPrescription, OpCancelPrescription}: func(t *testing.T) {
			f := newFixture(t)
			p := f.prescribe(prescriptionRequest(f.createDM()))
			base := f.version()
			if _, err := f.cancelPrescription(doctor, p, base); err != nil {
				t.Fatalf("CancelPrescription = %v", err)
			}
			before := f.prescription(p)
			res, err := f.cancelPrescription(doctor, p, base)
			if err != nil {
				t.Fatalf("CancelPrescription again based on %d = %v, want nil error", base, err)
			}
			if diff := cmp.Diff([]WarningCode{WarningVersionMismatch, WarningSuperseded}, warningCodes(res)); diff != "" {
				t.Errorf("warnings (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(before, f.prescription(p)); diff != "" {
				t.Errorf("prescription (-want +got):\n%s", diff)
			}
			// Based on the current version, it is simply not open.
			_, err = f.cancelPrescription(doctor, p, f.version())
			wantFault(t, "CancelPrescription of a cancelled prescription", err, FaultPrescriptionNotOpen)
		},
		{OpCreateOrder, OpCancelPrescription}: func(t *testing.T) {
			f := newFixture(t)
			p := f.prescribe(prescriptionRequest(f.createDM()))
			base := f.version()
			o := f.placeOrder(p)
			if got := f.prescription(p); got.LastOperation != OpCreateOrder || got.CardVersion <= base {
				t.Errorf("prescription after CreateOrder: last %s at %d, want %s after %d", got.LastOperation, got.CardVersion, OpCreateOrder, base)
			}
			res, err := f.cancelPrescription(doctor, p, base)
			if err != nil {
				t.Fatalf("CancelPrescription of an ordered prescription = %v, want nil error", err)
			}
			if diff := cmp.Diff([]WarningCode{WarningVersionMismatch}, warningCodes(res)); diff != "" {
				t.Errorf("warnings (-want +got):\n%s", diff)
			}
			if got := f.prescription(p).Status; got != PrescriptionCancelled {
				t.Errorf("prescription = %s, want %s", got, PrescriptionCancelled)
			}
			if got := f.order(o).Status; got != OrderCancelled {
				t.Errorf("order = %s, want %s", got, OrderCancelled)
			}
		},
	}
	for _, cell := range prescriptionMergeTable {
		run, ok := tests[mergeKey{cell.Theirs, cell.Ours}]
		if !ok {
			t.Errorf("prescription merge cell %s/%s has no test", cell.Theirs, cell.Ours)
			continue
		}
		t.Run(string(cell.Theirs)+"/"+string(cell.Ours), run)
	}
}
