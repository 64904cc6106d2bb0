package soap

import (
	"context"
	"encoding/xml"

	"github.com/sharedmedcard/gateway/medcard"
)

// CardService is what the SOAP edge needs of the domain; *medcard.Service
// implements it.
type CardService interface {
	GetMedicineCard(ctx context.Context, caller medcard.Caller, messageID string, q medcard.CardQuery) (*medcard.Card, error)
	CreateDrugMedication(ctx context.Context, caller medcard.Caller, messageID string, req medcard.CreateDrugMedicationRequest) (*medcard.WriteResult, error)
}

var _ CardService = (*medcard.Service)(nil)

// operation is one entry of the dispatch table: the body wrapper element it
// is chosen by, how to make its request value, and how to serve it.
type operation struct {
	name       medcard.Operation
	element    xml.Name
	newRequest func() any
	serve      func(ctx context.Context, svc CardService, caller medcard.Caller, messageID string, req any) (any, error)
}

// op builds a table entry with the request and response types spelled once.
func op[Req any, Resp any](name medcard.Operation, serve func(context.Context, CardService, medcard.Caller, string, *Req) (*Resp, error)) *operation {
	return &operation{
		name:       name,
		element:    xml.Name{Space: Namespace, Local: string(name) + "Request"},
		newRequest: func() any { return new(Req) },
		serve: func(ctx context.Context, svc CardService, caller medcard.Caller, messageID string, req any) (any, error) {
			return serve(ctx, svc, caller, messageID, req.(*Req))
		},
	}
}

// operations is the dispatch table: every SOAP operation we serve.
var operations = []*operation{
	op(medcard.OpGetMedicineCard, func(ctx context.Context, svc CardService, caller medcard.Caller, messageID string, req *GetMedicineCardRequest) (*GetMedicineCardResponse, error) {
		card, err := svc.GetMedicineCard(ctx, caller, messageID, medcard.CardQuery{
			PersonID: req.PersonIdentifier, IncludePrescriptions: req.IncludePrescriptions,
			IncludeEffectuations: req.IncludeEffectuations, IncludeWithdrawnSince: req.IncludeWithdrawnSince,
		})
		if err != nil {
			return nil, err
		}
		return &GetMedicineCardResponse{MedicineCard: toXMLCard(card)}, nil
	}),
	op(medcard.OpCreateDrugMedication, func(ctx context.Context, svc CardService, caller medcard.Caller, messageID string, req *CreateDrugMedicationRequest) (*CreateDrugMedicationResponse, error) {
		dm := req.DrugMedication
		res, err := svc.CreateDrugMedication(ctx, caller, messageID, medcard.CreateDrugMedicationRequest{
			PersonID: req.PersonIdentifier, BasedOnCardVersion: req.MedicineCardVersion,
			Drug: dm.Drug.domain(), Dosage: medcard.Dosage{Text: dm.Dosage.Text},
			Indication: medcard.Indication{Code: dm.Indication.Code, Text: dm.Indication.Text},
			BeginDate:  dm.BeginDate, EndDate: dm.EndDate,
		})
		if err != nil {
			return nil, err
		}
		out := &CreateDrugMedicationResponse{MedicineCardVersion: res.CardVersion, Warning: toXMLWarnings(res.Warnings)}
		if len(res.Items) > 0 {
			out.DrugMedicationIdentifier, out.DrugMedicationVersion = res.Items[0].ID, res.Items[0].Version
		}
		return out, nil
	}),
}
