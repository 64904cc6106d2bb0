package medcard

// Operation names an operation of the service; the names are those of the
// SOAP operations.
type Operation string

// Operations.
const (
	OpGetMedicineCard            Operation = "GetMedicineCard"
	OpGetDrugMedication          Operation = "GetDrugMedication"
	OpGetPrescription            Operation = "GetPrescription"
	OpCreateDrugMedication       Operation = "CreateDrugMedication"
	OpUpdateDrugMedication       Operation = "UpdateDrugMedication"
	OpPauseDrugMedication        Operation = "PauseDrugMedication"
	OpUnpauseDrugMedication      Operation = "UnpauseDrugMedication"
	OpWithdrawDrugMedication     Operation = "WithdrawDrugMedication"
	OpUnwithdrawDrugMedication   Operation = "UnwithdrawDrugMedication"
	OpSetMedicineCardReviewed    Operation = "SetMedicineCardReviewed"
	OpSetMedicineCardNotReviewed Operation = "SetMedicineCardNotReviewed"
	OpUpdateMedicineCard         Operation = "UpdateMedicineCard"
	OpCreatePrescription         Operation = "CreatePrescription"
	OpCancelPrescription         Operation = "CancelPrescription"
	OpCreateOrder                Operation = "CreateOrder"
	OpCancelOrder                Operation = "CancelOrder"
	OpStartEffectuation          Operation = "StartEffectuation"
	OpCreatePharmacyEffectuation Operation = "CreatePharmacyEffectuation"
	OpAbortEffectuation          Operation = "AbortEffectuation"
	OpUndoEffectuation           Operation = "UndoEffectuation"
	OpResolveConflict            Operation = "ResolveConflict"
	// OpGetNewOrders reads a pharmacy's inbox: the open and started orders
	// it holds, on every card.
	OpGetNewOrders Operation = "GetNewOrders"
	// OpAcknowledgeOrders marks an order seen by the pharmacy holding it,
	// one card per Change (the SOAP operation takes several).
	OpAcknowledgeOrders Operation = "AcknowledgeOrders"
	// OpGetAccessLog reads the citizen's access log: who looked at and
	// changed one person's card.
	OpGetAccessLog Operation = "GetAccessLog"
	// OpSetAccessRestriction sets or lifts the citizen's restriction of
	// access to their card (restriction.go).
	OpSetAccessRestriction Operation = "SetAccessRestriction"
)
