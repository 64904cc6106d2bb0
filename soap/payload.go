package soap

import (
	"encoding/xml"
	"strings"
	"time"

	"github.com/sharedmedcard/gateway/medcard"
)

// The operations' payloads, one struct per wrapper element of
// wsdl/medcard.wsdl, except that every write answered with the
// WriteResultType shape shares WriteResponse. Only wrapper elements name
// the namespace: their children inherit it as the default namespace when we
// answer (elementFormDefault="qualified"). Field order is the schema's
// sequence order. Required elements have no omitempty, so a zero or false
// is still sent; optional ones (minOccurs="0") have it.

// --- reads -------------------------------------------------------------------

// GetMedicineCardRequest is the GetMedicineCard input.
type GetMedicineCardRequest struct {
	XMLName               xml.Name `xml:"http://sharedmedcard.example/2026/01/medcard GetMedicineCardRequest"`
	PersonIdentifier      string   `xml:"PersonIdentifier"`
	IncludePrescriptions  bool     `xml:"IncludePrescriptions,omitempty"`
	IncludeEffectuations  bool     `xml:"IncludeEffectuations,omitempty"`
	IncludeWithdrawnSince string   `xml:"IncludeWithdrawnSince,omitempty"`
}

// GetMedicineCardResponse is the GetMedicineCard output.
type GetMedicineCardResponse struct {
	XMLName      xml.Name        `xml:"http://sharedmedcard.example/2026/01/medcard GetMedicineCardResponse"`
	MedicineCard xmlMedicineCard `xml:"MedicineCard"`
	// rendered, when not nil, is this answer's XML, rendered before for
	// the same stored card and view (cardResponse); MedicineCard is then
	// left empty.
	rendered []byte
}

// GetDrugMedicationRequest is the GetDrugMedication input.
type GetDrugMedicationRequest struct {
	XMLName                  xml.Name `xml:"http://sharedmedcard.example/2026/01/medcard GetDrugMedicationRequest"`
	PersonIdentifier         string   `xml:"PersonIdentifier"`
	DrugMedicationIdentifier int64    `xml:"DrugMedicationIdentifier"`
}

// GetDrugMedicationResponse is the GetDrugMedication output.
type GetDrugMedicationResponse struct {
	XMLName             xml.Name          `xml:"http://sharedmedcard.example/2026/01/medcard GetDrugMedicationResponse"`
	MedicineCardVersion int64             `xml:"MedicineCardVersion"`
	DrugMedication      xmlDrugMedication `xml:"DrugMedication"`
}

// GetPrescriptionRequest is the GetPrescription input; no identifiers
// asks for every open prescription.
type GetPrescriptionRequest struct {
	XMLName                xml.Name `xml:"http://sharedmedcard.example/2026/01/medcard GetPrescriptionRequest"`
	PersonIdentifier       string   `xml:"PersonIdentifier"`
	PrescriptionIdentifier []int64  `xml:"PrescriptionIdentifier"`
}

// GetPrescriptionResponse is the GetPrescription output.
type GetPrescriptionResponse struct {
	XMLName             xml.Name          `xml:"http://sharedmedcard.example/2026/01/medcard GetPrescriptionResponse"`
	MedicineCardVersion int64             `xml:"MedicineCardVersion"`
	Prescription        []xmlPrescription `xml:"Prescription"`
	Order               []xmlOrder        `xml:"Order"`
	Effectuation        []xmlEffectuation `xml:"Effectuation"`
}

// GetNewOrdersRequest is the GetNewOrders input.
type GetNewOrdersRequest struct {
	XMLName       xml.Name `xml:"http://sharedmedcard.example/2026/01/medcard GetNewOrdersRequest"`
	MaximumOrders *int     `xml:"MaximumOrders"`
}

// GetNewOrdersResponse is the GetNewOrders output.
type GetNewOrdersResponse struct {
	XMLName xml.Name        `xml:"http://sharedmedcard.example/2026/01/medcard GetNewOrdersResponse"`
	Order   []xmlInboxOrder `xml:"Order"`
}

