package soap

import (
	"context"
	"encoding/xml"

	"github.com/sharedmedcard/gateway/medcard"
)

// CardService is what the SOAP edge needs of the domain: every operation of
// the medicine card. *medcard.Service implements it.
type CardService interface {
	GetMedicineCard(ctx context.Context, call medcard.Call, q medcard.CardQuery) (*medcard.Card, error)
	GetDrugMedication(ctx context.Context, call medcard.Call, personID string, id int64) (*medcard.DrugMedicationView, error)
	GetPrescription(ctx context.Context, call medcard.Call, personID string, ids []int64) (*medcard.PrescriptionsView, error)

	CreateDrugMedication(ctx context.Context, call medcard.Call, req medcard.CreateDrugMedicationRequest) (*medcard.WriteResult, error)
	UpdateDrugMedication(ctx context.Context, call medcard.Call, req medcard.DrugMedicationRequest) (*medcard.WriteResult, error)
	PauseDrugMedication(ctx context.Context, call medcard.Call, req medcard.DrugMedicationRequest) (*medcard.WriteResult, error)
	UnpauseDrugMedication(ctx context.Context, call medcard.Call, req medcard.DrugMedicationRequest) (*medcard.WriteResult, error)
	WithdrawDrugMedication(ctx context.Context, call medcard.Call, req medcard.DrugMedicationRequest) (*medcard.WriteResult, error)
	UnwithdrawDrugMedication(ctx context.Context, call medcard.Call, req medcard.DrugMedicationRequest) (*medcard.WriteResult, error)
	SetMedicineCardReviewed(ctx context.Context, call medcard.Call, req medcard.CardReviewRequest) (*medcard.WriteResult, error)
	SetMedicineCardNotReviewed(ctx context.Context, call medcard.Call, req medcard.CardReviewRequest) (*medcard.WriteResult, error)
	UpdateMedicineCard(ctx context.Context, call medcard.Call, req medcard.UpdateMedicineCardRequest) (*medcard.WriteResult, error)
	ResolveConflict(ctx context.Context, call medcard.Call, req medcard.ResolveConflictRequest) (*medcard.WriteResult, error)

	CreatePrescription(ctx context.Context, call medcard.Call, req medcard.CreatePrescriptionRequest) (*medcard.WriteResult, error)
	CancelPrescription(ctx context.Context, call medcard.Call, req medcard.CancelPrescriptionRequest) (*medcard.WriteResult, error)

	CreateOrder(ctx context.Context, call medcard.Call, req medcard.OrderRequest) (*medcard.WriteResult, error)
	CancelOrder(ctx context.Context, call medcard.Call, req medcard.OrderActionRequest) (*medcard.WriteResult, error)
	StartEffectuation(ctx context.Context, call medcard.Call, req medcard.OrderActionRequest) (*medcard.WriteResult, error)
	AbortEffectuation(ctx context.Context, call medcard.Call, req medcard.OrderActionRequest) (*medcard.WriteResult, error)
	CreatePharmacyEffectuation(ctx context.Context, call medcard.Call, req medcard.EffectuationRequest) (*medcard.WriteResult, error)
	UndoEffectuation(ctx context.Context, call medcard.Call, req medcard.UndoEffectuationRequest) (*medcard.WriteResult, error)
}

var _ CardService = (*medcard.Service)(nil)

// operation is one entry of the dispatch table: the body wrapper element it
// is chosen by, how to make its request value, and how to serve it.
type operation struct {
	name       medcard.Operation
	element    xml.Name
	newRequest func() any
	serve      func(ctx context.Context, svc CardService, call medcard.Call, req any) (any, error)
}

