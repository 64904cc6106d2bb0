package soap

import (
	"context"
	"encoding/xml"
	"fmt"
	"reflect"

	"github.com/sharedmedcard/gateway/medcard"
)

// CardService is what the SOAP edge needs of the domain: the reads, the
// citizen's access log and the one write operation, which every write of the WSDL goes through
// with a request naming its operation. *medcard.Service implements it.
type CardService interface {
	GetMedicineCard(ctx context.Context, call medcard.Call, q medcard.CardQuery) (*medcard.Card, error)
	GetDrugMedication(ctx context.Context, call medcard.Call, personID string, id int64) (*medcard.DrugMedicationView, error)
	GetPrescription(ctx context.Context, call medcard.Call, personID string, ids []int64) (*medcard.PrescriptionsView, error)
	GetNewOrders(ctx context.Context, call medcard.Call, q medcard.InboxQuery) ([]medcard.InboxEntry, error)
	Change(ctx context.Context, call medcard.Call, req medcard.ChangeRequest) (*medcard.WriteResult, error)
	GetAccessLog(ctx context.Context, call medcard.Call, q medcard.AccessLogQuery) (*medcard.AccessLogPage, error)
}

var _ CardService = (*medcard.Service)(nil)

// operation is one entry of the dispatch table: the body wrapper element it
// is chosen by, how to make its request value, how to serve it, and its
// WS-Addressing actions (doc.go).
type operation struct {
	name       medcard.Operation
	element    xml.Name
	newRequest func() any
	serve      func(ctx context.Context, svc CardService, call medcard.Call, req any) (any, error)
	// response is the payload type serve answers with; the WSDL types
	// every operation answering WriteResponse as tns:WriteResultType.
	response reflect.Type

	soapAction   string // the WSDL's soapAction, the request's wsa:Action
	inputAction  string // the default action pattern's input action, accepted too
	outputAction string // the answer's wsa:Action
	faultAction  string // a MedicineCardFault's wsa:Action
}

// portTypeName is the WSDL's portType, which the default action pattern of
// WS-Addressing 1.0 Metadata (4.4.4) puts in the actions (doc.go).
const portTypeName = "MedicineCardPortType"

// op builds a table entry with the request and response types spelled once.
func op[Req any, Resp any](name medcard.Operation, serve func(context.Context, CardService, medcard.Call, *Req) (*Resp, error)) *operation {
	perPortType := Namespace + "/" + portTypeName + "/" + string(name)
	return &operation{
		name:         name,
		element:      xml.Name{Space: Namespace, Local: string(name) + "Request"},
		soapAction:   Namespace + "/" + string(name),
		inputAction:  perPortType + "Request",
		outputAction: perPortType + "Response",
		faultAction:  perPortType + "/Fault/MedicineCardFault",
		newRequest:   func() any { return new(Req) },
		serve: func(ctx context.Context, svc CardService, call medcard.Call, req any) (any, error) {
			return serve(ctx, svc, call, req.(*Req))
		},
		response: reflect.TypeFor[Resp](),
	}
}

// write builds a table entry for a write answered with WriteResultType:
// domain turns the wrapper element into the domain's request, which names
// the entry's operation (TestEveryWriteNamesItsOperation holds them equal).
func write[Req any](name medcard.Operation, domain func(*Req) medcard.ChangeRequest) *operation {
	return op(name, func(ctx context.Context, svc CardService, call medcard.Call, req *Req) (*WriteResponse, error) {
		res, err := svc.Change(ctx, call, domain(req))
		if err != nil {
			return nil, err
		}
		return toXMLWriteResult(name, res), nil
	})
}

// drugMedicationAction is the domain request of Pause, Unpause, Withdraw
// and Unwithdraw.
func drugMedicationAction(op medcard.Operation, person string, basedOn, id int64) medcard.DrugMedicationRequest {
	return medcard.DrugMedicationRequest{PersonID: person, BasedOnCardVersion: basedOn,
		Change: medcard.DrugMedicationChange{Op: op, DrugMedicationID: id}}
}