type xmlInboxOrder struct {
	PersonIdentifier    string    `xml:"PersonIdentifier"`
	MedicineCardVersion int64     `xml:"MedicineCardVersion"`
	OrderIdentifier     int64     `xml:"OrderIdentifier"`
	Status              string    `xml:"Status"`
	Ordered             time.Time `xml:"Ordered"`
	DrugName            string    `xml:"DrugName"`
	DrugStrength        string    `xml:"DrugStrength,omitempty"`
	PackageNumber       string    `xml:"PackageNumber"`
	PackageQuantity     int       `xml:"PackageQuantity"`
}

// defaultNewOrders is how many orders GetNewOrders returns when the
// request does not say.
const defaultNewOrders = 100

// GetAccessLogRequest is the GetAccessLog input. From and To are
// xs:dateTime, read by parseDateTime so that a bad one is an
// InvalidFieldValue fault rather than a malformed message.
type GetAccessLogRequest struct {
	XMLName          xml.Name `xml:"http://sharedmedcard.example/2026/01/medcard GetAccessLogRequest"`
	PersonIdentifier string   `xml:"PersonIdentifier"`
	From             string   `xml:"From"`
	To               string   `xml:"To"`
	PageSize         *int     `xml:"PageSize"`
	PageToken        string   `xml:"PageToken"`
}

// GetAccessLogResponse is the GetAccessLog output.
type GetAccessLogResponse struct {
	XMLName       xml.Name            `xml:"http://sharedmedcard.example/2026/01/medcard GetAccessLogResponse"`
	Entry         []xmlAccessLogEntry `xml:"Entry"`
	NextPageToken string              `xml:"NextPageToken,omitempty"`
}

type xmlAccessLogEntry struct {
	At                      time.Time `xml:"At"`
	Operation               string    `xml:"Operation"`
	SystemName              string    `xml:"SystemName"`
	OrganisationIdentifier  string    `xml:"OrganisationIdentifier"`
	Role                    string    `xml:"Role"`
	AuthorisationIdentifier string    `xml:"AuthorisationIdentifier,omitempty"`
	ActingUser              string    `xml:"ActingUser,omitempty"`
	Consent                 string    `xml:"Consent"`
	EmergencyOverride       bool      `xml:"EmergencyOverride"`
	MedicineCardVersion     int64     `xml:"MedicineCardVersion"`
	Item                    []string  `xml:"Item"`
}

func toXMLAccessLog(page *medcard.AccessLogPage) *GetAccessLogResponse {
	out := &GetAccessLogResponse{NextPageToken: page.NextPageToken}
	for _, e := range page.Entries {
		out.Entry = append(out.Entry, xmlAccessLogEntry{At: e.At.UTC(), Operation: string(e.Operation), SystemName: e.System,
			OrganisationIdentifier: e.Organisation, Role: string(e.Role), AuthorisationIdentifier: e.AuthorisationID,
			ActingUser: e.ActingUser, Consent: string(e.Consent), EmergencyOverride: e.EmergencyOverride,
			MedicineCardVersion: e.CardVersion, Item: e.Items})
	}
	return out
}

// parseDateTime reads an optional xs:dateTime: RFC 3339, or without a
// zone as UTC; empty is the zero time.
//
// Errors: FaultInvalidField.
func parseDateTime(field, s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC(), nil
	}
	if t, err := time.Parse("2006-01-02T15:04:05.999999999", s); err == nil {
		return t, nil
	}
	return time.Time{}, medcard.Errorf(medcard.FaultInvalidField, "%s is not an xs:dateTime (2026-01-31T12:00:00Z)", field)
}

// AcknowledgeOrdersRequest is the AcknowledgeOrders input: orders as
// GetNewOrders named them.
type AcknowledgeOrdersRequest struct {
	XMLName xml.Name          `xml:"http://sharedmedcard.example/2026/01/medcard AcknowledgeOrdersRequest"`
	Order   []xmlOrderToClear `xml:"Order"`
}

type xmlOrderToClear struct {
	PersonIdentifier    string `xml:"PersonIdentifier"`
	MedicineCardVersion int64  `xml:"MedicineCardVersion"`
	OrderIdentifier     int64  `xml:"OrderIdentifier"`
}

// maxAcknowledgedOrders is the most orders one AcknowledgeOrders takes.
const maxAcknowledgedOrders = 100

// AcknowledgeOrdersResponse is the AcknowledgeOrders output: a result per
// order, in the request's order.
type AcknowledgeOrdersResponse struct {
	XMLName xml.Name          `xml:"http://sharedmedcard.example/2026/01/medcard AcknowledgeOrdersResponse"`
	Result  []xmlAcknowledged `xml:"Result"`
}