// op builds a table entry with the request and response types spelled once.
func op[Req any, Resp any](name medcard.Operation, serve func(context.Context, CardService, medcard.Call, *Req) (*Resp, error)) *operation {
	return &operation{
		name:       name,
		element:    xml.Name{Space: Namespace, Local: string(name) + "Request"},
		newRequest: func() any { return new(Req) },
		serve: func(ctx context.Context, svc CardService, call medcard.Call, req any) (any, error) {
			return serve(ctx, svc, call, req.(*Req))
		},
	}
}

// write builds a table entry for a write answered with WriteResultType:
// domain turns the wrapper element into the domain's request, method is the
// service method (a method expression such as
// CardService.PauseDrugMedication).
func write[Req, DomainReq any](name medcard.Operation,
	method func(CardService, context.Context, medcard.Call, DomainReq) (*medcard.WriteResult, error),
	domain func(*Req) DomainReq) *operation {
	return op(name, func(ctx context.Context, svc CardService, call medcard.Call, req *Req) (*WriteResponse, error) {
		res, err := method(svc, ctx, call, domain(req))
		if err != nil {
			return nil, err
		}
		return toXMLWriteResult(name, res), nil
	})
}

// drugMedicationAction is the domain request of Pause, Unpause, Withdraw
// and Unwithdraw: the service method sets the operation.
func drugMedicationAction(person string, basedOn, id int64) medcard.DrugMedicationRequest {
	return medcard.DrugMedicationRequest{PersonID: person, BasedOnCardVersion: basedOn,
		Change: medcard.DrugMedicationChange{DrugMedicationID: id}}
}

func orderAction(person string, basedOn, id int64) medcard.OrderActionRequest {
	return medcard.OrderActionRequest{PersonID: person, BasedOnCardVersion: basedOn, OrderID: id}
}

