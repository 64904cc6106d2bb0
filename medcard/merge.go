package medcard

// Resolution is what the merge table decides for a change to an item that
// someone else changed after the card version the change was based on.
type Resolution string

// Resolutions.
const (
	// Apply: apply the change on top of the other one (the business rules
	// still decide whether it is allowed in the item's current state).
	Apply Resolution = "apply"
	// KeepTheirs: the other change already did this, or outranks it; leave
	// the item as it is and answer with ChangeSupersededWarning.
	KeepTheirs Resolution = "keep theirs"
	// NeedsPerson: keep both variants on the item, mark the card as needing
	// attention, answer with ConflictWarning, and refuse dispensing on the
	// item until ResolveConflict settles it.
	NeedsPerson Resolution = "needs a person"
)

// mergeCell is one cell of the merge table: what happens when ours is
// applied to an item whose last change since our base was theirs.
type mergeCell struct {
	Theirs, Ours Operation
	Resolution   Resolution
	Why          string
}

// drugMedicationChanges are the operations that change an existing drug
// medication; they index the merge table's columns.
var drugMedicationChanges = []Operation{
	OpUpdateDrugMedication, OpPauseDrugMedication, OpUnpauseDrugMedication,
	OpWithdrawDrugMedication, OpUnwithdrawDrugMedication,
}

// mergeTable is the written business rule for concurrent changes to one
// drug medication, every cell with its reason. Rows are the change made
// since the request's base (theirs), columns the request's own (ours). A
// row for CreateDrugMedication covers items created after the base; a
// settled conflict (ResolveConflict) counts as an update. RULES.md shows the
// same table; TestRulesDocument keeps the two equal.
var mergeTable = []mergeCell{
	{OpCreateDrugMedication, OpUpdateDrugMedication, Apply, "the item is new to the caller only by version; nothing of it was changed"},
	{OpCreateDrugMedication, OpPauseDrugMedication, Apply, "as above"},
	{OpCreateDrugMedication, OpUnpauseDrugMedication, Apply, "as above"},
	{OpCreateDrugMedication, OpWithdrawDrugMedication, Apply, "as above"},
	{OpCreateDrugMedication, OpUnwithdrawDrugMedication, Apply, "as above"},

	{OpUpdateDrugMedication, OpUpdateDrugMedication, NeedsPerson, "two different dosages: only a clinician can say which is right (identical updates are kept once)"},
	{OpUpdateDrugMedication, OpPauseDrugMedication, Apply, "a pause does not contradict a new dosage: paused with the new dosage"},
	{OpUpdateDrugMedication, OpUnpauseDrugMedication, Apply, "resuming does not contradict a new dosage"},
	{OpUpdateDrugMedication, OpWithdrawDrugMedication, NeedsPerson, "one clinician adjusted the dose, another stopped the drug"},
	{OpUpdateDrugMedication, OpUnwithdrawDrugMedication, Apply, "the rules decide (an updated item is not withdrawn)"},

	{OpPauseDrugMedication, OpUpdateDrugMedication, Apply, "a new dosage does not contradict a pause: stays paused with the new dosage"},
	{OpPauseDrugMedication, OpPauseDrugMedication, KeepTheirs, "already paused"},
	{OpPauseDrugMedication, OpUnpauseDrugMedication, NeedsPerson, "one clinician paused it after the other last saw it; resuming would silently undo that"},
	{OpPauseDrugMedication, OpWithdrawDrugMedication, Apply, "withdrawing outranks pausing"},
	{OpPauseDrugMedication, OpUnwithdrawDrugMedication, Apply, "the rules decide (a paused item is not withdrawn)"},

	{OpUnpauseDrugMedication, OpUpdateDrugMedication, Apply, "a new dosage does not contradict resuming"},
	{OpUnpauseDrugMedication, OpPauseDrugMedication, NeedsPerson, "one clinician resumed it after the other last saw it; pausing would silently undo that"},
	{OpUnpauseDrugMedication, OpUnpauseDrugMedication, KeepTheirs, "already resumed"},
	{OpUnpauseDrugMedication, OpWithdrawDrugMedication, Apply, "withdrawing outranks resuming"},
	{OpUnpauseDrugMedication, OpUnwithdrawDrugMedication, Apply, "the rules decide (a resumed item is not withdrawn)"},

	{OpWithdrawDrugMedication, OpUpdateDrugMedication, NeedsPerson, "one clinician stopped the drug, another adjusted the dose"},
	{OpWithdrawDrugMedication, OpPauseDrugMedication, KeepTheirs, "withdrawn outranks paused"},
	{OpWithdrawDrugMedication, OpUnpauseDrugMedication, KeepTheirs, "withdrawn outranks resumed"},
	{OpWithdrawDrugMedication, OpWithdrawDrugMedication, KeepTheirs, "already withdrawn"},
	{OpWithdrawDrugMedication, OpUnwithdrawDrugMedication, NeedsPerson, "one clinician withdrew it after the other last saw it; reinstating would silently undo that"},

	{OpUnwithdrawDrugMedication, OpUpdateDrugMedication, Apply, "a new dosage does not contradict reinstating"},
	{OpUnwithdrawDrugMedication, OpPauseDrugMedication, Apply, "pausing a reinstated drug is a normal step"},
	{OpUnwithdrawDrugMedication, OpUnpauseDrugMedication, Apply, "the rules decide"},
	{OpUnwithdrawDrugMedication, OpWithdrawDrugMedication, NeedsPerson, "one clinician reinstated it after the other last saw it; withdrawing would silently undo that"},
	{OpUnwithdrawDrugMedication, OpUnwithdrawDrugMedication, KeepTheirs, "already reinstated"},
}

// prescriptionMergeTable is the same rule for prescriptions. Pharmacy
// operations are always checked against the prescription's current state
// by the dispensing rules, so only the cells where a doctor's change meets
// a pharmacy's need a decision of their own.
var prescriptionMergeTable = []mergeCell{
	{OpCreatePharmacyEffectuation, OpCancelPrescription, Apply, "cancel/dispense: what was dispensed stays dispensed; the remaining iterations are cancelled"},
	{OpCancelPrescription, OpCreatePharmacyEffectuation, Apply, "dispense/cancel: the rules refuse dispensing on a cancelled prescription"},
	{OpCancelPrescription, OpCancelPrescription, KeepTheirs, "already cancelled"},
	{OpCreateOrder, OpCancelPrescription, Apply, "the doctor may cancel an ordered prescription; the open order is cancelled with it"},
}

type mergeKey struct{ theirs, ours Operation }

// mergeIndex finds a cell by its pair; TestMergeTable checks no pair is
// listed twice.
var mergeIndex = func() map[mergeKey]mergeCell {
	idx := map[mergeKey]mergeCell{}
	for _, table := range [][]mergeCell{mergeTable, prescriptionMergeTable} {
		for _, c := range table {
			idx[mergeKey{c.Theirs, c.Ours}] = c
		}
	}
	return idx
}()

// merge looks up the cell for ours applied after theirs. A settled
// conflict counts as an update; pairs the table does not name are applied
// under the business rules.
func merge(theirs, ours Operation) mergeCell {
	if theirs == OpResolveConflict {
		theirs = OpUpdateDrugMedication
	}
	if c, ok := mergeIndex[mergeKey{theirs, ours}]; ok {
		return c
	}
	return mergeCell{Theirs: theirs, Ours: ours, Resolution: Apply, Why: "not in the table: the business rules decide"}
}