type xmlAcknowledged struct {
	PersonIdentifier    string      `xml:"PersonIdentifier"`
	OrderIdentifier     int64       `xml:"OrderIdentifier"`
	MedicineCardVersion int64       `xml:"MedicineCardVersion,omitempty"`
	Refused             *xmlRefusal `xml:"Refused,omitempty"`
}

type xmlRefusal struct {
	FaultIdentifier string `xml:"FaultIdentifier"`
	Code            string `xml:"Code"`
	Message         string `xml:"Message"`
}

// --- writes ------------------------------------------------------------------

// WriteResponse is the output of every write but CreateDrugMedication: the
// schema's WriteResultType in the element <Op>Response, which XMLName
// names.
type WriteResponse struct {
	XMLName             xml.Name
	MedicineCardVersion int64        `xml:"MedicineCardVersion"`
	Item                []xmlItem    `xml:"Item"`
	Warning             []xmlWarning `xml:"Warning"`
}

// CreateDrugMedicationRequest is the CreateDrugMedication input.
type CreateDrugMedicationRequest struct {
	XMLName             xml.Name             `xml:"http://sharedmedcard.example/2026/01/medcard CreateDrugMedicationRequest"`
	PersonIdentifier    string               `xml:"PersonIdentifier"`
	MedicineCardVersion int64                `xml:"MedicineCardVersion"`
	DrugMedication      xmlNewDrugMedication `xml:"DrugMedication"`
}

// CreateDrugMedicationResponse is the CreateDrugMedication output: the new
// item's identifier and version as older clients know them, then the
// WriteResultType's items and warnings.
type CreateDrugMedicationResponse struct {
	XMLName                  xml.Name     `xml:"http://sharedmedcard.example/2026/01/medcard CreateDrugMedicationResponse"`
	MedicineCardVersion      int64        `xml:"MedicineCardVersion"`
	DrugMedicationIdentifier int64        `xml:"DrugMedicationIdentifier"`
	DrugMedicationVersion    int64        `xml:"DrugMedicationVersion"`
	Item                     []xmlItem    `xml:"Item"`
	Warning                  []xmlWarning `xml:"Warning"`
}

// UpdateDrugMedicationRequest is the UpdateDrugMedication input.
type UpdateDrugMedicationRequest struct {
	XMLName                  xml.Name       `xml:"http://sharedmedcard.example/2026/01/medcard UpdateDrugMedicationRequest"`
	PersonIdentifier         string         `xml:"PersonIdentifier"`
	MedicineCardVersion      int64          `xml:"MedicineCardVersion"`
	DrugMedicationIdentifier int64          `xml:"DrugMedicationIdentifier"`
	Dosage                   xmlDosage      `xml:"Dosage"`
	Indication               *xmlIndication `xml:"Indication,omitempty"`
	EndDate                  string         `xml:"EndDate,omitempty"`
}

// PauseDrugMedicationRequest is the PauseDrugMedication input.
type PauseDrugMedicationRequest struct {
	XMLName                  xml.Name `xml:"http://sharedmedcard.example/2026/01/medcard PauseDrugMedicationRequest"`
	PersonIdentifier         string   `xml:"PersonIdentifier"`
	MedicineCardVersion      int64    `xml:"MedicineCardVersion"`
	DrugMedicationIdentifier int64    `xml:"DrugMedicationIdentifier"`
}

// UnpauseDrugMedicationRequest is the UnpauseDrugMedication input.
type UnpauseDrugMedicationRequest struct {
	XMLName                  xml.Name `xml:"http://sharedmedcard.example/2026/01/medcard UnpauseDrugMedicationRequest"`
	PersonIdentifier         string   `xml:"PersonIdentifier"`
	MedicineCardVersion      int64    `xml:"MedicineCardVersion"`
	DrugMedicationIdentifier int64    `xml:"DrugMedicationIdentifier"`
}

// WithdrawDrugMedicationRequest is the WithdrawDrugMedication input.
type WithdrawDrugMedicationRequest struct {
	XMLName                  xml.Name `xml:"http://sharedmedcard.example/2026/01/medcard WithdrawDrugMedicationRequest"`
	PersonIdentifier         string   `xml:"PersonIdentifier"`
	MedicineCardVersion      int64    `xml:"MedicineCardVersion"`
	DrugMedicationIdentifier int64    `xml:"DrugMedicationIdentifier"`
}