// orderAction is the domain request of CancelOrder, StartEffectuation and
// AbortEffectuation.
func orderAction(op medcard.Operation, person string, basedOn, id int64) medcard.OrderActionRequest {
	return medcard.OrderActionRequest{Op: op, PersonID: person, BasedOnCardVersion: basedOn, OrderID: id}
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
		return cardResponse(card), nil
	}),
	op(medcard.OpGetDrugMedication, func(ctx context.Context, svc CardService, call medcard.Call, req *GetDrugMedicationRequest) (*GetDrugMedicationResponse, error) {
		view, err := svc.GetDrugMedication(ctx, call, req.PersonIdentifier, req.DrugMedicationIdentifier)
		if err != nil {
			return nil, err
		}
		return &GetDrugMedicationResponse{MedicineCardVersion: view.CardVersion, DrugMedication: toXMLDrugMedication(view.DrugMedication)}, nil
	}),
	op(medcard.OpGetNewOrders, func(ctx context.Context, svc CardService, call medcard.Call, req *GetNewOrdersRequest) (*GetNewOrdersResponse, error) {
		limit := defaultNewOrders
		if req.MaximumOrders != nil {
			limit = *req.MaximumOrders
		}
		entries, err := svc.GetNewOrders(ctx, call, medcard.InboxQuery{Limit: limit, OnlyNew: true})
		if err != nil {
			return nil, err
		}
		out := &GetNewOrdersResponse{}
		for _, e := range entries {
			out.Order = append(out.Order, xmlInboxOrder{PersonIdentifier: string(e.Person), MedicineCardVersion: e.CardVersion,
				OrderIdentifier: e.OrderID, Status: string(e.Status), Ordered: e.OrderedAt.UTC(), DrugName: e.Drug.Name,
				DrugStrength: e.Drug.Strength, PackageNumber: e.PackageNumber, PackageQuantity: e.PackageQuantity})
		}
		return out, nil
	}),
	op(medcard.OpAcknowledgeOrders, func(ctx context.Context, svc CardService, call medcard.Call, req *AcknowledgeOrdersRequest) (*AcknowledgeOrdersResponse, error) {
		if len(req.Order) == 0 || len(req.Order) > maxAcknowledgedOrders {
			return nil, medcard.Errorf(medcard.FaultInvalidField, "AcknowledgeOrders takes 1 to %d orders", maxAcknowledgedOrders)
		}
		if call.MessageID == "" {
			return nil, medcard.Errorf(medcard.FaultMissingMessageID, "a write needs a MessageID")
		}
		// One card write per order, each under a MessageID of its own
		// derived from the message's, so a resend of the message applies
		// each once and answers each as before.
		out := &AcknowledgeOrdersResponse{}
		for i, o := range req.Order {
			one := call
			one.MessageID = fmt.Sprintf("%s/%d", call.MessageID, i+1)
			res, err := svc.Change(ctx, one, medcard.OrderActionRequest{Op: medcard.OpAcknowledgeOrders,
				PersonID: o.PersonIdentifier, BasedOnCardVersion: o.MedicineCardVersion, OrderID: o.OrderIdentifier})
			r := xmlAcknowledged{PersonIdentifier: o.PersonIdentifier, OrderIdentifier: o.OrderIdentifier}
			if err != nil {
				if medcard.FaultOf(err) == medcard.FaultInternal {
					return nil, err
				}
				f := medcard.FaultOf(err)
				r.Refused = &xmlRefusal{FaultIdentifier: f.ID, Code: string(f.Code), Message: medcard.MessageOf(err)}
			} else {
				r.MedicineCardVersion = res.CardVersion
			}
			out.Result = append(out.Result, r)
		}
		return out, nil
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
		res, err := svc.Change(ctx, call, medcard.CreateDrugMedicationRequest{
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
	write(medcard.OpUpdateDrugMedication, func(r *UpdateDrugMedicationRequest) medcard.ChangeRequest {
		req := drugMedicationAction(medcard.OpUpdateDrugMedication, r.PersonIdentifier, r.MedicineCardVersion, r.DrugMedicationIdentifier)
		req.Change.Dosage, req.Change.Indication, req.Change.EndDate = r.Dosage.domain(), r.Indication.domain(), r.EndDate
		return req
	}),
	write(medcard.OpPauseDrugMedication, func(r *PauseDrugMedicationRequest) medcard.ChangeRequest {
		return drugMedicationAction(medcard.OpPauseDrugMedication, r.PersonIdentifier, r.MedicineCardVersion, r.DrugMedicationIdentifier)
	}),
	write(medcard.OpUnpauseDrugMedication, func(r *UnpauseDrugMedicationRequest) medcard.ChangeRequest {
		return drugMedicationAction(medcard.OpUnpauseDrugMedication, r.PersonIdentifier, r.MedicineCardVersion, r.DrugMedicationIdentifier)
	}),
	write(medcard.OpWithdrawDrugMedication, func(r *WithdrawDrugMedicationRequest) medcard.ChangeRequest {
		return drugMedicationAction(medcard.OpWithdrawDrugMedication, r.PersonIdentifier, r.MedicineCardVersion, r.DrugMedicationIdentifier)
	}),
	write(medcard.OpUnwithdrawDrugMedication, func(r *UnwithdrawDrugMedicationRequest) medcard.ChangeRequest {
		return drugMedicationAction(medcard.OpUnwithdrawDrugMedication, r.PersonIdentifier, r.MedicineCardVersion, r.DrugMedicationIdentifier)
	}),

	// The card as a whole.
	write(medcard.OpSetMedicineCardReviewed, func(r *SetMedicineCardReviewedRequest) medcard.ChangeRequest {
		return medcard.CardReviewRequest{Op: medcard.OpSetMedicineCardReviewed, PersonID: r.PersonIdentifier, BasedOnCardVersion: r.MedicineCardVersion}
	}),
	write(medcard.OpSetMedicineCardNotReviewed, func(r *SetMedicineCardNotReviewedRequest) medcard.ChangeRequest {
		return medcard.CardReviewRequest{Op: medcard.OpSetMedicineCardNotReviewed, PersonID: r.PersonIdentifier, BasedOnCardVersion: r.MedicineCardVersion}
	}),
	write(medcard.OpUpdateMedicineCard, func(r *UpdateMedicineCardRequest) medcard.ChangeRequest {
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
	write(medcard.OpCreatePrescription, func(r *CreatePrescriptionRequest) medcard.ChangeRequest {
		req := medcard.CreatePrescriptionRequest{PersonID: r.PersonIdentifier, BasedOnCardVersion: r.MedicineCardVersion,
			DrugMedicationID: r.DrugMedicationIdentifier, PackageNumber: r.PackageNumber, PackageQuantity: r.PackageQuantity,
			Iterations: r.Iterations, IterationIntervalDays: r.IterationIntervalDays,
			ValidFrom: r.ValidFrom, ValidTo: r.ValidTo, DosageText: r.DosageText}
		if r.Drug != nil {
			req.Drug = r.Drug.domain()
		}
		return req
	}),
	write(medcard.OpCancelPrescription, func(r *CancelPrescriptionRequest) medcard.ChangeRequest {
		return medcard.CancelPrescriptionRequest{PersonID: r.PersonIdentifier, BasedOnCardVersion: r.MedicineCardVersion, PrescriptionID: r.PrescriptionIdentifier}
	}),

	// Pharmacy.
	write(medcard.OpCreateOrder, func(r *CreateOrderRequest) medcard.ChangeRequest {
		return medcard.OrderRequest{PersonID: r.PersonIdentifier, BasedOnCardVersion: r.MedicineCardVersion, PrescriptionID: r.PrescriptionIdentifier}
	}),
	write(medcard.OpCancelOrder, func(r *CancelOrderRequest) medcard.ChangeRequest {
		return orderAction(medcard.OpCancelOrder, r.PersonIdentifier, r.MedicineCardVersion, r.OrderIdentifier)
	}),
	write(medcard.OpStartEffectuation, func(r *StartEffectuationRequest) medcard.ChangeRequest {
		return orderAction(medcard.OpStartEffectuation, r.PersonIdentifier, r.MedicineCardVersion, r.OrderIdentifier)
	}),
	write(medcard.OpAbortEffectuation, func(r *AbortEffectuationRequest) medcard.ChangeRequest {
		return orderAction(medcard.OpAbortEffectuation, r.PersonIdentifier, r.MedicineCardVersion, r.OrderIdentifier)
	}),
	write(medcard.OpCreatePharmacyEffectuation, func(r *CreatePharmacyEffectuationRequest) medcard.ChangeRequest {
		return medcard.EffectuationRequest{PersonID: r.PersonIdentifier, BasedOnCardVersion: r.MedicineCardVersion,
			OrderID: r.OrderIdentifier, PackagesDispensed: r.PackagesDispensed, Terminate: r.Terminate}
	}),
	write(medcard.OpUndoEffectuation, func(r *UndoEffectuationRequest) medcard.ChangeRequest {
		return medcard.UndoEffectuationRequest{PersonID: r.PersonIdentifier, BasedOnCardVersion: r.MedicineCardVersion, EffectuationID: r.EffectuationIdentifier}
	}),

	// Conflicts.
	write(medcard.OpResolveConflict, func(r *ResolveConflictRequest) medcard.ChangeRequest {
		req := medcard.ResolveConflictRequest{PersonID: r.PersonIdentifier, BasedOnCardVersion: r.MedicineCardVersion,
			DrugMedicationID: r.DrugMedicationIdentifier, ChosenVariant: r.ChosenVariant}
		if r.Replacement != nil {
			req.Replacement = &medcard.ConflictReplacement{Dosage: r.Replacement.Dosage.domain(),
				Status: medcard.DrugMedicationStatus(r.Replacement.Status)}
		}
		return req
	}),

	// The citizen's access log.
	op(medcard.OpGetAccessLog, func(ctx context.Context, svc CardService, call medcard.Call, req *GetAccessLogRequest) (*GetAccessLogResponse, error) {
		q := medcard.AccessLogQuery{PersonID: req.PersonIdentifier, PageToken: req.PageToken}
		var err error
		if q.From, err = parseDateTime("From", req.From); err != nil {
			return nil, err
		}
		if q.To, err = parseDateTime("To", req.To); err != nil {
			return nil, err
		}
		if req.PageSize != nil {
			if q.PageSize = *req.PageSize; q.PageSize == 0 {
				q.PageSize = -1 // zero is the service's default, an explicit 0 is refused
			}
		}
		page, err := svc.GetAccessLog(ctx, call, q)
		if err != nil {
			return nil, err
		}
		return toXMLAccessLog(page), nil
	}),
	// The citizen's restriction of access to the card (medcard/restriction.go).
	write(medcard.OpSetAccessRestriction, func(r *SetAccessRestrictionRequest) medcard.ChangeRequest {
		return medcard.AccessRestrictionRequest{PersonID: r.PersonIdentifier, BasedOnCardVersion: r.MedicineCardVersion, Restricted: r.Restricted}
	}),
}