// operations is the dispatch table: every SOAP operation we serve, in the
// order of the WSDL.
var operations = []*operation{
	// Reads.
	op(medcard.OpGetMedicineCard, func(ctx context.Context, svc CardService, call medcard.Call, req *GetMedicineCardRequest) (*GetMedicineCardResponse, error) {
		card, err := svc.GetMedicineCard(ctx, call, medcard.CardQuery{
			PersonID: req.PersonIdentifier, IncludePrescriptions: req.IncludePrescriptions,
			IncludeEffectuations: req.IncludeEffectuations, IncludeWithdrawnSince: req.IncludeWithdrawnSince,
		})
		if err != nil {
			return nil, err
		}
		return &GetMedicineCardResponse{MedicineCard: toXMLCard(card)}, nil
	}),
	op(medcard.OpGetDrugMedication, func(ctx context.Context, svc CardService, call medcard.Call, req *GetDrugMedicationRequest) (*GetDrugMedicationResponse, error) {
		view, err := svc.GetDrugMedication(ctx, call, req.PersonIdentifier, req.DrugMedicationIdentifier)
		if err != nil {
			return nil, err
		}
		return &GetDrugMedicationResponse{MedicineCardVersion: view.CardVersion, DrugMedication: toXMLDrugMedication(view.DrugMedication)}, nil
	}),
	op(medcard.OpGetPrescription, func(ctx context.Context, svc CardService, call medcard.Call, req *GetPrescriptionRequest) (*GetPrescriptionResponse, error) {
		view, err := svc.GetPrescription(ctx, call, req.PersonIdentifier, req.PrescriptionIdentifier)
		if err != nil {
			return nil, err
		}
		out := &GetPrescriptionResponse{MedicineCardVersion: view.CardVersion}
		for _, p := range view.Prescriptions {
			out.Prescription = append(out.Prescription, toXMLPrescription(p))
		}
		for _, o := range view.Orders {
			out.Order = append(out.Order, toXMLOrder(o))
		}
		for _, e := range view.Effectuations {
			out.Effectuation = append(out.Effectuation, toXMLEffectuation(e))
		}
		return out, nil
	}),

	// Drug medications.
	op(medcard.OpCreateDrugMedication, func(ctx context.Context, svc CardService, call medcard.Call, req *CreateDrugMedicationRequest) (*CreateDrugMedicationResponse, error) {
		dm := req.DrugMedication
		res, err := svc.CreateDrugMedication(ctx, call, medcard.CreateDrugMedicationRequest{
			PersonID: req.PersonIdentifier, BasedOnCardVersion: req.MedicineCardVersion,
			Drug: dm.Drug.domain(), Dosage: dm.Dosage.domain(), Indication: dm.Indication.domain(),
			BeginDate: dm.BeginDate, EndDate: dm.EndDate,
		})
		if err != nil {
			return nil, err
		}
		out := &CreateDrugMedicationResponse{MedicineCardVersion: res.CardVersion,
			Item: toXMLItems(res.Items), Warning: toXMLWarnings(res.Warnings)}
		if len(res.Items) > 0 {
			out.DrugMedicationIdentifier, out.DrugMedicationVersion = res.Items[0].ID, res.Items[0].Version
		}
		return out, nil
	}),
	write(medcard.OpUpdateDrugMedication, CardService.UpdateDrugMedication, func(r *UpdateDrugMedicationRequest) medcard.DrugMedicationRequest {
		req := drugMedicationAction(r.PersonIdentifier, r.MedicineCardVersion, r.DrugMedicationIdentifier)
		req.Change.Dosage, req.Change.Indication, req.Change.EndDate = r.Dosage.domain(), r.Indication.domain(), r.EndDate
		return req
	}),
	write(medcard.OpPauseDrugMedication, CardService.PauseDrugMedication, func(r *PauseDrugMedicationRequest) medcard.DrugMedicationRequest {
		return drugMedicationAction(r.PersonIdentifier, r.MedicineCardVersion, r.DrugMedicationIdentifier)
	}),
	write(medcard.OpUnpauseDrugMedication, CardService.UnpauseDrugMedication, func(r *UnpauseDrugMedicationRequest) medcard.DrugMedicationRequest {
		return drugMedicationAction(r.PersonIdentifier, r.MedicineCardVersion, r.DrugMedicationIdentifier)
	}),
	write(medcard.OpWithdrawDrugMedication, CardService.WithdrawDrugMedication, func(r *WithdrawDrugMedicationRequest) medcard.DrugMedicationRequest {
		return drugMedicationAction(r.PersonIdentifier, r.MedicineCardVersion, r.DrugMedicationIdentifier)
	}),
	write(medcard.OpUnwithdrawDrugMedication, CardService.UnwithdrawDrugMedication, func(r *UnwithdrawDrugMedicationRequest) medcard.DrugMedicationRequest {
		return drugMedicationAction(r.PersonIdentifier, r.MedicineCardVersion, r.DrugMedicationIdentifier)
	}),

	// The card as a whole.
	write(medcard.OpSetMedicineCardReviewed, CardService.SetMedicineCardReviewed, func(r *SetMedicineCardReviewedRequest) medcard.CardReviewRequest {
		return medcard.CardReviewRequest{PersonID: r.PersonIdentifier, BasedOnCardVersion: r.MedicineCardVersion}
	}),
	write(medcard.OpSetMedicineCardNotReviewed, CardService.SetMedicineCardNotReviewed, func(r *SetMedicineCardNotReviewedRequest) medcard.CardReviewRequest {
		return medcard.CardReviewRequest{PersonID: r.PersonIdentifier, BasedOnCardVersion: r.MedicineCardVersion}
	}),
	write(medcard.OpUpdateMedicineCard, CardService.UpdateMedicineCard, func(r *UpdateMedicineCardRequest) medcard.UpdateMedicineCardRequest {
		req := medcard.UpdateMedicineCardRequest{PersonID: r.PersonIdentifier, BasedOnCardVersion: r.MedicineCardVersion, SetReviewed: r.SetReviewed}
		for _, nd := range r.CreateDrugMedication {
			req.Create = append(req.Create, nd.domain())
		}
		for _, ch := range r.Change {
			req.Change = append(req.Change, ch.domain())
		}
		return req
	}),

	// Prescriptions.
	write(medcard.OpCreatePrescription, CardService.CreatePrescription, func(r *CreatePrescriptionRequest) medcard.CreatePrescriptionRequest {
		req := medcard.CreatePrescriptionRequest{PersonID: r.PersonIdentifier, BasedOnCardVersion: r.MedicineCardVersion,
			DrugMedicationID: r.DrugMedicationIdentifier, PackageNumber: r.PackageNumber, PackageQuantity: r.PackageQuantity,
			Iterations: r.Iterations, IterationIntervalDays: r.IterationIntervalDays,
			ValidFrom: r.ValidFrom, ValidTo: r.ValidTo, DosageText: r.DosageText}
		if r.Drug != nil {
			req.Drug = r.Drug.domain()
		}
		return req
	}),
	write(medcard.OpCancelPrescription, CardService.CancelPrescription, func(r *CancelPrescriptionRequest) medcard.CancelPrescriptionRequest {
		return medcard.CancelPrescriptionRequest{PersonID: r.PersonIdentifier, BasedOnCardVersion: r.MedicineCardVersion, PrescriptionID: r.PrescriptionIdentifier}
	}),

	// Pharmacy.
	write(medcard.OpCreateOrder, CardService.CreateOrder, func(r *CreateOrderRequest) medcard.OrderRequest {
		return medcard.OrderRequest{PersonID: r.PersonIdentifier, BasedOnCardVersion: r.MedicineCardVersion, PrescriptionID: r.PrescriptionIdentifier}
	}),
	write(medcard.OpCancelOrder, CardService.CancelOrder, func(r *CancelOrderRequest) medcard.OrderActionRequest {
		return orderAction(r.PersonIdentifier, r.MedicineCardVersion, r.OrderIdentifier)
	}),
	write(medcard.OpStartEffectuation, CardService.StartEffectuation, func(r *StartEffectuationRequest) medcard.OrderActionRequest {
		return orderAction(r.PersonIdentifier, r.MedicineCardVersion, r.OrderIdentifier)
	}),
	write(medcard.OpAbortEffectuation, CardService.AbortEffectuation, func(r *AbortEffectuationRequest) medcard.OrderActionRequest {
		return orderAction(r.PersonIdentifier, r.MedicineCardVersion, r.OrderIdentifier)
	}),
	write(medcard.OpCreatePharmacyEffectuation, CardService.CreatePharmacyEffectuation, func(r *CreatePharmacyEffectuationRequest) medcard.EffectuationRequest {
		return medcard.EffectuationRequest{PersonID: r.PersonIdentifier, BasedOnCardVersion: r.MedicineCardVersion,
			OrderID: r.OrderIdentifier, PackagesDispensed: r.PackagesDispensed, Terminate: r.Terminate}
	}),
	write(medcard.OpUndoEffectuation, CardService.UndoEffectuation, func(r *UndoEffectuationRequest) medcard.UndoEffectuationRequest {
		return medcard.UndoEffectuationRequest{PersonID: r.PersonIdentifier, BasedOnCardVersion: r.MedicineCardVersion, EffectuationID: r.EffectuationIdentifier}
	}),

	// Conflicts.
	write(medcard.OpResolveConflict, CardService.ResolveConflict, func(r *ResolveConflictRequest) medcard.ResolveConflictRequest {
		req := medcard.ResolveConflictRequest{PersonID: r.PersonIdentifier, BasedOnCardVersion: r.MedicineCardVersion,
			DrugMedicationID: r.DrugMedicationIdentifier, ChosenVariant: r.ChosenVariant}
		if r.Replacement != nil {
			req.Replacement = &medcard.ConflictReplacement{Dosage: r.Replacement.Dosage.domain(),
				Status: medcard.DrugMedicationStatus(r.Replacement.Status)}
		}
		return req
	}),
}