// UnwithdrawDrugMedicationRequest is the UnwithdrawDrugMedication input.
type UnwithdrawDrugMedicationRequest struct {
	XMLName                  xml.Name `xml:"http://sharedmedcard.example/2026/01/medcard UnwithdrawDrugMedicationRequest"`
	PersonIdentifier         string   `xml:"PersonIdentifier"`
	MedicineCardVersion      int64    `xml:"MedicineCardVersion"`
	DrugMedicationIdentifier int64    `xml:"DrugMedicationIdentifier"`
}

// SetMedicineCardReviewedRequest is the SetMedicineCardReviewed input.
type SetMedicineCardReviewedRequest struct {
	XMLName             xml.Name `xml:"http://sharedmedcard.example/2026/01/medcard SetMedicineCardReviewedRequest"`
	PersonIdentifier    string   `xml:"PersonIdentifier"`
	MedicineCardVersion int64    `xml:"MedicineCardVersion"`
}

// SetMedicineCardNotReviewedRequest is the SetMedicineCardNotReviewed input.
type SetMedicineCardNotReviewedRequest struct {
	XMLName             xml.Name `xml:"http://sharedmedcard.example/2026/01/medcard SetMedicineCardNotReviewedRequest"`
	PersonIdentifier    string   `xml:"PersonIdentifier"`
	MedicineCardVersion int64    `xml:"MedicineCardVersion"`
}

// SetAccessRestrictionRequest is the SetAccessRestriction input: Restricted
// true restricts access to the card, false or absent lifts the
// restriction (absent as well, since clients generated with omitempty
// leave a false out).
type SetAccessRestrictionRequest struct {
	XMLName             xml.Name `xml:"http://sharedmedcard.example/2026/01/medcard SetAccessRestrictionRequest"`
	PersonIdentifier    string   `xml:"PersonIdentifier"`
	MedicineCardVersion int64    `xml:"MedicineCardVersion"`
	Restricted          bool     `xml:"Restricted,omitempty"`
}

// UpdateMedicineCardRequest is the UpdateMedicineCard input.
type UpdateMedicineCardRequest struct {
	XMLName              xml.Name                  `xml:"http://sharedmedcard.example/2026/01/medcard UpdateMedicineCardRequest"`
	PersonIdentifier     string                    `xml:"PersonIdentifier"`
	MedicineCardVersion  int64                     `xml:"MedicineCardVersion"`
	CreateDrugMedication []xmlNewDrugMedication    `xml:"CreateDrugMedication"`
	Change               []xmlDrugMedicationChange `xml:"Change"`
	SetReviewed          bool                      `xml:"SetReviewed,omitempty"`
}

// CreatePrescriptionRequest is the CreatePrescription input.
type CreatePrescriptionRequest struct {
	XMLName                  xml.Name `xml:"http://sharedmedcard.example/2026/01/medcard CreatePrescriptionRequest"`
	PersonIdentifier         string   `xml:"PersonIdentifier"`
	MedicineCardVersion      int64    `xml:"MedicineCardVersion"`
	DrugMedicationIdentifier int64    `xml:"DrugMedicationIdentifier,omitempty"`
	Drug                     *xmlDrug `xml:"Drug,omitempty"`
	PackageNumber            string   `xml:"PackageNumber"`
	PackageQuantity          int      `xml:"PackageQuantity"`
	Iterations               int      `xml:"Iterations,omitempty"`
	IterationIntervalDays    int      `xml:"IterationIntervalDays,omitempty"`
	ValidFrom                string   `xml:"ValidFrom,omitempty"`
	ValidTo                  string   `xml:"ValidTo,omitempty"`
	DosageText               string   `xml:"DosageText"`
}

// CancelPrescriptionRequest is the CancelPrescription input.
type CancelPrescriptionRequest struct {
	XMLName                xml.Name `xml:"http://sharedmedcard.example/2026/01/medcard CancelPrescriptionRequest"`
	PersonIdentifier       string   `xml:"PersonIdentifier"`
	MedicineCardVersion    int64    `xml:"MedicineCardVersion"`
	PrescriptionIdentifier int64    `xml:"PrescriptionIdentifier"`
}

// CreateOrderRequest is the CreateOrder input.
type CreateOrderRequest struct {
	XMLName                xml.Name `xml:"http://sharedmedcard.example/2026/01/medcard CreateOrderRequest"`
	PersonIdentifier       string   `xml:"PersonIdentifier"`
	MedicineCardVersion    int64    `xml:"MedicineCardVersion"`
	PrescriptionIdentifier int64    `xml:"PrescriptionIdentifier"`
}

// CancelOrderRequest is the CancelOrder input.
type CancelOrderRequest struct {
	XMLName             xml.Name `xml:"http://sharedmedcard.example/2026/01/medcard CancelOrderRequest"`
	PersonIdentifier    string   `xml:"PersonIdentifier"`
	MedicineCardVersion int64    `xml:"MedicineCardVersion"`
	OrderIdentifier     int64    `xml:"OrderIdentifier"`
}

// StartEffectuationRequest is the StartEffectuation input.
type StartEffectuationRequest struct {
	XMLName             xml.Name `xml:"http://sharedmedcard.example/2026/01/medcard StartEffectuationRequest"`
	PersonIdentifier    string   `xml:"PersonIdentifier"`
	MedicineCardVersion int64    `xml:"MedicineCardVersion"`
	OrderIdentifier     int64    `xml:"OrderIdentifier"`
}

// AbortEffectuationRequest is the AbortEffectuation input.
type AbortEffectuationRequest struct {
	XMLName             xml.Name `xml:"http://sharedmedcard.example/2026/01/medcard AbortEffectuationRequest"`
	PersonIdentifier    string   `xml:"PersonIdentifier"`
	MedicineCardVersion int64    `xml:"MedicineCardVersion"`
	OrderIdentifier     int64    `xml:"OrderIdentifier"`
}

// CreatePharmacyEffectuationRequest is the CreatePharmacyEffectuation input.
type CreatePharmacyEffectuationRequest struct {
	XMLName             xml.Name `xml:"http://sharedmedcard.example/2026/01/medcard CreatePharmacyEffectuationRequest"`
	PersonIdentifier    string   `xml:"PersonIdentifier"`
	MedicineCardVersion int64    `xml:"MedicineCardVersion"`
	OrderIdentifier     int64    `xml:"OrderIdentifier"`
	PackagesDispensed   int      `xml:"PackagesDispensed"`
	Terminate           bool     `xml:"Terminate,omitempty"`
}

// UndoEffectuationRequest is the UndoEffectuation input.
type UndoEffectuationRequest struct {
	XMLName                xml.Name `xml:"http://sharedmedcard.example/2026/01/medcard UndoEffectuationRequest"`
	PersonIdentifier       string   `xml:"PersonIdentifier"`
	MedicineCardVersion    int64    `xml:"MedicineCardVersion"`
	EffectuationIdentifier int64    `xml:"EffectuationIdentifier"`
}

// ResolveConflictRequest is the ResolveConflict input: ChosenVariant or
// Replacement (an xs:choice).
type ResolveConflictRequest struct {
	XMLName                  xml.Name                `xml:"http://sharedmedcard.example/2026/01/medcard ResolveConflictRequest"`
	PersonIdentifier         string                  `xml:"PersonIdentifier"`
	MedicineCardVersion      int64                   `xml:"MedicineCardVersion"`
	DrugMedicationIdentifier int64                   `xml:"DrugMedicationIdentifier"`
	ChosenVariant            int                     `xml:"ChosenVariant,omitempty"`
	Replacement              *xmlConflictReplacement `xml:"Replacement,omitempty"`
}

// --- schema types ------------------------------------------------------------

type xmlNewDrugMedication struct {
	Drug       xmlDrug       `xml:"Drug"`
	Dosage     xmlDosage     `xml:"Dosage"`
	Indication xmlIndication `xml:"Indication"`
	BeginDate  string        `xml:"BeginDate"`
	EndDate    string        `xml:"EndDate,omitempty"`
}

type xmlDrugMedicationChange struct {
	Operation                string         `xml:"Operation"`
	DrugMedicationIdentifier int64          `xml:"DrugMedicationIdentifier"`
	Dosage                   *xmlDosage     `xml:"Dosage,omitempty"`
	Indication               *xmlIndication `xml:"Indication,omitempty"`
	EndDate                  string         `xml:"EndDate,omitempty"`
}

type xmlConflictReplacement struct {
	Dosage xmlDosage `xml:"Dosage"`
	Status string    `xml:"Status,omitempty"`
}

type xmlMedicineCard struct {
	PersonIdentifier    string              `xml:"PersonIdentifier"`
	MedicineCardVersion int64               `xml:"MedicineCardVersion"`
	NeedsAttention      bool                `xml:"NeedsAttention"`
	Reviewed            *xmlReviewed        `xml:"Reviewed,omitempty"`
	DrugMedication      []xmlDrugMedication `xml:"DrugMedication"`
	Prescription        []xmlPrescription   `xml:"Prescription"`
	Order               []xmlOrder          `xml:"Order"`
	Effectuation        []xmlEffectuation   `xml:"Effectuation"`
}

type xmlReviewed struct {
	By                  xmlStamp `xml:"By"`
	MedicineCardVersion int64    `xml:"MedicineCardVersion"`
}

type xmlDrugMedication struct {
	Identifier           int64         `xml:"Identifier"`
	Version              int64         `xml:"Version"`
	ChangedInCardVersion int64         `xml:"ChangedInCardVersion"`
	Status               string        `xml:"Status"`
	Drug                 xmlDrug       `xml:"Drug"`
	Dosage               xmlDosage     `xml:"Dosage"`
	Indication           xmlIndication `xml:"Indication"`
	BeginDate            string        `xml:"BeginDate"`
	EndDate              string        `xml:"EndDate,omitempty"`
	Created              xmlStamp      `xml:"Created"`
	Modified             xmlStamp      `xml:"Modified"`
	Conflict             *xmlConflict  `xml:"Conflict,omitempty"`
}

type xmlConflict struct {
	Rule    string       `xml:"Rule"`
	Time    time.Time    `xml:"Time"`
	Variant []xmlVariant `xml:"Variant"`
}

type xmlVariant struct {
	Status     string        `xml:"Status"`
	Dosage     xmlDosage     `xml:"Dosage"`
	Indication xmlIndication `xml:"Indication"`
	EndDate    string        `xml:"EndDate,omitempty"`
}

type xmlPrescription struct {
	Identifier               int64      `xml:"Identifier"`
	Version                  int64      `xml:"Version"`
	ChangedInCardVersion     int64      `xml:"ChangedInCardVersion"`
	DrugMedicationIdentifier int64      `xml:"DrugMedicationIdentifier,omitempty"`
	Status                   string     `xml:"Status"`
	Drug                     xmlDrug    `xml:"Drug"`
	PackageNumber            string     `xml:"PackageNumber"`
	PackageQuantity          int        `xml:"PackageQuantity"`
	Iterations               int        `xml:"Iterations"`
	IterationIntervalDays    int        `xml:"IterationIntervalDays"`
	ValidFrom                string     `xml:"ValidFrom"`
	ValidTo                  string     `xml:"ValidTo"`
	DosageText               string     `xml:"DosageText"`
	Created                  xmlStamp   `xml:"Created"`
	Modified                 xmlStamp   `xml:"Modified"`
	Dispensings              int        `xml:"Dispensings"`
	PackagesDispensed        int        `xml:"PackagesDispensed"`
	LastDispensed            *time.Time `xml:"LastDispensed,omitempty"`
}

type xmlOrder struct {
	Identifier             int64    `xml:"Identifier"`
	Version                int64    `xml:"Version"`
	ChangedInCardVersion   int64    `xml:"ChangedInCardVersion"`
	PrescriptionIdentifier int64    `xml:"PrescriptionIdentifier"`
	Pharmacy               string   `xml:"Pharmacy"`
	Status                 string   `xml:"Status"`
	Created                xmlStamp `xml:"Created"`
	Modified               xmlStamp `xml:"Modified"`
}

type xmlEffectuation struct {
	Identifier             int64    `xml:"Identifier"`
	Version                int64    `xml:"Version"`
	ChangedInCardVersion   int64    `xml:"ChangedInCardVersion"`
	PrescriptionIdentifier int64    `xml:"PrescriptionIdentifier"`
	OrderIdentifier        int64    `xml:"OrderIdentifier"`
	PackagesDispensed      int      `xml:"PackagesDispensed"`
	Pharmacy               string   `xml:"Pharmacy"`
	Terminated             bool     `xml:"Terminated"`
	Undone                 bool     `xml:"Undone"`
	Created                xmlStamp `xml:"Created"`
	Modified               xmlStamp `xml:"Modified"`
}

type xmlDrug struct {
	Identifier string `xml:"Identifier"`
	Name       string `xml:"Name"`
	Form       string `xml:"Form,omitempty"`
	Strength   string `xml:"Strength,omitempty"`
	ATCCode    string `xml:"ATCCode,omitempty"`
}

type xmlDosage struct {
	Text string `xml:"Text"`
}

type xmlIndication struct {
	Code string `xml:"Code,omitempty"`
	Text string `xml:"Text"`
}

type xmlStamp struct {
	AuthorisationIdentifier string    `xml:"AuthorisationIdentifier,omitempty"`
	Role                    string    `xml:"Role"`
	Organisation            string    `xml:"Organisation"`
	System                  string    `xml:"System"`
	Time                    time.Time `xml:"Time"`
}

type xmlWarning struct {
	Code    string `xml:"Code"`
	Message string `xml:"Message"`
}

type xmlItem struct {
	Type       string `xml:"Type"`
	Identifier int64  `xml:"Identifier"`
	Version    int64  `xml:"Version"`
}

// --- to the domain -------------------------------------------------------------

func (d xmlDrug) domain() medcard.Drug {
	return medcard.Drug{Identifier: d.Identifier, Name: d.Name, Form: d.Form, Strength: d.Strength, ATCCode: d.ATCCode}
}

func (d *xmlDosage) domain() medcard.Dosage {
	if d == nil {
		return medcard.Dosage{}
	}
	return medcard.Dosage{Text: d.Text}
}

func (i *xmlIndication) domain() medcard.Indication {
	if i == nil {
		return medcard.Indication{}
	}
	return medcard.Indication{Code: i.Code, Text: i.Text}
}

func (nd xmlNewDrugMedication) domain() medcard.NewDrugMedication {
	return medcard.NewDrugMedication{Drug: nd.Drug.domain(), Dosage: nd.Dosage.domain(),
		Indication: nd.Indication.domain(), BeginDate: nd.BeginDate, EndDate: nd.EndDate}
}

// changeOperations maps DrugMedicationOperationType to the operations it
// stands for. A value not listed becomes no operation, which the domain
// refuses as FaultInvalidField.
var changeOperations = map[string]medcard.Operation{
	"Update":     medcard.OpUpdateDrugMedication,
	"Pause":      medcard.OpPauseDrugMedication,
	"Unpause":    medcard.OpUnpauseDrugMedication,
	"Withdraw":   medcard.OpWithdrawDrugMedication,
	"Unwithdraw": medcard.OpUnwithdrawDrugMedication,
}

func (ch xmlDrugMedicationChange) domain() medcard.DrugMedicationChange {
	return medcard.DrugMedicationChange{Op: changeOperations[ch.Operation], DrugMedicationID: ch.DrugMedicationIdentifier,
		Dosage: ch.Dosage.domain(), Indication: ch.Indication.domain(), EndDate: ch.EndDate}
}

// --- from the domain -----------------------------------------------------------

func toXMLDrug(d medcard.Drug) xmlDrug {
	return xmlDrug{Identifier: d.Identifier, Name: d.Name, Form: d.Form, Strength: d.Strength, ATCCode: d.ATCCode}
}

func toXMLIndication(i medcard.Indication) xmlIndication {
	return xmlIndication{Code: i.Code, Text: i.Text}
}

func toXMLStamp(s medcard.Stamp) xmlStamp {
	return xmlStamp{AuthorisationIdentifier: s.By.AuthorisationID, Role: string(s.By.Role),
		Organisation: s.By.Organisation, System: s.By.System, Time: s.At.UTC()}
}

func toXMLWarnings(ws []medcard.Warning) []xmlWarning {
	out := make([]xmlWarning, 0, len(ws))
	for _, w := range ws {
		out = append(out, xmlWarning{Code: string(w.Code), Message: w.Message})
	}
	return out
}

func toXMLItems(items []medcard.ItemVersion) []xmlItem {
	out := make([]xmlItem, 0, len(items))
	for _, it := range items {
		out = append(out, xmlItem{Type: string(it.Kind), Identifier: it.ID, Version: it.Version})
	}
	return out
}

// toXMLWriteResult answers a write of operation name.
func toXMLWriteResult(name medcard.Operation, res *medcard.WriteResult) *WriteResponse {
	return &WriteResponse{
		XMLName:             xml.Name{Space: Namespace, Local: string(name) + "Response"},
		MedicineCardVersion: res.CardVersion, Item: toXMLItems(res.Items), Warning: toXMLWarnings(res.Warnings),
	}
}

func toXMLCard(c *medcard.Card) xmlMedicineCard {
	out := xmlMedicineCard{PersonIdentifier: string(c.PersonID), MedicineCardVersion: c.Version, NeedsAttention: c.NeedsAttention()}
	if r := c.Reviewed; r != nil {
		out.Reviewed = &xmlReviewed{By: toXMLStamp(medcard.Stamp{By: r.By, At: r.At}), MedicineCardVersion: r.CardVersion}
	}
	for _, dm := range c.DrugMedications {
		out.DrugMedication = append(out.DrugMedication, toXMLDrugMedication(dm))
	}
	for _, p := range c.Prescriptions {
		out.Prescription = append(out.Prescription, toXMLPrescription(p))
	}
	for _, o := range c.Orders {
		out.Order = append(out.Order, toXMLOrder(o))
	}
	for _, e := range c.Effectuations {
		out.Effectuation = append(out.Effectuation, toXMLEffectuation(e))
	}
	return out
}

func toXMLDrugMedication(dm medcard.DrugMedication) xmlDrugMedication {
	out := xmlDrugMedication{
		Identifier: dm.ID, Version: dm.Version, ChangedInCardVersion: dm.CardVersion, Status: string(dm.Status),
		Drug: toXMLDrug(dm.Drug), Dosage: xmlDosage{Text: dm.Dosage.Text}, Indication: toXMLIndication(dm.Indication),
		BeginDate: string(dm.BeginDate), EndDate: string(dm.EndDate),
		Created: toXMLStamp(dm.Created), Modified: toXMLStamp(dm.Modified),
	}
	if c := dm.Conflict; c != nil {
		out.Conflict = &xmlConflict{Rule: c.Rule, Time: c.At.UTC()}
		for _, v := range c.Variants {
			out.Conflict.Variant = append(out.Conflict.Variant, xmlVariant{Status: string(v.Status),
				Dosage: xmlDosage{Text: v.Dosage.Text}, Indication: toXMLIndication(v.Indication), EndDate: string(v.EndDate)})
		}
	}
	return out
}

func toXMLPrescription(p medcard.Prescription) xmlPrescription {
	out := xmlPrescription{
		Identifier: p.ID, Version: p.Version, ChangedInCardVersion: p.CardVersion,
		DrugMedicationIdentifier: p.DrugMedicationID, Status: string(p.Status), Drug: toXMLDrug(p.Drug),
		PackageNumber: p.PackageNumber, PackageQuantity: p.PackageQuantity, Iterations: p.Iterations,
		IterationIntervalDays: p.IterationIntervalDays, ValidFrom: string(p.ValidFrom), ValidTo: string(p.ValidTo),
		DosageText: p.DosageText, Created: toXMLStamp(p.Created), Modified: toXMLStamp(p.Modified),
		Dispensings: p.Dispensings, PackagesDispensed: p.PackagesDispensed,
	}
	if !p.LastDispensedAt.IsZero() {
		last := p.LastDispensedAt.UTC()
		out.LastDispensed = &last
	}
	return out
}

func toXMLOrder(o medcard.Order) xmlOrder {
	return xmlOrder{Identifier: o.ID, Version: o.Version, ChangedInCardVersion: o.CardVersion,
		PrescriptionIdentifier: o.PrescriptionID, Pharmacy: o.Pharmacy, Status: string(o.Status),
		Created: toXMLStamp(o.Created), Modified: toXMLStamp(o.Modified)}
}

func toXMLEffectuation(e medcard.Effectuation) xmlEffectuation {
	return xmlEffectuation{Identifier: e.ID, Version: e.Version, ChangedInCardVersion: e.CardVersion,
		PrescriptionIdentifier: e.PrescriptionID, OrderIdentifier: e.OrderID, PackagesDispensed: e.Packages,
		Pharmacy: e.Pharmacy, Terminated: e.Terminated, Undone: e.Undone,
		Created: toXMLStamp(e.Created), Modified: toXMLStamp(e.Modified)}
}
